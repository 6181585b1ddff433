# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the mocked manager tests (test_<module>_manager.py): a real AnsibleModule, no main() run.

``build_module(monkeypatch, mod, args)`` runs ``mod.main()`` only up to the construction of its AnsibleModule, so
the module's own argument_spec validates ``args`` and fills in the defaults, then returns that module with
``exit_json``/``fail_json``/``warn`` recorded: the test hands it to the manager class with mocked collaborators.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.module_utils.testing import patch_module_args


class Exited(Exception):
    """exit_json was called; ``result`` is what it was given."""

    def __init__(self, result):
        Exception.__init__(self, result)
        self.result = result


class Failed(Exception):
    """fail_json was called; ``result`` is what it was given (with failed=True)."""

    def __init__(self, result):
        Exception.__init__(self, result)
        self.result = result


class _Built(Exception):
    pass


def build_module(monkeypatch, mod, args, check_mode=False, diff=False):
    """The AnsibleModule that ``mod.main()`` builds from ``args``; main() goes no further."""
    real = mod.AnsibleModule
    built = []

    class Capture(real):
        def __init__(self, *a, **kw):
            real.__init__(self, *a, **kw)
            built.append(self)
            raise _Built()

    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    monkeypatch.setattr(mod, 'AnsibleModule', Capture)
    try:
        with patch_module_args(args):
            with pytest.raises(_Built):
                mod.main()
    finally:
        monkeypatch.setattr(mod, 'AnsibleModule', real)
    module = built[0]
    module.warnings_seen = []

    def exit_json(**kwargs):
        raise Exited(kwargs)

    def fail_json(**kwargs):
        kwargs['failed'] = True
        raise Failed(kwargs)

    module.exit_json = exit_json
    module.fail_json = fail_json
    module.warn = module.warnings_seen.append
    return module


class Calls(object):
    """Records calls by name: ``calls.record('rmtree', path)``; ``calls.names()`` in order."""

    def __init__(self):
        self.log = []

    def record(self, name, *args):
        self.log.append((name,) + args)

    def names(self):
        return [c[0] for c in self.log]

    def of(self, name):
        return [c[1:] for c in self.log if c[0] == name]
