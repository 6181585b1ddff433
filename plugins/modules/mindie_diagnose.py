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
  - The Docker SDK for Python (C(docker)) or the C(docker) CLI on the node; without either the container items are
    recorded as errors.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
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
  ca_path:
    description:
      - With C(httpsEnabled), the CA that signed MindIE's server certificate (the probes verify it).
    type: path
  client_cert:
    description:
      - With C(httpsEnabled), the client certificate the probes present (MindIE serves mutual TLS only). Without it
        an HTTPS service is not probed (noted in C(health.txt)).
    type: path
  client_key:
    description:
      - The key of O(client_cert) when it is in another file.
    type: path
  server_name:
    description:
      - The name MindIE's certificate is checked against (default the address probed).
    type: str
notes:
  - The container is expected to use host networking (as the guide's does), so its sockets show in the node's
    C(/proc/net/tcp). The owning process of a socket is found through C(/proc/<pid>/fd), which needs root.
  - The hardware profile (32G or 64G) is read from the HBM size that C(npu-smi info) prints; the guide's ranges for
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
  description: What is wrong, worst first.
  returned: always
  type: list
  elements: dict
  contains:
    severity:
      description: V(error), V(warning) or V(info).
      type: str
      returned: always
    problem:
      description: >-
        V(service_start), V(out_of_memory), V(slow_inference), V(image_load), V(config), V(npu) or V(container).
      type: str
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
      problem: config
      guide_section: "7.1.1"
      message: "config.json has mode 0644, looser than 0640: MindIE refuses it"
      hint: "chmod 0640 config.json (mindie_service_config_dir/config.json)."
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
'''

import grp
import json
import os
import pwd
import socket
import ssl
import stat as stat_mod
import time
import traceback

import http.client as http_client

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ascend.mindie.plugins.module_utils import diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_logs
from ansible_collections.ascend.mindie.plugins.module_utils.diagnose import last_run
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    TLSSetupError,
    connection,
    describe_tls_error,
    tls_client_context,
)
from ansible_collections.ascend.mindie.plugins.module_utils import model_dir
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import (
    DEFAULT_TIMEOUT as NPU_SMI_TIMEOUT,
    NpuSmiTimeout,
    run_npu_smi,
)
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import parse_proc_net_tcp
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    CONTAINER_NAME,
    HAS_DOCKER,
    MindieDockerClient,
    MindieDockerError,
)

DEFAULT_SERVICE_DIR = '/usr/local/Ascend/mindie/latest/mindie-service'
PID_FILE = 'logs/mindieservice_daemon.pid'
CONSOLE_LOG = 'logs/console.log'
# Written by ascend.mindie.mindie_service at each start: HOME and MINDIE_LOG_PATH as the daemon got them
# (NUL-separated), and the daemon's exit status.
LOGENV_FILE = 'logs/mindieservice_daemon.logenv'
EXIT_FILE = 'logs/daemon.exit'
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
# $1 pid file, $2 log environment file, $3 exit status file (all written by ascend.mindie.mindie_service).
DAEMON_SCRIPT = (
    'pid=$(cat -- "$1" 2>/dev/null); case "$pid" in ""|*[!0-9]*) pid="";; esac\n'
    'echo "pid=$pid"\n'
    'if [ -n "$pid" ] && [ -e /proc/$pid/cmdline ]; then echo "cmdline=$(tr \'\\0\' \' \' < /proc/$pid/cmdline)";'
    ' st=$(sed -e \'s/.*) //\' /proc/$pid/stat); echo "state=$(echo "$st" | cut -c1)";'
    ' echo "start=$(echo "$st" | cut -d\' \' -f20)"; echo "uptime=$(cut -d\' \' -f1 /proc/uptime)";'
    ' echo "clk_tck=$(getconf CLK_TCK 2>/dev/null)";'
    ' if env=$(tr \'\\0\' \'\\n\' < /proc/$pid/environ 2>/dev/null); then echo "env_read=1";'
    ' printf \'%s\\n\' "$env" | sed -n -e \'s/^HOME=/env_home=/p\' -e \'s/^MINDIE_LOG_PATH=/env_log_path=/p\'; fi; fi\n'
    'if [ -f "$2" ]; then tr \'\\0\' \'\\n\' < "$2" | { IFS= read -r h; IFS= read -r l;'
    ' echo "logenv_home=$h"; echo "logenv_log_path=$l"; }; fi\n'
    'if [ -f "$3" ]; then echo "exit=$(head -c 16 -- "$3" | tr -d \'\\n\')"; fi\n'
    'echo "shell_home=${HOME-}"\n'
    'if [ -n "${MINDIE_LOG_PATH+x}" ]; then echo "shell_log_path=$MINDIE_LOG_PATH"; fi\n'
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
    return problems


class _RaisingModule(object):
    """Lets MindieDockerClient report a missing SDK or a dead engine as an exception instead of exiting."""

    def fail_json(self, msg, **kwargs):
        raise MindieDockerError(msg)


class SdkBackend(object):
    """Docker through the SDK (MindieDockerClient for the exec calls)."""

    def __init__(self, container):
        self.client = MindieDockerClient(_RaisingModule(), container, timeout=DOCKER_TIMEOUT)
        self.name = container

    def inspect_container(self):
        try:
            return self.client.container(reload=True).attrs
        except MindieDockerError as exc:
            if 'does not exist' in str(exc):
                return None
            raise

    def inspect_image(self, ref):
        from docker.errors import DockerException, NotFound
        try:
            return self.client.client.images.get(ref).attrs
        except NotFound:
            return None
        except DockerException as exc:
            raise MindieDockerError('Cannot inspect image %s: %s' % (ref, exc))

    def ps_all(self):
        from docker.errors import DockerException
        try:
            containers = self.client.client.containers.list(all=True)
        except DockerException as exc:
            raise MindieDockerError('Cannot list the containers: %s' % exc)
        rows = []
        for c in containers:
            attrs = c.attrs
            rows.append({'ID': c.short_id, 'Names': c.name, 'Image': (attrs.get('Config') or {}).get('Image'),
                         'Status': (attrs.get('State') or {}).get('Status'), 'Created': attrs.get('Created')})
        return rows

    def exec_shell(self, script, args=()):
        return self.client.exec_shell(script, args=args)


class CliBackend(object):
    """Docker through the docker CLI, for nodes without the SDK."""

    def __init__(self, module, container):
        self.module = module
        self.name = container
        self.docker = module.get_bin_path('docker')
        if not self.docker:
            raise MindieDockerError('Neither the Docker SDK for Python nor the docker CLI is available on the node.')
        rc, out, err = self.run(['info', '--format', '{{.ServerVersion}}'])
        if rc != 0:
            raise MindieDockerError('Cannot talk to the Docker engine: %s' % (err.strip() or out.strip()))

    def run(self, args):
        return self.module.run_command([self.docker] + args)

    def _inspect(self, kind, ref):
        rc, out, err = self.run([kind, 'inspect', ref])
        if rc != 0:
            if 'No such' in err:
                return None
            raise MindieDockerError('docker %s inspect %s: %s' % (kind, ref, err.strip()))
        data = json.loads(out)
        return data[0] if data else None

    def inspect_container(self):
        return self._inspect('container', self.name)

    def inspect_image(self, ref):
        return self._inspect('image', ref)

    def ps_all(self):
        rc, out, err = self.run(['ps', '-a', '--no-trunc', '--format', '{{json .}}'])
        if rc != 0:
            raise MindieDockerError('docker ps -a: %s' % err.strip())
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def exec_shell(self, script, args=()):
        return self.run(['exec', self.name, '/bin/sh', '-c', script, 'sh'] + [str(a) for a in args])


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


def daemon_age(info):
    """Seconds since the daemon started, from /proc/<pid>/stat's start time and /proc/uptime; None if unknown."""
    try:
        start = int(info.get('start', ''))
        uptime = float(info.get('uptime', ''))
        clk = int(info.get('clk_tck') or 100)
    except ValueError:
        return None
    age = uptime - start / float(clk) if clk > 0 else -1
    # A negative age: /proc/uptime is not the kernel's (lxcfs gives the container's), so the age is unknown.
    return int(age) if age >= 0 and start >= 0 else None


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
        self.findings = []
        self.docker = None
        self.docker_error = None
        self.container_attrs = None
        self.config = None
        self.npu_smi_hung = None
        self.daemon_notes = []
        self._tls = None

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
        binary = self.p['npu_smi']
        if '/' in binary:
            if not os.access(binary, os.X_OK):
                raise RuntimeError('%s is not an executable file' % binary)
        else:
            binary = self.module.get_bin_path(binary, opt_dirs=['/usr/local/bin', '/usr/local/sbin'])
            if not binary:
                raise RuntimeError('%s is not on the PATH' % self.p['npu_smi'])
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
        for name, path in (('driver-version.info', os.path.join(self.p['ascend_home'], 'driver', 'version.info')),
                           ('firmware-version.info', os.path.join(self.p['ascend_home'], 'firmware', 'version.info')),
                           ('ascend_install.info', '/etc/ascend_install.info')):
            self.collect(name, self._version_file, name, path)

    def _version_file(self, name, path):
        self.files[name] = _read(path)

    def config_file(self):
        path = self.p['config_path']
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
        if HAS_DOCKER:
            self.docker = SdkBackend(self.p['container'])
        else:
            self.docker = CliBackend(self.module, self.p['container'])

    def container_state(self):
        attrs = self.docker.inspect_container()
        if attrs is None:
            self.files['docker-inspect-container.json'] = 'container %s does not exist\n' % self.p['container']
            return None
        self.container_attrs = attrs
        self.files['docker-inspect-container.json'] = json.dumps(attrs, indent=2, sort_keys=True, default=str) + '\n'
        state = attrs.get('State') or {}
        return {'running': bool(state.get('Running')), 'restarting': bool(state.get('Restarting')),
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

    def daemon(self):
        rc, out, err = self.docker.exec_shell(DAEMON_SCRIPT, args=[self.service_dir + '/' + PID_FILE,
                                                                   self.service_dir + '/' + LOGENV_FILE,
                                                                   self.service_dir + '/' + EXIT_FILE])
        if rc != 0:
            raise MindieDockerError('cannot look for the daemon: %s' % err.strip())
        info = {}
        for line in out.splitlines():
            if '=' in line:
                key, value = line.split('=', 1)
                info.setdefault(key, value)
        pid = info.get('pid') or None
        running = bool(pid and info.get('cmdline') and diagnose.is_daemon_process('', info['cmdline'])
                       and info.get('state') not in ('Z', 'X'))
        exit_code = info.get('exit', '').strip()
        result = {'pid': int(pid) if pid else None, 'running': running, 'cmdline': info.get('cmdline', ''),
                  'age': daemon_age(info) if running else None,
                  'exit_code': int(exit_code) if exit_code.isdigit() and not running else None}
        result['home'], result['log_path'], result['log_env_from'] = self._log_env(info, running)
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

    def service_logs(self):
        """The daemon (or None) and the findings of its logs: its own log file, mindservice.log, console.log.

        Everything runs through ``self.docker.exec_shell`` (in the container; a local shell in the tests).
        The daemon's own log file is the authority; the appended logs count from the last run on.
        """
        daemon = self.collect('daemon', self.daemon)
        logs = []
        pid = (daemon or {}).get('pid')
        if daemon is not None:
            text = self.collect('daemon log file', self.daemon_log, daemon)
            if text is not None:
                logs.append((daemon['log_file'], text if daemon.get('log_file_own') else last_run(text, pid)))
        service_log = diagnose.service_log_path(self.config or {}, self.service_dir)
        for name, path in (('mindservice.log.tail', service_log),
                           ('console.log.tail', self.service_dir + '/' + CONSOLE_LOG)):
            text = self.collect(name, self.log_tail, name, path)
            if text is not None:
                logs.append((path, last_run(text, pid, name)))
        if daemon is not None:
            self.files['daemon.txt'] = self.daemon_text(daemon)
        return daemon, diagnose.check_logs(logs)

    # ------------------------------------------------------------------ sockets
    def listeners(self, ports):
        text = ''
        for path in ('/proc/net/tcp', '/proc/net/tcp6'):
            try:
                text += _read(path, 16 * MAX_FILE_BYTES)
            except (IOError, OSError):
                pass
        inodes = parse_proc_net_tcp(text)
        wanted = dict((port, inode) for port, inode in inodes.items() if port in ports)
        owners = self._socket_owners(set(wanted.values())) if wanted else {}
        result, lines = {}, ['port  pid  process  cmdline']
        for port in sorted(wanted):
            owner = owners.get(wanted[port], {'pid': None, 'name': None, 'cmdline': ''})
            result[port] = owner
            lines.append('%d  %s  %s  %s' % (port, owner['pid'] or '-', owner['name'] or '?', owner['cmdline'][:200]))
        if not wanted:
            lines.append('(none of %s listens)' % ', '.join(str(p) for p in sorted(ports)))
        self.files['listening-ports.txt'] = '\n'.join(lines) + '\n'
        return result

    @staticmethod
    def _socket_owners(inodes):
        owners = {}
        targets = dict(('socket:[%s]' % inode, inode) for inode in inodes)
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                fds = os.listdir('/proc/%s/fd' % pid)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink('/proc/%s/fd/%s' % (pid, fd))
                except OSError:
                    continue
                if link in targets and targets[link] not in owners:
                    try:
                        name = _read('/proc/%s/comm' % pid).strip()
                        cmdline = _read('/proc/%s/cmdline' % pid).replace('\0', ' ').strip()
                    except (IOError, OSError):
                        name, cmdline = None, ''
                    owners[targets[link]] = {'pid': int(pid), 'name': name, 'cmdline': cmdline}
            if len(owners) == len(targets):
                break
        return owners

    # ------------------------------------------------------------------ health and metrics
    def tls_context(self):
        if self._tls is None:
            self._tls = tls_client_context(ca_path=self.p['ca_path'], client_cert=self.p['client_cert'],
                                           client_key=self.p['client_key'])
        return self._tls

    def http_get(self, scheme, host, port, path):
        """GET over HTTP(S): {'status': int or None, 'body': text (at most 4 KiB), 'error': why there was no answer}."""
        try:
            conn = connection(scheme, host, port, self.p['probe_timeout'],
                              context=self.tls_context() if scheme == 'https' else None,
                              server_name=self.p['server_name'])
        except TLSSetupError as exc:
            return {'status': None, 'body': '', 'error': str(exc)}
        try:
            conn.request('GET', path, headers={'Connection': 'close'})
            response = conn.getresponse()
            body = response.read(4096)
            return {'status': response.status, 'body': to_text(body, errors='replace'), 'error': ''}
        except ssl.SSLError as exc:
            return {'status': None, 'body': '', 'error': describe_tls_error(exc)}
        except (socket.error, http_client.HTTPException) as exc:
            return {'status': None, 'body': '', 'error': to_text(exc) or exc.__class__.__name__}
        finally:
            conn.close()

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
        base = '%s://%s:%d' % (scheme, '[%s]' % mhost if ':' in mhost else mhost, mport)
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
            lines.append('%s://%s:%d/metrics %s' % (scheme, '[%s]' % xhost if ':' in xhost else xhost, xport,
                                                    _answer(metrics)))
            findings += diagnose.check_metrics(metrics)
        self.files['health.txt'] = '\n'.join(lines) + '\n'
        return findings

    # ------------------------------------------------------------------ model and image
    def model_dir(self):
        """The weights listing for the bundle, and the prechecks' own checks of the directory."""
        path = self.p['model_path']
        checks = model_dir.check_model_dir(path)
        if checks[0]['status'] != 'pass':
            self.files['model-dir.txt'] = '%s: %s\n' % (path, checks[0]['reason'])
            return checks
        lines = [_ls_line('.', os.stat(path))]
        for name in sorted(os.listdir(path)):
            lines.append(_ls_line(name, os.lstat(os.path.join(path, name))))
        self.files['model-dir.txt'] = '\n'.join(lines) + '\n'
        # Read-only: fix=False never changes a mode.
        return checks + model_dir.check_permissions(path, fix=False)[0]

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
    def run(self):
        f = self.findings
        p = self.p
        info_text = self.collect('npu-smi info', self.npu_smi, '', [])
        npu_error = self.errors[-1] if info_text is None and self.errors else None
        self.collect('npu-smi info -m', self.npu_smi, '-m', ['-m'])
        self.collect('npu-smi info -l', self.npu_smi, '-l', ['-l'])
        npu_findings, dummy, profile = diagnose.check_npu(info_text or self.files.get('npu-smi-info.txt'), npu_error)
        f += npu_findings
        self.version_files()

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
            self.docker_error = self.errors[-1].split(': ', 1)[-1] if self.errors else 'unknown'
            f += diagnose.check_container(None, docker_error=self.docker_error)
        else:
            container = self.collect('docker inspect container', self.container_state)
            image_present = None
            image_ref = (container or {}).get('image')
            if image_ref:
                image_present = self.collect('docker inspect image', self.image, image_ref)
            self.collect('docker ps -a', self.ps)
            if container is not None or self.files.get('docker-inspect-container.json', '').endswith('not exist\n'):
                f += diagnose.check_container(container, image_present=image_present, image_ref=image_ref)

        daemon = None
        if container and container.get('running'):
            daemon, log_findings = self.service_logs()
            f += log_findings

        config_ports = diagnose.config_ports(self.config) if self.config else {}
        ports = set(config_ports.values()) | set(diagnose.GUIDE_PORTS)
        listeners = self.collect('listening sockets', self.listeners, ports) or {}
        f += diagnose.check_ports(listeners, ports, bool(daemon and daemon.get('running')))
        listening = any(port in listeners for port in config_ports.values())
        f += diagnose.check_daemon(bool(container and container.get('running')), daemon, listening,
                                   p['ready_timeout'])
        if p['probe'] and daemon and daemon.get('running') and listening:
            f += self.collect('health probes', self.health, listeners) or []

        model_checks = self.collect('model directory', self.model_dir)
        if model_checks:
            f += diagnose.check_model_dir(p['model_path'], model_checks)
        image_info = self.collect('test image', self.test_image)
        if image_info is not None:
            f += diagnose.check_test_image(p['test_image'], image_info)

        if self.errors:
            self.files['errors.txt'] = '\n'.join(self.errors) + '\n'
        findings = diagnose.sort_findings(f)
        return {'changed': False, 'files': self.files, 'findings': findings, 'profile': profile,
                'errors': self.errors, 'summary': diagnose.summarize(findings, self.errors),
                'daemon_log_file': (daemon or {}).get('log_file')}

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
            ca_path=dict(type='path'),
            client_cert=dict(type='path'),
            client_key=dict(type='path', no_log=False),
            server_name=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    if module.params['log_lines'] < 1:
        module.fail_json(msg='log_lines must be at least 1, got %d.' % module.params['log_lines'])
    problems = validate_names(module.params)
    if problems:
        module.fail_json(msg=' '.join(problems))
    if module.params['npu_smi_timeout'] < 1:
        module.fail_json(msg='npu_smi_timeout must be at least 1 (seconds), got %d.' % module.params['npu_smi_timeout'])
    if module.params['ready_timeout'] < 1:
        module.fail_json(msg='ready_timeout must be at least 1 (seconds), got %d.' % module.params['ready_timeout'])
    if not 1 <= module.params['probe_timeout'] <= 300:
        module.fail_json(msg='probe_timeout must be 1 to 300 (seconds), got %d.' % module.params['probe_timeout'])
    if module.params['client_cert'] or module.params['client_key'] or module.params['ca_path']:
        try:
            tls_client_context(ca_path=module.params['ca_path'], client_cert=module.params['client_cert'],
                               client_key=module.params['client_key'])
        except TLSSetupError as exc:
            module.fail_json(msg='The TLS options cannot be used: %s.' % exc)
    module.exit_json(**MindieDiagnoser(module).run())


if __name__ == '__main__':
    main()
