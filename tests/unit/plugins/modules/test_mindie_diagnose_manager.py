# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindieDiagnoser (the manager of ascend.mindie.mindie_diagnose) with every collaborator mocked.

npu-smi (find_npu_smi, run_npu_smi), the Docker client, the socket table, the HTTP probes and the model
directory check are recorders, so the tests say what the diagnoser runs on each path: nothing at all for bad
options, no container command when Docker or the container is not there, no probe when probing is off or the
daemon does not listen, no further npu-smi after one hung. test_mindie_diagnose.py drives the module through
main() with a real npu-smi script and real files; test_mindie_diagnose_sim.py against the simulated daemon.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerError
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import NpuSmiTimeout
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import (
    Calls,
    Exited,
    Failed,
    build_module,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')
SERVICE_DIR = mindie_diagnose.DEFAULT_SERVICE_DIR
RUNNING = {'Id': 'abc', 'RestartCount': 0, 'Image': 'sha256:1', 'Config': {'Image': 'mindie:1.0.0'},
           'State': {'Running': True, 'Restarting': False, 'Status': 'running', 'ExitCode': 0, 'OOMKilled': False}}


def read(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


class Result(object):
    """What run_npu_smi returns (the parts the diagnoser reads)."""

    def __init__(self, out):
        self.rc, self.out = 0, out

    def marked(self, stream):
        return self.out if stream == 'stdout' else ''

    def notes(self):
        return []


@pytest.fixture
def node(tmp_path, monkeypatch):
    calls = Calls()
    calls.container = dict(RUNNING)
    calls.docker_error = None
    calls.npu_hangs = False
    calls.listening = True
    outputs = {(): read('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'),
               ('-m',): read('npu-smi', 'atlas800ia2_910b4x8_info-m.txt'),
               ('-l',): read('npu-smi', 'atlas800ia2_910b4x8_info-l.txt')}

    def find_npu_smi(name):
        calls.record('find_npu_smi', name)
        return '/usr/local/bin/npu-smi'

    def run_npu_smi(cmd, timeout, max_bytes):
        calls.record('run_npu_smi', tuple(cmd[2:]), timeout)
        if calls.npu_hangs:
            raise NpuSmiTimeout("'npu-smi info' did not finish within %d s and was killed" % timeout,
                                command='npu-smi info')
        return Result(outputs[tuple(cmd[2:])])

    class Docker(object):
        def __init__(self, name, timeout):
            calls.record('docker', name, timeout)
            if calls.docker_error:
                raise MindieDockerError(calls.docker_error)

        def inspect_container(self):
            calls.record('inspect_container')
            return calls.container

        def inspect_image(self, ref):
            calls.record('inspect_image', ref)
            return {'Id': 'sha256:1'}

        def ps_all(self):
            calls.record('ps_all')
            return [{'Names': ['mindie']}]

        def exec_shell(self, script, args=()):
            calls.record('exec_shell', list(args))
            if args and str(args[0]).endswith('mindieservice_daemon.pid'):
                return 0, ('pid=4123\nstat=4123 (python3) S 1\ncmdline=python3 %s/bin/mindieservice_daemon \n'
                           'shell_home=/root\n' % SERVICE_DIR), ''
            if script == mindie_diagnose.LOG_LIST_SCRIPT:
                return 0, '', ''
            return 0, 'Daemon start success!\n', ''

    def listeners(self, ports):
        calls.record('listeners', sorted(ports))
        owner = {'pid': 4123, 'name': 'mindieservice_d', 'cmdline': 'bin/mindieservice_daemon'}
        return dict((port, owner) for port in ports) if calls.listening else {}

    def http_get(self, scheme, host, port, path):
        calls.record('http_get', path)
        return {'status': 200, 'body': 'request_success_total 1\n' if path == '/metrics' else '', 'error': ''}

    def check_model_dir(path):
        calls.record('check_model_dir', path)
        return [checks.make('model_dir', 'model', checks.FAIL, '%s does not exist' % path)]

    monkeypatch.setattr(mindie_diagnose, 'find_npu_smi', find_npu_smi)
    monkeypatch.setattr(mindie_diagnose, 'run_npu_smi', run_npu_smi)
    monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', Docker)
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', listeners)
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'http_get', http_get)
    monkeypatch.setattr(mindie_diagnose.model_dir, 'check_model_dir', check_model_dir)
    conf = tmp_path / 'config.json'
    conf.write_text(read('mindie', 'guide_example.json'))
    conf.chmod(0o640)
    calls.args = {'config_path': str(conf), 'ascend_home': str(tmp_path / 'Ascend'), 'daemon_uid': os.getuid(),
                  'model_path': str(tmp_path / 'weights'), 'test_image': str(tmp_path / 'sample.jpg')}
    return calls


def execute(monkeypatch, node, **override):
    module = build_module(monkeypatch, mindie_diagnose, dict(node.args, **override))
    with pytest.raises((Exited, Failed)) as info:
        mindie_diagnose.MindieDiagnoser(module).execute()
    return info.value


@pytest.mark.parametrize('override, message', [
    ({'log_lines': 0}, 'log_lines must be at least 1'),
    ({'container': '--privileged'}, 'not a Docker container name'),
    ({'service_dir': 'relative/dir'}, 'service_dir'),
    ({'log_root': '/logs\n'}, 'log_root'),
    ({'npu_smi_timeout': 0}, 'npu_smi_timeout must be at least 1'),
    ({'ready_timeout': 0}, 'ready_timeout must be at least 1'),
    ({'probe_timeout': 301}, 'probe_timeout must be 1 to 300'),
    ({'ca_path': '/nonexistent/ca.pem'}, 'The TLS options cannot be used'),
])
def test_bad_options_fail_before_anything_is_run_or_read(monkeypatch, node, override, message):
    outcome = execute(monkeypatch, node, **override)
    assert isinstance(outcome, Failed) and message in outcome.result['msg']
    assert node.log == []


def test_healthy_node_collects_everything_in_order_and_changes_nothing(monkeypatch, node):
    outcome = execute(monkeypatch, node)
    assert isinstance(outcome, Exited) and outcome.result['changed'] is False
    t = mindie_diagnose.NPU_SMI_TIMEOUT
    assert node.of('run_npu_smi') == [((), t), (('-m',), t), (('-l',), t)]
    assert node.of('docker') == [('mindie', mindie_diagnose.DOCKER_TIMEOUT)]
    assert node.of('inspect_image') == [('mindie:1.0.0',)]
    assert [n for n in node.names() if n != 'exec_shell'] == [
        'find_npu_smi', 'run_npu_smi', 'find_npu_smi', 'run_npu_smi', 'find_npu_smi', 'run_npu_smi',
        'docker', 'inspect_container', 'inspect_image', 'ps_all', 'listeners',
        'http_get', 'http_get', 'http_get', 'check_model_dir']
    assert node.of('http_get') == [('/v2/health/ready',), ('/v2/health/live',), ('/metrics',)]
    assert node.of('exec_shell')[0][0][0] == SERVICE_DIR + '/logs/mindieservice_daemon.pid'
    assert outcome.result['profile'] == 'atlas-800i-a2-32g'
    assert 'daemon.txt' in outcome.result['files'] and 'health.txt' in outcome.result['files']


def test_docker_missing_runs_no_container_command_and_collects_the_rest(monkeypatch, node):
    node.docker_error = 'Failed to import the required Python library (docker)'
    outcome = execute(monkeypatch, node)
    assert isinstance(outcome, Exited)
    assert not set(node.names()) & {'inspect_container', 'inspect_image', 'ps_all', 'exec_shell', 'http_get'}
    assert 'listeners' in node.names() and 'check_model_dir' in node.names()
    container = [f for f in outcome.result['findings'] if f['category'] == 'container']
    assert container and 'Failed to import the required Python library (docker)' in container[0]['message']
    assert any(e.startswith('docker: Failed to import') for e in outcome.result['errors'])


def test_stopped_container_is_not_exec_ed_into_nor_probed(monkeypatch, node):
    node.container = dict(RUNNING, State=dict(RUNNING['State'], Running=False, Status='exited', ExitCode=137))
    outcome = execute(monkeypatch, node)
    assert isinstance(outcome, Exited)
    assert 'inspect_container' in node.names()
    assert 'exec_shell' not in node.names() and 'http_get' not in node.names()


def test_probe_false_sends_no_request(monkeypatch, node):
    outcome = execute(monkeypatch, node, probe=False)
    assert isinstance(outcome, Exited)
    assert 'exec_shell' in node.names() and 'http_get' not in node.names()


def test_daemon_that_does_not_listen_is_not_probed(monkeypatch, node):
    node.listening = False
    execute(monkeypatch, node)
    assert 'listeners' in node.names() and 'http_get' not in node.names()


def test_hung_npu_smi_stops_the_other_npu_smi_calls(monkeypatch, node):
    node.npu_hangs = True
    outcome = execute(monkeypatch, node, npu_smi_timeout=3)
    assert isinstance(outcome, Exited)
    assert node.of('run_npu_smi') == [((), 3)]
    assert outcome.result['files']['npu-smi-info-m.txt'].startswith('not run: ')
    assert 'docker' in node.names()                 # the rest is still collected
    assert json.loads(outcome.result['files']['docker-inspect-container.json'])['Id'] == 'abc'
