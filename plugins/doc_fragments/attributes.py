# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes shared by the collection's modules that run on a node without a diff.

    Use it after ansible.builtin.action_common_attributes, which describes the attributes.
    """

    DOCUMENTATION = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

    # An action plugin that runs on the controller only (no connection, no diff), for example
    # ascend.mindie.mindie_report. Use it after ansible.builtin.action_common_attributes and
    # ansible.builtin.action_common_attributes.flow.
    CONTROLLER = r'''
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
'''
