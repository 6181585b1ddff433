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
import time

import pytest

from ansible.module_utils import basic

from ansible_collections.ascend.mindie.plugins.modules import mindie_service
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_logs

CONFIG = '/etc/mindie/config.json'
SERVICE_DIR = mindie_service.DEFAULT_SERVICE_DIR
GOOD = {'ServerConfig': {'ipAddress': '127.0.0.1', 'managementIpAddress': '127.0.0.2', 'port': 1040,
                         'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False},
        'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': 8}]}}}
OOM_LINE = ('[2026-01-01 10:00:00.000] [1] [2] [mindie-server] [ERROR] Warmup failed, because of multimodal model '
            'inference out of memory')


class FakeContainer(object):
    """One running container: files, processes (a daemon and its backend workers), ports, logs, and the actions.

    The daemon leads its own process group (as the module's start script makes it); its workers are in that group.
    Knobs: ``fail_exit`` (exit code of a refused start), ``workers_survive_daemon`` (killing the daemon leaves the
    workers, as real MindIE's do), ``workers_ignore_term``, ``busy_ports`` ({port: [polls left, entry]}),
    ``health`` ((ready status, live status) of a running daemon).
    """

    def __init__(self, config=None, daemon_pid=None):
        self.files = {CONFIG: json.dumps(GOOD if config is None else config)}
        self.procs = {1: self.proc(1, 'sleep', 0, 1, 'sleep infinity')}
        self.pid = None
        self.exit_code = None
        self.next_pid = 500
        self.log = []
        self.logs = {}
        self.actions = []           # 'kill -TERM 100', 'start', ...
        self.has_binary = True
        self.boot = '4242'
        self.pgid_file = None
        self.fail_exit = 1
        self.workers_survive_daemon = False
        self.workers_ignore_term = False
        self.busy_ports = {}
        self.health = (200, 200)
        self.reason_log = None      # '<dir>/mindie-service_%d_x.log': the refusal goes only to that file
        if daemon_pid is not None:
            self.spawn(daemon_pid)

    @staticmethod
    def proc(pid, comm, ppid, pgid, cmdline, start='1000'):
        return {'pid': pid, 'comm': comm, 'state': 'S', 'ppid': ppid, 'pgid': pgid, 'sid': pgid, 'start': start,
                'cmdline': cmdline}

    def spawn(self, pid, workers=2):
        self.pid = pid
        self.procs[pid] = self.proc(pid, 'mindieservice_d', 1, pid, './bin/mindieservice_daemon', start=str(pid))
        for n in range(workers):
            wpid = pid + 1 + n
            self.procs[wpid] = self.proc(wpid, 'mindie_llm_back', pid, pid, 'python3 ./bin/mindieservice_daemon '
                                         'mindie_sim_npu_worker --device %d --hbm-mb 20000' % n, start=str(wpid))
        self.pgid_file = '%d %s' % (pid, self.boot)
        self.exit_code = None

    @property
    def alive(self):
        return self.pid in self.procs

    @property
    def ready(self):
        return self.alive and self.health[0] == 200

    def workers(self):
        return sorted(p for p, i in self.procs.items() if i['comm'] == 'mindie_llm_back')

    def start(self):
        """What the daemon does with the config in the container now: refuse an npuMemSize of 40, else serve."""
        self.actions.append('start')
        self.next_pid += 10
        model = json.loads(self.files[CONFIG])['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]
        held = [i for i in self.procs.values() if i['comm'] == 'mindie_llm_back']
        ports = [p for p, (left, dummy) in self.busy_ports.items() if left > 0]
        if model.get('npuMemSize') == 40 or held or ports:
            self.pid, self.exit_code = self.next_pid, self.fail_exit
            self.pgid_file = '%d %s' % (self.pid, self.boot)
            line = OOM_LINE if not ports else 'Socket bind failed: the listen port is occupied.'
            if self.reason_log:
                self.logs.setdefault(self.reason_log % self.pid, []).append(line)
            else:
                self.log.append(line)
        else:
            self.spawn(self.next_pid)
            self.log.append('Daemon start success!')

    def signal(self, sig, targets):
        pids = set()
        for target in targets:
            target = int(target)
            if target < 0:
                pids.update(p for p, i in self.procs.items() if i['pgid'] == -target)
            elif target in self.procs:
                pids.add(target)
        for pid in sorted(pids):
            info = self.procs.get(pid)
            if info is None:
                continue
            if info['comm'] == 'mindie_llm_back' and sig == 'TERM' and self.workers_ignore_term:
                continue
            del self.procs[pid]
            if pid == self.pid:
                self.exit_code = 143 if sig == 'TERM' else 137
                if not self.workers_survive_daemon:
                    for wpid in [p for p, i in self.procs.items() if i['pgid'] == pid]:
                        del self.procs[wpid]
                else:
                    for wpid in [p for p, i in self.procs.items() if i['ppid'] == pid]:
                        self.procs[wpid]['ppid'] = 1

    def ps(self):
        out = ''
        for pid, i in sorted(self.procs.items()):
            rest = [i['state'], i['ppid'], i['pgid'], i['sid']] + [0] * 15 + [i['start']]
            out += 'S %d (%s) %s\nC %s\n' % (pid, i['comm'], ' '.join(str(x) for x in rest), i['cmdline'])
        return out

    def port_check(self, args):
        who = args[1] == 'who'
        busy = {}
        for port in args[2:]:
            if int(port) in self.busy_ports:
                left, entry = self.busy_ports[int(port)]
                if left <= 0:
                    del self.busy_ports[int(port)]
                    continue
                if not who:
                    self.busy_ports[int(port)][0] = left - 1
                busy[str(port)] = entry if who else {'errno': 98, 'error': 'Address already in use', 'sockets': []}
        return json.dumps(busy)


class FakeClient(object):
    """Stands in for MindieDockerClient: answers the module's scripts from a FakeContainer."""

    def __init__(self, box):
        self.box = box

    def require_running(self):
        return {'id': 'c0ffee', 'running': True, 'status': 'running', 'restart_count': 0, 'started_at': 'x',
                'network_mode': 'host'}

    def read_file(self, path):
        return self.box.files.get(path)

    def env(self):
        return {}      # no supervisor: the docker-exec mode

    def exec_detached(self, cmd, environment=None, workdir=None, user=None):
        assert cmd[:2] == ['bash', '-c']
        self.box.start()

    def exec_shell(self, script, environment=None, args=None):
        box = self.box
        if script.startswith('test -f '):
            return (0 if box.has_binary else 1), '', ''
        if 'echo "pid=$pid"' in script:
            out = 'pid=%s\n' % (box.pid if box.pid is not None else '')
            if box.alive:
                out += 'stat=%d (mindieservice_d) S 1\ncmdline=./bin/mindieservice_daemon \n' % box.pid
            out += 'exit=%s\n' % ('' if box.exit_code is None else box.exit_code)
            out += 'pgid=%s\nboot=%s\n' % (box.pgid_file or '', box.boot)
            return 0, out, ''
        if script == mindie_service.PS_SCRIPT:
            return 0, box.ps(), ''
        match = re.match(r'kill -(TERM|KILL) ([-\d ]+) 2>/dev/null; true$', script)
        if match:
            box.actions.append('kill -%s %s' % (match.group(1), match.group(2)))
            box.signal(match.group(1), match.group(2).split())
            return 0, '', ''
        match = re.match(r'cat /proc/(\d+)/stat', script)
        if match:
            pid = int(match.group(1))
            return 0, ('%d (x) S 1\n' % pid) if pid in box.procs else '', ''
        if script.startswith('command -v python3'):
            return 0, box.port_check(args) + '\n', ''
        if script.startswith('command -v npu-smi'):
            return 3, '', ''
        if script.startswith('rm -f '):
            box.pid, box.exit_code, box.pgid_file = None, None, None
            return 0, '', ''
        if script.startswith('ls -t -- '):
            found = [f for f in sorted(box.logs) if '/mindie-service_%s_' % box.pid in f and f.split('/mindie-service_')[0]
                     in script]
            return 0, (found[-1] + '\n') if found else '', ''
        if 'wc -c' in script:
            return 0, '0\n0\n', ''
        match = re.match(r'tail (?:-c \+\d+|-n \d+) (\S+) 2>/dev/null', script)
        if match:
            path = match.group(1)
            if path in box.logs:
                return 0, '\n'.join(box.logs[path]) + '\n', ''
            return 0, ('\n'.join(box.log) + '\n') if path.endswith('mindservice.log') else '', ''
        if '/proc/net/tcp' in script:
            return 0, '', ''
        raise AssertionError('unexpected script: %s' % script)


@pytest.fixture
def box(monkeypatch):
    box = FakeContainer(daemon_pid=100)
    monkeypatch.setattr(mindie_service, 'MindieDockerClient', lambda container, docker_host=None: FakeClient(box))

    def http_get(self, host, port, path, https):
        box.actions.append('probe %s:%d%s' % (host, port, path))
        status = None
        if box.alive:
            status = box.health[1] if path == '/v2/health/live' else box.health[0]
        return {'status': status, 'body': '', 'error': '' if status else 'refused', 'cert_refused': False}
    monkeypatch.setattr(mindie_service.MindieServiceManager, '_http_get', http_get)
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
    assert touched(box) == ['kill -TERM 100', 'start']  # the old daemon was stopped, the new start attempted
    assert 'exited before it was ready' in failed['msg'] or 'did not start' in failed['msg']
    assert 'out of memory' in failed['msg'] and failed['exit_code'] == 1
    assert 'npuMemSize' in failed['hint']
    assert failed['ready'] is False

    box.files[CONFIG] = old                             # the role restores the backup ...
    restored = run_module(mindie_service.main, args())  # ... and runs state=restarted again
    assert touched(box) == ['kill -TERM 100', 'start', 'start']
    assert restored['changed'] is True and restored['ready'] is True
    assert restored['restarted'] is False               # the refused daemon was already gone
    assert restored['pid'] == box.pid and box.alive


def test_restart_of_a_healthy_daemon(run_module, box):
    result = run_module(mindie_service.main, args())
    assert touched(box) == ['kill -TERM 100', 'start']
    assert result['restarted'] is True and result['ready'] is True and result['pid'] == 510
    assert box.workers() == [511, 512]
    # the docker-exec mode (no supervisor in the container) reports the same summary keys as the supervised one
    assert result['supervised'] is False and result['status'] == 'serving' and result['restarts'] == 0


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
    ({'env': {'MINDIE_LOG_ROTATE': '-fs 20 -r 0'}},
     "env: MINDIE_LOG_ROTATE='-fs 20 -r 0' would abort the daemon at start (MindIE's logger refuses it): -r takes the "
     'number of log files, an integer in [1, 64], got 0.'),
    ({'env': {'MINDIE_LOG_ROTATE': '-fs 1000'}}, '-fs takes the size of a log file in MB, an integer in [1, 500], got 1000'),
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
    assert result['changed'] is True and touched(box) == ['kill -TERM 100'] and not box.alive


def test_valid_env_is_exported(run_module, box, monkeypatch):
    scripts = []
    original = FakeClient.exec_detached

    def record(self, cmd, **kwargs):
        scripts.append(cmd[2])
        return original(self, cmd, **kwargs)
    monkeypatch.setattr(FakeClient, 'exec_detached', record)
    run_module(mindie_service.main, args(env={'MINDIE_LOG_TO_STDOUT': '1', 'WORKERS': 4, 'NOTE': "it's $(id)",
                                              'MINDIE_LOG_ROTATE': '-fs 20 -r 10'}))
    assert "export MINDIE_LOG_TO_STDOUT=1\n" in scripts[0] and 'export WORKERS=4\n' in scripts[0]
    assert "export MINDIE_LOG_ROTATE='-fs 20 -r 10'\n" in scripts[0]
    assert "export NOTE='it'\"'\"'s $(id)'\n" in scripts[0]


# ---------------------------------------------------------------------- single-port mode

def test_single_port_mode_probes_the_one_port(run_module, box):
    box.files[CONFIG] = json.dumps(config_with(ServerConfig__port=1050, ServerConfig__managementPort=1050,
                                               ServerConfig__metricsPort=1050))
    result = run_module(mindie_service.main, args())
    assert result['ready'] is True
    # GOOD's managementIpAddress is 127.0.0.2: MindIE (http_server.cpp HttpServerInit) serves business and
    # management on ipAddress:1050 and starts the metrics server on managementIpAddress:1050.
    assert result['urls'] == {'business': 'http://127.0.0.1:1050', 'management': 'http://127.0.0.1:1050',
                              'metrics': 'http://127.0.0.2:1050'}
    assert set(a for a in box.actions if a.startswith('probe')) == {'probe 127.0.0.1:1050/v2/health/ready'}


def test_a_config_without_management_port_is_probed_on_the_business_port(run_module, box):
    # MindIE (server_config.cpp InitFromJson) serves management on `port` when managementPort is absent, not on 1026.
    config = json.loads(json.dumps(GOOD))
    del config['ServerConfig']['managementPort']
    box.files[CONFIG] = json.dumps(config)
    result = run_module(mindie_service.main, args())
    # managementIpAddress 127.0.0.2 with metricsPort apart: MindIE starts a management server there on port 1040.
    assert result['ready'] is True and result['urls']['management'] == 'http://127.0.0.2:1040'
    assert set(a for a in box.actions if a.startswith('probe')) == {'probe 127.0.0.2:1040/v2/health/ready'}


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


# ---------------------------------------------------------------------- issue 11: process group, busy, ports, logs

LOGENV = SERVICE_DIR + '/' + mindie_service.LOGENV_FILE


def test_stop_terms_the_daemon_then_what_is_left_of_its_group(run_module, box):
    """Real MindIE's workers outlive the daemon: the stop must TERM the rest of the group and confirm it is gone."""
    box.workers_survive_daemon = True
    result = run_module(mindie_service.main, args(state='stopped'))
    assert result['changed'] is True
    assert touched(box) == ['kill -TERM 100', 'kill -TERM -100 101 102']
    assert box.workers() == [] and not box.alive


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: seen.append(msg))
    return seen


def test_stop_kills_workers_that_ignore_sigterm(run_module, box, warnings):
    box.workers_survive_daemon = True
    box.workers_ignore_term = True
    result = run_module(mindie_service.main, args(state='stopped', stop_timeout=1))
    assert touched(box) == ['kill -TERM 100', 'kill -TERM -100 101 102', 'kill -KILL -100 101 102']
    assert box.workers() == []
    assert result['changed'] and any('were killed' in w for w in warnings)


def test_killed_daemon_leftover_workers_are_stopped_before_the_start(run_module, box, warnings):
    """kill -9 of only the daemon's pid (gpustack#2636): its workers hold HBM, a new daemon would not fit."""
    box.workers_survive_daemon = True
    box.signal('KILL', ['100'])
    assert box.workers() == [101, 102] and not box.alive
    checked = run_module(mindie_service.main, args(state='started'), check_mode=True)
    assert checked['changed'] is True and len(checked['leftovers']) == 2 and touched(box) == []
    assert 'mindie_llm_back' in checked['leftovers'][0] and 'mindie_sim_npu_worker --device 0' in checked['leftovers'][0]
    result = run_module(mindie_service.main, args(state='started'))
    assert touched(box) == ['kill -TERM -100 101 102', 'start']
    assert result['ready'] is True and result['restarted'] is False and len(result['leftovers']) == 2
    assert box.workers() == [511, 512]
    assert any('left processes running' in w for w in warnings)


def test_stopped_with_a_dead_daemon_stops_its_leftovers(run_module, box):
    box.workers_survive_daemon = True
    box.signal('KILL', ['100'])
    result = run_module(mindie_service.main, args(state='stopped'))
    assert result['changed'] is True and box.workers() == [] and touched(box) == ['kill -TERM -100 101 102']
    again = run_module(mindie_service.main, args(state='stopped'))
    assert again['changed'] is False


def test_after_a_container_restart_the_recorded_group_is_not_trusted(run_module, box):
    """A stale pid file from before a container restart: a process that now has that pgid is not ours."""
    box.signal('KILL', ['100'])
    box.boot = '9999'
    box.procs[150] = box.proc(150, 'bash', 1, 100, 'bash -l')
    result = run_module(mindie_service.main, args(state='started'))
    assert 150 in box.procs and touched(box) == ['start'] and 'leftovers' not in result


def test_orphaned_backend_workers_without_a_group_record_are_stopped(run_module, box):
    box.workers_survive_daemon = True
    box.signal('KILL', ['100'])
    box.pgid_file = None                        # started by an older collection (no process group record)
    result = run_module(mindie_service.main, args(state='started'))
    assert touched(box) == ['kill -TERM 101 102', 'start'] and result['ready'] is True


def test_busy_running_daemon_is_ok_and_not_restarted(run_module, box):
    """ready 503 + live 200 (HealthCheckConfig.npuUsageThreshold): busy, not down - no wait, no restart."""
    box.health = (503, 200)
    before = time.time()
    result = run_module(mindie_service.main, args(state='started', ready_timeout=30))
    assert time.time() - before < 5
    assert result['changed'] is False and result['pid'] == 100
    assert result['busy'] is True and result['live'] is True and result['ready'] is False
    assert touched(box) == []
    checked = run_module(mindie_service.main, args(state='started'), check_mode=True)
    assert checked['busy'] is True and checked['changed'] is False


def test_ready_daemon_is_live_and_not_busy(run_module, box):
    result = run_module(mindie_service.main, args(state='started'))
    assert result['ready'] is True and result['live'] is True and result['busy'] is False


def test_a_fresh_daemon_that_is_busy_at_once_is_up(run_module, box):
    """A daemon just started that gets traffic at once: ready 503 + live 200 is busy, not a failed start."""
    box.files[CONFIG] = json.dumps(GOOD)
    box.signal('TERM', ['100'])
    box.health = (503, 200)
    result = run_module(mindie_service.main, args(state='started', ready_timeout=1))
    assert result['busy'] is True and result['live'] is True and result['ready'] is False
    assert result['changed'] is True and result['startup_seconds'] is not None


def test_a_fresh_daemon_live_but_abnormal_is_still_starting(run_module, box):
    box.files[CONFIG] = json.dumps(GOOD)
    box.signal('TERM', ['100'])
    box.health = (500, 200)
    result = run_module(mindie_service.main, args(state='started', ready_timeout=1), expect_fail=True)
    assert 'answered live but not ready within 1 s' in result['msg']
    assert result['busy'] is False and result['ready'] is False


def test_exit_137_with_the_reason_only_in_the_log_file(run_module, box):
    """MindIE's init failure: killpg(SIGKILL) (137), the reason in ~/mindie/log/debug/mindie-service_<pid>_*.log."""
    box.fail_exit = 137
    box.reason_log = '/root/mindie/log/debug/mindie-service_%d_202601011000.log'
    box.files[LOGENV] = '/root\x00\x00'
    bad = copy.deepcopy(GOOD)
    bad['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = 40
    box.files[CONFIG] = json.dumps(bad)
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert 'Warmup failed, because of multimodal model inference out of memory' in result['msg']
    assert result['exit_code'] == 137 and 'exit code 137' in result['msg']
    assert 'killpg(SIGKILL)' in result['hint'] and 'npuMemSize' in result['hint']
    assert result['log_file'] == '/root/mindie/log/debug/mindie-service_510_202601011000.log'
    assert result['log_file'] in result['hint']
    assert any('out of memory' in line for line in result['log_tail'][:3])


def test_log_file_under_mindie_log_path(run_module, box):
    box.reason_log = '/data/mlog/log/debug/mindie-service_%d_202601011000.log'
    box.files[LOGENV] = '/root\x00/data/mlog\x00'
    box.files[CONFIG] = json.dumps(config_with(ServerConfig__port=1040))
    bad = copy.deepcopy(GOOD)
    bad['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = 40
    box.files[CONFIG] = json.dumps(bad)
    result = run_module(mindie_service.main, args(), expect_fail=True)
    assert 'out of memory' in result['msg'] and result['log_file'].startswith('/data/mlog/log/debug/')


TIME_WAIT_ENTRY = {'errno': 98, 'error': 'Address already in use', 'sockets': [
    {'local': '0100007F:0410', 'remote': '0100007F:D431', 'state': '06', 'inode': '0', 'pids': []}]}
LISTEN_ENTRY = {'errno': 98, 'error': 'Address already in use', 'sockets': [
    {'local': '00000000:0410', 'remote': '00000000:0000', 'state': '0A', 'inode': '777', 'pids': [77],
     'cmd': 'nc -l 1040'}]}


def test_restart_right_after_traffic_waits_for_time_wait(run_module, box):
    """The business port in TIME_WAIT after smoke traffic: wait until it can be bound, then start."""
    box.busy_ports = {1040: [3, TIME_WAIT_ENTRY]}
    result = run_module(mindie_service.main, args())
    assert result['ready'] is True and touched(box) == ['kill -TERM 100', 'start']
    assert box.busy_ports == {}


def test_a_port_held_by_a_listener_fails_naming_it(run_module, box, monkeypatch):
    monkeypatch.setattr(mindie_service, 'HELD_PORT_GRACE', 0.05)
    box.busy_ports = {1040: [10 ** 9, LISTEN_ENTRY]}
    before = time.time()
    result = run_module(mindie_service.main, args(stop_timeout=30), expect_fail=True)
    assert time.time() - before < 10                   # a listener is not waited for stop_timeout + 60 s
    assert 'port 1040 (business): LISTEN 0.0.0.0:1040 (pid 77: nc -l 1040)' in result['msg']
    assert 'Nothing was started' in result['msg'] and 'port is in use' in result['hint']
    assert result['busy_ports'] == [1040] and 'start' not in touched(box)


def test_a_port_that_stays_in_time_wait_fails_after_the_bound(run_module, box, monkeypatch):
    monkeypatch.setattr(mindie_service, 'TIME_WAIT_SECONDS', 0)
    master = dict(TIME_WAIT_ENTRY['sockets'][0], local='0100007F:1ED8')
    box.busy_ports = {7896: [10 ** 9, dict(TIME_WAIT_ENTRY, sockets=[master])]}
    result = run_module(mindie_service.main, args(stop_timeout=1), expect_fail=True)
    assert 'port 7896 (MASTER_PORT): TIME_WAIT 127.0.0.1:7896 -> 127.0.0.1:54321' in result['msg']
    assert 'start' not in touched(box)


def test_process_helpers():
    text = ('S 100 (mindieservice_d) S 1 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000 1\nC ./bin/mindieservice_daemon\n'
            'S 101 (mindie_llm_back) S 100 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5001 1\nC python3 w\n'
            'S 102 (a b) c) Z 100 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5002 1\nC \n'
            'S 103 (sh) S 1 103 103 0\nC sh\ngarbage\nS x (y) S\n')
    procs = mindie_service.parse_processes(text)
    assert sorted(procs) == [100, 101, 102, 103] and procs[102]['comm'] == 'a b) c' and procs[101]['start'] == '5001'
    assert mindie_service.group_members(procs, 100) == [100, 101]          # the zombie does not count
    assert mindie_service.group_members(procs, None, 100) == [100, 101]
    assert mindie_service.group_members(procs, 1) == []
    assert mindie_service.orphan_backends(procs) == []                     # its daemon runs
    del procs[100]
    procs[101]['ppid'] = 1
    assert mindie_service.orphan_backends(procs) == [101]


def test_log_dirs_and_hints():
    assert mindie_logs.daemon_log_dirs('/root', '') == ['/root/mindie/log/debug']
    assert mindie_logs.daemon_log_dirs('/home/u/', '/data/l/')[:3] == ['/data/l/log/debug', '/data/l/debug', '/data/l']
    assert mindie_logs.daemon_log_dirs('/root', 'rel')[0] == '/root/mindie/log/rel/debug'
    assert '/p/s/log/debug' in mindie_logs.daemon_log_dirs('/root', 'llm:/p/l;server:/p/s')
    assert mindie_logs.daemon_log_dirs('/root', '~/x')[0] == '/root/x/log/debug'
    hint = mindie_service.exit_code_hint(137, '/f.log')
    assert 'killpg(SIGKILL)' in hint and '/f.log' in hint
    assert mindie_service.exit_code_hint(1) is None and 'signal 15' in mindie_service.exit_code_hint(143)
    assert mindie_service.port_holders({'error': 'x', 'sockets': []}) == ['bind failed: x']
    assert mindie_service.sockets_on_ports('  0: 0100007F:0410 0100007F:D431 06 0 0 0 0 0 1 0\n', [1040])['1040']['sockets']


# ---------------------------------------------------------------------- the Docker client's errors (no stand-in)

@pytest.mark.parametrize('sdk, message', [
    (None, 'Failed to import the required Python library (docker)'),
    ('down', 'Cannot talk to the Docker engine at tcp://127.0.0.1:2375: Error while fetching server API version'),
    ('no-container', 'Container mindie does not exist.'),
    ('stopped', 'Container mindie is not running (status: exited); start the container first.'),
])
def test_docker_client_errors_fail_cleanly(run_module, monkeypatch, sdk, message):
    from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils import fake_docker_sdk
    fakes = {'down': fake_docker_sdk.FakeSDK(down='Error while fetching server API version: refused'),
             'no-container': fake_docker_sdk.FakeSDK(containers=[fake_docker_sdk.running('other')]),
             'stopped': fake_docker_sdk.FakeSDK(containers=[fake_docker_sdk.running('mindie', status='exited')])}
    fake = fake_docker_sdk.install(monkeypatch, fakes.get(sdk))
    result = run_module(mindie_service.main, args(state='started', docker_host='tcp://127.0.0.1:2375'), expect_fail=True)
    assert message in result['msg']
    if sdk is None:
        assert 'No module named docker' in result['exception']
    else:
        # nothing ran in any container
        assert all(not c.execs for c in fake.containers.values())
