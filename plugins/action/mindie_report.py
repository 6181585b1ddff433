# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ascend.mindie.mindie_report (documented in plugins/modules/mindie_report.py).

The one writer of the collection's reports. Runs on the controller only (no connection to the node):
creates the report directory, writes ``<dir>/<name>.json`` and, when ``markdown`` is given,
``<dir>/<name>.md``, each atomically (a temporary file in the same directory, fsync, rename) with
the given mode. ``changed`` is true only when a file's content or mode, or the directory, was (in
check mode: would be) created or changed; an unchanged report is not rewritten.

The directory is, in this order: the ``dir`` option, the variable ``mindie_report_dir``, and
``reports/`` in the directory ansible-playbook runs in (``$PWD``, else the playbook's directory).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

try:
    from ansible.module_utils.common.json import get_encoder

    _ENCODER = get_encoder('tagless')
except ImportError:  # ansible-core < 2.19
    from ansible.module_utils.common.json import AnsibleJSONEncoder as _ENCODER

DIR_VARIABLE = 'mindie_report_dir'
DEFAULT_SUBDIR = 'reports'
DEFAULT_MODE = '0644'
DEFAULT_DIR_MODE = '0755'
_MODE_RE = re.compile(r'^0?[0-7]{3,4}$')
_BAD_NAME = re.compile(r'[/\x00-\x1f\x7f]')


class ReportError(Exception):
    """Bad input or a file system error; the message says which and where."""


def parse_mode(value, option):
    """A file mode from an octal string (``'0644'``) or an int (YAML's unquoted 0644 is 420)."""
    if isinstance(value, bool):
        raise ReportError('%s must be an octal mode such as "0644", got %r' % (option, value))
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str) and _MODE_RE.match(value.strip()):
        mode = int(value.strip(), 8)
    else:
        raise ReportError('%s must be an octal mode such as "0644", got %r' % (option, value))
    if mode < 0 or mode > 0o7777:
        raise ReportError('%s must be an octal mode between 0000 and 7777, got %r' % (option, value))
    return mode


def check_name(name):
    """The report's base name: a plain file name without an extension (.json and .md are added)."""
    if not isinstance(name, str) or not name or name in ('.', '..') or _BAD_NAME.search(name):
        raise ReportError('name must be a plain file name (no "/", no control characters), got %r' % (name,))
    for ext in ('.json', '.md'):
        if name.endswith(ext):
            raise ReportError('name is given without its extension (%s and .md are added): %r' % ('.json', name))
    return name


def render_json(data):
    """The report's JSON text: what ``to_nice_json`` gives (indent 4, sorted keys), and a newline."""
    try:
        return json.dumps(data, cls=_ENCODER, indent=4, sort_keys=True, separators=(',', ': ')) + '\n'
    except (TypeError, ValueError) as exc:
        raise ReportError('data cannot be written as JSON: %s' % to_text(exc))


def default_dir(task_vars, templar):
    """``mindie_report_dir`` when set, else ``reports/`` in $PWD (else in the playbook's directory)."""
    value = task_vars.get(DIR_VARIABLE)
    if value is not None:
        value = templar.template(value)
    if value:
        if not isinstance(value, str):
            raise ReportError('%s must be a path, got %r' % (DIR_VARIABLE, value))
        return value
    base = os.environ.get('PWD') or task_vars.get('playbook_dir') or os.getcwd()
    return os.path.join(base, DEFAULT_SUBDIR)


def _missing_dirs(path):
    """The directories of ``path`` that do not exist yet, outermost first."""
    missing = []
    while not os.path.isdir(path):
        if os.path.lexists(path):
            raise ReportError('%s exists and is not a directory' % path)
        missing.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def ensure_dir(path, mode, check_mode):
    """Create ``path`` (and its missing parents) with ``mode``, or fix the mode of an existing one. Returns changed."""
    try:
        missing = _missing_dirs(path)
        if missing:
            if not check_mode:
                for directory in missing:
                    os.mkdir(directory, mode)
                    os.chmod(directory, mode)  # not narrowed by the umask
            return True
        if stat.S_IMODE(os.stat(path).st_mode) != mode:
            if not check_mode:
                os.chmod(path, mode)
            return True
        return False
    except OSError as exc:
        raise ReportError('cannot create the report directory %s: %s' % (path, exc.strerror or to_text(exc)))


def _same(path, content, mode):
    """(content equal, mode equal) of an existing regular file; (False, False) when there is none."""
    try:
        st = os.lstat(path)
    except OSError:
        return False, False
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise ReportError('%s is a directory' % path)
        return False, False
    try:
        with open(path, 'rb') as handle:
            equal = handle.read(len(content) + 1) == content
    except OSError as exc:
        raise ReportError('cannot read %s: %s' % (path, exc.strerror or to_text(exc)))
    return equal, stat.S_IMODE(st.st_mode) == mode


def write_file(path, text, mode, check_mode):
    """Write ``text`` to ``path`` atomically with ``mode`` unless it is already so. Returns changed."""
    content = to_bytes(text, errors='surrogate_or_strict')
    same_content, same_mode = _same(path, content, mode)
    if same_content and same_mode:
        return False
    if check_mode:
        return True
    try:
        if same_content:
            os.chmod(path, mode)
            return True
        directory = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            tmp = None
        finally:
            if tmp is not None:
                os.unlink(tmp)
    except OSError as exc:
        raise ReportError('cannot write %s: %s' % (path, exc.strerror or to_text(exc)))
    return True


class ActionModule(ActionBase):
    """Write a report (<name>.json and optionally <name>.md) on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    ARGUMENT_SPEC = dict(
        name=dict(type='str', required=True),
        data=dict(type='raw', required=True),
        markdown=dict(type='str'),
        dir=dict(type='path'),
        mode=dict(type='raw', default=DEFAULT_MODE),
        dir_mode=dict(type='raw', default=DEFAULT_DIR_MODE),
    )

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result['changed'] = False
        dummy, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        check_mode = bool(self._task.check_mode)
        try:
            name = check_name(args['name'])
            mode = parse_mode(args['mode'], 'mode')
            dir_mode = parse_mode(args['dir_mode'], 'dir_mode')
            if not isinstance(args['data'], (dict, list)):
                raise ReportError('data must be a mapping or a list, got %s' % type(args['data']).__name__)
            text = render_json(args['data'])
            directory = os.path.abspath(args['dir'] or os.path.expanduser(default_dir(task_vars, self._templar)))
        except ReportError as exc:
            result.update(failed=True, msg='ascend.mindie.mindie_report: %s. Nothing was written.' % to_text(exc))
            return result
        paths = {'json': os.path.join(directory, name + '.json'),
                 'md': os.path.join(directory, name + '.md') if args['markdown'] is not None else None}
        written = []
        try:
            changed = ensure_dir(directory, dir_mode, check_mode)
            for kind, content in (('json', text), ('md', args['markdown'])):
                if paths[kind] is not None and write_file(paths[kind], content, mode, check_mode):
                    written.append(paths[kind])
        except ReportError as exc:
            result.update(failed=True, written=written, msg='ascend.mindie.mindie_report: %s' % to_text(exc))
            return result
        result.update(changed=changed or bool(written), dir=directory, json_path=paths['json'], md_path=paths['md'],
                      written=written,
                      msg='%s %s' % ('would write' if check_mode else 'wrote', ', '.join(written)) if written
                      else 'report %s unchanged' % paths['json'])
        return result
