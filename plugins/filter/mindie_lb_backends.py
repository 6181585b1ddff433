# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_lb_backends: the load balancer's backends and servers, from the nodes' plans."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils.loadbalancer import backends

HEALTH_CHECKS = ('auto', 'live', 'models')


def mindie_lb_backends(nodes, hostvars, health_check='auto', address_var='mindie_loadbalancer_backend_address',
                       first_port=None):
    """module_utils/loadbalancer.py ``backends`` for the inventory names ``nodes``."""
    if not isinstance(nodes, (list, tuple)):
        raise AnsibleFilterError('mindie_lb_backends: the input must be a list of inventory names, got %r' % (nodes,))
    if health_check not in HEALTH_CHECKS:
        raise AnsibleFilterError('mindie_lb_backends: health_check must be one of %s, not %r'
                                 % (', '.join(HEALTH_CHECKS), health_check))
    return backends([str(node) for node in nodes], hostvars, address_var=address_var, health_check=health_check,
                    first_port=first_port)


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_lb_backends': mindie_lb_backends}
