# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mindie_diagnose's log, daemon and health code against the REAL simulated mindieservice_daemon.

The daemon runs as a local subprocess (as tests/unit/sandbox does, no Docker), started the way
ascend.mindie.mindie_service starts it (pid file, log environment, exit status, console.log), in a
temporary service directory. The module's container scripts run in a local /bin/sh instead of
``docker exec``; everything else is the module's own code.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import diagnose

SANDBOX_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'sandbox')
sys.path.insert(0, SANDBOX_TESTS)
from test_mindie_sim import DAEMON, FAILED, Sim, _model, assets  # noqa: E402,F401  (assets: fixture)

OOM_LINE = 'Warmup failed, because of multimodal model inference out of memory'


class LocalShell(object):
    """The container: mindie_diagnose's scripts run by /bin/sh here, with the container's environment."""

    def __init__(self, env):
        self.env = env

    def exec_shell(self, script, args=()):
        proc = subprocess.run(['/bin/sh', '-c', script, 'sh'] + [str(a) for a in args], env=self.env,
                              capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr


class Module(object):
    def __init__(self, **params):
        self.params = dict(service_dir='/nonexistent', log_lines=200, log_root=None, ready_timeout=600,
                           probe=True, probe_timeout=5, ca_path=None, client_cert=None, client_key=None,
                           server_name=None)
        self.params.update(params)

    def debug(self, msg):
        pass


def start_like_mindie_service(sim, record_env=True, **extra):
    """mindie_service's start script: console.log, the log environment, the pid file, the exit status."""
    sim.write()
    env = dict(sim.env)
    env.update({k: str(v) for k, v in extra.items()})
    logs = sim.service / 'logs'
    logs.mkdir(exist_ok=True)
    lines = ['exec >>%s 2>&1' % shlex.quote(str(logs / 'console.log')),
             'echo "==== mindie_service: starting mindieservice_daemon at $(date)"',
             'cd %s || exit 1' % shlex.quote(str(sim.service))]
    if record_env:
        lines.append("printf '%s\\0%s\\0' \"${HOME-}\" \"${MINDIE_LOG_PATH-}\" > logs/mindieservice_daemon.logenv")
    lines += ['( echo $BASHPID > logs/mindieservice_daemon.pid; exec %s %s )'
              % (shlex.quote(sys.executable), shlex.quote(DAEMON)),
              'echo $? > logs/daemon.exit']
    proc = subprocess.Popen(['bash', '-c', '\n'.join(lines)], env=env, cwd=str(sim.tmp))
    sim.procs.append(proc)
    return proc


def daemon_pid(sim, timeout=10):
    path = sim.service / 'logs' / 'mindieservice_daemon.pid'
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError('no pid file')


def diagnoser(sim, shell_env=None, **params):
    diag = mindie_diagnose.MindieDiagnoser(Module(service_dir=str(sim.service), **params))
    diag.docker = LocalShell(shell_env or {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': '/nonexistent'})
    diag.config = sim.config
    return diag


@pytest.fixture
def sim(tmp_path, assets):  # noqa: F811
    s = Sim(tmp_path, assets)
    yield s
    s.cleanup()
    # the daemon leads its own process group (not the bash that started it); its workers are in it
    pid_file = s.service / 'logs' / 'mindieservice_daemon.pid'
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except OSError:
            pass


def oom_run(sim, **extra):
    _model(sim.config)['npuMemSize'] = 28        # 2654 + 1977 + 28672 + 2253 MB > 32768 MB: OOM at warm-up
    proc = start_like_mindie_service(sim, **extra)
    assert proc.wait(30) == 0
    assert (sim.service / 'logs' / 'daemon.exit').read_text().strip() == '137'
    return daemon_pid(sim)


def test_oom_at_warmup_is_found_in_the_daemons_own_log_file(sim):
    pid = oom_run(sim)
    console = (sim.service / 'logs' / 'console.log').read_text()
    assert OOM_LINE not in console                     # nothing on the console: only the log file has it
    diag = diagnoser(sim)
    daemon, findings = diag.service_logs()
    own = str(sim.tmp / 'home' / 'mindie' / 'log' / 'debug')
    assert daemon['pid'] == pid and not daemon['running'] and daemon['exit_code'] == 137
    assert daemon['log_file'].startswith(own + '/mindie-service_%d_' % pid)
    assert OOM_LINE in diag.files['mindie-service.log.tail']
    oom = [f for f in findings if f['problem'] == 'out_of_memory']
    assert len(oom) == 1 and oom[0]['guide_section'] == '7.1.2' and oom[0]['severity'] == 'error'
    assert oom[0]['message'].startswith(daemon['log_file'] + ': the daemon ran out of NPU memory')
    assert OOM_LINE in oom[0]['message'] and 'npuMemSize' in oom[0]['hint']
    start = [f for f in findings if FAILED.split('!')[0] in f['message']]
    assert start and start[0]['message'].startswith(daemon['log_file'])
    dead = diagnose.check_daemon(True, daemon, False)
    assert 'exit status 137 (SIGKILL)' in dead[0]['message'] and daemon['log_file'] in dead[0]['hint']
    assert 'daemon log file: %s (the log file of daemon pid %d)' % (daemon['log_file'], pid) in diag.files['daemon.txt']


def test_log_root_from_mindie_log_path_recorded_at_start(sim):
    pid = oom_run(sim, MINDIE_LOG_PATH='custom')       # relative: ~/mindie/log/custom/debug
    diag = diagnoser(sim)
    daemon, findings = diag.service_logs()
    assert daemon['log_file'].startswith(str(sim.tmp / 'home' / 'mindie' / 'log' / 'custom' / 'debug')
                                         + '/mindie-service_%d_' % pid)
    assert any(f['problem'] == 'out_of_memory' and f['message'].startswith(daemon['log_file']) for f in findings)


def test_log_root_from_the_option_and_from_the_container_environment(sim, tmp_path):
    root = tmp_path / 'logroot'
    pid = oom_run(sim, record_env=False, MINDIE_LOG_PATH=str(root))     # absolute: <root>/log/debug
    # no logenv file (started by hand): the option says where ...
    daemon, findings = diagnoser(sim, log_root=str(root)).service_logs()
    assert daemon['log_file'].startswith(str(root / 'log' / 'debug') + '/mindie-service_%d_' % pid)
    # ... or the container's environment does
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(sim.tmp / 'home'), 'MINDIE_LOG_PATH': str(root)}
    daemon, findings = diagnoser(sim, shell_env=env).service_logs()
    assert daemon['log_file'].startswith(str(root / 'log' / 'debug') + '/mindie-service_%d_' % pid)
    assert any(f['problem'] == 'out_of_memory' for f in findings)


def test_loading_daemon_is_still_loading_then_ready_and_metrics_off(sim):
    proc = start_like_mindie_service(sim, MINDIE_SIM_WARMUP_S=150, MINDIE_LOG_PATH='custom')   # 3 s of warm-up
    pid = daemon_pid(sim)
    time.sleep(0.5)
    diag = diagnoser(sim)
    daemon, findings = diag.service_logs()
    assert daemon['running'] and daemon['pid'] == pid and daemon['age'] is not None and daemon['age'] < 60
    assert "the running daemon's environment" in diag.files['daemon.txt']
    assert '/mindie/log/custom/debug/mindie-service_%d_' % pid in daemon['log_file']
    ports = {sim.port, sim.mport, sim.xport}
    listeners = diag.listeners(ports)
    assert not listeners                               # connection refused while loading
    loading = diagnose.check_daemon(True, daemon, False)
    assert [f['severity'] for f in loading] == ['info'] and 'still loading' in loading[0]['message']
    assert findings == []
    deadline = time.time() + 20
    while time.time() < deadline and 'Daemon start success!' not in (sim.service / 'logs' / 'console.log').read_text():
        time.sleep(0.05)
    listeners = diag.listeners(ports)
    assert set(listeners) == ports
    health = diag.health(listeners)
    assert 'metrics' in diag.files['health.txt']
    metrics = [f for f in health if 'MIES_SERVICE_MONITOR_MODE' in f['message']]
    assert len(metrics) == 1 and metrics[0]['severity'] == 'warning' and 'monitor: true' in metrics[0]['hint']
    assert [f for f in health if f not in metrics] == []       # ready (after at most the starting phase)
    os.kill(pid, signal.SIGTERM)
    assert proc.wait(30) == 0


def test_config_error_goes_to_the_console(sim):
    """A config error goes to stdout (console.log), not the log file: diagnose still names it."""
    os.chmod(str(sim.service / 'conf'), 0o750)
    sim.write()
    sim.write = lambda: os.chmod(str(sim.service / 'conf' / 'config.json'), 0o644) or sim.service / 'conf'
    proc = start_like_mindie_service(sim)
    assert proc.wait(30) == 0
    daemon, findings = diagnoser(sim).service_logs()
    assert daemon['exit_code'] == 137
    console = [f for f in findings if f['message'].startswith(str(sim.service / 'logs' / 'console.log'))]
    assert console and console[0]['problem'] == 'config', findings
    assert json.dumps(findings)
