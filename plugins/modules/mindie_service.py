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
    it outlives the module.
  - Waits until the management endpoint C(/v2/health/ready) (or C(/health) when that answers 404) returns
    200, polling every 0.1 seconds from the node. The container must use host networking, or the management
    address in the config must otherwise be reachable from the node.
  - The daemon writes its pid to C(<service_dir>/logs/mindieservice_daemon.pid), its console output to
    C(<service_dir>/logs/console.log) and, when it exits, its exit code to C(<service_dir>/logs/daemon.exit).
  - When the daemon dies or is not ready in time, the module fails with the daemon's own error lines
    (from its service log and console log), its exit code and a hint for the known causes.
  - V(stopped) sends SIGTERM to the daemon only, then SIGKILL after O(stop_timeout) seconds, and waits until its
    business, management and metrics ports no longer listen.
author:
  - ascend.mindie maintainers (@ascend-mindie)
requirements:
  - Docker SDK for Python (C(docker)) on the node that runs the module.
  - A Docker engine on that node, with the MindIE container running (for example C(sleep infinity) as its command).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
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
      - Seconds to wait after SIGTERM before SIGKILL, and then for the ports to be released.
      - Between 1 and 86400 (a day).
    type: int
    default: 30
  ca_path:
    description:
      - PEM file of the CA (or CAs) that signed MindIE's server certificates, on the node, used when C(httpsEnabled)
        is true. The readiness probe verifies the certificate chain and the host name (see O(server_name)), with
        TLS 1.3 at least, as MindIE serves it. The system's CAs are used when not set.
    type: path
  client_cert:
    description:
      - PEM client certificate the readiness probe presents, on the node; MindIE with C(httpsEnabled) refuses
        clients without one (mutual TLS). May also hold the key.
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert), on the node, when that file does not hold it. It must not be encrypted.
    type: path
  server_name:
    description:
      - Name the server certificate must carry (subject alternative name) for the readiness probe, and the SNI sent.
      - Default the address probed (C(managementIpAddress), V(127.0.0.1) for V(0.0.0.0)).
    type: str
  docker_host:
    description:
      - URL of the Docker engine, for example V(unix:///var/run/docker.sock) or V(tcp://127.0.0.1:2375).
      - When not set, the environment (E(DOCKER_HOST), E(DOCKER_TLS_VERIFY), E(DOCKER_CERT_PATH)) or the local socket is used.
    type: str
notes:
  - The daemon counts as running when the pid in its pid file exists in the container and its command line is
    C(mindieservice_daemon). After the container was restarted the daemon is gone and V(started) starts it again.
  - An IP of V(0.0.0.0) in the config is probed as V(127.0.0.1).
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
  description: Whether the management endpoint answered 200.
  returned: always
  type: bool
  sample: true
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
    - The daemon's last lines from C(logs/mindservice.log) and C(logs/console.log) of this start,
      error lines first.
  returned: on failure
  type: list
  elements: str
container:
  description: State of the container.
  returned: when the container exists
  type: dict
  sample: {"running": true, "status": "running", "restart_count": 0, "started_at": "2026-01-01T10:00:00.0Z"}
'''

import json
import re
import socket
import ssl
import time
from shlex import quote

import http.client as http_client

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema as schema
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import parse_proc_net_tcp
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_http import (
    TLSSetupError,
    connection,
    describe_tls_error,
    tls_client_context,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    SET_ENV_SCRIPTS,
    MindieDockerClient,
    MindieDockerError,
)

DEFAULT_SERVICE_DIR = '/usr/local/Ascend/mindie/latest/mindie-service'
DEFAULT_CONFIG = DEFAULT_SERVICE_DIR + '/conf/config.json'
DAEMON = 'mindieservice_daemon'
PID_FILE = 'logs/mindieservice_daemon.pid'
CONSOLE_LOG = 'logs/console.log'
EXIT_FILE = 'logs/daemon.exit'
DEFAULT_SERVICE_LOG = 'logs/mindservice.log'
POLL_INTERVAL = 0.1
ALIVE_CHECK_INTERVAL = 0.5
TAIL_LINES = 30
ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
LOG_PREFIX = re.compile(r'^(\[[^\]]*\]\s*)+')
ERROR_LINE = re.compile(r'error|fail|refuse|denied|occupied|not visible|out of memory|not found|exit with code|'
                        r'Check path|permission|Traceback|Exception', re.IGNORECASE)

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
    """Addresses, ports and URLs the daemon serves, from a parsed config.json."""
    server = config.get('ServerConfig') if isinstance(config, dict) else None
    if not isinstance(server, dict):
        server = {}
    ip = str(server.get('ipAddress') or '127.0.0.1')
    mgmt_ip = str(server.get('managementIpAddress') or ip)
    port = int(server.get('port', 1025))
    mgmt_port = int(server.get('managementPort', 1026))
    metrics_port = int(server.get('metricsPort', 1027))
    https = bool(server.get('httpsEnabled', True))
    log_cfg = config.get('LogConfig') if isinstance(config, dict) else None
    log_path = DEFAULT_SERVICE_LOG
    if isinstance(log_cfg, dict) and log_cfg.get('logPath'):
        log_path = str(log_cfg['logPath'])
    scheme = 'https' if https else 'http'
    # All three ports equal: MindIE serves everything on that one port of ipAddress.
    single_port = port == mgmt_port == metrics_port
    if single_port:
        mgmt_ip = ip

    def url(host, p):
        if ':' in host and not host.startswith('['):
            host = '[%s]' % host
        return '%s://%s:%d' % (scheme, host, p)
    return {
        'ip': ip, 'mgmt_ip': mgmt_ip, 'port': port, 'mgmt_port': mgmt_port, 'metrics_port': metrics_port,
        'https': https, 'log_path': log_path, 'single_port': single_port,
        'ports': sorted(set([port, mgmt_port, metrics_port])),
        'probe_ip': '127.0.0.1' if mgmt_ip == '0.0.0.0' else ('::1' if mgmt_ip == '::' else mgmt_ip),
        'urls': {'business': url(ip, port), 'management': url(mgmt_ip, mgmt_port),
                 'metrics': url(mgmt_ip, metrics_port)},
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


def parse_probe(text):
    """Parse the output of the process probe script into a dict."""
    info = {'pid': None, 'alive': False, 'zombie': False, 'cmdline': '', 'exit_code': None, 'is_daemon': False}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        if key == 'pid' and value.strip().isdigit():
            info['pid'] = int(value.strip())
        elif key == 'stat' and value.strip():
            info['alive'] = True
            state = value.rsplit(')', 1)[-1].split()
            info['zombie'] = bool(state) and state[0] in ('Z', 'X')
        elif key == 'cmdline':
            info['cmdline'] = value.strip()
        elif key == 'exit' and value.strip().lstrip('-').isdigit():
            info['exit_code'] = int(value.strip())
    info['alive'] = info['alive'] and not info['zombie']
    words = info['cmdline'].split()
    info['is_daemon'] = any(w.endswith(DAEMON) for w in words[:2]) and 'mindie_sim_npu_worker' not in words
    return info


def start_script(service_dir, exports):
    """The bash script that starts the daemon and records its pid and exit code."""
    lines = ['mkdir -p %s/logs || exit 1' % quote(service_dir),
             'exec >>%s 2>&1' % quote(service_dir + '/' + CONSOLE_LOG),
             'echo "==== mindie_service: starting %s at $(date \'+%%Y-%%m-%%d %%H:%%M:%%S\')"' % DAEMON]
    lines += ['source %s' % quote(path) for path in SET_ENV_SCRIPTS]
    lines += ['export %s=%s' % (name, quote(value)) for name, value in exports]
    lines += ['cd %s || exit 1' % quote(service_dir),
              'rm -f %s' % EXIT_FILE,
              '( echo $BASHPID > %s; exec ./bin/%s )' % (PID_FILE, DAEMON),
              'echo $? > %s' % EXIT_FILE]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------- manager

class MindieServiceManager(object):
    """Drives the daemon in one container through a MindieDockerClient."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.service_dir = self.p['service_dir'].rstrip('/') or '/'
        self.result = {'changed': False, 'pid': None, 'ready': False, 'startup_seconds': None, 'restarted': False}
        self.endpoints = None
        self.log_offsets = None
        self.ssl_context = None

    def path(self, rel):
        return self.service_dir + '/' + rel

    def fail(self, msg, **kwargs):
        result = dict(self.result)
        result.update(kwargs)
        self.module.fail_json(msg=msg, **result)

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
                self.ssl_context = tls_client_context(self.p['ca_path'], self.p['client_cert'], self.p['client_key'])
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
        script = (
            'pid=$(cat %s 2>/dev/null); case "$pid" in ""|*[!0-9]*) pid="";; esac\n'
            'echo "pid=$pid"\n'
            'if [ -n "$pid" ] && [ -e /proc/$pid/stat ]; then\n'
            '  echo "stat=$(cat /proc/$pid/stat 2>/dev/null)"\n'
            '  echo "cmdline=$(tr \'\\0\' \' \' < /proc/$pid/cmdline 2>/dev/null)"\n'
            'fi\n'
            'echo "exit=$(cat %s 2>/dev/null)"\n'
        ) % (quote(self.path(PID_FILE)), quote(self.path(EXIT_FILE)))
        rc, out, err = self.client.exec_shell(script)
        if rc != 0:
            raise MindieDockerError('Cannot inspect the daemon in container %s: %s' % (self.p['container'], err.strip()))
        return parse_probe(out)

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

    def check_ready_once(self):
        """True on a 200 from the readiness endpoint, False otherwise (never raises)."""
        ep = self.endpoints
        for path in self._ready_paths:
            status = self._http_status(ep['probe_ip'], ep['mgmt_port'], path, ep['https'])
            if isinstance(status, ssl.SSLCertVerificationError):
                # MindIE answers, but with a certificate we do not accept: waiting will not change that.
                self.fail('The readiness probe of %s refused the server: %s'
                          % (ep['urls']['management'], describe_tls_error(status)))
            if status == 404 and path != '/health':
                self._ready_paths = ['/health']
                continue
            return status == 200
        return False

    _ready_paths = ['/v2/health/ready', '/health']

    def _http_status(self, host, port, path, https):
        """The HTTP status, None when nothing answered, or the ssl.SSLCertVerificationError."""
        conn = connection('https' if https else 'http', host, port, 1.0, context=self.ssl_context,
                          server_name=self.p['server_name'])
        try:
            conn.request('GET', path, headers={'Connection': 'close'})
            response = conn.getresponse()
            response.read()     # closing with unread data would reset the daemon's side of the connection
            return response.status
        except ssl.SSLCertVerificationError as exc:
            return exc
        except (socket.error, http_client.HTTPException, ssl.SSLError):
            return None
        finally:
            conn.close()

    # -------- logs
    def _log_files(self):
        log_path = self.endpoints['log_path'] if self.endpoints else DEFAULT_SERVICE_LOG
        service_log = log_path if log_path.startswith('/') else self.path(log_path)
        return service_log, self.path(CONSOLE_LOG)

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

    def fail_with_logs(self, reason, exit_code=None):
        files = self._log_files()
        offsets = self.log_offsets or [None, None]
        service_lines = self.read_log_tail(files[0], offsets[0])
        console_lines = self.read_log_tail(files[1], offsets[1])
        tail, errors = order_log_lines(service_lines, console_lines)
        hint = match_hint('\n'.join(service_lines + console_lines))
        msg = reason
        if exit_code is not None:
            msg += ' (exit code %d)' % exit_code
        if errors:
            msg += ': ' + ' | '.join(errors[:10])
        else:
            msg += '. See %s and %s.' % files
        if hint:
            msg += ' Hint: ' + hint
        extra = {'log_tail': tail}
        if exit_code is not None:
            extra['exit_code'] = exit_code
        if hint:
            extra['hint'] = hint
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

    def start(self):
        """Start the daemon detached and wait until ready; return the pid."""
        self.remember_log_offsets()
        rc, dummy, err = self.client.exec_shell('rm -f %s %s' % (quote(self.path(PID_FILE)), quote(self.path(EXIT_FILE))))
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
        deadline = time.time() + self.p['ready_timeout']
        next_alive_check = 0.0
        while True:
            if self.check_ready_once():
                self.result['ready'] = True
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
                                        % (pid, self.p['container']), exit_code)
            if now >= deadline:
                self.fail_with_logs('The MindIE daemon (pid %d) in container %s was not ready within %d s (%s/v2/health/ready)'
                                    % (pid, self.p['container'], self.p['ready_timeout'],
                                       self.endpoints['urls']['management']))
            time.sleep(POLL_INTERVAL)

    def listening(self):
        ep = self.endpoints
        ports = (ep['port'], ep['mgmt_port'], ep['metrics_port'])
        rc, out, dummy = self.client.exec_shell('cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true')
        return listening_ports(out, ports)

    def stop(self, pid):
        timeout = self.p['stop_timeout']
        self.client.exec_shell('kill -TERM %d 2>/dev/null; true' % pid)
        deadline = time.time() + timeout
        while self.pid_alive(pid) and time.time() < deadline:
            time.sleep(POLL_INTERVAL)
        if self.pid_alive(pid):
            self.client.exec_shell('kill -KILL %d 2>/dev/null; true' % pid)
            kill_deadline = time.time() + 10
            while self.pid_alive(pid):
                if time.time() > kill_deadline:
                    self.fail('The MindIE daemon (pid %d) in container %s survived SIGKILL.' % (pid, self.p['container']))
                time.sleep(POLL_INTERVAL)
            self.module.warn('The MindIE daemon did not stop within %d s of SIGTERM and was killed.' % timeout)
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

    def run(self):
        state = self.p['state']
        try:
            self.result['container'] = self.client.require_running()
        except MindieDockerError as exc:
            self.fail(str(exc))
        self.load_config(required=state != 'stopped')
        if state != 'stopped':
            self.require_daemon_binary()
        pid = self.running_pid()

        if state == 'stopped':
            if pid is None:
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
                self.result['ready'] = self.check_ready_once()
                return self.result
            self.wait_ready(pid, time.time(), started_by_us=False)
            return self.result

        self.result['changed'] = True
        self.result['restarted'] = pid is not None
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
            ca_path=dict(type='path'),
            client_cert=dict(type='path'),
            client_key=dict(type='path', no_log=False),
            server_name=dict(type='str'),
            docker_host=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    problems, warnings = validate_params(module.params)
    if problems:
        module.fail_json(msg='Invalid options, nothing was stopped or started: ' + ' '.join(problems), problems=problems)
    for warning in warnings:
        module.warn(warning)
    client = MindieDockerClient(module, module.params['container'], docker_host=module.params['docker_host'])
    manager = MindieServiceManager(module, client)
    try:
        result = manager.run()
    except MindieDockerError as exc:
        module.fail_json(msg=str(exc), **manager.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
