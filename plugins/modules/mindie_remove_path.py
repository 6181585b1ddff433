#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_remove_path
short_description: Delete a MindIE data directory (weights, config) only when it is safe to
description:
  - Deletes O(path) (a directory with everything in it, or a file) on the node, after checking on the node that
    it is one of ours. It is what the teardown playbook uses for every delete that takes its path from a variable.
  - The real path is resolved on the node first (symlinks, C(.), C(..), C(//)). Refused, before anything is
    deleted, with a message that says why and what to do.
  - "Refused: a relative path or one with control characters; the root, the system directories (C(/bin),
    C(/boot), C(/dev), C(/etc), C(/home), C(/lib*), C(/opt), C(/proc), C(/root), C(/run), C(/sbin), C(/srv),
    C(/sys), C(/tmp), C(/usr), C(/usr/local), C(/var), C(/var/lib), C(/var/lib/docker), ...) and every directory
    that contains one of them (C(/data/..) is C(/)); anything inside C(/usr), C(/proc), C(/sys), C(/dev),
    C(/boot), C(/run), C(/var/lib/docker) and the like."
  - Refused too is anything that is not strictly below one of O(allowed_roots) (a root itself is never deleted)
    and not one of O(allowed_paths); an allowed root or path that is a system directory; a path that is a
    symlink or that goes through a symlink leading out of its allowed root; a path with a component before the
    last that is not a directory (C(model/f/..) with C(f) a file), or a missing component followed by C(..);
    a path that is or contains a mount point, bind mounts from the same file system included (read from
    C(/proc/self/mountinfo); where it cannot be read, only mount points on another device are seen).
  - A path that does not exist is reported unchanged (after the same checks, so a bad value is refused even then).
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs every check and reports whether the path would be deleted, without deleting it.
  diff_mode:
    support: full
    details: The diff shows the path's state (V(directory), V(file)) before and V(absent) after.
  platform:
    platforms: posix
options:
  path:
    description:
      - The directory or file to delete, an absolute path on the node.
    type: str
    required: true
  allowed_roots:
    description:
      - Data directories below which deleting is allowed; O(path) must resolve to something strictly below one of
        them. A system directory (for example C(/), C(/home) or C(/var/lib)) is refused as a root.
    type: list
    elements: str
    default: [/data]
  allowed_paths:
    description:
      - Paths that may be deleted themselves even though they are not below an allowed root, for example the
        config directory C(/etc/mindie). A system directory is refused here too.
    type: list
    elements: str
    default: []
seealso:
  - module: ansible.builtin.file
'''

EXAMPLES = r'''
- name: Check, before anything is torn down, that the weights may be deleted
  ascend.mindie.mindie_remove_path:
    path: /data/Qwen2-VL-7B-Instruct
    allowed_roots: [/data]
  check_mode: true
  changed_when: false

- name: Delete the weights
  ascend.mindie.mindie_remove_path:
    path: /data/Qwen2-VL-7B-Instruct
    allowed_roots: [/data]

- name: Delete the config directory
  ascend.mindie.mindie_remove_path:
    path: /etc/mindie
    allowed_roots: [/data]
    allowed_paths: [/etc/mindie]
'''

RETURN = r'''
path:
  description: O(path), normalised (C(//) and C(.) removed).
  returned: always
  type: str
  sample: /data/Qwen2-VL-7B-Instruct
real_path:
  description: The path resolved on the node; this is what is (or would be) deleted.
  returned: when the path was accepted
  type: str
  sample: /data/Qwen2-VL-7B-Instruct
state:
  description: What the path was before the module ran, V(directory), V(file), V(special) or V(absent).
  returned: when the path was accepted
  type: str
  sample: directory
root:
  description: The allowed root (or allowed path) the path matched.
  returned: when the path was accepted
  type: str
  sample: /data
'''

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ascend.mindie.plugins.module_utils.safe_remove import RemovalRefused, check_removal


class MindieRemovePath(object):
    """Checks one path with module_utils.safe_remove, then deletes it (not in check mode)."""

    def __init__(self, module):
        self.module = module
        self.p = module.params

    def run(self):
        try:
            decision = check_removal(self.p['path'], self.p['allowed_roots'], self.p['allowed_paths'])
        except RemovalRefused as exc:
            self.module.fail_json(msg=str(exc), path=self.p['path'])
        result = dict(decision, changed=decision['state'] != 'absent')
        if result['changed'] and self.module._diff:
            result['diff'] = {'before': {'path': decision['real_path'], 'state': decision['state']},
                              'after': {'path': decision['real_path'], 'state': 'absent'}}
        if not result['changed'] or self.module.check_mode:
            return result
        real = decision['real_path']
        errors = []
        try:
            if decision['state'] == 'directory':
                shutil.rmtree(real, onerror=lambda func, name, exc: errors.append('%s: %s' % (name, exc[1])))
            else:
                os.unlink(real)
        except OSError as exc:
            errors.append('%s: %s' % (real, exc))
        if errors or os.path.lexists(real):
            self.module.fail_json(msg='Could not delete all of %s (part of it may be gone): %s'
                                  % (real, '; '.join(errors[:5]) or 'it is still there'), **result)
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='str', required=True),
            allowed_roots=dict(type='list', elements='str', default=['/data']),
            allowed_paths=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**MindieRemovePath(module).run())


if __name__ == '__main__':
    main()
