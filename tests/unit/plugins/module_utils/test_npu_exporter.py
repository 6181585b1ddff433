# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's textfile collector (plugins/module_utils/npu_exporter.py) run as the node runs it.

Each test copies the script beside npu_smi.py (and mindie_supervisor.py, as the container role puts it) into a temp
dir and runs it as a subprocess, with a fake ``npu-smi`` (a shell script that cats a real capture of
tests/fixtures/npu-smi), a fake ``docker`` (``docker inspect <name>`` cats <name>.json or fails as docker does for a
missing container) and a local HTTP server answering live/ready with the status each test sets. The output is read
back with a strict parser of the Prometheus text format written here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import npu_exporter
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.test_mindie_http import (
    time_wait_ports as _time_wait_ports)

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
except ImportError:     # Python 2
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from SocketServer import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
MODULE_UTILS = os.path.join(ROOT, 'plugins', 'module_utils')
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'npu-smi')
VARIANTS = os.path.join(FIXTURES, 'variants')
IDLE_32G = os.path.join(FIXTURES, 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt')
BUSY_64G = os.path.join(FIXTURES, '910b3x8_64g_busy_25.3.rc1.txt')
FAILURE = 'dcmi module initialize failed. ret is -8005'
MB = 1048576


# ---------------------------------------------------------------------- a strict reader of the text format

_NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
_SAMPLE = re.compile(r'^(%s)(\{(.*)\})? (\S+)$' % _NAME)
_LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
_TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')


def _labels(text, line):
    """``a="x",b="y"`` -> (('a', 'x'), ('b', 'y')) with only the format's escapes (\\\\, \\", \\n)."""
    labels, pos = [], 0
    while pos < len(text):
        match = _LABEL_NAME.match(text, pos)
        assert match and text[match.end():match.end() + 2] == '="', 'bad label at %d in %r' % (pos, line)
        name, pos, value = match.group(0), match.end() + 2, []
        while True:
            assert pos < len(text), 'unterminated label value in %r' % line
            char = text[pos]
            if char == '\\':
                escaped = text[pos + 1:pos + 2]
                assert escaped in ('\\', '"', 'n'), 'bad escape \\%s in %r' % (escaped, line)
                value.append('\n' if escaped == 'n' else escaped)
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                assert char != '\n'
                value.append(char)
                pos += 1
        assert name not in [n for n, dummy in labels], 'label %s twice in %r' % (name, line)
        labels.append((name, ''.join(value)))
        if pos < len(text):
            assert text[pos] == ',' and pos + 1 < len(text), 'bad separator in %r' % line
            pos += 1
    return tuple(labels)


def parse_exposition(text):
    """{'types': {family: type}, 'help': {family: text}, 'samples': {(name, labels): float}}; asserts the format:
    every sample ``name{labels} value``, one TYPE (and at most one HELP) per family before its samples, the samples
    of a family together, no series twice, a newline at the end."""
    assert text.endswith('\n')
    types, helps, samples, order = {}, {}, {}, []
    for line in text[:-1].split('\n'):
        if line.startswith('#'):
            parts = line.split(' ', 3)
            assert len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'), 'not HELP or TYPE: %r' % line
            name = parts[2]
            assert re.match('^%s$' % _NAME, name)
            assert not any(key[0] == name for key in samples), '%s after samples of %s' % (parts[1], name)
            if parts[1] == 'TYPE':
                assert name not in types, 'two TYPE lines for %s' % name
                assert len(parts) == 4 and parts[3] in _TYPES, line
                types[name] = parts[3]
            else:
                assert name not in helps, 'two HELP lines for %s' % name
                helps[name] = parts[3] if len(parts) == 4 else ''
            continue
        match = _SAMPLE.match(line)
        assert match, 'not a sample line: %r' % line
        name, labels = match.group(1), _labels(match.group(3) or '', line)
        assert name in types, 'sample of %s before (or without) its TYPE line' % name
        if order and order[-1] != name:
            assert name not in order, 'samples of %s are not together' % name
        if not order or order[-1] != name:
            order.append(name)
        key = (name, tuple(sorted(labels)))
        assert key not in samples, 'series twice: %r' % line
        samples[key] = float(match.group(4))
    return {'types': types, 'help': helps, 'samples': samples}


def series(parsed, family_name, **labels):
    """The value of one series (None when absent)."""
    return parsed['samples'].get((family_name, tuple(sorted((k, str(v)) for k, v in labels.items()))))


def family(parsed, name):
    """{labels dict as sorted tuple: value} of every series of ``name``."""
    return dict((labels, value) for (n, labels), value in parsed['samples'].items() if n == name)


# ---------------------------------------------------------------------- fakes

class Handler(BaseHTTPRequestHandler):
    """Answers each path with the status the server's table gives (404 otherwise), then closes (HTTP/1.0), as
    MindIE's Connection: close does."""

    def do_GET(self):
        status = self.server.statuses.get(self.path, 404)
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


@pytest.fixture
def http():
    server = Server(('127.0.0.1', 0), Handler)
    server.statuses = {}
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Node(object):
    """A temp dir laid out as a node: the deployed script, fake npu-smi and docker, the instances file."""

    def __init__(self, base, files=('npu_exporter.py', 'npu_smi.py', 'mindie_supervisor.py')):
        self.base = base
        lib = os.path.join(base, 'lib')
        os.makedirs(lib)
        for name in files:
            shutil.copy(os.path.join(MODULE_UTILS, name), lib)
        self.script = os.path.join(lib, 'npu_exporter.py')
        self.containers = os.path.join(base, 'containers')
        os.makedirs(self.containers)
        self.textfile_dir = os.path.join(base, 'textfile')
        os.makedirs(self.textfile_dir)
        self.output = os.path.join(self.textfile_dir, 'mindie.prom')
        self.instances_path = os.path.join(base, 'instances.json')
        self.npu_smi = os.path.join(base, 'npu-smi')
        self.docker = os.path.join(base, 'docker')
        self.write_script(self.docker, '[ "$1" = inspect ] || exit 9\n'
                          'f="%s/$2.json"\n'
                          'if [ -f "$f" ]; then cat "$f"; else echo "[]"; '
                          'echo "Error: No such object: $2" >&2; exit 1; fi\n' % self.containers)
        self.capture(IDLE_32G)
        self.instances([])

    @staticmethod
    def write_script(path, body):
        with open(path, 'w') as handle:
            handle.write('#!/bin/sh\n' + body)
        os.chmod(path, 0o755)

    def capture(self, path):
        """npu-smi info prints the capture at ``path`` (and leaves a mark that it ran)."""
        self.ran = os.path.join(self.base, 'npu-smi-ran')
        self.write_script(self.npu_smi, '[ "$1" = info ] || exit 9\ntouch "%s"\ncat "%s"\n' % (self.ran, path))

    def npu_smi_fails(self):
        """npu-smi as after a driver upgrade without a reboot."""
        self.write_script(self.npu_smi, 'echo "%s"\nexit 1\n' % FAILURE)

    def instances(self, instances):
        with open(self.instances_path, 'w') as handle:
            json.dump({'instances': instances}, handle)

    def container(self, name, running=True, restarts=0, started='2026-01-02T03:04:05.123456789Z'):
        with open(os.path.join(self.containers, name + '.json'), 'w') as handle:
            json.dump([{'Name': '/' + name, 'RestartCount': restarts,
                        'State': {'Status': 'running' if running else 'exited', 'Running': running,
                                  'StartedAt': started}}], handle)

    def supervisor(self, name, **state):
        path = os.path.join(self.base, name + '-supervisor.json')
        with open(path, 'w') as handle:
            json.dump(state, handle)
        return path

    def run(self, *args, **kwargs):
        argv = [sys.executable, self.script, '--npu-smi', self.npu_smi, '--docker', self.docker,
                '--instances', self.instances_path, '--output', self.output] + list(args)
        proc = subprocess.Popen(kwargs.get('prefix', []) + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out.decode('utf-8'), err.decode('utf-8')

    def collect(self, *args):
        """Run once writing the output file; its parsed contents."""
        code, dummy, err = self.run(*args)
        assert code == 0, err
        with open(self.output) as handle:
            return parse_exposition(handle.read())


@pytest.fixture
def node(tmp_path):
    return Node(str(tmp_path))


def instance(name, http=None, live=None, ready=None, **extra):
    """An instances-file entry; ``live``/``ready`` name paths of the ``http`` server."""
    entry = {'name': name, 'container': name, 'supervisor_state': None, 'ca': None, 'cert': None, 'key': None,
             'live_url': http.url + live if live else None, 'ready_url': http.url + ready if ready else None}
    entry.update(extra)
    return entry


# ---------------------------------------------------------------------- npu-smi

def test_32g_idle_capture_values(node):
    metrics = node.collect()
    assert series(metrics, 'ascend_npu_smi_up') == 1
    assert series(metrics, 'ascend_npu_smi_collect_duration_seconds') >= 0
    chip0 = {'npu_id': 0, 'chip_id': 0}
    assert series(metrics, 'ascend_npu_hbm_used_bytes', **chip0) == 2654 * MB
    assert series(metrics, 'ascend_npu_hbm_total_bytes', **chip0) == 32768 * MB
    assert series(metrics, 'ascend_npu_temperature_celsius', **chip0) == 33
    assert series(metrics, 'ascend_npu_power_watts', **chip0) == 87.2
    assert series(metrics, 'ascend_npu_aicore_utilization_ratio', **chip0) == 0
    assert series(metrics, 'ascend_npu_healthy', **chip0) == 1
    assert series(metrics, 'ascend_npu_health_status', status='OK', **chip0) == 1
    assert series(metrics, 'ascend_npu_info', name='910B4', **chip0) == 1
    assert series(metrics, 'ascend_npu_processes', **chip0) == 0
    assert series(metrics, 'ascend_npu_hbm_used_bytes', npu_id=7, chip_id=0) == 2653 * MB
    assert series(metrics, 'ascend_npu_temperature_celsius', npu_id=4, chip_id=0) == 39
    assert series(metrics, 'ascend_npu_power_watts', npu_id=3, chip_id=0) == 89.1
    for name in ('ascend_npu_healthy', 'ascend_npu_hbm_used_bytes', 'ascend_npu_hbm_total_bytes',
                 'ascend_npu_temperature_celsius', 'ascend_npu_power_watts', 'ascend_npu_aicore_utilization_ratio',
                 'ascend_npu_processes', 'ascend_npu_info', 'ascend_npu_health_status'):
        assert len(family(metrics, name)) == 8, name


def test_64g_busy_capture_hbm_and_processes(node):
    node.capture(BUSY_64G)
    metrics = node.collect()
    assert series(metrics, 'ascend_npu_hbm_used_bytes', npu_id=0, chip_id=0) == 58626 * MB
    assert series(metrics, 'ascend_npu_hbm_used_bytes', npu_id=2, chip_id=0) == 58627 * MB
    assert series(metrics, 'ascend_npu_hbm_total_bytes', npu_id=2, chip_id=0) == 65536 * MB
    assert series(metrics, 'ascend_npu_power_watts', npu_id=0, chip_id=0) == 100.9
    assert series(metrics, 'ascend_npu_info', npu_id=5, chip_id=0, name='910B3') == 1
    assert sorted(family(metrics, 'ascend_npu_processes').values()) == [1] * 8


def test_several_processes_on_one_chip(node):
    node.capture(os.path.join(VARIANTS, 'npu-smi_25.3.rc1_named_processes.txt'))
    metrics = node.collect()
    assert series(metrics, 'ascend_npu_processes', npu_id=0, chip_id=0) == 2
    assert series(metrics, 'ascend_npu_processes', npu_id=1, chip_id=0) == 1
    assert series(metrics, 'ascend_npu_processes', npu_id=2, chip_id=0) == 1
    assert sum(family(metrics, 'ascend_npu_processes').values()) == 9


def test_aicore_ratio_and_wide_26x_rows(node):
    node.capture(os.path.join(VARIANTS, 'npu-smi_26.0.rc1_wide_container_pid.txt'))
    metrics = node.collect()
    ratios = set(family(metrics, 'ascend_npu_aicore_utilization_ratio').values())
    assert 0.03 in ratios
    assert 61234 * MB in family(metrics, 'ascend_npu_hbm_used_bytes').values()


def test_unhealthy_chips(node):
    node.capture(os.path.join(VARIANTS, 'npu-smi_25.0.rc1.1_unhealthy.txt'))
    metrics = node.collect()
    healthy = dict((dict(labels)['npu_id'], value) for labels, value in family(metrics, 'ascend_npu_healthy').items())
    assert healthy == {'0': 1, '1': 0, '2': 1, '3': 0, '4': 1, '5': 1, '6': 0, '7': 1}
    assert series(metrics, 'ascend_npu_health_status', npu_id=1, chip_id=0, status='Warning') == 1
    assert series(metrics, 'ascend_npu_health_status', npu_id=3, chip_id=0, status='Alarm') == 1
    assert series(metrics, 'ascend_npu_health_status', npu_id=6, chip_id=0, status='Critical') == 1
    assert series(metrics, 'ascend_npu_health_status', npu_id=6, chip_id=0, status='OK') is None


def test_values_npu_smi_does_not_give_are_left_out(node):
    node.capture(os.path.join(VARIANTS, 'npu-smi_25.0.rc1.1_na_values.txt'))
    metrics = node.collect()
    assert series(metrics, 'ascend_npu_power_watts', npu_id=2, chip_id=0) is None         # NA, not 0
    assert series(metrics, 'ascend_npu_temperature_celsius', npu_id=5, chip_id=0) is None  # '-', not 0
    assert series(metrics, 'ascend_npu_power_watts', npu_id=5, chip_id=0) == 84.8
    assert series(metrics, 'ascend_npu_temperature_celsius', npu_id=2, chip_id=0) == 33
    assert len(family(metrics, 'ascend_npu_power_watts')) == 7


@pytest.mark.parametrize('breakage', ['fails', 'garbage', 'missing', 'table-but-exit-1'])
def test_npu_smi_down_is_in_the_metrics_and_the_rest_is_written(node, http, breakage):
    if breakage == 'fails':
        node.npu_smi_fails()
    elif breakage == 'garbage':
        node.capture(os.path.join(VARIANTS, 'npu-smi_garbage_not_a_table.txt'))
    elif breakage == 'table-but-exit-1':      # a failed npu-smi is not believed, whatever it printed
        node.write_script(node.npu_smi, 'cat "%s"\nexit 1\n' % IDLE_32G)
    else:
        os.remove(node.npu_smi)
    http.statuses = {'/live': 200, '/ready': 200}
    node.instances([instance('mindie-0', http, '/live', '/ready')])
    code, dummy, err = node.run()
    assert code == 0
    with open(node.output) as handle:
        metrics = parse_exposition(handle.read())
    assert series(metrics, 'ascend_npu_smi_up') == 0
    assert series(metrics, 'ascend_npu_smi_collect_duration_seconds') is not None
    assert not [key for key in metrics['samples'] if key[0].startswith('ascend_npu_')
                and key[0] not in ('ascend_npu_smi_up', 'ascend_npu_smi_collect_duration_seconds')]
    assert series(metrics, 'mindie_instance_live', instance='mindie-0', container='mindie-0') == 1
    assert series(metrics, 'mindie_exporter_instances_file_ok') == 1
    assert series(metrics, 'mindie_exporter_last_run_timestamp_seconds') is not None
    assert 'npu-smi is down' in err
    if breakage == 'fails':
        assert FAILURE in err


def test_npu_smi_hanging_is_killed_after_the_timeout(node, monkeypatch, capsys):
    """In-process, the 20 s made 1 s: a hung npu-smi counts as down."""
    node.write_script(node.npu_smi, 'exec sleep 60\n')
    monkeypatch.setattr(npu_exporter, 'NPU_SMI_TIMEOUT', 1)
    started = time.time()
    assert npu_exporter.main(['--npu-smi', node.npu_smi, '--docker', node.docker, '--instances',
                              node.instances_path, '--stdout']) == 0
    assert time.time() - started < 15
    captured = capsys.readouterr()
    assert series(parse_exposition(captured.out), 'ascend_npu_smi_up') == 0
    assert 'timed out after 1 s' in captured.err


# ---------------------------------------------------------------------- instances

def test_live_ready_and_busy(node, http):
    http.statuses = {'/ok/live': 200, '/ok/ready': 200,
                     '/busy/live': 200, '/busy/ready': 503,
                     '/sick/live': 500, '/sick/ready': 500}
    refused = 'http://127.0.0.1:%d' % free_port()
    node.instances([instance('ok', http, '/ok/live', '/ok/ready'),
                    instance('busy', http, '/busy/live', '/busy/ready'),
                    instance('sick', http, '/sick/live', '/sick/ready'),
                    instance('loading', live_url=refused + '/v2/health/live', ready_url=refused + '/v2/health/ready'),
                    instance('no-urls')])
    metrics = node.collect()

    def state(name):
        labels = {'instance': name, 'container': name}
        return tuple(series(metrics, 'mindie_instance_' + what, **labels) for what in ('live', 'ready', 'busy'))

    assert state('ok') == (1, 1, 0)
    assert state('busy') == (1, 0, 1)
    assert state('sick') == (0, 0, 0)
    assert state('loading') == (0, 0, 0)
    assert state('no-urls') == (None, None, None)


def test_probe_timeout(node, tmp_path):
    silent = socket.socket()        # accepts (the backlog) and never answers
    silent.bind(('127.0.0.1', 0))
    silent.listen(8)
    try:
        url = 'http://127.0.0.1:%d' % silent.getsockname()[1]
        node.instances([instance('hung', live_url=url + '/live', ready_url=url + '/ready')])
        started = time.time()
        metrics = node.collect('--timeout', '0.5')
        assert time.time() - started < 10
    finally:
        silent.close()
    assert series(metrics, 'mindie_instance_live', instance='hung', container='hung') == 0


def test_container_running_restarts_started_and_missing(node):
    node.container('mindie-0', running=True, restarts=2, started='2026-01-02T03:04:05.5Z')
    node.container('mindie-1', running=False, restarts=7, started='0001-01-01T00:00:00Z')
    node.container('mindie-2', started='not a time')
    node.instances([instance('mindie-0'), instance('mindie-1'), instance('mindie-2'), instance('gone')])
    metrics = node.collect()
    zero = {'instance': 'mindie-0', 'container': 'mindie-0'}
    assert series(metrics, 'mindie_instance_container_running', **zero) == 1
    assert series(metrics, 'mindie_instance_container_restarts', **zero) == 2
    assert series(metrics, 'mindie_instance_container_started_timestamp_seconds', **zero) == (
        calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0)) + 0.5)
    one = {'instance': 'mindie-1', 'container': 'mindie-1'}
    assert series(metrics, 'mindie_instance_container_running', **one) == 0
    assert series(metrics, 'mindie_instance_container_restarts', **one) == 7
    assert series(metrics, 'mindie_instance_container_started_timestamp_seconds', **one) is None   # never started
    two = {'instance': 'mindie-2', 'container': 'mindie-2'}
    assert series(metrics, 'mindie_instance_container_started_timestamp_seconds', **two) is None   # unparsable
    gone = {'instance': 'gone', 'container': 'gone'}
    assert series(metrics, 'mindie_instance_container_running', **gone) == 0
    assert series(metrics, 'mindie_instance_container_restarts', **gone) is None
    assert series(metrics, 'mindie_instance_container_started_timestamp_seconds', **gone) is None


def test_container_defaults_to_the_instance_name(node):
    node.container('mindie')
    entry = instance('mindie')
    del entry['container']
    node.instances([entry])
    metrics = node.collect()
    assert series(metrics, 'mindie_instance_container_running', instance='mindie', container='mindie') == 1


@pytest.mark.parametrize('text,expected', [
    ('2026-01-02T03:04:05Z', calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))),
    ('2026-01-02T03:04:05.250000000Z', calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0)) + 0.25),
    ('2026-01-02T11:04:05+08:00', calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))),
    ('2026-01-01T23:04:05-04:00', calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))),
    ('0001-01-01T00:00:00Z', None),
    ('', None),
    (None, None),
    ('2026-13-45T99:00:00Z', None),
])
def test_parse_timestamp(text, expected):
    assert npu_exporter.parse_timestamp(text) == expected


def test_supervisor_state(node):
    looping = node.supervisor('looping', status='crash-looping', restarts=5, message='5 starts within 600 s')
    running = node.supervisor('running', status='running', restarts=1)
    broken = os.path.join(node.base, 'broken.json')
    with open(broken, 'w') as handle:
        handle.write('{"status": "runn')
    stale = node.supervisor('stale', status='crash-looping', restarts=5)
    for name in ('looping', 'running', 'missing', 'broken', 'none'):
        node.container(name)
    node.container('stale', running=False)
    node.instances([instance('looping', supervisor_state=looping), instance('running', supervisor_state=running),
                    instance('missing', supervisor_state=os.path.join(node.base, 'nope.json')),
                    instance('broken', supervisor_state=broken), instance('none'),
                    instance('stale', supervisor_state=stale)])
    metrics = node.collect()
    loop = {'instance': 'looping', 'container': 'looping'}
    assert series(metrics, 'mindie_instance_crash_looping', **loop) == 1
    assert series(metrics, 'mindie_instance_supervisor_restarts', **loop) == 5
    assert series(metrics, 'mindie_instance_status', status='crash-looping', **loop) == 1
    run = {'instance': 'running', 'container': 'running'}
    assert series(metrics, 'mindie_instance_crash_looping', **run) == 0
    assert series(metrics, 'mindie_instance_supervisor_restarts', **run) == 1
    assert series(metrics, 'mindie_instance_status', status='running', **run) == 1
    # a stopped container's state file is its last word, not its state now: nothing is read from it
    for name in ('missing', 'broken', 'none', 'stale'):
        for fam in ('mindie_instance_crash_looping', 'mindie_instance_supervisor_restarts', 'mindie_instance_status'):
            assert not [key for key in family(metrics, fam) if ('instance', name) in key], (name, fam)


@pytest.mark.parametrize('content', [None, '{not json', '["a list"]', '{"instances": {"name": "x"}}'])
def test_instances_file_missing_or_unreadable(node, content):
    if content is None:
        os.remove(node.instances_path)
    else:
        with open(node.instances_path, 'w') as handle:
            handle.write(content)
    metrics = node.collect()
    assert series(metrics, 'mindie_exporter_instances_file_ok') == 0
    assert not [key for key in metrics['samples'] if key[0].startswith('mindie_instance_')]
    assert series(metrics, 'ascend_npu_smi_up') == 1
    assert series(metrics, 'mindie_exporter_last_run_timestamp_seconds') is not None


def test_instances_file_ok_and_last_run(node):
    node.container('mindie-0')
    node.instances([instance('mindie-0')])
    before = time.time()
    metrics = node.collect()
    assert series(metrics, 'mindie_exporter_instances_file_ok') == 1
    assert before - 1 <= series(metrics, 'mindie_exporter_last_run_timestamp_seconds') <= time.time() + 1


# ---------------------------------------------------------------------- TLS

@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    sys.path.insert(0, os.path.join(ROOT, 'sandbox'))
    make_test_certs = pytest.importorskip('make_test_certs')
    return make_test_certs.make(str(tmp_path_factory.mktemp('pki')), bits=3072, sans=('127.0.0.1',))


def test_mutual_tls(node, pki):
    server = Server(('127.0.0.1', 0), Handler)
    server.statuses = {'/live': 200, '/ready': 503}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki['server.pem'], pki['server.key.pem'])
    context.load_verify_locations(pki['ca.pem'])
    context.verify_mode = ssl.CERT_REQUIRED          # MindIE asks for the client's certificate
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    url = 'https://127.0.0.1:%d' % server.server_address[1]
    tls = {'ca': pki['ca.pem'], 'cert': pki['client.pem'], 'key': pki['client.key.pem']}
    try:
        node.instances([instance('mtls', live_url=url + '/live', ready_url=url + '/ready', **tls),
                        instance('no-cert', live_url=url + '/live', ready_url=url + '/ready', ca=pki['ca.pem'])])
        metrics = node.collect()
    finally:
        server.shutdown()
        server.server_close()
    assert series(metrics, 'mindie_instance_live', instance='mtls', container='mtls') == 1
    assert series(metrics, 'mindie_instance_busy', instance='mtls', container='mtls') == 1
    assert series(metrics, 'mindie_instance_live', instance='no-cert', container='no-cert') == 0


# ---------------------------------------------------------------------- the management port

@pytest.mark.skipif(not os.path.exists('/proc/net/tcp'), reason='needs /proc/net/tcp')
def test_probes_leave_no_time_wait_on_the_management_port(node, http):
    """MindIE refuses a port in TIME_WAIT at its next start; the server closes first, so a plain close would leave
    one on the server's side after every run."""
    http.statuses = {'/live': 200, '/ready': 503}
    node.instances([instance('mindie-0', http, '/live', '/ready')])
    metrics = node.collect()
    assert series(metrics, 'mindie_instance_busy', instance='mindie-0', container='mindie-0') == 1
    assert http.server_address[1] not in _time_wait_ports()


def test_needs_the_supervisor_beside_it_for_its_probes(tmp_path):
    """Its GETs are the supervisor's (get_status, which leaves no TIME_WAIT on MindIE's port): deployed without
    mindie_supervisor.py it fails at once, naming the file, rather than probe in a way that hurts the daemon."""
    node = Node(str(tmp_path), files=('npu_exporter.py', 'npu_smi.py'))
    code, dummy, err = node.run()
    assert code != 0 and 'mindie_supervisor' in err


# ---------------------------------------------------------------------- output

def test_atomic_write_mode_0644_under_a_strict_umask(node):
    with open(node.output, 'w') as handle:
        handle.write('old\n')
    os.chmod(node.output, 0o600)
    old_inode = os.stat(node.output).st_ino
    code, dummy, err = node.run(prefix=['sh', '-c', 'umask 077; exec "$@"', 'sh'])
    assert code == 0, err
    info = os.stat(node.output)
    assert stat.S_IMODE(info.st_mode) == 0o644
    assert info.st_ino != old_inode, 'the file was rewritten in place, not replaced by a rename'
    assert os.listdir(node.textfile_dir) == ['mindie.prom'], 'a temporary file was left behind'
    with open(node.output) as handle:
        assert series(parse_exposition(handle.read()), 'ascend_npu_smi_up') == 1


def test_temporary_file_is_beside_the_output(node, monkeypatch):
    """In-process: what is renamed over the output is ``<output>.tmp.<pid>``, fsynced before the rename."""
    renames, fsyncs = [], []
    real_rename, real_fsync = os.rename, os.fsync

    def rename(src, dst):
        renames.append((src, dst, len(fsyncs)))
        return real_rename(src, dst)

    def fsync(fd):
        fsyncs.append(fd)
        return real_fsync(fd)

    monkeypatch.setattr(os, 'rename', rename)
    monkeypatch.setattr(os, 'fsync', fsync)
    npu_exporter.write_atomic(node.output, 'x 1\n')
    assert renames == [('%s.tmp.%d' % (node.output, os.getpid()), node.output, 1)]
    with open(node.output) as handle:
        assert handle.read() == 'x 1\n'


def test_stdout_writes_no_file(node):
    code, out, err = node.run('--stdout')
    assert code == 0, err
    assert series(parse_exposition(out), 'ascend_npu_hbm_total_bytes', npu_id=0, chip_id=0) == 32768 * MB
    assert not os.path.exists(node.output)


@pytest.mark.parametrize('args,message', [
    (['--output', '/nonexistent/dir/mindie.prom'], 'the output directory /nonexistent/dir does not exist'),
    (['--timeout', '0'], '--timeout must be a positive number'),
    (['--timeout', 'soon'], 'invalid float value'),
    (['--bogus'], 'unrecognized arguments'),
])
def test_bad_arguments_exit_2(node, args, message):
    code, out, err = node.run(*args)
    assert code == 2
    assert message in err
    assert out == ''
    assert not os.path.exists(node.ran), 'npu-smi ran before the arguments were checked'


def test_output_dir_that_is_a_file_exits_2(node):
    blocker = os.path.join(node.base, 'file')
    with open(blocker, 'w') as handle:
        handle.write('')
    code, dummy, err = node.run('--output', os.path.join(blocker, 'mindie.prom'))
    assert code == 2 and 'does not exist' in err


def test_unwritable_output_exits_2(node, monkeypatch, capsys):
    """In-process (root may write anywhere): the rename fails, the temporary is removed, exit 2."""
    def rename(src, dst):
        raise OSError(30, 'Read-only file system')
    monkeypatch.setattr(os, 'rename', rename)
    code = npu_exporter.main(['--npu-smi', node.npu_smi, '--docker', node.docker, '--instances',
                              node.instances_path, '--output', node.output])
    assert code == 2
    assert 'cannot write %s' % node.output in capsys.readouterr().err
    assert os.listdir(node.textfile_dir) == []


# ---------------------------------------------------------------------- the format

def test_label_values_are_escaped(node):
    name = 'odd "name" \\ with\na newline'
    node.container(name)
    node.instances([instance(name)])
    code, out, err = node.run('--stdout')
    assert code == 0, err
    assert ('mindie_instance_container_running{instance="odd \\"name\\" \\\\ with\\na newline",'
            'container="odd \\"name\\" \\\\ with\\na newline"} 1') in out.split('\n')
    assert series(parse_exposition(out), 'mindie_instance_container_running', instance=name, container=name) == 1


def test_the_whole_output_is_strict_exposition_format(node, http):
    node.capture(BUSY_64G)
    http.statuses = {'/a/live': 200, '/a/ready': 503, '/b/live': 200, '/b/ready': 200}
    node.container('mindie-0', restarts=1)
    state = node.supervisor('mindie-0', status='crash-looping', restarts=6)
    node.instances([instance('mindie-0', http, '/a/live', '/a/ready', supervisor_state=state),
                    instance('mindie-1', http, '/b/live', '/b/ready'),
                    instance('mindie-1', http, '/b/live', '/b/ready')])      # twice in the file: one series
    code, out, err = node.run('--stdout')
    assert code == 0, err
    metrics = parse_exposition(out)
    names = [name for name, dummy, dummy2 in npu_exporter.FAMILIES]
    assert sorted(metrics['types']) == sorted(names), 'every family has samples here, and only those'
    assert set(metrics['types'].values()) == set(['gauge'])
    assert sorted(metrics['help']) == sorted(names)
    assert [line.split()[2] for line in out.split('\n') if line.startswith('# TYPE')] == names
    assert len(family(metrics, 'mindie_instance_live')) == 2


def test_format_value():
    assert npu_exporter.format_value(True) == '1'
    assert npu_exporter.format_value(2654 * MB) == '2782920704'
    assert npu_exporter.format_value(87.2) == '87.2'
    assert npu_exporter.format_value(33.0) == '33'
    assert npu_exporter.format_value(float('nan')) == 'NaN'
    assert npu_exporter.format_value(float('inf')) == '+Inf'
