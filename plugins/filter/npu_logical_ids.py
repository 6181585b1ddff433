# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.npu_logical_ids: physical NPU ids -> the logical ids MindIE uses inside a container."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils.plan import logical_ids


def npu_logical_ids(devices, visible):
    """Map each physical NPU id of ``devices`` to its index among the sorted NPUs the container sees.

    The rule is module_utils/plan.py ``logical_ids`` (the node plan's ``logical_devices`` use it too).
    ``visible``: the container's /dev/davinciN nodes (paths, names or numbers; anything else, such as
    /dev/davinci_manager, is ignored). A privileged container sees every NPU, so the ids stay the same; one that
    got /dev/davinci4../dev/davinci7 addresses them as 0..3.
    """
    try:
        return logical_ids(devices, visible)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'npu_logical_ids': npu_logical_ids}
