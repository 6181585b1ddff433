# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: mindie_profiles
version_added: 1.0.0
author:
  - ascend.mindie maintainers (@ascend-mindie)
short_description: The collection's hardware profile table, or columns of it
description:
  - Returns the hardware profile table of the collection (C(plugins/module_utils/profiles.py)), the one place that
    holds, per profile, the chip family and models, the HBM per chip, the allowed NPU counts, the host memory
    minimum, the C(npuMemSize) / C(maxBatchSize) defaults and ranges, the C(run_pa.sh) batch size and the guide's
    reference figures, and the inventory group that suggests the profile.
  - Without terms, the whole table (profile name to profile); with terms (profile names), one profile per term.
  - With O(field) or O(fields), a column of the table instead of whole profiles, for role defaults that need one
    value per profile.
  - An unknown profile name, an unknown field path, or both O(field) and O(fields) are errors naming the problem.
  - One profile of a node is simpler with the filter P(ascend.mindie.mindie_profile#filter).
options:
  _terms:
    description: Profile names (V(atlas-800i-a2-32g), V(atlas-800i-a2-64g)); none for every profile.
    type: list
    elements: str
    required: false
  field:
    description:
      - A dotted path (V(min_memory_gb), V(npu_mem_size.default)); without terms the result is a dict of profile
        name to the value at that path, with terms the value for each term.
    type: str
  fields:
    description:
      - A dict of key to dotted path; without terms the result is a dict of profile name to a dict of those keys,
        with terms that dict for each term.
    type: dict
seealso:
  - plugin: ascend.mindie.mindie_profile
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Show the whole profile table
  ansible.builtin.debug:
    msg: "{{ lookup('ascend.mindie.mindie_profiles') }}"

- name: Minimum host memory per profile (profile name to GB)
  ansible.builtin.debug:
    msg: "{{ lookup('ascend.mindie.mindie_profiles', field='min_memory_gb') }}"

- name: config.json defaults per profile, in the shape of mindie_service_profile_defaults
  ansible.builtin.debug:
    msg: >-
      {{ lookup('ascend.mindie.mindie_profiles',
                fields={'npu_mem_size': 'npu_mem_size.default', 'max_batch_size': 'max_batch_size.default'}) }}

- name: The allowed NPU counts of one profile
  ansible.builtin.debug:
    msg: "{{ lookup('ascend.mindie.mindie_profiles', 'atlas-800i-a2-64g', field='npu_counts') }}"
'''

RETURN = r'''
_raw:
  description:
    - Without terms, one element - the table (or the column asked for with O(field) / O(fields)).
    - With terms, one element per term - the profile (or its value at O(field), or its O(fields) dict).
  type: list
  elements: raw
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.ascend.mindie.plugins.module_utils import profiles


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        field, fields = self.get_option('field'), self.get_option('fields')
        known = profiles.profile_names()
        for term in terms:
            if term not in known:
                raise AnsibleLookupError('mindie_profiles: %r is not a profile of the table; known profiles: %s'
                                         % (term, ', '.join(known)))
        try:
            if field is None and fields is None:
                data = profiles.table()
            else:
                data = profiles.project(field=field, fields=fields)
        except profiles.ProfileError as exc:
            raise AnsibleLookupError('mindie_profiles: %s' % exc)
        if not terms:
            return [data]
        return [data[term] for term in terms]
