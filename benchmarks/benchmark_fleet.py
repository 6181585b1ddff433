#!/usr/bin/env python3
"""The serving benchmark's bars on a deployed sandbox fleet (playbooks/benchmark.yml), checked from outside.

    benchmark_fleet.py run --inventory DIR [--report-dir DIR] [--slow NODE] [--json OUT] [-e JSON]
                           [--check-concurrency 4] [--check-requests 16]
    benchmark_fleet.py bench [--keep] [--port-base 33040]        (make bench-benchmark)

run    runs playbooks/benchmark.yml against the fleet and reads back reports/benchmark/<time>/benchmark.json, then
       checks every bar of issue 15:
         - a progress line per step in the play's output;
         - p50 <= p90 <= p99 for TTFT, TPOT, ITL and e2e in every entry;
         - output_tokens_per_s x duration_s = output_tokens, and output_tokens = what MindIE counted
           (generation_tokens_total of every instance's /metrics, before and after, less the warm-up answers);
         - the PNGs are PNG images Pillow opens and verifies;
         - the node made slow on purpose (--slow) is named as the outlier, and no other node;
         - an independent client (the openai package, from the controller through the published port) measuring the
           first instance at --check-concurrency agrees with the benchmark's figures for that step within 15 %
           (output tokens/s, TTFT p50, e2e p50); that measurement is also left on the node in AISBench's output
           layout (/data/ais_bench/outputs/default/<ts>/performances/...) and must come back in the report's
           AISBench section (mindie_benchmark_aisbench_dirs) with the same figures.
       Prints and writes (--json) the figures; exit 0 when every bar holds.
bench  brings up 3 nodes of 800i-a2-64g (1x8) and a load balancer, makes the third slow on purpose (its instances'
       MINDIE_SIM_CHIP_FACTOR 2: every forward pass twice as long), deploys, then `run`; writes
       reports/bench-benchmark.json.
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOLERANCE = 0.15
AIS_DIR = "/data/ais_bench"
SWEEP = [4, 32]


def inventory_hosts(inventory):
    listed = json.loads(subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], check=True,
                                       stdout=subprocess.PIPE, universal_newlines=True).stdout)
    return listed


def published(listed, node, port):
    """The controller's URL of a node's port (the sandbox publishes them on 127.0.0.1)."""
    hv = listed["_meta"]["hostvars"][node]
    ports = {int(k): int(v) for k, v in (hv.get("sandbox_published_ports") or {}).items()}
    return "http://%s:%d" % (hv.get("sandbox_published_host") or "127.0.0.1", ports[port])


GENERATED = """
import urllib.request
total = 0.0
for i in range(8):                      # instance i's metrics port: instance 0's + 10 * i
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (PORT + 10 * i), timeout=10) as response:
            text = response.read().decode()
    except OSError:
        break
    total += sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("generation_tokens_total{"))
print(total)
"""


def generated(container, port):
    """generation_tokens_total of every instance of a sandbox node, asked inside its container (the metrics ports
    listen on the node's loopback by default)."""
    out = subprocess.run(["docker", "exec", container, "python3", "-c", GENERATED.replace("PORT", str(port))],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return float(out.strip())


def independent(url, image, concurrency, requests, max_tokens, model="qwen2_vl"):
    """The openai package's streaming client, ``concurrency`` threads, ``requests`` in all: output tokens/s over the
    step, TTFT p50 and e2e p50 (ms, statistics.median), and every request's times (for the AISBench-format copy)."""
    import openai     # the venv's (requirements-dev.txt)
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", timeout=300, max_retries=0)
    lock = threading.Lock()
    left = [requests]
    out = []

    def worker():
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            start = time.monotonic()
            stamps = []
            stream = client.chat.completions.create(
                model=model, max_tokens=max_tokens, stream=True, extra_body={"ignore_eos": True},
                messages=[{"role": "user", "content": [{"type": "text", "text": "Explain the details in the image."},
                                                       {"type": "image_url", "image_url": {"url": "file://" + image}}]}])
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    stamps.append(time.monotonic())
            with lock:
                out.append((start, stamps, time.monotonic()))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = max(r[2] for r in out) - min(r[0] for r in out)
    tokens = sum(len(r[1]) for r in out)
    return {"requests": len(out), "output_tokens": tokens, "duration_s": duration,
            "output_tokens_per_s": round(tokens / duration, 3),
            "ttft_p50_ms": round(statistics.median(r[1][0] - r[0] for r in out) * 1000, 1),
            "e2e_p50_ms": round(statistics.median(r[2] - r[0] for r in out) * 1000, 1),
            "concurrency": concurrency, "per_request": out}


def _pct(values, q):
    """Linear-interpolated percentile (numpy's default), q in 0..100."""
    values = sorted(values)
    k = (len(values) - 1) * q / 100.0
    low = int(k)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (k - low)


def aisbench_files(check):
    """The independent client's measurement written as AISBench writes a run (performances/<abbr>/<dataset>.csv, the
    per-request statistics with their units, and .json, the run-wide figures): {relative path: text}."""
    per = check["per_request"]
    series = {
        "E2EL": [1000 * (end - start) for start, stamps, end in per],
        "TTFT": [1000 * (stamps[0] - start) for start, stamps, end in per],
        "TPOT": [1000 * (stamps[-1] - stamps[0]) / (len(stamps) - 1) for start, stamps, end in per],
        "ITL": [1000 * (b - a) for start, stamps, end in per for a, b in zip(stamps, stamps[1:])],
    }
    rows = ["Performance Parameters,Stage,Average,Min,Max,Median,P75,P90,P99,N"]
    for name, values in series.items():
        cells = [statistics.mean(values), min(values), max(values)] + [_pct(values, q) for q in (50, 75, 90, 99)]
        rows.append("%s,total,%s,%d" % (name, ",".join("%.4f ms" % v for v in cells), len(values)))
    counts = [len(stamps) for start, stamps, end in per]
    rows.append("OutputTokens,total,%s,%d" % (",".join("%.1f" % v for v in (
        statistics.mean(counts), min(counts), max(counts), _pct(counts, 50), _pct(counts, 75), _pct(counts, 90),
        _pct(counts, 99))), len(counts)))
    common = {
        "Benchmark Duration": {"total": "%.4f ms" % (1000 * check["duration_s"])},
        "Total Requests": {"total": check["requests"]}, "Failed Requests": {"total": 0},
        "Success Requests": {"total": check["requests"]}, "Max Concurrency": {"total": check["concurrency"]},
        "Request Throughput": {"total": "%.4f req/s" % (check["requests"] / check["duration_s"])},
        "Total Generated Tokens": {"total": check["output_tokens"]},
        "Output Token Throughput": {"total": "%.4f token/s" % (check["output_tokens"] / check["duration_s"])},
    }
    stamp = time.strftime("%Y%m%d_%H%M%S")
    base = "outputs/default/%s/performances/openai-stream-chat/sample-image" % stamp
    return {base + ".csv": "\n".join(rows) + "\n", base + ".json": json.dumps(common, indent=4) + "\n"}


def put_files(container, root, files):
    """Write {relative path: text} under root inside a sandbox node."""
    for rel, text in files.items():
        path = "%s/%s" % (root, rel)
        subprocess.run(["docker", "exec", "-i", container, "sh", "-c",
                        'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path],
                       input=text, check=True, universal_newlines=True)


def run(args):
    listed = inventory_hosts(args.inventory)
    nodes = sorted(h for h, hv in listed["_meta"]["hostvars"].items()
                   if "sandbox_profile" in hv and h not in listed.get("mindie_lb", {}).get("hosts", []))
    extra = json.loads(args.extra) if args.extra else {}
    settings = {"mindie_benchmark_concurrency": SWEEP, "mindie_benchmark_requests": 32,
                "mindie_benchmark_report_dir": None, "mindie_report_dir": args.report_dir}
    settings.update(extra)
    where = {node: (listed["_meta"]["hostvars"][node].get("ansible_host", node),
                    int(listed["_meta"]["hostvars"][node].get("mindie_metrics_port", 1042))) for node in nodes}
    requests = settings["mindie_benchmark_requests"]
    max_tokens = settings.get("mindie_benchmark_max_tokens", 80)
    # The independent client first, on the first node's instance at --check-concurrency; its measurement is also
    # left on that node in AISBench's output layout, for the report to read (mindie_benchmark_aisbench_dirs).
    node = nodes[0]
    business = published(listed, node, int(listed["_meta"]["hostvars"][node].get("mindie_service_port", 1040)))
    check = independent(business, "/data/test_images/sample.jpg", args.check_concurrency, requests, max_tokens)
    subprocess.run(["docker", "exec", where[node][0], "rm", "-rf", AIS_DIR], check=True)
    put_files(where[node][0], AIS_DIR, aisbench_files(check))
    settings.setdefault("mindie_benchmark_aisbench_dirs",
                        "{{ ['%s'] if inventory_hostname == '%s' else [] }}" % (AIS_DIR, node))
    before = {node: generated(*where[node]) for node in nodes}
    started = time.time()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(args.inventory),
                           str(REPO / "playbooks" / "benchmark.yml"), "-e", json.dumps(settings)],
                          cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    took = time.time() - started
    Path(args.report_dir, "benchmark-playbook.log").write_text(proc.stdout)
    after = {node: generated(*where[node]) for node in nodes}
    found = sorted(glob.glob(os.path.join(args.report_dir, "benchmark", "*", "benchmark.json")), key=os.path.getmtime)
    problems = []
    if not found or os.path.getmtime(found[-1]) < started:
        print(proc.stdout[-4000:])
        raise SystemExit("no benchmark.json was written (rc %d)" % proc.returncode)
    report_path = Path(found[-1])
    report = json.loads(report_path.read_text())
    results = report["results"]
    sweep = settings["mindie_benchmark_concurrency"]

    # a progress line per step
    progress = re.findall(r"""msg: ['"]?(\S+ at concurrency \d+: )""", proc.stdout)
    if len(progress) != len(results):
        problems.append("%d progress lines for %d steps" % (len(progress), len(results)))
    for entry in results:
        for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
            d = entry[key]
            if not (d["p50"] is not None and d["p50"] <= d["p90"] <= d["p99"]):
                problems.append("%s c=%d %s not ordered: %s" % (entry["target"], entry["concurrency"], key, d))
        if abs(entry["output_tokens_per_s"] * entry["duration_s"] - entry["output_tokens"]) > 0.01 * entry["output_tokens"]:
            problems.append("%s c=%d: tokens/s x time %.1f != tokens %d" % (
                entry["target"], entry["concurrency"], entry["output_tokens_per_s"] * entry["duration_s"],
                entry["output_tokens"]))
        if entry["failed"]:
            problems.append("%s c=%d: %d failed" % (entry["target"], entry["concurrency"], entry["failed"]))
    # what MindIE counted: the instances' steps plus their warm-ups; the balancer's requests land on the instances too
    counted = sum(after[n] - before[n] for n in nodes)
    warmups = settings.get("mindie_benchmark_warmup_requests", 1) * len(sweep) * max_tokens
    expected = sum(e["output_tokens"] for e in results) + warmups * (len(nodes) + (1 if any(
        e["kind"] == "balancer" for e in results) else 0))
    if counted != expected:
        problems.append("MindIE generated %d tokens, the report counts %d (warm-ups included)" % (counted, expected))
    # PNGs
    from PIL import Image
    pngs = {}
    for name in report.get("plots", []):
        path = report_path.parent / name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            pngs[name] = {"format": image.format, "size": list(image.size), "bytes": path.stat().st_size}
        if pngs[name]["format"] != "PNG":
            problems.append("%s is not a PNG" % name)
    if len(pngs) < 3 + len(nodes):
        problems.append("%d charts, expected %d" % (len(pngs), 3 + len(nodes)))
    outliers = [o["node"] for o in report["outliers"]["outliers"]]
    if args.slow and outliers != [args.slow]:
        problems.append("outliers %s, expected [%s]" % (outliers, args.slow))
    # the independent client's figures against the benchmark's for the same instance and concurrency
    mine = [e for e in results if e["kind"] == "instance" and e["node"] == node
            and e["concurrency"] == args.check_concurrency]
    comparison = {}
    if mine:
        ours = mine[0]
        for key, theirs, own in (("output_tokens_per_s", check["output_tokens_per_s"], ours["output_tokens_per_s"]),
                                 ("ttft_p50_ms", check["ttft_p50_ms"], ours["ttft_ms"]["p50"]),
                                 ("e2e_p50_ms", check["e2e_p50_ms"], ours["e2e_ms"]["p50"])):
            diff = (own - theirs) / theirs
            comparison[key] = {"benchmark": own, "independent": theirs, "diff_pct": round(100 * diff, 1)}
            if abs(diff) > TOLERANCE:
                problems.append("%s: benchmark %s vs independent %s (%+.1f %%)" % (key, own, theirs, 100 * diff))
    else:
        problems.append("no step of %s at concurrency %d" % (node, args.check_concurrency))
    # the AISBench-format copy of that measurement, read back into the report
    ais = report.get("aisbench") or {}
    ais_found = [(e["node"], e["concurrency"], e["output_tokens_per_s"], e["ttft_ms"]["p50"]) for e in ais.get("results", [])]
    if ais.get("errors") or len(ais_found) != 1 or ais_found[0][:2] != (node, args.check_concurrency) \
            or abs(ais_found[0][2] - check["output_tokens_per_s"]) > 0.01 \
            or abs(ais_found[0][3] - statistics.median(1000 * (r[1][0] - r[0]) for r in check["per_request"])) > 0.01:
        problems.append("the report's AISBench section %s (errors %s) is not the copy of the independent run "
                        "(%s, c=%d, %.3f tok/s, TTFT p50 %.1f ms)" % (
                            ais_found, ais.get("errors"), node, args.check_concurrency, check["output_tokens_per_s"],
                            check["ttft_p50_ms"]))
    check = {k: v for k, v in check.items() if k != "per_request"}
    summary = {
        "playbook_rc": proc.returncode, "playbook_s": round(took, 1), "report": str(report_path),
        "steps": len(results), "progress_lines": len(progress),
        "tokens": {"mindie_counted": counted, "report_plus_warmups": expected},
        "outliers": report["outliers"], "run_pa": report["run_pa"], "pngs": pngs, "aisbench": ais_found,
        "independent_check": {"node": node, "concurrency": args.check_concurrency, "figures": check,
                              "comparison": comparison},
        "steps_table": [{k: e[k] for k in ("target", "kind", "concurrency", "output_tokens_per_s", "requests_per_s")}
                        | {"ttft_ms": e["ttft_ms"], "tpot_ms": e["tpot_ms"]} for e in results],
        "problems": problems,
    }
    if proc.returncode != 0:
        problems.append("benchmark.yml exited %d" % proc.returncode)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 1 if problems else 0


def bench(args):
    inventory = Path("/tmp/bench-benchmark-inventory")
    name = "benchfleet"
    up = [str(BIN / "python"), str(REPO / "sandbox" / "fleet.py"), "up", "--name", name, "--inventory", str(inventory),
          "--nodes", "3", "--profiles", "800i-a2-64g", "--layouts", "", "--lb", "--port-base", str(args.port_base)]
    subprocess.run(up, check=True)
    try:
        (inventory / "host_vars").mkdir(exist_ok=True)
        (inventory / "host_vars" / ("%s-node3.yml" % name)).write_text(
            "---\n# made slow on purpose: every forward pass twice as long\n"
            "mindie_service_env: {MINDIE_SIM_WARMUP_S: \"2\", MINDIE_SIM_CHIP_FACTOR: \"2.0\"}\n")
        (inventory / "group_vars" / "all.yml").write_text("---\nmindie_service_env: {MINDIE_SIM_WARMUP_S: \"2\"}\n")
        report_dir = REPO / "reports" / "bench-benchmark"
        report_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "deploy.yml"),
                        "-e", json.dumps({"mindie_report_dir": str(report_dir)})], check=True, cwd=str(REPO))
        args.inventory, args.report_dir, args.slow = str(inventory), str(report_dir), "%s-node3" % name
        args.json = args.json or str(REPO / "reports" / "bench-benchmark.json")
        return run(args)
    finally:
        if not args.keep:
            subprocess.run([str(BIN / "python"), str(REPO / "sandbox" / "fleet.py"), "down", "--name", name])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--inventory", required=True)
    r.add_argument("--report-dir", default=str(REPO / "reports"))
    r.add_argument("--slow")
    r.add_argument("--json")
    r.add_argument("-e", dest="extra")
    r.add_argument("--check-concurrency", type=int, default=4)
    b = sub.add_parser("bench")
    b.add_argument("--keep", action="store_true")
    b.add_argument("--port-base", type=int, default=33540)
    b.add_argument("--json")
    b.add_argument("-e", dest="extra")
    b.add_argument("--check-concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.cmd == "run":
        args.report_dir = os.path.abspath(args.report_dir)
        return run(args)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
