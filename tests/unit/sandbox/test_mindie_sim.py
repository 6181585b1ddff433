"""Tests of the simulated mindieservice_daemon (sandbox/images/mindie-sim).

The real daemon script runs as a subprocess on 127.0.0.1 with temporary directories and a
small MINDIE_SIM_TIME_SCALE; no Docker is needed.
"""
import base64
import http.client as http_client
import glob
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROOTFS = os.path.join(ROOT, "sandbox", "images", "mindie-sim", "rootfs")
SERVICE = os.path.join(ROOTFS, "usr", "local", "Ascend", "mindie", "1.0.0", "mindie-service")
DAEMON = os.path.join(SERVICE, "bin", "mindieservice_daemon")
LIB = os.path.join(SERVICE, "lib", "simulator")
SHIPPED_CONFIG = os.path.join(SERVICE, "conf", "config.json")
WEIGHTS_GEN = os.path.join(ROOT, "sandbox", "weights", "generate_weights.py")
IMAGES_GEN = os.path.join(ROOT, "sandbox", "weights", "generate_test_images.py")

sys.path.insert(0, LIB)
from mindie_sim import perf, textgen  # noqa: E402

FAILED = "Failed to init endpoint! Please check the service log or console output."
STOPPED = -signal.SIGABRT     # SIGTERM: KillProcessGroup() ends with abort(), as llm_daemon.cpp
INIT_FAILED = -signal.SIGKILL  # an init failure: killpg(getpgrp(), SIGKILL) (137 in a shell)
SCALE = 0.02
INIT_S = 5 * SCALE + 0.1    # live/ready answer 500 for one health interval (5 s) after start


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chips(name="910B4", total=32768, idle=2654, count=8):
    return [{"npu_id": i, "chip_id": 0, "logical_id": i, "name": name, "health": "OK", "power_w": 87.2,
             "temp_c": 33, "bus_id": "0000:%s:00.0" % ["C1", "C2", "81", "82", "01", "02", "41", "42"][i],
             "hbm_total_mb": total, "hbm_idle_mb": idle, "hugepages_total": 0, "hugepages_used": 0}
            for i in range(count)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    base = tmp_path_factory.mktemp("mindie_assets")
    weights = base / "Qwen2-VL-7B-Instruct"
    subprocess.run([sys.executable, WEIGHTS_GEN, str(weights), "--shards", "3", "--total-mb", "3"],
                   check=True, capture_output=True)
    images = base / "images"
    subprocess.run([sys.executable, IMAGES_GEN, str(images)], check=True, capture_output=True)
    return {"weights": str(weights), "images": str(images)}


class Sim:
    def __init__(self, tmp, assets):
        self.tmp = tmp
        self.service = tmp / "svc"
        (self.service / "conf").mkdir(parents=True)
        self.dev = tmp / "dev"
        self.dev.mkdir()
        for name in ["davinci_manager", "devmm_svm", "hisi_hdc"] + ["davinci%d" % i for i in range(8)]:
            (self.dev / name).touch()
        self.model = tmp / "Qwen2-VL-7B-Instruct"
        shutil.copytree(assets["weights"], self.model)
        os.chmod(self.model, 0o750)
        os.chmod(self.model / "config.json", 0o640)
        self.images = assets["images"]
        self.hardware = {"profile": "800i-a2-32g", "npu_smi_version": "25.0.rc1.1", "fault": None,
                         "chips": chips()}
        self.hw_path = tmp / "hardware.json"
        with open(SHIPPED_CONFIG) as handle:
            cfg = json.load(handle)
        self.port, self.mport, self.xport = free_port(), free_port(), free_port()
        cfg["ServerConfig"].update(port=self.port, managementPort=self.mport, metricsPort=self.xport,
                                   httpsEnabled=False, managementIpAddress="127.0.0.1")
        backend = cfg["BackendConfig"]
        backend["npuDeviceIds"] = [[0, 1, 2, 3, 4, 5, 6, 7]]
        backend["ModelDeployConfig"].update(maxSeqLen=16384, maxInputTokenLen=8192)
        backend["ModelDeployConfig"]["ModelConfig"][0].update(
            modelName="qwen2_vl", modelWeightPath=str(self.model), worldSize=8, npuMemSize=8)
        backend["ScheduleConfig"].update(maxPrefillTokens=8192, maxBatchSize=32, maxPrefillBatchSize=0)
        self.config = cfg
        self.master_port = free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("MINDIE", "MIES", "ASCEND", "ATB", "MASTER_"))}
        self.env.update({
            "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest",
            "ATB_HOME_PATH": "/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_0",
            "ATB_SPEED_HOME_PATH": "/usr/local/Ascend/atb-models",
            "MIES_INSTALL_PATH": "/usr/local/Ascend/mindie/latest/mindie-service",
            "ASCEND_SIM_HARDWARE": str(self.hw_path), "ASCEND_SIM_DEV_DIR": str(self.dev),
            "MINDIE_SIM_SERVICE_HOME": str(self.service), "MINDIE_SIM_TIME_SCALE": str(SCALE),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(self.master_port),
            "HOME": str(tmp / "home"),     # the default log dir is ~/mindie/log/debug
        })
        self.procs = []

    def write(self):
        path = self.service / "conf" / "config.json"
        path.write_text(json.dumps(self.config, indent=2))
        os.chmod(path, 0o640)
        self.hw_path.write_text(json.dumps(self.hardware))
        return path

    def spawn(self, **extra):
        self.write()
        env = dict(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        out = open(self.tmp / ("out-%d.txt" % len(self.procs)), "w+")
        proc = subprocess.Popen([sys.executable, DAEMON], env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(self.tmp))
        proc.out_path = out.name
        self.procs.append(proc)
        return proc

    def output(self, proc):
        with open(proc.out_path) as handle:
            return handle.read()

    def run_fail(self, **extra):
        """Start and expect a refusal; return (rc, console output, log text)."""
        proc = self.spawn(**extra)
        rc = proc.wait(20)
        log = self.service / "logs" / "mindservice.log"
        return rc, self.output(proc), log.read_text() if log.exists() else ""

    def start(self, **extra):
        for attempt in range(3):
            proc = self.spawn(**extra)
            deadline = time.time() + 20
            while time.time() < deadline:
                if "Daemon start success!" in self.output(proc):
                    return proc
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("daemon did not start:\n" + self.output(proc))
            logs = self.log_text()
            # The ports come from free_port(): another program on this machine may take one before the daemon
            # binds it. That is the machine, not the simulator: new ports, and again.
            if attempt < 2 and ("Address already in use" in logs or "is occupied" in logs):
                self.new_ports()
                continue
            raise AssertionError("daemon exited %s:\n%s\n--- its log files:\n%s" % (proc.returncode, self.output(proc), logs))

    def new_ports(self):
        self.port, self.mport, self.xport, self.master_port = free_port(), free_port(), free_port(), free_port()
        self.config["ServerConfig"].update(port=self.port, managementPort=self.mport, metricsPort=self.xport)
        self.env["MASTER_PORT"] = str(self.master_port)

    def log_text(self):
        text = []
        for path in sorted(glob.glob(str(self.tmp / "home" / "mindie" / "log" / "debug" / "*.log"))):
            with open(path, errors="replace") as handle:
                text.append(handle.read()[-4000:])
        return "\n".join(text)

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(15)

    def cleanup(self):
        for proc in self.procs:
            try:    # the daemon leads its own process group; its workers outlive a killed daemon
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def sim(tmp_path, assets):
    s = Sim(tmp_path, assets)
    yield s
    s.cleanup()


def http(method, port, path, body=None, timeout=20):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(port, path, body):
    status, text = http("POST", port, path, body)
    return status, (json.loads(text) if text and not text.startswith("data:") else text)


def chat_body(url, text="Explain the details in the image.", **extra):
    body = {"model": "qwen2_vl", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]}], "max_tokens": 512}
    body.update(extra)
    return body


def worker_pids():
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        argv = [a.decode() for a in argv if a]
        if "mindie_sim_npu_worker" in argv:
            found[int(pid)] = (ppid, argv)
    return found


# ------------------------------------------------------------------ start-up refusals

@pytest.mark.parametrize("missing,lib", [("ASCEND_TOOLKIT_HOME", "libascendcl.so"), ("ATB_HOME_PATH", "libatb.so"),
                                         ("ATB_SPEED_HOME_PATH", "libatb_speed.so"),
                                         ("MIES_INSTALL_PATH", "libmies_infer.so")])
def test_refuses_without_set_env(sim, missing, lib):
    sim.env.pop(missing)
    rc, out, log = sim.run_fail()
    assert rc == 127
    assert ("mindieservice_daemon: error while loading shared libraries: %s: cannot open shared object file: "
            "No such file or directory" % lib) in out


def test_missing_driver_is_a_missing_library(sim):
    sim.write()
    os.unlink(sim.hw_path)
    sim.env["ASCEND_SIM_HARDWARE"] = str(sim.hw_path)
    proc = subprocess.run([sys.executable, DAEMON], env=sim.env, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 127
    assert "libascend_hal.so: cannot open shared object file" in proc.stderr


def test_driver_fault_8005(sim):
    sim.hardware["fault"] = "dcmi-8005"
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert rc == INIT_FAILED
    assert "dcmi module initialize failed. ret is -8005" in log and FAILED in log
    assert "-8005" not in out and FAILED not in out      # log file only
    assert "-8005" in log


def test_config_mode_0644_refused_even_without_permission_check(sim):
    path = sim.write()
    os.chmod(path, 0o644)
    proc = subprocess.run([sys.executable, DAEMON], env=sim.env, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert ("Check path: config.json failed, by: Check Other group permission failed: %s current permission is 4, "
            "but required no greater than 0. Required permisssion is 640, but got permission is 644" % path) in proc.stdout
    assert FAILED not in proc.stdout
    # MINDIE_CHECK_INPUTFILES_PERMISSION=0 does not skip config.json's check (file_utils.cpp IsFileValid)
    env = dict(sim.env, MINDIE_CHECK_INPUTFILES_PERMISSION="0")
    proc = subprocess.run([sys.executable, DAEMON], env=env, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert "Check path: config.json failed, by: Check Other group permission failed" in proc.stdout
    assert "[ERROR] Check path: config.json failed" in proc.stderr and "Please set: chmod 750 config.json" in proc.stderr


def test_invalid_json_refused(sim):
    path = sim.write()
    path.write_text('{"ServerConfig": {')
    proc = subprocess.run([sys.executable, DAEMON], env=sim.env, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert proc.returncode == INIT_FAILED
    assert "is not a valid json file" in proc.stdout and FAILED not in proc.stdout


def _server(c):
    return c["ServerConfig"]


def _backend(c):
    return c["BackendConfig"]


def _model(c):
    return c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]


def _deploy(c):
    return c["BackendConfig"]["ModelDeployConfig"]


def _sched(c):
    return c["BackendConfig"]["ScheduleConfig"]


RULES = [
    ("port", lambda c: _server(c).update(port=80), "serverConfig.port [80] is less than [1024]"),
    ("metricsPort", lambda c: _server(c).update(metricsPort=70000), "serverConfig.metricsPort [70000] is out of bound [65535]"),
    ("zero-ip", lambda c: _server(c).update(ipAddress="0.0.0.0"),
     "ServerConfig.ipAddress is 0.0.0.0, which is not allowed unless allowAllZeroIpListening is true"),
    ("instances", lambda c: _backend(c).update(modelInstanceNumber=2),
     "BackendConfig.modelInstanceNumber (2) is not equal to the number of groups in npuDeviceIds (1)"),
    ("worldSize", lambda c: _model(c).update(worldSize=4),
     "The size of npuDeviceIds group 0 (8) is not equal to ModelConfig.worldSize (4)"),
    ("prefillTokens", lambda c: _sched(c).update(maxPrefillTokens=4096),
     "ScheduleConfig.maxPrefillTokens (4096) should be greater than or equal to ModelDeployConfig.maxInputTokenLen (8192)"),
    ("maxRequestLength", lambda c: _server(c).update(maxRequestLength=101),
     "serverConfig.maxRequestLength [101] is out of bound [100]"),
    ("prefillBatch", lambda c: _sched(c).update(maxPrefillBatchSize=50),
     "ScheduleConfig.maxPrefillBatchSize (50) should be less than or equal to maxBatchSize (32)"),
    ("maxBatch", lambda c: _sched(c).update(maxBatchSize=0, maxPrefillBatchSize=0),
     "ScheduleConfig.maxBatchSize 0 is invalid, it should be in range [1, 819200]"),
    ("maxLinkNum", lambda c: _server(c).update(maxLinkNum=5000),
     "serverConfig.maxLinkNum [5000] is out of bound [4096]"),
    ("cacheBlockSize", lambda c: _sched(c).update(cacheBlockSize=256),
     "ScheduleConfig.cacheBlockSize 256 is invalid, it should be in range [1, 128]"),
    ("modelName", lambda c: _model(c).update(modelName="qwen2 vl!"),
     "ModelConfig.modelName 'qwen2 vl!' is invalid"),
    ("npuMemSize", lambda c: _model(c).update(npuMemSize=0), "ModelConfig.npuMemSize 0 is invalid"),
]


@pytest.mark.parametrize("mutate,message", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_config_rule_refused(sim, mutate, message):
    mutate(sim.config)
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert rc == INIT_FAILED
    assert message in out                           # ConfigManager: std::cout
    assert FAILED in log and FAILED not in out      # RunEP: ULOG_ERROR


def test_several_violations_reported_together(sim):
    _server(sim.config).update(port=80, maxLinkNum=0)
    _sched(sim.config).update(maxPrefillBatchSize=50, cacheBlockSize=0)
    _model(sim.config).update(modelName="bad name")
    rc, out, log = sim.run_fail()
    assert rc != 0
    for text in ("serverConfig.port [80] is less than [1024]", "serverConfig.maxLinkNum [0] is less than [1]",
                 "maxPrefillBatchSize (50)", "ScheduleConfig.cacheBlockSize 0", "ModelConfig.modelName 'bad name'"):
        assert text in out
    assert out.count(FAILED) == 0


def test_unknown_keys_are_ignored(sim):
    _server(sim.config)["timeoutInSeconds"] = 300
    _sched(sim.config)["maxWaitingTimeInMs"] = 100
    _model(sim.config)["maxInputTokens"] = 8192
    proc = sim.start(MINDIE_LOG_TO_STDOUT=1)
    time.sleep(INIT_S)
    assert http("GET", sim.mport, "/v2/health/ready")[0] == 200
    assert sim.stop(proc) == STOPPED
    assert "[INFO] Loading model qwen2_vl" in sim.output(proc)   # log lines mirrored to stdout


def test_https_default_needs_certificates(sim):
    _server(sim.config)["httpsEnabled"] = True
    rc, out, log = sim.run_fail()
    assert rc != 0
    cert = os.path.join(str(sim.service), "security/certs/server.pem")
    assert "httpsEnabled is true, but the file %s (ServerConfig.tlsCert) does not exist" % cert in out


def test_shipped_default_config_is_refused(sim):
    with open(SHIPPED_CONFIG) as handle:
        shipped = json.load(handle)
    assert shipped["ServerConfig"]["httpsEnabled"] is True
    assert [shipped["ServerConfig"][k] for k in ("port", "managementPort", "metricsPort")] == [1025, 1026, 1027]
    assert shipped["BackendConfig"]["npuDeviceIds"] == [[0, 1, 2, 3]]
    sim.config = shipped
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "httpsEnabled is true" in out
    assert "modelWeightPath /data/atb_testdata/weights/llama1-65b-safetensors does not exist" in out


def test_npu_mem_size_too_large_fails_warmup(sim):
    _model(sim.config)["npuMemSize"] = 28   # 2654 + 1977 + 28672 + 2253 MB > 32768 MB
    rc, out, log = sim.run_fail()
    assert rc != 0
    line = ("Warmup failed, because of multimodal model inference out of memory when `maxInputTokenLen` set to "
            "8192. Please try to decrease `maxPrefillTokens`")
    assert rc == INIT_FAILED
    assert line in log and line not in out
    assert FAILED in log
    assert not worker_pids_of(sim)


def worker_pids_of(sim):
    mine = {p.pid for p in sim.procs}
    return {pid: v for pid, v in worker_pids().items() if v[0] in mine}


def test_npu_mem_size_auto_leaves_nothing_for_vision(sim):
    # -1 sizes the KV cache for text (total x 0.8 - weights - runtime): on 2 cards the vision encoder's
    # warm-up workspace no longer fits in what is left (gpustack#3541); 8 cards: see test_mindie_sim_config.py
    _model(sim.config).update(npuMemSize=-1, worldSize=2)
    _backend(sim.config)["npuDeviceIds"] = [[0, 1]]
    sim.hardware["chips"] = chips("910B3", 65536, 3400)
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "Warmup failed, because of multimodal model inference out of memory when `maxInputTokenLen` set to 8192" in log


def test_guide_sizing_fits_and_larger_prefill_does_not(sim):
    # the guide's 32G values: npuMemSize 8, maxPrefillTokens 50000 fit; npuMemSize 20 does not
    _deploy(sim.config).update(maxSeqLen=50000, maxInputTokenLen=50000)
    _sched(sim.config)["maxPrefillTokens"] = 50000
    proc = sim.start()
    assert sim.stop(proc) == STOPPED
    _model(sim.config)["npuMemSize"] = 20
    rc, out, log = sim.run_fail()
    assert rc != 0 and "set to 50000" in log


def test_device_not_visible(sim):
    os.unlink(sim.dev / "davinci7")
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "npuDeviceIds contains device 7, but the device is not visible" in log


def test_manager_device_missing(sim):
    os.unlink(sim.dev / "davinci_manager")
    rc, out, log = sim.run_fail()
    assert rc != 0 and "davinci_manager not found" in log


def test_model_dir_incomplete(sim):
    shard = sim.model / "model-00002-of-00003.safetensors"
    os.unlink(shard)
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "weight file %s named in model.safetensors.index.json is missing" % shard in log


def test_model_dir_bad_header_and_type(sim):
    (sim.model / "model-00001-of-00003.safetensors").write_bytes(b"\xff" * 64)
    cfg = json.loads((sim.model / "config.json").read_text())
    cfg["model_type"] = "llama"
    (sim.model / "config.json").write_text(json.dumps(cfg))
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "is not a valid safetensors file" in log
    assert "model_type 'llama'" in log


def test_model_dir_loose_permissions(sim):
    os.chmod(sim.model, 0o755)
    os.chmod(sim.model / "config.json", 0o644)
    rc, out, log = sim.run_fail()
    assert rc != 0
    # safe_path.cpp SafePath::CheckMaxPermission (the directory is reported first)
    assert "Path permission exceeds maximum allowed: %s/, actual=0755, limit=0750" % os.path.realpath(sim.model) in out


def test_port_occupied(sim):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", sim.port))
    blocker.listen(1)
    try:
        rc, out, log = sim.run_fail()
    finally:
        blocker.close()
    assert rc == INIT_FAILED
    assert "Socket bind failed, bind_result is -1. Address already in use" in log
    assert "Management or Business or Metrics Http server listen port is occupied" in log


def test_master_port_clash_between_two_daemons(sim):
    first = sim.start()
    try:
        for key in ("port", "managementPort", "metricsPort"):
            _server(sim.config)[key] = free_port()
        rc, out, log = sim.run_fail()
        assert rc != 0
        assert "failed to bind to 127.0.0.1:%d (errno: 98" % sim.master_port in log
        assert FAILED in log
        # a distinct MASTER_PORT lets the second instance start
        sim.env["MASTER_PORT"] = str(free_port())
        second = sim.start()
        assert sim.stop(second) == STOPPED
    finally:
        assert sim.stop(first) == STOPPED


# ------------------------------------------------------------------ running daemon

def test_ports_closed_while_loading_then_200_and_term_frees_ports(sim):
    for attempt in range(3):
        proc = sim.spawn(MINDIE_SIM_WARMUP_S=40)   # 0.8 s of warm-up at the test scale
        statuses = []
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            try:
                status = http("GET", sim.mport, "/v2/health/ready", timeout=2)[0]
            except OSError:     # no listener while the model loads: connection refused
                status = "refused"
            statuses.append(status)
            if status == 200:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            break
        logs = sim.log_text()
        # A port from free_port() taken by another program before the daemon bound it: new ports, as start() does.
        assert attempt < 2 and ("Address already in use" in logs or "is occupied" in logs), \
            "daemon exited %s:\n%s\n--- its log files:\n%s" % (proc.returncode, sim.output(proc), logs)
        sim.new_ports()
    assert statuses[0] == "refused" and statuses[-1] == 200, (statuses[-3:], sim.output(proc), sim.log_text())
    assert http("GET", sim.mport, "/health")[0] == 200
    assert http("GET", sim.mport, "/v2/health/live")[0] == 200
    assert "Daemon start success!" in sim.output(proc)
    assert sim.stop(proc) == STOPPED
    for port in (sim.port, sim.mport, sim.xport, sim.master_port):
        with socket.socket() as sock:   # free again (SO_REUSEADDR: served connections may linger in TIME_WAIT)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
    log = (sim.service / "logs" / "mindservice.log").read_text()
    assert "Daemon start success!" in log


@pytest.fixture
def running(sim):
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1, MINDIE_LLM_BENCHMARK_ENABLE=1)
    yield sim
    sim.stop(proc)


def first_sentence(text):
    return text.split(". ")[0] + "."


def test_chat_completion_names_image_size(running):
    sim = running
    jpg = os.path.join(sim.images, "sample.jpg")
    status, resp = post(sim.port, "/v1/chat/completions", chat_body("file://" + jpg))
    assert status == 200, resp
    content = resp["choices"][0]["message"]["content"]
    assert first_sentence(content) == "The image is a 1902x1080 JPEG picture."
    usage = resp["usage"]
    assert usage["prompt_tokens"] > 68 * 39  # 1902x1080 -> 2652 image tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 40 <= usage["completion_tokens"] <= 120
    assert resp["choices"][0]["finish_reason"] == "stop"
    assert resp["prefill_time"] > 0 and len(resp["decode_time_arr"]) == usage["completion_tokens"] - 1
    # deterministic
    again = post(sim.port, "/v1/chat/completions", chat_body("file://" + jpg))[1]
    assert again["choices"][0]["message"]["content"] == content
    # plain path and data URI
    png = os.path.join(sim.images, "sample.png")
    resp = post(sim.port, "/v1/chat/completions", chat_body(png))[1]
    assert first_sentence(resp["choices"][0]["message"]["content"]) == "The image is a 640x480 PNG picture."
    with open(png, "rb") as handle:
        uri = "data:image/png;base64," + base64.b64encode(handle.read()).decode()
    resp = post(sim.port, "/v1/chat/completions", chat_body(uri))[1]
    assert resp["choices"][0]["message"]["content"].startswith("The image is a 640x480 PNG picture.")
    # max_tokens cuts the answer
    resp = post(sim.port, "/v1/chat/completions", chat_body(png, max_tokens=12))[1]
    assert resp["usage"]["completion_tokens"] == 12 and resp["choices"][0]["finish_reason"] == "length"


def test_other_image_formats_in_requests(running, tmp_path):
    import struct
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HH", 321, 123) + b"\x00" * 20)
    bmp = tmp_path / "a.bmp"
    bmp.write_bytes(b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 200, -100) + b"\x00" * 40)
    webp = tmp_path / "a.webp"
    webp.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4 +
                     (499).to_bytes(3, "little") + (299).to_bytes(3, "little"))
    # progressive JPEG: SOF2 marker
    jpg = tmp_path / "p.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc2\x00\x0b\x08" + struct.pack(">HH", 77, 99) + b"\x01\x01\x11\x00")
    expect = {gif: "321x123 GIF", bmp: "200x100 BMP", webp: "500x300 WEBP", jpg: "99x77 JPEG"}
    for path, text in expect.items():
        status, resp = post(running.port, "/v1/chat/completions", chat_body("file://%s" % path))
        assert status == 200, resp
        assert resp["choices"][0]["message"]["content"].startswith("The image is a %s picture." % text)


def test_bad_requests(running):
    sim = running
    missing = "/nonexistent/pic.jpg"
    status, resp = post(sim.port, "/v1/chat/completions", chat_body("file://" + missing))
    assert status == 422 and missing in resp["error"] and resp["error_type"] == "Input Validation Error"
    status, resp = post(sim.port, "/v1/chat/completions", dict(chat_body(missing), model="llama"))
    assert (status, resp) == (422, {"error": "Model not found", "error_type": "Input Validation Error"})
    status, resp = post(sim.port, "/generate", {"prompt": "hi", "model": "other"})
    assert status == 200    # vLLM /generate passes `model` on as a LoRA id; the endpoint does not check it


def test_generate_completions_infer_models(running):
    sim = running
    jpg = "file://" + os.path.join(sim.images, "sample.jpg")
    body = {"prompt": [{"type": "image_url", "image_url": jpg}, {"type": "text", "text": "Explain the details in the image."}],
            "max_tokens": 512, "stream": False, "do_sample": True, "repetition_penalty": 1.0, "temperature": 0.01,
            "top_p": 0.001, "top_k": 1, "model": "qwen2_vl"}
    status, resp = post(sim.port, "/generate", body)
    assert status == 200 and isinstance(resp["text"], list)
    assert resp["text"][0].startswith("Explain the details in the image. The image is a 1902x1080 JPEG picture.")
    status, resp = post(sim.port, "/generate", {"prompt": "What is MindIE?", "max_tokens": 30})
    assert status == 200 and len(resp["text"][0]) > 20
    status, resp = post(sim.port, "/v1/completions", {"model": "qwen2_vl", "prompt": "Hello", "max_tokens": 20})
    assert status == 200 and resp["usage"]["completion_tokens"] == 20
    status, resp = post(sim.port, "/infer", {"inputs": "Hello", "parameters": {"max_new_tokens": 10}, "stream": False})
    assert status == 200 and resp["details"]["generated_tokens"] == 10
    status, text = http("GET", sim.port, "/v1/models")
    assert status == 200 and json.loads(text)["data"][0]["id"] == "qwen2_vl"
    status, text = http("POST", sim.port, "/generate_stream", {"inputs": "Hello", "parameters": {"max_new_tokens": 6}})
    events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert len(events) == 6 and events[-1]["generated_text"]


def test_streaming_chat(running):
    sim = running
    body = chat_body("file://" + os.path.join(sim.images, "sample.png"), stream=True, max_tokens=30)
    status, text = http("POST", sim.port, "/v1/chat/completions", body)
    assert status == 200
    lines = [line for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]]
    assert len(deltas) == 31 and deltas[0] == ""     # the first chunk carries the role only
    assert "".join(deltas).startswith("The image is a 640x480 PNG picture.")
    assert chunks[-1]["usage"]["completion_tokens"] == 30
    status, text = http("POST", sim.port, "/infer", {"inputs": "Hi", "parameters": {"max_new_tokens": 4}, "stream": True})
    assert text.count("data: ") == 4


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s missing" % name)


def test_metrics_gate_and_counts(sim):
    proc = sim.start()
    assert http("GET", sim.xport, "/metrics")[0] == 500
    sim.stop(proc)
    # new ports: the served ones are in TIME_WAIT, and the real port check (no SO_REUSEADDR) refuses them
    sim.port, sim.mport, sim.xport = free_port(), free_port(), free_port()
    _server(sim.config).update(port=sim.port, managementPort=sim.mport, metricsPort=sim.xport)
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1)
    status, before = http("GET", sim.xport, "/metrics")
    assert status == 200
    for name in ("request_received_total", "request_success_total", "request_failed_total", "num_requests_running",
                 "num_requests_waiting", "npu_cache_usage_perc", "time_to_first_token_seconds",
                 "time_per_output_token_seconds", "prompt_tokens_total", "generation_tokens_total"):
        assert "# TYPE %s " % name in before
    assert 'request_success_total{model_name="qwen2_vl"} 0' in before
    post(sim.port, "/v1/completions", {"model": "qwen2_vl", "prompt": "Hello there", "max_tokens": 7})
    post(sim.port, "/v1/chat/completions", chat_body("/missing.png"))
    after = http("GET", sim.xport, "/metrics")[1]
    assert metric(after, "request_received_total") == 2
    assert metric(after, "request_success_total") == 1
    assert metric(after, "request_failed_total") == 1
    assert metric(after, "generation_tokens_total") == 7
    assert metric(after, "prompt_tokens_total") > 0
    assert metric(after, "time_to_first_token_seconds_count") == 1
    assert metric(after, "time_per_output_token_seconds_count") == 6
    # MindIE-LLM 3.0's other families (prometheus_metrics.cpp): the request's end-to-end latency and token counts,
    # the failure share, throughput over the last seconds; what the simulator has no part of stays 0
    assert metric(after, "e2e_request_latency_seconds_count") == 1
    assert metric(after, "e2e_request_latency_seconds_sum") >= metric(after, "time_to_first_token_seconds_sum") > 0
    assert metric(after, "request_generation_tokens_count") == 1 and metric(after, "request_generation_tokens_sum") == 7
    assert metric(after, "request_prompt_tokens_sum") == metric(after, "prompt_tokens_total")
    assert metric(after, "failed_request_perc") == 0.5
    # 7 tokens in the last 10 simulated seconds (0.2 s here): 0.7 unless the read came later than that
    assert metric(after, "avg_generation_throughput_toks_per_s") in (0.0, 0.7)
    for name in ("num_requests_swapped", "cpu_cache_usage_perc", "npu_prefix_cache_hit_rate", "num_preemptions_total"):
        assert metric(after, name) == 0
    # the real bucket edges: TTFT from 1 ms, end-to-end to 60 s, tokens to 10000
    assert 'time_to_first_token_seconds_bucket{model_name="qwen2_vl",le="0.001"}' in after
    assert 'e2e_request_latency_seconds_bucket{model_name="qwen2_vl",le="60.0"}' in after
    assert 'request_prompt_tokens_bucket{model_name="qwen2_vl",le="10000"}' in after
    types = [line.split()[2] for line in after.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)) == 20
    sim.stop(proc)


def test_single_port_serves_all_routes(sim):
    port = free_port()
    _server(sim.config).update(port=port, managementPort=port, metricsPort=port)
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1)
    time.sleep(INIT_S)
    assert http("GET", port, "/v2/health/ready")[0] == 200
    assert http("GET", port, "/metrics")[0] == 200
    assert post(port, "/v1/completions", {"model": "qwen2_vl", "prompt": "x", "max_tokens": 3})[0] == 200
    assert sim.stop(proc) == STOPPED


def test_workers_hold_hbm_and_go_with_sigterm(sim):
    proc = sim.start()
    workers = worker_pids_of(sim)
    assert len(workers) == 8
    devices = set()
    plan = perf.daemon_hbm_plan(chips()[0], 8291375616 * 2, 8, 8, 8192)
    for pid, (_ppid, argv) in workers.items():
        i = argv.index("mindie_sim_npu_worker")
        assert argv[i + 1] == "--device" and argv[i + 3] == "--hbm-mb"
        devices.add(int(argv[i + 2]))
        assert int(argv[i + 4]) == plan["hold"]
        with open("/proc/%d/comm" % pid) as handle:
            assert handle.read().strip() == "mindie_llm_back"
    assert devices == set(range(8))
    assert sim.stop(proc) == STOPPED
    time.sleep(0.3)
    assert not any(os.path.exists("/proc/%d" % pid) and _alive(pid) for pid in workers)
    # a daemon killed alone leaves them running: tests/unit/sandbox/test_mindie_sim_lifecycle.py


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------ timing model

B4 = {"name": "910B4", "hbm_total_mb": 32768}
B3 = {"name": "910B3", "hbm_total_mb": 65536}


def guide_prompt_tokens():
    return textgen.prompt_tokens(["Explain the details in the image."],
                                 [{"width": 1902, "height": 1080, "format": "JPEG"}], 1)


def test_timing_model_calibrated_to_guide():
    tokens = guide_prompt_tokens()
    t32 = perf.run_pa_latency_s([tokens] * 4, 4, 80, B4, 8)
    assert abs(t32 - 7.44) / 7.44 < 0.10
    assert abs(320 / t32 - 43) / 43 < 0.10
    t64 = perf.run_pa_latency_s([tokens] * 32, 32, 80, B3, 8)
    assert abs(t64 - 25.912) / 25.912 < 0.10
    assert abs(2560 / t64 - 98.79) / 98.79 < 0.10


def test_timing_grows_with_batch():
    steps = [perf.decode_step_ms(b, B3) for b in (1, 4, 16, 32)]
    assert steps == sorted(steps) and steps[0] < steps[-1]
    tokens = guide_prompt_tokens()
    tput = [b * 80 / perf.run_pa_latency_s([tokens] * b, b, 80, B3) for b in (1, 4, 16, 32)]
    assert tput == sorted(tput)
    assert perf.decode_step_ms(4, B4) > perf.decode_step_ms(4, B3)
    assert perf.prefill_ms(8000) > perf.prefill_ms(100)


def test_measured_latency_matches_model_and_batching(sim):
    proc = sim.start(MINDIE_SIM_TIME_SCALE=0.1, MINDIE_LLM_BENCHMARK_ENABLE=1)
    body = {"model": "qwen2_vl", "prompt": "Describe a sunset over the sea.", "max_tokens": 40}
    t0 = time.time()
    status, resp = post(sim.port, "/v1/completions", body)
    wall = time.time() - t0
    assert status == 200
    ptok = resp["usage"]["prompt_tokens"]
    expected = perf.request_latency_ms(ptok, 40, 1, B4, 8) / 1000.0 * 0.1
    assert expected * 0.9 <= wall <= expected * 1.5 + 0.05
    single = post(sim.port, "/v1/chat/completions",
                  {"model": "qwen2_vl", "messages": [{"role": "user", "content": "One"}], "max_tokens": 20})[1]
    results = []

    def worker():
        results.append(post(sim.port, "/v1/chat/completions",
                            {"model": "qwen2_vl", "messages": [{"role": "user", "content": "One"}],
                             "max_tokens": 20})[1])
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6
    assert max(max(r["decode_time_arr"]) for r in results) > max(single["decode_time_arr"])
    assert all(r["choices"][0]["message"]["content"] == single["choices"][0]["message"]["content"] for r in results)
    assert sim.stop(proc) == STOPPED


# ------------------------------------------------------------------ HTTPS (mutual TLS, TLS 1.3, RSA >= 3072)

sys.path.insert(0, os.path.join(ROOT, "sandbox"))
import make_test_certs  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """CA, client, and server sets per family (3072-bit) plus a 2048-bit server set, made once."""
    base = tmp_path_factory.mktemp("tls")
    out = {}
    for name, bits in (("business", 3072), ("management", 3072), ("metrics", 3072), ("weak", 2048)):
        out[name] = make_test_certs.make(str(base), bits=bits, sans=("127.0.0.1", "localhost"), prefix=name + "-")
    return out


TLS_LAYOUT = {  # family -> (CA file key, cert key, key key, pwd key, crl files key, file stem in security/)
    "business": ("tlsCaFile", "tlsCert", "tlsPk", "tlsPkPwd", "tlsCrlFiles", ""),
    "management": ("managementTlsCaFile", "managementTlsCert", "managementTlsPk", "managementTlsPkPwd",
                   "managementTlsCrlFiles", "management/"),
    "metrics": ("metricsTlsCaFile", "metricsTlsCert", "metricsTlsPk", "metricsTlsPkPwd",
                "metricsTlsCrlFiles", "metrics/"),
}


def install_tls(sim, certs, weak=()):
    """Certificates below the service home with MindIE's recommended modes, and the config keys."""
    server = _server(sim.config)
    server.update(httpsEnabled=True, tlsCaPath="security/ca/")
    ca_dir = sim.service / "security" / "ca"
    ca_dir.mkdir(parents=True, exist_ok=True)
    for family, (ca_key, cert_key, pk_key, pwd_key, crl_key, stem) in TLS_LAYOUT.items():
        source = certs["weak" if family in weak else family]
        prefix = ("weak" if family in weak else family) + "-"
        ca_name = family + "_ca.pem"
        shutil.copy(source["ca.pem"], ca_dir / ca_name)
        os.chmod(ca_dir / ca_name, 0o600)
        for src, rel, mode in ((source[prefix + "server.pem"], "security/certs/%sserver.pem" % stem, 0o600),
                               (source[prefix + "server.key.pem"], "security/keys/%sserver.key.pem" % stem, 0o400)):
            dest = sim.service / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                os.chmod(dest, 0o600)
                dest.unlink()
            shutil.copy(src, dest)
            os.chmod(dest, mode)
        server.update({ca_key: [ca_name], cert_key: "security/certs/%sserver.pem" % stem,
                       pk_key: "security/keys/%sserver.key.pem" % stem, pwd_key: "", crl_key: []})


def tls_client(certs, cert=True, tls12=False):
    ctx = ssl.create_default_context(cafile=certs["business"]["ca.pem"])
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(certs["business"]["client.pem"], certs["business"]["client.key.pem"])
    return ctx


def https_get(port, path, ctx, host="127.0.0.1"):
    conn = http_client.HTTPSConnection(host, port, timeout=10, context=ctx)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def peer_cn(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
            version = tls.version()
    from cryptography import x509
    cert = x509.load_der_x509_certificate(der)
    return cert.public_key().key_size, cert.fingerprint(__import__("cryptography.hazmat.primitives.hashes",
                                                                    fromlist=["SHA256"]).SHA256()), version


def test_https_mutual_tls_13_per_family(sim, certs):
    install_tls(sim, certs)
    proc = sim.start()
    time.sleep(INIT_S)
    ctx = tls_client(certs)
    assert https_get(sim.mport, "/v2/health/ready", ctx)[0] == 200
    assert https_get(sim.port, "/v1/models", ctx)[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError)):        # no client certificate: refused
        https_get(sim.mport, "/v2/health/ready", tls_client(certs, cert=False))
    with pytest.raises(ssl.SSLError):                           # TLS 1.2 client: refused
        https_get(sim.port, "/v1/models", tls_client(certs, tls12=True))
    with pytest.raises(OSError):                                # plain HTTP is no way round
        http("GET", sim.port, "/v1/models", timeout=5)
    assert https_get(sim.mport, "/v2/health/ready", ctx)[0] == 200   # still serving after the refusals
    seen = {}
    for family, port in (("business", sim.port), ("management", sim.mport), ("metrics", sim.xport)):
        bits, fingerprint, version = peer_cn(port, ctx)
        assert bits == 3072 and version == "TLSv1.3"
        seen[family] = fingerprint
    assert len(set(seen.values())) == 3                         # one certificate per port family
    log = (sim.service / "logs" / "mindservice.log").read_text()
    assert "TLS handshake with 127.0.0.1" in log
    assert sim.stop(proc) == STOPPED


@pytest.mark.parametrize("family", ["business", "management", "metrics"])
def test_https_refuses_2048_bit_key(sim, certs, family):
    install_tls(sim, certs, weak=(family,))
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "[%s] Certificate key length is too short, key length < 3072" % family in log
    assert "2048-bit RSA key" in log
    assert FAILED in log


def test_https_one_port_checks_business_set_only(sim, certs):
    install_tls(sim, certs, weak=("management", "metrics"))
    server = _server(sim.config)
    server.update(managementPort=sim.port, metricsPort=sim.port, ipAddress="127.0.0.1",
                  managementIpAddress="127.0.0.1", managementTlsCert="security/certs/missing.pem")
    proc = sim.start()
    time.sleep(INIT_S)
    assert https_get(sim.port, "/v2/health/ready", tls_client(certs))[0] == 200
    assert sim.stop(proc) == STOPPED


def test_https_file_checks(sim, certs):
    install_tls(sim, certs)
    os.chmod(sim.service / "security/keys/server.key.pem", 0o644)
    outside = sim.tmp / "outside.pem"
    shutil.copy(certs["business"]["business-server.pem"], outside)
    os.chmod(outside, 0o600)
    os.symlink(str(outside), str(sim.service / "security/certs/management/link.pem"))
    server = _server(sim.config)
    server["managementTlsCert"] = "security/certs/management/link.pem"
    server["metricsTlsCert"] = str(outside)             # absolute: MindIE reads it below its home
    server["tlsCaFile"] = "ca.pem"                      # a string, not a list
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert "server.key.pem current permission is 644, but required no greater than 640" in out
    assert "The ServerConfig.managementTlsCert path is invalid by: The file: link.pem is a link." in out
    assert "%s/%s (ServerConfig.metricsTlsCert) does not exist" % (sim.service, outside) in out
    assert "ServerConfig.tlsCaFile should be a json array of strings" in out
