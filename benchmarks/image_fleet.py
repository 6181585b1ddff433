#!/usr/bin/env python3
"""The image sent once: bytes the controller sends to bring the MindIE image onto a sandbox fleet, direct vs tree.

    python3 benchmarks/image_fleet.py [--nodes 4] [--keep]

For each distribution (mindie_image_distribution direct, then tree), on a fresh fleet of --nodes nodes:
ascend.mindie.deploy --tags prechecks,image with mindie_image_source=controller_tarball (the sandbox's image
tarball in .cache/sandbox) to /data/dist on the nodes, then the same again (must change nothing).

Bytes from the controller are counted outside the collection: the playbook runs with a `docker` wrapper first in
PATH that passes every call to the real CLI and counts the bytes written to the stdin of `docker exec -i`, which
is how the community.docker.docker connection sends modules and files (put_file is `dd` fed on stdin). That is
everything the controller sends to the nodes, the modules included. The nodes' copies are checked afterwards:
sha256sum on every node equals the controller's tarball, and the image is in every node's `docker images`.

Then the tree with a bad hop: on a third fresh fleet, node 1 holds a copy of the tarball with one byte flipped and
a forged checksum cache entry that claims it is the right one (a disk that rotted after it was hashed). Node 1 is
then taken as a holder and serves its copy; every node that fetches from it must refuse it (SHA-256 checked at
each hop), remove it and copy the controller's tarball instead, and end with the right tarball and the image.
Writes reports/bench-image.json.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CACHE = REPO / ".cache" / "sandbox"
TAG = "1.0.0-800I-A2-py311-openeuler24.03-lts"
TARBALL = CACHE / ("mindie-sim_%s.tar" % TAG)
NODE_TARBALL = "/data/dist/mindie.tar"
WRAPPER_DIR = REPO / "build" / "bench-image-bin"

WRAPPER = r'''#!%(python)s
# docker, counting the bytes sent to the stdin of `docker exec -i` (benchmarks/image_fleet.py)
import os, subprocess, sys
REAL, COUNT = %(real)r, os.environ.get("BENCH_IMAGE_COUNT")
args = sys.argv[1:]
if not COUNT or not args or args[0] != "exec" or "-i" not in args[:args.index(args[-1])]:
    os.execv(REAL, [REAL] + args)
proc = subprocess.Popen([REAL] + args, stdin=subprocess.PIPE)
sent = 0
while True:
    data = os.read(0, 1 << 20)
    if not data:
        break
    sent += len(data)
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
    except BrokenPipeError:
        break
proc.stdin.close()
code = proc.wait()
fd = os.open(COUNT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, b"%%d\n" %% sent)
os.close(fd)
sys.exit(code)
'''


def sh(args, **kwargs):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kwargs)


def make_wrapper():
    real = sh(["sh", "-c", "command -v docker"]).stdout.strip()
    WRAPPER_DIR.mkdir(parents=True, exist_ok=True)
    path = WRAPPER_DIR / "docker"
    path.write_text(WRAPPER % {"python": sys.executable, "real": real})
    path.chmod(0o755)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fleet(*args):
    return subprocess.run([sys.executable, str(REPO / "sandbox" / "fleet.py")] + list(args), check=False,
                          stdout=subprocess.DEVNULL)


def deploy(inventory, report_dir, distribution, count_file):
    if count_file.exists():
        count_file.unlink()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
               PATH="%s:%s" % (WRAPPER_DIR, os.environ["PATH"]), BENCH_IMAGE_COUNT=str(count_file))
    started = time.monotonic()
    proc = sh([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "deploy.yml"),
               "--tags", "prechecks,image", "-e", "mindie_report_dir=%s" % report_dir,
               "-e", "mindie_precheck_report_dir=%s" % report_dir, "-e", "mindie_image_source=controller_tarball",
               "-e", "mindie_image_controller_tarball=%s" % TARBALL, "-e", "mindie_image_tarball=%s" % NODE_TARBALL,
               "-e", "mindie_image_distribution=%s" % distribution], cwd=str(REPO), env=env)
    seconds = time.monotonic() - started
    sent = sum(int(line) for line in count_file.read_text().split()) if count_file.exists() else 0
    recap = [" ".join(line.split()) for line in proc.stdout.splitlines() if " : ok=" in line]
    copied = re.findall(r"(\d+) bytes copied", proc.stdout)
    fetched = re.findall(r"(\d+) bytes fetched from (\S+?)'?$", proc.stdout, re.M)
    refused = re.findall(r"fetching the tarball from (\S+) failed: (.*)", proc.stdout)
    return {"rc": proc.returncode, "seconds": round(seconds, 1), "controller_bytes": sent,
            "changed": sum(int(m) for m in re.findall(r"changed=(\d+)", "\n".join(recap))),
            "copied_from_controller": len(copied), "fetched_from_peers": [f[1] for f in fetched],
            "refused_hops": [{"from": r[0], "why": r[1][:200]} for r in refused],
            "tail": proc.stdout[-3000:] if proc.returncode else ""}


def node_names(prefix, count):
    return ["%s-node%d" % (prefix, i) for i in range(1, count + 1)]


def check_nodes(nodes, want):
    out = {}
    for node in nodes:
        digest = sh(["docker", "exec", node, "sh", "-c", "sha256sum %s | cut -d' ' -f1" % NODE_TARBALL]).stdout.strip()
        images = sh(["docker", "exec", node, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        out[node] = {"tarball_ok": digest == want, "image": "mindie-sim:%s" % TAG in images}
    return out


FORGE = r'''
import hashlib, os, sys
path, cache_dir, good = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, "r+b") as handle:          # one byte flipped in the middle of the tarball
    handle.seek(os.path.getsize(path) // 2)
    byte = handle.read(1)
    handle.seek(-1, 1)
    handle.write(bytes([byte[0] ^ 0xFF]))
st = os.stat(path)
key = "v2 %d %d %d %s %s %s" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_ctime, path)
os.makedirs(cache_dir, mode=0o700, exist_ok=True)
cache = os.path.join(cache_dir, hashlib.sha256(path.encode()).hexdigest() + ".sha256")
with open(cache, "w") as handle:
    handle.write(key + "\n" + good + "\n")
os.chmod(cache, 0o600)
'''


def plant_bad_copy(node, good):
    """A wrong copy on ``node`` that its checksum cache vouches for (the role then trusts it as a holder)."""
    subprocess.run(["docker", "exec", node, "mkdir", "-p", os.path.dirname(NODE_TARBALL)], check=True)
    subprocess.run(["docker", "cp", str(TARBALL), "%s:%s" % (node, NODE_TARBALL)], check=True)
    subprocess.run(["docker", "exec", "-i", node, "python3", "-", NODE_TARBALL, "/var/cache/ascend.mindie/image", good],
                   input=FORGE, universal_newlines=True, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--port-base", type=int, default=38540)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(REPO / "sandbox" / "fleet.py"), "images"], check=True, stdout=subprocess.DEVNULL)
    if not TARBALL.exists():
        sys.exit("no sandbox image tarball at %s: run make sandbox-up once first" % TARBALL)
    make_wrapper()
    size, good = TARBALL.stat().st_size, sha256(TARBALL)
    results = {"nodes": args.nodes, "tarball_bytes": size, "runs": {}}
    for index, mode in enumerate(["direct", "tree", "tree-bad-hop"]):
        name = "bench-image-%d" % index
        inventory, report_dir = REPO / "build" / (name + "-inventory"), REPO / "build" / (name + "-reports")
        count = REPO / "build" / (name + ".bytes")
        fleet("down", "--name", name, "--inventory", str(inventory))
        fleet("up", "--name", name, "--nodes", str(args.nodes), "--profiles", "800i-a2-32g",
              "--port-base", str(args.port_base + 1000 * index), "--inventory", str(inventory))
        nodes = node_names(name, args.nodes)
        try:
            if mode == "tree-bad-hop":
                plant_bad_copy(nodes[0], good)
            distribution = "direct" if mode == "direct" else "tree"
            first = deploy(inventory, report_dir, distribution, count)
            second = deploy(inventory, report_dir, distribution, count)
            state = check_nodes(nodes, good)
        finally:
            if not args.keep:
                fleet("down", "--name", name, "--inventory", str(inventory))
        entry = {"first": first, "second": second, "nodes": state,
                 "first_ratio_to_tarball": round(first["controller_bytes"] / size, 3)}
        results["runs"][mode] = entry
        print("%-12s first: rc=%d %.1f s, controller sent %d bytes = %.3f x the tarball (%d copied from the controller, "
              "fetched from peers: %s%s); again: rc=%d changed=%d, %d bytes" % (
                  mode, first["rc"], first["seconds"], first["controller_bytes"], entry["first_ratio_to_tarball"],
                  first["copied_from_controller"], ", ".join(first["fetched_from_peers"]) or "none",
                  "; refused hops: %s" % ", ".join(r["from"] for r in first["refused_hops"]) if first["refused_hops"] else "",
                  second["rc"], second["changed"], second["controller_bytes"]))
        bad = [n for n, s in state.items() if not (s["tarball_ok"] and s["image"])]
        if mode == "tree-bad-hop":
            bad = [n for n in bad if n != nodes[0]]     # node 1 itself loads its rotten copy, or fails: checked below
        print("             nodes with the right tarball and the image: %d of %d%s" % (
            len(state) - len([n for n, s in state.items() if not (s["tarball_ok"] and s["image"])]), len(state),
            (" (wrong: %s)" % ", ".join(bad)) if bad else ""))
        entry["problems"] = bad
    out = REPO / "reports" / "bench-image.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))
    tree, bad_hop = results["runs"]["tree"], results["runs"]["tree-bad-hop"]
    ok = (all(r["first"]["rc"] == 0 and not r["problems"] for m, r in results["runs"].items() if m != "tree-bad-hop")
          and tree["first_ratio_to_tarball"] <= 1.1 and tree["second"]["changed"] == 0
          and len(bad_hop["first"]["refused_hops"]) > 0 and not bad_hop["problems"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
