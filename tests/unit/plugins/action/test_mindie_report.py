# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_report: the action plugin run with a fake task and connection (no playbook, no node)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.ascend.mindie.plugins.action import mindie_report as mr

try:
    from ansible.template import trust_as_template  # ansible-core >= 2.19: role defaults are trusted templates
except ImportError:
    def trust_as_template(value):
        return value

REPORT = {'summary': {'nodes': 2, 'pass': 1, 'fail': 1}, 'nodes': {'b': {'status': 'fail'}, 'a': {'status': 'pass'}},
          'text': 'NPU 3 是 Alarm'}


class FakeTask(object):
    def __init__(self, args, check_mode=False):
        self.args = args
        self.check_mode = check_mode
        self.async_val = 0
        self.action = 'ascend.mindie.mindie_report'
        self.register = None


class FakeShell(object):
    tmpdir = None


class FakeConnection(object):
    """The plugin must never use it: every attribute but the shell raises."""

    _shell = FakeShell()

    def __getattr__(self, name):
        raise AssertionError('mindie_report used the connection (%s)' % name)


def run(args, check_mode=False, task_vars=None):
    loader = DataLoader()
    task_vars = dict(task_vars or {})
    action = mr.ActionModule(FakeTask(args, check_mode), FakeConnection(), None, loader,
                             Templar(loader=loader, variables=task_vars), None)
    return action.run(task_vars=task_vars)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_json_and_markdown_like_to_nice_json(tmp_path):
    target = tmp_path / 'reports' / 'deep'
    result = run({'dir': str(target), 'name': 'fleet-summary', 'data': REPORT, 'markdown': '# Fleet\n'})
    assert not result.get('failed'), result
    assert result['changed'] is True
    assert result['json_path'] == str(target / 'fleet-summary.json')
    assert result['md_path'] == str(target / 'fleet-summary.md')
    assert result['written'] == [result['json_path'], result['md_path']]
    text = (target / 'fleet-summary.json').read_text(encoding='utf-8')
    # What `| to_nice_json(sort_keys=true)` and a newline gave the roles' copy tasks.
    assert text == json.dumps(REPORT, indent=4, sort_keys=True, separators=(',', ': ')) + '\n'
    assert (target / 'fleet-summary.md').read_text() == '# Fleet\n'
    assert mode(str(target / 'fleet-summary.json')) == 0o644 and mode(str(target / 'fleet-summary.md')) == 0o644
    assert mode(str(target)) == 0o755 and mode(str(tmp_path / 'reports')) == 0o755


def test_unchanged_content_is_changed_false_and_not_rewritten(tmp_path):
    args = {'dir': str(tmp_path), 'name': 'precheck-report', 'data': REPORT}
    assert run(args)['changed'] is True
    path = str(tmp_path / 'precheck-report.json')
    inode = os.stat(path).st_ino
    again = run(args)
    assert again['changed'] is False and again['written'] == []
    assert os.stat(path).st_ino == inode
    assert run(dict(args, data=dict(REPORT, extra=1)))['changed'] is True
    assert json.loads(open(path).read())['extra'] == 1
    assert os.stat(path).st_ino != inode  # replaced atomically (rename), not rewritten in place
    assert [n for n in os.listdir(str(tmp_path)) if n.endswith('.tmp')] == []


def test_mode_is_part_of_the_state(tmp_path):
    args = {'dir': str(tmp_path / 'bundle'), 'name': 'findings', 'data': REPORT, 'mode': '0600', 'dir_mode': '0700'}
    assert run(args)['changed'] is True
    path = str(tmp_path / 'bundle' / 'findings.json')
    assert mode(path) == 0o600 and mode(str(tmp_path / 'bundle')) == 0o700
    os.chmod(path, 0o644)
    fixed = run(args)
    assert fixed['changed'] is True and fixed['written'] == [path] and mode(path) == 0o600
    assert run(args)['changed'] is False
    assert run(dict(args, mode=0o600))['changed'] is False  # YAML's unquoted 0600 is the int 384


def test_check_mode_writes_nothing_and_tells_what_a_run_would_do(tmp_path):
    target = tmp_path / 'reports'
    args = {'dir': str(target), 'name': 'r', 'data': REPORT, 'markdown': 'md\n'}
    would = run(args, check_mode=True)
    assert would['changed'] is True and not target.exists()
    assert would['written'] == [str(target / 'r.json'), str(target / 'r.md')] and 'would write' in would['msg']
    run(args)
    assert run(args, check_mode=True)['changed'] is False
    changed = run(dict(args, markdown='other\n'), check_mode=True)
    assert changed['changed'] is True and changed['written'] == [str(target / 'r.md')]
    assert (target / 'r.md').read_text() == 'md\n'


def test_without_markdown_an_existing_md_is_left_alone(tmp_path):
    (tmp_path / 'r.md').write_text('keep')
    result = run({'dir': str(tmp_path), 'name': 'r', 'data': []})
    assert result['md_path'] is None and (tmp_path / 'r.md').read_text() == 'keep'
    assert (tmp_path / 'r.json').read_text() == '[]\n'


def test_the_directory_defaults_to_mindie_report_dir_then_pwd_reports(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    templated = run({'name': 'r', 'data': {}}, task_vars={'base': str(tmp_path / 'x'),
                                                         'mindie_report_dir': trust_as_template('{{ base }}/rep')})
    assert templated['json_path'] == str(tmp_path / 'x' / 'rep' / 'r.json') and os.path.isfile(templated['json_path'])
    monkeypatch.setenv('PWD', str(tmp_path / 'cwd'))
    default = run({'name': 'r', 'data': {}}, task_vars={'mindie_report_dir': None})
    assert default['dir'] == str(tmp_path / 'cwd' / 'reports') and os.path.isfile(default['json_path'])
    given = run({'name': 'r', 'data': {}, 'dir': str(tmp_path / 'given')}, task_vars={'mindie_report_dir': '/nonexistent/x'})
    assert given['dir'] == str(tmp_path / 'given')


@pytest.mark.parametrize('args, words', [
    ({'name': '../evil', 'data': {}}, 'plain file name'),
    ({'name': 'r.json', 'data': {}}, 'without its extension'),
    ({'name': 'r', 'data': 'text'}, 'mapping or a list'),
    ({'name': 'r', 'data': {}, 'mode': 'rw-r--r--'}, 'octal mode'),
    ({'name': 'r', 'data': {}, 'mode': True}, 'octal mode'),
    ({'name': 'r', 'data': {}, 'dir_mode': '0999'}, 'octal mode'),
    ({'name': 'r', 'data': {'when': object()}}, 'cannot be written as JSON'),
])
def test_bad_input_fails_clearly_before_anything_is_written(tmp_path, args, words):
    result = run(dict(args, dir=str(tmp_path / 'reports')))
    assert result['failed'] is True and words in result['msg'] and 'Nothing was written' in result['msg']
    assert not (tmp_path / 'reports').exists()


def test_file_system_errors_are_a_failure_not_a_traceback(tmp_path):
    (tmp_path / 'file').write_text('x')
    result = run({'dir': str(tmp_path / 'file'), 'name': 'r', 'data': {}})
    assert result['failed'] is True and 'is not a directory' in result['msg']
    (tmp_path / 'd' / 'r.json').mkdir(parents=True)
    result = run({'dir': str(tmp_path / 'd'), 'name': 'r', 'data': {}})
    assert result['failed'] is True and 'is a directory' in result['msg']


def test_the_report_dir_lookup_resolves_as_the_writer_does(tmp_path, monkeypatch):
    from ansible.errors import AnsibleLookupError
    from ansible_collections.ascend.mindie.plugins.lookup.mindie_report_dir import LookupModule

    monkeypatch.setenv('PWD', str(tmp_path / 'cwd'))
    lookup = LookupModule(loader=DataLoader())
    monkeypatch.setattr(LookupModule, 'set_options', lambda self, var_options=None, direct=None: None)
    for task_vars, sub in (({}, ()), ({'mindie_report_dir': None}, ('logs',)), ({'mindie_report_dir': str(tmp_path / 'r')}, ('logs',))):
        lookup._templar = Templar(loader=DataLoader(), variables=task_vars)
        written = run({'name': 'r', 'data': {}}, task_vars=task_vars)
        assert lookup.run(list(sub), variables=task_vars) == [os.path.join(written['dir'], *sub)]
    with pytest.raises(AnsibleLookupError, match='relative path components'):
        lookup.run(['/etc'], variables={})
