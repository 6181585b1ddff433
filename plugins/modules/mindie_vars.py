# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_vars
short_description: Check the variables of an ascend.mindie role - types, ranges and unknown mindie_* names
description:
  - Runs on the controller (an action plugin; it does not connect to the node). Every role of the collection
    calls it first in its preflight.
  - "Types: every typed variable of the role's entry point (type C(int), C(float), C(bool), C(list) or C(dict)
    in the role's C(meta/argument_specs.yml), or a string with C(choices)) must read as its type. Role argument
    validation checks but does not convert, and C(-e key=value) makes every value a string: C(-e
    mindie_service_port=1050) is accepted (the roles convert it with C(| int)), C(-e mindie_service_port=80)
    and C(-e mindie_service_port=abc) are refused with the variable, its value and what it must be."
  - Strings are accepted for C(int), C(float) and C(bool) only when the C(int), C(float) and C(bool) filters
    convert them exactly (C(1050), C(2.5), C(true)/C(false)/C(yes)/C(no)/C(on)/C(off)/C(1)/C(0)); a string
    for a C(list) or C(dict) is refused with a hint to pass JSON with C(-e).
  - "Unknown names: every C(mindie_*) variable of the host that no role of the collection knows (a typo such
    as C(mindie_service_max_batch_sise)) is reported with the nearest known name: a warning, once per host
    and run when the task registers its result under the same name each time (the roles use
    C(__mindie_vars)), or a failure when C(mindie_strict_variables) is true."
  - The known names are read at run time from the installed collection (every role's C(defaults/main.yml)
    and C(meta/argument_specs.yml)), plus the variables of the collection's playbooks and the facts its
    roles set.
  - All problems are reported in one failure, before the role touches anything.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ascend.mindie.attributes.controller
options:
  role:
    description:
      - The role whose variables are checked (its name in the collection, for example V(prechecks)).
    type: str
    required: true
  entry_point:
    description:
      - The entry point of the role's C(meta/argument_specs.yml) whose options are checked.
    type: str
    default: main
  variables:
    description:
      - Check only these variables instead of every typed option of O(entry_point). A name the entry point
        does not declare takes its type from the first role of the collection that declares it.
    type: list
    elements: str
  limits:
    description:
      - Bounds per variable, a mapping with any of C(min), C(max) (inclusive), C(gt), C(lt) (exclusive) and,
        for a C(dict), C(values) (the type of every value, V(int), V(float), V(bool) or V(str)).
      - For a list or mapping the bounds apply to every element or value.
      - A variable named here is checked even when O(variables) leaves it out.
    type: dict
    default: {}
  unknown:
    description:
      - Also report C(mindie_*) variables no role of the collection knows.
    type: bool
    default: true
notes:
  - C(mindie_strict_variables) (a host variable, default V(false)) turns the warning about unknown names into
    a failure.
  - Variables that are not defined for the host are not checked; variables whose argument spec default is
    V(null) may be V(null).
seealso:
  - name: Role argument validation
    description: Types and documentation of role variables.
    link: https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_reuse_roles.html#role-argument-validation
'''

EXAMPLES = r'''
- name: Refuse wrong role variables and report unknown mindie_* names
  ascend.mindie.mindie_vars:
    role: prechecks
    limits:
      mindie_service_port: {min: 1024, max: 65535}
      mindie_npu_devices: {min: 0}
  register: __mindie_vars

- name: Check a few variables of another role, without the unknown-name report
  ascend.mindie.mindie_vars:
    role: fleet_report
    entry_point: gate
    variables: [mindie_fail_fast, mindie_max_fail_percentage]
    limits:
      mindie_max_fail_percentage: {min: 0, max: 100}
    unknown: false
'''

RETURN = r'''
values:
  description:
    - The checked scalar variables converted to their types (lists, mappings and C(no_log) variables are left
      out).
  returned: success
  type: dict
  sample: {mindie_service_port: 1050, mindie_container_privileged: false}
unknown:
  description: The host's unknown C(mindie_*) variables, each with the nearest known name (V(null) when none is close).
  returned: success
  type: list
  elements: dict
  sample: [{name: mindie_service_max_batch_sise, nearest: mindie_service_max_batch_size}]
reported_unknown:
  description:
    - The unknown names already reported for this host in this run (read back from the registered result of the
      previous call), so each is warned about once.
  returned: success
  type: list
  elements: str
  sample: [mindie_service_max_batch_sise]
errors:
  description: One message per variable that cannot be used.
  returned: failure
  type: list
  elements: str
  sample: ['mindie_service_port is "80": expected an integer in [1024, 65535]']
'''
