# -*- coding: utf-8 -*-
"""ascend.mindie.mindie_peer_server: a real detached server on 127.0.0.1, fetched with urllib."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_peer_server
from ansible_collections.ascend.mindie.plugins.module_utils import peer_server

main = mindie_peer_server.main


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / 'mindie image.tar'
    path.write_bytes(data)
    args = {'path': str(path), 'address': '127.0.0.1', 'port': free_port(), 'state_dir': str(tmp_path / 'run'),
            'lifetime': 120}
    yield args, data
    peer_server.stop(args['state_dir'], args['port'])


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def test_serves_the_file_at_its_url_only_and_stops(run_module, served):
    args, data = served
    started = run_module(main, args)
    assert started['changed'] and started['size'] == len(data)
    assert started['url'].startswith('http://127.0.0.1:%d/' % args['port'])
    assert started['url'].endswith('/mindie%20image.tar')
    status, body = fetch(started['url'])
    assert status == 200 and hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    for wrong in ('/', '/mindie%20image.tar', started['url'].split(':%d' % args['port'])[1] + 'x', '/../etc/passwd'):
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch('http://127.0.0.1:%d%s' % (args['port'], wrong))
        assert info.value.code == 404
    state_path = peer_server.state_file(args['state_dir'], args['port'])
    assert oct(os.stat(state_path).st_mode & 0o777) == '0o600'
    assert json.load(open(state_path))['pid'] == started['pid']
    # started again: the same server, unchanged
    again = run_module(main, args)
    assert not again['changed'] and again['url'] == started['url'] and again['pid'] == started['pid']
    # check mode says it would stop it and leaves it running
    assert run_module(main, dict(args, state='stopped'), check_mode=True)['changed']
    assert fetch(started['url'])[0] == 200
    stopped = run_module(main, dict(args, state='stopped'))
    assert stopped['changed'] and not os.path.exists(state_path)
    deadline = time.time() + 5
    while time.time() < deadline and peer_server.proc_start_time(started['pid']) is not None:
        time.sleep(0.05)
    with pytest.raises(OSError):
        fetch(started['url'])
    assert not run_module(main, dict(args, state='stopped'))['changed']


def test_a_new_file_gets_a_new_server_and_url(run_module, served, tmp_path):
    args, dummy = served
    first = run_module(main, args)
    other = tmp_path / 'other.tar'
    other.write_bytes(b'other')
    second = run_module(main, dict(args, path=str(other)))
    assert second['changed'] and second['pid'] != first['pid'] and second['url'] != first['url']
    assert fetch(second['url'])[1] == b'other'


def test_it_stops_by_itself_at_its_lifetime(run_module, served):
    args, dummy = served
    started = run_module(main, dict(args, lifetime=1))
    assert fetch(started['url'])[0] == 200
    deadline = time.time() + 10
    while time.time() < deadline and peer_server.alive({'pid': started['pid'],
                                                        'start_time': peer_server.proc_start_time(started['pid'])}):
        time.sleep(0.1)
    with pytest.raises(OSError):
        fetch(started['url'])


def test_a_pid_reused_by_another_process_is_not_signalled(run_module, served):
    args, dummy = served
    started = run_module(main, args)
    state_path = peer_server.state_file(args['state_dir'], args['port'])
    state = json.load(open(state_path))
    # the recorded start time no longer matches: that pid is someone else now
    json.dump(dict(state, start_time=state['start_time'] + 1), open(state_path, 'w'))
    assert not peer_server.alive(json.load(open(state_path)))
    run_module(main, dict(args, state='stopped'))
    assert fetch(started['url'])[0] == 200      # still serving: it was not killed
    os.kill(started['pid'], 15)


def test_bad_input_refused_before_anything_starts(run_module, served, tmp_path):
    args, dummy = served
    assert 'is not a file' in run_module(main, dict(args, path=str(tmp_path / 'missing.tar')), expect_fail=True)['msg']
    assert 'absolute path' in run_module(main, dict(args, path='rel.tar'), expect_fail=True)['msg']
    assert 'port must be between' in run_module(main, dict(args, port=70000), expect_fail=True)['msg']
    assert 'cannot be resolved' in run_module(main, dict(args, address='no-such-host.invalid'), expect_fail=True)['msg']
    assert not os.path.exists(args['state_dir'])
    # the port is taken: the error says so
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', args['port']))
        sock.listen(1)
        result = run_module(main, args, expect_fail=True)
    assert 'cannot serve' in result['msg'] and 'port %d' % args['port'] in result['msg']
