# MindIE environment (sandbox image): service, LLM backend and runtime.
export MINDIE_HOME=/usr/local/Ascend/mindie/latest
export MIES_INSTALL_PATH=${MINDIE_HOME}/mindie-service
export MINDIE_LLM_HOME_PATH=${MINDIE_HOME}/mindie-llm
export MINDIE_RT_HOME=${MINDIE_HOME}/mindie-rt
export MINDIE_TORCH_HOME=${MINDIE_HOME}/mindie-torch
export LD_LIBRARY_PATH=${MIES_INSTALL_PATH}/lib:${MINDIE_LLM_HOME_PATH}/lib:${MINDIE_LLM_HOME_PATH}/lib/grpc:${MINDIE_RT_HOME}/lib:${MINDIE_TORCH_HOME}/lib:${LD_LIBRARY_PATH}
export PYTHONPATH=${MINDIE_LLM_HOME_PATH}:${MIES_INSTALL_PATH}/lib/simulator:${PYTHONPATH}
export PATH=${MIES_INSTALL_PATH}/bin:${PATH}
# As MindIE-LLM 3.0's scripts/set_env.sh: unconditional, so a value exported BEFORE sourcing is
# overwritten; export MINDIE_LOG_TO_STDOUT=1 after sourcing to get the log lines on the console.
export MINDIE_LOG_LEVEL=INFO
export MINDIE_LOG_TO_STDOUT=0
export MINDIE_LOG_TO_FILE=1
export MIES_SERVICE_MONITOR_MODE=${MIES_SERVICE_MONITOR_MODE:-0}
