# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_service through main() with a fake Docker client (no engine needed).

The fake container holds files and one daemon; it records every action, so the tests can say that a
refused input never stopped (or killed, or started) anything, and model the service role's restore path
(roles/service/tasks/restart.yml): restart with a new config -> the start fails with MindIE's reason ->
the previous config is put back -> restart again -> ready.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import re

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_service

CONFIG = '/etc/mindie/config.json'
SERVICE_DIR = mindie_service.DEFAULT_SERVICE_DIR
GOOD = {'ServerConfig': {'ipAddress': '127.0.0.1', 'managementIpAddress': '127.0.0.2', 'port': 1040,
                         'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False},
        'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': 8}]}}}
OOM_LINE = ('[2026-01-01 10:00:00.000] [1] [2] [mindie-server] [ERROR] Warmup failed, because of multimodal model '
            'inference out of memory')


class FakeContainer(object):
    """One running container: files, a daemon (pid, alive, ready, exit code) and the log of actions."""

    def __init__(self, config=None, daemon_pid=None):
        self.files = {CONFIG: json.dumps(GOOD if config is None else config)}
        self.pid = daemon_pid
        self.alive = daemon_pid is not None
        self.ready = self.alive
        self.exit_code = None
        self.next_pid = 500
        self.log = []
        self.actions = []           # 'stop <pid>', 'kill <pid>', 'start'
        self.has_binary = True

    def start(self):
        """What the daemon does with the config in the container now: refuse an npuMemSize of 40, else serve."""
        self.actions.append('start')
        self.next_pid += 1
        self.pid = self.next_pid
        model = json.loads(self.files[CONFIG])['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]
        if model.get('npuMemSize') == 40:
            self.alive, self.ready, self.exit_code = False, False, 1
            self.log.append(OOM_LINE)
        else:
            self.alive, self.ready, self.exit_code = True, True, None
            self.log.append('Daemon start success!')


class FakeClient(object):
    """Stands in for MindieDockerClient: answers the module's scripts from a FakeContainer."""

    def __init__(self, box):
        self.box = box

    def require_running(self):
        return {'id': 'c0ffee', 'running': True, 'status': 'running', 'restart_count': 0, 'started_at': 'x',
                'network_mode': 'host'}

    def read_file(self, path):
        return self.box.files.get(path)

    def exec_detached(self, cmd, environment=None, workdir=None, user=None):
        assert cmd[:2] == ['bash', '-c']
        self.box.start()

    def exec_shell(self, script, environment=None, args=None):
        box = self.box
        if script.startswith('test -f '):
            return (0 if box.has_binary else 1), '', ''
        if 'echo "pid=$pid"' in script:
            out = 'pid=%s\n' % (box.pid if box.pid is not None else '')
            if box.pid is not None and box.alive:
                out += 'stat=%d (mindieservice_d) S 1\ncmdline=./bin/mindieservice_daemon \n' % box.pid
            out += 'exit=%s\n' % ('' if box.exit_code is None else box.exit_code)
            return 0, out, ''
        match = re.match(r'kill -(TERM|KILL) (\d+)', script)
        if match:
            box.actions.append('%s %s' % ('stop' if match.group(1) == 'TERM' else 'kill', match.group(2)))
            if int(match.group(2)) == box.pid:
                box.alive, box.ready, box.exit_code = False, False, 143
            return 0, '', ''
        match = re.match(r'cat /proc/(\d+)/stat', script)
        if match:
            alive = box.alive and int(match.group(1)) == box.pid
            return 0, ('%s (mindieservice_d) S 1\n' % box.pid) if alive else '', ''
        if script.startswith('rm -f '):
            box.pid, box.exit_code = None, None
            return 0, '', ''
        if 'wc -c' in script:
            return 0, '0\n0\n', ''
        if 'tail ' in script:
            return 0, '\n'.join(box.log) + '\n', ''
        if '/proc/net/tcp' in script:
            return 0, '', ''
        raise AssertionError('unexpected script: %s' % script)


@pytest.fixture
def box(monkeypatch):
    box = FakeContainer(daemon_pid=100)
    monkeypatch.setattr(mindie_service, 'MindieDockerClient', lambda module, container, docker_host=None: FakeClient(box))

    def http_status(self, host, port, path, https):
        box.actions.append('probe %s:%d' % (host, port))
        return 200 if box.ready else None
    monkeypatch.setattr(mindie_service.MindieServiceManager, '_http_status', http_status)
    monkeypatch.setattr(mindie_service, 'POLL_INTERVAL', 0.001)
    monkeypatch.setattr(mindie_service.time, 'sleep', lambda seconds: None)
    return box


def args(**kwargs):
    base = {'container': 'mindie', 'config_path': CONFIG, 'state': 'restarted', 'ready_timeout': 5, 'stop_timeout': 2}
    base.update(kwargs)
    return base


def config_with(**changes):
    config = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        section, key = dotted.split('__')
        config[section][key] = value
    return config


def touched(box):
    return [a for a in box.actions if not a.startswith('probe')]


# ---------------------------------------------------------------------- the role's restore path

def test_restart_failed_start_then_restore_with_the_old_config(run_module, box):
    old = box.files[CONFIG]
    bad = copy.deepcopy(GOOD)
    bad['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = 40
    box.files[CONFIG] = json.dumps(bad)                 # the role's mindie_config wrote the new config

    failed = run_module(mindie_service.main, args(), expect_fail=True)
    assert touched(box) == ['stop 100', 'start']        # the old daemon was stopped, the new start attempted
    assert 'exited before it was ready' in failed['msg'] or 'did not start' in failed['msg']
    assert 'out of memory' in failed['msg'] and failed['exit_code'] == 1
    assert 'npuMemSize' in failed['hint']
    assert failed['ready'] is False

    box.files[CONFIG] = old                             # the role restores the backup ...
    restored = run_module(mindie_service.main, args())  # ... and runs state=restarted again
    assert touched(box) == ['stop 100', 'start', 'start']
    assert restored['changed'] is True and restored['ready'] is True
    assert restored['restarted'] is False               # the refused daemon was already gone
    assert restored['pid'] == box.pid and box.alive


def test_restart_of_a_healthy_daemon(run_module, box):
    result = run_module(mindie_service.main, args())
    assert touched(box) == ['stop 100', 'start']
    assert result['restarted'] is True and result['ready'] is True and result['pid'] == 501


# ---------------------------------------------------------------------- refused before anything is stopped

BAD_OPTIONS = [
    ({'env': {'1BAD': 'x'}}, "'1BAD' is not a valid environment variable name"),
    ({'env': {'BAD-NAME': 'x'}}, 'is not a valid environment variable name'),
    ({'env': {'MASTER_PORT': '1'}}, 'MASTER_PORT is set by the module; use the master_port option'),
    ({'env': {'MIES_CONFIG_JSON_PATH': '/tmp/other.json'}}, 'use the config_path option'),
    ({'env': {'IFS': ':'}}, 'IFS changes how the start script itself runs'),
    ({'env': {'BASH_ENV': '/tmp/x'}}, 'BASH_ENV changes how the start script itself runs'),
    ({'env': {'FLAG': True}}, 'the value of FLAG must be a string, got True (bool)'),
    ({'env': {'LEVEL': 1.10}}, 'the value of LEVEL must be a string, got 1.1 (float)'),
    ({'env': {'NOTHING': None}}, 'the value of NOTHING must be a string, got None'),
    ({'env': {'NESTED': {'a': 1}}}, 'the value of NESTED must be a string'),
    ({'env': {'NUL': 'a\x00b'}}, 'contains a NUL byte'),
    ({'master_port': 80}, 'master_port must be in [1024, 65535], got 80'),
    ({'master_port': 70000}, 'master_port must be in [1024, 65535], got 70000'),
    ({'master_addr': 'local host'}, 'master_addr must be a host name'),
    ({'ready_timeout': 0}, 'ready_timeout must be between 1 and 86400'),
    ({'stop_timeout': -1}, 'stop_timeout must be between 1 and 86400'),
    ({'ready_timeout': 10 ** 12}, 'ready_timeout must be between 1 and 86400'),
    ({'env': {'FOO\n': 'x'}}, 'is not a valid environment variable name'),
    ({'service_dir': 'relative/dir'}, 'service_dir must be an absolute path'),
    ({'service_dir': '/'}, 'service_dir must not be /'),
    ({'service_dir': '/usr/local/../../etc'}, 'service_dir must not contain .. components'),
    ({'config_path': '/etc/mindie/config.json\nrm -rf /'}, 'config_path must not contain control characters'),
]


@pytest.mark.parametrize('options,message', BAD_OPTIONS)
def test_invalid_option_fails_without_stopping(run_module, box, options, message):
    result = run_module(mindie_service.main, args(**options), expect_fail=True)
    assert message in result['msg'], result['msg']
    assert 'nothing was stopped or started' in result['msg']
    assert touched(box) == [] and box.alive and box.pid == 100


BAD_CONFIGS = [
    (config_with(ServerConfig__httpsEnabled='false'),
     '`ServerConfig.httpsEnabled`: is the string "false", but MindIE expects a JSON boolean'),
    (config_with(ServerConfig__allowAllZeroIpListening='true'), '`ServerConfig.allowAllZeroIpListening`: is the string "true"'),
    (config_with(ServerConfig__port='1040'), '`ServerConfig.port`: must be an integer in [1024, 65535], got "1040"'),
    (config_with(ServerConfig__managementPort=80), '`ServerConfig.managementPort`: must be in [1024, 65535], got 80'),
    (config_with(ServerConfig__metricsPort=True), '`ServerConfig.metricsPort`: must be an integer'),
    (config_with(ServerConfig__metricsPort=1040, ServerConfig__managementIpAddress='127.0.0.1'), 'metricsPort'),
    (config_with(ServerConfig__ipAddress='localhost'), '`ServerConfig.ipAddress`: must be a literal IPv4 or IPv6 address'),
    (config_with(ServerConfig__managementIpAddress='127.0.0.1; id'), '`ServerConfig.managementIpAddress`: must be a literal IPv4'),
    ({'ServerConfig': 'nope'}, 'ServerConfig must be a JSON object'),
    ([1, 2], 'the top level must be a JSON object'),
]


@pytest.mark.parametrize('config,message', BAD_CONFIGS)
def test_invalid_config_fails_without_stopping(run_module, box, config, message):
    box.files[CONFIG] = json.dumps(config)
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert message in result['msg'], result['msg']
    assert 'Nothing was stopped or started' in result['msg']
    assert touched(box) == [] and box.alive


@pytest.mark.parametrize('text,message', [
    ('{"ServerConfig": ', 'is not valid JSON'),
    ('[' * 100000 + ']' * 100000, 'nested too deeply'),
])
def test_unparsable_config_fails_without_stopping(run_module, box, text, message):
    box.files[CONFIG] = text
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert message in result['msg'] and touched(box) == []


def test_missing_config_or_daemon_binary_fails_without_stopping(run_module, box):
    del box.files[CONFIG]
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert 'does not exist' in result['msg'] and touched(box) == []
    box.files[CONFIG] = json.dumps(GOOD)
    box.has_binary = False
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert 'bin/mindieservice_daemon is not an executable file' in result['msg'] and touched(box) == []


def test_check_mode_refuses_the_same(run_module, box):
    box.files[CONFIG] = json.dumps(config_with(ServerConfig__httpsEnabled='false'))
    result = run_module(mindie_service.main, args(), expect_fail=True, check_mode=True)
    assert 'httpsEnabled' in result['msg'] and touched(box) == []


def test_stopping_with_a_broken_config_warns_and_stops(run_module, box):
    box.files[CONFIG] = '{broken'
    result = run_module(mindie_service.main, args(state='stopped'))
    assert result['changed'] is True and touched(box) == ['stop 100'] and not box.alive


def test_valid_env_is_exported(run_module, box, monkeypatch):
    scripts = []
    original = FakeClient.exec_detached

    def record(self, cmd, **kwargs):
        scripts.append(cmd[2])
        return original(self, cmd, **kwargs)
    monkeypatch.setattr(FakeClient, 'exec_detached', record)
    run_module(mindie_service.main, args(env={'MINDIE_LOG_TO_STDOUT': '1', 'WORKERS': 4, 'NOTE': "it's $(id)"}))
    assert "export MINDIE_LOG_TO_STDOUT=1\n" in scripts[0] and 'export WORKERS=4\n' in scripts[0]
    assert "export NOTE='it'\"'\"'s $(id)'\n" in scripts[0]


# ---------------------------------------------------------------------- single-port mode

def test_single_port_mode_probes_the_one_port(run_module, box):
    box.files[CONFIG] = json.dumps(config_with(ServerConfig__port=1050, ServerConfig__managementPort=1050,
                                               ServerConfig__metricsPort=1050))
    result = run_module(mindie_service.main, args())
    assert result['ready'] is True
    assert result['urls'] == {'business': 'http://127.0.0.1:1050', 'management': 'http://127.0.0.1:1050',
                              'metrics': 'http://127.0.0.1:1050'}
    assert set(a for a in box.actions if a.startswith('probe')) == {'probe 127.0.0.1:1050'}


def test_single_port_endpoints_and_listening_check():
    ep = mindie_service.endpoints_from_config(config_with(ServerConfig__port=1050, ServerConfig__managementPort=1050,
                                                          ServerConfig__metricsPort=1050))
    assert ep['single_port'] is True and ep['ports'] == [1050] and ep['probe_ip'] == '127.0.0.1'
    proc = ('  sl  local_address rem_address   st\n'
            '   0: 0100007F:041A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n'
            '   1: 0100007F:041A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n')
    assert mindie_service.listening_ports(proc, (1050, 1050, 1050)) == [1050]
    distinct = mindie_service.endpoints_from_config(GOOD)
    assert distinct['single_port'] is False and distinct['ports'] == [1040, 1041, 1042]
    assert distinct['probe_ip'] == '127.0.0.2'
