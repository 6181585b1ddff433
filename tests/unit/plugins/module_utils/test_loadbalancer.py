# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/loadbalancer.py: the balancer's backends come from real plans (plan.build_plan), every layout."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.filter.mindie_lb_backends import mindie_lb_backends
from ansible_collections.ascend.mindie.plugins.module_utils import loadbalancer as lb
from ansible_collections.ascend.mindie.plugins.module_utils import plan as plan_utils
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import inputs
from ansible.errors import AnsibleFilterError


def node_plan(layout=None, business='172.18.0.2', management='127.0.0.1', group='atlas_800i_a2_64g'):
    return plan_utils.build_plan(inputs(layout=layout, business_address=business, management_address=management),
                                 group_names=[group], node_host=business)


@pytest.mark.parametrize('layout, count', [(None, 1), ('2x4', 2), ('1x4', 1)])
def test_one_server_per_instance_of_every_node_with_its_business_port(layout, count):
    hostvars = {'node1': {'mindie_plan': node_plan(group='atlas_800i_a2_32g', business='172.18.0.2')},
                'node2': {'mindie_plan': node_plan(layout, business='172.18.0.3')}}
    result = lb.backends(['node1', 'node2'], hostvars)
    assert result['missing'] == [] and result['unreachable'] == []
    (backend,) = result['backends']
    assert backend['name'] == 'model_qwen2_vl'
    plan2 = hostvars['node2']['mindie_plan']
    expected = [('node1_mindie', '172.18.0.2', 1040)] + [
        ('node2_' + i['name'], '172.18.0.3', i['ports']['business']) for i in plan2['instances']]
    assert [(s['name'], s['address'], s['port']) for s in backend['servers']] == expected
    assert len(backend['servers']) == 1 + count
    # management listens on loopback (the default): the check is GET /v1/models on the business port
    assert backend['check'] == 'models' and backend['check_path'] == '/v1/models'
    assert all(s['check_port'] == s['port'] for s in backend['servers'])


def test_live_on_the_management_port_only_when_every_instance_has_it_reachable():
    reachable = {'node1': {'mindie_plan': node_plan('2x4', management='172.18.0.3')}}
    (backend,) = lb.backends(['node1'], reachable)['backends']
    assert backend['check'] == 'live' and backend['check_path'] == '/v2/health/live'
    assert [s['check_port'] for s in backend['servers']] == [i['ports']['management']
                                                            for i in reachable['node1']['mindie_plan']['instances']]
    mixed = dict(reachable, node2={'mindie_plan': node_plan(business='172.18.0.4')})
    (backend,) = lb.backends(['node1', 'node2'], mixed)['backends']
    assert backend['check'] == 'models' and all(s['check_port'] == s['port'] for s in backend['servers'])
    (backend,) = lb.backends(['node1'], reachable, health_check='models')['backends']
    assert backend['check'] == 'models'


def test_nodes_without_a_plan_and_instances_on_loopback_are_named_not_balanced():
    hostvars = {'node1': {'mindie_plan': node_plan(business='127.0.0.1')}, 'node2': {},
                'node3': {'mindie_plan': node_plan(business='0.0.0.0'), 'ansible_host': '10.0.0.3'},
                'node4': {'mindie_plan': node_plan(business='127.0.0.1'),
                          'mindie_loadbalancer_backend_address': '10.0.0.4'}}
    result = lb.backends(['node1', 'node2', 'node3', 'node4'], hostvars)
    assert result['missing'] == ['node2']
    assert [(u['node'], u['instance']) for u in result['unreachable']] == [('node1', 'mindie')]
    assert 'listens on 127.0.0.1 only' in result['unreachable'][0]['reason']
    # a wildcard listener is reached at the node's ansible_host; the override wins over everything
    assert [(s['node'], s['address']) for s in result['backends'][0]['servers']] == [('node3', '10.0.0.3'),
                                                                                     ('node4', '10.0.0.4')]


def test_names_haproxy_takes():
    assert lb.backend_name('qwen2 vl/7b') == 'model_qwen2_vl_7b'
    assert lb.server_name('node 1', 'mindie-0') == 'node_1_mindie-0'


def test_the_filter_refuses_bad_input():
    with pytest.raises(AnsibleFilterError, match='list of inventory names'):
        mindie_lb_backends('node1', {})
    with pytest.raises(AnsibleFilterError, match='health_check must be one of'):
        mindie_lb_backends(['node1'], {}, health_check='ready')
