#!/usr/bin/env python3
"""Measure the sandbox fleet's bring-up times (the foundation issue's bars).

    python3 benchmarks/sandbox_up.py [--nodes 4] [--profiles ...] [--keep-images]

Runs, in order, with wall-clock timing of each `sandbox/fleet.py` call:
  1. cold   `up`  after removing the sandbox images and caches (unless --keep-images);
  2. rerun  `up`  on the running fleet (must leave every node alone);
  3. `down`, then cached `up` (images kept, nodes created anew);
  4. `down`.
Prints a table and writes reports/bench-sandbox-up.json. The venv and the Docker
engine are not part of the figures (`make bench-sandbox` prepares them first).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLEET = [sys.executable, str(REPO / "sandbox" / "fleet.py")]


def timed(label, *args):
    started = time.monotonic()
    proc = subprocess.run(FLEET + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (label, proc.stdout))
    actions = [line.split()[1] for line in proc.stdout.splitlines()
               if line.split()[1:2] and line.split()[1] in ("create", "recreate", "keep", "start")]
    return {"step": label, "seconds": round(elapsed, 1), "node_actions": actions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--profiles", default="800i-a2-32g,800i-a2-64g,800i-a2-32g-alarm,800i-a2-32g-dcmi-8005")
    parser.add_argument("--name", default="bench-sandbox")
    parser.add_argument("--port-base", default="34040")
    parser.add_argument("--keep-images", action="store_true", help="skip the cold run's image removal")
    args = parser.parse_args()
    inventory = str(REPO / "build" / "bench-inventory")
    up = ["up", "--name", args.name, "--nodes", str(args.nodes), "--profiles", args.profiles,
          "--port-base", args.port_base, "--inventory", inventory]
    down = ["down", "--name", args.name, "--inventory", inventory]

    results = []
    timed("down (before)", *down)
    if not args.keep_images:
        timed("prune images", "images", "--prune")
    results.append(timed("cold up", *up))
    results.append(timed("rerun up", *up))
    results.append(timed("down", *down))
    results.append(timed("cached up", *up))
    results.append(timed("down", *down))

    print("%-10s %8s  %s" % ("step", "seconds", "node actions"))
    for row in results:
        print("%-10s %8.1f  %s" % (row["step"], row["seconds"], " ".join(row["node_actions"])))
    out = REPO / "reports" / "bench-sandbox-up.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"nodes": args.nodes, "profiles": args.profiles, "cpus": os.cpu_count(),
                               "cold_images": not args.keep_images, "results": results}, indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))


if __name__ == "__main__":
    main()
