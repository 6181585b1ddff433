# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/ascend_versions.py on the version-file captures."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import (
    compare_versions,
    parse_key_value,
    parse_mindie_version,
    parse_version_range,
    version_in_ranges,
    version_key,
)

VERSIONS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'versions')


def read(name):
    with open(os.path.join(VERSIONS, name)) as handle:
        return handle.read()


def test_driver_version_info():
    info = parse_key_value(read('driver_version.info_25.0.rc1.1'))
    assert info['Version'] == '25.0.rc1.1'
    assert info['version'] == '25.0.rc1.1'
    assert info['package_version'] == '25.0.rc1.1'
    assert info['Innerversion'] == 'V100R001C21SPC002B220'
    assert info['compatible_version_fw'] == '[7.0.0,7.7.99]'
    assert parse_version_range(info['compatible_version_fw']) == [('7.0.0', '7.7.99')]


def test_old_driver_without_package_version():
    info = parse_key_value('Version=24.1.rc1\nInnerversion=V100R001C19B100\n')
    assert info['version'] == '24.1.rc1'
    assert info['package_version'] is None


def test_firmware_version_info():
    info = parse_key_value(read('firmware_version.info_7.7.0.1.231'))
    assert info['version'] == '7.7.0.1.231'
    assert info['package_version'] == '25.0.rc1.1'
    ranges = parse_version_range(info['compatible_version_drv'])
    assert ranges == [('23.0.0', '23.0.0.'), ('24.0', '24.0.'), ('24.1', '24.1.'), ('25.0', '25.0.')]
    assert version_in_ranges('25.0.rc1.1', ranges)
    assert version_in_ranges('24.1.0', ranges)
    assert version_in_ranges('23.0.0', ranges)
    assert not version_in_ranges('25.3.rc1', ranges)
    assert not version_in_ranges('22.0.0', ranges)


def test_toolkit_and_install_info():
    toolkit = parse_key_value(read('ascend_toolkit_install.info_8.0.0'))
    assert toolkit['version'] == '8.0.0'
    assert toolkit['arch'] == 'aarch64'
    assert toolkit['package_version'] is None
    assert toolkit['path'] == '/usr/local/Ascend/ascend-toolkit/8.0.0/aarch64-linux'
    install = parse_key_value(read('etc_ascend_install.info'))
    assert install['UserName'] == 'HwHiAiUser'
    assert install['Driver_Install_Path_Param'] == '/usr/local/Ascend'
    assert install['version'] is None and install['package_version'] is None


def test_key_value_ignores_noise():
    info = parse_key_value('# comment\n\n  Version = 1.2.3  \nnot a pair\n=orphan\nurl=a=b\n')
    assert info == {'Version': '1.2.3', 'url': 'a=b', 'version': '1.2.3', 'package_version': None}
    assert parse_key_value('') == {'version': None, 'package_version': None}
    assert parse_key_value(None) == {'version': None, 'package_version': None}


def test_version_range_forms():
    assert parse_version_range('compatible_version_fw=[7.0.0,7.7.99]') == [('7.0.0', '7.7.99')]
    assert parse_version_range('[V100R001C17],[V100R001C18]') == [('V100R001C17', 'V100R001C17'),
                                                                  ('V100R001C18', 'V100R001C18')]
    assert parse_version_range('') == []
    assert parse_version_range(None) == []
    ranges = parse_version_range('[7.0.0,7.7.99]')
    assert version_in_ranges('7.7.0.1.231', ranges)
    assert version_in_ranges('7.0.0', ranges)
    assert not version_in_ranges('7.8.0.2.212', ranges)
    assert not version_in_ranges(None, ranges)
    assert version_in_ranges('v100r001c18', parse_version_range('[V100R001C17],[V100R001C18]'))


@pytest.mark.parametrize('older,newer', [
    ('24.1.rc1', '24.1.rc2'),
    ('24.1.rc2', '24.1.0'),
    ('24.1.rc1', '24.1.0'),
    ('24.1.0', '25.0.rc1'),
    ('25.0.rc1', '25.0.rc1.1'),
    ('25.0.rc1.1', '25.0.0'),
    ('25.0.0', '25.0.1'),
    ('25.0.1', '25.3.rc1'),
    ('7.7.0.1.231', '7.7.99'),
    ('2.1.RC1', '2.1.0'),
    ('9.0.0', '10.0.0'),
])
def test_version_order(older, newer):
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert version_key(older) < version_key(newer)


def test_version_equality():
    assert compare_versions('24.1', '24.1.0') == 0
    assert compare_versions('2.1.RC1', '2.1.rc1') == 0
    assert compare_versions('25.0.rc1.1', '25.0.rc1.1') == 0
    ordered = sorted(['25.0.0', '24.1.rc1', '25.0.rc1.1', '24.1.0'], key=version_key)
    assert ordered == ['24.1.rc1', '24.1.0', '25.0.rc1.1', '25.0.0']


def test_mindie_version_info():
    info = parse_mindie_version(read('mindie_version.info_2.1.RC1'))
    assert info['version'] == '2.1.RC1'
    assert info['build'] == 'B152'
    assert info['full_version'] == '2.1.RC1.B152'
    assert info['platform'] == 'aarch64'
    assert info['components']['mindie-service'] == '2.1.RC1.B152'
    assert info['components']['mindie-sd'] == '2.1.RC1.B152'


def test_mindie_version_without_build_or_file():
    assert parse_mindie_version('Ascend-mindie : MindIE 1.0.RC3\n')['version'] == '1.0.RC3'
    assert parse_mindie_version('Ascend-mindie : MindIE 1.0.RC3\n')['build'] is None
    empty = parse_mindie_version('')
    assert empty['version'] is None and empty['components'] == {}


# ---------------------------------------------------------------------- the node's version files, read once

from ansible_collections.ascend.mindie.plugins.module_utils import ascend_versions  # noqa: E402
from ansible_collections.ascend.mindie.plugins.module_utils import npu_smi_exec  # noqa: E402


def test_node_version_files_name_the_three_files():
    assert ascend_versions.node_version_files('/opt/Ascend') == [
        ('driver', '/opt/Ascend/driver/version.info'), ('firmware', '/opt/Ascend/firmware/version.info'),
        ('install_info', '/etc/ascend_install.info')]
    assert ascend_versions.node_version_files('/a', '/x/info')[2] == ('install_info', '/x/info')


def test_read_key_value_file(tmp_path):
    path = tmp_path / 'version.info'
    path.write_bytes(b'Version=24.1.rc2\nname=\xff\xfe\n')
    info = ascend_versions.read_key_value_file(str(path))
    assert info['version'] == '24.1.rc2' and info['name'] == u'\ufffd\ufffd'      # never a lone surrogate
    assert ascend_versions.read_key_value_file(str(tmp_path / 'absent')) is None
    assert ascend_versions.read_key_value_file(str(tmp_path)) is None                 # a directory
    os.mkfifo(str(tmp_path / 'fifo'))
    assert ascend_versions.read_key_value_file(str(tmp_path / 'fifo')) is None        # never opened, never waited on


# ---------------------------------------------------------------------- npu-smi: where it is, why it failed

def executable(path):
    path.write_text('#!/bin/sh\n')
    path.chmod(0o755)
    return str(path)


def test_find_npu_smi_on_the_path_then_in_the_driver_dirs(tmp_path, monkeypatch):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.mkdir()
    second.mkdir()
    (first / 'npu-smi').write_text('not executable')
    wanted = executable(second / 'npu-smi')
    monkeypatch.setenv('PATH', '%s:%s:%s' % (first, second, first))
    assert npu_smi_exec.find_npu_smi('npu-smi') == wanted
    assert npu_smi_exec.search_dirs() == [str(first), str(second), '/usr/local/sbin', '/usr/local/bin']
    assert npu_smi_exec.find_npu_smi(wanted) == wanted


def test_find_npu_smi_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(npu_smi_exec.NpuSmiNotFound) as caught:
        npu_smi_exec.find_npu_smi('npu-smi-that-is-nowhere')
    assert caught.value.searched == [str(tmp_path), '/usr/local/sbin', '/usr/local/bin']
    assert 'looked for npu-smi-that-is-nowhere in %s, /usr/local/sbin' % tmp_path in caught.value.msg
    with pytest.raises(npu_smi_exec.NpuSmiNotFound) as caught:
        npu_smi_exec.find_npu_smi(str(tmp_path / 'npu-smi'))
    assert 'is not an executable file' in caught.value.msg and caught.value.searched == []
    assert isinstance(caught.value, npu_smi_exec.NpuSmiExecError)


@pytest.mark.parametrize('output, rc, expected', [
    ('dcmi module initialize failed. ret is -8005', 1, npu_smi_exec.DCMI_INIT_CAUSE),
    ('DCMI module initialize failed', 1, npu_smi_exec.DCMI_INIT_CAUSE),
    ("npu-smi: error while loading shared libraries: libdrvdsmi_host.so", 127,
     'the Ascend driver is not installed or its libraries are missing (look under /opt/A/driver).'),
    ('', 127, 'the Ascend driver is not installed or its libraries are missing (look under /opt/A/driver).'),
    ("'npu-smi info' did not finish within 30 s and was killed. Likely cause: ...", None,
     npu_smi_exec.HUNG_DRIVER_HINT[len('Likely cause: '):]),
    ('Error: the device is busy', 1, None),
    (None, None, None),
])
def test_likely_cause(output, rc, expected):
    assert npu_smi_exec.likely_cause(output, rc, '/opt/A/') == expected


def test_the_8005_cause_is_one_sentence_everywhere():
    from ansible_collections.ascend.mindie.plugins.module_utils import diagnose, precheck
    findings = diagnose.check_npu('dcmi module initialize failed. ret is -8005', None)[0]
    checks = precheck.check_npu(None, 'dcmi module initialize failed. ret is -8005', [0], None)
    cause = npu_smi_exec.DCMI_INIT_CAUSE
    assert findings[0]['hint'].lower() == cause.lower()
    assert checks[0]['hint'].lower() == cause.lower()
