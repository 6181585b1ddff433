#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_service
short_description: Start, stop or restart the MindIE Service daemon inside a running container
description:
  - Starts C(mindieservice_daemon) inside a running MindIE container the way the deployment guide does
    (sourcing the four C(set_env.sh) scripts, exporting E(MASTER_ADDR) and E(MASTER_PORT), running
    C(bin/mindieservice_daemon) from the service directory), detached through the Docker exec API so that
    it outlives the module. MindIE's daemon makes itself the leader of its own process group (C(setpgrp()), which
    fails for a session leader, so it runs in a subshell); the group, which holds its backend workers, is recorded
    in C(<service_dir>/logs/mindieservice_daemon.pgid).
  - Before it starts the daemon, waits until the business, management and metrics ports and O(master_port) can be
    bound on C(0.0.0.0) without C(SO_REUSEADDR) inside the container, as MindIE checks them (a port still in
    C(TIME_WAIT) after traffic counts as taken, and MindIE would refuse it only after loading the model). It waits at
    most O(stop_timeout) + 60 seconds, 5 seconds for a port another process listens on. Fails naming the port and what
    holds it. Needs C(python3) in the container (the MindIE images have it); without it any socket on the port in
    C(/proc/net/tcp) counts.
  - Waits until the management endpoint C(/v2/health/ready) (or C(/health) when that answers 404) returns
    200, polling every 0.1 seconds from the node. MindIE opens its ports only after the model is loaded, so a
    refused connection means still loading. The container must use host networking, or the management
    address in the config must otherwise be reachable from the node.
  - A daemon whose C(/v2/health/ready) answers 503 while C(/v2/health/live) answers 200 is busy
    (C(HealthCheckConfig.npuUsageThreshold)), which means loaded and serving, not down. V(started) returns at once with RV(busy)
    true and never restarts it; a daemon the module has just started that is busy at once (traffic arrived) counts
    as started. During MindIE's first health interval live and ready answer 500; that is waited for.
  - The daemon writes its pid to C(<service_dir>/logs/mindieservice_daemon.pid), its console output to
    C(<service_dir>/logs/console.log) and, when it exits, its exit code to C(<service_dir>/logs/daemon.exit).
  - When the daemon dies or is not ready in time, the module fails with the daemon's own error lines, its exit
    code and a hint for the known causes. The lines come from MindIE's own log file of that pid
    (C(~/mindie/log/debug/mindie-service_<pid>_<time>.log) of the daemon's user, below E(MINDIE_LOG_PATH) when set),
    from C(LogConfig.logPath) of the config (C(logs/mindservice.log) by default) and from the console log. Exit code
    137 is MindIE's C(killpg(SIGKILL)) after a failed initialisation; the hint says so.
  - V(stopped) sends SIGTERM to the daemon (MindIE then stops its process group itself), SIGKILL to the whole
    group after O(stop_timeout) seconds; then SIGTERM, O(stop_timeout) seconds and SIGKILL to what is left of the
    group (MindIE's backend workers outlive a killed daemon and keep their NPU memory). It confirms in C(/proc) that
    no process of the group is left (and, when the container has C(npu-smi), that it no longer shows their
    memory), and waits until the business, management and metrics ports no longer listen.
  - B(Supervised containers.) A container whose environment has E(MINDIE_SUPERVISOR_STATE_DIR) runs the collection's
    instance supervisor (C(plugins/module_utils/mindie_supervisor.py)) as its main process, and the supervisor, not
    this module, starts the daemon (the same way), restarts it when it dies or stops answering
    C(/v2/health/live), and stops its whole process group. The module then only talks to it, through
    C(<state dir>/supervisor.json) (RV(supervisor)), C(<state dir>/desired) and SIGHUP, sent from inside the container
    (C(kill -s HUP 1) through exec; a C(docker kill -s HUP) would make Docker 20.10 treat the container as stopped by
    hand, and the C(unless-stopped) policy would not bring it back after a reboot).
    O(config_path) is then the C(config) named in the supervisor's C(supervisor.json) (E(MINDIE_SUPERVISOR_INSTANCE));
    O(service_dir), O(env), O(master_addr), O(master_port) and O(monitor) are ignored (they are that file's).
  - Supervised, V(started) waits until the daemon is ready (or busy), and never restarts it; it fails at once with
    RV(status) V(crash-looping) and the daemon's last error lines (RV(last_error_lines)) when the supervisor stopped
    restarting it (more than C(restart_limit) starts within C(restart_window)), and with the error lines of the
    generation it waited for when that one exited. After V(stopped) it writes C(desired) = V(running); the supervisor
    starts the daemon at its next poll.
  - Supervised, V(restarted) sends SIGHUP and waits for the supervisor's next daemon generation, then for ready. The
    supervisor uses a changed config.json only from its next start (it never restarts a running daemon for it), so
    the role writes the files and then restarts once; a supervisor still C(waiting) for its files starts the daemon
    by itself when they appear, and gets no SIGHUP (the model is loaded once).
  - Supervised, V(stopped) writes C(desired) = V(stopped) (kept across container restarts and reboots), sends SIGHUP,
    waits for the supervisor's status V(stopped), then until no process of the daemon's group is left, the node's
    C(npu-smi) shows no process on O(npu_devices) (their HBM is free) and the ports no longer listen.
  - A daemon that is gone (killed with C(kill -9)) but whose workers still run is found by its recorded process
    group (only when the container has not restarted since) and by orphaned C(mindie_llm_back) processes;
    V(started), V(restarted) and V(stopped) stop them first (RV(leftovers)), so that a new daemon finds the NPU
    memory free.
author:
  - ascend.mindie maintainers (@ascend-mindie)
requirements:
  - Docker SDK for Python (C(docker)) on the node that runs the module.
  - A Docker engine on that node, with the MindIE container running (for example C(sleep infinity) as its command).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
  - ascend.mindie.tls
options:
  container:
    description:
      - Name or id of the running container that holds MindIE.
    type: str
    required: true
  state:
    description:
      - V(started) starts the daemon unless it already runs (a running daemon that is still loading is waited for).
      - V(stopped) stops it if it runs.
      - V(restarted) stops it if it runs and starts it again, always reporting a change.
    type: str
    choices: [started, stopped, restarted]
    default: started
  config_path:
    description:
      - Path of the MindIE C(config.json) inside the container. The module reads the addresses and ports from it.
      - When it is not the default, it is passed to the daemon as E(MIES_CONFIG_JSON_PATH).
      - "Must be an absolute path without C(..) components or control characters. Before a running daemon is
        stopped the file must be readable and valid: a JSON object whose C(ServerConfig) ports C(port),
        C(managementPort), C(metricsPort) are integers in [1024, 65535], either all equal (single-port mode) or all
        different; C(ipAddress) and C(managementIpAddress) literal IP addresses; booleans such as C(httpsEnabled)
        JSON booleans (a string C(\"false\") is refused, not guessed)."
    type: str
    default: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
  service_dir:
    description:
      - The MindIE Service directory inside the container (holds C(bin/mindieservice_daemon) and C(logs/)).
      - Must be an absolute path, not C(/), without C(..) components or control characters; its
        C(bin/mindieservice_daemon) must be executable before a running daemon is stopped.
    type: str
    default: /usr/local/Ascend/mindie/latest/mindie-service
  env:
    description:
      - Extra environment variables for the daemon, exported after the C(set_env.sh) scripts were sourced.
      - Names must be shell identifiers (C([A-Za-z_][A-Za-z0-9_]*)). The variables the module sets itself
        (E(MASTER_ADDR), E(MASTER_PORT), E(MIES_CONFIG_JSON_PATH), E(MIES_SERVICE_MONITOR_MODE)) are refused; use
        O(master_addr), O(master_port), O(config_path) and O(monitor), so that what the module checks and probes is
        what the daemon uses. Shell variables that change how the start script itself runs (E(IFS), E(BASH_ENV),
        E(ENV), E(SHELLOPTS), E(BASHOPTS), E(CDPATH), E(PS4), ...) are refused too.
      - E(PATH), E(LD_LIBRARY_PATH), E(LD_PRELOAD), E(PYTHONPATH) and E(PYTHONHOME) replace what the C(set_env.sh)
        scripts set (values are taken literally, C($VAR) is not expanded); they are allowed, with a warning.
      - Values must be strings (integers are converted); booleans, floats, null, lists and dicts are refused,
        so that V(yes) or V(1.10) never become something else silently. Quote them in YAML.
      - An E(MINDIE_LOG_ROTATE) MindIE's logger refuses (C(-fs) outside 1-500 MB, C(-r) outside 1-64 files, another
        option) is refused before anything is stopped, since MindIE would abort at start (SIGABRT). The
        ascend.mindie.service role sets it for every instance (C(mindie_service_log_rotate_size_mb),
        C(mindie_service_log_rotate_files)).
    type: dict
    default: {}
  master_addr:
    description:
      - Value of E(MASTER_ADDR) for the daemon.
    type: str
    default: localhost
  master_port:
    description:
      - Value of E(MASTER_PORT) for the daemon. Two instances on one node need different ports.
      - Must be in [1024, 65535] and differ from the service ports of the config.
    type: int
    default: 7896
  monitor:
    description:
      - Set E(MIES_SERVICE_MONITOR_MODE=1) so that C(GET /metrics) answers (it returns 500 otherwise).
    type: bool
    default: false
  ready_timeout:
    description:
      - Seconds to wait for the daemon to become ready after it was started (or while it is still loading).
      - Between 1 and 86400 (a day).
    type: int
    default: 600
  stop_timeout:
    description:
      - Seconds to wait after SIGTERM before SIGKILL (for the daemon, then for what is left of its process group),
        and then for the ports to be released.
      - Before a start, the ports are waited for O(stop_timeout) + 60 seconds (a port stays in C(TIME_WAIT) for 60 s).
      - Between 1 and 86400 (a day).
    type: int
    default: 30
  docker_host:
    description:
      - URL of the Docker engine, for example V(unix:///var/run/docker.sock) or V(tcp://127.0.0.1:2375).
      - When not set, the environment (E(DOCKER_HOST), E(DOCKER_TLS_VERIFY), E(DOCKER_CERT_PATH)) or the local socket is used.
    type: str
  npu_devices:
    description:
      - Physical ids of the NPUs the instance uses (its C(/dev/davinciN)), for a supervised container.
      - After V(stopped), the module waits until the node's C(npu-smi info) shows no process on these NPUs (their HBM
        is free), at most O(stop_timeout) + 10 seconds. Not given, it waits only until no process of the daemon's
        process group is left in the container.
      - Each id once, integers from 0.
    type: list
    elements: int
  npu_smi:
    description:
      - Path or name of the node's C(npu-smi) binary, used with O(npu_devices).
      - A name is looked up in E(PATH), then in C(/usr/local/sbin) and C(/usr/local/bin).
    type: str
    default: npu-smi
notes:
  - The daemon counts as running when the pid in its pid file exists in the container and its command line is
    C(mindieservice_daemon). After the container was restarted the daemon is gone and V(started) starts it again.
  - A daemon started by an earlier version of this module does not lead its own process group; its workers are
    then found as its descendants while it runs, and as orphaned C(mindie_llm_back) processes after it died.
  - An IP of V(0.0.0.0) (V(::)) in the config is probed as V(127.0.0.1) (V(::1)), and RV(urls) name that address (IPv6 in
    brackets), as every URL of the collection does (the node plan's rule, M(ascend.mindie.mindie_plan)).
  - "With C(httpsEnabled) the readiness probe uses the TLS options (O(ca_path), O(client_cert), O(client_key),
    O(client_key_passphrase), O(validate_certs), O(server_name)): they are checked before anything is stopped or
    started, and a server certificate the probe does not accept fails the module at once. O(server_name) defaults
    to the address probed (C(managementIpAddress), V(127.0.0.1) for V(0.0.0.0))."
  - "When C(port), C(managementPort) and C(metricsPort) are equal, MindIE serves everything on that one port of
    C(ipAddress): RV(urls) then name that one address and port, the readiness probe goes there, and the port is
    checked once."
  - Every option and the config are checked before anything is stopped or started; a refusal leaves a running
    daemon running. With O(state=stopped) a config that cannot be read or is invalid only gives a warning (the
    ports are then not checked after the stop).
seealso:
  - module: ascend.mindie.mindie_precheck
'''

EXAMPLES = r'''
- name: Start MindIE Service in the mindie container and wait until it is ready
  ascend.mindie.mindie_service:
    container: mindie
    config_path: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
    monitor: true
    ready_timeout: 900
  register: mindie

- name: Show where it answers
  ansible.builtin.debug:
    msg: "{{ mindie.urls.business }}/v1/chat/completions (ready after {{ mindie.startup_seconds }} s)"

- name: A second instance on the same node needs its own MASTER_PORT
  ascend.mindie.mindie_service:
    container: mindie-b
    master_port: 20001
    env:
      MINDIE_LOG_TO_STDOUT: "1"

- name: Stop the daemon (the container keeps running)
  ascend.mindie.mindie_service:
    container: mindie
    state: stopped

- name: Restart it after a configuration change
  ascend.mindie.mindie_service:
    container: mindie
    state: restarted
'''

RETURN = r'''
pid:
  description: Pid of the daemon inside the container; V(null) when it is not running.
  returned: always
  type: int
  sample: 4123
ready:
  description: Whether the readiness endpoint (C(/v2/health/ready)) answered 200.
  returned: always
  type: bool
  sample: true
live:
  description:
    - Whether the daemon answered alive - V(true) when it answered ready, or when C(/v2/health/live) answered 200
      while it was not ready.
  returned: always
  type: bool
  sample: true
busy:
  description:
    - V(true) when the daemon answered 503 on C(/v2/health/ready) while C(/v2/health/live) answered 200. It runs
      and has loaded, but is at its C(HealthCheckConfig.npuUsageThreshold). RV(ready) is then V(false). Not a
      failure, whether the daemon was already running or was just started.
  returned: always
  type: bool
  sample: false
leftovers:
  description:
    - Processes a daemon that was gone had left running (its process group, orphaned C(mindie_llm_back) workers),
      which the module stopped (or, in check mode, would stop) before anything else; V(pid N comm (cmdline)) each.
  returned: when there were any
  type: list
  elements: str
  sample: ["pid 512 mindie_llm_back (mindie_llm_back --device 0)"]
port_wait_seconds:
  description: Seconds the module waited before the start until the ports could be bound (a second or more).
  returned: when it waited
  type: float
  sample: 41.5
startup_seconds:
  description:
    - Seconds from starting the daemon to its first 200 on the readiness endpoint, measured by the module.
    - V(null) when the module did not start the daemon.
  returned: always
  type: float
  sample: 41.7
urls:
  description: Base URLs of the daemon's endpoints, from the config.
  returned: when the config could be read
  type: dict
  contains:
    business:
      description: OpenAI, vLLM and TGI style inference (C(/v1/chat/completions), C(/generate), ...).
      type: str
      returned: when the config could be read
      sample: http://127.0.0.1:1025
    management:
      description: Health endpoints (C(/v2/health/ready), C(/health)).
      type: str
      returned: when the config could be read
      sample: http://127.0.0.2:1026
    metrics:
      description: Prometheus metrics (C(/metrics)).
      type: str
      returned: when the config could be read
      sample: http://127.0.0.2:1027
restarted:
  description: Whether a running daemon was stopped and started again.
  returned: always
  type: bool
  sample: false
exit_code:
  description: Exit code of the daemon when it died while the module waited for it.
  returned: on failure, when the daemon exited
  type: int
  sample: 1
hint:
  description: What probably went wrong, matched from the daemon's output.
  returned: on failure, when a known cause matched
  type: str
  sample: "HBM ran out: lower npuMemSize (KV cache GB per NPU) or maxPrefillTokens / maxInputTokenLen."
log_tail:
  description:
    - The daemon's last lines from its own log file (RV(log_file)), C(LogConfig.logPath) (C(logs/mindservice.log))
      and C(logs/console.log) of this start, error lines first.
  returned: on failure
  type: list
  elements: str
log_file:
  description: MindIE's own log file of the daemon that failed (C(mindie-service_<pid>_<time>.log)).
  returned: on failure, when the daemon wrote one
  type: str
  sample: /root/mindie/log/debug/mindie-service_4123_20260101100000.log
busy_ports:
  description: The ports that were not free (before a start) or still listened (after a stop).
  returned: on failure, when ports were the cause
  type: list
  elements: int
  sample: [1025]
container:
  description: State of the container.
  returned: when the container exists
  type: dict
  sample: {"running": true, "status": "running", "restart_count": 0, "started_at": "2026-01-01T10:00:00.0Z"}
supervised:
  description: Whether the container runs the instance supervisor (its environment has E(MINDIE_SUPERVISOR_STATE_DIR)).
  returned: always
  type: bool
  sample: true
supervisor:
  description:
    - The supervisor's state file (C(<state dir>/supervisor.json)) as last read; V({}) before the supervisor wrote one.
    - Keys C(status) (V(waiting), V(starting), V(running), V(backoff), V(crash-looping), V(stopping), V(stopped)),
      C(daemon_pid), C(pgid), C(generation) (one more per daemon start), C(config_sha256), C(started_at), C(live_at)
      (first C(/v2/health/live) 200), C(restarts), C(starts) (within C(restart_window)), C(last_exit)
      (C(code), C(signal), C(at), C(reason)), C(last_error_lines), C(message), C(desired), C(updated_at).
  returned: when supervised
  type: dict
  sample: {"status": "running", "daemon_pid": 42, "pgid": 42, "generation": 2, "restarts": 1, "live_at": 1767261600.5}
status:
  description:
    - V(serving) (ready), V(busy) (ready 503, live 200), V(starting), V(crash-looping), V(stopped) or V(down)
      (the daemon runs but does not answer).
  returned: always
  type: str
  sample: serving
restarts:
  description:
    - Times the supervisor restarted the daemon because it died or failed its live checks since the supervisor
      started (starts an operator asked for - V(restarted), a new config.json - do not count), plus the container's
      Docker C(RestartCount).
  returned: always
  type: int
  sample: 1
last_error_lines:
  description: The daemon's last error lines as the supervisor recorded them (its own MindIE log file, then the console).
  returned: on failure, when supervised
  type: list
  elements: str
npu_processes:
  description: The node's npu-smi process rows still on O(npu_devices) after a stop.
  returned: on failure, when npu-smi still showed them
  type: list
  elements: dict
'''

import json
import re
import time
from shlex import quote

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema as schema
from ansible_collections.ascend.mindie.plugins.module_utils.plan import probe_address, server_endpoints as plan_endpoints
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_daemon import (
    BACKEND_COMM,
    BOOT_SH,
    CONSOLE_LOG,
    DAEMON,
    DEFAULT_SERVICE_DIR,
    EXIT_FILE,
    LOGENV_FILE,
    PGID_FILE,
    PID_FILE,
    PROBE_SCRIPT,
    is_daemon_cmdline,
    parse_probe,
    probe_args,
)
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import (
    TCP_STATES,
    parse_proc_net_tcp,
    port_check_script,
    tcp_sockets,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_logs import (
    CONSOLE_START_MARKER,
    DAEMON_LOG_PREFIXES,
    LOG_ROTATE_ENV,
    daemon_log_dirs,
    log_rotate_problem,
)
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import NpuSmiParseError, parse_npu_smi_info
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import NpuSmiExecError, find_npu_smi, run_npu_smi
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor as supervisor
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import ERROR_LINE, parse_stat
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    MindieHTTP,
    TLSSetupError,
    tls_argument_spec,
)
from ansible_collections.ascend.mindie.plugins.module_utils.container_manager import ContainerManager, run_container_manager
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    ENV_NAME,
    SET_ENV_SCRIPTS,
    MindieDockerClient,
    MindieDockerError,
)

DEFAULT_CONFIG = DEFAULT_SERVICE_DIR + '/conf/config.json'
DEFAULT_SERVICE_LOG = 'logs/mindservice.log'
# A TCP port stays in TIME_WAIT this long after a connection closed (Linux TCP_TIMEWAIT_LEN).
TIME_WAIT_SECONDS = 60
# A port held by a listening process is not waited for longer than this.
HELD_PORT_GRACE = 5.0
KILL_WAIT = 10.0
PS_SCRIPT = (
    'for d in /proc/[0-9]*; do\n'
    '  read -r s < "$d/stat" || continue\n'
    '  c=$(tr \'\\000\\n\' \'  \' < "$d/cmdline")\n'
    '  printf \'S %s\\nC %s\\n\' "$s" "$c"\n'
    'done 2>/dev/null; true\n')
POLL_INTERVAL = 0.1
ALIVE_CHECK_INTERVAL = 0.5
# Seconds one readiness / liveness GET may take.
PROBE_TIMEOUT = 1.0
TAIL_LINES = 30
LOG_PREFIX = re.compile(r'^(\[[^\]]*\]\s*)+')

HINTS = (
    (('Check path', 'permission'),
     "A file has the wrong owner or mode: config.json must belong to the daemon's user and be 0640 or stricter, "
     "the model directory 0750 or stricter and owned by that user (the model's config.json 0640)."),
    (('occupied', 'Socket bind failed', 'Address already in use'),
     "A port is in use: the business, management or metrics port of config.json, or MASTER_PORT; stop what holds "
     "it (or a daemon that did not stop cleanly) or choose other ports / another master_port."),
    (('not visible', 'davinci', 'aclrtSetDevice'),
     "The NPUs are not visible in the container: pass /dev/davinciN for every id in npuDeviceIds (logical ids) and "
     "/dev/davinci_manager, /dev/devmm_svm, /dev/hisi_hdc, mount /usr/local/Ascend/driver, and check npu-smi info."),
    (('out of memory',),
     "HBM ran out: lower npuMemSize (KV cache GB per NPU) or maxPrefillTokens / maxInputTokenLen, so that the "
     "weights, the KV cache and the vision encoder fit on each NPU."),
    (('error while loading shared libraries',),
     "The Ascend environment is not set: the four set_env.sh scripts (ascend-toolkit, nnal/atb, atb-models, "
     "mindie) must exist in the image and be sourced before the daemon starts."),
)


# Set by the module itself from its options; env must not override them (use the options).
MODULE_ENV = {'MASTER_ADDR': 'master_addr', 'MASTER_PORT': 'master_port', 'MIES_CONFIG_JSON_PATH': 'config_path',
              'MIES_SERVICE_MONITOR_MODE': 'monitor'}
# Shell variables that change how the start script runs (or are read-only in bash).
SHELL_ENV = ('IFS', 'BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'CDPATH', 'GLOBIGNORE', 'PS4', 'BASH_XTRACEFD',
             'POSIXLY_CORRECT', 'BASHPID', 'PPID', 'UID', 'EUID', 'BASH_ARGV0', 'PWD', 'OLDPWD')
# Replace what the set_env.sh scripts set: allowed, with a warning.
REPLACING_ENV = ('PATH', 'LD_LIBRARY_PATH', 'LD_PRELOAD', 'PYTHONPATH', 'PYTHONHOME')
PORT_MIN = schema.PORT_MIN
# ready_timeout and stop_timeout: a wait longer than a day is a typo, not a plan.
MAX_TIMEOUT = 86400
PORT_MAX = schema.PORT_MAX


# ---------------------------------------------------------------------- pure helpers

def _has_control(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _path_problem(name, value, allow_root=False):
    if not isinstance(value, str) or not value.startswith('/'):
        return '%s must be an absolute path in the container, got %r.' % (name, value)
    if _has_control(value):
        return '%s must not contain control characters (newline, NUL, ...), got %r.' % (name, value)
    if '..' in value.split('/'):
        return '%s must not contain .. components, got %r.' % (name, value)
    if not allow_root and value.strip('/') == '':
        return '%s must not be /.' % name
    return None


def validate_params(params):
    """(problems, warnings) of the module options, before anything is touched."""
    problems, warnings = [], []
    env = params.get('env') or {}
    for name in sorted(env, key=str):
        value = env[name]
        if not isinstance(name, str) or not ENV_NAME.match(name):
            problems.append('env: %r is not a valid environment variable name (letters, digits and _, not starting '
                            'with a digit).' % (name,))
            continue
        if name in MODULE_ENV:
            problems.append('env: %s is set by the module; use the %s option instead.' % (name, MODULE_ENV[name]))
            continue
        if name in SHELL_ENV:
            problems.append('env: %s changes how the start script itself runs (a shell variable); it cannot be set '
                            'for the daemon.' % name)
            continue
        if isinstance(value, bool) or value is None or not isinstance(value, (str, int)):
            problems.append('env: the value of %s must be a string, got %r (%s); quote it in YAML (for example "1" '
                            'or "true").' % (name, value, type(value).__name__))
            continue
        if '\x00' in str(value):
            problems.append('env: the value of %s contains a NUL byte, which no environment variable can hold.' % name)
            continue
        if name == LOG_ROTATE_ENV and log_rotate_problem(str(value)):
            problems.append('env: %s=%r would abort the daemon at start (MindIE\'s logger refuses it): %s.'
                            % (name, str(value), log_rotate_problem(str(value))))
            continue
        if name in REPLACING_ENV:
            warnings.append('env: %s replaces the value the set_env.sh scripts set (taken literally; $%s is not '
                            'expanded).' % (name, name))
    port = params.get('master_port')
    if not isinstance(port, int) or isinstance(port, bool) or not PORT_MIN <= port <= PORT_MAX:
        problems.append('master_port must be in [%d, %d], got %r.' % (PORT_MIN, PORT_MAX, port))
    addr = params.get('master_addr')
    if not isinstance(addr, str) or not addr.strip() or _has_control(addr) or ' ' in addr:
        problems.append('master_addr must be a host name or address without spaces or control characters, got %r.'
                        % (addr,))
    for key in ('ready_timeout', 'stop_timeout'):
        if not isinstance(params.get(key), int) or not 1 <= params.get(key) <= MAX_TIMEOUT:
            problems.append('%s must be between 1 and %d seconds (a day), got %r.' % (key, MAX_TIMEOUT, params.get(key)))
    devices = params.get('npu_devices') or []
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in devices) or len(set(devices)) != len(devices):
        problems.append('npu_devices must list physical NPU ids (integers >= 0), each once, got %r.' % (devices,))
    for key, allow_root in (('service_dir', False), ('config_path', False)):
        problem = _path_problem(key, params.get(key), allow_root)
        if problem:
            problems.append(problem)
    return problems, warnings


def validate_config(config):
    """Problems with config.json (a list of messages naming the key), by the same rules as mindie_config.

    The rules live once, in module_utils/mindie_schema; this module only adds what it reads itself.
    """
    if not isinstance(config, dict):
        return ['the top level must be a JSON object, got %s.' % type(config).__name__]
    if not isinstance(config.get('ServerConfig'), dict):
        return ['ServerConfig must be a JSON object, got %s.' % json.dumps(config.get('ServerConfig'))]
    problems = list(schema.validate_config(config))
    log_cfg = config.get('LogConfig')
    if isinstance(log_cfg, dict) and 'logPath' in log_cfg:
        value = log_cfg['logPath']
        if not isinstance(value, str) or _has_control(value):
            problems.append('LogConfig.logPath must be a path without control characters, got %s.' % json.dumps(value))
    return problems


def endpoints_from_config(config):
    """Addresses, ports and URLs the daemon serves, from a parsed config.json, and its log file.

    Ports, addresses, scheme and URLs are the node plan's (module_utils/plan.py server_endpoints: MindIE's defaults,
    a missing managementPort being port, and MindIE's dispatch of the listeners), one rule for the whole collection.
    """
    served = plan_endpoints(config)
    ports, addresses = served['ports'], served['addresses']
    log_cfg = config.get('LogConfig') if isinstance(config, dict) else None
    log_path = DEFAULT_SERVICE_LOG
    if isinstance(log_cfg, dict) and log_cfg.get('logPath'):
        log_path = str(log_cfg['logPath'])
    return {
        'ip': addresses['business'], 'mgmt_ip': addresses['management'], 'port': ports['business'],
        'mgmt_port': ports['management'], 'metrics_port': ports['metrics'], 'https': served['scheme'] == 'https',
        'log_path': log_path, 'single_port': ports['business'] == ports['management'] == ports['metrics'],
        'ports': sorted(set(ports.values())),
        'probe_ip': probe_address(addresses['management']),
        'urls': served['urls'],
    }


def listening_ports(proc_net_text, ports):
    """The subset of ``ports`` that /proc/net/tcp{,6} text shows in LISTEN state."""
    wanted = set(int(p) for p in ports)
    return sorted(port for port in parse_proc_net_tcp(proc_net_text) if port in wanted)


def match_hint(text):
    """Hints for the known causes found in the daemon's output, joined; None when none matched."""
    lowered = text.lower()
    hints = [hint for needles, hint in HINTS if any(n.lower() in lowered for n in needles)]
    return ' '.join(hints) if hints else None


def strip_prefix(line):
    return LOG_PREFIX.sub('', line).strip()


def _hint_line(line):
    lowered = line.lower()
    return any(n.lower() in lowered for needles, dummy in HINTS for n in needles)


def order_log_lines(service_lines, console_lines, limit=TAIL_LINES):
    """Last lines of both logs, most relevant first, at most ``limit``; and the error summaries.

    Error lines that name a known cause come first, the latest first (the daemon's own summary is
    usually its last word), then the other error lines, then the rest of the tail in order. The
    summaries strip the log prefix and fold lines that differ only in numbers (one per NPU).
    """
    tail = [l for l in service_lines[-limit:] if l.strip()] + [l for l in console_lines[-limit:] if l.strip()]
    errors, seen = [], set()
    for line in tail:
        key = strip_prefix(line)
        if ERROR_LINE.search(line) and key not in seen:
            seen.add(key)
            errors.append(line)
    ranked = [l for l in reversed(errors) if _hint_line(l)] + [l for l in errors if not _hint_line(l)]
    rest = [l for l in tail if l not in errors]
    summaries, folded = [], {}
    for line in ranked:
        text = strip_prefix(line)
        key = re.sub(r'\d+', 'N', text)
        if key in folded:
            folded[key][1] += 1
            continue
        folded[key] = [len(summaries), 1]
        summaries.append(text)
    for key, (index, count) in folded.items():
        if count > 1:
            summaries[index] += ' (and %d similar lines)' % (count - 1)
    return (ranked + rest[-max(limit - len(ranked), 0):])[:limit], summaries


def sockets_on_ports(proc_net_text, ports):
    """The port check's {port: entry} from /proc/net/tcp{,6} text alone: any socket on a port holds it."""
    wanted = set(int(p) for p in ports)
    busy = {}
    for sock in tcp_sockets(proc_net_text):
        if sock['port'] in wanted:
            busy.setdefault(str(sock['port']), {'errno': None, 'error': 'a socket holds it', 'sockets': []})['sockets'].append(
                {'local': sock['local'], 'remote': sock['remote'], 'state': sock['state'], 'inode': sock['inode'], 'pids': []})
    return busy


def parse_processes(text):
    """{pid: {pid, comm, state, ppid, pgid, sid, start, cmdline}} from the output of PS_SCRIPT."""
    procs, current = {}, None
    for line in (text or '').splitlines():
        if line.startswith('S '):
            current = parse_stat(line[2:])
            if current is None:
                continue
            current['cmdline'] = ''
            procs[current['pid']] = current
        elif line.startswith('C ') and current is not None:
            current['cmdline'] = line[2:].strip()
            current = None
    return procs


def _live(info):
    return info['state'] not in ('Z', 'X')


def group_members(procs, pgid=None, root=None):
    """Pids of a daemon's processes that still run: its process group ``pgid`` and the descendants of ``root``.

    Never pid 1; zombies (which hold no memory) do not count.
    """
    members = set()
    if pgid and pgid > 1:
        members.update(pid for pid, info in procs.items() if info['pgid'] == pgid)
    if root in procs:
        children = {}
        for pid, info in procs.items():
            children.setdefault(info['ppid'], []).append(pid)
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid in members and pid != root:
                continue
            members.add(pid)
            stack.extend(children.get(pid, ()))
    return sorted(pid for pid in members if pid != 1 and pid in procs and _live(procs[pid]))


def orphan_backends(procs):
    """Pids of MindIE backend workers (mindie_llm_back) whose daemon is gone: no live daemon among their ancestors."""
    orphans = []
    for pid, info in procs.items():
        if info['comm'] != BACKEND_COMM or not _live(info) or pid == 1:
            continue
        parent, seen = info['ppid'], set()
        while parent in procs and parent not in seen and parent > 1:
            seen.add(parent)
            if is_daemon_cmdline(procs[parent]['cmdline']) and _live(procs[parent]):
                break
            parent = procs[parent]['ppid']
        else:
            orphans.append(pid)
    return sorted(orphans)


def describe_processes(procs, pids):
    """'pid 12 mindie_llm_back (cmdline)' for each pid, for messages and RV(leftovers)."""
    out = []
    for pid in pids:
        info = procs.get(pid) or {'comm': '?', 'cmdline': ''}
        text = 'pid %d %s' % (pid, info['comm'])
        if info['cmdline']:
            text += ' (%s)' % info['cmdline'][:160]
        out.append(text)
    return out


def _hex_addr(text):
    """'0100007F:0410' -> '127.0.0.1:1040' (IPv4); IPv6 as '[...]:port' in /proc's hex."""
    addr, dummy, port = text.rpartition(':')
    try:
        port = int(port, 16)
        if len(addr) == 8:
            host = '.'.join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
        else:
            host = '[%s]' % addr.lower()
    except ValueError:
        return text
    return '%s:%d' % (host, port)


def port_holders(entry):
    """Why a port cannot be bound, from the port check's entry: a list of 'STATE local -> remote (pid N: cmd)'."""
    out = []
    for sock in entry.get('sockets') or []:
        state = TCP_STATES.get(str(sock.get('state')).upper(), str(sock.get('state')))
        text = '%s %s' % (state, _hex_addr(str(sock.get('local'))))
        if state != 'LISTEN':
            text += ' -> %s' % _hex_addr(str(sock.get('remote')))
        if sock.get('pids'):
            text += ' (pid %s: %s)' % (', '.join(str(p) for p in sock['pids']), sock.get('cmd') or '?')
        elif state == 'TIME_WAIT':
            text += ' (no process; the kernel frees it %d s after the connection closed)' % TIME_WAIT_SECONDS
        elif str(sock.get('inode')) != '0':
            text += ' (a process outside the container, or one that is not visible in it)'
        out.append(text)
    if not out:
        out.append('bind failed: %s' % (entry.get('error') or entry.get('errno')))
    return out


def port_held_by_listener(entry):
    """True when a listening socket (which will not go away by itself) holds the port."""
    return any(TCP_STATES.get(str(s.get('state')).upper()) == 'LISTEN' for s in entry.get('sockets') or [])


def exit_code_hint(exit_code, log_file=None):
    """A hint for an exit status that says how the daemon ended (137 = SIGKILL), or None."""
    if exit_code == 137:
        return ('The daemon ended with SIGKILL (exit code 137): MindIE ends a failed initialisation with '
                'killpg(SIGKILL) after writing the reason to its log file (%s); the kernel\'s OOM killer (dmesg) or a '
                'kill -9 end it the same way.' % (log_file or '~/mindie/log/debug/mindie-service_<pid>_<time>.log'))
    if exit_code is not None and 128 < exit_code < 160:
        return 'The daemon was ended by signal %d (exit code %d).' % (exit_code - 128, exit_code)
    return None


def failure_report(reason, exit_code, service_lines, console_lines, own_log, files):
    """(msg, extra) of a daemon that failed: its error lines (most relevant first), its exit code and a hint."""
    tail, errors = order_log_lines(service_lines, console_lines)
    hints = [h for h in (match_hint('\n'.join(service_lines + console_lines)), exit_code_hint(exit_code, own_log)) if h]
    hint = ' '.join(hints) if hints else None
    msg = reason
    if exit_code is not None:
        msg += ' (exit code %d)' % exit_code
    if errors:
        msg += ': ' + ' | '.join(errors[:10])
    else:
        msg += '. See %s.' % ', '.join(([own_log] if own_log else []) + list(files))
    if hint:
        msg += ' Hint: ' + hint
    extra = {'log_tail': tail}
    if own_log:
        extra['log_file'] = own_log
    if exit_code is not None:
        extra['exit_code'] = exit_code
    if hint:
        extra['hint'] = hint
    return msg, extra


def start_script(service_dir, exports):
    """The bash script that starts the daemon and records its pid, process group, log environment and exit code.

    MindIE's main() calls setpgrp() itself (llm_daemon.cpp): the daemon leads its own process group, whose id is
    its pid, so its backend workers can be found and stopped with it and its own killpg() stays inside it. That
    call fails (EPERM) for a session leader, so the daemon must not be started with setsid, nor exec'd directly by
    `docker exec`: it runs in a subshell, which is neither a session nor a process group leader.
    """
    lines = ['mkdir -p %s/logs || exit 1' % quote(service_dir),
             'exec >>%s 2>&1' % quote(service_dir + '/' + CONSOLE_LOG),
             'echo "%s%s at $(date \'+%%Y-%%m-%%d %%H:%%M:%%S\')"' % (CONSOLE_START_MARKER, DAEMON)]
    lines += ['source %s' % quote(path) for path in SET_ENV_SCRIPTS]
    lines += ['export %s=%s' % (name, quote(value)) for name, value in exports]
    lines += ['cd %s || exit 1' % quote(service_dir),
              'rm -f %s %s' % (EXIT_FILE, PGID_FILE),
              "printf '%%s\\0%%s\\0' \"${HOME-}\" \"${MINDIE_LOG_PATH-}\" > %s" % LOGENV_FILE,
              '( echo $BASHPID > %s; echo "$BASHPID $(%s)" > %s; exec ./bin/%s )'
              % (PID_FILE, BOOT_SH, PGID_FILE, DAEMON),
              'echo $? > %s' % EXIT_FILE]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------- manager

class MindieServiceManager(ContainerManager):
    """Drives the daemon in one container through a MindieDockerClient."""

    def __init__(self, module, client):
        super(MindieServiceManager, self).__init__(module, client)
        self.service_dir = self.p['service_dir'].rstrip('/') or '/'
        self.result = {'changed': False, 'pid': None, 'ready': False, 'live': False, 'busy': False,
                       'startup_seconds': None, 'restarted': False, 'supervised': False}
        self.info = None
        self.sup_dir = None
        self.endpoints = None
        self.log_offsets = None
        self.ssl_context = None
        self.http = MindieHTTP.from_params(self.p)

    def path(self, rel):
        return self.service_dir + '/' + rel

    # -------- reading the container
    def load_config(self, required=True):
        text = self.client.read_file(self.p['config_path'])
        if text is None:
            if required:
                self.fail('The MindIE config %s does not exist in container %s.'
                          % (self.p['config_path'], self.p['container']))
            return None
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return self._config_refused('is not valid JSON: %s' % (exc if isinstance(exc, ValueError) else
                                                                   'nested too deeply'), required)
        problems = validate_config(config)
        if problems:
            return self._config_refused('is not usable: %s' % ' '.join(problems), required, problems=problems)
        try:
            self.endpoints = endpoints_from_config(config)
        except (TypeError, ValueError) as exc:
            self.fail('Cannot read the ports of %s: %s' % (self.p['config_path'], exc))
        self.result['urls'] = self.endpoints['urls']
        if self.endpoints['https'] and self.ssl_context is None:
            # Mutual TLS as MindIE serves it; checked before anything is stopped or started.
            try:
                self.http.check()
                self.ssl_context = self.http.context()
            except TLSSetupError as exc:
                self.fail('httpsEnabled is true in %s, but the readiness probe cannot set up TLS: %s'
                          % (self.p['config_path'], exc))
        return self.endpoints

    def _config_refused(self, why, required, **extra):
        """Fail (a start needs the config) or, when stopping, warn and go on without it."""
        msg = 'The MindIE config %s in container %s %s' % (self.p['config_path'], self.p['container'], why)
        if required:
            self.fail(msg + ' Nothing was stopped or started.', **extra)
        self.module.warn(msg)
        return None

    def require_daemon_binary(self):
        """Fail unless bin/mindieservice_daemon is executable: a start could not even be attempted."""
        binary = self.path('bin/' + DAEMON)
        rc, dummy, dummy2 = self.client.exec_shell('test -f %s && test -x %s' % (quote(binary), quote(binary)))
        if rc != 0:
            self.fail('%s is not an executable file in container %s: check service_dir (%s). Nothing was stopped or '
                      'started.' % (binary, self.p['container'], self.service_dir))

    def probe(self):
        rc, out, err = self.client.exec_shell(PROBE_SCRIPT, args=probe_args(self.service_dir))
        if rc != 0:
            raise MindieDockerError('Cannot inspect the daemon in container %s: %s' % (self.p['container'], err.strip()))
        info = parse_probe(out)
        self.info = info
        return info

    def running_pid(self):
        info = self.probe()
        if info['alive'] and info['is_daemon']:
            return info['pid']
        return None

    def pid_alive(self, pid):
        rc, out, dummy = self.client.exec_shell(
            'cat /proc/%d/stat 2>/dev/null || true' % int(pid))
        if rc != 0 or not out.strip():
            return False
        state = out.rsplit(')', 1)[-1].split()
        return not (state and state[0] in ('Z', 'X'))

    # -------- processes
    def processes(self):
        rc, out, err = self.client.exec_shell(PS_SCRIPT)
        if rc != 0:
            raise MindieDockerError('Cannot list the processes in container %s: %s' % (self.p['container'], err.strip()))
        return parse_processes(out)

    def recorded_group(self, info=None):
        """The process group the start script recorded, when it is from this run of the container; else None."""
        info = info or self.info or {}
        if info.get('pgid_rec') and info.get('boot_rec') is not None and info.get('boot_rec') == info.get('boot'):
            return info['pgid_rec']
        return None

    def daemon_group(self, pid, procs):
        """The daemon's process group when it leads it (started by this module); None otherwise."""
        info = procs.get(pid)
        if info and info['pgid'] == pid:
            return pid
        return None

    def _signal(self, sig, pids, pgid=None):
        targets = (['-%d' % pgid] if pgid else []) + [str(int(p)) for p in pids]
        if targets:
            self.client.exec_shell('kill -%s %s 2>/dev/null; true' % (sig, ' '.join(targets)))

    def _remaining(self, pgid, known):
        """(procs, pids) of the daemon's processes still alive: the group, and the known (pid, start) pairs."""
        procs = self.processes()
        pids = set(group_members(procs, pgid))
        for pid, start in known:
            if pid in procs and procs[pid]['start'] == start and _live(procs[pid]) and pid != 1:
                pids.add(pid)
        return procs, sorted(pids)

    def reap(self, pgid, known, what):
        """SIGTERM what is left of a daemon's processes, wait stop_timeout, SIGKILL, and confirm they are gone.

        Returns the descriptions of the processes it found. Fails when one survives SIGKILL, or when npu-smi in
        the container still shows their HBM.
        """
        procs, pids = self._remaining(pgid, known)
        if not pids:
            return []
        found = describe_processes(procs, pids)
        known = set(known) | set((pid, procs[pid]['start']) for pid in pids)
        self._signal('TERM', pids, pgid)
        deadline = time.time() + self.p['stop_timeout']
        while pids and time.time() < deadline:
            time.sleep(POLL_INTERVAL)
            procs, pids = self._remaining(pgid, known)
        if pids:
            self._signal('KILL', pids, pgid)
            kill_deadline = time.time() + KILL_WAIT
            while pids and time.time() < kill_deadline:
                time.sleep(POLL_INTERVAL)
                procs, pids = self._remaining(pgid, known)
            if pids:
                survivors = '; '.join(describe_processes(procs, pids))
                self.fail('%s survived SIGKILL in container %s: %s. They hold NPU memory (HBM); a new daemon would '
                          'run out of it. Restart the container.' % (what, self.p['container'], survivors),
                          leftovers=found)
            self.module.warn('%s did not stop within %d s of SIGTERM and were killed: %s'
                             % (what, self.p['stop_timeout'], '; '.join(found)))
        self.confirm_hbm_free(set(pid for pid, dummy in known), what)
        return found

    def confirm_hbm_free(self, pids, what):
        """When npu-smi is in the container, wait (bounded) until its process table no longer shows ``pids``."""
        deadline = time.time() + KILL_WAIT
        while True:
            rc, out, dummy = self.client.exec_shell('command -v npu-smi >/dev/null 2>&1 || exit 3; npu-smi info')
            if rc != 0:
                return          # no npu-smi in the container (or it failed): /proc said the processes are gone
            try:
                table = parse_npu_smi_info(out)
            except NpuSmiParseError:
                return
            held = [p for p in table['processes'] if p.get('pid') in pids or p.get('container_pid') in pids]
            if not held:
                return
            if time.time() > deadline:
                self.fail('%s are gone, but npu-smi in container %s still shows their NPU memory: %s. Check npu-smi '
                          'info on the node; restart the container if it stays.'
                          % (what, self.p['container'], '; '.join('NPU %s pid %s %s MB' % (
                              p.get('npu_id'), p.get('pid'), p.get('memory_mb')) for p in held)))
            time.sleep(0.5)

    def find_leftovers(self):
        """(pgid, procs, pids) of processes of a daemon that is gone (killed) but whose workers still run."""
        procs = self.processes()
        pgid = self.recorded_group()
        pids = set(group_members(procs, pgid))
        pids.update(orphan_backends(procs))
        return pgid, procs, sorted(pids)

    def stop_leftovers(self):
        """Stop what a dead daemon left running (its process group, orphaned backend workers); report it."""
        pgid, procs, pids = self.find_leftovers()
        if not pids:
            return []
        self.result['changed'] = True
        found = describe_processes(procs, pids)
        self.result['leftovers'] = found
        if self.module.check_mode:
            return found
        self.reap(pgid, [(pid, procs[pid]['start']) for pid in pids],
                  'Processes left by a MindIE daemon that is gone')
        self.module.warn('The MindIE daemon in container %s was gone but left processes running (they hold NPU '
                         'memory); they were stopped: %s' % (self.p['container'], '; '.join(found)))
        return found

    # -------- HTTP
    def ready_status(self):
        """The readiness endpoint's HTTP status, or None when nothing answered."""
        ep = self.endpoints
        for path in self._ready_paths:
            answer = self._http_get(ep['probe_ip'], ep['mgmt_port'], path, ep['https'])
            if answer['cert_refused']:
                # MindIE answers, but with a certificate we do not accept: waiting will not change that.
                self.fail('The readiness probe of %s refused the server: %s' % (ep['urls']['management'], answer['error']))
            status = answer['status']
            if status == 404 and path != '/health':
                self._ready_paths = ['/health']
                continue
            self.last_ready_path = path
            return status
        return None

    def check_ready_once(self):
        """True on a 200 from the readiness endpoint, False otherwise (never raises)."""
        return self.ready_status() == 200

    def live_once(self):
        """True when /v2/health/live answers 200."""
        ep = self.endpoints
        return self._http_get(ep['probe_ip'], ep['mgmt_port'], '/v2/health/live', ep['https'])['status'] == 200

    _ready_paths = ['/v2/health/ready', '/health']
    last_ready_path = '/v2/health/ready'

    def _http_get(self, host, port, path, https):
        """One GET of the management port through mindie_http: {'status' (None: no answer), 'cert_refused', ...}.

        Closed with a reset once the daemon has closed its side (``reset``): a probe leaves no TIME_WAIT on the
        management port, which MindIE would refuse at its next start.
        """
        return self.http.get('https' if https else 'http', host, port, path, PROBE_TIMEOUT, reset=True)

    def observe_health(self):
        """Probe once; set ready/live/busy. True when the wait is over (ready, or busy: loaded and serving)."""
        status = self.ready_status()
        if status == 200:
            self.result.update(ready=True, live=True, busy=False)
            return True
        if status is None or self.last_ready_path == '/health':
            return False
        # It answers HTTP, so it has loaded (MindIE opens its ports only then): live 200 + ready 503 is busy
        # (HealthCheckConfig.npuUsageThreshold), not down, also for a daemon the module just started: MindIE's
        # health checker reports busy only after its first interval, once a probe request found no free batch slot
        # (during that first interval live and ready both answer 500, which is waited for).
        live = self.live_once()
        busy = live and status == 503
        self.result.update(ready=False, live=live, busy=busy)
        return busy

    # -------- logs
    def _log_files(self):
        log_path = self.endpoints['log_path'] if self.endpoints else DEFAULT_SERVICE_LOG
        service_log = log_path if log_path.startswith('/') else self.path(log_path)
        return service_log, self.path(CONSOLE_LOG)

    def daemon_log_file(self, pid):
        """The newest mindie-service_<pid>_*.log of this daemon (MindIE's own log file), or None."""
        if pid is None:
            return None
        raw = self.client.read_file(self.path(LOGENV_FILE)) or ''
        parts = raw.split('\x00')
        home = parts[0] if parts and parts[0] else None
        log_path = parts[1] if len(parts) > 1 else ''
        globs = ' '.join('%s/%s_%d_*.log' % (quote(d), prefix, int(pid)) for d in daemon_log_dirs(home, log_path)
                         for prefix in DAEMON_LOG_PREFIXES)
        rc, out, dummy = self.client.exec_shell('ls -t -- %s 2>/dev/null | head -n 1; true' % globs)
        name = out.strip()
        return name if rc == 0 and name.startswith('/') else None

    def remember_log_offsets(self):
        files = self._log_files()
        rc, out, dummy = self.client.exec_shell(
            'for f in %s %s; do if [ -f "$f" ]; then wc -c < "$f"; else echo 0; fi; done'
            % (quote(files[0]), quote(files[1])))
        sizes = [int(x) for x in out.split() if x.isdigit()] if rc == 0 else []
        self.log_offsets = sizes if len(sizes) == 2 else None

    def read_log_tail(self, path, offset=None):
        if offset is not None:
            cmd = 'tail -c +%d %s 2>/dev/null | tail -n %d' % (offset + 1, quote(path), TAIL_LINES)
        else:
            cmd = 'tail -n %d %s 2>/dev/null' % (TAIL_LINES, quote(path))
        dummy, out, dummy2 = self.client.exec_shell(cmd + '; true')
        return out.splitlines()

    def fail_with_logs(self, reason, exit_code=None, pid=None):
        files = self._log_files()
        offsets = self.log_offsets or [None, None]
        own_log = self.daemon_log_file(pid)
        own_lines = self.read_log_tail(own_log) if own_log else []
        service_lines = list(own_lines)
        for line in self.read_log_tail(files[0], offsets[0]):
            if line not in own_lines:
                service_lines.append(line)
        console_lines = self.read_log_tail(files[1], offsets[1])
        msg, extra = failure_report(reason, exit_code, service_lines, console_lines, own_log, files)
        self.fail(msg, **extra)

    # -------- actions
    def exports(self):
        env = [('MASTER_ADDR', self.p['master_addr']), ('MASTER_PORT', str(self.p['master_port']))]
        if self.p['config_path'] != DEFAULT_CONFIG:
            env.append(('MIES_CONFIG_JSON_PATH', self.p['config_path']))
        if self.p['monitor']:
            env.append(('MIES_SERVICE_MONITOR_MODE', '1'))
        names = dict(env)
        for name, value in (self.p['env'] or {}).items():
            if not ENV_NAME.match(str(name)):
                self.fail('env: %r is not a valid environment variable name.' % (name,))
            if isinstance(value, bool):
                value = '1' if value else '0'
            names[str(name)] = '' if value is None else str(value)
        order = [n for n, dummy in env] + [n for n in names if n not in dict(env)]
        return [(n, names[n]) for n in order]

    def port_roles(self):
        """{port: what it is} for the ports MindIE checks before it listens, and MASTER_PORT."""
        ep = self.endpoints
        roles = {}
        for port, role in ((ep['port'], 'business'), (ep['mgmt_port'], 'management'), (ep['metrics_port'], 'metrics'),
                           (self.p['master_port'], 'MASTER_PORT')):
            roles.setdefault(int(port), []).append(role)
        return dict((port, '/'.join(names)) for port, names in roles.items())

    def check_ports(self, who=False):
        """{port (str): entry} of the ports that cannot be bound on 0.0.0.0 without SO_REUSEADDR in the container."""
        ports = sorted(self.port_roles())
        rc, out, err = self.client.exec_shell(
            'command -v python3 >/dev/null 2>&1 || exit 3; code=$1; shift; exec python3 -c "$code" "$@"',
            args=[port_check_script(), 'who' if who else 'bind'] + ports)
        if rc == 3:
            # No python3 in the image: any socket on the port in /proc/net/tcp{,6} counts as holding it.
            dummy, text, dummy2 = self.client.exec_shell('cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true')
            return sockets_on_ports(text, ports)
        try:
            busy = json.loads(out.strip().splitlines()[-1]) if rc == 0 and out.strip() else None
        except ValueError:
            busy = None
        if not isinstance(busy, dict):
            raise MindieDockerError('Cannot check the ports %s in container %s: %s'
                                    % (', '.join(str(p) for p in ports), self.p['container'], (err or out).strip()[-300:]))
        return busy

    def wait_ports_free(self):
        """Wait until MindIE's ports and MASTER_PORT can be bound as MindIE binds them (bounded); fail naming the holder.

        A port in TIME_WAIT after traffic frees within TIME_WAIT_SECONDS; the wait lasts stop_timeout + that. A port
        that a listening process holds is not waited for longer than HELD_PORT_GRACE seconds.
        """
        limit = self.p['stop_timeout'] + TIME_WAIT_SECONDS
        started = time.time()
        held_since = None
        busy = self.check_ports()
        while busy:
            now = time.time()
            detail = self.check_ports(who=True)
            if not detail:
                break
            held = any(port_held_by_listener(entry) for entry in detail.values())
            held_since = (held_since or now) if held else None
            if now - started >= limit or (held_since is not None and now - held_since >= HELD_PORT_GRACE):
                roles = self.port_roles()
                problems = ['port %s (%s): %s' % (port, roles.get(int(port), '?'), '; '.join(port_holders(entry)))
                            for port, entry in sorted(detail.items(), key=lambda kv: int(kv[0]))]
                self.fail('Cannot start the MindIE daemon in container %s: %s %s not free after %d s (MindIE binds '
                          '0.0.0.0:<port> without SO_REUSEADDR and refuses to start - only after loading the model - '
                          'when any socket holds the port): %s. Nothing was started.'
                          % (self.p['container'], 'port' if len(detail) == 1 else 'ports',
                             'is' if len(detail) == 1 else 'are', int(now - started), ' | '.join(problems)),
                          busy_ports=sorted(int(p) for p in detail), hint=HINTS[1][1])
            time.sleep(0.5)
            busy = self.check_ports()
        waited = time.time() - started
        if waited >= 1:
            self.result['port_wait_seconds'] = round(waited, 1)

    def start(self):
        """Start the daemon detached and wait until ready; return the pid."""
        self.wait_ports_free()
        self.remember_log_offsets()
        rc, dummy, err = self.client.exec_shell('rm -f %s %s %s' % (quote(self.path(PID_FILE)), quote(self.path(EXIT_FILE)),
                                                                    quote(self.path(PGID_FILE))))
        if rc != 0:
            self.fail('Cannot prepare %s in container %s: %s' % (self.path('logs'), self.p['container'], err.strip()))
        script = start_script(self.service_dir, self.exports())
        started = time.time()
        self.client.exec_detached(['bash', '-c', script])
        pid = None
        deadline = started + min(max(self.p['ready_timeout'], 10), 60)
        while pid is None:
            info = self.probe()
            if info['pid'] is not None:
                pid = info['pid']
                break
            if info['exit_code'] is not None or time.time() > deadline:
                self.fail_with_logs('The MindIE daemon did not start in container %s' % self.p['container'],
                                    info['exit_code'])
            time.sleep(0.05)
        self.result['pid'] = pid
        self.wait_ready(pid, started, started_by_us=True)
        return pid

    def wait_ready(self, pid, started, started_by_us):
        """Wait until ready. Connection refused is 'still loading' (MindIE opens its ports only after the load)."""
        deadline = time.time() + self.p['ready_timeout']
        next_alive_check = 0.0
        while True:
            if self.observe_health():
                if started_by_us:
                    self.result['startup_seconds'] = round(time.time() - started, 3)
                return
            now = time.time()
            if now >= next_alive_check:
                next_alive_check = now + ALIVE_CHECK_INTERVAL
                if not self.pid_alive(pid):
                    exit_code = None
                    for dummy in range(20):     # the wrapper writes the exit code right after the daemon ends
                        exit_code = self.probe()['exit_code']
                        if exit_code is not None:
                            break
                        time.sleep(0.05)
                    self.fail_with_logs('The MindIE daemon (pid %d) in container %s exited before it was ready'
                                        % (pid, self.p['container']), exit_code, pid=pid)
            if now >= deadline:
                if self.result.get('live'):
                    why = 'answered live but not ready within %d s (%s%s)' % (
                        self.p['ready_timeout'], self.endpoints['urls']['management'], self.last_ready_path)
                else:
                    why = 'was not ready within %d s (%s/v2/health/ready; its ports open only after the model is loaded)' % (
                        self.p['ready_timeout'], self.endpoints['urls']['management'])
                self.fail_with_logs('The MindIE daemon (pid %d) in container %s %s' % (pid, self.p['container'], why),
                                    pid=pid)
            time.sleep(POLL_INTERVAL)

    def listening(self):
        ep = self.endpoints
        ports = (ep['port'], ep['mgmt_port'], ep['metrics_port'])
        rc, out, dummy = self.client.exec_shell('cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true')
        return listening_ports(out, ports)

    def stop(self, pid):
        """Stop the daemon and its whole process group (backend workers included), then check the ports.

        SIGTERM to the daemon (MindIE then TERMs its group itself), SIGKILL to the group after stop_timeout; what
        is left of the group (workers outlive the daemon) gets SIGTERM, then SIGKILL; gone is checked in /proc
        (and in npu-smi when the container has it).
        """
        timeout = self.p['stop_timeout']
        procs = self.processes()
        pgid = self.daemon_group(pid, procs)
        known = [(p, procs[p]['start']) for p in group_members(procs, pgid, pid)]
        self._signal('TERM', [pid])
        deadline = time.time() + timeout
        while self.pid_alive(pid) and time.time() < deadline:
            time.sleep(POLL_INTERVAL)
        if self.pid_alive(pid):
            procs, pids = self._remaining(pgid, known)
            self._signal('KILL', sorted(set(pids) | set([pid])), pgid)
            kill_deadline = time.time() + KILL_WAIT
            while self.pid_alive(pid):
                if time.time() > kill_deadline:
                    self.fail('The MindIE daemon (pid %d) in container %s survived SIGKILL.' % (pid, self.p['container']))
                time.sleep(POLL_INTERVAL)
            self.module.warn('The MindIE daemon did not stop within %d s of SIGTERM and was killed.' % timeout)
        self.reap(pgid, [k for k in known if k[0] != pid], 'Backend processes of the MindIE daemon (pid %d)' % pid)
        if self.endpoints is None:
            self.module.warn('Could not read %s: not checking that the ports were released.' % self.p['config_path'])
            return
        port_deadline = time.time() + max(timeout, 5)
        busy = self.listening()
        while busy:
            if time.time() > port_deadline:
                self.fail('The MindIE daemon stopped but port(s) %s still listen in container %s.'
                          % (', '.join(str(p) for p in busy), self.p['container']), busy_ports=busy)
            time.sleep(POLL_INTERVAL)
            busy = self.listening()

    # -------- supervised mode: the container's main process is mindie_supervisor (contracts section 4)
    def sup_path(self, name):
        return self.sup_dir.rstrip('/') + '/' + name

    def read_supervisor(self):
        """The supervisor's state file (tolerant: {} while it has not written one); kept in RV(supervisor)."""
        state = supervisor.read_state(self.client.read_file(self.sup_path(supervisor.STATE_FILE)))
        self.result['supervisor'] = state
        return state

    def desired(self):
        return supervisor.desired_of(self.client.read_file(self.sup_path(supervisor.DESIRED_FILE)))

    def set_desired(self, value):
        """Write the desired file (tmp + rename, through exec); for ``stopped`` SIGHUP the container so the supervisor
        stops the daemon now. ``running`` gets no SIGHUP: the supervisor's next poll (poll_interval, 2 s) starts the
        daemon, and a SIGHUP arriving after that poll would stop the daemon it has just started and start another."""
        rc, dummy, err = self.client.exec_shell('printf "%s\\n" "$1" > "$2.tmp" && mv -f -- "$2.tmp" "$2"',
                                                args=[value, self.sup_path(supervisor.DESIRED_FILE)])
        if rc != 0:
            self.fail('Cannot write %s in container %s: %s' % (self.sup_path(supervisor.DESIRED_FILE),
                                                               self.p['container'], err.strip()))
        if value == 'stopped':
            self.client.kill('SIGHUP')

    def fail_supervised(self, state, reason):
        """Fail with the supervisor's record of the daemon: its last error lines, exit code and a hint."""
        last = state.get('last_exit') or {}
        code = last.get('code')
        if code is None and last.get('signal'):
            code = 128 + int(last['signal'])
        lines = [str(line) for line in state.get('last_error_lines') or []]
        if last.get('reason') and not lines:
            reason += ' (%s)' % last['reason']
        msg, extra = failure_report(reason, code, lines, [], last.get('log_file'),
                                    [self.sup_path(supervisor.CONSOLE_FILE)])
        extra['last_error_lines'] = lines
        self.finish_supervised()
        self.fail(msg, **extra)

    def wait_generation(self, before, since=0.0):
        """Wait until the supervisor started a daemon of a generation after ``before``; its state.

        A crash-looping state written before ``since`` (when the module signalled the supervisor) is not final yet.
        """
        deadline = time.time() + self.p['stop_timeout'] + supervisor.KILL_WAIT + supervisor.DEFAULTS['port_wait'] + 15
        while True:
            state = self.read_supervisor()
            if state.get('status') == 'crash-looping' and float(state.get('updated_at') or 0) >= since:
                self.fail_supervised(state, 'The MindIE daemon in container %s is crash-looping: %s'
                                     % (self.p['container'], state.get('message')))
            if (state.get('generation') or 0) > before and state.get('daemon_pid'):
                return state
            if time.time() > deadline:
                self.fail_supervised(state, 'The supervisor in container %s did not start the MindIE daemon (status %s: '
                                     '%s)' % (self.p['container'], state.get('status'), state.get('message')))
            time.sleep(0.2)

    def wait_ready_supervised(self, state, started_by_us, signalled_at=None):
        """Wait until the daemon of ``state``'s generation is ready (or busy); fail when that generation ends.

        ``signalled_at``: when the module sent its SIGHUP. A generation the supervisor started just before it acted
        on that SIGHUP (from a poll: new files, desired running) is then stopped by it; the one after is waited for.
        """
        generation, pid = state.get('generation'), state.get('daemon_pid')
        self.result['pid'] = pid
        deadline = time.time() + self.p['ready_timeout']
        next_state = 0.0
        while True:
            if self.observe_health():
                if started_by_us and state.get('started_at'):
                    self.result['startup_seconds'] = round(time.time() - float(state['started_at']), 3)
                self.read_supervisor()
                return
            now = time.time()
            if now >= next_state:
                next_state = now + ALIVE_CHECK_INTERVAL
                state = self.read_supervisor()
                last = state.get('last_exit') or {}
                if signalled_at is not None and state.get('daemon_pid') != pid and last.get('pid') == pid \
                        and 'SIGHUP' in str(last.get('reason')):
                    state = self.wait_generation(generation, signalled_at)     # our SIGHUP stopped it: the next one
                    generation, pid, signalled_at = state.get('generation'), state.get('daemon_pid'), None
                    self.result['pid'] = pid
                    continue
                if state.get('generation') != generation or state.get('daemon_pid') != pid:
                    self.fail_supervised(state, 'The MindIE daemon (pid %s) in container %s exited before it was ready'
                                         % (pid, self.p['container']))
            if now >= deadline:
                self.fail_supervised(state, 'The MindIE daemon (pid %s) in container %s was not ready within %d s (%s'
                                     '/v2/health/ready)' % (pid, self.p['container'], self.p['ready_timeout'],
                                                            self.endpoints['urls']['management']))
            time.sleep(POLL_INTERVAL)

    def npu_processes(self):
        """The node's npu-smi process table rows on O(npu_devices)."""
        try:
            result = run_npu_smi([find_npu_smi(self.p['npu_smi']), 'info'])
            table = parse_npu_smi_info(result.stdout)
        except (NpuSmiExecError, NpuSmiParseError) as exc:
            self.fail('The MindIE daemon in container %s stopped, but the node\'s npu-smi cannot confirm that NPUs %s '
                      'are free: %s' % (self.p['container'], self.p['npu_devices'], getattr(exc, 'msg', exc)))
        return [p for p in table['processes'] if p.get('npu_id') in self.p['npu_devices']]

    def wait_freed(self, pgid):
        """After a stop: no process of the daemon's group in the container, npu-smi shows nothing on its NPUs (HBM
        free), its ports no longer listen. Bounded; fails naming what is left."""
        deadline = time.time() + self.p['stop_timeout'] + supervisor.KILL_WAIT
        while pgid:
            procs = self.processes()
            left = group_members(procs, pgid)
            if not left:
                break
            if time.time() > deadline:
                self.fail('The supervisor of container %s reports the daemon stopped, but processes of its group %d '
                          'still run: %s' % (self.p['container'], pgid, '; '.join(describe_processes(procs, left))))
            time.sleep(POLL_INTERVAL)
        while self.p['npu_devices']:
            held = self.npu_processes()
            if not held:
                break
            if time.time() > deadline:
                self.fail('The MindIE daemon in container %s stopped, but npu-smi still shows processes holding HBM on '
                          'its NPUs: %s' % (self.p['container'], '; '.join('NPU %s pid %s %s MB' % (
                              p.get('npu_id'), p.get('pid'), p.get('memory_mb')) for p in held)), npu_processes=held)
            time.sleep(0.5)
        while self.endpoints is not None:
            busy = self.listening()
            if not busy:
                break
            if time.time() > deadline:
                self.fail('The MindIE daemon stopped but port(s) %s still listen in container %s.'
                          % (', '.join(str(p) for p in busy), self.p['container']), busy_ports=busy)
            time.sleep(POLL_INTERVAL)

    def finish_supervised(self):
        state = self.result.get('supervisor') or {}
        status = state.get('status')
        if status == 'crash-looping':
            summary = 'crash-looping'
        elif status in ('stopped', 'stopping'):
            summary = 'stopped'
        elif self.result['ready']:
            summary = 'serving'
        elif self.result['busy']:
            summary = 'busy'
        elif status in ('waiting', 'starting', 'backoff'):
            summary = 'starting'
        else:
            summary = 'down'
        self.result['status'] = summary
        self.result['pid'] = state.get('daemon_pid')
        self.result['restarts'] = int(state.get('restarts') or 0) + int(self.result['container'].get('restart_count') or 0)
        return self.result

    def run_supervised(self, env):
        state = self.p['state']
        self.sup_dir = env[supervisor.ENV_STATE_DIR]
        self.result['supervised'] = True
        instance = supervisor.read_state(self.client.read_file(env[supervisor.ENV_INSTANCE])
                                         if env.get(supervisor.ENV_INSTANCE) else None)
        if isinstance(instance.get('config'), str) and instance['config'].startswith('/'):
            self.p['config_path'] = instance['config']      # the config the supervisor starts the daemon with
        self.load_config(required=state != 'stopped')
        current = self.read_supervisor()
        desired = self.desired()
        if state == 'stopped':
            if desired == 'stopped' and current.get('status') == 'stopped':
                self.wait_freed(None)
                return self.finish_supervised()
            self.result['changed'] = True
            if self.module.check_mode:
                return self.finish_supervised()
            pgid = current.get('pgid')
            self.set_desired('stopped')
            limit = self.p['stop_timeout'] + supervisor.KILL_WAIT + 15
            deadline = time.time() + limit
            while current.get('status') != 'stopped' or current.get('desired') != 'stopped':
                if time.time() > deadline:
                    self.fail('The supervisor in container %s did not stop the MindIE daemon within %d s (status %s).'
                              % (self.p['container'], limit, current.get('status')))
                time.sleep(0.2)
                current = self.read_supervisor()
            self.wait_freed(pgid)
            return self.finish_supervised()
        if state == 'started' and desired == 'running' and current.get('status') != 'stopped':
            if self.module.check_mode:
                self.observe_health()
                return self.finish_supervised()
            if current.get('status') == 'crash-looping':
                self.fail_supervised(current, 'The MindIE daemon in container %s is crash-looping: %s'
                                     % (self.p['container'], current.get('message')))
            if not current.get('daemon_pid'):       # waiting, backoff, starting: the supervisor starts one
                current = self.wait_generation(current.get('generation') or 0)
            self.wait_ready_supervised(current, started_by_us=False)
            return self.finish_supervised()
        # restarted, or started while stopped: SIGHUP (with desired=running) and wait for the next generation
        self.result['changed'] = True
        self.result['restarted'] = state == 'restarted' and bool(current.get('daemon_pid'))
        if self.module.check_mode:
            return self.finish_supervised()
        before = current.get('generation') or 0
        since = time.time()
        signalled = since
        if desired == 'stopped':
            self.set_desired('running')
        elif current.get('status') != 'waiting':
            self.client.kill('SIGHUP')
        else:
            signalled = None
        # (waiting: no daemon has run with these files yet; the supervisor starts one itself as soon as it sees them,
        # and a SIGHUP on top could stop that one mid-load and load the model twice)
        current = self.wait_generation(before, since)
        self.wait_ready_supervised(current, started_by_us=True, signalled_at=signalled)
        return self.finish_supervised()

    def finish_exec(self):
        """RV(status) and RV(restarts) of the docker-exec mode."""
        if self.result['ready']:
            self.result['status'] = 'serving'
        elif self.result['busy']:
            self.result['status'] = 'busy'
        else:
            self.result['status'] = 'stopped' if self.result['pid'] is None else 'down'
        self.result['restarts'] = int((self.result.get('container') or {}).get('restart_count') or 0)
        return self.result

    def run(self):
        try:
            self.result['container'] = self.client.require_running()
        except MindieDockerError as exc:
            self.fail(str(exc))
        env = self.client.env()
        if env.get(supervisor.ENV_STATE_DIR):
            return self.run_supervised(env)
        return self.finish_exec_mode()

    def finish_exec_mode(self):
        self.run_exec()
        return self.finish_exec()

    def run_exec(self):
        """The docker-exec mode: the daemon started and stopped by this module in a container without supervisor."""
        state = self.p['state']
        self.load_config(required=state != 'stopped')
        if state != 'stopped':
            self.require_daemon_binary()
        pid = self.running_pid()

        if state == 'stopped':
            if pid is None:
                self.stop_leftovers()
                return self.result
            self.result['changed'] = True
            if self.module.check_mode:
                self.result['pid'] = pid
                return self.result
            self.stop(pid)
            return self.result

        if state == 'started' and pid is not None:
            self.result['pid'] = pid
            if self.module.check_mode:
                self.observe_health()
                return self.result
            self.wait_ready(pid, time.time(), started_by_us=False)
            return self.result

        self.result['changed'] = True
        self.result['restarted'] = pid is not None
        if pid is None:
            # A daemon that was killed (kill -9 of its pid) leaves its workers holding HBM: stop them first.
            self.stop_leftovers()
        if self.module.check_mode:
            self.result['pid'] = pid
            return self.result
        if pid is not None:
            self.stop(pid)
        self.result['pid'] = None
        self.start()
        return self.result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=['started', 'stopped', 'restarted']),
            config_path=dict(type='str', default=DEFAULT_CONFIG),
            service_dir=dict(type='str', default=DEFAULT_SERVICE_DIR),
            env=dict(type='dict', default={}),
            master_addr=dict(type='str', default='localhost'),
            master_port=dict(type='int', default=7896),
            monitor=dict(type='bool', default=False),
            ready_timeout=dict(type='int', default=600),
            stop_timeout=dict(type='int', default=30),
            docker_host=dict(type='str'),
            npu_devices=dict(type='list', elements='int'),
            npu_smi=dict(type='str', default='npu-smi'),
            **tls_argument_spec()
        ),
        supports_check_mode=True,
    )
    problems, warnings = validate_params(module.params)
    if problems:
        module.fail_json(msg='Invalid options, nothing was stopped or started: ' + ' '.join(problems), problems=problems)
    for warning in warnings:
        module.warn(warning)
    run_container_manager(module, MindieServiceManager, lambda: MindieDockerClient(
        module.params['container'], docker_host=module.params['docker_host']))


if __name__ == '__main__':
    main()
