# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's NPU and MindIE collector for the node exporter's textfile collector (``python3 npu_exporter.py``).

A script, copied to the node (``/usr/local/lib/ascend-mindie/npu_exporter.py``) with the npu-smi parser
(``npu_smi.py``) beside it, and run as root every N seconds by a systemd timer or cron. Standard library only,
Python 2.7-compatible syntax (it runs on Python 3.6+). One run:

  - ``npu-smi info``, parsed by ``npu_smi.parse_npu_smi_info`` (the collection's one parser): per chip its health,
    HBM, temperature, power, AICore use and process count; ``ascend_npu_smi_up`` 0 when npu-smi failed (the rest
    is still written: the failure is in the metrics, the exit status stays 0);
  - per instance of the instances file (``{"instances": [{name, container, live_url, ready_url,
    supervisor_state, ca, cert, key}]}``, written by the monitoring role): GETs of live and ready (busy = live 200
    and ready 503, which is not dead), ``docker inspect`` of its container, and its supervisor's state file;
  - the Prometheus text format, written atomically (``<output>.tmp.<pid>``, fsync, 0644, rename) or to stdout.

The GETs are the supervisor's (``mindie_supervisor.get_status``; the monitoring role copies that file beside this
one): MindIE closes first, and a TIME_WAIT left on its management port every run would make its next start refuse
the port.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import calendar
import json
import math
import numbers
import os
import re
import signal
import ssl
import subprocess
import sys
import time

try:
    from urllib.parse import urlsplit
except ImportError:     # Python 2
    from urlparse import urlsplit

try:
    from ansible_collections.ascend.mindie.plugins.module_utils import npu_smi
    from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import get_status, read_state_file
except ImportError:     # run as a script on the node: npu_smi.py and mindie_supervisor.py lie beside this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import npu_smi
    from mindie_supervisor import get_status, read_state_file

DEFAULT_OUTPUT = '/var/lib/prometheus/node-exporter/mindie.prom'
DEFAULT_INSTANCES = '/etc/ascend-mindie/monitoring-instances.json'   # the monitoring role's
NPU_SMI_TIMEOUT = 20
DOCKER_TIMEOUT = 10
MB = 1048576
CRASH_LOOPING = 'crash-looping'

# name, type, help: the order of the output; each family is written once, only when it has samples.
FAMILIES = (
    ('ascend_npu_smi_up', 'gauge', '1 when npu-smi info answered and its table parsed, else 0.'),
    ('ascend_npu_smi_collect_duration_seconds', 'gauge', 'Time npu-smi info took, parsing included.'),
    ('ascend_npu_info', 'gauge', 'The chip name npu-smi prints (always 1).'),
    ('ascend_npu_healthy', 'gauge', '1 when npu-smi says the chip is OK, else 0.'),
    ('ascend_npu_health_status', 'gauge', 'The Health text npu-smi prints for the chip (always 1).'),
    ('ascend_npu_hbm_used_bytes', 'gauge', 'HBM in use on the chip.'),
    ('ascend_npu_hbm_total_bytes', 'gauge', 'HBM of the chip.'),
    ('ascend_npu_temperature_celsius', 'gauge', 'Chip temperature.'),
    ('ascend_npu_power_watts', 'gauge', 'Chip power draw.'),
    ('ascend_npu_aicore_utilization_ratio', 'gauge', 'AICore utilization (0-1).'),
    ('ascend_npu_processes', 'gauge', 'Processes npu-smi lists on the chip.'),
    ('mindie_exporter_instances_file_ok', 'gauge', '1 when the instances file was read, else 0.'),
    ('mindie_instance_live', 'gauge', '1 when GET /v2/health/live answered 200 in time, else 0.'),
    ('mindie_instance_ready', 'gauge', '1 when GET /v2/health/ready answered 200 in time, else 0.'),
    ('mindie_instance_busy', 'gauge', '1 when live answered 200 and ready 503 (busy, not dead), else 0.'),
    ('mindie_instance_container_running', 'gauge', '1 when docker says the container runs, else 0 (missing too).'),
    ('mindie_instance_container_restarts', 'gauge', "The container's RestartCount (docker)."),
    ('mindie_instance_container_started_timestamp_seconds', 'gauge', 'When the container last started (epoch).'),
    ('mindie_instance_supervisor_restarts', 'gauge', 'Daemon restarts the supervisor made since it started.'),
    ('mindie_instance_crash_looping', 'gauge', '1 when the supervisor stopped restarting (crash-looping), else 0.'),
    ('mindie_instance_status', 'gauge', "The supervisor's status (always 1)."),
    ('mindie_exporter_last_run_timestamp_seconds', 'gauge', 'When this collector last ran (epoch).'),
)
_FAMILY_NAMES = tuple(name for name, dummy, dummy2 in FAMILIES)
_TIMESTAMP = re.compile(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)$')


class UsageError(Exception):
    """Bad arguments or an output that cannot be written: exit status 2."""


# ---------------------------------------------------------------------- the exposition format

def escape_label(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def format_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if value == int(value) and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


class Metrics(object):
    """Samples by family; a None value is left out, a series seen before is not added again."""

    def __init__(self):
        self.samples = dict((name, []) for name in _FAMILY_NAMES)
        self.seen = set()

    def add(self, name, labels, value):
        if value is None:
            return
        labels = tuple((key, '' if val is None else str(val)) for key, val in labels)
        if (name, labels) in self.seen:
            return
        self.seen.add((name, labels))
        self.samples[name].append((labels, value))

    def render(self):
        lines = []
        for name, kind, text in FAMILIES:
            if not self.samples[name]:
                continue
            lines.append('# HELP %s %s' % (name, text.replace('\\', '\\\\').replace('\n', '\\n')))
            lines.append('# TYPE %s %s' % (name, kind))
            for labels, value in self.samples[name]:
                inner = ','.join('%s="%s"' % (key, escape_label(val)) for key, val in labels)
                lines.append('%s%s %s' % (name, '{%s}' % inner if inner else '', format_value(value)))
        return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------- what is collected

def run(argv, timeout):
    """(exit status, stdout text, error text); status None when it could not run or timed out."""
    try:
        # its own process group: a timed-out npu-smi is killed with whatever it started
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=os.setsid)
    except OSError as exc:
        return None, '', '%s: %s' % (argv[0], exc.strerror or exc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.communicate(timeout=5)     # one stuck in the driver (D state) is left behind, not waited for
        except subprocess.TimeoutExpired:
            pass
        return None, '', '%s timed out after %s s' % (argv[0], timeout)
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def collect_npus(metrics, npu_smi_path):
    """npu-smi info -> the ascend_npu_* samples; returns None or why npu-smi is counted as down."""
    started = time.time()
    status, out, err = run([npu_smi_path, 'info'], NPU_SMI_TIMEOUT)
    problem, info = None, None
    if status != 0:
        problem = err.strip() or out.strip() or 'exit status %s' % status
        if status is not None:
            problem = 'npu-smi exited with %s: %s' % (status, problem)
    else:
        try:
            info = npu_smi.parse_npu_smi_info(out)
        except npu_smi.NpuSmiParseError as exc:
            problem = str(exc)
    metrics.add('ascend_npu_smi_up', (), 0 if info is None else 1)
    metrics.add('ascend_npu_smi_collect_duration_seconds', (), round(time.time() - started, 6))
    if info is None:
        return problem
    processes = {}
    for process in info['processes']:
        key = (process.get('npu_id'), process.get('chip_id'))
        processes[key] = processes.get(key, 0) + 1
    for chip in info['chips']:
        ids = (('npu_id', chip['npu_id']), ('chip_id', chip['chip_id']))
        if chip.get('name'):
            metrics.add('ascend_npu_info', ids + (('name', chip['name']),), 1)
        if chip.get('health'):
            metrics.add('ascend_npu_healthy', ids, 1 if chip['health'] == npu_smi.HEALTH_OK else 0)
            metrics.add('ascend_npu_health_status', ids + (('status', chip['health']),), 1)
        for name, key, scale in (('ascend_npu_hbm_used_bytes', 'hbm_used_mb', MB),
                                 ('ascend_npu_hbm_total_bytes', 'hbm_total_mb', MB),
                                 ('ascend_npu_temperature_celsius', 'temp_c', 1),
                                 ('ascend_npu_power_watts', 'power_w', 1),
                                 ('ascend_npu_aicore_utilization_ratio', 'aicore_percent', 0.01)):
            value = chip.get(key)
            metrics.add(name, ids, None if value is None else value * scale)
        metrics.add('ascend_npu_processes', ids, processes.get((chip['npu_id'], chip['chip_id']), 0))
    return None


def load_instances(path):
    """The instance entries of the instances file (name, container defaulted to it); None when unreadable."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get('instances'), list):
        return None
    instances = []
    for entry in data['instances']:
        if isinstance(entry, dict) and entry.get('name'):
            entry = dict(entry)
            entry['container'] = entry.get('container') or entry['name']
            instances.append(entry)
    return instances


def tls_context(instance):
    """MindIE's mutual TLS (1.3 at least): the instance's CA (no CA: not verified), client cert and key."""
    context = ssl.SSLContext(getattr(ssl, 'PROTOCOL_TLS_CLIENT', ssl.PROTOCOL_SSLv23))
    if hasattr(ssl, 'TLSVersion'):
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False      # the URL names an address (127.0.0.1), not the certificate's name
    if instance.get('ca'):
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=instance['ca'])
    else:
        context.verify_mode = ssl.CERT_NONE
    if instance.get('cert'):
        context.load_cert_chain(instance['cert'], instance.get('key') or None)
    return context


def probe(url, timeout, instance):
    """The HTTP status of one GET of ``url``, or None when nothing answered in time (refused, reset, TLS...)."""
    try:
        context = tls_context(instance) if urlsplit(url).scheme == 'https' else None
    except (ssl.SSLError, ValueError, IOError):
        return None
    return get_status(url, timeout, context)


def parse_timestamp(text):
    """Docker's RFC 3339 time (``2026-01-02T03:04:05.123456789Z``) as epoch seconds; None when unparsable or
    before 1970 (``0001-01-01T00:00:00Z``: never started)."""
    match = _TIMESTAMP.match(text or '')
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if match.group(7):
        seconds += float(match.group(7))
    zone = match.group(8)
    if zone != 'Z':
        offset = int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
        seconds -= offset if zone[0] == '+' else -offset
    return seconds if seconds > 0 else None


def inspect_container(docker, container):
    """The first object ``docker inspect <container>`` prints; None when there is none (missing, docker down)."""
    status, out, dummy = run([docker, 'inspect', container], DOCKER_TIMEOUT)
    if status != 0:
        return None
    try:
        data = json.loads(out)
    except ValueError:
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return None


def _number(value):
    return value if isinstance(value, numbers.Number) and not isinstance(value, bool) else None


def collect_instance(metrics, instance, docker, timeout):
    labels = (('instance', instance['name']), ('container', instance['container']))
    live = probe(instance['live_url'], timeout, instance) if instance.get('live_url') else None
    ready = probe(instance['ready_url'], timeout, instance) if instance.get('ready_url') else None
    if instance.get('live_url'):
        metrics.add('mindie_instance_live', labels, 1 if live == 200 else 0)
    if instance.get('ready_url'):
        metrics.add('mindie_instance_ready', labels, 1 if ready == 200 else 0)
    if instance.get('live_url') and instance.get('ready_url'):
        metrics.add('mindie_instance_busy', labels, 1 if live == 200 and ready == 503 else 0)

    found = inspect_container(docker, instance['container'])
    state = (found or {}).get('State') or {}
    metrics.add('mindie_instance_container_running', labels, 1 if state.get('Running') is True else 0)
    if found is not None:
        metrics.add('mindie_instance_container_restarts', labels, _number(found.get('RestartCount')))
        metrics.add('mindie_instance_container_started_timestamp_seconds', labels,
                    parse_timestamp(state.get('StartedAt')))

    # the state file outlives its container: read only while the container runs (a stopped or removed
    # container's last state would keep its alerts firing)
    supervisor = read_state_file(instance.get('supervisor_state')) if state.get('Running') is True else None
    if supervisor is not None:
        status = supervisor.get('status')
        metrics.add('mindie_instance_supervisor_restarts', labels, _number(supervisor.get('restarts')))
        metrics.add('mindie_instance_crash_looping', labels, 1 if status == CRASH_LOOPING else 0)
        if isinstance(status, (str, type(u''))) and status:
            metrics.add('mindie_instance_status', labels + (('status', status),), 1)


def collect(options):
    """One run: (Metrics, [problems worth a line on stderr])."""
    metrics = Metrics()
    problems = []
    problem = collect_npus(metrics, options.npu_smi)
    if problem:
        problems.append('npu-smi is down: %s' % problem)
    instances = load_instances(options.instances)
    metrics.add('mindie_exporter_instances_file_ok', (), 0 if instances is None else 1)
    if instances is None:
        problems.append('cannot read the instances file %s' % options.instances)
    for instance in instances or []:
        collect_instance(metrics, instance, options.docker, options.timeout)
    metrics.add('mindie_exporter_last_run_timestamp_seconds', (), round(time.time(), 3))
    return metrics, problems


# ---------------------------------------------------------------------- output

def output_dir(path):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError('the output directory %s does not exist' % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError('the output directory %s is not writable' % directory)
    return directory


def write_atomic(path, text):
    """``text`` to ``<path>.tmp.<pid>`` (fsync, 0644), renamed over ``path``: the textfile collector never reads
    half a file (and skips the temporary, whose name does not end in .prom)."""
    directory = output_dir(path)
    tmp = '%s.tmp.%d' % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise UsageError('cannot write %s: %s' % (path, exc))
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='npu_exporter.py', description=__doc__.splitlines()[0])
    parser.add_argument('--output', default=DEFAULT_OUTPUT, help='the .prom file (default %(default)s)')
    parser.add_argument('--stdout', action='store_true', help='print the metrics instead of writing --output')
    parser.add_argument('--instances', default=DEFAULT_INSTANCES,
                        help='the instances file the monitoring role writes (default %(default)s)')
    parser.add_argument('--npu-smi', dest='npu_smi', default='npu-smi', help='npu-smi (default %(default)s)')
    parser.add_argument('--docker', default='docker', help='the docker client (default %(default)s)')
    parser.add_argument('--timeout', type=float, default=3.0,
                        help='seconds for each live and ready GET (default %(default)s)')
    options = parser.parse_args(argv)
    if not options.timeout > 0:
        parser.error('--timeout must be a positive number of seconds, got %s' % options.timeout)
    if not options.stdout and (not options.output or options.output.endswith('/')):
        parser.error('--output must name a file, got %r' % options.output)
    return options


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        options = parse_args(argv)
    except SystemExit as exc:       # argparse: 2 after a bad argument (usage and why printed), 0 after --help
        return exc.code
    try:
        if not options.stdout:
            output_dir(options.output)      # before npu-smi's 20 s, not after
        metrics, problems = collect(options)
        for problem in problems:
            sys.stderr.write('npu_exporter: %s\n' % problem)
        text = metrics.render()
        if options.stdout:
            sys.stdout.write(text)
        else:
            write_atomic(options.output, text)
    except UsageError as exc:
        sys.stderr.write('npu_exporter: %s\n' % exc)
        return 2
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
