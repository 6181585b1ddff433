#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_smoke_test
short_description: Smoke-test a running MindIE Service over HTTP
description:
  - Sends the deployment guide's test requests (section 6.2.3 and 6.3) to a running MindIE Service from the node
    the module runs on, and checks every answer.
  - V(health) sends C(GET /health) and V(ready) C(GET /v2/health/ready) to O(management_url); each passes on HTTP 200
    (MindIE answers an empty body).
  - "V(ready) also passes when the service is B(busy): MindIE 3.0 with C(ServerConfig.HealthCheckConfig.npuUsageThreshold)
    above 0 answers 503 on C(/v2/health/ready) while every batch slot is taken, and 200 on C(/v2/health/live). On a 503
    the module asks C(/v2/health/live); when that answers 200 the service is loaded and serving (RV(service_state) V(busy),
    a warning is shown), not down."
  - V(chat) sends the guide's 6.3.2 request (an image and a text, C(stream) false) to C(/v1/chat/completions) on
    O(business_url); it passes on HTTP 200 with a non-empty C(choices[0].message.content).
  - >-
    V(generate) sends the guide's 6.3.1 request to C(/generate); it passes on HTTP 200 with a non-empty generated
    text. MindIE answers with a JSON object whose C(text) is a list holding the prompt's text, a space and the
    generated text; the echoed prompt is removed before the answer is judged, so an answer that only repeats the
    prompt fails with C(empty answer).
  - >-
    V(generate_stream) sends the same request with C(stream) true; MindIE streams raw JSON objects
    (C({"text": ["..."]})) each ended by a NUL byte, not Server-Sent Events. It passes on HTTP 200 when more than one
    object carried text. It is not in the default set.
  - V(models) sends C(GET /v1/models) to O(business_url); it passes on HTTP 200 when the answer lists O(model). It
    checks a client's view of the service through the business port alone, for when the management port listens
    on loopback only. It is not in the default set.
  - >-
    V(stream) sends the guide's 6.3.3 request (C(stream) true) to C(/v1/chat/completions) and reads the answer
    incrementally as Server-Sent Events, counting the C(data:) events that carry content (not C([DONE]), not the
    first event that only carries the role with an empty content); it passes on HTTP 200 when more than one such
    chunk arrived. C(usage) is read from whichever event carries it (MindIE 3.0: the last content chunk).
  - >-
    A refused request is reported with MindIE's error text and type, for example
    C(HTTP 422: Input Validation Error: ...).
  - The requests use O(model), O(image), O(prompt) (O(stream_prompt) for V(stream)) and O(max_tokens); otherwise
    they are the guide's bodies.
  - Every test runs, also after a failure. The module fails when any test fails, with every result and a message
    naming each failed test and why. Connection errors and timeouts are failures of the test concerned.
  - Only the Python standard library is used.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
  - ascend.mindie.tls
attributes:
  check_mode:
    details: The tests only send requests, which change nothing on the node, so they also run in check mode.
options:
  business_url:
    description:
      - Base URL of MindIE's business (inference) endpoint, C(ServerConfig.ipAddress) and C(ServerConfig.port),
        for example V(http://10.0.0.5:1040). Use C(https://) when C(httpsEnabled) is true.
      - A path in it is kept as a prefix of the endpoints (for a reverse proxy).
    type: str
    required: true
  management_url:
    description:
      - Base URL of MindIE's management endpoint, C(ServerConfig.managementIpAddress) and
        C(ServerConfig.managementPort), for example V(http://10.0.0.5:1041).
    type: str
    required: true
  tests:
    description:
      - The tests to run, in this order. A test named twice runs once.
    type: list
    elements: str
    choices: [health, ready, chat, generate, stream, models, generate_stream]
    default: [health, ready, chat, generate, stream]
  model:
    description:
      - Model name of the requests, C(ModelConfig.modelName) of the MindIE config. MindIE requires it on chat
        completions, so it must not be empty.
    type: str
    default: qwen2_vl
  image:
    description:
      - The test image as the MindIE daemon sees it (inside its container, when it runs in one); the module does not
        read it.
      - A plain absolute path is sent as C(file://<path>); C(file://), C(http://), C(https://) and C(data:) URLs are
        sent as they are.
    type: str
    default: /data/test_images/sample.jpg
  prompt:
    description:
      - Text of the V(chat) and V(generate) requests.
    type: str
    default: Explain the details in the image.
  stream_prompt:
    description:
      - Text of the V(stream) request.
    type: str
    default: 描述这张图片的内容
  max_tokens:
    description:
      - C(max_tokens) of the V(chat), V(generate) and V(stream) requests (the guide uses 512).
      - V(stream) needs at least 2.
    type: int
    default: 128
  timeout:
    description:
      - Seconds within which each test's whole answer (for V(stream) the last chunk) must have arrived, counted from
        the start of its request, connecting included. A test that takes longer fails with C(no answer within N s).
    type: float
    default: 120
  parallel:
    description:
      - Send the inference tests (V(chat), V(generate), V(stream), V(models), V(generate_stream)) at once, each on its
        own connection, after the health tests (V(health), V(ready)), which run first, one after the other. MindIE
        batches the requests, so the tests take about as long as the slowest one instead of the sum.
      - V(false) sends every test after the previous one has answered, in the order of O(tests).
      - RV(results) is in the order of O(tests) either way.
    type: bool
    default: true
  supervisor_state:
    description:
      - >-
        The C(supervisor.json) the instance's supervisor (C(module_utils/mindie_supervisor.py)) keeps on
        the node. It is read and returned as RV(supervisor); a missing or unreadable file gives V(null) (an
        unsupervised container).
      - Needed by O(verified_file).
    type: path
  verified_file:
    description:
      - >-
        A file on the node in which a run of every test of O(tests) that passed records the daemon it passed on, that
        is the C(daemon_pid), C(started_at), C(generation), C(config_sha256) and C(version) of O(supervisor_state)
        while its daemon ran (status V(starting) or V(running)).
      - >-
        On a later run, when O(supervisor_state) names that same daemon (the same process, started at the same time,
        with the same config.json and version) and the recorded run covered every test of O(tests), only
        O(tests_when_verified) are sent. Any restart, a new config.json or a new image sends every test again and
        records the new daemon.
      - Written with mode C(0640) (the module reports a change when it writes it); not written in check mode.
    type: path
  tests_when_verified:
    description:
      - >-
        The tests to send instead of O(tests) when O(verified_file) shows that this daemon already passed every test
        of O(tests), for example V([health, ready]), so that a re-run on an unchanged node checks that it still serves
        without inference requests.
      - Unset, every test of O(tests) is sent each time.
    type: list
    elements: str
    choices: [health, ready, chat, generate, stream, models, generate_stream]
notes:
  - The TLS options (O(ca_path), O(client_cert), O(client_key), O(client_key_passphrase), O(validate_certs),
    O(server_name)) apply to C(https://) URLs and are checked before any request; O(server_name) defaults to the
    host of each URL.
  - The answers are generated by the model; the module only checks that they are there, not what they say.
  - Run it on the node MindIE runs on (the default) to test what the node itself sees, or delegate it to another host
    to test the service from there.
seealso:
  - module: ascend.mindie.mindie_service
'''

EXAMPLES = r'''
- name: Smoke-test MindIE on the node as the deployment guide does
  ascend.mindie.mindie_smoke_test:
    business_url: http://127.0.0.1:1040
    management_url: http://127.0.0.1:1041
  register: smoke

- name: Show how long the chat answer took
  ansible.builtin.debug:
    msg: "{{ smoke.results | selectattr('name', 'equalto', 'chat') | map(attribute='latency_s') | first }} s"

- name: Only wait for readiness and check streaming, with a test image in the model directory
  ascend.mindie.mindie_smoke_test:
    business_url: "http://{{ ansible_host }}:1040"
    management_url: "http://{{ ansible_host }}:1041"
    tests: [ready, stream]
    image: /data/Qwen2-VL-7B-Instruct/demo.png
    max_tokens: 64
    timeout: 300

- name: MindIE with mutual TLS
  ascend.mindie.mindie_smoke_test:
    business_url: https://10.0.0.5:1040
    management_url: https://10.0.0.5:1041
    ca_path: /etc/mindie/certs/ca.pem
    client_cert: /etc/mindie/certs/client.pem
    client_key: /etc/mindie/certs/client.key.pem
'''

RETURN = r'''
results:
  description: One entry per test, in the order of O(tests).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The test.
      type: str
      returned: always
      sample: chat
    url:
      description: The URL requested.
      type: str
      returned: always
      sample: http://10.0.0.5:1040/v1/chat/completions
    ok:
      description: Whether the test passed.
      type: bool
      returned: always
      sample: true
    status:
      description: HTTP status of the answer; V(null) when none arrived.
      type: int
      returned: always
      sample: 200
    latency_s:
      description: Wall time of the whole request in seconds, connecting and reading the whole answer included.
      type: float
      returned: always
      sample: 7.412
    first_chunk_s:
      description: Seconds from the start of the request to the first chunk with content; V(null) when none came.
      type: float
      returned: for V(stream)
      sample: 0.284
    chunks:
      description: Number of streamed events that carried content.
      type: int
      returned: for V(stream)
      sample: 87
    prompt_tokens:
      description: C(usage.prompt_tokens) of the answer; V(null) when the answer has no C(usage).
      type: int
      returned: always
      sample: 2671
    completion_tokens:
      description:
        - C(usage.completion_tokens) of the answer; V(null) when the answer has no C(usage).
        - For V(stream) without C(usage), the number of chunks with content.
      type: int
      returned: always
      sample: 87
    health:
      description:
        - For V(ready), the service state the health endpoints gave (see RV(service_state)).
      type: str
      returned: for V(ready)
      sample: busy
    answer:
      description:
        - The first 300 characters of the answer (the body for V(health) and V(ready), empty when MindIE sent none).
        - For V(generate), the generated text without the echoed prompt.
      type: str
      returned: always
      sample: The image is a 1902x1080 JPEG picture. It shows ...
    error:
      description: Why the test failed.
      type: str
      returned: when the test failed
      sample: "HTTP 400: image file:///data/test_images/sample.jpg cannot be read: No such file or directory"
service_state:
  description:
    - What the management port's health endpoints said about the service, from the V(ready) test.
    - V(ready) (ready 200), V(busy) (ready 503 with live 200, loaded and serving but every batch slot taken; counts
      as up), V(unhealthy) (any other answer) or V(unreachable) (no answer).
    - V(null) when V(ready) was not among O(tests).
  returned: always
  type: str
  sample: ready
passed:
  description: Whether every test passed.
  returned: always
  type: bool
  sample: true
supervisor:
  description: The parsed O(supervisor_state); V(null) when it was not given or could not be read.
  returned: always
  type: dict
  sample: {"status": "running", "daemon_pid": 132, "started_at": 1796306453.8, "restarts": 0, "config_sha256": "c158..."}
verified:
  description: What O(verified_file) said and did.
  returned: always
  type: dict
  contains:
    before:
      description: Whether this daemon had already passed every test of O(tests), so O(tests_when_verified) were sent.
      type: bool
      sample: true
    recorded:
      description: Whether this run recorded the daemon in O(verified_file) (in check mode, whether it would).
      type: bool
      sample: false
    tests:
      description: The tests sent.
      type: list
      elements: str
      sample: [health, ready]
failed_tests:
  description: Names of the failed tests, in order.
  returned: always
  type: list
  elements: str
  sample: []
msg:
  description: The failed tests and why.
  returned: on failure
  type: str
  sample: "MindIE smoke tests failed at http://10.0.0.5:1040: stream: only 1 chunk; chat: HTTP 500: internal error"
'''

import json
import os
import socket
import ssl
import threading
import time

import http.client as http_client

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    MindieHTTP,
    TLSSetupError,
    describe_tls_error,
    tls_argument_spec,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import read_state_file
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_api import (
    DEFAULT_TESTS,
    LIVE_PATH,
    TESTS,
    TEST_ENDPOINTS,
    NulJSONParser,
    SSEParser,
    chat_answer,
    decode_json,
    error_detail,
    failure_message,
    generate_answer,
    http_error,
    image_url,
    join_url,
    prompt_text,
    request_body,
    service_state,
    served_models,
    short,
    split_base_url,
    stream_event,
    usage_tokens,
)

READ_SIZE = 64 * 1024
KEEP_RAW = 4096


class AnswerTimeout(Exception):
    pass


def _seconds(value):
    return round(value, 3)


def generate_stream_event(data):
    """What one NUL-ended object of a ``/generate`` stream carries, in the shape of ``stream_event``."""
    event = {'done': False, 'content': '', 'usage': None, 'error': None}
    payload = decode_json(data)
    if not isinstance(payload, dict):
        event['error'] = 'stream object is not a JSON object: %s' % ' '.join(data.split())[:200]
    elif payload.get('error') or payload.get('Error'):
        event['error'] = 'stream error: %s' % error_detail(data)
    else:
        event['content'] = generate_answer(payload)
    return event


class MindieSmokeTester(object):
    """Runs the selected tests against one MindIE Service and collects their results."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.timeout = float(self.p['timeout'])
        self.urls = {'business': self.p['business_url'].strip().rstrip('/'),
                     'management': self.p['management_url'].strip().rstrip('/')}
        self.targets = {}
        self.ssl_context = None
        self.http = MindieHTTP.from_params(self.p)
        self.image = None
        self.result = {'changed': False, 'results': [], 'passed': False, 'failed_tests': [], 'service_state': None,
                       'supervisor': None, 'verified': {'before': False, 'recorded': False, 'tests': []}}

    # ------------------------------------------------------------------ setup
    def prepare(self):
        """Validate the options; return an error message or None."""
        try:
            for kind, url in self.urls.items():
                self.targets[kind] = split_base_url(url)
            self.image = image_url(self.p['image'])
        except ValueError as exc:
            return to_native(exc)
        if self.timeout <= 0:
            return 'timeout must be greater than 0, got %s' % self.p['timeout']
        if not (self.p['model'] or '').strip():
            return 'model must not be empty: MindIE requires the model name (ModelConfig.modelName) on chat completions'
        if self.p['max_tokens'] < 1:
            return 'max_tokens must be at least 1, got %d' % self.p['max_tokens']
        if not self.p['tests']:
            return 'tests must name at least one test'
        if self.p['verified_file'] and not self.p['supervisor_state']:
            return 'verified_file needs supervisor_state: the daemon verified is the one the supervisor says runs'
        if self.p['tests_when_verified'] is not None and not self.p['tests_when_verified']:
            return 'tests_when_verified must name at least one test (leave it unset to send every test each time)'
        if self.p['client_key'] and not self.p['client_cert']:
            return 'client_key needs client_cert'
        if any(t[0] == 'https' for t in self.targets.values()):
            try:
                self.http.check()
                self.ssl_context = self.http.context()
            except TLSSetupError as exc:
                return 'cannot set up TLS: %s' % to_native(exc)
        return None

    # ------------------------------------------------------------------ HTTP
    def exchange(self, kind, method, path, body, on_data):
        """Send one request and feed the answer's bytes to ``on_data(data, elapsed)`` as they arrive.

        Returns the HTTP status. Raises AnswerTimeout when the whole answer did not arrive within the
        timeout, OSError / http.client.HTTPException / ssl.SSLError for the other failures.
        """
        scheme, host, port, prefix = self.targets[kind]
        start = time.monotonic()
        deadline = start + self.timeout

        def remaining():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AnswerTimeout()
            return left

        conn = self.http.connection(scheme, host, port, remaining())
        headers = {'Connection': 'close', 'Accept': '*/*', 'User-Agent': 'ascend.mindie.mindie_smoke_test'}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode('utf-8')
            headers['Content-Type'] = 'application/json'
            if body.get('stream'):
                headers['Accept'] = 'text/event-stream'
        try:
            conn.request(method, prefix + path, body=data, headers=headers)
            sock = conn.sock
            sock.settimeout(remaining())
            response = conn.getresponse()
            status = response.status
            while True:
                sock.settimeout(remaining())
                chunk = response.read1(READ_SIZE)
                if not chunk:
                    break
                on_data(chunk, time.monotonic() - start)
            return status
        except socket.timeout:
            raise AnswerTimeout()
        finally:
            conn.close()

    def run_test(self, name):
        kind, method, path = TEST_ENDPOINTS[name]
        result = {'name': name, 'url': join_url(self.urls[kind], path), 'ok': False, 'status': None,
                  'latency_s': None, 'prompt_tokens': None, 'completion_tokens': None, 'answer': ''}
        is_stream = name in ('stream', 'generate_stream')
        if is_stream:
            result.update(first_chunk_s=None, chunks=0)
        body = request_body(name, self.p['model'], self.image, self.p['prompt'], self.p['stream_prompt'],
                            self.p['max_tokens'])
        state = {'raw': b'', 'parser': SSEParser() if name == 'stream' else NulJSONParser(), 'content': [],
                 'usage': None, 'errors': [], 'done': False, 'body': body}

        def on_data(data, elapsed):
            if len(state['raw']) < KEEP_RAW or not is_stream:
                state['raw'] += data
            if is_stream:
                self.stream_events(state['parser'].feed(data), elapsed, state, result)

        start = time.monotonic()
        error = None
        try:
            result['status'] = self.exchange(kind, method, path, body, on_data)
        except AnswerTimeout:
            error = 'no answer within %s s' % ('%g' % self.timeout)
        except ConnectionRefusedError as exc:
            error = 'connection refused by %s (%s)' % (self.netloc(kind), to_native(exc))
        except ssl.SSLError as exc:
            error = 'TLS error with %s: %s' % (self.netloc(kind), to_native(describe_tls_error(exc)))
        except (http_client.HTTPException, OSError) as exc:
            error = 'request to %s failed: %s: %s' % (self.netloc(kind), type(exc).__name__, to_native(exc))
        result['latency_s'] = _seconds(time.monotonic() - start)
        if error is None:
            if is_stream:
                self.stream_events(state['parser'].close(), result['latency_s'], state, result)
            error = self.check(name, state, result)
        if name == 'ready':
            error = self.judge_ready(result, error)
        if error:
            result['error'] = error
        else:
            result['ok'] = True
        return result

    def judge_ready(self, result, error):
        """Ready 503 with live 200 is busy (up): the ready test passes; anything else keeps its error."""
        live = None
        if result['status'] == 503:
            live = self.probe_status('management', LIVE_PATH)
        result['health'] = service_state(result['status'], live)
        self.result['service_state'] = result['health']
        if result['health'] == 'busy':
            self.module.warn('MindIE at %s is busy: %s answered 503 while %s answered 200 (every batch slot is taken, '
                             'ServerConfig.HealthCheckConfig.npuUsageThreshold); it is loaded and serving, not down.'
                             % (self.urls['management'], result['url'], join_url(self.urls['management'], LIVE_PATH)))
            return None
        return error

    def probe_status(self, kind, path):
        """The HTTP status of a GET, None when no answer came."""
        try:
            return self.exchange(kind, 'GET', path, None, lambda data, elapsed: None)
        except (AnswerTimeout, http_client.HTTPException, OSError, ssl.SSLError):
            return None

    def netloc(self, kind):
        host, port = self.targets[kind][1:3]
        return '%s:%d' % ('[%s]' % host if ':' in host else host, port)

    # ------------------------------------------------------------------ answers
    def stream_events(self, events, elapsed, state, result):
        for data in events:
            event = stream_event(data) if result['name'] == 'stream' else generate_stream_event(data)
            if event['done']:
                state['done'] = True
            elif event['error']:
                state['errors'].append(event['error'])
            else:
                if event['usage']:
                    state['usage'] = event['usage']
                if event['content']:
                    if not state['content']:
                        result['first_chunk_s'] = _seconds(elapsed)
                    state['content'].append(event['content'])
                    result['chunks'] += 1

    def check(self, name, state, result):
        """Fill in the answer of a finished request; return why the test failed, or None."""
        status = result['status']
        if name in ('stream', 'generate_stream') and status == 200:
            answer = ''.join(state['content'])
            result['answer'] = short(answer)
            result['prompt_tokens'], result['completion_tokens'] = usage_tokens({'usage': state['usage']})
            if result['completion_tokens'] is None:
                result['completion_tokens'] = result['chunks']
            if state['errors']:
                return state['errors'][0]
            if result['chunks'] == 0:
                return 'no chunk with content in the stream%s' % self.raw_hint(state['raw'])
            if result['chunks'] == 1:
                return 'only 1 chunk'
            return None
        text = state['raw'].decode('utf-8', 'replace')
        payload = decode_json(state['raw'])
        if status != 200:
            result['answer'] = short(text)
            return http_error(status, state['raw'])
        if name in ('health', 'ready'):
            result['answer'] = short(text)
            return None
        if name == 'models':
            result['answer'] = short(text)
            served = served_models(payload)
            if served is None:
                return 'the answer is not a model list%s' % self.raw_hint(state['raw'])
            if self.p['model'] not in served:
                return 'the service does not serve model %s (it serves: %s)' % (self.p['model'], ', '.join(served) or 'none')
            return None
        result['prompt_tokens'], result['completion_tokens'] = usage_tokens(payload)
        if name == 'chat':
            answer = chat_answer(payload)
        else:
            answer = generate_answer(payload, prompt_text((state['body'] or {}).get('prompt')))
        result['answer'] = short(answer if answer else text)
        if payload is None:
            return 'the answer is not JSON%s' % self.raw_hint(state['raw'])
        if not answer.strip():
            return 'empty answer%s' % self.raw_hint(state['raw'])
        return None

    @staticmethod
    def raw_hint(raw):
        text = ' '.join(raw.decode('utf-8', 'replace').split())[:200]
        return ': %s' % text if text else ' (empty body)'

    # ------------------------------------------------------------------ run
    def execute(self):
        """The module's run: bad options fail before any request; a failed test fails the module."""
        problem = self.prepare()
        if problem:
            self.module.fail_json(msg=problem, **self.result)
        result = self.run()
        if not result['passed']:
            self.module.fail_json(**result)
        self.module.exit_json(**result)

    # ------------------------------------------------------------------ what was verified before
    DAEMON_KEYS = ('daemon_pid', 'started_at', 'generation', 'config_sha256', 'version')

    def daemon_identity(self):
        """The running daemon as its supervisor records it, or None (no state, no daemon, no pid). ``starting``
        counts: the supervisor says ``running`` only after its own first live probe, up to its interval after the
        daemon answered; the identity is the same process either way."""
        state = self.result['supervisor']
        if not state or state.get('status') not in ('starting', 'running') or not state.get('daemon_pid'):
            return None
        return dict((key, state.get(key)) for key in self.DAEMON_KEYS)

    def choose_tests(self):
        """O(tests), or O(tests_when_verified) when this very daemon already passed all of them."""
        if self.p['supervisor_state']:
            self.result['supervisor'] = read_state_file(self.p['supervisor_state'])
        identity = self.daemon_identity() if self.p['verified_file'] else None
        recorded = read_state_file(self.p['verified_file']) if identity else None
        before = bool(recorded and recorded.get('daemon') == identity
                      and set(self.p['tests']) <= set(recorded.get('tests') or []))
        self.result['verified'] = {'before': before, 'recorded': False, 'tests': []}
        if before and self.p['tests_when_verified'] is not None:
            return list(self.p['tests_when_verified']), identity, before
        return list(self.p['tests']), identity, before

    def record(self, identity, tests):
        """After every test of O(tests) passed on a supervised daemon: record it (0640, replaced atomically)."""
        self.result['verified']['recorded'] = True
        self.result['changed'] = True
        if self.module.check_mode:
            return
        path = self.p['verified_file']
        body = json.dumps({'daemon': identity, 'tests': sorted(set(tests)), 'verified_at': round(time.time(), 3)},
                          sort_keys=True) + '\n'
        tmp = '%s.tmp.%d' % (path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            with os.fdopen(fd, 'w') as handle:
                handle.write(body)
            os.chmod(tmp, 0o640)
            os.rename(tmp, path)
        except (IOError, OSError) as exc:
            self.module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc)), **self.result)

    def run(self):
        tests, identity, before = self.choose_tests()
        self.result['verified']['tests'] = tests
        self.run_tests(tests)
        if self.result['passed'] and identity and not before and tests == list(self.p['tests']):
            self.record(identity, tests)
        return self.result

    def run_tests(self, tests):
        names = []
        for name in tests:
            if name not in names:
                names.append(name)
        health = [n for n in names if TEST_ENDPOINTS[n][0] == 'management']
        inference = [n for n in names if n not in health]
        done = {}
        for name in health if self.p['parallel'] else names:
            done[name] = self.run_test(name)
        if self.p['parallel'] and inference:
            # One thread per inference test: each has its own connection and result dict; the tester's shared state
            # (service_state) is written by the ready test only, which ran before.
            def work(test):
                try:
                    done[test] = self.run_test(test)
                except Exception as exc:  # pylint: disable=broad-except
                    # A bug in one test's handling fails that test, not the others (nor a thread's silent death).
                    kind, dummy, path = TEST_ENDPOINTS[test]
                    done[test] = {'name': test, 'url': join_url(self.urls[kind], path), 'ok': False, 'status': None,
                                  'error': 'the test failed inside the module: %s: %s' % (type(exc).__name__, exc)}
            threads = [threading.Thread(target=work, args=(n,), name='mindie-smoke-%s' % n) for n in inference]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.result['results'] = [done[n] for n in names]
        self.result['failed_tests'] = [r['name'] for r in self.result['results'] if not r['ok']]
        self.result['passed'] = not self.result['failed_tests']
        if not self.result['passed']:
            self.result['msg'] = failure_message(self.result['results'], self.urls)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            business_url=dict(type='str', required=True),
            management_url=dict(type='str', required=True),
            tests=dict(type='list', elements='str', choices=list(TESTS), default=list(DEFAULT_TESTS)),
            model=dict(type='str', default='qwen2_vl'),
            image=dict(type='str', default='/data/test_images/sample.jpg'),
            prompt=dict(type='str', default='Explain the details in the image.'),
            stream_prompt=dict(type='str', default=u'描述这张图片的内容'),
            max_tokens=dict(type='int', default=128, no_log=False),
            timeout=dict(type='float', default=120),
            parallel=dict(type='bool', default=True),
            supervisor_state=dict(type='path'),
            verified_file=dict(type='path'),
            tests_when_verified=dict(type='list', elements='str', choices=list(TESTS)),
            **tls_argument_spec()
        ),
        supports_check_mode=True,
    )
    MindieSmokeTester(module).execute()


if __name__ == '__main__':
    main()
