# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded logs: MindIE's own rotation (MINDIE_LOG_ROTATE) and the container's log driver, set by default.

The service and container roles' preflights run by ansible-playbook on localhost (no Docker engine: the container
role's first Docker call, after its checks, fails on purpose), then what they would hand on is printed: the daemon's
environment (supervisor.json's and the exec mode's) and the container's specification.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAY = '''
- name: A role's preflight, then what the role hands on
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the preflight
      block:
        - name: The role's preflight
          ansible.builtin.include_role:
            name: "ascend.mindie.{{ role }}"
            tasks_from: preflight.yml
            public: true
      rescue:
        - name: Say which task failed and why
          ansible.builtin.debug:
            msg: "FAILED {{ ansible_failed_task.name }} => {{ __test_why | b64encode }} <= FAILED"
          vars:
            # (a loop's items say why)
            __test_why: "{{ ansible_failed_result.msg | default('') }} {{ ansible_failed_result.results | default([])
                            | selectattr('failed', 'defined') | selectattr('failed') | map(attribute='msg') | join(' ') }}"

        - name: Keep that it failed
          ansible.builtin.set_fact:
            __test_failed_task: "{{ ansible_failed_task.name }}"

    - name: Show what the role hands on (base64 JSON)
      ansible.builtin.debug:
        msg: "HANDED {{ __test_handed | to_json | b64encode }} HANDED"
      vars:
        __mindie_instance: "{{ mindie_plan.instances[0] }}"
        __test_handed: >-
          {{ {'supervisor_env': __mindie_service_supervisor.env, 'module_env': __mindie_service_env} if role == 'service'
             else {'log_driver': __mindie_container_spec.log_driver, 'log_options': __mindie_container_spec.log_options} }}
      when: role == 'service' and __test_failed_task is not defined
            or role == 'container' and __test_failed_task | default('') == 'Look for the MindIE image on the node'
'''

# The service preflight needs no hardware profile with both of these; the plan's NPUs come from mindie_npu_count.
SERVICE = ['-e', 'mindie_npu_count=4', '-e', 'mindie_service_npu_mem_size=8', '-e', 'mindie_service_max_batch_size=8']
CONTAINER = ['-e', 'mindie_npu_count=4', '-e', 'mindie_image_name=mindie', '-e', 'mindie_image_tag=1.0.0']


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    base = tmp_path_factory.mktemp('bounded-logs')
    ns = base / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    (base / 'play.yml').write_text(PLAY)
    (base / 'hosts.yml').write_text(json.dumps({'all': {'hosts': {'n1': {'ansible_connection': 'local'}}}}))
    (base / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\n')
    env = dict(os.environ, ANSIBLE_CONFIG=str(base / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(base / 'collections'),
               ANSIBLE_HOME=str(base / 'home'), ANSIBLE_LOCAL_TEMP=str(base / 'tmp'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_DEPRECATION_WARNINGS='0',
               DOCKER_HOST='unix://%s/no-docker.sock' % base)
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)

    def _run(role, *extra):
        argv = [PLAYBOOK, '-i', str(base / 'hosts.yml'), str(base / 'play.yml'), '-e', 'role=%s' % role] + list(extra)
        proc = subprocess.run(argv, cwd=str(base), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=180, check=False)
        out = ' '.join(proc.stdout.split())
        failed = re.search(r'FAILED (.*?) => (\S*) <= FAILED', out)
        handed = re.search(r'HANDED (\S+) HANDED', out)
        assert 'Traceback' not in out, out
        return ((failed.group(1), ' '.join(base64.b64decode(failed.group(2)).decode('utf-8').split())) if failed else None,
                json.loads(base64.b64decode(handed.group(1)).decode('utf-8')) if handed else None, out)

    yield _run
    shutil.rmtree(str(base), ignore_errors=True)


# ---------------------------------------------------------------------- MINDIE_LOG_ROTATE (service role)

def test_every_daemon_rotates_its_logs_by_default(run):
    failed, handed, out = run('service', *SERVICE)
    assert failed is None and handed, out
    # supervisor.json (what the supervisor starts the daemon with) and the module's env (a daemon started by exec)
    assert handed['supervisor_env']['MINDIE_LOG_ROTATE'] == '-fs 20 -r 10'
    assert handed['module_env'] == {'MINDIE_LOG_ROTATE': '-fs 20 -r 10'}


def test_the_two_variables_set_it_and_mindie_service_env_wins(run):
    failed, handed, out = run('service', *SERVICE + ['-e', 'mindie_service_log_rotate_size_mb=50',
                                                     '-e', 'mindie_service_log_rotate_files=64'])
    assert failed is None and handed['supervisor_env']['MINDIE_LOG_ROTATE'] == '-fs 50 -r 64', out
    own = 'llm:-fs 100 -r 5;server:-fs 20 -r 10'
    failed, handed, out = run('service', *SERVICE + ['-e', json.dumps({'mindie_service_env': {
        'MINDIE_LOG_ROTATE': own, 'MINDIE_LOG_LEVEL': 'INFO'}})])
    assert failed is None, out
    assert handed['supervisor_env']['MINDIE_LOG_ROTATE'] == own and handed['supervisor_env']['MINDIE_LOG_LEVEL'] == 'INFO'
    assert handed['module_env'] == {'MINDIE_LOG_ROTATE': own, 'MINDIE_LOG_LEVEL': 'INFO'}


def test_sizes_and_counts_mindie_refuses_are_refused_in_the_preflight(run):
    failed, handed, out = run('service', *SERVICE + ['-e', 'mindie_service_log_rotate_size_mb=501',
                                                     '-e', 'mindie_service_log_rotate_files=0'])
    assert failed and handed is None, out
    assert failed[0] == 'Refuse role variables of the wrong type or out of range, and report unknown mindie_* names'
    assert 'mindie_service_log_rotate_size_mb is "501": expected an integer in [1, 500]' in failed[1]
    assert 'mindie_service_log_rotate_files is "0": expected an integer in [1, 64]' in failed[1]
    # one given in mindie_service_env is checked the same way, before supervisor.json or config.json is written
    failed, handed, out = run('service', *SERVICE + ['-e', json.dumps({'mindie_service_env': {'MINDIE_LOG_ROTATE': '-fs 20 -r 100'}})])
    assert failed and failed[0] == 'Refuse settings the supervisor cannot take', out
    assert ("mindie_service_env: MINDIE_LOG_ROTATE='-fs 20 -r 100' would abort the MindIE daemon at start (its logger "
            'refuses it): -r takes the number of log files, an integer in [1, 64], got 100') in failed[1]


# ---------------------------------------------------------------------- the container's log (container role)

def test_the_container_log_is_bounded_by_default(run):
    failed, handed, out = run('container', *CONTAINER)
    # (its checks passed: the first Docker call failed, as there is no engine here)
    assert failed and failed[0] == 'Look for the MindIE image on the node', out
    assert handed == {'log_driver': 'json-file', 'log_options': {'max-size': '100m', 'max-file': '5'}}


def test_log_options_become_strings_and_null_leaves_dockers_default(run):
    failed, handed, out = run('container', *CONTAINER + ['-e', json.dumps({'mindie_container_log_driver': 'local',
                                                                           'mindie_container_log_options': {'max-file': 3}})])
    assert failed[0] == 'Look for the MindIE image on the node', out
    assert handed == {'log_driver': 'local', 'log_options': {'max-file': '3'}}
    failed, handed, out = run('container', *CONTAINER + ['-e', json.dumps({'mindie_container_log_driver': None,
                                                                           'mindie_container_log_options': {}})])
    assert failed[0] == 'Look for the MindIE image on the node', out
    assert handed == {'log_driver': None, 'log_options': {}}


def test_log_settings_docker_would_refuse_or_an_unbounded_log_are_refused_first(run):
    failed, handed, out = run('container', *CONTAINER + ['-e', json.dumps({'mindie_container_log_options': {
        'max-size': '0m', 'max-file': 'five', 'colour': 'red', 'compress': True}})])
    assert failed[0] == 'Refuse incomplete or contradictory settings' and handed is None, out
    for fragment in ('the values of compress must be strings, as Docker takes them',
                     'has colour, which the json-file log driver does not take',
                     'max-size "0m" is not a positive size such as 100m',
                     'max-file "five" is not a positive integer'):
        assert fragment in failed[1], failed[1]
    failed, handed, out = run('container', *CONTAINER + ['-e', json.dumps({'mindie_container_log_options': {'max-file': '5'}})])
    assert 'json-file without max-size in mindie_container_log_options keeps all the output of the container' in failed[1], out
    failed, handed, out = run('container', *CONTAINER + ['-e', json.dumps({'mindie_container_log_driver': None})])
    assert 'mindie_container_log_options {"max-size": "100m", "max-file": "5"} need a log driver' in failed[1], out


def test_the_container_is_created_and_compared_with_its_log_settings():
    """docker_container gets them, and a container with another driver or option value differs (it is recreated)."""
    with open(os.path.join(REPO, 'roles', 'container', 'tasks', 'docker_container.yml')) as handle:
        task = yaml.safe_load(handle)[0]['community.docker.docker_container']
    assert task['log_driver'] == '{{ mindie_container_spec.log_driver or omit }}'
    assert task['log_options'] == '{{ mindie_container_spec.log_options if mindie_container_spec.log_driver else omit }}'
    # (what the engine adds from its daemon.json log-opts does not make every run recreate the container)
    assert task['comparisons']['log_driver'] == 'strict' and task['comparisons']['log_options'] == 'allow_more_present'
