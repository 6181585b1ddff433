"""Start-up, ports, stop and logs of the simulated mindieservice_daemon, as MindIE-LLM's
endpoint.cpp / http_server.cpp (IsPortUsed) / llm_daemon.cpp / system_log.cpp do.

The daemon runs as a local subprocess (no Docker) with a small MINDIE_SIM_TIME_SCALE.
"""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import test_mindie_sim as base
from test_mindie_sim import DAEMON, FAILED, LIB, ROOTFS, Sim, http

sys.path.insert(0, LIB)
from mindie_sim import common  # noqa: E402

assets = base.assets      # the module-scoped weights fixture

NPU_SMI = os.path.join(os.path.dirname(ROOTFS), "..", "npu-node", "rootfs", "usr", "local", "sbin", "npu-smi")
SET_ENV = os.path.join(ROOTFS, "usr", "local", "Ascend", "mindie", "set_env.sh")
STOPPED = -signal.SIGABRT
INIT_FAILED = -signal.SIGKILL


class LifeSim(Sim):
    """Sim with the HBM ledger isolated from other simulator processes on this machine."""

    def __init__(self, tmp, assets):
        super().__init__(tmp, assets)
        (tmp / "noproc").mkdir()
        (tmp / "nounix").write_text("Num RefCount Protocol Flags Type St Inode Path\n")
        self.env.update({"ASCEND_SIM_PROC": str(tmp / "noproc"), "ASCEND_SIM_NET_UNIX": str(tmp / "nounix")})

    def debug_logs(self):
        return sorted(glob.glob(str(self.tmp / "home" / "mindie" / "log" / "debug" / "mindie-service_*.log")))

    def group(self, proc):
        return common_group_pids(proc.pid)


def common_group_pids(pgid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(name))
    return sorted(pids)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


@pytest.fixture
def sim(tmp_path, assets):
    s = LifeSim(tmp_path, assets)
    yield s
    s.cleanup()


# ------------------------------------------------------------------ ports open only after the load

def test_ports_refused_while_loading_then_listening(sim):
    start = time.time()
    proc = sim.spawn(MINDIE_SIM_WARMUP_S=50)      # 1 s of warm-up at the test scale
    rounds = []                                   # (seconds since the spawn, connect results of the three ports)
    deadline = start + 20
    while time.time() < deadline and "Daemon start success!" not in sim.output(proc):
        at = time.time() - start
        results = []
        for port in (sim.port, sim.mport, sim.xport):
            with socket.socket() as sock:
                results.append(sock.connect_ex(("127.0.0.1", port)))
        rounds.append((at, results))
        time.sleep(0.05)
    # the ports open a moment before the line is printed, so the last rounds may see a listener; every round
    # before the first one that did, and the whole load with its warm-up, saw none (ECONNREFUSED)
    first_open = next((i for i, (_at, results) in enumerate(rounds) if 0 in results), len(rounds))
    assert first_open > 10 and all(set(results) == {111} for _at, results in rounds[:first_open])
    assert first_open == len(rounds) or rounds[first_open][0] >= 0.9
    assert http("GET", sim.port, "/v1/models")[0] == 200
    assert sim.stop(proc) == STOPPED


def test_held_port_fails_only_after_the_full_load(sim):
    blocker = socket.socket()
    blocker.bind(("127.0.0.2", sim.mport))           # held on ANOTHER address: 0.0.0.0 still conflicts
    blocker.listen(1)
    try:
        start = time.time()
        proc = sim.spawn(MINDIE_SIM_WARMUP_S=25)     # 0.5 s of warm-up
        rc = proc.wait(20)
        took = time.time() - start
    finally:
        blocker.close()
    assert rc == INIT_FAILED
    assert took >= 0.5                               # the conflict shows only after the warm-up
    log = open(sim.debug_logs()[0]).read()
    assert log.index("Loaded weight file") < log.index("Socket bind failed, bind_result is -1. Address already in use")
    assert "Management or Business or Metrics Http server listen port is occupied" in log
    assert "Failed to start http wrapper" in log and FAILED in log
    assert "Address already in use" not in sim.output(proc)      # log file only


def test_restart_right_after_traffic_fails_on_time_wait(sim):
    proc = sim.start()
    for _ in range(3):          # urllib sends Connection: close: the server closes first -> TIME_WAIT on its port
        assert http("GET", sim.port, "/v1/models")[0] == 200
    assert sim.stop(proc) == STOPPED
    with socket.socket() as sock:   # a plain SO_REUSEADDR bind would have succeeded ...
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", sim.port))
    again = sim.spawn()
    assert again.wait(20) == INIT_FAILED            # ... the real check (no SO_REUSEADDR) does not
    log = open([p for p in sim.debug_logs() if "_%d_" % again.pid in p][0]).read()
    assert "Socket bind failed, bind_result is -1. Address already in use" in log
    assert "listen port is occupied" in log


def test_master_port_is_checked_before_the_load(sim):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", sim.master_port))
    blocker.listen(1)
    try:
        proc = sim.spawn(MINDIE_SIM_WARMUP_S=500)    # 10 s of warm-up: would time out if checked after it
        rc = proc.wait(8)
    finally:
        blocker.close()
    assert rc == INIT_FAILED
    log = open(sim.debug_logs()[0]).read()
    assert "failed to bind to 127.0.0.1:%d (errno: 98" % sim.master_port in log
    assert "Loaded weight file" not in log


# ------------------------------------------------------------------ g_mainPid, process group

def test_main_pid_printed_and_daemon_leads_its_group(sim):
    proc = sim.start()
    out = sim.output(proc)
    assert out.splitlines()[0] == "g_mainPid = %d" % proc.pid
    assert os.getpgid(proc.pid) == proc.pid                   # setpgrp()
    assert os.getpgid(proc.pid) != os.getpgrp()
    group = sim.group(proc)
    assert len(group) == 9                                    # the daemon + 8 mindie_llm_back workers
    assert sim.stop(proc) == STOPPED


def test_session_leader_cannot_set_process_group(sim):
    sim.write()
    # like `docker exec c bash -c '... exec ./bin/mindieservice_daemon'`: the process is a session leader
    proc = subprocess.Popen([sys.executable, DAEMON], env=sim.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 255
    assert "g_mainPid = %d" % proc.pid in out
    log = open(sim.debug_logs()[0]).read()
    assert "Failed to set process group. errno is 1" in log
    # the way mindie_service starts it (a subshell of the exec'd bash) works
    script = "( exec %s %s ) & echo $!; wait" % (sys.executable, DAEMON)
    shell = subprocess.Popen(["bash", "-c", script], env=sim.env, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    pid = int(shell.stdout.readline())
    try:
        assert shell.stdout.readline().strip() == "Daemon start success!"
        assert os.getpgid(pid) == pid and os.getsid(pid) == shell.pid
        os.kill(pid, signal.SIGTERM)
        shell.communicate(timeout=20)
        assert wait_gone(common_group_pids(pid) + [pid], 5)
    finally:
        for gid in (pid, shell.pid):
            try:
                os.killpg(gid, signal.SIGKILL)
            except OSError:
                pass


# ------------------------------------------------------------------ stop

def test_sigterm_stops_the_group_and_aborts(sim):
    proc = sim.start()
    workers = [p for p in sim.group(proc) if p != proc.pid]
    assert len(workers) == 8
    assert sim.stop(proc) == STOPPED                          # abort(): SIGABRT, 134 in a shell
    assert wait_gone(workers, 1)
    out = sim.output(proc)
    assert "Daemon is killing, please wait about 15 seconds..." in out
    assert "All subprocesses exited gracefully." in out
    log = open(sim.debug_logs()[0]).read()
    assert "Received exit signal[15]" in log
    assert "now killing process group" in log


def test_sigterm_waits_then_kills_a_stuck_worker(sim):
    proc = sim.start(MINDIE_SIM_TIME_SCALE=0.05)
    workers = [p for p in sim.group(proc) if p != proc.pid]
    os.kill(workers[0], signal.SIGSTOP)                       # ignores SIGTERM while stopped
    start = time.time()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == STOPPED
    took = time.time() - start
    assert 0.9 <= took < 10                                   # 5 s + 15 s, scaled by 0.05
    out = sim.output(proc)
    assert "Waiting for subprocess exits for 15/15 seconds." in out or "Timeout reached" in out
    assert "Timeout reached, some subprocesses still alive. Force to kill them." in out
    assert wait_gone(workers, 2)


def test_killed_daemon_leaves_workers_holding_hbm(sim):
    proc = sim.start()
    workers = [p for p in sim.group(proc) if p != proc.pid]
    os.kill(proc.pid, signal.SIGKILL)                         # only the daemon's pid
    assert proc.wait(5) == -signal.SIGKILL
    time.sleep(0.5)
    assert all(alive(p) for p in workers)                     # no PR_SET_PDEATHSIG: they hold their HBM
    with open("/proc/%d/comm" % workers[0]) as handle:
        assert handle.read().strip() == "mindie_llm_back"
    env = dict(os.environ, ASCEND_SIM_HARDWARE=str(sim.hw_path), ASCEND_SIM_DEV_DIR=str(sim.dev), ASCEND_SIM_PROC="/proc")
    table = subprocess.run([sys.executable, NPU_SMI, "info"], env=env, capture_output=True, text=True,
                           timeout=20).stdout
    for pid in workers:
        assert str(pid) in table                              # npu-smi still lists them
    # and the MASTER_PORT stays held by the first worker (torch's store of rank 0)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError):
            sock.bind(("127.0.0.1", sim.master_port))
    os.killpg(proc.pid, signal.SIGKILL)                       # the whole group: all gone
    assert wait_gone(workers, 5)


# ------------------------------------------------------------------ init failures

def test_init_failure_kills_its_group_with_137(sim):
    sim.config["BackendConfig"]["npuDeviceIds"] = [[0, 1, 2, 3, 4, 5, 6, 7]]
    os.unlink(sim.dev / "davinci7")
    sim.write()
    script = "cd %s; %s %s; echo rc=$?" % (sim.tmp, sys.executable, DAEMON)
    done = subprocess.run(["bash", "-c", script], env=sim.env, capture_output=True, text=True, timeout=30)
    assert "rc=137" in done.stdout                            # killpg(getpgrp(), SIGKILL)
    assert "npuDeviceIds contains device 7" not in done.stdout + done.stderr    # the reason is in the log file
    log = open(sim.debug_logs()[0]).read()
    assert "npuDeviceIds contains device 7, but the device is not visible" in log and FAILED in log
    assert "npuDeviceIds contains device 7" in (sim.service / "logs" / "mindservice.log").read_text()   # 1.0


def test_config_error_on_stdout_failed_init_in_log(sim):
    sim.config["ServerConfig"]["port"] = 80
    proc = sim.spawn()
    assert proc.wait(20) == INIT_FAILED
    out = sim.output(proc)
    assert "serverConfig.port [80] is less than [1024]" in out and FAILED not in out
    log = open(sim.debug_logs()[0]).read()
    assert FAILED in log and "serverConfig.port [80]" not in log


def test_unknown_command_line_argument(sim):
    sim.write()
    proc = subprocess.run([sys.executable, DAEMON, "--port", "1"], env=sim.env, capture_output=True, text=True,
                          timeout=20)
    assert proc.returncode == 255
    log = open(sim.debug_logs()[0]).read()
    assert "Unrecognized command-line argument, expect [--config-file, --expert-parallel]" in log


# ------------------------------------------------------------------ logs

def test_log_file_name_and_console(sim):
    proc = sim.start()
    logs = sim.debug_logs()
    assert len(logs) == 1
    name = os.path.basename(logs[0])
    pid, stamp = name[len("mindie-service_"):-len(".log")].split("_")
    assert int(pid) == proc.pid and len(stamp) == 17 and stamp.isdigit()
    assert "Daemon start success!" in open(logs[0]).read()
    assert "[INFO]" not in sim.output(proc)                   # console: no log lines by default
    assert sim.stop(proc) == STOPPED
    proc = sim.start(MINDIE_LOG_TO_STDOUT="true")
    assert "[INFO] Loading model qwen2_vl" in sim.output(proc)
    assert sim.stop(proc) == STOPPED


def test_log_path_and_log_to_file(sim, tmp_path):
    proc = sim.start(MINDIE_LOG_PATH=str(tmp_path / "abs"))
    assert glob.glob(str(tmp_path / "abs" / "log" / "debug" / ("mindie-service_%d_*.log" % proc.pid)))
    assert sim.stop(proc) == STOPPED
    proc = sim.start(MINDIE_LOG_PATH="rel")
    assert glob.glob(str(sim.tmp / "home" / "mindie" / "log" / "rel" / "debug" / ("mindie-service_%d_*.log" % proc.pid)))
    assert sim.stop(proc) == STOPPED
    before = set(glob.glob(str(sim.tmp / "home" / "**" / "*.log"), recursive=True))
    size = (sim.service / "logs" / "mindservice.log").stat().st_size
    proc = sim.start(MINDIE_LOG_TO_FILE=0)
    assert sim.stop(proc) == STOPPED
    assert set(glob.glob(str(sim.tmp / "home" / "**" / "*.log"), recursive=True)) == before
    assert (sim.service / "logs" / "mindservice.log").stat().st_size == size


def test_log_rotation_keeps_the_directory_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDIE_LOG_ROTATE", "-fs 1 -r 2")
    monkeypatch.delenv("MINDIE_LOG_TO_FILE", raising=False)
    logger = common.Logger(debug_dir=str(tmp_path / "debug"))
    for index in range(6000):     # ~6 MB of lines
        logger.info("line %05d %s" % (index, "x" * 1000))
    logger.close()
    files = sorted(os.listdir(str(tmp_path / "debug")))
    stem = os.path.basename(logger.base)
    assert files == [stem + ".01.log", stem + ".02.log", stem + ".log"]      # current + 2 rotated, older dropped
    sizes = [os.path.getsize(str(tmp_path / "debug" / f)) for f in files]
    assert all(size <= 1024 * 1024 for size in sizes) and sum(sizes) > 2 * 1000 * 1000
    assert "line 05999" in open(logger.file_path).read()
    assert oct(os.stat(str(tmp_path / "debug" / files[0])).st_mode & 0o777) == "0o440"


def test_daemon_honours_log_rotate(sim):
    proc = sim.start(MINDIE_LOG_ROTATE="-fs 1 -r 1")
    for _ in range(400):          # every request line (~3 kB) is logged
        http("GET", sim.port, "/" + "z" * 3000)
    assert sim.stop(proc) == STOPPED
    files = sim.debug_logs()
    assert len(files) == 2 and files[0].endswith(".01.log"), files
    assert all(os.path.getsize(f) <= 1024 * 1024 for f in files)


@pytest.mark.parametrize("value,message", [
    ("-fs 0", "Log file size must be between 1 MB and 500 MB, got: 0 bytes (0 MB)"),
    ("-fs 501", "Log file size must be between 1 MB and 500 MB"),
    ("-r 65", "Log file count must be between 1 and 64, got: 65"),
    ("-fs 5x", "For logFileSize, contains invalid characters after parsing the integer: x"),
    ("fs 5", "Invalid argument: fs"),
])
def test_bad_log_rotate_aborts_at_start(sim, value, message):
    sim.write()
    proc = subprocess.run([sys.executable, DAEMON], env=dict(sim.env, MINDIE_LOG_ROTATE=value), capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == -signal.SIGABRT
    assert "terminate called after throwing an instance of 'std::runtime_error'" in proc.stderr
    assert message in proc.stderr


def test_rotate_parser_defaults(monkeypatch):
    assert common.log_rotate("-fs 1 -r 2") == (1024 * 1024, 2)
    assert common.log_rotate("-r 5") == (20 * 1024 * 1024, 5)
    monkeypatch.delenv("MINDIE_LOG_ROTATE", raising=False)
    assert common.log_rotate() == (20 * 1024 * 1024, 10)
    monkeypatch.setenv("MINDIE_LOG_ROTATE", "llm:-fs 2 -r 3;server:-fs 4 -r 5")
    assert common.log_rotate() == (4 * 1024 * 1024, 5)


def test_set_env_resets_log_variables_unconditionally():
    script = ("export MINDIE_LOG_TO_STDOUT=1 MINDIE_LOG_TO_FILE=0; source %s; "
              "echo $MINDIE_LOG_TO_STDOUT $MINDIE_LOG_TO_FILE; export MINDIE_LOG_TO_STDOUT=1; "
              "echo $MINDIE_LOG_TO_STDOUT" % SET_ENV)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10).stdout.split("\n")
    assert out[0] == "0 1"          # a value exported before sourcing is overwritten
    assert out[1] == "1"            # one exported after sourcing wins


def test_log_variables_per_component_as_3_0_reads_them(monkeypatch):
    # system_log.cpp: the daemon is the `llm` component; `*` (or a bare value) is applied last and wins.
    monkeypatch.setenv("MINDIE_LOG_ROTATE", "llm:-fs 2 -r 3")
    assert common.log_rotate() == (2 * 1024 * 1024, 3)
    monkeypatch.setenv("MINDIE_LOG_ROTATE", "*:-fs 6 -r 7;llm:-fs 2 -r 3")
    assert common.log_rotate() == (6 * 1024 * 1024, 7)
    monkeypatch.setenv("MINDIE_LOG_PATH", "llm:/var/log/m;ms:/elsewhere")
    assert common.log_env("MINDIE_LOG_PATH") == "/var/log/m"
