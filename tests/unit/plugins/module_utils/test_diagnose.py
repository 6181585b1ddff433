# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detection rules of ascend.mindie.mindie_diagnose on the captures in tests/fixtures (copies of
/work/shared/ascend/fixtures) and the failure lines quoted in FACTS.md."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_logs
from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils import model_dir
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import PROFILE_32G, PROFILE_64G

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')


def read(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


def guide_config():
    return json.loads(read('mindie', 'guide_example.json'))


def problems(findings, severity=None):
    return [(f['problem'], f['guide_section']) for f in findings if severity is None or f['severity'] == severity]


def test_every_finding_is_well_formed():
    f = diagnose.finding('error', 'out_of_memory', 'm', 'h')
    # The keys mindie_diagnose has always returned, and the collection's one check shape (module_utils/checks.py).
    assert dict((k, f[k]) for k in ('severity', 'problem', 'guide_section', 'message', 'hint')) == {
        'severity': 'error', 'problem': 'out_of_memory', 'guide_section': '7.1.2', 'message': 'm', 'hint': 'h'}
    assert (f['id'], f['category'], f['status'], f['details']) == ('out_of_memory', 'out_of_memory', 'fail', {})
    assert set(diagnose.SECTIONS) == set(diagnose.PROBLEMS)
    assert diagnose.SECTIONS['slow_inference'] == '7.1.3'
    assert diagnose.SECTIONS['image_load'] == '7.1.4'


# ---------------------------------------------------------------------- npu-smi

def test_npu_32g_idle_is_healthy():
    findings, parsed, profile = diagnose.check_npu(read('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'))
    assert profile == PROFILE_32G
    assert len(parsed['chips']) == 8
    assert problems(findings, 'error') == []


def test_npu_64g_busy_profile_and_processes_as_info():
    findings, dummy, profile = diagnose.check_npu(read('npu-smi', '910b3x8_64g_busy_25.3.rc1.txt'))
    assert profile == PROFILE_64G
    assert all(f['severity'] == 'info' for f in findings)
    assert any('hold NPU memory' in f['message'] for f in findings)


def test_npu_alarm_and_critical_name_the_chips():
    findings, dummy, dummy2 = diagnose.check_npu(read('npu-smi', 'variants', 'npu-smi_25.0.rc1.1_unhealthy.txt'))
    errors = [f for f in findings if f['severity'] == 'error']
    assert len(errors) == 1 and errors[0]['problem'] == 'npu' and errors[0]['guide_section'] == '7.1.1'
    message = errors[0]['message']
    assert 'NPU 3 chip 0 (910B4): Alarm' in message
    assert 'NPU 6 chip 0 (910B4): Critical' in message
    assert 'NPU 1 chip 0 (910B4): Warning' in message
    assert 'NPU 0 ' not in message


def test_npu_subset_keeps_the_profile_from_hbm():
    dummy, parsed, profile = diagnose.check_npu(read('npu-smi', 'variants', 'npu-smi_25.0.rc1.1_subset_npu4-7.txt'))
    assert len(parsed['chips']) == 4
    assert profile == PROFILE_32G


@pytest.mark.parametrize('text, error', [
    (read('npu-smi', 'failure_messages.txt').split('\n', 2)[2].split('\n# 2)')[0], None),
    ('DrvMngGetConsoleLogLevel failed. (ret=4)\ndcmi module initialize failed. ret is -8005\n', 'exited with 255'),
    ('', 'npu-smi info exited with 255: dcmi module initialize failed. ret is -8005'),
])
def test_npu_8005_hints_at_reboot(text, error):
    findings, parsed, profile = diagnose.check_npu(text, error)
    assert parsed is None and profile is None
    assert problems(findings) == [('npu', '7.1.1')]
    assert '-8005' in findings[0]['message']
    assert 'reboot' in findings[0]['hint']


@pytest.mark.parametrize('name', ['npu-smi_garbage_not_a_table.txt', 'npu-smi_empty.txt'])
def test_npu_unparsable_output(name):
    findings, parsed, dummy = diagnose.check_npu(read('npu-smi', 'variants', name), 'npu-smi info exited with 1')
    assert parsed is None
    assert problems(findings, 'error') == [('npu', '7.1.1')]


def test_npu_missing_binary():
    findings, dummy, dummy2 = diagnose.check_npu(None, 'npu-smi is not on the PATH')
    assert 'not on the PATH' in findings[0]['message']


# ---------------------------------------------------------------------- config.json

@pytest.mark.parametrize('mode, uid, expected', [
    (0o640, 0, []),
    (0o600, 0, []),
    (0o400, 0, []),
    (0o644, 0, ['0644']),
    (0o660, 0, ['0660']),
    (0o750, 0, ['0750']),
    (0o640, 1000, ['uid 1000']),
])
def test_config_file_mode_and_owner(mode, uid, expected):
    findings = diagnose.check_config_file({'mode': mode, 'uid': uid, 'owner': 'x'}, expected_uid=0)
    assert len(findings) == len(expected)
    for f, text in zip(findings, expected):
        assert f['severity'] == 'error' and f['problem'] == 'config' and text in f['message']


def test_config_file_missing():
    assert problems(diagnose.check_config_file(None)) == [('config', '7.1.1')]


def test_npu_mem_size_minus_one_for_the_vision_model_is_oom():
    config = guide_config()
    config['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = -1
    findings = diagnose.check_config(config, PROFILE_32G)
    oom = [f for f in findings if f['problem'] == 'out_of_memory' and f['severity'] == 'error']
    assert len(oom) == 1 and oom[0]['guide_section'] == '7.1.2'
    assert 'npuMemSize is -1' in oom[0]['message']
    # the schema's own "-1 with a multimodal model" rule is not reported a second time as a config finding
    assert not [f for f in findings if f['problem'] == 'config' and 'npuMemSize' in f['message']]


def test_npu_mem_size_minus_one_for_a_text_model_is_fine():
    config = json.loads(read('mindie', 'config.json_1.0.0_sim_default'))
    assert not [f for f in diagnose.check_config(config, None) if f['problem'] == 'out_of_memory']


def test_guide_example_on_32g_batch_too_large():
    findings = diagnose.check_config(guide_config(), PROFILE_32G)
    batch = [f for f in findings if 'maxBatchSize is 32' in f['message']]
    assert [(f['severity'], f['problem'], f['guide_section']) for f in batch] == [('warning', 'out_of_memory', '7.1.2')]
    assert '4-8' in batch[0]['message']
    assert not [f for f in findings if 'npuMemSize is 8' in f['message']]


def test_guide_example_on_64g_is_within_range():
    findings = diagnose.check_config(guide_config(), PROFILE_64G)
    assert not [f for f in findings if f['problem'] in ('out_of_memory', 'slow_inference') and f['severity'] != 'info']


def test_64g_ranges():
    config = guide_config()
    config['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = 24
    config['BackendConfig']['ScheduleConfig']['maxBatchSize'] = 8
    config['BackendConfig']['ScheduleConfig']['maxPrefillBatchSize'] = 0
    findings = diagnose.check_config(config, PROFILE_64G)
    assert ('warning', 'out_of_memory') in [(f['severity'], f['problem']) for f in findings
                                            if 'npuMemSize is 24' in f['message']]
    slow = [f for f in findings if f['problem'] == 'slow_inference']
    assert [(f['severity'], f['guide_section']) for f in slow] == [('warning', '7.1.3')]
    assert 'maxBatchSize is 8, below' in slow[0]['message']


def test_no_range_checks_without_a_profile():
    config = guide_config()
    config['BackendConfig']['ScheduleConfig']['maxBatchSize'] = 1
    assert not [f for f in diagnose.check_config(config, None) if f['problem'] == 'slow_inference']


def test_schema_violations_become_config_findings():
    config = guide_config()
    config['ServerConfig']['port'] = 80
    findings = diagnose.check_config(config, None)
    assert any(f['problem'] == 'config' and 'ServerConfig.port' in f['message'] for f in findings)


def test_parse_config_reports_comments_and_missing_file():
    config, error = diagnose.parse_config(read('mindie', 'guide_example_with_comments.jsonc'))
    assert config is None and 'comments' in error
    assert diagnose.parse_config(None) == (None, 'config.json does not exist')


def test_config_ports_and_log_path():
    rc3 = json.loads(read('mindie', 'config.json_1.0.RC3'))
    assert diagnose.config_ports(rc3) == {'port': 1025, 'managementPort': 1026, 'metricsPort': 1027}
    assert diagnose.config_ports(guide_config())['port'] == 1040
    # MindIE's defaults (server_config.cpp InitFromJson): a missing managementPort is port, not 1026
    assert diagnose.config_ports({}) == {'port': 1025, 'managementPort': 1025, 'metricsPort': 1027}
    assert diagnose.config_ports({'ServerConfig': {'port': 1040, 'metricsPort': 1042}}) == {
        'port': 1040, 'managementPort': 1040, 'metricsPort': 1042}
    sdir = '/usr/local/Ascend/mindie/latest/mindie-service'
    assert diagnose.service_log_path({}, sdir) == sdir + '/logs/mindservice.log'
    assert diagnose.service_log_path({'LogConfig': {'logPath': '/var/log/m.log'}}, sdir) == '/var/log/m.log'
    assert diagnose.service_log_path({'LogConfig': {'logPath': 'x/m.log'}}, sdir + '/') == sdir + '/x/m.log'


# ---------------------------------------------------------------------- logs

FACTS_LINES = {
    'out_of_memory': '[2026-01-01 10:00:00] [ERROR] Warmup failed, because of multimodal model inference out of memory '
                     'when `maxInputTokenLen` set to 8192. Please try to decrease `maxPrefillTokens`',
    'service_start': 'Failed to init endpoint! Please check the service log or console output.',
    'container': '[MIE04E01011C] [daemon] Failed to set process group. errno is 2',
    'config': '[ERROR] Check path: /etc/mindie/config.json failed, by: Current permission is 644, but required no '
              'greater than 640.',
    'npu': 'Device init failed: /dev/davinci3 not found in /dev; the NPU device is not mounted into the container.',
    'image_load': 'ValueError: input_image /data/test_images/a.bmp is not supported, supported types: '
                  'jpg/png/jpeg/mp4/wmv/avi.',
}


@pytest.mark.parametrize('problem', sorted(FACTS_LINES))
def test_known_log_lines(problem):
    findings = diagnose.check_logs({'mindservice.log.tail': 'INFO start\n' + FACTS_LINES[problem] + '\nINFO x\n'})
    assert [f['problem'] for f in findings] == [problem]
    assert findings[0]['severity'] == 'error'
    assert findings[0]['guide_section'] == diagnose.SECTIONS[problem]
    assert 'mindservice.log.tail' in findings[0]['message']


@pytest.mark.parametrize('line', [
    "Socket bind failed on 127.0.0.1:1040 (Address already in use): the business listen port is occupied.",
    "mindieservice_daemon: error while loading shared libraries: libmindie_llm.so: cannot open shared object file",
    "bash: /usr/local/Ascend/mindie/set_env.sh: No such file or directory",
])
def test_port_and_set_env_lines_are_service_start(line):
    findings = diagnose.check_logs({'console.log.tail': line})
    assert [(f['problem'], f['guide_section']) for f in findings] == [('service_start', '7.1.1')]


def test_log_findings_are_folded_with_a_count_and_the_last_line():
    text = '\n'.join('[ERROR] NPU %d out of memory during warm-up' % n for n in range(8))
    findings = diagnose.check_logs({'mindservice.log.tail': text, 'console.log.tail': ''})
    assert len(findings) == 1
    assert '(8 lines)' in findings[0]['message'] and 'NPU 7' in findings[0]['message']


def test_clean_logs_have_no_findings():
    assert diagnose.check_logs({'mindservice.log.tail': 'Daemon start success!\n', 'console.log.tail': None}) == []


# ---------------------------------------------------------------------- ports, container, daemon

def test_ports_held_by_a_foreign_process():
    listeners = {1040: {'pid': 77, 'name': 'nginx', 'cmdline': 'nginx: master'},
                 1041: {'pid': 90, 'name': 'python3',
                        'cmdline': 'python3 /usr/local/Ascend/mindie/latest/mindie-service/bin/mindieservice_daemon'}}
    findings = diagnose.check_ports(listeners, [1040, 1041, 1042], daemon_running=True)
    assert len(findings) == 1
    assert findings[0]['problem'] == 'service_start' and 'port 1040' in findings[0]['message']
    assert 'nginx' in findings[0]['message']


def test_port_with_unknown_owner_warns_only_when_the_daemon_is_down():
    listeners = {1040: {'pid': None, 'name': None, 'cmdline': ''}}
    assert diagnose.check_ports(listeners, [1040], daemon_running=True) == []
    assert [f['severity'] for f in diagnose.check_ports(listeners, [1040], daemon_running=False)] == ['warning']


@pytest.mark.parametrize('state, text', [
    (None, 'does not exist'),
    ({'running': False, 'status': 'exited', 'exit_code': 137, 'oom_killed': True}, 'OOM killer'),
    ({'running': True, 'restarting': True, 'status': 'restarting', 'restart_count': 5}, 'restarting'),
    ({'running': True, 'status': 'running', 'restart_count': 2}, 'restarted 2'),
])
def test_container_states(state, text):
    findings = diagnose.check_container(state)
    assert findings and findings[0]['problem'] == 'container'
    assert text in findings[0]['message']


def test_container_running_is_fine_and_docker_down_is_reported():
    assert diagnose.check_container({'running': True, 'status': 'running', 'restart_count': 0}) == []
    findings = diagnose.check_container(None, docker_error='Cannot talk to the Docker engine: connection refused')
    assert len(findings) == 1 and 'Docker does not answer' in findings[0]['message']


def test_missing_image_is_named_when_the_container_is_missing():
    findings = diagnose.check_container(None, image_present=False, image_ref='mindie:1.0.0')
    assert len(findings) == 2 and 'mindie:1.0.0' in findings[1]['message']


def test_daemon_checks():
    assert diagnose.check_daemon(False, {'running': False}, False) == []
    assert diagnose.check_daemon(True, None, False) == []
    assert problems(diagnose.check_daemon(True, {'running': False, 'pid': None}, False)) == [('service_start', '7.1.1')]
    assert [f['severity'] for f in diagnose.check_daemon(True, {'running': True, 'pid': 5}, False)] == ['warning']
    assert diagnose.check_daemon(True, {'running': True, 'pid': 5}, True) == []


def test_a_port_held_by_mindie_is_no_finding_and_by_another_process_is():
    # Who counts as MindIE is module_utils/mindie_daemon's rule (tests/unit/plugins/module_utils/test_mindie_daemon.py).
    listeners = {1025: {'pid': 10, 'name': 'mindieservice_d', 'cmdline': './bin/mindieservice_daemon'},
                 1026: {'pid': 11, 'name': 'mindie_llm_back', 'cmdline': 'python3 /usr/local/bin/mindie_llm_backend'},
                 1027: {'pid': 12, 'name': 'nginx', 'cmdline': 'nginx: worker'}}
    assert [f['message'] for f in diagnose.check_ports(listeners, [1025, 1026, 1027], True)] == [
        'port 1027 is held by another process: pid 12 (nginx)']


# ---------------------------------------------------------------------- test image and weights

JPEG = b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01'


def test_image_format_magic():
    assert diagnose.image_format(JPEG) == 'jpeg'
    assert diagnose.image_format(b'\x89PNG\r\n\x1a\n\x00\x00') == 'png'
    assert diagnose.image_format(b'BM\x00\x00') == 'bmp'
    assert diagnose.image_format(b'\x00\x00\x00\x18ftypmp42') == 'mp4'
    assert diagnose.image_format(b'hello world') is None


def image_info(**kwargs):
    info = {'exists': True, 'readable': True, 'mode': 0o644, 'size': 1000, 'format': 'jpeg', 'head_read': True,
            'is_dir': False}
    info.update(kwargs)
    return info


@pytest.mark.parametrize('path, info, text', [
    ('/data/test_images/sample.jpg', {'exists': False}, 'does not exist'),
    ('/data/test_images/sample.jpg', image_info(readable=False, mode=0o200), 'not readable'),
    ('/data/test_images/sample.bmp', image_info(format='bmp'), 'unsupported extension'),
    ('/data/test_images/sample.jpg', image_info(format=None), 'not a recognisable image'),
    ('/data/test_images/sample.jpg', image_info(size=0, format=None), 'is empty'),
    ('/data/test_images/sample.jpg', image_info(format='gif'), 'not a supported format'),
])
def test_test_image_problems(path, info, text):
    findings = diagnose.check_test_image(path, info)
    assert findings and all(f['problem'] == 'image_load' and f['guide_section'] == '7.1.4' for f in findings)
    assert any(text in f['message'] for f in findings)


def test_good_test_image():
    assert diagnose.check_test_image('/data/test_images/sample.jpg', image_info()) == []
    assert diagnose.check_test_image('/data/test_images/sample.PNG', image_info(format='png')) == []


GENERATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..',
                         'sandbox', 'weights', 'generate_weights.py')


@pytest.fixture
def weights(tmp_path):
    """Real-format weights (two small shards) with the modes MindIE accepts."""
    out = str(tmp_path / 'Qwen2-VL-7B-Instruct')
    subprocess.check_call([sys.executable, GENERATOR, out, '--total-mb', '1', '--shards', '2'],
                          stdout=subprocess.DEVNULL)
    os.chmod(out, 0o750)
    os.chmod(os.path.join(out, 'config.json'), 0o640)
    return out


def model_findings(path):
    """What mindie_diagnose reports of the weights: the prechecks' own checks (permissions read-only) that are
    not pass, as they are (no adapter)."""
    found = model_dir.check_model_dir(path)
    if found[0]['status'] == 'pass':
        found += model_dir.check_permissions(path, fix=False)[0]
    return checks.findings(found)


def test_complete_weights_are_fine(weights):
    assert model_findings(weights) == []


def test_weights_missing_dir_shard_and_open_modes(weights, tmp_path):
    missing = str(tmp_path / 'nope')
    findings = model_findings(missing)
    assert problems(findings) == [('model', '7.1.2')]
    assert 'model directory %s does not exist' % missing in findings[0]['message']
    os.remove(os.path.join(weights, 'model-00002-of-00002.safetensors'))
    shard = os.path.join(weights, 'model-00001-of-00002.safetensors')
    with open(shard, 'r+b') as handle:
        handle.truncate(os.path.getsize(shard) // 2)
    os.chmod(os.path.join(weights, 'config.json'), 0o644)
    os.chmod(weights, 0o755)
    findings = model_findings(weights)
    messages = ' | '.join(f['message'] for f in findings)
    assert '0755, looser than the 0750' in messages
    assert "%s/config.json is 0644" % weights in messages
    assert 'missing: model-00002-of-00002.safetensors' in messages
    assert 'truncated: model-00001-of-00002.safetensors' in messages
    # The modes MindIE refuses make the service not start (7.1.1); the weights are the model check of 7.1.2.
    assert sorted((f['id'], f['severity'], f['guide_section']) for f in findings) == [
        ('model_config_mode', 'error', '7.1.1'), ('model_dir_mode', 'error', '7.1.1'), ('model_shards', 'error', '7.1.2')]
    assert set(f['problem'] for f in findings) == set(['model'])


def test_weights_without_shards(weights):
    for name in os.listdir(weights):
        if 'safetensors' in name:
            os.remove(os.path.join(weights, name))
    findings = model_findings(weights)
    assert any('model.safetensors.index.json' in f['message'] and 'is missing' in f['message'] for f in findings)


# ---------------------------------------------------------------------- summary

def test_summary_lines():
    assert diagnose.summarize([]) == 'OK: no problem found'
    assert diagnose.summarize([diagnose.finding('info', 'npu', 'x')]) == 'OK: no problem found'
    findings = diagnose.sort_findings([
        diagnose.finding('warning', 'slow_inference', 'maxBatchSize is 2'),
        diagnose.finding('error', 'out_of_memory', 'npuMemSize is -1'),
        diagnose.finding('error', 'config', 'config.json has mode 0644'),
    ])
    assert [f['problem'] for f in findings] == ['config', 'out_of_memory', 'slow_inference']
    line = diagnose.summarize(findings, ['npu-smi info -l: boom'])
    assert line.startswith('FAIL: 2 error(s), 1 warning(s): config (7.1.1), out_of_memory (7.1.2), '
                           'slow_inference (7.1.3); first: config.json has mode 0644')
    assert line.endswith('[1 item(s) could not be collected]')
    assert diagnose.summarize([diagnose.finding('warning', 'image_load', 'x')]).startswith('WARN: 0 error(s)')


# ---------------------------------------------------------------------- round 2: log file, loading, health, metrics

SIM_LIB = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'sandbox', 'images', 'mindie-sim', 'rootfs',
                       'usr', 'local', 'Ascend', 'mindie', '1.0.0', 'mindie-service', 'lib', 'simulator')


@pytest.mark.parametrize('value', [None, '', '/var/log/mindie', '/var/log/mindie/', 'custom', '~/x',
                                   'server:/srv/logs', 'llm:/a;server:rel', '*:/all', 'llm:/only-llm'])
def test_log_dirs_agree_with_the_simulator(monkeypatch, value):
    """The simulator's daemon writes where diagnose looks first (same rules as MindIE's LogConfig)."""
    sys.path.insert(0, SIM_LIB)
    try:
        from mindie_sim import common
    finally:
        sys.path.remove(SIM_LIB)
    monkeypatch.setenv('HOME', '/home/mindie')
    if value is None:
        monkeypatch.delenv('MINDIE_LOG_PATH', raising=False)
    else:
        monkeypatch.setenv('MINDIE_LOG_PATH', value)
    dirs = mindie_logs.daemon_log_dirs('/home/mindie', value)
    assert os.path.normpath(common.log_debug_dir()) == dirs[0]
    assert dirs[-1] == '/home/mindie/mindie/log/debug'


def test_log_dirs_drop_control_characters_and_default_home():
    assert mindie_logs.daemon_log_dirs(None, None) == ['/root/mindie/log/debug']
    assert all('\n' not in d for d in mindie_logs.daemon_log_dirs('/root', '/a\nb'))


def test_pick_daemon_log():
    dirs = ['/root/mindie/log/debug']
    listing = ('200 /root/mindie/log/debug/mindie-service_7_20260101.log\n'
               '100 /root/mindie/log/debug/mindie-service_5_20260101.log\n'
               '300 /elsewhere/mindie-service_5_20260102.log\n'          # not a searched directory
               '400 /root/mindie/log/debug/mindie-service_x_1.log\n'     # not a pid
               'garbage\n')
    assert mindie_logs.pick_daemon_log(listing, dirs, 5) == ('/root/mindie/log/debug/mindie-service_5_20260101.log',
                                                          'the log file of daemon pid 5')
    assert mindie_logs.pick_daemon_log(listing, dirs, 9)[0].endswith('_7_20260101.log')
    assert 'none of daemon pid 9' in mindie_logs.pick_daemon_log(listing, dirs, 9)[1]
    assert mindie_logs.pick_daemon_log(listing, dirs, None)[0].endswith('_7_20260101.log')
    assert mindie_logs.pick_daemon_log('', dirs, 5)[0] is None


def test_last_run():
    text = '[t] [4] [1] [s] [ERROR] old failure\n[t] [5] [1] [s] [INFO] start\n[t] [5] [1] [s] [ERROR] now\n'
    assert diagnose.last_run(text, 5) == '[t] [5] [1] [s] [INFO] start\n[t] [5] [1] [s] [ERROR] now\n'
    assert diagnose.last_run(text, 6) == text and diagnose.last_run(text, None) == text
    console = 'x\n==== mindie_service: starting a\nold\n==== mindie_service: starting b\nnew\n'
    assert diagnose.last_run(console, 5, 'console.log.tail') == '==== mindie_service: starting b\nnew\n'


def test_still_loading_is_info_until_ready_timeout():
    daemon = {'running': True, 'pid': 5, 'age': 30, 'log_file': '/root/x.log'}
    found = diagnose.check_daemon(True, daemon, False, 600)
    assert [f['severity'] for f in found] == ['info'] and 'still loading: started 30 s ago' in found[0]['message']
    daemon['age'] = 601
    found = diagnose.check_daemon(True, daemon, False, 600)
    assert found[0]['severity'] == 'error' and 'start-up hangs' in found[0]['message'] and '/root/x.log' in found[0]['hint']
    assert diagnose.check_daemon(True, dict(daemon, age=None), False)[0]['severity'] == 'warning'
    dead = diagnose.check_daemon(True, {'running': False, 'pid': 5, 'exit_code': 137}, False)
    assert 'killpg(SIGKILL)' in dead[0]['message']


ABNORMAL = {'status': 500, 'body': '{"message":"Service is abnormal"}'}


@pytest.mark.parametrize('ready, live, state', [
    ({'status': 200, 'body': ''}, {'status': 200, 'body': ''}, 'ready'),
    ({'status': 503, 'body': '{"message":"Service is alive but busy"}'}, {'status': 200, 'body': ''}, 'busy'),
    (ABNORMAL, ABNORMAL, 'starting'),
    ({'status': None, 'error': 'refused'}, {'status': None}, 'unreachable'),
    ({'status': 503, 'body': ''}, {'status': 503, 'body': ''}, 'unhealthy'),
])
def test_health_state(ready, live, state):
    assert diagnose.health_state(ready, live) == state


def test_health_findings():
    busy = diagnose.check_health({'status': 503, 'body': ''}, {'status': 200, 'body': ''})
    assert [f['severity'] for f in busy] == ['info'] and 'busy, not down' in busy[0]['message']
    assert diagnose.check_health({'status': 200}, {'status': 200}) == []
    assert diagnose.check_health(ABNORMAL, ABNORMAL)[0]['severity'] == 'info'
    assert diagnose.check_health(ABNORMAL, ABNORMAL, starting_for=12)[0]['severity'] == 'error'
    assert diagnose.check_health({'status': None}, {'status': None}, management_listens=False) == []
    assert diagnose.check_health({'status': 503, 'body': ''}, {'status': 500, 'body': ''})[0]['severity'] == 'error'


def test_metrics_finding():
    body = ('{"error":"Environment variable MIES_SERVICE_MONITOR_MODE is not set.",'
            '"error_type":"Incomplete Generation"}')
    found = diagnose.check_metrics({'status': 500, 'body': body})
    assert len(found) == 1 and found[0]['severity'] == 'warning'
    assert 'MIES_SERVICE_MONITOR_MODE is not set. (Incomplete Generation)' in found[0]['message']
    assert 'mindie_service_monitor: true' in found[0]['hint']
    assert diagnose.check_metrics({'status': 200, 'body': 'x 1\n'}) == []
    assert diagnose.check_metrics(None) == []


def test_probe_targets():
    config = guide_config()
    targets = diagnose.probe_targets(config)
    server = config['ServerConfig']
    assert targets['management'][1] == server['managementPort'] and targets['metrics'][1] == server['metricsPort']
    server.update(port=1025, managementPort=1025, metricsPort=1025, ipAddress='0.0.0.0', httpsEnabled=False)
    assert diagnose.probe_targets(config) == {'scheme': 'http', 'management': ('127.0.0.1', 1025),
                                              'metrics': ('127.0.0.1', 1025),
                                              'urls': {'business': 'http://127.0.0.1:1025', 'management': 'http://127.0.0.1:1025',
                                                       'metrics': 'http://127.0.0.1:1025'}}
    # The plan's rule, MindIE's dispatch (http_server.cpp): two addresses and metrics on its own port make three
    # servers, management and metrics on managementIpAddress; IPv6 in brackets.
    server.update(metricsPort=1027, managementIpAddress='::')
    targets = diagnose.probe_targets(config)
    assert targets['management'] == ('::1', 1025) and targets['metrics'] == ('::1', 1027)
    assert targets['urls']['metrics'] == 'http://[::1]:1027'
    # No managementPort: MindIE serves management on the business port, so that is where the health probe goes.
    del server['managementPort'], server['managementIpAddress']
    server.update(ipAddress='192.0.2.10', port=1040, metricsPort=1042)
    assert diagnose.probe_targets(config)['management'] == ('192.0.2.10', 1040)


def test_log_findings_name_the_own_log_first():
    own = '/root/mindie/log/debug/mindie-service_5_1.log'
    line = '[t] [5] [1] [mindie-server] [ERROR] Warmup failed, because of multimodal model inference out of memory'
    found = diagnose.check_logs([(own, line), ('/svc/logs/mindservice.log', line)])
    assert len(found) == 1 and found[0]['message'].startswith(own + ': ')
    assert '(also in /svc/logs/mindservice.log)' in found[0]['message']


def test_mindie_3_0_log_file_name_and_llm_component_are_found():
    # 3.0 names the daemon's file mindie-server_<pid>_<time>.log and reads MINDIE_LOG_PATH for the `llm` component.
    dirs = mindie_logs.daemon_log_dirs('/root', 'llm:/var/log/mindie')
    assert dirs[0] == '/var/log/mindie/log/debug'
    listing = '200 /var/log/mindie/log/debug/mindie-server_77_20261201120000123.log\n'
    path, why = mindie_logs.pick_daemon_log(listing, dirs, 77)
    assert path.endswith('mindie-server_77_20261201120000123.log') and 'pid 77' in why
