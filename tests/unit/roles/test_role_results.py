# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each role publishes one documented result fact, mindie_<role>_result; the old names stay as aliases.

Read from the roles' task files and argument specs (nothing runs). The fleet report reads only
the results: no old name and no other role's variable appears in roles/fleet_report or in the
fleet_rows filter.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

import pytest
import yaml

from ansible_collections.ascend.mindie.plugins.action.mindie_vars import EXTRA_KNOWN

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# role -> (its result, the deprecated alias that holds the same value)
RESULTS = {
    'prechecks': ('mindie_prechecks_result', 'mindie_precheck_results'),
    'image': ('mindie_image_result', 'mindie_image_info'),
    'container': ('mindie_container_result', 'mindie_container_changes'),
    'dependencies': ('mindie_dependencies_result', 'mindie_dependencies_status'),
    'service': ('mindie_service_result', 'mindie_service_status'),
    'verify': ('mindie_verify_result', 'mindie_verify_results'),
}
OLD_NAMES = [alias for _, alias in RESULTS.values()] + ['mindie_image_info', 'mindie_container_spec']


def _tasks(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ('block', 'rescue', 'always'):
            for sub in _tasks(task.get(key)):
                yield sub


def set_facts(role):
    """[(file, task)] of every set_fact task of the role."""
    found = []
    tasks_dir = os.path.join(REPO, 'roles', role, 'tasks')
    for name in sorted(os.listdir(tasks_dir)):
        with open(os.path.join(tasks_dir, name)) as handle:
            for task in _tasks(yaml.safe_load(handle)):
                if isinstance(task.get('ansible.builtin.set_fact'), dict):
                    found.append((name, task))
    return found


@pytest.mark.parametrize('role', sorted(RESULTS))
def test_the_role_sets_its_result(role):
    result, alias = RESULTS[role]
    tasks = [(name, task) for name, task in set_facts(role) if result in task['ansible.builtin.set_fact']]
    assert tasks, '%s sets no %s' % (role, result)
    if role == 'container':
        # the alias is the list the result holds as `changes`
        for name, task in tasks:
            value = task['ansible.builtin.set_fact'][result]
            assert 'changes' in (value if isinstance(value, dict) else str(value)), (name, task['name'])
        return
    setting_alias = [(name, task) for name, task in set_facts(role) if alias in task['ansible.builtin.set_fact']]
    assert setting_alias, '%s no longer sets its deprecated alias %s' % (role, alias)
    assert sorted(t['name'] for _, t in setting_alias) == sorted(t['name'] for _, t in tasks)
    for name, task in setting_alias:
        facts = task['ansible.builtin.set_fact']
        assert facts[alias] == facts[result], (name, task['name'])


@pytest.mark.parametrize('role', sorted(RESULTS))
def test_the_result_and_its_alias_are_documented_and_known(role):
    result, alias = RESULTS[role]
    with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        description = ' '.join(yaml.safe_load(handle)['argument_specs']['main']['description'])
    assert "the role's result C(%s)" % result in description
    assert re.search(r'C\(%s\) is the same (value|list).{0,60}?, a deprecated alias' % alias, description), description
    assert result in EXTRA_KNOWN and alias in EXTRA_KNOWN


def test_the_fleet_report_reads_only_the_results():
    paths = [os.path.join(REPO, 'plugins', 'filter', 'fleet_report.py')]
    for top, _, files in os.walk(os.path.join(REPO, 'roles', 'fleet_report')):
        paths.extend(os.path.join(top, f) for f in files)
    for path in paths:
        with open(path) as handle:
            text = handle.read()
        for old in OLD_NAMES:
            assert not re.search(r'\b%s\b' % old, text), (path, old)
    with open(paths[0]) as handle:
        text = handle.read()
    for result, _ in RESULTS.values():
        if result != 'mindie_dependencies_result':  # the report shows nothing of the dependencies
            assert "'%s'" % result in text
