# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules know about MindIE's daemon process: its files, its names, and the probe that reads them.

Private to this collection. Used by mindie_service (which starts and stops the daemon and writes the files
below) and mindie_diagnose (which reads them). Only MindIE's real process names are recognised:
  - the daemon ``mindieservice_daemon`` (a C++ binary, llm_daemon.cpp; comm cut to ``mindieservice_d``);
  - its backend workers ``mindie_llm_backend`` (MindIE-LLM's console script, started by Executor::ExecuteCommand;
    ``mindie_llm_backend_connector`` in 1.0), whose comm is ``mindie_llm_back``.

Public API:
  PROBE_SCRIPT, probe_args(service_dir) -> the /bin/sh script run in the container, and its positional parameters
  parse_probe(text) -> dict                 what the script printed
  daemon_age(fields) -> seconds or None
  is_daemon_cmdline(cmdline), is_mindie_process(comm, cmdline)
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

DEFAULT_SERVICE_DIR = '/usr/local/Ascend/mindie/latest/mindie-service'
DAEMON = 'mindieservice_daemon'
BACKENDS = ('mindie_llm_backend', 'mindie_llm_backend_connector')
# /proc/<pid>/comm holds at most 15 characters.
DAEMON_COMM = DAEMON[:15]
BACKEND_COMM = BACKENDS[0][:15]

# Files under the service directory. mindie_service's start script writes all but the daemon's own log.
PID_FILE = 'logs/mindieservice_daemon.pid'
CONSOLE_LOG = 'logs/console.log'
EXIT_FILE = 'logs/daemon.exit'
# '<pgid> <start time of the container's pid 1>': the daemon's process group.
PGID_FILE = 'logs/mindieservice_daemon.pgid'
# HOME and MINDIE_LOG_PATH as the daemon got them (NUL-separated): where its own log file is.
LOGENV_FILE = 'logs/mindieservice_daemon.logenv'

# The start time of the container's pid 1 (stat field 22): tells a container restart from a daemon that died.
BOOT_SH = 'read -r __s < /proc/1/stat; __s=${__s##*") "}; set -- $__s; echo "${20}"'

# $1 pid file, $2 exit status file, $3 process group file, $4 log environment file (see probe_args). Every value
# reaches the script as a positional parameter, never as shell code. One "key=value" line each:
#   pid, stat (/proc/<pid>/stat), cmdline, uptime, clk_tck, env_read/env_home/env_log_path (the daemon's own
#   environment, when readable), exit, pgid, boot, logenv_home/logenv_log_path, shell_home/shell_log_path.
PROBE_SCRIPT = (
    'pid=$(cat -- "$1" 2>/dev/null); case "$pid" in ""|*[!0-9]*) pid="";; esac\n'
    'echo "pid=$pid"\n'
    'if [ -n "$pid" ] && [ -e /proc/$pid/stat ]; then\n'
    '  echo "stat=$(cat /proc/$pid/stat 2>/dev/null)"\n'
    '  echo "cmdline=$(tr \'\\0\' \' \' < /proc/$pid/cmdline 2>/dev/null)"\n'
    '  echo "uptime=$(cut -d\' \' -f1 /proc/uptime)"; echo "clk_tck=$(getconf CLK_TCK 2>/dev/null)"\n'
    '  if env=$(tr \'\\0\' \'\\n\' < /proc/$pid/environ 2>/dev/null); then echo "env_read=1";'
    ' printf \'%s\\n\' "$env" | sed -n -e \'s/^HOME=/env_home=/p\' -e \'s/^MINDIE_LOG_PATH=/env_log_path=/p\'; fi\n'
    'fi\n'
    'if [ -f "$2" ]; then echo "exit=$(head -c 16 -- "$2" | tr -d \'\\n\')"; fi\n'
    'echo "pgid=$(head -c 64 -- "$3" 2>/dev/null)"\n'
    'echo "boot=$(' + BOOT_SH + ')"\n'
    'if [ -f "$4" ]; then tr \'\\0\' \'\\n\' < "$4" | { IFS= read -r h; IFS= read -r l;'
    ' echo "logenv_home=$h"; echo "logenv_log_path=$l"; }; fi\n'
    'echo "shell_home=${HOME-}"\n'
    'if [ -n "${MINDIE_LOG_PATH+x}" ]; then echo "shell_log_path=$MINDIE_LOG_PATH"; fi\n'
)


def probe_args(service_dir):
    """The positional parameters of PROBE_SCRIPT for a service directory."""
    base = service_dir.rstrip('/') or ''
    return [base + '/' + rel for rel in (PID_FILE, EXIT_FILE, PGID_FILE, LOGENV_FILE)]


def is_daemon_cmdline(cmdline):
    """True when a command line runs mindieservice_daemon: its program, or the script of an interpreter (python3 x)."""
    return any(os.path.basename(word) == DAEMON for word in (cmdline or '').split()[:2])


def is_mindie_process(comm, cmdline=''):
    """True for MindIE's daemon or one of its backend workers, by comm or by the program its command line runs."""
    if (comm or '').strip() in (DAEMON_COMM, BACKEND_COMM):
        return True
    words = (cmdline or '').split()[:2]
    return any(os.path.basename(word) in (DAEMON,) + BACKENDS for word in words)


def _int(value):
    value = (value or '').strip()
    return int(value) if value.lstrip('-').isdigit() else None


def parse_probe(text):
    """What PROBE_SCRIPT printed, as a dict.

    ``pid`` (int or None), ``alive`` (its /proc entry exists and is no zombie), ``zombie``, ``state``, ``cmdline``,
    ``is_daemon`` (the pid runs mindieservice_daemon), ``exit_code`` (int or None), ``pgid_rec`` and ``boot_rec``
    (from the process group file), ``boot`` (the container's pid 1 start time), and ``fields``: every key as printed
    (the first occurrence wins, so a later line cannot replace one the script printed before it).
    """
    fields = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            fields.setdefault(key, value)
    info = {'pid': None, 'alive': False, 'zombie': False, 'state': None, 'cmdline': fields.get('cmdline', '').strip(),
            'exit_code': _int(fields.get('exit')), 'is_daemon': False, 'pgid_rec': None, 'boot_rec': None,
            'boot': None, 'fields': fields}
    pid = (fields.get('pid') or '').strip()
    if pid.isdigit():
        info['pid'] = int(pid)
    stat = fields.get('stat', '').strip()
    if info['pid'] is not None and stat:
        rest = stat.rsplit(')', 1)[-1].split()
        info['state'] = rest[0] if rest else None
        info['zombie'] = info['state'] in ('Z', 'X')
        info['alive'] = not info['zombie']
        if len(rest) > 19:
            fields.setdefault('start', rest[19])
    words = fields.get('pgid', '').split()
    if len(words) == 2 and all(w.isdigit() for w in words):
        info['pgid_rec'], info['boot_rec'] = int(words[0]), words[1]
    if fields.get('boot', '').strip().isdigit():
        info['boot'] = fields['boot'].strip()
    info['is_daemon'] = is_daemon_cmdline(info['cmdline'])
    return info


def daemon_age(fields):
    """Seconds since the daemon started, from its stat start time (``start``), ``uptime`` and ``clk_tck``; None if unknown."""
    try:
        start = int(fields.get('start', ''))
        uptime = float(fields.get('uptime', ''))
        clk = int(fields.get('clk_tck') or 100)
    except ValueError:
        return None
    age = uptime - start / float(clk) if clk > 0 else -1
    # A negative age: /proc/uptime is not the kernel's (lxcfs gives the container's), so the age is unknown.
    return int(age) if age >= 0 and start >= 0 else None
