# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindIE's config rules are implemented twice: the collection's schema and the sandbox simulator's daemon.

Both judge the same table, tests/fixtures/mindie/conformance/cases.json: every case is a change of one runnable
base config.json and the verdict MindIE gives it (accepted / refused, and the key it names). The collection
judges with ``mindie_schema.validate_config`` (what ``ascend.mindie.mindie_config`` refuses before writing);
the simulator with what its daemon does before it listens: ``mindie_sim.config.validate``, the warm-up HBM plan
of the node (``perf.daemon_hbm_plan``) and the HTTP server layout (``daemon.http_layout_errors``). File modes are
judged by mindie_config's ``mode`` option and the daemon's config.json check.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os
import re
import sys

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema
from ansible_collections.ascend.mindie.plugins.modules import mindie_config

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
CASES_DIR = os.path.join(REPO, 'tests', 'fixtures', 'mindie', 'conformance')
SIM_LIB = os.path.join(REPO, 'sandbox', 'images', 'mindie-sim', 'rootfs', 'usr', 'local', 'Ascend', 'mindie', '1.0.0',
                       'mindie-service', 'lib', 'simulator')

if SIM_LIB not in sys.path:
    sys.path.insert(0, SIM_LIB)
from mindie_sim import config as sim_config, daemon as sim_daemon, perf as sim_perf  # noqa: E402

with open(os.path.join(CASES_DIR, 'cases.json')) as _handle:
    TABLE = json.load(_handle)

PATH_PART = re.compile(r'([^.\[\]]+)|\[(\d+)\]')


def _parts(path):
    return [int(index) if index else name for name, index in PATH_PART.findall(path)]


def _walk(config, path):
    parts = _parts(path)
    node = config
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def make_config(case):
    with open(os.path.join(CASES_DIR, TABLE['base'])) as handle:
        config = json.load(handle)
    for changes in (TABLE['base_set'], case.get('set', {})):
        for path, value in changes.items():
            node, last = _walk(config, path)
            node[last] = copy.deepcopy(value)
    for path in case.get('delete', ()):
        node, last = _walk(config, path)
        del node[last]
    return config


def collection_judge(config):
    """The violations mindie_config would refuse the file with (an empty list: accepted)."""
    return mindie_schema.validate_config(copy.deepcopy(config))


def simulator_judge(config, node, service_dir):
    """(errors, settings) of the simulated daemon up to listening (an empty list: it starts)."""
    try:
        settings = sim_config.validate(copy.deepcopy(config), str(service_dir))
    except sim_config.ConfigError as exc:
        return exc.errors, exc.settings
    errors = []
    chip = TABLE['nodes'][node]['chip']
    plan = sim_perf.daemon_hbm_plan(chip, TABLE['weights_bytes'], settings['world_size'], settings['npu_mem'],
                                    settings['max_prefill_tokens'], 0.8)
    if plan['hang']:
        errors.append('warm-up: npuMemSize %d GB, the KV cache allocation never returns (start-up hangs)'
                      % settings['npu_mem'])
    elif not plan['fits']:
        errors.append('Warmup failed: out of memory, need %d of %d MB free; decrease `npuMemSize`'
                      % (plan['hold'], plan['free']))
    errors += sim_daemon.http_layout_errors(settings)
    return errors, settings


def _ids(items, field):
    return [item[field] for item in items]


def test_the_table_covers_what_the_issue_names():
    names = ' '.join(_ids(TABLE['cases'], 'name'))
    for topic in ('npuMemSize -1 on a VL model', 'port below 1024', 'all three ports equal', 'httpsEnabled the string',
                  'maxInputTokenLen above maxSeqLen', 'worldSize 4 with a group of 8', 'modelName', 'unknown key'):
        assert topic in names
    assert set(c['verdict'] for c in TABLE['cases']) == {'accepted', 'refused'}
    assert len(TABLE['cases']) >= 40 and len(TABLE['modes']) >= 5


@pytest.mark.parametrize('case', TABLE['cases'], ids=_ids(TABLE['cases'], 'name'))
def test_both_judge_alike(case, tmp_path):
    config = make_config(case)
    mindie_verdict = case['verdict']
    collection_verdict = case.get('collection', mindie_verdict)
    assert ('collection' in case) == ('why' in case), 'a deliberate difference says why'

    violations = collection_judge(config)
    assert ('refused' if violations else 'accepted') == collection_verdict, violations
    if collection_verdict == 'refused':
        assert any(v.startswith('`%s`' % case['key']) for v in violations), (case['key'], violations)

    errors, settings = simulator_judge(config, case.get('node', TABLE['default_node']), tmp_path)
    assert ('refused' if errors else 'accepted') == mindie_verdict, errors
    if mindie_verdict == 'refused':
        assert any(case['mindie_says'] in error for error in errors), (case['mindie_says'], errors)
    for key, value in case.get('effective', {}).items():
        assert settings[key] == value, (key, settings[key])


@pytest.mark.parametrize('case', [c for c in TABLE['cases'] if 'unknown_key' in c], ids=lambda c: c['name'])
def test_unknown_keys_are_ignored_by_mindie_and_refused_by_the_merge(case):
    """MindIE reads the keys it knows; the collection's merge refuses a key neither known nor in the file."""
    settings = {}
    node, last = settings, _parts(case['unknown_key'])
    for part in last[:-1]:
        node = node.setdefault(part, {})
    node[last[-1]] = case['set'][case['unknown_key']]
    existing = make_config({})
    _merged, problems = mindie_schema.merge_and_check(existing, settings)
    assert len(problems) == 1 and problems[0].startswith('`%s`' % case['unknown_key']), problems
    _merged, problems = mindie_schema.merge_and_check(existing, settings, allow_unknown_keys=True)
    assert problems == []


@pytest.mark.parametrize('case', TABLE['modes'], ids=_ids(TABLE['modes'], 'mode'))
def test_file_modes_judged_alike(case, tmp_path):
    try:
        mindie_config.resolve_mode(case['mode'], None)
        collection_verdict = 'accepted'
    except mindie_config.ConfigError:
        collection_verdict = 'refused'
    assert collection_verdict == case['verdict']

    path = tmp_path / 'config.json'
    path.write_text(json.dumps(make_config({})))
    os.chmod(str(path), int(case['mode'], 8))
    errors = sim_config.check_file_permission(str(path))
    assert ('refused' if errors else 'accepted') == case['verdict'], errors
    if case['verdict'] == 'refused':
        assert any(case['mindie_says'] in error for error in errors), errors
