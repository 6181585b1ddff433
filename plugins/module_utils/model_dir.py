# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of a Hugging Face style (Qwen2-VL) weight directory before MindIE loads it.

Functions read the file system; only ``check_permissions(fix=True)`` (chmod) and
``verify_manifest`` (its hash cache) write. None of them raises: bad input, permission
errors, broken JSON or binary garbage become a ``fail`` check with a one-line reason.

Every check is in the collection's check shape (module_utils/checks.py): category ``model``,
status ``pass``, ``warn`` or ``fail``, the id in ``id``/``name``, the one-line message in
``message``/``reason``, and the deployment guide's section: 7.1.1 (the service does not start)
for the modes MindIE refuses, 7.1.2 (out of memory: check the model files) for the others.
The prechecks and mindie_diagnose report these checks as they are.

Public API:
  check_model_dir(path, model_type='qwen2_vl')
      -> [model_dir_exists, model_config, model_tokenizer, model_shards]
         (only model_dir_exists when the directory is missing or unreadable)
  check_permissions(path, fix=False, check_mode=False)
      -> ([model_dir_mode, model_config_mode], changed)
         directory must be no looser than 0750, its config.json no looser than 0640
         (symlinks are followed, as MindIE opens the target)
  verify_manifest(path, manifest_path, cache_path=None, save_cache=True, mode='cached')
      -> model_checksums check with extra keys 'hashed' (files hashed this run),
         'cached' (count of files whose cached hash was used), 'cache_path' and
         'cache_changed' (the hash cache was written, or would be with save_cache False).
         A relative manifest_path is taken relative to the model directory.
         mode 'full' re-hashes every file and ignores the cache (it is refreshed).

The hash cache lives OUTSIDE the weight directory (which may be read-only, shared or not
ours): DEFAULT_CACHE_DIR (/var/cache/ascend.mindie/sha256, created 0700) when it can be
written, else ~/.cache/ascend.mindie, one file per model directory named after a hash of
the directory's real path. An entry is trusted only while the file's device, inode, size,
mtime and ctime (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) are those recorded: a
content change hidden behind a restored mtime still changes the ctime, a replaced file its
inode. A cache file not owned by this user (or root), or writable by group or others, is
ignored.

Every file the checks read (config.json, the safetensors index, the shards, the tokenizer
files, the files of a manifest) must resolve inside the model directory: the MindIE
container mounts only that directory, so a symlink leading out of it is refused with the
path and where it points.
  read_safetensors_header(path) -> (header_len, header_dict); raises SafetensorsError
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import stat
import struct
import tempfile

from ansible_collections.ascend.mindie.plugins.module_utils.checks import (  # the statuses of every check
    FAIL,
    PASS,
    WARN,
    make as make_check,
)
# The guide section of each check (the modes make the service not start; the rest is 7.1.2's model check).
GUIDE_SECTIONS = {'model_dir_mode': '7.1.1', 'model_config_mode': '7.1.1'}
MODEL_FILES_SECTION = '7.1.2'

CONFIG_FILE = 'config.json'
INDEX_FILE = 'model.safetensors.index.json'
SINGLE_SHARD = 'model.safetensors'
TOKENIZER_FILES = ('tokenizer_config.json', 'tokenizer.json', 'vocab.json', 'merges.txt')
DEFAULT_CACHE_DIR = '/var/cache/ascend.mindie/sha256'
FALLBACK_CACHE_DIR = os.path.join('~', '.cache', 'ascend.mindie')
CACHE_VERSION = 2
CACHE_KEY = ('dev', 'ino', 'size', 'mtime_ns', 'ctime_ns')
VERIFY_MODES = ('cached', 'full')

DIR_MAX_MODE = 0o750
CONFIG_MAX_MODE = 0o640
FIX_VARIABLE = 'mindie_precheck_fix_permissions'

CHUNK_SIZE = 1024 * 1024
MAX_HEADER_LEN = 100 * 1000 * 1000      # the safetensors library refuses larger headers
MAX_JSON_BYTES = 64 * 1024 * 1024       # config / index / tokenizer_config read limit
MAX_NAMED = 5
TOTAL_SIZE_TOLERANCE = 0.01

_HEX64 = re.compile(r'^[0-9a-fA-F]{64}$')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


class SafetensorsError(ValueError):
    """A safetensors file whose header cannot be used; ``kind`` is 'truncated' or 'corrupt'."""

    def __init__(self, kind, reason):
        self.kind = kind
        self.reason = reason
        super(SafetensorsError, self).__init__(reason)


def _check(name, status, reason, hint=''):
    return make_check(name, 'model', status, _one_line(reason), _one_line(hint),
                      GUIDE_SECTIONS.get(name, MODEL_FILES_SECTION))


def _one_line(text):
    return _CONTROL.sub(' ', '%s' % (text,)).strip()


def _names(items, limit=MAX_NAMED):
    """'a, b, c, d, e and 3 more'."""
    items = [_one_line(i) for i in items]
    shown = ', '.join(items[:limit])
    if len(items) > limit:
        shown += ' and %d more' % (len(items) - limit)
    return shown


def _err(exc):
    """A short description of an exception (OSError without the noisy repr)."""
    if isinstance(exc, EnvironmentError) and getattr(exc, 'strerror', None):
        return exc.strerror
    return '%s: %s' % (type(exc).__name__, exc) if '%s' % exc else type(exc).__name__


def _guard(name, func, *args):
    """Run one check; an unexpected exception becomes a fail check, never a traceback."""
    try:
        return func(*args)
    except Exception as exc:  # pylint: disable=broad-except
        return _check(name, FAIL, 'internal error while checking: %s' % _err(exc),
                      'report this as a bug of ascend.mindie')


def _read_json(path):
    """(value, None) or (None, 'reason'); never raises."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None, 'is not a regular file'
        size = st.st_size
        if size > MAX_JSON_BYTES:
            return None, 'is %d bytes, too large for a JSON configuration file' % size
        with open(path, 'rb') as handle:
            raw = handle.read()
    except EnvironmentError as exc:
        if exc.errno == errno.ENOENT:
            return None, 'is missing'
        return None, 'cannot be read (%s)' % _err(exc)
    try:
        return json.loads(raw.decode('utf-8')), None
    except UnicodeDecodeError:
        return None, 'is not UTF-8 text'
    except ValueError as exc:
        return None, 'is not valid JSON (%s)' % exc


def _inside(base, relative):
    """The joined path when ``relative`` stays inside ``base``, else None."""
    if not isinstance(relative, str) or not relative or '\x00' in relative or os.path.isabs(relative):
        return None
    norm = os.path.normpath(relative)
    if norm == os.curdir or norm == os.pardir or norm.startswith(os.pardir + os.sep):
        return None
    return os.path.join(base, norm)


def _escape(base, relative):
    """None when ``base``/``relative`` resolves inside ``base``; else 'path points to target'.

    Every symlink on the way is followed (os.path.realpath), so a link of a file or of a
    directory above it that leads out of the model directory is found, dangling or not.
    """
    full = os.path.join(base, relative)
    root = os.path.realpath(base)
    real = os.path.realpath(full)
    if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
        return None
    try:
        link = os.readlink(full)
    except (EnvironmentError, ValueError):
        link = None
    if link is not None and os.path.join(os.path.dirname(full), link) != real:
        return '%s points to %s (%s)' % (full, link, real)
    return '%s points to %s' % (full, real)


def _escapes(base, relatives):
    """The _escape descriptions of those of ``relatives`` that leave ``base``."""
    found = []
    for rel in relatives:
        if os.path.lexists(os.path.join(base, rel)):
            why = _escape(base, rel)
            if why:
                found.append(why)
    return found


ESCAPE_HINT = ('the MindIE container mounts only the model directory: replace the link by the file itself '
               '(cp --remove-destination "$(readlink -f LINK)" LINK) or point the model path at the real directory')


def _escape_check(name, base, relatives):
    """A fail check when any of ``relatives`` leaves ``base``, else None."""
    found = _escapes(base, relatives)
    if not found:
        return None
    return _check(name, FAIL, 'symlink(s) leading out of the model directory %s: %s'
                  % (os.path.realpath(base), _names(found)), ESCAPE_HINT)


# --------------------------------------------------------------------------------------------
# check_model_dir
# --------------------------------------------------------------------------------------------

def _dir_problem(path):
    """None when ``path`` is a readable directory, else the reason."""
    if not isinstance(path, str) or not path:
        return 'the model path must be a non-empty string, got %r' % (path,)
    try:
        st = os.stat(path)
    except EnvironmentError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return '%s does not exist' % path
        return '%s cannot be accessed (%s)' % (path, _err(exc))
    except ValueError as exc:
        return 'invalid model path %r (%s)' % (path, exc)
    if not stat.S_ISDIR(st.st_mode):
        return '%s exists but is not a directory' % path
    if not os.access(path, os.R_OK | os.X_OK):
        return '%s is not readable by this user' % path
    return None


def _check_exists(path):
    problem = _dir_problem(path)
    if problem:
        return _check('model_dir_exists', FAIL, 'model directory %s' % problem,
                      'download the weights there or set the model path to the weight directory')
    return _check('model_dir_exists', PASS, '%s is a directory' % path)


def _check_config(path, model_type):
    name = 'model_config'
    cfg_path = os.path.join(path, CONFIG_FILE)
    escaped = _escape_check(name, path, [CONFIG_FILE])
    if escaped:
        return escaped
    cfg, problem = _read_json(cfg_path)
    if problem:
        return _check(name, FAIL, '%s %s' % (cfg_path, problem),
                      'the weight directory needs the config.json of the model download')
    if not isinstance(cfg, dict):
        return _check(name, FAIL, '%s is not a JSON object' % cfg_path,
                      'the weight directory needs the config.json of the model download')
    found = cfg.get('model_type')
    if model_type is None:
        return _check(name, PASS, '%s parses (model_type %r)' % (cfg_path, found))
    if found is None:
        return _check(name, FAIL, '%s has no model_type (expected %r)' % (cfg_path, model_type),
                      'check that this is the %s checkpoint' % model_type)
    if found != model_type:
        return _check(name, FAIL, '%s has model_type %r, expected %r' % (cfg_path, found, model_type),
                      'point the model path at a %s checkpoint or change the expected model type'
                      % model_type)
    return _check(name, PASS, '%s: model_type %s' % (cfg_path, found))


def _present(path, fname):
    """'ok', 'missing' or 'empty'."""
    full = os.path.join(path, fname)
    try:
        st = os.stat(full)
    except (EnvironmentError, ValueError):
        return 'missing'
    if not stat.S_ISREG(st.st_mode):
        return 'missing'
    return 'ok' if st.st_size > 0 else 'empty'


def _check_tokenizer(path):
    name = 'model_tokenizer'
    hint = 'copy the tokenizer files of the model download into the weight directory'
    escaped = _escape_check(name, path, TOKENIZER_FILES)
    if escaped:
        return escaped
    problems = []
    state = {f: _present(path, f) for f in TOKENIZER_FILES}
    if state['tokenizer_config.json'] != 'ok':
        problems.append('tokenizer_config.json (%s)' % state['tokenizer_config.json'])
    else:
        value, problem = _read_json(os.path.join(path, 'tokenizer_config.json'))
        if problem:
            problems.append('tokenizer_config.json %s' % problem)
        elif not isinstance(value, dict):
            problems.append('tokenizer_config.json is not a JSON object')
    if state['tokenizer.json'] == 'ok':
        used = 'tokenizer.json'
    elif state['vocab.json'] == 'ok' and state['merges.txt'] == 'ok':
        used = 'vocab.json + merges.txt'
    else:
        used = None
        missing = ['%s (%s)' % (f, state[f]) for f in ('tokenizer.json', 'vocab.json', 'merges.txt')
                   if state[f] != 'ok']
        problems.append('tokenizer.json or vocab.json + merges.txt: %s' % ', '.join(missing))
    if problems:
        return _check(name, FAIL, 'tokenizer files missing or unusable in %s: %s' % (path, '; '.join(problems)),
                      hint)
    return _check(name, PASS, 'tokenizer_config.json and %s present' % used)


def read_safetensors_header(shard_path):
    """Read only the header of a safetensors file.

    Returns ``(header_len, header)``; raises SafetensorsError ('truncated' or 'corrupt')
    or EnvironmentError.
    """
    with open(shard_path, 'rb') as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(8)
        if len(head) < 8:
            raise SafetensorsError('truncated', '%d bytes, shorter than the 8-byte header length' % size)
        (header_len,) = struct.unpack('<Q', head)
        if header_len == 0 or header_len > MAX_HEADER_LEN:
            raise SafetensorsError('corrupt', 'header length %d is not plausible' % header_len)
        if header_len > size - 8:
            raise SafetensorsError('truncated', '%d bytes, the header alone needs %d' % (size, 8 + header_len))
        raw = handle.read(header_len)
    if len(raw) < header_len:
        raise SafetensorsError('truncated', 'the header could not be read completely')
    try:
        header = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        raise SafetensorsError('corrupt', 'the header is not valid JSON')
    if not isinstance(header, dict):
        raise SafetensorsError('corrupt', 'the header is not a JSON object')
    for tensor, info in header.items():
        if tensor == '__metadata__':
            continue
        offsets = info.get('data_offsets') if isinstance(info, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or offsets[0] < 0 or offsets[1] < offsets[0]):
            raise SafetensorsError('corrupt', 'tensor %s has invalid data_offsets' % tensor)
    return header_len, header


def _tensors(header):
    return dict((k, v) for k, v in header.items() if k != '__metadata__')


def _inspect_shard(shard_path):
    """(tensor_names, tensor_bytes, None) or (None, None, (kind, reason))."""
    try:
        size = os.path.getsize(shard_path)
        header_len, header = read_safetensors_header(shard_path)
    except SafetensorsError as exc:
        return None, None, (exc.kind, exc.reason)
    except EnvironmentError as exc:
        return None, None, ('unreadable', _err(exc))
    tensors = _tensors(header)
    data_end = max([t['data_offsets'][1] for t in tensors.values()] or [0])
    declared = 8 + header_len + data_end
    if size < declared:
        return None, None, ('truncated', '%d of %d bytes' % (size, declared))
    if size > declared:
        return None, None, ('corrupt', '%d bytes but the header declares %d' % (size, declared))
    used = sum(t['data_offsets'][1] - t['data_offsets'][0] for t in tensors.values())
    return set(tensors), used, None


def _check_shards(path):
    name = 'model_shards'
    hint = 're-download the listed files (compare sizes with the model hub)'
    index_path = os.path.join(path, INDEX_FILE)
    total_size = None
    escaped = _escape_check(name, path, [INDEX_FILE])
    if escaped:
        return escaped
    if os.path.exists(index_path) or not os.path.isfile(os.path.join(path, SINGLE_SHARD)):
        index, problem = _read_json(index_path)
        if problem:
            return _check(name, FAIL, '%s %s' % (index_path, problem), hint)
        weight_map = index.get('weight_map') if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            return _check(name, FAIL, '%s has no weight_map' % index_path, hint)
        expected = {}
        bad_names = []
        for tensor, shard in weight_map.items():
            if _inside(path, shard) is None:
                bad_names.append('%r' % (shard,))
            else:
                expected.setdefault(os.path.normpath(shard), set()).add(tensor)
        if bad_names:
            return _check(name, FAIL, '%s names shards outside the directory: %s'
                          % (index_path, _names(sorted(set(bad_names)))), hint)
        metadata = index.get('metadata')
        if isinstance(metadata, dict):
            total_size = metadata.get('total_size')
        source = INDEX_FILE
    else:
        expected = {SINGLE_SHARD: None}
        source = 'single file %s' % SINGLE_SHARD
    escaped = _escape_check(name, path, sorted(expected))
    if escaped:
        return escaped

    missing, truncated, corrupt, unreadable, incomplete = [], [], [], [], []
    tensor_bytes = 0
    for shard in sorted(expected):
        shard_path = os.path.join(path, shard)
        if not os.path.isfile(shard_path):
            missing.append(shard)
            continue
        names, used, problem = _inspect_shard(shard_path)
        if problem:
            kind, why = problem
            entry = '%s (%s)' % (shard, why)
            {'truncated': truncated, 'corrupt': corrupt}.get(kind, unreadable).append(entry)
            continue
        tensor_bytes += used
        wanted = expected[shard]
        if wanted and not wanted <= names:
            lacking = sorted(wanted - names)
            incomplete.append('%s (lacks %d tensor(s) of the index, e.g. %s)' % (shard, len(lacking), lacking[0]))

    problems = []
    for label, items in (('missing', missing), ('truncated', truncated), ('corrupt', corrupt),
                         ('unreadable', unreadable), ('not matching the index', incomplete)):
        if items:
            problems.append('%s: %s' % (label, _names(items)))
    if problems:
        return _check(name, FAIL, 'the weights in %s are incomplete: %d of %d shard(s) bad; %s' % (
            path, len(missing) + len(truncated) + len(corrupt) + len(unreadable) + len(incomplete),
            len(expected), '; '.join(problems)), hint)
    if isinstance(total_size, (int, float)) and not isinstance(total_size, bool) and total_size > 0:
        if abs(tensor_bytes - total_size) > TOTAL_SIZE_TOLERANCE * total_size:
            return _check(name, WARN, 'shard tensors hold %d bytes but %s metadata.total_size says %d'
                          % (tensor_bytes, INDEX_FILE, total_size),
                          'the index may belong to another revision of the weights; re-download it')
    return _check(name, PASS, '%d shard(s) from %s complete, %d tensor bytes' % (len(expected), source, tensor_bytes))


def check_model_dir(path, model_type='qwen2_vl'):
    """List of checks of the weight directory (see module docstring)."""
    exists = _guard('model_dir_exists', _check_exists, path)
    if exists['status'] != PASS:
        return [exists]
    return [
        exists,
        _guard('model_config', _check_config, path, model_type),
        _guard('model_tokenizer', _check_tokenizer, path),
        _guard('model_shards', _check_shards, path),
    ]


# --------------------------------------------------------------------------------------------
# check_permissions
# --------------------------------------------------------------------------------------------

def _mode_check(name, target, max_mode, chmod_arg, fix, check_mode):
    """(check, changed) for one path that must be no looser than ``max_mode``."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except (EnvironmentError, ValueError) as exc:
        return _check(name, FAIL, 'cannot stat %s (%s)' % (target, _err(exc)),
                      'check that the path exists and is reachable by this user'), False
    loose = mode & 0o777 & ~max_mode
    if not loose:
        return _check(name, PASS, '%s is %04o, within %04o' % (target, mode, max_mode)), False
    new_mode = mode & max_mode
    if not fix:
        return _check(name, FAIL, '%s is %04o, looser than the %04o MindIE accepts' % (target, mode, max_mode),
                      'run chmod %s %s or set %s: true' % (chmod_arg, target, FIX_VARIABLE)), False
    if check_mode:
        return _check(name, PASS, '%s is %04o and would be fixed to %04o (check mode)'
                      % (target, mode, new_mode)), True
    try:
        os.chmod(target, new_mode)
    except (EnvironmentError, ValueError) as exc:
        return _check(name, FAIL, '%s is %04o; chmod to %04o failed (%s)' % (target, mode, new_mode, _err(exc)),
                      'run chmod %s %s as the owner or root' % (chmod_arg, target)), False
    return _check(name, PASS, '%s was %04o, fixed to %04o' % (target, mode, new_mode)), True


def check_permissions(path, fix=False, check_mode=False):
    """([model_dir_mode, model_config_mode], changed)."""
    checks, changed = [], False
    problem = _guard('model_dir_mode', _dir_problem, path)
    if isinstance(problem, dict):
        return [problem], False
    if problem:
        return [_check('model_dir_mode', FAIL, problem, 'create the model directory first'),
                _check('model_config_mode', FAIL, 'no model directory, config.json not checked',
                       'create the model directory first')], False
    for name, target, max_mode, arg in (('model_dir_mode', path, DIR_MAX_MODE, '750'),
                                        ('model_config_mode', os.path.join(path, CONFIG_FILE),
                                         CONFIG_MAX_MODE, '640')):
        escaped = _guard(name, _escape_check, name, path, [CONFIG_FILE]) if name == 'model_config_mode' else None
        if escaped:
            # Never chmod (nor judge) a file outside the model directory.
            checks.append(escaped)
            continue
        try:
            result, did = _mode_check(name, target, max_mode, arg, bool(fix), bool(check_mode))
        except Exception as exc:  # pylint: disable=broad-except
            result, did = _check(name, FAIL, 'internal error while checking: %s' % _err(exc)), False
        checks.append(result)
        changed = changed or did
    return checks, changed


# --------------------------------------------------------------------------------------------
# verify_manifest
# --------------------------------------------------------------------------------------------

def parse_manifest(text):
    """sha256sum output -> ([(relative_path, hex_lower)], [bad line numbers]).

    Blank lines and '#' comments are skipped; '<hex>  <path>' and '<hex> *<path>' accepted.
    """
    entries, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not _HEX64.match(parts[0]):
            bad.append(number)
            continue
        rest = line[line.index(parts[0]) + 64:]
        if rest[:1] not in (' ', '\t'):
            bad.append(number)
            continue
        rest = rest[1:]
        if rest[:1] in (' ', '*'):
            rest = rest[1:]
        rest = rest.rstrip('\r')
        if not rest:
            bad.append(number)
            continue
        entries.append((rest, parts[0].lower()))
    return entries, bad


def _sha256(full_path):
    digest = hashlib.sha256()
    with open(full_path, 'rb') as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _stat_key(st):
    """What a cache entry is keyed on: a change of content changes at least one of these."""
    return {'dev': st.st_dev, 'ino': st.st_ino, 'size': st.st_size,
            'mtime_ns': st.st_mtime_ns, 'ctime_ns': st.st_ctime_ns}


def _cache_name(root):
    """One cache file per model directory, named after its real path."""
    key = hashlib.sha256(root.encode('utf-8', 'surrogateescape')).hexdigest()[:32]
    base = re.sub(r'[^A-Za-z0-9_.-]', '_', os.path.basename(root) or 'model')[:64]
    return 'sha256-%s-%s.json' % (base, key)


def _cache_candidates(path, root, cache_path):
    """Cache files in order of preference: an explicit cache_path, DEFAULT_CACHE_DIR, the home fallback.

    An explicit cache_path inside the model directory is used only when this user owns that
    directory and may write it; otherwise the cache stays outside.
    """
    name = _cache_name(root)
    found = []
    if isinstance(cache_path, str) and cache_path:
        explicit = os.path.abspath(cache_path)
        real_parent = os.path.realpath(os.path.dirname(explicit))
        inside = real_parent == root or real_parent.startswith(root.rstrip(os.sep) + os.sep)
        if not inside or _owned_and_writable(path):
            found.append(explicit)
    found.append(os.path.join(DEFAULT_CACHE_DIR, name))
    found.append(os.path.join(os.path.expanduser(FALLBACK_CACHE_DIR), name))
    return found


def _owned_and_writable(directory):
    try:
        st = os.stat(directory)
    except (EnvironmentError, ValueError):
        return False
    return st.st_uid == os.geteuid() and os.access(directory, os.W_OK | os.X_OK)


def _trusted(st):
    """Owned by this user or root and not writable by group or others."""
    return st.st_uid in (os.geteuid(), 0) and not st.st_mode & 0o022


def _cache_dir_usable(directory, create):
    """True when ``directory`` can hold the cache (created 0700 when ``create``)."""
    try:
        if not os.path.isdir(directory):
            if not create:
                return False
            os.makedirs(directory, 0o700)
        return _trusted(os.stat(directory)) and os.access(directory, os.W_OK | os.X_OK)
    except (EnvironmentError, ValueError):
        return False


def _load_cache(cache_file, root):
    """The trusted entries of a cache file, {} when it is missing, foreign, broken or of an older version."""
    try:
        if not _trusted(os.lstat(cache_file)) or not _trusted(os.stat(os.path.dirname(cache_file))):
            return {}
        with open(cache_file, 'rb') as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return {}
            data = json.loads(handle.read(MAX_JSON_BYTES).decode('utf-8'))
    except (EnvironmentError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get('version') != CACHE_VERSION or data.get('path') != root:
        return {}
    files = data.get('files')
    if not isinstance(files, dict):
        return {}
    clean = {}
    for rel, entry in files.items():
        if (isinstance(entry, dict)
                and all(isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool) for k in CACHE_KEY)
                and isinstance(entry.get('sha256'), str) and _HEX64.match(entry['sha256'])):
            clean[rel] = dict((k, entry[k]) for k in CACHE_KEY + ('sha256',))
    return clean


def _write_cache(cache_file, root, cache):
    """Atomic write (temp file in the same directory + fsync + rename). Returns None or a reason."""
    directory = os.path.dirname(cache_file) or '.'
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix='.mindie_sha256_', suffix='.tmp', dir=directory)
        with os.fdopen(fd, 'w') as handle:
            json.dump({'version': CACHE_VERSION, 'path': root, 'files': cache}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, cache_file)
        tmp = None
        return None
    except (EnvironmentError, ValueError, TypeError) as exc:
        return _err(exc)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except EnvironmentError:
                pass


def _manifest_result(status, reason, hint='', hashed=None, cached=0, cache_path=None, cache_changed=False):
    result = _check('model_checksums', status, reason, hint)
    result['hashed'] = list(hashed or [])
    result['cached'] = cached
    result['cache_path'] = cache_path
    result['cache_changed'] = bool(cache_changed)
    return result


def _read_manifest(path, manifest_path):
    """(entries, manifest_path, None) or (None, manifest_path, failed result)."""
    hint = 're-download the files named (or regenerate the manifest if the weights changed on purpose)'
    if not os.path.isabs(manifest_path):
        manifest_path = os.path.join(path, manifest_path)
    try:
        st = os.stat(manifest_path)
        if not stat.S_ISREG(st.st_mode):
            raise IOError(errno.EINVAL, 'not a regular file')
        with open(manifest_path, 'rb') as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except (EnvironmentError, ValueError) as exc:
        return None, manifest_path, _manifest_result(
            FAIL, 'manifest %s cannot be read (%s)' % (manifest_path, _err(exc)),
            'create it with: cd <model dir> && sha256sum * > SHA256SUMS')
    if len(raw) > MAX_JSON_BYTES:
        return None, manifest_path, _manifest_result(
            FAIL, 'manifest %s is too large to be a sha256sum file' % manifest_path, hint)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        return None, manifest_path, _manifest_result(FAIL, 'manifest %s is not UTF-8 text' % manifest_path,
                                                     'the manifest must be sha256sum output')
    entries, bad = parse_manifest(text)
    if bad:
        return None, manifest_path, _manifest_result(FAIL, 'manifest %s has %d malformed line(s): %s' % (
            manifest_path, len(bad), _names(['line %d' % n for n in bad])), 'the manifest must be sha256sum output')
    if not entries:
        return None, manifest_path, _manifest_result(FAIL, 'manifest %s lists no files' % manifest_path,
                                                     'the manifest must be sha256sum output')
    outside = [rel for rel, _h in entries if _inside(path, rel) is None]
    if outside:
        return None, manifest_path, _manifest_result(
            FAIL, 'manifest %s names paths outside the model directory: %s' % (manifest_path, _names(outside)),
            'use paths relative to the model directory')
    return entries, manifest_path, None


def _verify_manifest(path, manifest_path, cache_path, save_cache, mode):
    hint = 're-download the files named (or regenerate the manifest if the weights changed on purpose)'
    problem = _dir_problem(path)
    if problem:
        return _manifest_result(FAIL, problem, 'check the model path')
    if mode not in VERIFY_MODES:
        return _manifest_result(FAIL, 'checksum verification mode must be one of %s, got %r'
                                % (', '.join(VERIFY_MODES), mode), 'set mindie_precheck_verify_checksums to cached or full')
    if not isinstance(manifest_path, str) or not manifest_path:
        return _manifest_result(FAIL, 'manifest path must be a non-empty string, got %r' % (manifest_path,),
                                'set the manifest path to a sha256sum file')
    entries, manifest_path, failed = _read_manifest(path, manifest_path)
    if failed:
        return failed

    root = os.path.realpath(path)
    candidates = _cache_candidates(path, root, cache_path)
    # The first candidate whose directory is there (or, unless in check mode, can be created).
    cache_file = None
    for candidate in candidates:
        if _cache_dir_usable(os.path.dirname(candidate), create=save_cache):
            cache_file = candidate
            break
    cache = _load_cache(cache_file, root) if cache_file else {}
    before = dict(cache)

    hashed, cached, missing, unreadable, mismatched, escaped = [], 0, [], [], [], []
    seen = {}
    fresh = {}
    for rel, expected in entries:
        key = os.path.normpath(rel)
        full = os.path.join(path, key)
        if key not in seen:
            seen[key] = False
            try:
                why = _escape(path, key) if os.path.lexists(full) else None
                if why:
                    escaped.append(why)
                    continue
                st = os.stat(full)
                if not stat.S_ISREG(st.st_mode):
                    raise IOError(errno.EISDIR, 'not a regular file')
                now = _stat_key(st)
                entry = cache.get(key)
                if mode == 'cached' and entry and all(entry[k] == now[k] for k in CACHE_KEY):
                    seen[key] = entry['sha256'].lower()
                    fresh[key] = entry
                    cached += 1
                else:
                    seen[key] = _sha256(full)
                    hashed.append(key)
                    # Cached only when the file did not change while it was hashed.
                    if _stat_key(os.stat(full)) == now:
                        fresh[key] = dict(now, sha256=seen[key])
            except EnvironmentError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    missing.append(key)
                else:
                    unreadable.append('%s (%s)' % (key, _err(exc)))
                seen[key] = False
        if seen[key] and seen[key] != expected:
            mismatched.append(key)

    cache_note = ''
    cache_changed = fresh != before
    if cache_changed and save_cache:
        why = 'no cache directory can be written'
        for candidate in ([cache_file] if cache_file else []) + [c for c in candidates if c != cache_file]:
            if candidate != cache_file and not _cache_dir_usable(os.path.dirname(candidate), create=True):
                continue
            why = _write_cache(candidate, root, fresh)
            if not why:
                cache_file = candidate
                break
        if why:
            cache_note = '; hash cache not saved (%s)' % why
            cache_file = None
            cache_changed = False

    problems = []
    for label, items in (('symlink leading out of the model directory', escaped), ('missing', missing),
                         ('unreadable', unreadable), ('checksum mismatch', mismatched)):
        if items:
            problems.append('%s: %s' % (label, _names(items)))
    counts = '%d hashed, %d from cache%s' % (len(hashed), cached, ', full re-hash' if mode == 'full' else '')
    if problems:
        return _manifest_result(FAIL, '%d of %d file(s) failed verification against %s; %s (%s)%s' % (
            len(escaped) + len(missing) + len(unreadable) + len(mismatched), len(seen), manifest_path,
            '; '.join(problems), counts, cache_note), ESCAPE_HINT if escaped and not (missing or unreadable or mismatched)
            else hint, hashed, cached, cache_file, cache_changed)
    return _manifest_result(PASS, '%d file(s) match %s (%s)%s' % (len(seen), manifest_path, counts, cache_note),
                            '', hashed, cached, cache_file, cache_changed)


def verify_manifest(path, manifest_path, cache_path=None, save_cache=True, mode='cached'):
    """The model_checksums check (see module docstring). With save_cache False (check
    mode) the hash cache is read but never written (nor its directory created);
    ``cache_changed`` then says whether a real run would write it. mode 'full' re-hashes
    every file, ignoring the cache."""
    try:
        return _verify_manifest(path, manifest_path, cache_path, save_cache, mode)
    except Exception as exc:  # pylint: disable=broad-except
        return _manifest_result(FAIL, 'internal error while verifying checksums: %s' % _err(exc),
                                'report this as a bug of ascend.mindie')
