# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The supervisor of one MindIE instance: the main process of its container (``python3 mindie_supervisor.py``).

Two uses of this one file:
  - a script, copied to the node (mindie_container_supervisor_path) and mounted read-only into the instance's
    container, run as its main process under Docker's ``--init`` (tini is pid 1). It runs there ALONE: standard
    library only, no other file of the collection; so it is written in Python 2.7-compatible syntax too;
  - a module_utils file imported by the collection: its constants, ``read_state`` and the pieces of daemon
    knowledge that must be the same in the container and on the node (``daemon_log_dirs``, ``ERROR_LINE``,
    ``unbindable_ports``, ``close_after_peer``, ``parse_stat``), which mindie_logs, mindie_http, procfs and
    mindie_service import from here rather than keep a copy.

What it does (the collection's contract, /work/notes/i13/contracts.md section 3):
  - reads ``$MINDIE_SUPERVISOR_INSTANCE`` (``<config dir>/supervisor.json``, written by the service role) and waits
    (status ``waiting``) until it and the ``config`` it names exist;
  - starts ``bin/mindieservice_daemon`` the deployment guide's way (the four set_env.sh, the exports, the service
    directory) as a child that leads its own process group but no session (MindIE's setpgrp() must succeed), its
    console output appended to ``<state dir>/console.log`` (rotated at 10 MB); before each start it waits (bounded)
    until the business, management and metrics ports and MASTER_PORT can be bound on 0.0.0.0 without SO_REUSEADDR,
    as MindIE checks them;
  - restarts the daemon when it exits, or when ``live.failures`` consecutive GETs of ``live.url``
    (``/v2/health/live``) failed after its first 200 (refused, timeout, 5xx). The readiness endpoint is never
    read: a busy daemon (ready 503, live 200) is alive. Every restart first kills what is left of the daemon's
    process group (backend workers outlive a killed daemon and hold HBM) and waits until no member is left;
    backoff 1 s, doubling, at most 30 s;
  - more than ``restart_limit`` starts within ``restart_window`` seconds: status ``crash-looping``, no more starts,
    the daemon's last error lines kept; the supervisor stays alive (SIGHUP starts again with a fresh history);
  - a changed config.json or supervisor.json is used from the next start on: a running daemon is not restarted for
    it (ascend.mindie.mindie_service's V(restarted) sends SIGHUP once the files are written, so a new config loads
    the model once, and a file edited by hand does not take a serving instance down);
  - SIGHUP: graceful stop and start again (supervisor.json re-read); ``<state dir>/desired`` = ``stopped``: stop
    and hold until it says ``running`` (or is gone);
  - SIGTERM (docker stop): SIGTERM to the daemon, ``stop_timeout`` s, SIGKILL to its group, wait until the group is
    gone, exit 0;
  - writes its state to ``<state dir>/supervisor.json`` atomically on every change (``read_state`` reads it).

supervisor.json keys: ``config``, ``service_dir``, ``set_env`` (required); ``env`` ({name: str}),
``restart_limit`` (5), ``restart_window`` (600), ``stop_timeout`` (30), ``live`` ({url, interval 10, failures 3,
timeout 5, ca, cert, key, server_name}; url null = only the process counts), and, optional for tests and
special cases, ``ports`` (the list to wait for; default: the ServerConfig ports written in the config and
MASTER_PORT), ``port_wait`` (90), ``poll_interval`` (2), ``backoff_initial`` (1), ``backoff_max`` (30).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import time
import traceback

MAX_PORT = 65535
MAX_FD = 1 << 16    # descriptors the daemon's child closes above stdio

try:
    from shlex import quote
except ImportError:     # Python 2
    from pipes import quote
try:
    import http.client as http_client
    from urllib.parse import urlsplit
except ImportError:     # Python 2
    import httplib as http_client
    from urlparse import urlsplit

SCRIPT_PATH = '/usr/local/lib/ascend-mindie/mindie_supervisor.py'
INSTANCE_FILE = 'supervisor.json'       # in the instance's config dir (written by the service role)
STATE_FILE = 'supervisor.json'          # in the state dir (written by the supervisor)
DESIRED_FILE = 'desired'                # in the state dir: 'stopped' or 'running'
CONSOLE_FILE = 'console.log'            # in the state dir: the daemon's stdout and stderr
LOGENV_FILE = 'daemon.logenv'           # in the state dir: HOME and MINDIE_LOG_PATH as the daemon got them
ENV_INSTANCE = 'MINDIE_SUPERVISOR_INSTANCE'
ENV_STATE_DIR = 'MINDIE_SUPERVISOR_STATE_DIR'
DEFAULT_STATE_DIR = '/var/log/mindie-instance'
STATUSES = ('waiting', 'starting', 'running', 'backoff', 'crash-looping', 'stopping', 'stopped')
DESIRED = ('running', 'stopped')
DAEMON = 'mindieservice_daemon'
CONSOLE_MARKER = '==== mindie_supervisor: starting '

DEFAULTS = {'env': {}, 'restart_limit': 5, 'restart_window': 600, 'stop_timeout': 30, 'live': None, 'ports': None,
            'port_wait': 90, 'poll_interval': 2.0, 'backoff_initial': 1.0, 'backoff_max': 30.0}
LIVE_DEFAULTS = {'url': None, 'interval': 10, 'failures': 3, 'timeout': 5, 'ca': None, 'cert': None, 'key': None,
                 'server_name': None}
ROTATE_BYTES = 10 * 1024 * 1024
TAIL_BYTES = 64 * 1024
ERROR_LINES = 20
KILL_WAIT = 10.0
TICK = 0.1
# 1.0's docs name MindIE's own log file mindie-service_<pid>_<time>.log; 3.0 (log_utils.cpp) mindie-server_<pid>_<time>.log.
DAEMON_LOG_PREFIXES = ('mindie-service', 'mindie-server')
# What a line of MindIE's logs or console looks like when it says why the daemon failed.
ERROR_LINE = re.compile(r'error|fail|refuse|denied|occupied|not visible|out of memory|not found|exit with code|'
                        r'Check path|permission|Traceback|Exception', re.IGNORECASE)


# ---------------------------------------------------------------------- shared pure helpers

def has_control(text):
    """True when ``text`` holds a control character (newline, NUL, DEL, ...)."""
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
        if path not in unique and not has_control(path):
            unique.append(path)
    return unique


def unbindable_ports(ports):
    """{port: (errno, strerror)} of the ``ports`` that cannot be bound on 0.0.0.0 WITHOUT SO_REUSEADDR.

    That is how MindIE's IsPortUsed checks them (http_server.cpp): a listener on any address, or a connection in
    TIME_WAIT, makes the port taken. Self-contained: procfs.port_check_script() runs this function's source in a
    container.
    """
    import socket as socket_mod
    busy = {}
    for port in ports:
        sock = socket_mod.socket(socket_mod.AF_INET, socket_mod.SOCK_STREAM)
        try:
            sock.bind(('0.0.0.0', int(port)))
        except (OSError, socket_mod.error) as exc:
            busy[int(port)] = (exc.errno, exc.strerror)
        finally:
            sock.close()
    return busy


def close_after_peer(sock, timeout=0.2):
    """Read until the peer closed its side (or ``timeout``), then close ``sock`` (a reset when SO_LINGER is 0).

    A probe that closes this way leaves no TIME_WAIT on MindIE's port (MindIE closes first, Connection: close),
    which MindIE would refuse at its next start.
    """
    try:
        sock.settimeout(timeout)
        while sock.recv(4096):
            pass
    except (socket.error, ValueError):
        pass
    finally:
        sock.close()


def parse_stat(line):
    """/proc/<pid>/stat text as {pid, comm, state, ppid, pgid, sid, start}; None when it is not one."""
    head, sep, rest = (line or '').strip().rpartition(') ')
    pid, dummy, comm = head.partition(' (')
    fields = rest.split()
    if not sep or not pid.strip().isdigit() or len(fields) < 4:
        return None
    try:
        ppid, pgid, sid = int(fields[1]), int(fields[2]), int(fields[3])
    except ValueError:
        return None
    return {'pid': int(pid), 'comm': comm, 'state': fields[0], 'ppid': ppid, 'pgid': pgid, 'sid': sid,
            'start': fields[19] if len(fields) > 19 else None}


def get_status(url, timeout, context=None):
    """One GET of ``url`` (TLS with ``context`` for https): its HTTP status, or None when nothing answered
    (refused, reset, timeout, TLS). It ends as MindIE's peers must (:func:`close_after_peer`): no TIME_WAIT is
    left on the daemon's port, which it could not bind at its next start."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == 'https' else 80)
    keep = None
    try:
        if parts.scheme == 'https':
            conn = http_client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            conn = http_client.HTTPConnection(host, port, timeout=timeout)
        conn.connect()
        keep = socket.fromfd(conn.sock.fileno(), conn.sock.family, conn.sock.type)
        keep.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        conn.request('GET', (parts.path or '/') + ('?' + parts.query if parts.query else ''),
                     headers={'Connection': 'close'})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status
    except (socket.error, http_client.HTTPException, ssl.SSLError, ValueError, IOError):
        return None
    finally:
        if keep is not None:
            close_after_peer(keep)


def read_state(text):
    """The supervisor's state (the JSON of its state file) as a dict; {} for empty text or anything else."""
    try:
        data = json.loads(text or '')
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_state_file(path):
    """The supervisor's state file (``restarts``, ``status``, ``daemon_pid``...) as a dict; None when it is not given,
    missing, unreadable or not a JSON object."""
    if not path:
        return None
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def desired_of(text):
    """'stopped' when the desired file says so, else 'running' (a missing or unreadable file included)."""
    return 'stopped' if (text or '').strip() == 'stopped' else 'running'


def _is_text(value):
    return isinstance(value, (str, type(u'')))


def _number(value, name, minimum, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError('%s must be %s, got %r' % (name, 'an integer' if integer else 'a number', value))
    if value < minimum:
        raise ValueError('%s must be at least %s, got %r' % (name, minimum, value))
    return value


def parse_instance(text):
    """The settings of supervisor.json text, defaults filled in; raises ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError('is not valid JSON: %s' % exc)
    if not isinstance(data, dict):
        raise ValueError('must hold a JSON object')
    settings = dict(DEFAULTS)
    settings.update(data)
    for key in ('config', 'service_dir'):
        if not _is_text(settings.get(key)) or not settings[key].startswith('/'):
            raise ValueError('%s must be an absolute path, got %r' % (key, settings.get(key)))
    if not isinstance(settings.get('set_env'), list) or not all(_is_text(p) for p in settings['set_env']):
        raise ValueError('set_env must be a list of paths, got %r' % (settings.get('set_env'),))
    env = settings['env']
    if not isinstance(env, dict):
        raise ValueError('env must be an object, got %r' % (env,))
    for name, value in env.items():
        if not re.match(r'[A-Za-z_][A-Za-z0-9_]*\Z', name) or value is None or isinstance(value, (dict, list, bool)):
            raise ValueError('env: %r=%r is not a variable name and a string' % (name, value))
    settings['env'] = dict((str(k), str(v)) for k, v in env.items())
    _number(settings['restart_limit'], 'restart_limit', 1, integer=True)
    for key, minimum in (('restart_window', 1), ('stop_timeout', 1), ('port_wait', 0), ('poll_interval', 0.05),
                         ('backoff_initial', 0.01), ('backoff_max', 0.01)):
        _number(settings[key], key, minimum)
    live = dict(LIVE_DEFAULTS)
    if settings['live'] is not None:
        if not isinstance(settings['live'], dict):
            raise ValueError('live must be an object or null, got %r' % (settings['live'],))
        live.update(settings['live'])
    if live['url'] is not None and (not _is_text(live['url']) or
                                    urlsplit(live['url']).scheme not in ('http', 'https')):
        raise ValueError('live.url must be an http(s) URL or null, got %r' % (live['url'],))
    _number(live['interval'], 'live.interval', 0.05)
    _number(live['failures'], 'live.failures', 1, integer=True)
    _number(live['timeout'], 'live.timeout', 0.05)
    settings['live'] = live
    if settings['ports'] is not None and (not isinstance(settings['ports'], list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p <= MAX_PORT for p in settings['ports'])):
        raise ValueError('ports must be a list of port numbers, got %r' % (settings['ports'],))
    return settings


def start_script(settings):
    """The bash script that starts the daemon the guide's way: set_env.sh x4, the exports, the service dir, exec."""
    env = dict(settings['env'])
    default_config = settings['service_dir'].rstrip('/') + '/conf/config.json'
    if settings['config'] != default_config:
        env.setdefault('MIES_CONFIG_JSON_PATH', settings['config'])
    lines = ['source %s' % quote(path) for path in settings['set_env']]
    lines += ['export %s=%s' % (name, quote(env[name])) for name in sorted(env)]
    lines += ["printf '%%s\\0%%s\\0' \"${HOME-}\" \"${MINDIE_LOG_PATH-}\" > %s" % quote(settings['logenv']),
              'cd %s || exit 1' % quote(settings['service_dir']),
              'echo "%s%s (generation %d) at $(date \'+%%Y-%%m-%%d %%H:%%M:%%S\')"'
              % (CONSOLE_MARKER, DAEMON, settings['generation']),
              'exec ./bin/%s' % DAEMON]
    return '\n'.join(lines) + '\n'


def mindie_version(service_dir):
    """The MindIE version the image ships: ``mindie-service`` (else ``Ascend-mindie``) of the version.info beside
    the service directory (``<mindie home>/version.info``), or None."""
    path = os.path.join(os.path.dirname(service_dir.rstrip('/')), 'version.info')
    found = {}
    for line in (_read(path, 4096) or '').splitlines():
        key, sep, value = line.partition(':')
        if sep and value.strip():
            found[key.strip()] = value.strip()
    version = found.get('mindie-service') or found.get('Ascend-mindie')
    if version and version.startswith('MindIE '):
        version = version[len('MindIE '):]
    return version or None


def config_ports(config_text, env):
    """The ports MindIE checks before it listens, as written in config.json's ServerConfig, and MASTER_PORT."""
    ports = []
    try:
        server = json.loads(config_text).get('ServerConfig') or {}
    except (ValueError, AttributeError):
        server = {}
    for key in ('port', 'managementPort', 'metricsPort'):
        value = server.get(key) if isinstance(server, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PORT:
            ports.append(value)
    master = str(env.get('MASTER_PORT', ''))
    if master.isdigit() and 0 < int(master) <= MAX_PORT:
        ports.append(int(master))
    return sorted(set(ports))


def pick_error_lines(own_lines, console_lines, limit=ERROR_LINES):
    """The daemon's last error lines: those of its own log file, then those of the console; the console's tail
    when neither has one."""
    picked = [line for line in own_lines if ERROR_LINE.search(line)][-limit:]
    for line in [text for text in console_lines if ERROR_LINE.search(text)][-limit:]:
        if len(picked) >= limit:
            break
        if line not in picked:
            picked.append(line)
    if not picked:
        picked = [text for text in console_lines if text.strip()][-limit:]
    return picked


def _read(path, limit=None):
    try:
        with open(path, 'rb') as handle:
            if limit:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(handle.tell() - limit, 0))
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def _sha256(text):
    return None if text is None else hashlib.sha256(text.encode('utf-8')).hexdigest()


def _now():
    return round(time.time(), 3)


def _log(msg):
    sys.stderr.write('%s mindie_supervisor[%d]: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), os.getpid(), msg))
    sys.stderr.flush()


def set_child_subreaper():
    """Make this process reap the daemon's orphaned workers (PR_SET_CHILD_SUBREAPER); False when it cannot."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


# ---------------------------------------------------------------------- the supervisor

class Supervisor(object):
    """One instance's daemon, started, watched and restarted. ``run()`` is the main loop; signals set flags."""

    def __init__(self, instance_path, state_dir, proc='/proc'):
        self.instance_path = instance_path
        self.state_dir = state_dir
        self.proc = proc
        self.state_path = os.path.join(state_dir, STATE_FILE)
        self.console_path = os.path.join(state_dir, CONSOLE_FILE)
        self.settings = None
        self.live = None                # the live probe of the running generation (its settings when it started)
        self.instance_sha = None
        self.config_sha = None
        self.child = None
        self.child_status = None
        self.console_offset = 0
        self.term = False
        self.hup = False
        self.failures = 0               # consecutive failed generations (backoff)
        self.live_failures = 0
        self.next_probe = 0.0
        self.next_poll = 0.0
        self.retry_at = None
        self._written = None
        self.state = {'status': 'waiting', 'supervisor_pid': os.getpid(), 'daemon_pid': None, 'pgid': None,
                      'generation': 0, 'config_sha256': None, 'started_at': None, 'live_at': None, 'restarts': 0,
                      'version': None,
                      'starts': [], 'last_exit': None, 'last_error_lines': [], 'message': None, 'desired': 'running',
                      'updated_at': None}

    # -------- state
    def write(self, **changes):
        """Update the state and write it (tmp + rename) when anything but updated_at changed."""
        old_status = self.state['status']
        self.state.update(changes)
        body = json.dumps(dict((k, v) for k, v in self.state.items() if k != 'updated_at'), sort_keys=True, default=str)
        if body == self._written:
            return
        if self.state['status'] != old_status:
            _log('status %s -> %s%s' % (old_status, self.state['status'],
                                        ': %s' % self.state['message'] if self.state.get('message') else ''))
        self._written = body
        self.state['updated_at'] = _now()
        tmp = '%s.tmp.%d' % (self.state_path, os.getpid())
        try:
            with open(tmp, 'w') as handle:
                json.dump(self.state, handle, sort_keys=True, default=str)
                handle.write('\n')
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.rename(tmp, self.state_path)
        except (IOError, OSError) as exc:
            _log('cannot write %s: %s' % (self.state_path, exc))

    def desired(self):
        return desired_of(_read(os.path.join(self.state_dir, DESIRED_FILE), 64))

    def load(self):
        """Read supervisor.json and the config; set settings (None when not usable) and the message why not."""
        text = _read(self.instance_path)
        self.instance_sha = _sha256(text)
        if text is None:
            self.settings = None
            return 'waiting for %s' % self.instance_path
        try:
            settings = parse_instance(text)
        except ValueError as exc:
            self.settings = None
            return '%s %s' % (self.instance_path, exc)
        config_text = _read(settings['config'])
        self.config_sha = _sha256(config_text)
        if config_text is None:
            self.settings = None
            return 'waiting for the config %s' % settings['config']
        settings['config_text'] = config_text
        settings['logenv'] = os.path.join(self.state_dir, LOGENV_FILE)
        self.settings = settings
        return None

    # -------- processes
    def reap(self):
        """Reap every child that ended (the daemon, orphaned workers when this is a subreaper)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return
            if pid == 0:
                return
            if pid == self.child:
                self.child_status = status

    def group_members(self, pgid):
        """Pids of the processes of group ``pgid`` that still run (zombies hold nothing and do not count)."""
        members = []
        try:
            names = os.listdir(self.proc)
        except OSError:
            return members
        for name in names:
            if not name.isdigit():
                continue
            info = parse_stat(_read(os.path.join(self.proc, name, 'stat')))
            if info and info['pgid'] == pgid and info['state'] not in ('Z', 'X'):
                members.append(info['pid'])
        return sorted(members)

    def _kill(self, pgid, sig, pid=None):
        if pgid is None or pgid <= 1 or pgid == os.getpgrp():
            return      # never this supervisor's own group
        try:
            if pid is not None:
                os.kill(pid, sig)
            else:
                os.killpg(pgid, sig)
        except OSError as exc:
            if exc.errno not in (errno.ESRCH, errno.EPERM):
                raise

    def _wait_group(self, pgid, timeout):
        deadline = time.time() + timeout
        while True:
            self.reap()
            members = self.group_members(pgid)
            if not members or time.time() >= deadline:
                return members
            time.sleep(TICK)

    def stop_group(self, graceful):
        """Stop the daemon and its whole process group; wait until no member is left (bounded by KILL_WAIT).

        ``graceful``: SIGTERM to the daemon (MindIE stops its group itself), else to the whole group; then
        ``stop_timeout`` s, SIGKILL to the group. Returns the pids that survived SIGKILL (normally none).
        """
        pgid = self.state['pgid']
        if pgid is None:
            return []
        timeout = self.settings['stop_timeout'] if self.settings else DEFAULTS['stop_timeout']
        if self.child is not None and self.child_status is None and graceful:
            self._kill(pgid, signal.SIGTERM, self.child)
        else:
            self._kill(pgid, signal.SIGTERM)
        left = self._wait_group(pgid, timeout)
        if left:
            _log('process group %s still has %s after %s s: SIGKILL' % (pgid, left, timeout))
            self._kill(pgid, signal.SIGKILL)
            left = self._wait_group(pgid, KILL_WAIT)
        if self.child is not None and self.child_status is None:
            try:
                dummy, self.child_status = os.waitpid(self.child, 0)
            except OSError:
                self.child_status = 0
        if left:
            _log('process group %s: %s survived SIGKILL' % (pgid, left))
        return left

    def error_lines(self, pid):
        """The daemon's last error lines (its own MindIE log file of that pid, then this generation's console)."""
        raw = _read(self.settings['logenv'] if self.settings else os.path.join(self.state_dir, LOGENV_FILE)) or ''
        parts = raw.split('\0')
        home = parts[0] if parts and parts[0] else os.environ.get('HOME')
        log_path = parts[1] if len(parts) > 1 else ''
        newest = None
        for directory in daemon_log_dirs(home, log_path):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                if any(name.startswith('%s_%d_' % (prefix, pid)) for prefix in DAEMON_LOG_PREFIXES) \
                        and name.endswith('.log'):
                    path = os.path.join(directory, name)
                    try:
                        mtime = os.stat(path).st_mtime
                    except OSError:
                        continue
                    if newest is None or mtime > newest[0]:
                        newest = (mtime, path)
        own = (_read(newest[1], TAIL_BYTES) or '').splitlines() if newest else []
        console = ''
        try:
            with open(self.console_path, 'rb') as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                start = self.console_offset if self.console_offset <= size else 0
                handle.seek(max(start, size - TAIL_BYTES))
                console = handle.read().decode('utf-8', 'replace')
        except (IOError, OSError):
            pass
        return pick_error_lines(own, console.splitlines()), (newest[1] if newest else None)

    # -------- start
    def rotate_console(self):
        """Copy-truncate console.log above ROTATE_BYTES (the daemon keeps its O_APPEND descriptor)."""
        try:
            if os.path.getsize(self.console_path) <= ROTATE_BYTES:
                return
            with open(self.console_path, 'rb') as src:
                src.seek(-ROTATE_BYTES, os.SEEK_END)
                data = src.read()
            with open(self.console_path + '.1', 'wb') as dst:
                dst.write(data)
            with open(self.console_path, 'r+b') as handle:
                handle.truncate(0)
            self.console_offset = 0
        except (IOError, OSError):
            pass

    def wait_ports(self):
        """Wait (at most port_wait s) until the ports can be bound; {port: reason} of those that stayed taken."""
        settings = self.settings
        ports = settings['ports'] if settings['ports'] is not None else config_ports(settings['config_text'],
                                                                                     settings['env'])
        deadline = time.time() + settings['port_wait']
        busy = unbindable_ports(ports)
        while busy and time.time() < deadline and not self.term and not self.hup:
            time.sleep(0.25)
            busy = unbindable_ports(ports)
        return busy

    def in_window(self, now):
        return [t for t in self.state['starts'] if now - t < self.settings['restart_window']]

    def try_start(self):
        """Start a daemon unless the crash-loop limit is reached; waits for the ports first."""
        now = time.time()
        starts = self.in_window(now)
        if len(starts) >= self.settings['restart_limit']:
            message = ('%d starts within %s s (restart_limit %d): not started again until SIGHUP (a restart: '
                       'ascend.mindie.mindie_service state=restarted, or docker exec <container> kill -s HUP 1)'
                       % (len(starts), self.settings['restart_window'], self.settings['restart_limit']))
            self.write(status='crash-looping', starts=starts, daemon_pid=None, pgid=None, message=message)
            self.retry_at = None
            return
        self.write(status='starting', starts=starts, message='waiting for the ports to be free')
        busy = self.wait_ports()
        if self.term or self.hup:
            return
        now = time.time()
        if busy:
            lines = ['port %d cannot be bound on 0.0.0.0 (errno %s: %s)' % (port, err[0], err[1])
                     for port, err in sorted(busy.items())]
            self.state['starts'] = self.in_window(now) + [round(now, 3)]
            self.failed({'code': None, 'signal': None, 'at': _now(), 'reason': 'ports not free after %s s'
                         % self.settings['port_wait']}, lines)
            return
        self.spawn()

    def spawn(self):
        settings = self.settings
        self.rotate_console()
        generation = self.state['generation'] + 1
        settings['generation'] = generation
        try:
            os.remove(settings['logenv'])
        except OSError:
            pass
        console = os.open(self.console_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.console_offset = os.fstat(console).st_size
        script = start_script(settings)
        env = dict(os.environ)
        pid = os.fork()
        if pid == 0:        # the child: its own process group (no session), console as stdout and stderr
            try:
                os.setpgid(0, 0)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(console, 1)
                os.dup2(console, 2)
                os.closerange(3, MAX_FD)
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                os.execvpe('bash', ['bash', '-c', script], env)
            finally:
                os._exit(127)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass        # the child did it first (or already exec'd)
        os.close(console)
        self.child, self.child_status = pid, None
        now = time.time()
        self.live_failures = 0
        # pinned for this generation: a supervisor.json written for the next start (HTTPS, another management
        # port) must not have the running daemon probed - and killed - at an address it does not serve
        self.live = dict(settings['live'])
        self.next_probe = now + settings['live']['interval']
        self.write(status='starting' if settings['live']['url'] else 'running', daemon_pid=pid, pgid=pid,
                   generation=generation, started_at=round(now, 3), live_at=None,
                   starts=self.in_window(now) + [round(now, 3)], config_sha256=self.config_sha, message=None,
                   version=mindie_version(settings['service_dir']))

    # -------- after an exit
    def failed(self, last_exit, lines, log_file=None):
        """Record a failed generation (or start) and schedule the next start with backoff, or crash-loop."""
        if log_file:
            last_exit['log_file'] = log_file
        self.failures += 1
        delay = min(self.settings['backoff_max'], self.settings['backoff_initial'] * 2 ** (self.failures - 1))
        self.retry_at = time.time() + delay
        self.write(status='backoff', daemon_pid=None, pgid=None, last_exit=last_exit, last_error_lines=lines,
                   message='next start in %.1f s' % delay)
        if len(self.in_window(time.time())) >= self.settings['restart_limit']:
            self.try_start()        # says crash-looping now rather than after the backoff

    def end_generation(self, reason, graceful=False):
        """The daemon exited or failed its live probes: stop its group, record why; returns last_exit."""
        pid = self.child
        survivors = self.stop_group(graceful)
        status = self.child_status or 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        if reason is None:
            reason = 'exited with code %s' % code if code is not None else 'killed by signal %s' % sig
        last_exit = {'code': code, 'signal': sig, 'at': _now(), 'reason': reason, 'pid': pid}
        if survivors:
            last_exit['survivors'] = survivors
        self.child, self.child_status = None, None
        return last_exit

    def after_exit(self, reason=None):
        was_live = self.state['live_at'] is not None or (
            not (self.live or self.settings['live'])['url'] and time.time() - (self.state['started_at'] or 0) >= 30)
        pid = self.child
        last_exit = self.end_generation(reason)
        lines, log_file = self.error_lines(pid)
        _log('daemon pid %d %s' % (pid, last_exit['reason']))
        if was_live:
            self.failures = 0
        # restarts counts what the supervisor healed (an exit, a failed live check), not the starts an operator
        # asked for (SIGHUP, a new config, desired running), as a container runtime's restart count does
        self.state['restarts'] = int(self.state.get('restarts') or 0) + 1
        self.failed(last_exit, lines, log_file)

    def probe_live(self):
        """One GET of live.url: its HTTP status, or None when nothing answered (refused, reset, timeout)."""
        live = (self.live or self.settings['live'])
        context = None
        if urlsplit(live['url']).scheme == 'https':
            try:
                context = self.tls_context()
            except (ssl.SSLError, IOError, OSError, ValueError):
                return None         # certificates missing or half-written: one failed probe, not a dead supervisor
        return get_status(live['url'], live['timeout'], context)

    def tls_context(self):
        live = (self.live or self.settings['live'])
        context = ssl.SSLContext(getattr(ssl, 'PROTOCOL_TLS_CLIENT', ssl.PROTOCOL_SSLv23))
        if hasattr(ssl, 'TLSVersion'):
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        if live['ca']:
            context.check_hostname = bool(live['server_name'])
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=live['ca'])
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if live['cert']:
            context.load_cert_chain(live['cert'], live['key'] or None)
        return context

    def watch(self, now):
        """The running daemon: did it exit, does it still answer live?"""
        self.reap()
        if self.child_status is not None:
            self.after_exit()
            return
        live = (self.live or self.settings['live'])
        if not live['url'] or now < self.next_probe:
            return
        status = self.probe_live()
        self.next_probe = time.time() + live['interval']
        if status is not None and status < 500:
            # 200 is alive; so is any other answer below 500 (a 404 of an older release): it answers HTTP
            self.live_failures = 0
            if self.state['live_at'] is None and status == 200:
                self.write(status='running', live_at=_now())
            return
        if self.state['live_at'] is None:
            return      # still loading: before its first live 200 only the process counts
        self.live_failures += 1
        if self.live_failures >= live['failures']:
            why = 'no answer' if status is None else 'HTTP %d' % status
            self.after_exit('failed %d live probes of %s (last: %s)' % (self.live_failures, live['url'], why))

    # -------- operator actions
    def stop_daemon(self, status, message=None):
        if self.child is not None:
            self.write(status='stopping', message=message)
            self.write(last_exit=self.end_generation('stopped by the supervisor (%s)' % (message or status),
                                                     graceful=True))
        self.retry_at = None
        self.write(status=status, daemon_pid=None, pgid=None, message=message)

    def reset_and_start(self):
        """A fresh history (operator action or new config): start now unless the desired state is stopped."""
        self.failures = 0
        self.state['starts'] = []
        if self.desired() == 'stopped':
            self.write(status='stopped', desired='stopped', message='desired state is stopped')
            return
        self.write(desired='running')
        self.try_start()

    def on_hup(self):
        problem = self.load()
        if problem:
            if self.child is None:
                self.write(status='waiting', message=problem)
            else:
                self.write(message='SIGHUP ignored, the running daemon is kept: %s' % problem)
            return
        self.stop_daemon('stopping', 'SIGHUP')
        self.reset_and_start()

    def poll(self):
        """Every poll_interval: supervisor.json, config.json and the desired file."""
        problem = self.load()
        self.next_poll = time.time() + (self.settings or DEFAULTS)['poll_interval']
        if self.settings is not None:
            self.rotate_console()
        status = self.state['status']
        if problem:
            if self.child is None and status != 'stopped':
                self.write(status='waiting', message=problem, daemon_pid=None, pgid=None)
            return
        desired = self.desired()
        if desired == 'stopped':
            if status != 'stopped' or self.child is not None:
                self.stop_daemon('stopped', 'desired state is stopped')
            self.write(desired='stopped')
            return
        if status in ('waiting', 'stopped'):
            self.reset_and_start()

    def shutdown(self):
        self.stop_daemon('stopped', 'SIGTERM: the container stops')

    # -------- main loop
    def _flag(self, signum, frame):  # pylint: disable=unused-argument
        if signum == signal.SIGHUP:
            self.hup = True
        else:
            self.term = True

    def run(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._flag)
        if not set_child_subreaper():
            _log('cannot become a child subreaper: orphaned workers are reaped by pid 1')
        _log('supervising %s (state in %s)' % (self.instance_path, self.state_dir))
        self.write(desired=self.desired())
        while True:
            try:
                self.reap()
                if self.term:
                    self.shutdown()
                    return 0
                if self.hup:
                    self.hup = False
                    self.on_hup()
                    continue
                now = time.time()
                if now >= self.next_poll:
                    self.poll()
                if self.child is not None:
                    self.watch(now)
                elif self.state['status'] == 'backoff' and self.retry_at is not None and now >= self.retry_at:
                    self.retry_at = None
                    self.try_start()
                time.sleep(TICK)
            except Exception:  # pylint: disable=broad-except
                _log('unexpected error, stopping the daemon and exiting:\n%s' % traceback.format_exc())
                try:
                    self.stop_group(graceful=False)
                finally:
                    self.write(status='stopped', message='the supervisor failed: %s' % sys.exc_info()[1])
                return 1


def main(argv=None):
    argv = sys.argv if argv is None else argv
    instance = os.environ.get(ENV_INSTANCE) or (argv[1] if len(argv) > 1 else None)
    state_dir = os.environ.get(ENV_STATE_DIR) or (argv[2] if len(argv) > 2 else DEFAULT_STATE_DIR)
    if not instance:
        sys.stderr.write('mindie_supervisor: set %s to the instance\'s supervisor.json\n' % ENV_INSTANCE)
        return 2
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir)
    return Supervisor(instance, state_dir).run()


if __name__ == '__main__':
    raise SystemExit(main())
