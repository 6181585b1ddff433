#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_config
short_description: Merge settings into a MindIE Service config.json and validate the result before writing
description:
  - Deep-merges O(settings) into the existing MindIE Service C(config.json) and keeps every key the settings do not
    name exactly as it was, in the same order (new keys are appended). Dicts merge key by key; a list of objects
    (C(ModelConfig)) merges element by element, extra elements being appended; lists of scalars and nested lists
    (C(npuDeviceIds)) are replaced.
  - "Validates the merged result with the rules MindIE applies before anything is written: ports in [1024, 65535];
    C(ipAddress)/C(managementIpAddress) literal IPv4/IPv6 addresses (no host names; brackets only around IPv6),
    C(0.0.0.0)/C(::)/C(::ffff:0.0.0.0) only with C(allowAllZeroIpListening); C(modelInstanceNumber) in [1, 10]
    and equal to the number of C(npuDeviceIds) groups, each group of C(worldSize) NPUs; C(tokenizerProcessNumber) in [1, 32]; C(maxPrefillTokens) >=
    C(maxInputTokenLen); C(maxInputTokenLen) <= 4194304 (above C(maxSeqLen) is accepted: MindIE caps requests at
    C(maxSeqLen) - 1); C(maxIterTimes) in [1, C(maxSeqLen)];
    C(maxPrefillBatchSize) <= C(maxBatchSize) (0 allowed); C(maxBatchSize) in [1, 819200]; C(maxLinkNum) in
    [1, 4096]; C(cacheBlockSize) in [1, 128]; C(modelName) pattern, starting and ending with a letter or digit;
    a non-empty C(ModelConfig); C(npuMemSize) -1 or positive, and not -1 for a multimodal (vision-language) model."
  - "C(npuDeviceIds): no NPU twice in a group or in two groups, no empty group, and every id below O(npu_count)
    when it is given."
  - "Booleans (C(httpsEnabled), C(allowAllZeroIpListening), C(truncation), C(trustRemoteCode),
    C(multiNodesInferEnabled), C(supportSelectBatch), ...) must be JSON booleans; a quoted C(\"false\") is refused,
    since MindIE refuses it (or, for C(truncation), silently uses its default)."
  - "Ports, as MindIE-LLM's C(http_server.cpp) lays out its HTTP servers: C(port), C(managementPort) and
    C(metricsPort) may all be equal (one server for everything), C(port) may equal C(managementPort), and
    C(managementPort) may equal C(metricsPort); C(port) equal to C(metricsPort) alone, on one address, is refused as
    MindIE refuses it. C(port) must differ from C(multiNodesInferPort) (1120 when absent, C(config_manager_impl.cpp)).
    Two servers on overlapping addresses (one of them C(0.0.0.0) or C(::)) with one port are refused, and so is
    C(interCommPort) on an HTTP port in C(inferMode) C(dmi), where it is listened on. Any port of the file in
    O(reserved_ports) is refused, naming who holds it."
  - Keys of O(settings) that are neither in the file at that place nor known MindIE keys (1.0.RC3, 1.0.0, 2.x) are
    refused with the closest known key as a suggestion, unless O(allow_unknown_keys).
  - All problems (of the options and of the merged config) are reported together in one failure, and the file is
    left byte for byte as it was.
  - "The file is written atomically: a temporary file in the same directory is written, given its mode, owner and
    group, fsync'ed, renamed onto O(path), and the directory is fsync'ed. On any failure (a full disk, a refused
    chown, ...) the temporary file is removed and O(path) is left as it was. A file whose parsed content already
    matches is not rewritten, even when its formatting differs; only its mode, owner and group are fixed."
  - A file with C(//) or C(/* */) comments (as in the deployment guide's example) is refused, since it is not JSON.
    So are a FIFO, a device or a socket as O(path) or O(src) (never opened in a way that could block), a file larger
    than 16 MiB, JSON nested more than 64 levels deep, a key twice in one object (such as C(port) twice in
    C(ServerConfig)), and a number too large for a double (C(1e400)).
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the file's content as pretty-printed JSON before and after.
  platform:
    platforms: posix
options:
  path:
    description: The C(config.json) to update, for example C(/usr/local/Ascend/mindie/latest/mindie-service/conf/config.json).
    type: path
    required: true
  settings:
    description:
      - "The keys to set, as nested dicts mirroring the file, for example C({ServerConfig: {port: 1040}})."
      - "A list of objects merges element by element, so
        C({BackendConfig: {ModelDeployConfig: {ModelConfig: [{worldSize: 8}]}}}) changes only the first model's
        C(worldSize)."
    type: dict
    default: {}
  src:
    description:
      - A JSON file on the managed node to start from when O(path) does not exist (for example the C(config.json)
        shipped with MindIE). Ignored when O(path) exists.
    type: path
  backup:
    description:
      - Keep a timestamped copy of the original file (C(<path>.<pid>.<date>~), with its mode, owner, group and times)
        before changing its content.
      - When the copy cannot be made (a full disk, ...), the task fails, the partial copy is removed and O(path) is
        left as it was.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the file. MindIE refuses to start with a C(config.json) that has any permission bit outside
        C(0640), so such a mode (C('0644'), C('0660'), setuid, ...) is refused here.
      - Use a quoted octal string such as C('0640') or C('0600'). An unquoted C(0640) in YAML is read as octal and
        works; a decimal number such as C(640) (octal 1200) is refused with a hint to quote it.
      - A symbolic mode such as C(u=rw,g=r,o=) is applied to the file's current mode (to C(0600) for a new file) and
        the result must be within C(0640).
      - C(null) means the default.
    type: raw
    default: '0640'
  owner:
    description:
      - Owner of the file (name or uid); MindIE requires the user running the daemon. It must exist on the node; it
        is resolved before anything is written.
      - A uid is given in ASCII digits, in [0, 4294967294], and a user with that uid must exist.
      - When not given, a rewritten file keeps its previous owner; when that cannot be kept (no privilege to chown),
        the task fails and the file is left as it was.
    type: str
  group:
    description:
      - Group of the file (name or gid), resolved before anything is written. When not given, a rewritten file keeps
        its previous group; when that cannot be kept, the task fails and the file is left as it was.
      - It must exist on the node; a gid is given in ASCII digits, in [0, 4294967294], and a group with that gid must
        exist.
    type: str
  allow_unknown_keys:
    description: Accept keys in O(settings) that are not known MindIE config keys (for a newer MindIE release).
    type: bool
    default: false
  multimodal:
    description:
      - Force the multimodal rule (C(npuMemSize) must not be -1) on or off for every model.
      - When not given, a model is multimodal when its C(modelName) or C(modelWeightPath) names a vision-language
        model (C(qwen2_vl), C(Qwen2-VL), C(qwen-vl), C(InternVL), C(LLaVA), a C(_vl)/C(-vl) token, ...).
    type: bool
  npu_count:
    description:
      - The number of NPUs on the node (for example C(ansible_facts.npu.count) from M(ascend.mindie.npu_facts)).
      - When given, every id in C(BackendConfig.npuDeviceIds) must be below it. Not checked when not given.
    type: int
  reserved_ports:
    description:
      - Ports already used on the node, by another instance of this collection or by a foreign process.
      - Any port of the merged file (C(port), C(managementPort), C(metricsPort), C(interCommPort),
        C(multiNodesInferPort), where present) equal to one of them is refused, naming its owner.
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: The port, in [1, 65535].
        type: int
        required: true
      owner:
        description: Who holds it, as the failure should name it, for example C(instance mindie-2) or C(sshd (pid 812)).
        type: str
        required: true
notes:
  - O(path) must hold a JSON object; a parse error is reported with its line and column.
  - When O(path) is a symbolic link, the file it points to is updated and the link is kept.
seealso:
  - module: ascend.mindie.mindie_precheck
'''

EXAMPLES = r'''
- name: Configure MindIE for Qwen2-VL-7B-Instruct on 8 NPUs
  ascend.mindie.mindie_config:
    path: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
    backup: true
    settings:
      ServerConfig:
        port: 1040
        managementPort: 1041
        metricsPort: 1042
        httpsEnabled: false
      BackendConfig:
        npuDeviceIds: [[0, 1, 2, 3, 4, 5, 6, 7]]
        ModelDeployConfig:
          maxSeqLen: 50000
          maxInputTokenLen: 50000
          ModelConfig:
            - modelName: qwen2_vl
              modelWeightPath: /data/Qwen2-VL-7B-Instruct
              worldSize: 8
              npuMemSize: 8
        ScheduleConfig:
          maxPrefillTokens: 50000
          maxBatchSize: 32
          maxPrefillBatchSize: 32

- name: Refuse ports other instances or processes hold, and NPU ids the node does not have
  ascend.mindie.mindie_config:
    path: /etc/mindie/config.json
    npu_count: "{{ ansible_facts.npu.count | default(omit) }}"
    reserved_ports:
      - {port: 1050, owner: instance mindie-2}
      - {port: 22, owner: sshd (pid 812)}
    settings:
      ServerConfig: {port: 1040, managementPort: 1040, metricsPort: 1040}  # one port for everything

- name: Write a config outside the installation, starting from the shipped one
  ascend.mindie.mindie_config:
    path: /etc/mindie/qwen2-vl.json
    src: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
    owner: mindie
    group: mindie
    settings:
      ServerConfig: {port: 1040}
'''

RETURN = r'''
config:
  description: The resulting configuration (what the file holds, or would hold in check mode).
  type: dict
  returned: success
  sample: {Version: 1.0.0, ServerConfig: {port: 1040}}
backup_file:
  description: The backup of the original file.
  type: str
  returned: when O(backup) is true and the content changed
  sample: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json.12345.2026-01-01@00:00:00~
violations:
  description:
    - Every unknown key, every broken rule and every invalid option, one line each, naming the key by its dotted
      path (or the option, as C(`mode`), C(`owner`), C(`reserved_ports[0].port`)).
  type: list
  elements: str
  returned: failure
  sample:
    - "`BackendConfig.ScheduleConfig.maxBatchsize`: unknown key; did you mean `maxBatchSize`?"
    - "`ServerConfig.port`: must be in [1024, 65535], got 80"
    - "`ServerConfig.metricsPort`: is 1050, which is already used by instance mindie-2; MindIE fails at start with
      \"listen port is occupied\" (after loading the whole model): choose a free port"
'''

import errno
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema as schema

# A MindIE config.json is a few KB; reading more than this is refused rather than filling the module's memory.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MINDIE_MODE_LIMIT = 0o640
NEW_FILE_MODE = 0o600  # what a symbolic mode applies to when the file does not exist yet (mkstemp's mode)
# applied with fullmatch (``$`` would also match before a trailing newline)
OCTAL_RE = re.compile(r'(?:0o|0)?[0-7]{1,4}', re.IGNORECASE)
SYMBOLIC_RE = re.compile(r'[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*(?:,[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*)*')
# uid/gid: 32 bits, and (2**32 - 1) is -1 for chown, "leave it as it is"
MAX_ID = 2 ** 32 - 2
BIT_NAMES = ((0o4000, 'setuid'), (0o2000, 'setgid'), (0o1000, 'sticky'), (0o100, 'owner execute'),
             (0o020, 'group write'), (0o010, 'group execute'), (0o004, 'others read'), (0o002, 'others write'),
             (0o001, 'others execute'))


class ConfigError(Exception):
    """A failure to report with fail_json once every temporary file is gone."""

    def __init__(self, msg, **extra):
        super(ConfigError, self).__init__(msg)
        self.msg = msg
        self.extra = extra


class _ModeStat(object):
    """The st_mode AnsibleModule._symbolic_mode_to_octal reads."""

    def __init__(self, mode):
        self.st_mode = stat.S_IFREG | mode


def file_kind(mode):
    for test, name in ((stat.S_ISREG, 'regular file'), (stat.S_ISDIR, 'directory'), (stat.S_ISFIFO, 'FIFO (named pipe)'),
                       (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device'), (stat.S_ISSOCK, 'socket')):
        if test(mode):
            return name
    return 'special file'


def resolve_mode(mode, current):
    """The numeric mode to give the file, or ConfigError naming what is wrong (``current``: its mode now, or None)."""
    if mode is None:
        mode = '0640'
    if isinstance(mode, bool) or not isinstance(mode, (int, str)):
        raise ConfigError("mode {0!r} is not a mode: give a quoted octal string such as '0640'.".format(mode))
    decimal_slip = None
    if isinstance(mode, int):
        value = mode
        digits = str(mode)
        if re.fullmatch(r'[0-7]{3,4}', digits) and int(digits, 8) != mode:
            decimal_slip = digits
    else:
        text = mode.strip()
        if OCTAL_RE.fullmatch(text):
            value = int(text[2:] if text[:2].lower() == '0o' else text, 8)
        elif SYMBOLIC_RE.fullmatch(text):
            base = current if current is not None else NEW_FILE_MODE
            try:
                value = AnsibleModule._symbolic_mode_to_octal(_ModeStat(base), text)
            except Exception as exc:  # ValueError and friends from Ansible's parser
                raise ConfigError("mode '{0}' is not a valid symbolic mode ({1}); give an octal string such as "
                                  "'0640'.".format(mode, to_native(exc)))
        else:
            raise ConfigError("mode '{0}' is neither an octal number such as '0640' nor a symbolic mode such as "
                              "'u=rw,g=r,o='.".format(mode))
    if value < 0 or value > 0o7777:
        raise ConfigError('mode {0} is out of range: a file mode is at most 07777; give an octal string such as '
                          "'0640'.".format(mode))
    loose = value & ~MINDIE_MODE_LIMIT
    if decimal_slip and loose:
        meant = int(decimal_slip, 8)
        also = '' if not meant & ~MINDIE_MODE_LIMIT else (
            ' (and 0{0} itself is looser than 0640, which MindIE refuses)'.format(decimal_slip))
        raise ConfigError("mode {0} was read as a decimal number (= 0{1:o} in octal), not as 0{0}; write '0{0}' in "
                          "quotes{2}. MindIE needs 0640 or stricter.".format(decimal_slip, value, also))
    if loose:
        names = ', '.join(name for bit, name in BIT_NAMES if loose & bit)
        given = "'{0}' = ".format(mode) if isinstance(mode, str) and not OCTAL_RE.fullmatch(mode.strip()) else ''
        raise ConfigError('mode {0}{1:04o} is looser than 0640 ({2}): MindIE refuses to start with a config.json '
                          "that has any permission outside 0640. Use '0640' or '0600'.".format(given, value, names))
    return value


def resolve_id(name, what):
    """uid/gid for a user/group name or number; ConfigError when it does not exist on the node."""
    if name is None:
        return None
    text = name.strip()
    if not text:
        raise ConfigError('{0} is empty: give a {0} name or number, or leave it unset to keep the current one.'.format(what))
    kind = 'user' if what == 'owner' else 'group'
    if text.isascii() and text.isdigit():
        number = int(text)
        id_name = 'uid' if what == 'owner' else 'gid'
        if number > MAX_ID:
            raise ConfigError('{0} {1} is not a valid {2}: a {2} is in [0, {3}]; give the {4} name or its {2}. '
                              'Nothing was written.'.format(what, text, id_name, MAX_ID, kind))
        try:
            if what == 'owner':
                pwd.getpwuid(number)
            else:
                grp.getgrgid(number)
        except (KeyError, OverflowError, ValueError):
            raise ConfigError('{0} {1} does not exist on this node: no {2} has {3} {1}; create the {2} first or give '
                              'an existing one (MindIE needs the config.json to belong to the user running the '
                              'daemon). Nothing was written.'.format(what, text, kind, id_name))
        return number
    try:
        return pwd.getpwnam(text).pw_uid if what == 'owner' else grp.getgrnam(text).gr_gid
    except (KeyError, ValueError):  # ValueError: an embedded NUL
        raise ConfigError("{0} '{1}' does not exist on this node: create the {2} first or give an existing one "
                          '(MindIE needs the config.json to belong to the user running the daemon). Nothing was '
                          'written.'.format(what, text, kind))


def _io_error(action, path, exc):
    reason = to_native(exc)
    code = getattr(exc, 'errno', None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = 'no space left on the device (or quota exceeded); free some space in {0} and retry'.format(
            os.path.dirname(path))
    elif code == errno.EROFS:
        reason = 'the file system is read-only'
    elif code in (errno.EACCES, errno.EPERM):
        reason = 'permission denied ({0}); run with become, or as the owner of the file and its directory'.format(
            reason)
    return '{0} {1} failed: {2}.'.format(action, path, reason)


class MindieConfigManager(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        # a symlinked config.json is updated where it points to, the link itself stays
        self.path = os.path.realpath(self.params['path'])
        self.directory = os.path.dirname(self.path)

    # --- reading ---------------------------------------------------------------------------------------------

    def read(self, path, what):
        """Parse a config file without ever blocking on it (FIFO, device) or reading more than MAX_CONFIG_BYTES."""
        flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
        try:
            before = os.stat(path)
            self.require_regular(path, what, before.st_mode)
            fd = os.open(path, flags)
        except OSError as exc:
            raise ConfigError('Cannot read {0} {1}: {2}'.format(what, path, to_native(exc)))
        try:
            try:
                # it may have been replaced between stat and open: check what was opened
                self.require_regular(path, what, os.fstat(fd).st_mode)
                chunks, size = [], 0
                while size <= MAX_CONFIG_BYTES:
                    chunk = os.read(fd, 1024 * 1024)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            except OSError as exc:
                raise ConfigError('Cannot read {0} {1}: {2}'.format(what, path, to_native(exc)))
        finally:
            os.close(fd)
        if size > MAX_CONFIG_BYTES:
            raise ConfigError('{0} {1} is larger than {2} MiB; a MindIE config.json is a few KB. Check that this is '
                              'the right file; nothing was read further or written.'.format(
                                  what, path, MAX_CONFIG_BYTES // (1024 * 1024)))
        data = b''.join(chunks)
        try:
            text = to_text(data, errors='strict')
        except UnicodeError:
            raise ConfigError('{0} {1} is not UTF-8 text; MindIE reads config.json as UTF-8 JSON.'.format(what, path))
        try:
            return schema.load_config_text(text, source=path)
        except schema.ConfigParseError as exc:
            raise ConfigError(to_native(exc))

    @staticmethod
    def require_regular(path, what, mode):
        if stat.S_ISDIR(mode):
            raise ConfigError('{0} {1} is a directory; give the config.json file itself.'.format(what, path))
        if not stat.S_ISREG(mode):
            raise ConfigError('{0} {1} is a {2}, not a regular file; give the config.json file itself (nothing was '
                              'read from it or written).'.format(what, path, file_kind(mode)))

    def load_existing(self):
        """(parsed document, stat of the existing file or None)."""
        try:
            before = os.stat(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise ConfigError('Cannot inspect config file {0}: {1}'.format(self.path, to_native(exc)))
            before = None
        if before is not None:
            self.require_regular(self.path, 'path', before.st_mode)
            return self.read(self.path, 'config file'), before
        src = self.params['src']
        if not src:
            raise ConfigError('{0} does not exist. Pass src (a config.json on the node to start from, such as '
                              'the one shipped in mindie-service/conf/) to create it.'.format(self.path))
        src = os.path.realpath(src)
        if not os.path.lexists(src):
            raise ConfigError('{0} does not exist, and neither does src {1}. Check both paths.'.format(self.path, src))
        if not os.path.isdir(self.directory):
            raise ConfigError('The directory of {0} does not exist; create it first.'.format(self.path))
        return self.read(src, 'src file'), None

    # --- options ---------------------------------------------------------------------------------------------

    def option_problems(self):
        """Violations of the options themselves (reported with the config's, before anything is read)."""
        problems = []
        for index, entry in enumerate(self.params['reserved_ports'] or []):
            if not 1 <= entry['port'] <= 65535:
                problems.append('`reserved_ports[{0}].port`: must be in [1, 65535], got {1}'.format(index, entry['port']))
            if not entry['owner'].strip():
                problems.append('`reserved_ports[{0}].owner`: must name who holds port {1} (e.g. "instance mindie-2" '
                                'or "sshd (pid 812)")'.format(index, entry['port']))
        count = self.params['npu_count']
        if count is not None and count < 0:
            problems.append('`npu_count`: must be 0 or more (the number of NPUs on the node), got {0}'.format(count))
        return problems

    # --- writing ---------------------------------------------------------------------------------------------

    def write(self, text, mode, uid, gid):
        """Atomic replace: temp file in the same directory, write, chmod/chown, fsync, rename, fsync the directory.

        Whatever happens (an OSError, fail_json's SystemExit inside an Ansible helper, KeyboardInterrupt), the
        temporary file is removed before the error leaves this method. Returns the backup file or None.
        """
        data = to_bytes(text, errors='surrogate_or_strict')
        tmp = backup = None
        renamed = False
        try:
            try:
                fd, tmp = tempfile.mkstemp(prefix='.{0}.'.format(os.path.basename(self.path)), suffix='.tmp',
                                           dir=self.directory)
            except OSError as exc:
                raise ConfigError(_io_error('Creating a temporary file in', self.directory, exc))
            try:
                with os.fdopen(fd, 'wb') as handle:
                    handle.write(data)
                    handle.flush()
                    os.fchmod(handle.fileno(), mode)
                    self.chown(handle.fileno(), uid, gid)
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise ConfigError(_io_error('Writing the new content of', self.path, exc) +
                                  ' {0} was left as it was.'.format(self.path))
            if self.params['backup'] and os.path.exists(self.path):
                backup = self.backup_name()
                self.make_backup(backup)
            try:
                os.rename(tmp, self.path)
            except OSError as exc:
                raise ConfigError(_io_error('Renaming the new file onto', self.path, exc) +
                                  ' {0} was left as it was.'.format(self.path))
            renamed = True
        finally:
            if not renamed:
                for leftover in (tmp, backup):
                    if leftover:
                        try:
                            os.unlink(leftover)
                        except OSError:
                            pass
        self.fsync_directory()
        return backup

    def backup_name(self):
        """``<path>.<pid>.<date>~``, the name Ansible's backup_local gives."""
        return '{0}.{1}.{2}'.format(self.path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime()))

    def make_backup(self, backup):
        """Copy O(path) to ``backup`` with its mode, owner, group and times; on failure remove the partial copy.

        Done here rather than with AnsibleModule.backup_local, which fails the task itself and leaves an empty or
        truncated backup behind on a full disk.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
        created = False
        try:
            with open(self.path, 'rb') as source:
                before = os.fstat(source.fileno())
                fd = os.open(backup, flags, 0o600)
                created = True
                with os.fdopen(fd, 'wb') as target:
                    shutil.copyfileobj(source, target)
                    target.flush()
                    os.fchmod(target.fileno(), stat.S_IMODE(before.st_mode))
                    try:
                        os.fchown(target.fileno(), before.st_uid, before.st_gid)
                    except OSError:
                        pass  # as backup_local: a copy owned by whoever runs the task is still a backup
                    os.fsync(target.fileno())
                    os.utime(target.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))
        except BaseException as exc:
            if created:
                try:
                    os.unlink(backup)
                except OSError:
                    pass
            if not isinstance(exc, OSError):
                raise
            if getattr(exc, 'errno', None) in (errno.ENOSPC, errno.EDQUOT):
                raise ConfigError('There is not enough space for the backup of {0} in {1} (no space left on the '
                                  'device, or quota exceeded); nothing was changed and no backup was left. Free some '
                                  'space and retry, or set backup to false.'.format(self.path, self.directory))
            raise ConfigError(_io_error('Making the backup {0} of'.format(backup), self.path, exc) +
                              ' Nothing was changed and no backup was left.')

    @staticmethod
    def chown(fd, uid, gid):
        if uid is None and gid is None:
            return
        want_uid = -1 if uid is None else uid
        want_gid = -1 if gid is None else gid
        try:
            os.fchown(fd, want_uid, want_gid)
        except OSError as exc:
            now = os.fstat(fd)
            if (uid is not None and now.st_uid != uid) or (gid is not None and now.st_gid != gid):
                raise ConfigError('Cannot give the new config.json owner {0} and group {1}: {2}. MindIE needs the '
                                  'file to belong to the user running the daemon; run with become (or leave owner '
                                  'and group unset when the file is yours). Nothing was written.'.format(
                                      want_uid, want_gid, to_native(exc)))

    def fsync_directory(self):
        """Make the rename durable. The rename has happened: a failure here is a warning, not a failed task."""
        try:
            dir_fd = os.open(self.directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.module.warn('{0} was replaced, but syncing its directory failed ({1}); the change may not survive '
                             'a power loss.'.format(self.path, to_native(exc)))

    def fix_attributes(self, mode, uid, gid):
        changed = self.module.set_mode_if_different(self.path, mode, False)
        changed = self.module.set_owner_if_different(self.path, uid, changed)
        return self.module.set_group_if_different(self.path, gid, changed)

    def attributes_differ(self, mode, uid, gid):
        """True when mode/owner/group of the existing file would change (checked without changing anything)."""
        saved = self.module.check_mode
        self.module.check_mode = True
        try:
            return self.fix_attributes(mode, uid, gid)
        finally:
            self.module.check_mode = saved

    # --- main ------------------------------------------------------------------------------------------------

    def run(self):
        problems = self.option_problems()
        uid = gid = None
        for what in ('owner', 'group'):
            try:
                value = resolve_id(self.params[what], what)
            except ConfigError as exc:
                problems.append('`{0}`: {1}'.format(what, exc.msg))
                continue
            if what == 'owner':
                uid = value
            else:
                gid = value
        settings = self.params['settings'] or {}
        if schema.nesting_depth(settings) > schema.MAX_DEPTH:
            raise ConfigError('settings nest lists or dicts more than {0} levels deep; a MindIE config.json has about '
                              '5. Check the variable that builds them.'.format(schema.MAX_DEPTH))
        existing, before = self.load_existing()
        try:
            mode = resolve_mode(self.params['mode'], stat.S_IMODE(before.st_mode) if before else None)
        except ConfigError as exc:
            problems.insert(0, '`mode`: {0}'.format(exc.msg))
            mode = None
        merged, config_problems = schema.merge_and_check(
            existing, settings, allow_unknown_keys=self.params['allow_unknown_keys'],
            multimodal=self.params['multimodal'], npu_count=self.params['npu_count'],
            reserved_ports=self.params['reserved_ports'])
        problems += config_problems
        if problems:
            raise ConfigError(
                '{0}: {1} problem(s), nothing was written:\n{2}'.format(
                    self.path, len(problems), '\n'.join('- ' + item for item in problems)),
                violations=problems)
        # the file's own values were checked when it was read (schema.load_config_text): what fails here is settings
        try:
            before_text = schema.dump_config(existing) if before else ''
            after_text = schema.dump_config(merged)
        except (TypeError, ValueError) as exc:
            places = schema.non_finite_numbers(settings)
            where = ' at {0}'.format(', '.join('`{0}`'.format(place) for place in places)) if places else ''
            raise ConfigError('settings hold a value JSON cannot represent{0} ({1}); give strings, finite numbers, '
                              'booleans, lists and dicts only. Nothing was written.'.format(where, to_native(exc)))
        result = dict(changed=False, config=merged)
        if before is None or before_text != after_text:
            result['changed'] = True
            if not self.module.check_mode:
                # keep the previous owner/group of a rewritten file unless told otherwise
                keep_uid = uid if uid is not None else (before.st_uid if before else None)
                keep_gid = gid if gid is not None else (before.st_gid if before else None)
                backup = self.write(after_text, mode, keep_uid, keep_gid)
                if backup:
                    result['backup_file'] = backup
        elif self.module.check_mode:
            result['changed'] = self.attributes_differ(mode, uid, gid)
        else:
            result['changed'] = self.fix_attributes(mode, uid, gid)
        if self.module._diff:
            result['diff'] = dict(before=before_text, after=after_text,
                                  before_header=self.path, after_header=self.path)
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            settings=dict(type='dict', default={}),
            src=dict(type='path'),
            backup=dict(type='bool', default=False),
            mode=dict(type='raw', default='0640'),
            owner=dict(type='str'),
            group=dict(type='str'),
            allow_unknown_keys=dict(type='bool', default=False),
            multimodal=dict(type='bool'),
            npu_count=dict(type='int'),
            reserved_ports=dict(type='list', elements='dict', default=[], options=dict(
                port=dict(type='int', required=True),
                owner=dict(type='str', required=True),
            )),
        ),
        supports_check_mode=True,
    )
    # fail_json only here, after write() has removed its temporary file
    try:
        result = MindieConfigManager(module).run()
    except ConfigError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
