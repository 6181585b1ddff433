# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small client over the Docker SDK for the modules that act inside a MindIE container.

Private to this collection. Every Docker error leaves as a MindieDockerError with a message a
user can act on; the modules turn it into fail_json().
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import traceback

# The environment scripts of a MindIE image, in the order they must be sourced. Pure
# inference (atb-models' run_pa.sh) needs the first three, MindIE Service all four.
# A Docker container name as the modules accept it (refused before Docker is asked).
CONTAINER_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*\Z')

SET_ENV_SCRIPTS = (
    '/usr/local/Ascend/ascend-toolkit/set_env.sh',
    '/usr/local/Ascend/nnal/atb/set_env.sh',
    '/usr/local/Ascend/atb-models/set_env.sh',
    '/usr/local/Ascend/mindie/set_env.sh',
)

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


class MindieDockerError(Exception):
    """A Docker failure, with a message fit for the user."""


def _text(data):
    if data is None:
        return u''
    return to_text(data, errors='replace')      # lone surrogates would make the module's JSON result undeliverable


class MindieDockerClient(object):
    """Talks to one container through the Docker engine API.

    ``module`` is only used to fail cleanly when the Docker SDK is missing or the engine does not answer.
    """

    def __init__(self, module, container, docker_host=None, timeout=60):
        self.module = module
        self.container_name = container
        if not HAS_DOCKER:
            module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
        try:
            if docker_host:
                self.client = docker.DockerClient(base_url=docker_host, timeout=timeout)
            else:
                self.client = docker.from_env(timeout=timeout)
            self.client.ping()
        except DockerException as exc:
            module.fail_json(msg='Cannot talk to the Docker engine%s: %s'
                             % (' at %s' % docker_host if docker_host else '', exc))
        self._container = None

    # ------------------------------------------------------------------ container
    def container(self, reload=False):
        """The container object; raises MindieDockerError when it does not exist."""
        if self._container is None or reload:
            try:
                self._container = self.client.containers.get(self.container_name)
            except NotFound:
                raise MindieDockerError('Container %s does not exist.' % self.container_name)
            except DockerException as exc:
                raise MindieDockerError('Cannot inspect container %s: %s' % (self.container_name, exc))
        return self._container

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

    def read_file(self, path):
        """Content of a file in the container as text, or None when it does not exist."""
        rc, out, err = self.exec_run(['cat', '--', path])
        if rc == 0:
            return out
        if 'No such file' in err:
            return None
        raise MindieDockerError('Cannot read %s in container %s: %s' % (path, self.container_name, err.strip()))
