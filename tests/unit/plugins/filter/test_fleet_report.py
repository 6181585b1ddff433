# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie fleet report filters: fleet_rows, fleet_summary, fleet_table.

tests/fixtures/fleet_report/old_jinja.json holds the rows, summary and table the Jinja of
roles/fleet_report/tasks/main.yml rendered (once, with ansible-core, real hostvars) before the
logic moved to plugins/filter/fleet_report.py: twelve nodes, every status and the unreachable
node among them. The filters must give the same.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os

import pytest
from jinja2 import Environment
from jinja2.filters import do_truncate

from ansible.errors import AnsibleFilterError

from ansible_collections.ascend.mindie.plugins.filter.fleet_report import (
    FilterModule, UNREACHABLE, fleet_merge, fleet_rows, fleet_summary, fleet_table, instance_status, node_status, truncate)

FIXTURE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'fleet_report', 'old_jinja.json')


@pytest.fixture(scope='module')
def old():
    with open(FIXTURE) as handle:
        return json.load(handle)


def _row(old, node):
    return [r for r in old['rows'] if r['node'] == node][0]


def _without_instances(rows):
    """The rows as the old Jinja built them: without ``instances`` (issue 13 added it) and ``smoke_verified_before``
    (issue 16); both tested below."""
    return [dict((k, v) for k, v in row.items() if k not in ('instances', 'smoke_verified_before')) for row in rows]


def test_the_rows_say_when_only_the_re_checks_ran(old):
    hostvars = json.loads(json.dumps(old['hostvars']))
    served = [h for h in old['hosts'] if (hostvars[h].get('mindie_verify_result') or {}).get('results')]
    assert served
    hostvars[served[0]]['mindie_verify_result']['verified'] = {'before': True, 'recorded': False,
                                                               'tests': ['health', 'ready']}
    rows = dict((r['node'], r) for r in fleet_rows(old['hosts'], hostvars, old['play_hosts']))
    assert rows[served[0]]['smoke_verified_before'] is True
    assert rows[served[0]]['instances'][0]['smoke_verified_before'] is True
    assert all(rows[h]['smoke_verified_before'] is None for h in served[1:])


def test_rows_are_what_the_old_jinja_built(old):
    rows = _without_instances(fleet_rows(old['hosts'], old['hostvars'], old['play_hosts']))
    assert [r['node'] for r in rows] == sorted(old['hosts'])
    for got, want in zip(rows, old['rows']):
        assert got == want, want['node']
    assert rows == old['rows']


def test_a_node_of_one_instance_has_one_instance_row_with_the_nodes_status(old):
    rows = fleet_rows(old['hosts'], old['hostvars'], old['play_hosts'])
    for row in rows:
        if row['npus']['devices'] is None:            # no plan: nothing planned
            assert row['instances'] == [], row['node']
            continue
        (instance,) = row['instances']
        assert instance['status'] == row['status'], row['node']
        assert instance['devices'] == row['npus']['devices'] and instance['smoke'] == row['smoke']
        assert instance['endpoint']['business'] == row['endpoint']['business']
        assert instance['startup_seconds'] == row['service']['startup_seconds']


def test_every_status_is_in_the_fixture(old):
    statuses = dict((r['node'], r['status']) for r in old['rows'])
    assert statuses == {
        'n01-serving': 'serving', 'n02-busy-verify': 'busy', 'n03-ready': 'ready', 'n04-busy-service': 'busy',
        'n05-incomplete': 'incomplete', 'n06-failed': 'failed', 'n07-unpredictable': 'unpredictable',
        'n08-unreachable': 'failed', 'n09-unhealthy-noplan': 'ready', 'n10-bare': 'failed',
        'n11-stopped-by-gate': 'failed', 'n12-64g-subset': 'serving'}


def test_summary_is_what_the_old_jinja_counted(old):
    summary = fleet_summary(old['rows'])
    new_keys = ('instances_planned', 'instances_serving', 'instances_crash_looping')
    assert dict((k, v) for k, v in summary.items() if k not in new_keys) == old['summary']
    assert summary == {'nodes': 12, 'serving': 2, 'busy': 2, 'up': 4, 'ready': 2, 'failed': 4, 'unpredictable': 1,
                       'incomplete': 1, 'instances_planned': 0, 'instances_serving': 0, 'instances_crash_looping': 0}
    assert fleet_summary([]) == {'nodes': 0, 'serving': 0, 'busy': 0, 'up': 0, 'ready': 0, 'failed': 0,
                                 'unpredictable': 0, 'incomplete': 0, 'instances_planned': 0, 'instances_serving': 0,
                                 'instances_crash_looping': 0}
    rows = fleet_rows(old['hosts'], old['hostvars'], old['play_hosts'])
    planned = fleet_summary(rows)
    assert (planned['instances_planned'], planned['instances_serving']) == (9, 4)      # three nodes have no plan


def test_table_is_what_the_old_task_printed(old):
    table = fleet_table(old['rows'], old['report'])
    assert table == old['table']
    assert table[-1] == '4 of 12 nodes serving (2 busy); report in /tmp/REPORTS/fleet-summary.{json,md}'
    assert fleet_table(old['rows'], old['report'], True)[-1] == old['check_mode_last_line']


def test_table_keeps_a_node_on_one_line(old):
    # The old console table meant to join a reason of several lines and did not (see the fixture's _comment).
    table = fleet_table(old['rows'], old['report'])
    assert len(table) == len(old['rows']) + 2
    line = [t for t in table if t.startswith('n06-failed')][0]
    assert 'health -i 3) [disk] /var/lib/docker' in line and line.endswith('free,...')


def test_no_busy_no_busy_count(old):
    rows = [_row(old, 'n01-serving'), _row(old, 'n06-failed')]
    assert fleet_table(rows, 'r/x')[-1] == '1 of 2 nodes serving; report in r/x.{json,md}'


# Each status from the smallest hostvars that give it, in the order the rules apply.
SERVING = {'mindie_verify_result': {'passed': True, 'service_state': 'ready'}}
BUSY_VERIFY = {'mindie_verify_result': {'passed': True, 'service_state': 'busy'}}
READY = {'mindie_service_result': {'ready': True, 'busy': False}, 'mindie_verify_result': {'passed': False}}
BUSY_SERVICE = {'mindie_service_result': {'ready': False, 'busy': True}}
FAILED = dict(SERVING, mindie_deploy_failure={'phase': 'verify', 'task': 't', 'reason': 'r', 'predictable': True})
UNPREDICTABLE = dict(SERVING, mindie_deploy_failure={'phase': 'image', 'task': 't', 'reason': 'r', 'predictable': False})


@pytest.mark.parametrize('hostvars,in_play,status', [
    (SERVING, True, 'serving'),
    (BUSY_VERIFY, True, 'busy'),
    (dict(SERVING, mindie_service_result={'ready': False, 'busy': True}), True, 'serving'),
    (READY, True, 'ready'),
    (BUSY_SERVICE, True, 'busy'),
    ({}, True, 'incomplete'),
    (FAILED, True, 'failed'),
    (dict(FAILED, mindie_deploy_failure={'phase': 'x', 'reason': 'no predictable key'}), True, 'failed'),
    (UNPREDICTABLE, True, 'unpredictable'),
    (UNPREDICTABLE, False, 'unpredictable'),
    (SERVING, False, 'failed'),
])
def test_status(hostvars, in_play, status):
    rows = fleet_rows(['n1'], {'n1': hostvars}, ['n1'] if in_play else [])
    assert rows[0]['status'] == status


def test_a_node_gone_without_a_reason_is_failed_in_its_phase():
    row = fleet_rows(['n1'], {'n1': {'mindie_deploy_phase': 'image'}}, [])[0]
    assert row['failure'] == {'phase': 'image', 'task': None, 'predictable': True, 'reason': UNREACHABLE}
    assert fleet_rows(['n1'], {'n1': {'mindie_deploy_phase': 'image'}}, ['n1'])[0]['failure'] is None


def test_status_rules_directly():
    assert node_status({'predictable': False}, {'passed': True}, {'ready': True}) == 'unpredictable'
    assert node_status({}, {}, {}) == 'failed'
    assert node_status(None, {'passed': True, 'service_state': 'busy'}, {}) == 'busy'
    assert node_status(None, {}, {}) == 'incomplete'


def test_only_the_role_results_are_read():
    """The old names (and other roles' registers) are not read: a node with only those is incomplete."""
    old_names = {'mindie_precheck_results': {'status': 'pass', 'failed_checks': []},
                 'mindie_image_info': {'ref': 'mindie:1', 'short_id': 'abc'},
                 'mindie_container_spec': {'name': 'mindie'},
                 'mindie_service_status': {'ready': True, 'pid': 1},
                 'mindie_verify_results': {'passed': True}}
    row = fleet_rows(['n1'], {'n1': old_names}, ['n1'])[0]
    assert row['status'] == 'incomplete'
    assert (row['image'], row['container']['name'], row['service']['ready'], row['precheck']['status']) == (None, None, None, None)
    new_names = {'mindie_prechecks_result': old_names['mindie_precheck_results'],
                 'mindie_image_result': old_names['mindie_image_info'],
                 'mindie_container_result': {'name': 'mindie', 'container': {'State': {'Status': 'running'}}},
                 'mindie_service_result': old_names['mindie_service_status'],
                 'mindie_verify_result': old_names['mindie_verify_results']}
    row = fleet_rows(['n1'], {'n1': new_names}, ['n1'])[0]
    assert row['status'] == 'serving'
    assert (row['image'], row['container'], row['service']['ready'], row['precheck']['status']) == (
        'mindie:1', {'name': 'mindie', 'state': 'running'}, True, 'pass')


def test_null_is_kept_and_only_missing_values_default():
    # like Jinja's default(): a plan whose profile is null does not fall back to the NPU facts' profile
    hv = {'ansible_facts': {'npu': {'profile': 'atlas-800i-a2-64g'}}}
    assert fleet_rows(['n'], {'n': hv}, ['n'])[0]['profile'] == 'atlas-800i-a2-64g'
    hv['mindie_plan'] = {'profile': None}
    assert fleet_rows(['n'], {'n': hv}, ['n'])[0]['profile'] is None
    # values that are not mappings where one is expected read as missing, never as an error
    row = fleet_rows(['n'], {'n': {'mindie_plan': None, 'ansible_facts': 'x', 'mindie_verify_result': [],
                                   'mindie_container_result': {'name': 'm', 'container': None}}}, ['n'])[0]
    assert row['container'] == {'name': 'm', 'state': None} and row['status'] == 'incomplete'
    assert row['npus'] == {'count': None, 'model': None, 'healthy': None, 'unhealthy': [], 'devices': None}


def test_unknown_host_gives_an_empty_row():
    row = fleet_rows(['ghost'], {}, [])[0]
    assert row['status'] == 'failed' and row['failure']['reason'] == UNREACHABLE and row['failure']['phase'] is None


def test_rows_do_not_change_the_facts(old):
    hostvars = copy.deepcopy(old['hostvars'])
    fleet_rows(old['hosts'], hostvars, old['play_hosts'])
    assert hostvars == old['hostvars']


@pytest.mark.parametrize('args,message', [
    (('n1', {}, []), 'the nodes must be a list of inventory host names'),
    (([1], {}, []), 'the nodes must be a list of inventory host names'),
    ((['n1'], {}, 'n1'), 'the play hosts must be a list'),
    ((['n1'], [], []), 'the second argument must be hostvars'),
])
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_rows(*args)


@pytest.mark.parametrize('func', [fleet_summary, fleet_table])
def test_rows_must_be_rows(func):
    with pytest.raises(AnsibleFilterError, match='the input must be the rows of fleet_rows'):
        func('rows')
    with pytest.raises(AnsibleFilterError, match='the input must be the rows of fleet_rows'):
        func([1])


@pytest.mark.parametrize('length', [0, 10, 155, 160, 165, 166, 200, 400])
def test_truncate_is_jinjas(length):
    text = ' '.join('word%d' % n for n in range(80))[:length]
    assert truncate(text) == do_truncate(Environment(), text, 160)


def test_filters_are_registered():
    assert FilterModule().filters() == {'fleet_rows': fleet_rows, 'fleet_summary': fleet_summary, 'fleet_table': fleet_table,
                                        'fleet_merge': fleet_merge}


# ---------------------------------------------------------------------- instances (issue 13)

def _plan(layout_instances):
    return {'profile': 'atlas-800i-a2-64g', 'container': layout_instances[0]['name'],
            'devices': layout_instances[0]['devices'], 'instances': layout_instances}


def _inst(name, index, devices, port):
    return {'name': name, 'index': index, 'container': name, 'devices': devices,
            'client_urls': {'business': 'http://10.0.0.2:%d' % port, 'management': 'http://127.0.0.1:%d' % (port + 1)}}


def _verify(name, port, passed=True, state='ready', latency=1.5):
    return {'name': name, 'passed': passed, 'service_state': state,
            'results': [{'name': 'chat', 'ok': passed, 'latency_s': latency}],
            'client_urls': {'business': 'http://127.0.0.1:%d' % (20000 + port), 'management': 'http://127.0.0.1:%d' % (20001 + port),
                            'local_only': False}}


TWO_BY_FOUR = [_inst('mindie-0', 0, [0, 1, 2, 3], 1040), _inst('mindie-1', 1, [4, 5, 6, 7], 1050)]
NPU_64G = {'count': 8, 'chips': [{'npu_id': n, 'name': '910B3', 'health': 'Alarm' if n == 6 else 'OK'} for n in range(8)]}


def _fleet(service1, verify1, failure=None):
    v0 = _verify('mindie-0', 1040)
    s0 = {'ready': True, 'status': 'serving', 'restarts': 0, 'startup_seconds': 41.0}
    hostvars = {
        'a-32g': {'mindie_plan': {'profile': 'atlas-800i-a2-32g', 'container': 'mindie', 'devices': list(range(8)),
                                  'instances': [_inst('mindie', 0, list(range(8)), 1040)]},
                  'mindie_service_result': {'ready': True, 'startup_seconds': 30.0, 'restarts': 0,
                                            'instances': {'mindie': {'ready': True, 'startup_seconds': 30.0, 'restarts': 0}}},
                  'mindie_verify_result': dict(_verify('mindie', 1040), instances={'mindie': _verify('mindie', 1040)})},
        'b-64g': {'ansible_facts': {'npu': NPU_64G}, 'mindie_plan': _plan(TWO_BY_FOUR),
                  'mindie_service_result': dict(s0, instances={'mindie-0': s0, 'mindie-1': service1}),
                  'mindie_verify_result': dict(v0, instances=dict([('mindie-0', v0)] + ([('mindie-1', verify1)] if verify1 else [])))},
    }
    if failure:
        hostvars['b-64g']['mindie_deploy_failure'] = failure
    return fleet_rows(['b-64g', 'a-32g'], hostvars, ['a-32g', 'b-64g'])


def test_a_row_per_instance_with_its_own_status_endpoint_and_figures():
    rows = _fleet({'ready': True, 'status': 'busy', 'restarts': 2, 'startup_seconds': 44.5},
                  _verify('mindie-1', 1050, state='busy', latency=2.5))
    one, two = rows
    assert [i['name'] for i in one['instances']] == ['mindie'] and one['instances'][0]['status'] == 'serving'
    assert one['instances'][0]['endpoint']['business'] == 'http://127.0.0.1:21040'
    zero, first = two['instances']
    assert (zero['status'], first['status'], two['status']) == ('serving', 'busy', 'serving')
    assert first == {
        'name': 'mindie-1', 'index': 1, 'container': 'mindie-1', 'devices': [4, 5, 6, 7],
        'npus': {'count': 4, 'unhealthy': ['6 Alarm']}, 'status': 'busy', 'restarts': 2, 'version': None,
        'container_state': None, 'startup_seconds': 44.5,
        'endpoint': {'business': 'http://127.0.0.1:21050', 'management': 'http://127.0.0.1:21051', 'local_only': False},
        'smoke': {'chat': {'ok': True, 'latency_s': 2.5, 'first_chunk_s': None, 'chunks': None,
                           'completion_tokens': None, 'error': None}},
        'smoke_verified_before': None, 'last_error_lines': []}
    assert zero['npus'] == {'count': 4, 'unhealthy': []} and zero['startup_seconds'] == 41.0
    summary = fleet_summary(rows)
    assert (summary['instances_planned'], summary['instances_serving'], summary['up']) == (3, 3, 2)


def test_a_crash_looping_instance_says_so_and_leaves_its_node_incomplete():
    crash = {'ready': False, 'status': 'crash-looping', 'restarts': 5, 'supervisor': {'status': 'crash-looping'},
             'last_error_lines': ['[MIE04E01011C] failed', 'npuDeviceIds is invalid']}
    rows = _fleet(crash, None)
    node = rows[1]
    assert [i['status'] for i in node['instances']] == ['serving', 'crash-looping']
    assert node['status'] == 'incomplete' and node['instances'][1]['restarts'] == 5
    assert node['instances'][1]['last_error_lines'][-1] == 'npuDeviceIds is invalid'
    summary = fleet_summary(rows)
    assert (summary['instances_planned'], summary['instances_serving'], summary['instances_crash_looping']) == (3, 2, 1)
    table = fleet_table(rows, '/r/fleet-summary')
    assert table[-1] == '1 of 2 nodes serving; 2 of 3 instances serving (1 crash-looping); report in /r/fleet-summary.{json,md}'
    lines = [t for t in table if t.startswith('  mindie-')]
    assert len(lines) == 2 and len(table) == 1 + 2 + 2 + 1          # the 1x8 node has no instance lines
    assert lines[1].split()[:5] == ['mindie-1', '4', 'NPUs', '4,5,6,7', '!6'] and 'crash-looping' in lines[1]
    assert lines[1].endswith('5 restarts; npuDeviceIds is invalid')
    assert 'http://127.0.0.1:21040' in lines[0] and '1.5/-/-' in lines[0]
    # a node that failed (the service role gave up on mindie-1): the crash loop is still named, the other instance
    # that verify never saw is failed with its node
    failed = _fleet(crash, None, failure={'phase': 'service', 'predictable': True, 'reason': 'mindie-1 crash-looping'})
    assert [i['status'] for i in failed[1]['instances']] == ['serving', 'crash-looping']
    failed = _fleet({'ready': False, 'status': 'down'}, None,
                    failure={'phase': 'service', 'predictable': True, 'reason': 'x'})
    assert [i['status'] for i in failed[1]['instances']] == ['serving', 'failed'] and failed[1]['status'] == 'failed'


def test_a_crash_loop_found_by_verify_after_the_deploy_is_named_with_its_supervisors_figures():
    """verify.yml after a crash loop injected without Ansible: the service role's result is that of the deploy
    (serving); verify read the supervisor's state on the node (crash-looping, 5 restarts, the error lines)."""
    looping = {'status': 'crash-looping', 'restarts': 5, 'last_error_lines': ['Warmup failed', 'out of memory']}
    ver = dict(_verify('mindie-1', 1050), passed=False, supervisor=looping)
    rows = _fleet({'ready': True, 'status': 'serving', 'restarts': 0, 'startup_seconds': 40.0}, ver)
    zero, first = rows[1]['instances']
    assert (zero['status'], first['status']) == ('serving', 'crash-looping')
    assert first['restarts'] == 5 and first['last_error_lines'] == ['Warmup failed', 'out of memory']
    # a healed instance (kill -9: serving again) shows the restarts its supervisor made
    healed = dict(_verify('mindie-1', 1050), supervisor={'status': 'running', 'restarts': 1, 'last_error_lines': [],
                                                         'version': '1.0.1'})
    first = _fleet({'ready': True, 'status': 'serving', 'restarts': 0}, healed)[1]['instances'][1]
    # and the MindIE version its daemon runs, as the supervisor read it from the image's version.info
    assert (first['status'], first['restarts'], first['version']) == ('serving', 1, '1.0.1')


def test_instance_status_order():
    assert instance_status(None, {'passed': True}, {'status': 'crash-looping'}) == 'crash-looping'
    assert instance_status({'predictable': False}, {}, {}) == 'unpredictable'
    assert instance_status(None, {}, {'ready': True}) == 'ready'
    assert instance_status(None, {}, {'busy': True}) == 'busy'
    assert instance_status(None, {}, {'status': 'stopped'}) == 'stopped'
    assert instance_status(None, {}, {}) == 'incomplete'


def test_the_markdown_report_has_a_row_per_instance():
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    template = os.path.join(os.path.dirname(FIXTURE), '..', '..', '..', 'roles', 'fleet_report', 'templates',
                            'fleet-summary.md.j2')
    with open(template) as handle:
        source = handle.read()
    try:
        from ansible.template import trust_as_template
        source = trust_as_template(source)
    except ImportError:
        pass
    rows = _fleet({'ready': False, 'status': 'crash-looping', 'restarts': 5, 'last_error_lines': ['bad | config']}, None)
    text = Templar(loader=DataLoader(), variables={
        '__mindie_report_rows': rows, '__mindie_report_summary': fleet_summary(rows), 'mindie_report_name': 'fleet-summary',
        '__mindie_report_time': 'T'}).template(source)
    assert '1 of 2 nodes serving Qwen2-VL with MindIE; 2 of 3 instances serving (1 crash-looping).' in text
    assert '| b-64g | mindie-0 | 0, 1, 2, 3 | serving | - | 0 | 41.0 | `http://127.0.0.1:21040` | 1.50 | - | - |' in text
    assert '| b-64g | mindie-1 | 4, 5, 6, 7 (6 Alarm) | crash-looping: bad / config | - | 5 | - |' in text
    assert '| a-32g | mindie | 0, 1, 2, 3, 4, 5, 6, 7 | serving |' in text
    assert 'One endpoint for the whole fleet' not in text
    lb = {'host': 'lb1', 'endpoint': 'http://127.0.0.1:8080', 'servers': [
        {'name': 'a-32g_mindie', 'operational': 'up', 'admin_state': 'ready'},
        {'name': 'b-64g_mindie-0', 'operational': 'up', 'admin_state': 'drain'},
        {'name': 'b-64g_mindie-1', 'operational': 'down', 'admin_state': 'ready'}]}
    text = Templar(loader=DataLoader(), variables={
        '__mindie_report_rows': rows, '__mindie_report_summary': fleet_summary(rows), 'mindie_report_name': 'fleet-summary',
        '__mindie_report_time': 'T', '__mindie_report_loadbalancer': lb}).template(source)
    assert ('One endpoint for the whole fleet: `http://127.0.0.1:8080` (HAProxy on lb1, 1 of 3 instances in rotation).'
            in text)


# ---------------------------------------------------------------------- fleet_merge (the slices of one run)

def _slice(old, nodes, **extra):
    rows = [_row(old, n) for n in nodes]
    report = {'generated_at': extra.pop('generated_at', '2026-12-03T10:00:00Z'), 'playbook': 'Deploy',
              'summary': fleet_summary(rows), 'nodes': rows, 'loadbalancer': None, 'monitoring': None}
    report.update(extra)
    return report


def test_merge_counts_the_whole_fleet_again(old):
    names = [r['node'] for r in old['rows']]
    half = len(names) // 2
    a = _slice(old, names[:half], source='a', generated_at='2026-12-03T10:00:05Z')
    b = _slice(old, names[half:], slice={'id': 'awx-job-7', 'hosts': len(names) - half},
               monitoring={'prometheus': 'http://127.0.0.1:9090'})
    merged = fleet_merge([a, b])
    assert merged['summary'] == fleet_summary(old['rows'])
    assert [r['node'] for r in merged['nodes']] == names
    assert merged['monitoring'] == {'prometheus': 'http://127.0.0.1:9090'} and merged['loadbalancer'] is None
    assert merged['generated_at'] == '2026-12-03T10:00:05Z' and merged['playbook'] == 'Deploy'
    assert [(s['source'], s['nodes']) for s in merged['slices']] == [('a', names[:half]), ('awx-job-7', names[half:])]


def test_merge_refuses_what_is_not_one_runs_slices(old):
    names = [r['node'] for r in old['rows']]
    with pytest.raises(AnsibleFilterError, match='node %s is in a and in b' % names[0]):
        fleet_merge([_slice(old, names[:1], source='a'), _slice(old, names[:2], source='b')])
    with pytest.raises(AnsibleFilterError, match='a and b report different loadbalancer'):
        fleet_merge([_slice(old, names[:1], source='a', loadbalancer={'endpoint': 'http://lb1'}),
                     _slice(old, names[1:2], source='b', loadbalancer={'endpoint': 'http://lb2'})])
    with pytest.raises(AnsibleFilterError, match='report 2 is not a fleet report'):
        fleet_merge([_slice(old, names[:1]), {'summary': {}}])
    with pytest.raises(AnsibleFilterError, match='no slice report to merge'):
        fleet_merge([])
