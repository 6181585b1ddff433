# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_benchmark_report
short_description: Write the serving benchmark's report on the controller - JSON, Markdown and PNG charts
description:
  - Runs on the controller (an action plugin; it does not connect to the node), once for the fleet.
  - "Writes C(<dir>/benchmark.json): C(time), C(settings), C(results) (the entries of M(ascend.mindie.mindie_benchmark),
    one per instance or balancer and concurrency), C(outliers), C(run_pa) (the steps whose setting matches the guide's
    run_pa figures: 43 tokens/s on 32G at batch 4, 98.79 on 64G at batch 32, 80 output tokens, 8 NPUs), C(plots);
    C(benchmark.md), the same as tables; and PNG charts:
    C(throughput.png) (output tokens/s against concurrency per target), C(ttft.png) and C(tpot.png) (p50 and p99),
    C(node-<node>.png) (each node's instances' TTFT and TPOT p50/p90/p99)."
  - "Outliers: at each concurrency, an instance's output tokens/s is divided by the median of its peers (the
    instances of its hardware profile, or of the whole fleet with O(outlier_group_by=fleet)); an instance whose
    median ratio is below 1 - O(outlier_pct)/100 is named in C(outliers.outliers). A profile with a single instance is
    not judged (C(outliers.unjudged))."
  - The charts need Pillow on the controller; without it the report is written without them and says why
    (C(plots_skipped)).
  - Files are written atomically as M(ascend.mindie.mindie_report) writes them.
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
  results:
    description: The steps' results (RV(ascend.mindie.mindie_benchmark#module:result) of every step).
    type: list
    elements: dict
    required: true
  settings:
    description: What the steps were run with, copied into the report (concurrency, requests, max_tokens, image, SLOs).
    type: dict
    default: {}
  dir:
    description:
      - The report directory. Default C(benchmark/<run_time>) in C(mindie_report_dir) (else C(reports/) where
        ansible-playbook runs).
    type: path
  run_time:
    description: The run's time stamp, naming the default directory. Default now, in UTC (V(20261202T101500Z)).
    type: str
  outlier_pct:
    description: How much slower than its peers' median an instance may be before it is named, in percent (0-100).
    type: float
    default: 20
  outlier_group_by:
    description: The peers of an instance - those of its hardware profile, or the whole fleet.
    type: str
    choices: [profile, fleet]
    default: profile
  max_tokens:
    description: The output tokens per request of the steps (a run_pa figure matches only at its output length, 80).
    type: int
    default: 80
  plots:
    description: Draw the PNG charts.
    type: bool
    default: true
  aisbench:
    description:
      - AISBench (C(ais_bench)) or MindIE C(benchmark) CLI results to read into the report - the newest run under each
        O(aisbench[].path) (an C(outputs), C(outputs/default) or C(outputs/default/<ts>) directory, or the CLI's save
        path) lands in C(benchmark.json)'s C(aisbench) (C(results), in the schema of O(results) with C(tool),
        C(abbr), C(dataset), C(timestamp); and C(errors)) and in a section of C(benchmark.md).
      - The benchmark role fills it with the copies it fetched of O(ascend.mindie.benchmark#role:main:mindie_benchmark_aisbench_dirs).
    type: list
    elements: dict
    default: []
    suboptions:
      node:
        description: The node the results come from (for the report).
        type: str
        required: true
      source:
        description: Where they were on the node (for the report).
        type: str
        required: true
      path:
        description: The directory on the controller that holds them.
        type: path
        required: true
  mode:
    description: Mode of the files.
    type: raw
    default: '0644'
  dir_mode:
    description: Mode of the directory and its missing parents.
    type: raw
    default: '0755'
seealso:
  - module: ascend.mindie.mindie_benchmark
  - module: ascend.mindie.mindie_report
'''

EXAMPLES = r'''
- name: Write the report of the steps every node ran
  ascend.mindie.mindie_benchmark_report:
    results: "{{ ansible_play_hosts | map('extract', hostvars, 'mindie_benchmark_results') | flatten }}"
    settings: {concurrency: [1, 4, 16, 32], requests: 32, max_tokens: 80}
    outlier_pct: 20
  run_once: true
  delegate_to: localhost
'''

RETURN = r'''
dir:
  description: The report directory (absolute).
  returned: success
  type: str
json_path:
  description: The path of C(benchmark.json).
  returned: success
  type: str
md_path:
  description: The path of C(benchmark.md).
  returned: success
  type: str
written:
  description: The files written (in check mode, that would be).
  returned: always
  type: list
  elements: str
outliers:
  description: The outlier instances, each C({instance, node, profile, ratio, slower_pct, steps}).
  returned: success
  type: list
  elements: dict
report:
  description: What benchmark.json holds.
  returned: success
  type: dict
'''
