# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detection rules of ascend.mindie.mindie_diagnose (pure functions, no I/O).

Every ``check_*`` function takes what the module collected and returns a list of findings: checks in
the collection's one shape (module_utils/checks.py), made by :func:`finding`::

    {'id', 'category': <one of PROBLEMS>, 'status': 'fail'|'warn'|'info', 'message', 'hint',
     'guide_section': '7.1.N', 'details',
     'severity': 'error'|'warning'|'info', 'problem': <= category>, 'name', 'reason'}

``severity`` and ``problem`` are the names this module has always returned (severity error = status
fail, warning = warn, info = info). The weight-directory checks of module_utils/model_dir (category
``model``) are findings as they are: mindie_diagnose reports those that are not ``pass``.

``problem`` and ``guide_section`` follow section 7 (故障排除) of the deployment guide:
7.1.1 the service does not start, 7.1.2 out of memory, 7.1.3 slow inference, 7.1.4 image load
failures. ``config``, ``npu`` and ``container`` findings are causes of 7.1.1 unless said otherwise.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_api import service_state
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_daemon import is_mindie_process
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_logs import CONSOLE_START_MARKER
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import DCMI_INIT_CAUSE, HUNG_DRIVER_HINT, is_dcmi_init_failure
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    NpuSmiParseError,
    parse_npu_smi_info,
)
from ansible_collections.ascend.mindie.plugins.module_utils import profiles
from ansible_collections.ascend.mindie.plugins.module_utils import plan
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_schema import (
    ConfigParseError,
    is_multimodal,
    load_config_text,
    validate_config,
)

# The severities of findings (checks.SEVERITY of the statuses fail, warn and info).
ERROR, WARNING, INFO = checks.ERROR, checks.WARNING, checks.INFO
SEVERITIES = (ERROR, WARNING, INFO)
PROBLEMS = ('service_start', 'out_of_memory', 'slow_inference', 'image_load', 'config', 'npu', 'container', 'model')
SECTIONS = {
    'model': '7.1.2',
    'service_start': '7.1.1', 'config': '7.1.1', 'npu': '7.1.1', 'container': '7.1.1',
    'out_of_memory': '7.1.2', 'slow_inference': '7.1.3', 'image_load': '7.1.4',
}

# config.json keys whose per-profile range the guide gives (6.1.3), and their field in the profile table.
PROFILE_RANGE_KEYS = {'npuMemSize': 'npu_mem_size', 'maxBatchSize': 'max_batch_size'}
GUIDE_PORTS = (1040, 1041, 1042)
CONFIG_MAX_MODE = 0o640
IMAGE_FORMATS = ('jpg', 'jpeg', 'png', 'mp4', 'wmv', 'avi')
SERVICE_LOG = 'logs/mindservice.log'

# Known failure lines in the daemon's logs: (problem, section, regex, message, hint).
LOG_PATTERNS = (
    ('out_of_memory', '7.1.2', re.compile(r'out of memory|\bOOM\b|Warmup failed', re.IGNORECASE),
     'the daemon ran out of NPU memory (HBM)',
     'Lower npuMemSize (never -1 for Qwen2-VL), maxBatchSize or maxPrefillTokens / maxInputTokenLen so that the '
     'weights, the KV cache and the vision encoder fit on each NPU; check the weights are complete.'),
    ('service_start', '7.1.1', re.compile(r'Socket bind failed|port is occupied|Address already in use', re.IGNORECASE),
     'a listen port was taken when the daemon started',
     'Stop what holds the business/management/metrics port (netstat -tlnp | grep 1040) or a daemon that did not '
     'stop cleanly, or choose other ports; two instances on one node also need distinct MASTER_PORTs.'),
    ('config', '7.1.1', re.compile(r'Check path|permission denied|Current permission|is not the current user',
                                   re.IGNORECASE),
     'the daemon refused a file because of its owner or mode',
     "config.json must belong to the daemon's user and be 0640 or stricter; the model directory 0750 or stricter "
     "and owned by that user, the model's config.json 0640."),
    ('service_start', '7.1.1', re.compile(r'error while loading shared libraries|set_env\.sh.*(No such file|not found)',
                                          re.IGNORECASE),
     'the Ascend environment was not set (set_env.sh not sourced)',
     'Source /usr/local/Ascend/ascend-toolkit/set_env.sh, nnal/atb/set_env.sh, atb-models/set_env.sh and '
     'mindie/set_env.sh (in that order) before starting mindieservice_daemon.'),
    ('container', '7.1.1', re.compile(r'Failed to set process group', re.IGNORECASE),
     'the daemon could not set its process group (container without an init process)',
     'Recreate the container with an init process (docker run --init; mindie_container_init: true).'),
    ('npu', '7.1.1', re.compile(r'Device init failed|not visible|aclrtSetDevice|device fault', re.IGNORECASE),
     'the daemon could not open the NPUs',
     'Pass /dev/davinciN for every logical id in npuDeviceIds plus /dev/davinci_manager, /dev/devmm_svm and '
     '/dev/hisi_hdc, mount the driver, and check npu-smi info.'),
    ('image_load', '7.1.4', re.compile(r'ImageError|not a valid image|unsupported or corrupt image|'
                                       r'input_image .* (does not exist|is not supported)|image .* cannot be read|'
                                       r'failed to (load|open|decode) image', re.IGNORECASE),
     'an image could not be loaded',
     'Check that the image path exists inside the container, is readable by the daemon and is jpg/jpeg/png '
     '(video: mp4/wmv/avi).'),
    ('service_start', '7.1.1', re.compile(r'Failed to init endpoint', re.IGNORECASE),
     'the daemon failed to start (Failed to init endpoint)',
     'Read the lines before it in the daemon\'s log file (mindie-service_<pid>_<time>.log), mindservice.log and '
     'console.log for the cause.'),
)
# The log prefix of MindIE's log lines: ``[time] [pid] [tid] [component] [LEVEL] ...``.
LOG_LINE_PID = re.compile(r'^\[[^\]]*\] \[(\d+)\] ')
# The marker ascend.mindie.mindie_service writes to console.log before each start.
# MindIE opens its ports only after the model is loaded and warmed up; a daemon that has not opened them after
# this many seconds (mindie_service's default ready_timeout) is reported as hung, not as loading.
DEFAULT_READY_TIMEOUT = 600
MONITOR_ERROR = 'MIES_SERVICE_MONITOR_MODE'
ABNORMAL = 'Service is abnormal'

_IMAGE_MAGIC = (
    (b'\xff\xd8\xff', 'jpeg'),
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'GIF8', 'gif'),
    (b'BM', 'bmp'),
)


def finding(severity, problem, message, hint='', section=None, check_id=None, details=None):
    """One finding (a check of module_utils/checks.py) of category ``problem``.

    ``severity`` is error, warning or info (or a status); ``section`` defaults to the guide section of
    ``problem``, the id to ``problem`` (several findings may share it).
    """
    return checks.make(check_id or problem, problem, severity, message, hint, section or SECTIONS[problem], details)


def _mode(value):
    return '%04o' % value if isinstance(value, int) else str(value)


# ---------------------------------------------------------------------- NPU

def check_npu(info_text, info_error=None):
    """Findings from ``npu-smi info`` (text and the error the command gave, if any) and the profile.

    Returns ``(findings, parsed or None, profile or None)``.
    """
    text = info_text or ''
    if info_error and 'did not finish within' in info_error:
        return [finding(ERROR, 'npu', 'npu-smi hangs: %s' % info_error.split('. Likely cause:', 1)[0].split(': ', 1)[-1],
                        HUNG_DRIVER_HINT.replace('Likely cause: ', ''))], None, None
    if is_dcmi_init_failure(text) or is_dcmi_init_failure(info_error):
        return [finding(ERROR, 'npu', 'npu-smi info fails: dcmi module initialize failed (ret -8005)',
                        DCMI_INIT_CAUSE[:1].upper() + DCMI_INIT_CAUSE[1:])], None, None
    try:
        parsed = parse_npu_smi_info(text)
    except NpuSmiParseError as exc:
        reason = info_error or str(exc)
        return [finding(ERROR, 'npu', 'npu-smi info gave no device table: %s' % reason,
                        'Check that the Ascend driver is installed and loaded (npu-smi info, '
                        '/usr/local/Ascend/driver/version.info) and that npu-smi is on the PATH.')], None, None
    findings = []
    chips = parsed['chips']
    if not chips:
        findings.append(finding(ERROR, 'npu', 'npu-smi info lists no NPU', 'Check the driver and the cards.'))
    bad = ['NPU %s chip %s (%s): %s' % (c.get('npu_id'), c.get('chip_id'), c.get('name') or '?', c.get('health'))
           for c in chips if c.get('health') != 'OK']
    if bad:
        findings.append(finding(ERROR, 'npu', 'NPU health is not OK: %s' % '; '.join(bad),
                                'Run npu-smi info -t health -i <id> for the alarm codes; a card in Alarm or Critical '
                                'state makes the daemon fail or hang: fix or exclude it (npuDeviceIds).'))
    busy = [p for p in parsed['processes'] if p.get('memory_mb')]
    if busy:
        findings.append(finding(INFO, 'npu', '%d process(es) hold NPU memory: %s' % (
            len(busy), ', '.join('pid %s on NPU %s (%s MB)' % (p.get('pid'), p.get('npu_id'), p.get('memory_mb'))
                                 for p in busy[:8])),
            'These are the daemon\'s own workers while MindIE runs; otherwise foreign processes take HBM the '
            'service needs (guide 7.1.3: check hardware use).',
            section='7.1.3'))
    # A container (or ASCEND_VISIBLE_DEVICES) shows a subset of the cards: the profile table's subset rule.
    return findings, parsed, profiles.classify_by_hbm(chips)


# ---------------------------------------------------------------------- container

def check_container(state, docker_error=None, image_present=None, image_ref=None):
    """Findings from the container's state dict (None when it does not exist) and the Docker error."""
    if docker_error:
        return [finding(ERROR, 'container', 'Docker does not answer: %s' % docker_error,
                        'Start the Docker engine (systemctl start docker) and check the docker SDK / CLI on the node.')]
    if state is None:
        result = [finding(ERROR, 'container', 'the MindIE container does not exist',
                          'Create it (ascend.mindie.container role / site playbook).')]
        if image_present is False:
            result.append(finding(WARNING, 'container', 'the MindIE image %s is not loaded' % (image_ref or ''),
                                  'Load it (ascend.mindie.image role: docker load -i <tarball>).'))
        return result
    findings = []
    status = state.get('status')
    if state.get('restarting') or status == 'restarting':
        findings.append(finding(ERROR, 'container', 'the container is restarting (restart count %s)'
                                % state.get('restart_count'),
                                'It exits right after starting: see docker-inspect-container.json (State) and '
                                'docker logs; its command must keep running (e.g. sleep infinity / bash with a tty).'))
    elif not state.get('running'):
        msg = 'the container is not running (status %s, exit code %s)' % (status, state.get('exit_code'))
        if state.get('oom_killed'):
            msg += ', killed by the kernel OOM killer'
        findings.append(finding(ERROR, 'container', msg, 'Start it (docker start <name>) and look at docker logs.'))
    elif state.get('restart_count'):
        findings.append(finding(WARNING, 'container', 'the container restarted %s time(s)' % state['restart_count'],
                                'The daemon dies with the container: see docker logs and mindservice.log.'))
    if state.get('oom_killed') and state.get('running'):
        findings.append(finding(WARNING, 'out_of_memory', 'the container was killed by the OOM killer before',
                                'Host memory ran out: the guide needs %s.' % profiles.describe_min_memory()))
    return findings


def _age_text(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return '%d s' % seconds
    if seconds < 7200:
        return '%d min %d s' % (seconds // 60, seconds % 60)
    return '%d h %d min' % (seconds // 3600, (seconds % 3600) // 60)


def exit_status_text(exit_code):
    """What an exit status of mindieservice_daemon says (137 = SIGKILL, MindIE's end of a failed init)."""
    if exit_code == 137:
        return ('exit status 137 (SIGKILL): MindIE ends a failed initialisation with killpg(SIGKILL) after writing '
                'the reason to its log file; the kernel OOM killer or a kill -9 end it the same way')
    if exit_code is not None and 128 < exit_code < 160:
        return 'exit status %d (ended by signal %d)' % (exit_code, exit_code - 128)
    if exit_code is not None:
        return 'exit status %d' % exit_code
    return None


def check_daemon(container_running, daemon, ports_listening, ready_timeout=DEFAULT_READY_TIMEOUT):
    """Findings on the daemon.

    ``daemon`` is None when unknown, else {'pid': int or None, 'running': bool, 'age': seconds since it started
    (None when /proc did not tell), 'exit_code': the last daemon's exit status (mindie_service's
    logs/daemon.exit) or None, 'log_file': its own log file or None}. MindIE opens its ports only after the model
    is loaded and warmed up: a running daemon without listening ports is loading, unless it has been so for longer
    than ``ready_timeout`` seconds (then start-up hangs).
    """
    if not container_running or daemon is None:
        return []
    log_file = daemon.get('log_file')
    if not daemon.get('running'):
        msg = 'mindieservice_daemon is not running in the container'
        ended = exit_status_text(daemon.get('exit_code'))
        if ended:
            msg += '; the last one ended with %s' % ended
        where = ('its own log file %s, ' % log_file) if log_file else 'its own log file (~/mindie/log/debug/), '
        return [finding(ERROR, 'service_start', msg,
                        'Start it (ascend.mindie.mindie_service state=started); the reason it stopped is in %s'
                        'mindservice.log and console.log (see the findings from the logs).' % where)]
    if ports_listening:
        return []
    age = daemon.get('age')
    loading = ('MindIE opens its ports only after the model is loaded and warmed up (connection refused until '
               'then)')
    if age is None:
        return [finding(WARNING, 'service_start', 'mindieservice_daemon runs (pid %s) but its ports do not listen '
                        'yet: it is still loading, or it hangs (how long it has run could not be read from /proc)'
                        % daemon.get('pid'),
                        '%s. Wait and diagnose again; if it never listens, an npuMemSize far too large makes '
                        'start-up hang (see %s).' % (loading, log_file or 'its log file'))]
    if age < ready_timeout:
        return [finding(INFO, 'service_start', 'mindieservice_daemon (pid %s) is still loading: started %s ago, its '
                        'ports do not listen yet' % (daemon.get('pid'), _age_text(age)),
                        '%s. Wait (mindie_service waits up to ready_timeout, %d s by default).'
                        % (loading, DEFAULT_READY_TIMEOUT))]
    return [finding(ERROR, 'service_start', 'mindieservice_daemon (pid %s) has run for %s without opening its ports '
                    '(more than %d s): start-up hangs' % (daemon.get('pid'), _age_text(age), ready_timeout),
                    'An npuMemSize far too large makes the KV-cache allocation hang instead of failing (use the '
                    'guide\'s %s); read %s for the last step it reached, then restart it '
                    '(ascend.mindie.mindie_service state=restarted).'
                    % (profiles.describe_range('npu_mem_size'), log_file or 'its log file'))]


# ---------------------------------------------------------------------- health and metrics

def probe_targets(config):
    """Where the management and metrics endpoints listen, from a parsed config (MindIE defaults filled in).

    {'scheme': 'http'|'https', 'management': (host, port), 'metrics': (host, port), 'urls': {...}}: the node plan's
    derivation (module_utils/plan.py server_endpoints) - managementIpAddress, or ipAddress for a port equal to the
    business port; 0.0.0.0 / :: probed on loopback.
    """
    served = plan.server_endpoints(config)
    return {'scheme': served['scheme'],
            'management': (plan.probe_address(served['addresses']['management']), served['ports']['management']),
            'metrics': (plan.probe_address(served['addresses']['metrics']), served['ports']['metrics']),
            'urls': served['urls']}


def _body_message(body):
    """The ``message`` / ``error`` of a JSON body, or the body's first characters."""
    try:
        data = json.loads(body or '')
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ('message', 'error', 'Error'):
            if isinstance(data.get(key), str):
                kind = data.get('error_type')
                return '%s (%s)' % (data[key], kind) if isinstance(kind, str) and kind else data[key]
    return ' '.join((body or '').split())[:200]


def health_state(ready, live):
    """``ready``, ``busy``, ``starting``, ``unhealthy`` or ``unreachable`` from two probe answers.

    Each answer is {'status': int or None (no answer), 'body': str, 'error': str}. MindIE 3.0: ready 200 is ready;
    ready 503 while live answers 200 is busy (mindie_api.service_state); both answer 500 "Service is abnormal"
    for the first health-check interval (about 5 s) after the ports open.
    """
    state = service_state((ready or {}).get('status'), (live or {}).get('status'))
    if state == 'unhealthy' and any((a or {}).get('status') == 500 and ABNORMAL in ((a or {}).get('body') or '')
                                    for a in (ready, live)):
        return 'starting'
    return state


def _answer_text(name, answer):
    if answer.get('status') is None:
        return '%s: no answer (%s)' % (name, answer.get('error') or 'refused')
    text = '%s: HTTP %s' % (name, answer['status'])
    if (answer.get('body') or '').strip():
        text += ' %s' % _body_message(answer['body'])
    return text


def check_health(ready, live, starting_for=None, management_listens=True):
    """Findings from the health endpoints (answers as in health_state, after the module's re-probes).

    ``starting_for``: seconds the service kept answering 500 "Service is abnormal" while the module re-probed
    (None when it never did). Busy is not a fault: an info finding. No answer while the management port does
    not listen is check_daemon's business (still loading).
    """
    state = health_state(ready, live)
    both = '%s, %s' % (_answer_text('/v2/health/ready', ready or {}), _answer_text('/v2/health/live', live or {}))
    if state == 'ready':
        return []
    if state == 'busy':
        return [finding(INFO, 'slow_inference', 'the service is busy, not down: %s. It is loaded and serving with '
                        'every batch slot taken (ServerConfig.HealthCheckConfig.npuUsageThreshold)' % both,
                        'Nothing to fix unless it stays busy: then spread the load over more instances, or use the '
                        'guide\'s maxBatchSize range. Do not restart a busy daemon.')]
    if state == 'starting':
        if starting_for is None:
            return [finding(INFO, 'service_start', 'the service is starting: %s (MindIE answers so for the first '
                            'health check, about 5 s after its ports open)' % both, 'Wait a few seconds.')]
        return [finding(ERROR, 'service_start', 'the service is abnormal: %s, still after %d s' % (both, starting_for),
                        'The health checker found a fault (a backend worker died, an NPU failed): read the daemon\'s '
                        'log file and npu-smi info, then restart it.')]
    if state == 'unreachable':
        if not management_listens:
            return []
        return [finding(WARNING, 'service_start', 'the management port listens but the health probe got no answer: '
                        '%s' % both,
                        'With httpsEnabled give ca_path, client_cert and client_key (MindIE serves mutual TLS only); '
                        'otherwise the daemon may be overloaded (maxLinkNum) or stuck.')]
    return [finding(ERROR, 'service_start', 'the service is unhealthy: %s' % both,
                    'Read the daemon\'s log file for the cause, then restart it (ascend.mindie.mindie_service '
                    'state=restarted).')]


def check_metrics(answer):
    """Findings from ``GET /metrics`` on the metrics port ({'status', 'body', 'error'} or None when not probed)."""
    if not answer or answer.get('status') in (None, 200):
        return []
    body = answer.get('body') or ''
    if answer['status'] == 500 and MONITOR_ERROR in body:
        return [finding(WARNING, 'config', '/metrics answers HTTP 500: %s: the daemon was started without '
                        'MIES_SERVICE_MONITOR_MODE=1, so it serves no metrics' % _body_message(body),
                        'Start it with metrics on: monitor: true (ascend.mindie.mindie_service), '
                        'mindie_service_monitor: true (ascend.mindie.service role, its default), or export '
                        'MIES_SERVICE_MONITOR_MODE=1 before mindieservice_daemon; then restart it.')]
    return [finding(WARNING, 'config', '/metrics answers HTTP %s: %s' % (answer['status'], _body_message(body)),
                    'Check metricsPort and the daemon\'s log file.')]


# ---------------------------------------------------------------------- config

def config_ports(config):
    """{'port': n, 'managementPort': n, 'metricsPort': n} from a parsed config: the node plan's ports
    (module_utils/plan.py server_endpoints; MindIE's defaults, a missing managementPort being port)."""
    ports = plan.server_endpoints(config)['ports']
    return {'port': ports['business'], 'managementPort': ports['management'], 'metricsPort': ports['metrics']}


def service_log_path(config, service_dir):
    """Path of the service log in the container (LogConfig.logPath when the config sets one)."""
    log_cfg = config.get('LogConfig') if isinstance(config, dict) else None
    path = SERVICE_LOG
    if isinstance(log_cfg, dict) and isinstance(log_cfg.get('logPath'), str) and log_cfg['logPath']:
        path = log_cfg['logPath']
    return path if path.startswith('/') else service_dir.rstrip('/') + '/' + path


def parse_config(text):
    """(config dict or None, error string or None)."""
    if text is None:
        return None, 'config.json does not exist'
    try:
        return load_config_text(text), None
    except ConfigParseError as exc:
        return None, str(exc)


def _models(config):
    deploy = ((config.get('BackendConfig') or {}).get('ModelDeployConfig') or {}) if isinstance(config, dict) else {}
    models = deploy.get('ModelConfig') if isinstance(deploy, dict) else None
    return [m for m in models or [] if isinstance(m, dict)]


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_config_file(stat, expected_uid=0):
    """Findings on config.json's mode and owner; ``stat`` is {'mode', 'uid', 'owner'} or None (missing)."""
    if stat is None:
        return [finding(ERROR, 'config', 'config.json does not exist on the node',
                        'Write it (ascend.mindie.service role) and mount it into the container.')]
    findings = []
    mode = stat.get('mode')
    if isinstance(mode, int) and mode & ~CONFIG_MAX_MODE & 0o777:
        findings.append(finding(ERROR, 'config', 'config.json has mode %s, looser than 0640: MindIE refuses it'
                                % _mode(mode), 'chmod 0640 config.json (mindie_service_config_dir/config.json).'))
    if stat.get('uid') is not None and expected_uid is not None and stat['uid'] != expected_uid:
        findings.append(finding(ERROR, 'config', 'config.json is owned by %s (uid %s), not by the daemon\'s user '
                                '(uid %s): MindIE refuses it' % (stat.get('owner') or '?', stat['uid'], expected_uid),
                                'chown it to the user the daemon runs as (root in the default container).'))
    return findings


def check_config(config, profile):
    """Findings on the content of a parsed config.json for a hardware profile (None when unknown)."""
    findings = []
    table = profiles.get_profile(profile)
    ranges = dict((key, (table[field]['min'], table[field]['max'])) for key, field in PROFILE_RANGE_KEYS.items()) if table else None
    label = table['label'] if table else None
    for index, model in enumerate(_models(config)):
        mem = _int(model.get('npuMemSize'))
        where = 'ModelConfig[%d].npuMemSize' % index
        if mem == -1:
            if is_multimodal(model) or not model.get('modelName'):
                findings.append(finding(ERROR, 'out_of_memory', '%s is -1 for the vision model %s: the KV cache '
                                        'takes all HBM and the vision encoder runs out of memory'
                                        % (where, model.get('modelName')),
                                        'Set npuMemSize to a fixed size (guide: %s).' % profiles.describe_range('npu_mem_size')))
        elif mem is not None and ranges:
            low, high = ranges['npuMemSize']
            if mem > high:
                findings.append(finding(WARNING, 'out_of_memory', '%s is %d, above the guide\'s %d-%d for %s'
                                        % (where, mem, low, high, label),
                                        'Lower npuMemSize to %d-%d.' % (low, high)))
            elif mem < low:
                findings.append(finding(INFO, 'slow_inference', '%s is %d, below the guide\'s %d-%d for %s: a '
                                        'smaller KV cache serves fewer requests at once'
                                        % (where, mem, low, high, label), 'Raise npuMemSize to %d-%d.' % (low, high)))
    sched = ((config.get('BackendConfig') or {}).get('ScheduleConfig') or {}) if isinstance(config, dict) else {}
    batch = _int(sched.get('maxBatchSize')) if isinstance(sched, dict) else None
    if batch is not None and ranges:
        low, high = ranges['maxBatchSize']
        if batch > high:
            findings.append(finding(WARNING, 'out_of_memory', 'maxBatchSize is %d, above the guide\'s %d-%d for %s'
                                    % (batch, low, high, label), 'Lower maxBatchSize to %d-%d.' % (low, high)))
        elif batch < low:
            findings.append(finding(WARNING, 'slow_inference', 'maxBatchSize is %d, below the guide\'s %d-%d for %s: '
                                    'throughput stays low' % (batch, low, high, label),
                                    'Raise maxBatchSize to %d-%d.' % (low, high)))
    for violation in validate_config(config, multimodal=False):
        findings.append(finding(ERROR, 'config', 'config.json breaks a MindIE rule: %s' % violation,
                                'Fix the value (ascend.mindie.mindie_config refuses such files before writing).'))
    return findings


# ---------------------------------------------------------------------- ports

def check_ports(listeners, wanted_ports, daemon_running):
    """Findings on listening sockets: ``listeners`` maps port -> {'pid', 'name', 'cmdline'} (pid/name may be None)."""
    findings = []
    for port in sorted(set(wanted_ports)):
        holder = listeners.get(port)
        if holder is None:
            continue
        if holder.get('pid') is None:
            if not daemon_running:
                findings.append(finding(WARNING, 'service_start', 'port %d listens (owner unknown) while the daemon '
                                        'does not run' % port,
                                        'Find it with netstat -tlnp | grep %d and stop it, or use other ports.' % port))
            continue
        if not is_mindie_process(holder.get('name'), holder.get('cmdline')):
            findings.append(finding(ERROR, 'service_start', 'port %d is held by another process: pid %s (%s)'
                                    % (port, holder['pid'], holder.get('name') or '?'),
                                    'Stop it or move MindIE to other ports (mindie_service_port, '
                                    'mindie_management_port, mindie_metrics_port).'))
    return findings


# ---------------------------------------------------------------------- logs

def last_run(text, pid=None, name=''):
    """The part of a log tail that belongs to the last daemon run.

    ``console.log`` (appended at every start by mindie_service): from its last start marker on. An unrotated
    ``mindservice.log``: from the first line of daemon ``pid`` on when its lines carry MindIE's ``[time] [pid]``
    prefix and one of them is that pid's; otherwise the whole text.
    """
    text = text or ''
    if name.startswith('console'):
        # mindie_service's marker, or the supervisor's before each start of a supervised daemon.
        index = max(text.rfind(CONSOLE_START_MARKER), text.rfind(mindie_supervisor.CONSOLE_MARKER))
        return text[text.rfind('\n', 0, index) + 1:] if index >= 0 else text
    if pid is None:
        return text
    lines = text.splitlines(True)
    for index, line in enumerate(lines):
        match = LOG_LINE_PID.match(line)
        if match and int(match.group(1)) == pid:
            return ''.join(lines[index:])
    return text


def check_logs(logs):
    """Findings from log tails, one per known failure.

    ``logs`` is a list of (name, text) in order of authority (the daemon's own log file first), or a dict (its names
    sorted). A failure is named with the first log that shows it, and the others that show it too.
    """
    ordered = sorted(logs.items()) if isinstance(logs, dict) else list(logs)
    findings = []
    seen = {}
    for name, text in ordered:
        for line in (text or '').splitlines():
            for index, (problem, section, regex, message, hint) in enumerate(LOG_PATTERNS):
                if regex.search(line):
                    entry = seen.setdefault(index, {'count': 0, 'line': '', 'log': name, 'also': []})
                    if entry['log'] == name:
                        entry['count'] += 1
                        entry['line'] = line.strip()
                    elif name not in entry['also']:
                        entry['also'].append(name)
                    break
    for index in sorted(seen):
        problem, section, dummy, message, hint = LOG_PATTERNS[index]
        entry = seen[index]
        findings.append(finding(ERROR, problem, '%s: %s: "%s"%s%s' % (
            entry['log'], message, entry['line'][:300],
            ' (%d lines)' % entry['count'] if entry['count'] > 1 else '',
            ' (also in %s)' % ', '.join(entry['also']) if entry['also'] else ''), hint, section=section))
    return findings


# ---------------------------------------------------------------------- model and test image

def image_format(head):
    """'jpeg', 'png', ... from the first bytes of a file, or None."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b'RIFF' and head[8:12] in (b'WEBP', b'AVI '):
        return 'webp' if head[8:12] == b'WEBP' else 'avi'
    if head[4:8] == b'ftyp':
        return 'mp4'
    if head[:4] == b'\x30\x26\xb2\x75':
        return 'wmv'
    return None


def check_test_image(path, info):
    """Findings on the test image: ``info`` is {'exists', 'readable', 'mode', 'size', 'format'}."""
    if not info or not info.get('exists'):
        return [finding(WARNING, 'image_load', 'test image %s does not exist' % path,
                        'Put a jpg/png at that path (mindie_test_image) on the node; /data is mounted into the '
                        'container.')]
    findings = []
    if info.get('is_dir'):
        return [finding(WARNING, 'image_load', 'test image %s is a directory' % path, 'Point to an image file.')]
    mode = info.get('mode')
    if not info.get('readable') or (isinstance(mode, int) and not mode & 0o444):
        findings.append(finding(WARNING, 'image_load', 'test image %s is not readable (mode %s)' % (path, _mode(mode)),
                                'chmod a+r it (0644) so the daemon can read it.'))
    ext = path.rsplit('.', 1)[-1].lower() if '.' in path.rsplit('/', 1)[-1] else ''
    fmt = info.get('format')
    if ext not in IMAGE_FORMATS:
        findings.append(finding(WARNING, 'image_load', 'test image %s has an unsupported extension %r' % (path, ext),
                                'Supported: %s.' % '/'.join(IMAGE_FORMATS)))
    if info.get('size') == 0:
        findings.append(finding(WARNING, 'image_load', 'test image %s is empty' % path, 'Replace it.'))
    elif info.get('head_read') and fmt is None:
        findings.append(finding(WARNING, 'image_load', 'test image %s is not a recognisable image (bad header)' % path,
                                'Replace it with a valid jpg/png.'))
    elif fmt and fmt not in ('jpeg', 'png', 'mp4', 'wmv', 'avi'):
        findings.append(finding(WARNING, 'image_load', 'test image %s is %s, not a supported format' % (path, fmt),
                                'Convert it to jpg or png.'))
    return findings


# ---------------------------------------------------------------------- the instance's supervisor

# The env a supervised container carries (the container role sets it): the instance's log_dir as it sees it.
SUPERVISOR_ENV = mindie_supervisor.ENV_STATE_DIR
SUPERVISOR_STATE_FILE = mindie_supervisor.STATE_FILE
# Where the supervisor writes console.log and MindIE's own logs (MINDIE_LOG_PATH) under the instance's log_dir.
SUPERVISED_CONSOLE_LOG = mindie_supervisor.CONSOLE_FILE
SUPERVISED_LOG_PATH = mindie_supervisor.DEFAULT_STATE_DIR + '/mindie'
DAEMON_STATUSES = ('starting', 'running')
# The supervisor's state file (``<log_dir>/supervisor.json``) as a dict; {} for an empty, garbled or non-object file.
supervisor_state = mindie_supervisor.read_state


def supervised(env):
    """Whether a container's environment (list of ``NAME=value`` or a dict) names the supervisor's state directory."""
    if isinstance(env, dict):
        return bool(env.get(SUPERVISOR_ENV))
    return any(str(item).startswith(SUPERVISOR_ENV + '=') and len(str(item)) > len(SUPERVISOR_ENV) + 1
               for item in env or [])


def last_exit_text(last_exit):
    """``exit code 1`` / ``signal 9`` and the supervisor's reason, from its ``last_exit`` (None when there is none)."""
    if not isinstance(last_exit, dict):
        return None
    parts = []
    if last_exit.get('signal') is not None:
        parts.append('signal %s' % last_exit['signal'])
    if last_exit.get('code') is not None:
        parts.append(exit_status_text(last_exit['code']) or 'exit status %s' % last_exit['code'])
    if last_exit.get('reason'):
        parts.append('(%s)' % last_exit['reason'])
    return ' '.join(parts) or 'an unknown exit'


def supervisor_daemon(state, now, log_path=SUPERVISED_LOG_PATH):
    """The daemon dict of :func:`check_daemon` from a supervisor's state (the supervisor knows its pid, not a pid file)."""
    running = state.get('status') in DAEMON_STATUSES and isinstance(state.get('daemon_pid'), int)
    started = state.get('started_at')
    last_exit = state.get('last_exit') if isinstance(state.get('last_exit'), dict) else {}
    return {'pid': state.get('daemon_pid') if running else None, 'running': running, 'cmdline': '',
            'age': int(now - started) if running and isinstance(started, (int, float)) and now >= started else None,
            'exit_code': None if running else last_exit.get('code'),
            'home': None, 'log_path': log_path, 'log_env_from': 'the supervisor (MINDIE_LOG_PATH)'}


def check_supervisor(state, state_path, container_running=True):
    """Findings on one instance from its supervisor's state (``{}`` when the file is missing or unreadable).

    crash-looping is an error with the daemon's last error lines (the known failures among them named as well);
    backoff and stopped are warnings; restarts of a daemon that serves again are info (kill -9, OOM: it healed).
    """
    if not container_running:
        return []
    if not state:
        return [finding(WARNING, 'service_start', '%s is missing or unreadable: the supervisor of this instance has '
                        'written no state' % state_path,
                        'Look at docker logs of the container (the supervisor is its main process) and at '
                        'console.log beside that file.')]
    status = state.get('status')
    restarts = state.get('restarts') if isinstance(state.get('restarts'), int) else 0
    ended = last_exit_text(state.get('last_exit'))
    lines = [str(line) for line in (state.get('last_error_lines') or []) if str(line).strip()][-20:]
    details = {'status': status, 'restarts': restarts, 'last_exit': state.get('last_exit'), 'last_error_lines': lines}
    shown = ' | '.join(line.strip() for line in lines[-5:])[:600] or '(none recorded)'
    findings = []
    if status == 'crash-looping':
        findings.append(finding(
            ERROR, 'service_start', 'the daemon is crash-looping: the supervisor stopped restarting it after %d '
            'start(s) inside its restart window; last exit: %s; last error lines: %s'
            % (len(state.get('starts') or []) or restarts + 1, ended or '-', shown),
            'Fix the cause shown in the last error lines (supervisor.json and console.log under the instance\'s '
            'log_dir, the MindIE log files below it), then restart the instance (ascend.mindie.mindie_service '
            'state=restarted, or re-run the service role: a changed config.json resets the restart history). The '
            'other instances are not affected.', details=details))
    elif status == 'backoff':
        findings.append(finding(
            WARNING, 'service_start', 'the daemon exited (%s) and the supervisor restarts it after a back-off '
            '(restart %d); last error lines: %s' % (ended or '-', restarts, shown),
            'If it keeps failing it is reported crash-looping after mindie_service_restart_limit starts; read the '
            'last error lines.', details=details))
    elif status in ('stopped', 'stopping'):
        findings.append(finding(
            WARNING, 'service_start', 'the instance is held %s by its supervisor (desired stopped, e.g. by the '
            'inference role or ascend.mindie.mindie_service state=stopped)' % status,
            'Start it again with ascend.mindie.mindie_service state=started.', details=details))
    elif status == 'waiting':
        findings.append(finding(
            WARNING, 'service_start', 'the supervisor is waiting for supervisor.json and config.json in the '
            'instance\'s config directory', 'Run the service role (it writes both).', details=details))
    elif status in DAEMON_STATUSES and restarts:
        findings.append(finding(
            INFO, 'service_start', 'the supervisor restarted the daemon %d time(s) since it started; last exit: %s'
            % (restarts, ended or '-'), 'It serves again without Ansible; if it recurs read the last error lines: '
            '%s' % shown, details=details))
    if status in ('crash-looping', 'backoff') and lines:
        findings += check_logs([('the last error lines of supervisor.json', '\n'.join(lines))])
    return findings


def instance_status(findings):
    """error / warning / ok: the worst finding of an instance."""
    severities = set(f.get('severity') for f in findings)
    return ERROR if ERROR in severities else (WARNING if WARNING in severities else 'ok')


# ---------------------------------------------------------------------- summary

# Worst first, then by guide section and problem (checks.sort_checks).
sort_findings = checks.sort_checks
# One line: the verdict, the counts and the problems found, worst first (checks.summarize).
summarize = checks.summarize
