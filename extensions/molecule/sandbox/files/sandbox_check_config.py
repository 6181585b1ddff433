"""Write a runnable config.json for the sandbox check, starting from the image's
shipped default (which MindIE refuses as shipped). Test scaffolding only: the
service role writes config.json with ascend.mindie.mindie_config."""
import json
import os

SHIPPED = "/usr/local/Ascend/mindie/latest/mindie-service/conf/config.json"
listen = os.environ["SANDBOX_LISTEN_IP"]
config = json.load(open(SHIPPED))
config["ServerConfig"].update(ipAddress=listen, managementIpAddress=listen, port=1040,
                              managementPort=1041, metricsPort=1042, httpsEnabled=False)
backend = config["BackendConfig"]
backend.update(npuDeviceIds=[list(range(8))], modelInstanceNumber=1)
backend["ModelDeployConfig"].update(maxSeqLen=50000, maxInputTokenLen=50000)
backend["ModelDeployConfig"]["ModelConfig"][0].update(
    modelName="qwen2_vl", modelWeightPath="/data/Qwen2-VL-7B-Instruct", worldSize=8, npuMemSize=8)
backend["ScheduleConfig"].update(maxPrefillTokens=50000, maxBatchSize=8, maxPrefillBatchSize=8)
fd = os.open("/tmp/config.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
os.write(fd, json.dumps(config, indent=4).encode())
os.close(fd)
