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
    assert fail['status'] == 'fail' and 'NPU 0: pid 71867 (55278 MB), not a container of ours' in fail['reason']
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
    assert pc.check_own_container([('mindie', None)])[0]['status'] == 'pass'
    ours = {'id': 'abc', 'labels': {'ascend.mindie.managed': 'true'}}
    assert pc.check_own_container([('mindie', ours)])[0]['status'] == 'pass'
    for labels in (None, {}, {'ascend.mindie.managed': 'yes'}):
        foreign = pc.check_own_container([('mindie', {'id': 'abc', 'labels': labels})])[0]
        assert foreign['status'] == 'fail' and 'not created by this collection' in foreign['reason']
        assert 'docker rm -f mindie' in foreign['hint']
    assert pc.check_own_container([(None, None)]) == []


def test_own_containers_of_several_instances_are_one_check_naming_the_foreign_one():
    ours = {'id': 'abc', 'labels': {'ascend.mindie.managed': 'true'}}
    both = pc.check_own_container([('mindie-0', ours), ('mindie-1', None)])
    assert len(both) == 1 and both[0]['status'] == 'pass'
    assert 'mindie-0 were created by ascend.mindie' in both[0]['reason'] and 'no container named mindie-1' in both[0]['reason']
    foreign = pc.check_own_container([('mindie-0', ours), ('mindie-1', {'id': 'f00d', 'labels': {}})])[0]
    assert foreign['status'] == 'fail' and 'mindie-1 (f00d)' in foreign['reason'] and 'mindie-0' not in foreign['reason']
    assert foreign['hint'].count('docker rm -f mindie-1') == 1


def test_npu_smi_timeout_gets_the_hung_driver_hint():
    out = pc.check_npu(None, "'npu-smi info' did not finish within 30 s and was killed (it printed nothing). "
                             "Likely cause: ...", [0], 'atlas-800i-a2-32g')
    assert out[0]['status'] == 'fail' and 'dmesg' in out[0]['hint'] and 'reload the driver' in out[0]['hint']


def test_docker_engine_not_asked_without_the_sdk():
    got = by_name(pc.check_docker({'unasked': 'the Docker SDK for Python is not importable'}, '18.03', None, 'x'))
    assert sorted(got) == ['docker_daemon', 'docker_sdk']
    assert got['docker_daemon']['status'] == 'fail' and 'was not asked' in got['docker_daemon']['reason']
    assert 'docker_sdk' in got['docker_daemon']['hint']


# ---------------------------------------------------------------------- instances (issue 13)

def plan_instances(layout, base=1040, stride=10, hccl=60000, count=32, name='mindie'):
    """Hand-built mindie_plan.instances of an NxM layout (the shape of contracts §2)."""
    n, m = [int(x) for x in layout.split('x')]
    out = []
    for i in range(n):
        out.append({'name': name if n == 1 else '%s-%d' % (name, i), 'index': i, 'devices': list(range(i * m, (i + 1) * m)),
                    'ports': {'business': base + i * stride, 'management': base + 1 + i * stride,
                              'metrics': base + 2 + i * stride, 'inter_comm': 1121 + i * stride,
                              'multi_nodes_infer': 1120 + i * stride},
                    'master_port': 7896 + i, 'hccl': {'base_port': hccl + i * count, 'first': hccl + i * count,
                                                      'last': hccl + i * count + count - 1},
                    'urls': {'business': 'http://127.0.0.1:%d' % (base + i * stride)}})
    for inst in out:
        inst['container'] = inst['name']
    return pc.validate_instances(out)


def test_every_holder_but_the_planned_instances_own_is_refused_and_named():
    npu = npu_from(BUSY_64G)              # one process on each of the 8 chips
    pids = dict((p['npu_id'], p['pid']) for p in npu['processes'])
    instances = plan_instances('2x4')
    ours = dict((pids[c], {'container': 'mindie-0' if c < 4 else 'mindie-1', 'managed': True, 'process': 'mindie'})
                for c in range(8))
    check = by_name(pc.check_npu(npu, None, None, PROFILE_64G, instances=instances, holders=ours))['npu_processes']
    assert check['status'] == 'pass', check['reason']
    # chip 4 is planned for mindie-1, but mindie-0 (ours, planned on 0-3) holds it
    holders = dict(ours)
    holders.update({pids[4]: {'container': 'mindie-0', 'managed': True, 'process': 'mindieservice_d'},
                    pids[5]: {'container': 'mindie', 'managed': True, 'process': None},
                    pids[6]: {'container': 'jupyter', 'managed': False, 'process': 'python3'},
                    pids[7]: {'container': None, 'managed': False, 'process': 'run_pa'}})
    check = by_name(pc.check_npu(npu, None, None, PROFILE_64G, instances=instances, holders=holders))['npu_processes']
    assert check['status'] == 'fail'
    reason = check['reason']
    assert ('NPU 4 (planned for mindie-1): pid %d (mindieservice_d, ' % pids[4]) in reason
    assert 'in container mindie-0, instance mindie-0 of ours, planned on NPUs 0, 1, 2, 3' in reason
    assert 'in container mindie, a container of ours that the plan does not have (a stale instance)' in reason
    assert 'in container jupyter, a container not created by ascend.mindie' in reason
    assert '(run_pa, ' in reason and 'NPU 7 (planned for mindie-1)' in reason
    assert 'NPU 0' not in reason and 'NPU 3' not in reason
    # the same container name without our label is foreign, even when it is the planned one
    unlabelled = dict(ours)
    unlabelled[pids[0]] = {'container': 'mindie-0', 'managed': False, 'process': 'x'}
    check = by_name(pc.check_npu(npu, None, None, PROFILE_64G, 'warn', instances=instances, holders=unlabelled))
    assert check['npu_processes']['status'] == 'warn' and 'NPU 0 (planned for mindie-1)' not in check['npu_processes']['reason']
    assert 'NPU 0 (planned for mindie-0)' in check['npu_processes']['reason']


def test_a_holder_on_a_chip_no_instance_plans_is_not_in_the_way():
    npu = npu_from(BUSY_64G)
    instances = plan_instances('1x4')
    check = by_name(pc.check_npu(npu, None, None, PROFILE_64G, instances=instances, holders={}))['npu_processes']
    assert check['status'] == 'fail' and 'NPU 3:' in check['reason'] and 'NPU 4' not in check['reason']


@pytest.mark.parametrize('profile,layout,beyond,status', [
    (PROFILE_64G, '2x4', False, 'pass'), (PROFILE_64G, '1x8', False, 'pass'), (PROFILE_64G, '1x4', False, 'pass'),
    (PROFILE_64G, '4x2', False, 'fail'), (PROFILE_64G, '4x2', True, 'warn'), (PROFILE_64G, '8x1', True, 'warn'),
    (PROFILE_32G, '1x8', False, 'pass'), (PROFILE_32G, '2x4', False, 'fail'), (PROFILE_32G, '2x4', True, 'warn'),
])
def test_npu_count_is_counted_per_instance(profile, layout, beyond, status):
    npu = npu_from(IDLE_32G)
    check = by_name(pc.check_npu(npu, None, None, profile, instances=plan_instances(layout), beyond_guide=beyond))['npu_count']
    assert check['status'] == status, check['reason']
    if layout.startswith('1x'):
        assert check['reason'] == '%s with %s planned NPUs' % (profile, layout[2:])
    elif status == 'pass':
        assert 'mindie-0 4 NPUs, mindie-1 4 NPUs' in check['reason']
    else:
        assert 'mindie-0 plans %s NPUs' % layout[2:] in check['reason']


def test_an_odd_split_names_the_instance_that_does_not_fit():
    npu = npu_from(IDLE_32G)
    instances = pc.validate_instances([{'name': 'a', 'devices': [0, 1, 2, 3]}, {'name': 'b', 'devices': [4, 5, 6]}])
    check = by_name(pc.check_npu(npu, None, None, PROFILE_64G, instances=instances, beyond_guide=True))['npu_count']
    assert check['status'] == 'fail' and check['reason'].startswith('instance b plans 3 NPUs;')   # 3: MindIE cannot


def test_validate_instances_types_and_names_every_problem():
    typed = pc.validate_instances([{'name': 'mindie', 'devices': [0], 'ports': {'business': '1040'}, 'master_port': '7896',
                                    'hccl': {'first': 60000, 'last': 60031}, 'urls': {}}])
    assert typed == [{'name': 'mindie', 'container': 'mindie', 'devices': [0], 'ports': {'business': 1040},
                      'master_port': 7896, 'hccl': {'first': 60000, 'last': 60031}}]
    with pytest.raises(pc.PrecheckInputError) as info:
        pc.validate_instances([{'name': 'a', 'devices': [0, -1], 'ports': {'bussiness': 1, 'metrics': 70000},
                                'hccl': {'first': 60031, 'last': 60000}},
                               'x', {'devices': [1]}, {'name': 'a', 'devices': [True]}])
    text = str(info.value)
    for part in ('instances[0] (a).devices must be a non-empty list of NPU ids', "unknown port 'bussiness' (did you mean business?)",
                 'instances[0] (a).ports.metrics must be a TCP port in [1, 65535], got 70000', 'first above last',
                 "instances[1] must be a dict", 'instances[2].name must be a non-empty string',
                 'instances[3] (a).devices', 'instances name a more than once'):
        assert part in text, part
    with pytest.raises(pc.PrecheckInputError):
        pc.validate_instances({'name': 'a'})


def test_every_port_of_every_instance_is_checked_and_named():
    instances = plan_instances('2x4')
    names = pc.instance_ports(instances)
    assert names[1050] == 'mindie-1 business' and names[1131] == 'mindie-1 inter_comm' and names[7897] == 'mindie-1 MASTER_PORT'
    assert names[60032] == names[60063] == 'mindie-1 HCCL 60032-60063' and 60064 not in names
    assert len(names) == 2 * (5 + 1 + 32)
    listening = {1050: 'a', 60040: 'b', 1130: 'c', 22: 'd', 1040: 'e'}
    check = pc.check_ports(listening, sorted(names), None, own_ports=[1040], names=names)[0]
    assert check['status'] == 'fail'
    assert check['reason'] == ('ports already listening: 1050 (mindie-1 business), 1130 (mindie-1 multi_nodes_infer), '
                               '60040 (mindie-1 HCCL 60032-60063)')
    free = pc.check_ports({22: 'd'}, sorted(names), None, names=names)[0]
    assert free['status'] == 'pass' and free['reason'] == ('76 planned ports free: 1040-1042, 1050-1052, 1120-1121, '
                                                           '1130-1131, 7896-7897, 60000-60063')
    single = pc.instance_ports(plan_instances('1x8'))
    assert single[1040] == 'business' and single[60000] == 'HCCL 60000-60031'


def test_ports_of_instances_must_not_collide():
    assert pc.check_instance_ports(plan_instances('2x4'))[0]['status'] == 'pass'
    assert pc.check_instance_ports(plan_instances('1x8')) == pc.check_planned_ports([1040, 1041, 1042], 7896)
    close = plan_instances('2x4', stride=1)            # mindie-1's business port is mindie-0's management port
    check = pc.check_instance_ports(close)[0]
    assert check['status'] == 'fail' and '1041 is mindie-0 management and mindie-1 business' in check['reason']
    overlap = plan_instances('2x4', count=16)
    overlap[1]['hccl'] = {'first': 60010, 'last': 60041}
    check = pc.check_instance_ports(overlap)[0]
    assert check['status'] == 'fail' and '60010 is mindie-0 HCCL 60000-60015 and mindie-1 HCCL 60010-60041' in check['reason']
    inner = plan_instances('2x4')
    inner[1]['master_port'] = inner[1]['ports']['metrics']
    check = pc.check_instance_ports(inner)[0]
    assert check['status'] == 'fail' and check['reason'].startswith('mindie-1: planned ports collide: MASTER_PORT 1052')
