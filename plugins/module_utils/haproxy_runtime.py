# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API (the stats socket), as the loadbalancer role and the rollout use it.

One command per connection (HAProxy's non-interactive mode): the command is sent with a newline, the answer is
read until HAProxy closes. ``show stat`` is CSV (the first line starts with ``# ``), ``show servers state`` is
space-separated with a version line and a header line starting with ``# ``. Only the standard library.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time

# srv_admin_state bits of `show servers state` (HAProxy's server.h: SRV_ADMF_*).
ADMIN_FORCED_MAINT = 0x01
ADMIN_INHERITED_MAINT = 0x02
ADMIN_CONFIG_MAINT = 0x04
ADMIN_FORCED_DRAIN = 0x08
ADMIN_INHERITED_DRAIN = 0x10
ADMIN_RESOLVER_MAINT = 0x20
ADMIN_HOSTNAME_MAINT = 0x40
MAINT_BITS = ADMIN_FORCED_MAINT | ADMIN_INHERITED_MAINT | ADMIN_CONFIG_MAINT | ADMIN_RESOLVER_MAINT | ADMIN_HOSTNAME_MAINT
DRAIN_BITS = ADMIN_FORCED_DRAIN | ADMIN_INHERITED_DRAIN
# srv_op_state: 0 stopped (down), 1 starting, 2 running (up), 3 stopping.
OP_STATES = {0: 'down', 1: 'starting', 2: 'up', 3: 'stopping'}
ADMIN_STATES = ('ready', 'drain', 'maint')
# Bytes read from the socket at a time.
RECV_BYTES = 64 * 1024


class HAProxyError(Exception):
    """The socket cannot be reached, or HAProxy refused a command (its answer is the message)."""


class HAProxyRuntime(object):
    """A client of one HAProxy's runtime API.

    ``address``: the path of a UNIX socket, or ``ipv4@HOST:PORT`` / ``HOST:PORT`` for a TCP one.
    """

    def __init__(self, address, timeout=10.0):
        self.address = address
        self.timeout = timeout

    def _connect(self):
        address = self.address
        if address.startswith('ipv4@'):
            address = address[len('ipv4@'):]
        try:
            if address.startswith('/'):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(address)
            else:
                host, _sep, port = address.rpartition(':')
                sock = socket.create_connection((host, int(port)), self.timeout)
        except (OSError, socket.error, ValueError) as exc:
            raise HAProxyError("cannot reach HAProxy's runtime API at %s: %s (is haproxy running, and does its "
                               "global section have this `stats socket ... level admin`?)" % (self.address, exc))
        return sock

    def command(self, line):
        """Send one command, return HAProxy's whole answer as text."""
        sock = self._connect()
        try:
            sock.sendall((line.strip() + '\n').encode('utf-8'))
            chunks = []
            while True:
                data = sock.recv(RECV_BYTES)
                if not data:
                    break
                chunks.append(data)
        except (OSError, socket.error) as exc:
            raise HAProxyError("HAProxy's runtime API at %s: '%s' failed: %s" % (self.address, line, exc))
        finally:
            sock.close()
        return b''.join(chunks).decode('utf-8', 'replace')

    def show_stat(self):
        """``show stat`` as a list of dicts (pxname, svname, scur, qcur, status, check_status, ...)."""
        return parse_stat_csv(self.command('show stat'))

    def servers_state(self, backend):
        """``show servers state <backend>`` as {server name: dict}."""
        answer = self.command('show servers state %s' % backend)
        if 'Can\'t find backend' in answer or 'No such backend' in answer:
            raise HAProxyError("HAProxy has no backend '%s': %s" % (backend, answer.strip()))
        return parse_servers_state(answer)

    def server(self, backend, server):
        """The state of one server: admin_state (ready/drain/maint), operational (up/down/...), in_flight, ..."""
        states = self.servers_state(backend)
        if server not in states:
            raise HAProxyError("HAProxy's backend '%s' has no server '%s' (it has: %s); the load balancer's config "
                               "is older than the fleet's plans: run the loadbalancer role"
                               % (backend, server, ', '.join(sorted(states)) or 'none'))
        row = states[server]
        stat = [s for s in self.show_stat() if s.get('pxname') == backend and s.get('svname') == server]
        stat = stat[0] if stat else {}
        return {
            'backend': backend,
            'server': server,
            'address': '%s:%s' % (row.get('srv_addr'), row.get('srv_port')),
            'admin_state': admin_state(row.get('srv_admin_state')),
            'operational': OP_STATES.get(_int(row.get('srv_op_state')), 'unknown'),
            'status': stat.get('status', ''),
            'check_status': stat.get('check_status', ''),
            'in_flight': _int(stat.get('scur')),
            'queued': _int(stat.get('qcur')),
            'served': _int(stat.get('stot')),
            # what went wrong with this server: 5xx answers, failed responses and failed connections
            'errors': _int(stat.get('hrsp_5xx')) + _int(stat.get('eresp')) + _int(stat.get('econ')),
        }

    def set_state(self, backend, server, state):
        if state not in ADMIN_STATES:
            raise HAProxyError('state must be one of %s, not %s' % (', '.join(ADMIN_STATES), state))
        answer = self.command('set server %s/%s state %s' % (backend, server, state)).strip()
        if answer:
            raise HAProxyError("HAProxy refused 'set server %s/%s state %s': %s" % (backend, server, state, answer))

    def wait_drained(self, backend, server, timeout, interval=0.5, clock=time.time, sleep=time.sleep):
        """Wait until the server has no request in flight and none queued; returns (drained, seconds, server)."""
        started = clock()
        while True:
            current = self.server(backend, server)
            if current['in_flight'] == 0 and current['queued'] == 0:
                return True, round(clock() - started, 3), current
            if clock() - started >= timeout:
                return False, round(clock() - started, 3), current
            sleep(interval)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def admin_state(value):
    """ready, drain or maint from srv_admin_state (maintenance wins over drain, as HAProxy shows it)."""
    bits = _int(value)
    if bits & MAINT_BITS:
        return 'maint'
    if bits & DRAIN_BITS:
        return 'drain'
    return 'ready'


def parse_stat_csv(text):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith('# '):
        raise HAProxyError("unexpected answer to 'show stat': %s" % (text.strip()[:200] or 'nothing'))
    header = lines[0][2:].split(',')
    rows = []
    for line in lines[1:]:
        values = line.split(',')
        rows.append(dict(zip(header, values)))
    return rows


def parse_servers_state(text):
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    rows = {}
    for line in lines:
        if line.startswith('# '):
            header = line[2:].split()
            continue
        if header is None:
            continue   # the format version line ("1")
        values = line.split()
        row = dict(zip(header, values))
        if 'srv_name' in row:
            rows[row['srv_name']] = row
    if header is None:
        raise HAProxyError("unexpected answer to 'show servers state': %s" % (text.strip()[:200] or 'nothing'))
    return rows
