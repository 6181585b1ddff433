# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_report
short_description: Write a report of ascend.mindie on the controller - JSON and, optionally, Markdown
description:
  - Runs on the controller (an action plugin; it does not connect to the node). The one writer of the collection's
    reports (the prechecks report, the fleet report, the inference report, the diagnosis bundle's files).
  - Creates the report directory (and its missing parents) with O(dir_mode), writes C(<dir>/<name>.json) and, when
    O(markdown) is given, C(<dir>/<name>.md), each with O(mode).
  - The JSON is what C(to_nice_json) gives (indent 4, keys sorted) followed by a newline.
  - "Each file is written atomically: a temporary file in the same directory, flushed to disk, then renamed over the
    report, so a reader never sees half a report."
  - C(changed) is true only when a file's content or mode or the directory was created or changed; a report whose
    content is unchanged is not rewritten and reports V(changed=false). In check mode nothing is written and
    C(changed) says whether a real run would write.
  - "The directory: O(dir); without it the variable C(mindie_report_dir) (the one report directory of the
    collection); without that, C(reports/) in the directory C(ansible-playbook) runs in (E(PWD), else the
    playbook's directory)."
  - Run it once per report (C(run_once), or per node with a per-node O(name) or O(dir)).
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ascend.mindie.attributes.controller
attributes:
  check_mode:
    details: Writes nothing; C(changed) says whether a real run would.
options:
  name:
    description:
      - The report's file name without extension (V(precheck-report) writes C(precheck-report.json)). A plain file
        name; C(/) and control characters are refused.
    type: str
    required: true
  data:
    description:
      - The report, a mapping or a list, written as C(<name>.json).
    type: raw
    required: true
  markdown:
    description:
      - The rendered text of C(<name>.md) (for example C(lookup('ansible.builtin.template', 'report.md.j2'))).
        Without it no C(.md) is written (an existing one is left alone).
    type: str
  dir:
    description:
      - The directory on the controller. Default C(mindie_report_dir), else C(<$PWD>/reports).
      - A relative path is taken relative to the directory C(ansible-playbook) runs in.
    type: path
  mode:
    description:
      - The mode of the files, an octal string (V('0644'); V('0600') for reports that hold logs or configuration).
    type: raw
    default: '0644'
  dir_mode:
    description:
      - The mode of the directories created; an existing report directory is set to it too.
    type: raw
    default: '0755'
notes:
  - The roles' older directory variables (C(mindie_precheck_report_dir), C(mindie_inference_report_dir)) are aliases
    of C(mindie_report_dir); they default to it and the roles pass them as O(dir).
seealso:
  - module: ascend.mindie.mindie_precheck
  - module: ascend.mindie.mindie_diagnose
'''

EXAMPLES = r'''
- name: Write the fleet's precheck report
  ascend.mindie.mindie_report:
    name: precheck-report
    data:
      summary: {nodes: 2, pass: 2}
      nodes: "{{ __fleet }}"
  run_once: true

- name: Write a private report with its Markdown next to it
  ascend.mindie.mindie_report:
    dir: "{{ bundle }}"
    name: summary
    data: "{{ summary }}"
    markdown: "{{ lookup('ansible.builtin.template', 'summary.md.j2') }}"
    mode: "0600"
    dir_mode: "0700"
  run_once: true
  register: written
'''

RETURN = r'''
dir:
  description: The report directory (absolute).
  returned: success
  type: str
  sample: /home/ops/deploy/reports
json_path:
  description: The path of C(<name>.json).
  returned: success
  type: str
  sample: /home/ops/deploy/reports/precheck-report.json
md_path:
  description: The path of C(<name>.md), or V(null) without O(markdown).
  returned: success
  type: str
  sample: /home/ops/deploy/reports/fleet-summary.md
written:
  description: The files whose content or mode was written (in check mode, would be); empty when the report is unchanged.
  returned: always
  type: list
  elements: str
  sample: [/home/ops/deploy/reports/precheck-report.json]
'''
