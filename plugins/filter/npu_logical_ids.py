# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.npu_logical_ids: physical NPU ids -> the logical ids MindIE uses inside a container."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

DAVINCI = re.compile(r'(?:.*/)?davinci(\d+)\Z')


def _device_number(item):
    """The N of /dev/davinciN (a path, a name or an int), or None when it is not an NPU device node."""
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return item if item >= 0 else None
    match = DAVINCI.match(str(item).strip())
    return int(match.group(1)) if match else None


def npu_logical_ids(devices, visible):
    """Map each physical NPU id of ``devices`` to its index among the sorted NPUs the container sees.

    ``visible``: the container's /dev/davinciN nodes (paths, names or numbers; anything else, such as
    /dev/davinci_manager, is ignored). A privileged container sees every NPU, so the ids stay the same; one that
    got /dev/davinci4../dev/davinci7 addresses them as 0..3.
    """
    if not isinstance(devices, (list, tuple)) or not devices:
        raise AnsibleFilterError('npu_logical_ids: the devices must be a non-empty list of NPU ids, got %r.' % (devices,))
    if not isinstance(visible, (list, tuple)):
        raise AnsibleFilterError('npu_logical_ids: the visible devices must be a list of /dev/davinciN paths, got %r.'
                                 % (visible,))
    seen = sorted(set(n for n in (_device_number(v) for v in visible) if n is not None))
    ids = []
    for device in devices:
        number = _device_number(device) if not isinstance(device, str) or not device.strip().isdigit() else int(device)
        if number is None:
            raise AnsibleFilterError('npu_logical_ids: %r is not an NPU id (a number >= 0).' % (device,))
        ids.append(number)
    duplicates = sorted(set(n for n in ids if ids.count(n) > 1))
    if duplicates:
        raise AnsibleFilterError('npu_logical_ids: NPU %s is listed more than once in the devices %s.'
                                 % (', '.join(str(n) for n in duplicates), ids))
    missing = [n for n in ids if n not in seen]
    if missing:
        raise AnsibleFilterError(
            'NPU %s of the plan %s not visible in the container, which sees %s. MindIE addresses the NPUs a container '
            'sees by their index (logical ids), so every NPU of the plan must be passed to it as /dev/davinciN with '
            'the same N (the ascend.mindie.container role does that), or the container must be privileged.'
            % (', '.join(str(n) for n in missing), 'is' if len(missing) == 1 else 'are',
               ', '.join('/dev/davinci%d' % n for n in seen) if seen else 'no /dev/davinciN at all'))
    return [seen.index(n) for n in ids]


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'npu_logical_ids': npu_logical_ids}
