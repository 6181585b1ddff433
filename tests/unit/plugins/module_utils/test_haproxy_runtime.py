# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/haproxy_runtime.py on answers captured from HAProxy 2.6 (tests/fixtures/haproxy), over a real
UNIX socket served by a thread that answers like HAProxy's runtime API (one command per connection)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import threading

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import haproxy_runtime as hr

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'haproxy')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class FakeRuntimeAPI(object):
    """A UNIX socket that answers commands from a dict (a callable per command is called with it)."""

    def __init__(self, path, answers):
        self.path = path
        self.answers = answers
        self.commands = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b''
            while not data.endswith(b'\n'):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            line = data.decode().strip()
            self.commands.append(line)
            answer = self.answers.get(line, 'Unknown command.\n\n')
            if callable(answer):
                answer = answer(line)
            conn.sendall(answer.encode())
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def api(tmp_path):
    servers = fixture('show-servers-state-maint-drain-down.txt')
    stat = fixture('show-stat-maint-drain-down.txt')
    fake = FakeRuntimeAPI(str(tmp_path / 'admin.sock'), {
        'show servers state mindie_qwen2_vl': servers,
        'show servers state nope': "Can't find backend.\n\n",
        'show stat': stat,
        'set server mindie_qwen2_vl/node1_mindie state ready': '\n',
        'set server mindie_qwen2_vl/nope state drain': 'No such server.\n\n',
    })
    yield fake
    fake.close()


def test_the_three_admin_and_operational_states_are_read_from_the_captures(api):
    client = hr.HAProxyRuntime(api.path)
    maint = client.server('mindie_qwen2_vl', 'node1_mindie')
    drain = client.server('mindie_qwen2_vl', 'node2_mindie-0')
    down = client.server('mindie_qwen2_vl', 'node2_mindie-1')
    assert (maint['admin_state'], maint['status']) == ('maint', 'MAINT')
    assert (drain['admin_state'], drain['operational'], drain['status'], drain['check_status']) == \
        ('drain', 'up', 'DRAIN', 'L7OK')
    assert (down['admin_state'], down['operational'], down['status'], down['check_status']) == \
        ('ready', 'down', 'DOWN', 'L4CON')
    assert drain['address'] == '127.0.0.1:9002'
    assert drain['in_flight'] == 0 and drain['queued'] == 0


def test_refusals_carry_haproxys_answer(api):
    client = hr.HAProxyRuntime(api.path)
    with pytest.raises(hr.HAProxyError, match='No such server'):
        client.set_state('mindie_qwen2_vl', 'nope', 'drain')
    with pytest.raises(hr.HAProxyError, match="no backend 'nope'"):
        client.servers_state('nope')
    with pytest.raises(hr.HAProxyError, match="has no server 'ghost'.*node1_mindie, node2_mindie-0, node2_mindie-1"):
        client.server('mindie_qwen2_vl', 'ghost')
    with pytest.raises(hr.HAProxyError, match='state must be one of'):
        client.set_state('mindie_qwen2_vl', 'node1_mindie', 'off')
    client.set_state('mindie_qwen2_vl', 'node1_mindie', 'ready')
    assert api.commands[-1] == 'set server mindie_qwen2_vl/node1_mindie state ready'


def test_a_missing_socket_says_what_to_check(tmp_path):
    with pytest.raises(hr.HAProxyError, match='is haproxy running'):
        hr.HAProxyRuntime(str(tmp_path / 'none.sock')).command('show stat')


def test_wait_drained_waits_for_in_flight_and_queued_to_reach_zero(tmp_path):
    stat = fixture('show-stat-maint-drain-down.txt')
    header, rows = stat.split('\n', 1)[0], stat.split('\n', 1)[1]
    fields = header[2:].split(',')
    scur, qcur = fields.index('scur'), fields.index('qcur')
    busy = {'n': 3}

    def answer(_line):
        out = [header]
        for line in rows.splitlines():
            values = line.split(',')
            if len(values) > scur and values[1] == 'node2_mindie-0':
                values[scur] = str(busy['n'])
                values[qcur] = '1' if busy['n'] > 1 else '0'
                busy['n'] = max(0, busy['n'] - 1)
            out.append(','.join(values))
        return '\n'.join(out) + '\n'

    fake = FakeRuntimeAPI(str(tmp_path / 'a.sock'), {
        'show servers state mindie_qwen2_vl': fixture('show-servers-state-maint-drain-down.txt'), 'show stat': answer})
    try:
        ticks = iter(range(100))
        drained, seconds, server = hr.HAProxyRuntime(fake.path).wait_drained(
            'mindie_qwen2_vl', 'node2_mindie-0', timeout=50, clock=lambda: next(ticks), sleep=lambda s: None)
        assert drained and server['in_flight'] == 0 and seconds > 0
        busy['n'] = 5
        ticks = iter(range(100))
        drained, seconds, server = hr.HAProxyRuntime(fake.path).wait_drained(
            'mindie_qwen2_vl', 'node2_mindie-0', timeout=2, clock=lambda: next(ticks), sleep=lambda s: None)
        assert not drained and server['in_flight'] > 0
    finally:
        fake.close()


@pytest.mark.parametrize('bits, state', [(0, 'ready'), (8, 'drain'), (0x10, 'drain'), (1, 'maint'), (9, 'maint'),
                                         (4, 'maint'), ('x', 'ready')])
def test_admin_state_bits(bits, state):
    assert hr.admin_state(bits) == state



def test_errors_add_up_5xx_failed_responses_and_failed_connections(tmp_path):
    """The capture's counters are all 0: set some on one server's row (by column name) and read them back."""
    import csv
    import io
    text = fixture('show-stat-maint-drain-down.txt')
    header = text.splitlines()[0].lstrip('# ').split(',')
    rows = list(csv.reader(text.splitlines()[1:]))
    for row in rows:
        if row and row[1] == 'node2_mindie-1':
            row[header.index('hrsp_5xx')], row[header.index('eresp')], row[header.index('econ')] = '3', '1', '2'
            row[header.index('stot')] = '40'
    out = io.StringIO()
    csv.writer(out, lineterminator='\n').writerows(rows)
    fake = FakeRuntimeAPI(str(tmp_path / 'admin.sock'), {
        'show servers state mindie_qwen2_vl': fixture('show-servers-state-maint-drain-down.txt'),
        'show stat': text.splitlines()[0] + '\n' + out.getvalue() + '\n'})
    try:
        client = hr.HAProxyRuntime(fake.path)
        failing = client.server('mindie_qwen2_vl', 'node2_mindie-1')
        assert (failing['errors'], failing['served']) == (6, 40)
        assert client.server('mindie_qwen2_vl', 'node2_mindie-0')['errors'] == 0
    finally:
        fake.close()
