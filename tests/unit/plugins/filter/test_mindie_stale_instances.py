# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_stale_instances and the rule under it (plan.deployment_container)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.mindie_stale_instances import FilterModule, mindie_stale_instances
from ansible_collections.ascend.mindie.plugins.module_utils.plan import deployment_container

PLANNED = ['mindie-0', 'mindie-1']


@pytest.mark.parametrize('name,expected', [
    ('mindie-0', 'planned'),
    ('/mindie-1', 'planned'),
    ('mindie-0-previous', 'previous'),      # the recovery of the container role handles it
    ('mindie', 'stale'),                    # the 1x8 instance before a 2x4 layout
    ('mindie-2', 'stale'),                  # an instance of a 4x2 layout
    ('mindie-12', 'stale'),
    ('mindie-previous', 'stale'),           # kept aside by an interrupted replacement of a stale instance
    ('mindie-3-previous', 'stale'),
    ('mindie-1-rollback', 'previous'),      # set aside by a rollout until its batch passed (the rollout role's)
    ('mindie-rollback', 'stale'),           # ... of a stale instance
    ('mindie-x', None),                     # another deployment of ours
    ('mindie-', None),
    ('qwen-mindie-0', None),
    ('other', None),
])
def test_what_a_container_of_ours_is_to_the_plan(name, expected):
    assert deployment_container(name, 'mindie', PLANNED) == expected


def test_single_instance_plan_sees_the_instances_of_a_bigger_layout_as_stale():
    assert deployment_container('mindie', 'mindie', ['mindie']) == 'planned'
    assert deployment_container('mindie-0', 'mindie', ['mindie']) == 'stale'
    assert deployment_container('mindie-previous', 'mindie', ['mindie']) == 'previous'


def test_a_base_with_regex_characters_is_literal():
    assert deployment_container('qwen.vl-1', 'qwen.vl', []) == 'stale'
    assert deployment_container('qwenXvl-1', 'qwen.vl', []) is None


def test_filter_lists_the_stale_ones_sorted_without_the_slash():
    names = ['/mindie-1', '/mindie', '/other', '/mindie-3', 'mindie-0-previous', '/mindie-3', '/mindie-1-rollback']
    assert mindie_stale_instances(names, 'mindie', PLANNED) == ['mindie', 'mindie-3']
    # (a teardown also removes what a replacement or a rollout set aside)
    assert mindie_stale_instances(names, 'mindie', PLANNED, True) == ['mindie', 'mindie-0-previous', 'mindie-1-rollback',
                                                                      'mindie-3']
    assert FilterModule().filters()['mindie_stale_instances'] is mindie_stale_instances


def test_filter_refuses_what_is_not_a_list():
    with pytest.raises(AnsibleFilterError, match='must be lists of container names'):
        mindie_stale_instances('mindie', 'mindie', PLANNED)
