# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie fleet report filters: fleet_rows, fleet_summary and fleet_table.

The rows of the fleet report (roles/fleet_report) are built here, from the facts each role
publishes (``mindie_<role>_result``), the node plan (``mindie_plan``), the NPU facts and what
the fleet_report role itself recorded (``mindie_deploy_phase``, ``mindie_deploy_failure``).
The role's tasks and templates only render them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

# The order the summary counts them in, and what each means (see the role's argument spec).
STATUSES = ('serving', 'busy', 'ready', 'failed', 'unpredictable', 'incomplete')
UP = ('serving', 'busy')
UNREACHABLE = 'the node dropped out without a recorded reason (unreachable?)'
SMOKE_FIELDS = ('latency_s', 'first_chunk_s', 'chunks', 'completion_tokens', 'error')
TABLE_FORMAT = '%-24s %-18s %-12s %-8s %-6s %-26s %-14s %s'
TABLE_HEADER = ('NODE', 'PROFILE', 'NPUS', 'STATUS', 'START', 'ENDPOINT', 'CHAT/GEN/SSE', 'REASON')
TABLE_LATENCIES = ('chat', 'generate', 'stream')
REASON_WIDTH = 160


def _get(value, key, default=None):
    """``value[key]`` when ``value`` is a mapping holding ``key`` (even as null), else ``default``.

    The same as Jinja's ``(value | default({})).key | default(default)``: only a missing key (or a
    value that is not a mapping) gives the default; a key set to null stays null.
    """
    if isinstance(value, Mapping) and key in value:
        return value[key]
    return default


def _mapping(value):
    return value if isinstance(value, Mapping) else {}


def _list(value):
    return list(value) if isinstance(value, Sequence) and not isinstance(value, string_types) else []


def _host_vars(hostvars, host):
    try:
        return _mapping(hostvars[host])
    except (KeyError, IndexError, TypeError):
        return {}


def node_status(failure, verify, service):
    """One node's status: unpredictable, failed, busy, serving, ready or incomplete.

    ``failure`` is the node's ``mindie_deploy_failure`` (None when it did not drop out); ``verify``
    and ``service`` the results of the verify and service roles (empty when they did not run).
    busy: verify passed while /v2/health/ready said 503 and /v2/health/live 200, or verify did not
    run and the service role found the running daemon busy.
    """
    if failure is not None:
        return 'failed' if _get(failure, 'predictable', True) else 'unpredictable'
    if _get(verify, 'passed', False):
        return 'busy' if _get(verify, 'service_state') == 'busy' else 'serving'
    if _get(service, 'ready', False):
        return 'ready'
    return 'busy' if _get(service, 'busy', False) else 'incomplete'


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _npus(npu, plan):
    chips = [_mapping(c) for c in _list(_get(npu, 'chips', []))]
    bad = [c for c in chips if _get(c, 'health') != 'OK']
    return {
        'count': _get(npu, 'count'),
        'model': '/'.join('%s' % (name,) for name in _unique(_get(c, 'name') for c in chips)) or None,
        'healthy': _get(npu, 'healthy'),
        'unhealthy': ['%s %s' % (_get(c, 'npu_id'), _get(c, 'health', '')) for c in bad],
        'devices': _get(plan, 'devices'),
    }


def _smoke(verify):
    smoke = {}
    for result in _list(_get(verify, 'results', [])):
        result = _mapping(result)
        entry = {'ok': _get(result, 'ok')}
        entry.update((field, _get(result, field)) for field in SMOKE_FIELDS)
        smoke[_get(result, 'name')] = entry
    return smoke


def node_row(host, hostvars, play_hosts):
    """The report row of one node (see fleet_rows)."""
    hv = _host_vars(hostvars, host)
    npu = _mapping(_get(_get(hv, 'ansible_facts', {}), 'npu', {}))
    plan = _get(hv, 'mindie_plan', {})
    prechecks = _get(hv, 'mindie_prechecks_result', {})
    image = _get(hv, 'mindie_image_result', {})
    container = _get(hv, 'mindie_container_result', {})
    service = _get(hv, 'mindie_service_result', {})
    verify = _get(hv, 'mindie_verify_result', {})
    client_urls = _get(verify, 'client_urls', {})
    phase = _get(hv, 'mindie_deploy_phase')
    failure = _get(hv, 'mindie_deploy_failure')
    # ansible_play_hosts leaves out the nodes Ansible itself failed or could not reach.
    if failure is None and host not in play_hosts:
        failure = {'phase': phase, 'task': None, 'predictable': True, 'reason': UNREACHABLE}
    return {
        'node': host,
        'status': node_status(failure, verify, service),
        'phase': phase,
        'profile': _get(plan, 'profile', _get(npu, 'profile')),
        'npus': _npus(npu, plan),
        'precheck': {'status': _get(prechecks, 'status'), 'failed_checks': _get(prechecks, 'failed_checks', [])},
        'image': _get(image, 'ref'),
        'image_id': _get(image, 'short_id'),
        'container': {'name': _get(container, 'name'),
                      'state': _get(_get(_get(container, 'container', {}), 'State', {}), 'Status')},
        'service': dict((key, _get(service, key)) for key in ('ready', 'pid', 'startup_seconds', 'restarted')),
        'endpoint': {'business': _get(client_urls, 'business'),
                     'management': _get(client_urls, 'management'),
                     'local_only': _get(client_urls, 'local_only'),
                     'management_local_only': _get(client_urls, 'management_local_only'),
                     'client_check': _get(verify, 'client')},
        'smoke': _smoke(verify),
        'smoke_image': _get(verify, 'image'),
        'failure': failure,
    }


def fleet_rows(hosts, hostvars, play_hosts):
    """One report row per node of ``hosts``, sorted by name.

    ``hostvars``: Ansible's hostvars (or any mapping host -> its variables); ``play_hosts``: the
    nodes still in the play (``ansible_play_hosts``). A node missing from ``play_hosts`` that
    recorded no failure dropped out through Ansible itself (unreachable, a failed handler) and is
    reported as failed with that reason.
    """
    if not isinstance(hosts, Sequence) or isinstance(hosts, string_types) or \
            not all(isinstance(h, string_types) for h in hosts):
        raise AnsibleFilterError('fleet_rows: the nodes must be a list of inventory host names, got %r.' % (hosts,))
    if not isinstance(play_hosts, Sequence) or isinstance(play_hosts, string_types):
        raise AnsibleFilterError('fleet_rows: the play hosts must be a list of host names (ansible_play_hosts), got %r.'
                                 % (play_hosts,))
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('fleet_rows: the second argument must be hostvars, got %r.' % (type(hostvars).__name__,))
    play_hosts = list(play_hosts)
    return [node_row(host, hostvars, play_hosts) for host in sorted(hosts)]


def _rows(rows, name):
    if not isinstance(rows, Sequence) or isinstance(rows, string_types) or not all(isinstance(r, Mapping) for r in rows):
        raise AnsibleFilterError('%s: the input must be the rows of fleet_rows, got %r.' % (name, type(rows).__name__))
    return rows


def fleet_summary(rows):
    """Counts of the rows: nodes, one per status, and up (= serving + busy)."""
    statuses = [_get(r, 'status') for r in _rows(rows, 'fleet_summary')]
    summary = dict((status, statuses.count(status)) for status in STATUSES)
    summary['nodes'] = len(statuses)
    summary['up'] = len([s for s in statuses if s in UP])
    return summary


def truncate(text, length=REASON_WIDTH, end='...', leeway=5):
    """Jinja's default ``truncate``: keep texts up to ``length`` + ``leeway``, else cut at a word, add ``end``."""
    if len(text) <= length + leeway:
        return text
    return text[:length - len(end)].rsplit(' ', 1)[0] + end


def _number(value, fmt):
    return fmt % (value,) if value is not None else None


def _table_row(row):
    npus = _mapping(_get(row, 'npus', {}))
    service = _mapping(_get(row, 'service', {}))
    smoke = _mapping(_get(row, 'smoke', {}))
    failure = _get(row, 'failure')
    if _get(npus, 'count') is not None:
        unhealthy = _list(_get(npus, 'unhealthy', []))
        npu_text = '%sx%s%s' % (npus['count'], _get(npus, 'model') or '?', (' !' + ','.join(unhealthy)) if unhealthy else '')
    else:
        npu_text = '-'
    start = _number(_get(service, 'startup_seconds'), '%.1f') or ('up' if _get(service, 'ready') else '-')
    latencies = '/'.join(_number(_get(_get(smoke, test, {}), 'latency_s'), '%.1f') or '-' for test in TABLE_LATENCIES)
    if failure:
        # One line per node: a reason over several lines (the prechecks list one failed check a line) is joined.
        reason = '%s: %s' % (_get(failure, 'phase'), truncate(('%s' % (_get(failure, 'reason'),)).replace('\n', ' ')))
    else:
        reason = '-'
    return TABLE_FORMAT % (_get(row, 'node'), _get(row, 'profile') or '-', npu_text, _get(row, 'status'), start,
                           _get(_get(row, 'endpoint', {}), 'business') or '-', latencies, reason)


def fleet_table(rows, report='', check_mode=False):
    """The console table of the rows: a header, one line per node, and a line that sums up the fleet.

    ``report``: where the report files go, without .json / .md, named in the last line.
    """
    rows = _rows(rows, 'fleet_table')
    summary = fleet_summary(rows)
    lines = [TABLE_FORMAT % TABLE_HEADER] + [_table_row(r) for r in rows]
    lines.append('%d of %d nodes serving%s%s; report in %s.{json,md}' % (
        summary['up'], summary['nodes'], (' (%d busy)' % summary['busy']) if summary['busy'] else '',
        '; check mode: later phases depend on changes not made' if check_mode else '', report))
    return '\n'.join(lines).rstrip().split('\n')


class FilterModule(object):
    """ascend.mindie fleet report filters."""

    def filters(self):
        return {'fleet_rows': fleet_rows, 'fleet_summary': fleet_summary, 'fleet_table': fleet_table}
