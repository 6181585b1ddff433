# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_diagnose per instance (option ``instances``), every collaborator mocked.

The node fixture of test_mindie_diagnose_manager.py (npu-smi, the socket table, the probes and the weights check
are recorders) with a Docker fake that answers per container: each instance has its own container, config.json
and log directory on the node, where the collection's supervisor writes supervisor.json and console.log.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_diagnose
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import Exited, Failed
from ansible_collections.ascend.mindie.tests.unit.plugins.modules import test_mindie_diagnose_manager as manager
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.test_mindie_diagnose_manager import RUNNING, execute

# The manager tests' node fixture (npu-smi, sockets, probes and the weights check recorded), used by fleet below.
node_fixture = manager.node

SUPERVISED = dict(RUNNING, Config={'Image': 'mindie:1.0.0', 'Env': ['PATH=/usr/bin',
                                                                   'MINDIE_SUPERVISOR_STATE_DIR=/var/log/mindie-instance']})
OOM_LINES = ['[2026-01-01 10:00:00] [4200] [4200] [server] [ERROR] Warmup failed, because of multimodal model '
             'inference out of memory', 'Daemon exit']


def state(status, **extra):
    base = {'status': status, 'supervisor_pid': 7, 'daemon_pid': None, 'generation': 6, 'restarts': 5,
            'starts': [1, 2, 3, 4, 5, 6], 'last_exit': {'code': 1, 'signal': None, 'at': 10, 'reason': 'exited'},
            'last_error_lines': [], 'started_at': None, 'updated_at': 11}
    base.update(extra)
    return base


@pytest.fixture
def fleet(request, monkeypatch, tmp_path):
    """Two supervised instances: mindie-0 serving, mindie-1 as the test sets it."""
    node = request.getfixturevalue('node_fixture')
    fake = mindie_diagnose.MindieDockerClient
    node.containers = {'mindie-0': dict(SUPERVISED, Id='c0'), 'mindie-1': dict(SUPERVISED, Id='c1')}

    class PerContainer(fake):
        def __init__(self, name, timeout):
            fake.__init__(self, name, timeout)
            self.name = name

        def inspect_container(self):
            node.record('inspect_container', self.name)
            return node.containers.get(self.name)

    monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', PerContainer)
    instances = []
    for index in (0, 1):
        name = 'mindie-%d' % index
        conf = tmp_path / 'etc' / name
        conf.mkdir(parents=True)
        config = json.loads(open(node.args['config_path']).read())
        config['BackendConfig']['ScheduleConfig']['maxBatchSize'] = 4     # the guide's for 32G: no finding
        (conf / 'config.json').write_text(json.dumps(config))
        (conf / 'config.json').chmod(0o640)
        logs = tmp_path / 'log' / name
        logs.mkdir(parents=True)
        instances.append({'name': name, 'container': name, 'config_path': str(conf / 'config.json'), 'log_dir': str(logs)})
    node.instances = instances
    node.write_state = lambda index, value: (tmp_path / 'log' / ('mindie-%d' % index) / 'supervisor.json').write_text(
        value if isinstance(value, str) else json.dumps(value))
    node.write_state(0, state('running', restarts=0, starts=[1], daemon_pid=4123, started_at=1, live_at=2, last_exit=None))
    return node


def test_each_instance_is_diagnosed_on_its_own_and_the_node_once(monkeypatch, fleet):
    fleet.write_state(1, state('crash-looping', last_error_lines=OOM_LINES))
    outcome = execute(monkeypatch, fleet, instances=fleet.instances)
    assert isinstance(outcome, Exited)
    result = outcome.result
    assert sorted(result['instances']) == ['mindie-0', 'mindie-1']
    # The node's items once, every instance's container and config.json on its own.
    assert len(fleet.of('run_npu_smi')) == 3 and fleet.of('ps_all') == [()] and len(fleet.of('check_model_dir')) == 1
    assert fleet.of('inspect_container') == [('mindie-0',), ('mindie-1',)]
    healthy, looping = result['instances']['mindie-0'], result['instances']['mindie-1']
    assert healthy["status"] == "ok", healthy["findings"]
    assert healthy['supervised'] and healthy['supervisor']['status'] == 'running'
    assert looping['status'] == 'error' and looping['supervisor']['status'] == 'crash-looping'
    crash = [f for f in looping['findings'] if 'crash-looping' in f['message']]
    assert len(crash) == 1 and crash[0]['severity'] == 'error' and crash[0]['hint']
    assert 'Warmup failed' in crash[0]['message'] and crash[0]['details']['last_error_lines'] == OOM_LINES
    # The known failure among the last error lines is named too.
    assert [f['problem'] for f in looping['findings'] if f['problem'] == 'out_of_memory'] == ['out_of_memory']
    # Top level: every instance's findings, named, with the instance in details; the node's files only.
    top = [f for f in result['findings'] if f['details'].get('instance') == 'mindie-1']
    assert top and all(f['message'].startswith('mindie-1: ') for f in top)
    assert result['summary'].startswith('FAIL')
    assert 'supervisor.json' in looping['files'] and 'supervisor.json' not in result['files']
    assert 'npu-smi-info.txt' in result['files'] and 'docker-ps.json' in result['files']
    assert json.loads(looping['files']['supervisor.json'])['status'] == 'crash-looping'


def test_supervised_daemon_is_the_supervisors_and_console_log_is_read_in_the_log_dir(monkeypatch, fleet, tmp_path):
    fleet.write_state(1, state('running', restarts=2, daemon_pid=4555, started_at=1, live_at=2))
    (tmp_path / 'log' / 'mindie-1' / 'console.log').write_text('old line\n' * 500 + 'Daemon start success!\n')
    outcome = execute(monkeypatch, fleet, instances=fleet.instances, log_lines=3)
    assert isinstance(outcome, Exited)
    entry = outcome.result['instances']['mindie-1']
    # No pid-file probe in a supervised container: the supervisor names the daemon.
    assert not [a for a in fleet.of('exec_shell') if a[0] and str(a[0][0]).endswith('mindieservice_daemon.pid')]
    assert 'pid: 4555' in entry['files']['daemon.txt'] and 'running: yes' in entry['files']['daemon.txt']
    assert entry['files']['console.log.tail'] == 'old line\nold line\nDaemon start success!\n'
    # It healed by itself: info, not a problem.
    restarted = [f for f in entry['findings'] if 'restarted the daemon 2 time(s)' in f['message']]
    assert restarted and restarted[0]['severity'] == 'info' and entry['status'] == 'ok'


def test_missing_or_garbled_state_of_a_supervised_instance_is_a_warning(monkeypatch, fleet):
    fleet.write_state(1, 'not json{')
    outcome = execute(monkeypatch, fleet, instances=fleet.instances)
    entry = outcome.result['instances']['mindie-1']
    assert entry['supervisor'] == {}
    assert any('written no state' in f['message'] and f['severity'] == 'warning' for f in entry['findings'])


def test_held_stopped_instance_is_reported_as_such_not_as_a_dead_daemon(monkeypatch, fleet):
    fleet.write_state(1, state('stopped', restarts=0))
    outcome = execute(monkeypatch, fleet, instances=fleet.instances)
    entry = outcome.result['instances']['mindie-1']
    messages = [f['message'] for f in entry['findings']]
    assert any('held stopped' in m for m in messages)
    assert not any('is not running in the container' in m for m in messages)
    assert entry['status'] == 'warning'


def test_unsupervised_container_keeps_the_pid_file_probe(monkeypatch, fleet):
    fleet.containers['mindie-1'] = dict(RUNNING, Id='c1')
    outcome = execute(monkeypatch, fleet, instances=fleet.instances)
    entry = outcome.result['instances']['mindie-1']
    assert entry['supervised'] is False and entry['supervisor'] is None
    assert 'supervisor.json' not in entry['files']
    assert [a for a in fleet.of('exec_shell') if a[0] and str(a[0][0]).endswith('mindieservice_daemon.pid')]


def test_one_instance_keeps_the_files_where_they_were(monkeypatch, fleet):
    outcome = execute(monkeypatch, fleet, instances=fleet.instances[:1])
    result = outcome.result
    assert list(result['instances']) == ['mindie-0']
    assert 'supervisor.json' in result['files'] and 'config.json' in result['files']
    assert all(not f['message'].startswith('mindie-0: ') for f in result['findings'])


@pytest.mark.parametrize('change, message', [
    ({'container': '--privileged'}, 'must be Docker container names'),
    ({'log_dir': 'relative'}, 'log_dir'),
    ({'config_path': '/etc/mindie/config.json\n'}, 'config_path'),
    ({'name': 'mindie-0'}, 'more than once'),
])
def test_bad_instances_fail_before_anything_is_read(monkeypatch, fleet, change, message):
    instances = [fleet.instances[0], dict(fleet.instances[1], **change)]
    outcome = execute(monkeypatch, fleet, instances=instances)
    assert isinstance(outcome, Failed) and message in outcome.result['msg']
    assert fleet.log == []
