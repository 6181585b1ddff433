# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit tests' module fixtures (run_module: a module's main() in-process), for integration tests."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.tests.unit.plugins.modules.conftest import run_module

__all__ = ['run_module']
