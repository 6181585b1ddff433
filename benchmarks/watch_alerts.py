#!/usr/bin/env python3
"""How long the fleet's Prometheus takes to fire an alert after a fault, asked only through its HTTP API.

    watch_alerts.py wait --prometheus URL --alert NAME [--match label=value ...] --since EPOCH [--timeout S]
    watch_alerts.py resolved --prometheus URL --alert NAME [--match label=value ...] [--timeout S]

``wait`` polls ``/api/v1/alerts`` every ``--interval`` seconds from ``--since`` (the epoch of the fault, taken
just before it) until an alert named NAME whose labels match is ``firing``, and prints JSON: ``pending_after_s``
and ``fired_after_s`` (seconds from the fault), the alert's labels and annotations, and its rule's ``for``
(``duration_s``, from ``/api/v1/rules``). ``resolved`` waits until no such alert is pending or firing. Exit 1 on a
timeout, with the states seen.
"""

import argparse
import json
import sys
import time
import urllib.request


def get(base, path, timeout=10.0):
    with urllib.request.urlopen(base.rstrip("/") + path, timeout=timeout) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError("%s%s answered %s" % (base, path, answer))
    return answer["data"]


def matching(base, name, match):
    return [a for a in get(base, "/api/v1/alerts")["alerts"] if a["labels"].get("alertname") == name
            and all(a["labels"].get(k) == v for k, v in match.items())]


def rule_for(base, name):
    """The ``for`` (seconds) of the alerting rules named ``name``: one value, or a list when they differ."""
    values = sorted({rule.get("duration", 0) for group in get(base, "/api/v1/rules?type=alert")["groups"]
                     for rule in group["rules"] if rule.get("name") == name})
    return values[0] if len(values) == 1 else values


def parse_match(pairs):
    match = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit("watch_alerts.py: --match takes label=value, not %r" % pair)
        match[key] = value
    return match


def cmd_wait(args):
    match = parse_match(args.match)
    since = args.since if args.since else time.time()
    deadline = time.time() + args.timeout
    pending_at, seen = None, []
    while time.time() < deadline:
        alerts = matching(args.prometheus, args.alert, match)
        states = sorted({a["state"] for a in alerts})
        seen.append([round(time.time() - since, 1), states])
        if "pending" in states and pending_at is None:
            pending_at = time.time()
        firing = [a for a in alerts if a["state"] == "firing"]
        if firing:
            alert = firing[0]
            print(json.dumps({"alert": args.alert, "fired_after_s": round(time.time() - since, 1),
                              "pending_after_s": round(pending_at - since, 1) if pending_at else None,
                              "duration_s": rule_for(args.prometheus, args.alert),
                              "labels": alert["labels"], "annotations": alert.get("annotations", {}),
                              "active_at": alert.get("activeAt")}, sort_keys=True))
            return 0
        time.sleep(args.interval)
    print(json.dumps({"alert": args.alert, "error": "not firing within %d s" % args.timeout, "seen": seen[-20:]}))
    return 1


def cmd_resolved(args):
    match = parse_match(args.match)
    started = time.time()
    deadline = started + args.timeout
    while time.time() < deadline:
        if not matching(args.prometheus, args.alert, match):
            print(json.dumps({"alert": args.alert, "resolved_after_s": round(time.time() - started, 1)}))
            return 0
        time.sleep(args.interval)
    print(json.dumps({"alert": args.alert, "error": "still pending or firing after %d s" % args.timeout}))
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("wait", "resolved"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--prometheus", required=True, help="Prometheus's base URL (monitoring.prometheus)")
        cmd.add_argument("--alert", required=True)
        cmd.add_argument("--match", action="append", default=[], metavar="LABEL=VALUE")
        cmd.add_argument("--timeout", type=float, default=300.0)
        cmd.add_argument("--interval", type=float, default=1.0)
        if name == "wait":
            cmd.add_argument("--since", type=float, default=None, help="epoch of the fault (default: now)")
    args = parser.parse_args(argv)
    return cmd_wait(args) if args.command == "wait" else cmd_resolved(args)


if __name__ == "__main__":
    sys.exit(main())
