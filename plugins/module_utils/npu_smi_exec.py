# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ``npu-smi`` with a timeout, a cap on its output and a tolerant decoding.

A hung Ascend driver makes ``npu-smi`` block forever in the kernel; ``AnsibleModule.run_command``
has no timeout (ansible-core 2.19) and reads everything a process prints into memory. Here the
command runs in its own process group, is killed as a group when it does not finish in time,
keeps at most ``max_bytes`` of each stream (the rest is read and dropped, so a chatty process
does not block), and its bytes are decoded as UTF-8 with invalid bytes replaced (U+FFFD), never
as lone surrogates that break the module's JSON result.

Public API:
  find_npu_smi(name) -> path                          the binary: a path as given, a name on E(PATH) or in SEARCH_DIRS
  run_npu_smi(argv, timeout, max_bytes=MAX_OUTPUT_BYTES) -> NpuSmiResult
  NpuSmiExecError (NpuSmiTimeout, NpuSmiNotFound): the command could not be found, run, or did not finish in time
  likely_cause(output, rc=None, ascend_home=...) -> the cause of a known npu-smi failure (one sentence) or None
  HUNG_DRIVER_HINT, DCMI_INIT_CAUSE, NO_LIBRARY_CAUSE: the sentences themselves
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import codecs
import errno
import os
import selectors
import signal
import subprocess
import time

DEFAULT_TIMEOUT = 30
MAX_OUTPUT_BYTES = 1024 * 1024
# After the command itself exited, how long its children may keep its pipes open.
EXIT_GRACE_SECONDS = 1.0
_CHUNK = 64 * 1024

HUNG_DRIVER_HINT = ('Likely cause: the Ascend driver hangs (npu-smi blocks in the driver). Look at `dmesg` for '
                    'davinci/devdrv/dcmi errors, check the driver state (`lsmod | grep drv_davinci`, '
                    '`cat /proc/driver/davinci*` where present), then reload the driver or reboot the node. '
                    'If the node is only slow, raise the npu-smi timeout (npu_smi_timeout / mindie_npu_smi_timeout).')
# "dcmi module initialize failed. ret is -8005": the driver cannot be opened by this process.
DCMI_INIT_CAUSE = ('the Ascend driver or firmware was upgraded without a reboot (reboot the node), or npu-smi ran as '
                   "a user that may not use the driver (run it as root, with become: true, or in HwHiAiUser's group).")
NO_LIBRARY_CAUSE = 'the Ascend driver is not installed or its libraries are missing (look under {0}/driver).'
# Where npu-smi is looked for after the PATH (the driver installs it in /usr/local/sbin; some nodes link it in bin).
SEARCH_DIRS = ('/usr/local/sbin', '/usr/local/bin')


class NpuSmiExecError(Exception):
    """npu-smi could not be run; the message names the command and what to do."""

    def __init__(self, msg, command='', stdout='', stderr=''):
        super(NpuSmiExecError, self).__init__(msg)
        self.msg = msg
        self.command = command
        self.stdout = stdout
        self.stderr = stderr


class NpuSmiTimeout(NpuSmiExecError):
    """npu-smi did not finish in time and was killed."""


class NpuSmiNotFound(NpuSmiExecError):
    """The npu-smi binary was not found; ``searched`` lists the directories looked in."""

    def __init__(self, msg, searched=()):
        super(NpuSmiNotFound, self).__init__(msg)
        self.searched = list(searched)


def is_dcmi_init_failure(text):
    """True when npu-smi's output says the driver could not be initialised (ret -8005)."""
    text = text or ''
    return '-8005' in text or 'dcmi module initialize failed' in text.lower()


def likely_cause(output, rc=None, ascend_home='/usr/local/Ascend'):
    """The likely cause of a known npu-smi failure seen in ``output`` (its text or error), one sentence; else None."""
    output = output or ''
    if 'did not finish within' in output:
        return HUNG_DRIVER_HINT[len('Likely cause: '):]
    if is_dcmi_init_failure(output):
        return DCMI_INIT_CAUSE
    if 'error while loading shared libraries' in output or rc == 127:
        return NO_LIBRARY_CAUSE.format((ascend_home or '/').rstrip('/') or '/')
    return None


def search_dirs():
    """The directories a bare npu-smi name is looked for in: E(PATH), then SEARCH_DIRS (each once, in order)."""
    dirs = []
    for directory in os.environ.get('PATH', '').split(os.pathsep) + list(SEARCH_DIRS):
        if directory and directory not in dirs:
            dirs.append(directory)
    return dirs


def find_npu_smi(name):
    """The npu-smi to run: ``name`` itself when it is a path, else the first executable ``name`` in search_dirs().

    Raises NpuSmiNotFound naming where it looked.
    """
    if os.sep in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name
        raise NpuSmiNotFound('npu-smi was not found: {0} is not an executable file. Is the Ascend driver installed?'
                             .format(name))
    dirs = search_dirs()
    for directory in dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise NpuSmiNotFound('npu-smi was not found: looked for {0} in {1}. Is the Ascend driver installed? Set the npu_smi '
                         'option to its path if it lives elsewhere.'.format(name, ', '.join(dirs)), searched=dirs)


def command_text(argv):
    return ' '.join(str(a) for a in argv)


def _decode(data, truncated):
    """(text, valid): UTF-8 with invalid bytes replaced; a sequence cut by the cap is not counted as invalid."""
    data = bytes(data)
    try:
        codecs.getincrementaldecoder('utf-8')('strict').decode(data, final=not truncated)
        valid = True
    except UnicodeDecodeError:
        valid = False
    return data.decode('utf-8', errors='replace'), valid


class NpuSmiResult(object):
    """What one npu-smi run gave: rc, the (capped) stdout and stderr as text, and what was wrong with them."""

    def __init__(self, argv, rc, out, err, out_total, err_total, max_bytes):
        self.argv = list(argv)
        self.command = command_text(argv)
        self.rc = rc
        self.max_bytes = max_bytes
        self.stdout_bytes = out_total
        self.stderr_bytes = err_total
        self.truncated = [name for name, total in (('stdout', out_total), ('stderr', err_total)) if total > max_bytes]
        self.stdout, out_ok = _decode(out, 'stdout' in self.truncated)
        self.stderr, err_ok = _decode(err, 'stderr' in self.truncated)
        self.invalid_utf8 = [name for name, ok in (('stdout', out_ok), ('stderr', err_ok)) if not ok]

    def notes(self):
        """One sentence per problem with the output (truncated, not UTF-8); empty when there is none."""
        notes = []
        for name in self.truncated:
            total = self.stdout_bytes if name == 'stdout' else self.stderr_bytes
            notes.append("'%s' printed %d bytes on %s; only the first %d were kept (the output was truncated)."
                         % (self.command, total, name, self.max_bytes))
        for name in self.invalid_utf8:
            notes.append("'%s' printed bytes on %s that are not valid UTF-8; they were replaced by U+FFFD."
                         % (self.command, name))
        return notes

    def marked(self, stream):
        """The text of ``stream`` with a line saying it was truncated, when it was."""
        text = self.stdout if stream == 'stdout' else self.stderr
        if stream in self.truncated:
            total = self.stdout_bytes if stream == 'stdout' else self.stderr_bytes
            text += '\n[truncated by ascend.mindie: %d bytes in all, the first %d kept]\n' % (total, self.max_bytes)
        return text


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise


def run_npu_smi(argv, timeout=DEFAULT_TIMEOUT, max_bytes=MAX_OUTPUT_BYTES, environ_update=None):
    """Run ``argv`` (a list) without a shell; return an NpuSmiResult.

    Raises NpuSmiTimeout when it does not finish within ``timeout`` seconds (the whole process group is
    killed), NpuSmiExecError when it cannot be started.
    """
    argv = [str(a) for a in argv]
    command = command_text(argv)
    env = dict(os.environ)
    env.update({'LANG': 'C', 'LC_ALL': 'C'})
    env.update(environ_update or {})
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True, env=env)
    except OSError as exc:
        raise NpuSmiExecError("Cannot run '%s': %s" % (command, exc.strerror or exc), command)

    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    totals = {proc.stdout: 0, proc.stderr: 0}
    selector = selectors.DefaultSelector()
    for stream in buffers:
        selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    exited_at = None
    timed_out = False
    try:
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > EXIT_GRACE_SECONDS:
                break       # npu-smi is done; a child of it still holds the pipes open
            for key, dummy in selector.select(min(deadline - now, 0.2)):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                room = max_bytes - len(buffers[key.fileobj])
                if room > 0:
                    buffers[key.fileobj] += chunk[:room]
                totals[key.fileobj] += len(chunk)
        if not timed_out:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        selector.close()
        if timed_out or proc.poll() is None or exited_at is not None:
            _kill_group(proc)       # nothing of this npu-smi run may outlive it
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    result = NpuSmiResult(argv, proc.returncode, buffers[proc.stdout], buffers[proc.stderr],
                          totals[proc.stdout], totals[proc.stderr], max_bytes)
    if timed_out:
        shown = (result.stdout.strip() or result.stderr.strip())[:300]
        raise NpuSmiTimeout("'%s' did not finish within %s s and was killed%s. %s"
                            % (command, timeout, ('; it had printed: %s' % shown) if shown else ' (it printed nothing)',
                               HUNG_DRIVER_HINT), command, result.marked('stdout'), result.marked('stderr'))
    return result
