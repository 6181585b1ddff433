# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers of Linux /proc text shared by the modules (pure functions)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

_TCP_LISTEN = '0A'


def parse_proc_net_tcp(text):
    """{port: socket inode} of the LISTEN sockets in /proc/net/tcp or tcp6 text (either or both
    concatenated; header and malformed lines are skipped; the first inode per port wins)."""
    ports = {}
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN or ':' not in fields[1]:
            continue
        try:
            port = int(fields[1].rsplit(':', 1)[1], 16)
        except ValueError:
            continue
        ports.setdefault(port, fields[9])
    return ports
