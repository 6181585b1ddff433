# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ascend.mindie.mindie_benchmark_report (documented in plugins/modules/mindie_benchmark_report.py).

Runs on the controller only: judges the fleet's steps (outliers, the guide's run_pa figures) and writes
``<dir>/benchmark.json``, ``benchmark.md`` and the PNG charts with mindie_report's atomic writer.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ascend.mindie.plugins.action.mindie_report import (
    DEFAULT_DIR_MODE,
    DEFAULT_MODE,
    ReportError,
    default_dir,
    ensure_dir,
    parse_mode,
    render_json,
    write_file,
)
from ansible_collections.ascend.mindie.plugins.module_utils import aisbench, benchmark, benchmark_plot


class ActionModule(ActionBase):
    """Write the serving benchmark's report on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    ARGUMENT_SPEC = dict(
        results=dict(type='list', elements='dict', required=True),
        settings=dict(type='dict', default={}),
        dir=dict(type='path'),
        run_time=dict(type='str'),
        outlier_pct=dict(type='float', default=20.0),
        outlier_group_by=dict(type='str', default='profile', choices=['profile', 'fleet']),
        max_tokens=dict(type='int', default=80, no_log=False),
        plots=dict(type='bool', default=True),
        aisbench=dict(type='list', elements='dict', default=[], options=dict(
            node=dict(type='str', required=True),
            source=dict(type='str', required=True),
            path=dict(type='path', required=True),
        )),
        mode=dict(type='raw', default=DEFAULT_MODE),
        dir_mode=dict(type='raw', default=DEFAULT_DIR_MODE),
    )

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result['changed'] = False
        dummy, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        check_mode = bool(self._task.check_mode)
        try:
            if not 0 < args['outlier_pct'] < 100:
                raise ReportError('outlier_pct must be between 0 and 100 (exclusive), got %s' % args['outlier_pct'])
            mode = parse_mode(args['mode'], 'mode')
            dir_mode = parse_mode(args['dir_mode'], 'dir_mode')
            run_time = args['run_time'] or time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
            if '/' in run_time or run_time in ('.', '..'):
                raise ReportError('run_time must be a plain name (it names the directory), got %r' % run_time)
            directory = args['dir'] or os.path.join(
                os.path.expanduser(default_dir(task_vars, self._templar)), 'benchmark', run_time)
            directory = os.path.abspath(directory)
        except ReportError as exc:
            result.update(failed=True, msg='ascend.mindie.mindie_benchmark_report: %s. Nothing was written.'
                          % to_text(exc))
            return result

        report = build_report(args['results'], args['settings'], run_time, args['outlier_pct'],
                              args['outlier_group_by'], args['max_tokens'])
        report['aisbench'] = read_aisbench(args['aisbench'], directory)
        files = {'benchmark.json': None, 'benchmark.md': None}
        pngs = {}
        if args['plots'] and report['results']:
            ok, why = benchmark_plot.available()
            if ok:
                pngs = benchmark_plot.charts(report['results'])
                report['plots'] = sorted(pngs)
            else:
                report['plots_skipped'] = 'Pillow is not importable on the controller (%s): pip install pillow' % why
        files['benchmark.json'] = render_json(report)
        files['benchmark.md'] = render_markdown(report)
        written = []
        try:
            changed = ensure_dir(directory, dir_mode, check_mode)
            for name in sorted(files):
                if write_file(os.path.join(directory, name), files[name], mode, check_mode):
                    written.append(os.path.join(directory, name))
            for name in sorted(pngs):
                if write_file(os.path.join(directory, name), pngs[name], mode, check_mode):
                    written.append(os.path.join(directory, name))
        except ReportError as exc:
            result.update(failed=True, written=written, msg='ascend.mindie.mindie_benchmark_report: %s' % to_text(exc))
            return result
        summary = '%d steps, %d outlier(s)%s' % (
            len(report['results']), len(report['outliers']['outliers']),
            (': ' + ', '.join('%s (%.1f%% slower than its peers)' % (o['instance'], o['slower_pct'])
                              for o in report['outliers']['outliers'])) if report['outliers']['outliers'] else '')
        if args['aisbench']:
            summary += '; %d AISBench/benchmark CLI result(s) read%s' % (
                len(report['aisbench']['results']),
                (', not read: ' + '; '.join(report['aisbench']['errors'])) if report['aisbench']['errors'] else '')
        result.update(changed=changed or bool(written), dir=directory, json_path=os.path.join(directory, 'benchmark.json'),
                      md_path=os.path.join(directory, 'benchmark.md'), written=written, report=report,
                      outliers=report['outliers']['outliers'],
                      msg='%s %s: %s' % ('would write' if check_mode else 'wrote', directory, summary))
        return result


def build_report(results, settings, run_time, outlier_pct, group_by, max_tokens):
    """benchmark.json's content."""
    results = sorted(results, key=lambda e: (e.get('kind') != 'instance', e.get('instance') or '', e['target'],
                                             e['concurrency']))
    return {
        'time': run_time,
        'settings': settings,
        'results': results,
        'outliers': benchmark.find_outliers(results, outlier_pct, group_by),
        'run_pa': benchmark.run_pa_comparison(results, max_tokens),
        'plots': [],
    }


def read_aisbench(sources, directory):
    """The newest AISBench (or MindIE benchmark CLI) run of each node directory, from its copy beside the report.

    Returns {results: [entry + node, source_dir, files (relative to the report)], errors: ["<node>:<dir>: why"]}."""
    results, errors = [], []
    for src in sources:
        where = '%s:%s' % (src['node'], src['source'])
        if not os.path.isdir(src['path']):
            errors.append('%s: no AISBench performances/<abbr>/<dataset>.csv|json nor MindIE benchmark '
                          'result_perf_<ts>.csv there (is it the --work-dir the tool wrote to, on the node?)' % where)
            continue
        entries, problems = aisbench.read_runs(src['path'], latest_only=True)
        local = src['path'].rstrip('/') + '/'
        errors.extend('%s: %s' % (where, p.replace(local, '')) for p in problems)
        for entry in entries:
            entry = dict(entry, node=src['node'], source_dir=src['source'])
            entry['files'] = [os.path.relpath(f, directory) for f in entry.pop('sources', []) if f]
            entry.pop('source', None)
            results.append(entry)
    return {'results': results, 'errors': errors}


def _pcts(value):
    return '/'.join('-' if value.get(k) is None else '%.0f' % value[k] for k in ('p50', 'p90', 'p99'))


def _num(value, fmt):
    return '-' if value is None else fmt % value


def render_markdown(report):
    """benchmark.md: the settings, a table of every step, the outliers and run_pa."""
    s = report['settings']
    lines = ['# Serving benchmark %s' % report['time'], '',
             'Streamed chat completions with an image (`%s`), %s output tokens each%s; %s requests per step '
             '(after %s warm-up), concurrency %s.' % (
                 s.get('image', '?'), s.get('max_tokens', '?'), ' (ignore_eos)' if s.get('ignore_eos') else '',
                 s.get('requests', '?'), s.get('warmup_requests', 0), s.get('concurrency', '?')),
             'SLO for goodput: TTFT <= %s ms, TPOT <= %s ms. Latencies in ms as p50/p90/p99.' % (
                 s.get('slo_ttft_ms'), s.get('slo_tpot_ms')), '',
             '| target | kind | concurrency | requests | failed | output tok/s | req/s | TTFT | TPOT | ITL | e2e | '
             'goodput | duration s |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for e in report['results']:
        name = e.get('instance') or e['target']
        lines.append('| %s | %s | %d | %d | %d | %.1f | %.2f | %s | %s | %s | %s | %s%% | %.1f |' % (
            name, e.get('kind', ''), e['concurrency'], e['requests'], e['failed'], e['output_tokens_per_s'],
            e['requests_per_s'], _pcts(e['ttft_ms']), _pcts(e['tpot_ms']), _pcts(e['itl_ms']), _pcts(e['e2e_ms']),
            e['goodput']['pct'], e['duration_s']))
    failed = [e for e in report['results'] if e['errors']]
    if failed:
        lines += ['', '## Errors', '']
        lines += ['- %s at concurrency %d: %s' % (e.get('instance') or e['target'], e['concurrency'],
                                                  '; '.join(e['errors'])) for e in failed]
    o = report['outliers']
    lines += ['', '## Outliers', '',
              'An instance is an outlier when its output tokens/s, divided by the median of its peers (%s) at each '
              'concurrency, has a median below %.0f%%.' % (
                  'the same hardware profile' if o['group_by'] == 'profile' else 'the whole fleet',
                  100 - o['threshold_pct']), '']
    if o['outliers']:
        lines += ['- **%s** (node %s, %s): %.1f%% slower than its peers' % (
            x['instance'], x['node'], x['profile'], x['slower_pct']) for x in o['outliers']]
    else:
        lines.append('None.')
    if o['unjudged']:
        lines.append('Not judged (no peer of the same profile): %s.' % ', '.join(o['unjudged']))
    if o['ratios']:
        lines += ['', 'Ratio to the peers\' median: %s.' % ', '.join(
            '%s %.2f' % (k, v) for k, v in sorted(o['ratios'].items()))]
    lines += ['', '## Against the guide\'s run_pa figures', '']
    if report['run_pa']:
        lines += ['| instance | profile | concurrency | output tok/s | run_pa tok/s | ratio |', '|---|---|---|---|---|---|']
        lines += ['| %s | %s | %d | %.1f | %.2f | %.2f |' % (
            r['instance'], r['profile'], r['concurrency'], r['output_tokens_per_s'], r['run_pa_tokens_per_s'],
            r['ratio']) for r in report['run_pa']]
        lines += ['', 'run_pa times the model alone (batch 4 on 32G, 32 on 64G, 80 output tokens, the 1902x1080 '
                  'picture); the served figure adds HTTP and the scheduler.']
    else:
        lines.append('No step matches its setting (8 NPUs per instance, 80 output tokens, concurrency 4 on '
                     '800i-a2-32g or 32 on 800i-a2-64g).')
    ais = report.get('aisbench') or {}
    if ais.get('results') or ais.get('errors'):
        lines += ['', '## AISBench and MindIE benchmark runs', '',
                  'The newest run in each directory of mindie_benchmark_aisbench_dirs, as the tool measured it '
                  '(latencies in ms as p50/p90/p99; - where the tool does not report it).', '']
    if ais.get('results'):
        lines += ['| node | tool | run | model / dataset | concurrency | requests | failed | output tok/s | req/s | '
                  'TTFT | TPOT | ITL | e2e | duration s |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
        for e in ais['results']:
            lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                e['node'], e['tool'], e.get('timestamp') or '-',
                '%s / %s' % (e.get('abbr') or '-', e.get('dataset') or '-'), _num(e.get('concurrency'), '%d'),
                _num(e.get('requests'), '%d'), _num(e.get('failed'), '%d'), _num(e.get('output_tokens_per_s'), '%.1f'),
                _num(e.get('requests_per_s'), '%.2f'), _pcts(e['ttft_ms']), _pcts(e['tpot_ms']), _pcts(e['itl_ms']),
                _pcts(e['e2e_ms']), _num(e.get('duration_s'), '%.1f')))
    if ais.get('errors'):
        lines += ['', 'Not read:', ''] + ['- %s' % err for err in ais['errors']]
    if report.get('plots'):
        lines += ['', '## Charts', ''] + ['![%s](%s)' % (p, p) for p in report['plots']]
    elif report.get('plots_skipped'):
        lines += ['', 'Charts not drawn: %s.' % report['plots_skipped']]
    return '\n'.join(lines) + '\n'
