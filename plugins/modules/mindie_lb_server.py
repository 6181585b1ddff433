#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_lb_server
short_description: Put a MindIE instance in or out of the load balancer's rotation, or read its state
description:
  - Talks to the HAProxy that the role C(ascend.mindie.loadbalancer) configured, through its runtime API (the local stats
    socket), on the load balancer host. One server of a backend is one MindIE instance.
  - O(state=drain) takes the instance out of rotation for new requests and, with O(wait=true), waits until the
    requests it is serving have finished (HAProxy's C(scur) and C(qcur) are 0) or O(drain_timeout) passes.
    O(state=maint) does the same, then stops HAProxy's health checks of it (for a stop or a restart).
    O(state=ready) puts it back; with O(wait=true) it waits until HAProxy's own health check says it is up.
  - Without O(state) it only reads the server's state.
  - A drain that does not finish in time fails and leaves the server draining, so nothing is stopped under a
    request; set the state again (V(ready)) to undo.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
options:
  socket:
    description:
      - HAProxy's runtime API, the path of its UNIX socket (the role's C(stats socket)) or C(ipv4@HOST:PORT).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: The backend (one per model; the role names it C(model_<model name>)).
    type: str
    required: true
  server:
    description: The server (the role names it C(<node>_<instance>), for example C(node1_mindie-0)).
    type: str
    required: true
  state:
    description:
      - V(ready) in rotation, V(drain) no new requests, V(maint) no new requests and no health checks. Omitted,
        the state is only read.
    type: str
    choices: [ready, drain, maint]
  wait:
    description:
      - With V(drain) or V(maint), wait until the server has nothing in flight; with V(ready), wait until its
        health check is up.
    type: bool
    default: true
  drain_timeout:
    description: Seconds to wait for in-flight requests to finish (V(drain), V(maint)).
    type: int
    default: 600
  ready_timeout:
    description: Seconds to wait for HAProxy's health check to see the server up (V(ready)).
    type: int
    default: 120
seealso:
  - module: ascend.mindie.mindie_service
  - name: HAProxy management guide (runtime API)
    description: The C(set server) and C(show servers state) commands.
    link: https://docs.haproxy.org/2.6/management.html
'''

EXAMPLES = r'''
- name: Take node1's first instance out of rotation and wait for its requests
  ascend.mindie.mindie_lb_server:
    backend: model_qwen2_vl_7b
    server: node1_mindie-0
    state: maint
    drain_timeout: 300
  delegate_to: "{{ groups['mindie_lb'] | first }}"

- name: Put it back once it serves again
  ascend.mindie.mindie_lb_server:
    backend: model_qwen2_vl_7b
    server: node1_mindie-0
    state: ready
  delegate_to: "{{ groups['mindie_lb'] | first }}"
'''

RETURN = r'''
server:
  description: The server after the change (or as read).
  returned: always
  type: dict
  contains:
    backend:
      description: The backend.
      type: str
      returned: always
    server:
      description: The server.
      type: str
      returned: always
    address:
      description: Where HAProxy sends its requests, C(ip:port).
      type: str
      returned: always
    admin_state:
      description: The admin state, V(ready), V(drain) or V(maint).
      type: str
      returned: always
    operational:
      description: HAProxy's view from its health checks, for example V(up) or V(down).
      type: str
      returned: always
    status:
      description: The C(status) column of C(show stat), for example C(UP), C(DRAIN), C(MAINT) or C(DOWN).
      type: str
      returned: always
    check_status:
      description: The last health check's result, for example C(L7OK) or C(L4CON).
      type: str
      returned: always
    in_flight:
      description: Requests being served now (C(scur)).
      type: int
      returned: always
    queued:
      description: Requests waiting in HAProxy for this server (C(qcur)).
      type: int
      returned: always
    served:
      description: Requests served since HAProxy started (C(stot)).
      type: int
      returned: always
    errors:
      description: Requests to this server that failed since HAProxy started - 5xx answers (C(hrsp_5xx)), failed
        responses (C(eresp)) and failed connections (C(econ)). The rollout's canary gate compares it before and after
        the soak.
      type: int
      returned: always
previous_admin_state:
  description: The admin state before the change.
  returned: always
  type: str
drain_seconds:
  description: Seconds spent waiting for in-flight requests (V(drain), V(maint) with O(wait)).
  returned: when a drain was waited for
  type: float
ready_seconds:
  description: Seconds until HAProxy's health check saw the server up (V(ready) with O(wait)).
  returned: when a ready state was waited for
  type: float
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ascend.mindie.plugins.module_utils.haproxy_runtime import HAProxyError, HAProxyRuntime


class LoadBalancerServerManager(object):
    """Set one HAProxy server's admin state and wait for what it implies."""

    def __init__(self, module, client=None, clock=time.time, sleep=time.sleep):
        self.module = module
        self.params = module.params
        self.client = client or HAProxyRuntime(self.params['socket'])
        self.clock = clock
        self.sleep = sleep

    def run(self):
        backend, name, wanted = self.params['backend'], self.params['server'], self.params['state']
        before = self.client.server(backend, name)
        result = {'changed': False, 'previous_admin_state': before['admin_state'], 'server': before}
        if wanted is None:
            return result
        if before['admin_state'] != wanted:
            result['changed'] = True
            if self.module.check_mode:
                result['server'] = dict(before, admin_state=wanted)
                return result
            if wanted == 'maint' and before['admin_state'] == 'ready':
                # Through drain first: maint alone would still end the requests in flight the same way, but
                # drain lets HAProxy stop sending before the health checks stop.
                self.client.set_state(backend, name, 'drain')
            self.client.set_state(backend, name, wanted)
        if self.module.check_mode:
            return result
        if not self.params['wait']:
            result['server'] = self.client.server(backend, name)
            return result
        if wanted in ('drain', 'maint'):
            drained, seconds, current = self.client.wait_drained(backend, name, self.params['drain_timeout'],
                                                                 clock=self.clock, sleep=self.sleep)
            result.update(server=current, drain_seconds=seconds)
            if not drained:
                self.module.fail_json(
                    msg="%s/%s still has %d request(s) in flight and %d queued after %d s (drain_timeout); it is "
                        "left in %s so nothing new reaches it. Wait longer (drain_timeout) or set state=ready to "
                        "put it back." % (backend, name, current['in_flight'], current['queued'],
                                          self.params['drain_timeout'], wanted), **result)
        else:
            started = self.clock()
            current = self.client.server(backend, name)
            while current['operational'] != 'up' and self.clock() - started < self.params['ready_timeout']:
                self.sleep(0.5)
                current = self.client.server(backend, name)
            result.update(server=current, ready_seconds=round(self.clock() - started, 3))
            if current['operational'] != 'up':
                self.module.fail_json(
                    msg="%s/%s is back in rotation but HAProxy's health check has not seen it up within %d s "
                        "(last check: %s); it receives no requests until it passes. Look at the instance "
                        "(ascend.mindie.mindie_service, playbooks/collect_logs.yml)."
                        % (backend, name, self.params['ready_timeout'], current['check_status'] or 'none'),
                    **result)
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='str', default='/run/haproxy/admin.sock'),
            backend=dict(type='str', required=True),
            server=dict(type='str', required=True),
            state=dict(type='str', choices=['ready', 'drain', 'maint']),
            wait=dict(type='bool', default=True),
            drain_timeout=dict(type='int', default=600),
            ready_timeout=dict(type='int', default=120),
        ),
        supports_check_mode=True,
    )
    try:
        result = LoadBalancerServerManager(module).run()
    except HAProxyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
