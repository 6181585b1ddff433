# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_profile: one profile of the collection's hardware profile table (module_utils/profiles.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.module_utils import profiles


def mindie_profile(name, field=None):
    """The profile ``name`` as a dict ({} for None, an empty name or a name that is not a profile).

    With ``field`` (a dotted path such as ``npu_mem_size.default``), the value at that path, or None for a name
    that is not a profile; an unknown path is an error naming it.
    """
    if name is not None and not isinstance(name, str):
        raise AnsibleFilterError('mindie_profile: a profile name (%s) or null is expected, got %r'
                                 % (', '.join(profiles.profile_names()), name))
    profile = profiles.get_profile(name)
    if field is None:
        return profile or {}
    if not isinstance(field, str) or not field:
        raise AnsibleFilterError('mindie_profile: the field must be a dotted path such as npu_mem_size.default, got %r'
                                 % (field,))
    if profile is None:
        return None
    try:
        return profiles.project(field=field)[name]
    except profiles.ProfileError as exc:
        raise AnsibleFilterError('mindie_profile: %s' % exc)


class FilterModule(object):
    """ascend.mindie hardware profile filters."""

    def filters(self):
        return {'mindie_profile': mindie_profile}
