"""The simulated daemon's timing under load, as a serving benchmark sees it (issue 15).

Streamed chat completions about the guide's 1902x1080 picture, sent concurrently, measured from outside: output
tokens/s rises with concurrency up to maxBatchSize and then levels off, TTFT grows with the queue and with the
image's size, 64 GB cards beat 32 GB ones, and c concurrent requests cost what run_pa's batch of c does (the
guide's 43 tokens/s on 32G at batch 4). The daemon runs as a local subprocess (fixtures of test_mindie_sim.py).
"""
import http.client as http_client
import json
import os
import threading
import time

import pytest

from test_mindie_sim import Sim, _sched, assets, chips, chat_body  # noqa: F401 pylint: disable=unused-import
from mindie_sim import perf, textgen

SCALE = 0.05
TOKENS = 80      # the guide's max_output_length


@pytest.fixture
def sim(tmp_path, assets):
    s = Sim(tmp_path, assets)
    yield s
    s.cleanup()


def stream_one(port, image, out):
    """One streamed chat; appends (ttft, e2e, tokens) in simulated seconds."""
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = chat_body("file://" + image, max_tokens=TOKENS, stream=True, ignore_eos=True)
    start = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    first, tokens, buf = None, 0, b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            data = event.decode()[len("data: "):]
            if data == "[DONE]":
                continue
            delta = json.loads(data)["choices"][0]["delta"].get("content")
            if delta:
                tokens += 1
                if first is None:
                    first = time.monotonic() - start
    conn.close()
    out.append((first / SCALE, (time.monotonic() - start) / SCALE, tokens))


def step(port, image, concurrency):
    """``concurrency`` requests at once: (output tokens/s, TTFTs) in simulated time."""
    out = []
    threads = [threading.Thread(target=stream_one, args=(port, image, out)) for _ in range(concurrency)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    wall = (time.monotonic() - start) / SCALE
    assert len(out) == concurrency and all(r[2] == TOKENS for r in out)
    return sum(r[2] for r in out) / wall, sorted(r[0] for r in out)


def start(sim, max_batch=4, **extra):
    _sched(sim.config).update(maxBatchSize=max_batch, maxPrefillBatchSize=0)
    return sim.start(MINDIE_SIM_TIME_SCALE=SCALE, **extra)


def test_throughput_rises_to_max_batch_size_then_levels_off_and_ttft_grows_with_the_queue(sim):
    proc = start(sim, max_batch=4)
    image = os.path.join(sim.images, "sample.jpg")
    rate1, ttft1 = step(sim.port, image, 1)
    rate4, ttft4 = step(sim.port, image, 4)
    rate8, ttft8 = step(sim.port, image, 8)
    assert rate4 > 1.8 * rate1, (rate1, rate4)
    # beyond maxBatchSize the extra requests wait for a slot: no more throughput
    assert abs(rate8 - rate4) / rate4 < 0.2, (rate4, rate8)
    # prefills run one after another: the fourth request's first token comes about 4 prefills in
    prefill = perf.prefill_ms(guide_tokens(), chips()[0], 8) / 1000.0
    assert ttft4[0] < 1.6 * prefill and ttft4[-1] > 3 * prefill, (prefill, ttft4)
    assert ttft8[-1] > 1.5 * ttft4[-1], (ttft4, ttft8)
    # the guide's run_pa at batch 4 on 32G: 320 tokens in 7.44 s = 43 tokens/s
    assert abs(rate4 - 43.0) / 43.0 < 0.15, rate4
    sim.stop(proc)


def test_ttft_grows_with_the_images_size(sim):
    proc = start(sim)
    small, large = [], []
    for _ in range(3):
        stream_one(sim.port, os.path.join(sim.images, "sample.png"), small)      # 640x480
        stream_one(sim.port, os.path.join(sim.images, "sample.jpg"), large)      # 1902x1080
    # the model: about 0.35 s against 1.0 s on 32G; the medians, so that one request slowed by a busy machine
    # does not decide
    assert sorted(r[0] for r in large)[1] > 1.5 * sorted(r[0] for r in small)[1], (small, large)
    sim.stop(proc)


def test_64g_cards_beat_32g_cards(sim):
    proc = start(sim)
    image = os.path.join(sim.images, "sample.jpg")
    rate32 = step(sim.port, image, 4)[0]
    sim.stop(proc)
    sim.hardware["chips"] = chips("910B3", total=65536)
    proc = start(sim)
    rate64 = step(sim.port, image, 4)[0]
    assert rate64 > 1.3 * rate32, (rate32, rate64)
    sim.stop(proc)


def guide_tokens():
    return textgen.prompt_tokens(["Explain the details in the image."],
                                 [{"width": 1902, "height": 1080, "format": "JPEG"}], 1)
