# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_monitoring_targets and mindie_monitoring_collector: Prometheus's targets and the node
collector's probes, from the nodes' plans."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils.monitoring import collector_instances, targets


def mindie_monitoring_targets(nodes, hostvars, address_var='mindie_monitoring_target_address', node_exporter_port=9100):
    """module_utils/monitoring.py ``targets`` for the inventory names ``nodes``."""
    if not isinstance(nodes, (list, tuple)):
        raise AnsibleFilterError('mindie_monitoring_targets: the input must be a list of inventory names, got %r'
                                 % (nodes,))
    try:
        port = int(node_exporter_port)
    except (TypeError, ValueError):
        raise AnsibleFilterError('mindie_monitoring_targets: node_exporter_port must be a port number, not %r'
                                 % (node_exporter_port,))
    return targets([str(node) for node in nodes], hostvars, address_var=address_var, node_exporter_port=port)


def mindie_monitoring_collector(plan):
    """module_utils/monitoring.py ``collector_instances`` for one node's plan."""
    if not isinstance(plan, dict):
        raise AnsibleFilterError('mindie_monitoring_collector: the input must be a node\'s mindie_plan, got %r'
                                 % (plan,))
    return collector_instances(plan)


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_monitoring_targets': mindie_monitoring_targets,
                'mindie_monitoring_collector': mindie_monitoring_collector}
