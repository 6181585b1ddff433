#!/usr/bin/env python3
"""Zero-downtime rollouts of a sandbox fleet behind its load balancer, measured by an independent client.

    rollout_fleet.py run   --inventory DIR --endpoint URL [--report-dir DIR] [--json OUT] [--baseline-s 20]
    rollout_fleet.py bench [--keep] [--port-base 27640]        (make bench-rollout)

run    against a deployed fleet (the balancer's frontend at --endpoint, the controller's 127.0.0.1): a client
       sends chat completions through the balancer without pause (two at a time) for --baseline-s seconds
       (the latency before), then all through each step:
         1. playbooks/rollout.yml to the broken build (1.0.1-broken-...): it must fail (halt after the canary),
            the canary rolled back, every instance still on the version it ran;
         2. playbooks/rollout.yml to 1.0.1: it must pass, every instance on 1.0.1;
         3. the same rollout again: changed=0 on every host, nothing restarted.
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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OLD_TAG = "1.0.0-800I-A2-py311-openeuler24.03-lts"
NEW_TAG = "1.0.1-800I-A2-py311-openeuler24.03-lts"
BROKEN_TAG = "1.0.1-broken-800I-A2-py311-openeuler24.03-lts"


def chat(endpoint, timeout=60.0):
    """One short chat completion through the balancer: (seconds, error or None)."""
    body = json.dumps({"model": "qwen2_vl", "max_tokens": 8,
                       "messages": [{"role": "user", "content": "Say hello."}]}).encode()
    request = urllib.request.Request(endpoint.rstrip("/") + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        if not answer.get("choices"):
            return time.monotonic() - started, "no choices in %s" % str(answer)[:200]
        return time.monotonic() - started, None
    except urllib.error.HTTPError as exc:
        return time.monotonic() - started, "HTTP %d" % exc.code
    except (OSError, ValueError) as exc:
        return time.monotonic() - started, str(exc)


def percentile(values, pct):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return round(ordered[index], 3)


class Client:
    """``workers`` threads sending completions back to back; each request kept as (start, seconds, error)."""

    def __init__(self, endpoint, workers=2):
        self.endpoint = endpoint
        self.records = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _run(self):
        while not self.stop_event.is_set():
            started = time.time()
            seconds, error = chat(self.endpoint)
            with self.lock:
                self.records.append((started, seconds, error))
            if error:
                self.stop_event.wait(0.2)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(90)

    def window(self, start, end):
        with self.lock:
            chosen = [r for r in self.records if start <= r[0] < end]
        ok = [r[1] for r in chosen if r[2] is None]
        errors = [r for r in chosen if r[2] is not None]
        return {"requests": len(chosen), "failures": len(errors), "p50_s": percentile(ok, 50),
                "p99_s": percentile(ok, 99),
                "errors": ["%.1f s: %s" % (r[0] - start, r[2]) for r in errors[:5]]}


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
            "instances": [{k: i.get(k) for k in ("node", "instance", "batch", "wave", "version_before",
                                                 "version_after", "drain_s", "in_flight_at_drain",
                                                 "out_of_rotation_s", "gate", "reason")}
                          for i in report["instances"]]}


def cmd_run(args):
    report_dir = os.path.abspath(args.report_dir)
    os.makedirs(report_dir, exist_ok=True)
    steps, problems = {}, []
    with Client(args.endpoint) as client:
        start = time.time()
        time.sleep(args.baseline_s)
        baseline = client.window(start, time.time())
        for name, tag, expect_fail in (("broken", BROKEN_TAG, True), ("upgrade", NEW_TAG, False),
                                       ("rerun", NEW_TAG, False)):
            rc, output, began, ended = rollout(args.inventory, tag, report_dir)
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
            if name == "upgrade":
                if report["status"] != "finished" or report["changed"] != report["instances_total"]:
                    problems.append("upgrade: not every instance changed: %s" % summarize(report))
                if any(i["version_after"] != "1.0.1" for i in report["instances"]):
                    problems.append("upgrade: not every instance runs 1.0.1")
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
                                        baseline_s=args.baseline_s))
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
    bench = sub.add_parser("bench")
    bench.add_argument("--keep", action="store_true")
    bench.add_argument("--port-base", type=int, default=27640)
    bench.add_argument("--baseline-s", type=float, default=20.0)
    args = parser.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
