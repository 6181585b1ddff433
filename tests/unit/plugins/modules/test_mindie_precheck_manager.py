# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindiePrecheck (the manager of ascend.mindie.mindie_precheck) with the node mocked.

The Docker client, /proc (memory, sockets, cgroups), statvfs, os-release, the version files and the model
directory helpers (check_model_dir, check_permissions, verify_manifest) are recorders: the tests say that bad
thresholds touch nothing, which helper runs with which check-mode and fix flags, and that a missing SDK, a
foreign container or a broken model directory stop exactly the calls that depend on them.
test_mindie_precheck.py drives the module through main() on real files, a fake SDK and a real socket.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_precheck
from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import SDK_MISSING, MindieDockerError
from ansible_collections.ascend.mindie.tests.unit.plugins.modules.manager_fakes import Calls, Failed, build_module

GIB = 1024 ** 3
LABELLED = {'Id': 'c0ffee', 'Config': {'Labels': {'ascend.mindie.managed': 'true'}}}
NPU = {'chips': [{'npu_id': n, 'chip_id': 0, 'name': '910B4', 'health': 'OK', 'hbm_total_mb': 32768,
                  'hbm_used_mb': 0} for n in range(8)], 'processes': []}
OUR_PROCESS = {'npu_id': 0, 'chip_id': 0, 'pid': 4123, 'name': 'mindieservice_d', 'memory_mb': 3000}
VERSIONS = {'driver': {'version': '25.0.rc1.1', 'compatible_version_fw': '[7.0.0,7.7.99]'},
            'firmware': {'version': '7.7.0.1.231'}}


@pytest.fixture
def node(monkeypatch):
    calls = Calls()
    calls.docker_error = None
    calls.container = None
    calls.listening = {}
    calls.model_ok = True
    calls.perm_changed = False
    calls.cache_changed = False

    class Docker(object):
        def __init__(self, name, timeout):
            calls.record('docker', name, timeout)
            if calls.docker_error:
                raise calls.docker_error

        def engine_version(self):
            calls.record('engine_version')
            return '24.0.7'

        def inspect_container(self):
            calls.record('inspect_container')
            return calls.container

    def record(name, value):
        def fake(*args, **kwargs):
            calls.record(name, *(args + tuple(sorted(kwargs.items()))))
            return value() if callable(value) else value
        return fake

    def check_model_dir(path, model_type):
        calls.record('check_model_dir', path, model_type)
        status = checks.PASS if calls.model_ok else checks.FAIL
        return [checks.make('model_dir', 'model', status, 'weights at %s' % path)]

    def check_permissions(path, fix, check_mode):
        calls.record('check_permissions', path, fix, check_mode)
        return [checks.make('model_permissions', 'model', checks.PASS, 'modes')], calls.perm_changed

    def verify_manifest(path, manifest, save_cache, mode):
        calls.record('verify_manifest', path, manifest, save_cache, mode)
        return dict(checks.make('model_checksums', 'model', checks.PASS, 'checksums'), cache_changed=calls.cache_changed)

    monkeypatch.setattr(mindie_precheck, 'MindieDockerClient', Docker)
    monkeypatch.setattr(mindie_precheck, 'sdk_version', lambda: None if calls.docker_error else '7.1.0')
    monkeypatch.setattr(mindie_precheck, 'memory_mb', record('memory_mb', 256 * 1024))
    monkeypatch.setattr(mindie_precheck, 'free_bytes', record('free_bytes', 500 * GIB))
    monkeypatch.setattr(mindie_precheck, 'os_release', record('os_release', ('openEuler', '24.03')))
    monkeypatch.setattr(mindie_precheck, 'read_key_value_file', lambda path: dict(VERSIONS[path.split('/')[-2]]))
    monkeypatch.setattr(mindie_precheck, 'listening_ports', record('listening_ports', lambda: calls.listening))
    monkeypatch.setattr(mindie_precheck, 'socket_owners', record('socket_owners', [4123]))
    monkeypatch.setattr(mindie_precheck, 'pid_in_container', record('pid_in_container', True))
    monkeypatch.setattr(mindie_precheck, 'check_model_dir', check_model_dir)
    monkeypatch.setattr(mindie_precheck, 'check_permissions', check_permissions)
    monkeypatch.setattr(mindie_precheck, 'verify_manifest', verify_manifest)
    calls.args = dict(npu=NPU, profile='atlas-800i-a2-32g', devices=list(range(8)), disk_paths=['/var/lib/docker'],
                      image_architecture=os.uname()[4], ascend_home='/usr/local/Ascend',
                      ports=[1025, 1026], master_port=7896, model_path='/data/Qwen2-VL-7B-Instruct')
    return calls


def run(monkeypatch, node, check_mode=False, **override):
    module = build_module(monkeypatch, mindie_precheck, dict(node.args, **override), check_mode=check_mode)
    return mindie_precheck.MindiePrecheck(module).run()


def by_id(result):
    return dict((c['id'], c) for c in result['checks'])


@pytest.mark.parametrize('override, text', [
    (dict(min_disk_free_gb=-1), 'min_disk_free_gb'),
    (dict(min_memory_gb={'atlas-800i-a2-16g': 32}), 'unknown profile'),
    (dict(recommended_os={'distro': 'openEuler'}), 'unknown key'),
    (dict(ports=[1025, 70000]), '70000'),
])
def test_bad_thresholds_touch_nothing(monkeypatch, node, override, text):
    with pytest.raises(Failed) as info:
        run(monkeypatch, node, fix_permissions=True, **override)
    assert text in info.value.result['msg'] and info.value.result['msg'].endswith('Nothing was checked or changed.')
    assert node.log == []


def test_healthy_node_asks_each_source_once_and_passes(monkeypatch, node):
    result = run(monkeypatch, node, model_manifest='/data/weights.sha256')
    assert result['status'] == checks.PASS, [c for c in result['checks'] if c['status'] != checks.PASS]
    assert result['changed'] is False
    assert node.of('docker') == [(None, mindie_precheck.DOCKER_TIMEOUT)]
    assert node.of('check_permissions') == [('/data/Qwen2-VL-7B-Instruct', False, False)]
    assert node.of('verify_manifest') == [('/data/Qwen2-VL-7B-Instruct', '/data/weights.sha256', True, 'cached')]
    assert 'inspect_container' not in node.names()      # no own_container: nothing to inspect
    assert node.of('free_bytes') == [('/var/lib/docker',)]


def test_fix_permissions_reports_the_change(monkeypatch, node):
    node.perm_changed = True
    result = run(monkeypatch, node, fix_permissions=True)
    assert result['changed'] is True
    assert node.of('check_permissions') == [('/data/Qwen2-VL-7B-Instruct', True, False)]


def test_check_mode_passes_check_mode_down_and_saves_no_cache(monkeypatch, node):
    run(monkeypatch, node, check_mode=True, fix_permissions=True, model_manifest='/m.sha256', verify_checksums='full')
    assert node.of('check_permissions') == [('/data/Qwen2-VL-7B-Instruct', True, True)]
    assert node.of('verify_manifest') == [('/data/Qwen2-VL-7B-Instruct', '/m.sha256', False, 'full')]


def test_written_hash_cache_is_a_change(monkeypatch, node):
    node.cache_changed = True
    result = run(monkeypatch, node, model_manifest='/m.sha256')
    assert result['changed'] is True and 'cache_changed' not in by_id(result)['model_checksums']


def test_broken_model_dir_is_not_chmodded_nor_hashed(monkeypatch, node):
    node.model_ok = False
    result = run(monkeypatch, node, fix_permissions=True, model_manifest='/m.sha256')
    assert result['failed_checks'] == ['model_dir']
    assert 'check_permissions' not in node.names() and 'verify_manifest' not in node.names()


def test_no_model_path_reads_no_model(monkeypatch, node):
    run(monkeypatch, node, model_path=None)
    assert not set(node.names()) & {'check_model_dir', 'check_permissions', 'verify_manifest'}


def test_missing_sdk_fails_the_docker_checks_without_asking_the_engine(monkeypatch, node):
    node.docker_error = MindieDockerError('Failed to import the required Python library (docker)', kind=SDK_MISSING,
                                          exception='Traceback\nModuleNotFoundError: No module named docker\n')
    result = run(monkeypatch, node, own_container='mindie')
    got = by_id(result)
    assert got['docker_sdk']['status'] == checks.FAIL and 'No module named docker' in got['docker_sdk']['message']
    assert got['docker_daemon']['status'] == checks.FAIL
    assert not set(node.names()) & {'engine_version', 'inspect_container', 'pid_in_container'}
    assert 'memory_mb' in node.names() and 'check_model_dir' in node.names()     # the rest is still checked


def test_our_labelled_container_owns_its_npu_process_and_ports(monkeypatch, node):
    node.container = LABELLED
    node.listening = {1025: '991', 7896: '992'}
    result = run(monkeypatch, node, own_container='mindie', npu=dict(NPU, processes=[OUR_PROCESS]))
    assert result['status'] == checks.PASS, [c for c in result['checks'] if c['status'] != checks.PASS]
    assert node.of('docker') == [('mindie', mindie_precheck.DOCKER_TIMEOUT)]
    assert (4123, 'c0ffee') in node.of('pid_in_container')
    assert sorted(node.of('socket_owners')) == [('991',), ('992',)]


def test_a_container_without_our_label_is_never_looked_into(monkeypatch, node):
    node.container = {'Id': 'f00', 'Config': {'Labels': {'other': 'x'}}}
    node.listening = {1025: '991'}
    result = run(monkeypatch, node, own_container='mindie')
    assert 'pid_in_container' not in node.names() and 'socket_owners' not in node.names()
    assert 'ports_free' in result['failed_checks'] and 'own_container' in result['failed_checks']
