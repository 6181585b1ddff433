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
# role -> (its result, the deprecated alias that holds the same value; None for the roles that never had one)
RESULTS = {
    'prechecks': ('mindie_prechecks_result', 'mindie_precheck_results'),
    'image': ('mindie_image_result', 'mindie_image_info'),
    'container': ('mindie_container_result', 'mindie_container_changes'),
    'dependencies': ('mindie_dependencies_result', 'mindie_dependencies_status'),
    'service': ('mindie_service_result', 'mindie_service_status'),
    'verify': ('mindie_verify_result', 'mindie_verify_results'),
    'inference': ('mindie_inference_result', None),
    'diagnose': ('mindie_diagnose_result', None),
    'teardown': ('mindie_teardown_result', None),
}
OLD_NAMES = [alias for _, alias in RESULTS.values() if alias] + ['mindie_image_info', 'mindie_container_spec']
# Results the fleet report does not show: the dependencies, and the roles of the other playbooks.
NOT_IN_FLEET_REPORT = ('mindie_dependencies_result', 'mindie_inference_result', 'mindie_diagnose_result',
                       'mindie_teardown_result')


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
    run, todo = set(), ['main.yml']
    while todo:   # the task files main.yml runs, through imports and includes
        name = todo.pop()
        if name not in run and os.path.isfile(os.path.join(REPO, 'roles', role, 'tasks', name)):
            run.add(name)
            with open(os.path.join(REPO, 'roles', role, 'tasks', name)) as handle:
                todo.extend(re.findall(r'[\w.-]+\.yml', handle.read()))
    assert [name for name, _ in tasks if name in run], '%s sets %s only in task files main.yml does not run' % (role, result)
    if role == 'container':
        # the alias is the list the result holds as `changes` (directly, or through the per-instance results that
        # hold it, the first instance's at the top)
        for name, task in tasks:
            value = task['ansible.builtin.set_fact'][result]
            text = value if isinstance(value, dict) else str(value)
            assert 'changes' in text or '__mindie_container_results[' in text, (name, task['name'])
        return
    if alias is None:
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
    assert result in EXTRA_KNOWN
    if alias is None:
        return
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
        if result not in NOT_IN_FLEET_REPORT:
            assert "'%s'" % result in text


def test_teardown_declares_the_image_roles_inputs_with_the_image_roles_defaults():
    # teardown removes mindie_image_name:mindie_image_tag; it declares those inputs of ascend.mindie.image so that it
    # works alone, and must say exactly what the image role says.
    def options(role):
        with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
            specs = yaml.safe_load(handle)['argument_specs']['main']['options']
        with open(os.path.join(REPO, 'roles', role, 'defaults', 'main.yml')) as handle:
            return specs, yaml.safe_load(handle)
    image_specs, image_defaults = options('image')
    teardown_specs, teardown_defaults = options('teardown')
    for name in ('mindie_image_name', 'mindie_image_tag'):
        assert teardown_defaults[name] == image_defaults[name] == image_specs[name]['default'], name
        assert teardown_specs[name]['default'] == image_specs[name]['default'], name
        assert teardown_specs[name].get('type') == image_specs[name].get('type'), name


_CONDITIONS = ('when', 'that', 'failed_when', 'changed_when')


def _expressions(node, key=None):
    """The Jinja a role file evaluates (conditions whole, {{ }} / {% %} of other strings); not its messages' prose."""
    if isinstance(node, dict):
        return ''.join(_expressions(v, k) for k, v in node.items())
    if isinstance(node, list):
        return ''.join(_expressions(v, key) for v in node)
    if not isinstance(node, str):
        return ''
    if key in _CONDITIONS:
        return node + '\n'
    return ''.join(m + '\n' for m in re.findall(r'{{.*?}}|{%.*?%}', node, re.S))


_COPIED_DEFAULTS = re.compile(r"default\('(mindie|/data/Qwen2-VL-7B-Instruct|/etc/mindie|1\.0\.0-800I[^']*)'\)")
_OTHER_ROLES_NAMES = re.compile(r'\bmindie_(container|model|service|npu|image|precheck)_[a-z_]+')


@pytest.mark.parametrize('role', ['inference', 'diagnose', 'teardown'])
def test_the_playbook_roles_read_the_plan_not_copies_of_its_defaults(role):
    # The plan's shared inputs come from mindie_plan; other roles' variables are read only as the fallback default of
    # the role's own variable (defaults/main.yml), never in its tasks or vars. The image name/tag teardown declares.
    declared = set(yaml.safe_load(open(os.path.join(REPO, 'roles', role, 'defaults', 'main.yml'))))
    allowed = declared | {'mindie_precheck_report_dir'}   # where the prechecks role wrote its report (diagnose)
    for sub in ('tasks', 'vars', 'defaults'):
        top = os.path.join(REPO, 'roles', role, sub)
        for name in sorted(os.listdir(top)):
            with open(os.path.join(top, name)) as handle:
                text = handle.read()
            assert not _COPIED_DEFAULTS.search(text), (role, sub, name, _COPIED_DEFAULTS.search(text).group(0))
            if sub != 'defaults':
                others = set(m.group(0) for m in _OTHER_ROLES_NAMES.finditer(_expressions(yaml.safe_load(text)))) - allowed
                assert not others, (role, sub, name, sorted(others))
    with open(os.path.join(REPO, 'roles', role, 'tasks', 'preflight.yml')) as handle:
        preflight = yaml.safe_load(handle)
    assert [t for t in preflight if 'ascend.mindie.mindie_plan' in t and t.get('when') == 'mindie_plan is not defined']
    with open(os.path.join(REPO, 'roles', role, 'tasks', 'main.yml')) as handle:
        phases = yaml.safe_load(handle)
    preflight_tags = set(next(t for t in phases if t['ansible.builtin.import_tasks'] == 'preflight.yml')['tags'])
    for phase in phases:
        assert set(phase['tags']) <= preflight_tags, (role, phase['name'], 'a phase tag that skips the preflight')
