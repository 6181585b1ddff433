#!/usr/bin/env python3
"""Time the verify phase's probes one after another against all at once, on one sandbox node.

    python3 benchmarks/verify_fleet.py [--profile 800i-a2-32g] [--rounds 3] [--keep] [-e KEY=VALUE ...]

Brings up a fresh 1-node fleet, deploys it (not timed), then runs playbooks/verify.yml --rounds times with
mindie_verify_parallel=false and as many with true, alternated so that a busy moment of the machine weighs on
both. Each run is timed twice: the playbook's wall time, and the smoke-test task alone (ansible.posix's
profile_tasks callback). Every run must pass. Prints the medians and writes reports/bench-verify.json.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SMOKE_TASK = "Run the guide's checks against every instance, from the node"
# profile_tasks' summary line: "<role> : <task name> ---...--- 12.34s"
TASK_TIME = re.compile(r"^(?P<name>.*?)\s-{2,}\s+(?P<seconds>\d+(?:\.\d+)?)s\s*$")


def playbook(name, inventory, report_dir, env, extra):
    args = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / name),
            "-e", "mindie_report_dir=%s" % report_dir, "-e", "mindie_precheck_report_dir=%s" % report_dir]
    for value in extra:
        args += ["-e", value]
    started = time.monotonic()
    proc = subprocess.run(args, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    return proc, time.monotonic() - started


def smoke_seconds(output):
    """The smoke-test task's time from profile_tasks' summary (None when absent)."""
    for line in output.splitlines():
        match = TASK_TIME.match(line.strip())
        if match and match.group("name").endswith(SMOKE_TASK):
            return float(match.group("seconds"))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="800i-a2-32g")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=36540)
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("-e", "--extra", action="append", default=[], metavar="KEY=VALUE",
                        help="extra variables for the deploy and every verify (ansible-playbook -e)")
    args = parser.parse_args()
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    name = "bench-verify"
    inventory = REPO / "build" / ("%s-inventory" % name)
    report_dir = REPO / "build" / ("%s-reports" % name)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    subprocess.run(fleet + ["up", "--name", name, "--nodes", "1", "--profiles", args.profile,
                            "--port-base", str(args.port_base), "--inventory", str(inventory)],
                   check=True, stdout=subprocess.DEVNULL)
    runs = []
    try:
        proc, seconds = playbook("deploy.yml", inventory, report_dir, env, args.extra)
        if proc.returncode != 0:
            sys.stdout.write(proc.stdout[-4000:])
            print("verify bench: the deploy failed (rc=%d)" % proc.returncode)
            return 1
        print("deployed 1 node (%s) in %.1f s" % (args.profile, seconds))
        timed_env = dict(env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        for round_no in range(1, args.rounds + 1):
            for parallel in (False, True):
                proc, seconds = playbook("verify.yml", inventory, report_dir, timed_env,
                                         list(args.extra) + ["mindie_verify_parallel=%s" % str(parallel).lower(),
                                                             # every check each time, though the daemon passed them
                                                             '{"mindie_verify_tests_when_verified": null}'])
                smoke = smoke_seconds(proc.stdout)
                summary = json.loads((report_dir / "fleet-summary.json").read_text())["summary"]
                run = {"round": round_no, "parallel": parallel, "rc": proc.returncode, "playbook_s": round(seconds, 2),
                       "smoke_task_s": smoke, "serving": summary["serving"], "nodes": summary["nodes"]}
                runs.append(run)
                print("round %d, parallel=%-5s: verify.yml %.1f s, smoke-test task %s s (rc=%d, %d/%d serving)" % (
                    round_no, str(parallel).lower(), seconds, smoke, proc.returncode, run["serving"], run["nodes"]))
                if proc.returncode != 0 or smoke is None:
                    sys.stdout.write(proc.stdout[-4000:])
    finally:
        if not args.keep:
            subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                           stdout=subprocess.DEVNULL)
    figures = {}
    for parallel in (False, True):
        mine = [r for r in runs if r["parallel"] is parallel]
        figures["parallel" if parallel else "sequential"] = {
            "playbook_s_median": round(statistics.median(r["playbook_s"] for r in mine), 2),
            "smoke_task_s_median": round(statistics.median(r["smoke_task_s"] or 0 for r in mine), 2),
        }
    seq, par = figures["sequential"], figures["parallel"]
    figures["smoke_task_saved_s"] = round(seq["smoke_task_s_median"] - par["smoke_task_s_median"], 2)
    print("medians: smoke-test task %.2f s one after another, %.2f s at once (%.2f s saved); verify.yml %.1f s -> %.1f s"
          % (seq["smoke_task_s_median"], par["smoke_task_s_median"], figures["smoke_task_saved_s"],
             seq["playbook_s_median"], par["playbook_s_median"]))
    out = REPO / "reports" / "bench-verify.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "profile": args.profile, "runs": runs, "figures": figures},
                              indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))
    return 0 if runs and all(r["rc"] == 0 and r["smoke_task_s"] is not None for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
