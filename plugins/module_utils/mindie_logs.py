# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where MindIE writes its own log file, ``mindie-service_<pid>_<time>.log``, and how it rotates it (pure functions).

One place for mindie_service (failure messages, its env check), mindie_diagnose / collect_logs (findings, the bundle)
and the supervisor.json filter (the daemon's MINDIE_LOG_ROTATE).
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

__all__ = ['CONSOLE_START_MARKER', 'DAEMON_LOG_NAME', 'DAEMON_LOG_PREFIXES', 'LOG_ROTATE_ENV', 'LOG_ROTATE_FILES',
           'LOG_ROTATE_SIZE_MB', 'daemon_log_dirs', 'log_rotate_problem', 'pick_daemon_log']

CONSOLE_START_MARKER = '==== mindie_service: starting '
# 1.0's docs name it mindie-service_<pid>_<time>.log; 3.0 (log_utils.cpp) mindie-server_<pid>_<time>.log.
DAEMON_LOG_NAME = re.compile(r'^mindie-serv(?:ice|er)_(\d+)_[^/]*\.log$')

# MindIE's rotation of its own log files: MINDIE_LOG_ROTATE ``-fs <MB> -r <files>`` (system_log.cpp's
# ParseRotateArgs; mindie_llm's update_log_file_param for the model side), for every component or per component
# (``llm:-fs 50 -r 20;server:-fs 20 -r 10``). Unset: 20 MB, 10 files. A value its logger refuses throws while it
# starts, and the daemon dies by SIGABRT before it logs a line: the collection refuses it before anything is written.
LOG_ROTATE_ENV = 'MINDIE_LOG_ROTATE'
LOG_ROTATE_SIZE_MB = (1, 500)
LOG_ROTATE_FILES = (1, 64)
_DIGITS = re.compile(r'[0-9]+\Z')
_LOG_ROTATE_OPTIONS = {'-fs': ('the size of a log file in MB', LOG_ROTATE_SIZE_MB),
                       '-r': ('the number of log files', LOG_ROTATE_FILES)}


def _log_rotate_args(text):
    words = text.split()
    if len(words) % 2:
        return 'every option needs its value (-fs <MB> -r <files>)'
    for index in range(0, len(words), 2):
        option, value = words[index], words[index + 1]
        if option not in _LOG_ROTATE_OPTIONS:
            return 'unknown option %s (MindIE takes -fs <MB> and -r <files>)' % option
        what, (low, high) = _LOG_ROTATE_OPTIONS[option]
        if not _DIGITS.match(value) or not low <= int(value) <= high:
            return '%s takes %s, an integer in [%d, %d], got %s' % (option, what, low, high, value)
    return None


def log_rotate_problem(value):
    """Why MindIE's logger refuses the MINDIE_LOG_ROTATE ``value`` at start, or None when it takes it.

    ``value`` is ``-fs <MB 1-500> -r <files 1-64>`` (either option may be left out: MindIE's default), or a list of
    ``component:value`` (and bare values, for every component) separated by ``;``. Stricter than MindIE where MindIE
    ignores a word (an option it does not know): such a value does not do what it says.
    """
    if not isinstance(value, str):
        return 'a string such as "-fs 20 -r 10" is expected, got %r' % (value,)
    if _has_control(value.replace('\t', ' ')):
        return 'it contains control characters'
    for item in value.split(';'):
        component, sep, rest = item.partition(':')
        if sep and not component.strip():
            return 'the component before ":" is empty in %r' % item.strip()
        problem = _log_rotate_args(rest if sep else item)
        if problem:
            return ('%s: %s' % (component.strip(), problem)) if sep else problem
    return None


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
