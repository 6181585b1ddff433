# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rolling change across the fleet's instances: batches, waves, and the report.

A rollout changes the instances that differ from what the playbook asks (``drift``), batch after batch. Batch sizes
follow Ansible's ``serial`` (an int or a percentage of the instances to change, floored, at least 1; the last size
repeats until every instance is in a batch; the first batch is the canary). Inside a batch, instances go out of
rotation in waves of at most ``max_unavailable`` (fleet-wide; an int or a percentage of the plan's instances) and,
without a load balancer, one instance per node at a time. A failed wave rolls its batch back and halts the rollout.

Standard library only, Python 2.7 syntax: the rollout role's filters and the unit tests import it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

_PERCENT = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$')


class RolloutError(ValueError):
    """A batch or max_unavailable setting that cannot be used, with what to write instead."""


def _size(value, total, what):
    """An int >= 1, or a percentage of ``total`` (floored, at least 1)."""
    if isinstance(value, bool):
        raise RolloutError('%s: %r is not a number of instances nor a percentage (write 1, 2, "25%%"...)' % (what, value))
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if number < 1:
            raise RolloutError('%s: %d instances is not a size; write at least 1 (or a percentage such as "25%%")'
                               % (what, number))
        return number
    match = _PERCENT.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise RolloutError('%s: %r is not a number of instances nor a percentage (write 1, 2, "25%%"...)' % (what, value))
    percent = float(match.group(1))
    if not 0 < percent <= 100:
        raise RolloutError('%s: %s is not a percentage between 0 and 100 (excluded) and 100' % (what, value))
    return max(1, int(total * percent / 100.0))


def batch_sizes(batches, total):
    """The batch sizes for ``total`` instances: Ansible ``serial`` semantics (each entry is the size of the next
    batch, the last one repeats, percentages of ``total`` floored with at least 1). ``[]`` / None is one batch."""
    if batches in (None, '', []):
        return [total] if total > 0 else []
    if not isinstance(batches, (list, tuple)):
        batches = [batches]
    # (checked even with nothing to change: a wrong setting is refused before anything is touched)
    specs = [_size(value, max(total, 1), 'mindie_rollout_batches[%d]' % index) for index, value in enumerate(batches)]
    if total <= 0:
        return []
    sizes, left, index = [], total, 0
    while left > 0:
        size = min(specs[min(index, len(specs) - 1)], left)
        sizes.append(size)
        left -= size
        index += 1
    return sizes


def max_unavailable(value, total):
    """``mindie_rollout_max_unavailable`` as a number of instances of a fleet of ``total``."""
    return _size(value, max(total, 1), 'mindie_rollout_max_unavailable')


def order(items, nodes):
    """Instances to change in rollout order: the first instance of every node (inventory order), then the second of
    every node..., so consecutive instances are on different nodes."""
    rank = dict((node, position) for position, node in enumerate(nodes))
    return sorted(items, key=lambda item: (int(item.get('index', 0)), rank.get(item['node'], len(rank)), item['node']))


def waves(items, nodes, batches, unavailable, total, per_node=None):
    """The rollout: a list of batches, each ``{'batch', 'size', 'canary', 'waves': [[item]]}``.

    ``items`` are the instances to change (dicts with at least ``node``, ``instance`` and ``index``), ``nodes`` the
    inventory order, ``total`` the plan's instances fleet-wide (for a percentage ``unavailable``), ``per_node`` the
    most instances of one node out at once (None: no limit; 1 without a load balancer)."""
    ordered = order(items, nodes)
    limit = max_unavailable(unavailable, total)
    plan, start = [], 0
    for number, size in enumerate(batch_sizes(batches, len(ordered)), 1):
        members, start = ordered[start:start + size], start + size
        batch_waves = []
        pending = list(members)
        while pending:
            wave, taken, rest = [], {}, []
            for item in pending:
                node = item['node']
                if len(wave) < limit and (per_node is None or taken.get(node, 0) < per_node):
                    wave.append(item)
                    taken[node] = taken.get(node, 0) + 1
                else:
                    rest.append(item)
            batch_waves.append(wave)
            pending = rest
        plan.append({'batch': number, 'size': len(members), 'canary': number == 1 and size < len(ordered),
                     'waves': batch_waves})
    return plan


def flat_waves(plan):
    """The waves of ``waves()`` in order, each ``{'batch', 'wave', 'last_of_batch', 'canary', 'instances'}``."""
    result = []
    for batch in plan:
        for number, wave in enumerate(batch['waves'], 1):
            result.append({'batch': batch['batch'], 'wave': len(result) + 1, 'canary': batch['canary'],
                           'last_of_batch': number == len(batch['waves']), 'instances': wave})
    return result


def capacity(total, records):
    """Fleet capacity over time: ``[{'t', 'in_rotation'}]`` from each instance's out/in times (epoch seconds; an
    instance never back in rotation stays out), with the lowest figure. ``records`` are the report's instances."""
    events = []
    for record in records:
        for out_key, in_key in (('out_at', 'in_at'), ('undo_out_at', 'undo_in_at')):
            if record.get(out_key) is None:
                continue
            events.append((float(record[out_key]), -1))
            if record.get(in_key) is not None:
                events.append((float(record[in_key]), 1))
    events.sort(key=lambda event: (event[0], event[1]))
    timeline, current, lowest = [], total, total
    start = events[0][0] if events else 0.0
    timeline.append({'t': 0.0, 'in_rotation': current})
    for when, step in events:
        current += step
        lowest = min(lowest, current)
        timeline.append({'t': round(when - start, 1), 'in_rotation': current})
    return {'timeline': timeline, 'lowest': lowest}


def mark(name, values):
    """``{'key': name, 'value': values}``: one entry of an ``items2dict`` update of the records by instance name."""
    return {'key': name, 'value': dict(values)}


def report(rollout, results, total, unavailable, started, finished, halted=None):
    """The rollout report: ``rollout`` the inputs (target image, batches...), ``results`` one dict per instance
    handled (node, instance, batch, wave, version_before/after, drain_s, out_at, in_at, gate, reason...)."""
    records = sorted(results, key=lambda r: (r.get('wave') or 0, r.get('node', ''), r.get('instance', '')))
    for record in records:
        pairs = [(a, b) for a, b in (('out_at', 'in_at'), ('undo_out_at', 'undo_in_at')) if record.get(a) is not None]
        # (an instance never back in rotation - its rollback failed - has no figure: it is still out)
        record['back_in_rotation'] = all(record.get(b) is not None for _a, b in pairs)
        spans = [float(record[b]) - float(record[a]) for a, b in pairs if record.get(b) is not None]
        record['out_of_rotation_s'] = round(sum(spans), 1) if spans and record['back_in_rotation'] else None
    outs = [r['out_of_rotation_s'] for r in records if r.get('out_of_rotation_s') is not None]
    cap = capacity(total, records)
    limit = max_unavailable(unavailable, total)
    return {
        'rollout': rollout,
        'status': 'halted' if halted else ('finished' if records else 'nothing to change'),
        'halted': halted,
        'started': started,
        'finished': finished,
        'duration_s': round(float(finished) - float(started), 1) if started and finished else None,
        'instances_total': total,
        'max_unavailable': limit,
        'changed': len([r for r in records if r.get('gate') == 'passed']),
        'rolled_back': len([r for r in records if r.get('gate') in ('failed', 'rolled back') and r.get('rolled_back', True)]),
        'rollback_failed': len([r for r in records if r.get('gate') in ('failed', 'rollback failed')
                                and r.get('rolled_back') is False]),
        'instances': records,
        'out_of_rotation_s': {'max': max(outs) if outs else None,
                              'mean': round(sum(outs) / len(outs), 1) if outs else None},
        'capacity': cap,
        'capacity_floor': total - limit,
        'capacity_kept': cap['lowest'] >= total - limit,
    }
