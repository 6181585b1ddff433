# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_precheck through main(): a generated model directory, the real
version files, npu facts parsed from a capture, the real Docker client over a fake SDK and a real socket."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import socket
import stat

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import parse_npu_smi_info
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify as classify_profile
from ansible_collections.ascend.mindie.plugins.modules import mindie_precheck
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils import fake_docker_sdk

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


@pytest.fixture
def node(tmp_path, weights, monkeypatch):
    """Everything a 32G node shows, under tmp_path; a Docker engine 24.0.7 (fake SDK) without containers."""
    home = tmp_path / 'Ascend'
    for component, name in (('driver', 'driver_version.info_25.0.rc1.1'),
                            ('firmware', 'firmware_version.info_7.7.0.1.231')):
        (home / component).mkdir(parents=True)
        (home / component / 'version.info').write_text(fixture('versions', name))
    fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(engine_version='24.0.7'))
    model = str(tmp_path / 'Qwen2-VL-7B-Instruct')
    shutil.copytree(weights, model)
    os.chmod(model, 0o755)
    os.chmod(os.path.join(model, 'config.json'), 0o644)
    npu = parse_npu_smi_info(fixture('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'))
    for chip in npu['chips']:
        chip['logical_id'] = chip['npu_id']
    npu.update(count=8, profile=classify_profile(npu['chips']))
    args = dict(npu=npu, profile='atlas-800i-a2-32g', devices=list(range(8)), ascend_home=str(home),
                min_memory_gb={'atlas-800i-a2-32g': 1}, min_disk_free_gb=0.01,
                disk_paths=[str(tmp_path)], image_architecture=os.uname()[4], ports=[], master_port=None,
                model_path=model, fix_permissions=True)
    return args


def statuses(result):
    return dict((c['name'], c['status']) for c in result['checks'])


def test_healthy_node_passes_and_permissions_are_fixed_once(run_module, node):
    model = node['model_path']
    preview = run_module(mindie_precheck.main, node, check_mode=True)
    assert preview['changed'] is True
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o755, 'check mode must not chmod'

    first = run_module(mindie_precheck.main, node)
    got = statuses(first)
    expected = ['npu_smi', 'npu_health', 'npu_count', 'npu_processes', 'driver_version', 'firmware_version',
                'firmware_compatible', 'docker_daemon', 'docker_sdk', 'host_memory', 'disk_free', 'os',
                'architecture', 'ports_distinct', 'ports_free', 'model_dir_exists', 'model_config', 'model_tokenizer',
                'model_shards', 'model_dir_mode', 'model_config_mode']
    assert [c['name'] for c in first['checks']] == expected
    assert [name for name, status in got.items() if status != 'pass' and name != 'os'] == []
    assert first['changed'] is True and first['failed_checks'] == []
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(os.path.join(model, 'config.json')).st_mode) == 0o640

    second = run_module(mindie_precheck.main, node)
    assert second['changed'] is False


def test_everything_is_checked_before_deciding(run_module, node, tmp_path, monkeypatch):
    """Several independent problems are all reported in one run."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    busy = listener.getsockname()[1]
    try:
        node['npu']['chips'][5]['health'] = 'Critical'
        # no Docker engine socket at all: Docker is not installed
        monkeypatch.setenv('DOCKER_HOST', 'unix://%s' % (tmp_path / 'no-docker.sock'))
        fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(down='FileNotFoundError(2, "No such file")'))
        node.update(ports=[busy], fix_permissions=False, image_architecture='riscv64')
        os.remove(os.path.join(node['model_path'], 'model-00002-of-00002.safetensors'))
        result = run_module(mindie_precheck.main, node)
    finally:
        listener.close()
    assert result['status'] == 'fail'
    assert set(['npu_health', 'docker_installed', 'ports_free', 'architecture', 'model_shards',
                'model_dir_mode', 'model_config_mode']) <= set(result['failed_checks'])
    reasons = dict((c['name'], c['reason']) for c in result['checks'])
    assert 'NPU 5 is Critical' in reasons['npu_health']
    assert str(busy) in reasons['ports_free']
    assert 'model-00002-of-00002.safetensors' in reasons['model_shards']
    assert result['changed'] is False


def test_npu_smi_failure_is_a_check_not_a_crash(run_module, node):
    node.pop('npu')
    node['npu_error'] = "'npu-smi info' failed (rc=1): dcmi module initialize failed. ret is -8005"
    result = run_module(mindie_precheck.main, node)
    npu_checks = [c for c in result['checks'] if c['category'] == 'npu']
    assert npu_checks[0]['name'] == 'npu_smi' and npu_checks[0]['status'] == 'fail'
    assert 'without a reboot' in npu_checks[0]['hint']
    # the version files are still read on their own
    assert statuses(result)['driver_version'] == 'pass'


def test_listening_ports_and_socket_owner_read_proc():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        ports = mindie_precheck.listening_ports()
        assert port in ports
        assert mindie_precheck.socket_owners(ports[port]) == [os.getpid()]
    finally:
        listener.close()
    assert port not in mindie_precheck.listening_ports()
    assert mindie_precheck.pid_in_container(os.getpid(), '') is False


# ---------------------------------------------------------------------- typed inputs, planned ports, our container

@pytest.mark.parametrize('bad,key', [
    ({'min_memory_gb': {'atlas-800i-a2-32g': 'lots'}}, 'min_memory_gb.atlas-800i-a2-32g'),
    ({'min_memory_gb': {'atlas-800i-a2-32g': [64]}}, 'min_memory_gb.atlas-800i-a2-32g'),
    ({'min_memory_gb': {'atlas-800i-a2-32g': True}}, 'min_memory_gb.atlas-800i-a2-32g'),
    ({'min_memory_gb': {'atlas-800i-a2-32g': -1}}, 'min_memory_gb.atlas-800i-a2-32g must be at least 0'),
    ({'min_memory_gb': {'atlas-800i-a2-32G': 64}}, "unknown profile 'atlas-800i-a2-32G' (did you mean atlas-800i-a2-32g?)"),
    ({'min_disk_free_gb': -3}, 'min_disk_free_gb must be at least 0'),
    ({'recommended_os': {'distribution': 'openEuler', 'versoin': '24.03'}}, "unknown key 'versoin' (did you mean version?)"),
    ({'recommended_os': {'distribution': ['openEuler']}}, 'recommended_os.distribution must be a non-empty string'),
    ({'ports': [1040, 70000, 1042]}, 'ports[1] (management) must be a TCP port in [1, 65535]'),
    ({'master_port': 0}, 'master_port must be at least 1'),
])
def test_bad_thresholds_fail_naming_the_key_before_anything_changes(run_module, node, bad, key):
    node.update(bad)
    result = run_module(mindie_precheck.main, node, expect_fail=True)
    assert key in result['msg'], result['msg']
    assert 'Nothing was checked or changed' in result['msg']
    assert stat.S_IMODE(os.stat(node['model_path']).st_mode) == 0o755     # fix_permissions did not run


def test_thresholds_given_as_strings_are_converted(run_module, node):
    """An untyped dict of thresholds (from -e or a template) once gave "can't multiply sequence by non-int"."""
    node.update(min_memory_gb={'atlas-800i-a2-32g': '1', 'atlas-800i-a2-64g': '2.5'}, min_disk_free_gb='0.01',
                recommended_os={'distribution': 'openEuler', 'version': 24.03})
    result = run_module(mindie_precheck.main, node)
    got = statuses(result)
    assert got['host_memory'] == 'pass' and got['disk_free'] == 'pass'


@pytest.mark.parametrize('ports,master,status,text', [
    ([1040, 1041, 1042], 7896, 'pass', 'distinct'),
    ([1040, 1040, 1040], 7896, 'pass', 'single-port mode: business, management, metrics share port 1040'),
    ([1040, 1040, 1042], 7896, 'pass', 'shared listener: business port and management port on 1040'),
    ([1040, 1041, 1040], 7896, 'warn', 'business and metrics port are both 1040'),
    ([1040, 1041, 1042], 1041, 'fail', 'MASTER_PORT 1041 is also the management port'),
    ([1040, 1040, 1040], 1040, 'fail', 'MASTER_PORT 1040 is also the business port and the management port'),
])
def test_duplicate_planned_ports(run_module, node, ports, master, status, text):
    node.update(ports=ports, master_port=master)
    result = run_module(mindie_precheck.main, node)
    check = [c for c in result['checks'] if c['name'] == 'ports_distinct'][0]
    assert check['status'] == status and text in check['reason'], check
    if status == 'fail':
        assert 'single-port mode' in check['hint'] and 'ports_distinct' in result['failed_checks']


def fake_docker(monkeypatch, labels, generic_inspect=False):
    """An engine that knows one container `mindie` (id c0ffee...) with ``labels`` (None: no such container)."""
    containers = [] if labels is None else [fake_docker_sdk.running('mindie', labels=labels)]
    images = {'mindie': {'Id': 'sha256:c0ffee0123456789'}} if generic_inspect else {}   # an image called mindie
    return fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(containers=containers, images=images))


@pytest.fixture
def held_port(monkeypatch):
    """A port this process listens on, and pid_in_container saying this process runs in container c0ffee..."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    monkeypatch.setattr(mindie_precheck, 'pid_in_container',
                        lambda pid, cid, proc='/proc': pid == os.getpid() and cid == 'c0ffee0123456789')
    yield listener.getsockname()[1]
    listener.close()


def test_labelled_container_is_ours(run_module, node, monkeypatch, held_port):
    sdk = fake_docker(monkeypatch, {'ascend.mindie.managed': 'true', 'other': 'x'})
    node.update(own_container='mindie', ports=[held_port], fix_permissions=False)
    result = run_module(mindie_precheck.main, node)
    got = statuses(result)
    assert got['own_container'] == 'pass' and got['ports_free'] == 'pass'
    assert ('containers.list', True) in sdk.calls       # docker ps -a: every container, never an image


@pytest.mark.parametrize('labels', [{}, {'ascend.mindie.managed': 'false'}, {'ascend.mindie.managed': 'True'}])
def test_same_named_container_without_the_label_is_foreign(run_module, node, monkeypatch, held_port, labels):
    fake_docker(monkeypatch, labels)
    node.update(own_container='mindie', ports=[held_port], fix_permissions=False)
    result = run_module(mindie_precheck.main, node)
    got = statuses(result)
    assert got['own_container'] == 'fail' and got['ports_free'] == 'fail'
    reason = [c for c in result['checks'] if c['name'] == 'own_container'][0]['reason']
    assert 'has no label ascend.mindie.managed=true' in reason and 'count as foreign' in reason


def test_an_image_named_like_our_container_is_not_our_container(run_module, node, monkeypatch, held_port):
    fake_docker(monkeypatch, None, generic_inspect=True)
    node.update(own_container='mindie', ports=[held_port], fix_permissions=False)
    result = run_module(mindie_precheck.main, node)
    got = statuses(result)
    assert got['own_container'] == 'pass' and got['ports_free'] == 'fail'


# ---------------------------------------------------------------------- Docker through the one client


def docker_checks(result):
    return dict((c['name'], c) for c in result['checks'] if c['name'].startswith('docker_'))


def test_missing_sdk_fails_the_sdk_and_the_engine_checks(run_module, node, monkeypatch):
    fake_docker_sdk.install(monkeypatch, None)
    result = run_module(mindie_precheck.main, dict(node, own_container='mindie'))
    got = docker_checks(result)
    assert sorted(got) == ['docker_daemon', 'docker_sdk']
    assert got['docker_sdk']['status'] == 'fail' and 'No module named docker' in got['docker_sdk']['reason']
    assert got['docker_daemon']['status'] == 'fail'
    assert got['docker_daemon']['reason'] == 'the Docker engine was not asked: the Docker SDK for Python is not importable'
    assert statuses(result)['own_container'] == 'pass'      # no engine to ask: no container of that name known


def test_engine_down_and_old_engine(run_module, node, monkeypatch, tmp_path):
    sock = tmp_path / 'docker.sock'
    sock.write_text('')
    monkeypatch.setenv('DOCKER_HOST', 'unix://%s' % sock)
    fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(down='Error while fetching server API version: refused'))
    got = docker_checks(run_module(mindie_precheck.main, node))
    assert got['docker_daemon']['status'] == 'fail' and got['docker_sdk']['status'] == 'pass'
    assert got['docker_daemon']['reason'] == ('the Docker daemon does not answer: Cannot talk to the Docker engine: '
                                              'Error while fetching server API version: refused')
    fake_docker_sdk.install(monkeypatch, fake_docker_sdk.FakeSDK(engine_version='17.12.1-ce'))
    got = docker_checks(run_module(mindie_precheck.main, node))
    assert got['docker_daemon']['status'] == 'fail' and 'Docker 17.12.1-ce is older than 18.03' in got['docker_daemon']['reason']


def test_docker_bin_is_accepted_but_deprecated(run_module, node, tmp_path, capsys):
    from ansible.module_utils.common import warnings
    result = run_module(mindie_precheck.main, dict(node, docker_bin=str(tmp_path / 'no-docker')))
    assert docker_checks(result)['docker_daemon']['status'] == 'pass'      # the CLI is never used
    # Where the deprecation goes depends on whether Ansible's controller code is loaded (other tests load it):
    # into the result, the module-side registry, or straight to the display on stderr.
    said = [str(d.get('msg', d)) for d in result.get('deprecations', [])]
    said += [str(d.get('msg', d)) for d in warnings.get_deprecation_messages()]
    said.append(capsys.readouterr().err)
    assert any("'docker_bin' is deprecated" in text for text in said)


def test_min_memory_defaults_to_the_profile_table(run_module, node, monkeypatch):
    """Without min_memory_gb the minimums are the profile table's (64 GB on a 32G node); given, they replace it."""
    from ansible_collections.ascend.mindie.plugins.module_utils import profiles
    monkeypatch.setattr(mindie_precheck, 'memory_mb', lambda: 48 * 1024)
    args = dict(node)
    del args['min_memory_gb']
    memory = [c for c in run_module(mindie_precheck.main, args)['checks'] if c['name'] == 'host_memory'][0]
    assert memory['status'] == 'fail' and 'atlas-800i-a2-32g needs 64 GB' in memory['reason']
    monkeypatch.setitem(profiles.PROFILES, 'atlas-800i-a2-32g', dict(profiles.PROFILES['atlas-800i-a2-32g'], min_memory_gb=32))
    memory = [c for c in run_module(mindie_precheck.main, args)['checks'] if c['name'] == 'host_memory'][0]
    assert memory['status'] == 'pass' and '>= 32 GB' in memory['reason']
    args['min_memory_gb'] = {'atlas-800i-a2-64g': 128}
    memory = [c for c in run_module(mindie_precheck.main, args)['checks'] if c['name'] == 'host_memory'][0]
    assert memory['status'] == 'pass' and 'no minimum' in memory['reason']
