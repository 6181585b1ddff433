# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluation of the deployment guide's prechecks, as pure functions.

Each ``check_*`` function takes what was observed on a node (NPU facts, versions,
Docker, memory, disk, OS, ports) and the configured thresholds, and returns a list
of checks in the shape of module_utils/checks.py (``id``/``name``, ``category``,
``status`` ``pass``, ``warn`` or ``fail``, ``message``/``reason``, ``hint``, ...).
Nothing here reads the node; the caller gathers.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import math

from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import likely_cause
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import (
    compare_versions,
    parse_version_range,
    version_in_ranges,
)
from ansible_collections.ascend.mindie.plugins.module_utils import profiles

# The statuses of module_utils/checks.py (one vocabulary for every check of the collection).
PASS, WARN, FAIL = checks.PASS, checks.WARN, checks.FAIL

_ARCH_ALIASES = {'amd64': 'x86_64', 'x64': 'x86_64', 'arm64': 'aarch64', 'armv8': 'aarch64'}

# The label the container role puts on every container it creates; only a container with it is ours.
MANAGED_LABEL = 'ascend.mindie.managed'
MANAGED_VALUE = 'true'
# The names of a plan's three service ports, in the order the prechecks role passes them.
PORT_NAMES = ('business', 'management', 'metrics')
RECOMMENDED_OS_KEYS = ('distribution', 'version')


class PrecheckInputError(ValueError):
    """The evaluator's inputs are not what it needs; ``problems`` lists every one, each naming its key."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(PrecheckInputError, self).__init__('Invalid precheck input: ' + '; '.join(self.problems))


def to_number(value, key, minimum=0):
    """``value`` as an int or float not below ``minimum``; raises PrecheckInputError naming ``key``.

    Numbers given as strings (``"64"``, as ``-e`` and templating give them) are converted; booleans,
    lists, dicts, NaN and infinities are refused.
    """
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
    if number is None or (isinstance(number, float) and (math.isnan(number) or math.isinf(number))):
        raise PrecheckInputError(['%s must be a number, got %r (%s)' % (key, value, type(value).__name__)])
    if minimum is not None and number < minimum:
        raise PrecheckInputError(['%s must be at least %s, got %r' % (key, minimum, value)])
    return number


def _suggest(key, known):
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    return ' (did you mean %s?)' % close[0] if close else ''


def validate_inputs(min_memory_gb=None, min_disk_free_gb=None, recommended_os=None, ports=None, master_port=None):
    """The thresholds and the plan, typed and checked; raises PrecheckInputError listing every problem.

    Returns ``{'min_memory_gb': {profile: number}, 'min_disk_free_gb': number, 'recommended_os': {...},
    'ports': [int], 'master_port': int or None}``.
    """
    problems = []
    out = {'min_memory_gb': {}, 'min_disk_free_gb': 0, 'recommended_os': {}, 'ports': [], 'master_port': None}

    def attempt(func, *args):
        try:
            return func(*args)
        except PrecheckInputError as exc:
            problems.extend(exc.problems)
            return None

    if min_memory_gb is not None and not isinstance(min_memory_gb, dict):
        problems.append('min_memory_gb must be a dict of profile name to GB, got %r' % (min_memory_gb,))
    for profile, value in sorted((min_memory_gb or {}).items() if isinstance(min_memory_gb, dict) else [],
                                 key=lambda item: str(item[0])):
        known = profiles.profile_names()
        if profile not in known:
            problems.append('min_memory_gb has an unknown profile %r%s; known profiles: %s'
                            % (profile, _suggest(profile, known), ', '.join(known)))
            continue
        out['min_memory_gb'][profile] = attempt(to_number, value, 'min_memory_gb.%s' % profile)
    if min_disk_free_gb is not None:
        out['min_disk_free_gb'] = attempt(to_number, min_disk_free_gb, 'min_disk_free_gb')

    if recommended_os is not None and not isinstance(recommended_os, dict):
        problems.append('recommended_os must be a dict with the keys %s, got %r'
                        % (', '.join(RECOMMENDED_OS_KEYS), recommended_os))
    for key, value in sorted((recommended_os or {}).items() if isinstance(recommended_os, dict) else [],
                             key=lambda item: str(item[0])):
        if key not in RECOMMENDED_OS_KEYS:
            problems.append('recommended_os has an unknown key %r%s; known keys: %s'
                            % (key, _suggest(key, RECOMMENDED_OS_KEYS), ', '.join(RECOMMENDED_OS_KEYS)))
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            problems.append('recommended_os.%s must be a non-empty string, got %r' % (key, value))
        else:
            out['recommended_os'][key] = str(value).strip()

    for index, port in enumerate(ports or []):
        name = 'ports[%d]%s' % (index, (' (%s)' % PORT_NAMES[index]) if len(ports) == 3 else '')
        number = attempt(to_number, port, name, 1)
        if number is None:
            continue
        if number != int(number) or number > 65535:
            problems.append('%s must be a TCP port in [1, 65535], got %r' % (name, port))
            continue
        out['ports'].append(int(number))
    if master_port is not None:
        number = attempt(to_number, master_port, 'master_port', 1)
        if number is not None and (number != int(number) or number > 65535):
            problems.append('master_port must be a TCP port in [1, 65535], got %r' % (master_port,))
        elif number is not None:
            out['master_port'] = int(number)
    if problems:
        raise PrecheckInputError(problems)
    return out


def result(name, category, status, reason, hint=''):
    """One precheck in the collection's check shape (module_utils/checks.py; ``name`` is its id, ``reason`` its message)."""
    return checks.make(name, category, status, reason, hint)


# The overall status of a list of checks.
worst = checks.worst


def _chip_id(chip):
    """The id MindIE's npuDeviceIds use: the logical id, else the NPU id."""
    logical = chip.get('logical_id')
    return chip.get('npu_id') if logical is None else logical


def _chip_label(chip):
    label = 'NPU %s' % chip.get('npu_id')
    if chip.get('logical_id') is not None and chip.get('logical_id') != chip.get('npu_id'):
        label += ' (logical %s)' % chip.get('logical_id')
    return label


# ---------------------------------------------------------------------------- NPU

def check_npu(npu, npu_error, devices, profile, foreign_action='fail', own_pids=()):
    """npu-smi answers, the planned chips exist and are healthy, the count fits the
    profile, and no foreign process holds HBM on a planned chip."""
    cat = 'npu'
    if npu_error or not npu:
        first = (npu_error or 'no NPU facts').strip().splitlines()[0]
        hint = 'Run npu-smi info as root on the node.'
        cause = likely_cause(npu_error)       # a hung driver, -8005, missing driver libraries
        if cause:
            hint = cause[:1].upper() + cause[1:]
        elif 'not found' in (npu_error or ''):
            hint = 'Install the Ascend driver (it ships npu-smi) and re-run.'
        return [result('npu_smi', cat, FAIL, 'npu-smi does not answer: %s' % first, hint)]

    out = [result('npu_smi', cat, PASS, 'npu-smi %s answers, %d NPUs visible' % (
        npu.get('npu_smi_version') or '?', npu.get('count', 0)))]
    chips = npu.get('chips') or []
    by_id = dict((_chip_id(chip), chip) for chip in chips)
    devices = list(devices or [])

    missing = [d for d in devices if d not in by_id]
    if missing:
        out.append(result('npu_devices', cat, FAIL, 'planned NPUs %s are not visible (visible: %s)' % (
            ', '.join(map(str, missing)), ', '.join(str(k) for k in sorted(by_id)) or 'none'),
            'Check the driver and device nodes, or plan fewer NPUs (mindie_npu_count).'))

    unhealthy = [by_id[d] for d in devices if d in by_id and by_id[d].get('health') != 'OK']
    if unhealthy:
        out.append(result('npu_health', cat, FAIL, 'unhealthy: %s' % ', '.join(
            '%s is %s' % (_chip_label(c), c.get('health')) for c in unhealthy),
            'Inspect with npu-smi info -t health -i <id>; replace or exclude the chip before deploying.'))
    elif devices and not missing:
        out.append(result('npu_health', cat, PASS, 'all %d planned NPUs are OK' % len(devices)))

    # The NPU counts a Qwen2-VL-7B deployment may use on the profile (the profile table, from the model card).
    allowed = (profiles.get_profile(profile) or {}).get('npu_counts')
    if allowed is None:
        names = sorted(set(str(c.get('name')) for c in chips))
        sizes = sorted(set(str(c.get('hbm_total_mb')) for c in chips))
        out.append(result('npu_profile', cat, FAIL, 'not an %s: %d chips named %s with %s MB HBM' % (
            profiles.supported_labels(), len(chips), '/'.join(names) or '-', '/'.join(sizes) or '-'),
            'This collection deploys on %s.' % profiles.describe_supported()))
    elif len(devices) not in allowed:
        out.append(result('npu_count', cat, FAIL, '%s plans %d NPUs; Qwen2-VL-7B on this profile needs %s' % (
            profile, len(devices), ' or '.join(map(str, allowed))),
            'Set mindie_npu_count to %s.' % ' or '.join(map(str, allowed))))
    else:
        out.append(result('npu_count', cat, PASS, '%s with %d planned NPUs' % (profile, len(devices))))

    own = set(int(p) for p in own_pids or ())
    planned_npu_ids = set(by_id[d].get('npu_id') for d in devices if d in by_id)
    foreign = [p for p in npu.get('processes') or []
               if p.get('npu_id') in planned_npu_ids and int(p.get('pid') or -1) not in own]
    if foreign:
        status = FAIL if foreign_action == 'fail' else WARN
        out.append(result('npu_processes', cat, status, 'foreign processes hold HBM: %s' % ', '.join(
            'pid %s on NPU %s (%s MB)' % (p.get('pid'), p.get('npu_id'), p.get('memory_mb')) for p in foreign[:5]),
            'Stop them (npu-smi info shows them) or set mindie_precheck_foreign_process_action: warn.'))
    else:
        out.append(result('npu_processes', cat, PASS, 'no foreign process holds HBM on the planned NPUs'))
    return out


def check_versions(driver, firmware, min_driver, min_firmware):
    """Driver and firmware present, at least the minimum versions, and compatible."""
    cat = 'npu'
    out = []
    for name, info, minimum, what in (('driver_version', driver, min_driver, 'driver'),
                                      ('firmware_version', firmware, min_firmware, 'firmware')):
        version = (info or {}).get('version')
        if not version:
            out.append(result(name, cat, FAIL, 'no %s version.info under the Ascend home' % what,
                              'Install the Ascend %s (version.info is missing).' % what))
        elif minimum and compare_versions(version, minimum) < 0:
            out.append(result(name, cat, FAIL, '%s %s is older than the minimum %s' % (what, version, minimum),
                              'Upgrade the %s, or lower mindie_precheck_min_%s_version.' % (what, what)))
        else:
            out.append(result(name, cat, PASS, '%s %s' % (what, version)))
    drv = (driver or {}).get('version')
    fw = (firmware or {}).get('version')
    ranges_text = (driver or {}).get('compatible_version_fw')
    if drv and fw:
        ranges = parse_version_range(ranges_text) if ranges_text else []
        if not ranges:
            out.append(result('firmware_compatible', cat, WARN, 'driver %s names no compatible firmware range' % drv))
        elif version_in_ranges(fw, ranges):
            out.append(result('firmware_compatible', cat, PASS, 'firmware %s is in the driver\'s range %s' % (fw, ranges_text)))
        else:
            out.append(result('firmware_compatible', cat, FAIL, 'firmware %s is outside the driver\'s range %s' % (fw, ranges_text),
                              'Install the firmware that matches driver %s, then reboot.' % drv))
    return out


# ---------------------------------------------------------------------------- host

def check_docker(docker, min_version, sdk_version, sdk_error):
    """Docker installed, daemon answering, new enough; the Python SDK importable.

    ``docker``: {'client', 'server', 'error'} - no client: Docker is not installed; no server: the engine does not
    answer. {'unasked': why} when the engine could not even be asked (the SDK the collection asks it through is missing).
    """
    cat = 'host'
    docker = docker or {}
    out = []
    if docker.get('unasked'):
        out.append(result('docker_daemon', cat, FAIL, 'the Docker engine was not asked: %s' % docker['unasked'],
                          'Install the Docker SDK for Python (see docker_sdk); the collection talks to the engine through it.'))
    elif not docker.get('client'):
        out.append(result('docker_installed', cat, FAIL, 'docker is not installed (%s)' % (docker.get('error') or 'not found'),
                          'Install Docker >= %s.' % min_version))
    elif not docker.get('server'):
        out.append(result('docker_daemon', cat, FAIL, 'the Docker daemon does not answer: %s' % (
            (docker.get('error') or '').strip().splitlines() or ['no answer'])[0],
            'Start it (systemctl start docker) and check the socket permissions.'))
    elif compare_versions(_docker_version(docker['server']), min_version) < 0:
        out.append(result('docker_daemon', cat, FAIL, 'Docker %s is older than %s' % (docker['server'], min_version),
                          'Upgrade Docker.'))
    else:
        out.append(result('docker_daemon', cat, PASS, 'Docker %s answers' % docker['server']))
    if sdk_version:
        out.append(result('docker_sdk', cat, PASS, 'Docker SDK for Python %s importable' % sdk_version))
    else:
        out.append(result('docker_sdk', cat, FAIL, 'the docker Python SDK is not importable: %s' % (sdk_error or 'missing'),
                          'Install python3-docker (or pip install docker), or set mindie_precheck_install_docker_sdk: true.'))
    return out


def _docker_version(text):
    """'20.10.24+dfsg1' -> '20.10.24'; '24.0.7-ce' -> '24.0.7'."""
    head = str(text).split('+', 1)[0].split('-', 1)[0]
    return head or '0'


def check_memory(total_mb, profile, min_gb_by_profile):
    need = (min_gb_by_profile or {}).get(profile)
    if need is not None:
        need = to_number(need, 'min_memory_gb.%s' % profile)
    have_gb = round((total_mb or 0) / 1024.0, 1)
    if need is None:
        return [result('host_memory', 'host', PASS, '%.1f GB (no minimum for profile %s)' % (have_gb, profile))]
    # A "64 GB" server reports a little less than 64 GiB to the OS.
    if (total_mb or 0) < need * 1024 * 0.95:
        return [result('host_memory', 'host', FAIL, '%.1f GB memory, %s needs %s GB' % (have_gb, profile, need),
                       'Use a server with more memory, or lower mindie_precheck_min_memory_gb.')]
    return [result('host_memory', 'host', PASS, '%.1f GB memory (>= %s GB)' % (have_gb, need))]


def check_disk(free_bytes_by_path, min_gb):
    min_gb = to_number(min_gb, 'min_disk_free_gb')
    out = []
    for path in sorted(free_bytes_by_path):
        free = free_bytes_by_path[path]
        if free is None:
            out.append(result('disk_free', 'host', FAIL, '%s does not exist and has no existing parent' % path,
                              'Create it or point the image/model paths elsewhere.'))
            continue
        free_gb = free / float(1024 ** 3)
        if free_gb < min_gb:
            out.append(result('disk_free', 'host', FAIL, '%.1f GB free at %s, need %s GB' % (free_gb, path, min_gb),
                              'Free space there (docker image prune, old weights), or lower mindie_precheck_min_disk_free_gb.'))
        else:
            out.append(result('disk_free', 'host', PASS, '%.1f GB free at %s' % (free_gb, path)))
    return out


def check_os(distribution, version, recommended):
    recommended = recommended or {}
    want_dist = recommended.get('distribution', 'openEuler')
    want_ver = str(recommended.get('version', '24.03'))
    found = '%s %s' % (distribution, version)
    if str(distribution).lower() == want_dist.lower() and str(version).startswith(want_ver):
        return [result('os', 'host', PASS, found)]
    return [result('os', 'host', WARN, '%s; the guide recommends %s %s' % (found, want_dist, want_ver),
                   'Supported but not the guide\'s tested OS.')]


def normalize_arch(arch):
    arch = str(arch or '').lower()
    return _ARCH_ALIASES.get(arch, arch)


def check_arch(node_arch, image_arch):
    node, image = normalize_arch(node_arch), normalize_arch(image_arch)
    if not image:
        return [result('architecture', 'host', WARN, 'node is %s; the image architecture is not configured' % node,
                       'Set mindie_image_architecture.')]
    if node != image:
        return [result('architecture', 'host', FAIL, 'node is %s but the MindIE image is %s' % (node, image),
                       'Use the image built for %s.' % node)]
    return [result('architecture', 'host', PASS, 'node and image are %s' % node)]


def check_ports(listening, ports, master_port, own_ports=()):
    """The configured service ports and MASTER_PORT must be free (or held by our own service)."""
    own = set(own_ports or ())
    wanted = sorted(set(int(p) for p in ports or ()))
    if master_port:
        wanted.append(int(master_port))
    busy = [p for p in wanted if p in set(listening or ()) and p not in own]
    if busy:
        return [result('ports_free', 'host', FAIL, 'ports already listening: %s' % ', '.join(map(str, busy)),
                       'Stop what listens there (ss -ltnp) or choose other ports in the plan.')]
    return [result('ports_free', 'host', PASS, 'ports %s free' % ', '.join(map(str, wanted)))]


def check_planned_ports(ports, master_port, names=PORT_NAMES):
    """The plan's ports must not collide with each other.

    ``ports`` are the business, management and metrics ports (in that order). MindIE shares a listener between
    ports that are equal (MindIE-LLM http_server.cpp, as mindie_schema applies it): all three equal, business =
    management, or management = metrics are its layouts and pass; business = metrics with another management
    port is refused by MindIE when business and management share an address, so it is a warning here (the
    addresses are not part of the plan). MASTER_PORT equal to any of them fails.
    """
    ports = [int(p) for p in ports or ()]
    labels = ['%s port' % names[i] if len(ports) == len(names) and i < len(names) else 'port #%d' % (i + 1)
              for i in range(len(ports))]
    hint = ('Give the business, management and metrics ports one value for all three (single-port mode), three '
            'different values, or business = management / management = metrics; and MASTER_PORT '
            '(mindie_master_port) a port of its own.')
    clashes = []
    warning = None
    if len(ports) == 3:
        business, management, metrics = ports
        if business == metrics != management:
            warning = ('business and metrics port are both %d while the management port is %d: MindIE refuses this '
                       'layout when business and management listen on the same address' % (business, management))
    elif len(set(ports)) != len(ports):
        seen = {}
        for label, port in zip(labels, ports):
            seen.setdefault(port, []).append(label)
        clashes += ['%s are all %d' % (' and '.join(group), port) for port, group in sorted(seen.items()) if len(group) > 1]
    if master_port is not None:
        same = [label for label, port in zip(labels, ports) if port == int(master_port)]
        if same:
            clashes.append('MASTER_PORT %d is also the %s' % (int(master_port), ' and the '.join(same)))
    if clashes:
        return [result('ports_distinct', 'host', FAIL, 'planned ports collide: %s' % '; '.join(clashes), hint)]
    if warning:
        return [result('ports_distinct', 'host', WARN, warning, hint)]
    if len(ports) > 1 and len(set(ports)) == 1:
        return [result('ports_distinct', 'host', PASS, 'single-port mode: %s share port %d' % (
            ', '.join(names[:len(ports)]) if len(ports) == len(names) else 'all service ports', ports[0]))]
    if len(ports) > 1 and len(set(ports)) < len(ports):
        shared = sorted(set(p for p in ports if ports.count(p) > 1))
        return [result('ports_distinct', 'host', PASS, 'shared listener: %s' % ', '.join(
            '%s on %d' % (' and '.join(l for l, p in zip(labels, ports) if p == port), port) for port in shared))]
    return [result('ports_distinct', 'host', PASS, 'planned ports are distinct')]


def check_own_container(name, info):
    """Whether the container named like ours is ours: only one labelled ``ascend.mindie.managed=true`` is.

    ``info`` is None when no such container exists, else ``{'id': str, 'labels': dict or None}``.
    """
    if not name:
        return []
    if info is None:
        return [result('own_container', 'host', PASS, 'no container named %s yet' % name)]
    labels = info.get('labels') or {}
    if labels.get(MANAGED_LABEL) == MANAGED_VALUE:
        return [result('own_container', 'host', PASS, 'container %s (%s) was created by ascend.mindie' % (
            name, str(info.get('id'))[:12]))]
    return [result('own_container', 'host', FAIL,
                   'container %s (%s) exists but has no label %s=%s: it was not created by this collection, so its '
                   'processes and ports count as foreign' % (name, str(info.get('id'))[:12], MANAGED_LABEL, MANAGED_VALUE),
                   'Remove or rename that container (docker rm -f %s) if it is yours to remove, or set '
                   'mindie_container_name to another name; the container role will not replace it.' % name)]
