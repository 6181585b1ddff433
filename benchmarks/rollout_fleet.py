#!/usr/bin/env python3
"""Zero-downtime rollouts of a sandbox fleet behind its load balancer, measured by an independent client.

    rollout_fleet.py run   --inventory DIR --endpoint URL [--report-dir DIR] [--json OUT] [--baseline-s 20]
    rollout_fleet.py bench [--keep] [--port-base 27640]        (make bench-rollout)

run    against a deployed fleet (the balancer's frontend at --endpoint, the controller's 127.0.0.1): a client
       sends chat completions through the balancer without pause (two at a time) for --baseline-s seconds
       (the latency before), then all through each step:
         1. playbooks/rollout.yml to the broken build (1.0.1-broken-...): it must fail (halt after the canary),
            the canary rolled back, every instance still on the version it ran;
         2. the broken build again with mindie_service_ready_timeout=3, so the canary's rollback fails too (its
            previous daemon needs longer to load): it must fail, the report naming the rollback failed
            (rollback_failed 1, the canary still out of rotation), the others untouched;
         3. playbooks/rollout.yml to the version the fleet runs (the repair): the canary, back to its files and
            as asked, is gated and put back into rotation - every server of the balancer in rotation after it;
         4. playbooks/rollout.yml to 1.0.1: it must pass, every instance on 1.0.1;
         5. the same rollout again: changed=0 on every host, nothing restarted.
       Each step's report (reports/rollout/<time>/rollout.json) is read back. Prints and writes (--json) one
       JSON: per step rc, duration_s, the client's requests/failures/p50/p99 during it, the report's versions,
       out-of-rotation times, lowest capacity and halt reason; baseline p50/p99. Exit 0 when every bar holds:
       zero failed client requests in every step, halts and versions as above, capacity never below the plan's
       instances minus max_unavailable, changed=0 on the re-run.
bench  brings up the demo's fleet (2 nodes: 32G 1x8 and 64G 2x4, a load balancer, the upgrade images),
       deploys it, then `run`; writes reports/bench-rollout.json.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from traffic import Traffic  # benchmarks/traffic.py, beside this script

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OLD_TAG = "1.0.0-800I-A2-py311-openeuler24.03-lts"
NEW_TAG = "1.0.1-800I-A2-py311-openeuler24.03-lts"
BROKEN_TAG = "1.0.1-broken-800I-A2-py311-openeuler24.03-lts"
# Seconds the upgrade's canary soaks behind the balancer (its error-rate gate).
SOAK_S = 8


def newest_report(report_dir, after):
    found = [p for p in glob.glob(os.path.join(report_dir, "*", "rollout.json")) if os.path.getmtime(p) >= after]
    return json.loads(Path(max(found, key=os.path.getmtime)).read_text()) if found else None


def recap(output):
    """{host: {ok, changed, failed...}} of ansible-playbook's PLAY RECAP."""
    hosts = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match and "ok=" in match.group(2):
            hosts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return hosts


def lb_admin_states(inventory):
    """{server: HAProxy admin state number (0 = in rotation)} on every host of group mindie_lb, asked through its
    runtime API inside the balancer's sandbox container."""
    listed = json.loads(subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], check=True,
                                       stdout=subprocess.PIPE, universal_newlines=True).stdout)
    states = {}
    for host in listed.get("mindie_lb", {}).get("hosts", []):
        container = listed["_meta"]["hostvars"][host].get("ansible_host", host)
        asked = subprocess.run(["docker", "exec", container, "python3", "-c", LB_STATE], check=True,
                               stdout=subprocess.PIPE, universal_newlines=True).stdout
        for line in asked.splitlines():
            fields = line.split()
            if len(fields) > 6 and fields[0].isdigit():
                states[fields[3]] = int(fields[6])
    return states


# `show servers state` over the runtime API's socket (columns: be_id be_name srv_id srv_name srv_addr srv_op_state
# srv_admin_state ...)
LB_STATE = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); "
            "s.sendall(b'show servers state\\n'); print(s.recv(1 << 20).decode())")


def rollout(inventory, tag, report_dir, extra=()):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0")
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "rollout.yml"),
            "-e", "mindie_image_tag=%s" % tag, "-e", "mindie_rollout_report_dir=%s" % report_dir,
            "-e", "mindie_precheck_report_dir=%s" % os.path.dirname(report_dir)] + list(extra)
    started = time.time()
    proc = subprocess.run(argv, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    return proc.returncode, proc.stdout, started, time.time()


def summarize(report):
    if not report:
        return None
    return {"status": report["status"], "halted": report["halted"], "duration_s": report["duration_s"],
            "changed": report["changed"], "rolled_back": report["rolled_back"],
            "capacity_lowest": report["capacity"]["lowest"], "capacity_floor": report["capacity_floor"],
            "capacity_kept": report["capacity_kept"], "out_of_rotation_s": report["out_of_rotation_s"],
            "rollback_failed": report.get("rollback_failed"),
            "instances": [{k: i.get(k) for k in ("node", "instance", "batch", "wave", "version_before",
                                                 "version_after", "drain_s", "in_flight_at_drain",
                                                 "out_of_rotation_s", "back_in_rotation", "gate", "reason", "canary", "soak_s")}
                          for i in report["instances"]]}


def cmd_run(args):
    report_dir = os.path.abspath(args.report_dir)
    os.makedirs(report_dir, exist_ok=True)
    steps, problems = {}, []
    with Traffic([args.endpoint], workers=2) as client:
        start = time.time()
        time.sleep(args.baseline_s)
        baseline = client.window(start, time.time())
        # (the upgrade's canary soaks behind the balancer: its error-rate gate must pass with 0 failed requests)
        for name, tag, expect_fail, extra in (("broken", BROKEN_TAG, True, ()),
                                              ("rollback-fails", BROKEN_TAG, True, ("-e", "mindie_service_ready_timeout=3")),
                                              ("repair", OLD_TAG, False, ()),
                                              ("upgrade", NEW_TAG, False, ("-e", "mindie_rollout_canary_soak=%d" % SOAK_S)),
                                              ("rerun", NEW_TAG, False, ())):
            rc, output, began, ended = rollout(args.inventory, tag, report_dir,
                                               [a for v in args.extra_vars for a in ("-e", v)] + list(extra))
            report = newest_report(report_dir, began)
            step = {"rc": rc, "duration_s": round(ended - began, 1), "client": client.window(began, ended),
                    "recap": recap(output), "report": summarize(report)}
            steps[name] = step
            if (rc != 0) != expect_fail:
                problems.append("%s: ansible-playbook exited %d%s" % (name, rc, "" if expect_fail else
                                                                       "\n" + output[-4000:]))
            if step["client"]["failures"]:
                problems.append("%s: %d of %d client requests failed: %s" % (
                    name, step["client"]["failures"], step["client"]["requests"], step["client"]["errors"]))
            if report is None:
                problems.append("%s: no rollout report written" % name)
                continue
            if not report["capacity_kept"]:
                problems.append("%s: capacity fell to %d (floor %d)" % (name, report["capacity"]["lowest"],
                                                                       report["capacity_floor"]))
            if name == "broken":
                halted = report["halted"] or {}
                if not halted.get("canary") or [i["gate"] for i in report["instances"]] != ["failed"]:
                    problems.append("broken: did not halt at the canary alone: %s" % summarize(report))
                if any(i["version_after"] != i["version_before"] for i in report["instances"]):
                    problems.append("broken: the canary was not rolled back to its version")
                if report["rolled_back"] != 1 or not halted.get("reason") or halted.get("rollback_error"):
                    problems.append("broken: the report does not say the canary was rolled back and why: %s" % halted)
            if name == "rollback-fails":
                if report["rollback_failed"] != 1 or [i["gate"] for i in report["instances"]] != ["failed"] \
                        or report["instances"][0]["back_in_rotation"] or "FAILED" not in output:
                    problems.append("rollback-fails: the report does not say the canary's rollback failed: %s"
                                    % summarize(report))
            if name == "repair":
                out = {server: state for server, state in lb_admin_states(args.inventory).items() if state != 0}
                if out:
                    problems.append("repair: servers still out of rotation after the repair: %s" % out)
                # (the canary was put back with its files, as asked: it goes back into rotation without a wave)
                if report["instances"]:
                    problems.append("repair: instances were rolled, not just put back: %s" % summarize(report))
                step["lb_admin_states"] = lb_admin_states(args.inventory)
            if name == "upgrade":
                if report["status"] != "finished" or report["changed"] != report["instances_total"]:
                    problems.append("upgrade: not every instance changed: %s" % summarize(report))
                if any(i["version_after"] != "1.0.1" for i in report["instances"]):
                    problems.append("upgrade: not every instance runs 1.0.1")
                if [i.get("soak_s") for i in report["instances"] if i.get("canary")] != [SOAK_S]:
                    problems.append("upgrade: the canary did not soak %d s: %s" % (SOAK_S, summarize(report)))
            if name == "rerun":
                changed = {h: r.get("changed", -1) for h, r in step["recap"].items()}
                if any(changed.values()) or report["instances"]:
                    problems.append("rerun: not a no-op: changed %s, %d instances handled"
                                    % (changed, len(report["instances"])))
        time.sleep(1)
    result = {"endpoint": args.endpoint, "baseline": baseline, "steps": steps, "problems": problems}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if problems else 0


def cmd_bench(args):
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    name = "bench-rollout"
    inventory = REPO / "build" / ("%s-inventory" % name)
    report_dir = REPO / "build" / ("%s-reports" % name)
    subprocess.run(fleet + ["up", "--name", name, "--nodes", "2", "--profiles", "800i-a2-32g,800i-a2-64g",
                            "--layouts", "800i-a2-64g=2x4", "--lb", "--upgrade-images",
                            "--port-base", str(args.port_base), "--inventory", str(inventory)],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        deploy = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                                 str(REPO / "playbooks" / "deploy.yml"), "-e", "mindie_report_dir=%s" % report_dir,
                                 "-e", "mindie_precheck_report_dir=%s" % report_dir],
                                cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        if deploy.returncode != 0:
            print(deploy.stdout[-3000:])
            return 1
        out = REPO / "reports" / "bench-rollout.json"
        out.parent.mkdir(exist_ok=True)
        endpoint = "http://127.0.0.1:%d" % (args.port_base + 200)
        rc = cmd_run(argparse.Namespace(inventory=str(inventory), endpoint=endpoint,
                                        report_dir=str(report_dir / "rollout"), json=str(out),
                                        baseline_s=args.baseline_s, extra_vars=[]))
        print("written: %s" % out.relative_to(REPO))
        return rc
    finally:
        if not args.keep:
            subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                           stdout=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--inventory", required=True)
    run.add_argument("--endpoint", required=True)
    run.add_argument("--report-dir", default=str(REPO / "reports" / "rollout"))
    run.add_argument("--json", default=None)
    run.add_argument("--baseline-s", type=float, default=20.0)
    # (the settings the fleet was deployed with, e.g. molecule's mindie_service_env, so a rollout to the version
    # it runs finds nothing else to change)
    run.add_argument("--extra-vars", "-e", action="append", default=[])
    bench = sub.add_parser("bench")
    bench.add_argument("--keep", action="store_true")
    bench.add_argument("--port-base", type=int, default=27640)
    bench.add_argument("--baseline-s", type=float, default=20.0)
    args = parser.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
