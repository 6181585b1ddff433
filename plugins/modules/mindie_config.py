#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_config
short_description: Merge settings into a MindIE Service config.json and validate the result before writing
description:
  - Deep-merges O(settings) into the existing MindIE Service C(config.json) and keeps every key the settings do not
    name exactly as it was, in the same order (new keys are appended). Dicts merge key by key; a list of objects
    (C(ModelConfig)) merges element by element, extra elements being appended; lists of scalars and nested lists
    (C(npuDeviceIds)) are replaced.
  - "Validates the merged result with the rules MindIE applies before anything is written: ports in [1024, 65535];
    C(ipAddress)/C(managementIpAddress) C(0.0.0.0) only with C(allowAllZeroIpListening); C(modelInstanceNumber)
    equal to the number of C(npuDeviceIds) groups and each group of C(worldSize) NPUs; C(maxPrefillTokens) >=
    C(maxInputTokenLen); C(maxInputTokenLen) <= C(maxSeqLen); C(maxPrefillBatchSize) <= C(maxBatchSize) (0 allowed);
    C(maxBatchSize) in [1, 819200]; C(maxLinkNum) in [1, 4096]; C(cacheBlockSize) in [1, 128]; C(modelName)
    pattern; C(npuMemSize) -1 or positive, and not -1 for a multimodal (vision-language) model."
  - Keys of O(settings) that are neither in the file at that place nor known MindIE keys (1.0.RC3, 1.0.0, 2.x) are
    refused with the closest known key as a suggestion, unless O(allow_unknown_keys).
  - All problems are reported together in one failure, and the file is left untouched.
  - The file is written atomically (temporary file in the same directory, fsync, rename), with 4-space indentation.
    A file whose parsed content already matches is not rewritten, even when its formatting differs.
  - A file with C(//) or C(/* */) comments (as in the deployment guide's example) is refused, since it is not JSON.
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the file's content as pretty-printed JSON before and after.
  platform:
    platforms: posix
options:
  path:
    description: The C(config.json) to update, for example C(/usr/local/Ascend/mindie/latest/mindie-service/conf/config.json).
    type: path
    required: true
  settings:
    description:
      - "The keys to set, as nested dicts mirroring the file, for example C({ServerConfig: {port: 1040}})."
      - "A list of objects merges element by element, so
        C({BackendConfig: {ModelDeployConfig: {ModelConfig: [{worldSize: 8}]}}}) changes only the first model's
        C(worldSize)."
    type: dict
    default: {}
  src:
    description:
      - A JSON file on the managed node to start from when O(path) does not exist (for example the C(config.json)
        shipped with MindIE). Ignored when O(path) exists.
    type: path
  backup:
    description: Keep a timestamped copy of the original file before changing its content.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the file. MindIE refuses a C(config.json) looser than C(0640).
      - Use a quoted octal string such as C('0640').
    type: raw
    default: '0640'
  owner:
    description:
      - Owner of the file; MindIE requires the user running the daemon. When not given, a rewritten file keeps
        its previous owner (when this is permitted).
    type: str
  group:
    description: Group of the file. When not given, a rewritten file keeps its previous group (when this is permitted).
    type: str
  allow_unknown_keys:
    description: Accept keys in O(settings) that are not known MindIE config keys (for a newer MindIE release).
    type: bool
    default: false
  multimodal:
    description:
      - Force the multimodal rule (C(npuMemSize) must not be -1) on or off for every model.
      - When not given, a model is multimodal when its C(modelName) or C(modelWeightPath) names a vision-language
        model (C(qwen2_vl), C(Qwen2-VL), C(qwen-vl), C(InternVL), C(LLaVA), a C(_vl)/C(-vl) token, ...).
    type: bool
notes:
  - O(path) must hold a JSON object; a parse error is reported with its line and column.
  - When O(path) is a symbolic link, the file it points to is updated and the link is kept.
seealso:
  - module: ascend.mindie.mindie_precheck
'''

EXAMPLES = r'''
- name: Configure MindIE for Qwen2-VL-7B-Instruct on 8 NPUs
  ascend.mindie.mindie_config:
    path: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
    backup: true
    settings:
      ServerConfig:
        port: 1040
        managementPort: 1041
        metricsPort: 1042
        httpsEnabled: false
      BackendConfig:
        npuDeviceIds: [[0, 1, 2, 3, 4, 5, 6, 7]]
        ModelDeployConfig:
          maxSeqLen: 50000
          maxInputTokenLen: 50000
          ModelConfig:
            - modelName: qwen2_vl
              modelWeightPath: /data/Qwen2-VL-7B-Instruct
              worldSize: 8
              npuMemSize: 8
        ScheduleConfig:
          maxPrefillTokens: 50000
          maxBatchSize: 32
          maxPrefillBatchSize: 32

- name: Write a config outside the installation, starting from the shipped one
  ascend.mindie.mindie_config:
    path: /etc/mindie/qwen2-vl.json
    src: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json
    owner: mindie
    group: mindie
    settings:
      ServerConfig: {port: 1040}
'''

RETURN = r'''
config:
  description: The resulting configuration (what the file holds, or would hold in check mode).
  type: dict
  returned: success
  sample: {Version: 1.0.0, ServerConfig: {port: 1040}}
backup_file:
  description: The backup of the original file.
  type: str
  returned: when O(backup) is true and the content changed
  sample: /usr/local/Ascend/mindie/latest/mindie-service/conf/config.json.12345.2026-01-01@00:00:00~
violations:
  description: Every unknown key and every broken rule, one line each, naming the key by its dotted path.
  type: list
  elements: str
  returned: failure
  sample:
    - "`BackendConfig.ScheduleConfig.maxBatchsize`: unknown key; did you mean `maxBatchSize`?"
    - "`ServerConfig.port`: must be in [1024, 65535], got 80"
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema as schema


class MindieConfigManager(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        # a symlinked config.json is updated where it points to, the link itself stays
        self.path = os.path.realpath(self.params['path'])

    def read(self, path, what):
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            self.module.fail_json(msg='Cannot read {0} {1}: {2}'.format(what, path, to_native(exc)))
        try:
            text = to_text(data, errors='surrogate_or_strict')
        except UnicodeError:
            self.module.fail_json(msg='{0} {1} is not UTF-8 text; MindIE reads config.json as UTF-8 JSON.'.format(
                what, path))
        try:
            return schema.load_config_text(text, source=path)
        except schema.ConfigParseError as exc:
            self.module.fail_json(msg=to_native(exc))

    def load_existing(self):
        """(parsed document, exists)."""
        if os.path.isdir(self.path):
            self.module.fail_json(msg='path {0} is a directory; give the config.json file itself.'.format(self.path))
        if os.path.exists(self.path):
            return self.read(self.path, 'config file'), True
        src = self.params['src']
        if not src:
            self.module.fail_json(msg='{0} does not exist. Pass src (a config.json on the node to start from, such as '
                                      'the one shipped in mindie-service/conf/) to create it.'.format(self.path))
        if not os.path.isfile(src):
            self.module.fail_json(msg='{0} does not exist, and neither does src {1}. Check both paths.'.format(
                self.path, src))
        if not os.path.isdir(os.path.dirname(os.path.abspath(self.path))):
            self.module.fail_json(msg='The directory of {0} does not exist; create it first.'.format(self.path))
        return self.read(src, 'src file'), False

    def write(self, text, existed):
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix='.{0}.'.format(os.path.basename(self.path)), suffix='.tmp', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(to_bytes(text, errors='surrogate_or_strict'))
                handle.flush()
                os.fsync(handle.fileno())
            if existed:
                before = os.stat(self.path)
                try:
                    os.chown(tmp, before.st_uid, before.st_gid)
                except OSError:
                    pass
            self.module.set_mode_if_different(tmp, self.params['mode'], False)
            self.module.set_owner_if_different(tmp, self.params['owner'], False)
            self.module.set_group_if_different(tmp, self.params['group'], False)
            os.rename(tmp, self.path)
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass

    def fix_attributes(self):
        changed = self.module.set_mode_if_different(self.path, self.params['mode'], False)
        changed = self.module.set_owner_if_different(self.path, self.params['owner'], changed)
        return self.module.set_group_if_different(self.path, self.params['group'], changed)

    def attributes_differ(self):
        """True when mode/owner/group of the existing file would change (checked without changing anything)."""
        saved = self.module.check_mode
        self.module.check_mode = True
        try:
            return self.fix_attributes()
        finally:
            self.module.check_mode = saved

    def run(self):
        existing, existed = self.load_existing()
        merged, problems = schema.merge_and_check(existing, self.params['settings'],
                                                  allow_unknown_keys=self.params['allow_unknown_keys'],
                                                  multimodal=self.params['multimodal'])
        if problems:
            self.module.fail_json(
                msg='{0}: {1} problem(s), nothing was written:\n{2}'.format(
                    self.path, len(problems), '\n'.join('- ' + item for item in problems)),
                violations=problems)

        before_text = schema.dump_config(existing) if existed else ''
        after_text = schema.dump_config(merged)
        content_changed = before_text != after_text
        result = dict(changed=False, config=merged)
        if content_changed:
            result['changed'] = True
            if not self.module.check_mode:
                if existed and self.params['backup']:
                    result['backup_file'] = self.module.backup_local(self.path)
                self.write(after_text, existed)
        elif self.module.check_mode:
            result['changed'] = self.attributes_differ()
        else:
            result['changed'] = self.fix_attributes()
        if self.module._diff:
            result['diff'] = dict(before=before_text, after=after_text,
                                  before_header=self.path, after_header=self.path)
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            settings=dict(type='dict', default={}),
            src=dict(type='path'),
            backup=dict(type='bool', default=False),
            mode=dict(type='raw', default='0640'),
            owner=dict(type='str'),
            group=dict(type='str'),
            allow_unknown_keys=dict(type='bool', default=False),
            multimodal=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**MindieConfigManager(module).run())


if __name__ == '__main__':
    main()
