# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/container_manager: the manager base and main() body of mindie_service and mindie_inference."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.container_manager import (
    ContainerManager,
    run_container_manager,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerError


class Exit(Exception):
    pass


class Module(object):
    params = {'container': 'mindie'}

    def fail_json(self, **kwargs):
        raise Exit(('fail', kwargs))

    def exit_json(self, **kwargs):
        raise Exit(('exit', kwargs))


class Manager(ContainerManager):
    outcome = None

    def __init__(self, module, client):
        super(Manager, self).__init__(module, client)
        self.result['client'] = client

    def run(self):
        self.result['ran'] = True
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.outcome == 'fail':
            self.fail('refused', hint='h')
        return dict(self.result, done=True)


def run(outcome=None, connect=lambda: 'client'):
    Manager.outcome = outcome
    with pytest.raises(Exit) as caught:
        run_container_manager(Module(), Manager, connect)
    return caught.value.args[0]


def test_success_exits_with_the_result():
    assert run() == ('exit', {'changed': False, 'client': 'client', 'ran': True, 'done': True})


def test_a_docker_error_during_the_run_fails_with_the_result_so_far():
    assert run(MindieDockerError('Container mindie does not exist.')) == (
        'fail', {'msg': 'Container mindie does not exist.', 'changed': False, 'client': 'client', 'ran': True})


def test_fail_keeps_the_result_and_adds_the_details():
    assert run('fail') == ('fail', {'msg': 'refused', 'hint': 'h', 'changed': False, 'client': 'client', 'ran': True})


def test_no_client_fails_before_the_manager_runs():
    def connect():
        raise MindieDockerError('No Docker SDK', exception='Traceback ...')
    assert run(connect=connect) == ('fail', {'msg': 'No Docker SDK', 'exception': 'Traceback ...'})


def test_other_errors_are_not_swallowed():
    with pytest.raises(ValueError):
        run(ValueError('a bug'))
