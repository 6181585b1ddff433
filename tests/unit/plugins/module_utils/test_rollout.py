# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/rollout.py and the rollout filters: batches follow Ansible's serial, waves keep max_unavailable
fleet-wide (and one per node without a balancer), the report's capacity and times come from the records."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.mindie_rollout import (
    mindie_rollout_mark, mindie_rollout_report, mindie_rollout_waves)
from ansible_collections.ascend.mindie.plugins.module_utils import rollout


def fleet(nodes=4, per_node=2):
    """Drift items of every instance: node1..N, mindie-0..M-1."""
    return [{'node': 'node%d' % n, 'instance': 'mindie-%d' % i, 'index': i, 'server': 'node%d_mindie-%d' % (n, i)}
            for n in range(1, nodes + 1) for i in range(per_node)]


NODES = ['node1', 'node2', 'node3', 'node4']


@pytest.mark.parametrize('batches, total, sizes', [
    ([1, '25%', '100%'], 8, [1, 2, 5]),
    ([1, '25%', '100%'], 3, [1, 1, 1]),       # 25% of 3 floors to 0: at least 1
    ([2], 5, [2, 2, 1]),                       # the last size repeats
    (['50%'], 8, [4, 4]),
    ([1, 10], 4, [1, 3]),                      # never more than what is left
    ([], 5, [5]),
    (None, 0, []),
    ([1, '25%'], 0, []),
    (['100%'], 1, [1]),
    (['2'], 3, [2, 1]),
])
def test_batch_sizes_follow_ansible_serial(batches, total, sizes):
    assert rollout.batch_sizes(batches, total) == sizes


@pytest.mark.parametrize('bad, words', [
    ([0], 'at least 1'), (['0%'], 'percentage between'), (['150%'], 'percentage between'),
    (['ten'], 'not a number'), ([True], 'not a number'), ([1.5], 'not a number')])
def test_bad_batch_sizes_are_refused_even_with_nothing_to_change(bad, words):
    for total in (0, 4):
        with pytest.raises(rollout.RolloutError, match=words):
            rollout.batch_sizes(bad, total)


def test_max_unavailable_number_or_percentage_of_the_plan():
    assert rollout.max_unavailable(2, 8) == 2
    assert rollout.max_unavailable('25%', 8) == 2
    assert rollout.max_unavailable('10%', 8) == 1
    with pytest.raises(rollout.RolloutError, match='mindie_rollout_max_unavailable'):
        rollout.max_unavailable(0, 8)


def test_order_spreads_consecutive_instances_over_nodes():
    ordered = rollout.order(fleet(nodes=2, per_node=2), ['node2', 'node1'])
    assert [i['server'] for i in ordered] == ['node2_mindie-0', 'node1_mindie-0', 'node2_mindie-1', 'node1_mindie-1']


def test_canary_first_then_batches_split_in_waves_of_max_unavailable():
    plan = rollout.waves(fleet(), NODES, [1, '25%', '100%'], 2, 8)
    assert [b['size'] for b in plan] == [1, 2, 5]
    assert [b['canary'] for b in plan] == [True, False, False]
    assert [len(w) for w in plan[2]['waves']] == [2, 2, 1]
    for batch in plan:
        assert all(len(wave) <= 2 for wave in batch['waves'])
    # every instance exactly once, in order
    flat = [i['server'] for b in plan for w in b['waves'] for i in w]
    assert sorted(flat) == sorted(i['server'] for i in fleet()) and len(flat) == 8
    assert flat[0] == 'node1_mindie-0'


def test_without_a_balancer_one_instance_per_node_at_a_time():
    plan = rollout.waves(fleet(nodes=2, per_node=4), NODES, ['100%'], 4, 8, per_node=1)
    for wave in plan[0]['waves']:
        nodes = [i['node'] for i in wave]
        assert len(nodes) == len(set(nodes))
    assert [len(w) for w in plan[0]['waves']] == [2, 2, 2, 2]


def test_a_single_batch_is_no_canary():
    (batch,) = rollout.waves(fleet(nodes=1, per_node=2), NODES, ['100%'], 1, 2)
    assert not batch['canary'] and [len(w) for w in batch['waves']] == [1, 1]


def test_flat_waves_number_the_waves_and_mark_the_last_of_each_batch():
    waves = mindie_rollout_waves(fleet(nodes=2, per_node=2), NODES, [1, '100%'], 2, 4)
    assert [w['wave'] for w in waves] == [1, 2, 3]
    assert [w['batch'] for w in waves] == [1, 2, 2]
    assert [w['last_of_batch'] for w in waves] == [True, False, True]
    assert [w['canary'] for w in waves] == [True, False, False]
    assert mindie_rollout_waves([], NODES, [1, '25%'], 1, 4) == []


def test_the_filter_refuses_bad_settings_and_bad_input():
    with pytest.raises(AnsibleFilterError, match=r'mindie_rollout_batches\[1\]'):
        mindie_rollout_waves([], NODES, [1, 'half'], 1, 4)
    with pytest.raises(AnsibleFilterError, match='list of instances'):
        mindie_rollout_waves([{'instance': 'x'}], NODES, [1], 1, 4)


def test_capacity_over_time_and_its_floor():
    records = [
        {'node': 'a', 'instance': 'i0', 'wave': 1, 'out_at': 100.0, 'in_at': 120.0, 'gate': 'passed'},
        {'node': 'b', 'instance': 'i0', 'wave': 2, 'out_at': 121.0, 'in_at': 150.5, 'gate': 'passed'},
        {'node': 'a', 'instance': 'i1', 'wave': 2, 'out_at': 121.0, 'in_at': 149.0, 'gate': 'passed'},
    ]
    report = rollout.report({'image': 'x:1'}, records, 4, 2, 90.0, 160.0)
    assert report['capacity']['lowest'] == 2 and report['capacity_floor'] == 2 and report['capacity_kept']
    assert [p['in_rotation'] for p in report['capacity']['timeline']] == [4, 3, 4, 3, 2, 3, 4]
    assert [r['out_of_rotation_s'] for r in report['instances']] == [20.0, 28.0, 29.5]
    assert report['out_of_rotation_s'] == {'max': 29.5, 'mean': 25.8}
    assert report['status'] == 'finished' and report['changed'] == 3 and report['duration_s'] == 70.0


def test_a_halted_rollout_counts_the_rollback_and_its_second_time_out():
    records = [
        {'node': 'a', 'instance': 'i0', 'wave': 1, 'out_at': 0.0, 'in_at': 10.0, 'gate': 'rolled back',
         'undo_out_at': 30.0, 'undo_in_at': 40.0},
        {'node': 'b', 'instance': 'i0', 'wave': 2, 'out_at': 11.0, 'in_at': 29.0, 'gate': 'failed', 'reason': 'warm-up'},
    ]
    halted = {'node': 'b', 'batch': 1, 'wave': 2, 'reason': 'warm-up'}
    report = mindie_rollout_report(records, {'image': 'x:2'}, 3, 1, 0.0, 41.0, halted=halted)
    assert report['status'] == 'halted' and report['halted'] == halted
    assert report['changed'] == 0 and report['rolled_back'] == 2
    assert report['instances'][0]['out_of_rotation_s'] == 20.0 and report['instances'][0]['back_in_rotation']
    assert report['capacity']['lowest'] == 2 and report['capacity_kept']


def test_a_failed_rollback_is_counted_apart_and_its_instance_stays_out_of_rotation():
    records = [
        {'node': 'b', 'instance': 'i0', 'wave': 1, 'out_at': 11.0, 'in_at': None, 'gate': 'failed',
         'reason': 'warm-up', 'rolled_back': False},
    ]
    halted = {'node': 'b', 'batch': 1, 'wave': 1, 'reason': 'warm-up', 'rollback_error': 'balancer unreachable'}
    report = rollout.report({'image': 'x:2'}, records, 3, 1, 0.0, 41.0, halted=halted)
    assert report['rolled_back'] == 0 and report['rollback_failed'] == 1
    assert report['capacity']['lowest'] == 2 and report['capacity']['timeline'][-1]['in_rotation'] == 2
    assert report['instances'][0]['out_of_rotation_s'] is None and not report['instances'][0]['back_in_rotation']


def test_a_rollout_with_nothing_to_change():
    report = rollout.report({}, [], 3, 1, 5.0, 6.0)
    assert report['status'] == 'nothing to change' and report['capacity']['lowest'] == 3
    assert report['out_of_rotation_s'] == {'max': None, 'mean': None}


def test_capacity_below_the_floor_is_reported():
    records = [{'node': 'a', 'instance': 'i%d' % n, 'wave': 1, 'out_at': 0.0, 'in_at': 5.0} for n in range(2)]
    assert not rollout.report({}, records, 4, 1, 0.0, 5.0)['capacity_kept']


def test_mark_is_an_items2dict_entry():
    assert mindie_rollout_mark('mindie-0', {'gate': 'passed'}) == {'key': 'mindie-0', 'value': {'gate': 'passed'}}
    with pytest.raises(AnsibleFilterError):
        mindie_rollout_mark('mindie-0', ['gate'])
