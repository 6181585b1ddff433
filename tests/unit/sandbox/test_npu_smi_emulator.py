# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the sandbox's emulated Ascend driver: ascend-sim-install, npu-smi and npu-hold.

Each test installs a profile under a temporary root with the installer and points npu-smi at it
through ASCEND_SIM_HARDWARE / ASCEND_SIM_DEV_DIR / ASCEND_SIM_PROC, then compares the output with
the captures in tests/fixtures/npu-smi and parses it with the collection's parser.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    parse_npu_smi_info,
    parse_npu_smi_list,
    parse_npu_smi_mapping,
)
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify as classify_profile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROOTFS = os.path.join(REPO, 'sandbox', 'images', 'npu-node', 'rootfs')
NPU_SMI = os.path.join(ROOTFS, 'usr', 'local', 'sbin', 'npu-smi')
NPU_SMI_BIN = os.path.join(ROOTFS, 'usr', 'local', 'bin', 'npu-smi')
SIM_LIB = os.path.join(ROOTFS, 'usr', 'local', 'lib', 'ascend-sim')
INSTALLER = os.path.join(SIM_LIB, 'ascend-sim-install')
NPU_HOLD = os.path.join(SIM_LIB, 'npu-hold')
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')
CAPTURES = os.path.join(FIXTURES, 'npu-smi')
PROFILES = ['800i-a2-32g', '800i-a2-32g-alarm', '800i-a2-32g-dcmi-8005', '800i-a2-32g-no-driver', '800i-a2-64g']
DCMI_8005 = 'dcmi module initialize failed. ret is -8005'
NO_DRIVER = ('npu-smi: error while loading shared libraries: libdrvdsmi_host.so: '
             'cannot open shared object file: No such file or directory')


def capture(name):
    with open(os.path.join(CAPTURES, name)) as handle:
        return handle.read()


def install(root, profile, *extra):
    return subprocess.run([sys.executable, INSTALLER, '--profile', profile, '--root', str(root)] + list(extra),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)


class Node(object):
    """A simulated node's driver tree under a temporary root."""

    def __init__(self, root, profile):
        self.root = root
        self.profile = profile
        result = install(root, profile)
        assert result.returncode == 0, result.stderr
        self.proc = os.path.join(str(root), 'proc')
        os.makedirs(self.proc)
        self.env = dict(os.environ)
        for key in ('ASCEND_VISIBLE_DEVICES',):
            self.env.pop(key, None)
        self.env.update({
            'ASCEND_SIM_HARDWARE': self.path('usr/local/Ascend/driver/sim/hardware.json'),
            'ASCEND_SIM_DEV_DIR': self.path('dev'),
            'ASCEND_SIM_PROC': self.proc,
        })

    def path(self, relative):
        return os.path.join(str(self.root), relative)

    def npu_smi(self, *args, **kwargs):
        env = dict(self.env)
        env.update(kwargs.get('env', {}))
        return subprocess.run([kwargs.get('binary', NPU_SMI)] + list(args), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)

    def fake_holder(self, pid, device, mb, comm='python3'):
        """A /proc entry (no ns link: npu-smi must treat it as another PID namespace)."""
        directory = os.path.join(self.proc, str(pid))
        os.makedirs(directory)
        argv = ['python3', '-c', 'pass', 'mindie_sim_npu_worker', '--device', str(device), '--hbm-mb', str(mb)]
        with open(os.path.join(directory, 'cmdline'), 'wb') as handle:
            handle.write(b'\0'.join(a.encode() for a in argv) + b'\0')
        with open(os.path.join(directory, 'comm'), 'w') as handle:
            handle.write(comm + '\n')


@pytest.fixture
def node(tmp_path):
    def make(profile='800i-a2-32g'):
        return Node(tmp_path / profile, profile)
    return make


@pytest.fixture
def holders():
    started = []

    def start(*args):
        process = subprocess.Popen([sys.executable, NPU_HOLD] + list(args))
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def wait_for_holder(pid, timeout=10.0):
    """Until /proc/<pid>/cmdline shows the worker token (npu-hold has exec'd)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                if b'mindie_sim_npu_worker' in handle.read():
                    return
        except IOError:
            pass
        time.sleep(0.05)
    raise AssertionError('npu-hold %d did not start' % pid)


# -- the installed tree ------------------------------------------------------------------------------


def test_npu_smi_copies_are_identical_and_executable():
    with open(NPU_SMI, 'rb') as one, open(NPU_SMI_BIN, 'rb') as two:
        assert one.read() == two.read()
    for path in (NPU_SMI, NPU_SMI_BIN, INSTALLER, NPU_HOLD):
        assert os.stat(path).st_mode & stat.S_IXUSR, path
        with open(path) as handle:
            assert handle.readline() == '#!/bin/sh\n'
            assert 'exec python3 "$0" "$@"' in handle.read()


def test_list_profiles():
    result = subprocess.run([sys.executable, INSTALLER, '--list'], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert result.returncode == 0
    assert result.stdout.splitlines() == PROFILES


def test_unknown_profile_writes_nothing(tmp_path):
    result = install(tmp_path / 'root', 'dgx-h100')
    assert result.returncode == 2
    assert result.stderr.strip() == ("unknown hardware profile 'dgx-h100'; known profiles: "
                                     + ', '.join(PROFILES))
    assert not (tmp_path / 'root').exists()


def test_installed_files_match_the_captures(node):
    n = node('800i-a2-32g')
    for installed, captured in (('usr/local/Ascend/driver/version.info', 'driver_version.info_25.0.rc1.1'),
                                ('usr/local/Ascend/firmware/version.info', 'firmware_version.info_7.7.0.1.231'),
                                ('etc/ascend_install.info', 'etc_ascend_install.info')):
        with open(n.path(installed)) as one, open(os.path.join(FIXTURES, 'versions', captured)) as two:
            assert one.read() == two.read(), installed
    devices = sorted(os.listdir(n.path('dev')))
    assert devices == sorted(['davinci%d' % i for i in range(8)] + ['davinci_manager', 'devmm_svm', 'hisi_hdc'])
    for device in devices:
        info = os.stat(os.path.join(n.path('dev'), device))
        if stat.S_ISCHR(info.st_mode):  # plain files only where mknod is not allowed
            assert (os.major(info.st_rdev), os.minor(info.st_rdev)) == (1, 3)
            assert stat.S_IMODE(info.st_mode) == 0o666
    assert os.path.isfile(n.path('usr/local/dcmi/dcmi_interface_api.h'))
    assert os.path.isfile(n.path('usr/local/dcmi/libdcmi.so'))


def test_hardware_json_schema(node):
    n = node('800i-a2-32g')
    with open(n.env['ASCEND_SIM_HARDWARE']) as handle:
        hardware = json.load(handle)
    assert set(hardware) == {'profile', 'npu_smi_version', 'fault', 'chips'}
    assert hardware['profile'] == '800i-a2-32g' and hardware['fault'] is None
    assert hardware['npu_smi_version'] == '25.0.rc1.1'
    assert hardware['chips'][0] == {
        'npu_id': 0, 'chip_id': 0, 'logical_id': 0, 'name': '910B4', 'health': 'OK', 'power_w': 87.2,
        'temp_c': 33, 'bus_id': '0000:C1:00.0', 'hbm_total_mb': 32768, 'hbm_idle_mb': 2654,
        'hugepages_total': 0, 'hugepages_used': 0}
    assert [c['hbm_idle_mb'] for c in hardware['chips']] == [2654] * 7 + [2653]


def test_install_is_idempotent_and_leaves_existing_devices(node, tmp_path):
    n = node('800i-a2-32g')
    marker = n.path('dev/davinci0')
    before = os.stat(marker)
    with open(n.path('usr/local/Ascend/driver/version.info'), 'w') as handle:
        handle.write('Version=broken\n')
    result = install(n.root, '800i-a2-32g')
    assert result.returncode == 0, result.stderr
    assert os.stat(marker).st_ino == before.st_ino
    with open(n.path('usr/local/Ascend/driver/version.info')) as handle:
        assert handle.readline() == 'Version=25.0.rc1.1\n'


def test_dev_dir_option(tmp_path):
    result = install(tmp_path / 'root', '800i-a2-64g', '--dev-dir', str(tmp_path / 'devices'))
    assert result.returncode == 0, result.stderr
    assert os.path.exists(str(tmp_path / 'devices' / 'davinci7'))
    assert not (tmp_path / 'root' / 'dev').exists()


# -- npu-smi output ---------------------------------------------------------------------------------------


def test_32g_idle_is_byte_equal_to_the_capture(node):
    n = node('800i-a2-32g')
    result = n.npu_smi('info')
    assert result.returncode == 0, result.stderr
    assert result.stdout == capture('atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt')
    assert n.npu_smi('info', binary=NPU_SMI_BIN).stdout == result.stdout


def test_32g_mapping_and_list_are_byte_equal(node):
    n = node('800i-a2-32g')
    assert n.npu_smi('info', '-m').stdout == capture('atlas800ia2_910b4x8_info-m.txt')
    assert n.npu_smi('info', '-l').stdout == capture('atlas800ia2_910b4x8_info-l.txt')


def test_64g_busy_with_fake_proc_is_byte_equal_to_the_capture(node):
    n = node('800i-a2-64g')
    for device in range(8):
        n.fake_holder(71867 + device, device, 55278)
    result = n.npu_smi('info')
    assert result.returncode == 0, result.stderr
    assert result.stdout == capture('910b3x8_64g_busy_25.3.rc1.txt')


def normalise_process_rows(text):
    """Blank the pid and name cells of process rows, so captures and live runs compare."""
    out = []
    for line in text.splitlines():
        cells = line.split('|')
        if len(cells) == 6 and cells[2].strip().isdigit():
            cells[2] = ' PID'.ljust(len(cells[2]))
            cells[3] = ' ' * len(cells[3])
        out.append('|'.join(cells))
    return '\n'.join(out) + '\n'


def proc_view(tmp_path, pids):
    """A proc root holding only the given live processes (symlinks into /proc)."""
    view = tmp_path / 'proc-view'
    view.mkdir()
    for pid in pids:
        os.symlink('/proc/%d' % pid, str(view / str(pid)))
    return str(view)


def test_64g_busy_with_real_holders_matches_the_capture_layout(node, holders, tmp_path):
    n = node('800i-a2-64g')
    started = [holders('--device', str(device), '--hbm-mb', '55278') for device in range(8)]
    for process in started:
        wait_for_holder(process.pid)
    result = n.npu_smi('info', env={'ASCEND_SIM_PROC': proc_view(tmp_path, [p.pid for p in started])})
    assert result.returncode == 0, result.stderr
    assert normalise_process_rows(result.stdout) == normalise_process_rows(capture('910b3x8_64g_busy_25.3.rc1.txt'))
    parsed = parse_npu_smi_info(result.stdout)
    assert [p['pid'] for p in parsed['processes']] == [p.pid for p in started]
    assert [p['npu_id'] for p in parsed['processes']] == list(range(8))
    assert all(p['name'] for p in parsed['processes'])  # same PID namespace: the name shows
    assert [c['hbm_used_mb'] for c in parsed['chips']] == [58626, 58626, 58627, 58626, 58626, 58626, 58626, 58626]


def test_holder_in_default_proc_and_its_name(node, holders):
    n = node('800i-a2-32g')
    process = holders('--device', '2', '--hbm-mb', '4000', '--name', 'hold-test')
    wait_for_holder(process.pid)
    env = {'ASCEND_SIM_PROC': ''}  # default: /proc
    parsed = parse_npu_smi_info(n.npu_smi('info', env=env).stdout)
    mine = [p for p in parsed['processes'] if p['pid'] == process.pid]
    assert mine == [{'npu_id': 2, 'chip_id': 0, 'pid': process.pid, 'container_pid': None, 'name': 'hold-test',
                     'memory_mb': 4000}]
    assert parsed['chips'][2]['hbm_used_mb'] >= 2654 + 4000
    process.terminate()
    process.wait(timeout=10)
    parsed = parse_npu_smi_info(n.npu_smi('info', env=env).stdout)
    assert process.pid not in [p['pid'] for p in parsed['processes']]


def test_holder_in_another_pid_namespace_has_no_name(node, tmp_path):
    if not shutil.which('unshare'):
        pytest.skip('unshare not available')
    n = node('800i-a2-32g')
    pid = None
    outer = subprocess.Popen(['unshare', '--pid', '--fork', sys.executable, NPU_HOLD, '--device', '5',
                              '--hbm-mb', '1234', '--name', 'in-container'],
                             stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while pid is None and time.time() < deadline:
            if outer.poll() is not None:
                pytest.skip('cannot create a PID namespace here: %s' % outer.stderr.read().decode())
            for entry in os.listdir('/proc'):
                if not entry.isdigit():
                    continue
                try:
                    with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                        cmdline = handle.read()
                    with open('/proc/%s/status' % entry) as handle:
                        ppid = re.search(r'PPid:\s+(\d+)', handle.read()).group(1)
                except (IOError, AttributeError):
                    continue
                if b'--hbm-mb\x001234\x00' in cmdline and int(ppid) == outer.pid:
                    pid = int(entry)
            time.sleep(0.05)
        assert pid is not None
        result = n.npu_smi('info', env={'ASCEND_SIM_PROC': proc_view(tmp_path, [pid])})
        parsed = parse_npu_smi_info(result.stdout)
        assert parsed['processes'] == [{'npu_id': 5, 'chip_id': 0, 'pid': pid, 'container_pid': None, 'name': '',
                                        'memory_mb': 1234}]
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        outer.kill()
        outer.wait(timeout=10)


def test_hbm_is_capped_at_the_total(node):
    n = node('800i-a2-32g')
    n.fake_holder(500, 0, 20000)
    n.fake_holder(501, 0, 20000)
    parsed = parse_npu_smi_info(n.npu_smi('info').stdout)
    assert parsed['chips'][0]['hbm_used_mb'] == 32768
    assert [p['pid'] for p in parsed['processes']] == [500, 501]


@pytest.mark.parametrize('profile,expected', [('800i-a2-32g', 'atlas-800i-a2-32g'),
                                              ('800i-a2-64g', 'atlas-800i-a2-64g')])
def test_parser_reads_the_profile_back(node, profile, expected):
    n = node(profile)
    with open(n.env['ASCEND_SIM_HARDWARE']) as handle:
        hardware = json.load(handle)
    parsed = parse_npu_smi_info(n.npu_smi('info').stdout)
    assert parsed['npu_smi_version'] == hardware['npu_smi_version']
    assert classify_profile(parsed['chips']) == expected
    for chip, want in zip(parsed['chips'], hardware['chips']):
        for key in ('npu_id', 'chip_id', 'name', 'health', 'power_w', 'temp_c', 'bus_id', 'hbm_total_mb'):
            assert chip[key] == want[key], key
        assert chip['hbm_used_mb'] == want['hbm_idle_mb']
    mapping = parse_npu_smi_mapping(n.npu_smi('info', '-m').stdout)
    assert [(m['npu_id'], m['logical_id']) for m in mapping] == [(i, i) for i in range(8)]
    assert parse_npu_smi_list(n.npu_smi('info', '-l').stdout)['total_count'] == 8


def test_64g_profile_versions_are_consistent(node):
    n = node('800i-a2-64g')
    from ansible_collections.ascend.mindie.plugins.module_utils.ascend_versions import (
        parse_key_value, parse_version_range, version_in_ranges)
    with open(n.path('usr/local/Ascend/driver/version.info')) as handle:
        driver = parse_key_value(handle.read())
    with open(n.path('usr/local/Ascend/firmware/version.info')) as handle:
        firmware = parse_key_value(handle.read())
    with open(n.env['ASCEND_SIM_HARDWARE']) as handle:
        assert json.load(handle)['npu_smi_version'] == driver['version'] == driver['package_version']
    assert firmware['package_version'] == driver['version']
    assert version_in_ranges(firmware['version'], parse_version_range(driver['compatible_version_fw']))
    assert version_in_ranges(driver['version'], parse_version_range(firmware['compatible_version_drv']))


# -- visibility -----------------------------------------------------------------------------------------------


def test_missing_device_nodes_hide_chips(node):
    n = node('800i-a2-32g')
    for device in range(4):
        os.unlink(n.path('dev/davinci%d' % device))
    result = n.npu_smi('info')
    assert result.stdout == capture('variants/npu-smi_25.0.rc1.1_subset_npu4-7.txt')
    assert n.npu_smi('info', '-m').stdout == capture('variants/npu-smi_info-m_subset_npu4-7.txt')
    listed = parse_npu_smi_list(n.npu_smi('info', '-l').stdout)
    assert listed['total_count'] == 4 and [x['npu_id'] for x in listed['npus']] == [4, 5, 6, 7]


def test_ascend_visible_devices(node):
    n = node('800i-a2-32g')
    result = n.npu_smi('info', env={'ASCEND_VISIBLE_DEVICES': '4,5,6,7'})
    assert result.stdout == capture('variants/npu-smi_25.0.rc1.1_subset_npu4-7.txt')
    parsed = parse_npu_smi_info(n.npu_smi('info', env={'ASCEND_VISIBLE_DEVICES': '1, 3'}).stdout)
    assert [c['npu_id'] for c in parsed['chips']] == [1, 3]


# -- fault profiles ---------------------------------------------------------------------------------------------


def test_alarm_profile(node):
    n = node('800i-a2-32g-alarm')
    result = n.npu_smi('info')
    assert result.returncode == 0
    parsed = parse_npu_smi_info(result.stdout)
    assert [c['health'] for c in parsed['chips']] == ['OK', 'OK', 'OK', 'Alarm', 'OK', 'OK', 'OK', 'OK']
    # Only the health cell differs from the healthy capture.
    expected = capture('atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt').replace(
        '| 3     910B4               | OK            |', '| 3     910B4               | Alarm         |')
    assert result.stdout == expected


@pytest.mark.parametrize('args', [('info',), ('info', '-m'), ('info', '-l')])
def test_dcmi_8005_profile(node, args):
    n = node('800i-a2-32g-dcmi-8005')
    result = n.npu_smi(*args)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip() == DCMI_8005


def test_no_driver_profile(node):
    n = node('800i-a2-32g-no-driver')
    assert not os.path.exists(n.path('usr/local/Ascend/driver'))
    assert os.path.isfile(n.path('usr/local/Ascend/firmware/version.info'))
    result = n.npu_smi('info')
    assert result.returncode == 127
    assert result.stderr.strip() == NO_DRIVER
    assert result.stdout == ''


def test_switching_to_no_driver_removes_the_driver(node):
    n = node('800i-a2-32g')
    assert n.npu_smi('info').returncode == 0
    result = install(n.root, '800i-a2-32g-no-driver')
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(n.path('usr/local/Ascend/driver'))
    assert n.npu_smi('info').returncode == 127


def test_non_root_user():
    if os.geteuid() != 0 or not shutil.which('setpriv'):
        pytest.skip('needs root and setpriv')
    base = tempfile.mkdtemp(prefix='npu-sim-nonroot-')
    try:
        os.chmod(base, 0o755)
        result = install(base, '800i-a2-32g')
        assert result.returncode == 0, result.stderr
        copy = os.path.join(base, 'npu-smi')
        shutil.copy(NPU_SMI, copy)
        os.chmod(copy, 0o755)
        env = dict(os.environ, ASCEND_SIM_HARDWARE=os.path.join(base, 'usr/local/Ascend/driver/sim/hardware.json'),
                   ASCEND_SIM_DEV_DIR=os.path.join(base, 'dev'))
        result = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', copy, 'info'],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if 'setpriv:' in result.stderr:
            pytest.skip('setpriv cannot switch user here: %s' % result.stderr.strip())
        assert result.returncode != 0
        assert (result.stdout + result.stderr).splitlines() == ['DrvMngGetConsoleLogLevel failed. (ret=4)', DCMI_8005]
    finally:
        shutil.rmtree(base)


# -- command line -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('args', [('bogus',), ('info', '-x'), ('info', '-t', 'board')])
def test_unknown_arguments(node, args):
    n = node('800i-a2-32g')
    result = n.npu_smi(*args)
    assert result.returncode != 0
    assert 'Usage: npu-smi' in result.stderr
    assert args[-1] in result.stderr
    assert result.stdout == ''


def test_no_arguments_prints_usage(node):
    result = node('800i-a2-32g').npu_smi()
    assert result.returncode != 0
    assert result.stdout.startswith('Usage: npu-smi')


def test_npu_hold_rejects_unpaired_arguments():
    result = subprocess.run([sys.executable, NPU_HOLD, '--device', '0'], stderr=subprocess.PIPE,
                            universal_newlines=True, check=False)
    assert result.returncode == 2
    assert '--hbm-mb' in result.stderr
