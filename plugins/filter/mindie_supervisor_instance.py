# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_supervisor_instance: an instance of the node's plan -> its supervisor.json.

The service role writes the result (as JSON, 0640) beside the instance's config.json; the supervisor in the
instance's container (plugins/module_utils/mindie_supervisor.py, ``parse_instance``) reads it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_api import LIVE_PATH
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import SET_ENV_SCRIPTS
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_logs import LOG_ROTATE_ENV, log_rotate_problem

# Set from the instance and the role's settings; an operator's mindie_service_env must not replace them
# (ascend.mindie.mindie_service refuses the same names in its env, HCCL_IF_BASE_PORT is the instance's range).
RESERVED_ENV = ('MASTER_ADDR', 'MASTER_PORT', 'HCCL_IF_BASE_PORT', 'MIES_CONFIG_JSON_PATH', 'MIES_SERVICE_MONITOR_MODE')
ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
REQUIRED_KEYS = ('name', 'config_container_dir', 'master_port', 'hccl', 'urls')


def _int(value, what, minimum):
    if isinstance(value, bool):
        raise AnsibleFilterError('mindie_supervisor_instance: %s is %r, not an integer' % (what, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError('mindie_supervisor_instance: %s is %r, not an integer' % (what, value))
    if number < minimum:
        raise AnsibleFilterError('mindie_supervisor_instance: %s is %d, expected at least %d' % (what, number, minimum))
    return number


def _env(instance, env, master_addr, monitor):
    env = env or {}
    if not isinstance(env, dict):
        raise AnsibleFilterError('mindie_supervisor_instance: env (mindie_service_env) must be a dict, got %r' % (env,))
    reserved = sorted(name for name in env if name in RESERVED_ENV)
    if reserved:
        raise AnsibleFilterError(
            'mindie_service_env sets %s, which the collection sets for each instance (MASTER_ADDR from '
            'mindie_service_master_addr, MASTER_PORT and HCCL_IF_BASE_PORT from the plan, MIES_SERVICE_MONITOR_MODE from '
            'mindie_service_monitor, MIES_CONFIG_JSON_PATH from the config directories); remove %s from it'
            % (', '.join(reserved), 'it' if len(reserved) == 1 else 'them'))
    result = {}
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name) or value is None or isinstance(value, (dict, list, bool)):
            raise AnsibleFilterError('mindie_service_env: %r=%r is not a variable name and a string or number' % (name, value))
        result[name] = to_text(value)
    # The role sets it from mindie_service_log_rotate_size_mb / _files unless mindie_service_env does; a value MindIE's
    # logger refuses would abort every start of the daemon (SIGABRT), so it is refused here, before anything is written.
    if LOG_ROTATE_ENV in result:
        problem = log_rotate_problem(result[LOG_ROTATE_ENV])
        if problem:
            raise AnsibleFilterError(
                'mindie_service_env: %s=%r would abort the MindIE daemon at start (its logger refuses it): %s; set '
                'mindie_service_log_rotate_size_mb and mindie_service_log_rotate_files instead, or a value such as '
                '"-fs 20 -r 10"' % (LOG_ROTATE_ENV, result[LOG_ROTATE_ENV], problem))
    result.setdefault('MINDIE_LOG_PATH', mindie_supervisor.DEFAULT_STATE_DIR + '/mindie')
    result['MASTER_ADDR'] = to_text(master_addr)
    result['MASTER_PORT'] = str(_int(instance['master_port'], 'master_port', 1))
    result['HCCL_IF_BASE_PORT'] = str(_int(instance['hccl'].get('base_port'), 'hccl.base_port', 1))
    if monitor:
        result['MIES_SERVICE_MONITOR_MODE'] = '1'
    return result


def mindie_supervisor_instance(instance, service_dir, env=None, master_addr='localhost', monitor=True, restart_limit=5,
                               restart_window=600, stop_timeout=30, live_interval=10, live_failures=3, tls=None):
    """The supervisor.json settings of ``instance`` (an entry of mindie_plan.instances)."""
    if not isinstance(instance, dict):
        raise AnsibleFilterError('mindie_supervisor_instance: the input must be an instance of mindie_plan.instances, '
                                 'got %r' % (instance,))
    missing = [key for key in REQUIRED_KEYS if key not in instance]
    if missing or not isinstance(instance.get('hccl'), dict) or not isinstance(instance.get('urls'), dict):
        raise AnsibleFilterError('mindie_supervisor_instance: the instance %s lacks %s (a plan of ascend.mindie.mindie_plan '
                                 'has them)' % (instance.get('name', '?'), ', '.join(missing) or 'hccl/urls as dicts'))
    if not isinstance(service_dir, str) or not service_dir.startswith('/'):
        raise AnsibleFilterError('mindie_supervisor_instance: service_dir must be an absolute path, got %r' % (service_dir,))
    tls = tls or {}
    if not isinstance(tls, dict):
        raise AnsibleFilterError('mindie_supervisor_instance: tls must be a dict {ca, cert, key, server_name}, got %r' % (tls,))
    management = instance['urls'].get('management')
    return {
        'config': '%s/config.json' % to_text(instance['config_container_dir']).rstrip('/'),
        'service_dir': service_dir,
        'set_env': list(SET_ENV_SCRIPTS),
        'env': _env(instance, env, master_addr, monitor),
        'restart_limit': _int(restart_limit, 'restart_limit (mindie_service_restart_limit)', 1),
        'restart_window': _int(restart_window, 'restart_window (mindie_service_restart_window)', 1),
        'stop_timeout': _int(stop_timeout, 'stop_timeout (mindie_service_stop_timeout)', 1),
        'live': {
            'url': (management.rstrip('/') + LIVE_PATH) if management else None,
            'interval': _int(live_interval, 'live_interval', 1),
            'failures': _int(live_failures, 'live_failures', 1),
            'ca': tls.get('ca'), 'cert': tls.get('cert'), 'key': tls.get('key'), 'server_name': tls.get('server_name'),
        },
    }


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_supervisor_instance': mindie_supervisor_instance}
