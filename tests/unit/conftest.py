# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the collection importable in unit tests.

The repository root is the collection root, but modules import
``ansible_collections.ascend.mindie.plugins...``. Unless the repository already sits at
``.../ansible_collections/ascend/mindie`` (as under ``ansible-test``), a temporary
``ansible_collections/ascend/mindie`` symlink to the repository root is made once per
session and its parent put first on ``sys.path``. The repository root is also put on
``sys.path`` so ``plugins.module_utils...`` imports work.

Module tests import the module under test as
``ansible_collections.ascend.mindie.plugins.modules.<name>``, so its own module_utils
imports resolve to the same objects.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import atexit
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_parent():
    parts = REPO_ROOT.split(os.sep)
    if len(parts) >= 3 and parts[-3:-1] == ['ansible_collections', 'ascend'] and parts[-1] == 'mindie':
        return os.sep.join(parts[:-3])
    base = tempfile.mkdtemp(prefix='ascend-mindie-collections-')
    atexit.register(shutil.rmtree, base, True)
    namespace = os.path.join(base, 'ansible_collections', 'ascend')
    os.makedirs(namespace)
    os.symlink(REPO_ROOT, os.path.join(namespace, 'mindie'))
    return base


if not any(os.path.isdir(os.path.join(p, 'ansible_collections', 'ascend', 'mindie')) for p in sys.path if p):
    sys.path.insert(0, _collection_parent())
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def pytest_sessionfinish(session, exitstatus):
    """With ASCEND_MINDIE_NO_SKIPS=1 (``make units``) a skipped unit test fails the run.

    tests/unit needs no Docker engine and nothing else this machine may lack; a test that needs
    more belongs in tests/integration (``make integration``), where it fails instead of skipping.
    """
    if os.environ.get('ASCEND_MINDIE_NO_SKIPS') != '1' or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    skipped = reporter.stats.get('skipped', []) if reporter else []
    if skipped:
        reporter.ensure_newline()
        reporter.write_line('%d unit test(s) skipped; tests/unit must skip nothing (see -rs above): move a test that '
                            'needs an engine to tests/integration' % len(skipped), red=True)
        session.exitstatus = 1
