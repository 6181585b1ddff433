# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detection rules of ascend.mindie.mindie_diagnose (pure functions, no I/O).

Every ``check_*`` function takes what the module collected and returns a list of findings::

    {'severity': 'error'|'warning'|'info', 'problem': <one of PROBLEMS>,
     'guide_section': '7.1.N', 'message': str, 'hint': str}

``problem`` and ``guide_section`` follow section 7 (故障排除) of the deployment guide:
7.1.1 the service does not start, 7.1.2 out of memory, 7.1.3 slow inference, 7.1.4 image load
failures. ``config``, ``npu`` and ``container`` findings are causes of 7.1.1 unless said otherwise.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import HUNG_DRIVER_HINT
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    NpuSmiParseError,
    PROFILE_32G,
    PROFILE_64G,
    classify_profile,
    parse_npu_smi_info,
)
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_schema import (
    ConfigParseError,
    is_multimodal,
    load_config_text,
    validate_config,
)

ERROR, WARNING, INFO = 'error', 'warning', 'info'
SEVERITIES = (ERROR, WARNING, INFO)
PROBLEMS = ('service_start', 'out_of_memory', 'slow_inference', 'image_load', 'config', 'npu', 'container')
SECTIONS = {
    'service_start': '7.1.1', 'config': '7.1.1', 'npu': '7.1.1', 'container': '7.1.1',
    'out_of_memory': '7.1.2', 'slow_inference': '7.1.3', 'image_load': '7.1.4',
}

# The guide's table (section 5.3 / 6): per-profile ranges of npuMemSize (GB) and maxBatchSize.
PROFILE_RANGES = {
    PROFILE_32G: {'npuMemSize': (8, 10), 'maxBatchSize': (4, 8)},
    PROFILE_64G: {'npuMemSize': (16, 20), 'maxBatchSize': (16, 32)},
}
GUIDE_PORTS = (1040, 1041, 1042)
DEFAULT_PORTS = {'port': 1025, 'managementPort': 1026, 'metricsPort': 1027}
CONFIG_MAX_MODE = 0o640
DAEMON_NAMES = ('mindieservice_d',  # comm is cut at 15 characters
                'mindie_llm', 'mindie-llm', 'mindie_sim')
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
     'Read the lines before it in mindservice.log / console.log for the cause.'),
)

_IMAGE_MAGIC = (
    (b'\xff\xd8\xff', 'jpeg'),
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'GIF8', 'gif'),
    (b'BM', 'bmp'),
)


def finding(severity, problem, message, hint='', section=None):
    """One finding; ``section`` defaults to the guide section of ``problem``."""
    return {'severity': severity, 'problem': problem, 'guide_section': section or SECTIONS[problem],
            'message': message, 'hint': hint}


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
    if '-8005' in text or '-8005' in (info_error or '') or 'dcmi module initialize failed' in text:
        return [finding(ERROR, 'npu', 'npu-smi info fails: dcmi module initialize failed (ret -8005)',
                        'The driver or firmware was upgraded without a reboot (reboot the node), or npu-smi ran as '
                        'a user that may not use the driver (run it as root / in HwHiAiUser\'s group).')], None, None
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
    return findings, parsed, classify_profile(chips) or _profile_by_hbm(chips)


def _profile_by_hbm(chips):
    """The 32G/64G profile from the HBM size alone (subsets of the cards, e.g. inside a container)."""
    totals = set(c.get('hbm_total_mb') for c in chips or [])
    if totals == set([32768]):
        return PROFILE_32G
    if totals == set([65536]):
        return PROFILE_64G
    return None


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
                                'Host memory ran out: the guide needs >= 64 GB (32G) / 128 GB (64G).'))
    return findings


def check_daemon(container_running, daemon, ports_listening):
    """Findings on the daemon: ``daemon`` is {'pid': int or None, 'running': bool} or None when unknown."""
    if not container_running or daemon is None:
        return []
    if not daemon.get('running'):
        return [finding(ERROR, 'service_start', 'mindieservice_daemon is not running in the container',
                        'Start it (ascend.mindie.mindie_service state=started) and read mindservice.log / '
                        'console.log for why it stopped.')]
    if not ports_listening:
        return [finding(WARNING, 'service_start', 'mindieservice_daemon runs (pid %s) but its ports do not listen'
                        % daemon.get('pid'),
                        'It is still loading, or it hangs: an npuMemSize too large makes start-up hang.')]
    return []


# ---------------------------------------------------------------------- config

def config_ports(config):
    """{'port': n, 'managementPort': n, 'metricsPort': n} from a parsed config (MindIE defaults filled in)."""
    server = config.get('ServerConfig') if isinstance(config, dict) else None
    server = server if isinstance(server, dict) else {}
    ports = {}
    for key, default in DEFAULT_PORTS.items():
        value = server.get(key, default)
        ports[key] = value if isinstance(value, int) and not isinstance(value, bool) else default
    return ports


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
    ranges = PROFILE_RANGES.get(profile)
    label = {PROFILE_32G: '32G', PROFILE_64G: '64G'}.get(profile)
    for index, model in enumerate(_models(config)):
        mem = _int(model.get('npuMemSize'))
        where = 'ModelConfig[%d].npuMemSize' % index
        if mem == -1:
            if is_multimodal(model) or not model.get('modelName'):
                findings.append(finding(ERROR, 'out_of_memory', '%s is -1 for the vision model %s: the KV cache '
                                        'takes all HBM and the vision encoder runs out of memory'
                                        % (where, model.get('modelName')),
                                        'Set npuMemSize to a fixed size (guide: 8-10 on 32G, 16-20 on 64G).'))
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

def is_daemon_process(name, cmdline=''):
    text = ('%s %s' % (name or '', cmdline or '')).lower()
    return any(n in text for n in DAEMON_NAMES)


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
        if not is_daemon_process(holder.get('name'), holder.get('cmdline')):
            findings.append(finding(ERROR, 'service_start', 'port %d is held by another process: pid %s (%s)'
                                    % (port, holder['pid'], holder.get('name') or '?'),
                                    'Stop it or move MindIE to other ports (mindie_service_port, '
                                    'mindie_management_port, mindie_metrics_port).'))
    return findings


# ---------------------------------------------------------------------- logs

def check_logs(logs):
    """Findings from log tails: ``logs`` maps a log name to its text. One finding per known failure."""
    findings = []
    seen = {}
    for name in sorted(logs):
        for line in (logs[name] or '').splitlines():
            for index, (problem, section, regex, message, hint) in enumerate(LOG_PATTERNS):
                if regex.search(line):
                    entry = seen.setdefault(index, {'count': 0, 'line': '', 'log': name})
                    entry['count'] += 1
                    entry['line'] = line.strip()
                    entry['log'] = name
                    break
    for index in sorted(seen):
        problem, section, dummy, message, hint = LOG_PATTERNS[index]
        entry = seen[index]
        findings.append(finding(ERROR, problem, '%s: %s: "%s"%s' % (
            entry['log'], message, entry['line'][:300],
            ' (%d lines)' % entry['count'] if entry['count'] > 1 else ''), hint, section=section))
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


def check_model_dir(path, checks):
    """Findings from the weight-directory checks of module_utils/model_dir.

    ``checks`` are the dicts of ``model_dir.check_model_dir(path)`` followed by those of a
    read-only ``model_dir.check_permissions(path)`` (the same checks the prechecks run).
    """
    failed = [c for c in checks if c['status'] != 'pass']
    gone = [c for c in failed if c['name'] == 'model_dir_exists']
    if gone:
        return [finding(ERROR, 'out_of_memory', 'model directory %s: %s' % (path, gone[0]['reason']),
                        gone[0]['hint'] or 'Download the weights there (mindie_model_path).', section='7.1.2')]
    findings = []
    for check in failed:
        severity = ERROR if check['status'] == 'fail' else WARNING
        if check['name'] == 'model_dir_mode':
            findings.append(finding(severity, 'config', 'model directory %s: MindIE refuses it' % check['reason'],
                                    'chmod 0750 %s' % path))
        elif check['name'] == 'model_config_mode':
            findings.append(finding(WARNING, 'config', "the model's config.json: %s" % check['reason'],
                                    'chmod 0640 %s/config.json' % path))
        else:
            findings.append(finding(severity, 'out_of_memory', 'the weights in %s are incomplete: %s'
                                    % (path, check['reason']),
                                    'Download the missing files again and verify them (sha256) '
                                    '(guide 7.1.2: check the model files): %s' % check['hint']))
    return findings


# ---------------------------------------------------------------------- summary

_RANK = {ERROR: 0, WARNING: 1, INFO: 2}


def sort_findings(findings):
    return sorted(findings, key=lambda f: (_RANK.get(f['severity'], 3), f['guide_section'], f['problem']))


def summarize(findings, collect_errors=()):
    """One line: the counts and the problems found, worst first."""
    counts = dict((s, sum(1 for f in findings if f['severity'] == s)) for s in SEVERITIES)
    if not counts[ERROR] and not counts[WARNING]:
        line = 'OK: no problem found'
    else:
        status = 'FAIL' if counts[ERROR] else 'WARN'
        problems = []
        for f in sort_findings(findings):
            if f['severity'] == INFO:
                continue
            label = '%s (%s)' % (f['problem'], f['guide_section'])
            if label not in problems:
                problems.append(label)
        line = '%s: %d error(s), %d warning(s): %s; first: %s' % (
            status, counts[ERROR], counts[WARNING], ', '.join(problems), sort_findings(findings)[0]['message'])
    if collect_errors:
        line += ' [%d item(s) could not be collected]' % len(collect_errors)
    return line
