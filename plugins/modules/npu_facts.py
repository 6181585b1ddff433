#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: npu_facts
short_description: Gather facts about the Ascend NPUs, driver, firmware and CANN of a host
description:
  - Runs C(npu-smi info) (and C(npu-smi info -m) for logical ids) and reads the Ascend version files
    (driver, firmware, CANN toolkit, C(/etc/ascend_install.info)).
  - Returns them as C(ansible_facts.npu), with the host's hardware profile recognised by the collection's
    profile table (C(plugins/module_utils/profiles.py), also the lookup P(ascend.mindie.mindie_profiles#lookup)).
  - Fails with the tool's own message when C(npu-smi) is missing, exits non-zero (for example
    C(dcmi module initialize failed. ret is -8005)) or prints something that is not a device table.
  - Every C(npu-smi) call has a timeout (O(npu_smi_timeout)); one that does not finish in time is killed with its
    whole process group and the module fails naming the command and the likely cause (a hung driver).
    At most 1 MiB of each output stream is read; longer output is reported as truncated, and bytes that are not
    UTF-8 are replaced (with a warning) rather than breaking the result.
  - The module only reads; it never changes the host.
author:
  - ascend.mindie maintainers (@ascend-mindie)
requirements:
  - The Ascend driver (which ships C(npu-smi)) on the target. C(npu-smi) needs root on real hardware,
    so use C(become=true) when connecting as another user.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - ascend.mindie.attributes
attributes:
  facts:
    support: full
options:
  npu_smi:
    description:
      - Path or name of the C(npu-smi) binary.
      - A name is looked up in E(PATH), then in C(/usr/local/sbin) and C(/usr/local/bin).
    type: str
    default: npu-smi
  ascend_home:
    description:
      - Directory the Ascend driver, firmware and CANN toolkit are installed under.
    type: path
    default: /usr/local/Ascend
  npu_smi_timeout:
    description:
      - Seconds each C(npu-smi) call may take before it is killed (a hung driver blocks it forever).
      - Must be at least 1.
    type: int
    default: 30
notes:
  - C(logical_id) in RV(ansible_facts.npu.chips) is the id MindIE's C(npuDeviceIds) expects. It comes from
    C(npu-smi info -m) and is V(null) when that command does not answer.
  - Inside a container, or with E(ASCEND_VISIBLE_DEVICES) set, C(npu-smi) shows only a subset of the NPUs;
    RV(ansible_facts.npu.count) is the number shown.
'''

EXAMPLES = r'''
- name: Gather NPU facts
  ascend.mindie.npu_facts:
  become: true

- name: Refuse a host whose NPUs are not all healthy
  ansible.builtin.assert:
    that:
      - ansible_facts.npu.healthy
      - ansible_facts.npu.profile in ['atlas-800i-a2-32g', 'atlas-800i-a2-64g']
    fail_msg: "{{ inventory_hostname }}: NPUs {{ ansible_facts.npu.chips | rejectattr('health', '==', 'OK') | map(attribute='npu_id') | list }} are not OK"

- name: Use an npu-smi outside the default places
  ascend.mindie.npu_facts:
    npu_smi: /opt/ascend/tools/npu-smi
    ascend_home: /opt/Ascend
  become: true
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to the host's facts.
  returned: success
  type: dict
  contains:
    npu:
      description: The host's NPUs and Ascend software versions.
      returned: success
      type: dict
      contains:
        npu_smi_version:
          description: Version of C(npu-smi), from the first line of its table.
          type: str
          returned: success
          sample: 25.0.rc1.1
        count:
          description: Number of NPU chips C(npu-smi info) shows.
          type: int
          returned: success
          sample: 8
        healthy:
          description: V(true) when at least one chip is shown and every chip's health is C(OK).
          type: bool
          returned: success
          sample: true
        profile:
          description:
            - The profile of the profile table (V(atlas-800i-a2-32g) or V(atlas-800i-a2-64g)) whose chip count,
              chip family and HBM per chip the chips shown match, else V(null).
          type: str
          returned: success
          sample: atlas-800i-a2-32g
        chips:
          description: One entry per chip, in the order C(npu-smi) prints them. Values C(npu-smi) prints as C(NA) are V(null).
          type: list
          elements: dict
          returned: success
          contains:
            npu_id:
              description: The NPU id.
              type: int
              sample: 0
            chip_id:
              description: The chip id within the NPU.
              type: int
              sample: 0
            logical_id:
              description: The logical id (C(npu-smi info -m)), V(null) when the mapping does not list the chip.
              type: int
              sample: 0
            name:
              description: The chip name C(npu-smi) prints (the profile table lists the chip models of each profile).
              type: str
            health:
              description: C(OK), C(Warning), C(Alarm) or C(Critical).
              type: str
              sample: OK
            power_w:
              description: Power in W.
              type: float
              sample: 87.2
            temp_c:
              description: Temperature in degrees Celsius.
              type: int
              sample: 33
            bus_id:
              description: The PCI bus id.
              type: str
              sample: "0000:C1:00.0"
            aicore_percent:
              description: AI core use in percent.
              type: int
              sample: 0
            memory_used_mb:
              description: Memory used in MB (0 on chips that only have HBM).
              type: int
              sample: 0
            memory_total_mb:
              description: Memory in MB (0 on chips that only have HBM).
              type: int
              sample: 0
            hbm_used_mb:
              description: HBM used in MB.
              type: int
              sample: 2654
            hbm_total_mb:
              description: HBM of the chip in MB (the profile table gives the size of each profile).
              type: int
            hugepages_used:
              description: Huge pages used.
              type: int
              sample: 0
            hugepages_total:
              description: Huge pages.
              type: int
              sample: 0
        processes:
          description:
            - Processes holding NPU memory. C(name) is empty for processes in other PID namespaces (containers).
            - C(container_pid) is set only by C(npu-smi) builds that print a C(Process id in container) column.
          type: list
          elements: dict
          returned: success
          sample:
            - npu_id: 0
              chip_id: 0
              pid: 71867
              container_pid: null
              name: ""
              memory_mb: 55278
        driver:
          description:
            - Keys of C(<ascend_home>/driver/version.info), plus RV(ansible_facts.npu.driver.version) and
              RV(ansible_facts.npu.driver.package_version). V(null) when the file is absent.
          type: dict
          returned: success
          contains:
            version:
              description: The driver version.
              type: str
              sample: 25.0.rc1.1
            package_version:
              description: The package version, V(null) when the file has none (24.1.rc1 and older).
              type: str
              sample: 25.0.rc1.1
          sample:
            Version: 25.0.rc1.1
            version: 25.0.rc1.1
            package_version: 25.0.rc1.1
            compatible_version_fw: "[7.0.0,7.7.99]"
        firmware:
          description:
            - Keys of C(<ascend_home>/firmware/version.info), plus C(version) and C(package_version).
              V(null) when the file is absent.
          type: dict
          returned: success
          sample:
            Version: 7.7.0.1.231
            version: 7.7.0.1.231
            package_version: 25.0.rc1.1
            compatible_version_drv: "[23.0.0,23.0.0.],[24.0,24.0.],[24.1,24.1.],[25.0,25.0.]"
        cann:
          description:
            - Keys of the CANN toolkit's C(ascend_toolkit_install.info), looked for under
              C(<ascend_home>/ascend-toolkit/latest/<arch>-linux/) and (CANN 8.5 and later) C(<ascend_home>/cann/<arch>-linux/),
              plus C(version) and C(package_version). V(null) when absent, as on hosts whose toolkit lives in the
              MindIE image.
          type: dict
          returned: success
          sample:
            version: 8.0.0
            arch: aarch64
            package_version: null
        install_info:
          description: Keys of C(/etc/ascend_install.info) (install user, group and paths), V(null) when absent.
          type: dict
          returned: success
          sample:
            UserName: HwHiAiUser
            Driver_Install_Path_Param: /usr/local/Ascend
'''

import glob
import os
import platform

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    NpuSmiParseError,
    chips_healthy,
    merge_logical_ids,
    parse_npu_smi_info,
    parse_npu_smi_mapping,
)
from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import (
    INSTALL_INFO_PATH,
    node_version_files,
    read_key_value_file,
)
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi_exec import (
    DEFAULT_TIMEOUT,
    MAX_OUTPUT_BYTES,
    NpuSmiExecError,
    NpuSmiNotFound,
    find_npu_smi,
    likely_cause,
    run_npu_smi,
)

MAX_QUOTED_CHARS = 2000


class NpuFactsManager(object):
    """Runs npu-smi, reads the version files and builds the ``npu`` facts."""

    def __init__(self, module):
        self.module = module
        self.npu_smi = module.params['npu_smi']
        self.ascend_home = module.params['ascend_home']
        self.timeout = module.params['npu_smi_timeout']

    # -- npu-smi -----------------------------------------------------------------

    def find_npu_smi(self):
        try:
            return find_npu_smi(self.npu_smi)
        except NpuSmiNotFound as exc:
            self.module.fail_json(msg=exc.msg, **({'searched': exc.searched} if exc.searched else {}))

    def run(self, binary, args, required=True):
        """(rc, stdout, stderr, result) of one bounded npu-smi call.

        A call that cannot be run or times out fails the module when ``required``, else it is a warning and
        (None, '', '', None) is returned.
        """
        try:
            result = run_npu_smi([binary] + args, timeout=self.timeout, max_bytes=MAX_OUTPUT_BYTES)
        except NpuSmiExecError as exc:
            if not required:
                self.module.warn(exc.msg)
                return None, '', '', None
            self.module.fail_json(msg=exc.msg, cmd=exc.command, stdout=exc.stdout, stderr=exc.stderr,
                                  timeout=self.timeout)
        for note in result.notes():
            self.module.warn(note)
        return result.rc, result.marked('stdout'), result.marked('stderr'), result

    @staticmethod
    def quote(out, err):
        text = '\n'.join(part.strip() for part in (out, err) if part and part.strip())
        if len(text) > MAX_QUOTED_CHARS:
            text = text[:MAX_QUOTED_CHARS] + '...'
        return text or '(no output)'

    def fail_command(self, binary, rc, out, err):
        quoted = self.quote(out, err)
        msg = "'{0} info' failed (rc={1}): {2}".format(binary, rc, quoted)
        self.module.fail_json(msg=self.with_hint(msg, quoted, rc), rc=rc, stdout=out, stderr=err)

    def with_hint(self, msg, output, rc):
        """``msg`` plus the likely cause of a known failure found in ``output``."""
        cause = likely_cause(output, rc, self.ascend_home)
        if not cause:
            return msg
        return msg + ('' if msg.endswith('.') else '.') + ' Likely cause: ' + cause

    def device_table(self, binary):
        rc, out, err, result = self.run(binary, ['info'])
        if rc != 0:
            self.fail_command(binary, rc, out, err)
        if 'stdout' in result.truncated:
            self.module.fail_json(
                msg="'{0} info' printed {1} bytes, more than the {2} this module reads, so its output was truncated: "
                    "that is not an npu-smi device table (a few KB). Run '{0} info' by hand to see what it prints."
                    .format(binary, result.stdout_bytes, MAX_OUTPUT_BYTES),
                rc=rc, stdout=out, stderr=err, truncated=True)
        try:
            return parse_npu_smi_info(out)
        except NpuSmiParseError as exc:
            msg = "'{0} info' printed something that is not a device table: {1}".format(binary, to_native(exc))
            self.module.fail_json(msg=self.with_hint(msg, self.quote(out, err), rc), rc=rc, stdout=out, stderr=err)

    def logical_mapping(self, binary):
        rc, out, dummy, result = self.run(binary, ['info', '-m'], required=False)
        if rc != 0 or 'stdout' in result.truncated:
            return None
        try:
            return parse_npu_smi_mapping(out)
        except NpuSmiParseError:
            return None

    # -- version files -------------------------------------------------------------

    def read_key_value(self, path):
        try:
            return read_key_value_file(path)
        except (IOError, OSError) as exc:
            self.module.warn('Cannot read {0}: {1}'.format(path, to_native(exc)))
            return None

    def toolkit_info_paths(self):
        arch = platform.machine() or 'aarch64'
        home = self.ascend_home
        paths = [
            os.path.join(home, 'ascend-toolkit', 'latest', arch + '-linux', 'ascend_toolkit_install.info'),
            os.path.join(home, 'cann', arch + '-linux', 'ascend_toolkit_install.info'),
        ]
        for pattern in ('ascend-toolkit/latest/*-linux/ascend_toolkit_install.info',
                        'cann/*-linux/ascend_toolkit_install.info'):
            for found in sorted(glob.glob(os.path.join(home, pattern))):
                if found not in paths:
                    paths.append(found)
        return paths

    def cann(self):
        for path in self.toolkit_info_paths():
            info = self.read_key_value(path)
            if info is not None:
                return info
        return None

    # -- all together ----------------------------------------------------------------

    def execute(self):
        """The module's run: refuse a bad timeout before npu-smi runs, gather, exit with the ``npu`` facts."""
        if self.timeout < 1:
            self.module.fail_json(msg='npu_smi_timeout must be at least 1 (seconds), got {0}.'.format(self.timeout))
        self.module.exit_json(changed=False, ansible_facts={'npu': self.gather()})

    def gather(self):
        binary = self.find_npu_smi()
        table = self.device_table(binary)
        chips = merge_logical_ids(table['chips'], self.logical_mapping(binary))
        versions = dict((key, self.read_key_value(path))
                        for key, path in node_version_files(self.ascend_home, INSTALL_INFO_PATH))
        return {
            'npu_smi_version': table['npu_smi_version'],
            'count': len(chips),
            'healthy': chips_healthy(chips),
            'profile': classify(chips),
            'chips': chips,
            'processes': table['processes'],
            'driver': versions['driver'],
            'firmware': versions['firmware'],
            'cann': self.cann(),
            'install_info': versions['install_info'],
        }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            npu_smi=dict(type='str', default='npu-smi'),
            ascend_home=dict(type='path', default='/usr/local/Ascend'),
            npu_smi_timeout=dict(type='int', default=DEFAULT_TIMEOUT),
        ),
        supports_check_mode=True,
    )
    NpuFactsManager(module).execute()


if __name__ == '__main__':
    main()
