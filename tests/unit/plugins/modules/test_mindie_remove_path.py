# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_remove_path through main() on a temporary directory tree."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.ascend.mindie.plugins.modules import mindie_remove_path


def snapshot(top):
    """Every path under ``top`` with its kind and content (files) or target (symlinks)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[path] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                out[path] = ('dir', None)
            else:
                with open(path, 'rb') as handle:
                    out[path] = ('file', handle.read())
    return out


@pytest.fixture
def tree(tmp_path):
    data = tmp_path / 'data'
    model = data / 'Qwen2-VL-7B-Instruct'
    (model / 'sub').mkdir(parents=True)
    (model / 'config.json').write_text('{}')
    (model / 'sub' / 'w.safetensors').write_bytes(b'\0' * 64)
    os.symlink(str(tmp_path / 'outside'), str(model / 'link-out'))  # rmtree must not follow it
    os.symlink(str(model), str(data / 'link-in'))
    (tmp_path / 'outside').mkdir()
    (tmp_path / 'outside' / 'precious').write_text('p')
    return {'tmp': str(tmp_path), 'data': str(data), 'model': str(model)}


def test_removes_the_directory_then_changes_nothing(run_module, tree):
    args = {'path': tree['model'] + '/', 'allowed_roots': [tree['data']]}
    result = run_module(mindie_remove_path.main, args)
    assert result['changed'] is True and result['state'] == 'directory'
    assert result['real_path'] == tree['model'] and result['root'] == tree['data']
    assert not os.path.lexists(tree['model'])
    assert os.path.isdir(tree['data'])
    assert open(os.path.join(tree['tmp'], 'outside', 'precious')).read() == 'p'
    again = run_module(mindie_remove_path.main, args)
    assert again['changed'] is False and again['state'] == 'absent'


def test_removes_a_file(run_module, tree):
    path = os.path.join(tree['data'], 'stray.bin')
    with open(path, 'w') as handle:
        handle.write('x')
    result = run_module(mindie_remove_path.main, {'path': path, 'allowed_roots': [tree['data']]})
    assert result['changed'] is True and result['state'] == 'file' and not os.path.exists(path)


def test_check_mode_is_honest_and_deletes_nothing(run_module, tree):
    before = snapshot(tree['tmp'])
    args = {'path': tree['model'], 'allowed_roots': [tree['data']], '_ansible_diff': True}
    result = run_module(mindie_remove_path.main, args, check_mode=True)
    assert result['changed'] is True
    assert result['diff'] == {'before': {'path': tree['model'], 'state': 'directory'},
                              'after': {'path': tree['model'], 'state': 'absent'}}
    assert snapshot(tree['tmp']) == before
    absent = run_module(mindie_remove_path.main, dict(args, path=tree['data'] + '/nothing'), check_mode=True)
    assert absent['changed'] is False and 'diff' not in absent


@pytest.mark.parametrize('path, roots, message', [
    ('{data}/..', ['{data}'], 'not strictly below an allowed root'),
    ('{data}', ['{data}'], 'itself'),
    ('{data}/.', ['{data}'], 'itself'),
    ('{tmp}/outside', ['{data}'], 'not strictly below an allowed root'),
    ('{data}/Qwen2-VL-7B-Instruct/link-out', ['{data}'], 'not strictly below an allowed root'),
    ('{data}/link-in', ['{data}'], 'it is a symlink'),
    ('{data}/Qwen2-VL-7B-Instruct/link-out/precious', ['{data}'], 'not strictly below an allowed root'),
    ('{data}/Qwen2-VL-7B-Instruct', ['/'], 'The allowed root / cannot be used'),
    ('{data}/Qwen2-VL-7B-Instruct', ['/tmp'], 'The allowed root /tmp cannot be used'),
    ('/data/..', ['/data'], 'root directory'),
    ('/var/lib/docker', ['/data'], 'system directory /var/lib/docker'),
    ('relative/dir', ['{data}'], 'not an absolute path'),
])
def test_refused_leaves_everything_in_place(run_module, tree, path, roots, message):
    before = snapshot(tree['tmp'])
    args = {'path': path.format(**tree), 'allowed_roots': [r.format(**tree) for r in roots]}
    for check_mode in (True, False):
        result = run_module(mindie_remove_path.main, args, expect_fail=True, check_mode=check_mode)
        assert message in result['msg']
        assert 'Traceback' not in result['msg']
    assert snapshot(tree['tmp']) == before


def test_allowed_paths(run_module, tree):
    conf = os.path.join(tree['tmp'], 'etc-mindie')
    os.mkdir(conf)
    result = run_module(mindie_remove_path.main, {'path': conf, 'allowed_roots': [], 'allowed_paths': [conf]})
    assert result['changed'] is True and not os.path.exists(conf)


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(mindie_remove_path.DOCUMENTATION)
    assert doc['options'] == {
        'path': {'description': doc['options']['path']['description'], 'type': 'str', 'required': True},
        'allowed_roots': {'description': doc['options']['allowed_roots']['description'], 'type': 'list',
                          'elements': 'str', 'default': ['/data']},
        'allowed_paths': {'description': doc['options']['allowed_paths']['description'], 'type': 'list',
                          'elements': 'str', 'default': []},
    }
    for block in (mindie_remove_path.EXAMPLES, mindie_remove_path.RETURN):
        assert yaml.safe_load(block)
