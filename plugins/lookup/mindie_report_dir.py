# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: mindie_report_dir
version_added: 1.0.0
author:
  - ascend.mindie maintainers (@ascend-mindie)
short_description: The collection's report directory on the controller, as ascend.mindie.mindie_report resolves it
description:
  - Returns the directory M(ascend.mindie.mindie_report) writes into when it is given no C(dir) - the variable
    C(mindie_report_dir) when it is set, else C(reports/) in the directory C(ansible-playbook) runs in (E(PWD), else
    the playbook's directory) - as an absolute path. The rule lives in the action plugin; this lookup only calls it,
    so role defaults that need a place below the report directory (the diagnose role's C(logs/)) do not repeat it.
  - With terms, those path components are joined below the directory.
  - Nothing is created.
options:
  _terms:
    description: Path components below the report directory (V(logs)); none for the directory itself.
    type: list
    elements: str
    required: false
seealso:
  - module: ascend.mindie.mindie_report
'''

EXAMPLES = r'''
- name: Show where the collection's reports go
  ansible.builtin.debug:
    msg: "{{ lookup('ascend.mindie.mindie_report_dir') }}"

- name: The diagnosis bundles' default directory
  ansible.builtin.debug:
    msg: "{{ lookup('ascend.mindie.mindie_report_dir', 'logs') }}"
'''

RETURN = r'''
_raw:
  description: One element, the absolute directory (with the terms joined below it).
  type: list
  elements: path
'''

import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.lookup import LookupBase

from ansible_collections.ascend.mindie.plugins.action.mindie_report import ReportError, default_dir


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        for term in terms:
            if not isinstance(term, str) or not term or os.path.isabs(term):
                raise AnsibleLookupError('mindie_report_dir: terms are relative path components, got %r' % (term,))
        try:
            base = default_dir(variables or {}, self._templar)
        except ReportError as exc:
            raise AnsibleLookupError('mindie_report_dir: %s' % to_text(exc))
        return [os.path.abspath(os.path.join(os.path.expanduser(base), *terms))]
