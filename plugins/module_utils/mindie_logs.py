# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where MindIE writes its own log file, ``mindie-service_<pid>_<time>.log`` (pure functions).

One place for mindie_service (failure messages) and mindie_diagnose / collect_logs (findings, the bundle).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

# Shared with the instance supervisor, which runs them in the container (standard library only there).
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import (
    DAEMON_LOG_PREFIXES,
    daemon_log_dirs,
    has_control as _has_control,
)

__all__ = ['CONSOLE_START_MARKER', 'DAEMON_LOG_NAME', 'DAEMON_LOG_PREFIXES', 'daemon_log_dirs', 'pick_daemon_log']

CONSOLE_START_MARKER = '==== mindie_service: starting '
# 1.0's docs name it mindie-service_<pid>_<time>.log; 3.0 (log_utils.cpp) mindie-server_<pid>_<time>.log.
DAEMON_LOG_NAME = re.compile(r'^mindie-serv(?:ice|er)_(\d+)_[^/]*\.log$')


def pick_daemon_log(listing, dirs, pid=None):
    """The daemon's own log file from a listing of ``<mtime> <path>`` lines (as the module's script prints them).

    The newest ``mindie-service_<pid>_*.log`` of ``pid`` in one of ``dirs``; without one, the newest
    ``mindie-service_*.log`` of any pid. Returns (path or None, why): ``why`` says which rule picked it.
    """
    files = []
    for line in (listing or '').splitlines():
        stamp, sep, path = line.partition(' ')
        if not sep or not stamp.isdigit() or _has_control(path):
            continue
        directory, dummy, name = path.rpartition('/')
        match = DAEMON_LOG_NAME.match(name)
        if not match or directory not in dirs:
            continue
        files.append((int(stamp), path, int(match.group(1))))
    if not files:
        return None, 'no mindie-service_*.log or mindie-server_*.log in %s' % ', '.join(dirs)
    files.sort(reverse=True)
    own = [f for f in files if pid is not None and f[2] == pid]
    if own:
        return own[0][1], 'the log file of daemon pid %d' % pid
    if pid is None:
        return files[0][1], 'the newest log file (the pid file names no daemon)'
    return files[0][1], 'the newest log file (none of daemon pid %d)' % pid
