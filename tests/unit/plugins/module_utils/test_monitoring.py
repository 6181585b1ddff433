# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/monitoring.py: Prometheus's targets and the node collector's probes come from real plans
(plan.build_plan), every layout."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ascend.mindie.plugins.filter.mindie_monitoring_targets import (
    mindie_monitoring_collector, mindie_monitoring_targets)
from ansible_collections.ascend.mindie.plugins.module_utils import monitoring
from ansible_collections.ascend.mindie.plugins.module_utils import plan as plan_utils
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import inputs


def node_plan(layout=None, business='172.18.0.2', management='172.18.0.2', group='atlas_800i_a2_64g', **extra):
    return plan_utils.build_plan(inputs(layout=layout, business_address=business, management_address=management,
                                        **extra), group_names=[group], node_host=business)


@pytest.mark.parametrize('layout', [None, '2x4', '1x4'])
def test_one_metrics_target_per_instance_and_one_exporter_per_node(layout):
    hostvars = {'node1': {'mindie_plan': node_plan(group='atlas_800i_a2_32g'), 'ansible_host': 'node1.lan'},
                'node2': {'mindie_plan': node_plan(layout, business='172.18.0.3', management='172.18.0.3'),
                          'ansible_host': 'node2.lan'}}
    result = monitoring.targets(['node1', 'node2'], hostvars)
    assert result['missing'] == [] and result['unreachable'] == []
    plan2 = hostvars['node2']['mindie_plan']
    expected = [('172.18.0.2:1042', 'node1', 'mindie')] + [
        ('172.18.0.3:%d' % i['ports']['metrics'], 'node2', i['name']) for i in plan2['instances']]
    assert [(g['targets'][0], g['labels']['node'], g['labels']['instance']) for g in result['instances']] == expected
    assert all(len(g['targets']) == 1 for g in result['instances'])
    first = result['instances'][0]['labels']
    assert first == {'node': 'node1', 'instance': 'mindie', 'container': 'mindie', 'profile': 'atlas-800i-a2-32g',
                     'model': 'qwen2_vl'}
    assert {g['labels']['profile'] for g in result['instances'][1:]} == {'atlas-800i-a2-64g'}
    # one node exporter per node, at the node's address, labelled like the node's instances
    assert result['nodes'] == [
        {'targets': ['node1.lan:9100'], 'labels': {'node': 'node1', 'profile': 'atlas-800i-a2-32g', 'instance': 'node1'}},
        {'targets': ['node2.lan:9100'], 'labels': {'node': 'node2', 'profile': 'atlas-800i-a2-64g', 'instance': 'node2'}}]


def test_metrics_on_loopback_are_refused_with_the_setting_that_fixes_it():
    hostvars = {'node1': {'mindie_plan': node_plan(management='127.0.0.1')}, 'node2': {},
                'node3': {'mindie_plan': node_plan(management='0.0.0.0'), 'ansible_host': '10.0.0.3'},
                'node4': {'mindie_plan': node_plan(management='127.0.0.1'),
                          'mindie_monitoring_target_address': '10.0.0.4'}}
    result = monitoring.targets(['node1', 'node2', 'node3', 'node4'], hostvars)
    assert result['missing'] == ['node2']
    (unreachable,) = result['unreachable']
    assert (unreachable['node'], unreachable['instance']) == ('node1', 'mindie')
    assert 'mindie_service_management_address' in unreachable['reason'] and '127.0.0.1' in unreachable['reason']
    # a wildcard listener is reached at the node's ansible_host; the address variable wins over everything
    assert [g['targets'] for g in result['instances']] == [['10.0.0.3:1042'], ['10.0.0.4:1042']]
    assert [g['targets'] for g in result['nodes']] == [['node1:9100'], ['10.0.0.3:9100'], ['10.0.0.4:9100']]


def test_https_instances_are_scraped_over_https():
    plan = node_plan(https=True)
    (group,) = monitoring.targets(['n'], {'n': {'mindie_plan': plan}})['instances']
    assert group['labels']['__scheme__'] == 'https'
    (group,) = monitoring.targets(['n'], {'n': {'mindie_plan': node_plan()}})['instances']
    assert '__scheme__' not in group['labels']


def test_the_collector_probes_each_instance_on_its_management_port_and_reads_its_supervisor_state():
    plan = node_plan('2x4', management='127.0.0.1')
    probes = monitoring.collector_instances(plan)['instances']
    assert [p['name'] for p in probes] == ['mindie-0', 'mindie-1']
    for probe, instance in zip(probes, plan['instances']):
        assert probe['container'] == instance['container']
        assert probe['live_url'] == 'http://127.0.0.1:%d/v2/health/live' % instance['ports']['management']
        assert probe['ready_url'] == 'http://127.0.0.1:%d/v2/health/ready' % instance['ports']['management']
        assert probe['supervisor_state'] == instance['log_dir'] + '/supervisor.json'


def test_filters_refuse_what_is_not_a_node_list_or_a_plan():
    with pytest.raises(AnsibleFilterError, match='list of inventory names'):
        mindie_monitoring_targets('node1', {})
    with pytest.raises(AnsibleFilterError, match='port number'):
        mindie_monitoring_targets(['node1'], {}, node_exporter_port='x')
    with pytest.raises(AnsibleFilterError, match='mindie_plan'):
        mindie_monitoring_collector(None)
    assert mindie_monitoring_targets(['n'], {'n': {'mindie_plan': node_plan()}}, node_exporter_port='9200')[
        'nodes'][0]['targets'] == ['n:9200']


def test_each_node_is_scraped_at_its_own_exporter_port_and_metrics_off_is_refused():
    hostvars = {'n1': {'mindie_plan': node_plan(), 'mindie_monitoring_node_exporter_port': 9200},
                'n2': {'mindie_plan': node_plan(business='172.18.0.3', management='172.18.0.3'),
                       'mindie_service_monitor': 'false'}}
    result = monitoring.targets(['n1', 'n2'], hostvars)
    assert [g['targets'] for g in result['nodes']] == [['n1:9200'], ['n2:9100']]
    assert [g['labels']['node'] for g in result['instances']] == ['n1']
    (off,) = result['unreachable']
    assert off['node'] == 'n2' and 'mindie_service_monitor' in off['reason'] and '500' in off['reason']
