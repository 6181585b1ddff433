# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests: they need this machine's Docker engine and the sandbox images (``make integration``).

tests/unit runs with no engine and skips nothing; what needs an engine lives here and fails, not skips,
when none answers. The collection is made importable exactly as for the unit tests (the same
conftest code, loaded from tests/unit/conftest.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os

_UNIT_CONFTEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'unit', 'conftest.py')
_SPEC = importlib.util.spec_from_file_location('ascend_mindie_unit_conftest', _UNIT_CONFTEST)
_SPEC.loader.exec_module(importlib.util.module_from_spec(_SPEC))
