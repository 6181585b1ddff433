# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/deploy.yml and verify.yml: phases through ascend.mindie.fleet_report tasks_from phase.

--syntax-check and --list-tasks (nothing connects to a node) show which phase plays run their
role's tasks for a few --tags / --skip-tags, and that start, gate and the report stay tagged
always. Then tasks_from phase runs for real on two local hosts with two throw-away roles: a
failing node is rescued and recorded, the gate stops the others with mindie_fail_fast, and the
fleet report (through the fleet_rows filter and real hostvars) says so. Then the same as two slices (AWX job
slicing: one job per slice of the inventory), each with its own report and gate, merged by
playbooks/report_merge.yml. A few runs, ~2 s each.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
PHASES = ('prechecks', 'image', 'rolling', 'container', 'dependencies', 'service', 'verify')
# the role of each phase play, where it is not named like the phase
ROLE_OF = {'rolling': 'rollout'}
DEPLOY_PLAYS = [
    "Deploy | prechecks: Check every node against the deployment guide (NPUs, driver, Docker, disk, ports, weights)",
    "Deploy | image: Bring the MindIE image onto every node (loads run in parallel across the fleet)",
    "Deploy | rolling: Change the instances already serving one at a time, drained on the balancer first",
    "Deploy | container: Create the MindIE container",
    "Deploy | dependencies: Install the model's Python requirements in the container",
    "Deploy | service: Write config.json and start MindIE, gated on readiness (model loads run in parallel)",
    "Deploy | verify: Smoke-test every serving node (health, chat with an image, generate, streaming)",
    "Deploy | loadbalancer: HAProxy in front of every instance (the hosts of group mindie_lb; none by default)",
    "Deploy | monitoring: the node exporter and the NPU collector on every node (when group mindie_monitor has hosts)",
    "Deploy | monitoring: Prometheus on the hosts of group mindie_monitor, targets from the plans (none by default)",
    "Deploy | report: the fleet's state",
]
# the plays after the phases: the balancer, the nodes' monitoring (an include_role: --list-tasks shows no role task
# of it), Prometheus
AFTER = ('loadbalancer', None, 'monitoring')
START = 'Note the phase this node is in'
GATE = 'Stop the rest of the fleet when too many nodes failed'
REPORT = 'Build one row per node'
VALIDATION = 'Validating arguments against arg spec'
INVENTORY = {'all': {'children': {'mindie_nodes': {'children': {
    'atlas_800i_a2_32g': {'hosts': {'n1': {'ansible_connection': 'local'}}},
    'atlas_800i_a2_64g': {'hosts': {'n2': {'ansible_connection': 'local'}}}}}}}}

FAKE_ROLES = {
    'fake_one': '''
- name: Fail on n2
  ansible.builtin.fail:
    msg: boom on {{ inventory_hostname }}
  when: inventory_hostname == 'n2'

- name: Say the first phase ran
  ansible.builtin.debug:
    msg: FIRST-RAN-{{ inventory_hostname }}
''',
    'fake_two': '''
- name: Fail on n1 when asked
  ansible.builtin.fail:
    msg: second boom
  when: inventory_hostname == 'n1' and fail_two | default(false) | bool

- name: Say the second phase ran
  ansible.builtin.debug:
    msg: SECOND-RAN-{{ inventory_hostname }}

- name: Publish a service result
  ansible.builtin.set_fact:
    mindie_service_result: {ready: true, pid: 7, startup_seconds: 1.5, restarted: false}
''',
}
PHASE_PLAY = '''
- name: Phase one
  hosts: all
  gather_facts: false
  tags: [one]
  tasks:
    - name: Run phase one
      ansible.builtin.import_role: {name: ascend.mindie.fleet_report, tasks_from: phase}
      vars: {mindie_report_phase: one, mindie_report_role: fake_one}

- name: Phase two
  hosts: all
  gather_facts: false
  tags: [two]
  tasks:
    - name: Run phase two
      ansible.builtin.import_role: {name: ascend.mindie.fleet_report, tasks_from: phase}
      vars: {mindie_report_phase: two, mindie_report_role: fake_two, mindie_report_gate: false}

- name: Report
  hosts: all
  gather_facts: false
  tags: [always]
  roles:
    - role: ascend.mindie.fleet_report
'''


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    base = tmp_path_factory.mktemp('deploy-phases')
    ns = base / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    (base / 'hosts.yml').write_text(json.dumps(INVENTORY))
    (base / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\n')
    for role, tasks in FAKE_ROLES.items():
        (base / 'roles' / role / 'tasks').mkdir(parents=True)
        (base / 'roles' / role / 'tasks' / 'main.yml').write_text('---' + tasks)
    (base / 'phases.yml').write_text('---' + PHASE_PLAY)

    def _run(playbook, *extra, **kwargs):
        inventory = str(base / kwargs.get('inventory', 'hosts.yml'))
        env = dict(os.environ, ANSIBLE_CONFIG=str(base / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(base / 'collections'),
                   ANSIBLE_HOME=str(base / 'home'), ANSIBLE_LOCAL_TEMP=str(base / 'tmp'), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_FORCE_COLOR='0', ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_DEPRECATION_WARNINGS='0')
        env.pop('ANSIBLE_STDOUT_CALLBACK', None)
        path = playbook if os.path.isabs(playbook) else str(base / playbook)
        env.update(kwargs.get('env', {}))
        proc = subprocess.run([PLAYBOOK, '-i', inventory, path] + list(extra), cwd=str(base), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=180, check=False)
        return proc.returncode, proc.stdout

    _run.base = base
    yield _run
    shutil.rmtree(str(base), ignore_errors=True)


PLAY_RE = re.compile(r'^\s*play #\d+ \([^)]*\): (.*?)\tTAGS: \[(.*)\]$')
TASK_RE = re.compile(r'^\s+(\S+) : (.*?)\tTAGS: \[(.*)\]$')


def plays(output):
    """--list-tasks output -> [(play name, [(role, task name, tags)])]."""
    listed = []
    for line in output.splitlines():
        match = PLAY_RE.match(line)
        if match:
            listed.append((match.group(1), []))
            continue
        match = TASK_RE.match(line)
        if match and listed:
            listed[-1][1].append((match.group(1), match.group(2), match.group(3).split(', ')))
    return listed


_LISTED = {}


def list_tasks(run, playbook, *tags):
    if (playbook, tags) not in _LISTED:
        rc, out = run(os.path.join(REPO, 'playbooks', playbook), '--list-tasks', *tags)
        assert rc == 0, out
        _LISTED[(playbook, tags)] = plays(out)
    return _LISTED[(playbook, tags)]


def roles_run(listed):
    """The phase roles each play runs a task of (besides their argument spec check, which is tagged always)."""
    return [sorted(set(role.split('.')[-1] for role, task, _ in tasks
                       if role != 'ascend.mindie.fleet_report' and not task.startswith(VALIDATION))) for _, tasks in listed]


def names(listed, index):
    return [task for role, task, _ in listed[index][1] if role == 'ascend.mindie.fleet_report']


def test_syntax(run):
    rc, out = run(os.path.join(REPO, 'playbooks', 'deploy.yml'), os.path.join(REPO, 'playbooks', 'verify.yml'), '--syntax-check')
    assert rc == 0, out


@pytest.mark.parametrize('tags,phases', [
    ((), PHASES + ('loadbalancer', 'monitoring')),
    (('--tags', 'service'), ('service',)),
    (('--tags', 'prechecks,verify'), ('prechecks', 'verify')),
    (('--skip-tags', 'prechecks,image'), ('rolling', 'container', 'dependencies', 'service', 'verify', 'loadbalancer',
                                          'monitoring')),
    (('--tags', 'rolling'), ('rolling',)),
    (('--tags', 'loadbalancer'), ('loadbalancer',)),
    (('--tags', 'monitoring'), ('monitoring',)),
    # a tag of the roles' own phases selects inside the role
    (('--tags', 'mindie_container_create'), ('container',)),
])
def test_deploy_tags_select_the_phases(run, tags, phases):
    listed = list_tasks(run, 'deploy.yml', *tags)
    assert [name for name, _ in listed] == DEPLOY_PLAYS
    assert roles_run(listed) == [[ROLE_OF.get(p, p)] if p in phases else [] for p in PHASES + AFTER] + [[]]
    # start and gate run in every phase play (the gate is skipped after verify: when false), whatever --tags
    # says; --skip-tags of a phase skips its whole play, always-tagged tasks included
    skipped = tags[1].split(',') if tags and tags[0] == '--skip-tags' else []
    for index, phase in enumerate(PHASES):
        expected = [] if phase in skipped else [START, GATE]
        assert [name for name in names(listed, index) if name in (START, GATE)] == expected, (tags, phase)
    assert REPORT in names(listed, len(DEPLOY_PLAYS) - 1)


def test_deploy_skip_always_runs_the_roles_alone(run):
    listed = list_tasks(run, 'deploy.yml', '--skip-tags', 'always')
    assert roles_run(listed) == [[ROLE_OF.get(p, p)] for p in PHASES] + [['loadbalancer'], [], ['monitoring'], []]
    assert all(names(listed, index) == [] for index in range(len(DEPLOY_PLAYS)))


def test_deploy_phase_tasks_keep_the_play_tag(run):
    listed = list_tasks(run, 'deploy.yml')
    for index, phase in enumerate(PHASES):
        for role, task, tags in listed[index][1]:
            assert phase in tags, (role, task)
            if role == 'ascend.mindie.fleet_report':
                assert 'always' in tags, task


@pytest.mark.parametrize('tags,runs', [((), True), (('--tags', 'service'), False)])
def test_verify_playbook(run, tags, runs):
    listed = list_tasks(run, 'verify.yml', *tags)
    assert [name for name, _ in listed] == ["Verify | smoke-test every node", "Verify | report: the fleet's state"]
    assert roles_run(listed) == [['verify'] if runs else [], []]
    assert START in names(listed, 0) and REPORT in names(listed, 1)


def _report(run, name):
    with open(str(run.base / name / 'fleet-summary.json')) as handle:
        report = json.load(handle)
    return report['summary'], dict((row['node'], row) for row in report['nodes'])


def test_phase_rescues_a_failed_node_and_the_gate_stops_the_others(run):
    rc, out = run('phases.yml', '-e', 'mindie_fail_fast=true', '-e', 'mindie_report_dir=%s' % (run.base / 'stop'))
    assert rc == 2, out
    assert 'FIRST-RAN-n1' in out and 'FIRST-RAN-n2' not in out and 'SECOND-RAN' not in out
    summary, rows = _report(run, 'stop')
    assert summary['failed'] == 2 and summary['nodes'] == 2
    assert rows['n2']['failure'] == {'phase': 'one', 'task': 'Fail on n2', 'reason': 'boom on n2', 'predictable': True}
    assert rows['n1']['failure']['phase'] == 'one'
    assert rows['n1']['failure']['reason'].startswith('stopped by the fleet: 1 of 2 nodes failed (n2), and mindie_fail_fast is set')


def test_phase_lets_the_others_go_on(run):
    rc, out = run('phases.yml', '-e', 'mindie_report_dir=%s' % (run.base / 'goon'))
    assert rc == 2, out
    assert 'SECOND-RAN-n1' in out and 'SECOND-RAN-n2' not in out
    assert 'n2 failed in phase one: boom on n2' in out
    summary, rows = _report(run, 'goon')
    assert (summary['ready'], summary['failed']) == (1, 1)
    assert rows['n1']['status'] == 'ready' and rows['n1']['service'] == {'ready': True, 'pid': 7, 'startup_seconds': 1.5,
                                                                         'restarted': False}
    assert rows['n1']['phase'] == 'two' and rows['n2']['phase'] == 'one'


def test_phase_tags_skip_a_role_but_not_start_and_gate(run):
    rc, out = run('phases.yml', '--tags', 'two', '-e', 'mindie_report_dir=%s' % (run.base / 'tags'))
    assert rc == 0, out
    assert 'FIRST-RAN' not in out and 'SECOND-RAN-n1' in out and 'SECOND-RAN-n2' in out
    summary, rows = _report(run, 'tags')
    assert summary['ready'] == 2 and rows['n2']['phase'] == 'two'


def test_no_gate_after_the_last_phase(run):
    """mindie_report_gate false: a node failing the last phase does not stop the others, even with mindie_fail_fast."""
    rc, out = run('phases.yml', '--tags', 'two', '-e', 'fail_two=true', '-e', 'mindie_fail_fast=true',
                  '-e', 'mindie_report_dir=%s' % (run.base / 'nogate'))
    assert rc == 2, out
    summary, rows = _report(run, 'nogate')
    assert rows['n1']['failure']['reason'] == 'second boom'
    assert rows['n2']['status'] == 'ready' and rows['n2']['failure'] is None
    assert (summary['failed'], summary['ready']) == (1, 1)


# ---------------------------------------------------------------------- slices (AWX job slicing) and their merge

def slice_inventory(run, name, host):
    """A pared-down inventory of one host, as AWX gives each slice job."""
    inventory = copy.deepcopy(INVENTORY)
    for group in inventory['all']['children']['mindie_nodes']['children'].values():
        group['hosts'] = dict((h, v) for h, v in group['hosts'].items() if h == host)
    (run.base / name).write_text(json.dumps(inventory))
    return name


@pytest.fixture(scope='module')
def slices(run):
    """The phases as two slices, n1 and n2, each with mindie_fail_fast: n2's failure stops its own slice only."""
    out = {}
    for name, host in (('slice-a', 'n1'), ('slice-b', 'n2')):
        out[name] = run('phases.yml', '-e', 'mindie_fail_fast=true', '-e', 'mindie_report_slice=%s' % name,
                        '-e', 'mindie_report_dir=%s' % (run.base / name),
                        inventory=slice_inventory(run, name + '.yml', host), env={'ANSIBLE_SHOW_CUSTOM_STATS': '1'})
    return out


def test_each_slice_reports_its_own_hosts_and_gates_on_them(run, slices):
    rc_a, out_a = slices['slice-a']
    rc_b, out_b = slices['slice-b']
    # n2 fails in slice b; with mindie_fail_fast, slice a (n1 alone) is not stopped: the gate counts per slice
    assert rc_a == 0, out_a
    assert rc_b == 2, out_b
    summary, rows = _report(run, 'slice-a')
    assert summary['nodes'] == 1 and summary['ready'] == 1 and list(rows) == ['n1']
    assert rows['n1']['phase'] == 'two' and rows['n1']['failure'] is None
    summary, rows = _report(run, 'slice-b')
    assert summary['nodes'] == 1 and summary['failed'] == 1 and list(rows) == ['n2']
    with open(str(run.base / 'slice-a' / 'fleet-summary.json')) as handle:
        assert json.load(handle)['slice'] == {'id': 'slice-a', 'hosts': 1}
    # the artifact a later AWX workflow node gets (set_stats, shown by the default callback)
    assert 'CUSTOM STATS' in out_a and 'ascend_mindie_report_slice_slice_a' in out_a


def test_a_run_over_the_whole_fleet_is_no_slice(run):
    rc, out = run('phases.yml', '--tags', 'two', '-e', 'mindie_report_dir=%s' % (run.base / 'whole'),
                  env={'ANSIBLE_SHOW_CUSTOM_STATS': '1'})
    assert rc == 0, out
    with open(str(run.base / 'whole' / 'fleet-summary.json')) as handle:
        assert json.load(handle)['slice'] is None
    assert 'ascend_mindie_report_slice' not in out


MERGE = os.path.join(REPO, 'playbooks', 'report_merge.yml')


def test_merge_of_the_slices_is_the_fleets_report(run, slices):
    files = [str(run.base / 'slice-a'), str(run.base / 'slice-b' / 'fleet-summary.json')]
    rc, out = run(MERGE, '-e', json.dumps({'mindie_report_merge_files': files,
                                           'mindie_report_dir': str(run.base / 'merged')}))
    assert rc == 0, out
    summary, rows = _report(run, 'merged')
    assert summary['nodes'] == 2 and (summary['ready'], summary['failed']) == (1, 1) and list(rows) == ['n1', 'n2']
    assert rows['n2']['failure']['reason'] == 'boom on n2'
    with open(str(run.base / 'merged' / 'fleet-summary.json')) as handle:
        merged = json.load(handle)
    assert [(s['source'], s['nodes'], s['summary']['nodes']) for s in merged['slices']] == [
        (files[0] + '/fleet-summary.json', ['n1'], 1), (files[1], ['n2'], 1)]
    with open(str(run.base / 'merged' / 'fleet-summary.md')) as handle:
        text = handle.read()
    assert 'Merged from 2 slices:' in text and '| n1 |' in text and '| n2 |' in text
    # the fleet table on the console counts both
    assert '0 of 2 nodes serving' in out


def test_merge_of_artifacts_and_the_fleet_wide_gate(run, slices):
    """The slices' reports as AWX passes artifacts on (extra vars); more than 40 % of the fleet down fails the merge,
    after the merged report is written."""
    artifacts = {}
    for name in ('slice-a', 'slice-b'):
        with open(str(run.base / name / 'fleet-summary.json')) as handle:
            artifacts['ascend_mindie_report_slice_' + name.replace('-', '_')] = json.load(handle)
    artifacts.update(mindie_report_dir=str(run.base / 'gated'), mindie_report_merge_max_fail_percentage=40)
    (run.base / 'artifacts.json').write_text(json.dumps(artifacts))
    rc, out = run(MERGE, '-e', '@' + str(run.base / 'artifacts.json'))
    assert rc == 2, out
    assert '2 of 2 nodes of the fleet are not up, more than mindie_report_merge_max_fail_percentage=40% (n1, n2)' in out
    summary, rows = _report(run, 'gated')
    assert summary['nodes'] == 2 and sorted(rows) == ['n1', 'n2']


def test_merge_refuses_a_node_in_two_slices_and_writes_nothing(run, slices):
    files = [str(run.base / 'slice-a'), str(run.base / 'slice-a' / 'fleet-summary.json')]
    rc, out = run(MERGE, '-e', json.dumps({'mindie_report_merge_files': files, 'mindie_report_dir': str(run.base / 'dup')}))
    assert rc == 2, out
    assert 'node n1 is in %s/fleet-summary.json and in %s/fleet-summary.json' % (files[0], files[0]) in out
    assert not (run.base / 'dup').exists()


def test_merge_without_reports_says_what_to_give(run):
    rc, out = run(MERGE, '-e', 'mindie_report_dir=%s' % (run.base / 'none'))
    assert rc == 2, out
    assert 'No slice report to merge: set mindie_report_merge_files' in out
