# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The delete guard of ascend.mindie.mindie_remove_path: every path teardown must never delete."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import safe_remove
from ansible_collections.ascend.mindie.plugins.module_utils.safe_remove import RemovalRefused, check_removal, system_reason


def refused(path, roots=('/data',), paths=()):
    with pytest.raises(RemovalRefused) as info:
        check_removal(path, list(roots), list(paths))
    return str(info.value)


# The list: all of these passed the old Jinja guard of playbooks/teardown.yml.
@pytest.mark.parametrize('path, why', [
    ('/data/..', 'root directory'),
    ('/data/../', 'root directory'),
    ('/data/.', 'allowed root /data itself'),
    ('//data', 'allowed root /data itself'),
    ('/data', 'allowed root /data itself'),
    ('/data/', 'allowed root /data itself'),
    ('///data//', 'allowed root /data itself'),
    ('/etc/.', 'system directory /etc'),
    ('/home', 'system directory /home'),
    ('/root', 'system directory /root'),
    ('/usr/local', 'system directory /usr/local'),
    ('/var/lib/docker', 'system directory /var/lib/docker'),
    ('/', 'root directory'),
    ('/data/../etc', 'system directory /etc'),
    ('/data/../var', 'system directory /var'),
    ('/usr/local/Ascend/driver', 'inside /usr'),
    ('/var/lib/docker/volumes/x', 'inside /var/lib/docker'),
    ('/proc/1', 'inside /proc'),
    ('/etc/ssh', 'not strictly below an allowed root'),
    ('/home/alice/models', 'not strictly below an allowed root'),
    ('/database/x', 'not strictly below an allowed root'),
    ('/data/../data2/x', 'not strictly below an allowed root'),
    ('data/x', 'not an absolute path'),
    ('', 'non-empty absolute path'),
    ('/data/x\n/etc', 'control characters'),
    ('/data/x\x00', 'control characters'),
])
def test_dangerous_paths_are_refused(path, why):
    assert why in refused(path)


def test_resolved_path_is_named():
    assert "'/data/..' (resolved on the node: /)" in refused('/data/..')


@pytest.mark.parametrize('root', ['/', '/home', '/var/lib', '/var', '/usr', '/usr/local', '/etc', '/tmp', '/opt',
                                  '//', '/data/..', '/var/lib/docker', '/usr/share/models', 'data', ''])
def test_system_directories_are_refused_as_allowed_roots(root):
    if not root.startswith('/'):
        assert 'absolute path' in refused('/data/x', roots=[root])
        return
    below = root.rstrip('/') + '/some-model'
    if system_reason(os.path.realpath(below)):
        below = '/data/some-model'
    message = refused(below, roots=[root])
    assert 'The allowed root %s' % root.rstrip('/') in message and 'cannot be used' in message


def test_system_directory_refused_as_allowed_path():
    assert 'The allowed path /etc cannot be used' in refused('/etc', roots=[], paths=['/etc'])


def test_no_allowed_root_refuses_everything():
    assert 'No allowed root' in refused('/data/x', roots=[])


def test_below_the_root_is_accepted_even_when_absent():
    assert check_removal('/data//Qwen2-VL-7B-Instruct/', ['/data']) == {
        'path': '/data/Qwen2-VL-7B-Instruct', 'real_path': '/data/Qwen2-VL-7B-Instruct', 'state': 'absent',
        'root': '/data'}


def test_allowed_path_itself():
    result = check_removal('/etc/mindie/', ['/data'], ['/etc/mindie'])
    assert result['real_path'] == '/etc/mindie' and result['root'] == '/etc/mindie'
    assert 'not strictly below' in refused('/etc/mindie/sub', paths=['/etc/mindie'])
    assert 'not strictly below' in refused('/etc/ssh', paths=['/etc/mindie'])


@pytest.fixture
def tree(tmp_path):
    """tmp/data (the root) with weights, tmp/outside (not ours) with a precious file."""
    data = tmp_path / 'data'
    (data / 'model').mkdir(parents=True)
    (data / 'model' / 'w.safetensors').write_text('w')
    (data / 'v2' / 'sub').mkdir(parents=True)
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'precious').write_text('p')
    return {'tmp': tmp_path, 'data': str(data), 'outside': str(outside)}


def test_real_directory_below_a_tmp_root(tree):
    result = check_removal(tree['data'] + '/model', [tree['data']])
    assert result['state'] == 'directory' and result['real_path'] == tree['data'] + '/model'
    (tree['tmp'] / 'data' / 'file.bin').write_text('x')
    assert check_removal(tree['data'] + '/file.bin', [tree['data']])['state'] == 'file'


def test_final_symlink_is_refused_even_inside_the_root(tree):
    os.symlink(tree['data'] + '/model', tree['data'] + '/current')
    assert 'it is a symlink' in refused(tree['data'] + '/current', roots=[tree['data']])


def test_symlink_leaving_the_root_is_refused(tree):
    os.symlink(tree['outside'], tree['data'] + '/escape')
    message = refused(tree['data'] + '/escape', roots=[tree['data']])
    assert 'not strictly below an allowed root' in message and tree['outside'] in message
    message = refused(tree['data'] + '/escape/precious', roots=[tree['data']])
    assert 'not strictly below an allowed root' in message
    os.symlink('/', tree['data'] + '/slash')
    assert 'root directory' in refused(tree['data'] + '/slash/', roots=[tree['data']])
    assert 'system directory /etc' in refused(tree['data'] + '/slash/etc', roots=[tree['data']])


def test_component_symlink_out_and_back_in_is_refused(tree):
    # data/out -> outside, outside/back -> data/v2: the real path is inside the root, but the way leaves it.
    os.symlink(tree['outside'], tree['data'] + '/out')
    os.symlink(tree['data'] + '/v2', tree['outside'] + '/back')
    message = refused(tree['data'] + '/out/back/sub', roots=[tree['data']])
    assert 'component %s/out is a symlink to %s' % (tree['data'], tree['outside']) in message


def test_component_symlink_within_the_root_is_accepted(tree):
    os.symlink(tree['data'] + '/v2', tree['data'] + '/current')
    result = check_removal(tree['data'] + '/current/sub', [tree['data']])
    assert result['real_path'] == tree['data'] + '/v2/sub'


def test_root_reached_through_a_symlink(tree):
    os.symlink(tree['data'], str(tree['tmp'] / 'datalink'))
    root = str(tree['tmp'] / 'datalink')
    assert check_removal(root + '/model', [root])['real_path'] == tree['data'] + '/model'
    # the same directory named by its real path is below the same (resolved) root
    assert check_removal(tree['data'] + '/model', [root])['root'] == root
    assert 'allowed root %s itself' % root in refused(root + '/', roots=[root])


def test_root_symlink_to_a_system_directory_is_refused(tree):
    os.symlink('/', str(tree['tmp'] / 'rootlink'))
    os.symlink('/var/lib', str(tree['tmp'] / 'varlib'))
    assert 'really /' in refused(str(tree['tmp'] / 'rootlink' / 'x'), roots=[str(tree['tmp'] / 'rootlink')])
    assert 'really /var/lib' in refused(str(tree['tmp'] / 'varlib' / 'x'), roots=[str(tree['tmp'] / 'varlib')])


def test_dotdot_inside_the_root_resolves(tree):
    assert check_removal(tree['data'] + '/v2/../model', [tree['data']])['real_path'] == tree['data'] + '/model'
    assert 'allowed root' in refused(tree['data'] + '/model/..', roots=[tree['data']])


def test_mount_point_is_refused(tree, monkeypatch):
    target = tree['data'] + '/model'
    real_ismount = os.path.ismount
    monkeypatch.setattr(safe_remove.os.path, 'ismount', lambda p: p == target or real_ismount(p))
    assert 'is a mount point' in refused(target, roots=[tree['data']])


def test_nested_mount_point_is_refused(tree, monkeypatch):
    real_lstat = os.lstat
    nested = tree['data'] + '/v2/sub'

    class Fake(object):
        def __init__(self, st):
            self.st_mode, self.st_dev = st.st_mode, st.st_dev + 1

    monkeypatch.setattr(safe_remove.os, 'lstat', lambda p: Fake(real_lstat(p)) if p == nested else real_lstat(p))
    assert 'contains the mount point %s' % nested in refused(tree['data'] + '/v2', roots=[tree['data']])


def test_nothing_is_changed_by_the_checks(tree):
    before = sorted(os.walk(str(tree['tmp'])))
    for path in ('/data/..', tree['data'], tree['data'] + '/model'):
        try:
            check_removal(path, [tree['data']])
        except RemovalRefused:
            pass
    assert sorted(os.walk(str(tree['tmp']))) == before


# A bind mount of a directory from the same file system has the same st_dev as its parent: ismount and the
# st_dev scan do not see it, /proc/self/mountinfo does.
MOUNTINFO = '''\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 22 8:1 /srv/victim {sub} rw,relatime shared:1 - ext4 /dev/sda1 rw
32 22 8:1 /srv/other {spaced} rw,relatime shared:1 - ext4 /dev/sda1 rw
'''


def test_parse_mountinfo_decodes_octal_escapes():
    text = MOUNTINFO.format(sub='/data/model\\0402/sub', spaced='/data/tab\\011and\\134back\\012nl')
    assert safe_remove.parse_mountinfo(text + 'garbage\n\n') == {
        '/', '/proc', '/data/model 2/sub', '/data/tab\tand\\back\nnl'}


def test_mountinfo_unreadable_is_none(tmp_path):
    assert safe_remove.read_mount_points(str(tmp_path / 'missing')) is None
    assert '/' in safe_remove.read_mount_points()


@pytest.fixture
def fake_mountinfo(tree, monkeypatch):
    """tmp/mountinfo with data/v2/sub and 'data/with space/in' as bind mounts from the root's device."""
    os.makedirs(tree['data'] + '/with space/in')
    text = MOUNTINFO.format(sub=tree['data'] + '/v2/sub', spaced=tree['data'].replace(' ', '\\040') + '/with\\040space/in')
    (tree['tmp'] / 'mountinfo').write_text(text)
    monkeypatch.setattr(safe_remove, 'MOUNTINFO', str(tree['tmp'] / 'mountinfo'))
    return tree


def test_bind_mount_from_the_same_device_is_refused(fake_mountinfo):
    data = fake_mountinfo['data']
    message = refused(data + '/v2', roots=[data])
    assert 'contains the mount point %s/v2/sub' % data in message and 'unmount it first' in message
    assert 'it is a mount point' in refused(data + '/v2/sub', roots=[data])
    assert 'it is a mount point' in refused(data + '/v2/./sub/', roots=[data])
    assert 'contains the mount point %s/with space/in' % data in refused(data + '/with space', roots=[data])
    # next to a mount point, and inside the same root, is fine
    assert check_removal(data + '/model', [data])['state'] == 'directory'


def test_without_mountinfo_the_device_checks_remain(tree, monkeypatch):
    monkeypatch.setattr(safe_remove, 'MOUNTINFO', str(tree['tmp'] / 'missing'))
    assert check_removal(tree['data'] + '/v2', [tree['data']])['state'] == 'directory'
    test_nested_mount_point_is_refused(tree, monkeypatch)


def test_real_bind_mount_is_refused(tree):
    if os.geteuid() != 0:
        pytest.skip('mount --bind needs root')
    target = tree['data'] + '/v2/sub'
    try:
        done = subprocess.run(['mount', '--bind', tree['outside'], target], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip('mount --bind failed: %s' % exc)
    if done.returncode != 0:
        pytest.skip('mount --bind failed: %s' % done.stderr.decode(errors='replace').strip())
    try:
        assert os.path.exists(target + '/precious')
        assert 'contains the mount point %s' % target in refused(tree['data'] + '/v2', roots=[tree['data']])
        assert 'is a mount point' in refused(target, roots=[tree['data']])
        assert 'is a mount point' in refused(tree['data'] + '/model/../v2/sub/', roots=[tree['data']])
    finally:
        subprocess.run(['umount', target], check=True, timeout=30)
    assert open(tree['outside'] + '/precious').read() == 'p'


@pytest.fixture
def with_file(tree):
    os.makedirs(tree['data'] + '/model/a')
    with open(tree['data'] + '/model/a/f', 'w') as handle:
        handle.write('f')
    return tree


@pytest.mark.parametrize('tail, why', [
    ('/model/a/f/..', 'component {data}/model/a/f is a file, not a directory'),
    ('/model/a/f/../..', 'component {data}/model/a/f is a file, not a directory'),
    ('/model/a/f/.', 'component {data}/model/a/f is a file, not a directory'),
    ('/model/a/f/', 'component {data}/model/a/f is a file, not a directory'),
    ('/model/a/f/x', 'component {data}/model/a/f is a file, not a directory'),
    ('/model/w.safetensors/../a', 'component {data}/model/w.safetensors is a file'),
    ('/model/nope/../a', 'component {data}/model/nope does not exist'),
])
def test_component_that_is_not_a_directory_is_refused(with_file, tail, why):
    data = with_file['data']
    assert why.format(data=data) in refused(data + tail, roots=[data])


def test_components_that_are_directories_are_accepted(with_file):
    data = with_file['data']
    assert check_removal(data + '/model/a/f', [data])['state'] == 'file'
    assert check_removal(data + '/model/a/../a/', [data])['real_path'] == data + '/model/a'
    assert check_removal(data + '/model/nope/x/y', [data])['state'] == 'absent'
