#!/usr/bin/env python3
"""Self-healing of a deployed sandbox fleet, timed, without any Ansible run (the instances issue's bars).

    heal_fleet.py kill   --node N --instance C --ready URL [--watch URL ...] [--timeout 600]
    heal_fleet.py reboot --node N --ready URL [--ready URL ...] [--timeout 600]
    heal_fleet.py watch  --watch URL [--watch URL ...] --seconds S
    heal_fleet.py bench  [--keep] [--port-base 27040]     (make bench-heal)

kill    `kill -9` of the MindIE daemon of instance container C on sandbox node N (docker exec into the node,
        then into the instance container; the daemon's pid is the supervisor's `daemon_pid`), then polls
        --ready (the instance's business endpoint as the controller reaches it, its published port) with
        one-token chat completions until one is answered again, while every --watch URL (other instances'
        business endpoints) gets one every 0.25 s. Prints JSON: kill_to_ready_s, daemon_pid,
        watch {url: {requests, failures, errors}}.
        Ready = a client's completion is answered (MindIE opens its ports only once the model is loaded;
        the management port, where /v2/health/ready is, listens on the node's loopback only). The endpoint
        must fail once first, so an answer of the dying daemon does not count.
reboot  `docker restart N` (the node's Docker engine and every container on it restart, as at a reboot),
        then polls every --ready URL until each answers a completion. Prints JSON: restart_s (the docker
        restart command itself), to_ready_s {url: seconds from the restart command}, all_ready_s.
watch   only the watchers, for S seconds (a crash loop elsewhere, say). Prints the same watch JSON.
bench   brings up a 2-node fleet (32G 1x8, 64G 2x4), deploys it once (not timed here: see
        deploy_fleet.py), then times kill (64G instance mindie-0, watching mindie-1 and the 32G node)
        right after the deploy's traffic and again after 65 s idle, and reboot of the 64G node, and
        writes reports/bench-heal.json.
Exit 0 when the instance(s) came back within --timeout and no watched request failed; 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from traffic import Traffic, chat  # benchmarks/traffic.py, beside this script

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STATE = "/var/log/mindie-instance/supervisor.json"


def complete(base, timeout=10.0):
    """One tiny completion at a business endpoint: None when it answered, else the error."""
    return chat(base, max_tokens=1, content="ping", timeout=timeout)[1]


def watch(urls):
    """A thread per URL sending a tiny completion every 0.25 s (benchmarks/traffic.py)."""
    return Traffic(urls, pause=0.25, error_pause=0.25, send=lambda url: (0.0, complete(url)), join_timeout=15)


def node_exec(node, container, *argv):
    """argv in instance container ``container`` of sandbox node ``node``: (rc, stdout)."""
    proc = subprocess.run(["docker", "exec", node, "docker", "exec", container] + list(argv),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    return proc.returncode, proc.stdout


def daemon_pid(node, container):
    rc, out = node_exec(node, container, "cat", STATE)
    if rc != 0:
        raise SystemExit("cannot read %s in %s on %s: %s" % (STATE, container, node, out.strip()))
    pid = json.loads(out).get("daemon_pid")
    if not pid:
        raise SystemExit("%s on %s runs no daemon now (%s)" % (container, node, out.strip()))
    return int(pid)


def wait_ready(urls, started, timeout, must_drop=()):
    """{url: seconds from ``started`` to its first answered completion} (None: not within timeout). URLs in
    must_drop count only after they failed once."""
    pending, dropped, found = set(urls), set(), {}
    deadline = started + timeout
    while pending and time.monotonic() < deadline:
        for url in sorted(pending):
            if complete(url, timeout=2.0) is not None:
                dropped.add(url)
            elif url not in must_drop or url in dropped:
                found[url] = round(time.monotonic() - started, 2)
                pending.discard(url)
        time.sleep(0.1)
    for url in pending:
        found[url] = None
    return found


def cmd_kill(args):
    pid = daemon_pid(args.node, args.instance)
    with watch(args.watch) as watchers:
        started = time.monotonic()
        rc, out = node_exec(args.node, args.instance, "sh", "-c", 'kill -9 "$1"', "sh", str(pid))
        if rc != 0:
            raise SystemExit("kill -9 %d in %s failed: %s" % (pid, args.instance, out.strip()))
        ready = wait_ready([args.ready], started, args.timeout, must_drop=[args.ready])[args.ready]
        time.sleep(1.0)      # the watchers keep going a moment after
    result = {"node": args.node, "instance": args.instance, "daemon_pid": pid, "kill_to_ready_s": ready,
              "watch": watchers.stats()}
    print(json.dumps(result, indent=2))
    return 0 if ready is not None and not watchers.failed() else 1


def cmd_reboot(args):
    started = time.monotonic()
    subprocess.run(["docker", "restart", args.node], check=True, stdout=subprocess.DEVNULL, timeout=300)
    restart_s = round(time.monotonic() - started, 2)
    ready = wait_ready(args.ready, started, args.timeout)
    times = [t for t in ready.values()]
    result = {"node": args.node, "restart_s": restart_s, "to_ready_s": ready,
              "all_ready_s": None if None in times else max(times)}
    print(json.dumps(result, indent=2))
    return 0 if result["all_ready_s"] is not None else 1


def cmd_watch(args):
    with watch(args.watch) as watchers:
        time.sleep(args.seconds)
    print(json.dumps({"watch": watchers.stats()}, indent=2))
    return 1 if watchers.failed() else 0


def run_json(argv):
    proc = subprocess.run([sys.executable, __file__] + argv, stdout=subprocess.PIPE, universal_newlines=True)
    return proc.returncode, json.loads(proc.stdout)


def cmd_bench(args):
    fleet = [sys.executable, str(REPO / "sandbox" / "fleet.py")]
    name = "bench-heal"
    inventory = REPO / "build" / ("%s-inventory" % name)
    report_dir = REPO / "build" / ("%s-reports" % name)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    subprocess.run(fleet + ["up", "--name", name, "--nodes", "2", "--profiles", "800i-a2-32g,800i-a2-64g",
                            "--layouts", "800i-a2-64g=2x4", "--port-base", str(args.port_base),
                            "--inventory", str(inventory)], check=True, stdout=subprocess.DEVNULL)
    try:
        deploy = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                                 str(REPO / "playbooks" / "deploy.yml"), "-e", "mindie_report_dir=%s" % report_dir,
                                 "-e", "mindie_precheck_report_dir=%s" % report_dir],
                                cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        if deploy.returncode != 0:
            print(deploy.stdout[-3000:])
            return 1
        base = "http://127.0.0.1:%d"
        node1, node2 = args.port_base, args.port_base + 100
        kill_args = ["kill", "--node", "%s-node2" % name, "--instance", "mindie-0",
                     "--ready", base % node2, "--watch", base % (node2 + 10), "--watch", base % node1]
        # Right after the deploy's smoke tests: MindIE answers with Connection: close, so its ports hold
        # connections in TIME_WAIT for 60 s, and its port check (bind without SO_REUSEADDR) refuses until they
        # are gone; the supervisor waits for that. Then again after 65 s without traffic to it.
        rc_kill, kill = run_json(kill_args)
        time.sleep(65)
        rc_idle, idle = run_json(kill_args)
        rc_kill = rc_kill or rc_idle
        rc_reboot, reboot = run_json(["reboot", "--node", "%s-node2" % name,
                                      "--ready", base % node2, "--ready", base % (node2 + 10)])
    finally:
        if not args.keep:
            subprocess.run(fleet + ["down", "--name", name, "--inventory", str(inventory)], check=False,
                           stdout=subprocess.DEVNULL)
    for label, run in (("after traffic", kill), ("idle 65 s", idle)):
        print("kill -9 of the daemon of mindie-0 (64G, 2x4), %s -> ready again in %s s; watched requests: %s" % (
            label, run["kill_to_ready_s"], ", ".join("%d/%d failed" % (s["failures"], s["requests"])
                                                    for s in run["watch"].values())))
    print("docker restart of the 64G node (%.1f s) -> both instances ready %s s after the restart began" % (
        reboot["restart_s"], reboot["all_ready_s"]))
    out = REPO / "reports" / "bench-heal.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "kill_after_traffic": kill, "kill_idle": idle,
                               "reboot": reboot}, indent=2) + "\n")
    print("written: %s" % out.relative_to(REPO))
    return 0 if rc_kill == 0 and rc_reboot == 0 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    kill = sub.add_parser("kill")
    kill.add_argument("--node", required=True)
    kill.add_argument("--instance", required=True)
    kill.add_argument("--ready", required=True)
    kill.add_argument("--watch", action="append", default=[])
    reboot = sub.add_parser("reboot")
    reboot.add_argument("--node", required=True)
    reboot.add_argument("--ready", action="append", required=True)
    for cmd in (kill, reboot):
        cmd.add_argument("--timeout", type=float, default=600.0)
    watch = sub.add_parser("watch")
    watch.add_argument("--watch", action="append", required=True)
    watch.add_argument("--seconds", type=float, required=True)
    bench = sub.add_parser("bench")
    bench.add_argument("--keep", action="store_true")
    bench.add_argument("--port-base", type=int, default=27040)
    args = parser.parse_args(argv)
    return {"kill": cmd_kill, "reboot": cmd_reboot, "watch": cmd_watch, "bench": cmd_bench}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
