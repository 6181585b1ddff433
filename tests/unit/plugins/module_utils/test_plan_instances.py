# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/plan.py: the node's instances (issue 13) - layouts on both profiles, explicit instances, ports."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import random

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import plan, profiles
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import (
    NPU_32G, NPU_64G, NPU_SUBSET, inputs,
)

G32, G64 = ['atlas_800i_a2_32g'], ['atlas_800i_a2_64g']
P32, P64 = profiles.PROFILE_32G, profiles.PROFILE_64G
LAYOUTS = ['1x8', '2x4', '4x2', '8x1', '1x4', '1x2', '1x1', '2x2', '4x1', '2x1', '3x2', '6x1']
GUIDE = {P32: {'1x8'}, P64: {'1x8', '2x4', '1x4'}}
FACTS = {P32: NPU_32G, P64: NPU_64G}
INSTANCE_KEYS = {
    'name', 'index', 'container', 'devices', 'device_ids', 'logical_devices', 'world_size', 'ports', 'master_port',
    'hccl', 'scheme', 'addresses', 'urls', 'client_urls', 'published', 'local_only', 'config_dir',
    'config_container_dir', 'log_dir', 'source',
}


def refusal(*args, **kwargs):
    with pytest.raises(plan.PlanError) as exc:
        plan.build_plan(*args, **kwargs)
    return str(exc.value)


def claims(got):
    """[(owner, set of ports)] of a plan, computed here from its output (not with plan.py's own helpers)."""
    out = []
    for instance in got['instances']:
        name = instance['name']
        out.append((name + ' http', set(instance['ports'][f] for f in ('business', 'management', 'metrics'))))
        out.append((name + ' inter_comm', {instance['ports']['inter_comm']}))
        out.append((name + ' multi_nodes_infer', {instance['ports']['multi_nodes_infer']}))
        out.append((name + ' master', {instance['master_port']}))
        out.append((name + ' hccl', set(range(instance['hccl']['first'], instance['hccl']['last'] + 1))))
    return out


def disjoint(got):
    every = claims(got)
    return all(not (a[1] & b[1]) for a, b in itertools.combinations(every, 2)) and all(
        1024 <= port <= 65535 for _owner, ports in every for port in ports)


# ------------------------------------------------------------------------------------------- the profile table

def test_the_profiles_name_the_guides_layouts():
    assert profiles.get_profile(P32)['guide_layouts'] == ['1x8']
    assert profiles.get_profile(P64)['guide_layouts'] == ['1x8', '2x4', '1x4']
    assert profiles.project(field='guide_layouts') == {P32: ['1x8'], P64: ['1x8', '2x4', '1x4']}
    # each guide layout fits the server and uses an NPU count the profile allows
    for name in profiles.profile_names():
        profile = profiles.get_profile(name)
        for text in profile['guide_layouts']:
            count, size = plan.parse_layout(text)
            assert count * size <= profile['chips'] and size in profile['npu_counts'], (name, text)


def test_the_lookup_and_the_filter_expose_the_guide_layouts(monkeypatch):
    from ansible_collections.ascend.mindie.plugins.filter.profiles import FilterModule
    from ansible_collections.ascend.mindie.plugins.lookup.mindie_profiles import LookupModule
    mindie_profile = FilterModule().filters()['mindie_profile']
    assert mindie_profile(P64, 'guide_layouts') == ['1x8', '2x4', '1x4']
    # options as Ansible's plugin loader sets them (as test_profiles.py's lookup fixture does)
    monkeypatch.setattr(LookupModule, 'set_options', lambda self, task_keys=None, var_options=None, direct=None: setattr(
        self, '_options', dict({'field': None, 'fields': None}, **(direct or {}))))
    monkeypatch.setattr(LookupModule, 'get_option', lambda self, name, hostvars=None: self._options[name])
    assert LookupModule().run([P32], field='guide_layouts') == [['1x8']]


# ------------------------------------------------------------------------------------------- every layout

@pytest.mark.parametrize('profile', [P32, P64])
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('with_facts', [True, False])
def test_every_layout_on_both_profiles_is_planned_refused_or_warned(profile, layout, with_facts):
    count, size = plan.parse_layout(layout)
    groups = G32 if profile == P32 else G64
    npu = FACTS[profile] if with_facts else None
    in_guide = layout in GUIDE[profile]
    if in_guide:
        got = plan.build_plan(inputs(layout=layout), npu=npu, group_names=groups, node_host='node1')
        assert got['warnings'] == []
    else:
        text = refusal(inputs(layout=layout), npu=npu, group_names=groups, host='node1')
        assert text.startswith('Cannot plan the MindIE instances of node1: layout %s is beyond the guide of %s' % (
            layout, profile))
        assert 'mindie_instance_layout_beyond_guide: true' in text
        for fitting in GUIDE[profile]:
            assert fitting in text
        got = plan.build_plan(inputs(layout=layout, layout_beyond_guide=True), npu=npu, group_names=groups,
                              node_host='node1')
        assert got['warnings'] == ['layout %s is beyond the guide of %s (its layouts: %s); planned because '
                                   'mindie_instance_layout_beyond_guide is true'
                                   % (layout, profile, ', '.join(profiles.get_profile(profile)['guide_layouts']))]
    assert (got['layout'], got['layout_source'], got['profile']) == (layout, 'layout', profile)
    instances = got['instances']
    assert len(instances) == count and [i['index'] for i in instances] == list(range(count))
    assert [i['devices'] for i in instances] == [list(range(i * size, (i + 1) * size)) for i in range(count)]
    assert all(i['world_size'] == size and i['device_ids'] == list(range(size)) == i['logical_devices']
               for i in instances)
    assert all(set(i) == INSTANCE_KEYS for i in instances)
    names = [i['name'] for i in instances]
    assert names == (['mindie'] if count == 1 else ['mindie-%d' % i for i in range(count)])
    assert [i['container'] for i in instances] == names
    assert [i['config_dir'] for i in instances] == (['/etc/mindie'] if count == 1 else ['/etc/mindie/' + n for n in names])
    assert [i['log_dir'] for i in instances] == ['/var/log/mindie/' + n for n in names]
    assert all(i['config_container_dir'] == '/etc/mindie' for i in instances)
    for index, instance in enumerate(instances):
        step = 10 * index
        assert instance['ports'] == {'business': 1040 + step, 'management': 1041 + step, 'metrics': 1042 + step,
                                     'inter_comm': 1121 + step, 'multi_nodes_infer': 1120 + step}
        assert instance['master_port'] == 7896 + index
        assert instance['hccl'] == {'base_port': 60000 + 32 * index, 'first': 60000 + 32 * index,
                                    'last': 60031 + 32 * index}
        assert instance['urls']['business'] == 'http://192.0.2.10:%d' % (1040 + step)
        assert instance['client_urls']['management'] == 'http://127.0.0.1:%d' % (1041 + step)
    assert disjoint(got)
    # the top level is instance 0's
    first = instances[0]
    assert (got['devices'], got['container'], got['config_dir'], got['master_port']) == (
        first['devices'], first['container'], first['config_dir'], first['master_port'])
    assert got['ports'] == {'business': 1040, 'management': 1041, 'metrics': 1042}


@pytest.mark.parametrize('layout, npu, groups, fragment', [
    ('2x8', None, G64, 'layout 2x8 needs 16 NPUs, but atlas-800i-a2-64g has 8; what fits: 1x8, 2x4, 1x4 (the '
                       "guide's); 4x2, 8x1 (beyond the guide, with mindie_instance_layout_beyond_guide: true)"),
    ('16x1', NPU_32G, G32, "layout 16x1 needs 16 NPUs, but npu-smi shows 8; what fits: 1x8 (the guide's); 2x4, 4x2, "
                           '8x1 (beyond the guide, with mindie_instance_layout_beyond_guide: true)'),
    # the NPUs npu-smi shows win over the profile's chips: a node (or container) showing four
    ('2x4', NPU_SUBSET, G64, "layout 2x4 needs 8 NPUs, but npu-smi shows 4; what fits: 1x4 (the guide's); 2x2, 4x1 "
                             '(beyond the guide, with mindie_instance_layout_beyond_guide: true)'),
    ('3x4', None, G64, 'layout 3x4 needs 12 NPUs'),
])
@pytest.mark.parametrize('beyond', [False, True])
def test_a_layout_the_node_cannot_hold_is_refused_with_what_fits(layout, npu, groups, fragment, beyond):
    text = refusal(inputs(layout=layout, layout_beyond_guide=beyond), npu=npu, group_names=groups, host='node3')
    assert text.startswith('Cannot plan the MindIE instances of node3: %s' % fragment), text


def test_the_npus_the_node_shows_are_the_ones_a_layout_may_use():
    # NPU_SUBSET shows NPUs 4-7 only: 1x4 takes 0-3 by default, which it does not have.
    text = refusal(inputs(layout='1x4'), npu=NPU_SUBSET, group_names=G64, host='node3')
    assert 'NPU 0, 1, 2, 3 of layout 1x4 are not on the node (npu-smi shows 4: 4, 5, 6, 7)' in text
    got = plan.build_plan(inputs(layout='1x4', npu_devices=[4, 5, 6, 7]), npu=NPU_SUBSET, group_names=G64)
    assert got['instances'][0]['devices'] == [4, 5, 6, 7] and got['instances'][0]['device_ids'] == [0, 1, 2, 3]


@pytest.mark.parametrize('layout, fragment', [
    ('2x3', 'mindie_instance_layout 2x3 gives each instance 3 NPUs; MindIE runs on 1, 2, 4 or 8 (for 6 NPUs: 1x4, 3x2, 6x1)'),
    ('4', "mindie_instance_layout '4' is not NxM (N instances of M NPUs each, such as 1x8 or 2x4)"),
    ('0x8', "mindie_instance_layout '0x8' is not NxM"),
    ('two by four', "mindie_instance_layout 'two by four' is not NxM"),
])
def test_a_layout_that_is_no_layout_is_refused(layout, fragment):
    assert fragment in refusal(inputs(layout=layout, layout_beyond_guide=True), group_names=G64)


def test_a_layout_takes_mindie_npu_devices_as_its_pool():
    got = plan.build_plan(inputs(layout='2x2', layout_beyond_guide=True, npu_devices=[7, 6, 1, 0]), group_names=G64)
    assert [i['devices'] for i in got['instances']] == [[7, 6], [1, 0]]
    assert [i['device_ids'] for i in got['instances']] == [[1, 0], [1, 0]]
    text = refusal(inputs(layout='2x4', npu_devices=[4, 5, 6, 7]), group_names=G64)
    assert ('mindie_instance_layout 2x4 takes 8 NPUs but mindie_npu_devices lists 4 ([4, 5, 6, 7]): list 8 ids, or '
            'take a layout of 4 NPUs (1x4, 2x2, 4x1)') in text
    # a pool of a count that is no single-instance count is fine for a layout (6 = 3x2)
    got = plan.build_plan(inputs(layout='3x2', layout_beyond_guide=True, npu_devices=[0, 1, 2, 3, 4, 5]), group_names=G64)
    assert [i['devices'] for i in got['instances']] == [[0, 1], [2, 3], [4, 5]]


def test_a_privileged_container_sees_every_npu_so_the_device_ids_are_physical():
    got = plan.build_plan(inputs(layout='2x4', container_privileged=True), group_names=G64)
    assert [i['device_ids'] for i in got['instances']] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_without_a_known_profile_the_guide_is_not_judged_but_the_npus_are():
    got = plan.build_plan(inputs(layout='4x2'), group_names=['mindie_nodes'])
    assert got['profile'] is None and got['warnings'] == [] and len(got['instances']) == 4
    assert 'npu-smi shows 8' in refusal(inputs(layout='16x1'), npu=dict(NPU_32G, profile=None))


def test_the_default_layout_is_one_instance_of_the_npu_count():
    assert plan.build_plan(inputs(), group_names=G32)['layout'] == '1x8'
    got = plan.build_plan(inputs(npu_count=4), group_names=G64)
    assert (got['layout'], got['layout_source'], len(got['instances'])) == ('1x4', 'default', 1)
    assert plan.build_plan(inputs(npu_devices=[4, 5]), group_names=G64)['layout'] == '1x2'
    # as every release: the prechecks' own npu_count check reports a count the profile does not allow
    assert plan.build_plan(inputs(npu_count=4), group_names=G32)['warnings'] == []
    assert plan.build_plan(inputs(layout=''), group_names=G32)['layout_source'] == 'default'


# ------------------------------------------------------------------------------------------- single instance

def test_a_single_instance_plan_keeps_the_names_ports_and_paths_of_every_release():
    got = plan.build_plan(inputs(), npu=NPU_32G, group_names=G32, node_host='node1')
    http = {'business': 'http://192.0.2.10:1040', 'management': 'http://127.0.0.1:1041', 'metrics': 'http://127.0.0.1:1042'}
    assert got == {
        'profile': P32, 'expected_profile': P32, 'detected_profile': P32,
        'devices': [0, 1, 2, 3, 4, 5, 6, 7], 'logical_devices': [0, 1, 2, 3, 4, 5, 6, 7], 'world_size': 8,
        'ports': {'business': 1040, 'management': 1041, 'metrics': 1042}, 'master_port': 7896,
        'container': 'mindie', 'container_base': 'mindie', 'model_path': '/data/Qwen2-VL-7B-Instruct', 'config_dir': '/etc/mindie',
        'config_container_dir': '/etc/mindie', 'model_name': 'qwen2_vl',
        'tls': {'server_name': None, 'ca': None, 'client_cert': None, 'client_key': None},
        'source': 'inventory', 'layout': '1x8', 'layout_source': 'default', 'warnings': [],
        'restart_limit': 5, 'restart_window': 600, 'log_root': '/var/log/mindie',
        'instances': [{
            'name': 'mindie', 'index': 0, 'container': 'mindie',
            'devices': [0, 1, 2, 3, 4, 5, 6, 7], 'device_ids': [0, 1, 2, 3, 4, 5, 6, 7],
            'logical_devices': [0, 1, 2, 3, 4, 5, 6, 7], 'world_size': 8,
            'ports': {'business': 1040, 'management': 1041, 'metrics': 1042, 'inter_comm': 1121, 'multi_nodes_infer': 1120},
            'master_port': 7896, 'hccl': {'base_port': 60000, 'first': 60000, 'last': 60031},
            'scheme': 'http', 'addresses': {'business': '192.0.2.10', 'management': '127.0.0.1', 'metrics': '127.0.0.1'},
            'urls': http, 'client_urls': http,
            'published': {'business': False, 'management': False, 'metrics': False},
            'local_only': {'business': False, 'management': True, 'metrics': True},
            'config_dir': '/etc/mindie', 'config_container_dir': '/etc/mindie', 'log_dir': '/var/log/mindie/mindie',
            'source': 'inventory',
        }],
    }
    # 1x8 given explicitly, and one explicit unnamed instance, plan exactly the same instance
    same = plan.build_plan(inputs(layout='1x8'), npu=NPU_32G, group_names=G32, node_host='node1')
    assert same['instances'] == got['instances'] and same['layout_source'] == 'layout'
    same = plan.build_plan(inputs(instances=[{'devices': list(range(8))}]), npu=NPU_32G, group_names=G32, node_host='node1')
    assert same['instances'] == got['instances'] and same['layout_source'] == 'instances'


def test_a_custom_single_instance_keeps_its_own_names():
    got = plan.build_plan(inputs(container='qwen', config_dir='/srv/mindie', npu_devices=[4, 5, 6, 7],
                                 business_port=2040, management_port=2041, metrics_port=2042), group_names=G64)
    [instance] = got['instances']
    assert (instance['name'], instance['container'], instance['config_dir'], instance['log_dir']) == (
        'qwen', 'qwen', '/srv/mindie', '/var/log/mindie/qwen')
    assert (got['container'], got['config_dir']) == ('qwen', '/srv/mindie')


# ------------------------------------------------------------------------------------------- explicit instances

def test_explicit_instances_override_the_layout_with_their_own_split_and_names():
    wanted = [{'devices': [0, 1, 2, 3]}, {'devices': [4, 5], 'name': 'small'}, {'devices': [6, 7]}]
    got = plan.build_plan(inputs(instances=wanted, layout='1x8', layout_beyond_guide=True), group_names=G64)
    assert (got['layout'], got['layout_source']) == ('1x4+2x2', 'instances')
    assert [(i['name'], i['devices'], i['device_ids']) for i in got['instances']] == [
        ('mindie-0', [0, 1, 2, 3], [0, 1, 2, 3]), ('small', [4, 5], [0, 1]), ('mindie-2', [6, 7], [0, 1])]
    assert [i['config_dir'] for i in got['instances']] == ['/etc/mindie/mindie-0', '/etc/mindie/small', '/etc/mindie/mindie-2']
    assert got['warnings'][0] == 'mindie_instances (layout 1x4+2x2) overrides mindie_instance_layout 1x8'
    assert 'layout 1x4+2x2 is beyond the guide' in got['warnings'][1]
    # an even split that is in the guide needs no permission
    got = plan.build_plan(inputs(instances=[{'devices': [4, 5, 6, 7]}, {'devices': [0, 1, 2, 3]}]), group_names=G64)
    assert got['layout'] == '2x4' and got['warnings'] == [] and got['devices'] == [4, 5, 6, 7]
    assert 'layout 1x4+2x2 is beyond the guide of atlas-800i-a2-64g' in refusal(inputs(instances=wanted), group_names=G64)


@pytest.mark.parametrize('wanted, fragment', [
    ([{'devices': [0, 1, 2, 3]}, {'devices': [3, 4, 5, 6]}], 'NPU 3 is given to more than one instance'),
    ([{'devices': [0, 1, 2]}], 'mindie_instances[0] has 3 NPUs [0, 1, 2]; MindIE runs on 1, 2, 4 or 8'),
    ([{'devices': []}], 'mindie_instances[0].devices is []'),
    ([{'devices': ['davinci0']}], "mindie_instances[0].devices is ['davinci0']"),
    ([{'devices': [True]}], 'mindie_instances[0].devices is [True]'),
    ([{'devices': [-1]}], 'mindie_instances[0].devices is [-1]'),
    (['0,1,2,3'], "mindie_instances[0] is '0,1,2,3': each instance is a dict"),
    ([{'devices': [0], 'npus': 1}], 'mindie_instances[0] has unknown key npus (known: devices, name)'),
    ([{'devices': [0], 'name': 'a/b'}], "mindie_instances[0].name 'a/b' is no container name"),
    ([{'devices': [0], 'name': 'x'}, {'devices': [1], 'name': 'x'}], 'instance name x is used twice (x, x)'),
    ([{'devices': [0], 'name': 'mindie-1'}, {'devices': [1]}], 'instance name mindie-1 is used twice'),
    ([{'devices': [8, 9]}], 'NPU 8, 9 of layout 1x2 are not on the node (atlas-800i-a2-64g has 8: 0, 1, 2, 3, 4, 5, 6, 7)'),
    ([{'devices': [0, 1, 2, 3, 4, 5, 6, 7]}, {'devices': [8]}], 'layout 1x8+1x1 needs 9 NPUs'),
])
def test_explicit_instances_that_cannot_run_are_refused(wanted, fragment):
    text = refusal(inputs(instances=wanted, layout_beyond_guide=True), group_names=G64, host='node2')
    assert text.startswith('Cannot plan the MindIE instances of node2: ') and fragment in text, text


def test_strings_of_digits_are_npu_ids_as_minus_e_gives_them():
    got = plan.build_plan(inputs(instances=[{'devices': ['4', '5', '6', '7']}]), group_names=G64)
    assert got['devices'] == [4, 5, 6, 7]


# ------------------------------------------------------------------------------------------- ports

def test_every_port_of_every_instance_is_disjoint_on_every_layout_and_the_refusals_are_real():
    # Property: over layouts and random bases and strides, a plan that is made has every port of every instance
    # (HTTP ports shared only inside one instance, inter_comm, multi_nodes_infer, MASTER_PORT, HCCL range) apart and in
    # [1024, 65535]; a plan that is refused for its ports really had an overlap or a port out of range.
    rng = random.Random(13)
    made = refused = 0
    for _round in range(600):
        layout = rng.choice(['1x8', '2x4', '4x2', '8x1', '1x4', '2x2', '4x1'])
        count = plan.parse_layout(layout)[0]
        business = rng.choice([1040, 2000, 1100, 65500, 30000])
        values = dict(layout=layout, layout_beyond_guide=True, port_stride=rng.choice([1, 2, 3, 5, 10, 20, 80, 100]),
                      business_port=business, management_port=business + rng.choice([0, 1, 2, 5]),
                      metrics_port=business + rng.choice([0, 2, 3, 7]),
                      master_port=rng.choice([7896, 1041, 1043, 60010, 2001]),
                      inter_comm_port=rng.choice([1121, 1050, 2005, 60100]),
                      multi_nodes_infer_port=rng.choice([1120, 1051, 2004]),
                      hccl_base_port=rng.choice([60000, 1024, 65500, 7890]), hccl_port_count=rng.choice([1, 16, 32, 64]))
        values = dict((k, v) for k, v in values.items() if not (k.endswith('port') and v > 65535))
        try:
            got = plan.build_plan(inputs(**values), group_names=G64)
        except plan.PlanError as exc:
            text = str(exc)
            if 'Invalid plan for' in text:
                continue
            refused += 1
            assert 'ports overlap' in text or 'outside [1024, 65535]' in text, text
            # recompute by hand that something really clashes
            ports = []
            for index in range(count):
                step = index * values['port_stride']
                http = set([values['business_port'] + step, values['management_port'] + step, values['metrics_port'] + step])
                ports.extend([http, {values['inter_comm_port'] + step}, {values['multi_nodes_infer_port'] + step},
                              {values['master_port'] + index},
                              set(range(values['hccl_base_port'] + index * values['hccl_port_count'],
                                        values['hccl_base_port'] + (index + 1) * values['hccl_port_count']))])
            assert any(a & b for a, b in itertools.combinations(ports, 2)) or any(
                not 1024 <= p <= 65535 for group in ports for p in group), (values, text)
            continue
        made += 1
        assert len(got['instances']) == count and disjoint(got), values
    assert made > 50 and refused > 50


def test_overlapping_ports_are_named_with_the_stride_that_would_separate_them():
    text = refusal(inputs(layout='2x4', port_stride=1), group_names=G64, host='node1')
    assert text == ('Cannot plan the MindIE instances of node1: ports overlap: mindie-0 management port 1041 and '
                    'mindie-1 business port 1041; mindie-0 metrics port 1042 and mindie-1 management port 1042; '
                    'mindie-0 inter_comm port 1121 and mindie-1 multi_nodes_infer port 1121; '
                    'mindie_instance_port_stride 3 would separate them.')
    assert plan.build_plan(inputs(layout='2x4', port_stride=3), group_names=G64)['instances'][1]['ports']['business'] == 1043
    # the HCCL range and MASTER_PORT are ports too
    text = refusal(inputs(hccl_base_port=1030), group_names=G64)
    assert 'ports overlap: mindie business port 1040 and mindie HCCL ports 1030-1061; ' in text
    text = refusal(inputs(layout='2x4', master_port=1050), group_names=G64)
    assert 'ports overlap: mindie-0 MASTER_PORT 1050 and mindie-1 business port 1050; ' in text
    text = refusal(inputs(layout='8x1', layout_beyond_guide=True, hccl_base_port=65400), group_names=G64)
    assert 'mindie-4 HCCL ports 65528-65559 are outside [1024, 65535]' in text
    assert text.endswith('a mindie_hccl_base_port of at most 65280 holds 8 ranges of 32.')
    assert plan.build_plan(inputs(layout='8x1', layout_beyond_guide=True, hccl_base_port=65280),
                           group_names=G64)['instances'][7]['hccl']['last'] == 65535
    # a clash inside one instance cannot be fixed by a stride
    text = refusal(inputs(inter_comm_port=1042), group_names=G64)
    assert text.endswith('ports overlap: mindie metrics port 1042 and mindie inter_comm port 1042.')


def test_one_listener_may_serve_several_families_of_one_instance():
    got = plan.build_plan(inputs(layout='2x4', management_port=1040, metrics_port=1040), group_names=G64)
    assert [i['ports']['management'] for i in got['instances']] == [1040, 1050]
    assert got['instances'][1]['urls']['management'] == 'http://192.0.2.10:1050'


# ------------------------------------------------------------------------------------------- deployed configs

def test_the_deployed_configs_of_every_instance_give_their_endpoints():
    served = {
        'mindie-0': {'ServerConfig': {'ipAddress': '::', 'port': 2040, 'managementPort': 2041, 'metricsPort': 2042,
                                      'httpsEnabled': True, 'interCommPort': 2121},
                     'BackendConfig': {'multiNodesInferPort': 2120}},
        'mindie-1': {'ipAddress': '192.0.2.10', 'port': 1050, 'managementPort': 1051, 'metricsPort': 1052,
                     'httpsEnabled': False},
        'gone-7': {'port': 9},
    }
    got = plan.build_plan(inputs(layout='2x4'), group_names=G64, server_config=served, node_host='node1')
    first, second = got['instances']
    assert first['urls']['business'] == 'https://[::1]:2040' and first['client_urls']['business'] == 'https://node1:2040'
    assert first['ports'] == {'business': 2040, 'management': 2041, 'metrics': 2042, 'inter_comm': 2121,
                              'multi_nodes_infer': 2120}
    assert second['scheme'] == 'http' and second['ports']['inter_comm'] == 1131
    assert (first['source'], second['source'], got['source']) == ('config', 'config', 'config')
    assert got['ports'] == {'business': 2040, 'management': 2041, 'metrics': 2042}
    # one config is instance 0's; the others keep the planned endpoints
    got = plan.build_plan(inputs(layout='2x4'), group_names=G64, server_config=served['mindie-1'])
    assert [i['source'] for i in got['instances']] == ['config', 'inventory']
    assert got['instances'][1]['ports']['business'] == 1050 and got['instances'][0]['ports']['business'] == 1050
    # a dict by name that names no instance of the plan gives no endpoints
    got = plan.build_plan(inputs(layout='2x4'), group_names=G64, server_config={'other': {'port': 1}})
    assert got['source'] == 'inventory'
    # MindIE's defaults for an empty ServerConfig, as before
    assert plan.build_plan(inputs(), server_config={})['ports'] == {'business': 1025, 'management': 1025, 'metrics': 1027}


def test_build_plan_fills_in_the_defaults_of_inputs_a_caller_leaves_out():
    old = dict((k, v) for k, v in inputs().items() if k in (
        'npu_count', 'npu_devices', 'business_port', 'management_port', 'metrics_port', 'master_port', 'model_path',
        'container', 'config_dir', 'config_container_dir', 'business_address', 'management_address', 'https',
        'container_privileged', 'container_guide_flags', 'model_name', 'tls_server_name', 'tls_server_ca', 'tls_ca',
        'tls_client_cert', 'tls_client_key'))
    assert plan.build_plan(old)['instances'][0]['hccl']['first'] == 60000
