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

        def containers(self):
            calls.record('containers')
            if not calls.container:
                return []
            return [{'id': calls.container['Id'], 'name': 'mindie', 'labels': calls.container['Config']['Labels']}]

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
    assert node.of('containers') == [()]                 # docker ps -a once, whatever the number of instances
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
    assert node.of('docker') == [(None, mindie_precheck.DOCKER_TIMEOUT)] and node.of('containers') == [()]
    assert (4123, 'c0ffee') in node.of('pid_in_container')
    assert sorted(node.of('socket_owners')) == [('991',), ('992',)]


def test_a_container_without_our_label_is_never_looked_into(monkeypatch, node):
    node.container = {'Id': 'f00', 'Config': {'Labels': {'other': 'x'}}}
    node.listening = {1025: '991'}
    result = run(monkeypatch, node, own_container='mindie')
    assert 'pid_in_container' not in node.names() and 'socket_owners' not in node.names()
    assert 'ports_free' in result['failed_checks'] and 'own_container' in result['failed_checks']


TWO = [{'name': 'mindie-%d' % i, 'container': 'mindie-%d' % i, 'index': i, 'devices': list(range(4 * i, 4 * i + 4)),
        'ports': {'business': 1040 + 10 * i, 'management': 1041 + 10 * i, 'metrics': 1042 + 10 * i,
                  'inter_comm': 1121 + 10 * i, 'multi_nodes_infer': 1120 + 10 * i},
        'master_port': 7896 + i, 'hccl': {'base_port': 60000 + 32 * i, 'first': 60000 + 32 * i, 'last': 60031 + 32 * i},
        'urls': {'business': 'http://127.0.0.1:%d' % (1040 + 10 * i)}, 'local_only': {'business': False}}
       for i in range(2)]


def two_instances(monkeypatch, node, containers, pids_in, npu_processes, listening=None, sockets=None, **override):
    """Run with the plan's two 4-NPU instances; ``pids_in``: {pid: container id} as /proc/<pid>/cgroup says."""
    monkeypatch.setattr(node, 'container', None)
    docker = mindie_precheck.MindieDockerClient
    monkeypatch.setattr(docker, 'containers', lambda self: node.record('containers') or containers, raising=False)
    monkeypatch.setattr(mindie_precheck, 'pid_in_container',
                        lambda pid, cid, proc='/proc': node.record('pid_in_container', pid, cid) or pids_in.get(pid) == cid)
    monkeypatch.setattr(mindie_precheck, 'socket_owners', lambda inode: (sockets or {}).get(inode, []))
    monkeypatch.setattr(mindie_precheck, 'process_name', lambda pid, proc='/proc': 'comm-%d' % pid)
    node.listening = listening or {}
    args = dict(node.args, instances=TWO, profile='atlas-800i-a2-64g', npu=dict(NPU, processes=npu_processes))
    for key in ('devices', 'ports', 'master_port'):
        args.pop(key)
    args.update(override)
    module = build_module(monkeypatch, mindie_precheck, args)
    return mindie_precheck.MindiePrecheck(module).run()


MANAGED = {'ascend.mindie.managed': 'true'}
CONTAINERS = [{'id': 'aaa0', 'name': 'mindie-0', 'labels': MANAGED}, {'id': 'aaa1', 'name': 'mindie-1', 'labels': MANAGED},
              {'id': 'bbb', 'name': 'mindie', 'labels': MANAGED}, {'id': 'ccc', 'name': 'notebook', 'labels': {}}]


def held(npu_id, pid):
    return {'npu_id': npu_id, 'chip_id': 0, 'pid': pid, 'name': '', 'memory_mb': 3000}


def test_a_re_run_on_two_serving_instances_passes(monkeypatch, node):
    processes = [held(c, 100 + c) for c in range(8)]
    pids_in = dict((100 + c, 'aaa0' if c < 4 else 'aaa1') for c in range(8))
    listening = {1040: 'i0', 1050: 'i1', 7897: 'm1', 60040: 'h1'}
    sockets = {'i0': [100], 'i1': [104], 'm1': [105], 'h1': [106]}
    result = two_instances(monkeypatch, node, CONTAINERS, pids_in, processes, listening, sockets)
    got = by_id(result)
    assert result['status'] == checks.PASS, [c for c in result['checks'] if c['status'] != checks.PASS]
    assert got['npu_count']['message'] == 'atlas-800i-a2-64g with 2 instances: mindie-0 4 NPUs, mindie-1 4 NPUs'
    assert got['own_container']['message'] == 'containers mindie-0, mindie-1 were created by ascend.mindie'
    assert got['ports_free']['message'].startswith('76 planned ports free')
    assert node.of('containers') == [()]


def test_holders_of_another_instance_a_stale_one_and_a_foreign_container_are_refused(monkeypatch, node):
    processes = [held(0, 100), held(4, 101), held(5, 102), held(6, 103), held(7, 104)]
    pids_in = {100: 'aaa0', 101: 'aaa0', 102: 'bbb', 103: 'ccc'}
    result = two_instances(monkeypatch, node, CONTAINERS, pids_in, processes)
    check = by_id(result)['npu_processes']
    assert check['status'] == checks.FAIL
    assert 'NPU 0' not in check['message']
    assert ('NPU 4 (planned for mindie-1): pid 101 (comm-101, 3000 MB) in container mindie-0, instance mindie-0 of ours, '
            'planned on NPUs 0, 1, 2, 3') in check['message']
    assert 'NPU 5 (planned for mindie-1): pid 102 (comm-102, 3000 MB) in container mindie, a container of ours that the plan' \
        in check['message']
    assert 'pid 103 (comm-103, 3000 MB) in container notebook, a container not created by ascend.mindie' in check['message']
    assert 'NPU 7 (planned for mindie-1): pid 104 (comm-104, 3000 MB), not a container of ours' in check['message']
    warned = two_instances(monkeypatch, node, CONTAINERS, pids_in, processes, foreign_process_action='warn')
    assert by_id(warned)['npu_processes']['status'] == checks.WARN


def test_a_layout_change_of_this_deployment_is_not_in_the_way_another_deployment_is(monkeypatch, node):
    """With container_base, the old 1x8 instance (mindie) and a planned instance on another's chips (a 2x4 -> 4x2
    style change) are replaced by the container role: named, not refused. Another deployment of ours is refused."""
    containers = CONTAINERS + [{'id': 'ddd', 'name': 'qwen72b', 'labels': MANAGED}]
    processes = [held(0, 100), held(4, 101), held(5, 102), held(6, 103)]
    pids_in = {100: 'aaa0', 101: 'aaa0', 102: 'bbb', 103: 'ddd'}
    listening = {1040: 'stale', 1050: 'other'}
    sockets = {'stale': [102], 'other': [103]}
    result = two_instances(monkeypatch, node, containers, pids_in, processes[:3], listening={1040: 'stale'},
                           sockets=sockets, container_base='mindie')
    check = by_id(result)['npu_processes']
    assert check['status'] == checks.PASS, check['message']
    assert 'NPU 4 held by mindie-0, an instance of another layout' in check['message']
    assert 'NPU 5 held by mindie, an instance of another layout' in check['message']
    assert by_id(result)['ports_free']['status'] == checks.PASS, by_id(result)['ports_free']['message']
    result = two_instances(monkeypatch, node, containers, pids_in, processes, listening, sockets, container_base='mindie')
    check = by_id(result)['npu_processes']
    assert check['status'] == checks.FAIL
    assert 'NPU 6 (planned for mindie-1): pid 103 (comm-103, 3000 MB) in container qwen72b, a container of ours that the plan' \
        in check['message']
    assert 'NPU 4' not in check['message'] and 'NPU 5' not in check['message']
    assert by_id(result)['ports_free']['status'] == checks.FAIL
    assert '1050' in by_id(result)['ports_free']['message'] and '1040 ' not in by_id(result)['ports_free']['message']


def test_ports_of_every_instance_held_by_anything_but_our_instances_fail(monkeypatch, node):
    listening = {1050: 'i1', 1131: 'ic', 60063: 'h', 1040: 'stale'}
    sockets = {'i1': [104], 'ic': [900], 'h': [901], 'stale': [102]}
    pids_in = {104: 'aaa1', 102: 'bbb'}
    result = two_instances(monkeypatch, node, CONTAINERS, pids_in, [], listening, sockets)
    check = by_id(result)['ports_free']
    assert check['status'] == checks.FAIL
    assert check['message'] == ('ports already listening: 1040 (mindie-0 business), 1131 (mindie-1 inter_comm), '
                                '60063 (mindie-1 HCCL 60032-60063)')


def test_instances_and_the_one_instance_options_are_exclusive_and_bad_instances_touch_nothing(monkeypatch, node, capsys):
    with pytest.raises(SystemExit):
        build_module(monkeypatch, mindie_precheck, dict(node.args, instances=TWO))
    assert 'parameters are mutually exclusive: instances|devices' in capsys.readouterr().out
    args = dict(node.args, instances=[dict(TWO[0], ports={'business': 99999})])
    for key in ('devices', 'ports', 'master_port'):
        args.pop(key)
    module = build_module(monkeypatch, mindie_precheck, args)
    with pytest.raises(Failed) as info:
        mindie_precheck.MindiePrecheck(module).run()
    assert 'instances[0] (mindie-0).ports.business must be a TCP port' in info.value.result['msg']
    assert node.log == []
