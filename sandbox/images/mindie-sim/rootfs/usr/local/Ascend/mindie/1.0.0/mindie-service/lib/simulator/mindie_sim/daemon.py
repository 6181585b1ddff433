"""Simulated mindieservice_daemon (MindIE Service 1.0.0) for Qwen2-VL.

See sandbox/images/mindie-sim/README.md for the environment knobs and the models used.
"""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import DEFECT, VERSION, common, config as cfgmod, model as modelmod, perf, textgen, tls as tlsmod

FAILED_INIT = "Failed to init endpoint! Please check the service log or console output."
PROG = "mindieservice_daemon"
# The backend worker program, beside the daemon (bin/), as MindIE 1.0 ships it: its command line names
# mindie_llm_backend_connector, as the real workers' do (mindie_sim/npu_worker.py is only its implementation).
WORKER_SCRIPT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bin",
                                              "mindie_llm_backend_connector"))

# The histograms' bucket edges of MindIE-LLM 3.0's /metrics (prometheus_metrics.cpp)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
E2E_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
TOKEN_BUCKETS = (10, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
# avg_prompt/generation_throughput_toks_per_s: the tokens of the requests that finished within this window
THROUGHPUT_WINDOW_S = 10.0


class HttpError(Exception):
    """A refused request: MindIE answers {"error": message, "error_type": <type of the status>}."""
    TYPES = {400: "Bad Request", 404: "NotFoundError", 422: "Input Validation Error", 424: "Generation Error",
             500: "Incomplete Generation", 503: "Service Unavailable"}   # g_exceptionInfo (http_rest_resource.h)

    def __init__(self, status, message, kind=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind or self.TYPES.get(status, "Input Validation Error")


class Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value):
        self.total += 1
        self.sum += value
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1


# health_checker.cpp / simulate_task_runner.cpp / simulate_request_executor.cpp (MindIE-LLM 3.0)
HEALTH_INTERVAL_S = 5.0         # checkIntervalSeconds; also the AI-core sampling window (3 samples in 5 s)
PROBE_TIMEOUT_S = 5.0           # SIMULATE_WAIT_TIME_SECONDS: the 1-token probe request must answer within it
SKIP_EVERY_N_LOOPS = 18         # SIMULATE_SKIP_EVERY_N_LOOPS


class Engine:
    """Scheduler, metrics, health checker and deterministic generation."""

    def __init__(self, settings, chip, model_config, kv_mb, logger):
        self.s = settings
        self.chip = chip
        self.model_config = model_config
        self.logger = logger
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(settings["max_batch"])
        # One NPU group runs one forward pass at a time: prefills go one after another (a request admitted behind
        # others waits for theirs, so TTFT grows with the queue), and the decode steps of the running batch pause
        # while a prefill runs (continuous batching schedules a prefill before the next decode step).
        self.prefill_lock = threading.Lock()
        self.prefill_idle = threading.Event()
        self.prefill_idle.set()
        self.prefills = 0
        self.running = 0
        self.waiting = 0
        self.state = "loading"
        self.health = "init"        # SERVICE_INIT -> normal / busy / abnormal (HealthChecker::mServiceStatus)
        self.aicore = 0             # last sampled AI-core usage, %
        self.counters = {"request_received_total": 0, "request_success_total": 0,
                         "request_failed_total": 0, "prompt_tokens_total": 0, "generation_tokens_total": 0}
        self.ttft = Histogram(TTFT_BUCKETS)
        self.tpot = Histogram(TPOT_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self.prompt_hist = Histogram(TOKEN_BUCKETS)
        self.generation_hist = Histogram(TOKEN_BUCKETS)
        self.finished = []          # (end epoch, prompt tokens, generation tokens) within THROUGHPUT_WINDOW_S
        per_token = 4.0 * int(model_config.get("num_hidden_layers", 28)) * \
            int(model_config.get("num_key_value_heads", 4)) * \
            (int(model_config.get("hidden_size", 3584)) // int(model_config.get("num_attention_heads", 28))) / \
            max(settings["world_size"], 1)
        self.kv_tokens = max(int(kv_mb * 2 ** 20 / per_token), 1)
        self.held_tokens = 0
        threading.Thread(target=self._health_loop, name="HealthChecker", daemon=True).start()

    def count(self, name, value=1):
        with self.lock:
            self.counters[name] += value

    # -------- health checker (3.0)
    def aicore_usage(self):
        """Simulated AI-core usage in %: the share of the batch slots (maxBatchSize) in use."""
        with self.lock:
            return min(100, int(100 * self.running / max(self.s["max_batch"], 1)))

    def _probe(self, result):
        """The 1-token simulate request: it needs a batch slot and one prefill within PROBE_TIMEOUT_S."""
        scale = common.time_scale()
        start = time.time()
        if not self.slots.acquire(timeout=PROBE_TIMEOUT_S * scale):
            result.append("timeout")
            return
        try:
            common.sim_sleep(perf.prefill_ms(1, self.chip, self.s["world_size"]) / 1000.0)
        finally:
            self.slots.release()
        result.append("success" if time.time() - start <= PROBE_TIMEOUT_S * scale else "timeout")

    def _health_loop(self):
        scale = common.time_scale()
        while self.state == "loading":
            time.sleep(0.02)
        if self.state != "ready":
            return
        time.sleep(HEALTH_INTERVAL_S * scale)     # WaitForLlmEngineReady: one more interval, then NORMAL
        if self.state != "ready":
            return
        self.health = "normal"
        threshold = self.s.get("npu_usage_threshold", 0)
        if not threshold:                         # 0: the simulate-inference task is not enabled
            return
        skip_percent = common.env_float("MINDIE_SIM_HEALTH_SKIP_PERCENT", 50.0)   # SIMULATE_SKIP_AICORE_PERCENT
        last_util, loops, suppressed = -1, 0, False
        while self.state == "ready":
            run = True
            if last_util >= skip_percent:         # ShouldRunSimulate
                loops += 1
                run = loops >= SKIP_EVERY_N_LOOPS
                if run:
                    loops = 0
            else:
                loops = 0
            result = []
            prober = threading.Thread(target=self._probe, args=(result,), daemon=True) if run else None
            if prober:
                prober.start()
            util = 0
            for _ in range(3):                    # CheckAicoreUtilization: max of 3 samples over the window
                util = max(util, self.aicore_usage())
                time.sleep(HEALTH_INTERVAL_S * scale / 3)
            if prober:
                prober.join()
            self.aicore = util
            outcome = result[0] if result else "success"    # a skipped probe counts as a success
            if outcome == "timeout" and util > threshold:
                status = "busy"
            elif outcome == "timeout":
                status = "abnormal"
            else:
                status = "normal"
            if status == "abnormal" and not suppressed:     # the first abnormal result is suppressed
                suppressed, status = True, "normal"
            elif status != "abnormal":
                suppressed = False
            if status != self.health:
                self.logger.info("HealthChecker: The simulate infer health check result is SERVICE_%s "
                                 "(AICore usage %d%%, threshold %d%%)." % (status.upper(), util, threshold))
            self.health = status
            last_util = util

    # -------- generation
    def _prefill(self, prefill_ms):
        """One prefill, after the ones admitted before it; decode steps wait while any prefill is queued or runs."""
        with self.lock:
            self.prefills += 1
            self.prefill_idle.clear()
        try:
            with self.prefill_lock:
                common.sim_sleep(prefill_ms / 1000.0)
        finally:
            with self.lock:
                self.prefills -= 1
                if not self.prefills:
                    self.prefill_idle.set()

    def generate(self, texts, images, prompt_tokens, max_tokens, ignore_eos=False, emit=None, stats=None):
        """Run one request through the simulated batch scheduler (stats: filled before the first emit)."""
        key = textgen.answer_key(texts, images)
        tokens, finish = textgen.answer_tokens(key, images, limit=max_tokens, ignore_eos=ignore_eos)
        ws = self.s["world_size"]
        queued = time.time()
        with self.lock:
            self.waiting += 1
        self.slots.acquire()
        with self.lock:
            self.waiting -= 1
            self.running += 1
            self.held_tokens += prompt_tokens + len(tokens)
        wait_us = [int((time.time() - queued) * 1e6)]
        decode, batches = [], []
        if stats is not None:
            stats.update(batch_sizes=batches, queue_wait_us=wait_us)
        try:
            prefill = perf.prefill_ms(prompt_tokens, self.chip, ws)
            self._prefill(prefill)
            first_at = time.time()
            with self.lock:
                batches.append(self.running)
            for index, tok in enumerate(tokens):
                if index > 0:
                    self.prefill_idle.wait()
                    with self.lock:
                        batch = self.running
                    step = perf.decode_step_ms(batch, self.chip, ws)
                    common.sim_sleep(step / 1000.0)
                    decode.append(round(step, 3))
                    batches.append(batch)
                    wait_us.append(0)
                if emit is not None:
                    emit(index, tok, index == len(tokens) - 1, finish)
        finally:
            with self.lock:
                self.running -= 1
                self.held_tokens -= prompt_tokens + len(tokens)
            self.slots.release()
        scale = common.time_scale() or 1.0
        with self.lock:
            self.counters["request_success_total"] += 1
            self.counters["prompt_tokens_total"] += prompt_tokens
            self.counters["generation_tokens_total"] += len(tokens)
            # [I] the time to the first token counts the request's waits (for a batch slot, for the prefills admitted
            # before it) too, as a client sees it
            self.ttft.observe((first_at - queued) / scale)
            for step in decode:
                self.tpot.observe(step / 1000.0)
            self.e2e.observe((time.time() - queued) / scale)
            self.prompt_hist.observe(prompt_tokens)
            self.generation_hist.observe(len(tokens))
            self.finished.append((time.time(), prompt_tokens, len(tokens)))
        return {"tokens": tokens, "text": "".join(tokens), "finish": finish,
                "prefill_ms": round(prefill, 3), "decode_ms": decode,
                "prompt_tokens": prompt_tokens, "batch_sizes": batches,
                "queue_wait_us": wait_us}

    def throughput(self, now=None):
        """(prompt, generation) tokens per second of the requests that finished in the last THROUGHPUT_WINDOW_S
        (simulated seconds), as avg_prompt/generation_throughput_toks_per_s report them. Call with the lock held."""
        now = time.time() if now is None else now
        window = THROUGHPUT_WINDOW_S * (common.time_scale() or 1.0)
        self.finished = [f for f in self.finished if now - f[0] <= window]
        return (sum(f[1] for f in self.finished) / THROUGHPUT_WINDOW_S,
                sum(f[2] for f in self.finished) / THROUGHPUT_WINDOW_S)

    def metrics_text(self):
        """MindIE-LLM 3.0's /metrics: its families, types, help texts and bucket edges (prometheus_metrics.cpp), in
        its registration order, each labelled model_name. What the simulator has no part of (CPU swap, prefix
        cache, preemption) stays 0."""
        label = 'model_name="%s"' % self.s["model_name"]
        with self.lock:
            counters = dict(self.counters)
            running, waiting = self.running, self.waiting
            usage = min(1.0, self.held_tokens / float(self.kv_tokens))
            prompt_rate, generation_rate = self.throughput()
            received = counters["request_received_total"]
            failed_perc = (counters["request_failed_total"] / float(received)) if received else (
                1.0 if counters["request_failed_total"] else 0.0)
            families = [
                ("request_received_total", "counter", "Count of received requests.", counters["request_received_total"]),
                ("request_success_total", "counter", "Count of successfully processed requests.",
                 counters["request_success_total"]),
                ("request_failed_total", "counter", "Count of failed requests.", counters["request_failed_total"]),
                ("num_requests_running", "gauge", "Number of requests currently running on GPU.", running),
                ("num_requests_waiting", "gauge", "Number of requests waiting to be processed.", waiting),
                ("num_requests_swapped", "gauge", "Number of requests swapped to CPU.", 0),
                ("avg_prompt_throughput_toks_per_s", "gauge", "Average prefill throughput in tokens/s.", prompt_rate),
                ("avg_generation_throughput_toks_per_s", "gauge", "Average generation throughput in tokens/s.",
                 generation_rate),
                ("time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.", self.ttft),
                ("time_per_output_token_seconds", "histogram", "Histogram of time per output token in seconds.",
                 self.tpot),
                ("e2e_request_latency_seconds", "histogram", "Histogram of end to end request latency in seconds.",
                 self.e2e),
                ("failed_request_perc", "gauge", "Requests failure rate. 1 means 100 percent usage.", failed_perc),
                ("request_prompt_tokens", "histogram", "Number of prefill tokens processed.", self.prompt_hist),
                ("request_generation_tokens", "histogram", "Number of generation tokens processed.",
                 self.generation_hist),
                ("prompt_tokens_total", "counter", "Number of prefill tokens processed.", counters["prompt_tokens_total"]),
                ("generation_tokens_total", "counter", "Number of generation tokens processed.",
                 counters["generation_tokens_total"]),
                ("npu_cache_usage_perc", "gauge", "NPU KV-cache usage. 1 means 100 percent usage.", usage),
                ("cpu_cache_usage_perc", "gauge", "CPU KV-cache usage. 1 means 100 percent usage.", 0.0),
                ("npu_prefix_cache_hit_rate", "gauge", "NPU prefix cache block hit rate..", 0.0),
                ("num_preemptions_total", "counter", "Cumulative number of preemption from the engine.", 0),
            ]
            out = []
            for name, kind, help_text, value in families:
                out += ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
                if kind == "histogram":
                    for edge, cnt in zip(value.buckets, value.counts):
                        out.append('%s_bucket{%s,le="%s"} %d' % (name, label, edge, cnt))
                    out.append('%s_bucket{%s,le="+Inf"} %d' % (name, label, value.total))
                    out.append("%s_sum{%s} %s" % (name, label, repr(value.sum)))
                    out.append("%s_count{%s} %d" % (name, label, value.total))
                elif isinstance(value, float):
                    out.append("%s{%s} %s" % (name, label, repr(value)))
                else:
                    out.append("%s{%s} %d" % (name, label, value))
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ HTTP layer

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True     # cpp-httplib's listen sets SO_REUSEADDR; the free-port check does not
    allow_reuse_port = False
    request_queue_size = 128
    tls_context = None
    logger = None
    handshake_timeout = 10.0
    _link_guard = threading.Lock()

    def process_request(self, request, client_address):
        """maxLinkNum (http_server.cpp HttpServerInitHttpLibConfig): maxLinkNum worker threads, each serving one
        connection, and a queue of 2 x maxLinkNum connections; a connection beyond both is accepted and closed at once
        without an answer (cpp-httplib's enqueue fails: "[ThreadPoolMonitor] enqueue fail")."""
        limit = getattr(self.RequestHandlerClass, "max_link", None)
        if not limit:
            return super().process_request(request, client_address)
        with Server._link_guard:
            state = self.__dict__.setdefault("_link_state", {"in": 0, "workers": threading.Semaphore(limit)})
            if state["in"] >= 3 * limit:
                waiting = state["in"] - limit
                state = None
            else:
                state["in"] += 1
        if state is None:
            log = getattr(self.RequestHandlerClass, "sim_logger", None)
            if log is not None:
                log.error("[ThreadPoolMonitor] enqueue fail: wait num is %d, max is %d" % (waiting, 2 * limit),
                          console=False)
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            request.close()
            return None
        thread = threading.Thread(target=self._linked, args=(request, client_address, state), daemon=True)
        thread.start()
        return None

    def _linked(self, request, client_address, state):
        state["workers"].acquire()
        try:
            self.process_request_thread(request, client_address)
        finally:
            state["workers"].release()
            with Server._link_guard:
                state["in"] -= 1

    def finish_request(self, request, client_address):
        """With TLS, the handshake runs in the connection's own thread (a slow client blocks nobody)."""
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(self.handshake_timeout)
        try:
            conn = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            if self.logger is not None:
                self.logger.warning("TLS handshake with %s:%d failed: %s" % (client_address[0], client_address[1], exc))
            return None
        conn.settimeout(None)
        try:
            return super().finish_request(conn, client_address)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()


def stoi(value):
    """std::stoi: optional blanks and sign, then the leading digits; None when there are none."""
    match = re.match(r"\s*([+-]?\d+)", value or "")
    return int(match.group(1)) if match else None


def benchmark_enabled():
    """MINDIE_LLM_BENCHMARK_ENABLE: 1 (sync) or 2 (async) enable the performance fields, anything else is off."""
    return stoi(os.environ.get("MINDIE_LLM_BENCHMARK_ENABLE", "0")) in (1, 2)


def monitor_enabled():
    """GET /metrics answers only when std::stoi(MIES_SERVICE_MONITOR_MODE) == 1 (PrometheusMetrics)."""
    return stoi(os.environ.get("MIES_SERVICE_MONITOR_MODE", "")) == 1


VALIDATION_GENERATE = ('{"Error": "`inputs` or `prompt` must be necessary and data type must be string. Additionally, '
                       'the request body must be valid json", "error_type": "validation"}')
BUSY_LIVE = {"message": "Service is alive but busy"}
BUSY_READY = {"message": "Service is alive but busy. Consider reducing request frequency"}
ABNORMAL = {"message": "Service is abnormal"}
MODEL_ROUTE = re.compile(r"^/v2/models/([\w\-.]+)/(ready|config)$|^/v2/models/([\w\-.]+)$|^/v1/models/([\w\-.]+)$")


def make_handler(engine, roles, logger):
    monitor = monitor_enabled()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "MindIE-Server"
        sys_version = ""
        max_link = engine.s.get("max_link", 1000)     # Server.process_request: worker threads, queue twice that
        sim_logger = logger

        def log_message(self, fmt, *args):
            logger.info("%s %s" % (self.address_string(), fmt % args))

        def version_string(self):
            return ""

        def send_response(self, code, message=None):
            """cpp-httplib sends no Server header."""
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

        # -------- helpers (HttpRestResource::ResponseWithBody: every answer says Connection: close)
        def send_body(self, status, body, ctype):
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def send_json(self, status, payload, indent=None):
            text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, indent=indent,
                                                                      separators=None if indent else (",", ":"))
            self.send_body(status, text.encode("utf-8"), "application/json")

        def send_error_json(self, status, message, kind=None):
            self.send_json(status, {"error": message, "error_type": kind or HttpError.TYPES[status]})

        def send_nobody(self, status):
            self.send_body(status, b"", None)

        def send_text(self, status, text, ctype="text/plain; charset=utf-8"):
            self.send_body(status, text.encode("utf-8"), ctype)

        def start_stream(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True

        def chunk(self, data):
            raw = data.encode("utf-8")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
            self.wfile.flush()

        def end_stream(self):
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def read_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                return None
            return body if isinstance(body, dict) else None

        # -------- routing (which routes each port serves: http_server.cpp CreateHttpServerPoint)
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if "management" in roles and self.management_get(path):
                return None
            if "metrics" in roles and path == "/metrics":
                if not monitor:
                    return self.send_error_json(500, "Environment variable MIES_SERVICE_MONITOR_MODE is not set.")
                return self.send_text(200, engine.metrics_text())
            if "business" in roles and self.business_get(path):
                return None
            return self.send_nobody(404)

        def health_gate(self):
            """CheckHealthAndStop: 503 without a body while the daemon is not (or no longer) healthy."""
            if engine.state != "ready":
                self.send_nobody(503)
                return True
            return False

        def management_get(self, path):
            match = MODEL_ROUTE.match(path)
            if path in ("/v2/health/live", "/v2/health/ready"):
                if not self.health_gate():
                    live = path.endswith("live")
                    if engine.health == "normal":
                        self.send_nobody(200)
                    elif engine.health == "busy":
                        self.send_json(200 if live else 503, BUSY_LIVE if live else BUSY_READY)
                    else:                       # SERVICE_INIT (the first interval after start) or abnormal
                        self.send_json(500, ABNORMAL)
                return True
            if path == "/health":
                if not self.health_gate():
                    self.send_nobody(200)
                return True
            if match and match.group(2) == "ready":
                if not self.health_gate() and self.model_known(match.group(1)):
                    self.send_nobody(200)
                return True
            if path == "/info":
                if not self.health_gate():
                    self.send_json(200, self.info())
                return True
            return False

        def model_known(self, name):
            if name == engine.s["model_name"]:
                return True
            self.send_error_json(404, "Model %s not found." % name)
            return False

        def info(self):
            """JsonParse::HandleGetInfo (TGI style)."""
            return {"docker_label": None, "max_batch_total_tokens": engine.s["max_prefill_tokens"], "max_best_of": 1,
                    "max_concurrent_requests": engine.s["max_batch"], "max_stop_sequences": None,
                    "max_waiting_tokens": None, "sha": None, "validation_workers": None, "version": VERSION,
                    "waiting_served_ratio": None,
                    "models": [{"model_device_type": "npu", "model_dtype": engine.model_config.get("torch_dtype"),
                                "model_id": engine.s["model_name"], "model_pipeline_tag": "text-generation",
                                "model_sha": None, "max_total_tokens": engine.s["max_seq_len"]}],
                    "max_input_length": engine.s["max_input_len"]}

        def business_get(self, path):
            match = MODEL_ROUTE.match(path)
            if path == "/v1/models":
                self.send_json(200, {"data": [{"id": engine.s["model_name"], "object": "model",
                                               "owned_by": "MindIE Server", "parent": "null",
                                               "root": engine.s["weight_path"]}], "object": "list"}, indent=4)
                return True
            if match and match.group(4):
                if self.model_known(match.group(4)):
                    self.send_json(200, {"id": engine.s["model_name"], "object": "model",
                                         "created": int(engine.started), "owned_by": "MindIE Server"})
                return True
            return False

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            routes = {"/v1/chat/completions": self.chat, "/v1/completions": self.completions,
                      "/generate": self.generate, "/generate_stream": self.generate_stream,
                      "/infer": self.infer}
            if "business" not in roles or path not in routes:
                return self.send_nobody(404)
            engine.count("request_received_total")
            try:
                if engine.state != "ready":
                    raise HttpError(503, "The service has been stopped")
                body = self.read_body()
                if body is None:
                    if path == "/generate":
                        raise HttpError(422, VALIDATION_GENERATE)
                    raise HttpError(422, "Failed to parse request context to json")
                routes[path](body)
            except HttpError as exc:
                engine.count("request_failed_total")
                logger.error("request %s failed: %s" % (path, exc.message), console=False)
                self.send_error_json(exc.status, exc.message, exc.kind)
            except (BrokenPipeError, ConnectionResetError):
                engine.count("request_failed_total")

        # -------- request parsing
        def check_model(self, body, missing, not_found):
            """OpenAI routes: `model` is required and must be the served modelName (422 otherwise)."""
            name = body.get("model")
            if name is None:
                raise HttpError(422, missing)
            if not isinstance(name, str):
                raise HttpError(422, "Request param model must be string")
            if not name:
                raise HttpError(422, "Request param model must be not empty")
            if name != engine.s["model_name"]:
                raise HttpError(422, not_found)
            return name

        def collect(self, content, chat_messages=0):
            texts, images = [], []
            try:
                if chat_messages:
                    for msg in content:
                        if not isinstance(msg, dict) or msg.get("role") is None:
                            raise HttpError(422, "Request param contains not role or role null")
                        if msg["role"] not in ("system", "assistant", "user", "tool"):
                            raise HttpError(422, "Request param contains role must be system, assistant, user or tool")
                        if msg.get("content") is None and msg["role"] != "assistant":
                            raise HttpError(422, "Request param contains not content or content null")
                        textgen.parse_content(msg.get("content"), texts, images)
                else:
                    textgen.parse_content(content, texts, images)
            except textgen.PromptError as exc:
                raise HttpError(422, str(exc))
            tokens = textgen.prompt_tokens(texts, images, chat_messages)
            if tokens > engine.s["max_input_len"]:
                raise HttpError(422, "The input length %d exceeds maxInputTokenLen %d."
                                % (tokens, engine.s["max_input_len"]))
            return texts, images, tokens

        def limit(self, value, prompt_tokens, name="max_tokens"):
            room = max(engine.s["max_seq_len"] - prompt_tokens, 1)
            if value is None:
                return min(engine.s["max_iter"], room)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise HttpError(422, "%s must be an integer greater than 0, but got %r." % (name, value))
            return min(value, room)

        def stream_flag(self, body):
            value = body.get("stream", False)
            if not isinstance(value, bool):
                raise HttpError(422, "stream must be boolean type.")
            return value

        def ignore_eos(self, body):
            """OpenAI bodies' ignore_eos (infer_param.cpp AssignIgnoreEos): an optional JSON boolean."""
            value = body.get("ignore_eos")
            if value is None:
                return False
            if not isinstance(value, bool):
                raise HttpError(422, "Parameter ignore_eos must be boolean type.")
            return value

        def usage(self, result, with_perf=True):
            out = {"prompt_tokens": result["prompt_tokens"], "completion_tokens": len(result["tokens"]),
                   "total_tokens": result["prompt_tokens"] + len(result["tokens"])}
            if with_perf and benchmark_enabled():
                out["batch_size"] = result["batch_sizes"]
                out["queue_wait_time"] = result["queue_wait_us"]
            return out

        @staticmethod
        def timing(payload, result):
            """prefill_time / decode_time_arr (integer ms) only with MINDIE_LLM_BENCHMARK_ENABLE (3.0)."""
            if benchmark_enabled():
                payload["prefill_time"] = int(round(result["prefill_ms"]))
                payload["decode_time_arr"] = [int(round(step)) for step in result["decode_ms"]]
            return payload

        def request_id(self):
            with engine.lock:
                engine.request_seq = getattr(engine, "request_seq", -1) + 1
                return "endpoint_common_%d" % engine.request_seq

        # -------- endpoints
        def chat(self, body):
            """single_req_vllm_openai_infer_interface.cpp (openAiSupport "vllm", the default)."""
            name = self.check_model(body, "Request contains not model or model null", "Model not found")
            messages = body.get("messages")
            if messages is None:
                raise HttpError(422, "Request param contains not messages or messages null")
            if not isinstance(messages, list) or not messages:
                raise HttpError(422, "Request param messages not arr or arr is empty")
            stream = self.stream_flag(body)
            texts, images, ptok = self.collect(messages, chat_messages=len(messages))
            max_tokens = self.limit(body.get("max_tokens", body.get("max_completion_tokens")), ptok)
            eos = self.ignore_eos(body)
            rid = self.request_id()
            if stream:
                self.start_stream()

                def head():
                    return {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": name}
                first = head()
                first["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "logprobs": None, "finish_reason": None}]
                self.chunk("data: %s\n\n" % json.dumps(first, ensure_ascii=False))

                def emit(index, tok, last, finish):
                    chunk = head()
                    chunk["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": tok},
                                         "logprobs": None, "finish_reason": finish if last else None}]
                    if last:     # usage rides in the last content chunk
                        chunk["usage"] = self.usage(dict(stats, prompt_tokens=ptok, tokens=[None] * (index + 1)))
                    self.chunk("data: %s\n\n" % json.dumps(chunk, ensure_ascii=False))
                stats = {}
                engine.generate(texts, images, ptok, max_tokens, ignore_eos=eos, emit=emit, stats=stats)
                self.chunk("data: [DONE]\n\n")
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens, ignore_eos=eos)
            self.send_json(200, self.timing({
                "id": rid, "object": "chat.completion", "created": int(time.time()), "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result["text"], "tool_calls": []},
                             "logprobs": None, "finish_reason": "length" if result["finish"] == "length" else "stop"}],
                "usage": self.usage(result)}, result))

        def completions(self, body):
            """single_req_vllm_openai_completions_infer_interface.cpp."""
            name = self.check_model(body, "Request contains not model or model null",
                                    "Not found given model, please check modelName in config file.")
            prompt = body.get("prompt")
            if prompt is None:
                raise HttpError(422, "Contains not prompt or prompt null")
            if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompt = prompt[0]
            if isinstance(prompt, list) and not prompt:
                raise HttpError(422, "Prompt array cannot be empty.")
            if not isinstance(prompt, (str, list)):
                raise HttpError(422, "The type of prompt is abnormal,prompt must be str or integer list.")
            stream = self.stream_flag(body)
            texts, images, ptok = self.collect(prompt)
            max_tokens = self.limit(body.get("max_tokens", 16), ptok)
            eos = self.ignore_eos(body)
            rid = self.request_id()
            if stream:
                self.start_stream()

                def emit(index, tok, last, finish):
                    chunk = {"id": rid, "object": "text_completion", "created": int(time.time()), "model": name,
                             "choices": [{"index": 0, "text": tok, "logprobs": None, "stop_reason": None,
                                          "finish_reason": ("length" if finish == "length" else "stop") if last else None}]}
                    if last:     # usage rides in the last content chunk
                        chunk["usage"] = self.usage(dict(stats, prompt_tokens=ptok, tokens=[None] * (index + 1)))
                    self.chunk("data: %s\n\n" % json.dumps(chunk, ensure_ascii=False))
                stats = {}
                engine.generate(texts, images, ptok, max_tokens, ignore_eos=eos, emit=emit, stats=stats)
                self.chunk("data: [DONE]\n\n")
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens, ignore_eos=eos)
            self.send_json(200, {"id": rid, "object": "text_completion", "created": int(time.time()), "model": name,
                                 "choices": [{"index": 0, "text": result["text"], "logprobs": None,
                                              "stop_reason": None,
                                              "finish_reason": "length" if result["finish"] == "length" else "stop"}],
                                 "usage": self.usage(result)})

        def generate(self, body):
            """POST /generate: `prompt` -> vLLM style, else `inputs` -> TGI style (HandlePostGenerate)."""
            if body.get("prompt") is not None:
                return self.generate_vllm(body)
            if body.get("inputs") is not None:
                return self.generate_tgi(body, stream=False)
            raise HttpError(422, VALIDATION_GENERATE)

        def generate_vllm(self, body):
            """single_req_vllm_infer_interface.cpp: answer = prompt text + " " + generation; stream = JSON + "\\0"."""
            model = body.get("model")
            if model is not None and not isinstance(model, str):
                raise HttpError(422, "Model must be string type.")
            prompt = body["prompt"]
            if isinstance(prompt, list):
                if not prompt:
                    raise HttpError(422, "Prompt arr is empty")
                echoed = next((str(p.get("text", "")) for p in prompt
                               if isinstance(p, dict) and p.get("type") == "text" and "text" in p), "")
            elif isinstance(prompt, str):
                # single_req_vllm_infer_interface.cpp: UTF-16 length in (0, maxRequestLength MB]
                limit = engine.s.get("max_request_mb", 40) * 2 ** 20
                length = len(prompt.encode("utf-16-le")) // 2
                if not 0 < length <= limit:
                    raise HttpError(422, "Prompt must be necessary and data type must be string and length in "
                                         "(0, %d], but the length of inputs is %d" % (limit, length))
                echoed = prompt
            else:
                raise HttpError(422, "The type of prompt is abnormal")
            stream = self.stream_flag(body)
            texts, images, ptok = self.collect(prompt)
            max_tokens = self.limit(body.get("max_tokens", 16), ptok)
            if stream:
                self.start_stream()

                def emit(index, tok, last, finish):
                    self.chunk(json.dumps({"text": [tok]}, ensure_ascii=False, separators=(",", ":")) + "\0")
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            self.send_json(200, {"text": [echoed + " " + result["text"]]})

        def tgi_params(self, body, ptok):
            params = body.get("parameters") or {}
            if not isinstance(params, dict):
                raise HttpError(422, "parameters must be object type.")
            details = params.get("details", False)
            if not isinstance(details, bool):
                raise HttpError(422, "details must be boolean type.")
            return self.limit(params.get("max_new_tokens", 20), ptok, "max_new_tokens"), details

        def tgi_inputs(self, body):
            inputs = body.get("inputs")
            if inputs is None:
                raise HttpError(422, "Request should contain 'inputs' and the type should be string.")
            if isinstance(inputs, list) and not inputs:
                raise HttpError(422, "Inputs arr is empty")
            if not isinstance(inputs, (str, list)):
                raise HttpError(422, "The type of inputs is abnormal")
            return inputs

        def generate_stream(self, body):
            return self.generate_tgi(body, stream=True)

        def generate_tgi(self, body, stream):
            """single_req_tgi_text_infer_interface.cpp."""
            texts, images, ptok = self.collect(self.tgi_inputs(body))
            max_tokens, details = self.tgi_params(body, ptok)

            def finish_reason(finish):
                return "eos_token" if finish == "stop" else "length"
            if stream:
                self.start_stream()
                acc = []

                def emit(index, tok, last, finish):
                    acc.append(tok)
                    event = {"token": {"id": textgen.token_id(tok), "text": tok, "logprob": None, "special": None},
                             "generated_text": None, "details": None}
                    if last:
                        event["generated_text"] = "".join(acc)
                        if details:
                            event["details"] = {"prompt_tokens": ptok, "finish_reason": finish_reason(finish),
                                                "generated_tokens": len(acc), "seed": None}
                    self.chunk("data: %s\n\n" % json.dumps(event, ensure_ascii=False))
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            if not details:
                return self.send_json(200, {"generated_text": result["text"]})
            ids = [{"id": textgen.token_id(t), "logprob": None, "special": None, "text": None} for t in result["tokens"]]
            return self.send_json(200, {"details": {"prompt_tokens": ptok, "finish_reason": finish_reason(result["finish"]),
                                                    "generated_tokens": len(result["tokens"]), "prefill": [],
                                                    "seed": None, "tokens": ids},
                                        "generated_text": result["text"]})

        def infer(self, body):
            """single_req_self_develop_infer_interface.cpp (MindIE's own text API)."""
            texts, images, ptok = self.collect(self.tgi_inputs(body))
            params = body.get("parameters") or {}
            if not isinstance(params, dict):
                raise HttpError(422, "parameters must be object type.")
            max_tokens = self.limit(params.get("max_new_tokens", 20), ptok, "max_new_tokens")
            details = params.get("details", True)

            def finish_reason(finish):
                return "eos_token" if finish == "stop" else "length"
            if self.stream_flag(body):
                self.start_stream()
                acc = []

                def emit(index, tok, last, finish):
                    acc.append(tok)
                    event = {"prefill_time": None, "decode_time": None,
                             "token": {"id": textgen.token_id(tok), "text": tok}}
                    if last:
                        event["generated_text"] = "".join(acc)
                        event["details"] = {"finish_reason": finish_reason(finish), "generated_tokens": len(acc),
                                            "seed": None} if details else None
                    self.chunk("data: %s\n\n" % json.dumps(event, ensure_ascii=False))
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            payload = {"generated_text": result["text"]}
            if details:
                payload["details"] = {"finish_reason": finish_reason(result["finish"]),
                                      "generated_tokens": len(result["tokens"]),
                                      "generated_token_ids": [textgen.token_id(t) for t in result["tokens"]],
                                      "seed": None}
            self.send_json(200, payload)

    return Handler


# ------------------------------------------------------------------ start-up

EP_STOP_WAIT_S = 5.0            # llm_daemon.cpp EP_STOP_WAIT_TIME (5000 ms): wait for Endpoint.Stop
SUB_PROCESS_WAIT_S = 15         # llm_daemon.cpp SUB_PROCESS_WAIT_TIME
COMMAND_ARGS = (("--config-file", "configFilePath"), ("--expert-parallel", "expertParallel"))
CONFIG_TIME_MODEL_ERRORS = ("modelWeightPath ", "config.json is missing", "config.json in ")


class InitFailed(Exception):
    """EndPoint::Start failed: RunEP logs FAILED_INIT and killpg(SIGKILL)s its own process group."""

    def __init__(self, errors=(), stdout=()):
        super().__init__("; ".join(list(stdout) + list(errors)))
        self.errors = list(errors)
        self.stdout = list(stdout)


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def fail(logger, errors, code=None, stdout=()):
    """An init failure as RunEP ends it: std::cout lines, the errors and FAILED_INIT in the log, killpg(SIGKILL).

    The process group is the daemon's own (main() made it the leader), so the workers die with it and the
    shell that started the daemon sees exit status 137. ``code`` is accepted for old callers and ignored.
    """
    for line in stdout:
        logger.stdout(line)
    for err in errors:
        logger.error(err)
    logger.error(FAILED_INIT)
    logger.close()
    _flush_std()
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
    return 137      # not reached


def port_used(port, logger=None):
    """http_server.cpp IsPortUsed: bind 0.0.0.0:port WITHOUT SO_REUSEADDR, close again.

    Fails for a port held on any address and for one with a connection in TIME_WAIT (a restart right
    after traffic whose connections the server closed first).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        if logger is not None:
            logger.error("Socket bind failed, bind_result is -1. %s" % (exc.strerror or exc))
        return True
    finally:
        sock.close()
    return False


def check_ports(settings, logger=None):
    """HttpServerInit's IsPortUsed(managementPort) || IsPortUsed(port) || IsPortUsed(metricsPort)."""
    for port in (settings["mgmt_port"], settings["port"], settings["metrics_port"]):
        if port_used(port, logger):
            return ["Management or Business or Metrics Http server listen port is occupied"]
    return []


def http_layout_errors(settings):
    """HttpServerInit's dispatch (http_server.cpp): one address with metricsPort = port != managementPort is the one
    layout none of its branches takes ("Management or Business or Metrics port is invalid.")."""
    if (settings["ip"] == settings["mgmt_ip"] and settings["port"] == settings["metrics_port"]
            and settings["port"] != settings["mgmt_port"]):
        return ["Management or Business or Metrics port is invalid."]
    return []


def bind_servers(settings, handler_factory, tls_contexts, logger=None):
    """Listen (SO_REUSEADDR, as cpp-httplib) on one server per distinct (ip, port); roles merge on equal ports.

    Run check_ports() first, as the real server does. Returns (servers, errors); errors are log lines.
    """
    wanted = [("business", settings["ip"], settings["port"]),
              ("management", settings["mgmt_ip"], settings["mgmt_port"]),
              ("metrics", settings["mgmt_ip"], settings["metrics_port"])]
    by_addr = {}
    for role, ip, port in wanted:
        by_addr.setdefault((ip, port), set()).add(role)
    servers, errors = [], []
    for (ip, port), roles in by_addr.items():
        try:
            srv = Server((ip, port), handler_factory(roles))
        except OSError:
            role = "business" if "business" in roles else ("management" if "management" in roles else "metrics")
            what = {"business": "business ip and port", "management": "management ip and port",
                    "metrics": "management ip and metrics port"}[role]
            errors.append("Failed to listen %s:%d, please check if %s are legal." % (ip, port, what))
            continue
        if tls_contexts:
            srv.tls_context = tlsmod.context_for(roles, tls_contexts)
            srv.logger = logger
        servers.append((srv, roles))
    if errors:
        for srv, _ in servers:
            srv.server_close()
        servers = []
    return servers, errors


def bind_master():
    """The torch.distributed TCPStore of rank 0 on MASTER_ADDR:MASTER_PORT (SO_REUSEADDR, as torch sets it).

    Bound at backend init, before the weights are read; the socket is handed to the first NPU worker, so
    it stays held while a worker outlives a killed daemon.
    """
    addr = os.environ.get("MASTER_ADDR", "127.0.0.1")
    try:
        port = int(os.environ.get("MASTER_PORT", "29500"))
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        return None, "ValueError: MASTER_PORT %s must be in range [0, 65535]" % os.environ.get("MASTER_PORT")
    try:
        host = socket.gethostbyname(addr)
    except OSError:
        host = addr
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        return None, ("RuntimeError: The server socket has failed to listen on any local network address. "
                      "The server socket has failed to bind to %s:%d (errno: %d - %s). "
                      "Please check MASTER_ADDR/MASTER_PORT." % (addr, port, exc.errno or 98,
                                                                  exc.strerror or "Address already in use"))
    return sock, None


def spawn_workers(plan, owner, keep_fds=()):
    """Start one mindie_llm_back worker per device; they stay in the caller's process group.

    The workers do not die with their parent (no PR_SET_PDEATHSIG, as MindIE's backend): a daemon killed
    alone leaves them holding HBM. ``keep_fds`` (the MASTER_PORT socket) are inherited by the first one.
    """
    procs = []
    for index, (device, hbm_mb) in enumerate(plan):
        cmd = [sys.executable, WORKER_SCRIPT, "mindie_sim_npu_worker", "--device", str(device),
               "--hbm-mb", str(int(hbm_mb)), "--owner", owner,
               "--token", "%s.%d" % (common.INSTANCE_TOKEN, index)]     # HBM registry key (common.hbm_holders)
        procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, close_fds=True,
                                      pass_fds=tuple(keep_fds) if index == 0 else ()))
    for proc in procs:      # wait until every worker holds its device
        proc.stdout.readline()
        proc.stdout.close()
    return procs


def stop_workers(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + 5
    for proc in procs:
        try:
            proc.wait(max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def load_weights(shards, logger, stop_event):
    """Read every shard's bytes, throttled to MINDIE_SIM_LOAD_MBPS, then warm up."""
    mbps = max(common.env_float("MINDIE_SIM_LOAD_MBPS", 200.0), 0.001)
    total = 0
    for path in shards:
        with open(path, "rb") as handle:
            while not stop_event.is_set():
                block = handle.read(1 << 20)
                if not block:
                    break
                total += len(block)
                stop_event.wait(len(block) / (mbps * 2 ** 20) * common.time_scale())
        logger.info("Loaded weight file %s" % path)
        if stop_event.is_set():
            return total
    return total


def group_pids(pgid):
    """llm_daemon.cpp GetPidsInGroup: every pid whose /proc/<pid>/stat names this process group."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid:
            pids.append(int(name))
    return pids


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap():
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid <= 0:
            return
        sys.stdout.write("Reaped child %d\n" % pid)
        sys.stdout.flush()


def kill_process_group(logger):
    """llm_daemon.cpp KillProcessGroup: TERM the group, wait up to 15 s, KILL what is left, abort().

    The waits are multiplied by MINDIE_SIM_TIME_SCALE. The daemon ends by SIGABRT (status 134 in a shell).
    """
    scale = common.time_scale()
    sys.stderr.write("Daemon is killing, please wait about %d seconds...\n" % SUB_PROCESS_WAIT_S)
    sys.stderr.flush()
    logger.info("stop endpoint success")
    me = os.getpid()
    pids = [pid for pid in group_pids(os.getpgrp()) if pid != me]
    if os.getpgrp() != me:      # never signal a group we do not lead (main() made us the leader)
        pids = [pid for pid in pids if _ppid(pid) == me]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    try:
        os.kill(os.getppid(), signal.SIGCHLD)
    except OSError:
        pass
    start = time.time()
    while True:
        _reap()
        if not any(_alive(pid) for pid in pids):
            sys.stderr.write("All subprocesses exited gracefully.\n")
            break
        elapsed = int((time.time() - start) / scale) if scale > 0 else SUB_PROCESS_WAIT_S
        if elapsed >= SUB_PROCESS_WAIT_S:
            sys.stderr.write("Timeout reached, some subprocesses still alive. Force to kill them.\n")
            break
        time.sleep(1.0 * scale)
        sys.stderr.write("Waiting for subprocess exits for %d/%d seconds.\n" % (elapsed + 1, SUB_PROCESS_WAIT_S))
        sys.stderr.flush()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap()
    logger.close()
    _flush_std()
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass
    os.abort()


def parse_args(argv):
    """llm_daemon.cpp ParseCommandLineArgs: only --config-file and --expert-parallel, each with a value."""
    known = dict(COMMAND_ARGS)
    args = {}
    i = 1
    while i < len(argv):
        key = argv[i]
        if key not in known:
            raise ValueError("Unrecognized command-line argument, expect [%s]" % ", ".join(k for k, _ in COMMAND_ARGS))
        if i + 1 >= len(argv):
            raise ValueError("Missing value for key: " + key)
        args[known[key]] = argv[i + 1]
        i += 2
    return args


def main(argv):
    prog = os.path.abspath(argv[0]) if argv else PROG
    lib = common.missing_library()
    if lib:
        sys.stderr.write("%s: error while loading shared libraries: %s: cannot open shared object file: "
                         "No such file or directory\n" % (os.path.basename(prog) or PROG, lib))
        return 127
    try:
        hardware = common.load_hardware()
        fault = None
    except common.HardwareError as exc:
        if exc.kind == "missing":
            sys.stderr.write("%s: error while loading shared libraries: %s: cannot open shared object file: "
                             "No such file or directory\n" % (os.path.basename(prog) or PROG, exc))
            return 127
        hardware, fault = None, exc

    sys.stderr.write("g_mainPid = %d\n" % os.getpid())
    sys.stderr.flush()
    try:
        logger = common.Logger()
    except common.LogSettingsError as exc:
        sys.stderr.write("terminate called after throwing an instance of 'std::runtime_error'\n  what():  %s\n" % exc)
        sys.stderr.flush()
        os.abort()
    # setpgrp() as the real main(): the daemon leads its own process group, so killpg() ends it and its
    # workers only. It fails (EPERM) for a session leader, e.g. `docker exec c bash -c 'exec daemon'`.
    try:
        os.setpgrp()
    except OSError as exc:
        logger.error("Failed to set process group. errno is %d" % exc.errno)
        logger.close()
        return 255
    try:
        args = parse_args(list(argv))
    except ValueError as exc:
        logger.error(str(exc))
        logger.close()
        return 255

    stop_event = threading.Event()
    received = []

    def on_signal(signum, _frame):
        if received:
            return
        received.append(signum)
        logger.warning("Received exit signal[%d]" % signum)
        stop_event.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    service_dir = os.environ.get("MINDIE_SIM_SERVICE_HOME") or \
        os.path.dirname(os.path.dirname(os.path.realpath(prog)))
    config_path = args.get("configFilePath") or os.environ.get("MIES_CONFIG_JSON_PATH") or \
        os.path.join(service_dir, "conf", "config.json")
    logger.info("mindieservice_daemon (MindIE Service %s, simulated) starting, config %s" % (VERSION, config_path))
    check_perm = os.environ.get("MINDIE_CHECK_INPUTFILES_PERMISSION", "1") != "0"

    # ConfigManager: its findings go to stdout (std::cout), not to the log
    errors = []
    settings = None
    # GetConfigPath: link, baseDir, existence, size, owner and mode; fails before anything is read
    # (owner and mode also with MINDIE_CHECK_INPUTFILES_PERMISSION=0)
    config_errors = cfgmod.check_file_permission(
        config_path, check_perm, "/" if os.environ.get("MIES_CONFIG_JSON_PATH") else service_dir)
    if config_errors:
        return fail(logger, [], stdout=config_errors)
    try:
        raw = cfgmod.load_json(config_path)
        settings = cfgmod.validate(raw, service_dir)
    except cfgmod.ConfigError as exc:
        errors += exc.errors
        settings = exc.settings
    if settings:
        log_path = settings["log_path"]
        if log_path:
            logger.set_path(log_path if os.path.isabs(log_path) else os.path.join(service_dir, log_path))
    if settings is None:
        return fail(logger, [], stdout=errors)
    if os.path.isdir(settings["weight_path"]):
        errors += modelmod.check_permissions(settings["weight_path"], check_perm)
    # the model directory: ConfigManager reads <modelWeightPath>/config.json (stdout); the weights are the
    # backend's (log file)
    model_config = None
    shards = []
    model_errors = []
    try:
        model_config, shards = modelmod.check_model_dir(settings["weight_path"])
    except modelmod.ModelDirError as exc:
        model_errors = exc.errors
    errors += [e for e in model_errors if e.startswith(CONFIG_TIME_MODEL_ERRORS)]
    model_errors = [e for e in model_errors if not e.startswith(CONFIG_TIME_MODEL_ERRORS)]
    if errors:
        return fail(logger, [], stdout=errors)

    # backend init: device and model errors go to the log
    if fault is not None:
        if str(fault) == "dcmi-8005":
            return fail(logger, ["dcmi module initialize failed. ret is -8005",
                                 "Device init failed: aclrtSetDevice failed, error code is 507033. "
                                 "Please check the driver with npu-smi info."])
        return fail(logger, ["Device init failed: device fault %s." % fault])

    # devices
    missing = common.manager_devices_missing()
    if missing:
        errors.append("Device init failed: %s not found in %s; the NPU device is not mounted into the "
                      "container." % (", ".join(missing), common.dev_dir()))
    # npuDeviceIds are logical ids: 0..n-1 over the NPUs this container sees, in physical order
    chips = {}
    visible = common.visible_physical_ids(hardware) if fault is None else []
    for group in settings["groups"] if fault is None else []:
        for dev in group:
            chip = common.chip_for_logical_id(hardware, dev)
            if chip is None:
                errors.append("Device init failed: aclrtSetDevice(%d) failed, error code is 107001. npuDeviceIds "
                              "contains device %d, but the device is not visible: this container sees %d NPU(s) "
                              "(%s in %s), addressed by logical ids %s. Use logical ids, not the node's NPU ids."
                              % (dev, dev, len(visible), ", ".join("davinci%d" % d for d in visible) or "no davinci",
                                 common.dev_dir(), "0..%d" % (len(visible) - 1) if visible else "(none)"))
            elif chip is not None:
                chips[dev] = chip

    errors += model_errors
    if errors:
        return fail(logger, errors)

    # MASTER_PORT: torch.distributed's store, bound at backend init (before the weights are read)
    master_sock, master_err = bind_master()
    if master_err:
        return fail(logger, [master_err])
    first_chip = chips[settings["groups"][0][0]]
    weights = modelmod.weights_bytes(model_config)
    fraction, fraction_err = perf.memory_fraction()
    if fraction_err:
        master_sock.close()
        return fail(logger, [fraction_err])
    plans = {dev: perf.daemon_hbm_plan(chip, weights, settings["world_size"], settings["npu_mem"],
                                       settings["max_prefill_tokens"], fraction) for dev, chip in chips.items()}
    engine = Engine(settings, first_chip, model_config, plans[settings["groups"][0][0]]["kv"], logger)
    engine.started = time.time()
    workers = []
    servers = []

    def terminate():
        """SignalInterruptHandler + RunEP's ep.Stop(): health down, ports closed, 5 s, KillProcessGroup."""
        logger.warning("Successfully handled one of SIGSEGV、SIGABRT、SIGINT、SIGTERM, now killing process group")
        engine.state = "stopping"
        logger.info("Finalize engine %s" % settings.get("backend_name", "mindieservice_llm_engine"))
        for srv, _ in servers:
            srv.shutdown()
            srv.server_close()
        logger.info("Stop endpoint success")
        time.sleep(EP_STOP_WAIT_S * common.time_scale())
        kill_process_group(logger)

    logger.info("Loading model %s from %s on devices %s (worldSize %d)."
                % (settings["model_name"], settings["weight_path"], settings["groups"], settings["world_size"]))
    loaded = load_weights(shards, logger, stop_event)
    if stop_event.is_set():
        return terminate()
    logger.info("Loaded %.1f MB of weights; modelled weights %.2f GB (%d parameters)."
                % (loaded / 2 ** 20, weights / 1e9, modelmod.parameter_count(model_config)))
    stop_event.wait(common.env_float("MINDIE_SIM_WARMUP_S", 8.0) * common.time_scale())
    if stop_event.is_set():
        return terminate()
    if any(p["hang"] for p in plans.values()):
        # npuMemSize far too large (KV cache > 2 x the card): the allocation never returns on a real node,
        # the ports never open; only a signal ends it.
        dev, p = [(d, p) for d, p in sorted(plans.items()) if p["hang"]][0]
        logger.info("Warming up: allocating the KV cache, %d MB on NPU %d (npuMemSize %d GB; the card has %d MB)."
                    % (p["kv"], dev, settings["npu_mem"], p["total"]))
        while not stop_event.wait(0.2):
            pass
        return terminate()
    if DEFECT == "warmup":
        # A broken build (the sandbox's 1.0.1-broken image): the warm-up's first inference fails on every start,
        # whatever the config, the way a bad operator library in an image does.
        return fail(logger, ["Warmup failed: the first inference of the warm-up returned an error on NPU 0 "
                             "(aclnn operator ReshapeAndCache: error code 561103, MindIE Service %s)." % VERSION])
    # HBM that other processes (another daemon's workers, npu-hold, leftovers of a killed daemon) hold
    others = common.hbm_used_by_others([common.physical_id(c) for c in chips.values()])
    for dev, chip in chips.items():
        held, _holders = others[common.physical_id(chip)]
        if held:
            plans[dev] = perf.daemon_hbm_plan(chip, weights, settings["world_size"], settings["npu_mem"],
                                              settings["max_prefill_tokens"], fraction, held)
    oom = [(dev, p) for dev, p in sorted(plans.items()) if not p["fits"]]
    if oom:
        lines = []
        for dev, p in oom:
            phys = common.physical_id(chips[dev])
            taken = ("; %d MB are held by other processes: %s" % (p["others"], common.describe_holders(
                others[phys][1]))) if p["others"] else ""
            lines.append("NPU %d (physical %d) out of memory during warm-up: need %d MB (weights %d + runtime %d + "
                         "kv cache %d + vision encoder %d) but only %d of %d MB are free (driver %d MB%s)."
                         % (dev, phys, p["hold"], p["weights"], p["runtime"], p["kv"], p["vit"], max(p["free"], 0),
                            p["total"], p["idle"], taken))
        lines.append("Warmup failed, because of multimodal model inference out of memory when `maxInputTokenLen` "
                     "set to %d. Please try to decrease `maxPrefillTokens` or `maxInputTokenLen`, or decrease "
                     "`npuMemSize` to leave memory for the vision encoder." % settings["max_input_len_config"])
        return fail(logger, lines)
    for dev, p in sorted(plans.items()):
        logger.info("NPU %d (physical %d): weights %d MB, runtime %d MB, kv cache %d MB, vision encoder %d MB "
                    "(%d of %d MB used)." % (dev, common.physical_id(chips[dev]), p["weights"], p["runtime"], p["kv"],
                                             p["vit"], p["need"] + p["others"], p["total"]))
    # the workers hold the HBM on the PHYSICAL NPUs (the node's npu-smi shows the right chips)
    workers.extend(spawn_workers([(common.physical_id(chips[dev]), p["hold"]) for dev, p in sorted(plans.items())],
                                 PROG, keep_fds=(master_sock.fileno(),)))
    if stop_event.is_set():
        return terminate()

    # HttpServerInit, only now: port-free check (0.0.0.0, no SO_REUSEADDR), TLS, listen
    port_errors = check_ports(settings, logger) or http_layout_errors(settings)
    if port_errors:
        return fail(logger, port_errors + ["Failed to start http wrapper"])
    tls_contexts = {}
    if settings["https"]:
        try:
            tls_contexts = tlsmod.contexts(settings["tls"])
        except tlsmod.TlsError as exc:
            return fail(logger, [str(exc), "Load init ssl failed", "Failed to start http wrapper"])
    found, bind_errors = bind_servers(settings, lambda roles: make_handler(engine, roles, logger), tls_contexts,
                                      logger)
    if bind_errors:
        return fail(logger, bind_errors + ["Failed to start http wrapper"])
    engine.state = "ready"
    servers.extend(found)
    for srv, roles in servers:
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        logger.info("Listening on %s:%d for %s (%s)" % (srv.server_address[0], srv.server_address[1],
                                                      "/".join(sorted(roles)), "https" if tls_contexts else "http"))
    print("Daemon start success!", flush=True)
    logger.info("Daemon start success!")
    while not stop_event.wait(0.2):
        for proc in workers:
            code = proc.poll()
            if code is None:
                continue
            workers.remove(proc)
            if code == 0:
                logger.info("Process %d exited normally with status 0" % proc.pid)
                break
            if code < 0:
                logger.error("Process %d was terminated by signal %d (%s)"
                             % (proc.pid, -code, signal.strsignal(-code) if hasattr(signal, "strsignal") else -code))
            else:
                logger.info("Process %d exited normally with status %d" % (proc.pid, code))
            logger.warning("Successfully handled SIGCHLD, now killing process group")
            engine.state = "stopping"
            kill_process_group(logger)
    return terminate()
