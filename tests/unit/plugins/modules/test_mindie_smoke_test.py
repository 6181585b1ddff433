# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_smoke_test against the real simulated MindIE daemon and small fake servers.

The simulated daemon (sandbox/images/mindie-sim) runs as a local subprocess on 127.0.0.1 with
temporary directories, through the ``Sim`` helper of tests/unit/sandbox/test_mindie_sim.py.
Fake servers (http.server in a thread) cover what the simulator does not do: a stream of one
chunk, answers split at odd places, a stalled stream, error bodies and mutual TLS.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_smoke_test

SANDBOX_TESTS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'sandbox'))
if SANDBOX_TESTS not in sys.path:
    sys.path.insert(0, SANDBOX_TESTS)
from test_mindie_sim import Sim, assets, free_port  # noqa: E402,F401  pylint: disable=unused-import

main = mindie_smoke_test.main
ALL = ['health', 'ready', 'chat', 'generate', 'stream']
JPEG_SENTENCE = 'The image is a 1902x1080 JPEG picture.'


def metric(port, name):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + '{'):
            return float(line.rsplit(' ', 1)[1])
    raise AssertionError('%s missing' % name)


@pytest.fixture
def sim(tmp_path, assets):  # noqa: F811
    s = Sim(tmp_path, assets)
    yield s
    s.cleanup()


def wait_ready(sim, limit=20):
    """The ports open after the load; ready then answers 500 (SERVICE_INIT) for one health interval, then 200."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/v2/health/ready' % sim.mport, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError('the simulated daemon did not become ready')


@pytest.fixture
def running(sim):
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1)
    wait_ready(sim)
    yield sim
    sim.stop(proc)


def sim_args(sim, **extra):
    args = {'business_url': 'http://127.0.0.1:%d' % sim.port, 'management_url': 'http://127.0.0.1:%d/' % sim.mport,
            'image': os.path.join(sim.images, 'sample.jpg')}
    args.update(extra)
    return args


def by_name(result):
    return dict((r['name'], r) for r in result['results'])


# ---------------------------------------------------------------------- against the simulated daemon

@pytest.mark.parametrize('check_mode', [False, True])
def test_all_five_pass_with_real_answers(run_module, running, check_mode):
    result = run_module(main, sim_args(running), check_mode=check_mode)
    assert result['changed'] is False and result['passed'] is True and result['failed_tests'] == []
    assert 'msg' not in result
    assert [r['name'] for r in result['results']] == ALL
    res = by_name(result)
    for r in result['results']:
        assert r['ok'] is True and r['status'] == 200 and 'error' not in r
        assert 0 <= r['latency_s'] < 30  # (rounded: a fast local answer can be 0.0)
    assert res['health']['url'] == 'http://127.0.0.1:%d/health' % running.mport
    assert res['ready']['url'] == 'http://127.0.0.1:%d/v2/health/ready' % running.mport
    assert res['chat']['url'] == 'http://127.0.0.1:%d/v1/chat/completions' % running.port
    assert res['generate']['url'] == 'http://127.0.0.1:%d/generate' % running.port
    assert res['health']['prompt_tokens'] is None and res['ready']['completion_tokens'] is None
    assert 'chunks' not in res['chat'] and 'first_chunk_s' not in res['health']
    # chat: the simulator names the (plain path -> file://) image it read
    assert res['chat']['answer'].split('. ')[0] + '.' == JPEG_SENTENCE
    assert res['chat']['prompt_tokens'] > 2652                       # 1902x1080 -> 2652 image tokens
    assert 40 <= res['chat']['completion_tokens'] <= 120
    assert len(res['chat']['answer']) <= 300
    # generate: {"text": [...]}, no usage
    assert res['generate']['answer'].startswith(JPEG_SENTENCE)
    assert res['generate']['prompt_tokens'] is None and res['generate']['completion_tokens'] is None
    # stream: many chunks, usage from the last event
    stream = res['stream']
    assert stream['answer'].startswith(JPEG_SENTENCE)
    assert stream['chunks'] > 1 and stream['completion_tokens'] == stream['chunks']
    assert stream['prompt_tokens'] > 2652
    assert 0 < stream['first_chunk_s'] < stream['latency_s']


def test_options_reach_the_requests(run_module, running):
    png = 'file://' + os.path.join(running.images, 'sample.png')
    result = run_module(main, sim_args(running, image=png, max_tokens=5, tests=['chat', 'stream', 'generate']))
    res = by_name(result)
    assert [r['name'] for r in result['results']] == ['chat', 'stream', 'generate']
    assert res['chat']['completion_tokens'] == 5 and res['stream']['chunks'] == 5
    assert res['chat']['answer'].startswith('The image is a 640x480')
    # a model name the daemon does not serve
    result = run_module(main, sim_args(running, model='llama', tests=['chat']), expect_fail=True)
    assert result['results'][0]['status'] == 422
    assert result['results'][0]['error'] == 'HTTP 422: Input Validation Error: Model not found'


def test_missing_image_fails_with_the_daemons_error(run_module, running):
    result = run_module(main, sim_args(running, image='/nonexistent/pic.jpg'), expect_fail=True)
    assert result['passed'] is False and result['changed'] is False
    assert result['failed_tests'] == ['chat', 'generate', 'stream']
    res = by_name(result)
    assert res['health']['ok'] and res['ready']['ok']
    chat = res['chat']
    assert chat['status'] == 422 and chat['ok'] is False
    # the daemon's error text and type (422 Input Validation Error in 3.0)
    assert chat['error'].startswith('HTTP 4') and ': Input Validation Error: ' in chat['error']
    assert chat['error'].endswith('image file:///nonexistent/pic.jpg cannot be read: No such file or directory')
    assert res['stream']['status'] == 422 and res['stream']['chunks'] == 0
    assert result['msg'].startswith('MindIE smoke tests failed at http://127.0.0.1:%d: chat: HTTP 422: Input Validation '
                                    'Error: image file:///nonexistent/pic.jpg' % running.port)
    assert '; generate: HTTP 422' in result['msg'] and '; stream: HTTP 422' in result['msg']


def test_tiny_timeout(run_module, running):
    result = run_module(main, sim_args(running, timeout=0.005, tests=['chat', 'generate', 'stream']),
                        expect_fail=True)
    assert result['failed_tests'] == ['chat', 'generate', 'stream']
    for r in result['results']:
        assert r['error'] == 'no answer within 0.005 s'
        assert r['latency_s'] < 1
    assert 'chat: no answer within 0.005 s' in result['msg']
    # the same requests pass with the default timeout
    assert run_module(main, sim_args(running, tests=['chat', 'generate', 'stream']))['passed']


def test_only_health_runs_only_health(run_module, running):
    result = run_module(main, sim_args(running, tests=['health', 'health']))
    assert [r['name'] for r in result['results']] == ['health']
    assert metric(running.xport, 'request_received_total') == 0     # no inference request was sent
    run_module(main, sim_args(running, tests=['health', 'chat']))
    assert metric(running.xport, 'request_received_total') == 1


def test_closed_port_is_connection_refused(run_module):
    port, mport = free_port(), free_port()
    args = {'business_url': 'http://127.0.0.1:%d' % port, 'management_url': 'http://127.0.0.1:%d' % mport}
    result = run_module(main, dict(args, tests=['health']), expect_fail=True)
    assert len(result['results']) == 1
    health = result['results'][0]
    assert health['ok'] is False and health['status'] is None
    assert health['error'].startswith('connection refused by 127.0.0.1:%d' % mport)
    assert result['msg'].startswith('MindIE smoke tests failed at http://127.0.0.1:%d: health: connection refused'
                                    % mport)
    result = run_module(main, args, expect_fail=True)
    assert result['failed_tests'] == ALL
    assert all('connection refused' in r['error'] for r in result['results'])
    assert result['msg'].startswith('MindIE smoke tests failed at http://127.0.0.1:%d and http://127.0.0.1:%d: '
                                    % (port, mport))


def test_ready_fails_during_warm_up(run_module, sim):
    """The ports open only after the model is loaded and warmed up: while loading, the connection is refused."""
    proc = sim.spawn(MINDIE_SIM_WARMUP_S=1500)     # 30 s of warm-up at the test scale
    deadline = time.time() + 20
    while time.time() < deadline and 'g_mainPid' not in sim.output(proc):
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None
    result = run_module(main, sim_args(sim, tests=['ready']), expect_fail=True)
    ready = result['results'][0]
    assert ready['status'] is None and ready['error'].startswith('connection refused by 127.0.0.1:%d' % sim.mport)
    assert ready['health'] == 'unreachable' and result['service_state'] == 'unreachable'
    assert result['failed_tests'] == ['ready']


def test_bad_options_fail_before_any_request(run_module):
    base = {'business_url': 'http://127.0.0.1:1', 'management_url': 'http://127.0.0.1:2'}
    result = run_module(main, dict(base, image='relative.jpg'), expect_fail=True)
    assert 'absolute path' in result['msg'] and result['results'] == []
    result = run_module(main, dict(base, business_url='127.0.0.1:1040'), expect_fail=True)
    assert 'not an http:// or https:// URL' in result['msg']
    result = run_module(main, dict(base, timeout=0), expect_fail=True)
    assert 'timeout must be greater than 0' in result['msg']
    result = run_module(main, dict(base, tests=['health', 'bogus']), expect_fail=True)
    assert 'bogus' in result['msg']


# ---------------------------------------------------------------------- fake servers

class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        self.body = json.loads(self.rfile.read(length).decode('utf-8'))
        self.server.bodies.append(self.body)
        self.handle_any()

    def handle_any(self):
        route = self.server.routes.get((self.command, self.path))
        if route is None:
            return self.send_plain(404, b'{"error": "Not Found"}')
        route(self)

    def send_plain(self, status, body, ctype='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_pieces(self, pieces, delay=0.0):
        """A chunked text/event-stream answer, one HTTP chunk per piece, flushed one by one."""
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.close_connection = True
        for piece in pieces:
            self.wfile.write(b'%x\r\n%s\r\n' % (len(piece), piece))
            self.wfile.flush()
            time.sleep(delay or 0.002)
        self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()


@pytest.fixture
def fake():
    server = ThreadingHTTPServer(('127.0.0.1', 0), FakeHandler)
    server.daemon_threads = True
    server.routes = {('GET', '/health'): lambda h: h.send_plain(200, b'{}')}
    server.bodies = []
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def fake_args(server, tests, **extra):
    args = {'business_url': server.url, 'management_url': server.url, 'tests': tests}
    args.update(extra)
    return args


def sse(content):
    event = {'choices': [{'index': 0, 'delta': {'content': content}}]}
    return ('data: %s\n\n' % json.dumps(event, ensure_ascii=False)).encode('utf-8')


def test_stream_of_one_chunk_fails(run_module, fake):
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_pieces(
        [sse(u'Only one piece.') + b'data: [DONE]\n\n'])
    result = run_module(main, fake_args(fake, ['health', 'stream']), expect_fail=True)
    stream = by_name(result)['stream']
    assert stream['ok'] is False and stream['status'] == 200
    assert stream['chunks'] == 1 and stream['answer'] == 'Only one piece.'
    assert stream['error'] == 'only 1 chunk'
    assert result['failed_tests'] == ['stream']
    assert result['msg'] == 'MindIE smoke tests failed at %s: stream: only 1 chunk' % fake.url
    body = fake.bodies[0]
    assert body['stream'] is True and body['max_tokens'] == 128 and body['temperature'] == 0.7
    assert body['messages'][0]['content'] == [
        {'type': 'text', 'text': u'描述这张图片的内容'},
        {'type': 'image_url', 'image_url': {'url': 'file:///data/test_images/sample.jpg'}}]


def test_stream_split_at_odd_places_passes(run_module, fake):
    raw = (b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\r\n\r\n'
           + b': comment\r\n\r\n' + sse(u'图片里') + sse(u'是一只猫') + sse(u'。').replace(b'data: ', b'data:')
           + b'data: [DONE]\n\n')
    # HTTP chunks of 5 bytes: splits inside "data:", inside CRLF pairs and inside UTF-8 characters
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_pieces(
        [raw[i:i + 5] for i in range(0, len(raw), 5)], delay=0.001)
    result = run_module(main, fake_args(fake, ['stream'], max_tokens=3, stream_prompt='Describe.'))
    stream = result['results'][0]
    assert stream['ok'] is True and stream['chunks'] == 3
    assert stream['answer'] == u'图片里是一只猫。'
    assert stream['completion_tokens'] == 3 and stream['prompt_tokens'] is None    # no usage: chunks counted
    assert stream['first_chunk_s'] <= stream['latency_s']
    assert fake.bodies[0]['max_tokens'] == 3 and fake.bodies[0]['messages'][0]['content'][0]['text'] == 'Describe.'


def test_stream_must_end_within_timeout(run_module, fake):
    # a chunk every 0.15 s never idles longer than the timeout, but the whole answer takes 3 s
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_pieces(
        [sse('tok%d ' % i) for i in range(20)], delay=0.15)
    start = time.time()
    result = run_module(main, fake_args(fake, ['stream'], timeout=0.6), expect_fail=True)
    stream = result['results'][0]
    assert stream['error'] == 'no answer within 0.6 s'
    assert 1 <= stream['chunks'] < 20 and stream['first_chunk_s'] is not None
    assert time.time() - start < 2


def test_stream_without_events_or_with_an_error_event(run_module, fake):
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_plain(
        200, b'{"choices": [{"message": {"content": "not streamed"}}]}')
    stream = run_module(main, fake_args(fake, ['stream']), expect_fail=True)['results'][0]
    assert stream['chunks'] == 0 and stream['error'].startswith('no chunk with content in the stream: {"choices"')
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_pieces(
        [sse('a'), sse('b'), b'data: {"error": "NPU out of memory", "error_type": "Internal"}\n\n'])
    stream = run_module(main, fake_args(fake, ['stream']), expect_fail=True)['results'][0]
    assert stream['chunks'] == 2 and stream['error'] == 'stream error: Internal: NPU out of memory'


def test_http_errors_and_empty_answers(run_module, fake):
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_plain(
        500, b'{"error": "internal error", "error_type": "Internal Server Error"}')
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(200, b'{"text": [""]}')
    fake.routes[('GET', '/v2/health/ready')] = lambda h: h.send_plain(200, b'{"status": "ready"}')
    result = run_module(main, fake_args(fake, ['ready', 'chat', 'generate']), expect_fail=True)
    res = by_name(result)
    assert res['ready']['ok'] and res['ready']['answer'] == '{"status": "ready"}'
    assert res['chat']['error'] == 'HTTP 500: Internal Server Error: internal error' and res['chat']['status'] == 500
    assert res['generate']['status'] == 200 and res['generate']['error'].startswith('empty answer')
    assert result['msg'] == ('MindIE smoke tests failed at %s: chat: HTTP 500: Internal Server Error: internal error; generate: %s'
                             % (fake.url, res['generate']['error']))
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(200, b'<html>ok</html>', 'text/html')
    gen = run_module(main, fake_args(fake, ['generate']), expect_fail=True)['results'][0]
    assert gen['error'] == 'the answer is not JSON: <html>ok</html>'


def test_generate_and_chat_bodies_sent(run_module, fake):
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(200, b'{"text": ["A cat."]}')
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_plain(
        200, b'{"choices": [{"message": {"role": "assistant", "content": "A dog."}}], '
             b'"usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}')
    result = run_module(main, fake_args(fake, ['generate', 'chat'], image='http://img.local/a.png', model='m2',
                                        prompt='What is it?', max_tokens=64))
    res = by_name(result)
    assert res['generate']['answer'] == 'A cat.' and res['chat']['answer'] == 'A dog.'
    assert (res['chat']['prompt_tokens'], res['chat']['completion_tokens']) == (10, 3)
    # (the two tests run at once: their bodies arrive in either order)
    gen = [b for b in fake.bodies if 'prompt' in b][0]
    chat = [b for b in fake.bodies if 'messages' in b][0]
    assert gen['prompt'] == [{'type': 'image_url', 'image_url': 'http://img.local/a.png'},
                             {'type': 'text', 'text': 'What is it?'}]
    assert gen['model'] == 'm2' and gen['max_tokens'] == 64 and gen['top_k'] == 1 and gen['stream'] is False
    assert chat['messages'][0]['content'][0]['image_url'] == {'url': 'http://img.local/a.png'}
    assert chat['model'] == 'm2' and chat['max_tokens'] == 64 and chat['stream'] is False


def test_base_url_path_is_a_prefix(run_module, fake):
    fake.routes[('GET', '/proxy/health')] = lambda h: h.send_plain(200, b'{}')
    del fake.routes[('GET', '/health')]
    result = run_module(main, fake_args(fake, ['health'], management_url=fake.url + '/proxy/'))
    assert result['results'][0]['url'] == fake.url + '/proxy/health'


# ---------------------------------------------------------------------- TLS

def openssl(*args, **kwargs):
    subprocess.run(['openssl'] + list(args), check=True, capture_output=True, **kwargs)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    if not shutil.which('openssl'):
        pytest.skip('openssl is needed to make test certificates')
    d = tmp_path_factory.mktemp('pki')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', str(d / 'ca.key'), '-out', str(d / 'ca.pem'), '-days', '2',
            '-subj', '/CN=smoke-test-ca')
    (d / 'server.ext').write_text('subjectAltName=IP:127.0.0.1\n')
    for name in ('server', 'client'):
        openssl('req', *ec, '-keyout', str(d / (name + '.key')), '-out', str(d / (name + '.csr')),
                '-subj', '/CN=%s' % name)
        extra = ['-extfile', str(d / 'server.ext')] if name == 'server' else []
        openssl('x509', '-req', '-in', str(d / (name + '.csr')), '-CA', str(d / 'ca.pem'), '-CAkey', str(d / 'ca.key'),
                '-CAcreateserial', '-out', str(d / (name + '.pem')), '-days', '2', *extra)
    return d


@pytest.fixture
def tls_fake(fake, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki / 'server.pem'), str(pki / 'server.key'))
    context.load_verify_locations(str(pki / 'ca.pem'))
    context.verify_mode = ssl.CERT_REQUIRED               # mutual TLS
    fake.socket = context.wrap_socket(fake.socket, server_side=True)
    fake.handle_error = lambda request, address: None     # refused handshakes are expected
    fake.url = fake.url.replace('http://', 'https://')
    return fake


def test_mutual_tls(run_module, tls_fake, pki):
    ca, cert, key = str(pki / 'ca.pem'), str(pki / 'client.pem'), str(pki / 'client.key')
    result = run_module(main, fake_args(tls_fake, ['health'], ca_path=ca, client_cert=cert, client_key=key))
    assert result['results'][0]['ok'] is True and result['results'][0]['url'].startswith('https://')
    # the server's certificate is verified against the system CAs when ca_path is not given ...
    result = run_module(main, fake_args(tls_fake, ['health'], client_cert=cert, client_key=key), expect_fail=True)
    assert 'CERTIFICATE_VERIFY_FAILED' in result['results'][0]['error']
    # ... unless validate_certs is false
    result = run_module(main, fake_args(tls_fake, ['health'], validate_certs=False, client_cert=cert, client_key=key))
    assert result['passed']
    # without a client certificate the server refuses the connection
    result = run_module(main, fake_args(tls_fake, ['health'], ca_path=ca), expect_fail=True)
    assert result['results'][0]['ok'] is False and result['results'][0]['status'] is None
    # a missing certificate file is an option error
    result = run_module(main, fake_args(tls_fake, ['health'], client_cert=str(pki / 'nope.pem')), expect_fail=True)
    assert result['msg'].startswith('cannot set up TLS: client_cert') and result['results'] == []


# ---------------------------------------------------------------------- models: the business-port client check

def test_models_checks_the_business_port_alone(run_module, running):
    result = run_module(main, sim_args(running, tests=['models'],
                                       management_url='http://127.0.0.1:%d' % free_port()))
    assert result['passed'] is True and [r['name'] for r in result['results']] == ['models']
    models = result['results'][0]
    assert models['url'] == 'http://127.0.0.1:%d/v1/models' % running.port and models['status'] == 200
    # a model the service does not serve
    result = run_module(main, sim_args(running, tests=['models'], model='llama'), expect_fail=True)
    assert result['results'][0]['error'] == 'the service does not serve model llama (it serves: qwen2_vl)'
    assert metric(running.xport, 'request_received_total') == 0     # no inference request was sent


def test_models_is_not_a_default_test(run_module, running):
    result = run_module(main, sim_args(running))
    assert [r['name'] for r in result['results']] == ALL


def test_models_refuses_an_answer_that_is_no_model_list(run_module, fake):
    fake.routes[('GET', '/v1/models')] = lambda h: h.send_plain(200, b'{"object": "list"}')
    result = run_module(main, fake_args(fake, ['models']), expect_fail=True)
    assert result['results'][0]['error'] == 'the answer is not a model list: {"object": "list"}'
    fake.routes[('GET', '/v1/models')] = lambda h: h.send_plain(200, b'{"data": [{"id": "qwen2_vl"}, {"id": "x"}]}')
    assert run_module(main, fake_args(fake, ['models']))['passed']


# ---------------------------------------------------------------------- issue 11: real 3.0 shapes (fake servers)

def test_health_and_ready_pass_on_an_empty_200(run_module, fake):
    fake.routes[('GET', '/health')] = lambda h: h.send_plain(200, b'')
    fake.routes[('GET', '/v2/health/ready')] = lambda h: h.send_plain(200, b'')
    result = run_module(main, fake_args(fake, ['health', 'ready']))
    res = by_name(result)
    assert res['health']['ok'] and res['health']['answer'] == ''
    assert res['ready']['ok'] and res['ready']['health'] == 'ready' and result['service_state'] == 'ready'


def test_busy_ready_503_with_live_200_is_up(run_module, fake):
    fake.routes[('GET', '/v2/health/ready')] = lambda h: h.send_plain(
        503, b'{"message": "Service is alive but busy. Consider reducing request frequency"}')
    fake.routes[('GET', '/v2/health/live')] = lambda h: h.send_plain(200, b'{"message": "Service is alive but busy"}')
    result = run_module(main, fake_args(fake, ['health', 'ready']))
    ready = by_name(result)['ready']
    assert result['passed'] is True and ready['ok'] is True and ready['status'] == 503
    assert ready['health'] == 'busy' and result['service_state'] == 'busy' and 'error' not in ready
    # live down too: not busy, the ready test fails with the server's text
    fake.routes[('GET', '/v2/health/live')] = lambda h: h.send_plain(500, b'{"message": "Service is abnormal"}')
    result = run_module(main, fake_args(fake, ['ready']), expect_fail=True)
    ready = result['results'][0]
    assert ready['health'] == 'unhealthy' and result['service_state'] == 'unhealthy'
    assert ready['error'] == 'HTTP 503: Service is alive but busy. Consider reducing request frequency'
    # no live endpoint answer at all (404): still unhealthy
    del fake.routes[('GET', '/v2/health/live')]
    assert run_module(main, fake_args(fake, ['ready']), expect_fail=True)['service_state'] == 'unhealthy'


def test_generate_answer_that_only_echoes_the_prompt_fails(run_module, fake):
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(200, b'{"text": ["Explain the details in the image. "]}')
    gen = run_module(main, fake_args(fake, ['generate']), expect_fail=True)['results'][0]
    assert gen['status'] == 200 and gen['error'].startswith('empty answer: {"text": ["Explain the details')
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(
        200, b'{"text": ["Explain the details in the image. The image is a 640x480 PNG picture."]}')
    gen = run_module(main, fake_args(fake, ['generate']))['results'][0]
    assert gen['ok'] and gen['answer'] == 'The image is a 640x480 PNG picture.'


def test_generate_stream_of_nul_ended_json(run_module, fake):
    raw = b'{"text": ["The image"]}\0{"text": [" is a"]}\0{"text": [" picture."]}\0{"text": [""]}\0'
    fake.routes[('POST', '/generate')] = lambda h: h.send_pieces([raw[i:i + 4] for i in range(0, len(raw), 4)])
    result = run_module(main, fake_args(fake, ['generate_stream'], max_tokens=3))
    res = result['results'][0]
    assert res['ok'] and res['chunks'] == 3 and res['answer'] == 'The image is a picture.'
    assert fake.bodies[0]['stream'] is True and fake.bodies[0]['prompt'][1]['text'] == 'Explain the details in the image.'
    # SSE is not what /generate streams: no NUL, one object that is no JSON
    fake.routes[('POST', '/generate')] = lambda h: h.send_pieces([b'data: {"text": ["a"]}\n\n', b'data: {"text": ["b"]}\n\n'])
    res = run_module(main, fake_args(fake, ['generate_stream']), expect_fail=True)['results'][0]
    assert res['chunks'] == 0 and 'not a JSON object' in res['error']


def test_chat_stream_role_chunk_first_and_usage_in_the_last_content_chunk(run_module, fake):
    role = b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\n\n'
    last = (b'data: {"choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "length"}], '
            b'"usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}}\n\n')
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_pieces(
        [role, sse(u'A'), sse(u' cat'), last, b'data: [DONE]\n\n'])
    res = run_module(main, fake_args(fake, ['stream']))['results'][0]
    assert res['ok'] and res['chunks'] == 3 and res['answer'] == 'A cat.'
    assert (res['prompt_tokens'], res['completion_tokens']) == (20, 3)
    assert fake.bodies[0]['model'] == 'qwen2_vl'


def test_chat_422_reports_the_real_error(run_module, fake):
    fake.routes[('POST', '/v1/chat/completions')] = lambda h: h.send_plain(
        422, b'{"error":"Model name mismatch, expected qwen2_vl","error_type":"Input Validation Error"}')
    res = run_module(main, fake_args(fake, ['chat'], model='other'), expect_fail=True)['results'][0]
    assert res['error'] == 'HTTP 422: Input Validation Error: Model name mismatch, expected qwen2_vl'
    assert fake.bodies[0]['model'] == 'other'


def test_empty_model_refused_before_any_request(run_module, fake):
    result = run_module(main, fake_args(fake, ['chat'], model='  '), expect_fail=True)
    assert 'model must not be empty' in result['msg'] and result['results'] == [] and fake.bodies == []


def test_busy_simulated_daemon_is_up_not_down(run_module, sim):
    """npuUsageThreshold > 0, one batch slot, requests back to back: ready 503 + live 200 is busy and passes."""
    sim.config['ServerConfig']['HealthCheckConfig'] = {'npuUsageThreshold': 1}
    sim.config['BackendConfig']['ScheduleConfig'].update(maxBatchSize=1)
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1)
    wait_ready(sim)
    stop = threading.Event()
    body = json.dumps({'model': 'qwen2_vl', 'max_tokens': 2048, 'messages': [{'role': 'user', 'content': [
        {'type': 'image_url', 'image_url': {'url': 'file://' + os.path.join(sim.images, 'sample.jpg')}},
        {'type': 'text', 'text': 'Explain the details in the image.'}]}]}).encode()

    def load():
        while not stop.is_set():
            req = urllib.request.Request('http://127.0.0.1:%d/v1/chat/completions' % sim.port, data=body,
                                         headers={'Content-Type': 'application/json'})
            try:
                urllib.request.urlopen(req, timeout=30).read()
            except (urllib.error.HTTPError, OSError):
                time.sleep(0.01)
    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    busy = None
    try:
        deadline = time.time() + 20
        while time.time() < deadline and busy is None:
            result = run_module(main, sim_args(sim, tests=['health', 'ready']))
            if result['service_state'] == 'busy':
                busy = result
            else:
                assert result['service_state'] == 'ready'
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(40)
        sim.stop(proc)
    assert busy is not None, 'the simulated daemon never answered busy'
    ready = by_name(busy)['ready']
    assert busy['passed'] is True and ready['ok'] is True and ready['status'] == 503 and ready['health'] == 'busy'


# ---------------------------------------------------------------------- the tests at once (parallel)

def slow_routes(server, delay):
    """health and ready answer at once; chat, generate and stream each take `delay` s. Every request's (path,
    arrival, answer) lands in server.spans."""
    server.spans = []
    lock = threading.Lock()

    def timed(answer, wait):
        def route(handler):
            start = time.monotonic()
            time.sleep(wait)
            with lock:      # the end is taken before the answer goes out: the client cannot have it earlier
                server.spans.append((handler.path, start, time.monotonic()))
            answer(handler)
        return route
    chat = (b'{"choices": [{"message": {"role": "assistant", "content": "A dog."}}], '
            b'"usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}')
    streamed = timed(lambda h: h.send_pieces([sse(u'A '), sse(u'dog.'), b'data: [DONE]\n\n']), delay)
    plain = timed(lambda h: h.send_plain(200, chat), delay)
    server.routes.update({
        ('GET', '/health'): timed(lambda h: h.send_plain(200, b'{}'), 0.0),
        ('GET', '/v2/health/ready'): timed(lambda h: h.send_plain(200, b''), 0.0),
        ('POST', '/generate'): timed(lambda h: h.send_plain(200, b'{"text": ["A cat."]}'), delay),
        ('POST', '/v1/chat/completions'): lambda h: (streamed if h.body.get('stream') else plain)(h),
    })


def test_inference_tests_run_at_once_after_the_health_tests(run_module, fake):
    slow_routes(fake, 1.0)
    tests = ['stream', 'chat', 'health', 'generate', 'ready']
    start = time.monotonic()
    result = run_module(main, fake_args(fake, tests))
    took = time.monotonic() - start
    assert result['passed'] is True
    # RV(results) keeps the order of the tests option, whatever order the answers came in
    assert [r['name'] for r in result['results']] == tests
    spans = dict((path, (a, b)) for path, a, b in fake.spans if path != '/v1/chat/completions')
    chats = [(a, b) for path, a, b in fake.spans if path == '/v1/chat/completions']
    assert len(chats) == 2 and len(fake.spans) == 5
    inference = chats + [spans['/generate']]
    # the health tests answered before any inference request arrived
    assert max(spans['/health'][1], spans['/v2/health/ready'][1]) <= min(a for a, b in inference)
    # the three slow requests overlapped: each one started before any of them ended
    assert max(a for a, b in inference) < min(b for a, b in inference)
    assert took < 2.5, took          # three 1 s answers at once, not 3 s one after the other


def test_parallel_false_sends_one_test_after_the_other(run_module, fake):
    slow_routes(fake, 0.5)
    tests = ['health', 'chat', 'generate', 'stream']
    start = time.monotonic()
    result = run_module(main, fake_args(fake, tests, parallel=False))
    took = time.monotonic() - start
    assert result['passed'] is True and [r['name'] for r in result['results']] == tests
    spans = sorted(fake.spans, key=lambda span: span[1])
    assert [path for path, a, b in spans] == ['/health', '/v1/chat/completions', '/generate', '/v1/chat/completions']
    for (p1, a1, b1), (p2, a2, b2) in zip(spans, spans[1:]):
        assert b1 <= a2, spans         # no request while the previous one is unanswered
    assert took >= 1.5, took


def test_a_failure_inside_one_parallel_test_fails_that_test_only(run_module, fake, monkeypatch):
    slow_routes(fake, 0.1)
    real = mindie_smoke_test.MindieSmokeTester.check

    def broken(self, name, state, result):
        if name == 'generate':
            raise KeyError('text')
        return real(self, name, state, result)
    monkeypatch.setattr(mindie_smoke_test.MindieSmokeTester, 'check', broken)
    result = run_module(main, fake_args(fake, ['health', 'chat', 'generate', 'stream']), expect_fail=True)
    res = by_name(result)
    assert result['failed_tests'] == ['generate']
    assert res['generate']['ok'] is False and res['generate']['url'] == fake.url + '/generate'
    assert res['generate']['error'] == "the test failed inside the module: KeyError: 'text'"
    assert res['chat']['ok'] is True and res['stream']['ok'] is True and res['stream']['chunks'] == 2


# ------------------------------------------------------------------ the daemon verified before

def fake_inference(server):
    """A fake that answers chat, generate and stream, and counts the inference requests it got."""
    server.inference = []

    def chat(handler):
        server.inference.append('chat-or-stream')
        if handler.body.get('stream'):
            return handler.send_pieces([sse('a'), sse('b'), b'data: [DONE]\n\n'])
        handler.send_plain(200, json.dumps({'choices': [{'message': {'content': 'an answer'}}],
                                            'usage': {'prompt_tokens': 3, 'completion_tokens': 2}}).encode())

    def generate(handler):
        server.inference.append('generate')
        handler.send_plain(200, b'{"text": ["A cat."]}')
    server.routes.update({('GET', '/v2/health/ready'): lambda h: h.send_plain(200, b''),
                          ('POST', '/v1/chat/completions'): chat, ('POST', '/generate'): generate})


def supervised(tmp_path, **state):
    data = {'status': 'running', 'daemon_pid': 132, 'started_at': 1796306453.813, 'generation': 1,
            'config_sha256': 'c158', 'version': '1.0.0', 'restarts': 0}
    data.update(state)
    path = tmp_path / 'supervisor.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_a_verified_daemon_gets_only_the_tests_when_verified(run_module, fake, tmp_path):
    fake_inference(fake)
    verified = tmp_path / 'verified.json'
    args = fake_args(fake, ['health', 'ready', 'chat', 'generate', 'stream'], supervisor_state=supervised(tmp_path),
                     verified_file=str(verified), tests_when_verified=['health', 'ready'])
    # in check mode the full run says it would record the daemon, and writes nothing
    result = run_module(main, args, check_mode=True)
    assert result['changed'] and result['verified'] == {'before': False, 'recorded': True,
                                                        'tests': ['health', 'ready', 'chat', 'generate', 'stream']}
    assert not verified.exists()
    first = run_module(main, args)
    assert first['passed'] and first['changed'] and first['verified']['recorded']
    assert first['supervisor']['daemon_pid'] == 132
    assert len(fake.inference) == 6          # 3 in check mode, 3 now
    assert oct(verified.stat().st_mode & 0o777) == '0o640'
    again = run_module(main, args)
    assert again['passed'] and not again['changed']
    assert again['verified'] == {'before': True, 'recorded': False, 'tests': ['health', 'ready']}
    assert [r['name'] for r in again['results']] == ['health', 'ready']
    assert len(fake.inference) == 6          # no inference request the second time


@pytest.mark.parametrize('change', [{'daemon_pid': 133}, {'started_at': 1796306999.0}, {'config_sha256': 'beef'},
                                    {'version': '1.0.1'}, {'generation': 2}])
def test_another_daemon_is_verified_in_full_again(run_module, fake, tmp_path, change):
    fake_inference(fake)
    verified = tmp_path / 'verified.json'
    # 'starting': the supervisor's own first live probe is still to come; the same daemon later says 'running'
    args = fake_args(fake, ['health', 'ready', 'chat'], supervisor_state=supervised(tmp_path, status='starting'),
                     verified_file=str(verified), tests_when_verified=['health'])
    assert run_module(main, args)['verified']['recorded']
    supervised(tmp_path, **change)      # restarted, reconfigured or upgraded since
    result = run_module(main, args)
    assert result['verified'] == {'before': False, 'recorded': True, 'tests': ['health', 'ready', 'chat']}
    assert result['changed'] and len(fake.inference) == 2


def test_no_record_for_a_failed_run_a_partial_set_or_a_daemon_not_running(run_module, fake, tmp_path):
    fake_inference(fake)
    verified = tmp_path / 'verified.json'
    base = dict(verified_file=str(verified), tests_when_verified=['health'])
    # a failed test: nothing recorded, and the next run sends every test again
    fake.routes[('POST', '/generate')] = lambda h: h.send_plain(500, b'{"error": "boom"}')
    failed = run_module(main, fake_args(fake, ['health', 'generate'], supervisor_state=supervised(tmp_path),
                                              **base), expect_fail=True)
    assert not failed['verified']['recorded'] and not verified.exists()
    fake_inference(fake)
    # a record covering fewer tests than asked for does not count
    run_module(main, fake_args(fake, ['health', 'chat'], supervisor_state=supervised(tmp_path), **base))
    wider = run_module(main, fake_args(fake, ['health', 'chat', 'generate'],
                                             supervisor_state=supervised(tmp_path), **base))
    assert not wider['verified']['before'] and wider['verified']['recorded']
    # a daemon its supervisor does not report running, or no state at all: every test, nothing recorded
    for state in (supervised(tmp_path, status='crash-looping'), supervised(tmp_path, status='backoff'),
                  supervised(tmp_path, daemon_pid=None), str(tmp_path / 'absent.json')):
        result = run_module(main, fake_args(fake, ['health', 'chat', 'generate'], supervisor_state=state, **base))
        assert result['verified'] == {'before': False, 'recorded': False, 'tests': ['health', 'chat', 'generate']}
        assert not result['changed']


def test_verified_options_refused_alone(run_module, fake, tmp_path):
    result = run_module(main, fake_args(fake, ['health'], verified_file=str(tmp_path / 'v.json')), expect_fail=True)
    assert 'verified_file needs supervisor_state' in result['msg']
    result = run_module(main, fake_args(fake, ['health'], supervisor_state=supervised(tmp_path),
                                              verified_file=str(tmp_path / 'v.json'), tests_when_verified=[]),
                        expect_fail=True)
    assert 'tests_when_verified must name at least one test' in result['msg']
