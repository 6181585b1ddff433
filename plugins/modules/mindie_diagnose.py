#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_diagnose
short_description: Collect the evidence of a MindIE node and name what is wrong with it
description:
  - Read-only. Collects from the node what the troubleshooting section of the deployment guide (7 故障排除) asks
    for, and matches it against the known failures. Never changes anything and always reports V(changed=false).
  - "Collects: C(npu-smi info), C(npu-smi info -m), C(npu-smi info -l); the driver and firmware C(version.info)
    and C(/etc/ascend_install.info); C(docker inspect) of the container and its image and the list of all containers;
    C(config.json) with its mode and owner; the daemon (pid, how long it has run, the last exit status) and the
    tails of its own log file C(mindie-service_<pid>_<time>.log), C(mindservice.log) and C(console.log) read inside
    the container; the listening TCP sockets on the config's ports and 1040-1042 with their owning process; the
    answers of C(/v2/health/ready), C(/v2/health/live) and C(/metrics); the model directory listing with modes; the
    test image's stat."
  - "MindIE writes most errors only to its own log file, C(~/mindie/log/debug/mindie-service_<pid>_<time>.log) of
    the daemon's user (E(MINDIE_LOG_PATH) changes the root: an absolute P gives C(P/log/debug), a relative R
    C(~/mindie/log/R/debug)); the console (C(logs/console.log)) gets log lines only with E(MINDIE_LOG_TO_STDOUT=1),
    which C(mindie/set_env.sh) turns off. The module reads the file of the daemon named by the pid file
    (C(logs/mindieservice_daemon.pid)), or the newest one when that daemon has none, and finds the failure there."
  - "E(MINDIE_LOG_PATH) is taken from O(log_root) when set, else from the running daemon's environment, else
    from what M(ascend.mindie.mindie_service) recorded at the last start (C(logs/mindieservice_daemon.logenv)),
    else from the container's environment."
  - "MindIE opens its ports only after the model is loaded and warmed up, so a running daemon whose ports do not
    listen is reported as still loading (V(info), with how long it has run, from C(/proc)) until O(ready_timeout),
    then as hung. Ready 503 while live answers 200 is busy (serving, every batch slot taken), not a fault; 500
    C(Service is abnormal) in the first seconds after the ports open is starting (probed again for up to 12 s)."
  - Every item is collected on its own; one that cannot be collected is recorded in RV(errors) and does not stop
    the others, so the module also works on a node whose Docker engine, driver or container is broken.
  - Findings name the problem and the guide section (V(7.1.1) service does not start, V(7.1.2) out of memory,
    V(7.1.3) slow inference, V(7.1.4) image load failure).
author:
  - ascend.mindie maintainers (@ascend-mindie)
requirements:
  - The Docker SDK for Python (C(docker)) on the node; without it (or without an answering engine) the container
    items are recorded as errors and a V(container) finding says why.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
  - ascend.mindie.tls
options:
  container:
    description:
      - Name or id of the MindIE container (letters, digits, C(_), C(.) and C(-), as Docker allows).
    type: str
    default: mindie
  config_path:
    description:
      - Path of C(config.json) on the node (the file mounted into the container).
    type: path
    default: /etc/mindie/config.json
  service_dir:
    description:
      - The MindIE Service directory inside the container (holds C(logs/mindservice.log), C(logs/console.log) and
        the daemon's pid file). An absolute path.
      - This path and C(LogConfig.logPath) from C(config.json) reach the commands run in the container only as
        arguments, never as shell code.
    type: str
    default: /usr/local/Ascend/mindie/latest/mindie-service
  npu_smi:
    description:
      - The C(npu-smi) command (name on the PATH or full path).
    type: str
    default: npu-smi
  npu_smi_timeout:
    description:
      - Seconds each C(npu-smi) call may take; one that takes longer is killed with its process group and recorded in
        RV(errors) with the likely cause (a hung driver), and the other C(npu-smi) calls are skipped.
      - At most 1 MiB of each output is kept (marked as truncated); bytes that are not UTF-8 are replaced and
        reported in RV(errors).
      - Must be at least 1.
    type: int
    default: 30
  ascend_home:
    description:
      - Where the driver and firmware are installed on the node (C(<ascend_home>/driver/version.info)).
    type: path
    default: /usr/local/Ascend
  model_path:
    description:
      - The weights directory on the node. It is checked with the same code as the prechecks (config.json
        C(model_type), tokenizer, every indexed shard present and not truncated, judged from its safetensors header;
        directory no looser than 0750 and config.json no looser than 0640), read-only.
    type: path
    default: /data/Qwen2-VL-7B-Instruct
  test_image:
    description:
      - The image used for test requests, on the node.
    type: path
    default: /data/test_images/sample.jpg
  log_lines:
    description:
      - How many lines of each log to return and scan.
    type: int
    default: 200
  daemon_uid:
    description:
      - The uid the daemon runs as; C(config.json) must belong to it.
    type: int
    default: 0
  log_root:
    description:
      - The E(MINDIE_LOG_PATH) the daemon was started with, when the module cannot learn it (a daemon started by hand
        that is no longer running). An empty string means unset (C(~/mindie/log/debug)).
      - Without it the module reads it from the running daemon's environment, then from
        C(logs/mindieservice_daemon.logenv) (written by M(ascend.mindie.mindie_service)), then from the container's
        environment.
    type: str
  ready_timeout:
    description:
      - Seconds a running daemon may go without opening its ports before it is reported as hung rather than still
        loading (use the C(ready_timeout) it was started with). Must be at least 1.
    type: int
    default: 600
  probe:
    description:
      - Probe C(/v2/health/ready), C(/v2/health/live) (management port) and C(/metrics) (metrics port) on the
        addresses of C(config.json) when the daemon runs and its ports listen. Read-only C(GET) requests.
    type: bool
    default: true
  probe_timeout:
    description:
      - Seconds each probe may take (1 to 300).
    type: int
    default: 5
  instances:
    description:
      - The MindIE instances of the node, each diagnosed on its own (its config.json, container, supervisor state,
        daemon, logs, ports and health); the node's items (C(npu-smi), driver, weights, test image) are collected
        once. The roles pass C(mindie_plan.instances).
      - Empty (the default) diagnoses one instance, O(container) with O(config_path).
      - With a O(instances[].log_dir) and a container whose environment has E(MINDIE_SUPERVISOR_STATE_DIR) (the
        collection's supervisor runs the daemon), the supervisor's C(supervisor.json) is read there (status, restarts,
        last exit, last error lines; V(crash-looping) is an error finding with those lines), the daemon is the one it
        names and C(console.log) is read there too.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The instance's name (the plan's C(name)); the key of RV(instances).
        type: str
        required: true
      container:
        description: Its container (a Docker container name).
        type: str
        required: true
      config_path:
        description: Its C(config.json) on the node.
        type: path
        required: true
      log_dir:
        description: Its log directory on the node (the plan's C(log_dir)); null when it has none.
        type: path
notes:
  - "With C(httpsEnabled) the probes use the TLS options (O(ca_path), O(client_cert), O(client_key),
    O(client_key_passphrase), O(validate_certs), O(server_name)). Without O(client_cert) an HTTPS service is not
    probed (noted in C(health.txt)), since MindIE serves mutual TLS only. TLS options that cannot be used fail the
    module before anything is collected."
  - The container is expected to use host networking (as the guide's does), so its sockets show in the node's
    C(/proc/net/tcp). The owning process of a socket is found through C(/proc/<pid>/fd), which needs root.
  - The hardware profile is recognised from the chips C(npu-smi info) shows (the chip family and HBM size of the
    collection's profile table, C(plugins/module_utils/profiles.py), for a subset of the cards too); the guide's ranges for
    C(npuMemSize) and C(maxBatchSize) are checked only when it is known.
seealso:
  - module: ascend.mindie.mindie_service
  - module: ascend.mindie.mindie_precheck
'''

EXAMPLES = r'''
- name: Diagnose the MindIE node
  ascend.mindie.mindie_diagnose:
    container: mindie
  register: diag

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ diag.summary }}"

- name: Store the collected files on the controller
  ansible.builtin.copy:
    content: "{{ item.value }}"
    dest: "/tmp/mindie-logs/{{ inventory_hostname }}/{{ item.key }}"
    mode: "0600"
  loop: "{{ diag.files | dict2items }}"
  delegate_to: localhost
'''

RETURN = r'''
files:
  description:
    - What was collected, by file name (for example C(npu-smi-info.txt), C(npu-smi-info-m.txt), C(npu-smi-info-l.txt),
      C(driver-version.info), C(firmware-version.info), C(ascend_install.info), C(docker-inspect-container.json),
      C(docker-inspect-image.json), C(docker-ps.json), C(config.json), C(config.json.stat), C(daemon.txt),
      C(mindie-service.log.tail) (the daemon's own log file), C(mindservice.log.tail), C(console.log.tail),
      C(listening-ports.txt), C(health.txt), C(model-dir.txt), C(test-image.txt), C(errors.txt)).
  returned: always
  type: dict
  sample: {"npu-smi-info.txt": "+----...", "config.json": "{...}"}
findings:
  description:
    - What is wrong, worst first, in the collection's one check shape (the same keys as
      RV(ascend.mindie.mindie_precheck#module:checks)); the checks that found nothing wrong are left out.
    - C(severity) and C(problem) are the status and the category in the words this module has always used
      (error = V(fail), warning = V(warn), info = V(info)); C(name) and C(reason) repeat C(id) and C(message).
    - The checks of the weight directory are the prechecks' own (category V(model), ids such as C(model_shards)).
  returned: always
  type: list
  elements: dict
  contains:
    severity:
      description: V(error), V(warning) or V(info).
      type: str
      returned: always
    status:
      description: The same as C(severity) in the prechecks' words, V(fail), V(warn) or V(info).
      type: str
      returned: always
    problem:
      description: >-
        V(service_start), V(out_of_memory), V(slow_inference), V(image_load), V(config), V(npu), V(container) or
        V(model) (the weight directory).
      type: str
      returned: always
    category:
      description: The same as C(problem).
      type: str
      returned: always
    id:
      description: >-
        The check's id: the id of a weight check (for example C(model_dir_mode)), else the same as C(problem).
      type: str
      returned: always
    name:
      description: The same as C(id).
      type: str
      returned: always
    reason:
      description: The same as C(message).
      type: str
      returned: always
    details:
      description: Structured extras of the finding (empty for most).
      type: dict
      returned: always
    guide_section:
      description: The section of the guide's troubleshooting list (V(7.1.1) to V(7.1.4)).
      type: str
      returned: always
    message:
      description: What was found.
      type: str
      returned: always
    hint:
      description: What to do about it.
      type: str
      returned: always
  sample:
    - severity: error
      status: fail
      problem: config
      category: config
      id: config
      name: config
      guide_section: "7.1.1"
      message: "config.json has mode 0644, looser than 0640: MindIE refuses it"
      reason: "config.json has mode 0644, looser than 0640: MindIE refuses it"
      hint: "chmod 0640 config.json (mindie_service_config_dir/config.json)."
      details: {}
summary:
  description: One line with the verdict (V(OK), V(WARN) or V(FAIL)), the counts and the problems found.
  returned: always
  type: str
  sample: "FAIL: 1 error(s), 0 warning(s): config (7.1.1); first: config.json has mode 0644, looser than 0640"
profile:
  description: The hardware profile read from C(npu-smi info), or V(null).
  returned: always
  type: str
  sample: atlas-800i-a2-32g
daemon_log_file:
  description: The daemon's own log file in the container that was read (C(mindie-service.log.tail)), or V(null).
  returned: always
  type: str
  sample: /root/mindie/log/debug/mindie-service_4123_20260101100000123.log
errors:
  description: The items that could not be collected, with the reason.
  returned: always
  type: list
  elements: str
  sample: ["npu-smi info -l: [Errno 2] No such file or directory: 'npu-smi'"]
instances:
  description:
    - Each instance's diagnosis, by name. RV(findings) holds the node's findings and every instance's (each with
      C(details.instance); with several instances the message starts with the instance's name), RV(files) the
      node's files and, with one instance, that instance's too.
  returned: always
  type: dict
  sample: {"mindie-1": {"name": "mindie-1", "container": "mindie-1", "status": "error", "supervised": true,
           "supervisor": {"status": "crash-looping", "restarts": 5}, "summary": "FAIL: 1 error(s) ...",
           "findings": [], "errors": [], "files": {"supervisor.json": "{...}"}, "daemon_log_file": null,
           "config_path": "/etc/mindie/mindie-1/config.json", "log_dir": "/var/log/mindie/mindie-1"}}
  contains:
    status:
      description: V(error), V(warning) or V(ok), the worst of its findings.
      type: str
      returned: always
    summary:
      description: The instance's one-line verdict, as RV(summary).
      type: str
      returned: always
    supervised:
      description: Whether the collection's supervisor runs its daemon.
      type: bool
      returned: always
    supervisor:
      description: Its supervisor's state (C(supervisor.json) in its log_dir), C({}) when unreadable, V(null) when not read.
      type: dict
      returned: always
    findings:
      description: Its findings (the shape of RV(findings)).
      type: list
      elements: dict
      returned: always
    files:
      description: Its collected files, by name (C(supervisor.json), C(config.json), C(console.log.tail), ...).
      type: dict
      returned: always
'''

import grp
import json
import os
import pwd
import stat as stat_mod
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils import diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_logs
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_daemon import (
    CONSOLE_LOG,
    DEFAULT_SERVICE_DIR,
    LOGENV_FILE,
    PROBE_SCRIPT,
    daemon_age,
    parse_probe,
    probe_args,
)
from ansible_collections.ascend.mindie.plugins.module_utils.diagnose import last_run
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    MindieHTTP,
    TLSSetupError,
    tls_argument_spec,
)
from ansible_collections.ascend.mindie.plugins.module_utils import model_dir
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import (
    DEFAULT_TIMEOUT as NPU_SMI_TIMEOUT,
    NpuSmiTimeout,
    find_npu_smi,
    run_npu_smi,
)
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import node_version_files
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import (
    parse_proc_net_tcp,
    read_proc_net_tcp,
    socket_holders,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    CONTAINER_NAME,
    MindieDockerClient,
    MindieDockerError,
)

DAEMON_LOG_TAIL = 'mindie-service.log.tail'
# A service answering 500 "Service is abnormal" is probed again for this long: MindIE answers so for the first
# health-check interval (about 5 s) after its ports open.
STARTING_WAIT = 12
MAX_FILE_BYTES = 1024 * 1024
# Scripts run in the container. They are constants: every value (a path from config.json or an option)
# reaches them as a positional parameter ("$1", ...), so no value is ever parsed as shell code.
LOG_TAIL_SCRIPT = (
    'if [ ! -f "$1" ]; then printf \'%s: no such regular file\\n\' "$1" >&2; exit 3; fi\n'
    'if [ ! -r "$1" ]; then printf \'%s: not readable\\n\' "$1" >&2; exit 4; fi\n'
    'tail -n "$2" -- "$1" | head -c "$3"\n'
)
# "$@": directories; prints "<mtime> <path>" of every mindie-service_*.log / mindie-server_*.log (3.0) in them, newest first (bounded).
LOG_LIST_SCRIPT = (
    'for d in "$@"; do for f in "$d"/mindie-service_*.log "$d"/mindie-server_*.log; do [ -f "$f" ] || continue;'
    ' printf \'%s %s\\n\' "$(stat -c %Y -- "$f" 2>/dev/null || echo 0)" "$f"; done; done | sort -rn | head -n 2000\n'
)
DOCKER_TIMEOUT = 30


def validate_names(params):
    """Problems with the options that reach a command line or a script in the container (a list of messages)."""
    problems = []
    if not CONTAINER_NAME.match(params['container'] or ''):
        problems.append('container %r is not a Docker container name or id (letters, digits, _ . -, not starting '
                        'with - or .).' % (params['container'],))
    service_dir = params['service_dir'] or ''
    if not service_dir.startswith('/') or any(ord(c) < 32 or ord(c) == 127 for c in service_dir):
        problems.append('service_dir %r must be an absolute path in the container without control characters '
                        '(newlines, NUL).' % (service_dir,))
    log_path = params.get('log_root')
    if log_path is not None and any(ord(c) < 32 or ord(c) == 127 for c in log_path):
        problems.append('log_root %r must not contain control characters (newlines, NUL).' % (log_path,))
    names = [item.get('name') for item in params.get('instances') or []]
    for item in params.get('instances') or []:
        where = 'instances[%s]' % item.get('name')
        if not CONTAINER_NAME.match(item.get('name') or '') or not CONTAINER_NAME.match(item.get('container') or ''):
            problems.append('%s: name %r and container %r must be Docker container names (letters, digits, _ . -).'
                            % (where, item.get('name'), item.get('container')))
        for key in ('config_path', 'log_dir'):
            value = item.get(key)
            if value is not None and (not value.startswith('/') or any(ord(c) < 32 or ord(c) == 127 for c in value)):
                problems.append('%s: %s %r must be an absolute path on the node without control characters.'
                                % (where, key, value))
    twice = sorted(set(n for n in names if names.count(n) > 1))
    if twice:
        problems.append('instances: the name(s) %s are given more than once.' % ', '.join(str(n) for n in twice))
    return problems


def _read(path, limit=MAX_FILE_BYTES, text=True):
    # O_NONBLOCK and the S_ISREG check: a FIFO or a device at a configured path is reported, never waited on.
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0))
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat_mod.S_ISREG(mode):
        os.close(fd)
        raise IOError('%s is not a regular file (%s)' % (path, stat_mod.filemode(mode)))
    with os.fdopen(fd, 'rb') as handle:
        data = handle.read(limit)
    if not text:
        return data
    return to_text(data, errors='replace')     # never lone surrogates: they break the result


def _read_head(path, size):
    """The first ``size`` bytes of a regular file (a FIFO or a device raises IOError instead of blocking)."""
    return _read(path, size, text=False)


def _answer(answer):
    if answer['status'] is None:
        return 'no answer: %s' % answer['error']
    body = ' '.join(answer['body'].split())
    return 'HTTP %d %s' % (answer['status'], body[:300] if body else '(empty body)')


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _ls_line(name, st):
    return '%s %4o %s:%s %12d %s' % (stat_mod.filemode(st.st_mode), stat_mod.S_IMODE(st.st_mode),
                                     _owner(st.st_uid), _group(st.st_gid), st.st_size, name)


class MindieDiagnoser(object):
    """Collects every item on its own, then runs the rules of module_utils.diagnose."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.service_dir = self.p['service_dir'].rstrip('/') or '/'
        self.files = {}
        self.errors = []
        self.docker = None
        self.docker_error = None
        self.container_attrs = None
        self.config = None
        self.npu_smi_hung = None
        self.daemon_notes = []
        self.http = MindieHTTP.from_params(self.p)
        # The instance being diagnosed (run_instance sets these; one instance from container/config_path by default).
        self.container = self.p.get('container')
        self.config_path = self.p.get('config_path')
        self.supervisor = None

    def collect(self, label, func, *args):
        """Run one collector; record its exception as an error string and return None."""
        try:
            return func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append('%s: %s' % (label, to_text(exc) or exc.__class__.__name__))
            self.module.debug(traceback.format_exc())
            return None

    # ------------------------------------------------------------------ node items
    def npu_smi(self, suffix, args):
        binary = find_npu_smi(self.p['npu_smi'])        # NpuSmiNotFound: recorded by collect() as an error
        cmd = [binary, 'info'] + args
        name = 'npu-smi-info%s.txt' % suffix
        if self.npu_smi_hung:
            self.files[name] = 'not run: %s\n' % self.npu_smi_hung
            raise RuntimeError('not run because an earlier npu-smi call timed out')
        try:
            result = run_npu_smi(cmd, timeout=self.p['npu_smi_timeout'], max_bytes=MAX_FILE_BYTES)
        except NpuSmiTimeout as exc:
            self.npu_smi_hung = "'%s' timed out" % exc.command
            self.files[name] = exc.stdout + (('\n' + exc.stderr) if exc.stderr.strip() else '') + '\n[%s]\n' % exc.msg
            raise RuntimeError(exc.msg)
        rc, out, err = result.rc, result.marked('stdout'), result.marked('stderr')
        self.errors.extend('%s: %s' % (' '.join(cmd[1:]), note) for note in result.notes())
        text = out + (('\n' + err) if err.strip() else '')
        self.files[name] = text
        if rc != 0:
            raise RuntimeError('%s exited with %d: %s' % (' '.join(cmd), rc, (err.strip() or out.strip())[:300]))
        return text

    def version_files(self):
        names = {'driver': 'driver-version.info', 'firmware': 'firmware-version.info', 'install_info': 'ascend_install.info'}
        for key, path in node_version_files(self.p['ascend_home']):
            self.collect(names[key], self._version_file, names[key], path)

    def _version_file(self, name, path):
        self.files[name] = _read(path)

    def config_file(self):
        path = self.config_path
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == 2:
                self.files['config.json.stat'] = '%s: does not exist\n' % path
                return None
            raise
        info = {'mode': stat_mod.S_IMODE(st.st_mode), 'uid': st.st_uid, 'owner': _owner(st.st_uid),
                'gid': st.st_gid, 'group': _group(st.st_gid)}
        self.files['config.json.stat'] = _ls_line(path, st) + '\n'
        self.files['config.json'] = _read(path)
        return info

    # ------------------------------------------------------------------ docker items
    def connect_docker(self):
        """The Docker client; a missing SDK or an engine that does not answer is kept for the container finding."""
        try:
            self.docker = MindieDockerClient(self.container, timeout=DOCKER_TIMEOUT)
        except MindieDockerError as exc:
            self.docker_error = exc.msg
            raise

    def container_state(self):
        attrs = self.docker.inspect_container()
        if attrs is None:
            self.files['docker-inspect-container.json'] = 'container %s does not exist\n' % self.container
            return None
        self.container_attrs = attrs
        self.files['docker-inspect-container.json'] = json.dumps(attrs, indent=2, sort_keys=True, default=str) + '\n'
        state = attrs.get('State') or {}
        return {'running': bool(state.get('Running')), 'restarting': bool(state.get('Restarting')),
                'supervised': diagnose.supervised((attrs.get('Config') or {}).get('Env')),
                'status': state.get('Status'), 'exit_code': state.get('ExitCode'),
                'oom_killed': bool(state.get('OOMKilled')), 'restart_count': attrs.get('RestartCount', 0),
                'image': (attrs.get('Config') or {}).get('Image'), 'image_id': attrs.get('Image')}

    def image(self, ref):
        attrs = self.docker.inspect_image(ref)
        if attrs is None:
            self.files['docker-inspect-image.json'] = 'image %s does not exist\n' % ref
            return False
        self.files['docker-inspect-image.json'] = json.dumps(attrs, indent=2, sort_keys=True, default=str) + '\n'
        return True

    def ps(self):
        self.files['docker-ps.json'] = json.dumps(self.docker.ps_all(), indent=2, default=str) + '\n'

    def log_tail(self, name, path):
        # The path comes from config.json (LogConfig.logPath): it is passed as "$1", never put in the script.
        rc, out, err = self.docker.exec_shell(LOG_TAIL_SCRIPT, args=[path, self.p['log_lines'], MAX_FILE_BYTES])
        if rc != 0:
            raise MindieDockerError('cannot read %s in the container: %s' % (path, (err or out).strip()))
        self.files[name] = out
        return out

    def node_tail(self, name, path):
        """The last log_lines lines of a log file on the node (the instance's log_dir), at most MAX_FILE_BYTES."""
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0))
        with os.fdopen(fd, 'rb') as handle:
            st = os.fstat(handle.fileno())
            if not stat_mod.S_ISREG(st.st_mode):
                raise IOError('%s is not a regular file' % path)
            handle.seek(max(0, st.st_size - MAX_FILE_BYTES))
            lines = to_text(handle.read(MAX_FILE_BYTES), errors='replace').splitlines(True)
        out = ''.join(lines[-self.p['log_lines']:])
        self.files[name] = out
        return out

    def supervisor_state(self, log_dir):
        """The supervisor's state file in the instance's log_dir on the node: (state dict, its path); {} when missing."""
        path = os.path.join(log_dir, diagnose.SUPERVISOR_STATE_FILE)
        if not os.path.exists(path):
            self.files['supervisor.json'] = '%s: does not exist\n' % path
            return {}, path
        text = _read(path)
        self.files['supervisor.json'] = text
        return diagnose.supervisor_state(text), path

    def daemon(self):
        rc, out, err = self.docker.exec_shell(PROBE_SCRIPT, args=probe_args(self.service_dir))
        if rc != 0:
            raise MindieDockerError('cannot look for the daemon: %s' % err.strip())
        info = parse_probe(out)
        running = bool(info['alive'] and info['is_daemon'])
        result = {'pid': info['pid'], 'running': running, 'cmdline': info['cmdline'],
                  'age': daemon_age(info['fields']) if running else None,
                  'exit_code': info['exit_code'] if not running else None}
        result['home'], result['log_path'], result['log_env_from'] = self._log_env(info['fields'], running)
        return result

    def _log_env(self, info, running):
        """(HOME, MINDIE_LOG_PATH, where they came from) of the daemon, for its log directory."""
        home = None
        for key in ('env_home', 'logenv_home', 'shell_home'):
            if info.get(key) and (running or key != 'env_home'):
                home = info[key]
                break
        if self.p['log_root'] is not None:
            return home, self.p['log_root'], 'the log_root option'
        if running and info.get('env_read'):
            return home, info.get('env_log_path', ''), "the running daemon's environment"
        if 'logenv_log_path' in info:
            return home, info['logenv_log_path'], 'what mindie_service recorded at the last start (%s)' % LOGENV_FILE
        return home, info.get('shell_log_path', ''), "the container's environment"

    def daemon_log(self, daemon):
        """Find the daemon's own log file (mindie-service_<pid>_<time>.log) and return its tail, or None."""
        dirs = mindie_logs.daemon_log_dirs(daemon.get('home'), daemon.get('log_path'))
        rc, out, err = self.docker.exec_shell(LOG_LIST_SCRIPT, args=dirs)
        if rc != 0:
            raise MindieDockerError('cannot list %s in the container: %s' % (', '.join(dirs), (err or out).strip()))
        path, why = mindie_logs.pick_daemon_log(out, dirs, daemon.get('pid'))
        self.daemon_notes.append('log directories searched (MINDIE_LOG_PATH from %s): %s'
                                 % (daemon.get('log_env_from'), ', '.join(dirs)))
        self.daemon_notes.append('daemon log file: %s (%s)' % (path or '-', why))
        if path is None:
            return None
        daemon['log_file'] = path
        daemon['log_file_own'] = why.startswith('the log file of daemon')
        return self.log_tail(DAEMON_LOG_TAIL, path)

    def service_logs(self, supervised=None):
        """The daemon (or None) and the findings of its logs: its own log file, mindservice.log, console.log.

        Everything runs through ``self.docker.exec_shell`` (in the container; a local shell in the tests), but for
        a supervised instance (``supervised``: the daemon dict from its supervisor's state, and the node path of
        the console.log the supervisor writes in the instance's log_dir) the daemon is the supervisor's and
        console.log is read on the node. The daemon's own log file is the authority; the appended logs count from
        the last run on.
        """
        daemon = supervised[0] if supervised else self.collect('daemon', self.daemon)
        logs = []
        pid = (daemon or {}).get('pid')
        if daemon is not None:
            text = self.collect('daemon log file', self.daemon_log, daemon)
            if text is not None:
                logs.append((daemon['log_file'], text if daemon.get('log_file_own') else last_run(text, pid)))
        service_log = diagnose.service_log_path(self.config or {}, self.service_dir)
        console = supervised[1] if supervised else self.service_dir + '/' + CONSOLE_LOG
        for name, path in (('mindservice.log.tail', service_log), ('console.log.tail', console)):
            reader = self.node_tail if supervised and name == 'console.log.tail' else self.log_tail
            text = self.collect(name, reader, name, path)
            if text is not None:
                logs.append((path, last_run(text, pid, name)))
        if daemon is not None:
            self.files['daemon.txt'] = self.daemon_text(daemon)
        return daemon, diagnose.check_logs(logs)

    # ------------------------------------------------------------------ sockets
    def listeners(self, ports):
        inodes = parse_proc_net_tcp(read_proc_net_tcp())
        wanted = dict((port, inode) for port, inode in inodes.items() if port in ports)
        holders = socket_holders(set(wanted.values())) if wanted else {}
        result, lines = {}, ['port  pid  process  cmdline']
        for port in sorted(wanted):
            # The lowest pid of those holding the socket (a worker that inherited it is a later one).
            owner = (holders.get(wanted[port]) or [{'pid': None, 'name': None, 'cmdline': ''}])[0]
            result[port] = owner
            lines.append('%d  %s  %s  %s' % (port, owner['pid'] or '-', owner['name'] or '?', owner['cmdline'][:200]))
        if not wanted:
            lines.append('(none of %s listens)' % ', '.join(str(p) for p in sorted(ports)))
        self.files['listening-ports.txt'] = '\n'.join(lines) + '\n'
        return result

    # ------------------------------------------------------------------ health and metrics
    def http_get(self, scheme, host, port, path):
        """GET over HTTP(S) (mindie_http): {'status': int or None, 'body': text (at most 4 KiB), 'error': why not}."""
        return self.http.get(scheme, host, port, path, self.p['probe_timeout'], max_body=4096)

    def health(self, listeners):
        """Probe /v2/health/ready, /v2/health/live and /metrics; findings. Records health.txt."""
        targets = diagnose.probe_targets(self.config or {})
        scheme = targets['scheme']
        lines = []
        findings = []
        mhost, mport = targets['management']
        if scheme == 'https' and not self.p['client_cert']:
            self.files['health.txt'] = ('not probed: httpsEnabled is true and MindIE serves mutual TLS only; give '
                                        'client_cert, client_key and ca_path to probe it\n')
            return []
        base = targets['urls']['management']
        if mport in listeners:
            started = time.time()
            starting_for = None
            while True:
                ready = self.http_get(scheme, mhost, mport, '/v2/health/ready')
                live = self.http_get(scheme, mhost, mport, '/v2/health/live')
                lines.append('%s %s/v2/health/ready %s; /v2/health/live %s'
                             % (time.strftime('%H:%M:%S'), base, _answer(ready), _answer(live)))
                if diagnose.health_state(ready, live) != 'starting':
                    break
                waited = time.time() - started
                if waited >= STARTING_WAIT:
                    starting_for = int(waited)
                    break
                time.sleep(min(1.0, STARTING_WAIT - waited))
            findings += diagnose.check_health(ready, live, starting_for=starting_for)
        else:
            lines.append('%s: the management port does not listen' % base)
        xhost, xport = targets['metrics']
        if xport in listeners:
            metrics = self.http_get(scheme, xhost, xport, '/metrics')
            lines.append('%s/metrics %s' % (targets['urls']['metrics'], _answer(metrics)))
            findings += diagnose.check_metrics(metrics)
        self.files['health.txt'] = '\n'.join(lines) + '\n'
        return findings

    # ------------------------------------------------------------------ model and image
    def model_dir(self):
        """The weights listing for the bundle, and the prechecks' own checks of the directory."""
        path = self.p['model_path']
        found = model_dir.check_model_dir(path)
        if found[0]['status'] != checks.PASS:
            self.files['model-dir.txt'] = '%s: %s\n' % (path, found[0]['message'])
            return found
        lines = [_ls_line('.', os.stat(path))]
        for name in sorted(os.listdir(path)):
            lines.append(_ls_line(name, os.lstat(os.path.join(path, name))))
        self.files['model-dir.txt'] = '\n'.join(lines) + '\n'
        # Read-only: fix=False never changes a mode.
        return found + model_dir.check_permissions(path, fix=False)[0]

    def test_image(self):
        path = self.p['test_image']
        info = {'exists': os.path.exists(path)}
        if not info['exists']:
            self.files['test-image.txt'] = '%s: does not exist\n' % path
            return info
        st = os.stat(path)
        info.update({'mode': stat_mod.S_IMODE(st.st_mode), 'size': st.st_size, 'is_dir': os.path.isdir(path),
                     'readable': os.access(path, os.R_OK), 'format': None, 'head_read': False})
        if info['readable'] and not info['is_dir']:
            try:
                info['format'] = diagnose.image_format(_read_head(path, 16))
                info['head_read'] = True
            except (IOError, OSError) as exc:
                info['readable'] = False
                self.errors.append('test image: %s' % exc)
        self.files['test-image.txt'] = '%s\nformat: %s\n' % (_ls_line(path, st), info['format'] or 'unknown')
        return info

    # ------------------------------------------------------------------ run
    def validate(self):
        """Refuse bad options (fail_json) before anything is run or read."""
        p = self.p
        if p['log_lines'] < 1:
            self.module.fail_json(msg='log_lines must be at least 1, got %d.' % p['log_lines'])
        problems = validate_names(p)
        if problems:
            self.module.fail_json(msg=' '.join(problems))
        if p['npu_smi_timeout'] < 1:
            self.module.fail_json(msg='npu_smi_timeout must be at least 1 (seconds), got %d.' % p['npu_smi_timeout'])
        if p['ready_timeout'] < 1:
            self.module.fail_json(msg='ready_timeout must be at least 1 (seconds), got %d.' % p['ready_timeout'])
        if not 1 <= p['probe_timeout'] <= 300:
            self.module.fail_json(msg='probe_timeout must be 1 to 300 (seconds), got %d.' % p['probe_timeout'])
        if self.http.tls_files_given():
            try:
                self.http.check()
            except TLSSetupError as exc:
                self.module.fail_json(msg='The TLS options cannot be used: %s.' % exc)

    def execute(self):
        """The module's run: validate, collect, exit with the bundle."""
        self.validate()
        self.module.exit_json(**self.run())

    def instance_specs(self):
        """The instances to diagnose: the instances option, else one from container and config_path."""
        if self.p['instances']:
            return [dict(item) for item in self.p['instances']]
        return [{'name': self.p['container'], 'container': self.p['container'], 'config_path': self.p['config_path'],
                 'log_dir': None}]

    def run(self):
        p = self.p
        node_files = self.files
        info_text = self.collect('npu-smi info', self.npu_smi, '', [])
        npu_error = self.errors[-1] if info_text is None and self.errors else None
        self.collect('npu-smi info -m', self.npu_smi, '-m', ['-m'])
        self.collect('npu-smi info -l', self.npu_smi, '-l', ['-l'])
        npu_findings, dummy, profile = diagnose.check_npu(info_text or self.files.get('npu-smi-info.txt'), npu_error)
        node_findings = list(npu_findings)
        self.version_files()

        specs = self.instance_specs()
        several = len(specs) > 1
        node_errors = self.errors
        instances = {}
        for index, spec in enumerate(specs):
            instances[spec['name']] = self.run_instance(spec, profile, node_files if index == 0 else None)
        self.files, self.errors = node_files, node_errors

        model_checks = self.collect('model directory', self.model_dir)
        if model_checks:
            # The prechecks' own checks of the weights, reported as they are (category model).
            node_findings += checks.findings(model_checks)
        image_info = self.collect('test image', self.test_image)
        if image_info is not None:
            node_findings += diagnose.check_test_image(p['test_image'], image_info)

        every = list(node_findings)
        errors = list(node_errors)
        for spec in specs:
            entry = instances[spec['name']]
            for item in entry['findings']:
                item = dict(item, details=dict(item['details'], instance=spec['name']))
                if several:
                    item['message'] = item['reason'] = '%s: %s' % (spec['name'], item['message'])
                every.append(item)
            errors += [('%s: %s' % (spec['name'], e)) if several else e for e in entry['errors']]
            if not several:
                # One instance: its files stay where they always were, beside the node's.
                node_files.update(entry['files'])
        if errors:
            node_files['errors.txt'] = '\n'.join(errors) + '\n'
        findings = diagnose.sort_findings(every)
        first = instances[specs[0]['name']]
        return {'changed': False, 'files': node_files, 'findings': findings, 'profile': profile,
                'errors': errors, 'summary': diagnose.summarize(findings, errors),
                'daemon_log_file': first['daemon_log_file'], 'instances': instances}

    def run_instance(self, spec, profile, node_files=None):
        """One instance: its config.json, container, supervisor state, daemon, logs, ports and health.

        Its files, errors and findings are its own (``node_files``, given for the first instance, gets the node's
        list of containers). Returns its entry of RV(instances).
        """
        p = self.p
        self.files, self.errors, f = {}, [], []
        self.container, self.config_path = spec['container'], spec['config_path']
        self.docker = self.docker_error = self.container_attrs = self.config = None
        self.daemon_notes = []

        config_stat = self.collect('config.json', self.config_file)
        if 'config.json' in self.files or config_stat is None and 'config.json.stat' in self.files:
            f += diagnose.check_config_file(config_stat, p['daemon_uid'])
        if 'config.json' in self.files:
            self.config, parse_error = diagnose.parse_config(self.files['config.json'])
            if parse_error:
                f.append(diagnose.finding('error', 'config', parse_error, 'Fix or rewrite config.json.'))
            else:
                f += diagnose.check_config(self.config, profile)

        container = None
        self.collect('docker', self.connect_docker)
        if self.docker is None:
            f += diagnose.check_container(None, docker_error=self.docker_error or 'unknown')
        else:
            container = self.collect('docker inspect container', self.container_state)
            image_present = None
            image_ref = (container or {}).get('image')
            if image_ref:
                image_present = self.collect('docker inspect image', self.image, image_ref)
            if node_files is not None:
                files, self.files = self.files, node_files
                self.collect('docker ps -a', self.ps)
                self.files = files
            if container is not None or self.files.get('docker-inspect-container.json', '').endswith('not exist\n'):
                f += diagnose.check_container(container, image_present=image_present, image_ref=image_ref)

        running = bool(container and container.get('running'))
        state, supervised = None, None
        if spec.get('log_dir') and (container is None or container.get('supervised')):
            found = self.collect('supervisor state', self.supervisor_state, spec['log_dir'])
            if found is not None:
                state = found[0]
                f += diagnose.check_supervisor(state, found[1], running)
                supervised = (diagnose.supervisor_daemon(state, time.time()),
                              os.path.join(spec['log_dir'], diagnose.SUPERVISED_CONSOLE_LOG))
        daemon = None
        if running:
            daemon, log_findings = self.service_logs(supervised if container.get('supervised') else None)
            f += log_findings

        config_ports = diagnose.config_ports(self.config) if self.config else {}
        ports = set(config_ports.values()) | set(diagnose.GUIDE_PORTS)
        listeners = self.collect('listening sockets', self.listeners, ports) or {}
        f += diagnose.check_ports(listeners, ports, bool(daemon and daemon.get('running')))
        listening = any(port in listeners for port in config_ports.values())
        if not (state and state.get('status') not in diagnose.DAEMON_STATUSES):
            # A supervisor that holds the daemon stopped, backs off or gave up has said so above.
            f += diagnose.check_daemon(running, daemon, listening, p['ready_timeout'])
        if p['probe'] and daemon and daemon.get('running') and listening:
            f += self.collect('health probes', self.health, listeners) or []
        findings = diagnose.sort_findings(f)
        return {'name': spec['name'], 'container': spec['container'], 'config_path': spec['config_path'],
                'log_dir': spec.get('log_dir'), 'status': diagnose.instance_status(findings),
                'summary': diagnose.summarize(findings, self.errors), 'findings': findings, 'errors': self.errors,
                'files': self.files, 'supervised': bool(container and container.get('supervised')),
                'supervisor': state, 'daemon_log_file': (daemon or {}).get('log_file')}

    def daemon_text(self, daemon):
        lines = ['pid: %s' % (daemon.get('pid') or '- (no pid file)'),
                 'running: %s' % ('yes' if daemon.get('running') else 'no'),
                 'cmdline: %s' % (daemon.get('cmdline') or '-')]
        if daemon.get('age') is not None:
            lines.append('running for: %d s' % daemon['age'])
        if daemon.get('exit_code') is not None:
            lines.append('last exit status: %s' % diagnose.exit_status_text(daemon['exit_code']))
        lines.append('HOME: %s' % (daemon.get('home') or '-'))
        lines.append('MINDIE_LOG_PATH: %s' % (daemon.get('log_path') or '(not set)'))
        return '\n'.join(lines + self.daemon_notes) + '\n'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type='str', default='mindie'),
            config_path=dict(type='path', default='/etc/mindie/config.json'),
            service_dir=dict(type='str', default=DEFAULT_SERVICE_DIR),
            npu_smi=dict(type='str', default='npu-smi'),
            npu_smi_timeout=dict(type='int', default=NPU_SMI_TIMEOUT),
            ascend_home=dict(type='path', default='/usr/local/Ascend'),
            model_path=dict(type='path', default='/data/Qwen2-VL-7B-Instruct'),
            test_image=dict(type='path', default='/data/test_images/sample.jpg'),
            log_lines=dict(type='int', default=200),
            daemon_uid=dict(type='int', default=0),
            log_root=dict(type='str'),
            ready_timeout=dict(type='int', default=diagnose.DEFAULT_READY_TIMEOUT),
            probe=dict(type='bool', default=True),
            probe_timeout=dict(type='int', default=5),
            instances=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                container=dict(type='str', required=True),
                config_path=dict(type='path', required=True),
                log_dir=dict(type='path'),
            )),
            **tls_argument_spec()
        ),
        supports_check_mode=True,
    )
    MindieDiagnoser(module).execute()


if __name__ == '__main__':
    main()
