# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the text ``npu-smi`` prints (pure functions, no I/O).

The tables are read by cells (split on ``|``) and tokens (split on whitespace), never
by column offsets, so the 25.x layout, the wider 26.x rows, the extra
``Process id in container`` column and five-digit used values (no space before the slash) all parse.
Which hardware profile the chips make is the profile table's business (``profiles.classify``).

Public API:
  parse_npu_smi_info(text)     -> {'npu_smi_version', 'chips', 'processes'}
  parse_npu_smi_mapping(text)  -> [{'npu_id', 'chip_id', 'logical_id', 'name'}, ...]
  parse_npu_smi_list(text)     -> {'total_count', 'npus': [{'npu_id', 'chip_count'}, ...]}
  chips_healthy(chips)         -> True when there is at least one chip and every one is OK
  NpuSmiParseError             raised for output that is not the expected table
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

HEALTH_OK = 'OK'

_MISSING = ('', 'NA', 'N/A', '-', '--')
_SEPARATOR = re.compile(r'^\s*\+[-=+]*\+\s*$')
_VERSION = re.compile(r'npu-smi\s+v?([0-9][0-9A-Za-z.\-]*)')
_VERSION_ALT = re.compile(r'Version:\s*([0-9][0-9A-Za-z.\-]*)')
_MAX_QUOTED_LINES = 10
_MAX_QUOTED_CHARS = 1000

CHIP_KEYS = ('npu_id', 'chip_id', 'name', 'health', 'power_w', 'temp_c', 'bus_id', 'aicore_percent',
             'memory_used_mb', 'memory_total_mb', 'hbm_used_mb', 'hbm_total_mb',
             'hugepages_used', 'hugepages_total')


class NpuSmiParseError(ValueError):
    """The text is not what the parser expects; ``first_lines`` holds its beginning."""

    def __init__(self, reason, text):
        lines = (text or '').splitlines()
        self.reason = reason
        self.first_lines = lines[:_MAX_QUOTED_LINES]
        if self.first_lines:
            shown = ' / '.join(line.strip() for line in self.first_lines if line.strip())
            if len(shown) > _MAX_QUOTED_CHARS:      # one huge line must not make a huge message
                shown = shown[:_MAX_QUOTED_CHARS] + '... (%d characters in all)' % len(shown)
            shown = '; first lines: ' + shown
        else:
            shown = ' (the output was empty)'
        super(NpuSmiParseError, self).__init__(reason + shown)


def _to_float(token):
    """A number from a table cell; None for NA, -, empty or anything unparsable."""
    if token is None:
        return None
    token = token.strip()
    if token.upper() in _MISSING:
        return None
    try:
        return float(token)
    except ValueError:
        return None


def _to_int(token):
    value = _to_float(token)
    return None if value is None else int(value)


def _cells(line):
    """Cells of a table row, or None when the line is not a row."""
    stripped = line.strip()
    if not stripped.startswith('|'):
        return None
    stripped = stripped[1:]
    if stripped.endswith('|'):
        stripped = stripped[:-1]
    return [cell.strip() for cell in stripped.split('|')]


def _value_tokens(cell):
    """Whitespace tokens of a values cell, with ``used / total`` pairs kept as one token."""
    return re.sub(r'\s*/\s*', '/', cell).split()


def _pair(token):
    if token is None or '/' not in token:
        return _to_int(token), None
    used, total = token.split('/', 1)
    return _to_int(used), _to_int(total)


def _apply_values(chip, labels, cell):
    values = _value_tokens(cell)
    for label, value in zip(labels, values):
        label = label.lower()
        if label.startswith('power'):
            chip['power_w'] = _to_float(value)
        elif label.startswith('temp'):
            chip['temp_c'] = _to_int(value)
        elif label.startswith('hugepages'):
            chip['hugepages_used'], chip['hugepages_total'] = _pair(value)
        elif label.startswith('aicore'):
            chip['aicore_percent'] = _to_int(value)
        elif label.startswith('memory'):
            chip['memory_used_mb'], chip['memory_total_mb'] = _pair(value)
        elif label.startswith('hbm'):
            chip['hbm_used_mb'], chip['hbm_total_mb'] = _pair(value)


def _is_chip_header(cells):
    return bool(cells) and cells[0].upper().startswith('NPU') and any(c.startswith('Health') for c in cells)


def _is_process_header(cells):
    return (bool(cells) and cells[0].upper().startswith('NPU')
            and any(c.lower().startswith('process') for c in cells[1:]))


def _process_from_cells(labels, cells):
    process = {'npu_id': None, 'chip_id': None, 'pid': None, 'container_pid': None,
               'name': '', 'memory_mb': None}
    ids = cells[0].split()
    process['npu_id'] = _to_int(ids[0]) if ids else None
    process['chip_id'] = _to_int(ids[1]) if len(ids) > 1 else None
    if len(cells) == len(labels):
        pairs = zip(labels[1:], cells[1:])
    else:
        # Unexpected cell count: first id cell is the pid, the last cell the memory,
        # whatever lies between is the name.
        pairs = [('process id', cells[1] if len(cells) > 1 else ''),
                 ('process name', ' '.join(cells[2:-1]) if len(cells) > 3 else ''),
                 ('process memory', cells[-1] if len(cells) > 2 else '')]
    for label, value in pairs:
        label = label.lower()
        if 'container' in label:
            process['container_pid'] = _to_int(value)
        elif 'memory' in label:
            process['memory_mb'] = _to_int(value.split()[0] if value.split() else value)
        elif 'name' in label:
            process['name'] = value.strip()
        elif 'id' in label:
            process['pid'] = _to_int(value)
    return process


def parse_npu_smi_info(text):
    """Parse ``npu-smi info``.

    Returns ``{'npu_smi_version': str or None, 'chips': [...], 'processes': [...]}``; chips
    and processes keep the table order. Raises NpuSmiParseError when there is no device table.
    """
    if text is None or not text.strip():
        raise NpuSmiParseError('npu-smi printed nothing', text or '')
    lines = text.splitlines()
    version = None
    chip_labels = [[], []]
    process_labels = None
    state = None
    pending = None
    chips = []
    processes = []
    header_seen = False

    for line in lines:
        if _SEPARATOR.match(line):
            continue
        cells = _cells(line)
        if cells is None:
            continue
        if version is None and not header_seen:
            match = _VERSION.search(line) or _VERSION_ALT.search(line)
            if match:
                version = match.group(1)
                continue
        if _is_chip_header(cells):
            header_seen = True
            state = 'chips'
            chip_labels[0] = cells[2].split() if len(cells) > 2 else []
            pending = None
            continue
        if _is_process_header(cells):
            state = 'processes'
            process_labels = cells
            continue
        if state == 'chips' and cells[0].startswith('Chip') and len(cells) > 1 and cells[1].startswith('Bus'):
            chip_labels[1] = cells[2].split() if len(cells) > 2 else []
            continue
        if state == 'chips':
            if len(cells) < 3:
                continue
            if pending is None:
                tokens = cells[0].split()
                if not tokens or _to_int(tokens[0]) is None:
                    continue
                pending = dict((key, None) for key in CHIP_KEYS)
                pending['npu_id'] = _to_int(tokens[0])
                pending['name'] = ' '.join(tokens[1:])
                pending['health'] = cells[1]
                _apply_values(pending, chip_labels[0], cells[2])
            else:
                tokens = cells[0].split()
                pending['chip_id'] = _to_int(tokens[0]) if tokens else None
                if len(tokens) > 1:
                    pending['device_id'] = _to_int(tokens[1])
                pending['bus_id'] = cells[1] or None
                _apply_values(pending, chip_labels[1], cells[2])
                chips.append(pending)
                pending = None
        elif state == 'processes':
            if len(cells) < 2 or 'no running processes' in line.lower():
                continue
            tokens = cells[0].split()
            if not tokens or _to_int(tokens[0]) is None:
                continue
            processes.append(_process_from_cells(process_labels, cells))

    if not header_seen:
        raise NpuSmiParseError('npu-smi output holds no device table', text)
    return {'npu_smi_version': version, 'chips': chips, 'processes': processes}


def parse_npu_smi_mapping(text):
    """Parse ``npu-smi info -m``: one dict per chip that has a logical id (``Mcu`` rows are left out)."""
    if text is None or not text.strip():
        raise NpuSmiParseError('npu-smi info -m printed nothing', text or '')
    header_seen = False
    mapping = []
    for line in text.splitlines():
        if 'NPU ID' in line and 'Chip ID' in line:
            header_seen = True
            continue
        if not header_seen:
            continue
        tokens = line.split()
        if len(tokens) < 3:
            continue
        npu_id, chip_id, logical_id = _to_int(tokens[0]), _to_int(tokens[1]), _to_int(tokens[2])
        if npu_id is None or chip_id is None or logical_id is None:
            continue
        mapping.append({'npu_id': npu_id, 'chip_id': chip_id, 'logical_id': logical_id,
                        'name': ' '.join(tokens[3:])})
    if not header_seen:
        raise NpuSmiParseError('npu-smi info -m output holds no mapping table', text)
    return mapping


def parse_npu_smi_list(text):
    """Parse ``npu-smi info -l``: ``{'total_count': int, 'npus': [{'npu_id', 'chip_count'}]}``."""
    total = None
    npus = []
    for line in (text or '').splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        key = ' '.join(key.split()).lower()
        if key == 'total count':
            total = _to_int(value)
        elif key == 'npu id':
            npus.append({'npu_id': _to_int(value), 'chip_count': None})
        elif key == 'chip count' and npus:
            npus[-1]['chip_count'] = _to_int(value)
    if total is None:
        raise NpuSmiParseError('npu-smi info -l output holds no "Total Count"', text or '')
    return {'total_count': total, 'npus': npus}


def merge_logical_ids(chips, mapping):
    """Copies of ``chips`` with ``logical_id`` taken from a parsed ``-m`` mapping (None when unknown)."""
    index = {}
    for entry in mapping or []:
        index[(entry['npu_id'], entry['chip_id'])] = entry['logical_id']
    merged = []
    for chip in chips:
        chip = dict(chip)
        chip['logical_id'] = index.get((chip.get('npu_id'), chip.get('chip_id')))
        merged.append(chip)
    return merged


def chips_healthy(chips):
    """True when there is at least one chip and every chip reports ``OK``."""
    return bool(chips) and all(chip.get('health') == HEALTH_OK for chip in chips)
