#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_peer_server
short_description: Serve one file (the MindIE image tarball) to the node's peers over HTTP, in the background
description:
  - With O(state=started), starts a detached HTTP server on the node that answers C(GET) and C(HEAD) of one URL,
    C(http://<address>:<port>/<random token>/<file name>), with O(path), and 404 to every other path. The module
    returns when the server listens, with its RV(url). The server stops by itself after O(lifetime) seconds.
  - With O(state=stopped), stops the server this module started on O(port) (the process it recorded, checked by its
    start time so that a reused pid is never signalled) and removes its state file.
  - It is how the ascend.mindie.image role's C(tree) distribution passes the tarball on from node to node. The
    server sends the file as it is; every receiver checks the SHA-256 of what it fetched before it keeps it
    (M(ansible.builtin.get_url) with C(checksum)).
  - Only the Python standard library is used.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
notes:
  - In check mode the module reports whether a server would be started or stopped, without starting or stopping one.
options:
  state:
    description: Whether the server runs.
    type: str
    choices: [started, stopped]
    default: started
  path:
    description: The file to serve, an absolute path on the node. Required with O(state=started).
    type: path
  address:
    description:
      - The address to listen on and to put in RV(url), one the peers reach this node at. A host name is resolved
        on the node.
    type: str
    default: 0.0.0.0
  port:
    description: The TCP port.
    type: int
    default: 18750
  lifetime:
    description: Seconds after which the server stops by itself, stopped or not.
    type: int
    default: 3600
  state_dir:
    description: Where the server's pid, its start time and URL are kept (mode 0700, files 0600).
    type: path
    default: /run/ascend.mindie
seealso:
  - module: ansible.builtin.get_url
'''

EXAMPLES = r'''
- name: Serve the tarball to the next nodes
  ascend.mindie.mindie_peer_server:
    path: /data/images/mindie.tar
    address: 10.0.0.5
    port: 18750
  register: peer

- name: Fetch it on another node, checking its SHA-256
  ansible.builtin.get_url:
    url: "{{ hostvars['node1'].peer.url }}"
    dest: /data/images/mindie.tar
    checksum: "sha256:{{ tarball_sha256 }}"
    mode: "0640"

- name: Stop serving
  ascend.mindie.mindie_peer_server:
    state: stopped
    port: 18750
'''

RETURN = r'''
url:
  description: The URL that serves the file; V(null) when stopped.
  returned: always
  type: str
  sample: http://10.0.0.5:18750/5b1f0c2e9a7d4e61b0c3a8f2d9e4b7a1/mindie.tar
pid:
  description: The server's process id; V(null) when stopped.
  returned: always
  type: int
  sample: 4321
size:
  description: The size of the file served, in bytes; V(null) when stopped.
  returned: always
  type: int
  sample: 21474836480
'''

import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ascend.mindie.plugins.module_utils import peer_server


class PeerServerManager(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.result = {'changed': False, 'url': None, 'pid': None, 'size': None}

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def address(self):
        address = (self.p['address'] or '').strip()
        if not address:
            self.fail('address must not be empty')
        try:
            return socket.getaddrinfo(address, None)[0][4][0]
        except socket.gaierror as exc:
            self.fail('address %s cannot be resolved on this node: %s' % (address, to_native(exc)))

    def started(self):
        path = self.p['path']
        if not path or not os.path.isabs(path):
            self.fail('path must be an absolute path to the file to serve (state=started), got %r' % path)
        if not os.path.isfile(path):
            self.fail('%s is not a file on this node: nothing to serve' % path)
        address = self.address()
        if self.p['lifetime'] < 1:
            self.fail('lifetime must be at least 1 second, got %d' % self.p['lifetime'])
        self.result['size'] = os.path.getsize(path)
        if self.module.check_mode:
            old = peer_server.read_state_file(peer_server.state_file(self.p['state_dir'], self.p['port']))
            keep = peer_server.alive(old) and old.get('path') == path and old.get('address') == address
            self.result.update(changed=not keep, url=old.get('url') if keep else None, pid=old.get('pid') if keep else None)
            return
        try:
            state, changed = peer_server.start(path, address, self.p['port'], self.p['lifetime'], self.p['state_dir'])
        except (peer_server.PeerServerError, OSError) as exc:
            self.fail(to_native(exc))
        self.result.update(changed=changed, url=state['url'], pid=state['pid'])

    def stopped(self):
        statefile = peer_server.state_file(self.p['state_dir'], self.p['port'])
        if self.module.check_mode:
            self.result['changed'] = os.path.exists(statefile)
            return
        try:
            self.result['changed'] = peer_server.stop(self.p['state_dir'], self.p['port'])
        except OSError as exc:
            self.fail('cannot stop the server on port %d: %s' % (self.p['port'], to_native(exc)))

    def run(self):
        if not 1 <= self.p['port'] <= 65535:
            self.fail('port must be between 1 and 65535, got %d' % self.p['port'])
        getattr(self, self.p['state'])()
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['started', 'stopped'], default='started'),
            path=dict(type='path'),
            address=dict(type='str', default='0.0.0.0'),
            port=dict(type='int', default=18750),
            lifetime=dict(type='int', default=3600),
            state_dir=dict(type='path', default='/run/ascend.mindie'),
        ),
        required_if=[('state', 'started', ('path',))],
        supports_check_mode=True,
    )
    PeerServerManager(module).run()


if __name__ == '__main__':
    main()
