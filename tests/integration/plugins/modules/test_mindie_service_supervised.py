# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_service on a supervised mindie-sim container (the supervisor as its main process).

An integration test (``make integration``): it needs this machine's Docker engine. The container runs
plugins/module_utils/mindie_supervisor.py under ``--init`` as the container role will; its config dir and log dir
are host directories. The tests share one container and run in file order: started/ready, kill -9 of the daemon
-> ready again without the module, restarted, stopped with HBM free (the sim's npu-smi, restricted to this
container's processes), started again, a crash loop reported by ``started``, and recovery after the config is fixed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import time
import uuid

import http.client as http_client

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_service
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor as sup
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import SET_ENV_SCRIPTS
from ansible_collections.ascend.mindie.tests.integration.plugins.modules.test_mindie_service import (
    IMAGE,
    REPO,
    free_port,
    make_config,
    sim_node,
)

SIM_NPU_SMI = os.path.join(REPO, 'sandbox/images/npu-node/rootfs/usr/local/sbin/npu-smi')
CONF_DIR = '/etc/mindie-sup'
STATE_DIR = '/var/log/mindie-instance'
# The node's npu-smi for this test: the sim's, showing only the processes of one container's pid namespace
# (other sandboxes on this machine run simulated NPU workers too).
NPU_SMI_WRAPPER = r'''#!%(python)s
import os, sys, tempfile
ns = os.readlink("/proc/%%d/ns/pid" %% int(open(%(pidfile)r).read()))
view = tempfile.mkdtemp(prefix="npu-smi-view-")
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit() and os.readlink("/proc/%%s/ns/pid" %% pid) == ns:
            os.symlink("/proc/" + pid, os.path.join(view, pid))
    except OSError:
        pass
env = dict(os.environ, ASCEND_SIM_PROC=view, ASCEND_SIM_HARDWARE=%(hardware)r, ASCEND_SIM_DEV_DIR=%(devdir)r)
sys.exit(__import__("subprocess").call([%(sim)r] + sys.argv[1:], env=env))
'''


def http_status(port, path):
    conn = http_client.HTTPConnection('127.0.0.1', port, timeout=1)
    try:
        conn.request('GET', path)
        return conn.getresponse().status
    except (OSError, http_client.HTTPException):
        return None
    finally:
        conn.close()


@pytest.fixture(scope='module')
def box(tmp_path_factory):
    """A supervised mindie-sim container: its config and log dirs on the host."""
    client, tmp, drv, weights = sim_node(tmp_path_factory, 'mindie-supervised')
    etc, log = tmp / 'etc', tmp / 'log'
    etc.mkdir()
    log.mkdir()
    script_dir = tmp / 'lib'
    script_dir.mkdir()
    (script_dir / 'mindie_supervisor.py').write_bytes(open(sup.__file__.replace('.pyc', '.py'), 'rb').read())

    devices = ['/dev/null:/dev/davinci%d:rwm' % n for n in range(8)]
    devices += ['/dev/null:/dev/%s:rwm' % name for name in ('davinci_manager', 'devmm_svm', 'hisi_hdc')]
    name = 'mindie-supervised-test-%s' % uuid.uuid4().hex[:8]
    container = client.containers.run(
        IMAGE, ['python3', sup.SCRIPT_PATH], name=name, detach=True, init=True, network_mode='host', devices=devices,
        environment={sup.ENV_INSTANCE: CONF_DIR + '/' + sup.INSTANCE_FILE, sup.ENV_STATE_DIR: STATE_DIR},
        volumes={str(drv / 'usr/local/Ascend/driver'): {'bind': '/usr/local/Ascend/driver', 'mode': 'ro'},
                 str(weights): {'bind': '/data/Qwen2-VL-7B-Instruct', 'mode': 'ro'},
                 str(script_dir / 'mindie_supervisor.py'): {'bind': sup.SCRIPT_PATH, 'mode': 'ro'},
                 str(etc): {'bind': CONF_DIR, 'mode': 'ro'}, str(log): {'bind': STATE_DIR, 'mode': 'rw'}})
    try:
        pidfile = tmp / 'init.pid'
        pidfile.write_text(str(client.containers.get(name).attrs['State']['Pid']))
        smi_dir = tmp / 'bin'
        smi_dir.mkdir()
        (smi_dir / 'npu-smi').write_text(NPU_SMI_WRAPPER % {
            'python': sys.executable, 'pidfile': str(pidfile), 'sim': SIM_NPU_SMI,
            'hardware': str(drv / 'usr/local/Ascend/driver/sim/hardware.json'), 'devdir': str(drv / 'dev')})
        (smi_dir / 'npu-smi').chmod(0o755)
        shipped = container.exec_run(['cat', mindie_service.DEFAULT_CONFIG]).output.decode('utf-8')
        ports = (free_port(), free_port(), free_port())
        yield {'client': client, 'container': container, 'name': name, 'ports': ports, 'etc': etc, 'log': log,
               'good': make_config(shipped, ports), 'oom': make_config(shipped, ports, npu_mem=40),
               'npu_smi': str(smi_dir / 'npu-smi'), 'master_port': free_port()}
    finally:
        container.remove(force=True)


def write_host_file(path, text, mode=0o640):
    tmp = str(path) + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, str(path))


def state(box):
    path = box['log'] / sup.STATE_FILE
    return sup.read_state(path.read_text()) if path.exists() else {}


def wait_for(what, timeout, box):
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = state(box)
        if what(current):
            return current
        time.sleep(0.1)
    raise AssertionError('timed out; supervisor state %s; logs %s' % (state(box), box['container'].logs()[-2000:]))


def args(box, **kwargs):
    base = {'container': box['name'], 'ready_timeout': 60, 'stop_timeout': 15, 'npu_devices': list(range(8)),
            'npu_smi': box['npu_smi']}
    base.update(kwargs)
    return base


def npu_smi_processes(box):
    out = subprocess.run([box['npu_smi'], 'info'], stdout=subprocess.PIPE, check=True).stdout.decode()
    from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import parse_npu_smi_info
    return parse_npu_smi_info(out)['processes']


def test_supervisor_waits_for_its_files_then_started_waits_until_ready(box, run_module):
    assert wait_for(lambda s: s.get('status') == 'waiting', 30, box)['generation'] == 0
    write_host_file(box['etc'] / 'config.json', box['good'])
    write_host_file(box['etc'] / sup.INSTANCE_FILE, json.dumps({
        'config': CONF_DIR + '/config.json', 'service_dir': mindie_service.DEFAULT_SERVICE_DIR,
        'set_env': list(SET_ENV_SCRIPTS),
        'env': {'MASTER_ADDR': 'localhost', 'MASTER_PORT': str(box['master_port']), 'MIES_SERVICE_MONITOR_MODE': '1',
                'MIES_CONFIG_JSON_PATH': CONF_DIR + '/config.json', 'MINDIE_LOG_PATH': STATE_DIR + '/mindie',
                'MINDIE_SIM_WARMUP_S': '1', 'MINDIE_SIM_TIME_SCALE': '0.2'},
        'restart_limit': 3, 'restart_window': 600, 'stop_timeout': 10, 'poll_interval': 0.5,
        'live': {'url': 'http://127.0.0.1:%d/v2/health/live' % box['ports'][1], 'interval': 1, 'failures': 3}}))
    result = run_module(mindie_service.main, args(box))
    assert result['supervised'] is True and result['changed'] is False       # the supervisor started it
    assert result['ready'] is True and result['status'] == 'serving'
    assert result['restarts'] == 0 and result['supervisor']['generation'] == 1
    assert result['urls']['management'] == 'http://127.0.0.1:%d' % box['ports'][1]
    assert result['pid'] == result['supervisor']['daemon_pid'] == result['supervisor']['pgid']
    box['first'] = result['supervisor']


def test_kill_9_of_the_daemon_is_ready_again_without_the_module(box, run_module):
    pid = box['first']['daemon_pid']
    killed = time.time()
    assert box['container'].exec_run(['sh', '-c', 'kill -9 %d' % pid]).exit_code == 0
    wait_for(lambda s: s.get('generation') == 2, 60, box)
    while http_status(box['ports'][1], '/v2/health/ready') != 200:
        assert time.time() - killed < 60, 'not ready again 60 s after kill -9'
        time.sleep(0.1)
    sys.stdout.write('\nkill -9 -> ready again: %.1f s\n' % (time.time() - killed))
    current = state(box)
    assert current['last_exit']['signal'] == 9 and current['restarts'] == 1
    result = run_module(mindie_service.main, args(box))
    assert result['changed'] is False and result['restarts'] == 1 and result['status'] == 'serving'
    # the killed daemon's workers (they outlive it) were killed with its group: only the new generation's hold HBM
    holders = set(p['pid'] for p in npu_smi_processes(box))
    pids = box['container'].exec_run(['sh', '-c', 'cat /proc/[0-9]*/stat']).output.decode().splitlines()
    groups = set(int(line.rsplit(') ', 1)[1].split()[2]) for line in pids if ') ' in line)
    assert holders and groups.isdisjoint({pid})


def test_restarted_starts_a_new_generation(box, run_module):
    before = state(box)
    result = run_module(mindie_service.main, args(box, state='restarted'))
    assert result['changed'] is True and result['restarted'] is True and result['ready'] is True
    assert result['supervisor']['generation'] == before['generation'] + 1
    assert result['pid'] != before['daemon_pid'] and 0 < result['startup_seconds'] < 60


def test_check_mode_stopped_changes_nothing(box, run_module):
    before = state(box)
    result = run_module(mindie_service.main, args(box, state='stopped'), check_mode=True)
    assert result['changed'] is True
    time.sleep(1)
    assert state(box)['daemon_pid'] == before['daemon_pid'] and not (box['log'] / sup.DESIRED_FILE).exists()


def test_stopped_waits_until_the_hbm_is_free(box, run_module):
    assert npu_smi_processes(box)           # the running daemon's workers hold HBM on the chips
    result = run_module(mindie_service.main, args(box, state='stopped'))
    assert result['changed'] is True and result['status'] == 'stopped'
    assert npu_smi_processes(box) == []
    assert (box['log'] / sup.DESIRED_FILE).read_text().strip() == 'stopped'
    assert http_status(box['ports'][1], '/v2/health/live') is None
    again = run_module(mindie_service.main, args(box, state='stopped'))
    assert again['changed'] is False


def test_started_after_stopped_starts_again(box, run_module):
    result = run_module(mindie_service.main, args(box))
    assert result['changed'] is True and result['ready'] is True and result['status'] == 'serving'
    assert (box['log'] / sup.DESIRED_FILE).read_text().strip() == 'running'


def test_a_crash_loop_is_reported_by_started(box, run_module):
    before = state(box)['generation']
    write_host_file(box['etc'] / 'config.json', box['oom'])
    time.sleep(1.5)
    assert state(box)['generation'] == before            # a new config does not restart a serving daemon by itself
    box['container'].kill(signal='SIGHUP')              # the restart an operator (or the service role) asks for
    looping = wait_for(lambda s: s.get('status') == 'crash-looping', 180, box)
    assert len(looping['starts']) == 3
    result = run_module(mindie_service.main, args(box), expect_fail=True)
    sys.stdout.write('\ncrash-looping msg: %s\n' % result['msg'])
    assert result['status'] == 'crash-looping' and 'crash-looping' in result['msg']
    assert any('out of memory' in line for line in result['last_error_lines'])
    assert 'npuMemSize' in result['hint']
    time.sleep(2)
    assert state(box)['generation'] == looping['generation']        # no more starts
    assert box['container'].reload() is None and box['container'].status == 'running'


def test_fixing_the_config_ends_the_crash_loop(box, run_module):
    write_host_file(box['etc'] / 'config.json', box['good'])
    box['container'].kill(signal='SIGHUP')
    wait_for(lambda s: s.get('status') in ('starting', 'running'), 30, box)
    result = run_module(mindie_service.main, args(box))
    assert result['ready'] is True and result['status'] == 'serving'
