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
import math
import ipaddress
import json
import re

# Known keys per section, across MindIE 1.0.RC3, 1.0.0 and 2.x (service parameter docs and shipped
# config.json files). A section path uses ``[]`` for "any element of the list".
# ``None`` as a section's value means "its contents are not checked".
KNOWN_KEYS = {
    '': ('Version', 'LogConfig', 'ServerConfig', 'BackendConfig', 'HealthCheckConfig',
         'EnableDynamicAdjustTimeoutConfig'),
    'LogConfig': (
        'logLevel', 'logFileSize', 'logFileNum', 'logPath',
        'dynamicLogLevel', 'dynamicLogLevelValidHours', 'dynamicLogLevelValidTime',
    ),
    'HealthCheckConfig': None,
    # 3.0 (server_config.cpp) reads the health checker's settings under ServerConfig.
    'ServerConfig.HealthCheckConfig': ('npuUsageThreshold',),
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
        'HealthCheckConfig', 'layerwiseDisaggregated', 'layerwiseDisaggregatedRoleType',
        'layerwiseDisaggregatedMasterIpAddress', 'layerwiseDisaggregatedSlaveIpAddress',
        'layerwiseDisaggregatedDataPort', 'layerwiseDisaggregatedCrtlPort',
    ),
    'BackendConfig': (
        'backendName', 'modelInstanceNumber', 'npuDeviceIds', 'tokenizerProcessNumber',
        'multiNodesInferEnabled', 'multiNodesInferPort', 'interNodeTLSEnabled',
        'interNodeTlsCaFile', 'interNodeTlsCaPath', 'interNodeTlsCaFiles', 'interNodeTlsCert', 'interNodeTlsPk',
        'interNodeTlsPkPwd', 'interNodeTlsCrl', 'interNodeTlsCrlPath', 'interNodeTlsCrlFiles',
        'interNodeKmcKsfMaster', 'interNodeKmcKsfStandby',
        'ModelDeployConfig', 'ScheduleConfig', 'kvPoolConfig',
    ),
    'BackendConfig.kvPoolConfig': None,
    'BackendConfig.ModelDeployConfig': ('maxSeqLen', 'maxInputTokenLen', 'truncation', 'ModelConfig'),
    'BackendConfig.ModelDeployConfig.ModelConfig[]': (
        'modelInstanceType', 'modelName', 'modelWeightPath', 'worldSize', 'cpuMemSize', 'npuMemSize',
        'backendType', 'trustRemoteCode', 'async_scheduler_wait_time', 'kv_trans_timeout', 'kv_link_timeout',
        'models',
    ),
    'BackendConfig.ModelDeployConfig.ModelConfig[].models': None,
    'BackendConfig.ScheduleConfig': (
        'templateType', 'templateName', 'cacheBlockSize', 'maxPrefillBatchSize', 'maxPrefillTokens',
        'prefillTimeMsPerReq', 'prefillPolicyType', 'decodeTimeMsPerReq', 'decodePolicyType', 'maxBatchSize',
        'maxIterTimes', 'maxPreemptCount', 'supportSelectBatch', 'maxQueueDelayMicroseconds',
        'maxFirstTokenWaitTime',
    ),
}

PORT_MIN, PORT_MAX = 1024, 65535
# Validation patterns are applied with fullmatch: ``$`` would also match before a trailing newline ("abc\n").
MODEL_NAME_RE = re.compile(r'[a-zA-Z0-9_.-]{1,256}')
# model_deploy_config.cpp CheckModelNameLength: the pattern above, and isalnum() on the first and last character
MODEL_NAME_ENDS_RE = re.compile(r'[a-zA-Z0-9](?:.*[a-zA-Z0-9])?', re.DOTALL)
MAX_INPUT_TOKEN_LEN = 4194304  # model_deploy_config.cpp MAX_INPUT_LEN (4M)
MAX_MODEL_INSTANCES = 10  # backend_config.cpp CheckParam: modelInstanceNumber in [1, 10]
MAX_TOKENIZER_PROCESSES = 32  # backend_config.cpp CheckParam: tokenizerProcessNumber in [1, 32]
# config_info.h: BackendConfig.multiNodesInferPort is 1120 when the key is absent
DEFAULT_MULTI_NODES_INFER_PORT = 1120
# ServerConfig's listen keys, in the order MindIE-LLM resolves them (server_config.cpp InitFromJson): an absent
# managementIpAddress is ipAddress (GetManagementIPAddress), an absent managementPort is port; ipAddress, port and
# metricsPort have no default there (a config.json without them does not start). The environment variables
# MIES_CONTAINER_IP / MIES_CONTAINER_MANAGEMENT_IP, which replace the addresses at run time, are not seen here.
LISTEN_KEYS = ('ipAddress', 'port', 'metricsPort', 'managementIpAddress', 'managementPort')
LISTEN_DEFAULTS = {'managementIpAddress': 'ipAddress', 'managementPort': 'port'}
# Where a probe must name an address or port the file leaves out: the values of the config.json MindIE ships
# (mindie-service/conf/config.json); MindIE itself has no default for these.
SHIPPED_LISTEN = {'ipAddress': '127.0.0.1', 'port': 1025, 'metricsPort': 1027}
# A MindIE config.json nests 5 levels; anything deeper than this is not a config file (and would make the
# recursive merge and checks below hit Python's recursion limit).
MAX_DEPTH = 64

# Keys MindIE reads as JSON booleans (ParamSpec type "bool" in src/config_manager/*.cpp of MindIE-LLM, and
# the 1.0/2.x parameter docs). ``truncation`` also takes an integer (param_checker.cpp
# GetTruncationParamDefaultValue); a string there is silently replaced by the default.
BOOL_KEYS = {
    'ServerConfig': ('httpsEnabled', 'fullTextEnabled', 'allowAllZeroIpListening', 'distDPServerEnabled',
                     'interCommTLSEnabled', 'layerwiseDisaggregated'),
    'BackendConfig': ('multiNodesInferEnabled', 'interNodeTLSEnabled'),
    'BackendConfig.ModelDeployConfig': ('truncation',),
    'BackendConfig.ModelDeployConfig.ModelConfig[]': ('trustRemoteCode',),
    'BackendConfig.ScheduleConfig': ('supportSelectBatch', 'dynamicBatchSizeEnable', 'enablePrefixCache',
                                     'enableSplit', 'enablChunkedPrefill', 'splitType', 'splitStartType',
                                     'bufferResponseEnabled', 'distributedEnable'),
}
BOOL_OR_INT_KEYS = ('truncation',)
BOOL_WORDS = ('true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', '1', '0')
# Names of vision-language models: qwen2_vl, Qwen2-VL, qwen-vl, qwen2.5-vl, InternVL, LLaVA, ..., or a
# separate "vl" token (``_vl``, ``-vl``, ``/vl``).
MULTIMODAL_RE = re.compile(
    r'qwen\d*(?:\.\d+)?[_-]?vl|internvl|llava|minicpm-?v|glm-?4v|cogvlm|(?:^|[^a-z0-9])vl(?:\Z|[^a-z])',
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


def nesting_depth(value):
    """How deeply lists and dicts nest in ``value`` (a scalar is 0), computed without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _refuse_constant(name):
    raise ValueError('{0} is not a JSON number (MindIE\'s JSON parser refuses NaN and Infinity)'.format(name))


def non_finite_numbers(value):
    """Dotted paths of every float in ``value`` that is NaN or infinite (JSON cannot hold them), without recursion."""
    found = []
    stack = [(value, '')]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, join_path(where, key) if isinstance(key, str) else '{0}.{1}'.format(where, key))
                         for key, child in reversed(list(node.items())))
        elif isinstance(node, (list, tuple)):
            stack.extend((child, join_path(where, index)) for index, child in reversed(list(enumerate(node))))
        elif isinstance(node, float) and not math.isfinite(node):
            found.append(where or '(top level)')
    return found


def _duplicate_key_places(data, duplicates):
    """``["`key` in `path`"]`` for every object of ``data`` whose id is in ``duplicates`` ({id: [key, ...]})."""
    places = []
    stack = [(data, '')]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key in duplicates.get(id(node), ()):
                places.append('`{0}`'.format(join_path(where, key)))
            stack.extend((child, join_path(where, key)) for key, child in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((child, join_path(where, index)) for index, child in reversed(list(enumerate(node))))
    return places


def load_config_text(text, source='config.json'):
    """Parse a MindIE config.json text into an (ordered) dict; raise ConfigParseError naming the place.

    Refused besides invalid JSON: comments, NaN/Infinity, numbers too large for a double (``1e400``), a key twice
    in one object (which value wins differs between JSON parsers), and nesting deeper than MAX_DEPTH.
    """
    comments = find_comments(text)
    if comments:
        where = ', '.join('line {0} column {1}'.format(ln, cl) for ln, cl in comments[:10])
        more = ' and {0} more'.format(len(comments) - 10) if len(comments) > 10 else ''
        raise ConfigParseError(
            '{0} contains comments ({1}{2}): comments are not valid JSON and MindIE refuses the file. '
            'Remove the // and /* */ comments (the deployment guide\'s example has them) and retry.'.format(
                source, where, more))
    duplicates = {}

    def pairs_hook(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj and key not in duplicates.get(id(obj), ()):
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = value
        return obj

    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=pairs_hook)
    except RecursionError:
        raise ConfigParseError('{0} nests lists or objects too deeply to be a MindIE config.json (more than {1} '
                               'levels). Restore the file from a backup or the one shipped with MindIE and '
                               'retry.'.format(source, MAX_DEPTH))
    except ValueError as exc:
        lineno = getattr(exc, 'lineno', None)
        if lineno is not None:
            raise ConfigParseError('{0} is not valid JSON: {1} at line {2} column {3}. Fix the file (or restore it '
                                   'from a backup) and retry.'.format(source, exc.msg, lineno, exc.colno))
        raise ConfigParseError('{0} is not valid JSON: {1}'.format(source, exc))
    if not isinstance(data, dict):
        raise ConfigParseError('{0} must hold a JSON object ({{...}}) at the top, found {1}.'.format(
            source, type(data).__name__))
    if nesting_depth(data) > MAX_DEPTH:
        raise ConfigParseError('{0} nests lists or objects too deeply to be a MindIE config.json (more than {1} '
                               'levels). Restore the file from a backup or the one shipped with MindIE and '
                               'retry.'.format(source, MAX_DEPTH))
    if duplicates:
        # every object of a successful parse is in ``data``, so the ids in ``duplicates`` are still theirs
        places = _duplicate_key_places(data, duplicates)
        raise ConfigParseError(
            '{0} has the same key more than once in one object: {1}. JSON parsers disagree on which value wins, so '
            'what MindIE reads is not what this module would check; keep one of each (and check which value you '
            'meant) and retry. Nothing was written.'.format(source, ', '.join(places)))
    too_big = non_finite_numbers(data)
    if too_big:
        raise ConfigParseError(
            '{0} holds a number too large for a double (such as 1e400, which reads as infinity) at {1}; it cannot be '
            'written back as JSON. Fix the value in the file and retry. Nothing was written.'.format(
                source, ', '.join('`{0}`'.format(place) for place in too_big)))
    return data


def dump_config(data):
    """The text written to config.json: 4-space indentation, keys in order, UTF-8 kept, trailing newline."""
    return json.dumps(data, indent=4, ensure_ascii=False, separators=(',', ': '), allow_nan=False) + '\n'


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


def non_string_keys(settings, path=''):
    """Messages for keys that are not strings (YAML ``1: x`` or ``true: x``); JSON object keys are strings."""
    problems = []
    stack = [(settings, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    problems.append('`{0}`: key {1!r} is not a string; config.json keys are strings (quote it in '
                                    'YAML)'.format(where or '(top level)', key))
                    continue
                stack.append((value, join_path(where, key)))
        elif isinstance(node, list):
            stack.extend((item, join_path(where, index)) for index, item in enumerate(node))
    return sorted(problems)


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

    def booleans(self, section, path, schema_section):
        """A violation for every key MindIE reads as a JSON boolean that holds something else."""
        for key in BOOL_KEYS.get(schema_section, ()):
            if key not in section:
                continue
            value = section[key]
            if isinstance(value, bool) or (key in BOOL_OR_INT_KEYS and _is_int(value)):
                continue
            where = join_path(path, key)
            also = ' (or an integer)' if key in BOOL_OR_INT_KEYS else ''
            if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
                self.add(where, 'is the string {0}, but MindIE expects a JSON boolean{1}: give true/false without '
                         'quotes (in YAML: `{2}: false`, not `{2}: "false"`; from a variable: `{{{{ var | bool }}}}`)'
                         .format(json.dumps(value), also, key))
            else:
                self.add(where, 'must be true or false{0}, got {1}'.format(also, json.dumps(value)))

    @staticmethod
    def _range(low, high):
        if low is not None and high is not None:
            return ' in [{0}, {1}]'.format(low, high)
        if low is not None:
            return ' in [{0}, ...]'.format(low)
        return ''


def parse_ip(value):
    """The ipaddress object of a literal IPv4/IPv6 address as MindIE's CheckIp accepts it (``[v6]`` too), or None.

    Brackets are accepted around an IPv6 address only (``[127.0.0.1]`` is not an address).
    """
    if not isinstance(value, str):
        return None
    bracketed = value.startswith('[') and value.endswith(']')
    text = value[1:-1] if bracketed else value
    if '%' in text or not text.strip() == text:
        return None  # inet_pton takes no zone id (fe80::1%eth0) and no spaces
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if bracketed and addr.version != 6:
        return None
    return addr


def _plain(addr):
    """An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) as the IPv4 address it stands for; others unchanged."""
    mapped = getattr(addr, 'ipv4_mapped', None)
    return mapped if mapped is not None else addr


def is_all_zero(addr):
    """True for 0.0.0.0, :: and ::ffff:0.0.0.0 (the IPv4-mapped form of 0.0.0.0): every address of the node."""
    return addr.is_unspecified or _plain(addr).is_unspecified


def _check_ip(chk, server, key, allow_zero):
    if key not in server:
        return
    value = server[key]
    where = join_path('ServerConfig', key)
    addr = parse_ip(value)
    if addr is None:
        chk.add(where, 'must be a literal IPv4 or IPv6 address such as 127.0.0.1 or ::1 (MindIE does not resolve '
                'host names), got {0}'.format(json.dumps(value)))
    elif is_all_zero(addr) and not allow_zero:
        mapped = '' if addr.is_unspecified else ' (the IPv4-mapped form of 0.0.0.0, listening on every address)'
        chk.add(where, 'is {0}{1}, which MindIE refuses unless `ServerConfig.allowAllZeroIpListening` is true; bind a '
                'specific address or set it to true'.format(value, mapped))


def addresses_overlap(first, second):
    """True when listening on both addresses with one port cannot work (same address, or a wildcard covering the other)."""
    one, two = parse_ip(first), parse_ip(second)
    if one is None or two is None:
        return False
    one, two = _plain(one), _plain(two)
    if one == two:
        return True
    for wild, other in ((one, two), (two, one)):
        # 0.0.0.0 covers every IPv4 address; :: covers IPv6 and, dual-stack (Linux's default), IPv4 too
        if wild.is_unspecified and (wild.version == other.version or wild.version == 6):
            return True
    return False


def listen_values(server, checked=None):
    """{key of LISTEN_KEYS: value} as MindIE reads them from ``server`` (LISTEN_DEFAULTS filled in, else None).

    ``checked`` maps keys to the values already validated (None for a value refused); a key present in
    ``server`` is read from it when given, so a refused managementPort is not replaced by port.
    """
    server = server if isinstance(server, dict) else {}
    source = dict(server, **checked) if checked else server
    values = {}
    for key in LISTEN_KEYS:
        values[key] = source.get(key) if key in server else values.get(LISTEN_DEFAULTS.get(key))
    return values


def http_listeners(ip, mgmt_ip, port, mgmt_port, metrics_port):
    """The (address, port, keys) MindIE's HTTP servers listen on, or None for a layout MindIE refuses.

    Mirrors the dispatch in MindIE-LLM src/server/endpoint/http_wrapper/http_server.cpp (HttpServerInit): all three
    ports equal on one address -> one server; port == managementPort -> business+management and metrics;
    managementPort == metricsPort -> business and management+metrics; all different -> three servers; and with
    different addresses the same by address. The one layout left, one address with port == metricsPort !=
    managementPort, is refused there ("Management or Business or Metrics port is invalid.").
    """
    same_ip = ip == mgmt_ip
    if same_ip and port == mgmt_port == metrics_port:
        return [(ip, port, ('port', 'managementPort', 'metricsPort'))]
    if same_ip and port == mgmt_port:
        return [(ip, port, ('port', 'managementPort')), (mgmt_ip, metrics_port, ('metricsPort',))]
    if port != mgmt_port and mgmt_port == metrics_port:
        return [(ip, port, ('port',)), (mgmt_ip, mgmt_port, ('managementPort', 'metricsPort'))]
    if port != mgmt_port and mgmt_port != metrics_port and port != metrics_port:
        return [(ip, port, ('port',)), (mgmt_ip, mgmt_port, ('managementPort',)), (mgmt_ip, metrics_port, ('metricsPort',))]
    if not same_ip and mgmt_port == metrics_port:
        return [(ip, port, ('port', 'managementPort')), (mgmt_ip, metrics_port, ('metricsPort',))]
    if not same_ip:
        return [(ip, port, ('port',)), (mgmt_ip, mgmt_port, ('managementPort',)), (mgmt_ip, metrics_port, ('metricsPort',))]
    return None


def _keys(keys, section='ServerConfig'):
    return ' = '.join('`{0}.{1}`'.format(section, key) for key in keys)


def _check_port_layout(chk, server, backend, ports):
    """Ports that collide inside the file, by MindIE-LLM's own rules (sources cited per rule)."""
    # server_config.cpp InitFromJson: managementIpAddress and managementPort default to ipAddress and port
    listen = listen_values(server, dict((key, ports.get(key)) for key in ('port', 'managementPort', 'metricsPort')))
    port, mgmt_port, metrics_port = listen['port'], listen['managementPort'], listen['metricsPort']
    ip, mgmt_ip = listen['ipAddress'], listen['managementIpAddress']
    listeners = []
    if None not in (port, mgmt_port, metrics_port) and isinstance(ip, str) and isinstance(mgmt_ip, str):
        listeners = http_listeners(ip, mgmt_ip, port, mgmt_port, metrics_port)
        if listeners is None:
            chk.add('ServerConfig.metricsPort', 'is {0}, the same as `ServerConfig.port`, while `ServerConfig.'
                    'managementPort` is {1} on the same address: MindIE refuses this layout ("Management or Business '
                    'or Metrics port is invalid"). It accepts port = managementPort = metricsPort (one server), '
                    'port = managementPort, managementPort = metricsPort, or three different ports; set metricsPort '
                    'to {1} or to a port of its own'.format(metrics_port, mgmt_port))
            listeners = []
    # endpoint.cpp StartEndpoint: in inferMode "dmi" the gRPC server (grpc_handler.cpp InitGrpcService) listens on
    # ipAddress:interCommPort beside the HTTP servers. MindIE does not compare the ports in its config checks, so a
    # clash only shows as a failed bind at start [inference]; in other modes interCommPort is not listened on.
    if server.get('inferMode') == 'dmi' and ports.get('interCommPort') is not None and isinstance(ip, str):
        listeners.append((ip, ports['interCommPort'], ('interCommPort',)))
    for index, (addr_a, port_a, keys_a) in enumerate(listeners):
        for addr_b, port_b, keys_b in listeners[index + 1:]:
            if port_a == port_b and addresses_overlap(addr_a, addr_b):
                chk.add(join_path('ServerConfig', keys_b[0]),
                        'is {0}, and {1} listens on {2} port {0} while {3} listens on {4} port {0}: the two '
                        'addresses overlap, so the second server cannot bind; give {3} a port of its own'.format(
                            port_a, _keys(keys_a), addr_a, _keys(keys_b), addr_b))
    # config_manager_impl.cpp CheckAllParam: "Endpoint port cannot be equal to multiNodesInferPort", whether
    # multi-node inference is on or not, with multiNodesInferPort 1120 when absent (config_info.h).
    multi_port = ports.get('multiNodesInferPort')
    if 'multiNodesInferPort' not in backend:
        multi_port = DEFAULT_MULTI_NODES_INFER_PORT
    if port is not None and multi_port is not None and port == multi_port:
        absent = '' if 'multiNodesInferPort' in backend else ' (its default when the key is absent)'
        chk.add('ServerConfig.port', 'is {0}, equal to `BackendConfig.multiNodesInferPort` ({1}{2}); MindIE refuses '
                'this ("Endpoint port cannot be equal to multiNodesInferPort"): choose another port'.format(
                    port, multi_port, absent))
    # With multi-node inference on, the gRPC server (executor/grpc_communicator.cpp) binds multiNodesInferPort on
    # the node beside the management and metrics servers [inference: MindIE does not compare these].
    if backend.get('multiNodesInferEnabled') is True and multi_port is not None:
        for key, value in (('managementPort', mgmt_port if 'managementPort' in server else None),
                           ('metricsPort', metrics_port), ('interCommPort', ports.get('interCommPort'))):
            if value is not None and value == multi_port and value != port:
                chk.add('BackendConfig.multiNodesInferPort', 'is {0}, the same as `ServerConfig.{1}`, but with '
                        '`multiNodesInferEnabled` the multi-node gRPC server listens on it: give it a port of its '
                        'own'.format(multi_port, key))


def _check_reserved(chk, ports, reserved_ports):
    """A violation for every port of the file that another instance or a foreign process holds."""
    owners = {}
    for entry in reserved_ports or ():
        owners.setdefault(entry['port'], [])
        if entry['owner'] not in owners[entry['port']]:
            owners[entry['port']].append(entry['owner'])
    for where, value in (('ServerConfig.port', ports.get('port')),
                         ('ServerConfig.managementPort', ports.get('managementPort')),
                         ('ServerConfig.metricsPort', ports.get('metricsPort')),
                         ('ServerConfig.interCommPort', ports.get('interCommPort')),
                         ('BackendConfig.multiNodesInferPort', ports.get('multiNodesInferPort'))):
        if value is not None and value in owners:
            chk.add(where, 'is {0}, which is already used by {1}; MindIE fails at start with "listen port is '
                    'occupied" (after loading the whole model): choose a free port'.format(
                        value, ' and '.join(owners[value])))


def _check_npu_groups(chk, groups, npu_count):
    where = 'BackendConfig.npuDeviceIds'
    first_group = {}
    beyond = []
    for gindex, group in enumerate(groups):
        path = join_path(where, gindex)
        if not group:
            chk.add(path, 'is empty; each group lists the logical NPU ids of one model instance (worldSize of them)')
        repeated = sorted(set(d for d in group if group.count(d) > 1))
        if repeated:
            chk.add(path, 'lists NPU {0} more than once {1}; MindIE refuses repeated ids ("npuDeviceID does not '
                    'allow repetitive element"): list each NPU once'.format(
                        ', '.join(str(d) for d in repeated), json.dumps(group)))
        for device in sorted(set(group)):
            if device in first_group and first_group[device] != gindex:
                chk.add(path, 'uses NPU {0}, which group {1} already uses; an NPU serves one model instance only'
                        .format(device, first_group[device]))
            first_group.setdefault(device, gindex)
            if npu_count is not None and device >= npu_count and device not in beyond:
                beyond.append(device)
    if beyond:
        chk.add(where, 'names NPU id(s) {0}, which the node does not have: it has {1} NPU(s), logical ids {2}'.format(
            ', '.join(str(d) for d in sorted(beyond)), npu_count,
            '0..{0}'.format(npu_count - 1) if npu_count > 0 else '(none)'))


def validate_config(config, multimodal=None, npu_count=None, reserved_ports=None):
    """Every rule MindIE applies that can be checked offline; returns a list of ``"`path`: rule"`` strings.

    ``multimodal``: True/False forces the "npuMemSize not -1" rule on/off for every model; None detects it
    from each model's name and weight path.
    ``npu_count``: the node's number of NPUs when known (ids must be below it).
    ``reserved_ports``: ``[{'port': int, 'owner': str}]`` held by other instances or processes on the node.
    """
    chk = _Checker(config)

    server = chk.section('ServerConfig')
    ports = {}
    for key in ('port', 'managementPort', 'metricsPort', 'interCommPort'):
        ports[key] = chk.integer(server, 'ServerConfig', key, PORT_MIN, PORT_MAX)
    chk.booleans(server, 'ServerConfig', 'ServerConfig')
    allow_zero = server.get('allowAllZeroIpListening') is True
    for key in ('ipAddress', 'managementIpAddress'):
        _check_ip(chk, server, key, allow_zero)
    chk.integer(server, 'ServerConfig', 'maxLinkNum', 1, 4096)
    # server_config.cpp: HealthCheckConfig.npuUsageThreshold in [0, 100]; 0 (default) turns the busy check off.
    health = chk.section('ServerConfig.HealthCheckConfig')
    chk.integer(health, 'ServerConfig.HealthCheckConfig', 'npuUsageThreshold', 0, 100)

    backend = chk.section('BackendConfig')
    ports['multiNodesInferPort'] = chk.integer(backend, 'BackendConfig', 'multiNodesInferPort', PORT_MIN, PORT_MAX)
    chk.booleans(backend, 'BackendConfig', 'BackendConfig')
    _check_port_layout(chk, server, backend, ports)
    _check_reserved(chk, ports, reserved_ports)
    instances = chk.integer(backend, 'BackendConfig', 'modelInstanceNumber', 1, MAX_MODEL_INSTANCES)
    chk.integer(backend, 'BackendConfig', 'tokenizerProcessNumber', 1, MAX_TOKENIZER_PROCESSES)
    groups = None
    if 'npuDeviceIds' in backend:
        ids = backend['npuDeviceIds']
        if (isinstance(ids, list) and all(isinstance(g, list) and all(_is_int(d) and d >= 0 for d in g) for g in ids)
                and ids):
            groups = ids
        else:
            chk.add('BackendConfig.npuDeviceIds', 'must be a non-empty list of lists of logical NPU ids '
                    '(one list per model instance, e.g. [[0,1,2,3]]), got {0}'.format(json.dumps(ids)))
    if groups is not None:
        _check_npu_groups(chk, groups, npu_count)
    if instances is not None and groups is not None and instances != len(groups):
        chk.add('BackendConfig.modelInstanceNumber', 'is {0} but `BackendConfig.npuDeviceIds` has {1} group(s); '
                'they must be equal (one NPU group per instance)'.format(instances, len(groups)))

    deploy_path = 'BackendConfig.ModelDeployConfig'
    deploy = chk.section(deploy_path)
    seq_len = chk.integer(deploy, deploy_path, 'maxSeqLen', 1)
    # maxInputTokenLen above maxSeqLen is accepted: MindIE caps a request at min(maxInputTokenLen, maxSeqLen - 1)
    # (infer_tokenizer.cpp, llm_manager_impl.cpp); model_deploy_config.cpp checks only [1, 4194304].
    input_len = chk.integer(deploy, deploy_path, 'maxInputTokenLen', 1, MAX_INPUT_TOKEN_LEN)
    chk.booleans(deploy, deploy_path, deploy_path)

    models_path = join_path(deploy_path, 'ModelConfig')
    models = deploy.get('ModelConfig', [])
    if not _list_of_dicts(models):
        chk.add(models_path, 'must be a list of model objects, got {0}'.format(json.dumps(models)))
        models = []
    elif not models and 'ModelConfig' in deploy:
        chk.add(models_path, 'is empty; MindIE needs at least one model (it reads ModelConfig[0]): give the model\'s '
                'modelName, modelWeightPath and worldSize')
    for index, model in enumerate(models):
        path = join_path(models_path, index)
        if 'modelName' in model:
            name = model['modelName']
            if not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name) or not MODEL_NAME_ENDS_RE.fullmatch(name):
                chk.add(join_path(path, 'modelName'), 'must match ^[a-zA-Z0-9_.-]{{1,256}}$ (letters, digits, '
                        '_ . -; at most 256) and start and end with a letter or digit, got {0}'.format(json.dumps(name)))
        chk.booleans(model, path, schema_path(models_path) + '[]')
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
    # config_manager_impl.cpp: maxIterTimes 0 is refused; the 1.0/2.x docs: maxIterTimes <= maxSeqLen
    iter_times = chk.integer(sched, sched_path, 'maxIterTimes', 1)
    if iter_times is not None and seq_len is not None and iter_times > seq_len:
        chk.add(join_path(sched_path, 'maxIterTimes'), 'is {0}, larger than `{1}.maxSeqLen` ({2}); it must be <= '
                'maxSeqLen'.format(iter_times, deploy_path, seq_len))
    chk.integer(sched, sched_path, 'cacheBlockSize', 1, 128)
    chk.booleans(sched, sched_path, sched_path)
    return chk.violations


def merge_and_check(existing, settings, allow_unknown_keys=False, multimodal=None, npu_count=None, reserved_ports=None):
    """(merged config, problems): unknown keys first (unless allowed), then rule violations of the merge."""
    problems = non_string_keys(settings)
    if problems:
        return deep_merge(existing, {}), problems
    problems = [] if allow_unknown_keys else find_unknown_keys(settings, existing)
    merged = deep_merge(existing, settings)
    return merged, problems + validate_config(merged, multimodal=multimodal, npu_count=npu_count,
                                              reserved_ports=reserved_ports)
