# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_config through main() on temporary copies of the real config variants."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import hashlib
import json
import os
import shutil
import stat

import pytest

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
    result = run_module(mindie_config.main, {'path': conf, 'backup': True, 'settings': {'ServerConfig': {'port': 1040}}})
    assert os.path.isfile(result['backup_file']) and sha256(result['backup_file']) == digest
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
