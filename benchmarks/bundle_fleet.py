#!/usr/bin/env python3
"""The offline bundle end to end: build it, refuse a corrupted copy, install it on a clean controller container
with no network, and deploy a sandbox node from there with the bundle's image and wheelhouse.

    python3 benchmarks/bundle_fleet.py [--keep]

1. scripts/bundle.py build: the collections, the controller wheels, the sandbox's MindIE image tarball, the
   model wheelhouse read from that image, the weights' manifest; timed, sizes recorded.
2. A copy with one flipped byte in one file: install must refuse it, name the file and install nothing.
3. A fresh 1-node sandbox fleet, and a controller container (the node image: Debian's python3 and docker CLI, no
   ansible, no pip, `--network none`) with the bundle, the fleet's inventory and the Docker socket mounted.
   install.py installs the bundle there; ansible-playbook ascend.mindie.deploy runs there with
   mindie_image_source=controller_tarball from the bundle's image/ and the wheelhouse from its wheelhouse/.
   (The client URL check from the controller is off: with no network the controller container cannot reach the
   ports the node publishes on the host's loopback; every check from the node runs.)
4. The report says the node serves; a second deploy reports changed=0.
Writes reports/bench-bundle.json.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "sandbox"))
import fleet as sandbox  # noqa: E402  pylint: disable=wrong-import-position

NAME = "bench-bundle"
CONTROLLER = "bench-bundle-controller"


def sh(args, **kwargs):
    kwargs.setdefault("universal_newlines", True)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def in_controller(command):
    return sh(["docker", "exec", "-e", "PATH=/opt/ascend-mindie/bin:/usr/bin:/bin",
               "-e", "ANSIBLE_COLLECTIONS_PATH=/opt/ascend-mindie/collections", "-e", "ANSIBLE_FORCE_COLOR=0",
               "-e", "DOCKER_HOST=unix:///var/run/docker.sock", "-w", "/tmp", CONTROLLER, "sh", "-c", command])


def deploy_command(image_tar):
    extra = {
        "mindie_image_source": "controller_tarball",
        "mindie_image_controller_tarball": "/bundle/image/%s" % image_tar,
        "mindie_image_tarball": "/data/images/bundle-%s" % image_tar,
        "mindie_dependencies_controller_wheelhouse": "/bundle/wheelhouse",
        "mindie_dependencies_wheelhouse": "/data/bundle-wheelhouse",
        "mindie_verify_client_check": False,
        "mindie_report_dir": "/tmp/reports",
        "mindie_precheck_report_dir": "/tmp/reports",
    }
    return "ansible-playbook ascend.mindie.deploy -i /inventory -e '%s'" % json.dumps(extra)


def recap_changed(output):
    return sum(int(m) for m in re.findall(r"changed=(\d+)", "\n".join(l for l in output.splitlines() if " : ok=" in l)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the fleet and the controller container")
    parser.add_argument("--port-base", type=int, default=37540)
    args = parser.parse_args()
    subprocess.run([sys.executable, str(REPO / "sandbox" / "fleet.py"), "images"], check=True, stdout=subprocess.DEVNULL)
    figures, problems = {}, []
    bundle = REPO / "build" / "bundle"
    tarball = sandbox.CACHE / sandbox.MINDIE_TARBALL
    started = time.monotonic()
    proc = sh([sys.executable, str(REPO / "scripts" / "bundle.py"), "build", "--out", str(bundle), "--force",
               "--image", sandbox.MINDIE_IMAGE, "--image-tar", str(tarball),
               "--weights", str(sandbox.CACHE / "seed" / "Qwen2-VL-7B-Instruct")])
    figures["build_s"] = round(time.monotonic() - started, 1)
    if proc.returncode != 0:
        print(proc.stdout)
        return 1
    files = [p for p in bundle.rglob("*") if p.is_file()]
    figures.update(files=len(files), bytes=sum(p.stat().st_size for p in files))
    print("bundle built in %.1f s: %d files, %.0f MB" % (figures["build_s"], figures["files"], figures["bytes"] / 1e6))

    # a flipped byte in one file is refused, naming it, before anything is installed
    bad = REPO / "build" / "bundle-corrupted"
    shutil.rmtree(str(bad), ignore_errors=True)
    shutil.copytree(str(bundle), str(bad))
    victim = sorted((bad / "controller").glob("docker-*.whl"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    proc = sh(["docker", "run", "--rm", "--network", "none", "-v", "%s:/bundle:ro" % bad, "--entrypoint", "sh",
               sandbox.NODE_IMAGE, "-c", "python3 /bundle/install.py install --prefix /opt/ascend-mindie; echo rc=$?; "
               "test -e /opt/ascend-mindie && echo INSTALLED || echo NOTHING-INSTALLED"])
    shutil.rmtree(str(bad), ignore_errors=True)
    name = "controller/%s" % victim.name
    refused = "rc=1" in proc.stdout and ("%s is corrupted or changed" % name) in proc.stdout \
        and "NOTHING-INSTALLED" in proc.stdout
    figures["corrupted_refused"] = refused
    print("corrupted copy (%s): %s" % (name, "refused, nothing installed" if refused else "NOT REFUSED"))
    if not refused:
        problems.append("the corrupted bundle was not refused: %s" % proc.stdout[-800:])

    inventory = REPO / "build" / ("%s-inventory" % NAME)
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    subprocess.run(fleet + ["up", "--name", NAME, "--nodes", "1", "--profiles", "800i-a2-32g", "--port-base",
                            str(args.port_base), "--inventory", str(inventory)], check=True, stdout=subprocess.DEVNULL)
    sh(["docker", "rm", "-f", CONTROLLER])
    try:
        sh(["docker", "run", "-d", "--name", CONTROLLER, "--network", "none", "-v", "%s:/bundle:ro" % bundle,
            "-v", "%s:/inventory:ro" % inventory, "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "--entrypoint", "sleep", sandbox.NODE_IMAGE, "infinity"], check=True)
        started = time.monotonic()
        proc = in_controller("python3 /bundle/install.py install --prefix /opt/ascend-mindie")
        figures["install_s"] = round(time.monotonic() - started, 1)
        print("installed on the controller container (no network) in %.1f s: rc=%d" % (figures["install_s"], proc.returncode))
        if proc.returncode != 0:
            problems.append("install failed: %s" % proc.stdout[-2000:])
            raise RuntimeError("install failed")
        for run_name in ("first", "second"):
            started = time.monotonic()
            proc = in_controller(deploy_command(tarball.name))
            seconds = round(time.monotonic() - started, 1)
            report = json.loads(in_controller("cat /tmp/reports/fleet-summary.json").stdout)
            figures["deploy_%s" % run_name] = {"seconds": seconds, "rc": proc.returncode,
                                               "changed": recap_changed(proc.stdout), "summary": report["summary"]}
            print("deploy from the bundle (%s): %.1f s, rc=%d, changed=%d, %d of %d nodes up" % (
                run_name, seconds, proc.returncode, recap_changed(proc.stdout), report["summary"]["up"],
                report["summary"]["nodes"]))
            if proc.returncode != 0 or report["summary"]["up"] != 1:
                problems.append("the %s deploy did not serve: %s" % (run_name, proc.stdout[-3000:]))
        if figures["deploy_second"]["changed"] != 0:
            problems.append("the second deploy changed %d" % figures["deploy_second"]["changed"])
        node = sandbox_node_name(inventory)
        loaded = sh(["docker", "exec", node, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        figures["image_on_node"] = sandbox.MINDIE_IMAGE in loaded
        copied = sh(["docker", "exec", node, "sh", "-c", "ls /data/images/bundle-%s /data/bundle-wheelhouse" % tarball.name])
        figures["bundle_files_on_node"] = copied.returncode == 0
        if not (figures["image_on_node"] and figures["bundle_files_on_node"]):
            problems.append("the node lacks the bundle's image or wheelhouse: %s" % copied.stdout)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        problems.append(str(exc))
    finally:
        if not args.keep:
            sh(["docker", "rm", "-f", CONTROLLER])
            subprocess.run(fleet + ["down", "--name", NAME, "--inventory", str(inventory)], check=False,
                           stdout=subprocess.DEVNULL)
    out = REPO / "reports" / "bench-bundle.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"figures": figures, "problems": problems}, indent=2) + "\n")
    for problem in problems:
        print("PROBLEM: %s" % problem[:3000])
    print("written: %s" % out.relative_to(REPO))
    return 1 if problems else 0


def sandbox_node_name(inventory):
    text = (inventory / "hosts.yml").read_text()
    return re.search(r"ansible_host: \"([^\"]+)\"", text).group(1)


if __name__ == "__main__":
    sys.exit(main())
