# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for Ascend version files: where they are, and pure parsers of their text.

Files handled:
  /usr/local/Ascend/driver/version.info, /usr/local/Ascend/firmware/version.info,
  .../ascend_toolkit_install.info, /etc/ascend_install.info   ``Key=Value`` lines
  /usr/local/Ascend/mindie/latest/version.info                 ``name : value`` lines

``node_version_files(ascend_home)`` names the node's files (npu_facts, mindie_precheck and mindie_diagnose
read these, and no other); ``read_key_value_file(path)`` is the one reader of a ``Key=Value`` file.

Version ordering (``version_key`` / ``compare_versions``): versions are split on ``.``;
a numeric part ranks above a pre-release part (``rcN``, ``alphaN``, ``betaN``), which
ranks by its number; other text parts (build tags such as ``B152``, ``SPC001``) rank
between the two, by number then text. Missing trailing parts count as ``0``. So::

    24.1.rc1 < 24.1.rc2 < 24.1.0 < 24.1 == 24.1.0 < 25.0.rc1 < 25.0.rc1.1 < 25.0.0 < 25.0.1

Comparison is case-insensitive (``2.1.RC1`` == ``2.1.rc1``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

INSTALL_INFO_PATH = '/etc/ascend_install.info'

_PRE_RELEASE = re.compile(r'^(rc|alpha|beta)(\d*)$', re.IGNORECASE)
_ALNUM = re.compile(r'^([a-z]*)(\d*)(.*)$', re.IGNORECASE)
_RANGE_ITEM = re.compile(r'\[([^\]]*)\]')


def parse_key_value(text):
    """Parse ``Key=Value`` lines.

    Every key is kept as written; ``version`` and ``package_version`` are added (looked up
    case-insensitively, None when absent) so callers need not know the file's spelling.
    """
    result = {}
    lowered = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip()
        value = value.strip()
        if not key:
            continue
        result[key] = value
        lowered.setdefault(key.lower(), value)
    result['version'] = lowered.get('version') or None
    result['package_version'] = lowered.get('package_version') or None
    return result


def node_version_files(ascend_home, install_info=INSTALL_INFO_PATH):
    """[(key, path)] of the node's version files: ``driver``, ``firmware`` (under ``ascend_home``), ``install_info``."""
    return [('driver', os.path.join(ascend_home, 'driver', 'version.info')),
            ('firmware', os.path.join(ascend_home, 'firmware', 'version.info')),
            ('install_info', install_info)]


def read_key_value_file(path):
    """parse_key_value() of a file; None when it is not a regular file. A file that cannot be read raises OSError.

    Invalid UTF-8 is replaced (U+FFFD): a lone surrogate would make a module's JSON result undeliverable.
    """
    if not os.path.isfile(path):
        return None
    with open(path, 'rb') as handle:
        return parse_key_value(handle.read(1024 * 1024).decode('utf-8', errors='replace'))


def parse_version_range(text):
    """Parse ``[low,high],[low,high]`` (or a whole ``key=[...]`` line) into ``[(low, high), ...]``.

    A single-item range ``[V100R001C17]`` gives ``(item, item)``. A high bound ending in
    ``.`` (``[24.0,24.0.]``) is kept as written: it means "anything starting with 24.0".
    """
    if text is None:
        return []
    if '=' in text and text.index('=') < text.find('['):
        text = text.split('=', 1)[1]
    ranges = []
    for item in _RANGE_ITEM.findall(text):
        parts = [p.strip() for p in item.split(',')]
        parts = [p for p in parts if p]
        if not parts:
            continue
        low = parts[0]
        high = parts[1] if len(parts) > 1 else parts[0]
        ranges.append((low, high))
    return ranges


def _part_key(part):
    if part.isdigit():
        return (3, int(part), '')
    match = _PRE_RELEASE.match(part)
    if match:
        return (1, int(match.group(2) or 0), match.group(1).lower())
    match = _ALNUM.match(part)
    prefix, number, rest = match.group(1).lower(), match.group(2), match.group(3).lower()
    return (2, int(number) if number else 0, prefix + '~' + rest)


def version_key(version):
    """A sort key for an Ascend version string (see the module docstring for the order)."""
    parts = [p for p in str(version or '').strip().split('.') if p != '']
    return [_part_key(p) for p in parts]


def compare_versions(left, right):
    """-1, 0 or 1 as ``left`` is older than, equal to or newer than ``right``."""
    a, b = version_key(left), version_key(right)
    zero = (3, 0, '')
    for index in range(max(len(a), len(b))):
        x = a[index] if index < len(a) else zero
        y = b[index] if index < len(b) else zero
        if x != y:
            return -1 if x < y else 1
    return 0


def version_in_ranges(version, ranges):
    """True when ``version`` lies in one of ``ranges`` (as returned by parse_version_range).

    ``(low, high)`` with ``high`` ending in ``.`` matches ``low`` or anything starting with
    ``high``; otherwise low <= version <= high. Text is compared case-insensitively.
    """
    if version is None:
        return False
    candidate = str(version).strip().lower()
    for low, high in ranges:
        low_l, high_l = low.lower(), high.lower()
        if high_l.endswith('.'):
            prefix = high_l[:-1]
            if candidate in (low_l, prefix) or candidate.startswith(high_l):
                return True
            continue
        if low_l == high_l and not low_l[:1].isdigit():
            if candidate == low_l:
                return True
            continue
        if compare_versions(candidate, low_l) >= 0 and compare_versions(candidate, high_l) <= 0:
            return True
    return False


def parse_mindie_version(text):
    """Parse MindIE's ``version.info`` (``Ascend-mindie : MindIE 2.1.RC1.B152`` ...).

    Returns ``{'version': '2.1.RC1', 'build': 'B152', 'full_version': '2.1.RC1.B152',
    'platform': 'aarch64', 'components': {'mindie-rt': '2.1.RC1.B152', ...}}``; values are
    None when the file does not give them.
    """
    components = {}
    for line in (text or '').splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        key, value = key.strip(), value.strip()
        if key:
            components[key] = value
    platform = components.pop('Platform', None) or components.pop('platform', None)
    full = None
    for key in ('Ascend-mindie', 'ascend-mindie', 'mindie', 'MindIE'):
        if components.get(key):
            full = components[key]
            break
    if full is None:
        for key in ('mindie-service', 'mindie-llm', 'mindie-rt'):
            if components.get(key):
                full = components[key]
                break
    if full is not None:
        full = re.sub(r'^(?i:mindie)\s+', '', full).strip() or None
    version, build = full, None
    if full:
        match = re.match(r'^(.*?)\.(B\d+)$', full, re.IGNORECASE)
        if match:
            version, build = match.group(1), match.group(2)
    return {'version': version, 'build': build, 'full_version': full,
            'platform': platform, 'components': components}
