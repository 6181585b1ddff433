# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.prechecks, gather.yml: installing the Docker SDK says `changed` honestly, also in --check.

ansible-playbook runs gather.yml on localhost with mindie_precheck_install_docker_sdk: true. The
"interpreter" is a wrapper of this Python whose `-c "import docker"` fails until a stand-in package
manager (ansible_package_use: ansible.legacy.fakepkg, a module in a temporary library) has "installed" python3-docker.
Nothing is installed on this machine.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAY = '''
- name: Gather of the prechecks
  hosts: all
  gather_facts: false
  tasks:
    - name: Run gather.yml
      ansible.builtin.include_role:
        name: ascend.mindie.prechecks
        tasks_from: gather.yml
'''

FAKEPKG = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
import json, os

def main():
    module = AnsibleModule(argument_spec=dict(name=dict(type='list', elements='str'), state=dict(type='str')),
                           supports_check_mode=True)
    state = os.environ['FAKEPKG_STATE']
    with open(os.environ['FAKEPKG_LOG'], 'a') as log:
        log.write(json.dumps({'name': module.params['name'], 'check_mode': module.check_mode}) + '\\n')
    if os.path.exists(state):
        module.exit_json(changed=False)
    if not module.check_mode:
        open(state, 'w').close()
    module.exit_json(changed=True)

main()
'''

WRAPPER = '''#!/bin/sh
if [ "$1" = "-c" ] && [ "$2" = "import docker" ] && [ ! -e "$FAKEPKG_STATE" ]; then
  echo "ModuleNotFoundError: No module named 'docker'" >&2
  exit 1
fi
exec %s "$@"
'''


@pytest.fixture
def run(tmp_path):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    ns = tmp_path / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    (tmp_path / 'library').mkdir()
    (tmp_path / 'library' / 'fakepkg.py').write_text(FAKEPKG)
    python = tmp_path / 'python'
    python.write_text(WRAPPER % sys.executable)
    python.chmod(0o755)
    (tmp_path / 'play.yml').write_text(PLAY)
    (tmp_path / 'hosts.yml').write_text(json.dumps({'all': {'hosts': {'n1': {
        'ansible_connection': 'local', 'ansible_python_interpreter': str(python), 'ansible_package_use': 'ansible.legacy.fakepkg',
        # no NPUs here: npu_facts finds none, and the plan takes these
        'mindie_npu_count': 8}}}}))
    (tmp_path / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\n')
    state, log = tmp_path / 'installed', tmp_path / 'fakepkg.log'
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'collections'),
               ANSIBLE_LIBRARY=str(tmp_path / 'library'), ANSIBLE_HOME=str(tmp_path / 'home'),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_DEPRECATION_WARNINGS='0', FAKEPKG_STATE=str(state), FAKEPKG_LOG=str(log))
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)

    def _run(*extra):
        argv = [PLAYBOOK, '-i', str(tmp_path / 'hosts.yml'), str(tmp_path / 'play.yml'),
                '-e', 'mindie_precheck_install_docker_sdk=true'] + list(extra)
        proc = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=120, check=False)
        out = ' '.join(proc.stdout.split())
        assert proc.returncode == 0, out
        recap = re.search(r'n1 : ok=\d+ changed=(\d+)', out)
        assert recap, out
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return int(recap.group(1)), out, calls, state.exists()

    return _run


def test_installing_the_sdk_is_a_change_predicted_by_check_mode_and_not_repeated(run):
    changed, out, calls, installed = run('--check')
    assert changed == 1 and 'changed: [n1]' in out, out          # --check says the SDK would be installed
    assert calls == [{'name': ['python3-docker'], 'check_mode': True}] and not installed

    changed, out, calls, installed = run()
    assert changed == 1 and installed, out
    assert calls[-1] == {'name': ['python3-docker'], 'check_mode': False}

    for extra in ((), ('--check',)):                              # the SDK is there now: no change, nothing asked
        changed, out, calls_after, installed = run(*extra)
        assert changed == 0, out
        assert len(calls_after) == 2
