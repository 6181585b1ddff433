#!/usr/bin/env python3
"""The sandbox fleet: simulated Atlas 800I A2 nodes in local Docker containers.

    fleet.py up   [--name N] [--nodes 4] [--profiles 800i-a2-32g,800i-a2-64g] [--inventory DIR]
                  [--layouts 800i-a2-64g=2x4] [--port-base 31040]
    fleet.py down [--name N] [--inventory DIR]
    fleet.py images            build (or reuse) the sandbox images only
    fleet.py status [--name N]
    fleet.py profiles          list the hardware profiles

`up` validates its input before touching anything, builds the images only when
their build context changed (each image carries the hash of its context as a
label), creates the node containers in parallel, waits for their inner Docker
engines, places the model weights, the MindIE image tarball and test images
under /data on each node (where an operator following the guide has them),
publishes each node's MindIE ports on 127.0.0.1 (business, management and metrics
of each of the 8 instance slots a layout can use) and writes an Ansible inventory,
with mindie_instance_layout for the nodes of the profiles --layouts names.
Re-running it leaves matching nodes alone. If anything fails, what this run
created is removed again. `down` removes every container, volume and network of
the fleet and the inventory it wrote; the images stay cached (`images --prune`
removes them).
"""

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDBOX = REPO / "sandbox"
CACHE = Path(os.environ.get("MINDIE_SANDBOX_CACHE", REPO / ".cache" / "sandbox"))

LABEL = "ascend.mindie.sandbox"
HASH_LABEL = "ascend.mindie.sandbox.hash"
SPEC_LABEL = "ascend.mindie.sandbox.spec"
PROFILE_LABEL = "ascend.mindie.sandbox.profile"

BASE_IMAGE = "mindie-sandbox/base:bookworm"
NODE_IMAGE = "mindie-sandbox/npu-node:latest"
MINDIE_REPO = "mindie-sim"
MINDIE_TAG = "1.0.0-800I-A2-py311-openeuler24.03-lts"
MINDIE_IMAGE = "%s:%s" % (MINDIE_REPO, MINDIE_TAG)
MINDIE_TARBALL = "%s_%s.tar" % (MINDIE_REPO, MINDIE_TAG)
# Every simulated MindIE build: tag -> the Dockerfile's build arguments. MINDIE_TAG is what the nodes run; the
# other two are what a rollout upgrades to (1.0.1) and a build whose daemon always fails its warm-up.
UPGRADE_TAG = "1.0.1-800I-A2-py311-openeuler24.03-lts"
BROKEN_TAG = "1.0.1-broken-800I-A2-py311-openeuler24.03-lts"
MINDIE_BUILDS = {
    MINDIE_TAG: {},
    UPGRADE_TAG: {"MINDIE_VERSION": "1.0.1"},
    BROKEN_TAG: {"MINDIE_VERSION": "1.0.1", "MINDIE_SIM_DEFECT": "warmup"},
}
LB_IMAGE = "mindie-sandbox/lb-node:latest"
# The load balancer host's frontend (mindie_loadbalancer_port's default), published on 127.0.0.1.
LB_PORT = 8080
# Prometheus on the monitor host (the same image as the balancer host: both packages are installed in it)
MONITOR_PORT = 9090

PROFILES_FILE = SANDBOX / "images/npu-node/rootfs/usr/local/lib/ascend-sim/profiles.json"
GROUP_VARS_TEMPLATE = SANDBOX / "inventory" / "group_vars"
REQUIREMENTS = (SANDBOX / "images" / "mindie-sim" / "rootfs" / "usr" / "local" / "Ascend" / "atb-models"
                / "requirements" / "models" / "requirements_qwen2_vl.txt")

# Where an operator following the deployment guide keeps things on the node.
NODE_DATA = "/data"
NODE_WEIGHTS = NODE_DATA + "/Qwen2-VL-7B-Instruct"
NODE_IMAGES = NODE_DATA + "/images"
NODE_TEST_IMAGES = NODE_DATA + "/test_images"
SEED_MARKER = NODE_DATA + "/.sandbox-seed"

# MindIE ports the guide configures (business, management, metrics) of instance 0; instance i of a
# node serves them + i * INSTANCE_PORT_STRIDE (mindie_instance_port_stride). Each node publishes those
# of instance slots 0..INSTANCE_SLOTS-1 (8 one-card instances at most) on 127.0.0.1: node n's port P
# at PORT_BASE + NODE_PORT_SPAN * n + (P - 1040), so node 1's instance 1 business port 1050 is 31050,
# node 2's 1040 is 31140.
SERVICE_PORTS = (1040, 1041, 1042)
INSTANCE_SLOTS = 8
INSTANCE_PORT_STRIDE = 10
NODE_PORT_SPAN = 100
DEFAULT_PORT_BASE = 31040

# Docker inside Docker without --privileged (see SANDBOX_NOTES): every capability
# but SYS_RESOURCE (missing from the bounding set here) and the three names that
# Docker 20.10 rejects.
CAPABILITIES = (
    "AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE "
    "DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE "
    "MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW "
    "SETFCAP SETGID SETPCAP SETUID SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE "
    "SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG SYSLOG WAKE_ALARM"
).split()

NODE_READY_TIMEOUT = 120
# Seconds `docker stop/restart` of a node waits before it kills it. A server's reboot waits for docker.service
# to stop its containers (each MindIE instance takes its stop_timeout, 45 s by default); with Docker's 10 s the
# node's engine is killed while it stops them and may bring none back (unless-stopped) when the node starts.
NODE_STOP_TIMEOUT = 120


class SandboxError(Exception):
    """A failure with a message that says what is wrong and what to do."""


def log(msg):
    print("sandbox: %s" % msg, flush=True)


def docker(*args, check=True, timeout=None):
    """Run the docker CLI; return its stripped stdout. Raise SandboxError on failure."""
    try:
        proc = subprocess.run(
            ("docker",) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout)
    except FileNotFoundError:
        raise SandboxError("the docker CLI is not installed; run `make docker` "
                           "(installs docker.io and starts dockerd) or install Docker")
    except subprocess.TimeoutExpired:
        raise SandboxError("`docker %s` did not finish within %s s" % (" ".join(args[:3]), timeout))
    if check and proc.returncode != 0:
        raise SandboxError("`docker %s` failed (exit %d): %s" % (
            " ".join(args[:4]), proc.returncode, (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc.stdout.strip() if proc.returncode == 0 else None


def require_engine():
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except SandboxError as exc:
        raise SandboxError(
            "no Docker engine answers (%s). Run `make docker`, which installs docker.io "
            "and starts dockerd where it can, or start a Docker engine yourself and make "
            "sure `docker info` works." % exc)


# --------------------------------------------------------------------------- profiles

def known_profiles():
    with open(PROFILES_FILE) as handle:
        return sorted(name for name in json.load(handle) if not name.startswith("_"))


def profile_group(profile):
    """Inventory group of a hardware profile (fault profiles belong to their base model)."""
    return "atlas_800i_a2_64g" if profile.startswith("800i-a2-64g") else "atlas_800i_a2_32g"


def plan_profiles(nodes, profiles_arg):
    """One profile per node: the list is used in order and its last entry repeated."""
    if nodes < 1:
        raise SandboxError("NODES must be at least 1 (got %d)" % nodes)
    wanted = [p.strip() for p in profiles_arg.split(",") if p.strip()]
    if not wanted:
        raise SandboxError("PROFILES is empty; known profiles: %s" % ", ".join(known_profiles()))
    known = known_profiles()
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise SandboxError("unknown hardware profile%s %s; known profiles: %s" % (
            "s" if len(unknown) > 1 else "", ", ".join("'%s'" % p for p in unknown), ", ".join(known)))
    if len(wanted) > nodes:
        raise SandboxError("%d profiles given for %d nodes; give at most one per node" % (len(wanted), nodes))
    return [wanted[min(i, len(wanted) - 1)] for i in range(nodes)]


# --------------------------------------------------------------------------- images

def tree_hash(path, *extra):
    """Hash of a build context: relative paths, exec bits and contents, plus extras."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(str(item).encode() + b"\0")
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(b"x" if os.access(file, os.X_OK) else b"-")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def image_id(image):
    return docker("image", "inspect", "--format", "{{.Id}}", image, check=False)


def image_hash(image):
    return docker("image", "inspect", "--format",
                  '{{ index .Config.Labels "%s" }}' % HASH_LABEL, image, check=False)


def ensure_base():
    script = SANDBOX / "images/base/build.sh"
    wanted = hashlib.sha256(script.read_bytes()).hexdigest()[:16]
    if image_hash(BASE_IMAGE) == wanted:
        return image_id(BASE_IMAGE)
    started = time.time()
    log("building base image %s" % BASE_IMAGE)
    proc = subprocess.run(["bash", str(script), BASE_IMAGE])
    if proc.returncode != 0:
        raise SandboxError("building the base image failed (see the messages above)")
    log("base image ready in %.0f s" % (time.time() - started))
    return image_id(BASE_IMAGE)


def ensure_image(image, context, base_id, build_args=None):
    build_args = dict(build_args or {})
    wanted = tree_hash(context, base_id, *sorted(build_args.items())) if build_args else tree_hash(context, base_id)
    if image_hash(image) == wanted:
        return image_id(image)
    started = time.time()
    log("building %s (context %s changed)" % (image, context.relative_to(REPO)))
    extra = []
    for key, value in sorted(build_args.items()):
        extra += ["--build-arg", "%s=%s" % (key, value)]
    proc = subprocess.run(
        ["docker", "build", "-q", "--label", "%s=%s" % (HASH_LABEL, wanted),
         "--build-arg", "BASE_IMAGE=%s" % BASE_IMAGE] + extra + ["-t", image, str(context)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise SandboxError("building %s failed:\n%s" % (image, proc.stdout[-3000:]))
    log("%s built in %.0f s" % (image, time.time() - started))
    return image_id(image)


@contextlib.contextmanager
def cache_lock():
    """Held while the images, the tarball and the seed tree are checked or rebuilt: fleets brought up side
    by side (molecule scenarios in parallel lanes) share them."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_images():
    """Every sandbox image; returns the id of the MindIE image the nodes run (MINDIE_IMAGE)."""
    base_id = ensure_base()
    ensure_image(NODE_IMAGE, SANDBOX / "images/npu-node", base_id)
    ensure_image(LB_IMAGE, SANDBOX / "images/lb-node", base_id)
    ids = {}
    for tag, build_args in MINDIE_BUILDS.items():
        ids[tag] = ensure_image("%s:%s" % (MINDIE_REPO, tag), SANDBOX / "images/mindie-sim", base_id, build_args)
    return ids[MINDIE_TAG]


def tarball_name(tag):
    return "%s_%s.tar" % (MINDIE_REPO, tag)


def ensure_tarball(mindie_id, tag=MINDIE_TAG):
    """A MindIE stand-in saved as a tarball, the way the real image is distributed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    image = "%s:%s" % (MINDIE_REPO, tag)
    tarball = CACHE / tarball_name(tag)
    stamp = CACHE / (tarball.name + ".id")
    if tarball.exists() and stamp.exists() and stamp.read_text().strip() == mindie_id:
        write_tarball_checksum(tarball)
        return tarball
    log("saving %s to %s" % (image, tarball.relative_to(REPO)))
    partial = tarball.with_suffix(".partial")
    docker("save", "-o", str(partial), image)
    partial.rename(tarball)
    write_tarball_checksum(tarball, force=True)
    stamp.write_text(mindie_id + "\n")
    return tarball


def write_tarball_checksum(tarball, force=False):
    """<tarball>.sha256 in sha256sum format beside the tarball, as the image role requires (the
    operator's checksum of the download); rewritten when missing, malformed or the tarball is newer."""
    sums = tarball.with_name(tarball.name + ".sha256")
    if not force and sums.exists() and sums.stat().st_mtime >= tarball.stat().st_mtime:
        parts = sums.read_text(errors="replace").split()
        if len(parts) == 2 and len(parts[0]) == 64 and parts[1] == tarball.name:
            return sums
    digest = hashlib.sha256()
    with open(tarball, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    partial = sums.with_name(sums.name + ".partial")
    partial.write_text("%s  %s\n" % (digest.hexdigest(), tarball.name))
    partial.rename(sums)
    return sums


def run_generator(script, out_dir):
    proc = subprocess.run([sys.executable, str(script), str(out_dir)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise SandboxError("%s failed:\n%s" % (script.name, proc.stdout[-2000:]))


def write_manifest(model_dir, manifest):
    """A sha256sum-style manifest of the weights (relative paths), as a model download ships it."""
    lines = []
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        lines.append("%s  %s\n" % (hashlib.sha256(file.read_bytes()).hexdigest(), file.relative_to(model_dir)))
    text = "".join(lines)
    if not manifest.exists() or manifest.read_text() != text:
        manifest.write_text(text)


def ensure_wheelhouse(wheelhouse):
    """Wheels of the image's requirements_qwen2_vl.txt, as an operator of an air-gapped site
    places them on the node (the sandbox containers cannot reach PyPI; this machine can)."""
    pins = [line.strip() for line in REQUIREMENTS.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    names = [pin.split("==")[0].lower().replace("-", "_") for pin in pins]
    have = [p.name.lower() for p in wheelhouse.glob("*.whl")] if wheelhouse.is_dir() else []
    if all(any(w.startswith(name + "-") for w in have) for name in names):
        return
    log("downloading the wheels of %s into %s" % (" ".join(pins), wheelhouse))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                             "--only-binary=:all:", "--no-deps", "--dest", str(wheelhouse)] + pins,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SandboxError("cannot download the wheels of %s (the nodes' wheelhouse): %s"
                           % (" ".join(pins), (result.stderr or result.stdout).strip()[-600:]))


def ensure_seed(tarball):
    """The tree copied to /data on every node, and its hash."""
    seed = CACHE / "seed"
    run_generator(SANDBOX / "weights/generate_weights.py", seed / "Qwen2-VL-7B-Instruct")
    write_manifest(seed / "Qwen2-VL-7B-Instruct", seed / "Qwen2-VL-7B-Instruct.sha256")
    run_generator(SANDBOX / "weights/generate_test_images.py", seed / "test_images")
    ensure_wheelhouse(seed / "wheelhouse")
    (seed / "images").mkdir(parents=True, exist_ok=True)
    linked = seed / "images" / MINDIE_TARBALL
    if not linked.exists() or not os.path.samefile(linked, tarball):
        if linked.exists():
            linked.unlink()
        os.link(tarball, linked)
    # The checksum beside the tarball on the node, as an operator places it with the download.
    sums = tarball.with_name(tarball.name + ".sha256")
    linked_sums = linked.with_name(linked.name + ".sha256")
    if not linked_sums.exists() or linked_sums.read_bytes() != sums.read_bytes():
        shutil.copyfile(sums, linked_sums)
    digest = hashlib.sha256()
    for file in sorted(p for p in seed.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(("%s %d %d\n" % (file.relative_to(seed), stat.st_size, stat.st_mtime)).encode())
    return seed, digest.hexdigest()[:16]


# --------------------------------------------------------------------------- nodes

def node_name(fleet, index):
    return "%s-node%d" % (fleet, index + 1)


def published_ports(port_base, index):
    """{node port: 127.0.0.1 port} of node ``index``: business/management/metrics of every instance slot."""
    first = SERVICE_PORTS[0]
    return {port + slot * INSTANCE_PORT_STRIDE: port_base + NODE_PORT_SPAN * index + port - first + slot * INSTANCE_PORT_STRIDE
            for slot in range(INSTANCE_SLOTS) for port in SERVICE_PORTS}


def check_port_base(port_base, nodes):
    """Refuse a PORT_BASE whose published ports would fall outside [1024, 65535]."""
    last = max(published_ports(port_base, nodes - 1).values())
    if port_base < 1024 or last > 65535:
        raise SandboxError("PORT_BASE %d puts the published ports of %d node%s at %d..%d; they must lie in "
                           "1024..65535 (each node takes %d ports from PORT_BASE + %d * node): pick a PORT_BASE "
                           "between 1024 and %d" % (port_base, nodes, "" if nodes == 1 else "s", port_base, last,
                                                    NODE_PORT_SPAN, NODE_PORT_SPAN,
                                                    65535 - (last - port_base)))


def parse_layouts(text):
    """``PROFILE=NxM,...`` -> {profile: layout}: mindie_instance_layout for the nodes of that profile.

    Only the form is checked here; whether the node can hold the layout is the plan's to say (the
    prechecks refuse it with what would fit, as on a real inventory).
    """
    layouts = {}
    known = known_profiles()
    for item in [i.strip() for i in (text or "").split(",") if i.strip()]:
        profile, sep, layout = item.partition("=")
        profile, layout = profile.strip(), layout.strip()
        if not sep or not re.match(r"^[1-9][0-9]*x[1-9][0-9]*$", layout):
            raise SandboxError("LAYOUTS entry '%s' is not PROFILE=NxM (e.g. 800i-a2-64g=2x4)" % item)
        if profile not in known:
            raise SandboxError("LAYOUTS names the unknown hardware profile '%s'; known profiles: %s"
                               % (profile, ", ".join(known)))
        if profile in layouts and layouts[profile] != layout:
            raise SandboxError("LAYOUTS gives profile '%s' two layouts (%s and %s)" % (profile, layouts[profile], layout))
        layouts[profile] = layout
    return layouts


def node_plan(fleet, profiles, port_base, layouts=None):
    check_port_base(port_base, len(profiles))
    plan = []
    for index, profile in enumerate(profiles):
        ports = published_ports(port_base, index)
        plan.append({"name": node_name(fleet, index), "profile": profile, "ports": ports,
                     "group": profile_group(profile), "layout": (layouts or {}).get(profile)})
    return plan


def node_spec_hash(node, node_image_id):
    blob = json.dumps([node["profile"], sorted(node["ports"].items()), node_image_id, NODE_STOP_TIMEOUT], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def existing_containers(fleet):
    out = docker("ps", "-a", "--filter", "label=%s=%s" % (LABEL, fleet),
                 "--format", '{{.Names}}\t{{.State}}\t{{.Label "%s"}}' % SPEC_LABEL)
    found = {}
    for line in (out or "").splitlines():
        name, state, spec = (line.split("\t") + ["", ""])[:3]
        found[name] = {"state": state, "spec": spec}
    return found


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As docker-proxy binds: connections closed a moment ago (TIME_WAIT) do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def create_node(fleet, node, spec_hash, network):
    args = ["run", "-d", "--name", node["name"], "--hostname", node["name"],
            "--label", "%s=%s" % (LABEL, fleet), "--label", "%s=%s" % (SPEC_LABEL, spec_hash),
            "--label", "%s=%s" % (PROFILE_LABEL, node["profile"]),
            "--network", network, "--init", "--stop-timeout", str(NODE_STOP_TIMEOUT),
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "--tmpfs", "/run", "-v", "%s-docker:/var/lib/docker" % node["name"],
            "-e", "NPU_SIM_PROFILE=%s" % node["profile"]]
    for cap in CAPABILITIES:
        args += ["--cap-add", cap]
    for port, host_port in sorted(node["ports"].items()):
        args += ["-p", "127.0.0.1:%d:%d" % (host_port, port)]
    docker(*(args + [NODE_IMAGE]))


def wait_ready(name):
    deadline = time.time() + NODE_READY_TIMEOUT
    while time.time() < deadline:
        state = docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        if state != "running":
            logs = subprocess.run(["docker", "logs", "--tail", "20", name], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, universal_newlines=True).stdout
            raise SandboxError("node %s stopped while starting (state %s):\n%s" % (name, state, logs))
        if docker("exec", name, "test", "-e", "/run/npu-node.ready", check=False) is not None:
            return
        time.sleep(0.5)
    raise SandboxError("node %s: its Docker engine did not answer within %d s" % (name, NODE_READY_TIMEOUT))


def seed_node(name, seed, seed_hash, extra_tarballs=()):
    """Place the seed tree in the node's /data, and the extra image tarballs (with their .sha256) beside the
    default one in /data/images; ``seed_hash`` covers both."""
    if docker("exec", name, "cat", SEED_MARKER, check=False) == seed_hash:
        return False
    docker("exec", name, "mkdir", "-p", NODE_DATA)
    docker("cp", "%s/." % seed, "%s:%s" % (name, NODE_DATA))
    for tarball in extra_tarballs:
        for file in (tarball, tarball.with_name(tarball.name + ".sha256")):
            docker("cp", str(file), "%s:%s/%s" % (name, NODE_IMAGES, file.name))
    docker("exec", name, "sh", "-c", "echo %s > %s" % (seed_hash, SEED_MARKER))
    return True


# --------------------------------------------------------------------------- inventory

def write_inventory(inventory, fleet, plan, image_arch, lb=None, monitor=None):
    groups = {"atlas_800i_a2_32g": {}, "atlas_800i_a2_64g": {}}
    for node in plan:
        groups[node["group"]][node["name"]] = {
            "ansible_connection": "community.docker.docker",
            "ansible_host": node["name"],
            "ansible_python_interpreter": "/usr/bin/python3",
            "sandbox_profile": node["profile"],
            # Read by the sandbox's group_vars (mindie_verify_client_*_url) and its molecule scenarios only.
            "sandbox_published_host": "127.0.0.1",
            "sandbox_published_ports": {int(k): v for k, v in node["ports"].items()},
            "mindie_image_architecture": image_arch,
        }
        if monitor:
            # Prometheus on the monitor host scrapes each instance's metrics port, which MindIE serves on
            # managementIpAddress (loopback by default): every address of the node here, which MindIE takes only
            # with allowAllZeroIpListening (a real fleet would give the node's management address).
            groups[node["group"]][node["name"]].update({
                "mindie_service_management_address": "0.0.0.0",
                "mindie_service_extra_settings": {"ServerConfig": {"allowAllZeroIpListening": True}}})
        if node.get("layout"):
            # An operator's choice like any other host variable (fleet.py up --layouts); -e still overrides it.
            groups[node["group"]][node["name"]]["mindie_instance_layout"] = node["layout"]
    hosts = {"all": {"children": {"mindie_nodes": {"children": {
        group: {"hosts": members} for group, members in groups.items()}}}}}
    if lb:
        hosts["all"]["children"]["mindie_lb"] = {"hosts": {lb["name"]: {
            "ansible_connection": "community.docker.docker",
            "ansible_host": lb["name"],
            "ansible_python_interpreter": "/usr/bin/python3",
            # What clients on the controller use: the frontend published on 127.0.0.1.
            "mindie_loadbalancer_client_url": "http://127.0.0.1:%d" % lb["port"],
        }}}
    if monitor:
        hosts["all"]["children"]["mindie_monitor"] = {"hosts": {monitor["name"]: {
            "ansible_connection": "community.docker.docker",
            "ansible_host": monitor["name"],
            "ansible_python_interpreter": "/usr/bin/python3",
            # What clients on the controller use: Prometheus published on 127.0.0.1.
            "mindie_monitoring_client_url": "http://127.0.0.1:%d" % monitor["port"],
        }}}
    inventory = Path(inventory)
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    header = ("# Written by `make sandbox-up` (sandbox/fleet.py) for the sandbox fleet '%s'.\n"
              "# Do not edit: the next sandbox-up rewrites it, sandbox-down removes it.\n" % fleet)
    tmp = inventory / ".hosts.yml.tmp"
    tmp.write_text(header + "---\n" + to_yaml(hosts))
    tmp.rename(inventory / "hosts.yml")
    for template in sorted(GROUP_VARS_TEMPLATE.glob("*.yml")):
        shutil.copyfile(template, inventory / "group_vars" / template.name)
    (inventory / ".fleet").write_text(fleet + "\n")


def to_yaml(data, indent=0):
    """Minimal YAML writer for the inventory (dicts of dicts, strings, ints)."""
    lines = []
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            if value:
                lines.append("%s%s:" % (pad, key))
                lines.append(to_yaml(value, indent + 1).rstrip("\n"))
            else:
                lines.append("%s%s: {}" % (pad, key))
        elif isinstance(value, bool):
            lines.append("%s%s: %s" % (pad, key, "true" if value else "false"))
        elif isinstance(value, int):
            lines.append("%s%s: %d" % (pad, key, value))
        else:
            lines.append("%s%s: %s" % (pad, key, json.dumps(str(value))))
    return "\n".join(lines) + "\n"


def remove_inventory(inventory, fleet):
    inventory = Path(inventory)
    marker = inventory / ".fleet"
    if not marker.exists() or marker.read_text().strip() != fleet:
        return
    (inventory / "hosts.yml").unlink(missing_ok=True)
    for template in GROUP_VARS_TEMPLATE.glob("*.yml"):
        (inventory / "group_vars" / template.name).unlink(missing_ok=True)
    try:
        (inventory / "group_vars").rmdir()
    except OSError:
        pass
    marker.unlink()


# --------------------------------------------------------------------------- commands

def cmd_up(args):
    started = time.time()
    profiles = plan_profiles(args.nodes, args.profiles)
    plan = node_plan(args.name, profiles, args.port_base, parse_layouts(args.layouts))
    require_engine()

    existing = existing_containers(args.name)
    stale = sorted(set(existing) - {n["name"] for n in plan})

    with cache_lock():
        mindie_id = ensure_images()
        node_image_id = image_id(NODE_IMAGE)
        tarball = ensure_tarball(mindie_id)
        seed, seed_hash = ensure_seed(tarball)
        extra_tarballs = []
        if args.upgrade_images:
            for tag in (UPGRADE_TAG, BROKEN_TAG):
                extra_tarballs.append(ensure_tarball(image_id("%s:%s" % (MINDIE_REPO, tag)), tag))
            digest = hashlib.sha256(seed_hash.encode())
            for extra in extra_tarballs:
                digest.update(extra.with_name(extra.name + ".sha256").read_bytes())
            seed_hash = digest.hexdigest()[:16]
    lb = lb_plan(args.name, args.port_base, len(plan)) if args.lb else None
    monitor = monitor_plan(args.name, args.port_base, len(plan)) if args.monitor else None
    hosts = [h for h in (lb, monitor) if h]

    todo = []
    for node in plan:
        spec = node_spec_hash(node, node_image_id)
        have = existing.get(node["name"])
        if have and have["spec"] == spec:
            node["action"] = "start" if have["state"] != "running" else "keep"
        else:
            node["action"] = "recreate" if have else "create"
        node["spec"] = spec
        if node["action"] in ("create", "recreate"):
            todo.append(node)
    busy = [p for node in todo for p in node["ports"].values() if not port_free(p)
            and not existing.get(node["name"])]
    busy += [h["port"] for h in hosts if not existing.get(h["name"]) and not port_free(h["port"])]
    if busy:
        raise SandboxError("127.0.0.1 ports %s are taken by something else; free them or pass "
                           "PORT_BASE=<another base> (now %d)" % (
                               ", ".join(map(str, sorted(busy))), args.port_base))

    network = "%s-net" % args.name
    created = []
    made_network = False
    try:
        for name in stale:
            if name in [h["name"] for h in hosts]:
                continue
            log("removing %s (no longer part of the fleet)" % name)
            remove_node(name)
        if docker("network", "inspect", network, check=False) is None:
            docker("network", "create", "--label", "%s=%s" % (LABEL, args.name), network)
            made_network = True

        def bring_up(node):
            if node["action"] == "recreate":
                remove_node(node["name"])
            if node["action"] in ("create", "recreate"):
                create_node(args.name, node, node["spec"], network)
                created.append(node["name"])
            elif node["action"] == "start":
                docker("start", node["name"])
            wait_ready(node["name"])
            seeded = seed_node(node["name"], seed, seed_hash, extra_tarballs)
            return "%s %s (%s)%s" % (node["action"], node["name"], node["profile"],
                                     ", data placed" if seeded else "")

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(plan))) as pool:
            futures = [pool.submit(bring_up, node) for node in plan]
            errors = []
            for future in futures:
                try:
                    log(future.result())
                except SandboxError as exc:
                    errors.append(str(exc))
            if errors:
                raise SandboxError("\n".join(errors))
        for host in hosts:
            log(bring_up_host(args.name, host, existing.get(host["name"]), network, created))
        image_arch = docker("image", "inspect", "--format", "{{.Architecture}}", MINDIE_IMAGE)
        write_inventory(args.inventory, args.name, plan, image_arch, lb, monitor)
    except BaseException:
        log("failed; removing what this run created")
        for name in created:
            remove_node(name)
        if made_network:
            docker("network", "rm", network, check=False)
        raise

    log("fleet '%s' ready in %.1f s; inventory: %s" % (args.name, time.time() - started, args.inventory))
    for node in plan:
        ports = sorted(node["ports"].items())
        log("  %-24s %-24s %s  layout %s  ports 127.0.0.1:%d..%d -> %d..%d (instance i: +%d*i)" % (
            node["name"], node["profile"], node["group"], node["layout"] or "default", ports[0][1], ports[-1][1],
            ports[0][0], ports[-1][0], INSTANCE_PORT_STRIDE))
    for host in hosts:
        log("  %-24s %s  127.0.0.1:%d -> %d" % (host["name"], host["what"], host["port"], host["container_port"]))


def lb_plan(fleet, port_base, nodes):
    """The load balancer host: <fleet>-lb, its frontend published on the first port after the nodes' spans."""
    return _service_host(fleet, "lb", port_base + NODE_PORT_SPAN * nodes, LB_PORT,
                         "load balancer (HAProxy from Debian's packages)")


def monitor_plan(fleet, port_base, nodes):
    """The monitor host: <fleet>-mon, Prometheus published on the port after the load balancer's."""
    return _service_host(fleet, "mon", port_base + NODE_PORT_SPAN * nodes + 1, MONITOR_PORT,
                         "monitor (Prometheus from Debian's packages)")


def _service_host(fleet, suffix, port, container_port, what):
    if port > 65535:
        raise SandboxError("PORT_BASE leaves no port for the %s host (%d)" % (suffix, port))
    return {"name": "%s-%s" % (fleet, suffix), "port": port, "container_port": container_port, "what": what}


def bring_up_host(fleet, host, have, network, created):
    """A load balancer or monitor host (the service-host image), its service port published on 127.0.0.1."""
    spec = hashlib.sha256(json.dumps([host["port"], host["container_port"], "SYS_PTRACE", image_id(LB_IMAGE)]).encode()
                          ).hexdigest()[:16]
    action = "keep"
    if have and have["spec"] != spec:
        remove_node(host["name"])
        have = None
        action = "recreate"
    if not have:
        action = "create" if action == "keep" else action
        docker("run", "-d", "--name", host["name"], "--hostname", host["name"],
               "--label", "%s=%s" % (LABEL, fleet), "--label", "%s=%s" % (SPEC_LABEL, spec),
               "--network", network, "--stop-timeout", "20", "--tmpfs", "/run",
               # as root on a real host: start-stop-daemon --exec (the init scripts' reload and stop) reads
               # /proc/<pid>/exe of Prometheus, which runs as its own user
               "--cap-add", "SYS_PTRACE",
               "-p", "127.0.0.1:%d:%d" % (host["port"], host["container_port"]), LB_IMAGE)
        created.append(host["name"])
    elif have["state"] != "running":
        action = "start"
        docker("start", host["name"])
    deadline = time.time() + NODE_READY_TIMEOUT
    while docker("exec", host["name"], "test", "-e", "/run/lb-node.ready", check=False) is None:
        if time.time() > deadline:
            raise SandboxError("%s host %s did not start within %d s" % (host["what"], host["name"],
                                                                          NODE_READY_TIMEOUT))
        time.sleep(0.3)
    return "%s %s (%s)" % (action, host["name"], host["what"].split(" (")[0])


def remove_node(name):
    docker("rm", "-f", "-v", name, check=False)
    docker("volume", "rm", "-f", "%s-docker" % name, check=False)


def cmd_down(args):
    require_engine()
    names = sorted(existing_containers(args.name))
    for name in names:
        remove_node(name)
    for volume in (docker("volume", "ls", "-q", "--filter", "name=%s-node" % args.name) or "").split():
        docker("volume", "rm", "-f", volume, check=False)
    docker("network", "rm", "%s-net" % args.name, check=False)
    remove_inventory(args.inventory, args.name)
    log("fleet '%s' removed (%d node%s); images stay cached" % (
        args.name, len(names), "" if len(names) == 1 else "s"))


def cmd_images(args):
    require_engine()
    if args.prune:
        for image in ["%s:%s" % (MINDIE_REPO, tag) for tag in MINDIE_BUILDS] + [LB_IMAGE, NODE_IMAGE, BASE_IMAGE]:
            docker("rmi", "-f", image, check=False)
        shutil.rmtree(CACHE, ignore_errors=True)
        log("sandbox images and caches removed")
        return
    with cache_lock():
        ensure_tarball(ensure_images())
    log("images ready: %s" % ", ".join([BASE_IMAGE, NODE_IMAGE, LB_IMAGE]
                                        + ["%s:%s" % (MINDIE_REPO, tag) for tag in MINDIE_BUILDS]))


def cmd_status(args):
    require_engine()
    found = existing_containers(args.name)
    if not found:
        log("fleet '%s' has no nodes" % args.name)
    for name, info in sorted(found.items()):
        log("%-24s %s" % (name, info["state"]))


def cmd_profiles(_args):
    print("\n".join(known_profiles()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create or update the fleet")
    down = sub.add_parser("down", help="remove the fleet")
    status = sub.add_parser("status", help="list the fleet's nodes")
    images = sub.add_parser("images", help="build the sandbox images")
    images.add_argument("--prune", action="store_true", help="remove the images and caches instead")
    sub.add_parser("profiles", help="list the hardware profiles")
    for cmd in (up, down, status):
        cmd.add_argument("--name", default=os.environ.get("FLEET", "mindie-sandbox"),
                         help="fleet name, prefix of every container (default mindie-sandbox)")
    for cmd in (up, down):
        cmd.add_argument("--inventory", default=str(REPO / "inventories" / "sandbox"),
                         help="inventory directory to write/remove (default inventories/sandbox)")
    up.add_argument("--nodes", type=int, default=2)
    up.add_argument("--profiles", default="800i-a2-32g,800i-a2-64g",
                    help="comma-separated profiles, one per node; the last one repeats")
    up.add_argument("--layouts", default="",
                    help="comma-separated PROFILE=NxM: mindie_instance_layout written for the nodes of that "
                         "profile (e.g. 800i-a2-64g=2x4); other nodes keep the roles' default (1x8)")
    up.add_argument("--lb", action=argparse.BooleanOptionalAction, default=False,
                    help="add a load balancer host <name>-lb (group mindie_lb), its frontend published on "
                         "127.0.0.1:<port-base + %d * nodes>" % NODE_PORT_SPAN)
    up.add_argument("--monitor", action=argparse.BooleanOptionalAction, default=False,
                    help="add a monitor host <name>-mon (group mindie_monitor), Prometheus published on "
                         "127.0.0.1:<port-base + %d * nodes + 1>" % NODE_PORT_SPAN)
    up.add_argument("--upgrade-images", action=argparse.BooleanOptionalAction, default=False,
                    help="also place the tarballs of MindIE %s and %s on every node (rollouts)" % (
                        UPGRADE_TAG, BROKEN_TAG))
    up.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE,
                    help="first host port published on 127.0.0.1 (node i gets base+%d*i+0..%d: the "
                         "business/management/metrics ports of its instance slots 0..%d)" % (
                             NODE_PORT_SPAN, (INSTANCE_SLOTS - 1) * INSTANCE_PORT_STRIDE + len(SERVICE_PORTS) - 1,
                             INSTANCE_SLOTS - 1))
    args = parser.parse_args(argv)
    handler = {"up": cmd_up, "down": cmd_down, "images": cmd_images,
               "status": cmd_status, "profiles": cmd_profiles}[args.command]
    try:
        handler(args)
    except SandboxError as exc:
        print("sandbox: ERROR: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
