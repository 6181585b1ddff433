"""Steady chat-completion traffic for the fleet benchmarks (heal_fleet.py, rollout_fleet.py).

``Traffic`` runs worker threads that each send one small OpenAI chat completion after another to an endpoint and
keep every request as ``(url, start epoch, seconds, error or None)``; ``window()`` and ``stats()`` summarise them.
It is the independent client of the zero-downtime bars: it sees only HTTP, like a user of the fleet.
"""

import json
import math
import threading
import time
import urllib.error
import urllib.request


def chat(base, max_tokens=8, content="Say hello.", timeout=60.0):
    """One chat completion at ``base`` (``http://host:port``): (seconds, error or None)."""
    body = json.dumps({"model": "qwen2_vl", "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(base.rstrip("/") + "/v1/chat/completions", data=body, method="POST",
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
    """The nearest-rank percentile of ``values`` (None when empty), rounded to the millisecond."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(math.ceil(round(pct / 100.0 * len(ordered), 9))) - 1))
    return round(ordered[index], 3)


class Traffic:
    """``workers`` threads per URL, each sending a completion, waiting ``pause`` seconds, and again, until the
    ``with`` block ends. After a failed request a thread waits ``error_pause`` so a dead endpoint is not spun on."""

    def __init__(self, urls, workers=1, pause=0.0, error_pause=0.2, send=None, join_timeout=90):
        self.urls = list(urls)
        self.pause = pause
        self.error_pause = error_pause
        self.send = send or chat
        self.join_timeout = join_timeout
        self.records = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(url,), daemon=True)
                        for url in self.urls for _ in range(workers)]
        self.started = None

    def _run(self, url):
        while not self.stop_event.is_set():
            started = time.time()
            seconds, error = self.send(url)
            with self.lock:
                self.records.append((url, started, seconds, error))
            self.stop_event.wait(self.error_pause if error else self.pause)

    def __enter__(self):
        self.started = time.time()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(self.join_timeout)

    def _chosen(self, start=None, end=None, url=None):
        with self.lock:
            return [r for r in self.records if (url is None or r[0] == url)
                    and (start is None or start <= r[1]) and (end is None or r[1] < end)]

    def window(self, start, end, url=None):
        """Requests started in [start, end): their count, failures, p50/p99 seconds of the answered ones and the
        first errors (seconds from ``start``)."""
        chosen = self._chosen(start, end, url)
        ok = [r[2] for r in chosen if r[3] is None]
        errors = [r for r in chosen if r[3] is not None]
        return {"requests": len(chosen), "failures": len(errors), "p50_s": percentile(ok, 50),
                "p99_s": percentile(ok, 99), "errors": ["%.1f s: %s" % (r[1] - start, r[3]) for r in errors[:5]]}

    def stats(self):
        """{url: {requests, failures, errors}} since the start."""
        result = {}
        for url in self.urls:
            window = self.window(self.started or 0.0, float("inf"), url)
            result[url] = {k: window[k] for k in ("requests", "failures", "errors")}
        return result

    def failed(self):
        """True when a URL had a failure or never answered."""
        return any(s["failures"] or not s["requests"] for s in self.stats().values())
