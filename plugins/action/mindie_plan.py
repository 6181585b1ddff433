# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ascend.mindie.mindie_plan (documented in plugins/modules/mindie_plan.py).

Runs on the controller. Reads the plan's inputs (plugins/module_utils/plan.py ``INPUTS``) from the host's
variables, converts them exactly as ascend.mindie.mindie_vars does (``-e`` values are strings; same
messages), takes the detected NPUs from ``ansible_facts.npu`` and the expected profile from the host's
groups, and publishes the fact ``mindie_plan``. Only when the business listen address is neither set nor
known from the facts does it ask the node (the ``setup`` module, network subset) for its default IPv4 address.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ascend.mindie.plugins.action.mindie_vars import VariableError, check_value
from ansible_collections.ascend.mindie.plugins.module_utils import plan as plan_utils

LEGACY_MANAGEMENT_ADDRESS = 'mindie_service_management_ip_address'


def read_inputs(task_vars, template):
    """({plan key: converted value}, [error messages]) from the host's variables; ``template`` renders a value."""
    inputs, errors = {}, []
    for variable, key, spec, limit in plan_utils.INPUTS:
        if variable not in task_vars:
            inputs[key] = spec['default']
            continue
        try:
            value = template(task_vars[variable])
        except Exception as exc:  # pylint: disable=broad-except
            errors.append('%s cannot be evaluated: %s' % (variable, to_text(exc)))
            continue
        try:
            inputs[key] = check_value(variable, value, spec, limit)
        except VariableError as exc:
            errors.append(to_text(exc))
    return inputs, errors


def client_ports(value):
    """{node port: client port} from O(client_ports), whose keys may arrive as strings; refuses what is no port."""
    ports = {}
    for key, port in value.items():
        try:
            node_port, client_port = int(key), int(port)
        except (TypeError, ValueError):
            raise plan_utils.PlanError('client_ports maps ports to ports: %r: %r is not a pair of port numbers' % (key, port))
        if not (1 <= node_port <= 65535 and 1 <= client_port <= 65535) or isinstance(port, bool):
            raise plan_utils.PlanError('client_ports maps ports to ports: %r: %r is out of [1, 65535]' % (key, port))
        ports[node_port] = client_port
    return ports


class ActionModule(ActionBase):
    """Compute the node's plan and publish it as the fact mindie_plan."""

    TRANSFERS_FILES = False

    ARGUMENT_SPEC = dict(
        server_config=dict(type='dict'),
        npu=dict(type='dict'),
        client_host=dict(type='str'),
        client_ports=dict(type='dict'),
    )

    def _template(self, value):
        return self._templar.template(value)

    def _default_ipv4(self, task_vars, facts):
        """(address or None, facts to publish): the node's default IPv4 address, asked for once when unknown."""
        known = facts.get('default_ipv4')
        if isinstance(known, dict):
            return known.get('address'), {}
        answer = self._execute_module(module_name='ansible.builtin.setup', task_vars=task_vars,
                                      module_args={'gather_subset': ['!all', '!min', 'network'],
                                                   'filter': ['ansible_default_ipv4']})
        if answer.get('failed') or answer.get('unreachable'):
            raise plan_utils.PlanError('cannot read the node\'s default IPv4 address (set mindie_service_ip_address): %s'
                                       % answer.get('msg', 'setup failed'))
        gathered = (answer.get('ansible_facts') or {}).get('ansible_default_ipv4')
        gathered = gathered if isinstance(gathered, dict) else {}
        return gathered.get('address'), {'ansible_default_ipv4': gathered}

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result['changed'] = False
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        host = task_vars.get('inventory_hostname', '?')
        inputs, errors = read_inputs(task_vars, self._template)
        if errors:
            result.update(failed=True, errors=errors,
                          msg='%s: ascend.mindie.mindie_plan cannot use these variables: %s. Fix them where they are set '
                              '(inventory, playbook or -e).' % (host, '; '.join(errors)))
            return result
        facts = task_vars.get('ansible_facts') or {}
        published = {}
        try:
            if inputs['management_address'] is None:
                legacy = self._template(task_vars[LEGACY_MANAGEMENT_ADDRESS]) if LEGACY_MANAGEMENT_ADDRESS in task_vars else None
                inputs['management_address'] = to_text(legacy) if legacy else '127.0.0.1'
            if inputs['business_address'] is None:
                address = None
                if args['server_config'] is None:
                    address, published = self._default_ipv4(task_vars, facts)
                elif isinstance(facts.get('default_ipv4'), dict):
                    # The instances the deployed configs leave out are planned from the inputs: the known address.
                    address = facts['default_ipv4'].get('address')
                inputs['business_address'] = address or '127.0.0.1'
            npu = args['npu'] if args['npu'] is not None else facts.get('npu')
            node_host = to_text(self._template(task_vars.get('ansible_host') or host))
            translation = None
            if args['client_host'] and args['client_ports']:
                translation = {'host': args['client_host'], 'ports': client_ports(args['client_ports'])}
            plan = plan_utils.build_plan(inputs, npu=npu, group_names=task_vars.get('group_names') or [],
                                         server_config=args['server_config'], node_host=node_host, host=host,
                                         published=translation)
        except plan_utils.PlanError as exc:
            result.update(failed=True, msg=to_text(exc))
            return result
        if published:
            result['ansible_facts'] = published
        result['plan'] = plan
        if plan['warnings']:
            # A layout outside the guide that mindie_instance_layout_beyond_guide allows, and the like: shown as
            # Ansible warnings, and kept in plan.warnings for the reports.
            result['warnings'] = ['%s: %s' % (host, warning) for warning in plan['warnings']]
        result['msg'] = '%s: %s, layout %s: %s' % (
            host, plan['profile'] or 'no known hardware profile', plan['layout'], '; '.join(
                '%s on NPUs %s, ports %s/%s/%s, MASTER_PORT %s' % (
                    i['name'], i['devices'], i['ports']['business'], i['ports']['management'], i['ports']['metrics'],
                    i['master_port']) for i in plan['instances']))
        return result
