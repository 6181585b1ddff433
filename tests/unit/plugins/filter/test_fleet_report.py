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
    FilterModule, UNREACHABLE, fleet_rows, fleet_summary, fleet_table, node_status, truncate)

FIXTURE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'fleet_report', 'old_jinja.json')


@pytest.fixture(scope='module')
def old():
    with open(FIXTURE) as handle:
        return json.load(handle)


def _row(old, node):
    return [r for r in old['rows'] if r['node'] == node][0]


def test_rows_are_what_the_old_jinja_built(old):
    rows = fleet_rows(old['hosts'], old['hostvars'], old['play_hosts'])
    assert [r['node'] for r in rows] == sorted(old['hosts'])
    for got, want in zip(rows, old['rows']):
        assert got == want, want['node']
    assert rows == old['rows']


def test_every_status_is_in_the_fixture(old):
    statuses = dict((r['node'], r['status']) for r in old['rows'])
    assert statuses == {
        'n01-serving': 'serving', 'n02-busy-verify': 'busy', 'n03-ready': 'ready', 'n04-busy-service': 'busy',
        'n05-incomplete': 'incomplete', 'n06-failed': 'failed', 'n07-unpredictable': 'unpredictable',
        'n08-unreachable': 'failed', 'n09-unhealthy-noplan': 'ready', 'n10-bare': 'failed',
        'n11-stopped-by-gate': 'failed', 'n12-64g-subset': 'serving'}


def test_summary_is_what_the_old_jinja_counted(old):
    summary = fleet_summary(old['rows'])
    assert summary == old['summary']
    assert summary == {'nodes': 12, 'serving': 2, 'busy': 2, 'up': 4, 'ready': 2, 'failed': 4, 'unpredictable': 1,
                       'incomplete': 1}
    assert fleet_summary([]) == {'nodes': 0, 'serving': 0, 'busy': 0, 'up': 0, 'ready': 0, 'failed': 0,
                                 'unpredictable': 0, 'incomplete': 0}


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
    assert FilterModule().filters() == {'fleet_rows': fleet_rows, 'fleet_summary': fleet_summary, 'fleet_table': fleet_table}
