# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers of the performance results of AISBench (``ais_bench``, shipped in MindIE 2.3 images) and of the older
MindIE ``benchmark`` CLI, normalised to the figures of our own serving benchmark (module_utils/benchmark.py).

AISBench (AISBench/benchmark, ais_bench/benchmark/summarizers/default_perf.py and
calculators/base_perf_metric_calculator.py) writes one work directory per run, ``outputs/default/<%Y%m%d_%H%M%S>``
(``--work-dir`` replaces ``outputs/default``), and in it, per model config abbr and dataset abbr::

    performances/<abbr>/<dataset>.csv           the per-request figures: one row per metric and stage,
                                                header "Performance Parameters,Stage,Average,Min,Max,Median,P75,
                                                P90,P99,N" (the stats are the calculator's stats_list; N last);
                                                metrics E2EL, TTFT, TPOT, ITL, InputTokens, OutputTokens,
                                                OutputTokenThroughput, PrefillTokenThroughput
    performances/<abbr>/<dataset>.json          the end-to-end figures: {"<Common Metric>": {"<stage>": value}},
                                                e.g. "Benchmark Duration", "Total Requests", "Failed Requests",
                                                "Success Requests", "Concurrency" (measured mean),
                                                "Max Concurrency" (configured), "Request Throughput",
                                                "Total Input Tokens", "Total Generated Tokens",
                                                "Output Token Throughput"
    performances/<abbr>/<dataset>_plot.html, <dataset>_details.jsonl (older: _details.json), db_data/, tmp/

The stage is ``total`` (the default calculator) or ``stable`` (the stable-stage one). Values are written with
their units: every time in milliseconds ("2006.1 ms", the Benchmark Duration too), throughputs as
"41.6 token/s" and "0.08 req/s"; counts bare. TTFT and TPOT are left out for non-streamed runs, ITL when no
request had more than one chunk.

The MindIE ``benchmark`` CLI (being retired in favour of AISBench) writes into its save path
``result_perf_<ts>.csv``: one column per metric (FirstTokenTime, DecodeTime, LastDecodeTime, MaxDecodeTime,
GenerateTime, InputTokens, GeneratedTokens, GeneratedTokenSpeed, ...) and one row per statistic, in the order
average, max, min, P75, P90, SLO_P90, P99, N, without a label column ("213.2 ms"); and ``result_common_<ts>.csv``,
one row: CurrentTime, TimeElapsed ("9.58 s"), DataSource, Failed ("0( 0.0% )"), Returned, Total ("1[ 100.0% ]"),
Concurrency, ModelName, lpct, Throughput ("0.1 req/s"), OutputGenerateSpeed (older: GenerateSpeed), ...
Its DecodeTime is the gap between tokens: P90/P99 over every token (ITL-like), SLO_P90 over the requests' mean
gaps (TPOT-like). So DecodeTime gives ``tpot_ms`` (mean; p90 from SLO_P90) and ``itl_ms`` (mean, p90, p99);
the tool reports no median, and no per-request p99 of the decode time.

Public API:

* ``find_runs(root)``: the result files under an ``outputs`` directory, an ``outputs/default`` (work) directory or
  one ``<timestamp>`` directory (or a MindIE benchmark save path), newest first.
* ``read_result(csv_path=None, json_path=None, common_path=None)``: one result, normalised; ValueError for files
  that are not such results.
* ``read_runs(root, latest_only=True)``: both, collecting every file's error instead of raising.
* ``parse_value``, ``to_ms``, ``to_s``, ``to_rate``, ``to_count``: the value parsers (units explicit).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import csv
import io
import json
import math
import os
import re
import time

TOOL_AISBENCH = 'ais_bench'
TOOL_MINDIE_BENCHMARK = 'mindie_benchmark'

PERF_DIR = 'performances'
AIS_CSV_FIRST_HEADER = 'Performance Parameters'
AIS_STAGES = ('total', 'stable')        # the default calculator's stage, then the stable-stage calculator's
# Metrics of the AISBench CSV -> our keys.
AIS_LATENCIES = (('TTFT', 'ttft_ms'), ('TPOT', 'tpot_ms'), ('ITL', 'itl_ms'), ('E2EL', 'e2e_ms'))
# Statistic columns -> our percentile keys (the first present wins).
AIS_STAT_COLUMNS = (('p50', ('Median', 'P50')), ('p90', ('P90',)), ('p99', ('P99',)), ('mean', ('Average',)))
# Common metrics of the AISBench JSON (alternative names in order).
AIS_COMMON = {
    'duration': ('Benchmark Duration',),
    'requests': ('Total Requests',),
    'failed': ('Failed Requests',),
    'succeeded': ('Success Requests', 'Successful Requests'),
    'concurrency': ('Max Concurrency',),
    'concurrency_mean': ('Concurrency',),
    'requests_per_s': ('Request Throughput',),
    'input_tokens': ('Total Input Tokens',),
    'output_tokens': ('Total Generated Tokens', 'Total Output Tokens'),
    'output_tokens_per_s': ('Output Token Throughput',),
}
AIS_JSON_REQUIRED = ('Benchmark Duration', 'Total Requests')

MB_PERF_STATS = ('average', 'max', 'min', 'P75', 'P90', 'SLO_P90', 'P99', 'N')
MB_PERF_RE = re.compile(r'^result_perf_(?P<ts>[0-9]+)\.csv$')
MB_COMMON_RE = re.compile(r'^result_common_(?P<ts>[0-9]+)\.csv$')
WORK_DIR_TS_RE = re.compile(r'^[0-9]{8}_[0-9]{6}$')

_NUMBER_RE = re.compile(r'^\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(.*?)\s*$')
_MISSING = ('', '/', '-', 'n/a', 'na', 'none', 'null', 'nan')
_TIME_UNITS_MS = {'ms': 1.0, 'msec': 1.0, 'millisecond': 1.0, 'milliseconds': 1.0,
                  's': 1000.0, 'sec': 1000.0, 'secs': 1000.0, 'second': 1000.0, 'seconds': 1000.0,
                  'us': 0.001, '\u03bcs': 0.001, '\u00b5s': 0.001, 'usec': 0.001,
                  'ns': 0.000001, 'min': 60000.0, 'mins': 60000.0, 'minute': 60000.0, 'minutes': 60000.0}
_RATE_UNITS = ('', '/s', 'token/s', 'tokens/s', 'tok/s', 'req/s', 'reqs/s', 'request/s', 'requests/s')
_COUNT_RE = re.compile(r'^\s*([0-9]+(?:\.0*)?)\s*(?:[(\[].*)?$')


# --------------------------------------------------------------------------------------------------- values


def parse_value(value):
    """(number, unit) of a value as the tools write it: 12, 12.5, "12.5", "2006.1 ms", "41.6 token/s",
    "5102 μs"; (None, '') for a missing one ("", "/", "N/A", None). ValueError for anything else."""
    if value is None:
        return None, ''
    if isinstance(value, bool):
        raise ValueError('not a number: %r' % (value,))
    if isinstance(value, (int, float)):
        return (None, '') if math.isnan(value) else (float(value), '')     # NaN -> missing
    text = str(value).strip()
    if text.lower() in _MISSING:
        return None, ''
    match = _NUMBER_RE.match(text)
    if not match:
        raise ValueError('not a number: %r' % (value,))
    return float(match.group(1)), match.group(2)


def to_ms(value, default_unit='ms'):
    """A time in milliseconds; ``default_unit`` for a bare number. None when missing."""
    number, unit = parse_value(value)
    if number is None:
        return None
    unit = (unit or default_unit).strip()
    factor = _TIME_UNITS_MS.get(unit, _TIME_UNITS_MS.get(unit.lower()))
    if factor is None:
        raise ValueError('not a time: %r (unit %r)' % (value, unit))
    return round(number * factor, 4)


def to_s(value, default_unit='s'):
    """A time in seconds; ``default_unit`` for a bare number. None when missing."""
    ms = to_ms(value, default_unit)
    return None if ms is None else round(ms / 1000.0, 7)


def to_rate(value):
    """A throughput per second (token/s, req/s or bare). None when missing."""
    number, unit = parse_value(value)
    if number is None:
        return None
    if unit.lower().replace(' ', '') not in _RATE_UNITS:
        raise ValueError('not a rate per second: %r' % (value,))
    return number


def to_count(value):
    """An integer count: 8, "8", "8.0", and MindIE benchmark's "8( 100.0% )" / "8[ 100.0% ]". None when missing."""
    if isinstance(value, bool):
        raise ValueError('not a count: %r' % (value,))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value != int(value):
            raise ValueError('not a count: %r' % (value,))
        return int(value)
    if parse_value(value)[0] is None:
        return None
    match = _COUNT_RE.match(str(value))
    if not match:
        raise ValueError('not a count: %r' % (value,))
    return int(float(match.group(1)))


# --------------------------------------------------------------------------------------------------- discovery


def _is_dir(path):
    return os.path.isdir(path)


def _subdirs(path):
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [os.path.join(path, n) for n in names if _is_dir(os.path.join(path, n))]


def _sort_key_of_dir(path):
    """A sortable time of a work directory: its name when it is AISBench's %Y%m%d_%H%M%S, else its mtime."""
    name = os.path.basename(os.path.normpath(path))
    if WORK_DIR_TS_RE.match(name):
        return name
    try:
        return time.strftime('%Y%m%d_%H%M%S', time.localtime(os.path.getmtime(path)))
    except OSError:
        return ''


def _sort_key_of_mb_ts(ts):
    """MindIE benchmark's millisecond stamp (%Y%m%d%H%M%S + ms) in the same order as the work directories'."""
    if len(ts) >= 14:
        return ts[:8] + '_' + ts[8:14] + ts[14:]
    return ts


def _work_dirs(root):
    """The AISBench work directories (those holding ``performances``) at or below ``root``: the root itself,
    its children (outputs/default), its grandchildren (outputs), or those under the ``outputs`` of the directory
    ais_bench ran in."""
    if _is_dir(os.path.join(root, PERF_DIR)):
        return [root]
    if _is_dir(os.path.join(root, 'outputs')):
        return _work_dirs(os.path.join(root, 'outputs'))
    children = _subdirs(root)
    found = [c for c in children if _is_dir(os.path.join(c, PERF_DIR))]
    if found:
        return found
    return [g for c in children for g in _subdirs(c) if _is_dir(os.path.join(g, PERF_DIR))]


def _ais_files(work_dir):
    """[(abbr, dataset, csv or None, json or None)] of one work directory."""
    out = []
    for abbr_dir in _subdirs(os.path.join(work_dir, PERF_DIR)):
        stems = {}
        for name in sorted(os.listdir(abbr_dir)):
            path = os.path.join(abbr_dir, name)
            if not os.path.isfile(path):
                continue
            stem, ext = os.path.splitext(name)
            if ext not in ('.csv', '.json') or stem.endswith('_details'):
                continue
            stems.setdefault(stem, {})[ext[1:]] = path
        for stem in sorted(stems):
            out.append((os.path.basename(abbr_dir), stem, stems[stem].get('csv'), stems[stem].get('json')))
    return out


def _mb_files(directory):
    """[(ts, perf csv, common csv or None)] of MindIE benchmark's result files directly in ``directory``."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    commons = dict((m.group('ts'), os.path.join(directory, n)) for n, m in
                   ((n, MB_COMMON_RE.match(n)) for n in names) if m)
    out = []
    for name in names:
        match = MB_PERF_RE.match(name)
        if match:
            out.append((match.group('ts'), os.path.join(directory, name), commons.get(match.group('ts'))))
    return out


def find_runs(root):
    """The performance result files under ``root``, newest first.

    ``root`` is the directory ais_bench ran in (holding ``outputs``), an AISBench ``outputs`` directory, a work
    directory such as ``outputs/default`` (the parent of the
    ``<timestamp>`` directories) or one ``<timestamp>`` directory; a MindIE benchmark save path (result_perf_*.csv)
    is read too. Returns [{timestamp, abbr, dataset, csv, json, tool, common}]: ``csv``/``json`` the paths (None when
    absent), ``common`` the MindIE benchmark's result_common file. Nothing (an empty list) for a missing root."""
    root = os.path.expanduser(root)
    runs = []
    for work_dir in _work_dirs(root):
        stamp = os.path.basename(os.path.normpath(work_dir))
        key = _sort_key_of_dir(work_dir)
        for abbr, dataset, csv_path, json_path in _ais_files(work_dir):
            runs.append((key, {'timestamp': stamp, 'abbr': abbr, 'dataset': dataset, 'csv': csv_path,
                               'json': json_path, 'tool': TOOL_AISBENCH, 'common': None}))
    for ts, perf, common in _mb_files(root):
        runs.append((_sort_key_of_mb_ts(ts), {'timestamp': ts, 'abbr': None, 'dataset': None, 'csv': perf,
                                              'json': None, 'tool': TOOL_MINDIE_BENCHMARK, 'common': common}))
    # Newest first; within one run by abbr and dataset.
    runs.sort(key=lambda r: (r[1]['abbr'] or '', r[1]['dataset'] or ''))
    runs.sort(key=lambda r: r[0], reverse=True)
    return [r[1] for r in runs]


# --------------------------------------------------------------------------------------------------- reading


def _read_csv_rows(path):
    with io.open(path, 'r', encoding='utf-8-sig', newline='') as handle:
        return [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]


def _read_json(path):
    with io.open(path, 'r', encoding='utf-8-sig') as handle:
        try:
            return json.load(handle)
        except ValueError as exc:
            raise ValueError('%s: not JSON (%s)' % (path, exc)) from exc


def _pick_stage(stages, path, what):
    """The stage value of a {stage: value} mapping: 'total', else 'stable', else the only one."""
    if not isinstance(stages, dict) or not stages:
        raise ValueError('%s: %s is not a {stage: value} mapping: %r' % (path, what, stages))
    for stage in AIS_STAGES:
        if stage in stages:
            return stage, stages[stage]
    stage = sorted(stages)[0]
    return stage, stages[stage]


def _empty_distribution():
    return {'p50': None, 'p90': None, 'p99': None, 'mean': None}


def _path_names(path):
    """(timestamp, abbr, dataset) of .../<timestamp>/performances/<abbr>/<dataset>.<ext>, Nones elsewhere."""
    abbr_dir = os.path.dirname(os.path.abspath(path))
    perf_dir = os.path.dirname(abbr_dir)
    dataset = os.path.splitext(os.path.basename(path))[0]
    if os.path.basename(perf_dir) != PERF_DIR:
        return None, None, dataset
    return os.path.basename(os.path.dirname(perf_dir)), os.path.basename(abbr_dir), dataset


def _convert(path, what, converter, value):
    try:
        return converter(value)
    except ValueError as exc:
        raise ValueError('%s: %s: %s' % (path, what, exc)) from exc


def read_ais_json(path):
    """The common metrics of an AISBench ``<dataset>.json``: {stage, duration_s, requests, failed, succeeded,
    concurrency, concurrency_mean, requests_per_s, input_tokens, output_tokens, output_tokens_per_s}."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError('%s: not an AISBench performance result (a JSON object of common metrics expected, '
                         'found %s)' % (path, type(data).__name__))
    missing = [k for k in AIS_JSON_REQUIRED if k not in data]
    if missing:
        raise ValueError('%s: not an AISBench performance result: no %s (keys found: %s)' % (
            path, ', '.join(repr(k) for k in missing), ', '.join(sorted(data)[:12]) or 'none'))
    out = {}
    stages = set()

    def common(key):
        for name in AIS_COMMON[key]:
            if name in data:
                stage, value = _pick_stage(data[name], path, repr(name))
                stages.add(stage)
                return name, value
        return None, None

    converters = {'requests': to_count, 'failed': to_count, 'succeeded': to_count, 'concurrency': to_count,
                  'input_tokens': to_count, 'output_tokens': to_count, 'concurrency_mean': to_rate,
                  'requests_per_s': to_rate, 'output_tokens_per_s': to_rate}
    for key, converter in sorted(converters.items()):
        name, value = common(key)
        out[key] = None if name is None else _convert(path, name, converter, value)
    name, value = common('duration')
    # AISBench writes the duration in ms ("98409.4916 ms"); a bare number is taken as ms too.
    out['duration_s'] = _convert(path, name, lambda v: to_s(v, default_unit='ms'), value)
    out['stage'] = 'total' if 'total' in stages else (sorted(stages)[0] if stages else None)
    return out


def read_ais_csv(path):
    """The per-request metrics of an AISBench ``<dataset>.csv``: {stage, ttft_ms, tpot_ms, itl_ms, e2e_ms (each
    {p50, p90, p99, mean}), succeeded (E2EL's N), output_tokens_per_request_mean}."""
    rows = _read_csv_rows(path)
    if not rows or rows[0][0].strip() != AIS_CSV_FIRST_HEADER:
        raise ValueError('%s: not an AISBench performance result: the header should start with "%s,Stage", '
                         'found %r' % (path, AIS_CSV_FIRST_HEADER, ','.join(rows[0]) if rows else '(empty file)'))
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    stage_col = lower.index('stage') if 'stage' in lower else None
    by_metric = {}
    for row in rows[1:]:
        metric = row[0].strip()
        stage = row[stage_col].strip() if stage_col is not None and stage_col < len(row) else 'total'
        by_metric.setdefault(metric, {})[stage] = dict(zip(header, [c.strip() for c in row]))
    if 'E2EL' not in by_metric:
        raise ValueError('%s: not an AISBench performance result: no E2EL row (rows: %s)' % (
            path, ', '.join(sorted(by_metric)) or 'none'))

    def column(row, names):
        for name in names:
            for i, h in enumerate(lower):
                if h == name.lower():
                    return row.get(header[i])
        return None

    out = {}
    stages = set()
    for metric, key in AIS_LATENCIES:
        dist = _empty_distribution()
        if metric in by_metric:
            stage, row = _pick_stage(by_metric[metric], path, metric)
            stages.add(stage)
            for ours, names in AIS_STAT_COLUMNS:
                # AISBench writes its latencies in ms with the unit; a bare number is ms too.
                dist[ours] = _convert(path, '%s %s' % (metric, '/'.join(names)), to_ms, column(row, names))
        out[key] = dist
    e2el = _pick_stage(by_metric['E2EL'], path, 'E2EL')[1]
    out['succeeded'] = _convert(path, 'E2EL N', to_count, column(e2el, ('N',)))
    out['stage'] = 'total' if 'total' in stages else (sorted(stages)[0] if stages else None)
    return out


def _mb_perf(path):
    """MindIE benchmark's result_perf_<ts>.csv: {metric: {stat: value}}."""
    rows = _read_csv_rows(path)
    header = [h.strip() for h in rows[0]] if rows else []
    if 'FirstTokenTime' not in header:
        raise ValueError('%s: not a MindIE benchmark result_perf file: no FirstTokenTime column (header %r)' % (
            path, ','.join(header) or '(empty file)'))
    body = rows[1:]
    # A label column (not written by the tool, but by a pandas re-save with its index) is taken when present.
    labelled = header[0] == '' or header[0].lower() in ('metric', 'stat', 'unnamed: 0')
    table = {}
    for position, row in enumerate(body):
        stat = row[0].strip() if labelled else (MB_PERF_STATS[position] if position < len(MB_PERF_STATS) else None)
        if stat is None:
            break
        for i, name in enumerate(header):
            if (labelled and i == 0) or i >= len(row):
                continue
            table.setdefault(name, {})[stat.lower()] = row[i].strip()
    return table


def _mb_common(path):
    rows = _read_csv_rows(path)
    if len(rows) < 2 or 'TimeElapsed' not in [h.strip() for h in rows[0]]:
        raise ValueError('%s: not a MindIE benchmark result_common file: no TimeElapsed column' % path)
    return dict(zip([h.strip() for h in rows[0]], [c.strip() for c in rows[1]]))


def read_mindie_benchmark(perf_path, common_path=None):
    """One MindIE benchmark result (result_perf_<ts>.csv and, when found, its result_common_<ts>.csv)."""
    table = _mb_perf(perf_path)
    if common_path is None:
        match = MB_PERF_RE.match(os.path.basename(perf_path))
        if match:
            guess = os.path.join(os.path.dirname(perf_path), 'result_common_%s.csv' % match.group('ts'))
            common_path = guess if os.path.isfile(guess) else None

    def stat(metric, name, converter=to_ms):
        value = table.get(metric, {}).get(name.lower())
        return _convert(perf_path, '%s %s' % (metric, name), converter, value)

    def dist(metric, p90='P90', p99='P99'):
        return {'p50': None, 'mean': stat(metric, 'average'),
                'p90': stat(metric, p90) if p90 else None, 'p99': stat(metric, p99) if p99 else None}

    result = _result_skeleton(TOOL_MINDIE_BENCHMARK, perf_path)
    match = MB_PERF_RE.match(os.path.basename(perf_path))
    result['timestamp'] = match.group('ts') if match else None
    result['ttft_ms'] = dist('FirstTokenTime')
    # DecodeTime: P90/P99 over every token gap (ITL); SLO_P90 over the requests' mean gaps (TPOT).
    result['tpot_ms'] = dist('DecodeTime', p90='SLO_P90', p99=None)
    result['itl_ms'] = dist('DecodeTime')
    result['e2e_ms'] = dist('GenerateTime')
    result['succeeded'] = stat('FirstTokenTime', 'N', to_count)
    if common_path:
        common = _mb_common(common_path)

        def value(names, converter):
            for name in names:
                if name in common:
                    return _convert(common_path, name, converter, common[name])
            return None

        result['requests'] = value(('Total',), to_count)
        result['failed'] = value(('Failed',), to_count)
        result['succeeded'] = value(('Returned',), to_count)
        result['concurrency'] = value(('Concurrency',), to_count)
        result['requests_per_s'] = value(('Throughput',), to_rate)
        result['output_tokens_per_s'] = value(('OutputGenerateSpeed', 'GenerateSpeed'), to_rate)
        # TimeElapsed is written in seconds ("9.5827 s").
        result['duration_s'] = value(('TimeElapsed',), lambda v: to_s(v, default_unit='s'))
        result['abbr'] = common.get('ModelName') or None
        result['dataset'] = common.get('DataSource') or None
        result['sources'].append(common_path)
    return result


def _result_skeleton(tool, source):
    return {'tool': tool, 'abbr': None, 'dataset': None, 'timestamp': None, 'stage': None, 'concurrency': None,
            'concurrency_mean': None, 'requests': None, 'succeeded': None, 'failed': None,
            'ttft_ms': _empty_distribution(), 'tpot_ms': _empty_distribution(), 'itl_ms': _empty_distribution(),
            'e2e_ms': _empty_distribution(), 'input_tokens': None, 'output_tokens': None,
            'output_tokens_per_s': None, 'requests_per_s': None, 'duration_s': None, 'source': source,
            'sources': [source]}


def _csv_kind(path):
    rows = _read_csv_rows(path)
    first = [h.strip() for h in rows[0]] if rows else []
    if first and first[0] == AIS_CSV_FIRST_HEADER:
        return TOOL_AISBENCH
    if 'FirstTokenTime' in first:
        return TOOL_MINDIE_BENCHMARK
    if 'TimeElapsed' in first and MB_COMMON_RE.match(os.path.basename(path)):
        return 'mindie_benchmark_common'
    raise ValueError('%s: not an AISBench performance result (header should start with "%s,Stage,...") nor a '
                     'MindIE benchmark result_perf file (FirstTokenTime column); header found: %r' % (
                         path, AIS_CSV_FIRST_HEADER, ','.join(first) or '(empty file)'))


def read_result(csv_path=None, json_path=None, common_path=None):
    """One run's figures in our benchmark's schema.

    AISBench: ``csv_path`` its <dataset>.csv (latencies), ``json_path`` its <dataset>.json (end-to-end figures).
    The JSON is preferred for the figures it holds; the CSV gives the latency percentiles (the JSON has none)
    and, without a JSON, the successful requests (``succeeded``, from E2EL's N). A MindIE benchmark
    result_perf_<ts>.csv is recognised by its columns; ``common_path`` its result_common file (found beside it
    when not given).

    Returns {tool, abbr, dataset, timestamp, stage, concurrency (configured; None when not reported),
    concurrency_mean (measured), requests, succeeded, failed, ttft_ms, tpot_ms, itl_ms, e2e_ms (each
    {p50, p90, p99, mean} in ms, p50 the median, None where not reported), input_tokens, output_tokens (totals),
    output_tokens_per_s, requests_per_s, duration_s, source (the JSON when read, else the CSV), sources}.
    ValueError naming the file and what is missing for a file that is not such a result, or when neither
    path is given."""
    if not csv_path and not json_path:
        raise ValueError('read_result: neither a CSV nor a JSON path given')
    if csv_path:
        kind = _csv_kind(csv_path)
        if kind == 'mindie_benchmark_common':
            ts = MB_COMMON_RE.match(os.path.basename(csv_path)).group('ts')
            perf = os.path.join(os.path.dirname(csv_path), 'result_perf_%s.csv' % ts)
            if not os.path.isfile(perf):
                raise ValueError('%s: a MindIE benchmark result_common file without its %s' % (
                    csv_path, os.path.basename(perf)))
            return read_mindie_benchmark(perf, csv_path)
        if kind == TOOL_MINDIE_BENCHMARK:
            return read_mindie_benchmark(csv_path, common_path)
    source = json_path or csv_path
    result = _result_skeleton(TOOL_AISBENCH, source)
    result['sources'] = [p for p in (json_path, csv_path) if p]
    result['timestamp'], result['abbr'], result['dataset'] = _path_names(source)
    if csv_path:
        result.update(read_ais_csv(csv_path))
    if json_path:
        # The JSON's figures win; its missing ones (None) leave what the CSV gave.
        for key, value in read_ais_json(json_path).items():
            if value is not None or key not in result or result[key] is None:
                result[key] = value
    return result


def read_runs(root, latest_only=True):
    """find_runs + read_result: ([result], [error]). ``latest_only``: the newest run's files only (every model
    and dataset of it). A file that cannot be read is an error string ("<path>: <why>"), not an exception; so
    is a root without any result."""
    results, errors = [], []
    runs = find_runs(root)
    if not runs:
        why = 'no such directory' if not _is_dir(os.path.expanduser(root)) else \
            'no AISBench performances/<abbr>/<dataset>.csv|json (nor MindIE benchmark result_perf_*.csv) found'
        return results, ['%s: %s' % (root, why)]
    if latest_only:
        newest = (runs[0]['tool'], runs[0]['timestamp'])
        runs = [r for r in runs if (r['tool'], r['timestamp']) == newest]
    for run in runs:
        try:
            if run['tool'] == TOOL_MINDIE_BENCHMARK:
                entry = read_mindie_benchmark(run['csv'], run['common'])
            else:
                entry = read_result(csv_path=run['csv'], json_path=run['json'])
        except (ValueError, OSError) as exc:
            message = str(exc)
            path = run['json'] or run['csv']
            errors.append(message if path in message else '%s: %s' % (path, message))
            continue
        entry['timestamp'] = run['timestamp']
        if run['abbr'] is not None:
            entry['abbr'], entry['dataset'] = run['abbr'], run['dataset']
        results.append(entry)
    return results, errors
