# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_service on a supervised container, with a fake Docker client (no engine needed).

The fake holds the supervisor's state file and records what the module does (desired writes, SIGHUPs). The real
supervisor against a real container: tests/integration/plugins/modules/test_mindie_service_supervised.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_service
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor as sup

STATE_DIR = '/var/log/mindie-instance'
INSTANCE = '/etc/mindie/supervisor.json'
CONFIG = '/etc/mindie/config.json'
GOOD = {'ServerConfig': {'ipAddress': '127.0.0.1', 'managementIpAddress': '127.0.0.1', 'port': 1040,
                         'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False}}


class FakeSupervised(object):
    def __init__(self, state):
        self.files = {CONFIG: json.dumps(GOOD), INSTANCE: json.dumps({'config': CONFIG}),
                      STATE_DIR + '/' + sup.STATE_FILE: json.dumps(state)}
        self.actions = []
        self.health = (200, 200)

    def require_running(self):
        return {'id': 'c0ffee', 'running': True, 'status': 'running', 'restart_count': 2, 'started_at': 'x',
                'network_mode': 'host'}

    def env(self):
        return {sup.ENV_STATE_DIR: STATE_DIR, sup.ENV_INSTANCE: INSTANCE}

    def read_file(self, path):
        return self.files.get(path)

    def exec_shell(self, script, environment=None, args=None):
        if script.startswith('printf'):
            self.actions.append('desired %s' % args[0])
            self.files[args[1]] = args[0] + '\n'
            return 0, '', ''
        if script == mindie_service.PS_SCRIPT:
            return 0, '', ''
        if script.startswith('cat /proc/net/tcp'):
            return 0, '', ''
        raise AssertionError('unexpected script %s' % script)

    def kill(self, signal_name):
        self.actions.append(signal_name)


def running(**extra):
    state = {'status': 'running', 'daemon_pid': 42, 'pgid': 42, 'generation': 3, 'restarts': 1, 'live_at': 1.0,
             'started_at': 1.0, 'last_exit': None, 'last_error_lines': [], 'desired': 'running'}
    state.update(extra)
    return state


@pytest.fixture
def fake(monkeypatch):
    holder = {}

    def make(state):
        holder['box'] = FakeSupervised(state)
        return holder['box']
    monkeypatch.setattr(mindie_service, 'MindieDockerClient', lambda container, docker_host=None: holder['box'])

    def http_get(self, host, port, path, https):
        box = holder['box']
        status = box.health[1] if path == '/v2/health/live' else box.health[0]
        box.actions.append('probe %s' % path)
        return {'status': status, 'body': '', 'error': '', 'cert_refused': False}
    monkeypatch.setattr(mindie_service.MindieServiceManager, '_http_get', http_get)
    monkeypatch.setattr(mindie_service.time, 'sleep', lambda seconds: None)
    return make


def test_started_on_a_serving_instance_changes_nothing(fake, run_module):
    box = fake(running())
    result = run_module(mindie_service.main, {'container': 'mindie-0'})
    assert result['changed'] is False and result['supervised'] is True and result['status'] == 'serving'
    assert result['restarts'] == 3                  # the supervisor's 1 + Docker's RestartCount 2
    assert result['pid'] == 42 and result['supervisor']['generation'] == 3
    assert 'SIGHUP' not in box.actions


def test_busy_is_never_restarted(fake, run_module):
    box = fake(running())
    box.health = (503, 200)
    result = run_module(mindie_service.main, {'container': 'mindie-0'})
    assert result['changed'] is False and result['busy'] is True and result['status'] == 'busy'
    assert [a for a in box.actions if not a.startswith('probe')] == []


def test_crash_looping_fails_at_once_with_the_error_lines(fake, run_module):
    box = fake(running(status='crash-looping', daemon_pid=None, pgid=None, message='3 starts within 600 s',
                       last_exit={'code': 137, 'signal': None, 'at': 2.0, 'reason': 'exited with code 137'},
                       last_error_lines=['[ERROR] Warmup failed, because of multimodal model inference out of memory']))
    result = run_module(mindie_service.main, {'container': 'mindie-0'}, expect_fail=True)
    assert result['status'] == 'crash-looping' and 'mindie-0 is crash-looping: 3 starts within 600 s' in result['msg']
    assert 'out of memory' in result['msg'] and 'npuMemSize' in result['hint'] and result['exit_code'] == 137
    assert result['last_error_lines'] and box.actions == []


def test_check_mode_stopped_reports_a_change_and_touches_nothing(fake, run_module):
    box = fake(running())
    result = run_module(mindie_service.main, {'container': 'mindie-0', 'state': 'stopped'}, check_mode=True)
    assert result['changed'] is True
    assert box.actions == []


def test_restarted_in_check_mode_sends_nothing(fake, run_module):
    box = fake(running())
    result = run_module(mindie_service.main, {'container': 'mindie-0', 'state': 'restarted'}, check_mode=True)
    assert result['changed'] is True and result['restarted'] is True and box.actions == []


def test_bad_npu_devices_are_refused_before_anything(fake, run_module):
    box = fake(running())
    result = run_module(mindie_service.main, {'container': 'mindie-0', 'state': 'stopped', 'npu_devices': [0, 0]},
                        expect_fail=True)
    assert 'npu_devices' in result['msg'] and box.actions == []


def test_restarted_follows_past_a_generation_its_own_sighup_stopped(fake, run_module, monkeypatch):
    """The supervisor had just started a generation from a poll (new files) when the SIGHUP came: that one is
    stopped by the SIGHUP, and the module waits for the next one instead of failing (the first deploy's race)."""
    monkeypatch.setattr(mindie_service, 'ALIVE_CHECK_INTERVAL', 0)
    path = STATE_DIR + '/' + sup.STATE_FILE
    box = fake(running(status='starting', daemon_pid=None, pgid=None, generation=0, restarts=0, live_at=None,
                       message='waiting for the ports to be free'))
    hup_stop = {'pid': 45, 'code': None, 'signal': 15, 'at': 3.0, 'reason': 'stopped by the supervisor (SIGHUP)'}
    script = [running(status='starting', daemon_pid=45, pgid=45, generation=1, restarts=0, live_at=None),
              running(status='stopping', daemon_pid=45, pgid=45, generation=1, restarts=0, live_at=None),
              running(status='stopping', daemon_pid=None, pgid=None, generation=1, restarts=0, live_at=None,
                      last_exit=hup_stop),
              running(status='starting', daemon_pid=59, pgid=59, generation=2, restarts=0, live_at=None,
                      last_exit=hup_stop, started_at=4.0)]
    read_file = box.read_file

    def scripted(name):
        if name == path and 'SIGHUP' in box.actions:
            return json.dumps(script.pop(0) if len(script) > 1 else script[0])
        return read_file(name)
    box.read_file = scripted
    box.health = (0, 0)
    http_get = mindie_service.MindieServiceManager._http_get

    def ready_when_59(self, host, port, path_, https):
        box.health = (200, 200) if len(script) == 1 else (0, 0)
        return http_get(self, host, port, path_, https)
    monkeypatch.setattr(mindie_service.MindieServiceManager, '_http_get', ready_when_59)
    result = run_module(mindie_service.main, {'container': 'mindie', 'state': 'restarted'})
    assert result['changed'] is True and result['ready'] is True and result['status'] == 'serving'
    assert result['pid'] == 59 and result['supervisor']['generation'] == 2
    assert [a for a in box.actions if not a.startswith('probe')] == ['SIGHUP']
