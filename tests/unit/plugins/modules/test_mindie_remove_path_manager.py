# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindieRemovePath (the manager of ascend.mindie.mindie_remove_path) with the guard and the deletes mocked.

The guard (safe_remove.check_removal), shutil.rmtree, os.unlink and os.path.lexists are replaced by recorders:
the tests say which delete runs for which decision, and that a refused path, check mode or an absent path
deletes nothing. test_mindie_remove_path.py runs the real guard on a real tree.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_remove_path
from ansible_collections.ascend.mindie.plugins.module_utils.safe_remove import RemovalRefused
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import Calls, Failed, build_module

PATH = '/data/old-model'


@pytest.fixture
def fs(monkeypatch):
    """The mocked guard and file system: ``fs.decision`` (or ``fs.refuse``), ``fs.left`` (lexists afterwards)."""
    calls = Calls()
    calls.decision = {'path': PATH, 'real_path': PATH, 'state': 'directory', 'allowed_root': '/data'}
    calls.refuse = None
    calls.left = False
    calls.rmtree_errors = []
    calls.unlink_error = None

    def check_removal(path, roots, paths):
        calls.record('check_removal', path, roots, paths)
        if calls.refuse:
            raise RemovalRefused(calls.refuse)
        return dict(calls.decision)

    def rmtree(path, onerror=None):
        calls.record('rmtree', path)
        for name, exc in calls.rmtree_errors:
            onerror(None, name, (type(exc), exc, None))

    def unlink(path):
        calls.record('unlink', path)
        if calls.unlink_error:
            raise calls.unlink_error

    def lexists(path):
        calls.record('lexists', path)
        return calls.left

    monkeypatch.setattr(mindie_remove_path, 'check_removal', check_removal)
    monkeypatch.setattr(mindie_remove_path.shutil, 'rmtree', rmtree)
    monkeypatch.setattr(mindie_remove_path.os, 'unlink', unlink)
    monkeypatch.setattr(mindie_remove_path.os.path, 'lexists', lexists)
    return calls


def manager(monkeypatch, check_mode=False, diff=False, **args):
    args.setdefault('path', PATH)
    return mindie_remove_path.MindieRemovePath(build_module(monkeypatch, mindie_remove_path, args, check_mode, diff))


def deletes(fs):
    return [c for c in fs.log if c[0] in ('rmtree', 'unlink')]


def test_options_reach_the_guard(monkeypatch, fs):
    manager(monkeypatch, allowed_roots=['/data', '/models'], allowed_paths=['/srv/x']).run()
    assert fs.of('check_removal') == [(PATH, ['/data', '/models'], ['/srv/x'])]


def test_directory_is_removed_with_rmtree_and_checked_afterwards(monkeypatch, fs):
    result = manager(monkeypatch).run()
    assert result['changed'] is True and result['state'] == 'directory'
    assert fs.names() == ['check_removal', 'rmtree', 'lexists']
    assert fs.of('rmtree') == [(PATH,)]


def test_file_is_unlinked_not_rmtree(monkeypatch, fs):
    fs.decision['state'] = 'file'
    result = manager(monkeypatch).run()
    assert result['changed'] is True
    assert deletes(fs) == [('unlink', PATH)]


def test_absent_path_deletes_nothing_and_is_no_change(monkeypatch, fs):
    fs.decision['state'] = 'absent'
    result = manager(monkeypatch, diff=True).run()
    assert result['changed'] is False and 'diff' not in result
    assert fs.names() == ['check_removal']


def test_refused_path_fails_with_the_guards_reason_and_deletes_nothing(monkeypatch, fs):
    fs.refuse = '/data/.. resolves to / (a system directory): refusing it'
    with pytest.raises(Failed) as info:
        manager(monkeypatch, path='/data/..').run()
    assert info.value.result['msg'] == fs.refuse and info.value.result['path'] == '/data/..'
    assert fs.names() == ['check_removal']


def test_check_mode_reports_the_change_and_deletes_nothing(monkeypatch, fs):
    result = manager(monkeypatch, check_mode=True, diff=True).run()
    assert result['changed'] is True
    assert result['diff'] == {'before': {'path': PATH, 'state': 'directory'}, 'after': {'path': PATH, 'state': 'absent'}}
    assert deletes(fs) == []


def test_rmtree_errors_fail_naming_what_could_not_be_deleted(monkeypatch, fs):
    fs.rmtree_errors = [(PATH + '/busy', OSError(16, 'Device or resource busy'))]
    fs.left = True
    with pytest.raises(Failed) as info:
        manager(monkeypatch).run()
    msg = info.value.result['msg']
    assert msg.startswith('Could not delete all of %s (part of it may be gone)' % PATH)
    assert PATH + '/busy' in msg and 'Device or resource busy' in msg
    assert info.value.result['changed'] is True


def test_unlink_error_fails_with_the_os_error(monkeypatch, fs):
    fs.decision['state'] = 'file'
    fs.unlink_error = OSError(13, 'Permission denied')
    with pytest.raises(Failed) as info:
        manager(monkeypatch).run()
    assert 'Permission denied' in info.value.result['msg']


def test_path_still_there_without_an_error_is_a_failure(monkeypatch, fs):
    fs.left = True
    with pytest.raises(Failed) as info:
        manager(monkeypatch).run()
    assert info.value.result['msg'].endswith('it is still there')
