"""benchmarks/heal_fleet.py's timing logic, without Docker: readiness after a kill counts only once the
endpoint went down (a lucky answer of the dying daemon is not 'ready again'), and watchers count failures."""
import importlib.util
import os
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# (the scripts import benchmarks/traffic.py from beside them, as they do when run)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


@pytest.fixture
def heal():
    spec = importlib.util.spec_from_file_location("heal_fleet", os.path.join(ROOT, "benchmarks", "heal_fleet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scripted(answers):
    """complete() answering from a list per URL (None = answered), the last answer repeated."""
    calls = {}

    def complete(url, timeout=10.0):
        seq = answers[url]
        index = calls.get(url, 0)
        calls[url] = index + 1
        return seq[min(index, len(seq) - 1)]
    return complete, calls


def test_ready_again_counts_only_after_the_endpoint_went_down(heal, monkeypatch):
    complete, calls = scripted({"a": [None, None, "refused", "refused", None], "b": [None]})
    monkeypatch.setattr(heal, "complete", complete)
    monkeypatch.setattr(heal.time, "sleep", lambda s: None)
    found = heal.wait_ready(["a", "b"], time.monotonic(), 30, must_drop=["a"])
    assert found["a"] is not None and found["b"] is not None
    assert calls["a"] == 5 and calls["b"] == 1      # a: two early answers ignored, ready at the fifth


def test_never_back_is_none(heal, monkeypatch):
    complete, _calls = scripted({"a": ["refused"]})
    monkeypatch.setattr(heal, "complete", complete)
    assert heal.wait_ready(["a"], time.monotonic(), 0.3) == {"a": None}


def test_watchers_count_failures(heal, monkeypatch):
    complete, _calls = scripted({"ok": [None], "bad": [None, "HTTP 503"]})
    monkeypatch.setattr(heal, "complete", complete)
    with heal.watch(["ok", "bad"]) as watchers:
        time.sleep(0.6)
    stats = watchers.stats()
    assert stats["ok"]["failures"] == 0 and stats["ok"]["requests"] >= 2
    assert stats["bad"]["failures"] >= 1 and "HTTP 503" in stats["bad"]["errors"][0]
    assert watchers.failed()
