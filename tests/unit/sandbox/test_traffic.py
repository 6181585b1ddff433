"""benchmarks/traffic.py, the independent client of the fleet benchmarks, without a fleet: every request is
recorded, windows count failures and order their percentiles."""
import itertools
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import traffic  # noqa: E402


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert traffic.percentile(values, 50) == 50.0 and traffic.percentile(values, 99) == 99.0
    assert traffic.percentile([], 50) is None and traffic.percentile([0.25], 99) == 0.25


def test_workers_record_every_request_and_windows_count_failures():
    answers = itertools.chain([(0.1, None), (0.3, "HTTP 503")], itertools.repeat((0.2, None)))

    def send(_url):
        time.sleep(0.001)
        return next(answers)

    with traffic.Traffic(["http://a"], workers=2, error_pause=0.0, send=send) as client:
        time.sleep(0.2)
    window = client.window(0.0, float("inf"))
    assert window["requests"] == len(client.records) > 2
    assert window["failures"] == 1 and window["errors"][0].endswith("HTTP 503")
    assert window["p50_s"] <= window["p99_s"]
    assert client.failed() and client.stats()["http://a"]["failures"] == 1
    assert client.window(time.time() + 10, float("inf"))["requests"] == 0
