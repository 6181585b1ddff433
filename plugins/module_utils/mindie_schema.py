# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindIE Service config.json: known keys, deep merge, validation and key suggestions, as pure functions.

Paths are dotted with list indices, for example ``BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize``.
Nothing here touches the file system except :func:`load_config_text`, which only parses text it is given.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import difflib
import json
import re

# Known keys per section, across MindIE 1.0.RC3, 1.0.0 and 2.x (service parameter docs and shipped
# config.json files). A section path uses ``[]`` for "any element of the list".
# ``None`` as a section's value means "its contents are not checked".
KNOWN_KEYS = {
    '': ('Version', 'LogConfig', 'ServerConfig', 'BackendConfig', 'HealthCheckConfig'),
    'LogConfig': (
        'logLevel', 'logFileSize', 'logFileNum', 'logPath',
        'dynamicLogLevel', 'dynamicLogLevelValidHours', 'dynamicLogLevelValidTime',
    ),
    'HealthCheckConfig': None,
    'ServerConfig': (
        'ipAddress', 'managementIpAddress', 'port', 'managementPort', 'metricsPort',
        'allowAllZeroIpListening', 'maxLinkNum', 'httpsEnabled', 'fullTextEnabled',
        'tlsCaPath', 'tlsCaFile', 'tlsCert', 'tlsPk', 'tlsPkPwd', 'tlsCrl', 'tlsCrlPath', 'tlsCrlFiles',
        'managementTlsCaFile', 'managementTlsCert', 'managementTlsPk', 'managementTlsPkPwd',
        'managementTlsCrl', 'managementTlsCrlPath', 'managementTlsCrlFiles',
        'metricsTlsCaFile', 'metricsTlsCert', 'metricsTlsPk', 'metricsTlsPkPwd',
        'metricsTlsCrlPath', 'metricsTlsCrlFiles',
        'kmcKsfMaster', 'kmcKsfStandby', 'inferMode',
        'interCommTLSEnabled', 'interCommPort', 'interCommTlsCaFile', 'interCommTlsCaPath', 'interCommTlsCaFiles',
        'interCommTlsCert', 'interCommPk', 'interCommPkPwd', 'interCommTlsCrl', 'interCommTlsCrlPath',
        'interCommTlsCrlFiles',
        'openAiSupport', 'tokenTimeout', 'e2eTimeout', 'maxRequestLength', 'distDPServerEnabled',
    ),
    'BackendConfig': (
        'backendName', 'modelInstanceNumber', 'npuDeviceIds', 'tokenizerProcessNumber',
        'multiNodesInferEnabled', 'multiNodesInferPort', 'interNodeTLSEnabled',
        'interNodeTlsCaFile', 'interNodeTlsCaPath', 'interNodeTlsCaFiles', 'interNodeTlsCert', 'interNodeTlsPk',
        'interNodeTlsPkPwd', 'interNodeTlsCrl', 'interNodeTlsCrlPath', 'interNodeTlsCrlFiles',
        'interNodeKmcKsfMaster', 'interNodeKmcKsfStandby',
        'ModelDeployConfig', 'ScheduleConfig',
    ),
    'BackendConfig.ModelDeployConfig': ('maxSeqLen', 'maxInputTokenLen', 'truncation', 'ModelConfig'),
    'BackendConfig.ModelDeployConfig.ModelConfig[]': (
        'modelInstanceType', 'modelName', 'modelWeightPath', 'worldSize', 'cpuMemSize', 'npuMemSize',
        'backendType', 'trustRemoteCode', 'async_scheduler_wait_time', 'kv_trans_timeout', 'kv_link_timeout',
    ),
    'BackendConfig.ScheduleConfig': (
        'templateType', 'templateName', 'cacheBlockSize', 'maxPrefillBatchSize', 'maxPrefillTokens',
        'prefillTimeMsPerReq', 'prefillPolicyType', 'decodeTimeMsPerReq', 'decodePolicyType', 'maxBatchSize',
        'maxIterTimes', 'maxPreemptCount', 'supportSelectBatch', 'maxQueueDelayMicroseconds',
        'maxFirstTokenWaitTime',
    ),
}

PORT_MIN, PORT_MAX = 1024, 65535
MODEL_NAME_RE = re.compile(r'^[a-zA-Z0-9_.-]{1,256}$')
# Names of vision-language models: qwen2_vl, Qwen2-VL, qwen-vl, qwen2.5-vl, InternVL, LLaVA, ..., or a
# separate "vl" token (``_vl``, ``-vl``, ``/vl``).
MULTIMODAL_RE = re.compile(
    r'qwen\d*(?:\.\d+)?[_-]?vl|internvl|llava|minicpm-?v|glm-?4v|cogvlm|(?:^|[^a-z0-9])vl(?:$|[^a-z])',
    re.IGNORECASE)

CONFIG_KEYS_HINT = 'see the MindIE Service parameter docs for the keys of this section'


class ConfigParseError(ValueError):
    """The text is not a JSON object; the message says where and why."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def join_path(parent, key):
    if isinstance(key, int):
        return '{0}[{1}]'.format(parent, key)
    return '{0}.{1}'.format(parent, key) if parent else key


def schema_path(path):
    """``BackendConfig.ModelDeployConfig.ModelConfig[1]`` -> ``BackendConfig.ModelDeployConfig.ModelConfig[]``."""
    return re.sub(r'\[\d+\]', '[]', path)


def find_comments(text):
    """(line, column) of every ``//`` or ``/*`` comment outside JSON strings, 1-based."""
    found = []
    in_string = escaped = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == '\\':
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == '/' and text[i + 1:i + 2] in ('/', '*'):
            found.append((text.count('\n', 0, i) + 1, i - text.rfind('\n', 0, i)))
            if text[i + 1] == '/':
                end = text.find('\n', i)
            else:
                end = text.find('*/', i + 2)
                end = end + 2 if end >= 0 else end
            if end < 0:
                break
            i = end
            continue
        i += 1
    return found


def load_config_text(text, source='config.json'):
    """Parse a MindIE config.json text into an (ordered) dict; raise ConfigParseError naming the place."""
    comments = find_comments(text)
    if comments:
        where = ', '.join('line {0} column {1}'.format(ln, cl) for ln, cl in comments[:10])
        more = ' and {0} more'.format(len(comments) - 10) if len(comments) > 10 else ''
        raise ConfigParseError(
            '{0} contains comments ({1}{2}): comments are not valid JSON and MindIE refuses the file. '
            'Remove the // and /* */ comments (the deployment guide\'s example has them) and retry.'.format(
                source, where, more))
    try:
        data = json.loads(text)
    except ValueError as exc:
        lineno = getattr(exc, 'lineno', None)
        if lineno is not None:
            raise ConfigParseError('{0} is not valid JSON: {1} at line {2} column {3}. Fix the file (or restore it '
                                   'from a backup) and retry.'.format(source, exc.msg, lineno, exc.colno))
        raise ConfigParseError('{0} is not valid JSON: {1}'.format(source, exc))
    if not isinstance(data, dict):
        raise ConfigParseError('{0} must hold a JSON object ({{...}}) at the top, found {1}.'.format(
            source, type(data).__name__))
    return data


def dump_config(data):
    """The text written to config.json: 4-space indentation, keys in order, UTF-8 kept, trailing newline."""
    return json.dumps(data, indent=4, ensure_ascii=False, separators=(',', ': ')) + '\n'


def _list_of_dicts(value):
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def deep_merge(base, override):
    """Merge ``override`` into a copy of ``base``.

    Dicts merge key by key (order of ``base`` kept, new keys appended); a non-empty list of objects merges
    element by element onto a list of objects (extra elements appended); anything else (scalars, lists of
    scalars, nested lists such as ``npuDeviceIds``, an empty list) is replaced.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict((key, copy.deepcopy(value)) for key, value in base.items())
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if override and _list_of_dicts(base) and _list_of_dicts(override):
        merged = [deep_merge(base[i], item) if i < len(base) else copy.deepcopy(item)
                  for i, item in enumerate(override)]
        return merged + [copy.deepcopy(item) for item in base[len(override):]]
    return copy.deepcopy(override)


def _all_known():
    """{lowercased key: [(section, key)]} over the whole schema."""
    index = {}
    for section, keys in KNOWN_KEYS.items():
        for key in keys or ():
            index.setdefault(key.lower(), []).append((section, key))
    return index


def suggest(key, candidates, cutoff=0.75):
    """The candidate closest to ``key`` (case-insensitive), or None."""
    lowered = dict((cand.lower(), cand) for cand in candidates)
    match = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[match[0]] if match else None


def _unknown_key_message(path, key, candidates):
    near = suggest(key, candidates)
    if near:
        return '`{0}`: unknown key; did you mean `{1}`?'.format(path, near)
    elsewhere = _all_known().get(key.lower())
    if elsewhere:
        where = ' or '.join('`{0}`'.format(sec or '(top level)') for sec, dummy in elsewhere)
        return '`{0}`: unknown key at this level; `{1}` belongs in {2}.'.format(path, elsewhere[0][1], where)
    return ('`{0}`: unknown key; no known MindIE release has it here. Remove it, or set allow_unknown_keys '
            'if your MindIE version really reads it.'.format(path))


def find_unknown_keys(settings, existing, path=''):
    """Messages for every key of ``settings`` that is neither in ``existing`` at that place nor in KNOWN_KEYS."""
    problems = []
    if not isinstance(settings, dict):
        return problems
    known = KNOWN_KEYS.get(schema_path(path), ())
    if known is None:
        return problems
    existing = existing if isinstance(existing, dict) else {}
    for key, value in settings.items():
        child = join_path(path, key)
        if key not in existing and key not in known:
            problems.append(_unknown_key_message(child, key, list(known) + list(existing)))
            continue
        base = existing.get(key)
        if isinstance(value, dict):
            problems += find_unknown_keys(value, base, child)
        elif _list_of_dicts(value) and value:
            base_list = base if isinstance(base, list) else []
            for index, item in enumerate(value):
                problems += find_unknown_keys(item, base_list[index] if index < len(base_list) else None,
                                              join_path(child, index))
    return problems


def is_multimodal(model):
    """True when a ModelConfig entry names a vision-language model (by modelName or modelWeightPath)."""
    for field in ('modelName', 'modelWeightPath'):
        value = model.get(field)
        if isinstance(value, str) and MULTIMODAL_RE.search(value):
            return True
    return False


class _Checker(object):
    def __init__(self, config):
        self.config = config
        self.violations = []

    def add(self, path, message):
        self.violations.append('`{0}`: {1}'.format(path, message))

    def section(self, path):
        node = self.config
        for part in path.split('.'):
            if not isinstance(node, dict):
                return {}
            node = node.get(part, {})
        if not isinstance(node, dict):
            self.add(path, 'must be a JSON object, got {0}'.format(json.dumps(node)))
            return {}
        return node

    def integer(self, section, path, key, low=None, high=None, extra=''):
        """The value when it is an integer within [low, high]; None (and a violation) otherwise or when absent."""
        if key not in section:
            return None
        value = section[key]
        where = join_path(path, key)
        if not _is_int(value):
            self.add(where, 'must be an integer{0}, got {1}'.format(self._range(low, high), json.dumps(value)))
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.add(where, 'must be in {0}, got {1}{2}'.format(self._range(low, high).strip(' in'), value, extra))
            return None
        return value

    @staticmethod
    def _range(low, high):
        if low is not None and high is not None:
            return ' in [{0}, {1}]'.format(low, high)
        if low is not None:
            return ' in [{0}, ...]'.format(low)
        return ''


def validate_config(config, multimodal=None):
    """Every rule MindIE applies that can be checked offline; returns a list of ``"`path`: rule"`` strings.

    ``multimodal``: True/False forces the "npuMemSize not -1" rule on/off for every model; None detects it
    from each model's name and weight path.
    """
    chk = _Checker(config)

    server = chk.section('ServerConfig')
    for key in ('port', 'managementPort', 'metricsPort', 'interCommPort'):
        chk.integer(server, 'ServerConfig', key, PORT_MIN, PORT_MAX)
    allow_zero = server.get('allowAllZeroIpListening') is True
    for key in ('ipAddress', 'managementIpAddress'):
        if server.get(key) == '0.0.0.0' and not allow_zero:
            chk.add(join_path('ServerConfig', key), 'is 0.0.0.0, which MindIE refuses unless '
                    '`ServerConfig.allowAllZeroIpListening` is true; bind a specific address or set it to true')
    chk.integer(server, 'ServerConfig', 'maxLinkNum', 1, 4096)

    backend = chk.section('BackendConfig')
    chk.integer(backend, 'BackendConfig', 'multiNodesInferPort', PORT_MIN, PORT_MAX)
    instances = chk.integer(backend, 'BackendConfig', 'modelInstanceNumber', 1)
    groups = None
    if 'npuDeviceIds' in backend:
        ids = backend['npuDeviceIds']
        if (isinstance(ids, list) and all(isinstance(g, list) and all(_is_int(d) and d >= 0 for d in g) for g in ids)
                and ids):
            groups = ids
        else:
            chk.add('BackendConfig.npuDeviceIds', 'must be a non-empty list of lists of logical NPU ids '
                    '(one list per model instance, e.g. [[0,1,2,3]]), got {0}'.format(json.dumps(ids)))
    if instances is not None and groups is not None and instances != len(groups):
        chk.add('BackendConfig.modelInstanceNumber', 'is {0} but `BackendConfig.npuDeviceIds` has {1} group(s); '
                'they must be equal (one NPU group per instance)'.format(instances, len(groups)))

    deploy_path = 'BackendConfig.ModelDeployConfig'
    deploy = chk.section(deploy_path)
    seq_len = chk.integer(deploy, deploy_path, 'maxSeqLen', 1)
    input_len = chk.integer(deploy, deploy_path, 'maxInputTokenLen', 1)
    if seq_len is not None and input_len is not None and input_len > seq_len:
        chk.add(join_path(deploy_path, 'maxInputTokenLen'), 'is {0}, larger than `{1}.maxSeqLen` ({2}); it must '
                'be <= maxSeqLen'.format(input_len, deploy_path, seq_len))

    models_path = join_path(deploy_path, 'ModelConfig')
    models = deploy.get('ModelConfig', [])
    if not _list_of_dicts(models):
        chk.add(models_path, 'must be a list of model objects, got {0}'.format(json.dumps(models)))
        models = []
    for index, model in enumerate(models):
        path = join_path(models_path, index)
        if 'modelName' in model:
            name = model['modelName']
            if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
                chk.add(join_path(path, 'modelName'), 'must match ^[a-zA-Z0-9_.-]{{1,256}}$ (letters, digits, '
                        '_ . -; at most 256), got {0}'.format(json.dumps(name)))
        world = chk.integer(model, path, 'worldSize', 1)
        if world is not None and groups is not None:
            for gindex, group in enumerate(groups):
                if len(group) != world:
                    chk.add(join_path('BackendConfig.npuDeviceIds', gindex),
                            'has {0} NPU(s) {1} but `{2}.worldSize` is {3}; each group must have worldSize '
                            'NPUs'.format(len(group), json.dumps(group), path, world))
        if 'npuMemSize' in model:
            mem = model['npuMemSize']
            where = join_path(path, 'npuMemSize')
            if not _is_int(mem) or (mem != -1 and mem <= 0):
                chk.add(where, 'must be -1 (auto) or a positive integer (GB of KV cache per NPU), got {0}'.format(
                    json.dumps(mem)))
            elif mem == -1 and (multimodal if multimodal is not None else is_multimodal(model)):
                chk.add(where, 'is -1 but the model is multimodal ({0}): MindIE needs HBM left for the vision '
                        'encoder, set a fixed size in GB (e.g. 8 for Qwen2-VL-7B on 8 NPUs)'.format(
                            json.dumps(model.get('modelName', model.get('modelWeightPath')))
                            if multimodal is None else 'multimodal: true'))

    sched_path = 'BackendConfig.ScheduleConfig'
    sched = chk.section(sched_path)
    batch = chk.integer(sched, sched_path, 'maxBatchSize', 1, 819200)
    prefill_batch = chk.integer(sched, sched_path, 'maxPrefillBatchSize', 0)
    if batch is not None and prefill_batch and prefill_batch > batch:
        chk.add(join_path(sched_path, 'maxPrefillBatchSize'), 'is {0}, larger than `{1}.maxBatchSize` ({2}); set it '
                '<= maxBatchSize, or 0 to use maxBatchSize'.format(prefill_batch, sched_path, batch))
    prefill_tokens = chk.integer(sched, sched_path, 'maxPrefillTokens', 1)
    if prefill_tokens is not None and input_len is not None and prefill_tokens < input_len:
        chk.add(join_path(sched_path, 'maxPrefillTokens'), 'is {0}, smaller than `{1}.maxInputTokenLen` ({2}); it '
                'must be >= maxInputTokenLen'.format(prefill_tokens, deploy_path, input_len))
    chk.integer(sched, sched_path, 'cacheBlockSize', 1, 128)
    return chk.violations


def merge_and_check(existing, settings, allow_unknown_keys=False, multimodal=None):
    """(merged config, problems): unknown keys first (unless allowed), then rule violations of the merge."""
    problems = [] if allow_unknown_keys else find_unknown_keys(settings, existing)
    merged = deep_merge(existing, settings)
    return merged, problems + validate_config(merged, multimodal=multimodal)
