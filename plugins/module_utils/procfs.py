# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers of Linux /proc shared by the modules: TCP sockets and the processes that hold them.

One implementation, used in two places:
  - on the node, by the modules themselves (mindie_precheck, mindie_diagnose): call the functions;
  - in a MindIE container (mindie_service's port check), where the module's Python does not run: the
    script ``port_check_script()`` is built from the source text of these same functions
    (``tcp_sockets``, ``socket_holders``), so the container runs exactly this code.

Public API:
  tcp_sockets(text) -> [{port, local, remote, state, inode}]     every socket of /proc/net/tcp{,6} text
  parse_proc_net_tcp(text) -> {port: inode}                      the LISTEN sockets only
  read_proc_net_tcp(proc='/proc') -> text                        net/tcp + net/tcp6 (missing ones skipped)
  socket_holders(inodes, proc='/proc') -> {inode: [{pid, name, cmdline}]}   needs root for other users' fds
  port_check_script() -> Python source run in a container: ``python3 -c SCRIPT bind|who PORT...``
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import inspect
import os
import textwrap

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import unbindable_ports

TCP_LISTEN = '0A'
# The st column of /proc/net/tcp{,6} (include/net/tcp_states.h).
TCP_STATES = {'01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2',
              '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING'}
# /proc/<pid>/cmdline is cut to this many characters in what the readers return.
CMDLINE_LIMIT = 200


def tcp_sockets(text):
    """Every socket in /proc/net/tcp or tcp6 text (either or both concatenated), in order.

    Each is ``{'port': int, 'local': 'HEX:HEX', 'remote': 'HEX:HEX', 'state': 'HEX', 'inode': str}``;
    header and malformed lines are skipped.
    """
    found = []
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 10 or ':' not in fields[1]:
            continue
        try:
            port = int(fields[1].rsplit(':', 1)[1], 16)
        except ValueError:
            continue
        found.append({'port': port, 'local': fields[1], 'remote': fields[2], 'state': fields[3].upper(),
                      'inode': fields[9]})
    return found


def socket_holders(inodes, proc='/proc'):
    """``{inode: [{'pid': int, 'name': comm, 'cmdline': str}, ...]}``: the processes whose fds hold the sockets.

    ``inodes`` are socket inode numbers (str or int; '0' is no socket). Every holder is listed (a forked worker
    that inherited a listening socket holds it as much as its parent), by pid. A process that ends while it is
    read, or whose fds cannot be read (another user's, without root), is skipped.
    """
    targets = dict(('socket:[%s]' % inode, str(inode)) for inode in inodes if str(inode) != '0')
    holders = {}
    if not targets:
        return holders
    pids = sorted(int(name) for name in os.listdir(proc) if name.isdigit())
    for pid in pids:
        fd_dir = os.path.join(proc, str(pid), 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        held = set()
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link in targets:
                held.add(targets[link])
        if not held:
            continue
        try:
            with open(os.path.join(proc, str(pid), 'comm'), 'rb') as handle:
                name = handle.read().decode('utf-8', 'replace').strip()
            with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as handle:
                cmdline = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
        except (IOError, OSError):
            name, cmdline = None, ''
        for inode in sorted(held):
            holders.setdefault(inode, []).append({'pid': pid, 'name': name, 'cmdline': cmdline[:CMDLINE_LIMIT]})
    return holders


def parse_proc_net_tcp(text):
    """{port: socket inode} of the LISTEN sockets in /proc/net/tcp or tcp6 text (either or both
    concatenated; header and malformed lines are skipped; the first inode per port wins)."""
    ports = {}
    for sock in tcp_sockets(text):
        if sock['state'] == TCP_LISTEN:
            ports.setdefault(sock['port'], sock['inode'])
    return ports


def read_proc_net_tcp(proc='/proc', limit=16 * 1024 * 1024):
    """The text of <proc>/net/tcp and <proc>/net/tcp6 (at most ``limit`` bytes each); a missing file is skipped."""
    text = ''
    for name in ('tcp', 'tcp6'):
        try:
            with open(os.path.join(proc, 'net', name), 'rb') as handle:
                text += handle.read(limit).decode('utf-8', 'replace')
        except (IOError, OSError):
            continue
    return text


# The container side of mindie_service's port check. argv: "bind" or "who", then the ports. For each port that
# cannot be bound on 0.0.0.0 WITHOUT SO_REUSEADDR (mindie_supervisor.unbindable_ports, the supervisor's own check) it
# prints {port: {errno, error, sockets}}; with "who" each socket of that port, its state and its holders.
_PORT_CHECK_MAIN = r'''
def main(argv):
    import json
    busy = {}
    for port, (code, text) in unbindable_ports(argv[2:]).items():
        busy[str(port)] = {"errno": code, "error": text, "sockets": []}
    if argv[1] == "who" and busy:
        found = [sock for sock in tcp_sockets(read_proc_net_tcp()) if str(sock["port"]) in busy]
        holders = socket_holders(set(sock["inode"] for sock in found))
        for sock in found:
            entry = {"local": sock["local"], "remote": sock["remote"], "state": sock["state"],
                     "inode": sock["inode"], "pids": [h["pid"] for h in holders.get(sock["inode"], ())]}
            if entry["pids"]:
                entry["cmd"] = holders[sock["inode"]][0]["cmdline"]
            busy[str(sock["port"])]["sockets"].append(entry)
    print(json.dumps(busy))


if __name__ == "__main__":
    import sys
    main(sys.argv)
'''


def port_check_script():
    """The Python source mindie_service runs in a container as ``python3 -c SCRIPT bind|who PORT...``."""
    parts = ['import os', 'TCP_LISTEN = %r' % TCP_LISTEN, 'CMDLINE_LIMIT = %d' % CMDLINE_LIMIT]
    parts += [textwrap.dedent(inspect.getsource(func))
              for func in (tcp_sockets, socket_holders, read_proc_net_tcp, unbindable_ports)]
    return '\n\n'.join(parts) + '\n' + _PORT_CHECK_MAIN
