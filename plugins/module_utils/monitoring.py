# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's view of the fleet, computed from the nodes' plans (``mindie_plan``), never hand-listed.

Two scrape jobs, each fed by a ``file_sd`` file the monitoring role writes from :func:`targets`:

- ``mindie_instance``: every instance's metrics port (MindIE's ``GET /metrics``, served with
  ``MIES_SERVICE_MONITOR_MODE=1``), labelled ``node``, ``instance``, ``container``, ``profile`` and ``model``;
- ``mindie_node``: every node's Prometheus node exporter, whose textfile collector carries the NPU figures
  npu-smi gives and each instance's live/ready state (``npu_exporter.py``), labelled ``node`` and ``profile``.

The ``instance`` target label is the MindIE instance's name (``mindie``, ``mindie-0``), so together with
``node`` it names one instance fleet-wide.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import STATE_FILE
from ansible_collections.ascend.mindie.plugins.module_utils.plan import is_loopback, planned_nodes, reached_at, url_host


def _metrics_address(node, vars_, instance, address_var):
    """Where Prometheus reaches the instance's metrics port: the node's ``address_var`` when set, else the
    address the metrics listener binds (:func:`plan.reached_at`)."""
    return reached_at(node, vars_, (instance.get('addresses') or {}).get('metrics'), address_var)


def targets(nodes, hostvars, address_var='mindie_monitoring_target_address', node_exporter_port=9100,
            profile_var='mindie_profile'):
    """The scrape targets of ``nodes`` (inventory names), from ``hostvars[node]['mindie_plan']``.

    Returns ``{'instances': [file_sd group, ...], 'nodes': [file_sd group, ...], 'missing': [nodes without a
    plan], 'unreachable': [{'node', 'instance', 'reason'}]}``. A file_sd group is ``{'targets': ['host:port'],
    'labels': {...}}``; an HTTPS instance's group sets ``__scheme__``. An instance whose metrics port listens on
    loopback only cannot be scraped from another host: it is listed in ``unreachable`` with the setting that
    fixes it, and the role refuses the fleet before it writes anything.
    """
    planned, missing = planned_nodes(nodes, hostvars)
    result = {'instances': [], 'nodes': [], 'missing': missing, 'unreachable': []}
    for node, vars_, plan in planned:
        profile = str(plan.get('profile') or vars_.get(profile_var) or '')
        model = str(plan.get('model_name') or 'qwen2_vl')
        # the port the node's own exporter listens on (its host variable, as the node side binds it)
        port = int(vars_.get('mindie_monitoring_node_exporter_port') or node_exporter_port)
        result['nodes'].append({
            'targets': ['%s:%d' % (url_host(reached_at(node, vars_, None, address_var)), port)],
            'labels': {'node': node, 'profile': profile, 'instance': node}})
        for instance in plan['instances']:
            ports = instance.get('ports') or {}
            address = _metrics_address(node, vars_, instance, address_var)
            if not _enabled(vars_.get('mindie_service_monitor', True)):
                result['unreachable'].append({
                    'node': node, 'instance': instance.get('name'),
                    'reason': 'it runs without MIES_SERVICE_MONITOR_MODE=1 (mindie_service_monitor is false), so its '
                              '/metrics answers 500; set mindie_service_monitor to true and redeploy'})
                continue
            if is_loopback(address):
                result['unreachable'].append({
                    'node': node, 'instance': instance.get('name'),
                    'reason': 'its metrics port %s listens on %s only (managementIpAddress); set '
                              'mindie_service_management_address to the node\'s address (MindIE serves its '
                              'management and metrics ports there), or %s to where Prometheus reaches it'
                              % (ports.get('metrics'), address, address_var)})
                continue
            group = {'targets': ['%s:%d' % (url_host(address), int(ports.get('metrics')))],
                     'labels': {'node': node, 'instance': str(instance.get('name')),
                                'container': str(instance.get('container') or instance.get('name')),
                                'profile': profile, 'model': model}}
            if (instance.get('scheme') or 'http') != 'http':
                group['labels']['__scheme__'] = instance['scheme']
            result['instances'].append(group)
    return result


def _enabled(value):
    """A boolean host variable as Ansible's ``bool`` filter reads it."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('yes', 'on', 'true', '1', 'y', 't')


def collector_instances(plan, supervisor_state_name=STATE_FILE):
    """What the node's textfile collector probes for each instance of ``plan``: ``{'instances': [{'name',
    'container', 'live_url', 'ready_url', 'supervisor_state'}]}`` (the management URLs as the node reaches
    them, the supervisor's state file in the instance's log directory)."""
    out = []
    for instance in (plan or {}).get('instances') or []:
        management = (instance.get('urls') or {}).get('management') or ''
        log_dir = instance.get('log_dir') or ''
        out.append({'name': instance.get('name'), 'container': instance.get('container') or instance.get('name'),
                    'live_url': management + '/v2/health/live' if management else None,
                    'ready_url': management + '/v2/health/ready' if management else None,
                    'supervisor_state': (log_dir.rstrip('/') + '/' + supervisor_state_name) if log_dir else None})
    return {'instances': out}
