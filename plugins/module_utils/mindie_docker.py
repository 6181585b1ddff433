# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one way to reach Docker: a small client over the Docker SDK for Python.

Private to this collection, and the only file of it that imports the SDK. In community.docker's
pattern the client never ends the module: every failure - the SDK missing included - leaves as a
MindieDockerError whose ``kind`` says what went wrong and whose message a user can act on, and the
module decides (fail_json, or a finding of mindie_diagnose / a check of mindie_precheck).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_text

try:
    import docker
    from docker.errors import DockerException, NotFound
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # pylint: disable=function-redefined
        pass

    class NotFound(DockerException):  # pylint: disable=function-redefined
        pass

# A Docker container name as the modules accept it (refused before Docker is asked).
CONTAINER_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*\Z')
# The name of an environment variable a module passes into the container (its env option).
ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')

# The environment scripts of a MindIE image, in the order they must be sourced. Pure
# inference (atb-models' run_pa.sh) needs the first three, MindIE Service all four.
SET_ENV_SCRIPTS = (
    '/usr/local/Ascend/ascend-toolkit/set_env.sh',
    '/usr/local/Ascend/nnal/atb/set_env.sh',
    '/usr/local/Ascend/atb-models/set_env.sh',
    '/usr/local/Ascend/mindie/set_env.sh',
)

DEFAULT_SOCKET = '/var/run/docker.sock'

# MindieDockerError.kind
SDK_MISSING = 'sdk_missing'      # the Docker SDK for Python cannot be imported
NO_ENGINE = 'no_engine'          # no engine socket where the client looks (Docker not installed, or not there)
ENGINE_DOWN = 'engine_down'      # the engine does not answer
NOT_FOUND = 'not_found'          # the container (or image) does not exist
API = 'api'                      # any other failure of a call


class MindieDockerError(Exception):
    """A Docker failure, with a message fit for the user and its ``kind`` (SDK_MISSING, NO_ENGINE, ...).

    ``exception`` is the traceback text to pass to fail_json (the import error when the SDK is missing).
    """

    def __init__(self, msg, kind=API, exception=None):
        super(MindieDockerError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.exception = exception

    def fail_kwargs(self):
        """What fail_json needs: ``msg`` and, when known, ``exception``."""
        kwargs = {'msg': self.msg}
        if self.exception:
            kwargs['exception'] = self.exception
        return kwargs


def sdk_version():
    """The version of the importable Docker SDK for Python, or None when it cannot be imported."""
    if not HAS_DOCKER:
        return None
    return getattr(docker, '__version__', None) or 'unknown'


def sdk_missing_error():
    """The MindieDockerError of a missing SDK (missing_required_lib's text, the import traceback)."""
    return MindieDockerError(missing_required_lib('docker'), kind=SDK_MISSING, exception=DOCKER_IMPORT_ERROR)


def _text(data):
    if data is None:
        return u''
    return to_text(data, errors='replace')      # lone surrogates would make the module's JSON result undeliverable


def _engine_socket(docker_host):
    """The unix socket path the client will use (from ``docker_host`` or E(DOCKER_HOST)), or None for tcp:// etc."""
    url = docker_host or os.environ.get('DOCKER_HOST') or 'unix://' + DEFAULT_SOCKET
    if url.startswith('unix://'):
        return url[len('unix://'):] or DEFAULT_SOCKET
    return None


class MindieDockerClient(object):
    """Talks to the Docker engine and, when ``container`` is given, to that one container.

    Connects (and pings) at construction. Raises MindieDockerError: SDK_MISSING without the SDK,
    NO_ENGINE when the engine's unix socket does not exist, ENGINE_DOWN when the engine does not answer.
    """

    def __init__(self, container=None, docker_host=None, timeout=60):
        self.container_name = container
        self.docker_host = docker_host
        self._container = None
        if not HAS_DOCKER:
            raise sdk_missing_error()
        where = ' at %s' % docker_host if docker_host else ''
        try:
            if docker_host:
                self.client = docker.DockerClient(base_url=docker_host, timeout=timeout)
            else:
                self.client = docker.from_env(timeout=timeout)
            self.client.ping()
        except DockerException as exc:
            sock = _engine_socket(docker_host)
            if sock and not os.path.exists(sock):
                raise MindieDockerError('No Docker engine%s: %s does not exist (is Docker installed and its service '
                                        'started?)' % (where, sock), kind=NO_ENGINE)
            raise MindieDockerError('Cannot talk to the Docker engine%s: %s' % (where, exc), kind=ENGINE_DOWN)

    # ------------------------------------------------------------------ engine
    def engine_version(self):
        """The engine's version string (C(docker version)'s Server.Version)."""
        try:
            return self.client.version().get('Version')
        except DockerException as exc:
            raise MindieDockerError('Cannot ask the Docker engine for its version: %s' % exc, kind=ENGINE_DOWN)

    def containers(self):
        """All containers, running or not (C(docker ps -a)): {'id' (full), 'name', 'labels' (dict or None),
        'image', 'status', 'created', 'short_id'} of each."""
        try:
            containers = self.client.containers.list(all=True)
        except DockerException as exc:
            raise MindieDockerError('Cannot list the containers: %s' % exc)
        rows = []
        for item in containers:
            attrs = item.attrs
            labels = (attrs.get('Config') or {}).get('Labels')
            rows.append({'id': attrs.get('Id'), 'short_id': item.short_id, 'name': item.name,
                         'labels': labels if isinstance(labels, dict) else None,
                         'image': (attrs.get('Config') or {}).get('Image'),
                         'status': (attrs.get('State') or {}).get('Status'), 'created': attrs.get('Created')})
        return rows

    def ps_all(self):
        """All containers, running or not (C(docker ps -a)): ID, Names, Image, Status, Created of each."""
        return [{'ID': row['short_id'], 'Names': row['name'], 'Image': row['image'], 'Status': row['status'],
                 'Created': row['created']} for row in self.containers()]

    def inspect_image(self, ref):
        """C(docker image inspect) of ``ref``; None when there is no such image."""
        try:
            return self.client.images.get(ref).attrs
        except NotFound:
            return None
        except DockerException as exc:
            raise MindieDockerError('Cannot inspect image %s: %s' % (ref, exc))

    # ------------------------------------------------------------------ container
    def container(self, reload=False):
        """The container object; raises MindieDockerError (NOT_FOUND) when it does not exist."""
        if self._container is None or reload:
            try:
                self._container = self.client.containers.get(self.container_name)
            except NotFound:
                raise MindieDockerError('Container %s does not exist.' % self.container_name, kind=NOT_FOUND)
            except DockerException as exc:
                raise MindieDockerError('Cannot inspect container %s: %s' % (self.container_name, exc))
        return self._container

    def inspect_container(self):
        """C(docker container inspect) of the container (never an image of that name); None when it does not exist."""
        try:
            return self.container(reload=True).attrs
        except MindieDockerError as exc:
            if exc.kind == NOT_FOUND:
                return None
            raise

    def state(self):
        """Running flag, status, restart count and StartedAt of the container."""
        attrs = self.container(reload=True).attrs
        state = attrs.get('State') or {}
        return {
            'id': attrs.get('Id'),
            'running': bool(state.get('Running')),
            'status': state.get('Status'),
            'restart_count': attrs.get('RestartCount', 0),
            'started_at': state.get('StartedAt'),
            'network_mode': (attrs.get('HostConfig') or {}).get('NetworkMode'),
        }

    def require_running(self):
        """Return state(); raise MindieDockerError unless the container runs."""
        state = self.state()
        if not state['running']:
            raise MindieDockerError('Container %s is not running (status: %s); start the container first.'
                                    % (self.container_name, state['status']))
        return state

    # ------------------------------------------------------------------ exec
    def exec_run(self, cmd, environment=None, workdir=None, user=None):
        """Run ``cmd`` in the container and wait; return (exit code, stdout, stderr) as text."""
        try:
            result = self.container().exec_run(cmd, stdout=True, stderr=True, demux=True,
                                               environment=environment, workdir=workdir, user=user or '')
        except DockerException as exc:
            raise MindieDockerError('Cannot run %s in container %s: %s' % (cmd, self.container_name, exc))
        out, err = result.output if result.output is not None else (None, None)
        return result.exit_code, _text(out), _text(err)

    def exec_shell(self, script, environment=None, args=None):
        """Run a /bin/sh script; return (exit code, stdout, stderr).

        ``args`` become the script's positional parameters (``"$1"``, ``"$2"``, ...): pass every value
        that is not a constant of the collection that way (or shlex.quote it), never inside ``script``.
        """
        return self.exec_run(['/bin/sh', '-c', script, 'sh'] + [str(a) for a in args or ()], environment=environment)

    def exec_detached(self, cmd, environment=None, workdir=None, user=None):
        """Start ``cmd`` in the container without waiting for it (it outlives this client)."""
        try:
            self.container().exec_run(cmd, stdout=False, stderr=False, detach=True,
                                      environment=environment, workdir=workdir, user=user or '')
        except DockerException as exc:
            raise MindieDockerError('Cannot start %s in container %s: %s' % (cmd, self.container_name, exc))

    def env(self):
        """The container's environment (Config.Env) as a dict."""
        items = (self.container(reload=True).attrs.get('Config') or {}).get('Env') or []
        return dict(item.split('=', 1) for item in items if '=' in item)

    def kill(self, signal_name):
        """Send ``signal_name`` (C(SIGHUP), ...) to the container's main process, from inside the container
        (C(kill -HUP 1); an init as PID 1, docker --init, forwards it to its child).

        Not C(docker kill -s): Docker 20.10 and older mark a container killed that way, whatever the signal, as
        stopped by hand, so the C(unless-stopped) restart policy no longer brings it back after an engine restart
        or a reboot.
        """
        name = signal_name[3:] if str(signal_name).upper().startswith('SIG') else str(signal_name)
        rc, dummy, err = self.exec_run(['sh', '-c', 'kill -s "$0" 1', name.upper()])     # the shell's own kill
        if rc != 0:
            raise MindieDockerError('Cannot send %s to the main process of container %s: %s'
                                    % (signal_name, self.container_name, (err or '').strip() or 'kill exited %s' % rc))

    def read_file(self, path):
        """Content of a file in the container as text, or None when it does not exist."""
        rc, out, err = self.exec_run(['cat', '--', path])
        if rc == 0:
            return out
        if 'No such file' in err:
            return None
        raise MindieDockerError('Cannot read %s in container %s: %s' % (path, self.container_name, err.strip()))
