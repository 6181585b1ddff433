#!/usr/bin/env python3
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of `make demo`: ask the deployed fleet about the guide's test image.

Reads the fleet report written by playbooks/deploy.yml, sends one chat completion with
the image to the first serving node's endpoint (the port the sandbox publishes on
127.0.0.1), prints the answer, and prints a curl line to paste; with a monitor host, the
health of Prometheus's targets and its alerts. Exits non-zero when no node serves or the
answer is empty.
"""
import json
import sys
import time
import urllib.request

PROMPT = "Explain the details in the image."


def seconds(value):
    return "-" if value is None else "%.1f" % value


def print_table(summary):
    row = "%-24s %-18s %-12s %-8s %-7s %-26s %s"
    print(row % ("NODE", "PROFILE", "NPUS", "STATUS", "START", "ENDPOINT", "CHAT/GENERATE/STREAM s"))
    for node in summary["nodes"]:
        npus = node["npus"]
        smoke = node.get("smoke") or {}
        print(row % (
            node["node"], node["profile"] or "-",
            "%sx%s%s" % (npus["count"], npus["model"], " !" + ",".join(npus["unhealthy"]) if npus["unhealthy"] else "")
            if npus.get("count") else "-",
            node["status"],
            seconds(node["service"]["startup_seconds"]) if node["service"]["startup_seconds"] is not None
            else ("up" if node["service"]["ready"] else "-"),
            node["endpoint"]["business"] or "-",
            "/".join(seconds((smoke.get(t) or {}).get("latency_s")) for t in ("chat", "generate", "stream"))))
        if node.get("failure"):
            print("    %s: %s" % (node["failure"]["phase"], node["failure"]["reason"]))


def main(argv):
    summary_path = argv[1] if len(argv) > 1 else "reports/fleet-summary.json"
    with open(summary_path) as handle:
        summary = json.load(handle)
    print()
    print_table(summary)
    serving = [n for n in summary["nodes"] if n["status"] == "serving"]
    if not serving:
        print("No node is serving; see %s and the table above." % summary_path, file=sys.stderr)
        return 1
    node = serving[0]
    url = node["endpoint"]["business"] + "/v1/chat/completions"
    image = node.get("smoke_image") or "/data/test_images/sample.jpg"
    image_url = image if ":" in image else "file://" + image
    body = {"model": "qwen2_vl", "max_tokens": 128, "stream": False,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_url}},
                {"type": "text", "text": PROMPT}]}]}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.load(response)
    elapsed = time.monotonic() - started
    text = answer["choices"][0]["message"]["content"].strip()
    if not text:
        print("%s answered with an empty message" % url, file=sys.stderr)
        return 1
    usage = answer.get("usage") or {}
    print()
    print("%d of %d nodes serving. %s (%s) was asked about %s:" % (
        summary["summary"]["serving"], summary["summary"]["nodes"], node["node"], node["profile"], image))
    print()
    print("  Q: %s" % PROMPT)
    print("  A: %s" % text)
    print("     (%s completion tokens in %.2f s)" % (usage.get("completion_tokens", "?"), elapsed))
    print()
    print("Ask it yourself:")
    print("  curl -s %s -H 'Content-Type: application/json' -d '%s'" % (
        url, json.dumps(dict(body, max_tokens=64))))
    print()
    print_monitoring(summary.get("monitoring"))
    print("Fleet report: %s and %s" % (summary_path, summary_path[:-len(".json")] + ".md"))
    return 0


def print_monitoring(monitoring):
    """Prometheus's view of the fleet, when the deploy set one up: its targets' health and the alerts."""
    if not monitoring or not monitoring.get("prometheus"):
        return
    base = monitoring["prometheus"]
    try:
        deadline = time.monotonic() + 45       # a target is "unknown" until its first scrape (every 15 s)
        while True:
            with urllib.request.urlopen(base + "/api/v1/targets?state=active", timeout=10) as response:
                targets = json.load(response)["data"]["activeTargets"]
            if all(t["health"] != "unknown" for t in targets) or time.monotonic() > deadline:
                break
            time.sleep(2)
        with urllib.request.urlopen(base + "/api/v1/alerts", timeout=10) as response:
            alerts = json.load(response)["data"]["alerts"]
    except (OSError, ValueError, KeyError) as exc:
        print("Prometheus at %s does not answer: %s" % (base, exc))
        print()
        return
    health = {}
    for target in targets:
        health[target["health"]] = health.get(target["health"], 0) + 1
    print("Prometheus: %s - %d targets (%s); %d alerts pending or firing" % (
        base, len(targets), ", ".join("%d %s" % (n, h) for h, n in sorted(health.items())), len(alerts)))
    print("  curl -s %s/api/v1/targets   curl -s %s/api/v1/alerts" % (base, base))
    print()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
