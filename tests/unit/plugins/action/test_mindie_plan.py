# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_plan: the action plugin with a fake task (no playbook, no node), real npu-smi captures."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.ascend.mindie.plugins.action import mindie_plan as mp

try:
    from ansible.template import trust_as_template  # ansible-core >= 2.19: inventory templates are trusted
except ImportError:
    def trust_as_template(value):
        return value

from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import NPU_32G, NPU_64G

IPV4 = {'address': '192.0.2.10', 'interface': 'eth0'}


class FakeTask(object):
    def __init__(self, args):
        self.args = args
        self.check_mode = False
        self.async_val = 0
        self.action = 'ascend.mindie.mindie_plan'
        self.register = None


class FakeShell(object):
    tmpdir = None


class FakeConnection(object):
    _shell = FakeShell()

    def __getattr__(self, name):
        raise AssertionError('mindie_plan used the connection (%s)' % name)


def run(task_vars, args=None, setup=None):
    """Run the action; ``setup`` answers the setup module (the only thing it may ask the node)."""
    loader = DataLoader()
    asked = []
    task_vars = dict(task_vars)
    task_vars.setdefault('inventory_hostname', 'node1')
    action = mp.ActionModule(FakeTask(dict(args or {})), FakeConnection(), None, loader,
                             Templar(loader=loader, variables=task_vars), None)

    def execute_module(module_name=None, module_args=None, task_vars=None, **_kwargs):
        asked.append((module_name, module_args))
        if setup is None:
            raise AssertionError('the plan asked the node although it knew its address')
        return setup

    action._execute_module = execute_module
    result = action.run(task_vars=task_vars)
    return result, asked


def facts(npu=None, ipv4=IPV4):
    found = {}
    if npu is not None:
        found['npu'] = npu
    if ipv4 is not None:
        found['default_ipv4'] = ipv4
    return found


def test_values_given_with_e_are_converted_and_published_as_the_fact():
    result, asked = run({'ansible_facts': facts(NPU_64G), 'group_names': ['atlas_800i_a2_64g'],
                         'mindie_npu_devices': ['4', '5', '6', '7'], 'mindie_service_port': '1050',
                         'mindie_master_port': ' 7900 ', 'mindie_service_https': 'yes'})
    assert not result.get('failed'), result
    assert asked == [] and result['changed'] is False
    got = result['plan']
    assert 'mindie_plan' not in result.get('ansible_facts', {})     # returned, never a (cacheable) fact
    assert got == result['plan']
    assert got['devices'] == [4, 5, 6, 7] and got['profile'] == 'atlas-800i-a2-64g'
    assert got['ports'] == {'business': 1050, 'management': 1041, 'metrics': 1042} and got['master_port'] == 7900
    assert all(isinstance(v, int) for v in got['ports'].values())
    assert got['instances'][0]['urls']['business'] == 'https://192.0.2.10:1050'


def test_inventory_templates_are_rendered():
    result, _asked = run({'ansible_facts': facts(NPU_32G), 'base': 1060,
                          'mindie_service_port': trust_as_template('{{ base }}'),
                          'mindie_model_path': trust_as_template('/srv/{{ "weights" }}')})
    assert result['plan']['ports']['business'] == 1060 and result['plan']['model_path'] == '/srv/weights'


@pytest.mark.parametrize('variables, expected', [
    ({'mindie_npu_count': 'four'}, 'mindie_npu_count is "four": expected one of 1, 2, 4, 8'),
    ({'mindie_service_port': '80'}, 'mindie_service_port is "80": expected an integer in [1024, 65535]'),
    ({'mindie_npu_devices': '[4, 5]'}, 'mindie_npu_devices is "[4, 5]": expected a list of integers >= 0 (-e key=value'),
    ({'mindie_npu_devices': [4, -5]}, 'mindie_npu_devices is [4, -5]: expected a list of integers >= 0 (element -5)'),
    ({'mindie_service_https': 'maybe'}, 'mindie_service_https is "maybe": expected a boolean'),
])
def test_values_that_cannot_be_converted_are_refused_as_mindie_vars_words_them(variables, expected):
    result, asked = run(dict(variables, ansible_facts=facts(NPU_32G)))
    assert result['failed'] and asked == []
    assert expected in result['msg'], result['msg']
    assert result['msg'].startswith('node1: ascend.mindie.mindie_plan cannot use these variables: ')
    assert 'ansible_facts' not in result


def test_every_bad_value_is_named_in_one_failure():
    result, _asked = run({'ansible_facts': facts(), 'mindie_npu_count': 'four', 'mindie_metrics_port': 70000})
    assert len(result['errors']) == 2 and 'mindie_metrics_port is 70000' in result['msg']


def test_a_plan_that_contradicts_itself_is_refused():
    result, _asked = run({'ansible_facts': facts(), 'mindie_npu_devices': [0, 0], 'mindie_master_port': '1040'})
    assert result['failed']
    assert result['msg'].startswith('Invalid plan for node1: ')
    assert 'names a device twice' in result['msg'] and 'mindie_master_port 1040 is one of the service ports' in result['msg']


def test_the_group_and_the_detected_hardware_disagree():
    result, _asked = run({'ansible_facts': facts(NPU_32G), 'group_names': ['atlas_800i_a2_64g', 'mindie_nodes']})
    got = result['plan']
    assert (got['expected_profile'], got['detected_profile'], got['profile']) == (
        'atlas-800i-a2-64g', 'atlas-800i-a2-32g', 'atlas-800i-a2-32g')


def test_the_node_is_asked_for_its_address_only_when_nothing_says_it():
    answer = {'ansible_facts': {'ansible_default_ipv4': {'address': '198.51.100.4'}}}
    result, asked = run({'ansible_facts': facts(ipv4=None)}, setup=answer)
    assert [name for name, _args in asked] == ['ansible.builtin.setup']
    assert asked[0][1]['filter'] == ['ansible_default_ipv4']
    assert result['plan']['instances'][0]['addresses']['business'] == '198.51.100.4'
    assert result['ansible_facts']['ansible_default_ipv4'] == {'address': '198.51.100.4'}
    # Set: not asked; with a config: not asked either.
    result, asked = run({'ansible_facts': facts(ipv4=None), 'mindie_service_ip_address': '0.0.0.0', 'ansible_host': 'fd00::7'})
    assert asked == [] and result['plan']['instances'][0]['client_urls']['business'] == 'http://[fd00::7]:1040'
    result, asked = run({'ansible_facts': facts(ipv4=None)}, args={'server_config': {'ipAddress': '::'}})
    assert asked == [] and result['plan']['instances'][0]['urls']['business'] == 'https://[::1]:1025'


def test_a_node_without_a_default_route_listens_on_loopback_and_a_failed_setup_is_reported():
    result, _asked = run({'ansible_facts': {}}, setup={'ansible_facts': {'ansible_default_ipv4': {}}})
    assert result['plan']['instances'][0]['addresses']['business'] == '127.0.0.1'
    result, _asked = run({'ansible_facts': {}}, setup={'failed': True, 'msg': 'no python'})
    assert result['failed'] and 'set mindie_service_ip_address' in result['msg'] and 'no python' in result['msg']


def test_the_deprecated_management_address_is_still_read():
    result, _asked = run({'ansible_facts': facts(), 'mindie_service_management_ip_address': '10.0.0.2'})
    assert result['plan']['instances'][0]['addresses']['management'] == '10.0.0.2'
    result, _asked = run({'ansible_facts': facts(), 'mindie_service_management_ip_address': '10.0.0.2',
                          'mindie_service_management_address': '10.0.0.3'})
    assert result['plan']['instances'][0]['addresses']['management'] == '10.0.0.3'


def test_the_npu_argument_overrides_the_facts():
    result, _asked = run({'ansible_facts': facts(NPU_32G)}, args={'npu': NPU_64G})
    assert result['plan']['detected_profile'] == 'atlas-800i-a2-64g'


def _gather_plan_npu_argument():
    """The ``npu`` argument of the prechecks' second plan call (roles/prechecks/tasks/gather.yml), as written."""
    import os
    import yaml
    path = os.path.join(os.path.dirname(mp.__file__), '..', '..', 'roles', 'prechecks', 'tasks', 'gather.yml')
    with open(path) as handle:
        tasks = yaml.safe_load(handle)
    [task] = [t for t in tasks if 'ascend.mindie.mindie_plan' in t]
    return (task['ascend.mindie.mindie_plan'] or {}).get('npu')


@pytest.mark.parametrize('register, detected', [
    ({'failed': True, 'msg': 'npu-smi: dcmi module initialize failed. ret is -8005'}, None),
    ({'changed': False, 'ansible_facts': {'npu': NPU_64G}}, 'atlas-800i-a2-64g'),
])
def test_the_prechecks_plan_with_this_runs_npus_never_a_cached_fact(register, detected):
    # ansible_facts.npu cached by an earlier run says 32G; this run's npu_facts failed or read a 64G node.
    task_vars = {'ansible_facts': facts(NPU_32G), '__mindie_precheck_npu': register}
    argument = _gather_plan_npu_argument()
    assert argument is not None, 'gather.yml must pass this run\'s NPU facts to ascend.mindie.mindie_plan'
    npu = Templar(loader=DataLoader(), variables=task_vars).template(trust_as_template(argument))
    result, _asked = run(task_vars, args={'npu': npu})
    assert not result.get('failed'), result
    assert result['plan']['detected_profile'] == detected


def test_translated_ports_give_the_client_urls_with_the_served_scheme():
    """The sandbox (or a NAT): node port 1040 reached at 127.0.0.1:32240; the scheme follows config.json."""
    served = {'ipAddress': '0.0.0.0', 'port': 1040, 'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': True}
    result, _asked = run({'ansible_facts': facts(), 'ansible_host': 'node1.example'},
                         args={'server_config': served, 'client_host': '127.0.0.1', 'client_ports': {'1040': '32240'}})
    instance = result['plan']['instances'][0]
    assert instance['client_urls']['business'] == 'https://127.0.0.1:32240'
    assert instance['client_urls']['management'] == 'https://node1.example:1041'   # not translated: the usual rule
    assert instance['published'] == {'business': True, 'management': False, 'metrics': False}
    result, _asked = run({'ansible_facts': facts(), 'ansible_host': 'node1.example'},
                         args={'server_config': dict(served, httpsEnabled=False), 'client_host': 'fd00::7',
                               'client_ports': {1040: 32240}})
    assert result['plan']['instances'][0]['client_urls']['business'] == 'http://[fd00::7]:32240'
    result, _asked = run({'ansible_facts': facts()}, args={'server_config': served, 'client_host': '127.0.0.1',
                                                           'client_ports': {'1040': 'x'}})
    assert result['failed'] and 'client_ports' in result['msg']
