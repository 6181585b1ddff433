# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/mindie_schema.py on the real config variants and the guide's example."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import io
import json
import os

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema as ms

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'mindie')


def fixture_text(name):
    with io.open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


@pytest.fixture
def rc3():
    return ms.load_config_text(fixture_text('config.json_1.0.RC3'))


@pytest.fixture
def sim():
    return ms.load_config_text(fixture_text('config.json_1.0.0_sim_default'))


@pytest.fixture
def guide():
    return json.loads(fixture_text('guide_example.json'))


def qwen_settings():
    return {
        'ServerConfig': {'port': 1040, 'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False},
        'BackendConfig': {
            'npuDeviceIds': [[0, 1, 2, 3, 4, 5, 6, 7]],
            'ModelDeployConfig': {'maxSeqLen': 50000, 'maxInputTokenLen': 50000, 'ModelConfig': [
                {'modelName': 'qwen2_vl', 'modelWeightPath': '/data/Qwen2-VL-7B-Instruct', 'worldSize': 8,
                 'npuMemSize': 8}]},
            'ScheduleConfig': {'maxPrefillTokens': 50000, 'maxBatchSize': 32, 'maxPrefillBatchSize': 32},
        },
    }


def model(cfg, index=0):
    return cfg['BackendConfig']['ModelDeployConfig']['ModelConfig'][index]


# --- real variants ---------------------------------------------------------------------------------------------

def test_rc3_fixture_parses_and_is_valid(rc3):
    assert list(rc3)[:2] == ['Version', 'LogConfig']
    assert rc3['BackendConfig']['ScheduleConfig']['maxPrefillBatchSize'] == 50
    assert ms.validate_config(rc3) == []


def test_shipped_default_is_valid_llama_with_auto_npu_mem(sim):
    assert model(sim)['npuMemSize'] == -1 and model(sim)['modelName'] == 'llama_65b'
    assert ms.validate_config(sim) == []
    # the same file forced multimodal breaks the rule
    assert ms.validate_config(sim, multimodal=True) == [
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize`: is -1 but the model is multimodal '
        '(multimodal: true): MindIE needs HBM left for the vision encoder, set a fixed size in GB '
        '(e.g. 8 for Qwen2-VL-7B on 8 NPUs)']


def test_qwen_settings_on_both_variants_are_valid(rc3, sim):
    for base in (rc3, sim):
        merged, problems = ms.merge_and_check(base, qwen_settings())
        assert problems == []
        assert model(merged)['npuMemSize'] == 8


# --- deep merge ------------------------------------------------------------------------------------------------

def test_merge_list_of_objects_changes_only_named_key(sim):
    merged = ms.deep_merge(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'worldSize': 8}]}}})
    expected = copy.deepcopy(model(sim))
    expected['worldSize'] = 8
    assert model(merged) == expected
    assert model(merged)['cpuMemSize'] == 5 and model(merged)['backendType'] == 'atb'
    assert list(model(merged)) == list(model(sim))
    assert model(sim)['worldSize'] == 4  # the input is not modified


def test_merge_appends_extra_list_elements_and_keeps_missing_ones(sim):
    merged = ms.deep_merge(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{}, {'modelName': 'b'}]}}})
    models = merged['BackendConfig']['ModelDeployConfig']['ModelConfig']
    assert models[0] == model(sim) and models[1] == {'modelName': 'b'}
    base = {'a': [{'x': 1}, {'x': 2}]}
    assert ms.deep_merge(base, {'a': [{'y': 1}]}) == {'a': [{'x': 1, 'y': 1}, {'x': 2}]}


def test_merge_replaces_nested_and_scalar_lists(sim):
    merged = ms.deep_merge(sim, {'BackendConfig': {'npuDeviceIds': [[0, 1], [2, 3]]},
                                 'ServerConfig': {'tlsCaFile': ['x.pem']}})
    assert merged['BackendConfig']['npuDeviceIds'] == [[0, 1], [2, 3]]
    assert merged['ServerConfig']['tlsCaFile'] == ['x.pem']
    assert ms.deep_merge({'a': [1, 2, 3]}, {'a': [9]}) == {'a': [9]}
    assert ms.deep_merge({'a': [{'x': 1}]}, {'a': []}) == {'a': []}


def test_merge_keeps_order_and_appends_new_keys(sim):
    merged = ms.deep_merge(sim, {'ServerConfig': {'port': 1040, 'newKey': 1}, 'Extra': {}})
    assert list(merged) == list(sim) + ['Extra']
    assert list(merged['ServerConfig']) == list(sim['ServerConfig']) + ['newKey']
    assert merged['ServerConfig']['port'] == 1040
    rest = dict((k, v) for k, v in merged['ServerConfig'].items() if k not in ('port', 'newKey'))
    assert rest == dict((k, v) for k, v in sim['ServerConfig'].items() if k != 'port')


def test_merge_scalar_replaces_dict_and_dict_replaces_scalar():
    assert ms.deep_merge({'a': {'b': 1}}, {'a': 3}) == {'a': 3}
    assert ms.deep_merge({'a': 3}, {'a': {'b': 1}}) == {'a': {'b': 1}}


# --- validation rules, one at a time --------------------------------------------------------------------------

def broken(base, settings, multimodal=None):
    return ms.validate_config(ms.deep_merge(base, settings), multimodal=multimodal)


@pytest.mark.parametrize('key', ['port', 'managementPort', 'metricsPort', 'interCommPort'])
@pytest.mark.parametrize('value', [80, 1023, 65536, 0])
def test_server_ports_range(sim, key, value):
    assert broken(sim, {'ServerConfig': {key: value}}) == [
        '`ServerConfig.{0}`: must be in [1024, 65535], got {1}'.format(key, value)]


@pytest.mark.parametrize('value', [1024, 65535, 1025])
def test_server_ports_edges_pass(sim, value):
    assert broken(sim, {'ServerConfig': {'port': value, 'managementPort': value, 'metricsPort': value}}) == []


def test_multi_nodes_port_and_absent_optional_ports(sim):
    assert broken(sim, {'BackendConfig': {'multiNodesInferPort': 99}}) == [
        '`BackendConfig.multiNodesInferPort`: must be in [1024, 65535], got 99']
    trimmed = copy.deepcopy(sim)
    del trimmed['ServerConfig']['interCommPort']
    del trimmed['BackendConfig']['multiNodesInferPort']
    assert ms.validate_config(trimmed) == []


def test_port_type_error(sim):
    assert broken(sim, {'ServerConfig': {'port': '1040'}}) == [
        '`ServerConfig.port`: must be an integer in [1024, 65535], got "1040"']
    assert broken(sim, {'ServerConfig': {'port': True}}) == [
        '`ServerConfig.port`: must be an integer in [1024, 65535], got true']


@pytest.mark.parametrize('key', ['ipAddress', 'managementIpAddress'])
def test_all_zero_ip(sim, key):
    problems = broken(sim, {'ServerConfig': {key: '0.0.0.0'}})
    assert len(problems) == 1 and problems[0].startswith('`ServerConfig.{0}`: is 0.0.0.0'.format(key))
    assert 'allowAllZeroIpListening' in problems[0]
    assert broken(sim, {'ServerConfig': {key: '0.0.0.0', 'allowAllZeroIpListening': True}}) == []


def test_instances_equal_groups(sim):
    assert broken(sim, {'BackendConfig': {'modelInstanceNumber': 2}}) == [
        '`BackendConfig.modelInstanceNumber`: is 2 but `BackendConfig.npuDeviceIds` has 1 group(s); '
        'they must be equal (one NPU group per instance)']
    assert broken(sim, {'BackendConfig': {'modelInstanceNumber': 2, 'npuDeviceIds': [[0, 1, 2, 3], [4, 5, 6, 7]]}}) == []


def test_group_size_equals_world_size(sim):
    assert broken(sim, {'BackendConfig': {'npuDeviceIds': [[0, 1, 2, 3, 4, 5, 6, 7]]}}) == [
        '`BackendConfig.npuDeviceIds[0]`: has 8 NPU(s) [0, 1, 2, 3, 4, 5, 6, 7] but '
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].worldSize` is 4; each group must have worldSize NPUs']


def test_world_size_of_every_model(sim):
    problems = broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{}, {'worldSize': 2}]}}})
    assert problems == ['`BackendConfig.npuDeviceIds[0]`: has 4 NPU(s) [0, 1, 2, 3] but '
                        '`BackendConfig.ModelDeployConfig.ModelConfig[1].worldSize` is 2; each group must have '
                        'worldSize NPUs']


def test_npu_device_ids_type(sim):
    for bad in ([0, 1, 2, 3], [], [['0']], 'all'):
        problems = broken(sim, {'BackendConfig': {'npuDeviceIds': bad}})
        assert len(problems) == 1 and problems[0].startswith('`BackendConfig.npuDeviceIds`: must be a non-empty list')


def test_prefill_tokens_at_least_input_len(sim):
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxPrefillTokens': 2047}}}) == [
        '`BackendConfig.ScheduleConfig.maxPrefillTokens`: is 2047, smaller than '
        '`BackendConfig.ModelDeployConfig.maxInputTokenLen` (2048); it must be >= maxInputTokenLen']
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxPrefillTokens': 2048}}}) == []


def test_input_len_above_seq_len_is_accepted(sim):
    """MindIE caps a request at min(maxInputTokenLen, maxSeqLen - 1); only [1, 4194304] is checked (conformance table)."""
    assert broken(sim, {'BackendConfig': {'ModelDeployConfig': {'maxInputTokenLen': 2561},
                                          'ScheduleConfig': {'maxPrefillTokens': 8192}}}) == []


def test_prefill_batch_at_most_batch_and_zero_allowed(sim):
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxBatchSize': 32}}}) == [
        '`BackendConfig.ScheduleConfig.maxPrefillBatchSize`: is 50, larger than '
        '`BackendConfig.ScheduleConfig.maxBatchSize` (32); set it <= maxBatchSize, or 0 to use maxBatchSize']
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxBatchSize': 32, 'maxPrefillBatchSize': 0}}}) == []
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxBatchSize': 32, 'maxPrefillBatchSize': 32}}}) == []


@pytest.mark.parametrize('section,key,low,high', [
    ('BackendConfig.ScheduleConfig', 'maxBatchSize', 1, 819200),
    ('ServerConfig', 'maxLinkNum', 1, 4096),
    ('BackendConfig.ScheduleConfig', 'cacheBlockSize', 1, 128),
])
def test_ranges(sim, section, key, low, high):
    def setting(value):
        out = leaf = {}
        for part in section.split('.'):
            leaf[part] = {}
            leaf = leaf[part]
        leaf[key] = value
        if key == 'maxBatchSize':
            leaf['maxPrefillBatchSize'] = 0
        return out
    for bad in (low - 1, high + 1):
        assert broken(sim, setting(bad)) == ['`{0}.{1}`: must be in [{2}, {3}], got {4}'.format(
            section, key, low, high, bad)]
    for good in (low, high):
        assert broken(sim, setting(good)) == []


@pytest.mark.parametrize('name', ['a b', '', 'x' * 257, 'llama/7b', 7])
def test_model_name_pattern(sim, name):
    problems = broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': name}]}}})
    assert len(problems) == 1
    assert problems[0].startswith('`BackendConfig.ModelDeployConfig.ModelConfig[0].modelName`: must match')


@pytest.mark.parametrize('mem', [0, -2, '8', 2.5, None])
def test_npu_mem_size_values(sim, mem):
    problems = broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'npuMemSize': mem}]}}})
    assert problems == ['`BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize`: must be -1 (auto) or a '
                        'positive integer (GB of KV cache per NPU), got {0}'.format(json.dumps(mem))]


def test_npu_mem_size_multimodal(sim):
    settings = {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl'}]}}}
    problems = broken(sim, settings)
    assert problems == ['`BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize`: is -1 but the model is '
                        'multimodal ("qwen2_vl"): MindIE needs HBM left for the vision encoder, set a fixed size '
                        'in GB (e.g. 8 for Qwen2-VL-7B on 8 NPUs)']
    assert broken(sim, settings, multimodal=False) == []
    settings['BackendConfig']['ModelDeployConfig']['ModelConfig'][0]['npuMemSize'] = 8
    assert broken(sim, settings) == []


@pytest.mark.parametrize('name,path,expected', [
    ('qwen2_vl', '/data/x', True),
    ('Qwen2-VL-7B-Instruct', '/data/x', True),
    ('qwen-vl-chat', '/data/x', True),
    ('Qwen2.5-VL-7B', '/data/x', True),
    ('mymodel', '/data/Qwen2-VL-7B-Instruct', True),
    ('InternVL2-8B', '/d', True),
    ('llava-1.5', '/d', True),
    ('model_vl', '/d', True),
    ('QWEN2_VL', '/d', True),
    ('llama_65b', '/data/atb_testdata/weights/llama1-65b-safetensors', False),
    ('Qwen1.5-72B-Chat', '/mf_model/qwen1_5_72b', False),
    ('devil', '/data/evl', False),
    ('qwen2', '/data/Qwen2-7B-Instruct', False),
])
def test_multimodal_detection(name, path, expected):
    assert ms.is_multimodal({'modelName': name, 'modelWeightPath': path}) is expected


def test_several_violations_at_once(sim):
    problems = broken(sim, {
        'ServerConfig': {'port': 80, 'ipAddress': '0.0.0.0', 'maxLinkNum': 0},
        'BackendConfig': {
            'modelInstanceNumber': 2,
            'ModelDeployConfig': {'maxInputTokenLen': 9000,
                                  'ModelConfig': [{'modelName': 'Qwen2-VL-7B', 'npuMemSize': -1}]},
            'ScheduleConfig': {'maxBatchSize': 0, 'cacheBlockSize': 256},
        }})
    paths = [p.split('`')[1] for p in problems]
    assert paths == ['ServerConfig.port', 'ServerConfig.ipAddress', 'ServerConfig.maxLinkNum',
                     'BackendConfig.modelInstanceNumber',    # maxInputTokenLen 9000 > maxSeqLen 2560 is accepted
                     'BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize',
                     'BackendConfig.ScheduleConfig.maxBatchSize', 'BackendConfig.ScheduleConfig.maxPrefillTokens',
                     'BackendConfig.ScheduleConfig.cacheBlockSize']


def test_wrong_section_types():
    problems = ms.validate_config({'ServerConfig': [], 'BackendConfig': {'ModelDeployConfig': {'ModelConfig': {}}}})
    assert problems == ['`ServerConfig`: must be a JSON object, got []',
                        '`BackendConfig.ModelDeployConfig.ModelConfig`: must be a list of model objects, got {}']


# --- unknown keys ------------------------------------------------------------------------------------------------

def test_unknown_key_suggestion(sim):
    assert ms.find_unknown_keys({'BackendConfig': {'ScheduleConfig': {'maxBatchsize': 1}}}, sim) == [
        '`BackendConfig.ScheduleConfig.maxBatchsize`: unknown key; did you mean `maxBatchSize`?']
    assert ms.find_unknown_keys({'ServerConfig': {'metricPort': 1}}, sim) == [
        '`ServerConfig.metricPort`: unknown key; did you mean `metricsPort`?']


def test_unknown_key_in_list_element_and_known_key_elsewhere(sim):
    problems = ms.find_unknown_keys(
        {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'npumemsize': 8}, {'maxBatchSize': 4}]}}}, sim)
    assert problems == [
        '`BackendConfig.ModelDeployConfig.ModelConfig[0].npumemsize`: unknown key; did you mean `npuMemSize`?',
        '`BackendConfig.ModelDeployConfig.ModelConfig[1].maxBatchSize`: unknown key at this level; '
        '`maxBatchSize` belongs in `BackendConfig.ScheduleConfig`.']


def test_known_keys_of_other_releases_and_keys_of_the_file_are_accepted(sim, rc3):
    # 2.x keys onto a 1.0.RC3 file, 1.0.RC3 keys onto the 1.0.0 file, 2.x/3.0 keys anywhere
    assert ms.find_unknown_keys({'ServerConfig': {'tlsCrlPath': 'a/', 'tlsCrlFiles': ['b'], 'tokenTimeout': 60},
                                 'HealthCheckConfig': {'anything': 1}}, rc3) == []
    assert ms.find_unknown_keys({'ServerConfig': {'tlsCrl': 'x'}, 'LogConfig': {'logLevel': 'Debug'}}, sim) == []
    custom = {'ServerConfig': {'vendorKey': 1}}
    assert ms.find_unknown_keys({'ServerConfig': {'vendorKey': 2}}, custom) == []
    # a new unknown key is not descended into
    assert len(ms.find_unknown_keys({'Foo': {'bar': 1}}, sim)) == 1


def test_guide_example_has_comments():
    # the guide's section 6.1.2 example, verbatim
    body = fixture_text('guide_example_with_comments.jsonc')
    with pytest.raises(ms.ConfigParseError) as info:
        ms.load_config_text(body, source='guide.json')
    assert 'contains comments (line 11 column 38' in str(info.value)
    assert 'comments are not valid JSON' in str(info.value)
    assert json.loads(fixture_text('guide_example.json')) == ms.load_config_text(fixture_text('guide_example.json'))


def test_guide_example_onto_shipped_default(sim, guide):
    merged, problems = ms.merge_and_check(sim, guide)
    unknown = [p for p in problems if 'unknown key' in p]
    assert unknown[0] == ('`ServerConfig.timeoutInSeconds`: unknown key; no known MindIE release has it here. '
                          'Remove it, or set allow_unknown_keys if your MindIE version really reads it.')
    assert [p.split('`')[1] for p in unknown] == [
        'ServerConfig.timeoutInSeconds',
        'BackendConfig.ModelDeployConfig.ModelConfig[0].maxBatchSize',
        'BackendConfig.ModelDeployConfig.ModelConfig[0].maxInputTokens',
        'BackendConfig.ModelDeployConfig.ModelConfig[0].maxOutputTokens',
        'BackendConfig.ScheduleConfig.maxWaitingTimeInMs']
    assert 'did you mean' not in ' '.join(unknown)
    # its only rule violation is the shipped maxPrefillBatchSize 50 against its maxBatchSize 32
    rules = [p for p in problems if 'unknown key' not in p]
    assert rules == ['`BackendConfig.ScheduleConfig.maxPrefillBatchSize`: is 50, larger than '
                     '`BackendConfig.ScheduleConfig.maxBatchSize` (32); set it <= maxBatchSize, or 0 to use '
                     'maxBatchSize']
    assert ms.merge_and_check(sim, guide, allow_unknown_keys=True)[1] == rules
    guide['BackendConfig']['ScheduleConfig']['maxPrefillBatchSize'] = 32
    merged, problems = ms.merge_and_check(sim, guide, allow_unknown_keys=True)
    assert problems == []
    assert model(merged)['cpuMemSize'] == 5 and model(merged)['npuMemSize'] == 8
    assert merged['ServerConfig']['timeoutInSeconds'] == 300


def test_parse_errors_name_line_and_column():
    with pytest.raises(ms.ConfigParseError) as info:
        ms.load_config_text('{\n  "a": 1,\n  "b": ,\n}', source='c.json')
    assert 'c.json is not valid JSON' in str(info.value) and 'line 3 column 8' in str(info.value)
    with pytest.raises(ms.ConfigParseError) as info:
        ms.load_config_text('[1]', source='c.json')
    assert 'must hold a JSON object' in str(info.value)


def test_comments_found_outside_strings_only():
    assert ms.find_comments('{"url": "http://x/*y*/"}') == []
    assert ms.find_comments('{\n "a": 1, /* c */ "b": 2 // d\n}') == [(2, 10), (2, 25)]


def test_dump_config_format():
    assert ms.dump_config({'a': [1, 2], 'b': {'c': u'\u4e2d'}}) == (
        u'{\n    "a": [\n        1,\n        2\n    ],\n    "b": {\n        "c": "\u4e2d"\n    }\n}\n')


# --- hardening: ports, NPUs, booleans, addresses, limits, parsing -----------------------------------------

def ports(sim, **values):
    return broken(sim, {'ServerConfig': values})


@pytest.mark.parametrize('p,m,x', [(1040, 1040, 1040), (1040, 1040, 1042), (1040, 1041, 1041), (1040, 1041, 1042)])
def test_port_layouts_accepted_on_one_address(sim, p, m, x):
    assert ports(sim, port=p, managementPort=m, metricsPort=x, ipAddress='127.0.0.1', managementIpAddress='127.0.0.1') == []


def test_port_equal_metrics_port_alone_refused_on_one_address(sim):
    problems = ports(sim, port=1040, managementPort=1041, metricsPort=1040, ipAddress='127.0.0.1',
                     managementIpAddress='127.0.0.1')
    assert len(problems) == 1 and problems[0].startswith('`ServerConfig.metricsPort`: is 1040, the same as `ServerConfig.port`')


def test_port_equal_metrics_port_on_different_addresses_accepted(sim):
    # http_server.cpp: different addresses -> ALL_DIFFERENT servers, business on 127.0.0.1, metrics on 127.0.0.2
    assert ports(sim, port=1040, managementPort=1041, metricsPort=1040, ipAddress='127.0.0.1',
                 managementIpAddress='127.0.0.2') == []


def test_management_address_defaults_to_ip_address(sim):
    trimmed = copy.deepcopy(sim)
    del trimmed['ServerConfig']['managementIpAddress']
    trimmed['ServerConfig'].update(port=1040, managementPort=1041, metricsPort=1040, ipAddress='10.0.0.1')
    assert [p.split('`')[1] for p in ms.validate_config(trimmed)] == ['ServerConfig.metricsPort']
    # managementPort absent: it is port, so port = metricsPort is the one-server layout
    del trimmed['ServerConfig']['managementPort']
    assert ms.validate_config(trimmed) == []


@pytest.mark.parametrize('ip,mgmt,overlap', [
    ('0.0.0.0', '127.0.0.1', True), ('127.0.0.1', '0.0.0.0', True), ('::', '127.0.0.1', True),
    ('0.0.0.0', '::1', False), ('::1', '0::1', True), ('10.0.0.1', '127.0.0.1', False), ('[::1]', '::1', True),
])
def test_addresses_overlap(ip, mgmt, overlap):
    assert ms.addresses_overlap(ip, mgmt) is overlap


def test_interconnect_port_only_listened_on_in_dmi_mode(sim):
    assert ports(sim, interCommPort=1025) == []
    problems = ports(sim, interCommPort=1025, inferMode='dmi')
    assert len(problems) == 1 and problems[0].startswith('`ServerConfig.interCommPort`: is 1025, and `ServerConfig.port`')


def test_multi_nodes_infer_port_rules(sim):
    assert broken(sim, {'ServerConfig': {'port': 1120}}) == [
        '`ServerConfig.port`: is 1120, equal to `BackendConfig.multiNodesInferPort` (1120); MindIE refuses this '
        '("Endpoint port cannot be equal to multiNodesInferPort"): choose another port']
    trimmed = copy.deepcopy(sim)
    del trimmed['BackendConfig']['multiNodesInferPort']
    trimmed['ServerConfig']['port'] = 1120
    assert ms.validate_config(trimmed)[0].endswith('(1120 (its default when the key is absent)); MindIE refuses this '
                                                   '("Endpoint port cannot be equal to multiNodesInferPort"): choose '
                                                   'another port')
    # managementPort on it: only a problem when multi-node inference is on
    assert broken(sim, {'ServerConfig': {'managementPort': 1120}}) == []
    problems = broken(sim, {'ServerConfig': {'managementPort': 1120}, 'BackendConfig': {'multiNodesInferEnabled': True}})
    assert [p.split('`')[1] for p in problems] == ['BackendConfig.multiNodesInferPort']


def test_reserved_ports(sim):
    reserved = [{'port': 1025, 'owner': 'instance mindie-2'}, {'port': 1120, 'owner': 'sshd (pid 812)'}]
    problems = ms.validate_config(sim, reserved_ports=reserved)
    assert [p.split('`')[1] for p in problems] == ['ServerConfig.port', 'BackendConfig.multiNodesInferPort']
    assert 'already used by instance mindie-2' in problems[0] and 'already used by sshd (pid 812)' in problems[1]
    assert ms.validate_config(sim, reserved_ports=[{'port': 2222, 'owner': 'x'}]) == []


def test_npu_groups(sim):
    settings = {'BackendConfig': {'modelInstanceNumber': 2, 'npuDeviceIds': [[0, 1, 2, 2], [2, 9, 10, 11]]}}
    problems = ms.validate_config(ms.deep_merge(sim, settings), npu_count=8)
    assert [p.split('`')[1] for p in problems] == ['BackendConfig.npuDeviceIds[0]', 'BackendConfig.npuDeviceIds[1]',
                                                   'BackendConfig.npuDeviceIds']
    assert problems[2].endswith('names NPU id(s) 9, 10, 11, which the node does not have: it has 8 NPU(s), logical ids 0..7')
    assert ms.validate_config(sim, npu_count=4) == [] and ms.validate_config(sim) == []
    assert ms.validate_config(sim, npu_count=0)[0].endswith('it has 0 NPU(s), logical ids (none)')
    problems = broken(sim, {'BackendConfig': {'npuDeviceIds': [[]]}})
    assert problems[0].startswith('`BackendConfig.npuDeviceIds[0]`: is empty')


def test_empty_model_config(sim):
    assert broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': []}}})[0].startswith(
        '`BackendConfig.ModelDeployConfig.ModelConfig`: is empty; MindIE needs at least one model')


@pytest.mark.parametrize('value', ['false', 'true', 'False', ' TRUE ', 'yes', '0'])
def test_string_booleans(sim, value):
    problems = broken(sim, {'ServerConfig': {'httpsEnabled': value}})
    assert problems == ['`ServerConfig.httpsEnabled`: is the string {0}, but MindIE expects a JSON boolean: give '
                        'true/false without quotes (in YAML: `httpsEnabled: false`, not `httpsEnabled: "false"`; from '
                        'a variable: `{{{{ var | bool }}}}`)'.format(json.dumps(value))]


def test_other_non_booleans_and_truncation_integer(sim):
    assert broken(sim, {'ServerConfig': {'httpsEnabled': 1}}) == ['`ServerConfig.httpsEnabled`: must be true or false, got 1']
    assert broken(sim, {'BackendConfig': {'ModelDeployConfig': {'truncation': 2}}}) == []
    assert broken(sim, {'BackendConfig': {'ModelDeployConfig': {'truncation': 'x'}}}) == [
        '`BackendConfig.ModelDeployConfig.truncation`: must be true or false (or an integer), got "x"']
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'supportSelectBatch': 'true'}}})[0].startswith(
        '`BackendConfig.ScheduleConfig.supportSelectBatch`: is the string "true"')


@pytest.mark.parametrize('value,ok', [('127.0.0.1', True), ('::1', True), ('[fd00::1]', True), ('localhost', False),
                                      ('127.1', False), ('010.0.0.1', False), ('fe80::1%eth0', False), (None, False),
                                      ('1.2.3.4 ', False)])
def test_parse_ip(value, ok):
    assert (ms.parse_ip(value) is not None) is ok


def test_all_zero_ipv6_needs_allow(sim):
    assert broken(sim, {'ServerConfig': {'ipAddress': '::'}})[0].startswith('`ServerConfig.ipAddress`: is ::, which')
    assert broken(sim, {'ServerConfig': {'ipAddress': '::', 'allowAllZeroIpListening': True}}) == []


@pytest.mark.parametrize('name', ['-qwen', 'qwen-', '.x', 'x_', 'a' * 255 + '_'])
def test_model_name_ends(sim, name):
    problems = broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': name}]}}})
    assert len(problems) == 1 and 'start and end with a letter or digit' in problems[0]


@pytest.mark.parametrize('name', ['a', 'Qwen2.5-VL-7B', 'llama_65b', '7'])
def test_model_name_good(sim, name):
    assert broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': name}]}}},
                  multimodal=False) == []


def test_limits(sim):
    assert broken(sim, {'BackendConfig': {'tokenizerProcessNumber': 33}}) == [
        '`BackendConfig.tokenizerProcessNumber`: must be in [1, 32], got 33']
    assert broken(sim, {'BackendConfig': {'tokenizerProcessNumber': 32}}) == []
    assert broken(sim, {'BackendConfig': {'modelInstanceNumber': 11}})[0] == (
        '`BackendConfig.modelInstanceNumber`: must be in [1, 10], got 11')
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxIterTimes': 2561}}}) == [
        '`BackendConfig.ScheduleConfig.maxIterTimes`: is 2561, larger than `BackendConfig.ModelDeployConfig.maxSeqLen` '
        '(2560); it must be <= maxSeqLen']
    assert broken(sim, {'BackendConfig': {'ScheduleConfig': {'maxIterTimes': 0}}}) == [
        '`BackendConfig.ScheduleConfig.maxIterTimes`: must be in [1, ...], got 0']
    big = {'BackendConfig': {'ModelDeployConfig': {'maxSeqLen': 9000000, 'maxInputTokenLen': 4194305},
                             'ScheduleConfig': {'maxPrefillTokens': 9000000}}}
    assert broken(sim, big) == ['`BackendConfig.ModelDeployConfig.maxInputTokenLen`: must be in [1, 4194304], got 4194305']
    big['BackendConfig']['ModelDeployConfig']['maxInputTokenLen'] = 4194304
    assert broken(sim, big) == []


def test_nesting_depth():
    assert ms.nesting_depth(1) == 0 and ms.nesting_depth({}) == 1 and ms.nesting_depth({'a': [[1]]}) == 3
    deep = leaf = []
    for dummy in range(100000):
        leaf.append([])
        leaf = leaf[0]
    assert ms.nesting_depth(deep) == ms.MAX_DEPTH + 1  # stops counting past the limit, no recursion


@pytest.mark.parametrize('depth', [65, 100000])
def test_deep_json_is_a_parse_error(depth):
    with pytest.raises(ms.ConfigParseError, match='nests lists or objects too deeply'):
        ms.load_config_text('{"a": ' + '[' * depth + ']' * depth + '}')
    assert ms.load_config_text('{"a": ' + '[' * 63 + ']' * 63 + '}')


@pytest.mark.parametrize('constant', ['NaN', 'Infinity', '-Infinity'])
def test_nan_is_a_parse_error(constant):
    with pytest.raises(ms.ConfigParseError, match='{0} is not a JSON number'.format(constant.lstrip('-'))):
        ms.load_config_text('{"a": ' + constant + '}')


def test_dump_refuses_nan():
    with pytest.raises(ValueError):
        ms.dump_config({'a': float('nan')})


def test_non_string_keys_refused(sim):
    for allow in (False, True):
        merged, problems = ms.merge_and_check(sim, {'ServerConfig': {1: 2, 'port': 1040}, True: 'x'},
                                              allow_unknown_keys=allow)
        assert problems == ['`(top level)`: key True is not a string; config.json keys are strings (quote it in YAML)',
                            '`ServerConfig`: key 1 is not a string; config.json keys are strings (quote it in YAML)']
        assert merged == sim


# --- hardening (issue 10) ------------------------------------------------------------------------------------


@pytest.mark.parametrize('name', ['abc\n', 'qwen2_vl\n', 'a\n'])
def test_model_name_trailing_newline_refused(sim, name):
    # `$` matches before a trailing newline; the patterns are applied with fullmatch
    problems = broken(sim, {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': name}]}}},
                      multimodal=False)
    assert len(problems) == 1 and 'start and end with a letter or digit' in problems[0]


@pytest.mark.parametrize('value,ok', [('[127.0.0.1]', False), ('[0.0.0.0]', False), ('[::1]', True),
                                      ('[::ffff:1.2.3.4]', True), ('::ffff:0.0.0.0', True)])
def test_parse_ip_brackets_only_around_ipv6(value, ok):
    assert (ms.parse_ip(value) is not None) is ok


@pytest.mark.parametrize('value', ['::ffff:0.0.0.0', '[::ffff:0.0.0.0]', '::ffff:0:0'])
def test_ipv4_mapped_all_zero_needs_allow(sim, value):
    assert broken(sim, {'ServerConfig': {'ipAddress': value}})[0].startswith(
        '`ServerConfig.ipAddress`: is {0} (the IPv4-mapped form of 0.0.0.0'.format(value))
    assert broken(sim, {'ServerConfig': {'ipAddress': value, 'allowAllZeroIpListening': True}}) == []


@pytest.mark.parametrize('ip,mgmt,overlap', [
    ('::ffff:0.0.0.0', '127.0.0.1', True), ('::ffff:127.0.0.1', '127.0.0.1', True), ('::ffff:10.0.0.1', '127.0.0.1', False),
])
def test_addresses_overlap_ipv4_mapped(ip, mgmt, overlap):
    assert ms.addresses_overlap(ip, mgmt) is overlap


@pytest.mark.parametrize('text,places', [
    ('{"ServerConfig": {"port": 1025, "port": 80}}', '`ServerConfig.port`'),
    ('{"a": 1, "a": 2, "a": 3, "b": {"c": [{"d": 1, "d": 1}]}}', '`a`, `b.c[0].d`'),
])
def test_duplicate_keys_are_a_parse_error(text, places):
    with pytest.raises(ms.ConfigParseError) as info:
        ms.load_config_text(text, source='/x/config.json')
    assert str(info.value).startswith('/x/config.json has the same key more than once in one object: {0}.'.format(places))


def test_same_key_in_different_objects_is_fine():
    assert ms.load_config_text('{"a": {"port": 1}, "b": {"port": 2}}') == {'a': {'port': 1}, 'b': {'port': 2}}


@pytest.mark.parametrize('number', ['1e400', '-1e400', '1' + '0' * 400 + '.0'])
def test_number_too_large_is_a_parse_error_naming_the_key(number):
    with pytest.raises(ms.ConfigParseError) as info:
        ms.load_config_text('{"ServerConfig": {"tokenTimeout": ' + number + '}}', source='/x/src.json')
    assert str(info.value).startswith('/x/src.json holds a number too large for a double (such as 1e400, which reads '
                                      'as infinity) at `ServerConfig.tokenTimeout`')


def test_non_finite_numbers():
    assert ms.non_finite_numbers({'a': [1.0, float('inf')], 'b': {'c': float('nan')}, 'd': 10 ** 400}) == [
        'a[1]', 'b.c']


def test_mindie_3_0_shipped_config_is_known_and_valid():
    # 3.0 moved HealthCheckConfig under ServerConfig and added layerwise/kvPool keys: a real 3.0 file must pass.
    config = ms.load_config_text(fixture_text('config.json_3.0_source'))
    assert ms.find_unknown_keys(config, None) == []
    assert ms.validate_config(config) == []


@pytest.mark.parametrize('value, ok', [(0, True), (100, True), (101, False), (-1, False), ('50', False), (True, False)])
def test_npu_usage_threshold_range(value, ok):
    config = ms.load_config_text(fixture_text('config.json_3.0_source'))
    config['ServerConfig']['HealthCheckConfig']['npuUsageThreshold'] = value
    problems = ms.validate_config(config)
    if ok:
        assert problems == []
    else:
        assert len(problems) == 1 and 'ServerConfig.HealthCheckConfig.npuUsageThreshold' in problems[0]
