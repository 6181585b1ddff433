#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_precheck
short_description: Run every precheck of the Qwen2-VL MindIE deployment guide on a node
description:
  - Evaluates all checks before deciding, and returns each as C(pass), C(warn) or C(fail) with a one-line
    reason and a hint. It never fails the task itself for a failed check; the C(ascend.mindie.prechecks) role
    decides what a failure means for the node and the fleet.
  - "NPU: npu-smi answered (from O(npu) / O(npu_error), the result of M(ascend.mindie.npu_facts)), the planned
    NPUs exist and are healthy, the number of each instance fits the hardware profile, nothing but the instance
    planned on a chip holds HBM on it; driver and firmware present, at least the minimum versions, firmware within
    the driver's C(compatible_version_fw)."
  - "NPU holders (C(npu_processes)): a process npu-smi lists on a planned chip is ours only when it runs in the
    container of the instance planned on that chip (and that container carries C(ascend.mindie.managed=true)); a
    process of another instance of ours, of a container of ours the plan does not have (a stale instance), of a
    foreign container or outside any container is in the way. Each is named with its chip, pid, process name and
    container when known; O(foreign_process_action) says whether that fails or warns."
  - "Host: Docker installed, daemon answering and recent enough (asked through the Docker SDK for Python, never
    the docker CLI); the Docker SDK for Python importable by this interpreter; memory; free disk where the image and
    weights go; OS; architecture against the image's; every port of every instance (business, management, metrics,
    inter_comm, multi_nodes_infer, MASTER_PORT and the HCCL range) free or held by the instances' own containers."
  - "Model: the weight directory is complete (C(config.json) with the expected C(model_type), tokenizer files,
    every shard named by the safetensors index present with a plausible size), optionally verified against a
    SHA-256 manifest without rehashing unchanged files, and permissions MindIE accepts (directory no looser than
    0750, C(config.json) no looser than 0640), fixed when O(fix_permissions) allows."
  - C(changed) is true only when permissions were fixed or the weights' hash cache was written (in check mode,
    would be); a second run on unchanged weights reports no change.
  - Processes and listening sockets that belong to the containers of the plan's instances (O(instances), or
    O(own_container)) are not counted as foreign, so a re-run on a serving node passes. Only a container with the label
    C(ascend.mindie.managed=true) (which the C(ascend.mindie.container) role puts on the containers it creates)
    counts as ours; a container of that name without the label is foreign, and the C(own_container) check fails.
  - "The plan's ports: for each instance the business, management and metrics ports either all equal (MindIE's
    single-port mode) or all different, and MASTER_PORT different from them; no port of one instance used by
    another; otherwise the C(ports_distinct) check fails."
  - The thresholds are typed before anything is checked or changed. Numbers given as strings (C(\"64\")) are
    converted; anything else that is not a number, an unknown profile in O(min_memory_gb), an unknown key in
    O(recommended_os) or a port outside [1, 65535] fails the task with a message naming the key.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
attributes:
  check_mode:
    details: Reports permissions it would fix and a hash cache it would write, without changing either.
options:
  npu:
    description: C(ansible_facts.npu) as returned by M(ascend.mindie.npu_facts).
    type: dict
  npu_error:
    description: The failure message of M(ascend.mindie.npu_facts) when it failed.
    type: str
  profile:
    description: The hardware profile the plan is for (C(atlas-800i-a2-32g), C(atlas-800i-a2-64g)); null when unknown.
    type: str
  instances:
    description:
      - The plan's instances, C(mindie_plan.instances) as M(ascend.mindie.mindie_plan) returns them. Read are
        C(name), C(container) (default C(name)), C(devices) (the NPU ids of the instance), C(ports) (C(business),
        C(management), C(metrics), C(inter_comm), C(multi_nodes_infer)), C(master_port) and C(hccl) (C(first),
        C(last)); the other keys of a plan instance are not read. An unknown port family, a port outside
        [1, 65535] or a device that is not a non-negative integer fails the task before anything is checked.
      - Mutually exclusive with O(devices), O(ports), O(master_port) and O(own_container), which describe one
        instance the old way.
    type: list
    elements: dict
    default: []
  container_base:
    description:
      - The deployment's container name (C(mindie_container_name), C(mindie_plan.container_base)), with O(instances).
      - A container of ours (labelled C(ascend.mindie.managed=true)) named like this deployment's instances
        (C(<container_base>), C(<container_base>-<N>)) but not planned - the instance of another layout - is removed
        by the container role before the new instances start, and a planned instance's container that holds NPUs
        planned for another instance is recreated on its own NPUs first; the NPUs and ports they hold are not in the
        way (the check says so). Containers of ours with other names (another deployment on the node) are.
        Without it every container but the planned instance's own counts as in the way.
    type: str
  beyond_guide:
    description:
      - An instance whose NPU count the hardware profile's guide does not name (but MindIE runs on, 1, 2, 4 or 8)
        is a warning instead of a failure of the C(npu_count) check (C(mindie_instance_layout_beyond_guide)).
    type: bool
    default: false
  devices:
    description: Logical NPU ids this node's plan uses (one instance; see O(instances)).
    type: list
    elements: int
    default: []
  foreign_process_action:
    description: What a foreign process holding HBM on a planned NPU is.
    type: str
    choices: [warn, fail]
    default: fail
  own_container:
    description: Name of this deployment's MindIE container, whose processes and sockets are not foreign (one instance; see O(instances)).
    type: str
  ascend_home:
    description: Where the Ascend driver and firmware are installed.
    type: path
    default: /usr/local/Ascend
  min_driver_version:
    description: Oldest acceptable driver version (C(Version=) of the driver's version.info).
    type: str
    default: 24.1.rc1
  min_firmware_version:
    description: Oldest acceptable firmware version.
    type: str
    default: 7.1.0
  docker_bin:
    description:
      - Not used any more, and deprecated; it will be removed in a future release.
      - The module asks the Docker engine through the Docker SDK for Python (the collection's one Docker client), never
        through the docker CLI; the engine is found as the SDK finds it (E(DOCKER_HOST) or the local socket).
    type: str
  min_docker_version:
    description: Oldest acceptable Docker engine.
    type: str
    default: '18.03'
  min_memory_gb:
    description:
      - Minimum host memory in GB per profile. The keys must be known profiles (C(atlas-800i-a2-32g),
        C(atlas-800i-a2-64g)); the values numbers (or numeric strings) of at least 0. A profile left out has no
        minimum.
      - When not given, the guide's minimums from the collection's hardware profile table
        (C(plugins/module_utils/profiles.py), field C(min_memory_gb); the lookup P(ascend.mindie.mindie_profiles#lookup)
        shows them).
    type: dict
  min_disk_free_gb:
    description: Minimum free space in GB at each of O(disk_paths).
    type: float
    default: 50
  disk_paths:
    description: Where the image and the weights go (the nearest existing parent of each is measured).
    type: list
    elements: path
    default: [/var/lib/docker]
  recommended_os:
    description: The OS the guide recommends (keys C(distribution) and C(version) only); others give a warning.
    type: dict
    default: {distribution: openEuler, version: '24.03'}
  image_architecture:
    description: Architecture of the MindIE image (the real image is C(aarch64)).
    type: str
    default: aarch64
  ports:
    description:
      - Service ports the plan gives MindIE on this node, in the order business, management, metrics.
      - All three may be equal (single-port mode); any other repetition fails the C(ports_distinct) check.
    type: list
    elements: int
    default: []
  master_port:
    description: The MASTER_PORT the plan gives MindIE; it must differ from every port of O(ports).
    type: int
  model_path:
    description: The weight directory; skipped when not given.
    type: path
  model_type:
    description: The C(model_type) the weights must declare.
    type: str
    default: qwen2_vl
  model_manifest:
    description:
      - A C(sha256sum) style manifest of the weight files (relative paths) to verify; unchanged files are not rehashed.
      - The hash cache is kept outside the weight directory, in C(/var/cache/ascend.mindie/sha256/) (or
        C(~/.cache/ascend.mindie/) when that cannot be written), one file per weight directory named after its real
        path. A cached hash is used only while the file's device, inode, size, mtime and ctime are unchanged.
      - A listed file that is a symlink leading out of the weight directory fails the check.
    type: path
  verify_checksums:
    description:
      - How O(model_manifest) is verified. V(cached) hashes only files whose device, inode, size, mtime or ctime
        changed since the cached hash; V(full) re-hashes every file, ignoring the cache (and refreshes it).
      - Without O(model_manifest) nothing is verified.
    type: str
    choices: [cached, full]
    default: cached
  fix_permissions:
    description: Tighten the weight directory to 0750 and its C(config.json) to 0640 when they are looser.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Gather NPU facts (failures are checks, not task failures)
  ascend.mindie.npu_facts:
  register: npu
  ignore_errors: true

- name: Run the prechecks
  ascend.mindie.mindie_precheck:
    npu: "{{ ansible_facts.npu | default(omit) }}"
    npu_error: "{{ npu.msg | default(omit) if npu is failed else omit }}"
    profile: atlas-800i-a2-32g
    devices: [0, 1, 2, 3, 4, 5, 6, 7]
    ports: [1040, 1041, 1042]
    master_port: 7896
    model_path: /data/Qwen2-VL-7B-Instruct
    disk_paths: [/var/lib/docker, /data]
  register: precheck

- name: Run the prechecks for every instance of the node's plan (two 4-NPU instances on a 64G node)
  ascend.mindie.mindie_precheck:
    npu: "{{ ansible_facts.npu | default(omit) }}"
    profile: "{{ mindie_plan.profile }}"
    instances: "{{ mindie_plan.instances }}"
    model_path: "{{ mindie_plan.model_path }}"
  register: precheck

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ precheck.checks | selectattr('status', 'eq', 'fail') | list }}"
'''

RETURN = r'''
checks:
  description:
    - Every check, in order, in the collection's one check shape (the same keys as RV(ascend.mindie.mindie_diagnose#module:findings)).
    - C(name), C(reason), C(problem) and C(severity) repeat C(id), C(message), C(category) and the status in the words
      M(ascend.mindie.mindie_diagnose) uses; they are kept for the playbooks and roles that read them.
  type: list
  elements: dict
  returned: always
  contains:
    id:
      description: Check id, for example C(npu_health) or C(model_shards).
      type: str
    name:
      description: The same as C(id).
      type: str
    category:
      description: C(npu), C(host) or C(model).
      type: str
    problem:
      description: The same as C(category).
      type: str
    status:
      description: C(pass), C(warn) or C(fail).
      type: str
    severity:
      description: The status in the diagnosis' words, C(ok) (pass), C(warning) (warn) or C(error) (fail).
      type: str
    message:
      description: One line saying what was found.
      type: str
    reason:
      description: The same as C(message).
      type: str
    hint:
      description: One line saying what to do (empty on pass).
      type: str
    guide_section:
      description:
        - The deployment guide's section of the check, or empty. The weight checks name the troubleshooting section
          they prevent, V(7.1.1) (the modes MindIE refuses) or V(7.1.2) (incomplete weights).
      type: str
    details:
      description: Structured extras of the check (empty for most).
      type: dict
  sample:
    - {id: npu_health, name: npu_health, category: npu, problem: npu, status: fail, severity: error,
       message: 'unhealthy: NPU 3 is Alarm', reason: 'unhealthy: NPU 3 is Alarm', hint: 'Inspect ...',
       guide_section: '', details: {}}
status:
  description: The worst status of all checks.
  type: str
  returned: always
  sample: pass
failed_checks:
  description: Names of the checks that failed.
  type: list
  elements: str
  returned: always
  sample: [npu_health]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ascend.mindie.plugins.module_utils import checks as check_shape
from ansible_collections.ascend.mindie.plugins.module_utils import precheck as pc
from ansible_collections.ascend.mindie.plugins.module_utils import profiles
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import node_version_files, read_key_value_file
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    NO_ENGINE,
    SDK_MISSING,
    MindieDockerClient,
    MindieDockerError,
    sdk_version,
)
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import (
    parse_proc_net_tcp,
    read_proc_net_tcp,
    socket_holders,
)
from ansible_collections.ascend.mindie.plugins.module_utils.plan import deployment_container
from ansible_collections.ascend.mindie.plugins.module_utils.model_dir import (
    check_model_dir,
    check_permissions,
    verify_manifest,
)

# Seconds a call to the Docker engine may take.
DOCKER_TIMEOUT = 30


def listening_ports(proc='/proc'):
    """{port: socket inode} of TCP sockets in LISTEN state (IPv4 and IPv6)."""
    return parse_proc_net_tcp(read_proc_net_tcp(proc))


def socket_owners(inode, proc='/proc'):
    """The pids holding a socket inode (a forked child that inherited it holds it too); [] when none is seen."""
    return [holder['pid'] for holder in socket_holders([inode], proc).get(str(inode), ())]


def pid_in_container(pid, container_id, proc='/proc'):
    """True when the pid's cgroup names the container id (cgroup v1 and v2 layouts)."""
    if not container_id:
        return False
    try:
        with open(os.path.join(proc, str(pid), 'cgroup')) as handle:
            return container_id in handle.read()
    except (IOError, OSError):
        return False


def free_bytes(path):
    """Free bytes on the filesystem of path's nearest existing parent; None when nothing exists."""
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent
    if not probe:
        return None
    stat = os.statvfs(probe)
    return stat.f_bavail * stat.f_frsize


def memory_mb():
    try:
        with open('/proc/meminfo') as handle:
            for line in handle:
                if line.startswith('MemTotal:'):
                    return int(line.split()[1]) // 1024
    except (IOError, OSError):
        pass
    return 0


def os_release():
    data = {}
    for path in ('/etc/os-release', '/usr/lib/os-release'):
        try:
            with open(path) as handle:
                for line in handle:
                    if '=' in line:
                        key, value = line.rstrip('\n').split('=', 1)
                        data[key] = value.strip('"\'')
            break
        except (IOError, OSError):
            continue
    return data.get('NAME', 'unknown').split()[0], data.get('VERSION_ID', '')


def holder_info(processes, containers, proc='/proc', replaced=()):
    """``{pid: {'container': name or None, 'managed': bool, 'replaced': bool, 'process': comm or None}}`` for the
    NPU holders.

    ``containers``: the node's containers (MindieDockerClient.containers); a pid belongs to the one its cgroup names.
    ``replaced``: names of containers of ours the container role replaces (instances of another layout).
    """
    holders = {}
    for process in processes or []:
        pid = process.get('pid')
        if pid is None or pid in holders:
            continue
        owner = None
        for container in containers:
            if pid_in_container(pid, container.get('id'), proc):
                owner = container
                break
        holders[pid] = {'container': owner['name'] if owner else None, 'managed': pc.is_managed(owner),
                        'replaced': bool(owner) and pc.is_managed(owner) and owner['name'] in replaced,
                        'process': process.get('name') or process_name(pid, proc)}
    return holders


def process_name(pid, proc='/proc'):
    """The comm of a pid (npu-smi leaves the name of a process in a container empty); None when it is gone."""
    try:
        with open(os.path.join(proc, str(pid), 'comm')) as handle:
            return handle.read().strip() or None
    except (IOError, OSError):
        return None


class MindiePrecheck(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.changed = False
        self.docker = None
        self.docker_error = None

    def connect_docker(self):
        """The Docker client (module_utils.mindie_docker); what failed is kept for the Docker checks."""
        try:
            self.docker = MindieDockerClient(None, timeout=DOCKER_TIMEOUT)
        except MindieDockerError as exc:
            self.docker_error = exc

    def docker_engine(self):
        """What pc.check_docker judges: {'client', 'server', 'error'}, or {'unasked': why} without the SDK.

        'client' is the SDK the collection talks to the engine through; no client (Docker not installed) when the
        engine's socket does not exist.
        """
        exc = self.docker_error
        if exc is not None and exc.kind == SDK_MISSING:
            return {'unasked': 'the Docker SDK for Python is not importable'}
        if exc is not None:
            return {'client': None if exc.kind == NO_ENGINE else sdk_version(), 'server': None, 'error': exc.msg}
        try:
            return {'client': sdk_version(), 'server': self.docker.engine_version(), 'error': ''}
        except MindieDockerError as err:
            return {'client': sdk_version(), 'server': None, 'error': err.msg}

    def node_containers(self):
        """Every container of the node ({'id', 'name', 'labels', ...}); [] when the engine cannot be asked."""
        if self.docker is None:
            return []
        try:
            return self.docker.containers()
        except MindieDockerError:
            return []

    def instances(self):
        """The instances to check: O(instances), else one of O(devices), O(ports), O(master_port), O(own_container)."""
        p = self.params
        if p['instances']:
            return pc.validate_instances(p['instances'])
        return [{'name': p['own_container'], 'container': p['own_container'], 'devices': list(p['devices']),
                 'ports': {}, 'master_port': p['master_port'], 'hccl': None}]

    def version_file(self, component):
        path = dict(node_version_files(self.params['ascend_home']))[component]
        try:
            return read_key_value_file(path)
        except (IOError, OSError):
            return None

    def run(self):
        p = self.params
        try:
            min_memory_gb = p['min_memory_gb'] if p['min_memory_gb'] is not None else profiles.project(field='min_memory_gb')
            typed = pc.validate_inputs(min_memory_gb, p['min_disk_free_gb'], p['recommended_os'],
                                       p['ports'], p['master_port'])
            instances = self.instances()
        except pc.PrecheckInputError as exc:
            self.module.fail_json(msg='%s. Nothing was checked or changed.' % exc, problems=exc.problems)
        checks = []
        self.connect_docker()
        containers = self.node_containers()
        by_name = dict((c['name'], c) for c in containers)
        planned = [inst['container'] for inst in instances if inst['container']]
        checks += pc.check_own_container([(name, by_name.get(name)) for name in planned])
        # Ours: the containers of the plan's instances that the container role created (the managed label), and
        # those of this deployment's instances of another layout, which the container role replaces first. With
        # container_base, a chip planned for one instance but held by another of this deployment (a layout change)
        # is freed by that replacement too.
        replaced = [c['name'] for c in containers if p['container_base'] and pc.is_managed(c)
                    and deployment_container(c['name'], p['container_base'], planned) is not None]
        own = [by_name[name] for name in planned + replaced if pc.is_managed(by_name.get(name))]
        npu = p['npu']
        holders = holder_info((npu or {}).get('processes'), containers, replaced=replaced) if npu else {}
        checks += pc.check_npu(npu, p['npu_error'], None, p['profile'], p['foreign_process_action'],
                               instances=instances, holders=holders, beyond_guide=p['beyond_guide'])
        checks += pc.check_versions(self.version_file('driver'), self.version_file('firmware'),
                                    p['min_driver_version'], p['min_firmware_version'])

        import_error = None
        if self.docker_error is not None and self.docker_error.kind == SDK_MISSING:
            import_error = (self.docker_error.exception or 'missing').strip().splitlines()[-1]
        checks += pc.check_docker(self.docker_engine(), p['min_docker_version'], sdk_version(), import_error)
        checks += pc.check_memory(memory_mb(), p['profile'], typed['min_memory_gb'])
        checks += pc.check_disk(dict((path, free_bytes(path)) for path in p['disk_paths']), typed['min_disk_free_gb'])
        checks += pc.check_os(*(os_release() + (typed['recommended_os'],)))
        checks += pc.check_arch(os.uname()[4], p['image_architecture'])

        listening = listening_ports()
        if p['instances']:
            names = pc.instance_ports(instances)
            wanted, master_port = sorted(names), None
            checks += pc.check_instance_ports(instances)
        else:
            names, wanted, master_port = None, typed['ports'], typed['master_port']
            checks += pc.check_planned_ports(wanted, master_port)
        held = [port for port in set(wanted) | (set([master_port]) if master_port else set()) if port in listening]
        own_ports = [port for port in held if own and any(
            pid_in_container(pid, container['id']) for pid in socket_owners(listening[port]) for container in own)]
        checks += pc.check_ports(listening, wanted, master_port, own_ports, names)

        if p['model_path']:
            model_checks = check_model_dir(p['model_path'], p['model_type'])
            if model_checks[0]['status'] != pc.FAIL:
                perm_checks, changed = check_permissions(p['model_path'], fix=p['fix_permissions'],
                                                         check_mode=self.module.check_mode)
                self.changed = self.changed or changed
                model_checks += perm_checks
                if p['model_manifest']:
                    checksums = verify_manifest(p['model_path'], p['model_manifest'],
                                                save_cache=not self.module.check_mode, mode=p['verify_checksums'])
                    self.changed = self.changed or checksums.pop('cache_changed', False)
                    model_checks.append(checksums)
            checks += model_checks

        return dict(changed=self.changed, checks=checks, status=check_shape.worst(checks),
                    failed_checks=check_shape.ids(checks, check_shape.FAIL))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            npu=dict(type='dict'),
            npu_error=dict(type='str'),
            profile=dict(type='str'),
            instances=dict(type='list', elements='dict', default=[]),
            container_base=dict(type='str'),
            beyond_guide=dict(type='bool', default=False),
            devices=dict(type='list', elements='int', default=[]),
            foreign_process_action=dict(type='str', choices=['warn', 'fail'], default='fail'),
            own_container=dict(type='str'),
            ascend_home=dict(type='path', default='/usr/local/Ascend'),
            min_driver_version=dict(type='str', default='24.1.rc1'),
            min_firmware_version=dict(type='str', default='7.1.0'),
            docker_bin=dict(type='str', removed_in_version='2.0.0', removed_from_collection='ascend.mindie'),
            min_docker_version=dict(type='str', default='18.03'),
            min_memory_gb=dict(type='dict'),
            min_disk_free_gb=dict(type='float', default=50),
            disk_paths=dict(type='list', elements='path', default=['/var/lib/docker']),
            recommended_os=dict(type='dict', default={'distribution': 'openEuler', 'version': '24.03'}),
            image_architecture=dict(type='str', default='aarch64'),
            ports=dict(type='list', elements='int', default=[]),
            master_port=dict(type='int'),
            model_path=dict(type='path'),
            model_type=dict(type='str', default='qwen2_vl'),
            model_manifest=dict(type='path'),
            verify_checksums=dict(type='str', choices=['cached', 'full'], default='cached'),
            fix_permissions=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('instances', 'devices'), ('instances', 'ports'), ('instances', 'master_port'),
                            ('instances', 'own_container')],
        supports_check_mode=True,
    )
    module.exit_json(**MindiePrecheck(module).run())


if __name__ == '__main__':
    main()
