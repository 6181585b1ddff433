# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The supervisor rules of module_utils/diagnose.py: an instance's supervisor.json (contracts section 3) as findings."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import diagnose

PATH = '/var/log/mindie/mindie-1/supervisor.json'


@pytest.mark.parametrize('text, expected', [
    ('{"status": "running"}', {'status': 'running'}),
    ('', {}), ('not json', {}), ('[1, 2]', {}), ('null', {}),
])
def test_state_file_is_read_tolerantly(text, expected):
    assert diagnose.supervisor_state(text) == expected


@pytest.mark.parametrize('env, expected', [
    (['PATH=/bin', 'MINDIE_SUPERVISOR_STATE_DIR=/var/log/mindie-instance'], True),
    (['PATH=/bin', 'MINDIE_SUPERVISOR_STATE_DIR='], False),
    (['PATH=/bin'], False), (None, False), ({'MINDIE_SUPERVISOR_STATE_DIR': '/x'}, True),
])
def test_supervised_container_is_told_by_its_env(env, expected):
    assert diagnose.supervised(env) is expected


def test_crash_loop_is_an_error_with_its_last_lines_and_the_named_cause():
    lines = ['a harmless line', 'Socket bind failed on 1040']
    found = diagnose.check_supervisor({'status': 'crash-looping', 'restarts': 5, 'starts': [1, 2, 3, 4, 5, 6],
                                       'last_exit': {'code': 1, 'signal': None, 'reason': 'exited'},
                                       'last_error_lines': lines}, PATH)
    loop = found[0]
    assert loop['severity'] == 'error' and 'crash-looping' in loop['message'] and '6 start(s)' in loop['message']
    assert 'Socket bind failed' in loop['message'] and 'exit status 1' in loop['message']
    assert loop['details']['last_error_lines'] == lines and 'restarted' in loop['hint']
    assert [f['message'] for f in found[1:] if 'listen port was taken' in f['message']]


@pytest.mark.parametrize('state, severity, words', [
    ({'status': 'backoff', 'restarts': 2, 'last_exit': {'signal': 9}}, 'warning', 'back-off'),
    ({'status': 'stopped'}, 'warning', 'held stopped'),
    ({'status': 'waiting'}, 'warning', 'waiting for supervisor.json'),
    ({'status': 'running', 'restarts': 1, 'last_exit': {'signal': 9, 'reason': 'killed'}}, 'info', 'signal 9'),
])
def test_other_statuses(state, severity, words):
    found = diagnose.check_supervisor(state, PATH)
    assert len(found) == 1 and found[0]['severity'] == severity and words in found[0]['message'], found


def test_a_serving_instance_without_restarts_and_a_stopped_container_say_nothing():
    assert diagnose.check_supervisor({'status': 'running', 'restarts': 0}, PATH) == []
    assert diagnose.check_supervisor({'status': 'crash-looping'}, PATH, container_running=False) == []
    assert diagnose.check_supervisor({}, PATH)[0]['severity'] == 'warning'


def test_daemon_from_the_supervisor():
    daemon = diagnose.supervisor_daemon({'status': 'running', 'daemon_pid': 42, 'started_at': 100}, 160)
    assert daemon['pid'] == 42 and daemon['running'] and daemon['age'] == 60
    assert daemon['log_path'] == '/var/log/mindie-instance/mindie'
    dead = diagnose.supervisor_daemon({'status': 'backoff', 'daemon_pid': 42, 'last_exit': {'code': 137}}, 160)
    assert dead['running'] is False and dead['pid'] is None and dead['exit_code'] == 137


def test_console_log_of_a_supervised_daemon_counts_from_the_supervisors_last_start():
    marker = diagnose.mindie_supervisor.CONSOLE_MARKER
    text = '%s1\nSocket bind failed\n%s2\nDaemon start success!\n' % (marker, marker)
    assert diagnose.last_run(text, name='console.log.tail') == '%s2\nDaemon start success!\n' % marker
