# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving benchmark's figures (plugins/module_utils/benchmark.py): percentiles, the step's summary, outliers
and the run_pa comparison, on records whose times are known."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import statistics
import threading
import time

from ansible_collections.ascend.mindie.plugins.module_utils import benchmark as bm


def record(start, ttft, gaps, tokens=None, error=None, prompt=2671):
    """A request sent at ``start`` whose first chunk came ``ttft`` s later and the others ``gaps`` apart."""
    times = [start + ttft]
    for gap in gaps:
        times.append(times[-1] + gap)
    return {'start': start, 'ttft_s': ttft, 'chunk_times': times, 'end': times[-1] + 0.001,
            'output_tokens': len(times) if tokens is None else tokens, 'prompt_tokens': prompt, 'error': error}


def test_percentiles_interpolate_between_ranks_as_numpy_does():
    values = [0.1 * i for i in range(1, 101)]
    # numpy.percentile(values, [50, 90, 99]) (its default, linear method)
    assert [round(bm.percentile(values, q), 9) for q in (50, 90, 99)] == [5.05, 9.01, 9.901]
    assert bm.percentile([], 50) is None
    assert bm.percentile([3.0], 99) == 3.0
    # a staircase (prefills served one at a time): the median is the middle of the two middle values
    stairs = [0.665] * 8 + [1.33] * 8 + [2.0] * 8 + [2.66] * 8
    assert bm.percentile(stairs, 50) == statistics.median(stairs)
    dist = bm.distribution([0.5, 0.1, 0.3, 0.2, 0.9])
    assert dist == {'p50': 300.0, 'p90': 740.0, 'p99': 884.0}
    assert dist['p50'] <= dist['p90'] <= dist['p99']
    assert bm.distribution([]) == {'p50': None, 'p90': None, 'p99': None}


def test_summary_of_a_step():
    records = [record(0.0, 1.0, [0.05] * 9), record(0.0, 2.0, [0.05] * 9), record(1.0, 1.5, [0.1] * 9),
               record(1.0, 0.0, [], tokens=0, error='HTTP 503: busy')]
    result = bm.summarise(records, 'http://n:1025', 4, slo_ttft_ms=1600, slo_tpot_ms=60, extra={'kind': 'instance'})
    assert result['requests'] == 4 and result['failed'] == 1
    assert result['errors'] == ['HTTP 503: busy']
    assert result['output_tokens'] == 30
    # first sent at 0, last answered at 1 + 1.5 + 0.9 + 0.001
    assert result['duration_s'] == 3.401
    assert result['output_tokens_per_s'] == round(30 / 3.401, 3)
    assert abs(result['output_tokens_per_s'] * result['duration_s'] - result['output_tokens']) < 0.01
    assert result['requests_per_s'] == round(3 / 3.401, 3)
    # TTFTs 1.0, 1.5, 2.0 s: p90 and p99 between the last two ranks
    assert result['ttft_ms'] == {'p50': 1500.0, 'p90': 1900.0, 'p99': 1990.0}
    # TPOT: (e2e - ttft) / (tokens - 1) = (0.45 + 0.001) / 9 and (0.9 + 0.001) / 9
    assert result['tpot_ms']['p50'] == round((0.451 / 9) * 1000, 3)
    assert result['tpot_ms']['p99'] == round((0.451 / 9 + 0.98 * 0.45 / 9) * 1000, 3)
    assert result['itl_ms']['p50'] == 50.0 and result['itl_ms']['p99'] == 100.0
    # within TTFT 1.6 s and TPOT 60 ms: the first only (the second is late, the third slow per token)
    assert result['goodput']['requests'] == 1 and result['goodput']['pct'] == 25.0
    assert result['kind'] == 'instance' and result['concurrency'] == 4 and result['prompt_tokens_mean'] == 2671.0
    line = bm.progress_line(result)
    assert '3/4 answered' in line and 'concurrency 4' in line


def test_a_step_of_failures_only():
    result = bm.summarise([record(0.0, 0.0, [], tokens=0, error='connection refused')], 'u', 1)
    assert result['failed'] == 1 and result['output_tokens'] == 0 and result['output_tokens_per_s'] == 0.0
    assert result['ttft_ms']['p50'] is None
    assert 'all 1 requests failed: connection refused' in bm.progress_line(result)


def test_run_step_keeps_concurrency_in_flight_and_sends_exactly_the_requests():
    lock = threading.Lock()
    state = {'now': 0, 'peak': 0, 'sent': 0}

    def send():
        with lock:
            state['now'] += 1
            state['sent'] += 1
            state['peak'] = max(state['peak'], state['now'])
        time.sleep(0.02)
        with lock:
            state['now'] -= 1
        return record(0.0, 0.01, [0.01])
    records = bm.run_step(send, 4, 10)
    assert len(records) == 10 and state['sent'] == 10
    assert state['peak'] == 4


def entry(instance, profile, concurrency, rate, kind='instance', npus=8):
    return {'kind': kind, 'instance': instance, 'node': instance.split('/')[0], 'profile': profile,
            'concurrency': concurrency, 'output_tokens_per_s': rate, 'requests': 8, 'failed': 0,
            'target': 'http://%s' % instance, 'npus': npus}


def test_the_slow_instance_is_the_outlier_among_its_peers():
    results = []
    for c, base in ((1, 20.0), (4, 44.0), (16, 90.0)):
        results += [entry('a/mindie', '800i-a2-64g', c, base), entry('b/mindie', '800i-a2-64g', c, base * 1.05),
                    entry('c/mindie', '800i-a2-64g', c, base * 0.6), entry('d/mindie', '800i-a2-32g', c, base * 0.5),
                    entry('lb', None, c, base * 2, kind='balancer')]
    found = bm.find_outliers(results, 20)
    assert [o['instance'] for o in found['outliers']] == ['c/mindie']
    assert found['outliers'][0]['slower_pct'] == 40.0 and found['outliers'][0]['steps'] == 3
    # the only 32G instance has no peer: not judged, not an outlier
    assert found['unjudged'] == ['d/mindie']
    # the whole fleet as peers: the 32G one is slow too
    fleet = bm.find_outliers(results, 20, group_by='fleet')
    assert [o['instance'] for o in fleet['outliers']] == ['c/mindie', 'd/mindie']
    # within the threshold: no outlier
    assert bm.find_outliers(results, 45)['outliers'] == []


def test_run_pa_comparison_only_where_the_setting_matches():
    results = [entry('a/mindie', '800i-a2-32g', 4, 45.0), entry('a/mindie', '800i-a2-32g', 16, 80.0),
               entry('b/mindie', 'atlas-800i-a2-64g', 32, 101.0), entry('c/mindie-0', '800i-a2-64g', 32, 60.0, npus=4)]
    out = bm.run_pa_comparison(results, 80)
    assert [(r['instance'], r['run_pa_tokens_per_s']) for r in out] == [('a/mindie', 43.0), ('b/mindie', 98.79)]
    assert out[0]['ratio'] == round(45.0 / 43.0, 3)
    assert bm.run_pa_comparison(results, 64) == []


def test_the_body_asks_for_an_image_stream_and_ignore_eos():
    body = bm.benchmark_body('qwen2_vl', 'file:///data/x.jpg', 'Explain.', 80)
    assert body['stream'] is True and body['ignore_eos'] is True and body['max_tokens'] == 80
    parts = body['messages'][0]['content']
    assert {'type': 'image_url', 'image_url': {'url': 'file:///data/x.jpg'}} in parts
    assert 'ignore_eos' not in bm.benchmark_body('qwen2_vl', 'file:///x', 'p', 8, ignore_eos=False)
