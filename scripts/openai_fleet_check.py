#!/usr/bin/env python3
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask every MindIE instance of a fleet report about an image, with the official OpenAI client.

    openai_fleet_check.py [reports/fleet-summary.json] [--image FILE] [--expect-size] [--expect-instances N]
                          [--through-loadbalancer [--lb-requests N]] [--json OUT]

An independent check of what playbooks/deploy.yml reports: nothing of the collection is used, only the
`openai` package (requirements-dev.txt). For every instance in `nodes[].instances[]` of the fleet summary
whose status is serving or busy, it lists the models at the instance's business endpoint
(`GET /v1/models`), then sends one chat completion whose user message holds the image, sent from this
machine as a base64 data URL, and a question about it. A report without `instances` (a collection before
instances) counts each serving node as one instance at its node endpoint.

--expect-size           the answer must name the image's width x height (read here with Pillow): the sandbox's
                        MindIE simulator describes the image it was sent, so an answer that names its real size
                        was computed from these bytes. Real models phrase answers their own way: leave it off there.
--expect-instances N    fail unless exactly N instances answered (default: every serving/busy one must answer,
                        and at least one).
--through-loadbalancer  then send --lb-requests (default: twice the instances asked) chat completions to the
                        report's `loadbalancer.endpoint`, the one URL of the whole fleet; each must answer (and
                        name the size with --expect-size). A report without a load balancer fails.
--json OUT              write the per-instance results to OUT (node, instance, endpoint, model, answer, seconds,
                        ok, error).
Exit 0 when every asked instance answered (and the expectations hold), 1 otherwise, 2 for bad input.
"""
import argparse
import base64
import json
import mimetypes
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The sandbox's test image, as sandbox/fleet.py caches it on this machine before placing it on the nodes.
DEFAULT_IMAGE = os.path.join(os.environ.get("MINDIE_SANDBOX_CACHE") or os.path.join(REPO, ".cache", "sandbox"),
                             "seed", "test_images", "sample.jpg")
QUESTION = "Explain the details in the image."
ASKED = ("serving", "busy")


def instances_of(summary):
    """[(node name, instance dict)] of a fleet summary; a node without instances[] is one instance."""
    found = []
    for node in summary.get("nodes") or []:
        listed = node.get("instances")
        if listed is None:
            listed = [{"name": (node.get("container") or {}).get("name") or "mindie", "status": node.get("status"),
                       "endpoint": node.get("endpoint") or {}, "devices": (node.get("npus") or {}).get("devices")}]
        for instance in listed:
            found.append((node.get("node"), instance))
    return found


def image_size(path):
    from PIL import Image     # pillow: requirements-dev.txt
    with Image.open(path) as img:
        return img.size


def data_url(path):
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as handle:
        return "data:%s;base64,%s" % (mime, base64.b64encode(handle.read()).decode("ascii"))


def ask(openai, endpoint, image_url, timeout):
    """(model, answer text, completion tokens) from one instance; raises openai.OpenAIError on failure."""
    client = openai.OpenAI(base_url=endpoint.rstrip("/") + "/v1", api_key="not-needed", timeout=timeout,
                           max_retries=0)
    try:
        models = [m.id for m in client.models.list()]
        if not models:
            raise openai.OpenAIError("%s/v1/models lists no model" % endpoint)
        reply = client.chat.completions.create(
            model=models[0], max_tokens=32,
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}},
                                                   {"type": "text", "text": QUESTION}]}])
    finally:
        client.close()
    text = (reply.choices[0].message.content or "").strip() if reply.choices else ""
    tokens = reply.usage.completion_tokens if reply.usage else None
    return models[0], text, tokens


def ask_row(openai, row, image_url, timeout, size):
    """Ask row["endpoint"] and fill in model, answer, seconds, error and ok; returns the completion tokens."""
    started = time.monotonic()
    tokens = None
    try:
        row["model"], row["answer"], tokens = ask(openai, row["endpoint"], image_url, timeout)
    except openai.OpenAIError as exc:
        row["error"] = "%s: %s" % (type(exc).__name__, exc)
    row["seconds"] = round(time.monotonic() - started, 3)
    if row["error"] is None and not row["answer"]:
        row["error"] = "empty answer"
    elif row["error"] is None and size and ("%dx%d" % size) not in row["answer"]:
        row["error"] = "the answer does not name the image's size %dx%d" % size
    row["ok"] = row["error"] is None
    return tokens


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summary", nargs="?", default=os.path.join(REPO, "reports", "fleet-summary.json"))
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="image file sent to every instance")
    parser.add_argument("--expect-size", action="store_true", help="the answer must name the image's WxH")
    parser.add_argument("--expect-instances", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--through-loadbalancer", action="store_true")
    parser.add_argument("--lb-requests", type=int, default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    try:
        import openai
    except ImportError:
        print("openai_fleet_check: the openai package is missing; run `make venv` (requirements-dev.txt)",
              file=sys.stderr)
        return 2
    try:
        with open(args.summary) as handle:
            summary = json.load(handle)
        image_url = data_url(args.image)
        size = image_size(args.image) if args.expect_size else None
    except (OSError, ValueError) as exc:
        print("openai_fleet_check: %s" % exc, file=sys.stderr)
        return 2
    results, failed = [], 0
    for node, instance in instances_of(summary):
        row = {"node": node, "instance": instance.get("name"), "status": instance.get("status"),
               "endpoint": (instance.get("endpoint") or {}).get("business"), "devices": instance.get("devices"),
               "asked": False, "ok": False, "model": None, "answer": None, "seconds": None, "error": None}
        results.append(row)
        if row["status"] not in ASKED or not row["endpoint"]:
            print("%-24s %-12s %-10s not asked" % (node, row["instance"], row["status"]))
            continue
        row["asked"] = True
        tokens = ask_row(openai, row, image_url, args.timeout, size)
        failed += 0 if row["ok"] else 1
        print("%-24s %-12s %-10s %s %s -> %s" % (node, row["instance"], row["status"], row["endpoint"],
                                                 "ok (%s tokens, %.2f s)" % (tokens, row["seconds"]) if row["ok"]
                                                 else "FAILED", (row["answer"] or "")[:100] if row["ok"] else row["error"]))
    answered = sum(1 for r in results if r["ok"])
    problems = []
    if args.through_loadbalancer:
        endpoint = (summary.get("loadbalancer") or {}).get("endpoint")
        if not endpoint:
            problems.append("the report has no loadbalancer.endpoint (is there a host in group mindie_lb?)")
        else:
            count = args.lb_requests or max(2, 2 * sum(1 for r in results if r["asked"]))
            lb_ok = 0
            for number in range(count):
                row = {"node": None, "instance": "loadbalancer", "endpoint": endpoint, "asked": True, "ok": False,
                       "model": None, "answer": None, "seconds": None, "error": None}
                ask_row(openai, row, image_url, args.timeout, size)
                lb_ok += 1 if row["ok"] else 0
                results.append(row)
                if not row["ok"]:
                    print("loadbalancer %s request %d FAILED: %s" % (endpoint, number + 1, row["error"]))
            print("loadbalancer %s: %d of %d requests answered" % (endpoint, lb_ok, count))
            if lb_ok != count:
                problems.append("%d of %d requests through the load balancer failed" % (count - lb_ok, count))
    if failed:
        problems.append("%d instance(s) did not answer" % failed)
    if args.expect_instances is not None and answered != args.expect_instances:
        problems.append("%d instance(s) answered, %d expected" % (answered, args.expect_instances))
    if not answered:
        problems.append("no instance answered")
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump({"answered": answered, "asked": sum(1 for r in results if r["asked"]), "results": results},
                      handle, indent=2)
    if problems:
        print("openai_fleet_check: %s (%s)" % ("; ".join(problems), args.summary), file=sys.stderr)
        return 1
    print("%d of %d instances answered about %s" % (answered, sum(1 for r in results if r["node"] is not None),
                                                    os.path.basename(args.image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
