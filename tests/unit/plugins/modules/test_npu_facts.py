# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ascend.mindie.npu_facts module, driven through main() with a fake npu-smi."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import stat
import sys
import time

import pytest

from ansible.module_utils import basic


from ansible_collections.ascend.mindie.plugins.modules import npu_facts

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures')
NPU_SMI = os.path.join(FIXTURES, 'npu-smi')
VERSIONS = os.path.join(FIXTURES, 'versions')


def write_fake_npu_smi(directory, info=None, mapping=None, info_rc=0, mapping_rc=0, name='npu-smi'):
    """A shell script that prints ``info`` for ``info`` and ``mapping`` for ``info -m``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ['#!/bin/sh', 'echo "$@" >> "%s"' % (directory / 'calls.log'),
             'if [ "$1 $2" = "info -m" ]; then']
    if mapping is not None:
        (directory / 'mapping.txt').write_text(mapping)
        lines.append('  cat "%s"' % (directory / 'mapping.txt'))
    lines += ['  exit %d' % mapping_rc, 'fi']
    if info is not None:
        (directory / 'info.txt').write_text(info)
        lines.append('cat "%s"' % (directory / 'info.txt'))
    lines.append('exit %d' % info_rc)
    path = directory / name
    path.write_text('\n'.join(lines) + '\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


def ascend_home(tmp_path, toolkit_layout='latest', arch='aarch64'):
    home = tmp_path / 'Ascend'
    (home / 'driver').mkdir(parents=True)
    (home / 'firmware').mkdir()
    shutil.copy(os.path.join(VERSIONS, 'driver_version.info_25.0.rc1.1'), str(home / 'driver' / 'version.info'))
    shutil.copy(os.path.join(VERSIONS, 'firmware_version.info_7.7.0.1.231'), str(home / 'firmware' / 'version.info'))
    if toolkit_layout == 'latest':
        toolkit = home / 'ascend-toolkit' / 'latest' / (arch + '-linux')
    elif toolkit_layout == 'cann85':
        toolkit = home / 'cann' / (arch + '-linux')
    else:
        toolkit = None
    if toolkit is not None:
        toolkit.mkdir(parents=True)
        shutil.copy(os.path.join(VERSIONS, 'ascend_toolkit_install.info_8.0.0'),
                    str(toolkit / 'ascend_toolkit_install.info'))
    return home


@pytest.fixture
def install_info(tmp_path, monkeypatch):
    path = tmp_path / 'etc_ascend_install.info'
    shutil.copy(os.path.join(VERSIONS, 'etc_ascend_install.info'), str(path))
    monkeypatch.setattr(npu_facts, 'INSTALL_INFO_PATH', str(path))
    return path


@pytest.fixture
def run(run_module):
    def run_npu_facts(args, expect_fail=False):
        return run_module(npu_facts.main, args, expect_fail)
    return run_npu_facts


def test_32g_idle_host(tmp_path, install_info, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', fixture('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'),
                                fixture('npu-smi', 'atlas800ia2_910b4x8_info-m.txt'))
    home = ascend_home(tmp_path)
    result = run({'npu_smi': str(binary), 'ascend_home': str(home)})
    assert result['changed'] is False
    npu = result['ansible_facts']['npu']
    assert npu['npu_smi_version'] == '25.0.rc1.1'
    assert npu['count'] == 8
    assert npu['healthy'] is True
    assert npu['profile'] == 'atlas-800i-a2-32g'
    assert [c['logical_id'] for c in npu['chips']] == list(range(8))
    assert npu['chips'][7]['hbm_used_mb'] == 2653
    assert npu['processes'] == []
    assert npu['driver']['version'] == '25.0.rc1.1'
    assert npu['driver']['package_version'] == '25.0.rc1.1'
    assert npu['driver']['compatible_version_fw'] == '[7.0.0,7.7.99]'
    assert npu['firmware']['version'] == '7.7.0.1.231'
    assert npu['cann']['version'] == '8.0.0'
    assert npu['install_info']['UserName'] == 'HwHiAiUser'
    assert (tmp_path / 'bin' / 'calls.log').read_text().splitlines() == ['info', 'info -m']


def test_check_mode_gives_the_same_facts(tmp_path, install_info, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', fixture('npu-smi', '910b3x8_64g_busy_25.3.rc1.txt'))
    home = ascend_home(tmp_path, toolkit_layout='cann85')
    args = {'npu_smi': str(binary), 'ascend_home': str(home)}
    normal = run(args)
    args['_ansible_check_mode'] = True
    checked = run(args)
    assert checked['ansible_facts'] == normal['ansible_facts']
    npu = checked['ansible_facts']['npu']
    assert npu['profile'] == 'atlas-800i-a2-64g'
    assert len(npu['processes']) == 8 and npu['processes'][0]['memory_mb'] == 55278
    assert npu['cann']['version'] == '8.0.0'  # found in the CANN 8.5 layout


def test_name_is_looked_up_in_path(tmp_path, install_info, monkeypatch, run):
    write_fake_npu_smi(tmp_path / 'bin', fixture('npu-smi', 'variants', 'npu-smi_25.0.rc1.1_subset_npu4-7.txt'),
                       fixture('npu-smi', 'variants', 'npu-smi_info-m_subset_npu4-7.txt'))
    monkeypatch.setenv('PATH', str(tmp_path / 'bin') + os.pathsep + os.environ.get('PATH', ''))
    result = run({'ascend_home': str(tmp_path / 'nothing')})
    npu = result['ansible_facts']['npu']
    assert [c['npu_id'] for c in npu['chips']] == [4, 5, 6, 7]
    assert [c['logical_id'] for c in npu['chips']] == [4, 5, 6, 7]
    assert npu['count'] == 4
    assert npu['profile'] is None
    assert npu['driver'] is None and npu['firmware'] is None and npu['cann'] is None


def test_mapping_failure_leaves_logical_id_none(tmp_path, install_info, monkeypatch, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', fixture('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'),
                                'Error: unknown option -m\n', mapping_rc=2)
    monkeypatch.setattr(npu_facts, 'INSTALL_INFO_PATH', str(tmp_path / 'absent'))
    npu = run({'npu_smi': str(binary), 'ascend_home': str(tmp_path)})['ansible_facts']['npu']
    assert [c['logical_id'] for c in npu['chips']] == [None] * 8
    assert npu['install_info'] is None
    assert npu['count'] == 8


def test_unhealthy_chip(tmp_path, install_info, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', fixture('npu-smi', 'variants', 'npu-smi_25.0.rc1.1_unhealthy.txt'))
    npu = run({'npu_smi': str(binary)})['ansible_facts']['npu']
    assert npu['healthy'] is False
    assert npu['chips'][3]['health'] == 'Alarm'


def test_not_found_lists_where_it_looked(tmp_path, monkeypatch, run):
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    result = run({'npu_smi': 'npu-smi-definitely-absent'}, expect_fail=True)
    assert result['msg'].startswith('npu-smi was not found: looked for npu-smi-definitely-absent in ')
    assert str(tmp_path / 'empty') in result['msg']
    assert '/usr/local/sbin' in result['msg'] and '/usr/local/bin' in result['msg']
    assert result['searched'][-2:] == ['/usr/local/sbin', '/usr/local/bin']


def test_explicit_path_not_found(tmp_path, run):
    result = run({'npu_smi': str(tmp_path / 'no' / 'npu-smi')}, expect_fail=True)
    assert 'npu-smi was not found' in result['msg'] and str(tmp_path / 'no' / 'npu-smi') in result['msg']


def test_dcmi_8005_quotes_output_and_gives_cause(tmp_path, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', 'DrvMngGetConsoleLogLevel failed. (ret=4)\n'
                                'dcmi module initialize failed. ret is -8005\n', info_rc=1)
    result = run({'npu_smi': str(binary)}, expect_fail=True)
    assert 'dcmi module initialize failed. ret is -8005' in result['msg']
    assert 'DrvMngGetConsoleLogLevel failed. (ret=4)' in result['msg']
    assert '(rc=1)' in result['msg']
    assert 'without a reboot' in result['msg'] and 'root' in result['msg']
    assert result['rc'] == 1


def test_dcmi_8005_with_exit_zero_still_gives_cause(tmp_path, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', 'dcmi module initialize failed. ret is -8005\n', info_rc=0)
    result = run({'npu_smi': str(binary)}, expect_fail=True)
    assert 'is not a device table' in result['msg']
    assert 'dcmi module initialize failed. ret is -8005' in result['msg']
    assert 'without a reboot' in result['msg']


def test_search_dirs_are_deduplicated(tmp_path, monkeypatch, run):
    monkeypatch.setenv('PATH', os.pathsep.join(['/usr/local/bin', str(tmp_path), str(tmp_path), '']))
    result = run({'npu_smi': 'npu-smi-definitely-absent'}, expect_fail=True)
    assert result['searched'] == ['/usr/local/bin', str(tmp_path), '/usr/local/sbin']


def test_missing_driver_library(tmp_path, run):
    path = tmp_path / 'npu-smi'
    path.write_text('#!/bin/sh\necho "npu-smi: error while loading shared libraries: libdrvdsmi_host.so: '
                    'cannot open shared object file: No such file or directory" >&2\nexit 127\n')
    path.chmod(0o755)
    result = run({'npu_smi': str(path), 'ascend_home': '/opt/Ascend'}, expect_fail=True)
    assert 'libdrvdsmi_host.so' in result['msg']
    assert '(rc=127)' in result['msg']
    assert 'driver is not installed' in result['msg'] and '/opt/Ascend/driver' in result['msg']


def test_other_failure_quotes_output_without_hint(tmp_path, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', 'Segmentation fault\n', info_rc=139)
    result = run({'npu_smi': str(binary)}, expect_fail=True)
    assert result['msg'].endswith('(rc=139): Segmentation fault')


@pytest.mark.parametrize('output,expected', [
    ('Usage: npu-smi [OPTIONS]\nSomething else entirely\n', 'Usage: npu-smi [OPTIONS]'),
    ('', 'empty'),
])
def test_not_a_table(tmp_path, output, expected, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', output)
    result = run({'npu_smi': str(binary)}, expect_fail=True)
    assert 'is not a device table' in result['msg']
    assert expected in result['msg']


def test_documentation_matches_argument_spec(run):
    import yaml
    doc = yaml.safe_load(npu_facts.DOCUMENTATION)
    assert set(doc['options']) == {'npu_smi', 'ascend_home', 'npu_smi_timeout'}
    assert doc['options']['npu_smi']['default'] == 'npu-smi'
    assert doc['options']['npu_smi_timeout'] == {
        'description': doc['options']['npu_smi_timeout']['description'], 'type': 'int', 'default': 30}
    # check_mode support comes from the collection's attributes doc fragment
    assert 'ascend.mindie.attributes' in doc['extends_documentation_fragment']
    from ansible_collections.ascend.mindie.plugins.doc_fragments.attributes import ModuleDocFragment
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['attributes']['check_mode']['support'] == 'full'
    assert doc['attributes']['facts']['support'] == 'full'
    yaml.safe_load(npu_facts.EXAMPLES)
    ret = yaml.safe_load(npu_facts.RETURN)
    assert set(ret['ansible_facts']['contains']['npu']['contains']) == {
        'npu_smi_version', 'count', 'healthy', 'profile', 'chips', 'processes', 'driver', 'firmware', 'cann',
        'install_info'}


# ---------------------------------------------------------------------- a hung, chatty or garbled npu-smi

@pytest.fixture
def warnings(monkeypatch):
    """The warnings the module gives, in this test only."""
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, warning: seen.append(warning))
    return seen


def write_script(directory, body, name='npu-smi'):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text('#!/bin/sh\n' + body + '\n')
    path.chmod(0o755)
    return path


def pid_gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[-1].split()[0] in ('Z', 'X')
    except (IOError, OSError):
        return True


def test_hung_npu_smi_is_killed_and_named(tmp_path, run):
    """A driver that hangs makes npu-smi block: the call is bounded and the message names it and the cause."""
    binary = write_script(tmp_path / 'bin', 'echo "npu-smi 25.0.rc1.1"\nsleep 20 &\necho $! > "%s"\nwait'
                          % (tmp_path / 'child.pid'))
    started = time.time()
    result = run({'npu_smi': str(binary), 'npu_smi_timeout': 1}, expect_fail=True)
    assert time.time() - started < 10
    assert "'%s info' did not finish within 1 s and was killed" % binary in result['msg']
    assert 'dmesg' in result['msg'] and 'reload the driver' in result['msg']
    assert 'npu-smi 25.0.rc1.1' in result['stdout']
    child = int((tmp_path / 'child.pid').read_text())
    deadline = time.time() + 5
    while not pid_gone(child) and time.time() < deadline:
        time.sleep(0.05)
    assert pid_gone(child), 'the hung child of npu-smi was left running'


def test_hung_mapping_is_a_warning_not_a_failure(tmp_path, install_info, run, warnings):
    table = fixture('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt')
    (tmp_path / 'info.txt').write_text(table)
    binary = write_script(tmp_path / 'bin', 'if [ "$2" = "-m" ]; then sleep 20; fi\ncat "%s"' % (tmp_path / 'info.txt'))
    started = time.time()
    result = run({'npu_smi': str(binary), 'npu_smi_timeout': 1, 'ascend_home': str(ascend_home(tmp_path))})
    assert time.time() - started < 10
    assert [c['logical_id'] for c in result['ansible_facts']['npu']['chips']] == [None] * 8
    assert any("info -m' did not finish within 1 s" in w for w in warnings)


def test_huge_output_is_capped_and_said_so(tmp_path, run):
    binary = write_script(tmp_path / 'bin', '%s -c "import sys; sys.stdout.write(\'x\' * (10 * 1024 * 1024))"'
                          % sys.executable)
    result = run({'npu_smi': str(binary)}, expect_fail=True)
    assert 'printed 10485760 bytes' in result['msg'] and 'truncated' in result['msg']
    assert len(result['stdout']) < 1024 * 1024 + 200
    assert len(json.dumps(result)) < 2 * 1024 * 1024


def test_invalid_utf8_is_replaced_and_reported(tmp_path, install_info, run, warnings):
    table = fixture('npu-smi', 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt').encode('utf-8')
    table = table.replace(b'910B4', b'910B4\xff\xfe', 1)
    (tmp_path / 'info.bin').write_bytes(table)
    binary = write_script(tmp_path / 'bin', 'cat "%s"' % (tmp_path / 'info.bin'))
    home = ascend_home(tmp_path)
    with open(str(home / 'driver' / 'version.info'), 'ab') as handle:
        handle.write(b'Note=caf\xe9\n')
    result = run({'npu_smi': str(binary), 'ascend_home': str(home)})
    npu = result['ansible_facts']['npu']
    assert npu['count'] == 8
    assert '\ufffd' in npu['chips'][0]['name']
    assert any('not valid UTF-8' in w for w in warnings)
    # What the controller receives must be encodable: lone surrogates make it throw the whole result away.
    json.dumps(result, ensure_ascii=False).encode('utf-8')


@pytest.mark.parametrize('value', [0, -5])
def test_timeout_below_one_is_refused(tmp_path, value, run):
    binary = write_fake_npu_smi(tmp_path / 'bin', 'x')
    result = run({'npu_smi': str(binary), 'npu_smi_timeout': value}, expect_fail=True)
    assert 'npu_smi_timeout must be at least 1' in result['msg']
    assert not (tmp_path / 'bin' / 'calls.log').exists()
