# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/checks.py: the one check shape, its severity vocabulary, and that every producer uses it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import checks
from ansible_collections.ascend.mindie.plugins.module_utils import diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import model_dir
from ansible_collections.ascend.mindie.plugins.module_utils import precheck

SHAPE = set(checks.KEYS) | set(checks.LEGACY_KEYS)


def test_make_builds_the_shape_with_the_legacy_names():
    c = checks.make('npu_health', 'npu', 'fail', 'unhealthy: NPU 3 is Alarm', 'Inspect it.', '7.1.1', {'chips': [3]})
    assert c == {'id': 'npu_health', 'category': 'npu', 'status': 'fail', 'message': 'unhealthy: NPU 3 is Alarm',
                 'hint': 'Inspect it.', 'guide_section': '7.1.1', 'details': {'chips': [3]},
                 'name': 'npu_health', 'reason': 'unhealthy: NPU 3 is Alarm', 'problem': 'npu', 'severity': 'error'}
    assert set(c) == SHAPE
    for legacy, key in checks.LEGACY_KEYS.items():
        if legacy != 'severity':
            assert c[legacy] == c[key]


def test_defaults():
    c = checks.make('os', 'host', 'pass', 'openEuler 24.03')
    assert (c['hint'], c['guide_section'], c['details'], c['severity']) == ('', '', {}, 'ok')


@pytest.mark.parametrize('word, status, severity', [
    ('pass', 'pass', 'ok'), ('info', 'info', 'info'), ('warn', 'warn', 'warning'), ('fail', 'fail', 'error'),
    ('ok', 'pass', 'ok'), ('warning', 'warn', 'warning'), ('error', 'fail', 'error'),
])
def test_one_vocabulary_and_the_documented_mapping(word, status, severity):
    c = checks.make('x', 'config', word, 'm')
    assert (c['status'], c['severity']) == (status, severity)


def test_unknown_words_are_refused_with_the_choices():
    with pytest.raises(checks.CheckError) as exc:
        checks.make('x', 'host', 'bad', 'm')
    assert 'bad' in str(exc.value) and 'pass, info, warn, fail' in str(exc.value)
    with pytest.raises(checks.CheckError) as exc:
        checks.make('x', 'hardware', 'pass', 'm')
    assert 'hardware' in str(exc.value)
    with pytest.raises(checks.CheckError):
        checks.make('', 'host', 'pass', 'm')


def test_worst_count_ids_findings():
    found = [checks.make('a', 'host', 'pass', ''), checks.make('b', 'host', 'info', ''),
             checks.make('c', 'npu', 'warn', ''), checks.make('d', 'npu', 'fail', ''), checks.make('e', 'npu', 'fail', '')]
    assert checks.worst([]) == 'pass'
    assert checks.worst(found[:2]) == 'info'
    assert checks.worst(found[:3]) == 'warn'
    assert checks.worst(found) == 'fail'
    assert checks.count(found) == {'pass': 1, 'info': 1, 'warn': 1, 'fail': 2}
    assert checks.ids(found) == ['d', 'e']
    assert checks.ids(found, 'warn') == ['c']
    assert [c['id'] for c in checks.findings(found)] == ['b', 'c', 'd', 'e']


def test_sort_is_worst_first_then_section_then_category_and_stable():
    found = [checks.make('1', 'slow_inference', 'warn', 'w', guide_section='7.1.3'),
             checks.make('2', 'out_of_memory', 'error', 'e2', guide_section='7.1.2'),
             checks.make('3', 'npu', 'info', 'i', guide_section='7.1.3'),
             checks.make('4', 'config', 'error', 'e1', guide_section='7.1.1'),
             checks.make('5', 'config', 'error', 'e3', guide_section='7.1.1')]
    assert [c['id'] for c in checks.sort_checks(found)] == ['4', '5', '2', '1', '3']


def test_summary_line():
    assert checks.summarize([]) == 'OK: no problem found'
    assert checks.summarize([checks.make('x', 'npu', 'info', 'm', guide_section='7.1.3')]) == 'OK: no problem found'
    found = [checks.make('1', 'slow_inference', 'warn', 'maxBatchSize is 2', guide_section='7.1.3'),
             checks.make('2', 'config', 'fail', 'config.json has mode 0644', guide_section='7.1.1'),
             checks.make('3', 'config', 'fail', 'config.json is not ours', guide_section='7.1.1'),
             checks.make('4', 'host', 'fail', 'ports busy')]
    assert checks.summarize(found, ['npu-smi: gone']) == (
        'FAIL: 3 error(s), 1 warning(s): config (7.1.1), host, slow_inference (7.1.3); first: config.json has mode '
        '0644 [1 item(s) could not be collected]')
    assert checks.summarize(found[:1]).startswith('WARN: 0 error(s), 1 warning(s): slow_inference (7.1.3)')


# ---------------------------------------------------------------------- every producer makes this shape

def test_prechecks_make_the_shape():
    results = (precheck.check_os('Ubuntu', '22.04', {}) + precheck.check_arch('x86_64', 'aarch64')
               + precheck.check_ports({1040: 1}, [1040], None) + precheck.check_npu(None, 'npu-smi: not found', [0], None))
    assert results and all(set(r) == SHAPE for r in results)
    assert [(r['id'], r['status'], r['severity']) for r in results] == [
        ('os', 'warn', 'warning'), ('architecture', 'fail', 'error'), ('ports_free', 'fail', 'error'),
        ('npu_smi', 'fail', 'error')]
    assert precheck.worst is checks.worst


def test_weight_checks_make_the_shape(tmp_path):
    found = model_dir.check_model_dir(str(tmp_path / 'none')) + model_dir.check_permissions(str(tmp_path))[0]
    assert all(set(c) == SHAPE | {'category'} and c['category'] == 'model' for c in found)
    assert [(c['id'], c['guide_section']) for c in found] == [
        ('model_dir_exists', '7.1.2'), ('model_dir_mode', '7.1.1'), ('model_config_mode', '7.1.1')]


def test_diagnose_findings_make_the_shape():
    found = diagnose.check_container(None, image_present=False, image_ref='mindie:1')
    assert [(f['status'], f['severity'], f['category'], f['problem'], f['guide_section']) for f in found] == [
        ('fail', 'error', 'container', 'container', '7.1.1'), ('warn', 'warning', 'container', 'container', '7.1.1')]
    assert all(set(f) == SHAPE for f in found)
    assert diagnose.sort_findings is checks.sort_checks and diagnose.summarize is checks.summarize
    assert not hasattr(diagnose, 'check_model_dir')  # the adapter is gone: weight checks are findings as they are
    assert set(diagnose.PROBLEMS) <= set(checks.CATEGORIES)
