# -*- coding: utf-8 -*-
"""The image role's tree distribution plan (plugins/filter/mindie_image_tree.py)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.mindie_image_tree import FilterModule, image_tree


def nodes(n):
    return ['n%02d' % i for i in range(1, n + 1)]


@pytest.mark.parametrize('size,waves', [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (8, 4), (16, 5), (100, 8)])
def test_one_seed_then_the_holders_double_every_wave(size, waves):
    plan = image_tree(nodes(size))
    assert plan['waves'] == waves and plan['seeds'] == ['n01']
    assert set(plan['nodes']) == set(nodes(size))
    from_controller = [n for n, p in plan['nodes'].items() if p['source'] is None]
    assert from_controller == ['n01']           # the controller's egress is one tarball
    for node, step in plan['nodes'].items():
        if step['source'] is not None:          # every source got it in an earlier wave
            assert plan['nodes'][step['source']]['wave'] < step['wave'], node
    for wave in range(1, waves):                # a source serves one receiver per wave
        sources = [p['source'] for p in plan['nodes'].values() if p['wave'] == wave]
        assert len(sources) == len(set(sources))


def test_four_nodes():
    assert image_tree(['a', 'b', 'c', 'd'])['nodes'] == {
        'a': {'wave': 0, 'source': None}, 'b': {'wave': 1, 'source': 'a'},
        'c': {'wave': 2, 'source': 'a'}, 'd': {'wave': 2, 'source': 'b'}}


def test_holders_serve_and_no_seed_is_chosen():
    plan = image_tree(['b', 'c', 'd'], holders=['a', 'b'])    # b needs it: not a holder
    assert plan['seeds'] == [] and plan['holders'] == ['a']
    assert all(p['source'] is not None for p in plan['nodes'].values())
    assert plan['nodes']['b'] == {'wave': 1, 'source': 'a'}


def test_several_seeds_and_nothing_to_do():
    plan = image_tree(nodes(6), seeds=2)
    assert plan['seeds'] == ['n01', 'n02']
    assert [n for n, p in plan['nodes'].items() if p['source'] is None] == ['n01', 'n02']
    assert image_tree([]) == {'waves': 0, 'nodes': {}, 'seeds': [], 'holders': []}
    assert image_tree(['a', 'a', 'b'])['nodes'].keys() == {'a', 'b'}


@pytest.mark.parametrize('seeds', [0, -1, True, 'x', None])
def test_bad_seeds_refused(seeds):
    with pytest.raises(AnsibleFilterError, match='seeds must be an integer of at least 1'):
        image_tree(['a'], seeds=seeds)


def test_not_a_list_refused():
    with pytest.raises(AnsibleFilterError, match='needing must be a list'):
        image_tree('a,b')
    assert FilterModule().filters()['mindie_image_tree'] is image_tree
