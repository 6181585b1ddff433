# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/mindie_daemon: MindIE's process names and the one daemon probe (mindie_service, mindie_diagnose)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_daemon as md


@pytest.mark.parametrize('cmdline, expected', [
    ('./bin/mindieservice_daemon', True),                                   # as mindie_service starts it
    ('/usr/local/Ascend/mindie/latest/mindie-service/bin/mindieservice_daemon --foo', True),
    ('python3 /x/bin/mindieservice_daemon', True),                          # a script's interpreter first
    ('python3 /usr/local/bin/mindie_llm_backend --local_rank 0 --parent_pid 7', False),    # a backend worker
    ('python3 /x/npu_worker.py mindie_sim_npu_worker --owner mindieservice_daemon', False),
    ('/opt/my_mindieservice_daemon', False),
    ('sh -c echo x mindieservice_daemon', False),
    ('', False),
])
def test_is_daemon_cmdline(cmdline, expected):
    assert md.is_daemon_cmdline(cmdline) is expected


@pytest.mark.parametrize('comm, cmdline, expected', [
    ('mindieservice_d', '', True),
    ('mindie_llm_back', 'python3 -X whatever', True),
    ('python3', 'python3 /usr/local/bin/mindie_llm_backend --local_rank 0', True),       # MindIE-LLM's console script
    (None, '/usr/local/Ascend/mindie/latest/mindie-llm/bin/mindie_llm_backend_connector', True),   # 1.0
    ('python3', 'python3 /x/bin/mindieservice_daemon', True),
    ('nginx', 'nginx: worker process', False),
    # Only MindIE's real names count: the simulator's module or worker token names nothing here.
    ('python3', 'python3 -m mindie_sim.daemon', False),
    ('python3', 'python3 /x/lib/simulator/mindie_sim/npu_worker.py mindie_sim_npu_worker --device 0', False),
    ('python3', 'python3 /srv/mindie-llm-proxy.py', False),
])
def test_is_mindie_process(comm, cmdline, expected):
    assert md.is_mindie_process(comm, cmdline) is expected


def test_parse_probe_of_a_zombie_and_of_no_pid_file():
    zombie = md.parse_probe('pid=5\nstat=5 (mindieservice_d) Z 1 5 5\ncmdline=\nexit=137\n')
    assert (zombie['pid'], zombie['alive'], zombie['zombie'], zombie['state'], zombie['exit_code']) == (5, False, True,
                                                                                                        'Z', 137)
    none = md.parse_probe('pid=\npgid=\nboot=4242\nshell_home=/root\n')
    assert (none['pid'], none['alive'], none['is_daemon'], none['boot'], none['pgid_rec']) == (None, False, False,
                                                                                               '4242', None)
    assert none['fields']['shell_home'] == '/root'


def test_parse_probe_keeps_the_first_line_of_a_key():
    # An environment value with a newline cannot replace what the script printed before it.
    info = md.parse_probe('pid=7\nstat=7 (a b) c) S 1\ncmdline=./bin/mindieservice_daemon\nenv_home=/h\npid=1\n')
    assert info['pid'] == 7 and info['state'] == 'S' and info['is_daemon'] and info['alive']


def test_daemon_age():
    assert md.daemon_age({'start': '10000', 'uptime': '160.5', 'clk_tck': '100'}) == 60
    assert md.daemon_age({'start': '500000', 'uptime': '100.5', 'clk_tck': '100'}) is None     # lxcfs uptime
    assert md.daemon_age({'start': 'x'}) is None


@pytest.fixture
def running_daemon(tmp_path):
    """A process whose command line runs <service>/bin/mindieservice_daemon, and mindie_service's files for it."""
    service = tmp_path / 'svc dir $(touch PWNED)'
    (service / 'bin').mkdir(parents=True)
    (service / 'logs').mkdir()
    binary = service / 'bin' / 'mindieservice_daemon'
    binary.write_text('#!/bin/sh\nsleep 60\n')
    binary.chmod(0o755)
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': '/home/mindie', 'MINDIE_LOG_PATH': '/var/mlog'}
    # As mindie_service starts it: from the service directory, as ./bin/mindieservice_daemon.
    proc = subprocess.Popen(['/bin/sh', './bin/mindieservice_daemon'], env=env, cwd=str(service))
    try:
        (service / md.PID_FILE).write_text('%d\n' % proc.pid)
        (service / md.PGID_FILE).write_text('%d 12345\n' % proc.pid)
        (service / md.LOGENV_FILE).write_bytes(b'/home/rec\0/var/rec\0')
        yield service, proc
    finally:
        proc.kill()
        proc.wait()


def run_probe(service, env=None):
    out = subprocess.run(['/bin/sh', '-c', md.PROBE_SCRIPT, 'sh'] + md.probe_args(str(service)), capture_output=True,
                         text=True, timeout=30, env=env or {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': '/root'},
                         cwd=str(service.parent))
    assert out.returncode == 0, out.stderr
    return md.parse_probe(out.stdout)


def test_the_probe_script_reads_a_running_daemon(running_daemon):
    service, proc = running_daemon
    info = run_probe(service)
    assert info['pid'] == proc.pid and info['alive'] and info['is_daemon'], info
    assert info['exit_code'] is None
    assert (info['pgid_rec'], info['boot_rec']) == (proc.pid, '12345')
    assert info['boot'] and info['boot'].isdigit()
    fields = info['fields']
    assert (fields['logenv_home'], fields['logenv_log_path']) == ('/home/rec', '/var/rec')
    assert fields['shell_home'] == '/root' and 'shell_log_path' not in fields
    if fields.get('env_read'):
        assert (fields['env_home'], fields['env_log_path']) == ('/home/mindie', '/var/mlog')
    age = md.daemon_age(fields)
    assert age is None or 0 <= age < 60
    assert not list(service.parent.rglob('PWNED'))


def test_the_probe_script_after_the_daemon_ended(running_daemon):
    service, proc = running_daemon
    proc.kill()
    proc.wait()
    (service / md.EXIT_FILE).write_text('137\n')
    info = run_probe(service, env={'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'MINDIE_LOG_PATH': ''})
    assert info['pid'] == proc.pid and not info['alive'] and info['exit_code'] == 137
    assert info['fields']['shell_log_path'] == '' and info['fields']['shell_home'] == ''
