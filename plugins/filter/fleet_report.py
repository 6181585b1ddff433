# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie fleet report filters: fleet_rows, fleet_summary, fleet_table and fleet_merge.

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
# An instance's status: a node's, or what ascend.mindie.mindie_service says of its supervised daemon.
INSTANCE_STATUSES = STATUSES + ('crash-looping', 'stopped')
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


def _instance_results(result, name, first):
    """An instance's part of a role's result: ``result.instances[name]``, else (a result of one instance, as before
    instances) the top-level keys for the first instance."""
    per = _mapping(_get(result, 'instances', {}))
    if name in per:
        return _mapping(per[name])
    return _mapping(result) if first and not per else {}


def instance_status(failure, verify, service):
    """One instance's status: crash-looping (its supervisor gave up, as the service role or verify found it, whatever
    else happened), else serving or busy
    when verify passed on it, else the node's failure (failed / unpredictable), else ready, busy, stopped or
    incomplete from what the service role found."""
    if _get(service, 'status') == 'crash-looping' or _get(_get(verify, 'supervisor', {}), 'status') == 'crash-looping':
        return 'crash-looping'
    if _get(verify, 'passed', False):
        return 'busy' if _get(verify, 'service_state') == 'busy' else 'serving'
    if failure is not None:
        return 'failed' if _get(failure, 'predictable', True) else 'unpredictable'
    if _get(service, 'ready', False):
        return 'ready'
    if _get(service, 'busy', False):
        return 'busy'
    return 'stopped' if _get(service, 'status') == 'stopped' else 'incomplete'


def _planned_instances(plan):
    """The plan's instances; a plan from before instances is one instance of its top-level keys; no plan, none."""
    plan = _mapping(plan)
    instances = [_mapping(i) for i in _list(_get(plan, 'instances', []))]
    if instances or not plan:
        return instances
    return [{'name': _get(plan, 'container'), 'container': _get(plan, 'container'), 'devices': _get(plan, 'devices')}]


def instance_rows(npu, plan, failure, container, service, verify):
    """One entry per instance of the plan (fleet-summary.json ``nodes[].instances[]``)."""
    chips = dict((_get(c, 'npu_id'), _mapping(c)) for c in _list(_get(npu, 'chips', [])))
    rows = []
    for index, inst in enumerate(_planned_instances(plan)):
        name = _get(inst, 'name')
        first = index == 0
        ver = _instance_results(verify, name, first)
        svc = _instance_results(service, name, first)
        cont = _instance_results(container, name, first)
        client_urls = _mapping(_get(ver, 'client_urls', _get(inst, 'client_urls', {})))
        devices = _list(_get(inst, 'devices', []))
        # the freshest supervisor state: verify's (read on the node after the service phase), else the service role's
        supervisor = _mapping(_get(ver, 'supervisor', None) or _get(svc, 'supervisor', {}))
        rows.append({
            'name': name,
            'index': _get(inst, 'index', index),
            'container': _get(inst, 'container', name),
            'devices': devices,
            'npus': {'count': len(devices) if devices else None,
                     'unhealthy': ['%s %s' % (d, _get(chips[d], 'health', '')) for d in devices
                                   if d in chips and _get(chips[d], 'health') != 'OK']},
            'status': instance_status(failure, ver, svc),
            'restarts': _get(supervisor, 'restarts') if _get(ver, 'supervisor', None) else _get(svc, 'restarts'),
            # the MindIE version its daemon runs (the image's version.info, as the supervisor read it at its start)
            'version': _get(supervisor, 'version'),
            'container_state': _get(_get(_get(cont, 'container', {}), 'State', {}), 'Status'),
            'startup_seconds': _get(svc, 'startup_seconds'),
            'endpoint': {'business': _get(client_urls, 'business'), 'management': _get(client_urls, 'management'),
                         'local_only': _get(client_urls, 'local_only')},
            'smoke': _smoke(ver),
            # before: the daemon had passed every check already and was unchanged, so only the re-checks ran
            'smoke_verified_before': _get(_get(ver, 'verified', {}), 'before'),
            'last_error_lines': _list(_get(supervisor, 'last_error_lines', []) if _get(ver, 'supervisor', None)
                                      else _get(svc, 'last_error_lines', _get(supervisor, 'last_error_lines', []))),
        })
    return rows


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
    instances = instance_rows(npu, plan, failure, container, service, verify)
    status = node_status(failure, verify, service)
    # A node serves when every instance does: one down leaves it incomplete (its row says which).
    if status in UP and [i for i in instances if i['status'] not in UP]:
        status = 'incomplete'
    return {
        'node': host,
        'status': status,
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
        'smoke_verified_before': _get(_get(verify, 'verified', {}), 'before'),
        'failure': failure,
        'instances': instances,
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
    """Counts of the rows: nodes, one per status, and up (= serving + busy); instances planned and serving (serving
    or busy) over every node."""
    rows = _rows(rows, 'fleet_summary')
    statuses = [_get(r, 'status') for r in rows]
    summary = dict((status, statuses.count(status)) for status in STATUSES)
    summary['nodes'] = len(statuses)
    summary['up'] = len([s for s in statuses if s in UP])
    instances = [_mapping(i) for r in rows for i in _list(_get(r, 'instances', []))]
    summary['instances_planned'] = len(instances)
    summary['instances_serving'] = len([i for i in instances if _get(i, 'status') in UP])
    summary['instances_crash_looping'] = len([i for i in instances if _get(i, 'status') == 'crash-looping'])
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


def _instance_line(instance):
    """The table line of one instance of a node that has several: its name indented under the node."""
    npus = _mapping(_get(instance, 'npus', {}))
    unhealthy = _list(_get(npus, 'unhealthy', []))
    npu_text = '%s NPUs %s%s' % (_get(npus, 'count') or '?', ','.join(str(d) for d in _list(_get(instance, 'devices', []))),
                                 (' !' + ','.join(unhealthy)) if unhealthy else '')
    smoke = _mapping(_get(instance, 'smoke', {}))
    start = _number(_get(instance, 'startup_seconds'), '%.1f') or '-'
    latencies = '/'.join(_number(_get(_get(smoke, test, {}), 'latency_s'), '%.1f') or '-' for test in TABLE_LATENCIES)
    errors = _list(_get(instance, 'last_error_lines', []))
    restarts = _get(instance, 'restarts')
    reason = '; '.join(part for part in (
        ('%s restarts' % restarts) if restarts else '',
        truncate(('%s' % errors[-1]).replace('\n', ' ')) if errors and _get(instance, 'status') not in UP else '') if part) or '-'
    return TABLE_FORMAT % ('  ' + ('%s' % (_get(instance, 'name'),)), '', npu_text, _get(instance, 'status'), start,
                           _get(_get(instance, 'endpoint', {}), 'business') or '-', latencies, reason)


def fleet_table(rows, report='', check_mode=False):
    """The console table of the rows: a header, one line per node (and, under a node with several instances, one
    line per instance), and a line that sums up the fleet.

    ``report``: where the report files go, without .json / .md, named in the last line.
    """
    rows = _rows(rows, 'fleet_table')
    summary = fleet_summary(rows)
    lines = [TABLE_FORMAT % TABLE_HEADER]
    for row in rows:
        lines.append(_table_row(row))
        instances = _list(_get(row, 'instances', []))
        if len(instances) > 1:
            lines.extend(_instance_line(_mapping(i)) for i in instances)
    several = summary['instances_planned'] > len([r for r in rows if _list(_get(r, 'instances', []))])
    lines.append('%d of %d nodes serving%s%s%s; report in %s.{json,md}' % (
        summary['up'], summary['nodes'], (' (%d busy)' % summary['busy']) if summary['busy'] else '',
        ('; %d of %d instances serving%s' % (summary['instances_serving'], summary['instances_planned'],
         (' (%d crash-looping)' % summary['instances_crash_looping']) if summary['instances_crash_looping'] else ''))
        if several or summary['instances_crash_looping'] else '',
        '; check mode: later phases depend on changes not made' if check_mode else '', report))
    return '\n'.join(lines).rstrip().split('\n')


def _source(report, index):
    """The name a slice report goes by in errors and in C(slices): its C(source), its slice id, else its place."""
    return (_get(report, 'source') or _get(_get(report, 'slice'), 'id') or 'report %d' % (index + 1))


def _same_or_first(reports, key, sources):
    """The one non-null C(key) of the slice reports (the balancer, Prometheus: fleet-wide, so every slice that saw one
    saw the same); an error naming the slices when two differ."""
    seen = [(sources[i], _get(r, key)) for i, r in enumerate(reports) if _get(r, key) is not None]
    for name, value in seen[1:]:
        if value != seen[0][1]:
            raise AnsibleFilterError('fleet_merge: %s and %s report different %s; merge the reports of one fleet'
                                     % (seen[0][0], name, key))
    return seen[0][1] if seen else None


def fleet_merge(reports):
    """One fleet report from the reports of the slices of one run (AWX job slicing: each slice job reports on its own
    hosts). The nodes of every slice, in the order the slices are given; the summary counted again over them; the
    balancer and Prometheus of the fleet; C(slices): what each slice reported. A node in two slices, or a report
    that is no fleet report, is an error naming it."""
    reports = _list(reports)
    if not reports:
        raise AnsibleFilterError('fleet_merge: no slice report to merge')
    sources = []
    for index, report in enumerate(reports):
        if not isinstance(report, Mapping) or not isinstance(_get(report, 'nodes'), Sequence) \
                or isinstance(_get(report, 'nodes'), string_types):
            raise AnsibleFilterError('fleet_merge: %s is not a fleet report (fleet-summary.json with a nodes list)'
                                     % (_source(report, index) if isinstance(report, Mapping) else 'report %d' % (index + 1)))
        sources.append('%s' % _source(report, index))
    rows, owner, slices = [], {}, []
    for index, report in enumerate(reports):
        names = []
        for row in _list(report['nodes']):
            node = _get(row, 'node')
            if node in owner:
                raise AnsibleFilterError('fleet_merge: node %s is in %s and in %s; slices of one run hold each node once'
                                         % (node, owner[node], sources[index]))
            owner[node] = sources[index]
            names.append(node)
            rows.append(row)
        slices.append({'source': sources[index], 'generated_at': _get(report, 'generated_at'),
                       'playbook': _get(report, 'playbook'), 'nodes': names,
                       'summary': _get(report, 'summary') or fleet_summary(_list(report['nodes']))})
    times = sorted(t for t in (_get(r, 'generated_at') for r in reports) if t)
    playbooks = sorted(set(p for p in (_get(r, 'playbook') for r in reports) if p))
    return {'generated_at': times[-1] if times else None, 'playbook': ', '.join(playbooks),
            'summary': fleet_summary(rows), 'nodes': rows,
            'loadbalancer': _same_or_first(reports, 'loadbalancer', sources),
            'monitoring': _same_or_first(reports, 'monitoring', sources), 'slices': slices}


class FilterModule(object):
    """ascend.mindie fleet report filters."""

    def filters(self):
        return {'fleet_rows': fleet_rows, 'fleet_summary': fleet_summary, 'fleet_table': fleet_table,
                'fleet_merge': fleet_merge}
