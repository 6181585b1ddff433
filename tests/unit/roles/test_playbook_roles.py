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
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_DEPRECATION_WARNINGS='0', DOCKER_HOST='unix://%s/no-docker.sock' % tmp_path)
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
