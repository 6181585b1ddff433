# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load balancer's view of the fleet, computed from the nodes' plans (``mindie_plan``), never hand-listed.

One backend per model (``model_<model name>``), one server per MindIE instance (``<node>_<instance>``): where
HAProxy sends requests (the instance's business address and port as the node serves them) and where it checks
liveness (the management port). The loadbalancer role renders haproxy.cfg from :func:`backends`; the rollout and
the fleet report name servers with :func:`server_name`.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.ascend.mindie.plugins.module_utils.plan import is_loopback, planned_nodes, reached_at

_NAME_UNSAFE = re.compile(r'[^A-Za-z0-9_.:-]')


def backend_name(model_name):
    """``model_<model>`` with every character HAProxy does not take in a proxy name made ``_``."""
    return 'model_' + _NAME_UNSAFE.sub('_', str(model_name))


def server_name(node, instance):
    """``<node>_<instance>``, e.g. ``node1_mindie-0``."""
    return _NAME_UNSAFE.sub('_', '%s_%s' % (node, instance))


def _backend_address(node, vars_, instance, address_var):
    """Where the balancer reaches ``instance``: the node's ``address_var``, else the address its business port
    listens on (:func:`plan.reached_at`)."""
    return reached_at(node, vars_, (instance.get('addresses') or {}).get('business'), address_var)


def _health_check(instance, ports, mode):
    """How HAProxy tells a dead instance from a busy one: {'check_port', 'check_path', 'check'}.

    ``live``: ``GET /v2/health/live`` on the management port (200 while the daemon lives, busy or not; FACTS.md),
    which needs a management address the balancer can reach. ``models``: ``GET /v1/models`` on the business port
    (answered by the daemon's HTTP server whatever its load; refused once it is dead). ``auto``: live where the
    management port is reachable (not loopback), else models. Ready (503 while busy) is never the check.
    """
    management = str((instance.get('addresses') or {}).get('management') or '')
    if mode == 'auto':
        mode = 'models' if (not management or is_loopback(management)) else 'live'
    if mode == 'live':
        return {'check': 'live', 'check_port': int(ports.get('management')), 'check_path': '/v2/health/live'}
    return {'check': 'models', 'check_port': int(ports.get('business')), 'check_path': '/v1/models'}


def backends(nodes, hostvars, address_var='mindie_loadbalancer_backend_address', health_check='auto', first_port=None):
    """The balancer's backends for ``nodes`` (inventory names), from ``hostvars[node]['mindie_plan']``.

    Returns ``{'backends': [...], 'missing': [nodes without a plan], 'unreachable': [...]}``: every backend is
    ``{'name', 'model', 'scheme', 'tls_server_name', 'tls_ca', 'servers': [...]}`` and every server ``{'name',
    'node', 'instance', 'container', 'address', 'port', 'scheme', 'check', 'check_port', 'check_path'}``
    (:func:`_health_check`, ``health_check`` auto, live or models); with ``first_port`` every backend also has
    the ``port`` of its frontend (``first_port`` + its index, in the order the models first appear); ``unreachable`` lists the
    instances the balancer cannot reach (``{'node', 'instance', 'reason'}``: listening on loopback only, or no
    address known), which the role refuses before it writes anything.
    """
    planned, missing = planned_nodes(nodes, hostvars)
    result = {'backends': [], 'missing': missing, 'unreachable': []}
    by_model = {}
    for node, vars_, plan in planned:
        model = plan.get('model_name') or 'qwen2_vl'
        for instance in plan['instances']:
            address = _backend_address(node, vars_, instance, address_var)
            ports = instance.get('ports') or {}
            if not address:
                result['unreachable'].append({'node': node, 'instance': instance.get('name'),
                                              'reason': 'no address known (set %s for the node)' % address_var})
                continue
            if is_loopback(address):
                result['unreachable'].append({'node': node, 'instance': instance.get('name'),
                                              'reason': 'it listens on %s only (mindie_service_ip_address); set the '
                                                        'node address, or %s to where the balancer reaches it'
                                                        % (address, address_var)})
                continue
            backend = by_model.get(model)
            if backend is None:
                tls = plan.get('tls') or {}
                backend = by_model[model] = {'name': backend_name(model), 'model': model,
                                             'scheme': instance.get('scheme') or 'http',
                                             'tls_server_name': tls.get('server_name'), 'tls_ca': tls.get('ca'),
                                             'servers': []}
                result['backends'].append(backend)
            check = _health_check(instance, ports, health_check)
            backend['servers'].append(dict(check, **{
                'name': server_name(node, instance.get('name')), 'backend': backend['name'], 'node': node,
                'instance': instance.get('name'),
                'container': instance.get('container'), 'address': address, 'port': int(ports.get('business')),
                'scheme': instance.get('scheme') or 'http'}))
    for backend in result['backends']:
        # httpchk's request is the backend's: one kind of check for all its servers, live only where all have it
        if any(server['check'] != 'live' for server in backend['servers']):
            for server in backend['servers']:
                server.update(check='models', check_port=server['port'], check_path='/v1/models')
        if first_port is not None:
            backend['port'] = int(first_port) + result['backends'].index(backend)
        backend['check'] = backend['servers'][0]['check']
        backend['check_path'] = backend['servers'][0]['check_path']
    return result
