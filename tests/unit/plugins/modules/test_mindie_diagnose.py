# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_diagnose through main(): a fake npu-smi on the PATH, files in a temporary
directory and a fake Docker backend."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_docker
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerError
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils import fake_docker_sdk

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')
SERVICE_DIR = mindie_diagnose.DEFAULT_SERVICE_DIR


def read(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


NPU_SMI = '''#!/bin/sh
case "$2" in
  -m) cat "%(dir)s/info-m.txt";;
  -l) cat "%(dir)s/info-l.txt";;
  *) if [ -f "%(dir)s/fail" ]; then cat "%(dir)s/fail"; exit 255; fi; cat "%(dir)s/info.txt";;
esac
'''


class FakeDocker(object):
    """Stands in for MindieDockerClient: one container, its logs and its daemon."""

    container = {'Id': 'abc', 'RestartCount': 0, 'Image': 'sha256:1',
                 'State': {'Running': True, 'Restarting': False, 'Status': 'running', 'ExitCode': 0,
                           'OOMKilled': False},
                 'Config': {'Image': 'mindie:1.0.0'}}
    logs = {}
    daemon_pid = None
    fail_connect = None
    calls = []

    def __init__(self, name, docker_host=None, timeout=60):
        if FakeDocker.fail_connect:
            raise MindieDockerError(FakeDocker.fail_connect)
        self.name = name

    def inspect_container(self):
        return self.container

    def inspect_image(self, ref):
        return {'Id': 'sha256:1', 'RepoTags': [ref]}

    def ps_all(self):
        return [{'Names': self.name, 'Status': 'running'}]

    daemon_extra = ''
    listing = ''

    def exec_shell(self, script, environment=None, args=()):
        FakeDocker.calls.append((script, list(args)))
        if args and args[0].endswith('mindieservice_daemon.pid'):
            if self.daemon_pid is None:
                return 0, 'pid=\nshell_home=/root\n' + self.daemon_extra, ''
            return 0, ('pid=%d\nstat=%d (python3) S 1\ncmdline=python3 %s/bin/mindieservice_daemon \nshell_home=/root\n'
                       % (self.daemon_pid, self.daemon_pid, SERVICE_DIR)) + self.daemon_extra, ''
        if script == mindie_diagnose.LOG_LIST_SCRIPT:
            return 0, self.listing, ''
        if args and args[0] in self.logs:
            return 0, self.logs[args[0]], ''
        return 3, '', 'no such file'


HEALTHY = {'/v2/health/ready': (200, ''), '/v2/health/live': (200, ''), '/metrics': (200, 'request_success_total 1\n')}


class FakeHTTP(object):
    """What the management and metrics ports answer: path -> (status, body), or a list of them in turn."""

    answers = dict(HEALTHY)
    calls = []

    @classmethod
    def get(cls, scheme, host, port, path):
        cls.calls.append((scheme, host, port, path))
        answer = cls.answers.get(path)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if answer is None:
            return {'status': None, 'body': '', 'error': '[Errno 111] Connection refused'}
        return {'status': answer[0], 'body': answer[1], 'error': ''}


GENERATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..',
                         'sandbox', 'weights', 'generate_weights.py')


@pytest.fixture(scope='session')
def weights(tmp_path_factory):
    """Real-format Qwen2-VL weights (two small shards), as the sandbox places them."""
    out = str(tmp_path_factory.mktemp('weights') / 'Qwen2-VL-7B-Instruct')
    subprocess.check_call([sys.executable, GENERATOR, out, '--total-mb', '1', '--shards', '2'],
                          stdout=subprocess.DEVNULL)
    return out


@pytest.fixture
def node(tmp_path, monkeypatch, weights):
    """A node in tmp_path: npu-smi, version files, config.json 0640, weights, test image."""
    npu = tmp_path / 'npu'
    npu.mkdir()
    (npu / 'info.txt').write_text(read('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'))
    (npu / 'info-m.txt').write_text(read('npu-smi', 'atlas800ia2_910b4x8_info-m.txt'))
    (npu / 'info-l.txt').write_text(read('npu-smi', 'atlas800ia2_910b4x8_info-l.txt'))
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    script = bindir / 'npu-smi'
    script.write_text(NPU_SMI % {'dir': npu})
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))

    home = tmp_path / 'Ascend'
    (home / 'driver').mkdir(parents=True)
    (home / 'driver' / 'version.info').write_text(read('versions', 'driver_version.info_25.0.rc1.1'))
    (home / 'firmware').mkdir()
    (home / 'firmware' / 'version.info').write_text(read('versions', 'firmware_version.info_7.7.0.1.231'))

    config = json.loads(read('mindie', 'guide_example.json'))
    config['BackendConfig']['ScheduleConfig']['maxBatchSize'] = 8
    config['BackendConfig']['ScheduleConfig']['maxPrefillBatchSize'] = 8
    config['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['maxBatchSize'] = 8
    conf = tmp_path / 'config.json'
    conf.write_text(json.dumps(config, indent=4))
    conf.chmod(0o640)

    model = tmp_path / 'Qwen2-VL-7B-Instruct'
    shutil.copytree(weights, str(model))
    model.chmod(0o750)
    (model / 'config.json').chmod(0o640)

    image = tmp_path / 'sample.jpg'
    image.write_bytes(b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01' + b'\x00' * 64)
    image.chmod(0o644)

    FakeDocker.logs = {SERVICE_DIR + '/logs/mindservice.log': '[INFO] Daemon start success!\n',
                       SERVICE_DIR + '/logs/console.log': 'Daemon start success!\n'}
    FakeDocker.daemon_pid = 4123
    FakeDocker.fail_connect = None
    FakeDocker.calls = []
    FakeDocker.daemon_extra = ''
    FakeDocker.listing = ''
    FakeHTTP.answers = dict(HEALTHY)
    FakeHTTP.calls = []
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'http_get', FakeHTTP.get)
    monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', FakeDocker)
    # the sockets of this machine are none of the test's business: every wanted port is the daemon's
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', lambda self, ports: dict(
        (port, {'pid': 9, 'name': 'mindieservice_d', 'cmdline': 'bin/mindieservice_daemon'}) for port in ports))

    args = {'config_path': str(conf), 'ascend_home': str(home), 'model_path': str(model), 'test_image': str(image),
            'daemon_uid': os.getuid(), 'log_lines': 50}
    return {'tmp': tmp_path, 'args': args, 'config': conf, 'npu': npu, 'model': model, 'image': image}


def by_problem(result):
    return sorted((f['severity'], f['problem']) for f in result['findings'])


def test_healthy_node(run_module, node):
    result = run_module(mindie_diagnose.main, node['args'])
    assert result['changed'] is False
    assert result['summary'].startswith('OK: no problem found'), result['findings']
    assert all(f['severity'] == 'info' for f in result['findings'])
    assert result['profile'] == 'atlas-800i-a2-32g'
    # only /etc/ascend_install.info (outside tmp_path) may be missing on the test machine
    assert all(e.startswith('ascend_install.info') for e in result['errors']), result['errors']
    files = result['files']
    for name in ('npu-smi-info.txt', 'npu-smi-info-m.txt', 'npu-smi-info-l.txt', 'driver-version.info',
                 'docker-inspect-container.json', 'docker-inspect-image.json', 'docker-ps.json', 'config.json',
                 'config.json.stat', 'mindservice.log.tail', 'console.log.tail', 'model-dir.txt', 'test-image.txt'):
        assert name in files, name
    assert 'Version=25.0.rc1.1' in files['driver-version.info']
    assert json.loads(files['docker-inspect-container.json'])['Id'] == 'abc'
    assert 'format: jpeg' in files['test-image.txt']
    assert any(script == mindie_diagnose.LOG_TAIL_SCRIPT and args[1:] == [50, 1024 * 1024] for script, args in FakeDocker.calls)


def test_errors_txt_lists_what_was_not_collected(run_module, node):
    os.remove(str(node['tmp'] / 'Ascend' / 'firmware' / 'version.info'))
    result = run_module(mindie_diagnose.main, node['args'])
    assert any(e.startswith('firmware-version.info:') for e in result['errors'])
    assert 'firmware-version.info' in result['files']['errors.txt']
    assert 'driver-version.info' in result['files']
    assert result['summary'].endswith('could not be collected]')


def test_check_mode_is_the_same(run_module, node):
    result = run_module(mindie_diagnose.main, node['args'], check_mode=True)
    assert result['changed'] is False
    assert result['summary'].startswith('OK: no problem found')
    assert 'npu-smi-info.txt' in result['files']


def test_broken_node(run_module, node):
    node['config'].chmod(0o644)
    config = json.loads(node['config'].read_text())
    config['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = -1
    node['config'].write_text(json.dumps(config))
    (node['npu'] / 'info.txt').write_text(read('npu-smi', 'variants', 'npu-smi_25.0.rc1.1_unhealthy.txt'))
    FakeDocker.daemon_pid = None
    FakeDocker.logs[SERVICE_DIR + '/logs/mindservice.log'] = (
        '[ERROR] Check path: /etc/mindie/config.json failed, by: Current permission is 644, but required no greater '
        'than 640.\n[ERROR] Failed to init endpoint! Please check the service log or console output.\n')
    node['model'].chmod(0o755)
    os.remove(str(node['model'] / 'model-00002-of-00002.safetensors'))
    node['image'].chmod(0o000)
    result = run_module(mindie_diagnose.main, node['args'])
    found = by_problem(result)
    assert ('error', 'npu') in found
    assert ('error', 'out_of_memory') in found
    assert found.count(('error', 'config')) >= 2     # mode 0644, the log's Check path
    # The weights: the prechecks' own checks as they are (model dir 0755, a shard missing).
    assert sorted((f['id'], f['severity']) for f in result['findings'] if f['problem'] == 'model') == [
        ('model_dir_mode', 'error'), ('model_shards', 'error')]
    assert ('error', 'service_start') in found
    sections = set(f['guide_section'] for f in result['findings'])
    assert {'7.1.1', '7.1.2'} <= sections
    if os.getuid() != 0:    # root reads a 0000 file
        assert ('warning', 'image_load') in found
    assert result['summary'].startswith('FAIL: ')
    assert result['findings'][0]['severity'] == 'error'
    messages = ' '.join(f['message'] for f in result['findings'])
    assert 'NPU 3 chip 0 (910B4): Alarm' in messages
    assert 'mindieservice_daemon is not running' in messages
    assert 'missing: model-00002-of-00002.safetensors' in messages


def test_npu_smi_8005(run_module, node):
    (node['npu'] / 'fail').write_text('DrvMngGetConsoleLogLevel failed. (ret=4)\n'
                                      'dcmi module initialize failed. ret is -8005\n')
    result = run_module(mindie_diagnose.main, node['args'])
    npu = [f for f in result['findings'] if f['problem'] == 'npu']
    assert len(npu) == 1 and '-8005' in npu[0]['message'] and 'reboot' in npu[0]['hint']
    assert '-8005' in result['files']['npu-smi-info.txt']
    assert any(e.startswith('npu-smi info:') for e in result['errors'])
    assert result['profile'] is None


def test_npu_smi_missing(run_module, node):
    args = dict(node['args'], npu_smi='/nonexistent/npu-smi')
    result = run_module(mindie_diagnose.main, args)
    assert any('npu-smi info' in f['message'] or 'not an executable' in f['message']
               for f in result['findings'] if f['problem'] == 'npu')
    assert 'npu-smi-info.txt' not in result['files']
    assert 'docker-inspect-container.json' in result['files']     # the rest is still collected


def test_docker_down(run_module, node):
    FakeDocker.fail_connect = 'Cannot talk to the Docker engine: connection refused'
    result = run_module(mindie_diagnose.main, node['args'])
    container = [f for f in result['findings'] if f['problem'] == 'container']
    assert len(container) == 1 and 'connection refused' in container[0]['message']
    assert 'config.json' in result['files'] and 'npu-smi-info.txt' in result['files']


@pytest.mark.parametrize('state, text', [
    (None, 'does not exist'),
    ({'Running': False, 'Restarting': False, 'Status': 'exited', 'ExitCode': 1, 'OOMKilled': False}, 'not running'),
    ({'Running': True, 'Restarting': True, 'Status': 'restarting', 'ExitCode': 1, 'OOMKilled': False}, 'restarting'),
])
def test_container_not_running(run_module, node, monkeypatch, state, text):
    attrs = None if state is None else dict(FakeDocker.container, State=state)
    monkeypatch.setattr(FakeDocker, 'container', attrs)
    result = run_module(mindie_diagnose.main, node['args'])
    messages = [f['message'] for f in result['findings'] if f['problem'] == 'container']
    assert any(text in m for m in messages), result['findings']
    if state is None or not state['Running']:
        assert 'mindservice.log.tail' not in result['files']


def test_missing_config_and_weights_and_image(run_module, node):
    os.remove(str(node['config']))
    os.remove(str(node['image']))
    args = dict(node['args'], model_path=str(node['tmp'] / 'nope'))
    result = run_module(mindie_diagnose.main, args)
    messages = ' | '.join(f['message'] for f in result['findings'])
    assert 'config.json does not exist' in messages
    assert 'model directory' in messages and 'does not exist' in messages
    assert 'test image' in messages


def test_unsupported_image_format(run_module, node):
    bmp = node['tmp'] / 'x.bmp'
    bmp.write_bytes(b'BM' + b'\x00' * 30)
    result = run_module(mindie_diagnose.main, dict(node['args'], test_image=str(bmp)))
    assert [f['problem'] for f in result['findings'] if f['severity'] == 'warning'] == ['image_load', 'image_load']


def test_bad_log_lines(run_module, node):
    result = run_module(mindie_diagnose.main, dict(node['args'], log_lines=0), expect_fail=True)
    assert 'log_lines' in result['msg']


def test_listeners_and_owners(node, monkeypatch):
    """The real /proc reader on this machine: a socket we open is found with our pid."""
    import socket
    monkeypatch.undo()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    try:
        port = sock.getsockname()[1]

        class Module(object):
            params = dict(service_dir=SERVICE_DIR)
        diag = mindie_diagnose.MindieDiagnoser(Module())
        found = diag.listeners(set([port]))
        assert port in found
        if os.access('/proc/%d/fd' % os.getpid(), os.R_OK):
            assert found[port]['pid'] == os.getpid()
        assert str(port) in diag.files['listening-ports.txt']
    finally:
        sock.close()


def test_documentation_parses():
    import yaml
    for block in (mindie_diagnose.DOCUMENTATION, mindie_diagnose.EXAMPLES, mindie_diagnose.RETURN):
        assert yaml.safe_load(block)
    doc = yaml.safe_load(mindie_diagnose.DOCUMENTATION)
    assert set(doc['options']) == {'container', 'config_path', 'service_dir', 'npu_smi', 'ascend_home', 'model_path',
                                   'test_image', 'log_lines', 'daemon_uid', 'npu_smi_timeout', 'log_root',
                                   'ready_timeout', 'probe', 'probe_timeout', 'instances'}
    assert 'ascend.mindie.tls' in doc['extends_documentation_fragment']     # ca_path, client_cert, ... (mindie_http)
    assert doc['options']['npu_smi_timeout']['type'] == 'int' and doc['options']['npu_smi_timeout']['default'] == 30


def test_port_held_by_a_foreign_process(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', lambda self, ports: {
        1040: {'pid': 77, 'name': 'nginx', 'cmdline': 'nginx: master process'}})
    FakeDocker.daemon_pid = None
    result = run_module(mindie_diagnose.main, node['args'])
    messages = [f['message'] for f in result['findings'] if f['problem'] == 'service_start']
    assert 'port 1040 is held by another process: pid 77 (nginx)' in messages
    assert 'mindieservice_daemon is not running in the container' in messages


def real_client(node, monkeypatch, sdk):
    """The real MindieDockerClient over a FakeSDK (None: the SDK is missing); the container runs /bin/sh here."""
    monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', mindie_docker.MindieDockerClient)
    fake_docker_sdk.install(monkeypatch, sdk)
    service = node['tmp'] / 'svc'
    (service / 'logs').mkdir(parents=True)
    (service / 'logs' / 'mindservice.log').write_text('[ERROR] Socket bind failed on 127.0.0.1:1040: the listen port '
                                                      'is occupied.\n')
    node['args'] = dict(node['args'], service_dir=str(service))


def test_real_client_collects_the_container(run_module, node, monkeypatch):
    sdk = fake_docker_sdk.FakeSDK(containers=[fake_docker_sdk.running('mindie', cwd=str(node['tmp']))],
                                  images={'mindie:1.0.0': {'Id': 'sha256:1'}})
    real_client(node, monkeypatch, sdk)
    result = run_module(mindie_diagnose.main, node['args'])
    assert json.loads(result['files']['docker-inspect-container.json'])['Id'] == 'c0ffee0123456789'
    assert json.loads(result['files']['docker-inspect-image.json']) == {'Id': 'sha256:1'}
    assert [r['Names'] for r in json.loads(result['files']['docker-ps.json'])] == ['mindie']
    assert ('from_env', mindie_diagnose.DOCKER_TIMEOUT) in sdk.calls
    assert 'Socket bind failed' in result['files']['mindservice.log.tail']
    problems = [(f['problem'], f['message']) for f in result['findings'] if f['severity'] == 'error']
    assert any(p == 'service_start' and 'Socket bind failed' in m for p, m in problems)
    assert any(p == 'service_start' and 'not running' in m for p, m in problems)


def test_missing_sdk_is_a_container_finding_and_the_rest_is_collected(run_module, node, monkeypatch):
    real_client(node, monkeypatch, None)
    result = run_module(mindie_diagnose.main, node['args'])
    container = [f for f in result['findings'] if f['problem'] == 'container']
    assert len(container) == 1 and container[0]['severity'] == 'error'
    assert 'Failed to import the required Python library (docker)' in container[0]['message']
    assert any(e.startswith('docker: Failed to import the required Python library (docker)') for e in result['errors'])
    assert 'docker-inspect-container.json' not in result['files'] and 'daemon.txt' not in result['files']
    assert 'config.json' in result['files'] and 'npu-smi-info.txt' in result['files']


def test_engine_down_is_a_container_finding(run_module, node, monkeypatch):
    # An engine that does not answer over tcp: no socket path for the client to find missing on this machine.
    monkeypatch.setenv('DOCKER_HOST', 'tcp://127.0.0.1:2375')
    real_client(node, monkeypatch, fake_docker_sdk.FakeSDK(down='Error while fetching server API version: refused'))
    result = run_module(mindie_diagnose.main, dict(node['args']))
    container = [f for f in result['findings'] if f['problem'] == 'container']
    assert len(container) == 1 and 'fetching server API version: refused' in container[0]['message']


def test_missing_container_is_a_container_finding(run_module, node, monkeypatch):
    real_client(node, monkeypatch, fake_docker_sdk.FakeSDK(containers=[fake_docker_sdk.running('other')]))
    result = run_module(mindie_diagnose.main, node['args'])
    assert result['files']['docker-inspect-container.json'] == 'container mindie does not exist\n'
    assert any('does not exist' in f['message'] for f in result['findings'] if f['problem'] == 'container')
    assert 'daemon.txt' not in result['files']


# ---------------------------------------------------------------------- a hung, chatty or garbled npu-smi

def replace_npu_smi(node, body):
    script = node['tmp'] / 'bin' / 'npu-smi'
    script.write_text('#!/bin/sh\n' + body + '\n')
    script.chmod(0o755)
    return script


def test_hung_npu_smi_is_bounded_and_the_rest_is_collected(run_module, node):
    replace_npu_smi(node, 'echo "$@" >> "%s"\nsleep 20' % (node['tmp'] / 'calls.log'))
    started = time.time()
    result = run_module(mindie_diagnose.main, dict(node['args'], npu_smi_timeout=1))
    assert time.time() - started < 10
    assert (node['tmp'] / 'calls.log').read_text().split('\n')[:1] == ['info']      # -m and -l were not tried
    npu = [f for f in result['findings'] if f['problem'] == 'npu']
    assert len(npu) == 1 and 'npu-smi hangs' in npu[0]['message'] and 'within 1 s' in npu[0]['message']
    assert 'dmesg' in npu[0]['hint'] and 'reload the driver' in npu[0]['hint']
    assert any('did not finish within 1 s' in e for e in result['errors'])
    assert 'not run' in result['files']['npu-smi-info-m.txt']
    assert 'config.json' in result['files'] and 'docker-inspect-container.json' in result['files']


def test_huge_npu_smi_output_is_capped(run_module, node):
    replace_npu_smi(node, 'if [ -n "$2" ]; then echo "no $2 here"; exit 0; fi\n'
                          '%s -c "import sys; sys.stdout.write(\'y\' * (10 * 1024 * 1024))"' % sys.executable)
    result = run_module(mindie_diagnose.main, node['args'])
    text = result['files']['npu-smi-info.txt']
    assert len(text) < 1024 * 1024 + 200 and 'truncated' in text
    assert any('printed 10485760 bytes' in e and 'truncated' in e for e in result['errors'])
    assert len(json.dumps(result)) < 2 * 1024 * 1024


def test_non_utf8_npu_smi_output_does_not_destroy_the_result(run_module, node):
    table = (node['npu'] / 'info.txt').read_bytes().replace(b'910B4', b'910B4\xff', 1)
    (node['npu'] / 'info.bin').write_bytes(table)
    replace_npu_smi(node, 'cat "%s"' % (node['npu'] / 'info.bin'))
    result = run_module(mindie_diagnose.main, node['args'])
    assert '\ufffd' in result['files']['npu-smi-info.txt']
    assert any('not valid UTF-8' in e for e in result['errors'])
    assert result['profile'] == 'atlas-800i-a2-32g'
    json.dumps(result, ensure_ascii=False).encode('utf-8')     # what the controller must be able to read


def test_npu_smi_timeout_below_one_is_refused(run_module, node):
    result = run_module(mindie_diagnose.main, dict(node['args'], npu_smi_timeout=0), expect_fail=True)
    assert 'npu_smi_timeout must be at least 1' in result['msg']


# ---------------------------------------------------------------------- no injection through config.json or options

HOSTILE = ['$(touch PWNED)', '`touch PWNED`', 'x; touch PWNED', "x'; touch PWNED; '", 'x"; touch PWNED; "',
           'x\ntouch PWNED', "x' \"$(touch PWNED)\" '", 'x$(touch PWNED)`touch PWNED`;touch PWNED']


class LocalShellDocker(FakeDocker):
    """FakeDocker whose exec_shell really runs the module's script with /bin/sh here, in ``cwd``."""

    cwd = None

    def exec_shell(self, script, environment=None, args=()):
        FakeDocker.calls.append((script, list(args)))
        proc = subprocess.run(['/bin/sh', '-c', script, 'sh'] + [str(a) for a in args], cwd=self.cwd,
                              capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(params=['fake', 'client'])
def shell_node(request, node, monkeypatch):
    """The node, with the container commands really run by /bin/sh in node['tmp'] (a stand-in for the client, or
    the real MindieDockerClient over a fake SDK)."""
    if request.param == 'fake':
        LocalShellDocker.cwd = str(node['tmp'])
        monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', LocalShellDocker)
    else:
        monkeypatch.setattr(mindie_diagnose, 'MindieDockerClient', mindie_docker.MindieDockerClient)
        fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(
            containers=[fake_docker_sdk.running('mindie', cwd=str(node['tmp']))]))
    service = node['tmp'] / 'svc'
    (service / 'logs').mkdir(parents=True)
    (service / 'logs' / 'console.log').write_text('console line\n')
    node['args'] = dict(node['args'], service_dir=str(service))
    node['service'] = service
    return node


def set_log_path(node, value):
    config = json.loads(node['config'].read_text())
    config['LogConfig'] = {'logPath': value}
    node['config'].write_text(json.dumps(config))


def markers(node):
    return sorted(str(p) for p in node['tmp'].rglob('PWNED*'))


@pytest.mark.parametrize('log_path', HOSTILE + ['/nonexistent/' + h for h in HOSTILE])
def test_hostile_log_path_runs_nothing_when_the_log_is_missing(run_module, shell_node, log_path):
    set_log_path(shell_node, log_path)
    result = run_module(mindie_diagnose.main, shell_node['args'])
    assert markers(shell_node) == []
    expected = log_path if log_path.startswith('/') else str(shell_node['service']) + '/' + log_path
    assert any(e.startswith('mindservice.log.tail: cannot read %s in the container: ' % expected)
               and 'no such regular file' in e for e in result['errors']), result['errors']
    assert result['files']['console.log.tail'] == 'console line\n'


@pytest.mark.parametrize('log_name', HOSTILE)
def test_hostile_log_path_is_read_as_a_file_name(run_module, shell_node, log_name):
    (shell_node['service'] / log_name).write_text('[ERROR] Socket bind failed: port is occupied\n')
    set_log_path(shell_node, log_name)
    result = run_module(mindie_diagnose.main, shell_node['args'])
    assert markers(shell_node) == []
    assert result['files']['mindservice.log.tail'] == '[ERROR] Socket bind failed: port is occupied\n'
    assert any('Socket bind failed' in f['message'] for f in result['findings'])


def test_log_that_is_a_fifo_or_huge_is_not_waited_on_nor_returned_whole(run_module, shell_node):
    os.mkfifo(str(shell_node['service'] / 'fifo.log'))
    set_log_path(shell_node, 'fifo.log')
    result = run_module(mindie_diagnose.main, shell_node['args'])
    assert any('fifo.log: no such regular file' in e for e in result['errors'])
    (shell_node['service'] / 'huge.log').write_text('z' * (3 * 1024 * 1024) + '\n')
    set_log_path(shell_node, 'huge.log')
    result = run_module(mindie_diagnose.main, shell_node['args'])
    assert len(result['files']['mindservice.log.tail']) == 1024 * 1024


@pytest.mark.parametrize('service_dir', ['/nonexistent/' + h for h in HOSTILE if '\n' not in h])
def test_hostile_service_dir_runs_nothing(run_module, shell_node, service_dir):
    run_module(mindie_diagnose.main, dict(shell_node['args'], service_dir=service_dir))
    assert markers(shell_node) == []


@pytest.mark.parametrize('override, message', [
    ({'service_dir': 'relative/svc'}, 'service_dir'),
    ({'service_dir': '/svc\n$(touch PWNED)'}, 'control characters'),
    ({'container': '--privileged'}, 'not a Docker container name'),
    ({'container': 'x;touch PWNED'}, 'not a Docker container name'),
])
def test_bad_names_are_refused_before_anything_runs(run_module, shell_node, override, message):
    result = run_module(mindie_diagnose.main, dict(shell_node['args'], **override), expect_fail=True)
    assert message in result['msg']
    assert FakeDocker.calls == [] and markers(shell_node) == []


@pytest.mark.parametrize('kind', ['config', 'image'])
def test_special_files_are_reported_not_waited_on(run_module, node, kind):
    fifo = node['tmp'] / ('fifo-' + kind)
    os.mkfifo(str(fifo))
    key = 'config_path' if kind == 'config' else 'test_image'
    started = time.time()
    result = run_module(mindie_diagnose.main, dict(node['args'], **{key: str(fifo)}))
    assert time.time() - started < 10
    assert any('is not a regular file' in e for e in result['errors'])


# ---------------------------------------------------------------------- the daemon's own log file (fixture tree)

TREE = os.path.join(FIXTURES, 'mindie', 'diagnose')
LAST_PID, OLD_PID = 3999917, 3999001
OOM_LINE = 'Warmup failed, because of multimodal model inference out of memory'


@pytest.fixture
def tree_node(shell_node, monkeypatch):
    """shell_node with the fixture tree: two failed runs, the last an OOM at warm-up that only the log file names."""
    home = shell_node['tmp'] / 'home'
    shutil.copytree(os.path.join(TREE, 'home'), str(home))
    service = shell_node['service']
    for name in os.listdir(os.path.join(TREE, 'svc', 'logs')):
        shutil.copy(os.path.join(TREE, 'svc', 'logs', name), str(service / 'logs' / name))
    debug = home / 'mindie' / 'log' / 'debug'
    now = time.time()
    for path in debug.iterdir():        # git keeps no mtimes: the older run's file is older
        os.utime(str(path), (now - 3600, now - 3600) if '_%d_' % OLD_PID in path.name else (now, now))
    (service / 'logs' / 'mindieservice_daemon.logenv').write_bytes(str(home).encode() + b'\0\0')
    set_log_path(shell_node, 'logs/mindservice.log')
    monkeypatch.setenv('HOME', str(home))       # the container's HOME (the scripts run here)
    monkeypatch.delenv('MINDIE_LOG_PATH', raising=False)
    shell_node['home'] = home
    shell_node['debug'] = debug
    return shell_node


def own_log(node, pid=LAST_PID):
    return [str(p) for p in node['debug'].iterdir() if '_%d_' % pid in p.name][0]


def test_reason_only_in_the_log_file_is_diagnosed(run_module, tree_node):
    result = run_module(mindie_diagnose.main, tree_node['args'])
    log_file = own_log(tree_node)
    assert result['daemon_log_file'] == log_file
    assert OOM_LINE in result['files']['mindie-service.log.tail']
    assert OOM_LINE not in result['files']['console.log.tail']
    oom = [f for f in result['findings'] if f['problem'] == 'out_of_memory' and f['message'].startswith(log_file)]
    assert len(oom) == 1 and oom[0]['severity'] == 'error' and oom[0]['guide_section'] == '7.1.2'
    assert OOM_LINE in oom[0]['message'] and '(9 lines)' in oom[0]['message']
    assert 'npuMemSize' in oom[0]['hint']
    dead = [f for f in result['findings'] if 'is not running' in f['message']]
    assert 'exit status 137 (SIGKILL)' in dead[0]['message'] and log_file in dead[0]['hint']
    daemon = result['files']['daemon.txt']
    assert 'pid: %d' % LAST_PID in daemon and 'last exit status: exit status 137' in daemon
    assert 'the log file of daemon pid %d' % LAST_PID in daemon and 'mindieservice_daemon.logenv' in daemon


def test_an_older_runs_failure_is_not_reported(run_module, tree_node):
    result = run_module(mindie_diagnose.main, tree_node['args'])
    messages = ' | '.join(f['message'] for f in result['findings'])
    # pid 3999001 failed on a held port; its lines are in its own log, early in mindservice.log and console.log
    assert 'Socket bind failed' in result['files']['mindservice.log.tail']
    assert 'Socket bind failed' not in messages and 'a listen port was taken' not in messages


def test_newest_log_file_when_the_pid_file_is_gone(run_module, tree_node):
    os.remove(str(tree_node['service'] / 'logs' / 'mindieservice_daemon.pid'))
    result = run_module(mindie_diagnose.main, tree_node['args'])
    assert result['daemon_log_file'] == own_log(tree_node)
    assert 'the newest log file (the pid file names no daemon)' in result['files']['daemon.txt']
    later = time.time() + 60
    os.utime(own_log(tree_node, OLD_PID), (later, later))     # now the older run's file is the newest
    result = run_module(mindie_diagnose.main, tree_node['args'])
    assert result['daemon_log_file'] == own_log(tree_node, OLD_PID)
    assert any('a listen port was taken' in f['message'] for f in result['findings']), result['findings']


def test_pid_files_log_wins_over_a_newer_one(run_module, tree_node):
    later = time.time() + 60
    os.utime(own_log(tree_node, OLD_PID), (later, later))
    os.utime(own_log(tree_node), (time.time() - 7200, time.time() - 7200))
    result = run_module(mindie_diagnose.main, tree_node['args'])
    assert result['daemon_log_file'] == own_log(tree_node)


@pytest.mark.parametrize('value, where', [
    ('/LOGROOT', 'LOGROOT/log/debug'),      # absolute P: P/log/debug
    ('custom', 'home/mindie/log/custom/debug'),     # relative R: ~/mindie/log/R/debug
    ('server:custom;llm:/elsewhere', 'home/mindie/log/custom/debug'),     # per component
])
def test_mindie_log_path_moves_the_log_root(run_module, tree_node, value, where):
    value = value.replace('/LOGROOT', str(tree_node['tmp'] / 'LOGROOT'))
    target = tree_node['tmp'] / where
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tree_node['debug']), str(target))
    tree_node['debug'] = target
    # recorded by mindie_service at the start ...
    (tree_node['service'] / 'logs' / 'mindieservice_daemon.logenv').write_bytes(
        str(tree_node['home']).encode() + b'\0' + value.encode() + b'\0')
    result = run_module(mindie_diagnose.main, tree_node['args'])
    assert result['daemon_log_file'] == own_log(tree_node)
    assert any(f['problem'] == 'out_of_memory' and f['message'].startswith(own_log(tree_node))
               for f in result['findings'])
    # ... or, without that record, given as the option
    os.remove(str(tree_node['service'] / 'logs' / 'mindieservice_daemon.logenv'))
    result = run_module(mindie_diagnose.main, tree_node['args'])
    assert result['daemon_log_file'] is None
    result = run_module(mindie_diagnose.main, dict(tree_node['args'], log_root=value))
    assert result['daemon_log_file'] == own_log(tree_node)
    assert 'the log_root option' in result['files']['daemon.txt']


@pytest.mark.parametrize('value', [h for h in HOSTILE if '\n' not in h])
def test_hostile_mindie_log_path_runs_nothing(run_module, tree_node, value):
    result = run_module(mindie_diagnose.main, dict(tree_node['args'], log_root=value))
    assert markers(tree_node) == []
    assert 'MINDIE_LOG_PATH: %s' % value in result['files']['daemon.txt']


def test_age_from_a_foreign_uptime_is_unknown():
    assert mindie_diagnose.daemon_age({'start': '500000', 'uptime': '100.5', 'clk_tck': '100'}) is None
    assert mindie_diagnose.daemon_age({'start': '10000', 'uptime': '160.5', 'clk_tck': '100'}) == 60
    assert mindie_diagnose.daemon_age({'start': 'x'}) is None


def test_mindie_log_path_with_control_characters_is_refused(run_module, shell_node):
    result = run_module(mindie_diagnose.main, dict(shell_node['args'], log_root='x\n$(touch PWNED)'),
                        expect_fail=True)
    assert 'log_root' in result['msg'] and markers(shell_node) == []


# ---------------------------------------------------------------------- loading, busy, starting, metrics

def running_daemon(age_s, listening=True):
    """FakeDocker's daemon runs and has run for ``age_s`` seconds (as /proc says it)."""
    FakeDocker.daemon_extra = 'start=%d\nuptime=%d.50\nclk_tck=100\n' % (1000 * 100, 1000 + age_s)


def test_running_daemon_without_ports_is_still_loading(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', lambda self, ports: {})
    running_daemon(95)
    result = run_module(mindie_diagnose.main, node['args'])
    loading = [f for f in result['findings'] if f['problem'] == 'service_start']
    assert [f['severity'] for f in loading] == ['info'], result['findings']
    assert 'still loading: started 95 s ago' in loading[0]['message']
    assert result['summary'].startswith('OK')
    assert FakeHTTP.calls == []             # nothing to probe while loading


def test_daemon_without_ports_for_too_long_hangs(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', lambda self, ports: {})
    running_daemon(2 * 3600 + 60)
    result = run_module(mindie_diagnose.main, dict(node['args'], ready_timeout=900))
    hung = [f for f in result['findings'] if f['problem'] == 'service_start']
    assert hung[0]['severity'] == 'error' and '2 h 1 min' in hung[0]['message'] and 'hangs' in hung[0]['message']
    assert 'npuMemSize' in hung[0]['hint']


def test_daemon_age_unknown_is_a_warning(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose.MindieDiagnoser, 'listeners', lambda self, ports: {})
    result = run_module(mindie_diagnose.main, node['args'])
    assert [f['severity'] for f in result['findings'] if f['problem'] == 'service_start'] == ['warning']


def test_busy_is_not_a_fault(run_module, node):
    running_daemon(300)
    FakeHTTP.answers['/v2/health/ready'] = (503, '{"message":"Service is alive but busy. Consider reducing request '
                                                 'frequency"}')
    FakeHTTP.answers['/v2/health/live'] = (200, '{"message":"Service is alive but busy"}')
    result = run_module(mindie_diagnose.main, node['args'])
    assert result['summary'].startswith('OK'), result['findings']
    busy = [f for f in result['findings'] if 'busy' in f['message']]
    assert len(busy) == 1 and busy[0]['severity'] == 'info' and 'not down' in busy[0]['message']
    assert '/v2/health/ready HTTP 503' in result['files']['health.txt']


def test_abnormal_in_the_first_seconds_is_starting(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose, 'STARTING_WAIT', 3)
    running_daemon(40)
    abnormal = (500, '{"message":"Service is abnormal"}')
    FakeHTTP.answers['/v2/health/ready'] = [abnormal, abnormal, (200, '')]
    FakeHTTP.answers['/v2/health/live'] = [abnormal, abnormal, (200, '')]
    result = run_module(mindie_diagnose.main, node['args'])
    assert result['summary'].startswith('OK'), result['findings']
    assert result['files']['health.txt'].count('Service is abnormal') == 4


def test_abnormal_that_stays_is_an_error(run_module, node, monkeypatch):
    monkeypatch.setattr(mindie_diagnose, 'STARTING_WAIT', 1)
    running_daemon(400)
    FakeHTTP.answers['/v2/health/ready'] = (500, '{"message":"Service is abnormal"}')
    FakeHTTP.answers['/v2/health/live'] = (500, '{"message":"Service is abnormal"}')
    result = run_module(mindie_diagnose.main, node['args'])
    bad = [f for f in result['findings'] if 'abnormal' in f['message']]
    assert bad[0]['severity'] == 'error' and 'still after 1 s' in bad[0]['message']


def test_metrics_without_monitor_mode(run_module, node):
    running_daemon(400)
    FakeHTTP.answers['/metrics'] = (500, '{"error":"Environment variable MIES_SERVICE_MONITOR_MODE is not set.",'
                                         '"error_type":"Incomplete Generation"}')
    result = run_module(mindie_diagnose.main, node['args'])
    metrics = [f for f in result['findings'] if '/metrics' in f['message']]
    assert len(metrics) == 1 and metrics[0]['severity'] == 'warning' and metrics[0]['problem'] == 'config'
    assert 'Environment variable MIES_SERVICE_MONITOR_MODE is not set. (Incomplete Generation)' in metrics[0]['message']
    assert 'monitor: true' in metrics[0]['hint'] and 'mindie_service_monitor: true' in metrics[0]['hint']
    assert 'MIES_SERVICE_MONITOR_MODE=1' in metrics[0]['hint']


def test_probe_off_and_https_without_client_cert(run_module, node):
    running_daemon(400)
    result = run_module(mindie_diagnose.main, dict(node['args'], probe=False))
    assert FakeHTTP.calls == [] and 'health.txt' not in result['files']
    config = json.loads(node['config'].read_text())
    config['ServerConfig']['httpsEnabled'] = True
    node['config'].write_text(json.dumps(config))
    result = run_module(mindie_diagnose.main, node['args'])
    assert FakeHTTP.calls == [] and 'mutual TLS' in result['files']['health.txt']


@pytest.mark.parametrize('override, message', [
    ({'ready_timeout': 0}, 'ready_timeout must be at least 1'),
    ({'probe_timeout': 0}, 'probe_timeout must be 1 to 300'),
    ({'client_cert': '/nonexistent/c.pem'}, 'client_cert /nonexistent/c.pem does not exist'),
    ({'client_key': '/nonexistent/k.pem'}, 'client_key needs client_cert'),
])
def test_bad_probe_options_are_refused(run_module, node, override, message):
    result = run_module(mindie_diagnose.main, dict(node['args'], **override), expect_fail=True)
    assert message in result['msg'] and FakeDocker.calls == []
