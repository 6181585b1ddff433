# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape shared by the modules that act inside one MindIE container (mindie_service, mindie_inference).

community.docker's pattern: the module validates its options, main() builds the client and a manager, the
manager does the work and raises MindieDockerError (or calls fail()), and main() turns that into fail_json with
what the manager had found so far.

Public API:
  ContainerManager(module, client)        base class: module, client, p (the params), result, fail()
  run_container_manager(module, manager_class, connect)   the body of such a module's main() after its checks
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerError


class ContainerManager(object):
    """A module's work in one container, through a MindieDockerClient. Subclasses set ``result`` and define run()."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.result = {'changed': False}

    def fail(self, msg, **kwargs):
        """fail_json with everything in ``result`` so far, overridden by ``kwargs``."""
        result = dict(self.result)
        result.update(kwargs)
        self.module.fail_json(msg=msg, **result)

    def run(self):
        """Abstract: the module's work (each module's manager defines it and returns ``result``)."""
        raise NotImplementedError('%s must define run()' % type(self).__name__)


def run_container_manager(module, manager_class, connect):
    """Build the client (``connect()``, a MindieDockerClient), run ``manager_class(module, client).run()``, exit.

    A client that cannot be built (no SDK, no engine) fails with its own message before anything is done; a
    MindieDockerError during the run fails with the manager's result so far.
    """
    try:
        client = connect()
    except MindieDockerError as exc:
        module.fail_json(**exc.fail_kwargs())
    manager = manager_class(module, client)
    try:
        result = manager.run()
    except MindieDockerError as exc:
        module.fail_json(msg=str(exc), **manager.result)
    module.exit_json(**result)
