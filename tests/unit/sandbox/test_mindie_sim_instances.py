"""Several MindIE instances on one simulated 64G node (mindie_instance_layout 2x4 and 4x2).

Each instance is a simulated daemon that sees only its own /dev/davinciN (as a container started with only
its NPUs), addresses them by logical ids 0..M-1 and has its own ports and MASTER_PORT; all share the node's
hardware description. They must run side by side, and the node's npu-smi (the npu-node image's emulator,
which sees every process of the node, as the real one sees the containers' processes) must list each
instance's backend workers on that instance's chips only. No Docker is needed.
"""
import json
import os
import subprocess
import sys

import pytest

import test_mindie_sim as base
from test_mindie_sim import Sim, assets, chat_body, post, worker_pids_of  # noqa: F401 (assets: a fixture)

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_daemon import BACKEND_COMM, is_mindie_process
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import parse_npu_smi_info

NODE_ROOTFS = os.path.join(base.ROOT, "sandbox", "images", "npu-node", "rootfs")
NPU_SMI = os.path.join(NODE_ROOTFS, "usr", "local", "sbin", "npu-smi")
INSTALLER = os.path.join(NODE_ROOTFS, "usr", "local", "lib", "ascend-sim", "ascend-sim-install")
MANAGERS = ("davinci_manager", "devmm_svm", "hisi_hdc")


@pytest.fixture
def node(tmp_path):
    """A simulated 64G node's driver (hardware.json and all eight /dev/davinciN) under tmp_path/node."""
    root = tmp_path / "node"
    result = subprocess.run([sys.executable, INSTALLER, "--profile", "800i-a2-64g", "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stderr
    hardware = root / "usr" / "local" / "Ascend" / "driver" / "sim" / "hardware.json"
    return {"root": root, "hardware": hardware, "dev": root / "dev"}


@pytest.fixture
def instances(tmp_path, assets):
    made = []
    yield made
    for sim in made:
        sim.cleanup()


def make_instance(tmp_path, assets, node, index, devices):
    """Instance ``index`` of the plan: its own dev dir (only its NPUs), config (logical ids), ports."""
    home = tmp_path / ("instance%d" % index)
    home.mkdir()
    sim = Sim(home, assets)
    for entry in os.listdir(str(sim.dev)):
        os.remove(str(sim.dev / entry))
    for name in MANAGERS + tuple("davinci%d" % d for d in devices):
        (sim.dev / name).touch()
    # one node: one hardware description, at the same path for every instance (as the driver mount)
    sim.hw_path = node["hardware"]
    sim.env["ASCEND_SIM_HARDWARE"] = str(node["hardware"])
    with open(str(node["hardware"])) as handle:
        sim.hardware = json.load(handle)
    backend = sim.config["BackendConfig"]
    backend["npuDeviceIds"] = [list(range(len(devices)))]
    backend["ModelDeployConfig"]["ModelConfig"][0].update(worldSize=len(devices))
    return sim


def node_npu_smi(node, pids):
    """The node's `npu-smi info` over a proc view of the given processes (other tests' workers stay out)."""
    view = node["root"] / "proc-view"
    view.mkdir(exist_ok=True)
    for pid in pids:
        os.symlink("/proc/%d" % pid, str(view / str(pid)))
    env = dict(os.environ, ASCEND_SIM_HARDWARE=str(node["hardware"]), ASCEND_SIM_DEV_DIR=str(node["dev"]),
               ASCEND_SIM_PROC=str(view))
    env.pop("ASCEND_VISIBLE_DEVICES", None)
    result = subprocess.run([sys.executable, NPU_SMI, "info"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stderr
    return parse_npu_smi_info(result.stdout)


@pytest.mark.parametrize("count,size", [(2, 4), (4, 2)])
def test_instances_side_by_side_each_on_its_own_chips(tmp_path, assets, node, instances, count, size):
    for index in range(count):
        instances.append(make_instance(tmp_path, assets, node, index, range(index * size, (index + 1) * size)))
    procs = [sim.start() for sim in instances]
    for sim, proc in zip(instances, procs):
        status, body = post(sim.port, "/v1/chat/completions", chat_body("file://%s/sample.jpg" % sim.images,
                                                                         max_tokens=12))
        assert status == 200, body
        assert body["choices"][0]["message"]["content"].startswith("The image is a 1902x1080 JPEG")
        assert proc.poll() is None

    workers = [worker_pids_of(sim) for sim in instances]
    smi = node_npu_smi(node, [pid for found in workers for pid in found])
    assert [chip["npu_id"] for chip in smi["chips"]] == list(range(8))
    for index, found in enumerate(workers):
        chips = list(range(index * size, (index + 1) * size))
        assert len(found) == size
        on_node = sorted((p["npu_id"], p["pid"]) for p in smi["processes"] if p["pid"] in found)
        assert [npu for npu, _pid in on_node] == chips, "instance %d's workers: %s" % (index, on_node)
        for chip in smi["chips"]:
            if chip["npu_id"] in chips:
                assert chip["hbm_used_mb"] > 10000, chip     # idle is ~3.4 GB; the model holds more
    assert len(smi["processes"]) == count * size
    for sim, proc in zip(instances, procs):
        assert sim.stop(proc) == base.STOPPED


def test_backend_workers_carry_the_real_program_name(tmp_path, assets, node, instances):
    """MindIE 1.0's workers run mindie_llm_backend_connector (comm mindie_llm_back): the collection's
    process checks (mindie_daemon.is_mindie_process) recognise them by command line as well as by comm."""
    instances.append(make_instance(tmp_path, assets, node, 0, range(8)))
    proc = instances[0].start()
    found = worker_pids_of(instances[0])
    assert len(found) == 8
    for pid, (_ppid, argv) in found.items():
        with open("/proc/%d/comm" % pid) as handle:
            assert handle.read().strip() == BACKEND_COMM
        assert os.path.basename(argv[1]) == "mindie_llm_backend_connector", argv
        assert is_mindie_process("", " ".join(argv)), argv
    assert instances[0].stop(proc) == base.STOPPED
