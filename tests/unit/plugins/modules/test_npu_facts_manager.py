# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NpuFactsManager (the manager of ascend.mindie.npu_facts) with npu-smi and the version files mocked.

find_npu_smi, run_npu_smi and read_key_value_file are recorders: the tests say which npu-smi calls run, that a
bad timeout or a missing binary runs none, that a failed ``info`` stops before ``info -m``, and that only the
mapping and the version files are allowed to fail softly. test_npu_facts.py runs a fake npu-smi executable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ascend.mindie.plugins.modules import npu_facts
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import NpuSmiNotFound, NpuSmiTimeout
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import (
    Calls,
    Exited,
    Failed,
    build_module,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')
BINARY = '/usr/local/sbin/npu-smi'


def read(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


class Result(object):
    """The parts of an NpuSmiResult the manager reads."""

    def __init__(self, rc, out, err='', truncated=(), notes=()):
        self.rc, self.stdout, self.stderr = rc, out, err
        self.truncated = list(truncated)
        self.stdout_bytes = len(out)
        self._notes = list(notes)

    def marked(self, stream):
        return self.stdout if stream == 'stdout' else self.stderr

    def notes(self):
        return self._notes


@pytest.fixture
def node(monkeypatch):
    calls = Calls()
    calls.answers = {('info',): Result(0, read('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt')),
                     ('info', '-m'): Result(0, read('npu-smi', 'atlas800ia2_910b4x8_info-m.txt'))}
    calls.not_found = None
    calls.unreadable = ()

    def find_npu_smi(name):
        calls.record('find_npu_smi', name)
        if calls.not_found:
            raise calls.not_found
        return BINARY

    def run_npu_smi(argv, timeout, max_bytes):
        calls.record('run_npu_smi', tuple(argv[1:]), timeout)
        answer = calls.answers[tuple(argv[1:])]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def read_key_value_file(path):
        calls.record('read', path)
        if path in calls.unreadable:
            raise IOError(13, 'Permission denied')
        if path.endswith('driver/version.info'):
            return {'version': '25.0.rc1.1'}
        return None

    monkeypatch.setattr(npu_facts, 'find_npu_smi', find_npu_smi)
    monkeypatch.setattr(npu_facts, 'run_npu_smi', run_npu_smi)
    monkeypatch.setattr(npu_facts, 'read_key_value_file', read_key_value_file)
    return calls


def execute(monkeypatch, node, **args):
    module = build_module(monkeypatch, npu_facts, dict({'ascend_home': '/opt/Ascend'}, **args))
    with pytest.raises((Exited, Failed)) as info:
        npu_facts.NpuFactsManager(module).execute()
    return info.value, module


def test_idle_32g_node_runs_info_and_the_mapping_once_each(monkeypatch, node):
    outcome, module = execute(monkeypatch, node, npu_smi_timeout=7)
    assert isinstance(outcome, Exited) and outcome.result['changed'] is False
    facts = outcome.result['ansible_facts']['npu']
    assert node.of('run_npu_smi') == [(('info',), 7), (('info', '-m'), 7)]
    assert node.of('find_npu_smi') == [('npu-smi',)]
    assert facts['count'] == 8 and facts['profile'] == 'atlas-800i-a2-32g' and facts['healthy'] is True
    assert facts['driver'] == {'version': '25.0.rc1.1'} and facts['firmware'] is None
    assert all(chip['logical_id'] is not None for chip in facts['chips'])
    assert ('/opt/Ascend/driver/version.info',) in node.of('read')
    assert module.warnings_seen == []


@pytest.mark.parametrize('value', [0, -5])
def test_bad_timeout_runs_nothing(monkeypatch, node, value):
    outcome, module = execute(monkeypatch, node, npu_smi_timeout=value)
    assert isinstance(outcome, Failed) and 'npu_smi_timeout must be at least 1' in outcome.result['msg']
    assert node.log == []


def test_missing_binary_fails_with_where_it_looked_and_runs_nothing(monkeypatch, node):
    node.not_found = NpuSmiNotFound('npu-smi was not found in /usr/local/sbin, /usr/local/bin', searched=['/usr/local/sbin'])
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Failed) and outcome.result['searched'] == ['/usr/local/sbin']
    assert node.names() == ['find_npu_smi']


def test_failed_info_fails_with_the_cause_and_skips_the_mapping(monkeypatch, node):
    node.answers[('info',)] = Result(255, 'dcmi module initialize failed. ret is -8005')
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Failed)
    assert "'%s info' failed (rc=255)" % BINARY in outcome.result['msg'] and 'Likely cause' in outcome.result['msg']
    assert node.of('run_npu_smi') == [(('info',), npu_facts.DEFAULT_TIMEOUT)]
    assert 'read' not in node.names()


def test_hung_info_fails_the_module(monkeypatch, node):
    node.answers[('info',)] = NpuSmiTimeout("'npu-smi info' timed out after 30 s and was killed", command='npu-smi info')
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Failed) and outcome.result['cmd'] == 'npu-smi info'
    assert len(node.of('run_npu_smi')) == 1


def test_truncated_info_is_no_device_table(monkeypatch, node):
    node.answers[('info',)] = Result(0, 'x' * 100, truncated=['stdout'])
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Failed) and outcome.result['truncated'] is True


def test_hung_mapping_is_a_warning_and_the_facts_come_without_logical_ids(monkeypatch, node):
    node.answers[('info', '-m')] = NpuSmiTimeout("'npu-smi info -m' timed out", command='npu-smi info -m')
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Exited)
    assert module.warnings_seen == ["'npu-smi info -m' timed out"]
    assert all(chip['logical_id'] is None for chip in outcome.result['ansible_facts']['npu']['chips'])


def test_unreadable_version_file_is_a_warning(monkeypatch, node):
    node.unreadable = ('/opt/Ascend/driver/version.info',)
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Exited) and outcome.result['ansible_facts']['npu']['driver'] is None
    assert module.warnings_seen == ['Cannot read /opt/Ascend/driver/version.info: [Errno 13] Permission denied']


def test_output_notes_become_warnings(monkeypatch, node):
    node.answers[('info',)].__init__(0, node.answers[('info',)].stdout, notes=['not valid UTF-8'])
    outcome, module = execute(monkeypatch, node)
    assert isinstance(outcome, Exited) and module.warnings_seen == ['not valid UTF-8']
