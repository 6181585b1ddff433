# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' preflights run by ansible-playbook on localhost, with -e values and typos.

Only the preflight's first tasks run (nothing connects to a node; every host is
ansible_connection=local and the checks run on the controller). A few runs, ~1 s each.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAY = '''
- name: Preflight of one role
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role's check
      ansible.builtin.include_role:
        name: "ascend.mindie.{{ role }}"
        tasks_from: "{{ tasks_from | default('preflight.yml') }}"

    - name: Show how many warnings the check's result carries
      ansible.builtin.debug:
        msg: "CHECK warnings={{ __mindie_vars.warnings | default([]) | length }}"
      when: __mindie_vars is defined

    - name: Show the plan
      ansible.builtin.debug:
        msg: >-
          PLAN {% for k, v in mindie_plan.ports.items() %}{{ k }}={{ v }}:{{ v | type_debug }} {% endfor -%}
          master={{ mindie_plan.master_port }}:{{ mindie_plan.master_port | type_debug }}
          devices={{ mindie_plan.devices | join(',') }}
      when: mindie_plan is defined
'''


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    base = tmp_path_factory.mktemp('mindie-vars')
    ns = base / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    (base / 'play.yml').write_text(PLAY + PLAY.replace('Preflight of one role', 'Preflight again, in a second play'))
    (base / 'once.yml').write_text(PLAY)
    (base / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\n')

    def _run(inventory, *extra, playbook='once.yml', role='prechecks', tasks_from='preflight.yml'):
        (base / 'hosts.yml').write_text(json.dumps({'all': {'hosts': inventory}}))
        env = dict(os.environ, ANSIBLE_CONFIG=str(base / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(base / 'collections'),
                   ANSIBLE_HOME=str(base / 'home'), ANSIBLE_LOCAL_TEMP=str(base / 'tmp'), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_FORCE_COLOR='0', ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_DEPRECATION_WARNINGS='0')
        env.pop('ANSIBLE_STDOUT_CALLBACK', None)
        argv = [PLAYBOOK, '-i', str(base / 'hosts.yml'), str(base / playbook), '-e', 'role=%s' % role,
                '-e', 'tasks_from=%s' % tasks_from] + list(extra)
        proc = subprocess.run(argv, cwd=str(base), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=120, check=False)
        return proc.returncode, ' '.join(proc.stdout.split())

    yield _run
    shutil.rmtree(str(base), ignore_errors=True)


LOCAL = {'ansible_connection': 'local'}


def test_a_port_given_with_e_is_converted(run):
    rc, out = run({'n1': LOCAL}, '-e', 'mindie_service_port=1050', '-e', 'mindie_npu_count=4', '-e', 'mindie_master_port=7900')
    assert rc == 0, out
    assert 'PLAN business=1050:int management=1041:int metrics=1042:int master=7900:int devices=0,1,2,3' in out, out


def test_the_prechecks_preflight_accepts_strings_that_read_as_their_type(run):
    rc, out = run({'n1': LOCAL}, '-e', 'mindie_service_port=1050', '-e', 'mindie_npu_count=4',
                  '-e', 'mindie_precheck_fix_permissions=false', '-e', '{"mindie_npu_devices": ["4", "5", "6", "7"]}')
    assert rc == 0, out


def test_a_port_out_of_range_given_with_e_is_refused_clearly(run):
    rc, out = run({'n1': LOCAL}, '-e', 'mindie_service_port=80')
    assert rc != 0
    assert 'mindie_service_port is "80": expected an integer in [1024, 65535]' in out
    assert 'not supported between' not in out and 'Traceback' not in out


def test_the_plan_refuses_what_it_cannot_convert(run):
    rc, out = run({'n1': LOCAL}, '-e', 'mindie_npu_count=four')
    assert rc != 0
    assert 'mindie_npu_count is "four": expected one of 1, 2, 4, 8' in out
    assert 'PLAN' not in out


def test_every_wrong_variable_is_named_in_one_failure(run):
    rc, out = run({'n1': dict(LOCAL, mindie_service_max_batch_size='0', mindie_service_https='maybe',
                              mindie_service_max_input_token_len=5000000)},
                  '-e', 'mindie_service_ready_timeout=soon', role='service')
    assert rc != 0
    assert 'mindie_service_max_batch_size is "0": expected an integer in [1, 819200] (or null)' in out
    assert 'mindie_service_https is "maybe": expected a boolean' in out
    assert 'mindie_service_max_input_token_len is 5000000: expected an integer in [1, 4194304]' in out
    assert 'mindie_service_ready_timeout is "soon": expected an integer >= 1' in out


def test_a_failure_limit_that_is_not_a_number_is_refused(run):
    # `'abc' | float` is 0.0: without the check the gate took "abc" for 0 %.
    rc, out = run({'n1': LOCAL}, '-e', 'mindie_max_fail_percentage=abc', '-e', 'mindie_report_phase=prechecks',
                  role='fleet_report', tasks_from='gate.yml')
    assert rc != 0
    assert 'mindie_max_fail_percentage is "abc": expected a number in [0, 100]' in out


def test_typos_warn_once_per_host_and_strict_fails(run):
    typo = {'mindie_service_max_batch_sise': 8}
    rc, out = run({'typo': dict(LOCAL, **typo), 'strict': dict(LOCAL, mindie_strict_variables='true', **typo), 'clean': LOCAL},
                  playbook='play.yml')
    assert rc != 0  # the strict host fails
    warning = ('typo: unknown variable, read by no role of ascend.mindie: mindie_service_max_batch_sise '
               '(did you mean mindie_service_max_batch_size?)')
    assert out.count(warning) == 1, out  # two plays, one warning
    # Ansible's display also folds identical warnings; the results themselves must not repeat it
    # (a JSON callback or AWX shows every result's warnings).
    assert out.count('[typo] => { "msg": "CHECK warnings=1" }') == 1, out
    assert out.count('[typo] => { "msg": "CHECK warnings=0" }') == 1, out
    assert 'clean: unknown' not in out
    assert ('strict: ascend.mindie.prechecks cannot use these variables: unknown variables (no role of ascend.mindie reads '
            'them; mindie_strict_variables is true): mindie_service_max_batch_sise (did you mean mindie_service_max_batch_size?)') in out
    assert 'fatal: [strict]' in out and 'fatal: [typo]' not in out and 'fatal: [clean]' not in out
