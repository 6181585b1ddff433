# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A one-file HTTP server a node runs in the background to pass the image tarball on to its peers.

``start`` forks a detached server (its own session, stdio on /dev/null, no inherited descriptors, so the ``docker
exec`` or ssh session of the module that started it ends at once) that answers ``GET``/``HEAD`` of one URL path,
``/<random token>/<file name>``, with the file, and 404 to everything else; it exits by itself at its deadline.
Its pid, the start time of that pid (``/proc/<pid>/stat``) and its URL are kept in a state file, so ``stop`` kills
that process only, never a reused pid. The receivers verify what they fetch (its SHA-256); the server does not.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import json
import os
import signal
import socket
import threading
import time

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import read_state_file

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
    from urllib.parse import quote
except ImportError:     # Python 2
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer  # noqa: F401
    from SocketServer import ThreadingMixIn  # noqa: F401
    from urllib import quote  # noqa: F401

CHUNK = 1024 * 1024


class PeerServerError(Exception):
    pass


def proc_start_time(pid):
    """The start time of ``pid`` in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    try:
        with open('/proc/%d/stat' % int(pid)) as handle:
            text = handle.read()
    except (IOError, OSError, ValueError):
        return None
    fields = text[text.rfind(')') + 2:].split()
    if not fields or fields[0] in ('Z', 'X'):     # exited, not yet reaped by its parent (or init)
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def state_file(state_dir, port):
    return os.path.join(state_dir, 'peer-server-%d.json' % int(port))


def alive(state):
    """Whether the process the state names still runs (same pid, same start time)."""
    if not state or not state.get('pid'):
        return False
    return proc_start_time(state['pid']) == state.get('start_time') and state.get('start_time') is not None


def _handler(path, url_path):
    size = os.path.getsize(path)

    class OneFile(BaseHTTPRequestHandler):
        server_version = 'ascend-mindie-peer'

        def log_message(self, fmt, *args):
            pass

        def _head(self):
            if self.path != url_path:
                self.send_response(404)
                self.send_header('Content-Length', '0')
                self.end_headers()
                return False
            self.send_response(200)
            self.send_header('Content-Type', 'application/x-tar')
            self.send_header('Content-Length', str(size))
            self.end_headers()
            return True

        def do_HEAD(self):
            self._head()

        def do_GET(self):
            if not self._head():
                return
            with open(path, 'rb') as handle:
                while True:
                    data = handle.read(CHUNK)
                    if not data:
                        break
                    self.wfile.write(data)
    return OneFile


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _make_server(path, address, port, url_path):
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    _Server.address_family = family
    return _Server((address, int(port)), _handler(path, url_path))


def _detach_and_serve(path, address, port, url_path, lifetime, report_fd):
    """In the forked child: a new session, a second fork, then serve until the deadline. Never returns."""
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            max_fd = os.sysconf('SC_OPEN_MAX')
        except (ValueError, OSError):
            max_fd = 1024
        os.closerange(3, report_fd)             # nothing of the module's session stays open but the report pipe
        os.closerange(report_fd + 1, max(max_fd, report_fd + 1))
        os.chdir('/')
        try:
            server = _make_server(path, address, port, url_path)
        except Exception as exc:  # pylint: disable=broad-except
            os.write(report_fd, ('error %s' % exc).encode('utf-8'))
            os._exit(1)
        os.write(report_fd, ('ok %d' % os.getpid()).encode('utf-8'))
        os.close(report_fd)
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.2})
        thread.daemon = True
        thread.start()
        deadline = time.time() + lifetime
        while time.time() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
        os._exit(0)
    except BaseException:  # pylint: disable=broad-except
        os._exit(1)


def start(path, address, port, lifetime, state_dir):
    """Serve ``path`` on ``address``:``port`` for ``lifetime`` seconds. Returns (state, changed): an alive server
    of the same file and address is kept (changed False); another one on that port is stopped first."""
    if not os.path.isfile(path):
        raise PeerServerError('%s is not a file' % path)
    statefile = state_file(state_dir, port)
    old = read_state_file(statefile)
    if alive(old) and old.get('path') == path and old.get('address') == address and old.get('deadline', 0) > time.time() + 60:
        return old, False
    if old:
        stop(state_dir, port)
    token = binascii.hexlify(os.urandom(16)).decode('ascii')
    url_path = '/%s/%s' % (token, quote(os.path.basename(path)))
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        _detach_and_serve(path, address, port, url_path, lifetime, write_fd)
    os.close(write_fd)
    os.waitpid(child, 0)
    message = b''
    while True:
        data = os.read(read_fd, 4096)
        if not data:
            break
        message += data
    os.close(read_fd)
    message = message.decode('utf-8', 'replace')
    if not message.startswith('ok '):
        why = message[len('error '):] or 'the server died'
        raise PeerServerError('cannot serve %s on %s port %d: %s' % (path, address, int(port), why))
    pid = int(message.split()[1])
    host = '[%s]' % address if ':' in address else address
    state = {'pid': pid, 'start_time': proc_start_time(pid), 'path': path, 'address': address, 'port': int(port),
             'url': 'http://%s:%d%s' % (host, int(port), url_path), 'started_at': round(time.time(), 3),
             'deadline': round(time.time() + lifetime, 3)}
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, 0o700)
    tmp = '%s.tmp.%d' % (statefile, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(state, handle)
    os.rename(tmp, statefile)
    return state, True


def stop(state_dir, port):
    """Stop the server the state file of ``port`` names, if it still runs; remove the state file. Returns whether
    a process was stopped."""
    statefile = state_file(state_dir, port)
    state = read_state_file(statefile)
    stopped = False
    if alive(state):
        try:
            os.kill(state['pid'], signal.SIGTERM)
            stopped = True
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
        deadline = time.time() + 5
        while alive(state) and time.time() < deadline:
            time.sleep(0.05)
        if alive(state):
            os.kill(state['pid'], signal.SIGKILL)
    if os.path.exists(statefile):
        os.remove(statefile)
    return stopped or bool(state)
