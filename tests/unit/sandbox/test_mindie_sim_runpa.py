"""Tests of the simulated atb-models run_pa.sh and of the sandbox weight / image generators."""
import csv
import filecmp
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ASCEND = os.path.join(ROOT, "sandbox", "images", "mindie-sim", "rootfs", "usr", "local", "Ascend")
LIB = os.path.join(ASCEND, "mindie", "1.0.0", "mindie-service", "lib", "simulator")
RUN_PA = os.path.join(ASCEND, "atb-models", "examples", "models", "qwen2_vl", "run_pa.sh")
REQUIREMENTS = os.path.join(ASCEND, "atb-models", "requirements", "models", "requirements_qwen2_vl.txt")
WEIGHTS_GEN = os.path.join(ROOT, "sandbox", "weights", "generate_weights.py")
IMAGES_GEN = os.path.join(ROOT, "sandbox", "weights", "generate_test_images.py")

sys.path.insert(0, LIB)
from mindie_sim import imageinfo, model as modelmod, perf, textgen  # noqa: E402


def chips(name="910B4", total=32768, idle=2654):
    return [{"npu_id": i, "chip_id": 0, "logical_id": i, "name": name, "health": "OK", "power_w": 90.0,
             "temp_c": 35, "bus_id": "0000:C1:00.0", "hbm_total_mb": total, "hbm_idle_mb": idle,
             "hugepages_total": 0, "hugepages_used": 0} for i in range(8)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    base = tmp_path_factory.mktemp("runpa_assets")
    weights = base / "Qwen2-VL-7B-Instruct"
    subprocess.run([sys.executable, WEIGHTS_GEN, str(weights), "--shards", "2", "--total-mb", "2"],
                   check=True, capture_output=True)
    os.chmod(weights, 0o750)
    os.chmod(weights / "config.json", 0o640)
    images = base / "images"
    subprocess.run([sys.executable, IMAGES_GEN, str(images)], check=True, capture_output=True)
    return {"weights": str(weights), "images": str(images)}


@pytest.fixture
def env(tmp_path, assets):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ["davinci_manager", "devmm_svm", "hisi_hdc"] + ["davinci%d" % i for i in range(8)]:
        (dev / name).touch()
    hw = tmp_path / "hardware.json"
    hw.write_text(json.dumps({"profile": "800i-a2-32g", "npu_smi_version": "25.0.rc1.1", "fault": None,
                              "chips": chips()}))
    # stand-ins for the three pinned requirements (what pip install -r would provide)
    stubs = tmp_path / "site"
    (stubs / "attrs").mkdir(parents=True)
    (stubs / "tabulate.py").write_text("__version__ = '0.9.0'\n")
    (stubs / "six.py").write_text("__version__ = '1.16.0'\n")
    (stubs / "attrs" / "__init__.py").write_text("__version__ = '24.2.0'\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MINDIE", "MIES", "ASCEND", "ATB", "MASTER_"))}
    e.update({
        "PATH": "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")),
        "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest",
        "ATB_HOME_PATH": "/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_0",
        "ATB_SPEED_HOME_PATH": "/usr/local/Ascend/atb-models",
        "ASCEND_SIM_HARDWARE": str(hw), "ASCEND_SIM_DEV_DIR": str(dev), "MINDIE_SIM_LIB": LIB,
        "MINDIE_SIM_TIME_SCALE": "0.02", "PYTHONPATH": str(stubs), "HOME": str(tmp_path),
        "MINDIE_LOG_TO_STDOUT": "1",
        "model_path": assets["weights"] + "/", "input_image": os.path.join(assets["images"], "sample.jpg"),
        "max_batch_size": "2", "max_output_length": "12", "shm_name_save_path": str(tmp_path / "shm_name.txt"),
    })
    e["_tmp"] = str(tmp_path)
    e["_assets_images"] = assets["images"]
    return e


def run_pa(env, timeout=60, **extra):
    e = {k: v for k, v in env.items() if not k.startswith("_")}
    e.update({k: str(v) for k, v in extra.items()})
    return subprocess.run(["bash", RUN_PA], env=e, capture_output=True, text=True, cwd=env["_tmp"], timeout=timeout)


def test_requirements_file_pins_three_packages():
    with open(REQUIREMENTS) as handle:
        lines = [l.strip() for l in handle if l.strip()]
    assert lines == ["tabulate==0.9.0", "six==1.16.0", "attrs==24.2.0"]


def test_run_pa_script_shape():
    with open(RUN_PA) as handle:
        text = handle.read()
    assert "export MASTER_PORT=20031" in text
    for var, default in (("model_path", "/data/Qwen2-VL-7B-Instruct/"), ("max_batch_size", "1"),
                         ("max_input_length", "8192"), ("max_output_length", "80"),
                         ("input_image", "/data/test_images/sample.jpg"), ("shm_name_save_path", "./shm_name.txt")):
        assert '%s="${%s:-%s}"' % (var, var, default) in text
    assert "export ASCEND_RT_VISIBLE_DEVICES=${ASCEND_RT_VISIBLE_DEVICES:-0,1,2,3,4,5,6,7}" in text


def test_run_pa_fails_without_requirements(env):
    import importlib.util
    if importlib.util.find_spec("tabulate") is not None:
        pytest.skip("tabulate is installed in the test interpreter")
    proc = run_pa(env, PYTHONPATH="")
    assert proc.returncode != 0
    assert "ModuleNotFoundError: No module named 'tabulate'" in proc.stderr


def test_run_pa_fails_without_set_env(env):
    e = dict(env)
    e.pop("ATB_SPEED_HOME_PATH")
    proc = run_pa(e)
    assert proc.returncode != 0
    assert "libatb_speed.so: cannot open shared object file" in proc.stderr


def test_run_pa_output_lines_and_workers(env):
    e = {k: v for k, v in env.items() if not k.startswith("_")}
    e.update(MINDIE_SIM_TIME_SCALE="0.05", ATB_LLM_BENCHMARK_ENABLE="1", ASCEND_RT_VISIBLE_DEVICES="0,1,2,3,4,5,6,7",
             max_batch_size="4", max_output_length="80")
    proc = subprocess.Popen(["bash", RUN_PA], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=env["_tmp"])
    seen = {}
    deadline = time.time() + 30
    while proc.poll() is None and time.time() < deadline:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) not in seen:
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as handle:
                        argv = [a.decode() for a in handle.read().split(b"\0") if a]
                except OSError:
                    continue
                if "mindie_sim_npu_worker" in argv and "run_pa" in argv:
                    seen[int(pid)] = argv
        time.sleep(0.05)
    dummy, out = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    devices = sorted(int(a[a.index("--device") + 1]) for a in seen.values())
    assert devices == list(range(8))
    for i in range(4):
        assert "Question[%d]: [{'image': '%s'}" % (i, e["input_image"]) in out
        assert "Answer[%d]: The image is a 1902x1080 JPEG picture." % i in out
        assert "Generate[%d] token num: 80" % i in out
    lines = {l.split(" : ", 1)[1].split(":", 1)[0]: l.split(" : ", 1)[1].split(":", 1)[1].strip()
             for l in out.splitlines() if " : " in l}
    latency = float(lines["Latency(s)"])
    throughput = float(lines["Throughput(tokens/s)"])
    assert abs(latency - 7.44) / 7.44 < 0.15          # the guide's 32G figure, measured at 1/20 speed
    assert abs(throughput - 43) / 43 < 0.15
    assert float(lines["warmup_memory(GB)"]) > 1
    assert "Prefill time:" in out and "Decode token time:" in out and "E2E time:" in out
    with open(os.path.join(env["_tmp"], "benchmark_result", "benchmark.csv")) as handle:
        rows = list(csv.reader(handle))
    assert rows[1][1:4] == ["4", "8192", "80"]
    time.sleep(0.2)
    assert not any(os.path.exists("/proc/%d/cmdline" % pid) and open("/proc/%d/cmdline" % pid, "rb").read()
                   for pid in seen)


def test_run_pa_small_and_deterministic(env):
    first = run_pa(env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("token num: 12") == 2
    second = run_pa(env)
    answers = [l.split(" : ", 1)[1] for l in first.stderr.splitlines() if " : Answer" in l]
    assert len(answers) == 2
    assert answers == [l.split(" : ", 1)[1] for l in second.stderr.splitlines() if " : Answer" in l]


def test_run_pa_dataset_path_wins(env, tmp_path):
    data = tmp_path / "dataset"
    data.mkdir()
    shutil.copy(os.path.join(env["_assets_images"], "sample.png"), data / "a.png")
    (data / "notes.txt").write_text("ignored")
    proc = run_pa(env, dataset_path=str(data))
    assert proc.returncode == 0, proc.stderr
    assert "Answer[0]: The image is a 640x480 PNG picture." in proc.stderr
    assert "Question[1]" not in proc.stderr and "sample.jpg" not in proc.stderr


def test_run_pa_input_checks(env, tmp_path):
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 10)
    proc = run_pa(env, input_image=str(gif))
    assert proc.returncode != 0 and "is not supported" in proc.stderr
    proc = run_pa(env, input_image=str(tmp_path / "missing.jpg"))
    assert proc.returncode != 0 and "missing.jpg does not exist" in proc.stderr
    proc = run_pa(env, ASCEND_RT_VISIBLE_DEVICES="0,9")
    assert proc.returncode != 0 and "device 9" in proc.stderr
    proc = run_pa(env, model_path=str(tmp_path))
    assert proc.returncode != 0 and "model.safetensors.index.json is missing" in proc.stderr


# ------------------------------------------------------------------ the model's logger

PREFIX = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[(\d+)\] \[\d+\] \[llmmodels\] \[INFO\] "
                    r"\[run_pa\.py-\d+\] : (.*)$")


def log_files(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if re.match(r"^mindie-llm_\d+_\d{17}\.log$", f))


def test_run_pa_console_lines_carry_the_logger_prefix(env):
    proc = run_pa(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    records = [PREFIX.match(l) for l in proc.stderr.splitlines()]
    assert records and all(records), proc.stderr
    messages = [m.group(2) for m in records]
    assert any(m.startswith("Latency(s): ") for m in messages)
    assert any(m.startswith("Throughput(tokens/s): ") for m in messages)
    assert any(m.startswith("warmup_memory(GB): ") for m in messages)
    assert len({m.group(1) for m in records}) == 1
    # the file gets the same records as the console
    files = log_files(os.path.join(env["_tmp"], "mindie", "log", "debug"))
    assert len(files) == 1
    with open(files[0]) as handle:
        assert handle.read().splitlines() == proc.stderr.splitlines()
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o640
    assert "_%s_" % records[0].group(1) in os.path.basename(files[0])


def test_run_pa_without_log_to_stdout_writes_the_log_file_only(env):
    proc = run_pa(env, MINDIE_LOG_TO_STDOUT="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    files = log_files(os.path.join(env["_tmp"], "mindie", "log", "debug"))
    assert len(files) == 1
    with open(files[0]) as handle:
        text = handle.read()
    assert "Answer[1]: The image is a 1902x1080 JPEG picture." in text
    assert all(PREFIX.match(l) for l in text.splitlines())


def test_run_pa_log_path_switches_and_short_format(env, tmp_path):
    absolute = tmp_path / "logs-abs"
    proc = run_pa(env, MINDIE_LOG_TO_STDOUT="llm:1;llmmodels:0", MINDIE_LOG_PATH=str(absolute))
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(log_files(str(absolute / "log" / "debug"))) == 1
    proc = run_pa(env, MINDIE_LOG_PATH="relative")
    assert proc.returncode == 0
    assert len(log_files(os.path.join(env["_tmp"], "mindie", "log", "relative", "debug"))) == 1
    proc = run_pa(env, MINDIE_LOG_TO_FILE="0", MINDIE_LOG_VERBOSE="0", MINDIE_LOG_PATH=str(tmp_path / "nofile"))
    assert proc.returncode == 0
    assert not os.path.exists(str(tmp_path / "nofile"))
    short = [l for l in proc.stderr.splitlines() if "Latency(s):" in l]
    assert len(short) == 1 and re.match(r"^\[\d{4}-\d\d-\d\d [0-9:,]+\] : \[INFO\] Latency\(s\): [0-9.]+$", short[0])
    proc = run_pa(env, MINDIE_LOG_LEVEL="ERROR")
    assert proc.returncode == 0 and "Latency" not in proc.stderr


def test_run_pa_log_rotate_out_of_range_fails(env):
    proc = run_pa(env, MINDIE_LOG_ROTATE="-fs 0 -r 3")
    assert proc.returncode != 0
    assert "ValueError: Log file size (-fs) should be between 1 and 500 MB, but got 0 MB." in proc.stderr


# ------------------------------------------------------------------ generators

def test_weights_generator(tmp_path):
    out = tmp_path / "Qwen2-VL-7B-Instruct"
    proc = subprocess.run([sys.executable, WEIGHTS_GEN, str(out), "--shards", "4", "--total-mb", "3"],
                          capture_output=True, text=True, check=True)
    assert "wrote" in proc.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "qwen2_vl" and cfg["hidden_size"] == 3584 and cfg["vision_config"]["depth"] == 32
    assert abs(modelmod.weights_bytes(cfg) / 1e9 - 16.6) < 0.1
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == ["model-%05d-of-00004.safetensors" % i for i in range(1, 5)]
    total = 0
    names = set()
    for shard in shards:
        header = modelmod.read_safetensors_header(str(out / shard))
        for name, info in header.items():
            if name != "__metadata__":
                total += info["data_offsets"][1] - info["data_offsets"][0]
                names.add(name)
                assert index["weight_map"][name] == shard
    assert total == index["metadata"]["total_size"]
    assert abs(total - 3 * 2 ** 20) < 4096
    assert names == set(index["weight_map"]) and "model.layers.27.mlp.down_proj.weight" in names
    for fname in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "generation_config.json",
                  "preprocessor_config.json", "chat_template.json"):
        json.loads((out / fname).read_text())
    assert (out / "merges.txt").read_text().startswith("#version")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert all(stat.S_IMODE(os.stat(out / f).st_mode) == 0o644 for f in os.listdir(out))
    config, found = modelmod.check_model_dir(str(out))
    assert len(found) == 4
    mtimes = {f: os.stat(out / f).st_mtime_ns for f in os.listdir(out)}
    proc = subprocess.run([sys.executable, WEIGHTS_GEN, str(out), "--shards", "4", "--total-mb", "3"],
                          capture_output=True, text=True, check=True)
    assert "already complete" in proc.stdout
    assert mtimes == {f: os.stat(out / f).st_mtime_ns for f in os.listdir(out)}
    other = tmp_path / "again"
    subprocess.run([sys.executable, WEIGHTS_GEN, str(other), "--shards", "4", "--total-mb", "3"], check=True,
                   capture_output=True)
    assert not filecmp.dircmp(out, other).diff_files
    # a damaged shard is rewritten
    (out / shards[0]).write_bytes(b"x")
    proc = subprocess.run([sys.executable, WEIGHTS_GEN, str(out), "--shards", "4", "--total-mb", "3"],
                          capture_output=True, text=True, check=True)
    assert "wrote 1 file" in proc.stdout


def test_image_generator(tmp_path):
    subprocess.run([sys.executable, IMAGES_GEN, str(tmp_path)], check=True, capture_output=True)
    jpg = imageinfo.describe_image(str(tmp_path / "sample.jpg"))
    png = imageinfo.describe_image(str(tmp_path / "sample.png"))
    assert (jpg["width"], jpg["height"], jpg["format"]) == (1902, 1080, "JPEG")
    assert (png["width"], png["height"], png["format"]) == (640, 480, "PNG")
    data = (tmp_path / "sample.jpg").read_bytes()
    assert data.endswith(b"\xff\xd9") and b"JFIF" in data[:20]
    before = data
    subprocess.run([sys.executable, IMAGES_GEN, str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "sample.jpg").read_bytes() == before


def test_image_tokens_like_qwen2_vl():
    assert textgen.image_tokens(1902, 1080) == 68 * 39 + 2
    assert textgen.image_tokens(640, 480) == 23 * 17 + 2
    assert textgen.image_tokens(20000, 20000) <= 16384 + 2
    hdr = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 7, 9)
    assert imageinfo.parse_image_bytes(hdr + b"\x00" * 10)[:2] == (7, 9)
    assert perf.vit_reserve_mb(50000) > perf.vit_reserve_mb(8192)
