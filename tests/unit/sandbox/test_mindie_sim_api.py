"""HTTP API shapes of the simulated mindieservice_daemon, checked against MindIE-LLM 3.0's endpoint code
(src/server/endpoint: http_handler.cpp, http_server.cpp, single_req_*_interface.cpp, health_checker/).

The daemon runs as a local subprocess (see test_mindie_sim.py for the fixtures); no Docker is needed.
"""
import http.client as http_client
import json
import socket
import threading
import time

import pytest

from test_mindie_sim import Sim, _server, assets  # noqa: F401 pylint: disable=unused-import  (assets: a fixture)

VALIDATION = "Input Validation Error"


@pytest.fixture
def sim(tmp_path, assets):  # noqa: F811 pylint: disable=redefined-outer-name
    s = Sim(tmp_path, assets)
    yield s
    s.cleanup()


def raw(method, port, path, body=None, headers=None, timeout=20):
    """(status, headers dict, body bytes) without any decoding."""
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_health(sim, port=None, path="/v2/health/ready", timeout=20):
    """The first health interval after start answers 500 (SERVICE_INIT); wait for the 200."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = raw("GET", port or sim.mport, path)[0]
        if status == 200:
            return
        time.sleep(0.02)
    raise AssertionError("%s never answered 200" % path)


@pytest.fixture
def up(sim):
    proc = sim.start()
    wait_health(sim)
    yield sim
    sim.stop(proc)


def chat(**extra):
    body = {"model": "qwen2_vl", "messages": [{"role": "user", "content": "What is MindIE?"}], "max_tokens": 20}
    body.update(extra)
    return body


# ------------------------------------------------------------------ 1. validation errors

def test_validation_errors_are_422_with_the_real_error_type(up):
    port = up.port
    cases = [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]},
         "Request contains not model or model null"),
        ("/v1/chat/completions", chat(model="llama"), "Model not found"),
        ("/v1/chat/completions", chat(model=""), "Request param model must be not empty"),
        ("/v1/chat/completions", chat(model=7), "Request param model must be string"),
        ("/v1/chat/completions", {"model": "qwen2_vl"}, "Request param contains not messages or messages null"),
        ("/v1/chat/completions", chat(messages=[{"content": "hi"}]), "Request param contains not role or role null"),
        ("/v1/completions", {"prompt": "hi"}, "Request contains not model or model null"),
        ("/v1/completions", {"prompt": "hi", "model": "llama"},
         "Not found given model, please check modelName in config file."),
        ("/v1/completions", {"model": "qwen2_vl"}, "Contains not prompt or prompt null"),
        ("/generate_stream", {"parameters": {}}, "Request should contain 'inputs' and the type should be string."),
    ]
    for path, body, message in cases:
        status, headers, text = raw("POST", port, path, body)
        assert status == 422, (path, body, text)
        assert text == json.dumps({"error": message, "error_type": VALIDATION}, separators=(",", ":")).encode()
        assert headers["content-type"] == "application/json"
    # a body that is no JSON
    status, _, text = raw("POST", port, "/v1/chat/completions", b"{not json")
    assert status == 422 and json.loads(text) == {"error": "Failed to parse request context to json",
                                                  "error_type": VALIDATION}
    # /generate without `prompt` or `inputs` (or no JSON at all): the nested message of HandlePostGenerate
    for body in ({"max_tokens": 3}, b"[1, 2"):
        status, _, text = raw("POST", port, "/generate", body)
        assert status == 422
        answer = json.loads(text)
        assert answer["error_type"] == VALIDATION
        assert json.loads(answer["error"]) == {
            "Error": "`inputs` or `prompt` must be necessary and data type must be string. Additionally, the request "
                     "body must be valid json", "error_type": "validation"}
    # an unknown route: 404 without a body (cpp-httplib)
    status, _, text = raw("POST", port, "/v1/nothing", {})
    assert status == 404 and text == b""


# ------------------------------------------------------------------ 2. /generate

def test_generate_vllm_echoes_prompt_and_streams_nul_terminated_json(up):
    port = up.port
    status, _, text = raw("POST", port, "/generate", {"prompt": "What is MindIE?", "max_tokens": 12})
    assert status == 200
    answer = json.loads(text)["text"]
    assert len(answer) == 1 and answer[0].startswith("What is MindIE? ")
    generated = answer[0][len("What is MindIE? "):]
    assert generated.strip()                 # a real generation follows the echoed prompt
    # multimodal prompt: the first text part is echoed
    status, _, text = raw("POST", port, "/generate", {"prompt": [
        {"type": "image_url", "image_url": "file:///nonexistent.png"}], "max_tokens": 3})
    assert status == 422
    # the stream: raw JSON objects each ended by NUL, not SSE
    status, headers, body = raw("POST", port, "/generate", {"prompt": "What is MindIE?", "max_tokens": 12,
                                                           "stream": True})
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert not body.startswith(b"data:") and body.endswith(b"\0")
    chunks = [json.loads(part) for part in body.decode().split("\0")[:-1]]
    assert len(chunks) == 12 and all(list(c) == ["text"] and len(c["text"]) == 1 for c in chunks)
    assert "".join(c["text"][0] for c in chunks) == generated    # the stream does not echo the prompt


def test_generate_with_inputs_answers_tgi_style(up):
    status, _, text = raw("POST", up.port, "/generate", {"inputs": "What is MindIE?",
                                                         "parameters": {"max_new_tokens": 5}})
    assert status == 200
    answer = json.loads(text)
    assert list(answer) == ["generated_text"] and not answer["generated_text"].startswith("What is MindIE?")
    status, _, text = raw("POST", up.port, "/generate", {"inputs": "What is MindIE?",
                                                         "parameters": {"max_new_tokens": 5, "details": True}})
    details = json.loads(text)["details"]
    assert details["finish_reason"] == "length" and details["generated_tokens"] == 5
    # `prompt` wins when both are given (IsVllmFormat first)
    status, _, text = raw("POST", up.port, "/generate", {"inputs": "x", "prompt": "What is MindIE?", "max_tokens": 3})
    assert list(json.loads(text)) == ["text"]


# ------------------------------------------------------------------ 3. chat streaming and benchmark fields

def sse(body):
    lines = [line for line in body.decode().split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    return [line[6:] for line in lines]


def test_chat_stream_first_chunk_role_usage_in_last_content_chunk(up):
    status, headers, body = raw("POST", up.port, "/v1/chat/completions", chat(stream=True, max_tokens=8))
    assert status == 200 and headers["content-type"] == "text/event-stream"
    events = sse(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) == 1 + 8                       # role chunk + one per token, no separate usage chunk
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                     "finish_reason": None}]
    assert all("usage" not in c for c in chunks[:-1])
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length" and last["choices"][0]["delta"]["content"]
    assert last["usage"]["completion_tokens"] == 8
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 8
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "qwen2_vl" for c in chunks)
    assert "prefill_time" not in body.decode() and "batch_size" not in body.decode()
    # non-stream: no timing fields without MINDIE_LLM_BENCHMARK_ENABLE
    answer = json.loads(raw("POST", up.port, "/v1/chat/completions", chat())[2])
    assert "prefill_time" not in answer and "decode_time_arr" not in answer
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": answer["choices"][0]["message"]["content"],
                                               "tool_calls": []}


@pytest.mark.parametrize("value,enabled", [("1", True), ("2", True), ("3", False), ("yes", False)])
def test_benchmark_fields_only_with_mindie_llm_benchmark_enable(sim, value, enabled):
    proc = sim.start(MINDIE_LLM_BENCHMARK_ENABLE=value)
    answer = json.loads(raw("POST", sim.port, "/v1/chat/completions", chat(max_tokens=6))[2])
    stream = raw("POST", sim.port, "/v1/chat/completions", chat(max_tokens=6, stream=True))[2]
    last = json.loads(sse(stream)[-2])
    if enabled:
        assert isinstance(answer["prefill_time"], int) and answer["prefill_time"] > 0
        assert len(answer["decode_time_arr"]) == 5 and all(isinstance(v, int) for v in answer["decode_time_arr"])
        assert len(answer["usage"]["batch_size"]) == 6 and len(answer["usage"]["queue_wait_time"]) == 6
        assert len(last["usage"]["batch_size"]) == 6    # the stream carries the usage extras only
        assert "prefill_time" not in last and "decode_time_arr" not in last
    else:
        assert "prefill_time" not in answer and "batch_size" not in answer["usage"]
        assert "batch_size" not in last["usage"]
    sim.stop(proc)


# ------------------------------------------------------------------ 4. health

def test_health_routes_bodies_and_ports(sim):
    proc = sim.start()
    # the first health-check interval after start: live/ready are SERVICE_INIT -> 500, /health already 200
    status, _, text = raw("GET", sim.mport, "/v2/health/ready")
    assert (status, json.loads(text)) == (500, {"message": "Service is abnormal"})
    assert raw("GET", sim.mport, "/health")[0] == 200
    wait_health(sim)
    for path in ("/health", "/v2/health/live", "/v2/health/ready", "/v2/models/qwen2_vl/ready"):
        status, headers, text = raw("GET", sim.mport, path)
        assert (status, text) == (200, b""), path
        assert "content-type" not in headers or headers["content-type"] == ""
        assert raw("GET", sim.port, path)[0] == 404, path       # management routes only on the management port
    status, _, text = raw("GET", sim.mport, "/v2/models/llama/ready")
    assert status == 404 and json.loads(text) == {"error": "Model llama not found.", "error_type": "NotFoundError"}
    status, _, text = raw("GET", sim.mport, "/info")
    info = json.loads(text)
    assert status == 200 and info["models"][0]["model_id"] == "qwen2_vl"
    assert info["max_concurrent_requests"] == 32 and info["max_input_length"] == 8192
    assert raw("GET", sim.port, "/info")[0] == 404
    assert raw("GET", sim.mport, "/v1/models")[0] == 404            # business route
    assert json.loads(raw("GET", sim.port, "/v1/models")[2])["data"][0]["id"] == "qwen2_vl"
    sim.stop(proc)


def saturate(sim, count=8):
    """Keep every batch slot (maxBatchSize 1) busy with queued requests; returns the threads."""
    def one(i):
        raw("POST", sim.port, "/v1/chat/completions", chat(max_tokens=400, messages=[
            {"role": "user", "content": "Question %d: describe the scene in detail." % i}]), timeout=60)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def watch(sim, threads):
    """(ready, live) pairs polled while the load lasts."""
    seen = []
    while any(t.is_alive() for t in threads):
        ready = raw("GET", sim.mport, "/v2/health/ready")
        live = raw("GET", sim.mport, "/v2/health/live")
        seen.append((ready[0], json.loads(ready[2]) if ready[2] else None, live[0], json.loads(live[2]) if live[2] else None))
        time.sleep(0.01)
    return seen


def busy_sim(sim, threshold):
    _server(sim.config)["HealthCheckConfig"] = {"npuUsageThreshold": threshold}
    sim.config["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = 1
    # every batch slot in use is 100 % AI-core usage, and never skip the probe so busy lasts while saturated
    proc = sim.start(MINDIE_SIM_TIME_SCALE=0.05, MINDIE_SIM_HEALTH_SKIP_PERCENT=101)
    wait_health(sim)
    return proc


def test_busy_server_ready_503_live_200(sim):
    proc = busy_sim(sim, 50)
    seen = watch(sim, saturate(sim))
    busy = [s for s in seen if s[0] == 503]
    assert busy, seen
    assert all(s[1] == {"message": "Service is alive but busy. Consider reducing request frequency"} for s in busy)
    assert all(s[2] == 200 for s in seen)                        # live stays 200 throughout
    assert any(s[3] == {"message": "Service is alive but busy"} for s in seen)
    # idle again: both 200 with empty bodies
    deadline = time.time() + 10
    while raw("GET", sim.mport, "/v2/health/ready")[0] != 200 and time.time() < deadline:
        time.sleep(0.02)
    assert raw("GET", sim.mport, "/v2/health/ready")[:3:2] == (200, b"")
    assert raw("GET", sim.mport, "/v2/health/live")[:3:2] == (200, b"")
    assert raw("GET", sim.mport, "/health")[0] == 200               # /health never looks at busy
    sim.stop(proc)


def test_threshold_zero_is_never_busy(sim):
    proc = busy_sim(sim, 0)
    seen = watch(sim, saturate(sim))
    assert seen and all(s[0] == 200 and s[2] == 200 for s in seen)
    sim.stop(proc)


def test_threshold_100_saturated_is_abnormal_not_busy(sim):
    """A probe that times out with usage not above the threshold is SERVICE_ABNORMAL (the first one is forgiven)."""
    proc = busy_sim(sim, 100)
    seen = watch(sim, saturate(sim))
    assert any(s[0] == 500 and s[1] == {"message": "Service is abnormal"} and s[2] == 500 for s in seen), seen
    assert not any(s[0] == 503 for s in seen)
    sim.stop(proc)


def test_npu_usage_threshold_range_is_checked(sim):
    _server(sim.config)["HealthCheckConfig"] = {"npuUsageThreshold": 101}
    rc, out, _ = sim.run_fail()
    assert rc != 0 and "serverConfig.HealthCheckConfig.npuUsageThreshold [101] is out of bound [100]" in out


# ------------------------------------------------------------------ 5. metrics gate

@pytest.mark.parametrize("value,enabled", [(None, False), ("0", False), ("2", False), ("1", True), ("01", True)])
def test_metrics_needs_mies_service_monitor_mode_1(sim, value, enabled):
    proc = sim.start(**({} if value is None else {"MIES_SERVICE_MONITOR_MODE": value}))
    status, headers, text = raw("GET", sim.xport, "/metrics")
    if enabled:
        assert status == 200 and b"request_received_total" in text
    else:
        assert status == 500
        assert text == (b'{"error":"Environment variable MIES_SERVICE_MONITOR_MODE is not set.",'
                        b'"error_type":"Incomplete Generation"}')
        assert headers["content-type"] == "application/json"
    sim.stop(proc)


# ------------------------------------------------------------------ 6. maxLinkNum

def test_max_link_num_bounds_connections(sim):
    _server(sim.config)["maxLinkNum"] = 1
    proc = sim.start()
    held = []
    try:
        for _ in range(3):              # 1 worker thread + a queue of 2 x maxLinkNum
            sock = socket.create_connection(("127.0.0.1", sim.port))
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")      # headers never finished
            held.append(sock)
        time.sleep(0.3)
        with pytest.raises((ConnectionError, http_client.RemoteDisconnected, http_client.BadStatusLine)):
            raw("GET", sim.port, "/v1/models", timeout=5)
        # other ports have their own pools
        assert raw("GET", sim.mport, "/health")[0] == 200
    finally:
        for sock in held:
            sock.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            assert raw("GET", sim.port, "/v1/models", timeout=5)[0] == 200
            break
        except (ConnectionError, http_client.RemoteDisconnected):
            time.sleep(0.05)
    else:
        raise AssertionError("the business port did not recover after the connections closed")
    sim.stop(proc)


def test_max_link_num_queue_waits_rather_than_refuses(sim):
    _server(sim.config)["maxLinkNum"] = 2
    proc = sim.start()
    results = []

    def one():
        results.append(raw("POST", sim.port, "/v1/completions", {"model": "qwen2_vl", "prompt": "x", "max_tokens": 5})[0])
    threads = [threading.Thread(target=one) for _ in range(6)]      # 2 workers + 4 queued: all are served
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [200] * 6
    sim.stop(proc)


# ------------------------------------------------------------------ ignore_eos (infer_param.cpp AssignIgnoreEos)

def test_ignore_eos_generates_max_tokens_on_chat_and_completions(up):
    port = up.port
    status, _h, body = raw("POST", port, "/v1/chat/completions", chat(max_tokens=300))
    natural = json.loads(body)["usage"]["completion_tokens"]
    assert status == 200 and natural < 300          # the answer ends by itself (eos)
    status, _h, body = raw("POST", port, "/v1/chat/completions", chat(max_tokens=300, ignore_eos=True))
    assert status == 200 and json.loads(body)["usage"]["completion_tokens"] == 300
    status, _h, body = raw("POST", port, "/v1/completions",
                           {"model": "qwen2_vl", "prompt": "What is MindIE?", "max_tokens": 250, "ignore_eos": True})
    assert status == 200 and json.loads(body)["usage"]["completion_tokens"] == 250
    status, _h, body = raw("POST", port, "/v1/chat/completions", chat(ignore_eos="yes"))
    assert status == 422 and "ignore_eos" in json.loads(body)["error"]
