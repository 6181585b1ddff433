#!/usr/bin/env python3
"""Time playbooks/deploy.yml on a 1-node and a 2-node sandbox fleet (the deploy issue's bar).

    python3 benchmarks/deploy_fleet.py [--sizes 1,2] [--keep] [-e KEY=VALUE ...]
    python3 benchmarks/deploy_fleet.py --layouts 1x8,2x4 [--profile 800i-a2-64g] [-e ...]

For each size, brings up a fresh fleet of 32G/64G nodes (sandbox images cached or built
first, not timed), then times two runs of the deploy: the first (image loaded, container
created, requirements installed, MindIE configured, started and verified on every node)
and the second on the unchanged fleet (must report changed=0 everywhere). Prints the
wall times and writes reports/bench-deploy.json. Fleets are removed unless --keep.

--layouts: instead of sizes, one fresh 1-node fleet of --profile per layout (the same
simulated node each time), deployed with -e mindie_instance_layout=<layout>: deploy time
of 1x8 vs 2x4 on the same node. Writes reports/bench-deploy-layouts.json. Layouts outside
the guide need -e mindie_instance_layout_beyond_guide=true. -e is passed to every deploy.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROFILES = ["800i-a2-32g", "800i-a2-64g"]


def run_deploy(inventory, report_dir, env, extra=()):
    started = time.monotonic()
    extra_args = [arg for value in extra for arg in ("-e", value)]
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "deploy.yml"),
                           "-e", "mindie_report_dir=%s" % report_dir, "-e", "mindie_precheck_report_dir=%s" % report_dir]
                          + extra_args, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    elapsed = time.monotonic() - started
    recap = [" ".join(line.split()) for line in proc.stdout.splitlines() if " : ok=" in line]
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", "\n".join(recap)))
    summary = json.loads((Path(report_dir) / "fleet-summary.json").read_text())["summary"]
    return {"seconds": round(elapsed, 1), "rc": proc.returncode, "changed": changed, "recap": recap,
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
    parser.add_argument("--sizes", default="1,2")
    parser.add_argument("--port-base", type=int, default=35540)
    parser.add_argument("--keep", action="store_true", help="leave the fleets running")
    parser.add_argument("--layouts", default=None, help="e.g. 1x8,2x4: one 1-node fleet of --profile per layout")
    parser.add_argument("--profile", default="800i-a2-64g", help="the node's profile for --layouts")
    parser.add_argument("-e", "--extra", action="append", default=[], metavar="KEY=VALUE",
                        help="extra variables for every deploy (ansible-playbook -e)")
    args = parser.parse_args()
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    if args.layouts:
        return bench_layouts(args, fleet, env)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        name = "bench-deploy-%d" % size
        inventory = REPO / "build" / ("%s-inventory" % name)
        report_dir = REPO / "build" / ("%s-reports" % name)
        profiles = ",".join((PROFILES * size)[:size])
        subprocess.run(fleet + ["up", "--name", name, "--nodes", str(size), "--profiles", profiles,
                                "--port-base", str(args.port_base + 100 * size), "--inventory", str(inventory)],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            first = run_deploy(inventory, report_dir, env, args.extra)
            second = run_deploy(inventory, report_dir, env, args.extra)
        finally:
            if not args.keep:
                subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                               stdout=subprocess.DEVNULL)
        results.append({"nodes": size, "profiles": profiles, "first": first, "second": second})
        print("%d node(s) (%s): first deploy %.1f s (rc=%d, %d/%d serving), second %.1f s (rc=%d, changed=%d)" % (
            size, profiles, first["seconds"], first["rc"], first["serving"], first["nodes"],
            second["seconds"], second["rc"], second["changed"]))
    out = REPO / "reports" / "bench-deploy.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "forks": 20, "results": results}, indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))
    return 0 if all(r["first"]["rc"] == 0 and r["second"]["rc"] == 0 and r["second"]["changed"] == 0
                    for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
