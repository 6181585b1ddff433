# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_benchmark_report: the files it writes on the controller."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

from PIL import Image

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.ascend.mindie.plugins.action import mindie_benchmark_report as mbr

from test_mindie_report import FakeConnection, FakeTask


def run(args, check_mode=False):
    loader = DataLoader()
    action = mbr.ActionModule(FakeTask(args, check_mode), FakeConnection(), None, loader,
                              Templar(loader=loader, variables={}), None)
    return action.run(task_vars={})


def step(instance, concurrency, rate, profile='800i-a2-64g', kind='instance'):
    dist = {'p50': 100.0 * concurrency, 'p90': 120.0 * concurrency, 'p99': 150.0 * concurrency}
    return {'kind': kind, 'instance': instance if kind == 'instance' else None,
            'node': instance.split('/')[0] if kind == 'instance' else None, 'profile': profile if kind == 'instance' else None,
            'npus': 8, 'target': 'http://%s:1025' % instance.split('/')[0], 'concurrency': concurrency, 'requests': 32,
            'failed': 0, 'ttft_ms': dist, 'tpot_ms': dict((k, v / 10) for k, v in dist.items()),
            'itl_ms': dict((k, v / 10) for k, v in dist.items()), 'e2e_ms': dict((k, v * 3) for k, v in dist.items()),
            'output_tokens': 2560, 'output_tokens_per_s': rate, 'requests_per_s': rate / 80, 'duration_s': 2560 / rate,
            'prompt_tokens_mean': 2671.0, 'max_tokens': 80, 'errors': [],
            'goodput': {'slo_ttft_ms': 3000, 'slo_tpot_ms': 100, 'requests': 32, 'requests_per_s': 1.0, 'pct': 100.0}}


RESULTS = [step('a/mindie', c, r) for c, r in ((1, 25.0), (32, 100.0))] + \
    [step('b/mindie', c, r) for c, r in ((1, 24.0), (32, 97.0))] + \
    [step('c/mindie', c, r) for c, r in ((1, 12.0), (32, 50.0))] + \
    [step('lb', c, r, kind='balancer') for c, r in ((1, 24.0), (32, 250.0))]


def test_the_report_names_the_slow_node_and_draws_real_charts(tmp_path):
    result = run({'results': RESULTS, 'dir': str(tmp_path / 'r'), 'run_time': '20261202T100000Z',
                  'settings': {'concurrency': [1, 32], 'max_tokens': 80}, 'outlier_pct': 20})
    assert not result.get('failed'), result
    assert [o['instance'] for o in result['outliers']] == ['c/mindie']
    with open(str(tmp_path / 'r' / 'benchmark.json')) as handle:
        report = json.load(handle)
    assert report['time'] == '20261202T100000Z' and len(report['results']) == 8
    assert report['outliers']['outliers'][0]['node'] == 'c'
    assert [r['instance'] for r in report['run_pa']] == ['a/mindie', 'b/mindie', 'c/mindie']
    assert sorted(report['plots']) == ['node-a.png', 'node-b.png', 'node-c.png', 'throughput.png', 'tpot.png', 'ttft.png']
    for name in report['plots']:
        with Image.open(str(tmp_path / 'r' / name)) as image:
            image.verify()
        with Image.open(str(tmp_path / 'r' / name)) as image:
            assert image.format == 'PNG' and image.size == (960, 600)
            # drawn on: more than the white background and the axes
            assert len(image.convert('RGB').getcolors(100000)) > 10
    markdown = (tmp_path / 'r' / 'benchmark.md').read_text()
    assert '**c/mindie**' in markdown and '| balancer |' in markdown and '![throughput.png](throughput.png)' in markdown


def test_default_directory_and_check_mode(tmp_path, monkeypatch):
    monkeypatch.setenv('PWD', str(tmp_path))
    result = run({'results': RESULTS[:2], 'run_time': 'T1'}, check_mode=True)
    assert result['changed'] is True and result['dir'] == str(tmp_path / 'reports' / 'benchmark' / 'T1')
    assert not os.path.exists(result['dir'])
    result = run({'results': RESULTS[:2], 'run_time': 'T1', 'plots': False})
    assert sorted(os.listdir(result['dir'])) == ['benchmark.json', 'benchmark.md']


def test_bad_input_writes_nothing(tmp_path):
    result = run({'results': RESULTS, 'dir': str(tmp_path / 'x'), 'outlier_pct': 150})
    assert result['failed'] and 'outlier_pct must be between 0 and 100' in result['msg']
    assert not os.path.exists(str(tmp_path / 'x'))
    result = run({'results': RESULTS, 'run_time': '../up'})
    assert result['failed'] and 'run_time must be a plain name' in result['msg']


def test_aisbench_runs_land_in_the_report_beside_ours(tmp_path):
    # The copy the role fetched of the node's ais_bench work dir: two runs, the newest is read.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'module_utils'))
    from test_aisbench import AIS_JSON, ais_run
    work = tmp_path / 'r' / 'aisbench' / 'a' / 'data_ais'
    ais_run(str(work), '20261201_090000')
    newer = dict(AIS_JSON, **{'Output Token Throughput': {'total': '97.5 token/s'}, 'Max Concurrency': {'total': 32}})
    ais_run(str(work), '20261202_090000', json_data=newer)
    result = run({'results': RESULTS[:2], 'dir': str(tmp_path / 'r'), 'run_time': 'T', 'plots': False,
                  'aisbench': [{'node': 'a', 'source': '/data/ais', 'path': str(work)},
                               {'node': 'b', 'source': '/data/none', 'path': str(tmp_path / 'r' / 'aisbench' / 'b')}]})
    assert not result.get('failed'), result
    ais = json.loads((tmp_path / 'r' / 'benchmark.json').read_text())['aisbench']
    assert [(e['node'], e['timestamp'], e['concurrency'], e['output_tokens_per_s']) for e in ais['results']] == \
        [('a', '20261202_090000', 32, 97.5)]
    entry = ais['results'][0]
    assert entry['tool'] == 'ais_bench' and entry['ttft_ms']['p50'] == 2006.1 and entry['source_dir'] == '/data/ais'
    assert all(f.startswith('aisbench/a/data_ais/default/20261202_090000/performances/') for f in entry['files'])
    assert len(ais['errors']) == 1 and ais['errors'][0].startswith('b:/data/none: no AISBench')
    markdown = (tmp_path / 'r' / 'benchmark.md').read_text()
    assert '## AISBench and MindIE benchmark runs' in markdown
    assert '| a | ais_bench | 20261202_090000 | vllm-api-stream-chat / gsm8k | 32 | 10 | 2 | 97.5 |' in markdown
    assert '- b:/data/none: no AISBench' in markdown
    assert '1 AISBench/benchmark CLI result(s) read, not read: b:/data/none' in result['msg']
