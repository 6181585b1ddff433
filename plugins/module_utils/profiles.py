# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware profile table: the one place that knows the servers this collection deploys on.

Everything the collection knows about an Atlas 800I A2 32G or 64G server lives in ``PROFILES`` below: the chip
family and models ``npu-smi`` prints, the HBM per chip, the NPU counts Qwen2-VL-7B may use, the instance
layouts the guide covers, the host memory the guide asks for, the ``config.json`` defaults and ranges the service
role writes and the diagnosis checks, the batch size and reference figures of the guide's pure model inference (``run_pa.sh``), and the inventory group that
suggests the profile. Modules read it directly; roles through the filter ``ascend.mindie.mindie_profile`` and the
lookup ``ascend.mindie.mindie_profiles``. Nothing else in ``plugins/``, ``roles/``, ``playbooks/`` or
``inventories/`` may repeat these figures.

Sources: the deployment guide (``qwen2-vl-mindie-guide.md``: 3.1/3.2 hardware, 5.1 ``run_pa.sh``, 5.3 benchmarks,
6.1.3 ``npuMemSize``/``maxBatchSize`` table) and the model card (NPU counts).

Public API (pure functions, no I/O; every returned dict is a fresh copy of plain dicts, lists and scalars):
  PROFILES                        name -> profile (read-only: use get_profile for a copy)
  profile_names()                 the profile names, sorted
  get_profile(name)               a copy of one profile, or None for an unknown name / None
  table()                         a copy of the whole table
  project(field=None, fields=None) {name: value at a dotted path} / {name: {key: value at path}}
  chip_is_910b(name)              True for the names a chip of the family prints as
  classify(chips)                 the profile of a whole server (all its chips seen), or None
  classify_by_hbm(chips)          the profile from a subset of its chips (a container's), or None
  profile_for_group(group_names)  the profile an inventory group suggests, or None
  describe_range(key)             '8-10 on 32G, 16-20 on 64G' for npu_mem_size / max_batch_size
  describe_min_memory()           '>= 64 GB (32G) / 128 GB (64G)'
  describe_supported()            '8x 910B with 32768 or 65536 MB HBM each'
  supported_labels()              'Atlas 800I A2 32G/64G'
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

PROFILE_32G = 'atlas-800i-a2-32g'
PROFILE_64G = 'atlas-800i-a2-64g'

# The chip families and how npu-smi names their chips: 910B4, 910B3, 910B, Ascend910, "Ascend 910B4" (some driver
# builds print the bare family or the Ascend prefix), so the family is recognised by the prefix after "Ascend".
CHIP_NAME_PREFIXES = {'910B': '910'}

# What every Atlas 800I A2 has, whatever its HBM.
_ATLAS_800I_A2 = {'server': 'Atlas 800I A2', 'chip_family': '910B', 'chips': 8}

# One column per profile, one row per field, as the guide's own tables are laid out.
_COLUMNS = (PROFILE_32G, PROFILE_64G)
_ROWS = (
    ('label', ('32G', '64G')),
    ('chip_models', (('910B4',), ('910B3',))),
    ('hbm_mb', (32768, 65536)),
    # The NPU counts Qwen2-VL-7B may use (the model card; guide 3.1/5.1.1 "must use all eight", 3.2/5.1.2 "four or eight").
    ('npu_counts', ((8,), (4, 8))),
    # The instance layouts (NxM: N MindIE instances of M NPUs each on one server) the guide covers: 32G "must use
    # all eight" (one 8-card instance), 64G "4 cards or 8 cards" (one 8-card instance, two 4-card ones, or one 4-card
    # one). mindie_instance_layout outside these needs mindie_instance_layout_beyond_guide (ascend.mindie.mindie_plan).
    ('guide_layouts', (('1x8',), ('1x8', '2x4', '1x4'))),
    # Host memory in GB (guide 3.1, 3.2).
    ('min_memory_gb', (64, 128)),
    ('inventory_group', ('atlas_800i_a2_32g', 'atlas_800i_a2_64g')),
    # config.json (guide 6.1.3: 32G "stability first", 64G "throughput first"): GB of KV cache per NPU, and the
    # requests served at once; the default is what the service role writes.
    ('npu_mem_size', ({'default': 8, 'min': 8, 'max': 10}, {'default': 16, 'min': 16, 'max': 20})),
    ('max_batch_size', ({'default': 8, 'min': 4, 'max': 8}, {'default': 32, 'min': 16, 'max': 32})),
    # run_pa.sh: the batch size of the guide's benchmark (5.3) and the range 5.1.3 recommends.
    ('inference', ({'max_batch_size': 4, 'max_batch_size_range': {'min': 1, 'max': 4}},
                   {'max_batch_size': 32, 'max_batch_size_range': {'min': 4, 'max': 32}})),
    # The guide's 5.3.1 / 5.3.2 results (1902x1080 image, input 8192, output 80).
    ('run_pa_reference', ({'batch': 4, 'tokens': 320, 'latency_s': 7.44, 'throughput_tokens_per_s': 43},
                          {'batch': 32, 'tokens': 2560, 'latency_s': 25.912, 'throughput_tokens_per_s': 98.79})),
    ('guide_sections', ({'hardware': '3.1', 'run_pa': '5.1.1', 'benchmark': '5.3.1', 'service': '6.1.3'},
                        {'hardware': '3.2', 'run_pa': '5.1.2', 'benchmark': '5.3.2', 'service': '6.1.3'})),
)
PROFILES = dict(
    (name, dict(_ATLAS_800I_A2, name=name, **dict((field, values[column]) for field, values in _ROWS)))
    for column, name in enumerate(_COLUMNS))

RANGE_KEYS = ('npu_mem_size', 'max_batch_size')


class ProfileError(ValueError):
    """A request to the table that cannot be answered (an unknown field path, a bad argument)."""


def _plain(value):
    """A deep copy made of dicts, lists and scalars only (tuples become lists), safe to hand to Jinja."""
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.copy(value)


def profile_names():
    """The profile names, sorted."""
    return sorted(PROFILES)


def get_profile(name):
    """A copy of the profile ``name``, or None when ``name`` is None or not a profile."""
    if not isinstance(name, str) or name not in PROFILES:
        return None
    return _plain(PROFILES[name])


def table():
    """A copy of the whole table: name -> profile."""
    return _plain(PROFILES)


def _at(profile, path):
    value = profile
    for part in path.split('.'):
        if not isinstance(value, dict) or part not in value:
            raise ProfileError('the profile table has no field %r (in %s; known top-level fields: %s)'
                               % (path, profile['name'], ', '.join(sorted(profile))))
        value = value[part]
    return _plain(value)


def project(field=None, fields=None):
    """One column of the table, or a few.

    ``field``: a dotted path (``'min_memory_gb'``, ``'npu_mem_size.default'``) -> ``{name: value}``.
    ``fields``: a dict ``{key: dotted path}`` -> ``{name: {key: value}}``. Exactly one of them must be given;
    an unknown path raises ProfileError naming it.
    """
    if (field is None) == (fields is None):
        raise ProfileError('give exactly one of field (a dotted path) or fields (a dict of key to dotted path)')
    if field is not None:
        if not isinstance(field, str) or not field:
            raise ProfileError('field must be a dotted path such as npu_mem_size.default, got %r' % (field,))
        return dict((name, _at(PROFILES[name], field)) for name in PROFILES)
    if not isinstance(fields, dict) or not fields or not all(isinstance(p, str) and p for p in fields.values()):
        raise ProfileError('fields must be a non-empty dict of key to dotted path, got %r' % (fields,))
    return dict((name, dict((key, _at(PROFILES[name], path)) for key, path in fields.items())) for name in PROFILES)


def chip_in_family(name, family):
    """True when ``name`` (as npu-smi prints it) is a chip of ``family`` (a key of CHIP_NAME_PREFIXES)."""
    normalised = re.sub(r'[\s_-]', '', name or '').upper()
    if normalised.startswith('ASCEND'):
        normalised = normalised[len('ASCEND'):]
    return normalised.startswith(CHIP_NAME_PREFIXES[family])


def chip_is_910b(name):
    """True for the names a chip of the profiles' family prints as (see CHIP_NAME_PREFIXES)."""
    return chip_in_family(name, '910B')


def _matches(profile, chips):
    return (all(chip_in_family(chip.get('name'), profile['chip_family']) for chip in chips)
            and set(chip.get('hbm_total_mb') for chip in chips) == set([profile['hbm_mb']]))


def classify(chips):
    """The profile of a whole server: exactly its number of chips, all of its family, all with its HBM size.

    ``chips`` are the chip dicts of ``npu_smi.parse_npu_smi_info`` (``name``, ``hbm_total_mb``). None otherwise.
    """
    chips = list(chips or [])
    for name in profile_names():
        profile = PROFILES[name]
        if len(chips) == profile['chips'] and _matches(profile, chips):
            return name
    return None


def classify_by_hbm(chips):
    """The profile from some of a server's chips (a container, or ASCEND_VISIBLE_DEVICES, shows a subset).

    At least one and at most the profile's number of chips, all of its family, all with its HBM size; the whole
    server classifies the same as with ``classify``. None otherwise.
    """
    chips = list(chips or [])
    for name in profile_names():
        profile = PROFILES[name]
        if 0 < len(chips) <= profile['chips'] and _matches(profile, chips):
            return name
    return None


def profile_for_group(group_names):
    """The profile the first of ``group_names`` that is a profile's inventory group suggests, or None."""
    by_group = dict((profile['inventory_group'], name) for name, profile in PROFILES.items())
    for group in group_names or []:
        if group in by_group:
            return by_group[group]
    return None


def range_text(name, key):
    """'8-10' for profile ``name`` and ``key`` (npu_mem_size or max_batch_size)."""
    limits = PROFILES[name][key]
    return '%s-%s' % (limits['min'], limits['max'])


def describe_range(key):
    """The guide's range of ``key`` on every profile: '8-10 on 32G, 16-20 on 64G'."""
    if key not in RANGE_KEYS:
        raise ProfileError('no range %r in the profile table (known: %s)' % (key, ', '.join(RANGE_KEYS)))
    return ', '.join('%s on %s' % (range_text(name, key), PROFILES[name]['label']) for name in profile_names())


def describe_min_memory():
    """The guide's host memory minimums: '>= 64 GB (32G) / 128 GB (64G)'."""
    return '>= ' + ' / '.join('%s GB (%s)' % (PROFILES[name]['min_memory_gb'], PROFILES[name]['label'])
                              for name in profile_names())


def supported_labels():
    """'Atlas 800I A2 32G/64G' (profiles grouped by server)."""
    servers = {}
    for name in profile_names():
        servers.setdefault(PROFILES[name]['server'], []).append(PROFILES[name]['label'])
    return ', '.join('%s %s' % (server, '/'.join(labels)) for server, labels in sorted(servers.items()))


def describe_supported():
    """'8x 910B with 32768 or 65536 MB HBM each' (profiles grouped by chip count and family)."""
    groups = {}
    for name in profile_names():
        profile = PROFILES[name]
        groups.setdefault((profile['chips'], profile['chip_family']), []).append(str(profile['hbm_mb']))
    return ', '.join('%dx %s with %s MB HBM each' % (chips, family, ' or '.join(sizes))
                     for (chips, family), sizes in sorted(groups.items()))
