# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for the ``docker`` package under the real MindieDockerClient (no engine needed).

``install(monkeypatch, sdk)`` puts a FakeSDK where module_utils.mindie_docker looks for the SDK;
``install(monkeypatch, None)`` makes the SDK missing. Containers run their exec commands on this
machine (``/bin/sh`` in ``cwd``), so the scripts the modules send really run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import subprocess

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_docker


class ExecResult(object):
    def __init__(self, exit_code, output):
        self.exit_code = exit_code
        self.output = output


class FakeContainer(object):
    def __init__(self, name, attrs, cwd=None):
        self.name = name
        self.attrs = attrs
        self.short_id = str(attrs.get('Id', name))[:12]
        self.cwd = cwd
        self.execs = []

    def exec_run(self, cmd, stdout=True, stderr=True, demux=False, environment=None, workdir=None, user='',
                 detach=False):
        self.execs.append(list(cmd))
        proc = subprocess.run(list(cmd), cwd=workdir or self.cwd, capture_output=True, timeout=60)
        if detach:
            return ExecResult(None, None)
        return ExecResult(proc.returncode, (proc.stdout or None, proc.stderr or None))


class FakeContainers(object):
    def __init__(self, sdk):
        self.sdk = sdk

    def get(self, name):
        self.sdk.calls.append(('containers.get', name))
        if self.sdk.broken:
            raise mindie_docker.DockerException(self.sdk.broken)
        if name not in self.sdk.containers:
            raise mindie_docker.NotFound('No such container: %s' % name)
        return self.sdk.containers[name]

    def list(self, all=False):  # pylint: disable=redefined-builtin
        self.sdk.calls.append(('containers.list', all))
        return list(self.sdk.containers.values())


class FakeImage(object):
    def __init__(self, attrs):
        self.attrs = attrs


class FakeImages(object):
    def __init__(self, sdk):
        self.sdk = sdk

    def get(self, ref):
        if ref not in self.sdk.images:
            raise mindie_docker.NotFound('No such image: %s' % ref)
        return FakeImage(self.sdk.images[ref])


class FakeEngine(object):
    def __init__(self, sdk):
        self.sdk = sdk
        self.containers = FakeContainers(sdk)
        self.images = FakeImages(sdk)

    def ping(self):
        if self.sdk.down:
            raise mindie_docker.DockerException(self.sdk.down)
        return True

    def version(self):
        return {'Version': self.sdk.engine_version}


class FakeSDK(object):
    """The ``docker`` package: ``down`` makes the engine not answer (its error text), ``broken`` every container call."""

    __version__ = '7.1.0'

    def __init__(self, containers=None, images=None, down=None, broken=None, engine_version='24.0.7'):
        self.containers = dict((c.name, c) for c in containers or ())
        self.images = dict(images or {})
        self.down = down
        self.broken = broken
        self.engine_version = engine_version
        self.calls = []

    def from_env(self, timeout=None):
        self.calls.append(('from_env', timeout))
        return FakeEngine(self)

    def DockerClient(self, base_url=None, timeout=None):  # pylint: disable=invalid-name
        self.calls.append(('DockerClient', base_url, timeout))
        return FakeEngine(self)


def running(name='mindie', labels=None, cid='c0ffee0123456789', cwd=None, status='running'):
    """A FakeContainer as `docker inspect` shows a (running) container."""
    return FakeContainer(name, {
        'Id': cid, 'Name': '/' + name, 'RestartCount': 0, 'Image': 'sha256:1',
        'State': {'Running': status == 'running', 'Restarting': False, 'Status': status, 'ExitCode': 0,
                  'OOMKilled': False, 'StartedAt': '2026-01-01T10:00:00Z'},
        'Config': {'Image': 'mindie:1.0.0', 'Labels': labels},
        'HostConfig': {'NetworkMode': 'host'}}, cwd=cwd)


def install(monkeypatch, sdk):
    """Make module_utils.mindie_docker use ``sdk`` (a FakeSDK), or find no SDK at all when it is None."""
    if sdk is None:
        monkeypatch.setattr(mindie_docker, 'HAS_DOCKER', False)
        monkeypatch.setattr(mindie_docker, 'DOCKER_IMPORT_ERROR', 'ModuleNotFoundError: No module named docker')
        return None
    monkeypatch.setattr(mindie_docker, 'HAS_DOCKER', True)
    monkeypatch.setattr(mindie_docker, 'docker', sdk, raising=False)
    return sdk
