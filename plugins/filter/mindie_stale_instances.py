# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_stale_instances: the containers of ours that belong to instances the plan no longer has."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils.plan import deployment_container


def mindie_stale_instances(names, base, planned, previous=False):
    """The names among ``names`` (containers labelled ascend.mindie.managed=true; a leading / is dropped) that are
    instances of this deployment the plan no longer has (module_utils/plan.py ``deployment_container``), sorted;
    with ``previous`` also the planned instances' containers kept aside as <name>-previous (for a teardown)."""
    if not isinstance(names, (list, tuple)) or not isinstance(planned, (list, tuple)):
        raise AnsibleFilterError('mindie_stale_instances: names and planned must be lists of container names, got %r and %r'
                                 % (names, planned))
    found = set()
    for name in names:
        bare = str(name).lstrip('/')
        if deployment_container(bare, base, planned) in (('stale', 'previous') if previous else ('stale',)):
            found.add(bare)
    return sorted(found)


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_stale_instances': mindie_stale_instances}
