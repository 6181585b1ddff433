# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.npu_logical_ids: physical NPU ids -> logical ids inside the container."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.npu_logical_ids import FilterModule, npu_logical_ids

ALL = ['/dev/davinci%d' % n for n in range(8)]


def test_per_device_container_uses_indexes():
    assert npu_logical_ids([4, 5, 6, 7], ['/dev/davinci4', '/dev/davinci5', '/dev/davinci6', '/dev/davinci7']) == [0, 1, 2, 3]
    # sorted numerically (davinci10 after davinci9), other nodes ignored, input order kept
    visible = ['/dev/davinci10', '/dev/davinci9', '/dev/davinci_manager', 'davinci2', '']
    assert npu_logical_ids(['10', 2], visible) == [2, 0]


def test_privileged_container_keeps_the_ids():
    assert npu_logical_ids([0, 1, 2, 3, 4, 5, 6, 7], ALL) == list(range(8))
    assert npu_logical_ids([6, 7], ALL) == [6, 7]


@pytest.mark.parametrize('devices,visible,message', [
    ([4, 5], ['/dev/davinci4'], 'NPU 5 of the plan is not visible in the container, which sees /dev/davinci4'),
    ([0], [], 'which sees no /dev/davinciN at all'),
    ([1, 1], ALL, 'NPU 1 is listed more than once'),
    ([True], ALL, 'True is not an NPU id'),
    (['x'], ALL, "'x' is not an NPU id"),
    ([-1], ALL, '-1 is not an NPU id'),
    ([], ALL, 'must be a non-empty list'),
    ('0', ALL, 'must be a non-empty list'),
    ([0], '/dev/davinci0', 'must be a list of /dev/davinciN paths'),
])
def test_refusals(devices, visible, message):
    with pytest.raises(AnsibleFilterError) as info:
        npu_logical_ids(devices, visible)
    assert message in str(info.value)


def test_registered():
    assert FilterModule().filters()['npu_logical_ids'] is npu_logical_ids


@pytest.mark.parametrize('devices, privileged', [([4, 5, 6, 7], False), ([2, 3], False), ([6, 7], True), ([0, 1], True)])
def test_the_filter_and_the_plan_agree_on_what_the_container_role_passes(devices, privileged):
    # The plan's logical_devices (module_utils/plan.py, one rule) are what the filter maps from the /dev/davinciN the
    # ascend.mindie.container role gives: the plan's devices, or every NPU when privileged.
    from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_plan import inputs
    from ansible_collections.ascend.mindie.plugins.module_utils import plan
    got = plan.build_plan(inputs(npu_devices=devices, container_privileged=privileged))
    passed = ALL if privileged else ['/dev/davinci%d' % n for n in devices] + ['/dev/davinci_manager']
    assert got['logical_devices'] == npu_logical_ids(devices, passed) == got['instances'][0]['logical_devices']
    with pytest.raises(AnsibleFilterError, match='NPU 7 of the plan is not visible'):
        npu_logical_ids([7], ['/dev/davinci4'])
