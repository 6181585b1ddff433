# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_supervisor_instance: the supervisor.json the service role writes is what the supervisor reads."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.mindie_supervisor_instance import mindie_supervisor_instance
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_docker, mindie_supervisor, plan

SERVICE_DIR = '/usr/local/Ascend/mindie/latest/mindie-service'


def _instances(layout='2x4'):
    inputs = dict(plan.DEFAULTS)
    inputs.update(npu_count=8, npu_devices=[], business_port=1040, management_port=1041, metrics_port=1042,
                  master_port=7896, model_path='/data/m', container='mindie', config_dir='/etc/mindie',
                  config_container_dir='/etc/mindie', business_address='10.0.0.5', management_address='127.0.0.1',
                  https=False, container_privileged=False, container_guide_flags=False, model_name='qwen2_vl',
                  tls_server_name=None, tls_server_ca=None, tls_ca=None, tls_client_cert=None, tls_client_key=None,
                  layout=layout)
    return plan.build_plan(inputs, npu={'profile': '800i-a2-64g', 'count': 8}, node_host='node1')['instances']


def test_the_second_instance_of_a_2x4_node_gets_its_own_ports_and_the_supervisor_accepts_it():
    second = _instances()[1]
    got = mindie_supervisor_instance(second, SERVICE_DIR, env={'MINDIE_LOG_LEVEL': 'INFO', 'X_N': 3}, restart_limit=4,
                                     restart_window=120, stop_timeout=20)
    assert got['config'] == '/etc/mindie/config.json'
    assert got['set_env'] == list(mindie_docker.SET_ENV_SCRIPTS)
    assert got['env'] == {'MASTER_ADDR': 'localhost', 'MASTER_PORT': '7897', 'HCCL_IF_BASE_PORT': '60032',
                          'MIES_SERVICE_MONITOR_MODE': '1', 'MINDIE_LOG_PATH': '/var/log/mindie-instance/mindie',
                          'MINDIE_LOG_LEVEL': 'INFO', 'X_N': '3'}
    assert got['live']['url'] == 'http://127.0.0.1:1051/v2/health/live'
    assert (got['restart_limit'], got['restart_window'], got['stop_timeout']) == (4, 120, 20)
    # The supervisor's own parser reads it back unchanged (defaults filled in only where the role sets nothing).
    parsed = mindie_supervisor.parse_instance(json.dumps(got))
    assert parsed['env'] == got['env'] and parsed['live']['url'] == got['live']['url']
    assert parsed['restart_limit'] == 4 and parsed['config'] == got['config']


def test_without_monitor_and_with_tls_files():
    first = _instances('1x8')[0]
    tls = {'ca': '/etc/mindie/security/client/ca.pem', 'cert': '/etc/mindie/security/client/client.pem',
           'key': '/etc/mindie/security/client/client.key.pem', 'server_name': 'node1'}
    got = mindie_supervisor_instance(first, SERVICE_DIR, monitor=False, tls=tls, env={'MINDIE_LOG_PATH': '/tmp/x'})
    assert 'MIES_SERVICE_MONITOR_MODE' not in got['env']
    assert got['env']['MINDIE_LOG_PATH'] == '/tmp/x' and got['env']['MASTER_PORT'] == '7896'
    assert dict((k, got['live'][k]) for k in tls) == tls
    assert mindie_supervisor.parse_instance(json.dumps(got))['live']['server_name'] == 'node1'


def test_the_daemons_log_rotation_reaches_supervisor_json_as_given():
    # (the service role passes MINDIE_LOG_ROTATE from mindie_service_log_rotate_size_mb / _files in env)
    for value in ('-fs 20 -r 10', 'llm:-fs 50 -r 20;server:-fs 20 -r 10'):
        got = mindie_supervisor_instance(_instances()[0], SERVICE_DIR, env={'MINDIE_LOG_ROTATE': value})
        assert got['env']['MINDIE_LOG_ROTATE'] == value
        assert mindie_supervisor.parse_instance(json.dumps(got))['env']['MINDIE_LOG_ROTATE'] == value


@pytest.mark.parametrize('kwargs, fragment', [
    ({'env': {'MASTER_PORT': '1'}}, 'mindie_service_env sets MASTER_PORT, which the collection sets'),
    ({'env': {'HCCL_IF_BASE_PORT': '1', 'MASTER_ADDR': 'x'}}, 'sets HCCL_IF_BASE_PORT, MASTER_ADDR'),
    ({'env': {'BAD-NAME': '1'}}, "'BAD-NAME'='1' is not a variable name"),
    ({'env': {'A': None}}, "'A'=None is not a variable name"),
    ({'env': {'MINDIE_LOG_ROTATE': '-fs 0 -r 10'}},
     "mindie_service_env: MINDIE_LOG_ROTATE='-fs 0 -r 10' would abort the MindIE daemon at start (its logger refuses it): "
     '-fs takes the size of a log file in MB, an integer in [1, 500], got 0; set mindie_service_log_rotate_size_mb'),
    ({'env': {'MINDIE_LOG_ROTATE': 'llm:-fs 20 -r 65'}}, 'llm: -r takes the number of log files, an integer in [1, 64], got 65'),
    ({'restart_limit': 0}, 'restart_limit (mindie_service_restart_limit) is 0, expected at least 1'),
    ({'restart_window': 'soon'}, "restart_window (mindie_service_restart_window) is 'soon', not an integer"),
])
def test_bad_settings_are_refused_naming_the_variable(kwargs, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        mindie_supervisor_instance(_instances()[0], SERVICE_DIR, **kwargs)
    assert fragment in str(exc.value)


def test_an_instance_without_the_plans_keys_is_refused():
    with pytest.raises(AnsibleFilterError, match='lacks master_port, hccl'):
        mindie_supervisor_instance({'name': 'mindie', 'config_container_dir': '/etc/mindie', 'urls': {}}, SERVICE_DIR)
