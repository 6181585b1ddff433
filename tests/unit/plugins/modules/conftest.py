# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process and catch what it exits with; small generated weights."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, expect_fail=False, check_mode=False) -> the module's result dict."""
    def exit_json(self, **kwargs):
        raise AnsibleExitJson(kwargs)

    def fail_json(self, **kwargs):
        kwargs['failed'] = True
        raise AnsibleFailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(main, args, expect_fail=False, check_mode=False):
        args = dict(args)
        if check_mode:
            args['_ansible_check_mode'] = True
        with patch_module_args(args):
            with pytest.raises(AnsibleFailJson if expect_fail else AnsibleExitJson) as info:
                main()
        return info.value.args[0]

    return run


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """A small real-format Qwen2-VL-7B-Instruct directory (1 MB in two shards), one per test module."""
    out = str(tmp_path_factory.mktemp('w') / 'Qwen2-VL-7B-Instruct')
    subprocess.check_call([sys.executable, os.path.join(REPO, 'sandbox', 'weights', 'generate_weights.py'),
                           out, '--total-mb', '1', '--shards', '2'], stdout=subprocess.DEVNULL)
    return out
