# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/plan.py: the node plan from real npu-smi captures, and the one endpoint rule."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.ascend.mindie.plugins.module_utils import plan
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    merge_logical_ids, parse_npu_smi_info, parse_npu_smi_mapping,
)
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
NPU_SMI = os.path.join(REPO, 'tests', 'fixtures', 'npu-smi')


def capture(name, mapping=None):
    """ansible_facts.npu as npu_facts builds it from a real capture (count, profile, chips, processes)."""
    with open(os.path.join(NPU_SMI, name)) as handle:
        facts = parse_npu_smi_info(handle.read())
    if mapping:
        with open(os.path.join(NPU_SMI, mapping)) as handle:
            merge_logical_ids(facts['chips'], parse_npu_smi_mapping(handle.read()))
    facts['count'] = len(facts['chips'])
    facts['profile'] = classify(facts['chips'])
    return facts


NPU_32G = capture('atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt', 'atlas800ia2_910b4x8_info-m.txt')
NPU_64G = capture('910b3x8_64g_busy_25.3.rc1.txt')
NPU_SUBSET = capture(os.path.join('variants', 'npu-smi_25.0.rc1.1_subset_npu4-7.txt'))


def inputs(**changes):
    values = dict((key, spec['default']) for _variable, key, spec, _limit in plan.INPUTS)
    values.update(business_address='192.0.2.10', management_address='127.0.0.1')
    values.update(changes)
    return values


def test_a_32g_node_in_its_group_gets_all_eight_npus_and_the_guide_ports():
    got = plan.build_plan(inputs(), npu=NPU_32G, group_names=['atlas_800i_a2_32g', 'mindie_nodes'])
    assert (got['profile'], got['expected_profile'], got['detected_profile']) == ('atlas-800i-a2-32g',) * 3
    assert got['devices'] == list(range(8)) and got['world_size'] == 8
    assert got['ports'] == {'business': 1040, 'management': 1041, 'metrics': 1042} and got['master_port'] == 7896
    assert (got['container'], got['model_path'], got['config_dir'], got['config_container_dir']) == (
        'mindie', '/data/Qwen2-VL-7B-Instruct', '/etc/mindie', '/etc/mindie')
    [instance] = got['instances']
    assert instance['devices'] == got['devices'] and instance['master_port'] == 7896 and instance['index'] == 0
    assert instance['urls'] == {'business': 'http://192.0.2.10:1040', 'management': 'http://127.0.0.1:1041',
                                'metrics': 'http://127.0.0.1:1042'}
    assert instance['local_only'] == {'business': False, 'management': True, 'metrics': True}


def test_the_detected_profile_wins_over_a_group_that_disagrees():
    got = plan.build_plan(inputs(npu_devices=[4, 5, 6, 7]), npu=NPU_64G, group_names=['atlas_800i_a2_32g'])
    assert got['expected_profile'] == 'atlas-800i-a2-32g' and got['detected_profile'] == 'atlas-800i-a2-64g'
    assert got['profile'] == 'atlas-800i-a2-64g'
    assert got['devices'] == [4, 5, 6, 7] and got['instances'][0]['world_size'] == 4


def test_the_plan_names_the_logical_ids_the_container_sees():
    # devices are physical NPU ids (/dev/davinciN); a container given only 4-7 calls them 0-3 (npuDeviceIds,
    # ASCEND_RT_VISIBLE_DEVICES), a privileged one (or the guide's flags) sees every NPU and keeps the ids.
    got = plan.build_plan(inputs(npu_devices=[4, 5, 6, 7]), npu=NPU_64G)
    assert got['devices'] == [4, 5, 6, 7] and got['logical_devices'] == [0, 1, 2, 3]
    assert got['instances'][0]['logical_devices'] == [0, 1, 2, 3]
    for privileged in ({'container_privileged': True}, {'container_guide_flags': True}):
        assert plan.build_plan(inputs(npu_devices=[4, 5, 6, 7], **privileged))['logical_devices'] == [4, 5, 6, 7]
    assert plan.build_plan(inputs(npu_count=2))['logical_devices'] == [0, 1]
    assert plan.build_plan(inputs(npu_devices=[7, 3]))['logical_devices'] == [1, 0]


def test_without_npu_facts_the_group_names_the_profile():
    got = plan.build_plan(inputs(npu_count=4), npu=None, group_names=['atlas_800i_a2_64g'])
    assert (got['profile'], got['detected_profile']) == ('atlas-800i-a2-64g', None)
    assert got['devices'] == [0, 1, 2, 3]
    assert plan.build_plan(inputs(), group_names=['mindie_nodes'])['profile'] is None


def test_a_subset_of_the_npus_is_not_a_whole_server():
    # A container (or ASCEND_VISIBLE_DEVICES) shows NPUs 4-7 only: no whole-server profile is detected.
    assert NPU_SUBSET['count'] == 4
    got = plan.build_plan(inputs(npu_devices=[4, 5, 6, 7]), npu=NPU_SUBSET, group_names=['atlas_800i_a2_64g'])
    assert (got['detected_profile'], got['profile']) == (None, 'atlas-800i-a2-64g')


def test_facts_without_a_profile_key_are_classified_from_their_chips():
    facts = dict(NPU_32G)
    del facts['profile']
    assert plan.detected_profile(facts) == 'atlas-800i-a2-32g'
    assert plan.detected_profile({}) is None


@pytest.mark.parametrize('changes, fragment', [
    ({'npu_devices': [1, 1]}, 'names a device twice'),
    ({'npu_devices': [0, 1, 2]}, 'has 3 devices'),
    ({'npu_devices': [-1]}, 'negative id'),
    ({'npu_count': 3}, 'mindie_npu_count 3 is not one of 1/2/4/8'),
    ({'master_port': 1041}, 'mindie_master_port 1041 is one of the service ports'),
    ({'metrics_port': 80}, 'mindie_metrics_port 80 is outside [1024, 65535]'),
])
def test_inputs_that_cannot_make_a_plan_are_refused_naming_the_problem(changes, fragment):
    with pytest.raises(plan.PlanError) as exc:
        plan.build_plan(inputs(**changes), npu=NPU_32G, host='node7')
    text = str(exc.value)
    assert text.startswith('Invalid plan for node7: mindie_npu_devices must be distinct') and fragment in text


@pytest.mark.parametrize('scheme, address, port, url', [
    ('http', '0.0.0.0', 1025, 'http://127.0.0.1:1025'),
    ('https', '::', 1026, 'https://[::1]:1026'),
    ('http', 'fe80::1', 1040, 'http://[fe80::1]:1040'),
    ('http', '[2001:db8::5]', 1040, 'http://[2001:db8::5]:1040'),
    ('http', '192.0.2.10', '1040', 'http://192.0.2.10:1040'),
    ('http', 'node1.example', 1040, 'http://node1.example:1040'),
])
def test_endpoint_url(scheme, address, port, url):
    assert plan.endpoint_url(scheme, address, port) == url


def test_a_wildcard_listener_is_reached_at_the_node_from_elsewhere():
    assert plan.client_url('http', '0.0.0.0', 1040, 'node1') == 'http://node1:1040'
    assert plan.client_url('http', '::', 1040, 'fd00::7') == 'http://[fd00::7]:1040'
    assert plan.client_url('http', '127.0.0.1', 1041, 'node1') == 'http://127.0.0.1:1041'


def test_server_endpoints_fill_in_mindies_defaults():
    # server_config.cpp InitFromJson: an absent managementPort is port (not 1026), an absent managementIpAddress
    # ipAddress; port and metricsPort have no default there, the shipped config.json's 1025 and 1027 stand in.
    got = plan.server_endpoints({})
    assert got['scheme'] == 'https' and got['ports'] == {'business': 1025, 'management': 1025, 'metrics': 1027}
    assert got['addresses'] == {'business': '127.0.0.1', 'management': '127.0.0.1', 'metrics': '127.0.0.1'}
    for value, scheme in ((False, 'http'), ('false', 'http'), (0, 'http'), (True, 'https'), ('yes', 'https')):
        assert plan.server_endpoints({'httpsEnabled': value})['scheme'] == scheme


def test_a_config_without_management_port_serves_management_on_the_business_port():
    server = {'ipAddress': '192.0.2.10', 'port': 1040, 'metricsPort': 1042, 'httpsEnabled': False}
    got = plan.server_endpoints({'ServerConfig': server})
    assert got['ports'] == {'business': 1040, 'management': 1040, 'metrics': 1042}
    assert got['urls'] == {'business': 'http://192.0.2.10:1040', 'management': 'http://192.0.2.10:1040',
                           'metrics': 'http://192.0.2.10:1042'}
    # the plan of a node whose deployed config leaves managementPort out
    assert plan.build_plan(inputs(), server_config=server)['ports']['management'] == 1040


@pytest.mark.parametrize('ports, addresses', [
    # http_server.cpp HttpServerInit: port = managementPort on two addresses, metricsPort different: three servers,
    # management on managementIpAddress (the business listener does not serve it).
    ((1040, 1040, 1042), ('127.0.0.1', '::1', '::1')),
    # all three equal on two addresses: business+management on ipAddress, metrics on managementIpAddress.
    ((1040, 1040, 1040), ('127.0.0.1', '127.0.0.1', '::1')),
    # metricsPort = port on two addresses: three servers; metrics on managementIpAddress.
    ((1040, 1041, 1040), ('127.0.0.1', '::1', '::1')),
    ((1040, 1041, 1041), ('127.0.0.1', '::1', '::1')),
])
def test_the_listeners_follow_mindies_dispatch(ports, addresses):
    server = {'ipAddress': '0.0.0.0', 'managementIpAddress': '::1', 'port': ports[0], 'managementPort': ports[1],
              'metricsPort': ports[2], 'httpsEnabled': False}
    got = plan.server_endpoints({'ServerConfig': server}, node_host='node1')
    assert tuple(plan.probe_address(got['addresses'][f]) for f in plan.PORT_FAMILIES) == addresses
    assert got['client_urls']['business'] == 'http://node1:%d' % ports[0]


def test_one_address_serves_everything_when_the_service_role_shares_a_port():
    # ascend.mindie.service writes managementIpAddress = ipAddress when a port equals the business port.
    for ports in ((1040, 1040, 1042), (1040, 1041, 1040), (1040, 1040, 1040)):
        got = plan.build_plan(inputs(business_port=ports[0], management_port=ports[1], metrics_port=ports[2]))
        assert got['instances'][0]['addresses'] == dict((f, '192.0.2.10') for f in plan.PORT_FAMILIES), ports
    apart = plan.build_plan(inputs())['instances'][0]['addresses']
    assert apart == {'business': '192.0.2.10', 'management': '127.0.0.1', 'metrics': '127.0.0.1'}


def test_a_plan_from_the_deployed_config_takes_its_endpoints():
    server = {'ipAddress': '::', 'port': 2040, 'managementPort': 2041, 'metricsPort': 2042, 'httpsEnabled': True}
    got = plan.build_plan(inputs(), npu=NPU_32G, server_config=server, node_host='node1')
    assert got['source'] == 'config' and got['ports'] == {'business': 2040, 'management': 2041, 'metrics': 2042}
    assert got['instances'][0]['urls']['business'] == 'https://[::1]:2040'
    assert got['instances'][0]['client_urls']['business'] == 'https://node1:2040'


def _role_option(role, name):
    with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        return yaml.safe_load(handle)['argument_specs']['main']['options'].get(name)


def test_the_roles_document_the_plans_defaults():
    # INPUTS holds the defaults; the roles that document (or own) an input must say the same.
    documented = 0
    for variable, _key, spec, _limit in plan.INPUTS:
        for role in ('prechecks', 'container', 'service'):
            option = _role_option(role, variable)
            if option is None or spec['default'] is None or '{{' in str(option.get('default')):
                continue
            documented += 1
            assert option.get('default') == spec['default'], (role, variable)
            assert option.get('type', 'str') == spec['type'], (role, variable)
    assert documented >= 10


def _role_vars(role):
    with open(os.path.join(REPO, 'roles', role, 'vars', 'main.yml')) as handle:
        return yaml.safe_load(handle)


def test_the_service_and_inference_roles_use_the_logical_ids_of_a_node_planned_on_npus_4_to_7():
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    try:
        from ansible.template import trust_as_template
    except ImportError:
        def trust_as_template(value):
            return value
    mindie_plan = plan.build_plan(inputs(npu_devices=[4, 5, 6, 7]))
    # the service role writes one config.json per instance (loop_var __mindie_instance)
    templar = Templar(loader=DataLoader(), variables={'mindie_plan': mindie_plan, 'mindie_inference_visible_devices': None,
                                                      '__mindie_instance': mindie_plan['instances'][0]})
    service = _role_vars('service')['__mindie_service_base_settings']['BackendConfig']['npuDeviceIds'][0]
    inference = _role_vars('inference')['__mindie_inference_devices']
    assert templar.template(trust_as_template(service)) in ([0, 1, 2, 3], '[0, 1, 2, 3]')
    # the second instance of a 2x4 node: NPUs 4-7, which its container calls 0-3
    second = plan.build_plan(inputs(layout='2x4'), group_names=['atlas_800i_a2_64g'])['instances'][1]
    assert second['devices'] == [4, 5, 6, 7]
    assert Templar(loader=DataLoader(), variables={'__mindie_instance': second}).template(
        trust_as_template(service)) in ([0, 1, 2, 3], '[0, 1, 2, 3]')
    assert str(templar.template(trust_as_template(inference))).strip() == '[0, 1, 2, 3]'
    # the inference role's own override still wins
    templar.available_variables = dict(templar.available_variables, mindie_inference_visible_devices=[1])
    assert str(templar.template(trust_as_template(inference))).strip() == '[1]'


def test_the_plan_carries_the_model_name_and_the_controllers_tls_files_verify_uses():
    got = plan.build_plan(inputs())
    assert got['model_name'] == 'qwen2_vl'
    assert got['tls'] == {'server_name': None, 'ca': None, 'client_cert': None, 'client_key': None}
    got = plan.build_plan(inputs(model_name='qwen_vl', tls_ca='/pki/ca.pem', tls_client_cert='/pki/c.pem',
                                 tls_client_key='/pki/c.key', tls_server_name='mindie.example'))
    assert got['model_name'] == 'qwen_vl'
    assert got['tls'] == {'server_name': 'mindie.example', 'ca': '/pki/ca.pem', 'client_cert': '/pki/c.pem',
                          'client_key': '/pki/c.key'}
    assert plan.build_plan(inputs(tls_ca='/pki/ca.pem', tls_server_ca='/pki/server-ca.pem'))['tls']['ca'] == '/pki/server-ca.pem'
    # verify reads them from the plan, not from the service role's variables
    with open(os.path.join(REPO, 'roles', 'verify', 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle)
    assert [name for name, value in defaults.items() if 'mindie_service_' in str(value)] == []
    assert '__mindie_verify_inputs.model_name' in defaults['mindie_verify_model']     # the plan (roles/verify/vars)
    for variable, key in (('mindie_verify_tls_server_name', 'server_name'), ('mindie_verify_controller_ca_path', 'ca'),
                          ('mindie_verify_controller_client_cert', 'client_cert'),
                          ('mindie_verify_controller_client_key', 'client_key')):
        assert '__mindie_verify_inputs.tls.%s' % key in defaults[variable], variable


def test_published_ports_only_change_the_client_urls():
    server = {'ipAddress': '192.0.2.10', 'port': 1040, 'managementPort': 1041, 'metricsPort': 1042, 'httpsEnabled': False}
    plain = plan.server_endpoints(server, node_host='node1')
    mapped = plan.server_endpoints(server, node_host='node1', published={'host': '127.0.0.1', 'ports': {1040: 32240}})
    assert mapped['urls'] == plain['urls'] and mapped['local_only'] == plain['local_only']
    assert mapped['client_urls'] == dict(plain['client_urls'], business='http://127.0.0.1:32240')
    assert plain['published'] == {'business': False, 'management': False, 'metrics': False}
