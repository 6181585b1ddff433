# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The precheck evaluator on facts parsed from the real captures and version files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import precheck as pc
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import parse_key_value
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import parse_npu_smi_info
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import PROFILE_32G, PROFILE_64G
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify as classify_profile

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


def npu_from(capture):
    parsed = parse_npu_smi_info(fixture('npu-smi', capture))
    for chip in parsed['chips']:
        chip['logical_id'] = chip['npu_id']
    parsed['count'] = len(parsed['chips'])
    parsed['profile'] = classify_profile(parsed['chips'])
    return parsed


IDLE_32G = 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'
BUSY_64G = '910b3x8_64g_busy_25.3.rc1.txt'


def by_name(results):
    return dict((r['name'], r) for r in results)


def test_idle_32g_node_passes_every_npu_check():
    npu = npu_from(IDLE_32G)
    results = by_name(pc.check_npu(npu, None, list(range(8)), npu['profile']))
    assert npu['profile'] == PROFILE_32G
    assert [r['status'] for r in results.values()] == ['pass'] * len(results)
    assert set(results) == set(['npu_smi', 'npu_health', 'npu_count', 'npu_processes'])


def test_unhealthy_planned_chip_is_named_with_its_health():
    npu = npu_from(IDLE_32G)
    npu['chips'][3]['health'] = 'Alarm'
    results = by_name(pc.check_npu(npu, None, list(range(8)), npu['profile']))
    assert results['npu_health']['status'] == 'fail'
    assert 'NPU 3 is Alarm' in results['npu_health']['reason']
    # a chip outside the plan does not matter
    results = by_name(pc.check_npu(npu, None, [4, 5, 6, 7], PROFILE_64G))
    assert results['npu_health']['status'] == 'pass'


@pytest.mark.parametrize('profile,count,status', [
    (PROFILE_32G, 8, 'pass'), (PROFILE_32G, 4, 'fail'),
    (PROFILE_64G, 4, 'pass'), (PROFILE_64G, 8, 'pass'), (PROFILE_64G, 2, 'fail'),
])
def test_npu_count_fits_profile(profile, count, status):
    npu = npu_from(IDLE_32G)
    results = by_name(pc.check_npu(npu, None, list(range(count)), profile))
    assert results['npu_count']['status'] == status


def test_unknown_hardware_fails_with_what_was_found():
    npu = npu_from(IDLE_32G)
    npu['chips'] = npu['chips'][:4]
    results = by_name(pc.check_npu(npu, None, [0, 1, 2, 3], None))
    assert results['npu_profile']['status'] == 'fail'
    assert '4 chips named 910B4 with 32768 MB' in results['npu_profile']['reason']


def test_planned_chip_not_visible():
    npu = npu_from(IDLE_32G)
    npu['chips'] = [c for c in npu['chips'] if c['npu_id'] >= 4]
    results = by_name(pc.check_npu(npu, None, list(range(8)), PROFILE_32G))
    assert results['npu_devices']['status'] == 'fail'
    assert 'planned NPUs 0, 1, 2, 3 are not visible' in results['npu_devices']['reason']


def test_foreign_processes_warn_or_fail_and_own_pids_are_ignored():
    npu = npu_from(BUSY_64G)
    assert len(npu['processes']) == 8
    fail = by_name(pc.check_npu(npu, None, list(range(8)), PROFILE_64G))['npu_processes']
    assert fail['status'] == 'fail' and 'pid 71867 on NPU 0 (55278 MB)' in fail['reason']
    warn = by_name(pc.check_npu(npu, None, list(range(8)), PROFILE_64G, 'warn'))['npu_processes']
    assert warn['status'] == 'warn'
    own = [p['pid'] for p in npu['processes']]
    mine = by_name(pc.check_npu(npu, None, list(range(8)), PROFILE_64G, 'fail', own))['npu_processes']
    assert mine['status'] == 'pass'
    # processes on chips outside the plan are not in the way
    outside = by_name(pc.check_npu(npu, None, [0, 1, 2, 3], PROFILE_64G, 'fail', own[:4]))['npu_processes']
    assert outside['status'] == 'pass'


def test_npu_smi_failure_gives_the_likely_cause():
    results = pc.check_npu(None, "'npu-smi info' failed (rc=1): dcmi module initialize failed. ret is -8005", [0], None)
    assert [r['status'] for r in results] == ['fail']
    assert '-8005' in results[0]['reason'] and 'without a reboot' in results[0]['hint']


def test_versions_from_the_real_files_pass_and_compat_range_is_enforced():
    driver = parse_key_value(fixture('versions', 'driver_version.info_25.0.rc1.1'))
    firmware = parse_key_value(fixture('versions', 'firmware_version.info_7.7.0.1.231'))
    results = by_name(pc.check_versions(driver, firmware, '24.1.rc1', '7.1.0'))
    assert [r['status'] for r in results.values()] == ['pass'] * 3
    newer_fw = dict(firmware, version='7.8.0.2.212')
    results = by_name(pc.check_versions(driver, newer_fw, '24.1.rc1', '7.1.0'))
    assert results['firmware_compatible']['status'] == 'fail'
    assert '[7.0.0,7.7.99]' in results['firmware_compatible']['reason']
    results = by_name(pc.check_versions(driver, firmware, '25.0.0', '7.1.0'))
    assert results['driver_version']['status'] == 'fail'
    assert 'older than the minimum 25.0.0' in results['driver_version']['reason']
    results = by_name(pc.check_versions(None, firmware, '24.1.rc1', '7.1.0'))
    assert results['driver_version']['status'] == 'fail' and 'firmware_compatible' not in results


def test_docker_checks():
    ok = by_name(pc.check_docker({'client': '20.10.24', 'server': '20.10.24+dfsg1'}, '18.03', '5.0.3', None))
    assert ok['docker_daemon']['status'] == 'pass' and ok['docker_sdk']['status'] == 'pass'
    old = by_name(pc.check_docker({'client': '17.12', 'server': '17.12.1-ce'}, '18.03', '5.0.3', None))
    assert old['docker_daemon']['status'] == 'fail'
    down = by_name(pc.check_docker({'client': '24.0.7', 'server': None, 'error': 'Cannot connect to the Docker daemon'},
                                   '18.03', None, 'No module named docker'))
    assert down['docker_daemon']['status'] == 'fail' and 'Cannot connect' in down['docker_daemon']['reason']
    assert down['docker_sdk']['status'] == 'fail' and 'mindie_precheck_install_docker_sdk' in down['docker_sdk']['hint']
    missing = by_name(pc.check_docker({'error': 'docker not found in PATH'}, '18.03', None, 'x'))
    assert missing['docker_installed']['status'] == 'fail'


def test_memory_disk_os_arch_ports():
    limits = {PROFILE_32G: 64, PROFILE_64G: 128}
    assert pc.check_memory(63 * 1024, PROFILE_32G, limits)[0]['status'] == 'pass'  # "64 GB" as the OS sees it
    assert pc.check_memory(96 * 1024, PROFILE_64G, limits)[0]['status'] == 'fail'
    disk = by_name(pc.check_disk({'/var/lib/docker': 60 * 1024 ** 3}, 50))
    assert disk['disk_free']['status'] == 'pass'
    low = pc.check_disk({'/data': 10 * 1024 ** 3, '/var/lib/docker': 60 * 1024 ** 3}, 50)
    assert [r['status'] for r in low] == ['fail', 'pass'] and '/data' in low[0]['reason']
    assert pc.check_os('openEuler', '24.03', {'distribution': 'openEuler', 'version': '24.03'})[0]['status'] == 'pass'
    assert pc.check_os('Debian', '12', {'distribution': 'openEuler', 'version': '24.03'})[0]['status'] == 'warn'
    assert pc.check_arch('aarch64', 'arm64')[0]['status'] == 'pass'
    assert pc.check_arch('x86_64', 'amd64')[0]['status'] == 'pass'
    assert pc.check_arch('x86_64', 'aarch64')[0]['status'] == 'fail'
    busy = pc.check_ports({1040: 'x', 22: 'y'}, [1040, 1041, 1042], 7896)
    assert busy[0]['status'] == 'fail' and busy[0]['reason'] == 'ports already listening: 1040'
    assert pc.check_ports({1040: 'x'}, [1040, 1041, 1042], 7896, own_ports=[1040])[0]['status'] == 'pass'
    assert pc.check_ports({7896: 'x'}, [1040], 7896)[0]['status'] == 'fail'


def test_worst():
    results = [pc.result('a', 'host', 'pass', ''), pc.result('b', 'host', 'warn', '')]
    assert pc.worst(results) == 'warn'
    assert pc.worst(results + [pc.result('c', 'host', 'fail', '')]) == 'fail'
    assert pc.worst([]) == 'pass'


# ---------------------------------------------------------------------- typed inputs and planned ports

def test_memory_and_disk_thresholds_given_as_strings():
    """'64' * 1024 once raised "can't multiply sequence by non-int of type 'float'"."""
    assert pc.check_memory(128 * 1024, 'atlas-800i-a2-32g', {'atlas-800i-a2-32g': '64'})[0]['status'] == 'pass'
    assert pc.check_memory(32 * 1024, 'atlas-800i-a2-32g', {'atlas-800i-a2-32g': '64'})[0]['status'] == 'fail'
    assert pc.check_disk({'/d': 10 * 1024 ** 3}, '50')[0]['status'] == 'fail'
    with pytest.raises(pc.PrecheckInputError) as info:
        pc.check_memory(1, 'atlas-800i-a2-32g', {'atlas-800i-a2-32g': 'sixty-four'})
    assert 'min_memory_gb.atlas-800i-a2-32g must be a number' in str(info.value)


def test_validate_inputs_lists_every_problem():
    with pytest.raises(pc.PrecheckInputError) as info:
        pc.validate_inputs({'atlas-800i-a2-32g': 'x', 'atlas-800i-a2-64gb': 128}, 'nan', {'os': 'x'},
                           [1040, True, 99999], 'abc')
    problems = info.value.problems
    assert len(problems) == 7, problems
    assert any(p.startswith('master_port must be a number') for p in problems)
    assert any(p.startswith('min_memory_gb.atlas-800i-a2-32g must be a number') for p in problems)
    assert any('did you mean atlas-800i-a2-64g' in p for p in problems)
    assert any(p.startswith('min_disk_free_gb must be a number') for p in problems)
    assert any("recommended_os has an unknown key 'os'" in p for p in problems)
    assert any(p.startswith('ports[1] (management) must be a number') for p in problems)
    assert any(p.startswith('ports[2] (metrics) must be a TCP port') for p in problems)
    typed = pc.validate_inputs({'atlas-800i-a2-64g': '128'}, 50, {'version': 24.03}, ['1040'], '7896')
    assert typed == {'min_memory_gb': {'atlas-800i-a2-64g': 128}, 'min_disk_free_gb': 50,
                     'recommended_os': {'version': '24.03'}, 'ports': [1040], 'master_port': 7896}


def test_planned_ports():
    assert pc.check_planned_ports([1040, 1041, 1042], 7896)[0]['status'] == 'pass'
    single = pc.check_planned_ports([1040, 1040, 1040], 7896)[0]
    assert single['status'] == 'pass' and 'single-port mode' in single['reason']
    # MindIE's shared listeners (http_server.cpp): management = metrics, business = management
    shared = pc.check_planned_ports([1040, 1042, 1042], 7896)[0]
    assert shared['status'] == 'pass' and 'management port and metrics port on 1042' in shared['reason']
    assert pc.check_planned_ports([1040, 1040, 1042], 7896)[0]['status'] == 'pass'
    # business = metrics with another management port: refused by MindIE on one address
    odd = pc.check_planned_ports([1040, 1041, 1040], 7896)[0]
    assert odd['status'] == 'warn' and 'business and metrics port are both 1040' in odd['reason']
    master = pc.check_planned_ports([1040, 1041, 1042], 1042)[0]
    assert master['status'] == 'fail' and 'MASTER_PORT 1042 is also the metrics port' in master['reason']
    assert pc.check_planned_ports([], None)[0]['status'] == 'pass'


def test_own_container_needs_the_label():
    assert pc.check_own_container('mindie', None)[0]['status'] == 'pass'
    ours = {'id': 'abc', 'labels': {'ascend.mindie.managed': 'true'}}
    assert pc.check_own_container('mindie', ours)[0]['status'] == 'pass'
    for labels in (None, {}, {'ascend.mindie.managed': 'yes'}):
        foreign = pc.check_own_container('mindie', {'id': 'abc', 'labels': labels})[0]
        assert foreign['status'] == 'fail' and 'not created by this collection' in foreign['reason']
        assert 'docker rm -f mindie' in foreign['hint']
    assert pc.check_own_container(None, None) == []


def test_npu_smi_timeout_gets_the_hung_driver_hint():
    out = pc.check_npu(None, "'npu-smi info' did not finish within 30 s and was killed (it printed nothing). "
                             "Likely cause: ...", [0], 'atlas-800i-a2-32g')
    assert out[0]['status'] == 'fail' and 'dmesg' in out[0]['hint'] and 'reload the driver' in out[0]['hint']


def test_docker_engine_not_asked_without_the_sdk():
    got = by_name(pc.check_docker({'unasked': 'the Docker SDK for Python is not importable'}, '18.03', None, 'x'))
    assert sorted(got) == ['docker_daemon', 'docker_sdk']
    assert got['docker_daemon']['status'] == 'fail' and 'was not asked' in got['docker_daemon']['reason']
    assert 'docker_sdk' in got['docker_daemon']['hint']
