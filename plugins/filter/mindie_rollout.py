# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_rollout_waves and mindie_rollout_report: a rollout's waves and its report."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils.rollout import (
    RolloutError, flat_waves, mark, report, waves)


def mindie_rollout_waves(items, nodes, batches, max_unavailable, total, per_node=None):
    """module_utils/rollout.py ``waves`` then ``flat_waves``."""
    if not isinstance(items, (list, tuple)) or any(not isinstance(item, dict) or 'node' not in item for item in items):
        raise AnsibleFilterError('mindie_rollout_waves: the input must be a list of instances ({node, instance, index}), '
                                 'got %r' % (items,))
    try:
        return flat_waves(waves([dict(item) for item in items], [str(node) for node in nodes], batches,
                                max_unavailable, int(total), None if per_node in (None, '') else int(per_node)))
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc))


def mindie_rollout_report(results, rollout, total, max_unavailable, started, finished, halted=None):
    """module_utils/rollout.py ``report``."""
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError('mindie_rollout_report: the input must be a list of instance records, got %r' % (results,))
    try:
        return report(dict(rollout or {}), [dict(r) for r in results], int(total), max_unavailable, started, finished,
                      halted=halted or None)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc))


def mindie_rollout_mark(name, values):
    """module_utils/rollout.py ``mark``."""
    if not isinstance(values, dict):
        raise AnsibleFilterError('mindie_rollout_mark: the values must be a dict, got %r' % (values,))
    return mark(str(name), values)


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_rollout_waves': mindie_rollout_waves, 'mindie_rollout_report': mindie_rollout_report,
                'mindie_rollout_mark': mindie_rollout_mark}
