# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving benchmark: a load generator of streamed chat completions and the figures of its steps.

``BenchmarkClient`` sends one streamed OpenAI chat completion (an image and a prompt) and times it from the
client's side: the first content chunk (TTFT), every later chunk (ITL), the end (e2e), and the tokens of
``usage``. ``run_step`` keeps ``concurrency`` of them in flight until ``requests`` were sent; ``summarise`` turns
the records into one entry of ``benchmark.json``'s ``results``. The fleet-wide parts (``find_outliers``,
``run_pa_comparison``) work on those entries. Everything but the client is pure.

Definitions (those of vLLM's and AISBench's serving benchmarks):

* TTFT: request sent to first content chunk; e2e: sent to the end of the stream.
* TPOT of a request: (e2e - TTFT) / (output tokens - 1), for answers of more than one token.
* ITL: the gaps between successive content chunks, over every request.
* output_tokens: the sum of ``usage.completion_tokens`` (the chunks with content where an answer had no usage);
  ``output_tokens_per_s`` = output_tokens / duration_s, duration_s from the first request sent to the last
  answer's end; ``requests_per_s`` the answered requests over the same time.
* goodput: the answered requests within both SLOs (TTFT and TPOT), per second and as a share.
* Percentiles interpolate linearly between the closest ranks (numpy's default method, the one serving benchmarks
  such as vLLM's use), so p50 is the median; p50 <= p90 <= p99 by construction; in milliseconds.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.client as http_client
import json
import math
import socket
import ssl
import threading
import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_api import (
    SSEParser,
    http_error,
    split_base_url,
    stream_body,
    stream_event,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import describe_tls_error

PERCENTILES = (50, 90, 99)
READ_SIZE = 64 * 1024
ERRORS_KEPT = 5

# The guide's run_pa figures (section 7: Qwen2-VL-7B, the 1902x1080 picture, input 8192, output 80, 8 NPUs):
# {hardware profile: (batch size, output tokens, tokens/s)}.
RUN_PA_REFERENCE = {
    '800i-a2-32g': {'batch': 4, 'output_tokens': 80, 'tokens_per_s': 43.0, 'npus': 8},
    '800i-a2-64g': {'batch': 32, 'output_tokens': 80, 'tokens_per_s': 98.79, 'npus': 8},
}


def percentile(values, pct):
    """The ``pct`` percentile of ``values``, linear between the closest ranks (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(math.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(seconds):
    """{p50, p90, p99} in milliseconds (3 decimals) of a list of seconds; the values None when it is empty."""
    out = {}
    for pct in PERCENTILES:
        value = percentile(seconds, pct)
        out['p%d' % pct] = None if value is None else round(value * 1000.0, 3)
    return out


def benchmark_body(model, image, prompt, max_tokens, ignore_eos=True):
    """The streamed chat completion of the guide's 6.3.3, with ``ignore_eos`` so every answer is max_tokens long."""
    body = stream_body(model, image, prompt, max_tokens)
    if ignore_eos:
        body['ignore_eos'] = True
    return body


class BenchmarkClient(object):
    """One streamed chat completion at a time against ``url`` (the business base URL), over ``http``
    (a MindieHTTP: its TLS options). ``clock`` is time.monotonic; tests may give another."""

    def __init__(self, http, url, timeout, clock=time.monotonic, user_agent='ascend.mindie.mindie_benchmark'):
        self.http = http
        self.url = url.strip().rstrip('/')
        self.scheme, self.host, self.port, self.prefix = split_base_url(self.url)
        self.timeout = float(timeout)
        self.clock = clock
        self.user_agent = user_agent

    def send(self, body):
        """Send ``body``; the record of the request: {start, ttft_s, chunk_times, end, output_tokens, prompt_tokens,
        error}. Times are the clock's. Never raises for what the server or the network does."""
        record = {'start': self.clock(), 'ttft_s': None, 'chunk_times': [], 'end': None, 'output_tokens': 0,
                  'prompt_tokens': None, 'error': None}
        deadline = record['start'] + self.timeout
        parser = SSEParser()
        usage = {}
        raw = [b'']
        state = {'done': False, 'errors': []}

        def take(events):
            for data in events:
                event = stream_event(data)
                if event['done']:
                    state['done'] = True
                elif event['error']:
                    state['errors'].append(event['error'])
                else:
                    if event['usage']:
                        usage.update(event['usage'])
                    if event['content']:
                        now = self.clock()
                        if record['ttft_s'] is None:
                            record['ttft_s'] = now - record['start']
                        record['chunk_times'].append(now)

        conn = None
        try:
            conn = self.http.connection(self.scheme, self.host, self.port, self.timeout)
            payload = json.dumps(body, ensure_ascii=False).encode('utf-8')
            conn.request('POST', self.prefix + '/v1/chat/completions', body=payload,
                         headers={'Content-Type': 'application/json', 'Accept': 'text/event-stream',
                                  'Connection': 'close', 'User-Agent': self.user_agent})
            sock = conn.sock        # getresponse() drops conn.sock when the answer closes the connection
            response = conn.getresponse()
            status = response.status
            while True:
                left = deadline - self.clock()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = response.read1(READ_SIZE)
                if not chunk:
                    break
                if status != 200:
                    raw[0] = (raw[0] + chunk)[:2048]
                else:
                    take(parser.feed(chunk))
            if status != 200:
                record['error'] = http_error(status, raw[0])
            else:
                take(parser.close())
        except socket.timeout:
            record['error'] = 'no whole answer within %g s' % self.timeout
        except ssl.SSLError as exc:
            record['error'] = 'TLS error: %s' % to_native(describe_tls_error(exc))
        except (http_client.HTTPException, OSError, ValueError) as exc:
            record['error'] = '%s: %s' % (type(exc).__name__, to_native(exc) or 'no detail')
        finally:
            if conn is not None:
                conn.close()
        record['end'] = self.clock()
        if record['error'] is None:
            if state['errors']:
                record['error'] = state['errors'][0]
            elif not record['chunk_times']:
                record['error'] = 'the stream carried no content'
            elif not state['done']:
                record['error'] = 'the stream ended without [DONE]'
        completion = usage.get('completion_tokens')
        record['output_tokens'] = completion if isinstance(completion, int) and completion > 0 \
            else len(record['chunk_times'])
        if isinstance(usage.get('prompt_tokens'), int):
            record['prompt_tokens'] = usage['prompt_tokens']
        return record


def run_step(send, concurrency, requests, on_record=None):
    """``requests`` calls of ``send()`` with ``concurrency`` in flight (a new one as soon as one ends).

    Returns the records in the order they ended. ``on_record(record)`` is called as each one ends."""
    records = []
    lock = threading.Lock()
    tickets = [requests]

    def worker():
        while True:
            with lock:
                if tickets[0] <= 0:
                    return
                tickets[0] -= 1
            record = send()
            with lock:
                records.append(record)
            if on_record is not None:
                on_record(record)

    threads = [threading.Thread(target=worker, name='benchmark-%d' % i) for i in range(min(concurrency, requests))]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return records


def request_tpot(record):
    """TPOT of one answered request in seconds, None for an answer of one token."""
    tokens = record['output_tokens']
    if record['error'] or record['ttft_s'] is None or tokens < 2:
        return None
    return (record['end'] - record['start'] - record['ttft_s']) / (tokens - 1)


def summarise(records, target, concurrency, slo_ttft_ms=None, slo_tpot_ms=None, extra=None):
    """One entry of benchmark.json's ``results`` from the records of a step (see the module docstring)."""
    ok = [r for r in records if r['error'] is None]
    failed = [r for r in records if r['error'] is not None]
    if records:
        duration = max(r['end'] for r in records) - min(r['start'] for r in records)
    else:
        duration = 0.0
    ttft = [r['ttft_s'] for r in ok]
    e2e = [r['end'] - r['start'] for r in ok]
    tpot = [t for t in (request_tpot(r) for r in ok) if t is not None]
    itl = []
    for record in ok:
        times = record['chunk_times']
        itl.extend(b - a for a, b in zip(times, times[1:]))
    output_tokens = sum(r['output_tokens'] for r in ok)
    prompt = [r['prompt_tokens'] for r in ok if r['prompt_tokens'] is not None]

    def within(record):
        if slo_ttft_ms is not None and record['ttft_s'] * 1000.0 > slo_ttft_ms:
            return False
        per_token = request_tpot(record)
        if slo_tpot_ms is not None and per_token is not None and per_token * 1000.0 > slo_tpot_ms:
            return False
        return True
    good = [r for r in ok if within(r)]

    def rate(count):
        return round(count / duration, 3) if duration > 0 else 0.0
    result = {
        'target': target,
        'concurrency': concurrency,
        'requests': len(records),
        'failed': len(failed),
        'ttft_ms': distribution(ttft),
        'tpot_ms': distribution(tpot),
        'itl_ms': distribution(itl),
        'e2e_ms': distribution(e2e),
        'output_tokens': output_tokens,
        'prompt_tokens_mean': round(sum(prompt) / float(len(prompt)), 1) if prompt else None,
        # tokens over the same rounded duration, so that output_tokens_per_s x duration_s gives output_tokens back
        'duration_s': round(duration, 3),
        'output_tokens_per_s': round(output_tokens / round(duration, 3), 3) if round(duration, 3) > 0 else 0.0,
        'requests_per_s': rate(len(ok)),
        'goodput': {'slo_ttft_ms': slo_ttft_ms, 'slo_tpot_ms': slo_tpot_ms, 'requests': len(good),
                    'requests_per_s': rate(len(good)),
                    'pct': round(100.0 * len(good) / len(records), 1) if records else 0.0},
        'errors': sorted(set(r['error'] for r in failed))[:ERRORS_KEPT],
    }
    if extra:
        result.update(extra)
    return result


def progress_line(result, step=None, steps=None):
    """A one-line account of a step, for the play's output."""
    where = ' (step %d of %d)' % (step, steps) if step and steps else ''
    if result['requests'] == result['failed']:
        return '%s at concurrency %d: all %d requests failed: %s%s' % (
            result['target'], result['concurrency'], result['requests'], '; '.join(result['errors'][:2]), where)
    return ('%s at concurrency %d: %d/%d answered, %.1f output tokens/s, %.2f requests/s, TTFT p50/p99 %s/%s ms, '
            'TPOT p50 %s ms, goodput %s%%%s') % (
        result['target'], result['concurrency'], result['requests'] - result['failed'], result['requests'],
        result['output_tokens_per_s'], result['requests_per_s'], _ms(result['ttft_ms']['p50']),
        _ms(result['ttft_ms']['p99']), _ms(result['tpot_ms']['p50']), result['goodput']['pct'], where)


def _ms(value):
    return 'n/a' if value is None else '%.0f' % value


# ----------------------------------------------------------------------------------------------- the fleet

def find_outliers(results, pct, group_by='profile', min_peers=2):
    """The instances slower than their peers' median by more than ``pct`` percent.

    ``results``: entries of benchmark.json with ``kind`` 'instance' (the balancer's are ignored), ``instance``
    (node/name), ``profile`` and ``output_tokens_per_s``. Peers are the instances of the same hardware profile
    (``group_by='profile'``) or the whole fleet (``'fleet'``). At every concurrency each instance's output tokens/s
    is divided by its peers' median (itself included); an instance is an outlier when the median of its ratios is
    below 1 - pct/100. Groups of fewer than ``min_peers`` instances are not judged (named in ``unjudged``).

    Returns {'threshold_pct', 'group_by', 'outliers': [{instance, node, profile, ratio, slower_pct, steps}],
    'unjudged': [instance], 'ratios': {instance: median ratio}}."""
    groups = {}
    for entry in results:
        if entry.get('kind') != 'instance' or entry.get('requests', 0) == entry.get('failed', 0):
            continue
        key = (entry.get('profile') or '') if group_by == 'profile' else 'fleet'
        groups.setdefault(key, {}).setdefault(entry['concurrency'], []).append(entry)
    ratios, unjudged, meta = {}, [], {}
    for by_concurrency in groups.values():
        members = set(e['instance'] for entries in by_concurrency.values() for e in entries)
        if len(members) < min_peers:
            unjudged.extend(sorted(members))
            continue
        for entries in by_concurrency.values():
            if len(entries) < min_peers:
                continue
            median = _median([e['output_tokens_per_s'] for e in entries])
            for entry in entries:
                meta[entry['instance']] = entry
                if median > 0:
                    ratios.setdefault(entry['instance'], []).append(entry['output_tokens_per_s'] / median)
    floor = 1.0 - float(pct) / 100.0
    outliers = []
    summary = {}
    for instance in sorted(ratios):
        ratio = _median(ratios[instance])
        summary[instance] = round(ratio, 3)
        if ratio < floor:
            entry = meta[instance]
            outliers.append({'instance': instance, 'node': entry.get('node'), 'profile': entry.get('profile'),
                             'ratio': round(ratio, 3), 'slower_pct': round((1.0 - ratio) * 100.0, 1),
                             'steps': len(ratios[instance])})
    return {'threshold_pct': float(pct), 'group_by': group_by, 'outliers': outliers,
            'unjudged': sorted(set(unjudged)), 'ratios': summary}


def _median(values):
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def run_pa_comparison(results, max_tokens):
    """The steps whose setting matches the guide's run_pa measurement (its hardware profile, 8 NPUs per instance,
    concurrency = run_pa's batch size, max_tokens = its output length), each with the guide's figure and the ratio.
    run_pa times the model alone (no HTTP, no scheduler), so the served figure is expected to be close, not equal."""
    out = []
    for entry in results:
        # the plan names profiles atlas-800i-a2-32g, the sandbox and npu_facts 800i-a2-32g
        reference = RUN_PA_REFERENCE.get((entry.get('profile') or '').replace('atlas-', '', 1))
        if entry.get('kind') != 'instance' or not reference:
            continue
        if entry['concurrency'] != reference['batch'] or int(max_tokens) != reference['output_tokens']:
            continue
        if entry.get('npus') not in (None, reference['npus']):
            continue
        ratio = entry['output_tokens_per_s'] / reference['tokens_per_s'] if reference['tokens_per_s'] else None
        out.append({'instance': entry.get('instance'), 'target': entry['target'], 'profile': entry['profile'],
                    'concurrency': entry['concurrency'], 'output_tokens_per_s': entry['output_tokens_per_s'],
                    'run_pa_tokens_per_s': reference['tokens_per_s'],
                    'ratio': None if ratio is None else round(ratio, 3)})
    return out
