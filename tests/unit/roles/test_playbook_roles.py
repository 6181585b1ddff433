# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/teardown.yml and playbooks/collect_logs.yml, now thin calls of their roles, run on localhost.

Only what needs no Docker engine: teardown's refusals (they come before the container is looked at)
and where the diagnosis bundle goes (the older mindie_logs_* names still steer the diagnose role).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


@pytest.fixture
def run(tmp_path):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    ns = tmp_path / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    (tmp_path / 'hosts.yml').write_text(json.dumps({'all': {'children': {'mindie_nodes': {'hosts': {'n1': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}}}))
    (tmp_path / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\n')
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'collections'),
               ANSIBLE_HOME=str(tmp_path / 'home'), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_DEPRECATION_WARNINGS='0', DOCKER_HOST='unix://%s/no-docker.sock' % tmp_path,
               PWD=str(tmp_path))  # the reports' default directory is reports/ in $PWD: here, not in the repository
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)

    def _run(playbook, *extra):
        argv = [PLAYBOOK, '-i', str(tmp_path / 'hosts.yml'), os.path.join(REPO, 'playbooks', playbook)] + list(extra)
        proc = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=180, check=False)
        return proc.returncode, ' '.join(proc.stdout.split())

    _run.tmp = tmp_path
    return _run


def recap(out):
    match = re.search(r'n1 : ok=(\d+) changed=(\d+) unreachable=0 failed=(\d+)', out)
    assert match, out
    return tuple(int(g) for g in match.groups())


@pytest.mark.parametrize('extra, message', [
    (['-e', 'mindie_model_path=/data/..', '-e', 'mindie_teardown_remove_model=true'],
     r'mindie_model_path is "/data/..": Refusing to delete .* it is the root directory\. Nothing was torn down on this node\.'),
    (['-e', 'mindie_service_config_dir=/etc', '-e', 'mindie_teardown_remove_config=true'],
     r'mindie_service_config_dir is "/etc": Refusing to delete .*/etc.* Nothing was torn down on this node\.'),
    (['-e', 'mindie_teardown_remove_image=maybe'], r"mindie_teardown_remove_image.* not a valid boolean"),
    (['-e', '{"mindie_teardown_allowed_roots": "/data"}', '-e', 'mindie_teardown_remove_model=true'],
     r'mindie_teardown_allowed_roots'),
])
def test_teardown_refuses_before_the_container_is_looked_at(run, extra, message):
    rc, out = run('teardown.yml', '-e', 'mindie_container_name=mindie-unit-none', *extra)
    assert rc != 0 and re.search(message, out), out
    assert 'Look at the MindIE container' not in out and 'Remove the MindIE container' not in out, out
    assert recap(out)[1:] == (0, 1), out
    assert 'Traceback' not in out


def test_teardown_refusals_run_with_the_tag_of_a_removal(run):
    rc, out = run('teardown.yml', '--tags', 'mindie_teardown_data', '-e', 'mindie_container_name=mindie-unit-none',
                  '-e', 'mindie_model_path=/data/..', '-e', 'mindie_teardown_remove_model=true')
    assert rc != 0 and 'Refusing to delete' in out and 'Remove the model weights' not in out, out


def _bundles(root):
    return sorted(glob.glob(os.path.join(str(root), '*', 'summary.json')))


def test_collect_logs_writes_where_the_older_mindie_logs_dir_says(run):
    old = run.tmp / 'old-name'
    rc, out = run('collect_logs.yml', '-e', 'mindie_logs_dir=%s' % old, '-e', 'mindie_logs_archive=false',
                  '-e', 'mindie_container_name=mindie-unit-none', '-e', 'mindie_logs_probe=false')
    assert rc == 0, out
    [summary] = _bundles(old)
    bundle = os.path.dirname(summary)
    assert os.path.isfile(os.path.join(bundle, 'n1', 'findings.json'))
    assert not glob.glob(str(old / '*.tar.gz'))                        # mindie_logs_archive=false still counts
    nodes = json.load(open(summary))['nodes']
    assert [n['host'] for n in nodes] == ['n1'] and nodes[0]['status'] in ('error', 'warning', 'ok')

    new = run.tmp / 'new-name'
    rc, out = run('collect_logs.yml', '-e', 'mindie_logs_dir=%s' % old, '-e', 'mindie_diagnose_dir=%s' % new,
                  '-e', 'mindie_container_name=mindie-unit-none', '-e', 'mindie_diagnose_probe=false')
    assert rc == 0, out
    assert len(_bundles(new)) == 1 and len(_bundles(old)) == 1          # the role's own name wins
    assert len(glob.glob(str(new / '*.tar.gz'))) == 1


def test_collect_logs_refuses_a_line_count_that_is_not_a_number(run):
    rc, out = run('collect_logs.yml', '-e', 'mindie_logs_dir=%s' % (run.tmp / 'x'), '-e', 'mindie_logs_lines=lots')
    assert rc != 0 and "argument 'mindie_logs_lines' is of type str and we were unable to convert to int" in out, out
    assert not os.path.exists(str(run.tmp / 'x'))


# --- The roles act on the node's plan, compute it in their preflight, and run it with every phase tag.

def _plan(**given):
    plan = {'container': 'mindie-unit-plan', 'model_path': '/data/Qwen2-VL-7B-Instruct', 'config_dir': '/etc/mindie',
            'config_container_dir': '/etc/mindie', 'devices': [0], 'profile': None}
    plan.update(given)
    return json.dumps({'mindie_plan': plan})


def test_teardown_acts_on_the_plans_weights_not_on_a_default_of_its_own(run):
    # mindie_model_path is not set: only the plan names /data/.. (a copied default would name the Qwen2-VL weights).
    rc, out = run('teardown.yml', '-e', _plan(model_path='/data/..'), '-e', 'mindie_teardown_remove_model=true')
    assert rc != 0 and 'mindie_model_path is "/data/..": Refusing to delete' in out, out
    assert 'Look at the MindIE container' not in out, out


def test_teardown_computes_the_plan_in_its_preflight_with_a_phase_tag(run):
    rc, out = run('teardown.yml', '--tags', 'mindie_teardown_container', '-e', 'mindie_container_name=mindie-unit-none',
                  '-e', 'mindie_model_path=/data/..', '-e', 'mindie_teardown_remove_model=true')
    assert rc != 0 and "Compute the node's plan" in out and 'Refusing to delete' in out, out


@pytest.mark.parametrize('playbook, old, new', [
    ('teardown.yml', 'mindie_service_stop_timeout', 'mindie_teardown_stop_timeout'),
    ('collect_logs.yml', 'mindie_service_ready_timeout', 'mindie_diagnose_ready_timeout'),
    ('collect_logs.yml', 'mindie_npu_smi_timeout', 'mindie_diagnose_npu_smi_timeout'),
])
def test_the_roles_own_variables_default_to_the_older_shared_names(run, playbook, old, new):
    rc, out = run(playbook, '-e', '%s=0' % old, '-e', 'mindie_logs_dir=%s' % (run.tmp / 'x'))
    assert rc != 0 and '%s is "0": expected an integer >= 1.' % new in out, out
    assert 'Look at the MindIE container' not in out and not os.path.exists(str(run.tmp / 'x')), out


def test_collect_logs_runs_the_preflight_with_a_phase_tag_and_reads_the_plan(run):
    # The weights and the config directory the diagnosis looks at are the plan's (mindie_model_path etc. are not set).
    rc, out = run('collect_logs.yml', '--tags', 'mindie_diagnose_collect', '-v', '-e', 'mindie_diagnose_probe=false',
                  '-e', _plan(model_path='/data/unit-from-plan', config_dir=str(run.tmp / 'cfg-from-plan')))
    assert rc == 0 and 'Refuse role variables' in out, out
    assert 'model directory /data/unit-from-plan does not exist' in out, out
    assert '%s/config.json: does not exist' % (run.tmp / 'cfg-from-plan') in out and 'Write the bundle' not in out, out
    rc, out = run('collect_logs.yml', '--tags', 'mindie_diagnose_collect', '-e', 'mindie_diagnose_probe=false')
    assert rc == 0 and "Compute the node's plan" in out, out


def test_collect_logs_writes_below_mindie_report_dir_and_lists_an_unreachable_node(run):
    (run.tmp / 'ghost.yml').write_text(json.dumps({'all': {'children': {'mindie_nodes': {'hosts': {'ghost': {
        'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': 1}}}}}}))
    reports = run.tmp / 'reports-here'
    rc, out = run('collect_logs.yml', '-i', str(run.tmp / 'ghost.yml'), '-e', 'mindie_report_dir=%s' % reports,
                  '-e', 'mindie_diagnose_archive=false', '-e', 'mindie_diagnose_probe=false')
    assert rc == 0, out
    [summary] = _bundles(reports / 'logs')
    nodes = dict((n['host'], n) for n in json.load(open(summary))['nodes'])
    assert sorted(nodes) == ['ghost', 'n1'] and nodes['ghost']['status'] == 'unreachable', nodes
    assert not os.path.exists(str(run.tmp / 'reports')), 'the bundle went to $PWD/reports, not below mindie_report_dir'


def test_inference_runs_the_preflight_with_the_run_tag(run):
    rc, out = run('inference.yml', '--tags', 'mindie_inference_run,mindie_inference_report')
    report = json.load(open(str(run.tmp / 'reports' / 'inference-report.json')))
    # No Docker engine here: the run fails in the module, not on an undefined plan.
    assert rc != 0 and "Compute the node's plan" in out, out
    assert 'No Docker engine' in report['nodes']['n1']['msg'] and 'mindie_plan' not in report['nodes']['n1']['msg'], report


def test_collect_logs_writes_a_directory_per_instance_of_the_plan(run):
    # A hand-built plan of two instances (contracts: name, container, config_dir, log_dir per instance).
    instances = []
    for index in (0, 1):
        name = 'mindie-unit-%d' % index
        (run.tmp / 'cfg' / name).mkdir(parents=True)
        (run.tmp / 'cfg' / name / 'config.json').write_text('{}')
        (run.tmp / 'log' / name).mkdir(parents=True)
        instances.append({'name': name, 'index': index, 'container': name, 'config_dir': str(run.tmp / 'cfg' / name),
                          'log_dir': str(run.tmp / 'log' / name)})
    (run.tmp / 'log' / 'mindie-unit-1' / 'supervisor.json').write_text(json.dumps({'status': 'crash-looping', 'restarts': 5}))
    (run.tmp / 'log' / 'mindie-unit-1' / 'console.log').write_text('Daemon exit\n')
    rc, out = run('collect_logs.yml', '-e', 'mindie_diagnose_dir=%s' % (run.tmp / 'logs'), '-e', 'mindie_diagnose_probe=false',
                  '-e', 'mindie_diagnose_archive=false', '-e', _plan(container='mindie-unit-0', instances=instances,
                                                                    config_dir=instances[0]['config_dir']))
    assert rc == 0, out
    [summary] = _bundles(run.tmp / 'logs')
    host = os.path.join(os.path.dirname(summary), 'n1')
    for name in ('mindie-unit-0', 'mindie-unit-1'):
        found = json.load(open(os.path.join(host, name, 'findings.json')))
        assert found['name'] == name and found['container'] == name, found
        assert os.path.isfile(os.path.join(host, name, 'config.json'))
        assert not os.path.exists(os.path.join(host, 'config.json'))      # an instance's file is in its directory only
    assert json.load(open(os.path.join(host, 'mindie-unit-1', 'supervisor.json')))['status'] == 'crash-looping'
    assert os.path.isfile(os.path.join(host, 'npu-smi-info.txt')) or os.path.isfile(os.path.join(host, 'errors.txt'))
    node = json.load(open(summary))['nodes'][0]
    assert [(i['name'], i['supervisor_status']) for i in node['instances']] == [('mindie-unit-0', None),
                                                                               ('mindie-unit-1', 'crash-looping')], node
    assert '| mindie-unit-1 | mindie-unit-1 |' in open(summary[:-len('.json')] + '.md').read()


def _two_instances():
    return [{'name': 'mindie-unit-%d' % i, 'index': i, 'container': 'mindie-unit-%d' % i, 'devices': [4 * i + d for d in range(4)],
             'device_ids': [0, 1, 2, 3]} for i in (0, 1)]


def test_inference_runs_on_each_instance_one_after_another_or_on_those_named(run):
    plan = _plan(container='mindie-unit-0', instances=_two_instances())
    rc, out = run('inference.yml', '-e', plan)
    nodes = json.load(open(str(run.tmp / 'reports' / 'inference-report.json')))['nodes']
    # No Docker engine here: each instance's run fails in the module, on its own container.
    assert rc != 0 and sorted(nodes['n1']['instances']) == ['mindie-unit-0', 'mindie-unit-1'], nodes
    assert [i['container'] for i in nodes['n1']['instances'].values()] == ['mindie-unit-0', 'mindie-unit-1']
    assert nodes['n1']['instance'] == 'mindie-unit-0' and 'No Docker engine' in nodes['n1']['msg'], nodes
    rc, out = run('inference.yml', '-e', plan, '-e', '{"mindie_inference_instances": ["mindie-unit-1"]}')
    nodes = json.load(open(str(run.tmp / 'reports' / 'inference-report.json')))['nodes']
    assert list(nodes['n1']['instances']) == ['mindie-unit-1'] and nodes['n1']['container'] == 'mindie-unit-1', nodes
    rc, out = run('inference.yml', '-e', plan, '-e', '{"mindie_inference_instances": ["mindie-unit-7"]}')
    assert rc != 0 and 'the node\'s plan has the instances ["mindie-unit-0", "mindie-unit-1"]' in out, out
    assert 'Run run_pa.sh' not in out, out


def test_collect_logs_puts_the_files_of_a_single_instance_in_its_directory_only(run):
    (run.tmp / 'cfg').mkdir()
    (run.tmp / 'cfg' / 'config.json').write_text('{}')
    plan = _plan(container='mindie-unit-one', config_dir=str(run.tmp / 'cfg'),
                 instances=[{'name': 'mindie-unit-one', 'index': 0, 'container': 'mindie-unit-one'}])
    rc, out = run('collect_logs.yml', '-e', 'mindie_diagnose_dir=%s' % (run.tmp / 'logs'), '-e', 'mindie_diagnose_probe=false',
                  '-e', 'mindie_diagnose_archive=false', '-e', plan)
    assert rc == 0, out
    [summary] = _bundles(run.tmp / 'logs')
    host = os.path.join(os.path.dirname(summary), 'n1')
    assert os.path.isfile(os.path.join(host, 'mindie-unit-one', 'config.json'))
    assert not os.path.exists(os.path.join(host, 'config.json')), os.listdir(host)
