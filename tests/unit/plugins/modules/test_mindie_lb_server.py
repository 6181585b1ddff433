# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_lb_server through main(), against a runtime API socket that keeps server states the way
HAProxy 2.6 does (its answers are the captures of tests/fixtures/haproxy with the state columns changed)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.ascend.mindie.plugins.modules import mindie_lb_server
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_haproxy_runtime import (
    FakeRuntimeAPI, fixture)

BITS = {'ready': 0, 'drain': 8, 'maint': 1}
STATUS = {'ready': 'UP', 'drain': 'DRAIN', 'maint': 'MAINT'}


class StatefulHAProxy(object):
    def __init__(self, path):
        self.admin = {'node1_mindie': 'ready', 'node2_mindie-0': 'ready', 'node2_mindie-1': 'ready'}
        self.in_flight = {'node1_mindie': 0, 'node2_mindie-0': 0, 'node2_mindie-1': 0}
        self.up = {'node1_mindie': True, 'node2_mindie-0': True, 'node2_mindie-1': False}
        self.api = FakeRuntimeAPI(path, {})
        self.api.answers = self
        self.sets = []

    def get(self, line, default=None):
        if line == 'show servers state mindie_qwen2_vl':
            return self.servers_state
        if line == 'show stat':
            return self.stat
        if line.startswith('set server mindie_qwen2_vl/'):
            return self.set
        return default

    def set(self, line):
        server, state = line.split('/', 1)[1].split(' state ')
        if server not in self.admin:
            return 'No such server.\n\n'
        self.sets.append((server, state))
        self.admin[server] = state
        return '\n'

    def servers_state(self, _line):
        lines = [text for text in fixture('show-servers-state-maint-drain-down.txt').splitlines() if text.strip()]
        header = lines[1][2:].split()
        out = lines[:2]
        for line in lines[2:]:
            values = line.split()
            name = values[header.index('srv_name')]
            values[header.index('srv_admin_state')] = str(BITS[self.admin[name]])
            values[header.index('srv_op_state')] = '2' if self.up[name] else '0'
            out.append(' '.join(values))
        return '\n'.join(out) + '\n\n'

    def stat(self, _line):
        lines = [text for text in fixture('show-stat-maint-drain-down.txt').splitlines() if text.strip()]
        header = lines[0][2:].split(',')
        out = [lines[0]]
        for line in lines[1:]:
            values = line.split(',')
            name = values[1] if len(values) > 1 else ''
            if name in self.admin:
                values[header.index('status')] = STATUS[self.admin[name]] if self.up[name] or \
                    self.admin[name] == 'maint' else 'DOWN'
                values[header.index('scur')] = str(self.in_flight[name])
                if self.in_flight[name]:
                    self.in_flight[name] -= 1     # one request finishes per look
            out.append(','.join(values))
        return '\n'.join(out) + '\n'


@pytest.fixture
def haproxy(tmp_path):
    fake = StatefulHAProxy(str(tmp_path / 'admin.sock'))
    yield fake
    fake.api.close()


def run(monkeypatch, capsys, check_mode=False, **params):
    monkeypatch.setattr(mindie_lb_server.time, 'sleep', lambda s: None)
    args = dict(params, _ansible_check_mode=check_mode)
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    with pytest.raises(SystemExit):
        mindie_lb_server.main()
    return json.loads(capsys.readouterr().out)


def test_maint_drains_first_waits_for_in_flight_then_ready_puts_it_back(haproxy, monkeypatch, capsys):
    haproxy.in_flight['node2_mindie-0'] = 3
    out = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node2_mindie-0',
              state='maint')
    assert out['changed'] and out['previous_admin_state'] == 'ready'
    assert haproxy.sets == [('node2_mindie-0', 'drain'), ('node2_mindie-0', 'maint')]
    assert out['server']['admin_state'] == 'maint' and out['server']['in_flight'] == 0
    assert 'drain_seconds' in out
    again = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node2_mindie-0',
                state='maint')
    assert not again['changed'] and len(haproxy.sets) == 2
    back = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node2_mindie-0',
               state='ready')
    assert back['changed'] and back['server']['admin_state'] == 'ready' and back['server']['operational'] == 'up'


def test_check_mode_changes_nothing(haproxy, monkeypatch, capsys):
    out = run(monkeypatch, capsys, check_mode=True, socket=haproxy.api.path, backend='mindie_qwen2_vl',
              server='node1_mindie', state='drain')
    assert out['changed'] and out['server']['admin_state'] == 'drain'
    assert haproxy.sets == [] and haproxy.admin['node1_mindie'] == 'ready'


def test_ready_fails_when_the_health_check_never_sees_it_up(haproxy, monkeypatch, capsys):
    haproxy.admin['node2_mindie-1'] = 'maint'
    out = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node2_mindie-1',
              state='ready', ready_timeout=0)
    assert out['failed'] and "health check has not seen it up" in out['msg']
    assert haproxy.admin['node2_mindie-1'] == 'ready'


def test_a_drain_that_does_not_finish_fails_and_stays_draining(haproxy, monkeypatch, capsys):
    haproxy.in_flight['node1_mindie'] = 10 ** 6
    out = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node1_mindie',
              state='drain', drain_timeout=0)
    assert out['failed'] and 'still has' in out['msg'] and 'left in drain' in out['msg']
    assert haproxy.admin['node1_mindie'] == 'drain'


def test_reading_only_and_an_unknown_server(haproxy, monkeypatch, capsys):
    out = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='node2_mindie-1')
    assert not out['changed'] and out['server']['operational'] == 'down'
    out = run(monkeypatch, capsys, socket=haproxy.api.path, backend='mindie_qwen2_vl', server='ghost', state='drain')
    assert out['failed'] and "has no server 'ghost'" in out['msg'] and 'run the loadbalancer role' in out['msg']
