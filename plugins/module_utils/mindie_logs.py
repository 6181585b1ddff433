# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where MindIE writes its own log file, ``mindie-service_<pid>_<time>.log`` (pure functions).

One place for mindie_service (failure messages) and mindie_diagnose / collect_logs (findings, the bundle).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

CONSOLE_START_MARKER = '==== mindie_service: starting '
# 1.0's docs name it mindie-service_<pid>_<time>.log; 3.0 (log_utils.cpp) mindie-server_<pid>_<time>.log.
DAEMON_LOG_NAME = re.compile(r'^mindie-serv(?:ice|er)_(\d+)_[^/]*\.log$')
DAEMON_LOG_PREFIXES = ('mindie-service', 'mindie-server')


def _has_control(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def daemon_log_dirs(home, log_path):
    """Directories where MindIE writes ``mindie-service_<pid>_<time>.log``, from the daemon's HOME and MINDIE_LOG_PATH.

    As MindIE's LogConfig resolves it: unset -> ``~/mindie/log/debug``; an absolute
    P -> ``P/log/debug``; a relative R -> ``~/mindie/log/R/debug``; ``component:value;...`` sets a value per
    component (``server`` or ``*`` is the daemon's). 1.0's docs only say the root changes, so ``P/debug`` and ``P``
    are searched too; ``~/mindie/log/debug`` always comes last. Values with control characters are dropped.
    """
    home = (home or '/root').rstrip('/')
    default = home + '/mindie/log'
    values = []
    for item in (log_path or '').split(';'):
        item = item.strip()
        key, sep, rest = item.partition(':')
        if sep and key.strip() and not key.strip().startswith(('/', '~', '.')):
            if key.strip().lower() not in ('llm', 'server', '*', 'mindie-server', 'mindie-service'):
                continue
            item = rest.strip()
        if item:
            values.append(item)
    dirs = []
    for value in reversed(values):      # the last entry that applies wins: search it first
        if value == '~' or value.startswith('~/'):
            value = home + value[1:]
        value = value.rstrip('/') or '/'
        if value.startswith('/'):
            dirs += [value.rstrip('/') + '/log/debug', value.rstrip('/') + '/debug', value]
        else:
            dirs += [default + '/' + value + '/debug', default + '/' + value]
    dirs.append(default + '/debug')
    unique = []
    for path in dirs:
        if path not in unique and not _has_control(path):
            unique.append(path)
    return unique


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
