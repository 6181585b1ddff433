# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_benchmark against the real simulated MindIE daemon (a local subprocess, through the ``Sim``
helper of tests/unit/sandbox/test_mindie_sim.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
import time
import urllib.error
import urllib.request

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_benchmark

SANDBOX_TESTS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'sandbox'))
if SANDBOX_TESTS not in sys.path:
    sys.path.insert(0, SANDBOX_TESTS)
from test_mindie_sim import Sim, assets, free_port  # noqa: E402,F401  pylint: disable=unused-import
from test_mindie_smoke_test import metric  # noqa: E402

main = mindie_benchmark.main


@pytest.fixture
def running(tmp_path, assets):  # noqa: F811
    sim = Sim(tmp_path, assets)
    proc = sim.start(MIES_SERVICE_MONITOR_MODE=1)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/v2/health/ready' % sim.mport, timeout=2) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.HTTPError, OSError):
            time.sleep(0.05)
    yield sim
    sim.stop(proc)
    sim.cleanup()


def args(sim, **extra):
    out = {'url': 'http://127.0.0.1:%d' % sim.port, 'image': os.path.join(sim.images, 'sample.jpg'),
           'concurrency': 4, 'requests': 8, 'max_tokens': 12, 'slo_ttft_ms': 100000, 'slo_tpot_ms': 100000,
           'labels': {'kind': 'instance', 'node': 'n1', 'instance': 'n1/mindie', 'profile': '800i-a2-32g', 'npus': 8}}
    out.update(extra)
    return out


def test_a_step_counts_what_mindie_generated(running, run_module):
    before = metric(running.xport, 'generation_tokens_total')
    result = run_module(main, args(running))
    step = result['result']
    assert result['changed'] is False
    assert step['requests'] == 8 and step['failed'] == 0 and step['errors'] == []
    # ignore_eos: every answer is max_tokens long; the warm-up request is not counted
    assert step['output_tokens'] == 8 * 12
    assert metric(running.xport, 'generation_tokens_total') - before == (8 + 1) * 12
    assert abs(step['output_tokens_per_s'] * step['duration_s'] - step['output_tokens']) < 0.05
    for key in ('ttft_ms', 'tpot_ms', 'itl_ms', 'e2e_ms'):
        dist = step[key]
        assert 0 < dist['p50'] <= dist['p90'] <= dist['p99'], (key, dist)
    assert step['ttft_ms']['p99'] <= step['e2e_ms']['p99']
    assert step['prompt_tokens_mean'] > 2600     # the 1902x1080 picture's tokens
    assert step['goodput']['pct'] == 100.0
    assert step['kind'] == 'instance' and step['instance'] == 'n1/mindie' and step['max_tokens'] == 12
    assert 'n1' not in result['msg'] and '8/8 answered' in result['msg']


def test_goodput_counts_only_the_requests_within_the_slo(running, run_module):
    step = run_module(main, args(running, slo_ttft_ms=0.001))['result']
    assert step['goodput']['requests'] == 0 and step['goodput']['pct'] == 0.0


def test_every_request_failing_fails_the_step_with_its_figures(run_module):
    result = run_module(main, {'url': 'http://127.0.0.1:%d' % free_port(), 'requests': 2, 'concurrency': 1,
                               'warmup_requests': 0}, expect_fail=True)
    assert result['result']['failed'] == 2
    assert 'all 2 requests failed' in result['msg'] and 'Connection' in result['msg']


def test_bad_options_are_refused_before_anything_is_sent(run_module, tmp_path):
    result = run_module(main, {'url': 'ftp://x', 'image': 'relative.jpg', 'concurrency': 8, 'requests': 4,
                               'max_tokens': 0, 'slo_ttft_ms': -1}, expect_fail=True)
    for part in ('ftp://x', 'image must be an absolute path', 'requests (4) must be at least concurrency (8)',
                 'max_tokens must be at least 1', 'slo_ttft_ms must be greater than 0', 'Nothing was sent'):
        assert part in result['msg'], part
    missing = str(tmp_path / 'none.pem')
    result = run_module(main, {'url': 'https://127.0.0.1:1', 'ca_path': missing}, expect_fail=True)
    assert 'cannot set up TLS' in result['msg'] and missing in result['msg']


def test_check_mode_sends_nothing(running, run_module):
    before = metric(running.xport, 'request_received_total')
    result = run_module(main, args(running), check_mode=True)
    assert result['skipped'] is True and 'would send 8 requests' in result['msg']
    assert metric(running.xport, 'request_received_total') == before
