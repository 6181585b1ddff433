# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_inference with a stand-in for MindieDockerClient.

The stand-in runs the "container" commands on this machine, so most tests run the sandbox image's real
run_pa.sh (and the simulated runner behind it) through the module: read, rewrite, copy, run, parse.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerError
from ansible_collections.ascend.mindie.plugins.modules import mindie_inference

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
ASCEND = os.path.join(REPO, 'sandbox', 'images', 'mindie-sim', 'rootfs', 'usr', 'local', 'Ascend')
SIM_LIB = os.path.join(ASCEND, 'mindie', '1.0.0', 'mindie-service', 'lib', 'simulator')
SANDBOX_RUN_PA = os.path.join(ASCEND, 'atb-models', 'examples', 'models', 'qwen2_vl', 'run_pa.sh')
WEIGHTS_GEN = os.path.join(REPO, 'sandbox', 'weights', 'generate_weights.py')
IMAGES_GEN = os.path.join(REPO, 'sandbox', 'weights', 'generate_test_images.py')


class LocalClient(object):
    """Stands in for MindieDockerClient: the 'container' is this machine."""

    instances = []
    running = True

    def __init__(self, container, docker_host=None, timeout=60):
        self.container_name = container
        self.timeout = timeout
        self.runs = []
        LocalClient.instances.append(self)

    def require_running(self):
        if not self.running:
            raise MindieDockerError('Container %s is not running (status: exited); start the container first.'
                                    % self.container_name)
        return {'running': True, 'status': 'running', 'restart_count': 0, 'started_at': None, 'id': 'x',
                'network_mode': 'host'}

    def read_file(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError):
            return None

    def exec_run(self, cmd, environment=None, workdir=None, user=None):
        self.runs.append({'cmd': cmd, 'workdir': workdir})
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': os.environ.get('HOME', '/tmp')}
        env.update(environment or {})
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_shell(self, script, environment=None):
        return self.exec_run(['/bin/sh', '-c', script], environment=environment)


@pytest.fixture
def local_client(monkeypatch):
    LocalClient.instances = []
    LocalClient.running = True
    monkeypatch.setattr(mindie_inference, 'MindieDockerClient', LocalClient)
    # The 'container' is this machine, where other tests (and the sandbox) run MindIE daemons: none holds "its" NPUs.
    monkeypatch.setattr(mindie_inference.MindieInferenceManager, 'service_holders', lambda self: [])
    return LocalClient


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    base = tmp_path_factory.mktemp('inference_assets')
    weights = base / 'Qwen2-VL-7B-Instruct'
    subprocess.run([sys.executable, WEIGHTS_GEN, str(weights), '--shards', '2', '--total-mb', '2'],
                   check=True, capture_output=True)
    os.chmod(str(weights), 0o750)
    os.chmod(str(weights / 'config.json'), 0o640)
    images = base / 'images'
    subprocess.run([sys.executable, IMAGES_GEN, str(images)], check=True, capture_output=True)
    return {'weights': str(weights), 'images': str(images)}


@pytest.fixture
def node(tmp_path, assets):
    """A tree like the container's: atb-models with the sandbox run_pa.sh, set_env scripts, NPUs, Python deps."""
    qwen = tmp_path / 'Ascend' / 'atb-models' / 'examples' / 'models' / 'qwen2_vl'
    qwen.mkdir(parents=True)
    with open(SANDBOX_RUN_PA) as handle:
        text = handle.read()
    # another test may run a runner on this machine at the same time: use a free MASTER_PORT
    assert 'export MASTER_PORT=20031' in text
    (qwen / 'run_pa.sh').write_text(text.replace('export MASTER_PORT=20031', 'export MASTER_PORT=%d' % free_port()))
    set_env = []
    for rel, var, value in (('ascend-toolkit', 'ASCEND_TOOLKIT_HOME', '/usr/local/Ascend/ascend-toolkit/latest'),
                            ('nnal/atb', 'ATB_HOME_PATH', '/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_0'),
                            ('atb-models', 'ATB_SPEED_HOME_PATH', '/usr/local/Ascend/atb-models')):
        path = tmp_path / 'Ascend' / rel / 'set_env.sh'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('export %s=%s\n' % (var, value))
        set_env.append(str(path))
    dev = tmp_path / 'dev'
    dev.mkdir()
    for name in ['davinci_manager', 'devmm_svm', 'hisi_hdc'] + ['davinci%d' % i for i in range(8)]:
        (dev / name).touch()
    chips = [{'npu_id': i, 'chip_id': 0, 'logical_id': i, 'name': '910B4', 'health': 'OK', 'power_w': 90.0,
              'temp_c': 35, 'bus_id': '0000:C1:00.0', 'hbm_total_mb': 32768, 'hbm_idle_mb': 2654,
              'hugepages_total': 0, 'hugepages_used': 0} for i in range(8)]
    hardware = tmp_path / 'hardware.json'
    hardware.write_text(json.dumps({'profile': '800i-a2-32g', 'npu_smi_version': '25.0.rc1.1', 'fault': None,
                                    'chips': chips}))
    site = tmp_path / 'site'
    (site / 'attrs').mkdir(parents=True)
    (site / 'tabulate.py').write_text("__version__ = '0.9.0'\n")
    (site / 'six.py').write_text("__version__ = '1.16.0'\n")
    (site / 'attrs' / '__init__.py').write_text("__version__ = '24.2.0'\n")
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    os.symlink(sys.executable, str(bindir / 'python3'))
    env = {'PATH': '%s:%s' % (bindir, os.environ.get('PATH', '/usr/bin:/bin')), 'PYTHONPATH': str(site),
           'ASCEND_SIM_HARDWARE': str(hardware), 'ASCEND_SIM_DEV_DIR': str(dev), 'MINDIE_SIM_LIB': SIM_LIB,
           'MINDIE_SIM_TIME_SCALE': '0.02', 'HOME': str(tmp_path)}
    args = {'container': 'mindie', 'script': str(qwen / 'run_pa.sh'), 'visible_devices': list(range(8)),
            'model_path': assets['weights'] + '/', 'input_image': os.path.join(assets['images'], 'sample.jpg'),
            'max_batch_size': 4, 'set_env_scripts': set_env, 'env': env, 'timeout': 120,
            'shm_name_save_path': str(tmp_path / 'shm_name.txt')}
    return {'args': args, 'root': str(tmp_path / 'Ascend' / 'atb-models'), 'qwen': qwen, 'tmp': tmp_path,
            'images': assets['images']}


# ---------------------------------------------------------------------- real run_pa.sh

def test_guide_32g_batch4_through_the_sandbox_run_pa(run_module, local_client, node):
    original = (node['qwen'] / 'run_pa.sh').read_text()
    args = dict(node['args'], benchmark=True, env=dict(node['args']['env'], MINDIE_SIM_TIME_SCALE='0.05'))
    result = run_module(mindie_inference.main, args)
    assert result['changed'] is True and result['rc'] == 0             # the copy was written
    assert result['generated_tokens'] == [80, 80, 80, 80] and result['total_generated_tokens'] == 320
    assert abs(result['latency_s'] - 7.44) / 7.44 < 0.2               # the guide's 5.3.1, at 1/20 speed
    assert abs(result['throughput_tokens_per_s'] - 43) / 43 < 0.2
    assert result['warmup_memory_gb'] > 1
    assert set(result['benchmark']) == {'prefill_ms', 'prefill_average_ms', 'decode_token_ms', 'e2e_ms'}
    assert all(v > 0 for v in result['benchmark'].values())
    assert result['answers'][3]['answer'].startswith('The image is a 1902x1080 JPEG picture.')
    assert result['parameters']['max_batch_size'] == 4 and result['parameters']['world_size'] == 8
    assert ' [llmmodels] [INFO] [run_pa.py-' in result['output_tail'][-1]
    assert result['output_tail'][-1].split(' : ', 1)[1].startswith('Prefill time:') and len(result['output_tail']) <= 40
    # the copy beside the script, the original untouched, the run from the atb-models root
    copy = node['qwen'] / 'run_pa.ansible.sh'
    assert result['script_copy'] == str(copy) and result['script_copy_updated'] is True
    assert (node['qwen'] / 'run_pa.sh').read_text() == original
    text = copy.read_text()
    assert 'max_batch_size="4"' in text.split('\n')
    assert 'export ASCEND_RT_VISIBLE_DEVICES="0,1,2,3,4,5,6,7"' in text.split('\n')
    assert any(l.endswith('max_batch_size="4"') for l in result['rewritten_lines'])
    assert result['inserted_variables'] == []
    assert os.path.isfile(os.path.join(node['root'], 'benchmark_result', 'benchmark.csv'))
    run = local_client.instances[-1].runs[-1]
    assert run['workdir'] == node['root']
    assert run['cmd'][:2] == ['bash', '-c'] and run['cmd'][2] == result['command']
    for path in node['args']['set_env_scripts']:
        assert 'source %s' % path in result['command']
    assert 'export ATB_LLM_BENCHMARK_ENABLE=1' in result['command']
    assert "export max_batch_size=4" in result['command']
    assert local_client.instances[-1].timeout >= 120

    # the same run again: the copy is not rewritten
    again = run_module(mindie_inference.main, args)
    assert again['script_copy_updated'] is False and again['changed'] is False
    assert [a['answer'] for a in again['answers']] == [a['answer'] for a in result['answers']]


def test_dataset_path_wins_over_input_image(run_module, local_client, node):
    data = node['tmp'] / 'dataset'
    data.mkdir()
    shutil.copy(os.path.join(node['images'], 'sample.png'), str(data / 'a.png'))
    args = dict(node['args'], dataset_path=str(data), max_batch_size=2, max_output_length=10)
    result = run_module(mindie_inference.main, args)
    assert len(result['answers']) == 1
    assert result['answers'][0]['answer'].startswith('The image is a 640x480 PNG picture.')
    assert result['benchmark'] is None
    assert 'dataset_path="%s"' % data in (node['qwen'] / 'run_pa.ansible.sh').read_text().split('\n')


def test_missing_requirements_hint(run_module, local_client, node):
    if importlib.util.find_spec('tabulate') is not None:
        pytest.skip('tabulate is installed in the test interpreter')
    args = dict(node['args'], env=dict(node['args']['env'], PYTHONPATH=''))
    result = run_module(mindie_inference.main, args, expect_fail=True)
    assert result['rc'] != 0
    assert "No module named 'tabulate'" in result['msg']
    assert 'ascend.mindie.dependencies' in result['hint']


def test_set_env_not_sourced_hint(run_module, local_client, node):
    scripts = node['args']['set_env_scripts']
    os.remove(scripts[2])
    result = run_module(mindie_inference.main, node['args'], expect_fail=True)
    assert 'set_env script %s not found' % scripts[2] in result['msg']
    assert 'set_env' in result['hint']
    # sourcing nothing at all: the runner itself misses the library
    result = run_module(mindie_inference.main, dict(node['args'], set_env_scripts=[]), expect_fail=True)
    assert 'libascendcl.so: cannot open shared object file' in result['msg']
    assert 'set_env_scripts' in result['hint']


def test_out_of_memory_hint(run_module, local_client, node):
    args = dict(node['args'], visible_devices=[0], max_batch_size=32, max_input_length=32768)
    result = run_module(mindie_inference.main, args, expect_fail=True)
    assert 'out of memory' in result['msg']
    assert 'lower max_batch_size or max_input_length' in result['hint']
    assert len(result['msg'].split('\n')) <= 32


def test_input_image_missing_hint(run_module, local_client, node):
    args = dict(node['args'], input_image=str(node['tmp'] / 'nope.jpg'))
    result = run_module(mindie_inference.main, args, expect_fail=True)
    assert 'nope.jpg does not exist' in result['msg']
    assert 'input_image' in result['hint']


def test_no_latency_line_fails(run_module, local_client, node):
    script = node['qwen'] / 'run_pa.sh'
    script.write_text('#!/bin/bash\nmax_batch_size=1\necho "loading..."\necho "bs=$max_batch_size"\n')
    result = run_module(mindie_inference.main, node['args'], expect_fail=True)
    assert result['rc'] == 0
    assert 'printed no Latency(s)' in result['msg']
    assert result['output_tail'] == ['loading...', 'bs=4']
    assert sorted(result['inserted_variables']) == sorted(['ASCEND_RT_VISIBLE_DEVICES', 'model_path', 'max_input_length',
                                                           'max_output_length', 'input_image', 'input_text',
                                                           'shm_name_save_path'])


def test_timeout(run_module, local_client, node):
    script = node['qwen'] / 'run_pa.sh'
    script.write_text('#!/bin/bash\necho started\nsleep 30\n')
    result = run_module(mindie_inference.main, dict(node['args'], timeout=1), expect_fail=True)
    assert result['rc'] == 124
    assert 'did not finish within 1 s' in result['msg'] and 'raise timeout' in result['hint']


# ---------------------------------------------------------------------- check mode and refusals

def test_check_mode_runs_nothing(run_module, local_client, node):
    result = run_module(mindie_inference.main, dict(node['args'], max_batch_size=2), check_mode=True)
    assert result['changed'] is True                                   # the copy would be written
    assert 'rc' not in result and 'latency_s' not in result
    assert any(l.endswith('max_batch_size="2"') for l in result['rewritten_lines'])
    assert result['script_copy_updated'] is True
    assert not (node['qwen'] / 'run_pa.ansible.sh').exists()
    assert all(r['cmd'][0] != 'bash' for r in local_client.instances[-1].runs)
    assert result['parameters']['max_batch_size'] == 2


@pytest.mark.parametrize('override,message', [
    ({'visible_devices': []}, 'visible_devices must name at least one NPU'),
    ({'visible_devices': [0, 1, 1, 2, 2]}, 'visible_devices lists 1, 2 more than once'),
    ({'max_batch_size': 0}, 'max_batch_size must be at least 1'),
    ({'max_input_length': -1}, 'max_input_length must be at least 1'),
    ({'max_output_length': 0}, 'max_output_length must be at least 1'),
    ({'input_image': '/data/x.gif'}, 'input_image /data/x.gif is not a supported file type (jpg/png/jpeg/mp4/wmv/avi)'),
    ({'input_image': '/data/noext'}, 'is not a supported file type'),
    ({'env': {'BAD-NAME': '1'}}, 'not a valid environment variable name'),
])
def test_bad_input_refused_before_docker(run_module, local_client, node, override, message):
    result = run_module(mindie_inference.main, dict(node['args'], **override), expect_fail=True)
    assert message in result['msg']
    assert local_client.instances == []


def test_uppercase_extension_accepted(run_module, local_client, node):
    result = run_module(mindie_inference.main, dict(node['args'], input_image='/data/X.JPG'), check_mode=True)
    assert result['parameters']['input_image'] == '/data/X.JPG'


def test_container_not_running(run_module, local_client, node):
    local_client.running = False
    result = run_module(mindie_inference.main, node['args'], expect_fail=True)
    assert result['msg'] == 'Container mindie is not running (status: exited); start the container first.'


def test_script_missing(run_module, local_client, node):
    args = dict(node['args'], script=str(node['tmp'] / 'none' / 'examples' / 'run_pa.sh'))
    result = run_module(mindie_inference.main, args, expect_fail=True)
    assert 'does not exist in container mindie' in result['msg']


# ---------------------------------------------------------------------- helpers

def test_atb_models_root_and_command():
    assert mindie_inference.atb_models_root(mindie_inference.DEFAULT_SCRIPT) == '/usr/local/Ascend/atb-models'
    assert mindie_inference.atb_models_root('/opt/run_pa.sh') == '/usr/local/Ascend/atb-models'
    command = mindie_inference.run_command('/usr/local/Ascend/atb-models', mindie_inference.RUN_PA_SET_ENV_SCRIPTS,
                                           '/x/run_pa.ansible.sh', [('input_text', "it's")], 60)
    assert command.index('source /usr/local/Ascend/ascend-toolkit/set_env.sh') < \
        command.index('source /usr/local/Ascend/atb-models/set_env.sh') < command.index('export input_text=')
    assert 'timeout -k 30 60 bash /x/run_pa.ansible.sh' in command
    assert subprocess.run(['bash', '-n', '-c', command]).returncode == 0
    # run_pa needs the toolkit, NNAL ATB and atb-models environments, not MindIE Service's.
    assert mindie_inference.RUN_PA_SET_ENV_SCRIPTS == [
        '/usr/local/Ascend/ascend-toolkit/set_env.sh',
        '/usr/local/Ascend/nnal/atb/set_env.sh',
        '/usr/local/Ascend/atb-models/set_env.sh',
    ]


def test_match_hint():
    assert mindie_inference.match_hint('all fine') is None
    assert 'timeout' in mindie_inference.match_hint('', 124)
    assert 'max_batch_size' in mindie_inference.match_hint('RuntimeError: NPU out of memory on device 0')


def test_real_format_script_in_check_mode(run_module, local_client, node, monkeypatch):
    warnings = []
    monkeypatch.setattr(mindie_inference.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_run_pa import REAL_RUN_PA
    (node['qwen'] / 'run_pa.sh').write_text(REAL_RUN_PA)
    args = dict(node['args'], dataset_path='/data/ds', input_text="What is in it?")
    result = run_module(mindie_inference.main, args, check_mode=True)
    lines = result['rewritten_lines']
    assert any(l.endswith('benchmark_options="ATB_LLM_BENCHMARK_ENABLE=0"') for l in lines)
    assert any('--dataset_path "$dataset_path" added to base_cmd (string)' in l for l in lines)
    assert any(l.endswith('dataset_path="/data/ds"') for l in lines)
    assert warnings == []
    # a single quote would end the quoting of the eval'd base_cmd: refused, not just warned about
    result = run_module(mindie_inference.main, dict(args, input_text="What's in it?"), check_mode=True, expect_fail=True)
    assert "input_text \"What's in it?\" contains '" in result['msg'] and 'eval' in result['msg']
    result = run_module(mindie_inference.main, dict(node['args'], benchmark=True), check_mode=True)
    assert not any(l.endswith('benchmark_options="ATB_LLM_BENCHMARK_ENABLE=0"') for l in result['rewritten_lines'])


# ---------------------------------------------------------------------- no injection through the options

HOSTILE = ['$(touch {m})', '`touch {m}`', 'x; touch {m}', "x'; touch {m}; '", 'x"; touch {m}; "',
           "x' \"$(touch {m})\" '", 'x\\"$(touch {m})\\"']


def markers(node):
    return sorted(str(p) for p in node['tmp'].rglob('PWNED*'))


def hostile(node, newline=False):
    values = [h.format(m=node['tmp'] / 'PWNED') for h in HOSTILE]
    if newline:
        values.append('x\ntouch %s' % (node['tmp'] / 'PWNED'))
    return values


def run_generated(node, set_env_scripts, exports, copy_body='echo ran\n'):
    """Write a harmless copy, build the module's command and really run it with bash."""
    copy = node['tmp'] / 'copy.sh'
    copy.write_text(copy_body)
    command = mindie_inference.run_command(str(node['tmp']), set_env_scripts, str(copy), exports, 60)
    assert subprocess.run(['bash', '-n', '-c', command]).returncode == 0
    return subprocess.run(['bash', '-c', command], capture_output=True, text=True, timeout=60)


def test_missing_hostile_set_env_script_runs_nothing(node):
    for value in hostile(node):
        path = '/nonexistent/' + value
        proc = run_generated(node, [path], [])
        assert proc.returncode == mindie_inference.SET_ENV_MISSING_RC
        assert proc.stdout == 'set_env script %s not found in the container\n' % path
        assert markers(node) == [], value


def test_hostile_set_env_script_names_and_values_are_literal(node):
    names = [n for n in (h.format(m='PWNED') for h in HOSTILE) if '/' not in n]
    scripts = []
    for index, name in enumerate(names):
        path = node['tmp'] / ('%s.sh' % name)
        path.write_text('export SOURCED_%d=yes\n' % index)
        scripts.append(str(path))
    values = hostile(node, newline=True)
    exports = [('V%d' % i, v) for i, v in enumerate(values)] + [('input_text', values[0])]
    body = ''.join('printf "%%s\\0" "$V%d"\n' % i for i in range(len(values)))
    body += ''.join('echo "sourced $SOURCED_%d"\n' % i for i in range(len(names)))
    proc = run_generated(node, scripts, exports, copy_body=body)
    assert proc.returncode == 0, proc.stdout
    assert markers(node) == []
    printed = proc.stdout.split('\0')
    assert printed[:len(values)] == values
    assert proc.stdout.count('sourced yes') == len(names)


@pytest.mark.parametrize('override, message', [
    ({'set_env_scripts': ['relative/set_env.sh']}, 'is not an absolute path'),
    ({'set_env_scripts': ['']}, 'is not an absolute path'),
    ({'set_env_scripts': ['/a.sh\ntouch PWNED']}, 'contains control characters (\\n)'),
    ({'set_env_scripts': ['/a.sh\x00']}, 'contains control characters (\\x00)'),
    ({'script': '/x/examples/run_pa.sh\n$(touch PWNED)'}, 'script'),
    ({'container': '-it'}, 'not a Docker container name'),
    ({'container': 'mindie;touch PWNED'}, 'not a Docker container name'),
    ({'model_path': '/data/$(touch PWNED)'}, "model_path '/data/$(touch PWNED)' contains $ ( ) space"),
    ({'model_path': '/data/`id`'}, 'contains `'),
    ({'model_path': '/data/x;id'}, 'contains ;'),
    ({'model_path': "/data/it's"}, "contains '"),
    ({'model_path': '/data/a"b'}, 'contains "'),
    ({'model_path': '/data/a\nb'}, 'contains \\n'),
    ({'input_image': '/data/$(id).jpg'}, 'input_image'),
    ({'dataset_path': '/data/a b'}, 'dataset_path'),
    ({'shm_name_save_path': './shm|id'}, 'shm_name_save_path'),
    ({'input_text': 'a\x00b'}, 'NUL'),
    ({'env': {'X': 'a\x00b'}}, 'NUL'),
])
def test_values_that_would_reach_a_shell_are_refused_before_docker(run_module, local_client, node, override, message):
    result = run_module(mindie_inference.main, dict(node['args'], **override), expect_fail=True)
    assert message in result['msg']
    assert local_client.instances == []
    assert markers(node) == []


def test_hostile_prompt_and_env_through_the_sandbox_run_pa(run_module, local_client, node):
    """The sandbox script does not eval: any prompt is passed literally, and nothing is run from it."""
    for value in hostile(node, newline=True):
        env = dict(node['args']['env'], EXTRA=value)
        result = run_module(mindie_inference.main, dict(node['args'], input_text=value, env=env))
        assert result['rc'] == 0
        assert markers(node) == [], value
        if '\n' not in value:
            assert repr(value) in result["answers"][0]["question"]


@pytest.mark.parametrize('text', ["What's this", 'say "hi"', '$(id)', '`id`', 'a\\b', 'two\nlines'])
def test_hostile_prompt_refused_for_a_script_that_evals(run_module, local_client, node, text):
    from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_run_pa import REAL_RUN_PA
    (node['qwen'] / 'run_pa.sh').write_text(REAL_RUN_PA)
    result = run_module(mindie_inference.main, dict(node['args'], input_text=text), expect_fail=True)
    assert 'passes it to eval inside single quotes' in result['msg'] and 'Nothing was written or run' in result['msg']
    assert not (node['qwen'] / mindie_inference.COPY_NAME).exists()
    assert all(run['cmd'][:2] == ['cat', '--'] for c in local_client.instances for run in c.runs)


# ---------------------------------------------------------------------- the model's logger (issue 11)

def test_figures_read_from_the_logger_after_mindie_set_env_turned_the_console_off(run_module, local_client, node):
    """MindIE's set_env.sh sets MINDIE_LOG_TO_STDOUT=0: the module exports 1 after sourcing, the runner logs to stderr."""
    mindie_set_env = node['tmp'] / 'Ascend' / 'mindie' / 'set_env.sh'
    mindie_set_env.parent.mkdir(parents=True)
    mindie_set_env.write_text('export MINDIE_LOG_TO_STDOUT=0\nexport MINDIE_LOG_TO_FILE=1\n')
    env = dict(node['args']['env'])
    args = dict(node['args'], set_env_scripts=node['args']['set_env_scripts'] + [str(mindie_set_env)], env=env,
                max_batch_size=2, max_output_length=12)
    result = run_module(mindie_inference.main, args)
    command = result['command']
    assert command.index("export MINDIE_LOG_TO_STDOUT=1") > command.index("source %s" % mindie_set_env)
    assert result['latency_s'] > 0 and result['throughput_tokens_per_s'] > 0
    assert result['generated_tokens'] == [12, 12]
    assert result['answers'][1]['answer'].startswith('The image is a 1902x1080 JPEG picture.')
    assert all(' [llmmodels] [INFO] [run_pa.py-' in line for line in result['output_tail'])
    # the same records in the model's log file under HOME
    logs = node['tmp'] / 'mindie' / 'log' / 'debug'
    files = [f for f in os.listdir(str(logs)) if f.startswith('mindie-llm_')]
    assert len(files) == 1
    assert 'Latency(s): ' in (logs / files[0]).read_text()


def test_script_that_turns_the_console_log_off_fails_with_the_logger_hint(run_module, local_client, node):
    script = node['qwen'] / 'run_pa.sh'
    script.write_text(script.read_text().replace('export BIND_CPU=1', 'export BIND_CPU=1\nexport MINDIE_LOG_TO_STDOUT=0'))
    result = run_module(mindie_inference.main, dict(node['args'], max_batch_size=1, max_output_length=4),
                        expect_fail=True)
    assert result['rc'] == 0 and 'printed no Latency(s)' in result['msg']
    assert 'MINDIE_LOG_TO_STDOUT=1' in result['hint'] and 'mindie-llm_<pid>_<time>.log' in result['hint']


@pytest.mark.parametrize('env,message', [
    ({'MINDIE_LOG_TO_STDOUT': '0'}, "MINDIE_LOG_TO_STDOUT='0' turns the console log of the model"),
    ({'MINDIE_LOG_TO_STDOUT': False}, "MINDIE_LOG_TO_STDOUT='0' turns the console log of the model"),
    ({'MINDIE_LOG_TO_STDOUT': 'llm:1;llmmodels:0'}, 'turns the console log of the model'),
    ({'MINDIE_LOG_LEVEL': 'ERROR'}, "MINDIE_LOG_LEVEL='ERROR' hides the INFO records"),
    ({'MINDIE_LOG_LEVEL': 'llm:debug;llmmodels:warn'}, 'hides the INFO records'),
])
def test_logger_env_that_hides_the_figures_refused_before_docker(run_module, local_client, node, env, message):
    args = dict(node['args'], env=dict(node['args']['env'], **env))
    result = run_module(mindie_inference.main, args, expect_fail=True)
    assert message in result['msg']
    assert local_client.instances == []


@pytest.mark.parametrize('env', [{'MINDIE_LOG_TO_STDOUT': 'true'}, {'MINDIE_LOG_TO_STDOUT': 'llm:0;llmmodels:1'},
                                 {'MINDIE_LOG_LEVEL': 'llmmodels:DEBUG'}, {'MINDIE_LOG_LEVEL': 'llm:ERROR'},
                                 {'MINDIE_LOG_TO_STDOUT': True}])
def test_logger_env_that_keeps_the_figures_accepted(run_module, local_client, node, env):
    args = dict(node['args'], env=dict(node['args']['env'], **env))
    result = run_module(mindie_inference.main, args, check_mode=True)
    assert result['changed'] is True and 'rc' not in result            # the copy would be written, nothing runs


# ---------------------------------------------------------------------- changed is honest (mocked client)

FAKE_SCRIPT = '/usr/local/Ascend/atb-models/examples/models/qwen2_vl/run_pa.sh'
FAKE_COPY = '/usr/local/Ascend/atb-models/examples/models/qwen2_vl/run_pa.ansible.sh'
FAKE_RUN_PA = '#!/bin/bash\nexport ASCEND_RT_VISIBLE_DEVICES=0\nmodel_path=/x\nmax_batch_size=1\nmax_input_length=8192\n' \
              'max_output_length=80\ninput_image=/x.jpg\ninput_text="hi"\nshm_name_save_path=./shm_name.txt\n'
FIGURES = ('[2026-01-01 00:00:00] [1] [1] [llmmodels] [INFO] [run_pa.py-1] : Latency(s): 7.44\n'
           '[2026-01-01 00:00:00] [1] [1] [llmmodels] [INFO] [run_pa.py-1] : Throughput(tokens/s): 43.0\n')


class FakeContainer(object):
    """Stands in for MindieDockerClient with an in-memory file system: nothing runs, every write is recorded."""

    files = {}
    writes = []
    runs = []

    def __init__(self, container, docker_host=None, timeout=60):
        self.container_name = container

    def require_running(self):
        return {'running': True, 'status': 'running', 'id': 'x'}

    def read_file(self, path):
        return FakeContainer.files.get(path)

    def exec_shell(self, script, environment=None):
        # write_copy: cat > <tmp> <<'<delimiter>' / body / <delimiter> / chmod 0755 <tmp> && mv -f <tmp> <copy>
        first, rest = script.split('\n', 1)
        delimiter = first.split('<<', 1)[1].strip().strip("'")
        body, tail_line = rest.split('\n%s\n' % delimiter, 1)
        target = tail_line.split()[-1]
        FakeContainer.files[target] = body + '\n'
        FakeContainer.writes.append(target)
        return 0, '', ''

    def exec_run(self, cmd, environment=None, workdir=None, user=None):
        FakeContainer.runs.append(cmd)
        return 0, FIGURES, ''


@pytest.fixture
def fake_container(monkeypatch):
    FakeContainer.files = {FAKE_SCRIPT: FAKE_RUN_PA}
    FakeContainer.writes = []
    FakeContainer.runs = []
    monkeypatch.setattr(mindie_inference, 'MindieDockerClient', FakeContainer)
    monkeypatch.setattr(mindie_inference.MindieInferenceManager, 'service_holders', lambda self: [])
    return FakeContainer


FAKE_ARGS = {'container': 'mindie', 'visible_devices': [0, 1, 2, 3], 'model_path': '/data/Qwen2-VL-7B-Instruct',
             'max_batch_size': 4, 'set_env_scripts': []}


def test_writing_the_copy_is_reported_as_a_change_and_a_second_run_is_not(run_module, fake_container):
    first = run_module(mindie_inference.main, FAKE_ARGS)
    assert fake_container.writes == [FAKE_COPY]
    assert first['changed'] is True and first['script_copy_updated'] is True
    assert first['latency_s'] == 7.44 and len(fake_container.runs) == 1
    assert 'max_batch_size="4"' in fake_container.files[FAKE_COPY].split('\n')

    second = run_module(mindie_inference.main, FAKE_ARGS)
    assert fake_container.writes == [FAKE_COPY]                        # not written again
    assert second['changed'] is False and second['script_copy_updated'] is False
    assert len(fake_container.runs) == 2                               # the measurement ran again

    third = run_module(mindie_inference.main, dict(FAKE_ARGS, max_batch_size=8))
    assert third['changed'] is True and fake_container.writes == [FAKE_COPY, FAKE_COPY]


def test_check_mode_says_it_would_write_the_copy_and_writes_nothing(run_module, fake_container):
    would = run_module(mindie_inference.main, FAKE_ARGS, check_mode=True)
    assert would['changed'] is True and would['script_copy_updated'] is True
    assert fake_container.writes == [] and fake_container.runs == []

    run_module(mindie_inference.main, FAKE_ARGS)
    unchanged = run_module(mindie_inference.main, FAKE_ARGS, check_mode=True)
    assert unchanged['changed'] is False and unchanged['script_copy_updated'] is False
    assert fake_container.writes == [FAKE_COPY] and len(fake_container.runs) == 1


def test_a_failed_run_after_writing_the_copy_still_reports_the_change(run_module, fake_container, monkeypatch):
    monkeypatch.setattr(FakeContainer, 'exec_run', lambda self, cmd, **kw: (1, 'Traceback: boom\n', ''))
    result = run_module(mindie_inference.main, FAKE_ARGS, expect_fail=True)
    assert result['changed'] is True and fake_container.writes == [FAKE_COPY]
    assert 'exit code 1' in result['msg']


@pytest.mark.parametrize('sdk, message', [
    (None, 'Failed to import the required Python library (docker)'),
    ('down', 'Cannot talk to the Docker engine at tcp://127.0.0.1:2375'),
    ('no-container', 'Container mindie does not exist.'),
])
def test_docker_client_errors_fail_cleanly(run_module, monkeypatch, sdk, message):
    from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils import fake_docker_sdk
    fakes = {'down': fake_docker_sdk.FakeSDK(down='Error while fetching server API version: refused'),
             'no-container': fake_docker_sdk.FakeSDK(containers=[fake_docker_sdk.running('other')])}
    fake = fake_docker_sdk.install(monkeypatch, fakes.get(sdk))
    result = run_module(mindie_inference.main, {'container': 'mindie', 'visible_devices': [0], 'model_path': '/data/m',
                                                'docker_host': 'tcp://127.0.0.1:2375'}, expect_fail=True)
    assert message in result['msg']
    if fake is not None:
        assert all(not c.execs for c in fake.containers.values())


# ---------------------------------------------------------------------- the instance's daemon holds the NPUs

PROCESSES = ('1\tpython3\tpython3 /usr/local/lib/ascend-mindie/mindie_supervisor.py \n'
             '40\tmindieservice_d\t./bin/mindieservice_daemon \n'
             '41\tmindie_llm_back\t/usr/local/Ascend/mindie/latest/mindie-service/bin/mindie_llm_backend_connector \n'
             '77\tbash\tbash -c sleep 1 \n')


class Holding(FakeContainer):
    """A container whose process list shows the supervisor and, unless emptied, MindIE's daemon and a worker."""

    processes = PROCESSES

    def exec_shell(self, script, environment=None):
        if script == mindie_inference.PROCESS_LIST_SCRIPT:
            FakeContainer.runs.append('ps')
            return 0, Holding.processes, ''
        return FakeContainer.exec_shell(self, script, environment)


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_running_daemon_of_the_instance_is_named_and_nothing_is_written_or_run(run_module, monkeypatch, check_mode):
    FakeContainer.files = {FAKE_SCRIPT: FAKE_RUN_PA}
    FakeContainer.writes, FakeContainer.runs = [], []
    Holding.processes = PROCESSES
    monkeypatch.setattr(mindie_inference, 'MindieDockerClient', Holding)
    result = run_module(mindie_inference.main, dict(FAKE_ARGS), expect_fail=True, check_mode=check_mode)
    assert 'holds its NPUs (pid 40 mindieservice_d, pid 41 mindie_llm_back)' in result['msg']
    assert 'mindie_inference_stop_service' in result['msg']
    assert [h['pid'] for h in result['holders']] == [40, 41]
    assert FakeContainer.writes == [] and FakeContainer.runs == ['ps']


def test_without_a_daemon_the_run_goes_on(run_module, monkeypatch):
    FakeContainer.files = {FAKE_SCRIPT: FAKE_RUN_PA}
    FakeContainer.writes, FakeContainer.runs = [], []
    Holding.processes = PROCESSES.split('\n', 1)[0] + '\n77\tbash\tbash -c sleep 1 \n'
    monkeypatch.setattr(mindie_inference, 'MindieDockerClient', Holding)
    result = run_module(mindie_inference.main, dict(FAKE_ARGS))
    assert result['latency_s'] == 7.44 and 'ps' in FakeContainer.runs and len(FakeContainer.runs) == 2


def test_the_process_list_script_finds_a_daemon_for_real(tmp_path):
    daemon = tmp_path / 'bin' / 'mindieservice_daemon'
    daemon.parent.mkdir()
    daemon.write_text('#!/bin/sh\nsleep 30\n')
    daemon.chmod(0o755)
    proc = subprocess.Popen(['/bin/sh', str(daemon)])
    try:
        class Manager(mindie_inference.MindieInferenceManager):
            def __init__(self):     # only what service_holders uses
                self.client, self.p = LocalClient('mindie'), {'container': 'mindie'}
        found = Manager().service_holders()
    finally:
        proc.kill()
        proc.wait()
    assert [h for h in found if h['pid'] == proc.pid and str(daemon) in h['cmdline']], found


def test_refuse_held_npus_false_skips_the_look(run_module, monkeypatch):
    FakeContainer.files = {FAKE_SCRIPT: FAKE_RUN_PA}
    FakeContainer.writes, FakeContainer.runs = [], []
    Holding.processes = PROCESSES
    monkeypatch.setattr(mindie_inference, 'MindieDockerClient', Holding)
    result = run_module(mindie_inference.main, dict(FAKE_ARGS, refuse_held_npus=False), check_mode=True)
    assert 'ps' not in FakeContainer.runs and result['changed'] is True
