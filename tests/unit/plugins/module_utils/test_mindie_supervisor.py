# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance supervisor (plugins/module_utils/mindie_supervisor.py) run as a real process, without Docker.

Each test runs the supervisor script as a subprocess in a temp dir, with fake set_env.sh files and a fake
``bin/mindieservice_daemon``: a Python script that, as MindIE does, calls setpgrp(), starts a backend worker in its
process group, writes a MindIE-style log file of its pid under MINDIE_LOG_PATH and serves /v2/health/live and
/v2/health/ready on the management port. What it answers (or whether it fails at start) is read from a control
file at every request, so a test can make it busy, make live fail, or make it crash. Intervals are short
(supervisor.json's live.interval, poll_interval, backoff_*).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_supervisor as sup

SCRIPT = os.path.abspath(sup.__file__.replace('.pyc', '.py'))

FAKE_DAEMON = r'''#!%(python)s
import json, os, signal, socket, subprocess, sys, time
try:
    os.setpgrp()            # MindIE's llm_daemon.cpp: fails with EPERM for a session leader
except OSError as exc:
    print("Failed to set process group. errno is %%d" %% exc.errno)
    sys.exit(255)
control_path = os.environ["FAKE_CONTROL"]
def control():
    try:
        with open(control_path) as handle:
            return json.load(handle)
    except (IOError, ValueError):
        return {}
for name in ("FAKE_ENV_A", "FAKE_ENV_B"):
    if os.environ.get(name) != "1":
        print("error while loading shared libraries: libfake.so (%%s not set)" %% name)
        sys.exit(127)
log_dir = os.environ["MINDIE_LOG_PATH"] + "/log/debug"
if not os.path.isdir(log_dir):
    os.makedirs(log_dir)
log = open("%%s/mindie-service_%%d_20260101000000000.log" %% (log_dir, os.getpid()), "a")
def say(line):
    log.write("[2026-01-01 00:00:00.000] [%%d] [mindie-server] %%s\n" %% (os.getpid(), line))
    log.flush()
with open(os.environ["FAKE_RECORD"], "a") as rec:
    rec.write(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "master": os.environ.get("MASTER_PORT"),
                          "config": os.environ.get("MIES_CONFIG_JSON_PATH"), "sid": os.getsid(0),
                          "pgid": os.getpgrp()}) + "\n")
c = control()
worker = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                           "if %%r: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                           "time.sleep(1000)" %% bool(c.get("worker_ignores_term")), "fake_npu_worker"])
with open(os.environ["FAKE_RECORD"] + ".workers", "a") as rec:
    rec.write("%%d\n" %% worker.pid)
if c.get("fail"):
    say("[ERROR] Warmup failed, because of multimodal model inference out of memory")
    say("[ERROR] Failed to init endpoint! Please check the service log or console output.")
    print("console: start-up failed")
    sys.stdout.flush()
    if c.get("fail") == "killpg":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    sys.exit(1)
time.sleep(float(c.get("load_s", 0.2)))
config = json.load(open(os.environ.get("MIES_CONFIG_JSON_PATH") or "conf/config.json"))
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", config["ServerConfig"]["managementPort"]))
sock.listen(16)
def on_term(signum, frame):
    say("Received exit signal[15]")
    if not control().get("term_leaves_worker"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgrp(), signal.SIGTERM)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
print("Daemon start success!")
sys.stdout.flush()
while True:
    conn, addr = sock.accept()
    try:
        request = conn.recv(4096).decode()
        c = control()
        path = request.split(" ")[1] if " " in request else "/"
        if c.get("hang"):
            time.sleep(5)
            continue
        status = c.get("live", 200) if path == "/v2/health/live" else c.get("ready", 200)
        conn.sendall(("HTTP/1.1 %%d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" %% status).encode())
    except OSError:
        pass
    finally:
        conn.close()
'''


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    try:
        return sock.getsockname()[1]
    finally:
        sock.close()


def alive(pid):
    """True while ``pid`` runs (a zombie does not)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (IOError, OSError, IndexError):
        return False


class Instance(object):
    """A temp dir with the fake MindIE install, supervisor.json and config.json; runs the supervisor."""

    def __init__(self, tmp, **overrides):
        self.tmp = tmp
        self.svc = tmp / 'svc'
        (self.svc / 'bin').mkdir(parents=True)
        (self.svc / 'conf').mkdir()
        daemon = self.svc / 'bin' / 'mindieservice_daemon'
        daemon.write_text(FAKE_DAEMON % {'python': sys.executable})
        daemon.chmod(0o755)
        env_dir = tmp / 'env'
        env_dir.mkdir()
        (env_dir / 'a.sh').write_text('export FAKE_ENV_A=1\n')
        (env_dir / 'b.sh').write_text('export FAKE_ENV_B=1\nexport MASTER_PORT=1\n')    # the exports come after
        self.state_dir = tmp / 'state'
        self.state_dir.mkdir()
        self.conf_dir = tmp / 'etc'
        self.conf_dir.mkdir()
        self.control_path = tmp / 'control.json'
        self.record = tmp / 'record.jsonl'
        self.mgmt = free_port()
        self.ports = [free_port(), self.mgmt, free_port()]
        self.master = free_port()
        self.config_path = self.conf_dir / 'config.json'
        self.write_config()
        self.settings = {
            'config': str(self.config_path), 'service_dir': str(self.svc),
            'set_env': [str(env_dir / 'a.sh'), str(env_dir / 'b.sh')],
            'env': {'MASTER_ADDR': 'localhost', 'MASTER_PORT': str(self.master), 'FAKE_CONTROL': str(self.control_path),
                    'FAKE_RECORD': str(self.record), 'MINDIE_LOG_PATH': str(self.state_dir / 'mindie')},
            'restart_limit': 5, 'restart_window': 600, 'stop_timeout': 3,
            'live': {'url': 'http://127.0.0.1:%d/v2/health/live' % self.mgmt, 'interval': 0.2, 'failures': 2,
                     'timeout': 0.5},
            'poll_interval': 0.2, 'backoff_initial': 0.1, 'backoff_max': 0.4, 'port_wait': 10}
        self.settings.update(overrides)
        self.instance_path = self.conf_dir / 'supervisor.json'
        self.proc = None

    def write_config(self, extra=None):
        server = {'port': self.ports[0], 'managementPort': self.ports[1], 'metricsPort': self.ports[2]}
        server.update(extra or {})
        self.config_path.write_text(json.dumps({'ServerConfig': server}))

    def write_settings(self):
        self.instance_path.write_text(json.dumps(self.settings))

    def control(self, **values):
        self.control_path.write_text(json.dumps(values))

    def start(self, write=True):
        if write:
            self.write_settings()
        env = dict(os.environ)
        env.update({sup.ENV_INSTANCE: str(self.instance_path), sup.ENV_STATE_DIR: str(self.state_dir)})
        self.stderr = open(str(self.tmp / 'supervisor.stderr'), 'w')
        self.proc = subprocess.Popen([sys.executable, SCRIPT], env=env, stdout=self.stderr, stderr=self.stderr,
                                     start_new_session=True)
        return self

    def state(self):
        path = self.state_dir / sup.STATE_FILE
        return sup.read_state(path.read_text()) if path.exists() else {}

    def wait(self, what, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.state()
            if what(state):
                return state
            assert self.proc.poll() is None, 'the supervisor exited: %s' % (self.tmp / 'supervisor.stderr').read_text()
            time.sleep(0.05)
        raise AssertionError('timed out; state %s; stderr %s' % (self.state(), (self.tmp / 'supervisor.stderr').read_text()))

    def wait_running(self, generation=1, timeout=15):
        return self.wait(lambda s: s.get('status') == 'running' and s.get('generation') == generation
                         and s.get('live_at'), timeout)

    def records(self):
        return [json.loads(line) for line in self.record.read_text().splitlines()] if self.record.exists() else []

    def workers(self):
        path = self.tmp / 'record.jsonl.workers'
        return [int(x) for x in path.read_text().split()] if path.exists() else []

    def own_processes(self):
        """Pids whose command line names this instance's fake install."""
        found = []
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                        if str(self.svc).encode() in handle.read():
                            found.append(int(pid))
                except (IOError, OSError):
                    continue
        return found

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # (a daemon started just before the supervisor was killed may not have recorded itself yet: found by its path)
        for pid in [r['pid'] for r in self.records()] + self.workers() + self.own_processes():
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if getattr(self, 'stderr', None):
            self.stderr.close()


@pytest.fixture
def instance(tmp_path):
    made = []

    def make(**overrides):
        made.append(Instance(tmp_path, **overrides))
        return made[-1]
    yield make
    for item in made:
        item.stop()


def test_read_state_is_tolerant():
    assert sup.read_state('') == {}
    assert sup.read_state(None) == {}
    assert sup.read_state('{"status": "runn') == {}
    assert sup.read_state('[1, 2]') == {}
    assert sup.read_state('{"status": "running"}') == {'status': 'running'}
    assert sup.STATE_FILE == sup.INSTANCE_FILE == 'supervisor.json'
    assert 'crash-looping' in sup.STATUSES and sup.SCRIPT_PATH.endswith('/mindie_supervisor.py')


def test_parse_instance_names_what_is_wrong():
    good = {'config': '/etc/mindie/config.json', 'service_dir': '/svc', 'set_env': ['/a.sh']}
    settings = sup.parse_instance(json.dumps(good))
    assert settings['restart_limit'] == 5 and settings['restart_window'] == 600 and settings['live']['url'] is None
    for bad, word in (({'config': 'rel'}, 'config'), ({'set_env': '/a.sh'}, 'set_env'),
                      ({'env': {'1X': 'a'}}, 'env'), ({'restart_limit': 0}, 'restart_limit'),
                      ({'live': {'url': 'ftp://x'}}, 'live.url'), ({'live': {'url': None, 'failures': 0}}, 'failures')):
        data = dict(good)
        data.update(bad)
        with pytest.raises(ValueError, match=word):
            sup.parse_instance(json.dumps(data))
    with pytest.raises(ValueError, match='JSON'):
        sup.parse_instance('{')


def test_starts_the_daemon_the_guide_way_in_its_own_group(instance):
    inst = instance().start()
    state = inst.wait_running()
    rec = inst.records()[0]
    assert rec['pid'] == state['daemon_pid'] == state['pgid'] == rec['pgid']      # setpgrp() succeeded
    assert rec['sid'] != rec['pid']                                               # not a session leader
    assert rec['cwd'] == str(inst.svc)
    assert rec['master'] == str(inst.master)              # exported after the set_env.sh scripts
    assert rec['config'] == str(inst.config_path)         # not the default config: MIES_CONFIG_JSON_PATH set
    assert state['supervisor_pid'] == inst.proc.pid and state['restarts'] == 0 and state['last_exit'] is None
    assert state['config_sha256'] and len(state['starts']) == 1
    console = (inst.state_dir / sup.CONSOLE_FILE).read_text()
    assert sup.CONSOLE_MARKER in console and 'Daemon start success!' in console
    assert not list(inst.state_dir.glob('supervisor.json.tmp*'))


def test_kill_9_of_the_daemon_restarts_it_and_kills_its_workers(instance):
    inst = instance().start()
    first = inst.wait_running()
    worker = inst.workers()[0]
    assert alive(worker)
    os.kill(first['daemon_pid'], signal.SIGKILL)
    second = inst.wait_running(generation=2)
    assert second['daemon_pid'] != first['daemon_pid']
    assert second['restarts'] == 1
    assert second['last_exit']['signal'] == 9 and second['last_exit']['pid'] == first['daemon_pid']
    assert not alive(worker)            # the old generation's worker (it outlived its daemon) was killed


def test_crash_loop_stops_after_restart_limit_and_keeps_the_error_lines(instance):
    inst = instance(restart_limit=3, restart_window=60)
    inst.control(fail=True)
    inst.start()
    state = inst.wait(lambda s: s.get('status') == 'crash-looping')
    assert state['generation'] == 3 and len(state['starts']) == 3
    assert any('out of memory' in line for line in state['last_error_lines'])
    assert state['last_exit']['code'] == 1
    assert state['last_exit']['log_file'].startswith(str(inst.state_dir / 'mindie' / 'log' / 'debug'))
    time.sleep(1.5)
    assert inst.proc.poll() is None                    # stays alive: Docker does not restart the container
    assert inst.state()['generation'] == 3 and len(inst.records()) == 3      # no more starts
    assert not any(alive(pid) for pid in inst.workers())


def test_crash_loop_error_lines_from_the_console_when_there_is_no_log_file(instance):
    inst = instance(restart_limit=1, set_env=[])        # no set_env.sh: the daemon says so on its console only
    inst.start()
    state = inst.wait(lambda s: s.get('status') == 'crash-looping')
    assert state['last_exit']['code'] == 127
    assert any('error while loading shared libraries' in line for line in state['last_error_lines'])


def test_busy_is_not_dead_but_failing_live_restarts(instance):
    inst = instance().start()
    inst.wait_running()
    inst.control(ready=503, live=200)           # busy: HealthCheckConfig.npuUsageThreshold reached
    time.sleep(2.0)                             # ten live intervals
    state = inst.state()
    assert state['generation'] == 1 and state['status'] == 'running'
    inst.control(ready=500, live=500)           # abnormal: live fails
    state = inst.wait(lambda s: s.get('generation') == 2)
    assert 'live probes' in state['last_exit']['reason'] and 'HTTP 500' in state['last_exit']['reason']
    inst.control()
    inst.wait_running(generation=2)


def test_a_daemon_that_stops_answering_is_restarted(instance):
    inst = instance().start()
    inst.wait_running()
    inst.control(hang=True)
    state = inst.wait(lambda s: s.get('generation') == 2)
    assert 'no answer' in state['last_exit']['reason']


def test_before_the_first_live_200_only_the_process_counts(instance):
    inst = instance()
    inst.control(live=500, ready=500)
    inst.start()
    inst.wait(lambda s: s.get('status') == 'starting' and s.get('daemon_pid'))
    time.sleep(1.5)
    state = inst.state()
    assert state['generation'] == 1 and state['status'] == 'starting' and state['live_at'] is None
    inst.control()
    inst.wait_running()


def test_sigterm_stops_the_whole_process_group_and_exits_0(instance):
    inst = instance(stop_timeout=1)
    inst.control(term_leaves_worker=True, worker_ignores_term=True)
    inst.start()
    state = inst.wait_running()
    worker = inst.workers()[0]
    inst.proc.send_signal(signal.SIGTERM)
    assert inst.proc.wait(timeout=20) == 0
    assert not alive(state['daemon_pid'])
    assert not alive(worker)        # left by the daemon and deaf to SIGTERM: SIGKILLed with the group
    final = inst.state()
    assert final['status'] == 'stopped' and final['daemon_pid'] is None


def test_sighup_restarts_with_a_fresh_history(instance):
    inst = instance().start()
    first = inst.wait_running()
    inst.proc.send_signal(signal.SIGHUP)
    second = inst.wait_running(generation=2)
    assert second['daemon_pid'] != first['daemon_pid'] and not alive(first['daemon_pid'])
    assert len(second['starts']) == 1               # history reset
    assert 'SIGHUP' in second['last_exit']['reason']
    assert second['restarts'] == 0                  # asked for, not healed


def test_desired_stopped_holds_until_running(instance):
    inst = instance().start()
    first = inst.wait_running()
    worker = inst.workers()[0]
    (inst.state_dir / sup.DESIRED_FILE).write_text('stopped\n')
    state = inst.wait(lambda s: s.get('status') == 'stopped')
    assert state['daemon_pid'] is None and not alive(first['daemon_pid']) and not alive(worker)
    time.sleep(1.0)
    assert inst.state()['generation'] == 1
    (inst.state_dir / sup.DESIRED_FILE).write_text('running\n')
    inst.wait_running(generation=2)


def test_desired_stopped_is_kept_across_a_supervisor_start(instance):
    inst = instance()
    (inst.state_dir / sup.DESIRED_FILE).write_text('stopped')
    inst.start()
    inst.wait(lambda s: s.get('status') == 'stopped')
    time.sleep(0.8)
    assert inst.records() == []


def test_waits_for_its_files_and_uses_a_new_config_from_the_next_start(instance):
    inst = instance()
    inst.start(write=False)
    state = inst.wait(lambda s: s.get('status') == 'waiting')
    assert 'supervisor.json' in state['message']
    inst.write_settings()
    first = inst.wait_running()
    inst.write_config({'maxLinkNum': 10})
    time.sleep(1.5)                                 # several poll intervals: a serving daemon is not restarted for it
    assert inst.state()['generation'] == 1 and alive(first['daemon_pid'])
    inst.proc.send_signal(signal.SIGHUP)            # what mindie_service's restarted does once the files are written
    second = inst.wait_running(generation=2)
    assert second['config_sha256'] != first['config_sha256']


def test_a_supervisor_json_for_the_next_start_does_not_change_the_running_daemons_live_probe(instance):
    """The service role writes supervisor.json (say with HTTPS, or another management port) before it restarts the
    instance: until then the running daemon is probed where it listens, not killed for not answering elsewhere."""
    inst = instance().start()
    first = inst.wait_running()
    inst.settings['live'] = dict(inst.settings['live'], url='http://127.0.0.1:1/v2/health/live')
    inst.write_settings()
    time.sleep(2.0)                                 # 10 poll intervals, 10 probe intervals (2 failures would kill)
    state = inst.state()
    assert state['generation'] == 1 and state['restarts'] == 0 and alive(first['daemon_pid']), state


def test_waits_until_the_ports_can_be_bound(instance):
    inst = instance()
    holder = socket.socket()
    holder.bind(('127.0.0.1', inst.master))
    holder.listen(1)
    try:
        inst.start()
        state = inst.wait(lambda s: s.get('status') == 'starting')
        time.sleep(1.0)
        assert inst.records() == [] and inst.state()['generation'] == 0
    finally:
        holder.close()
    inst.wait_running()
    assert state['daemon_pid'] is None


def test_the_version_is_read_from_the_images_version_info(tmp_path):
    """version.info beside the service directory, as the MindIE image ships it (tests/fixtures/versions)."""
    home = tmp_path / 'mindie' / '1.0.1'
    (home / 'mindie-service').mkdir(parents=True)
    (home / 'version.info').write_text('Ascend-mindie : MindIE 1.0.1\nmindie-rt: 1.0.1\nmindie-service: 1.0.1\n'
                                       'mindie-sd:1.0.1\nPlatform : aarch64\n')
    assert sup.mindie_version(str(home / 'mindie-service')) == '1.0.1'
    assert sup.mindie_version(str(home / 'mindie-service') + '/') == '1.0.1'
    (home / 'version.info').write_text('Ascend-mindie : MindIE 2.0.RC1\n')
    assert sup.mindie_version(str(home / 'mindie-service')) == '2.0.RC1'
    (home / 'version.info').unlink()
    assert sup.mindie_version(str(home / 'mindie-service')) is None


def test_a_live_probe_whose_certificates_cannot_be_read_is_one_failed_probe(tmp_path):
    """An HTTPS live probe with a missing CA (certificates rotated, a half-written security dir) counts as one
    failed probe: the supervisor must not die of it and take the daemon with it."""
    supervisor = sup.Supervisor(str(tmp_path / 'supervisor.json'), str(tmp_path))
    supervisor.live = {'url': 'https://127.0.0.1:1/v2/health/live', 'timeout': 1, 'ca': str(tmp_path / 'missing-ca.pem'),
                       'cert': None, 'key': None, 'server_name': None}
    with pytest.raises((IOError, OSError)):
        supervisor.tls_context()
    assert supervisor.probe_live() is None


def test_get_status_answers_the_status_or_none(tmp_path):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    listener.close()
    assert sup.get_status('http://127.0.0.1:%d/v2/health/live' % port, 1) is None      # nothing listens
