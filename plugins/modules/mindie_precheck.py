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
    NPUs exist and are healthy, their number fits the hardware profile, no foreign process holds HBM on them;
    driver and firmware present, at least the minimum versions, firmware within the driver's
    C(compatible_version_fw)."
  - "Host: Docker installed, daemon answering and recent enough; the Docker SDK for Python importable by this
    interpreter; memory; free disk where the image and weights go; OS; architecture against the image's;
    the service ports and MASTER_PORT free."
  - "Model: the weight directory is complete (C(config.json) with the expected C(model_type), tokenizer files,
    every shard named by the safetensors index present with a plausible size), optionally verified against a
    SHA-256 manifest without rehashing unchanged files, and permissions MindIE accepts (directory no looser than
    0750, C(config.json) no looser than 0640), fixed when O(fix_permissions) allows."
  - C(changed) is true only when permissions were fixed or the weights' hash cache was written (in check mode,
    would be); a second run on unchanged weights reports no change.
  - Processes and listening sockets that belong to O(own_container) (the MindIE container of an earlier
    deployment) are not counted as foreign, so a re-run on a serving node passes. Only a container with the label
    C(ascend.mindie.managed=true) (which the C(ascend.mindie.container) role puts on the containers it creates)
    counts as ours; a container of that name without the label is foreign, and the C(own_container) check fails.
  - "The plan's ports: O(ports) (business, management, metrics) either all equal (MindIE's single-port mode) or all
    different, and O(master_port) different from them; otherwise the C(ports_distinct) check fails."
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
  devices:
    description: Logical NPU ids this node's plan uses.
    type: list
    elements: int
    default: []
  foreign_process_action:
    description: What a foreign process holding HBM on a planned NPU is.
    type: str
    choices: [warn, fail]
    default: fail
  own_container:
    description: Name or id of this deployment's MindIE container, whose processes and sockets are not foreign.
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
    description: The docker CLI.
    type: str
    default: docker
  min_docker_version:
    description: Oldest acceptable Docker engine.
    type: str
    default: '18.03'
  min_memory_gb:
    description:
      - Minimum host memory in GB per profile. The keys must be known profiles (C(atlas-800i-a2-32g),
        C(atlas-800i-a2-64g)); the values numbers (or numeric strings) of at least 0.
    type: dict
    default: {atlas-800i-a2-32g: 64, atlas-800i-a2-64g: 128}
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

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ precheck.checks | selectattr('status', 'eq', 'fail') | list }}"
'''

RETURN = r'''
checks:
  description: Every check, in order.
  type: list
  elements: dict
  returned: always
  contains:
    name:
      description: Check id, for example C(npu_health) or C(model_shards).
      type: str
    category:
      description: C(npu), C(host) or C(model).
      type: str
    status:
      description: C(pass), C(warn) or C(fail).
      type: str
    reason:
      description: One line saying what was found.
      type: str
    hint:
      description: One line saying what to do (empty on pass).
      type: str
  sample:
    - {name: npu_health, category: npu, status: fail, reason: 'unhealthy: NPU 3 is Alarm', hint: 'Inspect ...'}
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

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ascend.mindie.plugins.module_utils import precheck as pc
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import parse_key_value
from ansible_collections.ascend.mindie.plugins.module_utils.procfs import parse_proc_net_tcp
from ansible_collections.ascend.mindie.plugins.module_utils.model_dir import (
    check_model_dir,
    check_permissions,
    verify_manifest,
)


def listening_ports(proc='/proc'):
    """{port: socket inode} of TCP sockets in LISTEN state (IPv4 and IPv6)."""
    text = ''
    for name in ('net/tcp', 'net/tcp6'):
        try:
            with open(os.path.join(proc, name)) as handle:
                text += handle.read()
        except (IOError, OSError):
            continue
    return parse_proc_net_tcp(text)


def socket_owner(inode, proc='/proc'):
    """The pid holding a socket inode, or None."""
    target = 'socket:[%s]' % inode
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, 'fd')
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(os.path.join(fd_dir, fd)) == target:
                    return int(pid)
        except (IOError, OSError):
            continue
    return None


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


class MindiePrecheck(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.changed = False
        self.own_container = None

    def docker_engine(self):
        binary = self.module.get_bin_path(self.params['docker_bin'])
        if not binary:
            return {'error': '%s not found in PATH' % self.params['docker_bin']}
        rc, out, err = self.module.run_command([binary, 'version', '--format', '{{json .}}'],
                                               environ_update={'LANG': 'C', 'LC_ALL': 'C'})
        try:
            data = json.loads(out.strip().splitlines()[0]) if out.strip() else {}
        except ValueError:
            data = {}
        return {
            'client': (data.get('Client') or {}).get('Version'),
            'server': (data.get('Server') or {}).get('Version') if rc == 0 else None,
            'error': (err or out).strip(),
        }

    def container_info(self, binary_docker):
        """{'id', 'labels'} of the container named O(own_container); None when there is none (or no Docker)."""
        name = self.params['own_container']
        if not name or not binary_docker:
            return None
        # `container inspect` (not `inspect`): an image or volume of that name is not our container.
        rc, out, _err = self.module.run_command([binary_docker, 'container', 'inspect', '--format',
                                                 '{{.Id}} {{json .Config.Labels}}', '--', name])
        if rc != 0 or not out.strip():
            return None
        cid, dummy, labels = out.strip().partition(' ')
        try:
            labels = json.loads(labels) if labels else None
        except ValueError:
            labels = None
        return {'id': cid, 'labels': labels if isinstance(labels, dict) else None}

    def container_id(self, binary_docker):
        """The id of our own container: the one named O(own_container) that carries the managed label."""
        info = self.container_info(binary_docker)
        self.own_container = info
        if info and (info['labels'] or {}).get(pc.MANAGED_LABEL) == pc.MANAGED_VALUE:
            return info['id']
        return None

    def version_file(self, component):
        path = os.path.join(self.params['ascend_home'], component, 'version.info')
        try:
            with open(path) as handle:
                return parse_key_value(handle.read())
        except (IOError, OSError):
            return None

    def run(self):
        p = self.params
        try:
            typed = pc.validate_inputs(p['min_memory_gb'], p['min_disk_free_gb'], p['recommended_os'],
                                       p['ports'], p['master_port'])
        except pc.PrecheckInputError as exc:
            self.module.fail_json(msg='%s. Nothing was checked or changed.' % exc, problems=exc.problems)
        checks = []
        own_id = self.container_id(self.module.get_bin_path(p['docker_bin']))
        checks += pc.check_own_container(p['own_container'], self.own_container)
        npu = p['npu']
        own_pids = []
        if npu and own_id:
            own_pids = [proc['pid'] for proc in npu.get('processes') or []
                        if pid_in_container(proc.get('pid'), own_id)]
        checks += pc.check_npu(npu, p['npu_error'], p['devices'], p['profile'],
                               p['foreign_process_action'], own_pids)
        checks += pc.check_versions(self.version_file('driver'), self.version_file('firmware'),
                                    p['min_driver_version'], p['min_firmware_version'])

        sdk_version, sdk_error = None, None
        try:
            import docker  # pylint: disable=import-outside-toplevel
            sdk_version = getattr(docker, '__version__', 'unknown')
        except ImportError as exc:
            sdk_error = str(exc)
        checks += pc.check_docker(self.docker_engine(), p['min_docker_version'], sdk_version, sdk_error)
        checks += pc.check_memory(memory_mb(), p['profile'], typed['min_memory_gb'])
        checks += pc.check_disk(dict((path, free_bytes(path)) for path in p['disk_paths']), typed['min_disk_free_gb'])
        checks += pc.check_os(*(os_release() + (typed['recommended_os'],)))
        checks += pc.check_arch(os.uname()[4], p['image_architecture'])

        listening = listening_ports()
        wanted = set(p['ports']) | (set([p['master_port']]) if p['master_port'] else set())
        own_ports = [port for port in wanted if port in listening and own_id
                     and pid_in_container(socket_owner(listening[port]), own_id)]
        checks += pc.check_planned_ports(p['ports'], p['master_port'])
        checks += pc.check_ports(listening, p['ports'], p['master_port'], own_ports)

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
            for item in model_checks:
                item.setdefault('category', 'model')
                item.setdefault('hint', '')
            checks += model_checks

        return dict(changed=self.changed, checks=checks, status=pc.worst(checks),
                    failed_checks=[c['name'] for c in checks if c['status'] == pc.FAIL])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            npu=dict(type='dict'),
            npu_error=dict(type='str'),
            profile=dict(type='str'),
            devices=dict(type='list', elements='int', default=[]),
            foreign_process_action=dict(type='str', choices=['warn', 'fail'], default='fail'),
            own_container=dict(type='str'),
            ascend_home=dict(type='path', default='/usr/local/Ascend'),
            min_driver_version=dict(type='str', default='24.1.rc1'),
            min_firmware_version=dict(type='str', default='7.1.0'),
            docker_bin=dict(type='str', default='docker'),
            min_docker_version=dict(type='str', default='18.03'),
            min_memory_gb=dict(type='dict', default={'atlas-800i-a2-32g': 64, 'atlas-800i-a2-64g': 128}),
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
        supports_check_mode=True,
    )
    module.exit_json(**MindiePrecheck(module).run())


if __name__ == '__main__':
    main()
