#!/bin/bash
# Entrypoint of a simulated Atlas 800I A2 node.
# 1. installs the emulated Ascend driver for $NPU_SIM_PROFILE (device nodes,
#    version files, hardware description read by npu-smi and the MindIE simulator);
# 2. starts the node's own Docker engine and waits until it answers;
# 3. marks the node ready (/run/npu-node.ready) and stays with dockerd.
# A container restart replays all of it, like a server reboot.
set -euo pipefail

rm -f /run/npu-node.ready
if ! /usr/local/lib/ascend-sim/ascend-sim-install --profile "${NPU_SIM_PROFILE}"; then
    echo "npu-node: cannot install hardware profile '${NPU_SIM_PROFILE}'" >&2
    exit 2
fi

dockerd --host=unix:///var/run/docker.sock >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        touch /run/npu-node.ready
        echo "npu-node: profile ${NPU_SIM_PROFILE} installed, Docker engine ready"
        break
    fi
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "npu-node: dockerd exited during start; its log:" >&2
        tail -n 30 /var/log/dockerd.log >&2
        exit 1
    fi
    sleep 0.5
done
[ -e /run/npu-node.ready ] || { echo "npu-node: dockerd did not answer within 60 s" >&2; tail -n 30 /var/log/dockerd.log >&2; exit 1; }

# 4. starts the services enabled for runlevel 2 (update-rc.d, as the service module enables them without
#    systemd: the node exporter and cron once ascend.mindie.monitoring set them up); dockerd is ours above.
for script in /etc/rc2.d/S*; do
    if [ -x "$script" ] && ! "$script" start; then
        echo "npu-node: $script start failed" >&2
    fi
done

stop_all() {
    for script in /etc/rc2.d/S*; do
        if [ -x "$script" ]; then "$script" stop || true; fi
    done
    kill -TERM "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid"
    exit 0
}
trap stop_all TERM INT
wait "$dockerd_pid"
