#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_benchmark
short_description: Measure a MindIE Service under load - one step of the serving benchmark
description:
  - >-
    Sends O(requests) streamed OpenAI chat completions (the guide's 6.3.3 request with O(image) and O(prompt), with
    O(max_tokens) and, by default, C(ignore_eos) so every answer is that long) to C(<url>/v1/chat/completions),
    keeping O(concurrency) of them in flight, and times each from the client's side.
  - "Returns one entry of the benchmark report (RV(result)): time to first token (TTFT), time per output token
    (TPOT: (e2e - TTFT) / (tokens - 1) per request), inter-token latency (ITL: the gaps between content chunks) and
    end-to-end latency as p50/p90/p99 in milliseconds (linear between ranks, numpy's default), output tokens
    (from C(usage.completion_tokens)), output tokens/s and requests/s over the step's duration (first request sent to last answer received), and
    goodput: the answered requests within O(slo_ttft_ms) and O(slo_tpot_ms)."
  - O(warmup_requests) requests are sent first, one at a time, and not counted (the first answers after an idle
    spell are not what a busy server gives).
  - "A failed request (an HTTP error, a timeout, a stream without content or without C([DONE])) is counted in
    RV(result.failed) with its error in RV(result.errors); the module fails only when every request failed, or for bad
    options (before any request is sent)."
  - Run it on the node for the node's instances (no network between the client and MindIE), or anywhere that reaches
    O(url), such as a load balancer's host. Only the Python standard library is used.
  - Each step is one call; the role M(ascend.mindie.benchmark) calls it per instance and concurrency and prints a
    progress line (RV(msg)) after each.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
  - ascend.mindie.tls
attributes:
  check_mode:
    details: >-
      Sends nothing (a benchmark loads the service for minutes) and returns RV(skipped) with what it would send; a
      benchmark changes nothing on the node either way.
options:
  url:
    description:
      - Base URL of MindIE's business endpoint (or of a load balancer in front of several), for example
        V(http://127.0.0.1:1025).
    type: str
    required: true
  target:
    description:
      - The name of what is measured in RV(result.target). Default O(url).
    type: str
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 1
  requests:
    description:
      - Requests of the step (measured ones; O(warmup_requests) come on top). At least O(concurrency), so every
        worker sends one.
    type: int
    default: 32
  warmup_requests:
    description: Requests sent one at a time before the step and not counted.
    type: int
    default: 1
  model:
    description: The model name of the requests (config.json's C(modelName)).
    type: str
    default: qwen2_vl
  image:
    description: The image the requests carry, as MindIE sees it (a path in its container, file://, http(s)://, data:).
    type: str
    default: /data/test_images/sample.jpg
  prompt:
    description: The text sent with the image.
    type: str
    default: Explain the details in the image.
  max_tokens:
    description: Tokens asked for per answer (the guide's run_pa measures 80).
    type: int
    default: 80
  ignore_eos:
    description: Ask MindIE to go on past the end-of-sequence token, so every answer has O(max_tokens) tokens.
    type: bool
    default: true
  timeout:
    description: Seconds each request may take, queueing included.
    type: float
    default: 300
  slo_ttft_ms:
    description: The TTFT a request must stay within to count in RV(result.goodput); null for no TTFT bound.
    type: float
  slo_tpot_ms:
    description: The TPOT a request must stay within to count in RV(result.goodput); null for no TPOT bound.
    type: float
  labels:
    description:
      - Keys copied into RV(result) as they are, for the report (the role gives C(kind), C(node), C(instance),
        C(profile), C(npus)).
    type: dict
    default: {}
notes:
  - The client closes each connection after its answer, as MindIE asks (C(Connection close)); a restart of MindIE
    right after a benchmark may then wait for the port's TIME_WAIT, which ascend.mindie.mindie_service handles.
seealso:
  - module: ascend.mindie.mindie_smoke_test
  - module: ascend.mindie.mindie_benchmark_report
'''

EXAMPLES = r'''
- name: Measure the node's instance at 16 concurrent requests
  ascend.mindie.mindie_benchmark:
    url: http://127.0.0.1:1025
    concurrency: 16
    requests: 64
    image: /data/test_images/sample.jpg
    slo_ttft_ms: 3000
    slo_tpot_ms: 100
  register: step

- name: Show it
  ansible.builtin.debug:
    msg: "{{ step.msg }}"
'''

RETURN = r'''
msg:
  description: A one-line account of the step (the progress line).
  returned: always
  type: str
  sample: "http://127.0.0.1:1025 at concurrency 4: 16/16 answered, 43.9 output tokens/s, 0.55 requests/s, ..."
skipped:
  description: True in check mode (nothing was sent).
  returned: in check mode
  type: bool
result:
  description: The step's figures, one entry of the report's C(results).
  returned: success or when every request failed
  type: dict
  contains:
    target:
      description: "O(target)."
      type: str
      returned: always
    concurrency:
      description: "O(concurrency)."
      type: int
      returned: always
    requests:
      description: "Requests measured."
      type: int
      returned: always
    failed:
      description: "Requests that failed."
      type: int
      returned: always
    ttft_ms:
      description: "TTFT percentiles C({p50, p90, p99}) in ms (null without an answered request)."
      type: dict
      returned: always
    tpot_ms:
      description: "TPOT percentiles in ms."
      type: dict
      returned: always
    itl_ms:
      description: "Inter-token latency percentiles in ms."
      type: dict
      returned: always
    e2e_ms:
      description: "End-to-end latency percentiles in ms."
      type: dict
      returned: always
    output_tokens:
      description: "Output tokens of the answered requests."
      type: int
      returned: always
    output_tokens_per_s:
      description: "output_tokens / duration_s."
      type: float
      returned: always
    requests_per_s:
      description: "Answered requests / duration_s."
      type: float
      returned: always
    duration_s:
      description: "First request sent to last answer received, in seconds."
      type: float
      returned: always
    prompt_tokens_mean:
      description: "Mean prompt tokens (the image's included) MindIE reported."
      type: float
      returned: always
    goodput:
      description: "C({slo_ttft_ms, slo_tpot_ms, requests, requests_per_s, pct}) of the requests within both SLOs."
      type: dict
      returned: always
    errors:
      description: "The distinct errors (at most 5)."
      type: list
      returned: always
      elements: str
    max_tokens:
      description: "O(max_tokens)."
      type: int
      returned: always
    url:
      description: "O(url)."
      type: str
      returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ascend.mindie.plugins.module_utils import benchmark
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_api import image_url, split_base_url
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    MindieHTTP,
    TLSSetupError,
    tls_argument_spec,
)


class MindieBenchmark(object):
    """One step: check the options, warm up, run, summarise."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.http = MindieHTTP.from_params(self.p)
        self.body = None

    def problems(self):
        """What is wrong with the options (each named), before anything is sent."""
        p = self.p
        found = []
        try:
            scheme = split_base_url(p['url'])[0]
        except ValueError as exc:
            found.append(to_native(exc))
            scheme = None
        try:
            image = image_url(p['image'])
        except ValueError as exc:
            found.append(to_native(exc))
            image = None
        if p['concurrency'] < 1:
            found.append('concurrency must be at least 1, got %d' % p['concurrency'])
        if p['requests'] < max(p['concurrency'], 1):
            found.append('requests (%d) must be at least concurrency (%d), so that every worker sends one'
                         % (p['requests'], p['concurrency']))
        if p['warmup_requests'] < 0:
            found.append('warmup_requests must not be negative, got %d' % p['warmup_requests'])
        if p['max_tokens'] < 1:
            found.append('max_tokens must be at least 1, got %d' % p['max_tokens'])
        if p['timeout'] <= 0:
            found.append('timeout must be greater than 0, got %s' % p['timeout'])
        for name in ('slo_ttft_ms', 'slo_tpot_ms'):
            if p[name] is not None and p[name] <= 0:
                found.append('%s must be greater than 0 (or null for no bound), got %s' % (name, p[name]))
        if not (p['model'] or '').strip():
            found.append('model must not be empty: MindIE requires the model name (ModelConfig.modelName)')
        if p['client_key'] and not p['client_cert']:
            found.append('client_key needs client_cert')
        if scheme == 'https':
            try:
                self.http.check()
            except TLSSetupError as exc:
                found.append('cannot set up TLS: %s' % to_native(exc))
        if not found:
            self.body = benchmark.benchmark_body(p['model'].strip(), image, p['prompt'], p['max_tokens'],
                                                 ignore_eos=p['ignore_eos'])
        return found

    def run(self):
        p = self.p
        target = p['target'] or p['url'].strip().rstrip('/')
        found = self.problems()
        if found:
            self.module.fail_json(msg='ascend.mindie.mindie_benchmark: %s. Nothing was sent.' % '; '.join(found))
        if self.module.check_mode:
            self.module.exit_json(changed=False, skipped=True,
                                  msg='check mode: would send %d requests (%d in flight, %d to warm up) to %s'
                                  % (p['requests'], p['concurrency'], p['warmup_requests'], target))
        client = benchmark.BenchmarkClient(self.http, p['url'], p['timeout'])
        for dummy in range(p['warmup_requests']):
            client.send(self.body)
        records = benchmark.run_step(lambda: client.send(self.body), p['concurrency'], p['requests'])
        extra = dict(p['labels'] or {})
        extra.update(max_tokens=p['max_tokens'], url=p['url'].strip().rstrip('/'))
        result = benchmark.summarise(records, target, p['concurrency'], p['slo_ttft_ms'], p['slo_tpot_ms'], extra)
        msg = benchmark.progress_line(result)
        if result['failed'] == result['requests']:
            self.module.fail_json(msg='ascend.mindie.mindie_benchmark: ' + msg, result=result)
        self.module.exit_json(changed=False, msg=msg, result=result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            target=dict(type='str'),
            concurrency=dict(type='int', default=1),
            requests=dict(type='int', default=32),
            warmup_requests=dict(type='int', default=1),
            model=dict(type='str', default='qwen2_vl'),
            image=dict(type='str', default='/data/test_images/sample.jpg'),
            prompt=dict(type='str', default='Explain the details in the image.'),
            max_tokens=dict(type='int', default=80, no_log=False),
            ignore_eos=dict(type='bool', default=True),
            timeout=dict(type='float', default=300),
            slo_ttft_ms=dict(type='float'),
            slo_tpot_ms=dict(type='float'),
            labels=dict(type='dict', default={}),
            **tls_argument_spec()
        ),
        supports_check_mode=True,
    )
    MindieBenchmark(module).run()


if __name__ == '__main__':
    main()
