"""Simulator fidelity, round 2: config.json and model directory checks, config rules, HBM, logical NPU ids.

Runs the simulated daemon as a local subprocess (see test_mindie_sim.py); no Docker.
"""
import copy
import http.client as http_client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import test_mindie_sim as base
from test_mindie_sim import LIB, ROOT, Sim, _backend, _deploy, _model, _sched, _server, chips, free_port, worker_pids

assets = base.assets        # the module-scoped weights fixture

sys.path.insert(0, LIB)
from mindie_sim import common, config as cfgmod, perf  # noqa: E402

WORKER = os.path.join(LIB, "mindie_sim", "npu_worker.py")
WEIGHTS_7B = 8291375616 * 2


@pytest.fixture
def sim(tmp_path, request):
    s = Sim(tmp_path, request.getfixturevalue("assets"))
    yield s
    s.cleanup()
    for pid, (_ppid, argv) in worker_pids().items():     # workers that outlived a killed daemon
        if _token_of(argv, s):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _token_of(argv, s):
    if "--token" not in argv:
        return False
    return argv[argv.index("--token") + 1].startswith(_node_key(s) + "-")


def _node_key(s):
    old = os.environ.get("ASCEND_SIM_HARDWARE")
    os.environ["ASCEND_SIM_HARDWARE"] = str(s.hw_path)
    try:
        return common.node_key()
    finally:
        if old is None:
            del os.environ["ASCEND_SIM_HARDWARE"]
        else:
            os.environ["ASCEND_SIM_HARDWARE"] = old


def workers_of(proc):
    return {pid: argv for pid, (ppid, argv) in worker_pids().items() if ppid == proc.pid}


def devices_of(argv):
    return [int(argv[i + 1]) for i, a in enumerate(argv) if a == "--device"]


# ------------------------------------------------------------------ config.json and the model directory

def test_symlinked_config_refused(sim):
    path = sim.write()
    real = sim.tmp / "real-config.json"
    os.rename(path, real)
    os.symlink(str(real), str(path))
    rc, out, _ = sim.run_fail()
    assert rc != 0
    assert "The file: config.json is a link." in out


def test_config_owner_checked_even_with_check_disabled(sim):
    path = sim.write()
    os.chown(path, 4321, -1)
    for env in ({}, {"MINDIE_CHECK_INPUTFILES_PERMISSION": "0"}):
        rc, out, _ = sim.run_fail(**env)
        assert rc != 0
        assert ("Check path: config.json failed, by:owner id diff: current process user id is %d, file owner id "
                "is 4321" % os.getuid()) in out
    os.chown(path, os.getuid(), -1)
    os.chmod(path, 0o600)           # stricter than 0640 is fine
    proc = sim.start()
    assert sim.stop(proc) is not None


def test_model_dir_check_skipped_with_env_but_not_for_root(sim):
    os.chmod(sim.model, 0o755)
    rc, out, _ = sim.run_fail()
    assert rc != 0 and "Path permission exceeds maximum allowed" in out     # root too: 1.0.0 unknown, strict
    proc = sim.start(MINDIE_CHECK_INPUTFILES_PERMISSION="0")
    out = sim.output(proc)
    assert ("actual=0755, limit=0750, permission check is disabled by env MINDIE_CHECK_INPUTFILES_PERMISSION, "
            "excessive permission is ignored, this may introduce security risks") in out
    sim.stop(proc)


# ------------------------------------------------------------------ config rules

def _valid(sim):
    return copy.deepcopy(sim.config)


RULES = [
    ("hostname-ip", lambda c: _server(c).update(ipAddress="localhost"),
     "Input ipAddress [localhost] format is invalid (neither IPv4 nor IPv6)"),
    ("dotted-hostname", lambda c: _server(c).update(managementIpAddress="node1.example.com"),
     "Input managementIpAddress [node1.example.com] is invalid"),
    ("ipv6-zero", lambda c: _server(c).update(ipAddress="::"), "Input ipAddress [::] is invalid"),
    ("model-name-start", lambda c: _model(c).update(modelName="_qwen"),
     "The first and last characters must be characters or digits."),
    ("model-name-end", lambda c: _model(c).update(modelName="qwen-"),
     "ModelConfig.modelName 'qwen-' is invalid"),
    ("tokenizers-high", lambda c: _backend(c).update(tokenizerProcessNumber=33),
     "backendConfig.tokenizerProcessNumber [33] is out of bound [32]"),
    ("tokenizers-low", lambda c: _backend(c).update(tokenizerProcessNumber=0),
     "backendConfig.tokenizerProcessNumber [0] is less than [1]"),
    ("iter-times", lambda c: _sched(c).update(maxIterTimes=20000),
     "ScheduleConfig.maxIterTimes (20000) should be less than or equal to ModelDeployConfig.maxSeqLen (16384)"),
    ("input-len", lambda c: (_deploy(c).update(maxSeqLen=5000000, maxInputTokenLen=4194305),
                             _sched(c).update(maxPrefillTokens=5000000)),
     "The value of modelParam.maxInputTokenLen should be in [1, 4194304]."),
    ("instances", lambda c: _backend(c).update(modelInstanceNumber=11, npuDeviceIds=[[0]] * 11),
     "backendConfig.modelInstanceNumber [11] is out of bound [10]"),
    ("repeated-id", lambda c: _backend(c).update(npuDeviceIds=[[0, 1, 2, 3, 4, 5, 6, 6]]),
     "npuDeviceID does not allow repetitive element"),
]


@pytest.mark.parametrize("mutate,message", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_config_rule(sim, mutate, message):
    cfg = _valid(sim)
    cfgmod.validate(copy.deepcopy(cfg), str(sim.service))       # the base config passes
    mutate(cfg)
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.validate(cfg, str(sim.service))
    assert any(message in e for e in info.value.errors), info.value.errors


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "[::1]", "10.0.0.7"])
def test_literal_ips_accepted(sim, ip):
    cfg = _valid(sim)
    _server(cfg).update(ipAddress=ip, managementIpAddress=ip)
    cfgmod.validate(cfg, str(sim.service))


def test_health_check_config_under_server_config(sim):
    cfg = _valid(sim)
    _server(cfg)["HealthCheckConfig"] = {"npuUsageThreshold": 0}
    cfg["HealthCheckConfig"] = {"npuUsageThreshold": 50}       # elsewhere: ignored, as 3.0 does
    settings = cfgmod.validate(cfg, str(sim.service))
    assert settings["health_check"] == {"npuUsageThreshold": 0}
    sim.config = cfg
    proc = sim.start()
    sim.stop(proc)


def test_max_input_token_len_above_max_seq_len_is_accepted_and_capped(sim):
    # 3.0 checks only [1, 4194304] and caps a request at maxSeqLen - 1 (infer_tokenizer.cpp)
    cfg = _valid(sim)
    cfg["BackendConfig"]["ModelDeployConfig"].update(maxSeqLen=4096, maxInputTokenLen=8192)
    cfg["BackendConfig"]["ScheduleConfig"]["maxIterTimes"] = 512
    settings = cfgmod.validate(cfg, str(sim.service))
    assert settings["max_input_len"] == 4095 and settings["max_input_len_config"] == 8192


def test_mindie_3_0_shipped_config_starts_without_a_service_log_file(sim):
    # The real 3.0 config.json has no LogConfig.logPath: the daemon logs only to ~/mindie/log/debug, no logs/mindservice.log.
    real = json.loads(open(os.path.join(ROOT, "tests", "fixtures", "mindie", "config.json_3.0_source")).read())
    cfg = _valid(sim)
    for key in ("ipAddress", "managementIpAddress", "port", "managementPort", "metricsPort", "httpsEnabled"):
        real["ServerConfig"][key] = cfg["ServerConfig"][key]
    real["BackendConfig"]["npuDeviceIds"] = cfg["BackendConfig"]["npuDeviceIds"]
    real["BackendConfig"]["multiNodesInferPort"] = free_port()
    real["ServerConfig"]["interCommPort"] = free_port()
    model = real["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]
    model.update({k: _model(cfg)[k] for k in ("modelName", "modelWeightPath", "worldSize", "npuMemSize")})
    assert "logPath" not in real.get("LogConfig", {})
    sim.config = real
    proc = sim.start()
    try:
        assert not (sim.service / "logs" / "mindservice.log").exists()
        assert list((sim.tmp / "home" / "mindie" / "log" / "debug").glob("mindie-service_%d_*.log" % proc.pid))
    finally:
        sim.stop(proc)


def test_max_request_length_bounds_the_generate_prompt(sim):
    _server(sim.config)["maxRequestLength"] = 1
    proc = sim.start()
    try:
        body = json.dumps({"prompt": "x" * (2 ** 20 + 1), "max_tokens": 2}).encode()
        conn = http_client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
        conn.request("POST", "/generate", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert resp.status == 422
        assert answer["error"].endswith("length in (0, 1048576], but the length of inputs is 1048577")
    finally:
        sim.stop(proc)


def test_rule_refused_by_the_daemon(sim):
    _server(sim.config).update(ipAddress="localhost")
    rc, out, _ = sim.run_fail()
    assert rc != 0 and "Input ipAddress [localhost] format is invalid (neither IPv4 nor IPv6)" in out


# ------------------------------------------------------------------ HBM model

B3 = {"name": "910B3", "hbm_total_mb": 65536, "hbm_idle_mb": 3348}


@pytest.mark.parametrize("ws,fits", [(8, True), (4, True), (2, False), (1, False)])
def test_auto_npu_mem_size_vl_warmup_by_card_count(ws, fits, monkeypatch):
    monkeypatch.delenv("NPU_MEMORY_FRACTION", raising=False)
    p = perf.daemon_hbm_plan(B3, WEIGHTS_7B, ws, -1, 8192)
    assert p["kv"] == int(65536 * 0.8) - p["weights"] - p["runtime"]
    assert p["hold"] == p["weights"] + p["runtime"] + p["kv"] + p["vit"]
    assert p["fits"] is fits
    # text alone (no vision encoder workspace) always fits with -1
    assert p["idle"] + p["hold"] - p["vit"] <= p["total"]


def test_memory_fraction_env(monkeypatch):
    monkeypatch.setenv("NPU_MEMORY_FRACTION", "0.9")
    p = perf.daemon_hbm_plan(B3, WEIGHTS_7B, 8, -1, 8192)
    assert p["kv"] == int(65536 * 0.9) - p["weights"] - p["runtime"] and not p["fits"]
    monkeypatch.setenv("NPU_MEMORY_FRACTION", "1.5")
    assert perf.memory_fraction()[1] and "NPU_MEMORY_FRACTION '1.5' is invalid" in perf.memory_fraction()[1]


def test_npu_mem_size_far_too_large_hangs_moderate_fails_fast(sim):
    _model(sim.config)["npuMemSize"] = 70          # 70 GB > 2 x 32 GB: allocation never returns
    proc = sim.spawn()
    time.sleep(3)
    assert proc.poll() is None
    out = sim.output(proc)
    assert "Daemon start success!" not in out and not workers_of(proc)
    log = (sim.service / "logs" / "mindservice.log")
    assert "Warming up: allocating the KV cache, 71680 MB on NPU 0" in (log.read_text() if log.exists() else out)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    _model(sim.config)["npuMemSize"] = 40          # too large, but not far: fast OOM at warm-up
    rc, out, log = sim.run_fail()
    assert rc != 0 and "out of memory during warm-up" in out + log


# ------------------------------------------------------------------ other processes' HBM

def test_second_daemon_on_same_npus_runs_out_of_memory(sim):
    _model(sim.config)["npuMemSize"] = 14          # 1977 + 1024 + 14336 + 3482 = 20819 MB per 32 GB card
    first = sim.start()
    assert len(workers_of(first)) == 8
    port, mport, xport = base.free_port(), base.free_port(), base.free_port()
    _server(sim.config).update(port=port, managementPort=mport, metricsPort=xport)
    master = base.free_port()
    rc, out, log = sim.run_fail(MASTER_PORT=master)
    assert rc != 0
    text = out + log
    assert "NPU 0 (physical 0) out of memory during warm-up" in text
    assert "MB are held by other processes: pid" in text
    sim.stop(first)


def test_leftover_worker_counts_also_across_pid_namespaces(sim, tmp_path):
    env = dict(sim.env)
    env["ASCEND_SIM_HARDWARE"] = str(sim.hw_path)
    token = _node_key(sim) + "-leftover"
    holder = subprocess.Popen([sys.executable, WORKER, "mindie_sim_npu_worker", "--device", "3", "--hbm-mb", "25000",
                               "--token", token], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        assert holder.stdout.readline().strip() == b"ready"
        rc, out, log = sim.run_fail()
        assert rc != 0 and "NPU 3 (physical 3) out of memory" in out + log
        assert "pid %d (25000 MB)" % holder.pid in out + log
        # another container's process: not in our /proc, but in /proc/net/unix (host network)
        empty = tmp_path / "proc"
        empty.mkdir()
        rc, out, log = sim.run_fail(ASCEND_SIM_PROC=str(empty))
        assert rc != 0 and "a process outside this container's pid namespace (25000 MB)" in out + log
        # neither source: bridge-networked container in another pid namespace (documented limit)
        proc = sim.start(ASCEND_SIM_PROC=str(empty), ASCEND_SIM_NET_UNIX=str(tmp_path / "none"))
        sim.stop(proc)
    finally:
        holder.kill()
        holder.wait(5)


def test_registry_counts_each_holder_once(sim, monkeypatch):
    monkeypatch.setenv("ASCEND_SIM_HARDWARE", str(sim.hw_path))
    token = common.node_key() + "-once"
    holder = subprocess.Popen([sys.executable, WORKER, "mindie_sim_npu_worker", "--device", "5", "--hbm-mb", "1234",
                               "--token", token], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout.readline().strip() == b"ready"
        mine = [h for h in common.hbm_holders() if h["token"] == token]
        assert len(mine) == 1 and mine[0]["pid"] == holder.pid and mine[0]["device"] == 5
        assert common.hbm_used_by_others([5])[5][0] == 1234
    finally:
        holder.kill()
        holder.wait(5)


# ------------------------------------------------------------------ logical NPU ids

def _only_4_to_7(sim):
    for i in range(4):
        os.unlink(sim.dev / ("davinci%d" % i))
    _model(sim.config)["worldSize"] = 4


def test_container_with_npus_4_to_7_refuses_physical_ids(sim):
    _only_4_to_7(sim)
    _backend(sim.config)["npuDeviceIds"] = [[4, 5, 6, 7]]
    rc, out, log = sim.run_fail()
    assert rc != 0
    assert ("npuDeviceIds contains device 4, but the device is not visible: this container sees 4 NPU(s) (davinci4, "
            "davinci5, davinci6, davinci7 in %s), addressed by logical ids 0..3" % sim.dev) in out + log


def test_container_with_npus_4_to_7_uses_logical_ids_on_physical_chips(sim):
    _only_4_to_7(sim)
    _backend(sim.config)["npuDeviceIds"] = [[0, 1, 2, 3]]
    proc = sim.start()
    assert sorted(d for argv in workers_of(proc).values() for d in devices_of(argv)) == [4, 5, 6, 7]
    sim.stop(proc)


def test_all_npus_visible_logical_equals_physical(sim):
    hardware = {"chips": chips()}
    old = os.environ.get("ASCEND_SIM_DEV_DIR")
    os.environ["ASCEND_SIM_DEV_DIR"] = str(sim.dev)
    try:
        assert [common.physical_id(common.chip_for_logical_id(hardware, i)) for i in range(8)] == list(range(8))
        os.unlink(sim.dev / "davinci2")
        assert common.physical_id(common.chip_for_logical_id(hardware, 2)) == 3
        assert common.chip_for_logical_id(hardware, 7) is None
    finally:
        if old is None:
            del os.environ["ASCEND_SIM_DEV_DIR"]
        else:
            os.environ["ASCEND_SIM_DEV_DIR"] = old
