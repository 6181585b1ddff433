# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/model_dir.py on a generated Qwen2-VL stand-in directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import io
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import model_dir as md
from ansible_collections.ascend.mindie.plugins.module_utils.model_dir import (
    check_model_dir,
    check_permissions,
    parse_manifest,
    read_safetensors_header,
    verify_manifest,
)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
GENERATOR = os.path.join(REPO, 'sandbox', 'weights', 'generate_weights.py')
SHARDS = ['model-%05d-of-00005.safetensors' % i for i in range(1, 6)]


@pytest.fixture(scope='session')
def generated(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('weights') / 'Qwen2-VL-7B-Instruct')
    subprocess.check_call([sys.executable, GENERATOR, out, '--total-mb', '2', '--shards', '5'],
                          stdout=subprocess.DEVNULL)
    return out


@pytest.fixture
def model(generated, tmp_path):
    """A fresh copy of the generated directory (0755 dir, 0644 files) per test."""
    dest = str(tmp_path / 'Qwen2-VL-7B-Instruct')
    shutil.copytree(generated, dest)
    os.chmod(dest, 0o755)
    return dest


@pytest.fixture(autouse=True)
def cache_dirs(tmp_path, monkeypatch):
    """Keep the hash caches of every test under tmp_path (never the real /var/cache or ~/.cache)."""
    home = str(tmp_path / 'home')
    default = str(tmp_path / 'var-cache' / 'sha256')
    monkeypatch.setenv('HOME', home)
    monkeypatch.setattr(md, 'DEFAULT_CACHE_DIR', default)
    return {'home': home, 'default': default}


def by_name(checks):
    return dict((c['name'], c) for c in checks)


def assert_shape(check):
    assert set(['name', 'status', 'reason', 'hint']) <= set(check)
    assert check['status'] in ('pass', 'warn', 'fail')
    assert '\n' not in check['reason'] and '\n' not in check['hint']
    assert check['reason']


def shard_check(path):
    checks = by_name(check_model_dir(path))
    return checks['model_shards']


def edit_json(path, func):
    with open(path) as handle:
        data = json.load(handle)
    func(data)
    with open(path, 'w') as handle:
        json.dump(data, handle)


# ----------------------------------------------------------------------------- check_model_dir

def test_generated_dir_passes_everything(model):
    checks = check_model_dir(model)
    assert [c['name'] for c in checks] == ['model_dir_exists', 'model_config', 'model_tokenizer', 'model_shards']
    for check in checks:
        assert_shape(check)
        assert check['status'] == 'pass', check
        assert check['hint'] == ''
    assert '5 shard(s)' in checks[3]['reason']


def test_missing_dir_stops_after_first_check(tmp_path):
    checks = check_model_dir(str(tmp_path / 'nope'))
    assert len(checks) == 1
    assert checks[0]['name'] == 'model_dir_exists' and checks[0]['status'] == 'fail'
    assert 'does not exist' in checks[0]['reason']
    assert checks[0]['hint']


def test_path_that_is_a_file(model):
    checks = check_model_dir(os.path.join(model, 'config.json'))
    assert len(checks) == 1 and checks[0]['status'] == 'fail'
    assert 'not a directory' in checks[0]['reason']


@pytest.mark.parametrize('bad', [None, '', 42, b'/x', 'a\x00b'])
def test_bad_path_values_never_raise(bad):
    checks = check_model_dir(bad)
    assert len(checks) == 1 and checks[0]['status'] == 'fail'
    assert_shape(checks[0])


def test_wrong_model_type_names_found_type(model):
    edit_json(os.path.join(model, 'config.json'), lambda d: d.update(model_type='qwen2'))
    check = by_name(check_model_dir(model))['model_config']
    assert check['status'] == 'fail'
    assert "'qwen2'" in check['reason'] and "'qwen2_vl'" in check['reason']


def test_expected_model_type_is_a_parameter(model):
    assert by_name(check_model_dir(model, model_type='llama'))['model_config']['status'] == 'fail'
    assert by_name(check_model_dir(model, model_type=None))['model_config']['status'] == 'pass'


@pytest.mark.parametrize('content, words', [
    (b'{"model_type": "qwen2_vl"', 'not valid JSON'),
    (b'\xff\xfe\x00garbage\x80', 'not UTF-8'),
    (b'[1, 2]', 'not a JSON object'),
    (b'{"architectures": []}', 'no model_type'),
])
def test_broken_config_json(model, content, words):
    with open(os.path.join(model, 'config.json'), 'wb') as handle:
        handle.write(content)
    check = by_name(check_model_dir(model))['model_config']
    assert check['status'] == 'fail' and words in check['reason']


def test_missing_config_json(model):
    os.remove(os.path.join(model, 'config.json'))
    check = by_name(check_model_dir(model))['model_config']
    assert check['status'] == 'fail' and 'missing' in check['reason']


def test_tokenizer_json_alone_or_vocab_and_merges_are_enough(model):
    os.remove(os.path.join(model, 'vocab.json'))
    os.remove(os.path.join(model, 'merges.txt'))
    assert by_name(check_model_dir(model))['model_tokenizer']['status'] == 'pass'


def test_vocab_and_merges_without_tokenizer_json_pass(model):
    os.remove(os.path.join(model, 'tokenizer.json'))
    check = by_name(check_model_dir(model))['model_tokenizer']
    assert check['status'] == 'pass' and 'vocab.json + merges.txt' in check['reason']


def test_missing_tokenizer_files_are_listed(model):
    os.remove(os.path.join(model, 'tokenizer.json'))
    os.remove(os.path.join(model, 'merges.txt'))
    check = by_name(check_model_dir(model))['model_tokenizer']
    assert check['status'] == 'fail'
    assert 'merges.txt (missing)' in check['reason'] and 'tokenizer.json (missing)' in check['reason']
    assert 'vocab.json (' not in check['reason']
    assert 'tokenizer_config.json' not in check['reason'].split(':', 1)[1]


def test_missing_tokenizer_config(model):
    os.remove(os.path.join(model, 'tokenizer_config.json'))
    check = by_name(check_model_dir(model))['model_tokenizer']
    assert check['status'] == 'fail' and 'tokenizer_config.json (missing)' in check['reason']


def test_empty_tokenizer_json_does_not_count(model):
    os.remove(os.path.join(model, 'merges.txt'))
    open(os.path.join(model, 'tokenizer.json'), 'w').close()
    check = by_name(check_model_dir(model))['model_tokenizer']
    assert check['status'] == 'fail' and 'tokenizer.json (empty)' in check['reason']


def test_missing_shard_is_named(model):
    os.remove(os.path.join(model, SHARDS[2]))
    check = shard_check(model)
    assert check['status'] == 'fail'
    assert 'missing: %s' % SHARDS[2] in check['reason']
    assert '1 of 5' in check['reason']


def test_truncated_shard_is_named(model):
    shard = os.path.join(model, SHARDS[1])
    size = os.path.getsize(shard)
    os.truncate(shard, size - 100)
    check = shard_check(model)
    assert check['status'] == 'fail'
    assert 'truncated: %s (%d of %d bytes)' % (SHARDS[1], size - 100, size) in check['reason']


@pytest.mark.parametrize('keep', [0, 5, 8, 200])
def test_shard_cut_inside_the_header(model, keep):
    shard = os.path.join(model, SHARDS[0])
    os.truncate(shard, keep)
    check = shard_check(model)
    assert check['status'] == 'fail'
    assert 'truncated: %s' % SHARDS[0] in check['reason']


def test_shard_with_trailing_bytes_is_refused(model):
    with open(os.path.join(model, SHARDS[4]), 'ab') as handle:
        handle.write(b'\0' * 16)
    check = shard_check(model)
    assert check['status'] == 'fail' and 'corrupt: %s' % SHARDS[4] in check['reason']


def test_corrupt_header_json(model):
    shard = os.path.join(model, SHARDS[3])
    with open(shard, 'r+b') as handle:
        handle.seek(8)
        handle.write(b'\x00\xff garbage \x01')
    check = shard_check(model)
    assert check['status'] == 'fail' and 'corrupt: %s' % SHARDS[3] in check['reason']
    assert 'not valid JSON' in check['reason']


def test_implausible_header_length(model):
    shard = os.path.join(model, SHARDS[3])
    with open(shard, 'r+b') as handle:
        handle.write(b'\xff' * 8)
    check = shard_check(model)
    assert check['status'] == 'fail' and 'corrupt: %s' % SHARDS[3] in check['reason']


def test_binary_garbage_shard(model):
    shard = os.path.join(model, SHARDS[0])
    with open(shard, 'wb') as handle:
        handle.write(struct.pack('<Q', 64) + os.urandom(64) + b'x' * 100)
    check = shard_check(model)
    assert check['status'] == 'fail' and SHARDS[0] in check['reason']


def test_bad_data_offsets(model):
    header = json.dumps({'t': {'dtype': 'BF16', 'shape': [2], 'data_offsets': [4, 0]}}).encode()
    header += b' ' * ((8 - len(header) % 8) % 8)
    with open(os.path.join(model, SHARDS[0]), 'wb') as handle:
        handle.write(struct.pack('<Q', len(header)) + header + b'\0' * 4)
    check = shard_check(model)
    assert check['status'] == 'fail' and 'invalid data_offsets' in check['reason']


def test_many_bad_shards_are_capped_at_five(model):
    index = os.path.join(model, 'model.safetensors.index.json')
    edit_json(index, lambda d: d['weight_map'].update(('extra.%d' % i, 'gone-%d.safetensors' % i) for i in range(7)))
    check = shard_check(model)
    assert check['status'] == 'fail'
    assert 'gone-0.safetensors, gone-1.safetensors, gone-2.safetensors, gone-3.safetensors, ' \
           'gone-4.safetensors and 2 more' in check['reason']
    assert 'gone-5' not in check['reason']


def test_missing_or_broken_index(model):
    index = os.path.join(model, 'model.safetensors.index.json')
    with open(index, 'wb') as handle:
        handle.write(b'\x00\x01 not json')
    assert shard_check(model)['status'] == 'fail'
    os.remove(index)
    check = shard_check(model)
    assert check['status'] == 'fail' and 'missing' in check['reason']


def test_index_pointing_outside_the_dir(model):
    index = os.path.join(model, 'model.safetensors.index.json')
    edit_json(index, lambda d: d['weight_map'].update({'x': '../../etc/passwd'}))
    check = shard_check(model)
    assert check['status'] == 'fail' and 'outside' in check['reason']


def test_tensor_named_by_index_but_absent_from_shard(model):
    index = os.path.join(model, 'model.safetensors.index.json')
    edit_json(index, lambda d: d['weight_map'].update({'model.extra.weight': SHARDS[0]}))
    check = shard_check(model)
    assert check['status'] == 'fail' and 'model.extra.weight' in check['reason']


def test_total_size_disagreement_warns(model):
    index = os.path.join(model, 'model.safetensors.index.json')
    with open(index) as handle:
        total = json.load(handle)['metadata']['total_size']
    edit_json(index, lambda d: d['metadata'].update(total_size=int(total * 1.005)))
    assert shard_check(model)['status'] == 'pass'
    edit_json(index, lambda d: d['metadata'].update(total_size=int(total * 1.02)))
    check = shard_check(model)
    assert check['status'] == 'warn' and str(total) in check['reason']


def test_single_file_checkpoint_without_index(tmp_path):
    header = json.dumps({'w': {'dtype': 'BF16', 'shape': [4], 'data_offsets': [0, 8]}}).encode()
    (tmp_path / 'model.safetensors').write_bytes(struct.pack('<Q', len(header)) + header + b'\1' * 8)
    check = shard_check(str(tmp_path))
    assert check['status'] == 'pass' and 'single file' in check['reason']


class CountingFile(io.FileIO):
    reads = []

    def read(self, size=-1):
        CountingFile.reads.append((os.path.basename(self.name), size))
        return super(CountingFile, self).read(size)


def counting_open(name, mode='r', *args, **kwargs):
    assert mode == 'rb'
    return CountingFile(name, 'r')


def test_header_read_only_reads_the_header(tmp_path, monkeypatch):
    header = json.dumps({'w': {'dtype': 'BF16', 'shape': [2 ** 30], 'data_offsets': [0, 2 ** 31]}}).encode()
    path = str(tmp_path / 'model.safetensors')
    with open(path, 'wb') as handle:
        handle.write(struct.pack('<Q', len(header)) + header)
    os.truncate(path, 8 + len(header) + 2 ** 31)          # sparse 2 GiB
    CountingFile.reads = []
    monkeypatch.setattr(md, 'open', counting_open, raising=False)
    header_len, parsed = read_safetensors_header(path)
    assert header_len == len(header) and 'w' in parsed
    assert CountingFile.reads == [('model.safetensors', 8), ('model.safetensors', len(header))]
    CountingFile.reads = []
    check = md._check_shards(str(tmp_path))
    assert check['status'] == 'pass', check
    assert CountingFile.reads == [('model.safetensors', 8), ('model.safetensors', len(header))]


# ----------------------------------------------------------------------------- check_permissions

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_loose_permissions_fail_with_hints(model):
    checks, changed = check_permissions(model)
    assert changed is False
    checks = by_name(checks)
    assert checks['model_dir_mode']['status'] == 'fail' and '0755' in checks['model_dir_mode']['reason']
    assert 'chmod 750 %s' % model in checks['model_dir_mode']['hint']
    assert 'mindie_precheck_fix_permissions' in checks['model_dir_mode']['hint']
    cfg = os.path.join(model, 'config.json')
    assert checks['model_config_mode']['status'] == 'fail'
    assert 'chmod 640 %s' % cfg in checks['model_config_mode']['hint']
    assert 'mindie_precheck_fix_permissions' in checks['model_config_mode']['hint']
    assert mode(model) == 0o755 and mode(cfg) == 0o644


def test_fix_changes_modes(model):
    cfg = os.path.join(model, 'config.json')
    os.chmod(cfg, 0o666)
    checks, changed = check_permissions(model, fix=True)
    assert changed is True
    assert [c['status'] for c in checks] == ['pass', 'pass']
    assert all('fixed' in c['reason'] for c in checks)
    assert mode(model) == 0o750 and mode(cfg) == 0o640
    checks, changed = check_permissions(model, fix=True)
    assert changed is False and [c['status'] for c in checks] == ['pass', 'pass']


def test_fix_in_check_mode_reports_but_does_not_touch(model):
    cfg = os.path.join(model, 'config.json')
    checks, changed = check_permissions(model, fix=True, check_mode=True)
    assert changed is True
    assert [c['status'] for c in checks] == ['pass', 'pass']
    assert all('would be fixed' in c['reason'] for c in checks)
    assert mode(model) == 0o755 and mode(cfg) == 0o644


def test_stricter_modes_are_fine(model):
    cfg = os.path.join(model, 'config.json')
    os.chmod(model, 0o700)
    os.chmod(cfg, 0o600)
    checks, changed = check_permissions(model, fix=True)
    assert changed is False and [c['status'] for c in checks] == ['pass', 'pass']
    assert mode(model) == 0o700 and mode(cfg) == 0o600


def test_only_the_loose_one_is_fixed(model):
    os.chmod(model, 0o750)
    checks, changed = check_permissions(model, fix=True)
    assert changed is True
    assert 'fixed' not in checks[0]['reason'] and 'fixed' in checks[1]['reason']


def test_permissions_of_missing_paths(model, tmp_path):
    checks, changed = check_permissions(str(tmp_path / 'absent'), fix=True)
    assert changed is False and [c['status'] for c in checks] == ['fail', 'fail']
    os.remove(os.path.join(model, 'config.json'))
    os.chmod(model, 0o750)
    checks, changed = check_permissions(model, fix=True)
    assert [c['status'] for c in checks] == ['pass', 'fail']
    for bad in (None, 7):
        checks, changed = check_permissions(bad)
        assert checks[0]['status'] == 'fail' and changed is False


# ----------------------------------------------------------------------------- verify_manifest

def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def write_manifest(model, names=None):
    names = sorted(names or os.listdir(model))
    lines = []
    for i, name in enumerate(names):
        lines.append('%s%s%s' % (sha256_of(os.path.join(model, name)), '  ' if i % 2 else ' *', name))
    manifest = os.path.join(str(model), '..', 'SHA256SUMS')
    with open(manifest, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    return os.path.abspath(manifest), names


def flip(content):
    return content[:-1] + bytes([content[-1] ^ 1])


def rewrite_keep_size(path, data=None, bump_ns=10 ** 9):
    st = os.stat(path)
    with open(path, 'rb') as handle:
        content = handle.read()
    with open(path, 'wb') as handle:
        handle.write(content if data is None else data(content))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_ns))


def listing(directory):
    """Names, sizes, modes and mtimes of everything under ``directory`` (to prove nothing was written)."""
    found = []
    for top, dirs, files in os.walk(directory):
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(top, name))
            found.append((os.path.relpath(os.path.join(top, name), directory), st.st_size, st.st_mode, st.st_mtime_ns))
    return sorted(found)


def cache_file_of(result):
    with open(result['cache_path']) as handle:
        return json.load(handle)


def edit_cache(result, func):
    """Edit the cache file in place (its owner and 0600 mode stay, so it is still trusted)."""
    data = cache_file_of(result)
    func(data)
    with open(result['cache_path'], 'w') as handle:
        json.dump(data, handle)


def test_manifest_verifies_then_uses_the_cache(model, cache_dirs):
    manifest, names = write_manifest(model)
    before = listing(model)
    first = verify_manifest(model, manifest)
    assert_shape(first)
    assert first['name'] == 'model_checksums' and first['status'] == 'pass', first
    assert sorted(first['hashed']) == names and first['cached'] == 0
    assert first['cache_changed'] is True
    # Outside the weight directory, in the default cache directory, named after its real path.
    assert os.path.dirname(first['cache_path']) == cache_dirs['default']
    assert os.path.realpath(model) == cache_file_of(first)['path']
    assert stat.S_IMODE(os.stat(first['cache_path']).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache_dirs['default']).st_mode) == 0o700
    assert listing(model) == before
    st = os.stat(os.path.join(model, SHARDS[0]))
    entry = cache_file_of(first)['files'][SHARDS[0]]
    assert entry == {'sha256': sha256_of(os.path.join(model, SHARDS[0])), 'size': st.st_size,
                     'mtime_ns': st.st_mtime_ns, 'ctime_ns': st.st_ctime_ns, 'ino': st.st_ino, 'dev': st.st_dev}

    second = verify_manifest(model, manifest)
    assert second['status'] == 'pass' and second['hashed'] == [] and second['cached'] == len(names)
    assert second['cache_changed'] is False and second['cache_path'] == first['cache_path']


def test_new_mtime_rehashes_only_that_file(model):
    manifest, names = write_manifest(model)
    verify_manifest(model, manifest)
    rewrite_keep_size(os.path.join(model, SHARDS[2]))
    result = verify_manifest(model, manifest)
    assert result['status'] == 'pass'
    assert result['hashed'] == [SHARDS[2]] and result['cached'] == len(names) - 1
    assert result['cache_changed'] is True


def test_changed_byte_is_a_mismatch(model):
    manifest, names = write_manifest(model)
    verify_manifest(model, manifest)
    rewrite_keep_size(os.path.join(model, SHARDS[4]), flip)
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail'
    assert 'checksum mismatch: %s' % SHARDS[4] in result['reason']
    assert result['hashed'] == [SHARDS[4]]
    assert result['hint']


def test_changed_content_with_restored_mtime_is_detected(model):
    """Same size, mtime put back with os.utime: the ctime moved, so the file is hashed again."""
    manifest, names = write_manifest(model)
    verify_manifest(model, manifest)
    shard = os.path.join(model, SHARDS[4])
    old = os.stat(shard)
    time.sleep(0.01)
    rewrite_keep_size(shard, flip, bump_ns=0)
    new = os.stat(shard)
    assert (new.st_size, new.st_mtime_ns, new.st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail' and 'checksum mismatch: %s' % SHARDS[4] in result['reason'], result
    assert result['hashed'] == [SHARDS[4]]


def test_file_replaced_by_rename_with_same_size_and_mtime_is_detected(model):
    manifest, names = write_manifest(model)
    verify_manifest(model, manifest)
    shard = os.path.join(model, SHARDS[1])
    old = os.stat(shard)
    with open(shard, 'rb') as handle:
        content = handle.read()
    other = os.path.join(model, '.replacement')
    with open(other, 'wb') as handle:
        handle.write(flip(content))
    os.utime(other, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.rename(other, shard)
    new = os.stat(shard)
    assert (new.st_size, new.st_mtime_ns) == (old.st_size, old.st_mtime_ns) and new.st_ino != old.st_ino
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail' and 'checksum mismatch: %s' % SHARDS[1] in result['reason'], result


@pytest.mark.parametrize('field', ['dev', 'ino', 'size', 'mtime_ns', 'ctime_ns'])
def test_every_key_field_of_a_cache_entry_is_compared(model, field):
    """A cache entry differing from the file in one of device, inode, size, mtime, ctime is not used."""
    manifest, names = write_manifest(model)
    first = verify_manifest(model, manifest)

    def bump(data):
        data['files'][SHARDS[3]][field] += 1
    edit_cache(first, bump)
    result = verify_manifest(model, manifest)
    assert result['status'] == 'pass'
    assert result['hashed'] == [SHARDS[3]] and result['cached'] == len(names) - 1


def test_cache_of_an_older_version_or_another_directory_is_not_used(model):
    manifest, names = write_manifest(model)
    first = verify_manifest(model, manifest)
    edit_cache(first, lambda data: data.update(version=1))
    assert sorted(verify_manifest(model, manifest)['hashed']) == names
    edit_cache(first, lambda data: data.update(path='/elsewhere'))
    assert sorted(verify_manifest(model, manifest)['hashed']) == names
    assert verify_manifest(model, manifest)['hashed'] == []


def test_group_or_world_writable_cache_file_is_not_trusted(model):
    manifest, names = write_manifest(model)
    first = verify_manifest(model, manifest)
    os.chmod(first['cache_path'], 0o666)
    result = verify_manifest(model, manifest)
    assert sorted(result['hashed']) == names and result['cached'] == 0
    assert stat.S_IMODE(os.stat(result['cache_path']).st_mode) == 0o600


def test_full_mode_rehashes_everything_ignoring_the_cache(model):
    manifest, names = write_manifest(model)
    first = verify_manifest(model, manifest)
    full = verify_manifest(model, manifest, mode='full')
    assert full['status'] == 'pass' and sorted(full['hashed']) == names and full['cached'] == 0
    assert 'full re-hash' in full['reason']
    assert full['cache_changed'] is False          # same files, same entries: nothing written

    # A cache entry that lies (right key, wrong hash) fools the cached mode, never the full one.
    def lie(data):
        data['files'][SHARDS[0]]['sha256'] = '0' * 64
    edit_cache(first, lie)
    assert 'checksum mismatch: %s' % SHARDS[0] in verify_manifest(model, manifest)['reason']
    again = verify_manifest(model, manifest, mode='full')
    assert again['status'] == 'pass' and again['cache_changed'] is True
    assert verify_manifest(model, manifest)['status'] == 'pass'


def test_unknown_mode_is_refused(model):
    manifest, names = write_manifest(model)
    result = verify_manifest(model, manifest, mode='fast')
    assert result['status'] == 'fail' and 'cached, full' in result['reason'] and result['hashed'] == []


def test_missing_listed_file(model):
    manifest, names = write_manifest(model)
    os.remove(os.path.join(model, SHARDS[1]))
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail' and 'missing: %s' % SHARDS[1] in result['reason']


def test_many_mismatches_are_capped(model):
    manifest, names = write_manifest(model)
    with open(manifest) as handle:
        text = handle.read()
    with open(manifest, 'w') as handle:
        handle.write('\n'.join('0' * 64 + line[64:] for line in text.splitlines()) + '\n')
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail'
    assert 'and %d more' % (len(names) - 5) in result['reason']


def test_relative_manifest_path_and_cache_path(model, tmp_path):
    manifest, names = write_manifest(model, ['config.json'])
    shutil.copy(manifest, os.path.join(model, 'SHA256SUMS'))
    cache = str(tmp_path / 'caches' / 'c.json')
    result = verify_manifest(model, 'SHA256SUMS', cache_path=cache)
    assert result['status'] == 'pass' and result['hashed'] == ['config.json']
    assert result['cache_path'] == cache and os.path.isfile(cache)
    assert verify_manifest(model, 'SHA256SUMS', cache_path=cache)['hashed'] == []


def test_read_only_model_dir_gets_no_cache_file(model):
    manifest, names = write_manifest(model)
    os.chmod(model, 0o555)
    try:
        before = listing(model)
        result = verify_manifest(model, manifest)
        again = verify_manifest(model, manifest)
        after = listing(model)
    finally:
        os.chmod(model, 0o755)
    assert result['status'] == 'pass' and again['hashed'] == []
    assert after == before
    assert not result['cache_path'].startswith(os.path.realpath(model) + os.sep)


@pytest.mark.skipif(os.geteuid() != 0, reason='chown to another user needs root')
def test_cache_path_inside_a_model_dir_of_another_user_is_not_used(model, cache_dirs):
    manifest, names = write_manifest(model, ['config.json'])
    os.chown(model, 4242, 4242)
    before = listing(model)
    result = verify_manifest(model, manifest, cache_path=os.path.join(model, 'cache.json'))
    assert result['status'] == 'pass'
    assert os.path.dirname(result['cache_path']) == cache_dirs['default']
    assert listing(model) == before


def test_unwritable_cache_path_falls_back_to_default_then_home(model, tmp_path, cache_dirs, monkeypatch):
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text(u'x')
    manifest, names = write_manifest(model, ['config.json', SHARDS[0]])
    result = verify_manifest(model, manifest, cache_path=str(blocker / 'cache.json'))
    assert result['status'] == 'pass', result
    assert os.path.dirname(result['cache_path']) == cache_dirs['default']
    monkeypatch.setattr(md, 'DEFAULT_CACHE_DIR', str(blocker / 'sha256'))
    result = verify_manifest(model, manifest, cache_path=str(blocker / 'cache.json'))
    assert result['status'] == 'pass', result
    fallback = os.path.join(cache_dirs['home'], '.cache', 'ascend.mindie')
    assert result['cache_path'].startswith(fallback + os.sep) and os.path.isfile(result['cache_path'])
    again = verify_manifest(model, manifest, cache_path=str(blocker / 'cache.json'))
    assert again['hashed'] == [] and again['cached'] == 2


def test_no_cache_anywhere_still_verifies(model, tmp_path, monkeypatch):
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text(u'x')
    monkeypatch.setattr(md, 'DEFAULT_CACHE_DIR', str(blocker / 'a'))
    monkeypatch.setattr(md, 'FALLBACK_CACHE_DIR', str(blocker / 'b'))
    manifest, names = write_manifest(model, ['config.json'])
    result = verify_manifest(model, manifest)
    assert result['status'] == 'pass' and 'hash cache not saved' in result['reason']
    assert result['cache_path'] is None and result['cache_changed'] is False


def test_broken_cache_is_ignored(model):
    manifest, names = write_manifest(model)
    first = verify_manifest(model, manifest)
    with open(first['cache_path'], 'wb') as handle:
        handle.write(b'\x00{not json')
    result = verify_manifest(model, manifest)
    assert result['status'] == 'pass' and sorted(result['hashed']) == names
    assert verify_manifest(model, manifest)['hashed'] == []


def test_no_temp_files_left_behind(model, cache_dirs):
    manifest, names = write_manifest(model)
    before = listing(model)
    result = verify_manifest(model, manifest)
    assert listing(model) == before
    assert os.listdir(cache_dirs['default']) == [os.path.basename(result['cache_path'])]


def test_hashing_reads_in_one_mib_chunks(tmp_path, monkeypatch):
    big = tmp_path / 'm' / 'big.bin'
    big.parent.mkdir()
    big.write_bytes(b'a' * (3 * 1024 * 1024 + 5))
    manifest = tmp_path / 'SUMS'
    manifest.write_text(u'%s  big.bin\n' % hashlib.sha256(big.read_bytes()).hexdigest())
    CountingFile.reads = []
    monkeypatch.setattr(md, 'open', counting_open, raising=False)
    result = verify_manifest(str(big.parent), str(manifest), cache_path=str(tmp_path / 'c.json'))
    assert result['status'] == 'pass', result
    sizes = [size for name, size in CountingFile.reads if name == 'big.bin']
    assert len(sizes) >= 4 and set(sizes) == set([1024 * 1024])


@pytest.mark.parametrize('text, words', [
    ('', 'lists no files'),
    ('# only a comment\n\n', 'lists no files'),
    ('abc  config.json\n', 'malformed'),
    ('%s\n' % ('0' * 64), 'malformed'),
    ('%s  /etc/passwd\n' % ('0' * 64), 'outside'),
    ('%s  ../x\n' % ('0' * 64), 'outside'),
])
def test_bad_manifests(model, tmp_path, text, words):
    manifest = tmp_path / 'SUMS'
    manifest.write_text(text)
    result = verify_manifest(model, str(manifest))
    assert result['status'] == 'fail' and words in result['reason']
    assert result['hashed'] == [] and result['cached'] == 0


def test_manifest_missing_or_binary(model, tmp_path):
    result = verify_manifest(model, str(tmp_path / 'absent'))
    assert result['status'] == 'fail' and 'cannot be read' in result['reason']
    garbage = tmp_path / 'garbage'
    garbage.write_bytes(b'\xff\xfe\x00\x80' * 10)
    assert verify_manifest(model, str(garbage))['status'] == 'fail'


@pytest.mark.parametrize('path, manifest', [(None, None), ('/nonexistent/x', 'SUMS'), (3, []), ('.', 5)])
def test_manifest_bad_arguments_never_raise(path, manifest):
    result = verify_manifest(path, manifest)
    assert result['status'] == 'fail' and result['name'] == 'model_checksums'


def test_parse_manifest_formats():
    h = 'A' * 64
    entries, bad = parse_manifest('%s  a b.txt\n%s *bin/x\r\n%s c\nnonsense\n' % (h, h, h))
    assert entries == [('a b.txt', h.lower()), ('bin/x', h.lower()), ('c', h.lower())]
    assert bad == [4]


def test_check_mode_reads_but_never_writes_the_hash_cache(model, tmp_path):
    """verify_manifest(save_cache=False), as the module calls it in check mode."""
    manifest = tmp_path / 'weights.sha256'
    lines = []
    for name in sorted(os.listdir(model)):
        full = os.path.join(model, name)
        if os.path.isfile(full):
            with open(full, 'rb') as handle:
                lines.append('%s  %s' % (hashlib.sha256(handle.read()).hexdigest(), name))
    manifest.write_text('\n'.join(lines) + '\n')
    cache = tmp_path / 'cache.json'
    first = verify_manifest(model, str(manifest), str(cache), save_cache=False)
    assert first['status'] == 'pass' and not cache.exists()
    assert first['cache_changed'] is True            # a real run would write it
    verify_manifest(model, str(manifest), str(cache))
    assert cache.exists()
    again = verify_manifest(model, str(manifest), str(cache), save_cache=False)
    assert again['hashed'] == [] and again['cached'] == len(lines)
    assert again['cache_changed'] is False


def test_check_mode_creates_no_cache_directory(model, cache_dirs):
    manifest, names = write_manifest(model)
    result = verify_manifest(model, manifest, save_cache=False)
    assert result['status'] == 'pass' and result['cache_changed'] is True
    assert not os.path.exists(cache_dirs['default'])
    assert not os.path.exists(os.path.join(cache_dirs['home'], '.cache'))


# ----------------------------------------------------------------------------- symlinks out of the directory

@pytest.fixture
def outside(tmp_path):
    path = tmp_path / 'outside'
    path.mkdir()
    return str(path)


def move_out(model, name, outside, relative=False):
    """Move ``name`` out of the model directory and leave a symlink to it."""
    target = os.path.join(outside, os.path.basename(name))
    shutil.move(os.path.join(model, name), target)
    link = os.path.relpath(target, os.path.dirname(os.path.join(model, name))) if relative else target
    os.symlink(link, os.path.join(model, name))
    return target


@pytest.mark.parametrize('name, check', [
    ('config.json', 'model_config'),
    ('tokenizer_config.json', 'model_tokenizer'),
    ('tokenizer.json', 'model_tokenizer'),
    ('model.safetensors.index.json', 'model_shards'),
    (SHARDS[2], 'model_shards'),
])
def test_symlink_leaving_the_model_dir_is_refused(model, outside, name, check):
    target = move_out(model, name, outside)
    result = by_name(check_model_dir(model))[check]
    assert result['status'] == 'fail', result
    assert os.path.join(model, name) in result['reason'] and target in result['reason']
    assert 'out of the model directory' in result['reason'] and result['hint']


def test_relative_symlink_out_shows_link_and_target(model, outside):
    target = move_out(model, SHARDS[0], outside, relative=True)
    result = shard_check(model)
    assert result['status'] == 'fail' and '../outside/%s (%s)' % (SHARDS[0], target) in result['reason']


def test_symlinked_subdirectory_leaving_the_model_dir_is_refused(model, outside):
    os.symlink(outside, os.path.join(model, 'sub'))
    shutil.move(os.path.join(model, SHARDS[1]), os.path.join(outside, SHARDS[1]))
    edit_json(os.path.join(model, 'model.safetensors.index.json'),
              lambda d: d['weight_map'].update((k, 'sub/' + SHARDS[1]) for k, v in list(d['weight_map'].items())
                                               if v == SHARDS[1]))
    result = shard_check(model)
    assert result['status'] == 'fail' and os.path.join(outside, SHARDS[1]) in result['reason']


def test_symlinks_inside_the_model_dir_are_fine(model):
    os.mkdir(os.path.join(model, 'blobs'))
    for name in (SHARDS[0], 'config.json', 'tokenizer.json'):
        shutil.move(os.path.join(model, name), os.path.join(model, 'blobs', name))
        os.symlink(os.path.join('blobs', name), os.path.join(model, name))
    assert [c['status'] for c in check_model_dir(model)] == ['pass'] * 4


def test_model_dir_itself_may_be_a_symlink(model, tmp_path):
    link = str(tmp_path / 'current')
    os.symlink(model, link)
    assert [c['status'] for c in check_model_dir(link)] == ['pass'] * 4


def test_manifest_file_leaving_the_model_dir_is_refused(model, outside):
    manifest, names = write_manifest(model)
    target = move_out(model, SHARDS[3], outside)
    result = verify_manifest(model, manifest)
    assert result['status'] == 'fail', result
    assert 'symlink leading out of the model directory' in result['reason'] and target in result['reason']
    assert SHARDS[3] not in result['hashed']


def test_fix_permissions_never_chmods_a_file_outside(model, outside):
    target = move_out(model, 'config.json', outside)
    os.chmod(target, 0o644)
    checks, changed = check_permissions(model, fix=True)
    result = by_name(checks)['model_config_mode']
    assert result['status'] == 'fail' and target in result['reason']
    assert mode(target) == 0o644


def test_fifo_config_json_is_an_error_not_a_hang(model):
    os.remove(os.path.join(model, 'config.json'))
    os.mkfifo(os.path.join(model, 'config.json'))

    def hung(signum, frame):
        raise AssertionError('check_model_dir hangs on a FIFO config.json')
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        result = by_name(check_model_dir(model))['model_config']
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result['status'] == 'fail' and 'not a regular file' in result['reason']
