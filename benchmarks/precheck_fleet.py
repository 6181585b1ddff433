#!/usr/bin/env python3
"""Time playbooks/precheck.yml on a sandbox fleet (the prechecks issue's bar: 4 nodes < 60 s).

    python3 benchmarks/precheck_fleet.py [--nodes 4] [--profiles ...] [--keep]

Brings up a dedicated fleet (images cached or built first, not timed), runs the
playbook twice (first run: permissions fixed and every weight file hashed; second
run: nothing changes, hashes come from the cache), prints both wall times and
writes reports/bench-precheck.json. The fleet is removed afterwards unless --keep.
A failed node (a fault profile) is expected: the playbook's exit code is recorded,
not treated as a benchmark failure.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--profiles", default="800i-a2-32g,800i-a2-64g,800i-a2-32g-alarm,800i-a2-64g")
    parser.add_argument("--name", default="bench-precheck")
    parser.add_argument("--port-base", default="35040")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    args = parser.parse_args()
    inventory = REPO / "build" / "bench-precheck-inventory"
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    subprocess.run(fleet + ["up", "--name", args.name, "--nodes", str(args.nodes), "--profiles", args.profiles,
                            "--port-base", args.port_base, "--inventory", str(inventory)], check=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    runs = []
    try:
        for label in ("first run", "second run"):
            started = time.monotonic()
            proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                                   str(REPO / "playbooks" / "precheck.yml"),
                                   "-e", "mindie_precheck_report_dir=%s" % (REPO / "build" / "bench-precheck-report")],
                                  cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
            elapsed = time.monotonic() - started
            recap = [line for line in proc.stdout.splitlines() if " : ok=" in line]
            runs.append({"run": label, "seconds": round(elapsed, 1), "rc": proc.returncode, "recap": recap})
    finally:
        if not args.keep:
            subprocess.run(fleet + ["down", "--name", args.name, "--inventory", str(inventory)], check=False)
    for run in runs:
        print("%-10s %6.1f s  rc=%d" % (run["run"], run["seconds"], run["rc"]))
        for line in run["recap"]:
            print("    " + " ".join(line.split()))
    out = REPO / "reports" / "bench-precheck.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"nodes": args.nodes, "profiles": args.profiles, "cpus": os.cpu_count(),
                               "runs": runs}, indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))


if __name__ == "__main__":
    main()
