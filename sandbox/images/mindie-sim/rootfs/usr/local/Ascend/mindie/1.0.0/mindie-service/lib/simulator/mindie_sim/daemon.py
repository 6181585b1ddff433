"""Simulated mindieservice_daemon (MindIE Service 1.0.0) for Qwen2-VL.

See sandbox/images/mindie-sim/README.md for the environment knobs and the models used.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import common, config as cfgmod, model as modelmod, perf, textgen, tls as tlsmod

FAILED_INIT = "Failed to init endpoint! Please check the service log or console output."
PROG = "mindieservice_daemon"
WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npu_worker.py")

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


class HttpError(Exception):
    def __init__(self, status, message, kind="Input Validation Error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


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


class Engine:
    """Scheduler, metrics and deterministic generation."""

    def __init__(self, settings, chip, model_config, kv_mb, logger):
        self.s = settings
        self.chip = chip
        self.model_config = model_config
        self.logger = logger
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(settings["max_batch"])
        self.running = 0
        self.waiting = 0
        self.state = "loading"
        self.counters = {"request_received_total": 0, "request_success_total": 0,
                         "request_failed_total": 0, "prompt_tokens_total": 0, "generation_tokens_total": 0}
        self.ttft = Histogram(TTFT_BUCKETS)
        self.tpot = Histogram(TPOT_BUCKETS)
        per_token = 4.0 * int(model_config.get("num_hidden_layers", 28)) * \
            int(model_config.get("num_key_value_heads", 4)) * \
            (int(model_config.get("hidden_size", 3584)) // int(model_config.get("num_attention_heads", 28))) / \
            max(settings["world_size"], 1)
        self.kv_tokens = max(int(kv_mb * 2 ** 20 / per_token), 1)
        self.held_tokens = 0

    def count(self, name, value=1):
        with self.lock:
            self.counters[name] += value

    def generate(self, texts, images, prompt_tokens, max_tokens, ignore_eos=False, emit=None):
        """Run one request through the simulated batch scheduler."""
        key = textgen.answer_key(texts, images)
        tokens, finish = textgen.answer_tokens(key, images, limit=max_tokens, ignore_eos=ignore_eos)
        ws = self.s["world_size"]
        with self.lock:
            self.waiting += 1
        self.slots.acquire()
        with self.lock:
            self.waiting -= 1
            self.running += 1
            self.held_tokens += prompt_tokens + len(tokens)
        decode = []
        try:
            prefill = perf.prefill_ms(prompt_tokens, self.chip, ws)
            common.sim_sleep(prefill / 1000.0)
            for index, tok in enumerate(tokens):
                if index > 0:
                    with self.lock:
                        batch = self.running
                    step = perf.decode_step_ms(batch, self.chip, ws)
                    common.sim_sleep(step / 1000.0)
                    decode.append(round(step, 3))
                if emit is not None:
                    emit(index, tok, index == len(tokens) - 1, finish)
        finally:
            with self.lock:
                self.running -= 1
                self.held_tokens -= prompt_tokens + len(tokens)
            self.slots.release()
        with self.lock:
            self.counters["request_success_total"] += 1
            self.counters["prompt_tokens_total"] += prompt_tokens
            self.counters["generation_tokens_total"] += len(tokens)
            self.ttft.observe(prefill / 1000.0)
            for step in decode:
                self.tpot.observe(step / 1000.0)
        return {"tokens": tokens, "text": "".join(tokens), "finish": finish,
                "prefill_ms": round(prefill, 3), "decode_ms": decode,
                "prompt_tokens": prompt_tokens}

    def metrics_text(self):
        label = 'model_name="%s"' % self.s["model_name"]
        out = []
        with self.lock:
            counters = dict(self.counters)
            running, waiting = self.running, self.waiting
            usage = min(1.0, self.held_tokens / float(self.kv_tokens))
            hists = (("time_to_first_token_seconds", "Histogram of time to first token in seconds.", self.ttft),
                     ("time_per_output_token_seconds", "Histogram of time per output token in seconds.",
                      self.tpot))
            helps = {
                "request_received_total": "Count of received requests.",
                "request_success_total": "Count of successfully processed requests.",
                "request_failed_total": "Count of failed requests.",
                "prompt_tokens_total": "Number of prefill tokens processed.",
                "generation_tokens_total": "Number of generation tokens processed.",
            }
            for name, help_text in helps.items():
                out += ["# HELP %s %s" % (name, help_text), "# TYPE %s counter" % name,
                        "%s{%s} %d" % (name, label, counters[name])]
            for name, help_text, value in (
                    ("num_requests_running", "Number of requests currently running on NPU.", running),
                    ("num_requests_waiting", "Number of requests waiting to be processed.", waiting),
                    ("npu_cache_usage_perc", "NPU KV-cache usage. 1 means 100 percent usage.", usage)):
                out += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name,
                        "%s{%s} %s" % (name, label, repr(float(value)) if name.endswith("perc") else value)]
            for name, help_text, hist in hists:
                out += ["# HELP %s %s" % (name, help_text), "# TYPE %s histogram" % name]
                for edge, cnt in zip(hist.buckets, hist.counts):
                    out.append('%s_bucket{%s,le="%s"} %d' % (name, label, edge, cnt))
                out.append('%s_bucket{%s,le="+Inf"} %d' % (name, label, hist.total))
                out.append("%s_sum{%s} %s" % (name, label, repr(hist.sum)))
                out.append("%s_count{%s} %d" % (name, label, hist.total))
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ HTTP layer

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    tls_context = None
    logger = None
    handshake_timeout = 10.0

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


def make_handler(engine, roles, logger):
    monitor = os.environ.get("MIES_SERVICE_MONITOR_MODE", "0") == "1"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "MindIE-Server"
        sys_version = ""

        def log_message(self, fmt, *args):
            logger.info("%s %s" % (self.address_string(), fmt % args))

        # -------- helpers
        def send_json(self, status, payload):
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_text(self, status, text, ctype="text/plain; charset=utf-8"):
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def start_stream(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
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
                body = json.loads(raw.decode("utf-8") or "null")
            except ValueError:
                raise HttpError(400, "Request body is not a valid json.")
            if not isinstance(body, dict):
                raise HttpError(400, "Request body must be a json object.")
            return body

        # -------- routing
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if "management" in roles and path in ("/health", "/v2/health/live", "/v2/health/ready",
                                                  "/v1/health/live", "/v1/health/ready"):
                if path.endswith("live"):
                    return self.send_json(200, {"status": "live"})
                if engine.state == "ready":
                    return self.send_json(200, {"status": "ready"} if path != "/health" else {})
                return self.send_json(503, {"status": engine.state})
            if "metrics" in roles and path == "/metrics":
                if not monitor:
                    return self.send_json(500, {"error": "Metrics are disabled, set MIES_SERVICE_MONITOR_MODE=1.",
                                                "error_type": "Internal Server Error"})
                return self.send_text(200, engine.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
            if "business" in roles and path == "/v1/models":
                return self.send_json(200, {"object": "list", "data": [{
                    "id": engine.s["model_name"], "object": "model", "created": int(engine.started),
                    "owned_by": "MindIE Server", "root": engine.s["weight_path"]}]})
            return self.send_json(404, {"error": "Not Found", "error_type": "Not Found"})

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            routes = {"/v1/chat/completions": self.chat, "/v1/completions": self.completions,
                      "/generate": self.generate_vllm, "/generate_stream": self.generate_stream,
                      "/infer": self.infer}
            if "business" not in roles or path not in routes:
                return self.send_json(404, {"error": "Not Found", "error_type": "Not Found"})
            engine.count("request_received_total")
            try:
                if engine.state != "ready":
                    raise HttpError(503, "The service is not ready, please retry later.", "Service Unavailable")
                body = self.read_body()
                routes[path](body)
            except HttpError as exc:
                engine.count("request_failed_total")
                logger.error("request %s failed: %s" % (path, exc.message), console=False)
                self.send_json(exc.status, {"error": exc.message, "error_type": exc.kind})
            except (BrokenPipeError, ConnectionResetError):
                engine.count("request_failed_total")

        # -------- request parsing
        def check_model(self, body):
            name = body.get("model")
            if name is not None and name != engine.s["model_name"]:
                raise HttpError(404, "The model `%s` does not exist. The served model is `%s`."
                                % (name, engine.s["model_name"]), "Not Found")

        def collect(self, content, chat_messages=0):
            texts, images = [], []
            try:
                if chat_messages:
                    for msg in content:
                        if not isinstance(msg, dict) or "role" not in msg:
                            raise textgen.PromptError("each message needs a role and a content")
                        textgen.parse_content(msg.get("content"), texts, images)
                else:
                    textgen.parse_content(content, texts, images)
            except textgen.PromptError as exc:
                raise HttpError(400, str(exc))
            tokens = textgen.prompt_tokens(texts, images, chat_messages)
            if tokens > engine.s["max_input_len"]:
                raise HttpError(422, "The input length %d exceeds maxInputTokenLen %d."
                                % (tokens, engine.s["max_input_len"]))
            return texts, images, tokens

        def limit(self, value, prompt_tokens):
            room = max(engine.s["max_seq_len"] - prompt_tokens, 1)
            if value is None:
                return min(engine.s["max_iter"], room)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise HttpError(400, "max_tokens %r is invalid, it should be a positive integer." % (value,))
            return min(value, room)

        # -------- endpoints
        def chat(self, body):
            self.check_model(body)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise HttpError(400, "messages must be a non-empty list.")
            texts, images, ptok = self.collect(messages, chat_messages=len(messages))
            max_tokens = self.limit(body.get("max_tokens", body.get("max_completion_tokens")), ptok)
            rid = "chatcmpl-" + uuid.uuid4().hex[:24]
            created = int(time.time())
            name = engine.s["model_name"]
            if body.get("stream"):
                self.start_stream()

                def emit(index, tok, last, finish):
                    delta = {"role": "assistant", "content": tok} if index == 0 else {"content": tok}
                    chunk = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": name,
                             "choices": [{"index": 0, "delta": delta,
                                          "finish_reason": finish if last else None}]}
                    self.chunk("data: %s\n\n" % json.dumps(chunk, ensure_ascii=False))
                result = engine.generate(texts, images, ptok, max_tokens, emit=emit)
                tail = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": name,
                        "choices": [], "usage": self.usage(result),
                        "prefill_time": result["prefill_ms"], "decode_time_arr": result["decode_ms"]}
                self.chunk("data: %s\n\n" % json.dumps(tail))
                self.chunk("data: [DONE]\n\n")
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            self.send_json(200, {
                "id": rid, "object": "chat.completion", "created": created, "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result["text"],
                                                     "tool_calls": None},
                             "logprobs": None, "finish_reason": result["finish"]}],
                "usage": self.usage(result),
                "prefill_time": result["prefill_ms"], "decode_time_arr": result["decode_ms"]})

        def usage(self, result):
            return {"prompt_tokens": result["prompt_tokens"], "completion_tokens": len(result["tokens"]),
                    "total_tokens": result["prompt_tokens"] + len(result["tokens"])}

        def completions(self, body):
            self.check_model(body)
            prompt = body.get("prompt")
            if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompt = prompt[0]
            if not isinstance(prompt, (str, list)):
                raise HttpError(400, "prompt must be a string or a list of parts.")
            texts, images, ptok = self.collect(prompt)
            max_tokens = self.limit(body.get("max_tokens", 16), ptok)
            rid = "cmpl-" + uuid.uuid4().hex[:24]
            created = int(time.time())
            name = engine.s["model_name"]
            if body.get("stream"):
                self.start_stream()

                def emit(index, tok, last, finish):
                    chunk = {"id": rid, "object": "text_completion", "created": created, "model": name,
                             "choices": [{"index": 0, "text": tok, "logprobs": None,
                                          "finish_reason": finish if last else None}]}
                    self.chunk("data: %s\n\n" % json.dumps(chunk, ensure_ascii=False))
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                self.chunk("data: [DONE]\n\n")
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            self.send_json(200, {"id": rid, "object": "text_completion", "created": created, "model": name,
                                 "choices": [{"index": 0, "text": result["text"], "logprobs": None,
                                              "finish_reason": result["finish"]}],
                                 "usage": self.usage(result)})

        def generate_vllm(self, body):
            self.check_model(body)
            prompt = body.get("prompt", body.get("inputs"))
            if not isinstance(prompt, (str, list)):
                raise HttpError(400, "prompt must be a string or a list of image_url/text parts.")
            texts, images, ptok = self.collect(prompt)
            max_tokens = self.limit(body.get("max_tokens", 16), ptok)
            if body.get("stream"):
                self.start_stream()

                def emit(index, tok, last, finish):
                    self.chunk("data: %s\n\n" % json.dumps({"text": [tok]}, ensure_ascii=False))
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                self.chunk("data: [DONE]\n\n")
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            self.send_json(200, {"text": [result["text"]]})

        def tgi_params(self, body, ptok):
            params = body.get("parameters") or {}
            if not isinstance(params, dict):
                raise HttpError(400, "parameters must be an object.")
            return self.limit(params.get("max_new_tokens", 20), ptok), params

        def generate_stream(self, body):
            self.check_model(body)
            inputs = body.get("inputs", body.get("prompt"))
            if not isinstance(inputs, (str, list)):
                raise HttpError(400, "inputs must be a string or a list of parts.")
            texts, images, ptok = self.collect(inputs)
            max_tokens, _params = self.tgi_params(body, ptok)
            self.start_stream()
            acc = []

            def emit(index, tok, last, finish):
                acc.append(tok)
                event = {"token": {"id": textgen.token_id(tok), "text": tok, "logprob": None, "special": False},
                         "generated_text": "".join(acc) if last else None,
                         "details": {"finish_reason": "eos_token" if finish == "stop" else "length",
                                     "generated_tokens": len(acc)} if last else None}
                self.chunk("data:%s\n\n" % json.dumps(event, ensure_ascii=False))
            engine.generate(texts, images, ptok, max_tokens, emit=emit)
            return self.end_stream()

        def infer(self, body):
            self.check_model(body)
            inputs = body.get("inputs")
            if not isinstance(inputs, (str, list)):
                raise HttpError(400, "inputs must be a string or a list of parts.")
            texts, images, ptok = self.collect(inputs)
            max_tokens, params = self.tgi_params(body, ptok)
            if body.get("stream"):
                self.start_stream()
                acc = []

                def emit(index, tok, last, finish):
                    acc.append(tok)
                    event = {"token": {"id": textgen.token_id(tok), "text": tok, "logprob": None,
                                       "special": False},
                             "generated_text": "".join(acc) if last else None,
                             "details": {"finish_reason": "eos_token" if finish == "stop" else "length",
                                         "generated_tokens": len(acc)} if last else None}
                    self.chunk("data: %s\n\n" % json.dumps(event, ensure_ascii=False))
                engine.generate(texts, images, ptok, max_tokens, emit=emit)
                return self.end_stream()
            result = engine.generate(texts, images, ptok, max_tokens)
            payload = {"generated_text": result["text"]}
            if params.get("details", True):
                payload["details"] = {"finish_reason": "eos_token" if result["finish"] == "stop" else "length",
                                      "generated_tokens": len(result["tokens"]),
                                      "prefill_time": result["prefill_ms"],
                                      "decode_time_arr": result["decode_ms"],
                                      "prompt_tokens": ptok}
            self.send_json(200, payload)

    return Handler


# ------------------------------------------------------------------ start-up

def fail(logger, errors, code=1):
    for err in errors:
        logger.error(err, console=True)
    logger.error(FAILED_INIT, console=False)
    print(FAILED_INIT, flush=True)
    logger.close()
    return code


def bind_servers(settings, handler_factory, tls_contexts, logger=None):
    """Bind one server per distinct (ip, port); roles are merged when ports are equal."""
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
        except OSError as exc:
            errors.append("Socket bind failed on %s:%d (%s): the %s listen port is occupied."
                          % (ip, port, exc.strerror or exc, "/".join(sorted(roles))))
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
    addr = os.environ.get("MASTER_ADDR", "127.0.0.1")
    port = int(os.environ.get("MASTER_PORT", "29500"))
    try:
        host = socket.gethostbyname(addr)
    except OSError:
        host = addr
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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


def spawn_workers(plan, owner):
    procs = []
    for device, hbm_mb in plan:
        cmd = [sys.executable, WORKER_SCRIPT, "mindie_sim_npu_worker", "--device", str(device),
               "--hbm-mb", str(int(hbm_mb)), "--owner", owner]
        procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, close_fds=True))
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
                common.sim_sleep(len(block) / (mbps * 2 ** 20))
        logger.info("Loaded weight file %s" % path)
        if stop_event.is_set():
            return total
    return total


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

    service_dir = os.environ.get("MINDIE_SIM_SERVICE_HOME") or \
        os.path.dirname(os.path.dirname(os.path.realpath(prog)))
    config_path = os.environ.get("MIES_CONFIG_JSON_PATH") or os.path.join(service_dir, "conf", "config.json")
    logger = common.Logger(os.path.join(service_dir, "logs", "mindservice.log"))
    logger.info("mindieservice_daemon (MindIE Service 1.0.0, simulated) starting, config %s" % config_path)
    check_perm = os.environ.get("MINDIE_CHECK_INPUTFILES_PERMISSION", "1") != "0"

    errors = []
    settings = None
    if not os.path.isfile(config_path):
        return fail(logger, ["The config file %s does not exist." % config_path])
    errors += cfgmod.check_file_permission(config_path, check_perm)
    try:
        raw = cfgmod.load_json(config_path)
        settings = cfgmod.validate(raw, service_dir)
    except cfgmod.ConfigError as exc:
        errors += exc.errors
        settings = exc.settings
    if settings:
        log_path = settings["log_path"]
        logger.set_path(log_path if os.path.isabs(log_path) else os.path.join(service_dir, log_path))
    if settings is None:
        return fail(logger, errors)

    if fault is not None and not errors:
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
    chips = {}
    for group in settings["groups"] if fault is None else []:
        for dev in group:
            chip = common.chip_for_logical_id(hardware, dev)
            if chip is None:
                errors.append("Device init failed: npuDeviceIds contains device %d, but the device is not "
                              "visible (%s/davinci%d not found). Visible logical ids: %s."
                              % (dev, common.dev_dir(), dev, common.visible_logical_ids(hardware)))
            else:
                chips[dev] = chip

    # model directory
    model_config = None
    shards = []
    try:
        model_config, shards = modelmod.check_model_dir(settings["weight_path"])
    except modelmod.ModelDirError as exc:
        errors += exc.errors
    if os.path.isdir(settings["weight_path"]):
        errors += modelmod.check_permissions(settings["weight_path"], check_perm)
    if fault is not None:
        errors.append("Device init failed: device fault %s." % fault)
    if errors:
        return fail(logger, errors)

    # TLS: one context per port family (mutual TLS, TLS 1.3, keys >= 3072 bits)
    tls_contexts = {}
    if settings["https"]:
        try:
            tls_contexts = tlsmod.contexts(settings["tls"])
        except tlsmod.TlsError as exc:
            return fail(logger, [str(exc), "Load init ssl failed"])

    master_sock, master_err = bind_master()
    if master_err:
        errors.append(master_err)
    first_chip = chips[settings["groups"][0][0]]
    weights = modelmod.weights_bytes(model_config)
    plans = {dev: perf.daemon_hbm_plan(chip, weights, settings["world_size"], settings["npu_mem"],
                                       settings["max_prefill_tokens"]) for dev, chip in chips.items()}
    engine = Engine(settings, first_chip, model_config, plans[settings["groups"][0][0]]["kv"], logger)
    engine.started = time.time()
    servers, bind_errors = bind_servers(settings, lambda roles: make_handler(engine, roles, logger), tls_contexts,
                                        logger)
    errors += bind_errors
    if errors:
        for srv, _ in servers:
            srv.server_close()
        if master_sock:
            master_sock.close()
        return fail(logger, errors)

    stop_event = threading.Event()
    workers = []

    def on_term(signum, _frame):
        logger.info("Received signal %d, shutting down." % signum)
        stop_event.set()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    threads = []
    for srv, roles in servers:
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        threads.append(thread)
        logger.info("Listening on %s:%d for %s (%s)" % (srv.server_address[0], srv.server_address[1],
                                                      "/".join(sorted(roles)), "https" if tls_contexts else "http"))

    def shutdown(code):
        engine.state = "stopping"
        for srv, _ in servers:
            srv.shutdown()
            srv.server_close()
        stop_workers(workers)
        if master_sock:
            master_sock.close()
        logger.info("mindieservice_daemon exit with code %d." % code)
        logger.close()
        return code

    logger.info("Loading model %s from %s on devices %s (worldSize %d)."
                % (settings["model_name"], settings["weight_path"], settings["groups"], settings["world_size"]))
    loaded = load_weights(shards, logger, stop_event)
    if stop_event.is_set():
        return shutdown(0)
    logger.info("Loaded %.1f MB of weights; modelled weights %.2f GB (%d parameters)."
                % (loaded / 2 ** 20, weights / 1e9, modelmod.parameter_count(model_config)))
    stop_event.wait(common.env_float("MINDIE_SIM_WARMUP_S", 8.0) * common.time_scale())
    if stop_event.is_set():
        return shutdown(0)
    oom = [(dev, p) for dev, p in sorted(plans.items()) if not p["fits"]]
    if oom:
        for dev, p in oom:
            logger.error("NPU %d out of memory during warm-up: need %d MB (idle %d + weights %d + kv cache %d "
                         "+ vision encoder %d) but total is %d MB." % (dev, p["need"], p["idle"], p["weights"],
                                                                     p["kv"], p["vit"], p["total"]), console=True)
        oom_line = ("Warmup failed, because of multimodal model inference out of memory when `maxInputTokenLen` "
                    "set to %d. Please try to decrease `maxPrefillTokens` or `maxInputTokenLen`, or decrease "
                    "`npuMemSize` to leave memory for the vision encoder." % settings["max_input_len"])
        logger.error(oom_line, console=True)
        logger.error(FAILED_INIT, console=False)
        print(FAILED_INIT, flush=True)
        shutdown(1)
        return 1
    for dev, p in sorted(plans.items()):
        logger.info("NPU %d: weights %d MB, kv cache %d MB, vision encoder %d MB (%d of %d MB used)."
                    % (dev, p["weights"], p["kv"], p["vit"], p["need"], p["total"]))
    workers.extend(spawn_workers([(dev, p["hold"]) for dev, p in sorted(plans.items())], PROG))
    engine.state = "ready"
    logger.info("Daemon start success!")
    print("Daemon start success!", flush=True)
    while not stop_event.wait(0.2):
        for proc in workers:
            if proc.poll() is not None:
                logger.error("NPU worker of device pid %d exited unexpectedly." % proc.pid)
                workers.remove(proc)
                break
    return shutdown(0)
