#!/usr/bin/env python3
"""Time playbooks/deploy.yml on sandbox fleets of 1, 4, 8 and 16 nodes (the scale issue's bars).

    python3 benchmarks/deploy_fleet.py [--sizes 1,4,8,16] [--naive 1,4] [--keep] [-e KEY=VALUE ...]
    python3 benchmarks/deploy_fleet.py --layouts 1x8,2x4 [--profile 800i-a2-64g] [-e ...]

For each size, brings up a fresh fleet of 32G/64G nodes (sandbox images cached or built
first, not timed), then times two runs of the deploy: the first (image loaded, container
created, requirements installed, MindIE configured, started and verified on every node)
and the second on the unchanged fleet (must report changed=0 everywhere). Prints the
wall times, the controller's CPU seconds (its children's rusage: ansible-playbook, the forks,
the docker CLI they run) per node, the fleet's memory (docker stats) and deploy(N)/deploy(1);
a size whose nodes would not fit in the memory left (as measured at the size before) is
skipped and said so. --naive 1,4: at those sizes, first, on a fresh fleet of the same size,
the naive playbook (benchmarks/naive/deploy.yml: the guide's steps as shell tasks), twice,
timed the same way, and ours/naive.
Writes reports/bench-deploy.json. Fleets are removed unless --keep.

--mitogen: the same runs with Mitogen for Ansible (an option, never a requirement): the package is
installed into build/mitogen from PyPI (pip --target, not into the venv), the strategy is
mitogen_linear and the nodes' connection `docker` (Mitogen's own; it does not take over the
community.docker.docker name). Writes reports/bench-deploy-mitogen.json.

--layouts: instead of sizes, one fresh 1-node fleet of --profile per layout (the same
simulated node each time), deployed with -e mindie_instance_layout=<layout>: deploy time
of 1x8 vs 2x4 on the same node. Writes reports/bench-deploy-layouts.json. Layouts outside
the guide need -e mindie_instance_layout_beyond_guide=true. -e is passed to every deploy.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROFILES = ["800i-a2-32g", "800i-a2-64g"]


def controller_cpu():
    """CPU seconds (user + system) of this process's finished children: ansible-playbook, its forks and the docker
    CLI processes they ran (each waited for by its parent)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mem_available_mb():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return None


def fleet_memory_mb(name):
    """The memory the fleet's node containers use now (docker stats), in MB."""
    proc = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                          stdout=subprocess.PIPE, universal_newlines=True, check=False)
    total = 0.0
    units = {"B": 1e-6, "KiB": 1024 / 1e6, "MiB": 1.048576, "GiB": 1073.741824}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(name + "-"):
            match = re.match(r"([\d.]+)([A-Za-z]+)", parts[1])
            if match and match.group(2) in units:
                total += float(match.group(1)) * units[match.group(2)]
    return round(total)


REPORT = REPO / "reports" / "bench-deploy.json"
MITOGEN_DIR = REPO / "build" / "mitogen"
MITOGEN_VERSION = None      # set by use_mitogen()


def write_report(results):
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({"cpus": os.cpu_count(), "forks": 20, "mitogen": MITOGEN_VERSION, "results": results},
                                 indent=2) + "\n")


def use_mitogen(env):
    """Install Mitogen into build/mitogen (once) and return env running ansible-playbook with its strategy."""
    global MITOGEN_VERSION, REPORT
    if not (MITOGEN_DIR / "ansible_mitogen").is_dir():
        subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-q", "--target", str(MITOGEN_DIR), "mitogen"],
                       check=True)
    meta = sorted(MITOGEN_DIR.glob("mitogen-*.dist-info"))
    MITOGEN_VERSION = meta[-1].name[len("mitogen-"):-len(".dist-info")] if meta else "unknown"
    REPORT = REPO / "reports" / "bench-deploy-mitogen.json"
    return dict(env, PYTHONPATH=str(MITOGEN_DIR), ANSIBLE_STRATEGY="mitogen_linear",
                ANSIBLE_STRATEGY_PLUGINS=str(MITOGEN_DIR / "ansible_mitogen" / "plugins" / "strategy"))


def mitogen_inventory(inventory):
    """Mitogen runs its own `docker` connection: the sandbox inventory's community.docker.docker renamed."""
    for path in Path(inventory).glob("*.yml"):
        text = path.read_text()
        path.write_text(text.replace('ansible_connection: "community.docker.docker"', 'ansible_connection: "docker"'))


def run_naive(inventory, env):
    """benchmarks/naive/deploy.yml: the guide's steps as shell tasks (reloads the image and restarts the daemon on
    every run), timed the same way."""
    started, cpu = time.monotonic(), controller_cpu()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "benchmarks" / "naive" / "deploy.yml")],
                          cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return {"seconds": round(time.monotonic() - started, 1), "cpu_s": round(controller_cpu() - cpu, 1),
            "rc": proc.returncode, "tail": proc.stdout[-1500:] if proc.returncode else ""}


def run_deploy(inventory, report_dir, env, extra=()):
    started, cpu = time.monotonic(), controller_cpu()
    extra_args = [arg for value in extra for arg in ("-e", value)]
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "deploy.yml"),
                           "-e", "mindie_report_dir=%s" % report_dir, "-e", "mindie_precheck_report_dir=%s" % report_dir]
                          + extra_args, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    elapsed = time.monotonic() - started
    cpu_s = controller_cpu() - cpu
    recap = [" ".join(line.split()) for line in proc.stdout.splitlines() if " : ok=" in line]
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", "\n".join(recap)))
    summary = json.loads((Path(report_dir) / "fleet-summary.json").read_text())["summary"]
    return {"seconds": round(elapsed, 1), "cpu_s": round(cpu_s, 1), "rc": proc.returncode, "changed": changed,
            "recap": recap,
            "serving": summary["serving"], "nodes": summary["nodes"],
            "instances_serving": summary.get("instances_serving"), "instances_planned": summary.get("instances_planned")}


def bench_layouts(args, fleet, env):
    """One fresh 1-node fleet of args.profile per layout, deployed twice with that layout."""
    results = []
    for index, layout in enumerate([l.strip() for l in args.layouts.split(",") if l.strip()]):
        name = "bench-layout-%s" % layout
        inventory = REPO / "build" / ("%s-inventory" % name)
        report_dir = REPO / "build" / ("%s-reports" % name)
        subprocess.run(fleet + ["up", "--name", name, "--nodes", "1", "--profiles", args.profile,
                                "--port-base", str(args.port_base + 100 * index), "--inventory", str(inventory)],
                       check=True, stdout=subprocess.DEVNULL)
        if args.mitogen:
            mitogen_inventory(inventory)
        extra = ["mindie_instance_layout=%s" % layout] + list(args.extra)
        try:
            first = run_deploy(inventory, report_dir, env, extra)
            second = run_deploy(inventory, report_dir, env, extra)
        finally:
            if not args.keep:
                subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                               stdout=subprocess.DEVNULL)
        results.append({"layout": layout, "profile": args.profile, "first": first, "second": second})
        print("%s on one %s node: first deploy %.1f s (rc=%d, %s/%s instances serving), second %.1f s (rc=%d, changed=%d)"
              % (layout, args.profile, first["seconds"], first["rc"], first["instances_serving"],
                 first["instances_planned"], second["seconds"], second["rc"], second["changed"]))
    out = REPO / "reports" / "bench-deploy-layouts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "forks": 20, "extra_vars": args.extra, "results": results},
                              indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))
    return 0 if all(r["first"]["rc"] == 0 and r["second"]["rc"] == 0 and r["second"]["changed"] == 0
                    and r["first"]["instances_serving"] == r["first"]["instances_planned"] for r in results) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--naive", default="",
                        help="sizes (e.g. 1,4) at which benchmarks/naive/deploy.yml is also timed, on a fresh fleet of "
                             "the same size, side by side")
    parser.add_argument("--port-base", type=int, default=35540)
    parser.add_argument("--keep", action="store_true", help="leave the fleets running")
    parser.add_argument("--layouts", default=None, help="e.g. 1x8,2x4: one 1-node fleet of --profile per layout")
    parser.add_argument("--profile", default="800i-a2-64g", help="the node's profile for --layouts")
    parser.add_argument("-e", "--extra", action="append", default=[], metavar="KEY=VALUE",
                        help="extra variables for every deploy (ansible-playbook -e)")
    parser.add_argument("--mitogen", action="store_true",
                        help="run every playbook with Mitogen's mitogen_linear strategy (installed into build/mitogen)")
    args = parser.parse_args()
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    if args.mitogen:
        env = use_mitogen(env)
        print("Mitogen %s: strategy mitogen_linear, connection docker" % MITOGEN_VERSION)
    if args.layouts:
        return bench_layouts(args, fleet, env)
    results, per_node_mb = [], None
    naive_sizes = [int(n) for n in args.naive.split(",") if n.strip()]
    for size in [int(s) for s in args.sizes.split(",")]:
        free = mem_available_mb()
        if per_node_mb and free is not None and size * per_node_mb * 1.3 > free:
            print("%d nodes: skipped, %d MB available and a node used %d MB at the last size" % (size, free, per_node_mb))
            results.append({"nodes": size, "skipped": "memory: %d MB available, ~%d MB a node" % (free, per_node_mb)})
            continue
        name = "bench-deploy-%d" % size
        inventory = REPO / "build" / ("%s-inventory" % name)
        report_dir = REPO / "build" / ("%s-reports" % name)
        profiles = ",".join((PROFILES * size)[:size])
        entry = {"nodes": size, "profiles": profiles, "mem_available_mb_before": free}
        try:
            if size in naive_sizes:
                # the naive playbook on its own fresh fleet of the same size, first, then ours on another
                subprocess.run(fleet + ["up", "--name", name, "--nodes", str(size), "--profiles", profiles,
                                        "--port-base", str(args.port_base + 100 * size), "--inventory", str(inventory)],
                               check=True, stdout=subprocess.DEVNULL)
                if args.mitogen:
                    mitogen_inventory(inventory)
                entry["naive_first"] = run_naive(inventory, env)
                entry["naive_second"] = run_naive(inventory, env)
                subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                               stdout=subprocess.DEVNULL)
            subprocess.run(fleet + ["up", "--name", name, "--nodes", str(size), "--profiles", profiles,
                                    "--port-base", str(args.port_base + 100 * size), "--inventory", str(inventory)],
                           check=True, stdout=subprocess.DEVNULL)
            if args.mitogen:
                mitogen_inventory(inventory)
            entry["first"] = run_deploy(inventory, report_dir, env, args.extra)
            entry["second"] = run_deploy(inventory, report_dir, env, args.extra)
            entry["fleet_memory_mb"] = fleet_memory_mb(name)
            per_node_mb = max(per_node_mb or 0, entry["fleet_memory_mb"] // size)
        finally:
            if not args.keep:
                subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                               stdout=subprocess.DEVNULL)
        results.append(entry)
        # written after every size, so that a long run stopped early keeps what it measured
        write_report(results)
        first, second = entry["first"], entry["second"]
        print("%d node(s) (%s): first deploy %.1f s (rc=%d, %d/%d serving, controller CPU %.1f s = %.1f s/node), "
              "second %.1f s (rc=%d, changed=%d, CPU %.1f s); fleet memory %d MB" % (
                  size, profiles, first["seconds"], first["rc"], first["serving"], first["nodes"], first["cpu_s"],
                  first["cpu_s"] / size, second["seconds"], second["rc"], second["changed"], second["cpu_s"],
                  entry["fleet_memory_mb"]))
        if size in naive_sizes:
            print("   naive playbook on the same size: first %.1f s (rc=%d), second %.1f s (rc=%d); ours/naive first %.2f"
                  % (entry["naive_first"]["seconds"], entry["naive_first"]["rc"], entry["naive_second"]["seconds"],
                     entry["naive_second"]["rc"], first["seconds"] / entry["naive_first"]["seconds"]))
    measured = [r for r in results if "first" in r]
    base = [r for r in measured if r["nodes"] == 1]
    if base:
        for r in measured:
            r["first_ratio_to_1"] = round(r["first"]["seconds"] / base[0]["first"]["seconds"], 2)
            r["second_ratio_to_1"] = round(r["second"]["seconds"] / base[0]["second"]["seconds"], 2)
        print("deploy(N)/deploy(1), first: %s; no-op: %s" % (
            ", ".join("%d: %.2f" % (r["nodes"], r["first_ratio_to_1"]) for r in measured),
            ", ".join("%d: %.2f" % (r["nodes"], r["second_ratio_to_1"]) for r in measured)))
    write_report(results)
    print("written: %s" % REPORT.relative_to(REPO))
    return 0 if all(r["first"]["rc"] == 0 and r["second"]["rc"] == 0 and r["second"]["changed"] == 0
                    for r in measured) else 1


if __name__ == "__main__":
    sys.exit(main())
