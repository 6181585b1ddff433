# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindieSmokeTester (the manager of ascend.mindie.mindie_smoke_test) with the HTTP connections mocked.

``MindieHTTP.connection`` hands out recording fake connections with canned answers per (method, path): the tests
say which requests go out, that bad options send none, and how each transport failure becomes a test result.
test_mindie_smoke_test.py runs the module against the simulated daemon and real HTTP servers.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import ssl

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_smoke_test
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import Exited, Failed, build_module

BUSINESS = 'http://127.0.0.1:1025'
MANAGEMENT = 'http://127.0.0.2:1026/'
CHAT = json.dumps({'choices': [{'message': {'content': 'A cat on a mat.'}}],
                   'usage': {'prompt_tokens': 12, 'completion_tokens': 5}}).encode()
STREAM = b''.join(b'data: %s\n\n' % json.dumps({'choices': [{'delta': {'content': w}}]}).encode()
                  for w in ('A', ' cat')) + b'data: [DONE]\n\n'


class Response(object):
    def __init__(self, status, chunks):
        self.status = status
        self.chunks = list(chunks)

    def read1(self, size):
        return self.chunks.pop(0) if self.chunks else b''


class Sock(object):
    def settimeout(self, value):
        pass


class Server(object):
    """What MindIE answers: ``answers[(method, path)] = (status, [chunks])`` or an exception to raise."""

    def __init__(self):
        self.answers = {
            ('GET', '/health'): (200, [b'']),
            ('GET', '/v2/health/ready'): (200, [b'']),
            ('GET', '/v2/health/live'): (200, [b'']),
            ('POST', '/v1/chat/completions'): (200, [CHAT]),
            ('POST', '/generate'): (200, [json.dumps({'text': ['Explain the details in the image. A cat.']}).encode()]),
            ('GET', '/v1/models'): (200, [json.dumps({'data': [{'id': 'qwen2_vl'}]}).encode()]),
        }
        self.stream = (200, [STREAM[:30], STREAM[30:]])
        self.requests = []      # (scheme, host, port, method, path, body or None)
        self.closed = 0

    def connection(self, scheme, host, port, timeout):
        server = self

        class Conn(object):
            sock = Sock()

            def request(self, method, path, body=None, headers=None):
                data = json.loads(body.decode('utf-8')) if body else None
                server.requests.append((scheme, host, port, method, path, data))
                answer = server.stream if data and data.get('stream') else server.answers[(method, path)]
                if isinstance(answer, Exception):
                    raise answer
                self.answer = answer

            def getresponse(self):
                return Response(*self.answer)

            def close(self):
                server.closed += 1

        return Conn()

    def paths(self):
        return [(r[3], r[4]) for r in self.requests]


@pytest.fixture
def server():
    return Server()


def make_tester(monkeypatch, server, **args):
    args.setdefault('business_url', BUSINESS)
    args.setdefault('management_url', MANAGEMENT)
    manager = mindie_smoke_test.MindieSmokeTester(build_module(monkeypatch, mindie_smoke_test, args))
    manager.http.connection = server.connection
    return manager


def execute(monkeypatch, server, **args):
    manager = make_tester(monkeypatch, server, **args)
    with pytest.raises((Exited, Failed)) as info:
        manager.execute()
    return info.value, manager


def test_default_tests_send_one_request_each_to_the_right_port(monkeypatch, server):
    outcome, manager = execute(monkeypatch, server)
    assert isinstance(outcome, Exited), outcome.result
    assert outcome.result['passed'] is True and outcome.result['failed_tests'] == []
    assert server.paths() == [('GET', '/health'), ('GET', '/v2/health/ready'), ('POST', '/v1/chat/completions'),
                              ('POST', '/generate'), ('POST', '/v1/chat/completions')]
    assert [(r[1], r[2]) for r in server.requests] == [('127.0.0.2', 1026)] * 2 + [('127.0.0.1', 1025)] * 3
    assert server.closed == len(server.requests)
    chat, stream = outcome.result['results'][2], outcome.result['results'][4]
    assert chat['answer'] == 'A cat on a mat.' and (chat['prompt_tokens'], chat['completion_tokens']) == (12, 5)
    assert stream['chunks'] == 2 and stream['answer'] == 'A cat'
    assert server.requests[4][5]['stream'] is True and server.requests[2][5]['model'] == 'qwen2_vl'


def test_a_test_named_twice_runs_once(monkeypatch, server):
    outcome, manager = execute(monkeypatch, server, tests=['health', 'models', 'health'])
    assert isinstance(outcome, Exited)
    assert server.paths() == [('GET', '/health'), ('GET', '/v1/models')]


@pytest.mark.parametrize('override, message', [
    (dict(timeout=0), 'timeout must be greater than 0'),
    (dict(model=' '), 'model must not be empty'),
    (dict(max_tokens=0), 'max_tokens must be at least 1'),
    (dict(tests=[]), 'tests must name at least one test'),
    (dict(image='relative.jpg'), 'image must be an absolute path'),
    (dict(business_url='ftp://x:1'), 'is not an http:// or https:// URL'),
    (dict(client_key='/k.pem'), 'client_key needs client_cert'),
    (dict(business_url='https://127.0.0.1:1025', ca_path='/nonexistent/ca.pem'), 'cannot set up TLS'),
])
def test_bad_options_fail_before_any_request(monkeypatch, server, override, message):
    outcome, manager = execute(monkeypatch, server, **override)
    assert isinstance(outcome, Failed)
    assert message in outcome.result['msg']
    assert outcome.result['results'] == [] and outcome.result['passed'] is False
    assert server.requests == []


@pytest.mark.parametrize('error, text', [
    (ConnectionRefusedError(111, 'Connection refused'), 'connection refused by 127.0.0.1:1025'),
    (socket.timeout('timed out'), 'no answer within 120 s'),
    (ssl.SSLError(1, 'wrong version number'), 'TLS error with 127.0.0.1:1025'),
    (OSError(113, 'No route to host'), 'request to 127.0.0.1:1025 failed: OSError'),
])
def test_transport_failures_fail_that_test_and_the_others_still_run(monkeypatch, server, error, text):
    server.answers[('POST', '/generate')] = error
    outcome, manager = execute(monkeypatch, server)
    assert isinstance(outcome, Failed)
    assert outcome.result['failed_tests'] == ['generate']
    generate = [r for r in outcome.result['results'] if r['name'] == 'generate'][0]
    assert text in generate['error'] and generate['ok'] is False
    assert 'MindIE smoke tests failed at %s' % BUSINESS in outcome.result['msg']
    assert len(server.requests) == 5            # the stream test after it still ran


def test_http_error_status_fails_with_the_body(monkeypatch, server):
    server.answers[('POST', '/v1/chat/completions')] = (500, [b'{"error": "model not loaded"}'])
    server.stream = (500, [b'{"error": "model not loaded"}'])
    outcome, manager = execute(monkeypatch, server)
    assert isinstance(outcome, Failed)
    assert outcome.result['failed_tests'] == ['chat', 'stream']
    assert 'HTTP 500' in outcome.result['results'][2]['error']


def test_stream_of_one_chunk_fails(monkeypatch, server):
    server.stream = (200, [b'data: {"choices": [{"delta": {"content": "A cat"}}]}\n\ndata: [DONE]\n\n'])
    outcome, manager = execute(monkeypatch, server)
    assert outcome.result['failed_tests'] == ['stream']
    assert outcome.result['results'][4]['error'] == 'only 1 chunk'


def test_ready_503_with_live_200_is_busy_and_passes_with_a_warning(monkeypatch, server):
    server.answers[('GET', '/v2/health/ready')] = (503, [b''])
    outcome, manager = execute(monkeypatch, server, tests=['ready'])
    assert isinstance(outcome, Exited)
    assert outcome.result['service_state'] == 'busy'
    assert server.paths() == [('GET', '/v2/health/ready'), ('GET', '/v2/health/live')]
    assert any('is busy' in w for w in manager.module.warnings_seen)


def test_ready_503_with_live_down_fails_as_unhealthy(monkeypatch, server):
    server.answers[('GET', '/v2/health/ready')] = (503, [b''])
    server.answers[('GET', '/v2/health/live')] = ConnectionRefusedError(111, 'Connection refused')
    outcome, manager = execute(monkeypatch, server, tests=['ready'])
    assert isinstance(outcome, Failed)
    assert outcome.result['service_state'] == 'unhealthy'
    assert outcome.result['results'][0]['error'] == 'HTTP 503'
