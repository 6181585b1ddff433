# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_config through main() on temporary copies of the real config variants."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import errno
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import threading

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ascend.mindie.plugins.modules import mindie_config

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'mindie')
MC = ['BackendConfig', 'ModelDeployConfig', 'ModelConfig']


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def load(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture(params=['config.json_1.0.0_sim_default', 'config.json_1.0.RC3'])
def conf(tmp_path, request):
    path = str(tmp_path / 'config.json')
    shutil.copy(os.path.join(FIXTURES, request.param), path)
    os.chmod(path, 0o640)
    return path


QWEN = {
    'ServerConfig': {'port': 1040, 'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False},
    'BackendConfig': {
        'npuDeviceIds': [[0, 1, 2, 3, 4, 5, 6, 7]],
        'ModelDeployConfig': {'maxSeqLen': 50000, 'maxInputTokenLen': 50000, 'ModelConfig': [
            {'modelName': 'qwen2_vl', 'modelWeightPath': '/data/Qwen2-VL-7B-Instruct', 'worldSize': 8, 'npuMemSize': 8}]},
        'ScheduleConfig': {'maxPrefillTokens': 50000, 'maxBatchSize': 32, 'maxPrefillBatchSize': 32},
    },
}


def test_good_settings_change_only_what_they_name(run_module, conf):
    original = load(conf)
    result = run_module(mindie_config.main, {'path': conf, 'settings': QWEN})
    assert result['changed'] is True
    written = load(conf)
    assert written == result['config']
    expected = copy.deepcopy(original)
    for section, values in QWEN['ServerConfig'].items():
        expected['ServerConfig'][section] = values
    expected['BackendConfig']['npuDeviceIds'] = [[0, 1, 2, 3, 4, 5, 6, 7]]
    expected['BackendConfig']['ModelDeployConfig'].update(maxSeqLen=50000, maxInputTokenLen=50000)
    expected['BackendConfig']['ModelDeployConfig']['ModelConfig'][0].update(QWEN['BackendConfig']['ModelDeployConfig']['ModelConfig'][0])
    expected['BackendConfig']['ScheduleConfig'].update(QWEN['BackendConfig']['ScheduleConfig'])
    assert written == expected
    # key order of the file kept, 4-space indentation, trailing newline, 0640
    assert list(written['ServerConfig']) == list(original['ServerConfig'])
    with open(conf) as handle:
        text = handle.read()
    assert text.startswith('{\n    "Version": "1.0.0",\n    "LogConfig": {\n        "logLevel"') and text.endswith('}\n')
    assert mode_of(conf) == 0o640
    assert not [name for name in os.listdir(os.path.dirname(conf)) if name != 'config.json']  # no temp file left
    # idempotent
    again = run_module(mindie_config.main, {'path': conf, 'settings': QWEN})
    assert again['changed'] is False and again['config'] == written


def test_bad_settings_fail_with_every_violation_and_leave_the_file(run_module, conf):
    os.chmod(conf, 0o600)
    digest = sha256(conf)
    result = run_module(mindie_config.main, {'path': conf, 'settings': {
        'ServerConfig': {'port': 80, 'ipAddress': '0.0.0.0'},
        'BackendConfig': {
            'ScheduleConfig': {'maxBatchsize': 32, 'maxBatchSize': 32},
            'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': -1, 'worldSize': '8'}]},
        }}}, expect_fail=True)
    assert result['violations'] == [
        '`BackendConfig.ScheduleConfig.maxBatchsize`: unknown key; did you mean `maxBatchSize`?',
        '`ServerConfig.port`: must be in [1024, 65535], got 80',
        '`ServerConfig.ipAddress`: is 0.0.0.0, which MindIE refuses unless `ServerConfig.allowAllZeroIpListening` is '
        'true; bind a specific address or set it to true',
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].worldSize`: must be an integer in [1, ...], got "8"',
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize`: is -1 but the model is multimodal '
        '("qwen2_vl"): MindIE needs HBM left for the vision encoder, set a fixed size in GB (e.g. 8 for Qwen2-VL-7B '
        'on 8 NPUs)',
        '`BackendConfig.ScheduleConfig.maxPrefillBatchSize`: is 50, larger than `BackendConfig.ScheduleConfig.'
        'maxBatchSize` (32); set it <= maxBatchSize, or 0 to use maxBatchSize',
    ]
    assert result['msg'].startswith('{0}: 6 problem(s), nothing was written:\n- `BackendConfig'.format(conf))
    for item in result['violations']:
        assert item in result['msg']
    assert sha256(conf) == digest and mode_of(conf) == 0o600


def test_unknown_keys_allowed(run_module, conf):
    result = run_module(mindie_config.main, {'path': conf, 'allow_unknown_keys': True,
                                             'settings': {'ServerConfig': {'timeoutInSeconds': 300}}})
    assert result['changed'] is True and load(conf)['ServerConfig']['timeoutInSeconds'] == 300


def test_multimodal_option(run_module, conf):
    settings = {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'npuMemSize': -1}]}}}
    result = run_module(mindie_config.main, {'path': conf, 'settings': settings, 'multimodal': True}, expect_fail=True)
    assert [v.split('`')[1] for v in result['violations']] == ['BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize']
    settings = {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': -1}]}}}
    assert run_module(mindie_config.main, {'path': conf, 'settings': settings, 'multimodal': False})['changed'] is True


def test_whitespace_only_difference_is_no_change(run_module, conf):
    # the fixtures are formatted with "key" : value and blank lines; the same content is not rewritten
    digest = sha256(conf)
    result = run_module(mindie_config.main, {'path': conf, 'settings': {'ServerConfig': {'port': load(conf)['ServerConfig']['port']}}})
    assert result['changed'] is False and sha256(conf) == digest


def test_mode_only_fixed_in_place(run_module, conf):
    os.chmod(conf, 0o644)
    digest, inode = sha256(conf), os.stat(conf).st_ino
    checked = run_module(mindie_config.main, {'path': conf}, check_mode=True)
    assert checked['changed'] is True and mode_of(conf) == 0o644
    result = run_module(mindie_config.main, {'path': conf})
    assert result['changed'] is True and mode_of(conf) == 0o640
    assert sha256(conf) == digest and os.stat(conf).st_ino == inode
    assert run_module(mindie_config.main, {'path': conf})['changed'] is False


def test_mode_option_applies_to_rewritten_file(run_module, conf):
    run_module(mindie_config.main, {'path': conf, 'mode': '0600', 'settings': {'ServerConfig': {'port': 1040}}})
    assert mode_of(conf) == 0o600


def test_check_mode_writes_nothing(run_module, conf):
    os.chmod(conf, 0o644)
    digest = sha256(conf)
    result = run_module(mindie_config.main, {'path': conf, 'settings': QWEN, '_ansible_diff': True}, check_mode=True)
    assert result['changed'] is True and result['config']['ServerConfig']['port'] == 1040
    assert sha256(conf) == digest and mode_of(conf) == 0o644
    assert '"port": 1040' in result['diff']['after']


def test_diff(run_module, conf):
    result = run_module(mindie_config.main, {'path': conf, 'settings': {'ServerConfig': {'port': 1040}},
                                             '_ansible_diff': True})
    diff = result['diff']
    assert diff['before_header'] == diff['after_header'] == conf
    assert json.loads(diff['before'])['ServerConfig']['port'] == 1025
    assert json.loads(diff['after']) == load(conf)
    assert diff['after'].split('\n')[1] == '    "Version": "1.0.0",'
    before, after = diff['before'].splitlines(), diff['after'].splitlines()
    assert [(b, a) for b, a in zip(before, after) if b != a] == [('        "port": 1025,', '        "port": 1040,')]


def test_backup(run_module, conf):
    digest = sha256(conf)
    os.chmod(conf, 0o600)
    os.utime(conf, (1000000000, 1000000000))
    result = run_module(mindie_config.main, {'path': conf, 'backup': True, 'settings': {'ServerConfig': {'port': 1040}}})
    assert os.path.isfile(result['backup_file']) and sha256(result['backup_file']) == digest
    assert result['backup_file'].startswith(conf + '.{0}.'.format(os.getpid())) and result['backup_file'].endswith('~')
    assert mode_of(result['backup_file']) == 0o600 and os.stat(result['backup_file']).st_mtime == 1000000000
    again = run_module(mindie_config.main, {'path': conf, 'backup': True, 'settings': {'ServerConfig': {'port': 1040}}})
    assert 'backup_file' not in again


def test_src_used_when_path_missing(run_module, tmp_path):
    path = str(tmp_path / 'new.json')
    src = os.path.join(FIXTURES, 'config.json_1.0.0_sim_default')
    result = run_module(mindie_config.main, {'path': path, 'src': src, 'settings': QWEN, '_ansible_diff': True})
    assert result['changed'] is True and result['diff']['before'] == ''
    written = load(path)
    assert written['ServerConfig']['tlsCrlFiles'] == ['server_crl.pem'] and written['ServerConfig']['port'] == 1040
    assert mode_of(path) == 0o640
    # path now exists: src is ignored
    assert run_module(mindie_config.main, {'path': path, 'src': src, 'settings': QWEN})['changed'] is False


def test_missing_path_without_src(run_module, tmp_path):
    path = str(tmp_path / 'nope.json')
    result = run_module(mindie_config.main, {'path': path}, expect_fail=True)
    assert result['msg'].startswith('{0} does not exist. Pass src'.format(path))
    result = run_module(mindie_config.main, {'path': path, 'src': str(tmp_path / 'nosrc.json')}, expect_fail=True)
    assert 'neither does src' in result['msg']
    assert not os.path.exists(path)


def test_comments_in_file_fail(run_module, tmp_path):
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('{\n  "ServerConfig": {\n    "port": 1040,   // main port\n    "maxLinkNum": 200\n  }\n}\n')
    digest = sha256(path)
    result = run_module(mindie_config.main, {'path': path, 'settings': {'ServerConfig': {'port': 1041}}}, expect_fail=True)
    assert result['msg'] == ('{0} contains comments (line 3 column 21): comments are not valid JSON and MindIE refuses '
                             'the file. Remove the // and /* */ comments (the deployment guide\'s example has them) '
                             'and retry.'.format(path))
    assert sha256(path) == digest


def test_invalid_json_names_line_and_column(run_module, tmp_path):
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('{\n  "ServerConfig": {\n    "port": 1040,\n  }\n}\n')
    result = run_module(mindie_config.main, {'path': path}, expect_fail=True)
    assert result['msg'].startswith('{0} is not valid JSON: '.format(path)) and 'line 4 column 3' in result['msg']


def test_directory_path_fails(run_module, tmp_path):
    result = run_module(mindie_config.main, {'path': str(tmp_path)}, expect_fail=True)
    assert 'is a directory' in result['msg']


def test_owner_group_by_current_user(run_module, conf):
    import grp
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    result = run_module(mindie_config.main, {'path': conf, 'owner': user, 'group': group,
                                             'settings': {'ServerConfig': {'port': 1040}}})
    assert result['changed'] is True
    assert os.stat(conf).st_uid == os.getuid() and os.stat(conf).st_gid == os.getgid()


def test_symlinked_path_updates_the_target(run_module, conf, tmp_path):
    link = str(tmp_path / 'link.json')
    os.symlink(conf, link)
    run_module(mindie_config.main, {'path': link, 'settings': {'ServerConfig': {'port': 1040}}})
    assert os.path.islink(link) and load(conf)['ServerConfig']['port'] == 1040


def test_guide_example_with_comments_fails(run_module, tmp_path):
    path = str(tmp_path / 'config.json')
    shutil.copy(os.path.join(FIXTURES, 'guide_example_with_comments.jsonc'), path)
    result = run_module(mindie_config.main, {'path': path}, expect_fail=True)
    assert result['msg'].startswith('{0} contains comments (line 11 column 38, line 12 column 38, '.format(path))


# --- hardening: refusals leave the file byte for byte, no temporary file, no traceback ----------------------


def listing(path):
    return sorted(os.listdir(os.path.dirname(path)))


def read_bytes(path):
    with open(path, 'rb') as handle:
        return handle.read()


def refused(run_module, path, args, check_mode=False):
    """Run, expect a failure, and check the file and its directory are exactly as they were."""
    before, names = read_bytes(path), listing(path)
    stat_before = os.stat(path)
    result = run_module(mindie_config.main, dict(args, path=path), expect_fail=True, check_mode=check_mode)
    assert read_bytes(path) == before
    assert listing(path) == names, 'a temporary file was left behind'
    after = os.stat(path)
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_ino) == (
        stat_before.st_mode, stat_before.st_uid, stat_before.st_gid, stat_before.st_ino)
    return result


def server(**values):
    return {'ServerConfig': values}


# ports

@pytest.mark.parametrize('key,section', [('port', 'ServerConfig'), ('managementPort', 'ServerConfig'),
                                         ('metricsPort', 'ServerConfig'), ('interCommPort', 'ServerConfig'),
                                         ('multiNodesInferPort', 'BackendConfig')])
def test_reserved_port_refused_naming_the_owner(run_module, conf, key, section):
    settings = {section: {key: 1099}}
    result = refused(run_module, conf, {'settings': settings, 'reserved_ports': [
        {'port': 1099, 'owner': 'instance mindie-2'}, {'port': 1099, 'owner': 'sshd (pid 812)'},
        {'port': 2000, 'owner': 'nobody'}]})
    assert result['violations'] == [
        '`{0}.{1}`: is 1099, which is already used by instance mindie-2 and sshd (pid 812); MindIE fails at start '
        'with "listen port is occupied" (after loading the whole model): choose a free port'.format(section, key)]


def test_reserved_ports_not_in_the_file_pass(run_module, conf):
    result = run_module(mindie_config.main, {'path': conf, 'settings': server(port=1040),
                                             'reserved_ports': [{'port': 1050, 'owner': 'instance mindie-2'}]})
    assert result['changed'] is True


def test_reserved_ports_given_as_strings_are_converted(run_module, conf):
    result = refused(run_module, conf, {'settings': server(port=1050),
                                        'reserved_ports': [{'port': '1050', 'owner': 'instance mindie-2'}]})
    assert 'already used by instance mindie-2' in result['violations'][0]


def test_reserved_port_entries_checked(run_module, conf):
    result = refused(run_module, conf, {'reserved_ports': [{'port': 0, 'owner': 'x'}, {'port': 1050, 'owner': ' '}]})
    assert [v.split('`')[1] for v in result['violations']] == ['reserved_ports[0].port', 'reserved_ports[1].owner']


@pytest.mark.parametrize('ports', [(1040, 1040, 1040), (1040, 1040, 1042), (1040, 1041, 1041), (1040, 1041, 1042)])
def test_port_layouts_mindie_accepts(run_module, conf, ports):
    settings = server(port=ports[0], managementPort=ports[1], metricsPort=ports[2],
                      ipAddress='127.0.0.1', managementIpAddress='127.0.0.1')
    assert run_module(mindie_config.main, {'path': conf, 'settings': settings})['changed'] is True
    assert [load(conf)['ServerConfig'][k] for k in ('port', 'managementPort', 'metricsPort')] == list(ports)


def test_port_equal_to_metrics_port_alone_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': server(port=1040, managementPort=1041, metricsPort=1040,
                                                           ipAddress='127.0.0.1', managementIpAddress='127.0.0.1')})
    assert len(result['violations']) == 1
    assert result['violations'][0].startswith('`ServerConfig.metricsPort`: is 1040, the same as `ServerConfig.port`')
    assert 'Management or Business or Metrics port is invalid' in result['violations'][0]


def test_port_equal_to_multi_nodes_infer_port_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': {'ServerConfig': {'port': 1120}}})
    assert 'Endpoint port cannot be equal to multiNodesInferPort' in result['msg']


def test_overlapping_addresses_on_one_port_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': server(
        port=1040, managementPort=1040, metricsPort=1042, allowAllZeroIpListening=True,
        ipAddress='0.0.0.0', managementIpAddress='127.0.0.1')})
    assert result['violations'] == [
        '`ServerConfig.managementPort`: is 1040, and `ServerConfig.port` listens on 0.0.0.0 port 1040 while '
        '`ServerConfig.managementPort` listens on 127.0.0.1 port 1040: the two addresses overlap, so the second '
        'server cannot bind; give `ServerConfig.managementPort` a port of its own']


# NPUs and models

def test_npu_ids_repeated_in_a_group_and_across_groups(run_module, conf):
    ids = [[0, 1, 1, 3], [3, 4, 5, 6]]
    result = refused(run_module, conf, {'settings': {'BackendConfig': {'modelInstanceNumber': 2, 'npuDeviceIds': ids}}})
    assert result['violations'] == [
        '`BackendConfig.npuDeviceIds[0]`: lists NPU 1 more than once [0, 1, 1, 3]; MindIE refuses repeated ids '
        '("npuDeviceID does not allow repetitive element"): list each NPU once',
        '`BackendConfig.npuDeviceIds[1]`: uses NPU 3, which group 0 already uses; an NPU serves one model '
        'instance only']


def test_npu_ids_beyond_npu_count(run_module, conf):
    settings = {'BackendConfig': {'npuDeviceIds': [[4, 5, 6, 7]]}}
    result = refused(run_module, conf, {'settings': settings, 'npu_count': 6})
    assert result['violations'] == ['`BackendConfig.npuDeviceIds`: names NPU id(s) 6, 7, which the node does not '
                                    'have: it has 6 NPU(s), logical ids 0..5']
    assert run_module(mindie_config.main, {'path': conf, 'settings': settings, 'npu_count': 8})['changed'] is True


def test_empty_model_config_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': []}}}})
    assert result['violations'] == [
        '`BackendConfig.ModelDeployConfig.ModelConfig`: is empty; MindIE needs at least one model (it reads '
        'ModelConfig[0]): give the model\'s modelName, modelWeightPath and worldSize']


# booleans as strings

@pytest.mark.parametrize('section,key,value', [
    (['ServerConfig'], 'httpsEnabled', 'false'),
    (['ServerConfig'], 'allowAllZeroIpListening', 'true'),
    (['BackendConfig'], 'multiNodesInferEnabled', 'False'),
    (['BackendConfig', 'ModelDeployConfig'], 'truncation', 'false'),
    (['BackendConfig', 'ScheduleConfig'], 'supportSelectBatch', 'no'),
])
def test_string_booleans_refused(run_module, conf, section, key, value):
    settings = leaf = {}
    for part in section:
        leaf[part] = {}
        leaf = leaf[part]
    leaf[key] = value
    result = refused(run_module, conf, {'settings': settings})
    assert len(result['violations']) == 1
    assert result['violations'][0].startswith('`{0}.{1}`: is the string "{2}"'.format('.'.join(section), key, value))
    assert 'give true/false without quotes' in result['violations'][0]


def test_string_boolean_in_a_model_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': {'BackendConfig': {'ModelDeployConfig': {
        'ModelConfig': [{'trustRemoteCode': 'true'}]}}}})
    assert result['violations'][0].startswith(
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].trustRemoteCode`: is the string "true"')


# addresses, names and limits

@pytest.mark.parametrize('value', ['localhost', 'mindie.example.com', '1.2.3', '10.0.0.256', 'fe80::1%eth0', '',
                                   ' 127.0.0.1', 7])
@pytest.mark.parametrize('key', ['ipAddress', 'managementIpAddress'])
def test_addresses_must_be_literal(run_module, conf, key, value):
    result = refused(run_module, conf, {'settings': {'ServerConfig': {key: value}}})
    assert result['violations'] == ['`ServerConfig.{0}`: must be a literal IPv4 or IPv6 address such as 127.0.0.1 '
                                    'or ::1 (MindIE does not resolve host names), got {1}'.format(key, json.dumps(value))]


@pytest.mark.parametrize('value', ['[127.0.0.1]', '[10.0.0.1]', '[::ffff:1.2.3.4', '127.0.0.1]'])
@pytest.mark.parametrize('key', ['ipAddress', 'managementIpAddress'])
def test_brackets_only_around_ipv6(run_module, conf, key, value):
    result = refused(run_module, conf, {'settings': {'ServerConfig': {key: value}}})
    assert result['violations'][0].startswith('`ServerConfig.{0}`: must be a literal IPv4 or IPv6 address'.format(key))


@pytest.mark.parametrize('key', ['ipAddress', 'managementIpAddress'])
def test_ipv4_mapped_all_zero_needs_allow(run_module, conf, key):
    result = refused(run_module, conf, {'settings': {'ServerConfig': {key: '::ffff:0.0.0.0'}}})
    assert result['violations'] == ['`ServerConfig.{0}`: is ::ffff:0.0.0.0 (the IPv4-mapped form of 0.0.0.0, listening '
                                    'on every address), which MindIE refuses unless `ServerConfig.allowAllZeroIpListening` '
                                    'is true; bind a specific address or set it to true'.format(key)]


def test_model_name_with_trailing_newline_refused(run_module, conf):
    result = refused(run_module, conf, {'settings': {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [
        {'modelName': 'abc\n'}]}}}})
    assert result['violations'] == ['`BackendConfig.ModelDeployConfig.ModelConfig[0].modelName`: must match '
                                    '^[a-zA-Z0-9_.-]{1,256}$ (letters, digits, _ . -; at most 256) and start and end '
                                    'with a letter or digit, got "abc\\n"']


@pytest.mark.parametrize('value', ['10.1.2.3', '::1', '[::1]', 'fd00::5'])
def test_literal_addresses_pass(run_module, conf, value):
    result = run_module(mindie_config.main, {'path': conf, 'settings': server(ipAddress=value, managementIpAddress=value)})
    assert result['changed'] is True


@pytest.mark.parametrize('settings,path,text', [
    ({'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': '-qwen'}]}}},
     'BackendConfig.ModelDeployConfig.ModelConfig[0].modelName', 'start and end with a letter or digit'),
    ({'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'llama_65b.'}]}}},
     'BackendConfig.ModelDeployConfig.ModelConfig[0].modelName', 'start and end with a letter or digit'),
    ({'BackendConfig': {'tokenizerProcessNumber': 0}}, 'BackendConfig.tokenizerProcessNumber', 'must be in [1, 32], got 0'),
    ({'BackendConfig': {'tokenizerProcessNumber': 33}}, 'BackendConfig.tokenizerProcessNumber', 'must be in [1, 32], got 33'),
    ({'BackendConfig': {'ModelDeployConfig': {'maxSeqLen': 9000}, 'ScheduleConfig': {'maxIterTimes': 9001}}},
     'BackendConfig.ScheduleConfig.maxIterTimes', 'is 9001, larger than `BackendConfig.ModelDeployConfig.maxSeqLen` (9000)'),
    ({'BackendConfig': {'ModelDeployConfig': {'maxSeqLen': 5000000, 'maxInputTokenLen': 4194305},
                        'ScheduleConfig': {'maxPrefillTokens': 5000000}}},
     'BackendConfig.ModelDeployConfig.maxInputTokenLen', 'must be in [1, 4194304], got 4194305'),
    ({'BackendConfig': {'modelInstanceNumber': 11}}, 'BackendConfig.modelInstanceNumber', 'must be in [1, 10], got 11'),
])
def test_limits_refused(run_module, conf, settings, path, text):
    result = refused(run_module, conf, {'settings': settings})
    assert [v.split('`')[1] for v in result['violations']] == [path]
    assert text in result['violations'][0]


def test_every_violation_in_one_failure(run_module, conf):
    result = refused(run_module, conf, {'mode': 640, 'owner': 'no-such-user-h1', 'npu_count': 4, 'settings': {
        'ServerConfig': {'ipAddress': 'localhost', 'httpsEnabled': 'false', 'port': 1050},
        'BackendConfig': {'npuDeviceIds': [[0, 0, 2, 9]], 'tokenizerProcessNumber': 64},
    }, 'reserved_ports': [{'port': 1050, 'owner': 'instance mindie-2'}]})
    paths = [v.split('`')[1] for v in result['violations']]
    assert paths == ['mode', 'owner', 'ServerConfig.httpsEnabled', 'ServerConfig.ipAddress', 'ServerConfig.port',
                     'BackendConfig.tokenizerProcessNumber', 'BackendConfig.npuDeviceIds[0]',
                     'BackendConfig.npuDeviceIds']
    assert result['msg'].startswith('{0}: 8 problem(s), nothing was written:'.format(conf))


# mode

@pytest.mark.parametrize('mode,text', [
    (640, "mode 640 was read as a decimal number (= 01200 in octal), not as 0640; write '0640' in quotes"),
    (644, "write '0644' in quotes (and 0644 itself is looser than 0640, which MindIE refuses)"),
    ('0644', 'mode 0644 is looser than 0640 (others read)'),
    ('0660', 'mode 0660 is looser than 0640 (group write)'),
    ('4640', 'mode 4640 is looser than 0640 (setuid)'),
    (0o755, 'mode 0755 is looser than 0640 (owner execute, group execute, others read, others execute)'),
    ('g+w', "mode 'g+w' = 0660 is looser than 0640 (group write)"),
    ('u=rwx,g=r', "mode 'u=rwx,g=r' = 0740 is looser than 0640 (owner execute)"),
    ('rw-r-----', "mode 'rw-r-----' is neither an octal number such as '0640' nor a symbolic mode"),
    ('0o77777', "is neither an octal number"),
    ([6, 4, 0], "is not a mode"),
    (True, "is not a mode"),
])
def test_loose_or_mistaken_mode_refused(run_module, conf, mode, text):
    result = refused(run_module, conf, {'mode': mode, 'settings': server(port=1040)})
    assert [v.split('`')[1] for v in result['violations']] == ['mode']
    assert text in result['violations'][0]


def test_loose_mode_refused_even_without_content_change(run_module, conf):
    result = refused(run_module, conf, {'mode': '0644'})
    assert 'looser than 0640' in result['msg']


@pytest.mark.parametrize('mode,expected', [('0640', 0o640), ('0600', 0o600), ('400', 0o400), (0o640, 0o640),
                                           (416, 0o640), ('u=rw,g=r,o=', 0o640), ('u=rw,go=', 0o600), (None, 0o640)])
def test_good_modes(run_module, conf, mode, expected):
    os.chmod(conf, 0o600)
    run_module(mindie_config.main, {'path': conf, 'mode': mode, 'settings': server(port=1040)})
    assert mode_of(conf) == expected


def test_symbolic_mode_on_a_new_file_starts_from_0600(run_module, tmp_path):
    path = str(tmp_path / 'new.json')
    src = os.path.join(FIXTURES, 'config.json_1.0.0_sim_default')
    run_module(mindie_config.main, {'path': path, 'src': src, 'mode': 'g+r'})
    assert mode_of(path) == 0o640


# owner and group

def test_unknown_owner_or_group_refused_before_writing(run_module, conf):
    result = refused(run_module, conf, {'owner': 'no-such-user-h1', 'group': 'no-such-group-h1',
                                        'settings': server(port=1040)})
    assert result['violations'] == [
        "`owner`: owner 'no-such-user-h1' does not exist on this node: create the user first or give an existing one "
        "(MindIE needs the config.json to belong to the user running the daemon). Nothing was written.",
        "`group`: group 'no-such-group-h1' does not exist on this node: create the group first or give an existing "
        "one (MindIE needs the config.json to belong to the user running the daemon). Nothing was written."]


def existing_id(what, besides=()):
    """A uid (what='owner') or gid of the node, not in ``besides``."""
    ids = sorted(set(e.pw_uid for e in pwd.getpwall()) if what == 'owner' else set(e.gr_gid for e in grp.getgrall()))
    return [number for number in ids if number not in besides][0]


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give files away')
def test_rewrite_keeps_previous_owner_and_group(run_module, conf):
    os.chown(conf, 4321, 4322)
    run_module(mindie_config.main, {'path': conf, 'settings': server(port=1040)})
    assert load(conf)['ServerConfig']['port'] == 1040
    assert (os.stat(conf).st_uid, os.stat(conf).st_gid) == (4321, 4322)
    uid, gid = existing_id('owner', (4321,)), existing_id('group', (4322,))
    run_module(mindie_config.main, {'path': conf, 'owner': str(uid), 'settings': server(port=1041)})
    assert (os.stat(conf).st_uid, os.stat(conf).st_gid) == (uid, 4322)
    run_module(mindie_config.main, {'path': conf, 'group': str(gid), 'settings': server(port=1042)})
    assert (os.stat(conf).st_uid, os.stat(conf).st_gid) == (uid, gid)


def test_failed_chown_leaves_no_temp_file_and_the_original(run_module, conf, monkeypatch):
    def no_chown(fd, uid, gid):
        raise OSError(errno.EPERM, 'Operation not permitted')
    monkeypatch.setattr(mindie_config.os, 'fchown', no_chown)
    uid = existing_id('owner', (os.stat(conf).st_uid,))
    result = refused(run_module, conf, {'owner': str(uid), 'settings': server(port=1040)})
    assert result['msg'].startswith('Cannot give the new config.json owner {0} and group {1}: [Errno 1] Operation '
                                    'not permitted.'.format(uid, os.stat(conf).st_gid))


@pytest.mark.parametrize('what', ['owner', 'group'])
@pytest.mark.parametrize('value,text', [
    ('99999999999999999999', 'is not a valid {id}: a {id} is in [0, 4294967294]'),
    ('4294967295', 'is not a valid {id}: a {id} is in [0, 4294967294]'),
    ('4294967294', 'does not exist on this node: no {kind} has {id} 4294967294'),
    ('99999', 'does not exist on this node: no {kind} has {id} 99999'),
    ('\u00b2', "'\u00b2' does not exist on this node"),
    ('\u0661', "'\u0661' does not exist on this node"),
    ('a\x00b', "does not exist on this node"),
])
@pytest.mark.parametrize('content_changes', [True, False])
def test_bad_numeric_owner_or_group_refused_before_writing(run_module, conf, what, value, text, content_changes):
    # ASCII digits only, within [0, 2**32 - 2] (2**32 - 1 is chown's "no change"), and an existing user/group
    settings = server(port=1040) if content_changes else {}
    result = refused(run_module, conf, {what: value, 'settings': settings})
    kind, id_name = ('user', 'uid') if what == 'owner' else ('group', 'gid')
    assert len(result['violations']) == 1
    assert result['violations'][0].startswith('`{0}`: {0} '.format(what))
    assert text.format(id=id_name, kind=kind) in result['violations'][0]
    assert 'Traceback' not in result['msg']


def test_existing_numeric_owner_and_group_accepted(run_module, conf):
    st = os.stat(conf)
    result = run_module(mindie_config.main, {'path': conf, 'owner': str(pwd.getpwuid(st.st_uid).pw_uid),
                                             'group': str(st.st_gid), 'settings': {}})
    assert result['changed'] is False


def test_fail_json_inside_write_still_removes_the_temp_file(conf, monkeypatch):
    """A SystemExit (fail_json of an Ansible helper) inside write() is missed by `except Exception`."""
    def exiting_copy(source, target, *args):
        target.write(b'partial')
        raise SystemExit(1)
    monkeypatch.setattr(mindie_config.shutil, 'copyfileobj', exiting_copy)
    before, names = read_bytes(conf), listing(conf)
    with patch_module_args({'path': conf, 'backup': True, 'settings': server(port=1040)}):
        with pytest.raises(SystemExit):
            mindie_config.main()
    assert read_bytes(conf) == before and listing(conf) == names


class _FullDisk(object):
    """A file object whose write (or flush) fails as on a full disk."""

    def __init__(self, real, fail_on):
        self.real, self.fail_on = real, fail_on

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()

    def fileno(self):
        return self.real.fileno()

    def write(self, data):
        if self.fail_on == 'write':
            raise OSError(errno.ENOSPC, 'No space left on device')
        return self.real.write(data)

    def flush(self):
        return self.real.flush()


def test_full_disk_on_write(run_module, conf, monkeypatch):
    real_fdopen = os.fdopen
    monkeypatch.setattr(mindie_config.os, 'fdopen', lambda fd, *a: _FullDisk(real_fdopen(fd, *a), 'write'))
    result = refused(run_module, conf, {'settings': server(port=1040)})
    assert result['msg'] == ('Writing the new content of {0} failed: no space left on the device (or quota exceeded); '
                             'free some space in {1} and retry. {0} was left as it was.'.format(
                                 conf, os.path.dirname(conf)))


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_on_backup_leaves_no_backup(run_module, conf, monkeypatch, code):
    # backup_local would fail the task itself ("Could not make backup of ...") and leave a 0-byte backup behind
    def full(source, target, *args):
        target.write(source.read(10))
        target.flush()
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(mindie_config.shutil, 'copyfileobj', full)
    result = refused(run_module, conf, {'backup': True, 'settings': server(port=1040)})
    assert result['msg'] == ('There is not enough space for the backup of {0} in {1} (no space left on the device, '
                             'or quota exceeded); nothing was changed and no backup was left. Free some space and '
                             'retry, or set backup to false.'.format(conf, os.path.dirname(conf)))
    assert 'backup_file' not in result


def test_other_backup_failure_leaves_no_backup(run_module, conf, monkeypatch):
    def denied(*args, **kwargs):
        raise OSError(errno.EIO, 'Input/output error')
    monkeypatch.setattr(mindie_config.os, 'utime', denied)
    result = refused(run_module, conf, {'backup': True, 'settings': server(port=1040)})
    assert result['msg'].startswith('Making the backup {0}.'.format(conf))
    assert result['msg'].endswith('Input/output error. Nothing was changed and no backup was left.')


def test_full_disk_on_fsync(run_module, conf, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(mindie_config.os, 'fsync', full)
    result = refused(run_module, conf, {'settings': server(port=1040)})
    assert 'no space left on the device' in result['msg']


def test_unwritable_directory_is_a_clear_error(run_module, conf, monkeypatch):
    def denied(*args, **kwargs):
        raise OSError(errno.EACCES, 'Permission denied')
    monkeypatch.setattr(mindie_config.tempfile, 'mkstemp', denied)
    result = refused(run_module, conf, {'settings': server(port=1040)})
    assert result['msg'].startswith('Creating a temporary file in {0} failed: permission denied'.format(
        os.path.dirname(conf)))


# the atomic write itself

def test_atomic_write_sequence(run_module, conf, monkeypatch):
    calls = []
    real_fsync, real_rename, real_fchown, real_fchmod = os.fsync, os.rename, os.fchown, os.fchmod

    def name_of(fd):
        return os.readlink('/proc/self/fd/{0}'.format(fd))

    def fsync(fd):
        calls.append(('fsync', name_of(fd)))
        return real_fsync(fd)

    def rename(src, dst):
        calls.append(('rename', src, dst))
        return real_rename(src, dst)

    def fchown(fd, uid, gid):
        calls.append(('fchown', name_of(fd), uid, gid))
        return real_fchown(fd, uid, gid)

    def fchmod(fd, mode):
        calls.append(('fchmod', name_of(fd), mode))
        return real_fchmod(fd, mode)

    for name, func in (('fsync', fsync), ('rename', rename), ('fchown', fchown), ('fchmod', fchmod)):
        monkeypatch.setattr(mindie_config.os, name, func)
    monkeypatch.setattr(mindie_config.os, 'replace', lambda *a: pytest.fail('os.replace is not expected'))
    before = os.stat(conf)
    run_module(mindie_config.main, {'path': conf, 'settings': server(port=1040)})
    directory = os.path.dirname(conf)
    tmp = calls[0][1]
    assert os.path.dirname(tmp) == directory and os.path.basename(tmp).startswith('.config.json.')
    assert calls == [
        ('fchmod', tmp, 0o640),
        ('fchown', tmp, before.st_uid, before.st_gid),
        ('fsync', tmp),
        ('rename', tmp, conf),
        ('fsync', directory),
    ]
    assert load(conf)['ServerConfig']['port'] == 1040 and not os.path.exists(tmp)


def test_directory_fsync_failure_is_a_warning(run_module, conf, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.isdir(os.readlink('/proc/self/fd/{0}'.format(fd))):
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_fsync(fd)
    monkeypatch.setattr(mindie_config.os, 'fsync', fsync)
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, warning: warned.append(warning))
    result = run_module(mindie_config.main, {'path': conf, 'settings': server(port=1040)})
    assert result['changed'] is True and load(conf)['ServerConfig']['port'] == 1040
    assert len(warned) == 1 and 'syncing its directory failed' in warned[0]


# special, huge and deeply nested files

def run_in_thread(run_module, args, timeout=10):
    """The module's failure, or pytest.fail when it does not end within timeout seconds."""
    box = {}

    def target():
        try:
            box['result'] = run_module(mindie_config.main, args, expect_fail=True)
        except BaseException as exc:  # pylint: disable=broad-except
            box['error'] = exc
    thread = threading.Thread(target=target)
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in (args.get('path'), args.get('src')):
            if fifo and os.path.exists(fifo) and stat.S_ISFIFO(os.stat(fifo).st_mode):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # unblock the reader
        thread.join(5)
        pytest.fail('mindie_config hung on a special file')
    if 'error' in box:
        raise box['error']
    return box['result']


def test_fifo_path_fails_quickly(run_module, tmp_path):
    fifo = str(tmp_path / 'config.json')
    os.mkfifo(fifo)
    result = run_in_thread(run_module, {'path': fifo, 'settings': server(port=1040)})
    assert result['msg'] == ('path {0} is a FIFO (named pipe), not a regular file; give the config.json file itself '
                             '(nothing was read from it or written).'.format(fifo))
    assert os.listdir(str(tmp_path)) == ['config.json']


def test_fifo_src_fails_quickly(run_module, tmp_path):
    fifo = str(tmp_path / 'shipped.json')
    os.mkfifo(fifo)
    result = run_in_thread(run_module, {'path': str(tmp_path / 'config.json'), 'src': fifo})
    assert result['msg'].startswith('src file {0} is a FIFO (named pipe), not a regular file'.format(fifo))
    assert os.listdir(str(tmp_path)) == ['shipped.json']


def test_device_path_fails(run_module, tmp_path):
    link = str(tmp_path / 'config.json')
    os.symlink('/dev/null', link)
    result = run_in_thread(run_module, {'path': link})
    assert result['msg'].startswith('path /dev/null is a character device, not a regular file')


def test_huge_file_refused(run_module, tmp_path):
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('{"ServerConfig": {"port": 1040}, "pad": "')
        handle.write('x' * (mindie_config.MAX_CONFIG_BYTES + 10))
        handle.write('"}\n')
    result = refused(run_module, path, {'settings': server(port=1041)})
    assert result['msg'] == ('config file {0} is larger than 16 MiB; a MindIE config.json is a few KB. Check that '
                             'this is the right file; nothing was read further or written.'.format(path))


def test_huge_file_is_not_read_whole(run_module, tmp_path, monkeypatch):
    """Even when stat says small (a file growing under us), at most the cap (+ one chunk) is read."""
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('[' + ' ' * (mindie_config.MAX_CONFIG_BYTES * 2) + ']')
    real_read, total = os.read, []

    def counting_read(fd, size):
        data = real_read(fd, size)
        total.append(len(data))
        return data
    monkeypatch.setattr(mindie_config.os, 'read', counting_read)
    result = refused(run_module, path, {})
    assert 'larger than 16 MiB' in result['msg']
    assert sum(total) <= mindie_config.MAX_CONFIG_BYTES + 1024 * 1024


@pytest.mark.parametrize('depth', [100, 200000])
def test_deeply_nested_file_refused(run_module, tmp_path, depth):
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('{"a": ' + '[' * depth + ']' * depth + '}')
    result = refused(run_module, path, {'settings': server(port=1040)})
    assert result['msg'] == ('{0} nests lists or objects too deeply to be a MindIE config.json (more than 64 levels). '
                             'Restore the file from a backup or the one shipped with MindIE and retry.'.format(path))


def test_deeply_nested_settings_refused(run_module, conf):
    settings = leaf = {}
    for dummy in range(200):
        leaf['ServerConfig'] = {}
        leaf = leaf['ServerConfig']
    result = refused(run_module, conf, {'settings': settings, 'allow_unknown_keys': True})
    assert result['msg'].startswith('settings nest lists or dicts more than 64 levels deep')


def test_nan_in_file_refused(run_module, tmp_path):
    path = str(tmp_path / 'config.json')
    with open(path, 'w') as handle:
        handle.write('{"ServerConfig": {"port": NaN}}\n')
    result = refused(run_module, path, {})
    assert 'NaN is not a JSON number' in result['msg']


def test_nan_in_settings_refused(run_module, conf):
    result = refused(run_module, conf, {'allow_unknown_keys': True, 'settings': {'LogConfig': {'x': float('nan')}}})
    assert result['msg'].startswith('settings hold a value JSON cannot represent at `LogConfig.x`')


@pytest.mark.parametrize('name', ['config.json', 'src.json'])
def test_number_too_large_in_the_file_names_the_file(run_module, tmp_path, name):
    path, src = str(tmp_path / 'config.json'), str(tmp_path / 'src.json')
    bad = '{"ServerConfig": {"port": 1025, "tokenTimeout": 1e400}}\n'
    with open(path if name == 'config.json' else src, 'w') as handle:
        handle.write(bad)
    if name == 'config.json':
        result = refused(run_module, path, {'settings': server(port=1040)})
    else:
        names = listing(src)
        result = run_module(mindie_config.main, {'path': path, 'src': src, 'settings': server(port=1040)},
                            expect_fail=True)
        assert listing(src) == names
    where = path if name == 'config.json' else src
    assert result['msg'].startswith('{0} holds a number too large for a double (such as 1e400, which reads as '
                                    'infinity) at `ServerConfig.tokenTimeout`'.format(where))
    assert 'settings hold' not in result['msg']


@pytest.mark.parametrize('name', ['config.json', 'src.json'])
def test_duplicate_keys_in_the_file_refused(run_module, tmp_path, name):
    path, src = str(tmp_path / 'config.json'), str(tmp_path / 'src.json')
    with open(path if name == 'config.json' else src, 'w') as handle:
        handle.write('{"ServerConfig": {"port": 1025, "port": 80}}\n')
    if name == 'config.json':
        result = refused(run_module, path, {'settings': server(port=1040)})
    else:
        result = run_module(mindie_config.main, {'path': path, 'src': src, 'settings': server(port=1040)},
                            expect_fail=True)
        assert not os.path.exists(path)
    assert result['msg'].startswith('{0} has the same key more than once in one object: `ServerConfig.port`.'.format(
        path if name == 'config.json' else src))


def test_non_string_keys_in_settings_refused(run_module, conf):
    # the module's argument handling already turns the key into "1025": an unknown key, not a traceback
    result = refused(run_module, conf, {'settings': {'ServerConfig': {1025: 'port'}}})
    assert result['violations'][0].startswith('`ServerConfig.1025`: unknown key')
