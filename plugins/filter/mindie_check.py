# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_check: one check in the collection's shape (module_utils/checks.py), for roles."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ascend.mindie.plugins.module_utils.checks import CheckError, make


def mindie_check(check_id, category, status, message, hint='', guide_section='', details=None):
    """``'unreachable' | ascend.mindie.mindie_check('host', 'fail', 'the node failed ...', 'See ...')``."""
    try:
        return make(to_text(check_id), to_text(category), to_text(status), to_text(message),
                    to_text(hint or ''), to_text(guide_section or ''), details)
    except CheckError as exc:
        raise AnsibleFilterError('ascend.mindie.mindie_check: %s' % to_text(exc))


class FilterModule(object):
    """ascend.mindie filters."""

    def filters(self):
        return {'mindie_check': mindie_check}
