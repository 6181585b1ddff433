# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AISBench (and MindIE benchmark CLI) result reader (plugins/module_utils/aisbench.py), on files in the
tools' real layout and formats written into tmp_path."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import os

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import aisbench

# AISBench's per-request CSV as its calculator writes it (default stats_list, stage "total", units in the cells).
AIS_CSV = """Performance Parameters,Stage,Average,Min,Max,Median,P75,P90,P99,N
E2EL,total,12300.2 ms,12295.9 ms,12305.2 ms,12300.0 ms,12302.1 ms,12304.3 ms,12305.1 ms,8
TTFT,total,2006.0 ms,2005.1 ms,2007.4 ms,2006.1 ms,2006.2 ms,2006.6 ms,2007.3 ms,8
TPOT,total,20.1 ms,20.1 ms,20.2 ms,20.1 ms,20.1 ms,20.2 ms,20.2 ms,8
ITL,total,20.1 ms,19.8 ms,21.3 ms,20.1 ms,20.2 ms,20.2 ms,20.4 ms,8
InputTokens,total,1512.5,1481.0,1566.0,1511.5,1520.25,1536.6,1563.06,8
OutputTokens,total,512.0,512.0,512.0,512.0,512.0,512.0,512.0,8
OutputTokenThroughput,total,41.6254 token/s,41.6085 token/s,41.6398 token/s,41.6261 token/s,41.6338 token/s,\
41.6375 token/s,41.6395 token/s,8
PrefillTokenThroughput,total,753.9 token/s,737.6 token/s,781.0 token/s,753.4 token/s,758.2 token/s,\
769.9 token/s,779.9 token/s,8
"""

# AISBench's end-to-end JSON (dump_results_dict of the calculator's common metrics).
AIS_JSON = {
    "Benchmark Duration": {"total": "98409.4916 ms"},
    "Total Requests": {"total": 10},
    "Failed Requests": {"total": 2},
    "Success Requests": {"total": 8},
    "Concurrency": {"total": 0.9999},
    "Max Concurrency": {"total": 1},
    "Request Throughput": {"total": "0.0813 req/s"},
    "Total Input Tokens": {"total": 12100},
    "Total Generated Tokens": {"total": 4096},
    "Input Token Throughput": {"total": "122.9556 token/s"},
    "Output Token Throughput": {"total": "41.622 token/s"},
    "Total Token Throughput": {"total": "164.5776 token/s"},
}

# MindIE benchmark's result_perf (pandas to_csv(index=False) of {metric: {stat: value}}: no label column, the rows
# in the order average, max, min, P75, P90, SLO_P90, P99, N) and result_common files.
MB_PERF = """FirstTokenTime,DecodeTime,LastDecodeTime,MaxDecodeTime,GenerateTime,InputTokens,GeneratedTokens,\
GeneratedTokenSpeed,QueueWaitTime
394.7728 ms,183.7376 ms,198.8681 ms,227.1558 ms,9582.6747 ms,313.0,51.0,5.3221 token/s,162.8431 \u03bcs
420.1 ms,227.1558 ms,198.8681 ms,227.1558 ms,9900.5 ms,313,51,5.5 token/s,5102 \u03bcs
380.2 ms,153.524 ms,198.8681 ms,227.1558 ms,9400.1 ms,313,51,5.1 token/s,55 \u03bcs
400.3 ms,205.9031 ms,198.8681 ms,227.1558 ms,9600.2 ms,313.0,51.0,5.35 token/s,67.0 \u03bcs
410.4 ms,222.7119 ms,198.8681 ms,227.1558 ms,9800.3 ms,313.0,51.0,5.45 token/s,71.0 \u03bcs
410.4 ms,185.1 ms,198.8681 ms,227.1558 ms,9800.3 ms,313.0,51.0,5.45 token/s,71.0 \u03bcs
419.5 ms,226.8792 ms,198.8681 ms,227.1558 ms,9890.4 ms,313.0,51.0,5.49 token/s,2589.5 \u03bcs
4,4,4,4,4,4,4,4,4
"""
MB_COMMON = """CurrentTime,TimeElapsed,DataSource,Failed,Returned,Total,Concurrency,ModelName,lpct,Throughput,\
OutputGenerateSpeed,InputGenerateSpeed,TotalGenerateSpeed,GenerateSpeedPerClient,accuracy
2025-11-07 15:33:18,9.5827 s,/data/gsm8k.jsonl,1( 20.0% ),4( 80.0% ),5[ 100.0% ],128,deepseek-v3,1.2613 ms,\
0.4174 req/s,21.2884 token/s,130.6 token/s,151.9 token/s,0.1663 token/s,/
"""


def write(path, text):
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with io.open(path, 'w', encoding='utf-8', newline='') as handle:
        handle.write(text)
    return path


def ais_run(outputs, stamp, abbr='vllm-api-stream-chat', dataset='gsm8k', csv_text=AIS_CSV, json_data='AIS_JSON',
            work='default'):
    """One AISBench run in outputs/<work>/<stamp>/performances/<abbr>/ (with the side files the tool writes);
    None for csv_text or json_data leaves that file out."""
    if json_data == 'AIS_JSON':
        json_data = AIS_JSON
    base = os.path.join(str(outputs), work, stamp)
    perf = os.path.join(base, 'performances', abbr)
    write(os.path.join(base, 'configs', '%s.py' % stamp), 'models = []\n')
    paths = {}
    if csv_text is not None:
        paths['csv'] = write(os.path.join(perf, dataset + '.csv'), csv_text)
    if json_data is not None:
        paths['json'] = write(os.path.join(perf, dataset + '.json'), json.dumps(json_data, indent=4))
    write(os.path.join(perf, dataset + '_plot.html'), '<html></html>\n')
    write(os.path.join(perf, dataset + '_details.jsonl'), '{"id": 0, "success": true}\n')
    write(os.path.join(perf, dataset + '_details.json'), '{"0": {"success": true}}\n')
    return base, paths


@pytest.fixture
def outputs(tmp_path):
    """Three runs: two datasets in the newest, an older one, the oldest (names out of creation order)."""
    root = tmp_path / 'outputs'
    ais_run(root, '20251106_110904', dataset='aime2024')
    ais_run(root, '20251106_110904', dataset='gsm8k')
    ais_run(root, '20250628_151326')
    ais_run(root, '20251106_103326')
    return root


# ------------------------------------------------------------------------------------------------- discovery


def test_find_runs_from_outputs_newest_first(outputs):
    runs = aisbench.find_runs(str(outputs))
    assert [(r['timestamp'], r['dataset']) for r in runs] == [
        ('20251106_110904', 'aime2024'), ('20251106_110904', 'gsm8k'),
        ('20251106_103326', 'gsm8k'), ('20250628_151326', 'gsm8k')]
    first = runs[0]
    assert first['abbr'] == 'vllm-api-stream-chat' and first['tool'] == 'ais_bench'
    assert first['csv'].endswith(os.path.join('20251106_110904', 'performances', 'vllm-api-stream-chat',
                                              'aime2024.csv'))
    assert first['json'] == first['csv'][:-len('.csv')] + '.json'


def test_find_runs_from_outputs_default(outputs):
    runs = aisbench.find_runs(str(outputs / 'default'))
    assert [r['timestamp'] for r in runs] == [
        '20251106_110904', '20251106_110904', '20251106_103326', '20250628_151326']


def test_find_runs_from_the_directory_ais_bench_ran_in(outputs):
    # outputs/ is where ais_bench writes, relative to where it runs; the operator names that directory
    runs = aisbench.find_runs(str(outputs.parent))
    assert [r['timestamp'] for r in runs] == [
        '20251106_110904', '20251106_110904', '20251106_103326', '20250628_151326']


def test_find_runs_from_one_timestamp_dir(outputs):
    runs = aisbench.find_runs(str(outputs / 'default' / '20251106_103326'))
    assert [(r['timestamp'], r['dataset']) for r in runs] == [('20251106_103326', 'gsm8k')]


def test_find_runs_skips_details_and_plots(outputs):
    names = [os.path.basename(p) for r in aisbench.find_runs(str(outputs)) for p in (r['csv'], r['json'])]
    assert not [n for n in names if 'details' in n or n.endswith('.html')]


def test_find_runs_lists_csv_or_json_alone(tmp_path):
    ais_run(tmp_path / 'outputs', '20251106_110904', json_data=None)
    only = aisbench.find_runs(str(tmp_path / 'outputs'))
    assert len(only) == 1 and only[0]['json'] is None and only[0]['csv'].endswith('gsm8k.csv')


def test_find_runs_missing_root_is_empty(tmp_path):
    assert aisbench.find_runs(str(tmp_path / 'nowhere')) == []


# ------------------------------------------------------------------------------------------------- reading


def test_read_result_prefers_json_for_common_figures(tmp_path):
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904')
    r = aisbench.read_result(csv_path=paths['csv'], json_path=paths['json'])
    assert r['tool'] == 'ais_bench' and r['abbr'] == 'vllm-api-stream-chat' and r['dataset'] == 'gsm8k'
    assert r['timestamp'] == '20251106_110904' and r['stage'] == 'total'
    # From the JSON, not from the CSV (whose N, the successful requests, is 8).
    assert r['requests'] == 10 and r['failed'] == 2 and r['succeeded'] == 8
    assert r['concurrency'] == 1 and r['concurrency_mean'] == pytest.approx(0.9999)
    assert r['output_tokens'] == 4096 and r['input_tokens'] == 12100
    assert r['output_tokens_per_s'] == pytest.approx(41.622)
    assert r['requests_per_s'] == pytest.approx(0.0813)
    assert r['source'] == paths['json'] and r['sources'] == [paths['json'], paths['csv']]
    # The latencies only the CSV has.
    assert r['ttft_ms'] == {'p50': 2006.1, 'p90': 2006.6, 'p99': 2007.3, 'mean': 2006.0}
    assert r['tpot_ms']['p90'] == 20.2 and r['itl_ms']['p99'] == 20.4
    assert r['e2e_ms'] == {'p50': 12300.0, 'p90': 12304.3, 'p99': 12305.1, 'mean': 12300.2}


def test_read_result_json_wins_over_csv_where_both_report(tmp_path):
    data = dict(AIS_JSON, **{'Success Requests': {'total': 7}})
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', json_data=data)
    assert aisbench.read_result(csv_path=paths['csv'], json_path=paths['json'])['succeeded'] == 7
    assert aisbench.read_result(csv_path=paths['csv'])['succeeded'] == 8


def test_read_result_csv_fallback(tmp_path):
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', json_data=None)
    r = aisbench.read_result(csv_path=paths['csv'])
    assert r['source'] == paths['csv'] and r['sources'] == [paths['csv']]
    assert r['ttft_ms']['p50'] == 2006.1 and r['e2e_ms']['p99'] == 12305.1
    assert r['succeeded'] == 8      # E2EL's N: the successful requests
    for key in ('requests', 'failed', 'concurrency', 'output_tokens', 'output_tokens_per_s', 'requests_per_s',
                'duration_s'):
        assert r[key] is None, key


def test_read_result_json_only_has_no_latencies(tmp_path):
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', csv_text=None)
    r = aisbench.read_result(json_path=paths['json'])
    assert r['requests'] == 10 and r['duration_s'] == pytest.approx(98.4094916)
    assert r['ttft_ms'] == {'p50': None, 'p90': None, 'p99': None, 'mean': None}


def test_units_converted_explicitly(tmp_path):
    # AISBench writes ms everywhere (the duration too); a value written in seconds or microseconds is converted.
    text = AIS_CSV.replace('2006.1 ms', '2.0061 s').replace('2007.3 ms', '2007300 us')
    data = dict(AIS_JSON, **{'Benchmark Duration': {'total': '98.4094916 s'}})
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', csv_text=text, json_data=data)
    r = aisbench.read_result(csv_path=paths['csv'], json_path=paths['json'])
    assert r['ttft_ms']['p50'] == pytest.approx(2006.1)
    assert r['ttft_ms']['p99'] == pytest.approx(2007.3)
    assert r['duration_s'] == pytest.approx(98.4094916)
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110905')
    assert aisbench.read_result(json_path=paths['json'])['duration_s'] == pytest.approx(98.4094916)  # from ms


def test_value_parsers():
    assert aisbench.parse_value('2006.1 ms') == (2006.1, 'ms')
    assert aisbench.parse_value(' 41.6 token/s ') == (41.6, 'token/s')
    assert aisbench.parse_value('/') == (None, '') and aisbench.parse_value('') == (None, '')
    assert aisbench.to_ms('1.5 s') == 1500.0 and aisbench.to_ms('250 us') == 0.25
    assert aisbench.to_ms('5102 \u03bcs') == 5.102 and aisbench.to_ms(12.5) == 12.5
    assert aisbench.to_ms('3', default_unit='s') == 3000.0
    assert aisbench.to_s('98409.4916 ms') == pytest.approx(98.4094916) and aisbench.to_s('9.5827 s') == 9.5827
    assert aisbench.to_rate('0.0813 req/s') == 0.0813 and aisbench.to_rate(41) == 41.0
    assert aisbench.to_count('4( 80.0% )') == 4 and aisbench.to_count('5[ 100.0% ]') == 5
    assert aisbench.to_count('8.0') == 8 and aisbench.to_count(8) == 8
    for bad, parse in (('fast', aisbench.to_ms), ('12 parsecs', aisbench.to_ms), ('3 GB', aisbench.to_rate),
                       ('2.5', aisbench.to_count)):
        with pytest.raises(ValueError):
            parse(bad)


def test_missing_metrics_are_none(tmp_path):
    # A non-streamed run: no TTFT, TPOT nor ITL rows; a stats_list without Median and P99.
    text = '\n'.join(['Performance Parameters,Stage,Average,Min,Max,P75,P90,N',
                      'E2EL,total,2868.1 ms,2277.1 ms,3307.2 ms,3158.5 ms,3220.2 ms,30',
                      'InputTokens,total,120.0,100.0,140.0,130.0,135.0,30',
                      'OutputTokens,total,512.0,512.0,512.0,512.0,512.0,30']) + '\n'
    data = dict((k, v) for k, v in AIS_JSON.items() if k not in ('Max Concurrency', 'Total Generated Tokens'))
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', csv_text=text, json_data=data)
    r = aisbench.read_result(csv_path=paths['csv'], json_path=paths['json'])
    for key in ('ttft_ms', 'tpot_ms', 'itl_ms'):
        assert r[key] == {'p50': None, 'p90': None, 'p99': None, 'mean': None}, key
    assert r['e2e_ms'] == {'p50': None, 'p90': 3220.2, 'p99': None, 'mean': 2868.1}
    assert r['concurrency'] is None and r['output_tokens'] is None
    assert r['requests'] == 10


def test_stable_stage_and_p50_column(tmp_path):
    text = AIS_CSV.replace(',total,', ',stable,').replace(',Median,', ',P50,')
    data = dict((k, {'stable': v['total']}) for k, v in AIS_JSON.items())
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', csv_text=text, json_data=data)
    r = aisbench.read_result(csv_path=paths['csv'], json_path=paths['json'])
    assert r['stage'] == 'stable' and r['ttft_ms']['p50'] == 2006.1 and r['requests'] == 10


def test_non_aisbench_csv_refused_with_a_clear_message(tmp_path):
    path = write(str(tmp_path / 'outputs' / 'default' / '20251106_110904' / 'performances' / 'm' / 'x.csv'),
                 'name,latency\nfoo,12\n')
    with pytest.raises(ValueError) as err:
        aisbench.read_result(csv_path=path)
    message = str(err.value)
    assert path in message and 'not an AISBench performance result' in message
    assert 'Performance Parameters' in message and 'name,latency' in message


def test_aisbench_csv_without_e2el_refused(tmp_path):
    path = write(str(tmp_path / 'bad.csv'), 'Performance Parameters,Stage,Average,N\nTTFT,total,3 ms,1\n')
    with pytest.raises(ValueError, match='no E2EL row'):
        aisbench.read_result(csv_path=path)


def test_non_aisbench_json_refused_with_a_clear_message(tmp_path):
    path = write(str(tmp_path / 'other.json'), json.dumps({'accuracy': {'total': 0.9}}))
    with pytest.raises(ValueError) as err:
        aisbench.read_result(json_path=path)
    assert path in str(err.value) and "'Benchmark Duration'" in str(err.value) and 'accuracy' in str(err.value)
    broken = write(str(tmp_path / 'broken.json'), '{"Benchmark Duration": ')
    with pytest.raises(ValueError, match='not JSON'):
        aisbench.read_result(json_path=broken)
    listed = write(str(tmp_path / 'list.json'), '[1, 2]')
    with pytest.raises(ValueError, match='JSON object'):
        aisbench.read_result(json_path=listed)


def test_bad_value_names_file_and_metric(tmp_path):
    _, paths = ais_run(tmp_path / 'outputs', '20251106_110904', csv_text=AIS_CSV.replace('2006.6 ms', 'soon'))
    with pytest.raises(ValueError) as err:
        aisbench.read_result(csv_path=paths['csv'])
    assert paths['csv'] in str(err.value) and 'TTFT P90' in str(err.value)


def test_read_result_needs_a_path():
    with pytest.raises(ValueError, match='neither'):
        aisbench.read_result()


# ------------------------------------------------------------------------------------------------- read_runs


def test_read_runs_latest_only(outputs):
    results, errors = aisbench.read_runs(str(outputs))
    assert errors == []
    assert [(r['timestamp'], r['dataset']) for r in results] == [
        ('20251106_110904', 'aime2024'), ('20251106_110904', 'gsm8k')]
    assert results[0]['ttft_ms']['p50'] == 2006.1 and results[0]['requests'] == 10


def test_read_runs_all(outputs):
    results, errors = aisbench.read_runs(str(outputs / 'default'), latest_only=False)
    assert errors == [] and len(results) == 4
    assert [r['timestamp'] for r in results][-1] == '20250628_151326'


def test_read_runs_collects_errors(outputs):
    ais_run(outputs, '20251106_110904', dataset='broken', csv_text='name,latency\nfoo,12\n', json_data=None)
    ais_run(outputs, '20251106_110904', dataset='badjson', csv_text=None, json_data=['not', 'results'])
    results, errors = aisbench.read_runs(str(outputs))
    assert sorted(r['dataset'] for r in results) == ['aime2024', 'gsm8k']
    assert len(errors) == 2
    assert any('broken.csv' in e and 'not an AISBench performance result' in e for e in errors)
    assert any('badjson.json' in e and 'JSON object' in e for e in errors)


def test_read_runs_reports_an_empty_or_missing_root(tmp_path):
    assert aisbench.read_runs(str(tmp_path / 'nowhere')) == ([], ['%s: no such directory' % (tmp_path / 'nowhere')])
    (tmp_path / 'empty').mkdir()
    results, errors = aisbench.read_runs(str(tmp_path / 'empty'))
    assert results == [] and len(errors) == 1 and 'no AISBench' in errors[0]


# ------------------------------------------------------------------------------------------------- MindIE benchmark


def test_mindie_benchmark_result(tmp_path):
    save = tmp_path / 'instance'
    perf = write(str(save / 'result_perf_20251107153318416.csv'), MB_PERF)
    common = write(str(save / 'result_common_20251107153318416.csv'), MB_COMMON)
    r = aisbench.read_result(csv_path=perf)
    assert r['tool'] == 'mindie_benchmark' and r['sources'] == [perf, common]
    assert r['ttft_ms'] == {'p50': None, 'mean': 394.7728, 'p90': 410.4, 'p99': 419.5}
    # DecodeTime: per-request mean gaps (SLO_P90) for TPOT; every gap (P90, P99) for ITL.
    assert r['tpot_ms'] == {'p50': None, 'mean': 183.7376, 'p90': 185.1, 'p99': None}
    assert r['itl_ms'] == {'p50': None, 'mean': 183.7376, 'p90': 222.7119, 'p99': 226.8792}
    assert r['e2e_ms']['p99'] == 9890.4
    assert (r['requests'], r['failed'], r['succeeded'], r['concurrency']) == (5, 1, 4, 128)
    assert r['duration_s'] == 9.5827 and r['output_tokens_per_s'] == 21.2884 and r['requests_per_s'] == 0.4174
    assert r['abbr'] == 'deepseek-v3' and r['dataset'] == '/data/gsm8k.jsonl'
    assert aisbench.read_result(csv_path=common)['ttft_ms'] == r['ttft_ms']


def test_mindie_benchmark_runs_newest_first(tmp_path):
    save = tmp_path / 'instance'
    write(str(save / 'result_perf_20251107153318416.csv'), MB_PERF)
    write(str(save / 'result_common_20251107153318416.csv'), MB_COMMON)
    write(str(save / 'result_perf_20250517041302288.csv'), MB_PERF)
    write(str(save / 'results_per_request_20251107153318500.json'), '{}')
    runs = aisbench.find_runs(str(save))
    assert [(r['tool'], r['timestamp'], r['common'] is not None) for r in runs] == [
        ('mindie_benchmark', '20251107153318416', True), ('mindie_benchmark', '20250517041302288', False)]
    results, errors = aisbench.read_runs(str(save))
    assert errors == [] and len(results) == 1 and results[0]['requests'] == 5
