#!/bin/bash
# Qwen2-VL pure model inference (paged attention) -- sandbox image.
# Each parameter below may also be given as an environment variable of the same name.

# 设置卡数，Atlas-800I-A2-32G必须八卡 (logical ids, comma separated)
export ASCEND_RT_VISIBLE_DEVICES=${ASCEND_RT_VISIBLE_DEVICES:-0,1,2,3,4,5,6,7}
export MASTER_PORT=20031

# 模型权重路径
model_path="${model_path:-/data/Qwen2-VL-7B-Instruct/}"
# 批次大小 (continuous batching)
max_batch_size="${max_batch_size:-1}"
# 最大输入长度
max_input_length="${max_input_length:-8192}"
# 最大输出长度
max_output_length="${max_output_length:-80}"
# 输入图片或视频文件路径（支持格式：jpg/png/jpeg/mp4/wmv/avi）
input_image="${input_image:-/data/test_images/sample.jpg}"
# 用户prompt，默认放置在图片后
input_text="${input_text:-Explain the details in the image.}"
# 数据集路径（优先级比input_image高）; passed to the runner when set in the environment,
# otherwise add --dataset_path "$dataset_path" to base_cmd.
pass_dataset_path=${dataset_path:+yes}
dataset_path="${dataset_path:-/data/test_images}"
# 共享内存name保存路径
shm_name_save_path="${shm_name_save_path:-./shm_name.txt}"

export BIND_CPU=1
export RESERVED_MEMORY_GB=0
export INT8_FORMAT_NZ_ENABLE=1
export ATB_LAYER_INTERNAL_TENSOR_REUSE=1
export ATB_OPERATION_EXECUTE_ASYNC=1
export TASK_QUEUE_ENABLE=1

world_size=$(($(echo "${ASCEND_RT_VISIBLE_DEVICES}" | grep -o , | wc -l) + 1))
mindie_sim_lib="${MINDIE_SIM_LIB:-/usr/local/Ascend/mindie/latest/mindie-service/lib/simulator}"
if [ ! -d "${mindie_sim_lib}" ]; then
    mindie_sim_lib="$(cd "$(dirname "$0")/../../../.." && pwd)/mindie/1.0.0/mindie-service/lib/simulator"
fi
export PYTHONPATH="${mindie_sim_lib}:${PYTHONPATH}"

# The sandbox runs its simulated runner where the real script runs torchrun.
base_cmd=(python3 -m mindie_sim.run_pa --nproc_per_node "${world_size}" --master_port "${MASTER_PORT}"
    --model_path "${model_path}"
    --max_batch_size "${max_batch_size}"
    --max_input_length "${max_input_length}"
    --max_output_length "${max_output_length}"
    --input_image "${input_image}"
    --input_text "${input_text}"
    --shm_name_save_path "${shm_name_save_path}")
if [ -n "${pass_dataset_path}" ]; then
    base_cmd+=(--dataset_path "${dataset_path}")
fi

"${base_cmd[@]}"
