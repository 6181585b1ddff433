# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guard of every delete that takes its path from a variable (ascend.mindie.mindie_remove_path).

``check_removal`` decides, on the node, whether a path may be deleted: it resolves the real
path (symlinks, ``.``, ``..``, ``//``) and refuses

- anything that is not an absolute path without control characters;
- the root, the system directories and every directory that contains one of them
  (``/data/..`` resolves to ``/``), and anything inside the trees that must never be
  touched (``/usr``, ``/proc``, ``/var/lib/docker``, ...);
- anything that is not strictly below an allowed data root (the root itself is refused), or
  exactly one of the explicitly allowed paths; an allowed root or path that is itself a
  system directory is refused as a setting error;
- a path that is a symlink, or that goes through a symlink leading out of the allowed root;
- a path with a component that is not a directory before its last one (``model/f/..`` with ``f`` a file:
  the kernel says ENOTDIR where realpath would quietly give ``model``), or a missing component before ``..``;
- a path that is, or contains, a mount point (deleting it would delete another file system, or with a bind
  mount from the same file system, files outside the root): the mount points of ``/proc/self/mountinfo``,
  and a device change seen by lstat (the only check when /proc cannot be read).

It reads the file system (stat, lstat, realpath, /proc/self/mountinfo, a walk for mount points) but changes
nothing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import stat as stat_mod

# Refused as such, and so is every directory that contains one of them (a prefix).
SYSTEM_DIRS = frozenset((
    '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/lost+found',
    '/media', '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/snap', '/srv', '/sys', '/tmp',
    '/usr', '/usr/bin', '/usr/include', '/usr/lib', '/usr/lib32', '/usr/lib64', '/usr/libexec', '/usr/local',
    '/usr/local/Ascend', '/usr/local/bin', '/usr/local/lib', '/usr/local/sbin', '/usr/local/share', '/usr/sbin',
    '/usr/share', '/usr/src', '/var', '/var/cache', '/var/lib', '/var/lib/containerd', '/var/lib/docker',
    '/var/lib/kubelet', '/var/log', '/var/run', '/var/spool', '/var/tmp',
))
# Nothing inside these is ever deleted (the OS, the Ascend driver, virtual file systems, container storage).
PROTECTED_TREES = ('/bin', '/boot', '/dev', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys',
                   '/usr', '/var/lib/containerd', '/var/lib/docker', '/var/lib/kubelet', '/var/run')
# How many entries the mount point scan looks at before it gives up (and refuses).
MAX_SCAN_ENTRIES = 1000000
MOUNTINFO = '/proc/self/mountinfo'
_OCTAL = re.compile(r'\\([0-7]{3})')


class RemovalRefused(Exception):
    """A path (or a setting) the guard refuses; the message says what is wrong and what to do."""


def _below(path, parent):
    """Whether ``path`` is strictly below ``parent`` (both normalised absolute paths)."""
    if parent == '/':
        return path != '/'
    return path.startswith(parent + '/')


def _within(path, parent):
    return path == parent or _below(path, parent)


def _clean(value, what):
    """``value`` as a normalised absolute path string (no symlink resolved), or RemovalRefused."""
    if not isinstance(value, str) or not value:
        raise RemovalRefused('%s must be a non-empty absolute path, not %r.' % (what, value))
    bad = sorted(set(c for c in value if ord(c) < 32 or ord(c) == 127))
    if bad:
        raise RemovalRefused('%s %r contains control characters (%s): refusing it; give a plain absolute path.'
                             % (what, value, ', '.join('\\x%02x' % ord(c) for c in bad)))
    if not value.startswith('/'):
        raise RemovalRefused('%s %r is not an absolute path: give the full path on the node (starting with /).'
                             % (what, value))
    # '//data' and '/data/./' are /data; '..' is resolved by realpath below, never lexically.
    parts = [p for p in value.split('/') if p not in ('', '.')]
    return '/' + '/'.join(parts)


def system_reason(real):
    """Why ``real`` (a resolved absolute path) is never deleted, or None."""
    if real == '/':
        return 'it is the root directory'
    if real in SYSTEM_DIRS:
        return 'it is the system directory %s' % real
    contained = sorted(d for d in SYSTEM_DIRS if _below(d, real))
    if contained:
        return 'it contains the system director%s %s' % ('ies' if len(contained) > 1 else 'y', ', '.join(contained[:4]))
    for tree in PROTECTED_TREES:
        if _below(real, tree):
            return 'it is inside %s, which is never deleted from' % tree
    return None


def _resolve_setting(value, what):
    """(normalised, real) of an allowed root / path; refused when it is a system directory."""
    clean = _clean(value, what)
    real = os.path.realpath(clean)
    reason = system_reason(real)
    if reason is None and real != clean:
        reason = system_reason(clean)
    if reason:
        shown = clean if real == clean else '%s (really %s)' % (clean, real)
        raise RemovalRefused('%s %s cannot be used: %s. Allow a data directory instead, such as /data.'
                             % (what, shown, reason))
    return clean, real


def _ancestors(path):
    """``path`` and every directory above it (normalised), without /."""
    out = []
    parts = path.strip('/').split('/') if path != '/' else []
    for index in range(1, len(parts) + 1):
        out.append('/' + '/'.join(parts[:index]))
    return out


def _kind(st):
    if st is None:
        return 'absent'
    if stat_mod.S_ISLNK(st.st_mode):
        return 'link'
    if stat_mod.S_ISDIR(st.st_mode):
        return 'directory'
    if stat_mod.S_ISREG(st.st_mode):
        return 'file'
    return 'special'


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (2, 20):  # ENOENT, ENOTDIR
            return None
        raise RemovalRefused('Cannot inspect %s: %s.' % (path, exc.strerror or exc))


def parse_mountinfo(text):
    """The mount points (field 5, octal escapes such as ``\\040`` decoded, normalised) of a mountinfo text."""
    points = set()
    for line in text.splitlines():
        fields = line.split(' ')
        if len(fields) < 5 or not fields[4].startswith('/'):
            continue
        point = _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), fields[4])
        points.add(os.path.normpath(point) if point != '/' else '/')
    return points


def read_mount_points(path=None):
    """The mount points of this process's mount namespace (``path``: MOUNTINFO), or None when it cannot be read."""
    try:
        with open(path or MOUNTINFO, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError):
        return None
    return parse_mountinfo(data.decode('utf-8', 'surrogateescape'))


def _check_mount_points(real, shown, points):
    """Refuse ``real`` when it is, or contains, one of ``points`` (None: not known, nothing checked)."""
    if not points:
        return
    if real in points:
        raise RemovalRefused('Refusing to delete %s: it is a mount point; unmount it first.' % shown)
    inside = sorted(p for p in points if _below(p, real))
    if inside:
        raise RemovalRefused('Refusing to delete %s: it contains the mount point%s %s; deleting it would delete files '
                             'of another file system or of a bind-mounted directory; unmount %s first.'
                             % (shown, 's' if len(inside) > 1 else '', ', '.join(inside[:4]),
                                'them' if len(inside) > 1 else 'it'))


def _check_components(value, shown):
    """Refuse a path whose component before the last is not a directory, as the kernel would (ENOTDIR).

    ``value`` is the path as given: ``f/..`` and ``f/.`` with ``f`` a file do not exist for the kernel, though
    realpath makes them the parent (or ``f``). A missing component followed by ``..`` is refused too (ENOENT).
    A trailing ``/`` (or ``/.``) asks for a directory: an existing non-directory there is refused.
    """
    parts = [p for p in value.split('/') if p]
    if value.endswith('/') and parts:
        parts.append('.')
    for index in range(len(parts) - 1):
        prefix = '/' + '/'.join(parts[:index + 1])
        try:
            st = os.stat(prefix)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                if '..' in parts[index + 1:]:
                    raise RemovalRefused('Refusing to delete %s: its component %s does not exist, so %s cannot be '
                                         'resolved (no such directory); give the path without "..".'
                                         % (shown, prefix, value))
                return
            if exc.errno == errno.ENOTDIR:
                raise RemovalRefused('Refusing to delete %s: a component of %s is not a directory; give the real path.'
                                     % (shown, prefix))
            raise RemovalRefused('Cannot inspect %s: %s.' % (prefix, exc.strerror or exc))
        if not stat_mod.S_ISDIR(st.st_mode):
            raise RemovalRefused('Refusing to delete %s: its component %s is a %s, not a directory, so the node cannot '
                                 'resolve %s (not a directory); give the real path.' % (shown, prefix, _kind(st), value))


def _scan_mounts(real, top):
    """Refuse when a directory inside ``real`` is on another device (a mount point)."""
    seen = 0
    stack = [real]
    while stack:
        current = stack.pop()
        try:
            names = os.listdir(current)
        except OSError as exc:
            raise RemovalRefused('Cannot read %s to check it for mount points: %s.' % (current, exc.strerror or exc))
        for name in names:
            seen += 1
            if seen > MAX_SCAN_ENTRIES:
                raise RemovalRefused('%s holds more than %d entries: refusing to delete it blindly; remove it by hand.'
                                     % (real, MAX_SCAN_ENTRIES))
            child = os.path.join(current, name)
            st = _lstat(child)
            if st is None or not stat_mod.S_ISDIR(st.st_mode):
                continue
            if st.st_dev != top.st_dev:
                raise RemovalRefused('%s contains the mount point %s: refusing to delete another file system; '
                                     'unmount it first.' % (real, child))
            stack.append(child)


def check_removal(path, allowed_roots, allowed_paths=(), scan_mounts=True):
    """Decide whether ``path`` may be deleted; raise RemovalRefused (with what to do) when not.

    ``allowed_roots``: the path must be strictly below one of them (after resolving symlinks).
    ``allowed_paths``: paths that may be deleted themselves (for example /etc/mindie).
    Returns {'path': normalised path, 'real_path': resolved path, 'state': 'absent'|'directory'|'file'|'special',
    'root': the allowed root or path it matched}.
    """
    clean = _clean(path, 'The path')
    if not allowed_roots and not allowed_paths:
        raise RemovalRefused('No allowed root is set: nothing may be deleted. Name the data directories below which '
                             'deleting is allowed (for example /data).')
    roots = [_resolve_setting(r, 'The allowed root') for r in allowed_roots or ()]
    exact = [_resolve_setting(p, 'The allowed path') for p in allowed_paths or ()]

    real = os.path.realpath(clean)
    shown = repr(path) if real == clean else '%r (resolved on the node: %s)' % (path, real)
    reason = system_reason(real) or system_reason(clean)
    if reason:
        raise RemovalRefused('Refusing to delete %s: %s.' % (shown, reason))

    matched = None
    for given, real_root in roots:
        if _below(real, real_root):
            matched = (given, real_root)
            break
        if real == real_root:
            raise RemovalRefused('Refusing to delete %s: it is the allowed root %s itself; only what is strictly below '
                                 'it may be deleted.' % (shown, given))
    if matched is None:
        for given, real_path in exact:
            if real == real_path:
                matched = (given, real_path)
                break
    if matched is None:
        allowed = ['below %s' % g for g, dummy in roots] + [g for g, dummy in exact]
        raise RemovalRefused('Refusing to delete %s: it is not strictly below an allowed root (allowed: %s). Point the '
                             'variable at the directory itself, or add its data root to the allowed roots.'
                             % (shown, ', '.join(allowed) or 'nothing'))

    _check_components(path, shown)

    # Every component of the given path: a symlink may only lead within the matched root.
    # The components of the allowed root's own path are the operator's choice and trusted.
    trusted = set()
    for given, dummy in roots + exact:
        trusted.update(_ancestors(given))
    for current in _ancestors(clean):
        st = _lstat(current)
        if st is None:
            break
        if not stat_mod.S_ISLNK(st.st_mode):
            continue
        target = os.path.realpath(current)
        if current == clean:
            raise RemovalRefused('Refusing to delete %r: it is a symlink (to %s); point the variable at the real '
                                 'directory.' % (path, target))
        if current in trusted:
            continue
        if not _within(target, matched[1]):
            raise RemovalRefused('Refusing to delete %r: its component %s is a symlink to %s, outside the allowed root '
                                 '%s.' % (path, current, target, matched[0]))

    st = _lstat(real)
    state = _kind(st)
    if state == 'link':  # a symlink raced in after realpath
        raise RemovalRefused('Refusing to delete %s: it changed into a symlink while being checked.' % shown)
    if st is not None:
        # mountinfo knows bind mounts from the same file system, which st_dev (ismount, the scan) does not see.
        _check_mount_points(real, shown, read_mount_points())
    if st is not None and os.path.ismount(real):
        raise RemovalRefused('Refusing to delete %s: it is a mount point; unmount it first.' % shown)
    if state == 'directory' and scan_mounts:
        _scan_mounts(real, st)
    return {'path': clean, 'real_path': real, 'state': state, 'root': matched[0]}
