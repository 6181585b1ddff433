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
from ansible_collections.ascend.mindie.plugins.module_utils import plan
from ansible_collections.ascend.mindie.plugins.module_utils import profiles

# The statuses of module_utils/checks.py (one vocabulary for every check of the collection).
PASS, WARN, FAIL = checks.PASS, checks.WARN, checks.FAIL

_ARCH_ALIASES = {'amd64': 'x86_64', 'x64': 'x86_64', 'arm64': 'aarch64', 'armv8': 'aarch64'}

# The label the container role puts on every container it creates; only a container with it is ours.
MANAGED_LABEL = 'ascend.mindie.managed'
MANAGED_VALUE = 'true'
# The names of a plan's three service ports, in the order the prechecks role passes them.
PORT_NAMES = ('business', 'management', 'metrics')
# The ports of one instance of the plan (mindie_plan.instances[].ports), the three HTTP ones first.
INSTANCE_PORTS = PORT_NAMES + ('inter_comm', 'multi_nodes_infer')
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
        number = _tcp_port(port, 'ports[%d]%s' % (index, (' (%s)' % PORT_NAMES[index]) if len(ports) == 3 else ''),
                           problems)
        if number is not None:
            out['ports'].append(number)
    if master_port is not None:
        out['master_port'] = _tcp_port(master_port, 'master_port', problems)
    if problems:
        raise PrecheckInputError(problems)
    return out


def _tcp_port(value, key, problems):
    """``value`` as a TCP port, or None with the problem added to ``problems``."""
    try:
        number = to_number(value, key, 1)
    except PrecheckInputError as exc:
        problems.extend(exc.problems)
        return None
    if number != int(number) or number > 65535:
        problems.append('%s must be a TCP port in [1, 65535], got %r' % (key, value))
        return None
    return int(number)


def validate_instances(instances):
    """The plan's instances (``mindie_plan.instances``), typed; raises PrecheckInputError listing every problem.

    Each becomes ``{'name', 'container', 'devices': [int], 'ports': {family: int}, 'master_port': int or None,
    'hccl': {'first', 'last'} or None}``; the plan's other keys (URLs, addresses, directories) are not read here.
    ``container`` defaults to ``name``; the port families are those of INSTANCE_PORTS.
    """
    problems = []
    if not isinstance(instances, (list, tuple)):
        raise PrecheckInputError(['instances must be the list mindie_plan.instances, got %r' % (instances,)])
    out = []
    for index, inst in enumerate(instances):
        where = 'instances[%d]' % index
        if not isinstance(inst, dict):
            problems.append('%s must be a dict (an instance of mindie_plan.instances), got %r' % (where, inst))
            continue
        name = inst.get('name')
        if not isinstance(name, str) or not name.strip():
            problems.append('%s.name must be a non-empty string, got %r' % (where, name))
            continue
        where = 'instances[%d] (%s)' % (index, name)
        container = inst.get('container') or name
        devices = inst.get('devices')
        if not isinstance(devices, (list, tuple)) or not devices or [d for d in devices
                                                                     if isinstance(d, bool) or not isinstance(d, int) or d < 0]:
            problems.append('%s.devices must be a non-empty list of NPU ids, got %r' % (where, devices))
            devices = []
        ports = inst.get('ports') or {}
        typed_ports = {}
        if not isinstance(ports, dict):
            problems.append('%s.ports must be a dict of %s, got %r' % (where, ', '.join(INSTANCE_PORTS), ports))
            ports = {}
        for family in sorted(ports):
            if family not in INSTANCE_PORTS:
                problems.append('%s.ports has an unknown port %r%s; known: %s' % (
                    where, family, _suggest(family, INSTANCE_PORTS), ', '.join(INSTANCE_PORTS)))
                continue
            number = _tcp_port(ports[family], '%s.ports.%s' % (where, family), problems)
            if number is not None:
                typed_ports[family] = number
        master_port = None
        if inst.get('master_port') is not None:
            master_port = _tcp_port(inst['master_port'], '%s.master_port' % where, problems)
        hccl = inst.get('hccl')
        typed_hccl = None
        if hccl is not None:
            first = _tcp_port((hccl or {}).get('first') if isinstance(hccl, dict) else None, '%s.hccl.first' % where, problems)
            last = _tcp_port((hccl or {}).get('last') if isinstance(hccl, dict) else None, '%s.hccl.last' % where, problems)
            if first is not None and last is not None and first > last:
                problems.append('%s.hccl is the range %d-%d: first above last' % (where, first, last))
            elif first is not None and last is not None:
                typed_hccl = {'first': first, 'last': last}
        out.append({'name': name, 'container': container, 'devices': list(devices), 'ports': typed_ports,
                    'master_port': master_port, 'hccl': typed_hccl})
    names = [inst['name'] for inst in out]
    twice = sorted(set(n for n in names if names.count(n) > 1))
    if twice:
        problems.append('instances name %s more than once' % ', '.join(twice))
    if problems:
        raise PrecheckInputError(problems)
    return out


def instance_ports(instances):
    """``{port: what it is}`` of every port the instances listen on: the families of INSTANCE_PORTS, MASTER_PORT and
    every port of the HCCL range, each named after its instance (``'mindie-1 business'``). A port two families share
    (MindIE's shared listeners) is named once, after the first."""
    ports = {}
    several = len(instances) > 1
    for inst in instances:
        prefix = (inst['name'] + ' ') if several else ''
        for family in INSTANCE_PORTS:
            if family in inst['ports']:
                ports.setdefault(inst['ports'][family], prefix + family)
        if inst.get('master_port'):
            ports.setdefault(inst['master_port'], prefix + 'MASTER_PORT')
        if inst.get('hccl'):
            for port in range(inst['hccl']['first'], inst['hccl']['last'] + 1):
                ports.setdefault(port, '%sHCCL %d-%d' % (prefix, inst['hccl']['first'], inst['hccl']['last']))
    return ports


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

def _instances(devices, instances):
    """The instances to check: ``instances`` (validate_instances' shape), else one unnamed instance of ``devices``."""
    if instances:
        return list(instances)
    return [{'name': None, 'container': None, 'devices': list(devices or [])}]


def _ids(values):
    return ', '.join(str(v) for v in values)


def check_npu(npu, npu_error, devices, profile, foreign_action='fail', own_pids=(), instances=None, holders=None,
              beyond_guide=False):
    """npu-smi answers, the planned chips exist and are healthy, each instance's NPU count fits the profile, and
    nothing but the instance planned on a chip holds HBM on it.

    ``instances``: the plan's instances (validate_instances); without them, one instance of ``devices``.
    ``holders``: ``{pid: {'container', 'managed', 'process'}}`` for the processes of the NPU facts (holder_info);
    ``own_pids``: pids that count as the planned instance's own whatever their container (the single-instance
    callers). ``beyond_guide``: an NPU count outside the profile's is a warning (mindie_instance_layout_beyond_guide).
    """
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
    instances = _instances(devices, instances)
    devices = sorted(set(d for inst in instances for d in inst['devices']))

    missing = [d for d in devices if d not in by_id]
    if missing:
        out.append(result('npu_devices', cat, FAIL, 'planned NPUs %s are not visible (visible: %s)' % (
            ', '.join(map(str, missing)), ', '.join(str(k) for k in sorted(by_id)) or 'none'),
            'Check the driver and device nodes, or plan fewer NPUs (mindie_npu_count, mindie_instance_layout).'))

    unhealthy = [by_id[d] for d in devices if d in by_id and by_id[d].get('health') != 'OK']
    if unhealthy:
        out.append(result('npu_health', cat, FAIL, 'unhealthy: %s' % ', '.join(
            '%s is %s' % (_chip_label(c), c.get('health')) for c in unhealthy),
            'Inspect with npu-smi info -t health -i <id>; replace or exclude the chip before deploying.'))
    elif devices and not missing:
        out.append(result('npu_health', cat, PASS, 'all %d planned NPUs are OK' % len(devices)))

    out.append(_check_npu_count(chips, profile, instances, beyond_guide))
    out.append(_check_npu_holders(npu, by_id, instances, holders or {}, own_pids, foreign_action))
    return out


def _check_npu_count(chips, profile, instances, beyond_guide):
    """Every instance's NPU count is one the profile allows (npu_counts of the profile table, from the model card)."""
    cat = 'npu'
    allowed = (profiles.get_profile(profile) or {}).get('npu_counts')
    if allowed is None:
        names = sorted(set(str(c.get('name')) for c in chips))
        sizes = sorted(set(str(c.get('hbm_total_mb')) for c in chips))
        return result('npu_profile', cat, FAIL, 'not an %s: %d chips named %s with %s MB HBM' % (
            profiles.supported_labels(), len(chips), '/'.join(names) or '-', '/'.join(sizes) or '-'),
            'This collection deploys on %s.' % profiles.describe_supported())
    needs = ' or '.join(map(str, allowed))
    several = len(instances) > 1
    off = [inst for inst in instances if len(inst['devices']) not in allowed]
    if not off:
        if several:
            return result('npu_count', cat, PASS, '%s with %d instances: %s' % (profile, len(instances), ', '.join(
                '%s %d NPUs' % (inst['name'], len(inst['devices'])) for inst in instances)))
        return result('npu_count', cat, PASS, '%s with %d planned NPUs' % (profile, len(instances[0]['devices'])))
    if several:
        what = 'instance %s' % ', '.join('%s plans %d NPUs' % (inst['name'], len(inst['devices'])) for inst in off)
    else:
        what = '%s plans %d NPUs' % (profile, len(off[0]['devices']))
    if beyond_guide and all(len(inst['devices']) in plan.NPU_COUNTS for inst in off):
        return result('npu_count', cat, WARN, '%s; the guide names %s for Qwen2-VL-7B on %s (allowed by '
                      'mindie_instance_layout_beyond_guide)' % (what, needs, profile),
                      'Outside the deployment guide: expect to validate it yourself.')
    return result('npu_count', cat, FAIL, '%s; Qwen2-VL-7B on this profile needs %s' % (what, needs),
                  'Set mindie_npu_count (or the M of mindie_instance_layout NxM) to %s, or allow layouts outside the '
                  'guide with mindie_instance_layout_beyond_guide: true.' % needs)


def holder_label(process, holder):
    """'pid 4123 (mindieservice_d, 3000 MB) in container mindie-1' for one process of the NPU facts."""
    holder = holder or {}
    name = process.get('name') or holder.get('process')
    text = 'pid %s (%s%s MB)' % (process.get('pid'), (name + ', ') if name else '', process.get('memory_mb'))
    if holder.get('container'):
        text += ' in container %s' % holder['container']
    return text


def _check_npu_holders(npu, by_id, instances, holders, own_pids, foreign_action):
    """Only the instance planned on a chip may hold HBM on it: its own container's processes are ours (a re-run on a
    serving node); a process of another instance of ours, of a container of ours the plan does not have (a stale
    instance) or of anything else is in the way and named."""
    cat = 'npu'
    own = set(int(p) for p in own_pids or ())
    planned = {}
    for inst in instances:
        for device in inst['devices']:
            if device in by_id:
                planned[by_id[device].get('npu_id')] = inst
    by_container = dict((inst['container'], inst) for inst in instances if inst.get('container'))
    blocked, replaced = [], {}
    for process in npu.get('processes') or []:
        inst = planned.get(process.get('npu_id'))
        pid = int(process.get('pid') or -1)
        if inst is None or pid in own:
            continue
        holder = holders.get(pid) or {}
        container = holder.get('container')
        if holder.get('managed') and container is not None and container == inst.get('container'):
            continue
        if holder.get('managed') and holder.get('replaced'):
            # this deployment's instance of another layout: the container role replaces it before the new ones start
            replaced.setdefault(container, set()).add(process.get('npu_id'))
            continue
        other = by_container.get(container) if holder.get('managed') else None
        if other is not None:
            why = 'instance %s of ours, planned on NPUs %s' % (other['name'], _ids(other['devices']))
        elif holder.get('managed'):
            why = 'a container of ours that the plan does not have (a stale instance)'
        elif container:
            why = 'a container not created by ascend.mindie'
        else:
            why = 'not a container of ours'
        target = (' (planned for %s)' % inst['name']) if inst.get('name') and len(instances) > 1 else ''
        blocked.append('NPU %s%s: %s, %s' % (process.get('npu_id'), target, holder_label(process, holder), why))
    taken_over = '; '.join('NPU %s held by %s, an instance of another layout, which the container phase replaces'
                           % (_ids(sorted(chips)), name) for name, chips in sorted(replaced.items()))
    if not blocked:
        if taken_over:
            return result('npu_processes', cat, PASS, 'nothing but the planned instances holds HBM on the planned NPUs '
                          'once this deployment\'s old instances are replaced (%s)' % taken_over)
        return result('npu_processes', cat, PASS, 'nothing but the planned instance holds HBM on the planned NPUs')
    status = FAIL if foreign_action == 'fail' else WARN
    more = (' and %d more' % (len(blocked) - 5)) if len(blocked) > 5 else ''
    return result('npu_processes', cat, status, 'foreign processes hold HBM: %s%s' % ('; '.join(blocked[:5]), more),
                  'Stop them (npu-smi info shows them; ascend.mindie.teardown removes an instance of ours), or set '
                  'mindie_precheck_foreign_process_action: warn (the container role then replaces stale instances '
                  'of ours first).')


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


def check_ports(listening, ports, master_port, own_ports=(), names=None):
    """The planned ports and MASTER_PORT must be free, or held by our own instances' containers (``own_ports``).

    ``names``: ``{port: what it is}`` (instance_ports) to name the busy ones and sum up the free ones with.
    """
    own = set(own_ports or ())
    wanted = sorted(set(int(p) for p in ports or ()))
    if master_port:
        wanted.append(int(master_port))
    busy = [p for p in wanted if p in set(listening or ()) and p not in own]
    names = names or {}
    if busy:
        return [result('ports_free', 'host', FAIL, 'ports already listening: %s' % ', '.join(
            ('%d (%s)' % (p, names[p])) if p in names else str(p) for p in busy),
            'Stop what listens there (ss -ltnp) or choose other ports in the plan (mindie_service_port and the other '
            'mindie_*_port, mindie_hccl_base_port, mindie_instance_port_stride).')]
    if names:
        return [result('ports_free', 'host', PASS, '%d planned ports free: %s' % (
            len(wanted), ', '.join(_port_spans(wanted))))]
    return [result('ports_free', 'host', PASS, 'ports %s free' % ', '.join(map(str, wanted)))]


def _port_spans(ports):
    """[1040, 1041, 1042, 7896] -> ['1040-1042', '7896']."""
    spans = []
    for port in sorted(set(ports)):
        if spans and spans[-1][1] == port - 1:
            spans[-1][1] = port
        else:
            spans.append([port, port])
    return [('%d-%d' % (a, b)) if a != b else str(a) for a, b in spans]


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


def check_instance_ports(instances):
    """check_planned_ports for every instance (its business/management/metrics ports and MASTER_PORT), and no port
    (any family, MASTER_PORT, HCCL range) of one instance used by another: one ``ports_distinct`` check."""
    if len(instances) == 1:
        inst = instances[0]
        return check_planned_ports([inst['ports'][f] for f in PORT_NAMES if f in inst['ports']], inst['master_port'])
    found = []
    for inst in instances:
        own = check_planned_ports([inst['ports'][f] for f in PORT_NAMES if f in inst['ports']], inst['master_port'])[0]
        found.append((own['status'], '%s: %s' % (inst['name'], own['message']), own['hint']))
    users = {}
    for inst in instances:
        for port, what in instance_ports([inst]).items():
            users.setdefault(port, []).append('%s %s' % (inst['name'], what))
    shared = [(port, names) for port, names in sorted(users.items()) if len(names) > 1]
    if shared:
        found.append((FAIL, 'ports of several instances collide: %s' % '; '.join(
            '%d is %s' % (port, ' and '.join(names)) for port, names in shared[:5]),
            'Give every instance its own ports (mindie_instance_port_stride, mindie_hccl_port_count).'))
    status = worst([{'status': st} for st, _m, _h in found])
    bad = [(m, h) for st, m, h in found if st != PASS]
    if not bad:
        return [result('ports_distinct', 'host', PASS, 'planned ports are distinct in and between the %d instances'
                       % len(instances))]
    return [result('ports_distinct', 'host', status, '; '.join(m for m, _h in bad), bad[0][1])]


def is_managed(info):
    """True for a container (``{'labels': ...}``) the container role created: labelled ``ascend.mindie.managed=true``."""
    return ((info or {}).get('labels') or {}).get(MANAGED_LABEL) == MANAGED_VALUE


def check_own_container(containers):
    """Whether the containers named like the plan's instances are ours: only one labelled ``ascend.mindie.managed=true``
    is. One check for all of them.

    ``containers``: ``[(name, info)]``, one per instance; ``info`` is None when no such container exists, else
    ``{'id': str, 'labels': dict or None}``.
    """
    pairs = [(n, i) for n, i in containers if n]
    if not pairs:
        return []
    name, info = pairs[0]
    foreign = [(n, i) for n, i in pairs if i is not None and not is_managed(i)]
    if foreign:
        names = ', '.join('%s (%s)' % (n, str(i.get('id'))[:12]) for n, i in foreign)
        return [result('own_container', 'host', FAIL,
                       'container %s exists but has no label %s=%s: it was not created by this collection, so its '
                       'processes and ports count as foreign' % (names, MANAGED_LABEL, MANAGED_VALUE),
                       'Remove or rename that container (docker rm -f %s) if it is yours to remove, or set '
                       'mindie_container_name to another name; the container role will not replace it.'
                       % ' '.join(n for n, _i in foreign))]
    found = [(n, i) for n, i in pairs if i is not None]
    if len(pairs) == 1 and not found:
        return [result('own_container', 'host', PASS, 'no container named %s yet' % name)]
    if len(pairs) == 1:
        return [result('own_container', 'host', PASS, 'container %s (%s) was created by ascend.mindie' % (
            name, str(info.get('id'))[:12]))]
    absent = [n for n, i in pairs if i is None]
    return [result('own_container', 'host', PASS, '%s%s' % (
        ('containers %s were created by ascend.mindie' % ', '.join(n for n, _i in found)) if found else '',
        ('%sno container named %s yet' % ('; ' if found else '', ', '.join(absent))) if absent else ''))]
