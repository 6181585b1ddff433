# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_precheck's weight checksums through main(): verify_checksums
(cached / full), `changed` only when the hash cache is written, check mode writes nothing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import shutil

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import model_dir as md
from ansible_collections.ascend.mindie.plugins.modules import mindie_precheck
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils import fake_docker_sdk



@pytest.fixture
def args(tmp_path, weights, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.setattr(md, 'DEFAULT_CACHE_DIR', str(tmp_path / 'var-cache'))
    model = str(tmp_path / 'Qwen2-VL-7B-Instruct')
    shutil.copytree(weights, model)
    os.chmod(model, 0o750)
    os.chmod(os.path.join(model, 'config.json'), 0o640)
    lines = []
    for name in sorted(os.listdir(model)):
        with open(os.path.join(model, name), 'rb') as handle:
            lines.append('%s  %s\n' % (hashlib.sha256(handle.read()).hexdigest(), name))
    manifest = tmp_path / 'weights.sha256'
    manifest.write_text(u''.join(lines))
    fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK())
    return dict(model_path=model, model_manifest=str(manifest),
                disk_paths=[str(tmp_path)], ascend_home=str(tmp_path / 'Ascend'), ports=[])


def checksums(result):
    return [c for c in result['checks'] if c['name'] == 'model_checksums'][0]


def test_changed_only_when_the_hash_cache_is_written(run_module, args, tmp_path):
    preview = run_module(mindie_precheck.main, args, check_mode=True)
    assert preview['changed'] is True and checksums(preview)['status'] == 'pass'
    assert not (tmp_path / 'var-cache').exists(), 'check mode must not write the cache'
    assert 'cache_changed' not in checksums(preview)

    first = run_module(mindie_precheck.main, args)
    assert first['changed'] is True
    check = checksums(first)
    assert check['status'] == 'pass' and check['cached'] == 0 and check['hashed']
    assert check['cache_path'].startswith(str(tmp_path / 'var-cache') + os.sep)
    assert sorted(os.listdir(args['model_path'])) == sorted(l.split()[1] for l in open(args['model_manifest']))

    second = run_module(mindie_precheck.main, args)
    assert second['changed'] is False
    assert checksums(second)['hashed'] == [] and checksums(second)['cached'] == len(check['hashed'])
    assert run_module(mindie_precheck.main, args, check_mode=True)['changed'] is False


def test_full_rehashes_everything(run_module, args):
    run_module(mindie_precheck.main, args)
    args['verify_checksums'] = 'full'
    full = run_module(mindie_precheck.main, args)
    check = checksums(full)
    assert check['status'] == 'pass' and check['cached'] == 0 and len(check['hashed']) > 0
    assert full['changed'] is False


def test_unknown_mode_is_refused_by_the_argument_spec(run_module, args):
    args['verify_checksums'] = 'sometimes'
    result = run_module(mindie_precheck.main, args, expect_fail=True)
    assert 'verify_checksums' in result['msg'] and 'cached, full' in result['msg']
