# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_plan: the instances' inputs as -e gives them, refusals, and warnings shown to the operator."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.tests.unit.plugins.action.test_mindie_plan import facts, run
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import NPU_32G, NPU_64G, NPU_SUBSET


def test_a_layout_given_with_e_is_planned_per_instance():
    result, _asked = run({'ansible_facts': facts(NPU_64G), 'group_names': ['atlas_800i_a2_64g'],
                          'mindie_instance_layout': '2x4', 'mindie_instance_port_stride': '20'})
    assert not result.get('failed'), result
    got = result['plan']
    assert [i['name'] for i in got['instances']] == ['mindie-0', 'mindie-1']
    assert [i['ports']['business'] for i in got['instances']] == [1040, 1060]
    assert 'warnings' not in result
    assert result['msg'] == ('node1: atlas-800i-a2-64g, layout 2x4: mindie-0 on NPUs [0, 1, 2, 3], ports 1040/1041/1042, '
                             'MASTER_PORT 7896; mindie-1 on NPUs [4, 5, 6, 7], ports 1060/1061/1062, MASTER_PORT 7897')


def test_a_layout_beyond_the_guide_is_refused_unless_allowed_and_then_warned():
    variables = {'ansible_facts': facts(NPU_32G), 'group_names': ['atlas_800i_a2_32g'], 'mindie_instance_layout': '2x4'}
    result, _asked = run(variables)
    assert result['failed'] and 'plan' not in result
    assert result['msg'] == ('Cannot plan the MindIE instances of node1: layout 2x4 is beyond the guide of '
                             'atlas-800i-a2-32g, whose layouts are 1x8: use 1x8, or set '
                             'mindie_instance_layout_beyond_guide: true to run 2x4 anyway.')
    result, _asked = run(dict(variables, mindie_instance_layout_beyond_guide='yes'))
    assert not result.get('failed'), result
    assert result['warnings'] == ['node1: layout 2x4 is beyond the guide of atlas-800i-a2-32g (its layouts: 1x8); '
                                  'planned because mindie_instance_layout_beyond_guide is true']
    assert result['plan']['warnings'] == [result['warnings'][0][len('node1: '):]]


def test_the_npus_of_this_run_are_what_the_layout_is_checked_against():
    # the prechecks pass the NPU facts of their own run: four NPUs shown, so 2x4 cannot fit whatever the group says
    result, _asked = run({'ansible_facts': facts(NPU_32G), 'group_names': ['atlas_800i_a2_64g'],
                          'mindie_instance_layout': '2x4'}, args={'npu': NPU_SUBSET})
    assert result['failed'] and 'layout 2x4 needs 8 NPUs, but npu-smi shows 4; what fits: 1x4' in result['msg']


def test_the_instances_variables_are_converted_and_refused_as_mindie_vars_would():
    result, _asked = run({'ansible_facts': facts(NPU_64G), 'mindie_instances': '[{"devices": [0]}]',
                          'mindie_instance_port_stride': '0', 'mindie_hccl_base_port': 'x'})
    assert result['failed'] and len(result['errors']) == 3, result
    assert result['errors'][0].startswith('mindie_instances is "[{\\"devices\\": [0]}]": expected a list of mappings')
    assert 'mindie_instance_port_stride is "0": expected an integer in [1, 8192]' in result['msg']
    result, _asked = run({'ansible_facts': facts(NPU_64G), 'group_names': ['atlas_800i_a2_64g'],
                          'mindie_instances': [{'devices': [4, 5, 6, 7], 'name': 'upper'}]})
    assert not result.get('failed'), result
    assert [(i['name'], i['config_dir']) for i in result['plan']['instances']] == [('upper', '/etc/mindie')]


def test_the_configs_of_every_instance_are_taken_by_name():
    configs = {'mindie-1': {'ipAddress': '0.0.0.0', 'port': 3050, 'managementPort': 3051, 'metricsPort': 3052,
                            'httpsEnabled': False}}
    result, _asked = run({'ansible_facts': facts(NPU_64G), 'group_names': ['atlas_800i_a2_64g'],
                          'mindie_instance_layout': '2x4', 'ansible_host': 'node1.example'},
                         args={'server_config': configs})
    assert not result.get('failed'), result
    first, second = result['plan']['instances']
    assert second['client_urls']['business'] == 'http://node1.example:3050' and second['source'] == 'config'
    assert first['source'] == 'inventory' and first['urls']['business'] == 'http://192.0.2.10:1040'
