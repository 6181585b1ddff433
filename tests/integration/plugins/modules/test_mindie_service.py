# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_service against a real mindie-sim container on this machine's Docker engine.

An integration test (``make integration``): without an engine it fails, it does not skip. The same
module's logic without an engine is in tests/unit/plugins/modules/test_mindie_service_manager.py.

The tests share one container and run in file order (start, idempotence, stop, restart, failure,
container restart, readiness latency).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid

import http.client as http_client

import docker
import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_service

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
VENV_PYTHON = os.path.join(REPO, '.venv', 'bin', 'python')
IMAGE = 'mindie-sim:1.0.0-800I-A2-py311-openeuler24.03-lts'
SIM_INSTALL = os.path.join(REPO, 'sandbox/images/npu-node/rootfs/usr/local/lib/ascend-sim/ascend-sim-install')
GEN_WEIGHTS = os.path.join(REPO, 'sandbox/weights/generate_weights.py')
SHIPPED_CONFIG = mindie_service.DEFAULT_CONFIG
CONFIG = '/etc/mindie-test/config.json'
OOM_CONFIG = '/etc/mindie-test/config-oom.json'


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def port_listens(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(0.5)
    try:
        return sock.connect_ex(('127.0.0.1', port)) == 0
    finally:
        sock.close()


def put_file(container, path, text, mode=0o640):
    data = text.encode('utf-8')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size = len(data)
        info.mode = mode
        info.uid = info.gid = 0
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    container.exec_run(['mkdir', '-p', os.path.dirname(path)])
    assert container.put_archive(os.path.dirname(path), buf.getvalue())


def make_config(shipped, ports, npu_mem=8):
    config = json.loads(shipped)
    config['ServerConfig'].update(ipAddress='127.0.0.1', managementIpAddress='127.0.0.1', port=ports[0],
                                  managementPort=ports[1], metricsPort=ports[2], httpsEnabled=False)
    backend = config['BackendConfig']
    backend.update(npuDeviceIds=[list(range(8))], modelInstanceNumber=1)
    backend['ModelDeployConfig'].update(maxSeqLen=50000, maxInputTokenLen=50000)
    backend['ModelDeployConfig']['ModelConfig'][0].update(
        modelName='qwen2_vl', modelWeightPath='/data/Qwen2-VL-7B-Instruct', worldSize=8, npuMemSize=npu_mem)
    backend['ScheduleConfig'].update(maxPrefillTokens=50000, maxBatchSize=8, maxPrefillBatchSize=8)
    return json.dumps(config, indent=4)


def sim_node(tmp_path_factory, name):
    """What a mindie-sim container of the integration tests needs: the engine (fails when none answers), the sandbox
    images, an emulated 32G driver and weights with the modes MindIE demands. Returns (client, tmp, drv, weights)."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # pylint: disable=broad-except
        pytest.fail('no Docker engine answers (run `make docker`): %s' % exc)
    subprocess.run([VENV_PYTHON, os.path.join(REPO, 'sandbox', 'fleet.py'), 'images'], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, timeout=1200)
    tmp = tmp_path_factory.mktemp(name)
    drv = tmp / 'drv'
    subprocess.run(['python3', SIM_INSTALL, '--profile', '800i-a2-32g', '--root', str(drv),
                    '--dev-dir', str(drv / 'dev')], check=True, stdout=subprocess.DEVNULL)
    weights = tmp / 'w' / 'Qwen2-VL-7B-Instruct'
    subprocess.run([sys.executable, GEN_WEIGHTS, str(weights)], check=True, stdout=subprocess.DEVNULL)
    os.chmod(str(weights), 0o750)
    os.chmod(str(weights / 'config.json'), 0o640)
    return client, tmp, drv, weights


@pytest.fixture(scope='module')
def sim(tmp_path_factory):
    """A running mindie-sim container (sleep infinity) with a runnable config at CONFIG."""
    client, tmp, drv, weights = sim_node(tmp_path_factory, 'mindie-service')

    devices = ['/dev/null:/dev/davinci%d:rwm' % n for n in range(8)]
    devices += ['/dev/null:/dev/%s:rwm' % name for name in ('davinci_manager', 'devmm_svm', 'hisi_hdc')]
    name = 'mindie-service-test-%s' % uuid.uuid4().hex[:8]
    container = client.containers.run(
        IMAGE, ['sleep', 'infinity'], name=name, detach=True, init=True, network_mode='host', devices=devices,
        volumes={str(drv / 'usr/local/Ascend/driver'): {'bind': '/usr/local/Ascend/driver', 'mode': 'ro'},
                 str(weights): {'bind': '/data/Qwen2-VL-7B-Instruct', 'mode': 'ro'}})
    try:
        shipped = container.exec_run(['cat', SHIPPED_CONFIG]).output.decode('utf-8')
        ports = (free_port(), free_port(), free_port())
        oom_ports = (free_port(), free_port(), free_port())
        put_file(container, CONFIG, make_config(shipped, ports))
        put_file(container, OOM_CONFIG, make_config(shipped, oom_ports, npu_mem=40))
        yield {'client': client, 'container': container, 'name': name, 'ports': ports,
               'master_port': free_port()}
    finally:
        container.remove(force=True)


def args(sim, **kwargs):
    base = {'container': sim['name'], 'config_path': CONFIG, 'master_port': sim['master_port'],
            'env': {'MINDIE_SIM_WARMUP_S': '1'}, 'ready_timeout': 60, 'stop_timeout': 15}
    base.update(kwargs)
    return base


def daemon_pid_in_container(sim):
    result = sim['container'].exec_run(['sh', '-c', 'pid=$(cat %s/logs/mindieservice_daemon.pid); '
                                        'tr "\\0" " " < /proc/$pid/cmdline && echo && echo $pid'
                                        % mindie_service.DEFAULT_SERVICE_DIR])
    if result.exit_code != 0:
        return None
    lines = result.output.decode().split('\n')
    return int(lines[1]) if 'mindieservice_daemon' in lines[0] else None


def wait_ports_bindable(sim, limit=90):
    """Wait until MindIE's ports can be bound on 0.0.0.0 without SO_REUSEADDR in the container, as MindIE checks."""
    code = ('import socket, sys\n'
            'for p in sys.argv[1:]:\n'
            '    s = socket.socket()\n'
            '    s.bind(("0.0.0.0", int(p)))\n'
            '    s.close()\n')
    deadline = time.time() + limit
    while sim['container'].exec_run(['python3', '-c', code] + [str(p) for p in sim['ports']]).exit_code != 0:
        assert time.time() < deadline, 'ports %s not free after %d s' % (sim['ports'], limit)
        time.sleep(0.5)


def time_wait_on(sim, port):
    """Sockets in TIME_WAIT on ``port`` in the container."""
    text = sim['container'].exec_run(['cat', '/proc/net/tcp', '/proc/net/tcp6']).output.decode()
    return sum(1 for line in text.splitlines()[1:] if len(line.split()) > 3 and line.split()[3] == '06'
               and line.split()[1].endswith(':%04X' % port))


def test_started_waits_until_ready(sim, run_module):
    result = run_module(mindie_service.main, args(sim))
    assert result['changed'] is True
    assert result['ready'] is True
    assert result['restarted'] is False
    assert isinstance(result['pid'], int)
    assert 0.5 < result['startup_seconds'] < 30
    port, mgmt, metrics = sim['ports']
    assert result['urls'] == {'business': 'http://127.0.0.1:%d' % port,
                              'management': 'http://127.0.0.1:%d' % mgmt,
                              'metrics': 'http://127.0.0.1:%d' % metrics}
    assert daemon_pid_in_container(sim) == result['pid']
    assert all(port_listens(p) for p in sim['ports'])
    sim['pid'] = result['pid']
    # the readiness probes (dozens during the load) close with a reset: no TIME_WAIT on the management port
    assert time_wait_on(sim, sim['ports'][1]) == 0


def test_started_again_is_idempotent(sim, run_module):
    result = run_module(mindie_service.main, args(sim))
    assert result['changed'] is False
    assert result['ready'] is True
    assert result['pid'] == sim['pid']
    assert result['startup_seconds'] is None


def test_check_mode_stopped_reports_but_keeps_running(sim, run_module):
    result = run_module(mindie_service.main, args(sim, state='stopped'), check_mode=True)
    assert result['changed'] is True
    assert daemon_pid_in_container(sim) == sim['pid']
    assert all(port_listens(p) for p in sim['ports'])


def test_stopped_frees_ports(sim, run_module):
    result = run_module(mindie_service.main, args(sim, state='stopped'))
    assert result['changed'] is True
    assert daemon_pid_in_container(sim) is None
    assert not any(port_listens(p) for p in sim['ports'])
    exit_file = sim['container'].exec_run(['cat', mindie_service.DEFAULT_SERVICE_DIR + '/logs/daemon.exit'])
    # MindIE's SIGTERM handler stops its process group and ends with abort() (134 in a shell)
    assert exit_file.output.decode().strip() in ('0', '134')
    workers = sim['container'].exec_run(['sh', '-c', 'cat /proc/[0-9]*/comm 2>/dev/null | grep -c mindie_llm_back'])
    assert workers.output.decode().strip() == '0'       # the whole process group is gone


def test_stopped_again_is_unchanged(sim, run_module):
    result = run_module(mindie_service.main, args(sim, state='stopped'))
    assert result['changed'] is False


def test_check_mode_started_does_nothing(sim, run_module):
    result = run_module(mindie_service.main, args(sim), check_mode=True)
    assert result['changed'] is True
    assert daemon_pid_in_container(sim) is None


def test_restarted_gives_new_pid(sim, run_module):
    first = run_module(mindie_service.main, args(sim, state='restarted'))
    assert first['changed'] is True and first['ready'] is True
    assert first['restarted'] is False          # nothing was running
    second = run_module(mindie_service.main, args(sim, state='restarted'))
    assert second['changed'] is True and second['ready'] is True
    assert second['restarted'] is True
    assert second['pid'] != first['pid']
    assert daemon_pid_in_container(sim) == second['pid']


def test_refused_config_fails_with_daemon_lines_exit_code_and_hint(sim, run_module):
    run_module(mindie_service.main, args(sim, state='stopped'))
    result = run_module(mindie_service.main, args(sim, config_path=OOM_CONFIG), expect_fail=True)
    sys.stdout.write('\nfailure msg: %s\nlog_tail[:3]: %s\n' % (result['msg'], result['log_tail'][:3]))
    assert 'Warmup failed, because of multimodal model inference out of memory' in result['msg']
    # an init failure ends with killpg(SIGKILL); the reason is in MindIE's own log file of that pid
    assert 'exit code 137' in result['msg']
    assert result['exit_code'] == 137
    assert 'npuMemSize' in result['hint'] and 'maxPrefillTokens' in result['hint'] and 'killpg' in result['hint']
    assert '/mindie/log/debug/mindie-service_' in result['log_file']
    assert any('out of memory' in line for line in result['log_tail'][:5])
    assert len(result['log_tail']) <= 30
    assert result['ready'] is False


def test_container_restart_starts_daemon_again(sim, run_module):
    first = run_module(mindie_service.main, args(sim))
    assert first['changed'] is True
    sim['container'].restart(timeout=5)
    result = run_module(mindie_service.main, args(sim))
    assert result['changed'] is True
    assert result['ready'] is True
    assert daemon_pid_in_container(sim) == result['pid']
    again = run_module(mindie_service.main, args(sim))
    assert again['changed'] is False and again['pid'] == result['pid']


def test_missing_container_fails_clearly(sim, run_module):
    result = run_module(mindie_service.main, args(sim, container='no-such-container-%s' % uuid.uuid4().hex[:6]),
                        expect_fail=True)
    assert 'does not exist' in result['msg']


def test_stopped_container_fails_clearly(sim, run_module):
    other = sim['client'].containers.create(IMAGE, ['true'], name='mindie-service-test-stopped-%s' % uuid.uuid4().hex[:6])
    try:
        result = run_module(mindie_service.main, args(sim, container=other.name), expect_fail=True)
        assert 'is not running' in result['msg']
    finally:
        other.remove(force=True)


def test_started_waits_for_a_daemon_still_loading(sim, run_module):
    """A daemon started outside the module and still warming up is waited for, not restarted."""
    run_module(mindie_service.main, args(sim, state='stopped'))
    wait_ports_bindable(sim)        # started outside the module: nobody else waits for a port in TIME_WAIT
    script = mindie_service.start_script(mindie_service.DEFAULT_SERVICE_DIR, [
        ('MASTER_ADDR', 'localhost'), ('MASTER_PORT', str(sim['master_port'])),
        ('MIES_CONFIG_JSON_PATH', CONFIG), ('MINDIE_SIM_WARMUP_S', '3')])
    sim['container'].exec_run(['rm', '-f', mindie_service.DEFAULT_SERVICE_DIR + '/logs/mindieservice_daemon.pid'])
    sim['container'].exec_run(['bash', '-c', script], detach=True)
    deadline = time.time() + 10
    while daemon_pid_in_container(sim) is None and time.time() < deadline:
        time.sleep(0.05)
    pid = daemon_pid_in_container(sim)
    assert pid is not None
    before = time.time()
    result = run_module(mindie_service.main, args(sim))
    assert result['changed'] is False
    assert result['ready'] is True
    assert result['pid'] == pid
    assert result['startup_seconds'] is None
    assert time.time() - before > 1.0            # it did wait for the warm-up


def test_port_in_use_fails_with_port_hint(sim, run_module):
    run_module(mindie_service.main, args(sim, state='stopped'))
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(('127.0.0.1', sim['ports'][0]))
        holder.listen(1)
        result = run_module(mindie_service.main, args(sim), expect_fail=True)
    finally:
        holder.close()
    # refused before the start (MindIE would find it only after loading the model), naming the port and the holder
    assert 'port %d (business): LISTEN 127.0.0.1:%d' % (sim['ports'][0], sim['ports'][0]) in result['msg']
    assert 'Nothing was started' in result['msg'] and result['busy_ports'] == [sim['ports'][0]]
    assert 'port is in use' in result['hint']


def test_not_ready_in_time_fails_with_timeout(sim, run_module):
    result = run_module(mindie_service.main, args(sim, ready_timeout=1, env={'MINDIE_SIM_WARMUP_S': '5'}),
                        expect_fail=True)
    assert 'was not ready within 1 s' in result['msg']
    assert 'exit_code' not in result
    assert isinstance(result['log_tail'], list)
    stopped = run_module(mindie_service.main, args(sim, state='stopped'))
    assert stopped['changed'] is True


def test_missing_docker_sdk_fails_with_missing_required_lib(sim, run_module, monkeypatch):
    from ansible_collections.ascend.mindie.plugins.module_utils import mindie_docker
    monkeypatch.setattr(mindie_docker, 'HAS_DOCKER', False)
    result = run_module(mindie_service.main, args(sim), expect_fail=True)
    assert 'Failed to import the required Python library (docker)' in result['msg']


def test_readiness_latency_under_one_second(sim, run_module):
    """Delay between the management port's first 200 on /v2/health/ready and the module noticing it.

    MindIE answers 500 (SERVICE_INIT) for one health-check interval after "Daemon start success!", so the first
    200 is found by a poller of its own, every 20 ms, while the module waits.
    """
    run_module(mindie_service.main, args(sim, state='stopped'))
    wait_ports_bindable(sim)
    first_200 = []
    done = threading.Event()

    def poll():
        while not done.is_set() and not first_200:
            conn = http_client.HTTPConnection('127.0.0.1', sim['ports'][1], timeout=0.5)
            try:
                conn.request('GET', '/v2/health/ready')
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    first_200.append(time.time())
            except (OSError, http_client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.02)
    poller = threading.Thread(target=poll)
    poller.start()
    try:
        result = run_module(mindie_service.main, args(sim, env={'MINDIE_SIM_WARMUP_S': '3'}))
        detected = time.time()
    finally:
        done.set()
        poller.join()
    assert result['changed'] is True and result['ready'] is True
    assert result['startup_seconds'] >= 3.0
    assert first_200, 'the poller never saw a 200'
    latency = detected - first_200[0]
    sys.stdout.write('\nreadiness latency: %.3f s (startup_seconds %.3f)\n' % (latency, result['startup_seconds']))
    assert -0.05 < latency < 1.0
    console = sim['container'].exec_run(['cat', mindie_service.DEFAULT_SERVICE_DIR + '/logs/console.log']).output
    assert b'ConnectionResetError' not in console      # the probes' reset-close does not disturb the daemon
