# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware profile table (plugins/module_utils/profiles.py), its filter and lookup, and its consumers.

The table is checked against the real npu-smi captures (tests/fixtures, copies of /work/shared/ascend/fixtures,
which are read too where they exist), the sandbox's simulated hardware, and the roles' defaults rendered by
ansible-playbook.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError, AnsibleLookupError

from ansible_collections.ascend.mindie.plugins.filter.profiles import FilterModule, mindie_profile
from ansible_collections.ascend.mindie.plugins.lookup.mindie_profiles import LookupModule
from ansible_collections.ascend.mindie.plugins.module_utils import diagnose
from ansible_collections.ascend.mindie.plugins.module_utils import precheck as pc
from ansible_collections.ascend.mindie.plugins.module_utils import profiles
from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import parse_npu_smi_info, parse_npu_smi_mapping
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import PROFILE_32G, PROFILE_64G

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
CAPTURE_DIRS = [d for d in (os.path.join(REPO, 'tests', 'fixtures', 'npu-smi'), '/work/shared/ascend/fixtures/npu-smi')
                if os.path.isdir(d)]
VARIANTS = os.path.join(REPO, 'tests', 'fixtures', 'npu-smi', 'variants')
SANDBOX_PROFILES = os.path.join(REPO, 'sandbox', 'images', 'npu-node', 'rootfs', 'usr', 'local', 'lib', 'ascend-sim',
                                'profiles.json')
CONTRACT_KEYS = {'name', 'label', 'server', 'chip_family', 'chip_models', 'chips', 'hbm_mb', 'npu_counts',
                 'min_memory_gb', 'inventory_group', 'npu_mem_size', 'max_batch_size', 'inference', 'run_pa_reference'}
# Whole-server captures and the profile each is (the file names say what the machine was).
CAPTURES = {
    'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt': PROFILE_32G,
    '910b3x8_64g_busy_25.3.rc1.txt': PROFILE_64G,
}
VARIANT_PROFILES = {
    'npu-smi_25.0.rc1.1_na_values.txt': (PROFILE_32G, PROFILE_32G),
    'npu-smi_25.0.rc1.1_no_process_table.txt': (PROFILE_32G, PROFILE_32G),
    'npu-smi_25.0.rc1.1_unhealthy.txt': (PROFILE_32G, PROFILE_32G),
    'npu-smi_25.3.rc1_named_processes.txt': (PROFILE_64G, PROFILE_64G),
    'npu-smi_26.0.rc1_wide_container_pid.txt': (PROFILE_64G, PROFILE_64G),
    # (classify, classify_by_hbm): a container's four cards are no whole server, but still 32G cards.
    'npu-smi_25.0.rc1.1_subset_npu4-7.txt': (None, PROFILE_32G),
    'npu-smi_310p_two_chips_no_hbm.txt': (None, None),
}


def read(path):
    with open(path) as handle:
        return handle.read()


def chips(name, total, count=8):
    return [{'name': name, 'hbm_total_mb': total, 'health': 'OK'} for dummy in range(count)]


# ---------------------------------------------------------------------- the table itself

def test_every_row_has_a_value_per_profile():
    assert all(len(values) == len(profiles._COLUMNS) for dummy, values in profiles._ROWS)
    assert sorted(profiles._COLUMNS) == profiles.profile_names()


@pytest.mark.parametrize('name', profiles.profile_names())
def test_every_profile_is_complete_and_consistent(name):
    profile = profiles.PROFILES[name]
    assert CONTRACT_KEYS <= set(profile)
    assert profile['name'] == name
    assert profile['inventory_group'] == name.replace('-', '_')
    assert name.endswith('-' + profile['label'].lower())
    assert profile['npu_counts'] and all(0 < count <= profile['chips'] for count in profile['npu_counts'])
    assert profile['chips'] in profile['npu_counts']
    assert all(profiles.chip_in_family(model, profile['chip_family']) for model in profile['chip_models'])
    for key in profiles.RANGE_KEYS:
        limits = profile[key]
        assert 0 < limits['min'] <= limits['default'] <= limits['max'], key
    inference = profile['inference']
    assert inference['max_batch_size_range']['min'] <= inference['max_batch_size'] <= inference['max_batch_size_range']['max']
    reference = profile['run_pa_reference']
    # The guide's benchmark is at the batch size run_pa uses by default, and its figures agree with each other
    # (output 80 tokens per request; throughput = tokens / latency, as the guide rounds it).
    assert reference['batch'] == inference['max_batch_size']
    assert reference['tokens'] == 80 * reference['batch']
    assert abs(reference['tokens'] / reference['latency_s'] - reference['throughput_tokens_per_s']) < 0.05


def test_the_guides_figures():
    """The values the collection had before the table, spelled out once more so that a typo in the table shows."""
    small, large = profiles.PROFILES[PROFILE_32G], profiles.PROFILES[PROFILE_64G]
    assert (small['hbm_mb'], large['hbm_mb']) == (32 * 1024, 64 * 1024)
    assert (small['npu_counts'], large['npu_counts']) == ((8,), (4, 8))
    assert (small['min_memory_gb'], large['min_memory_gb']) == (64, 128)
    assert profiles.project(fields={'m': 'npu_mem_size.default', 'b': 'max_batch_size.default'}) == {
        PROFILE_32G: {'m': 8, 'b': 8}, PROFILE_64G: {'m': 16, 'b': 32}}
    assert profiles.describe_range('npu_mem_size') == '8-10 on 32G, 16-20 on 64G'
    assert profiles.describe_range('max_batch_size') == '4-8 on 32G, 16-32 on 64G'
    assert (small['inference']['max_batch_size'], large['inference']['max_batch_size']) == (4, 32)


def test_copies_are_plain_and_do_not_change_the_table():
    profile = profiles.get_profile(PROFILE_64G)
    assert profile['npu_counts'] == [4, 8] and isinstance(profile['chip_models'], list)
    profile['npu_counts'].append(2)
    profile['npu_mem_size']['default'] = 99
    profiles.table()[PROFILE_32G]['hbm_mb'] = 1
    assert profiles.PROFILES[PROFILE_64G]['npu_counts'] == (4, 8)
    assert profiles.get_profile(PROFILE_64G)['npu_mem_size']['default'] == 16
    assert profiles.PROFILES[PROFILE_32G]['hbm_mb'] == 32 * 1024
    for name in (None, '', 'atlas-800i-a2-32G', 5, ['atlas-800i-a2-32g']):
        assert profiles.get_profile(name) is None


def test_project():
    assert profiles.project(field='min_memory_gb') == {PROFILE_32G: 64, PROFILE_64G: 128}
    assert profiles.project(field='inference.max_batch_size') == {PROFILE_32G: 4, PROFILE_64G: 32}
    assert profiles.project(field='npu_counts') == {PROFILE_32G: [8], PROFILE_64G: [4, 8]}
    with pytest.raises(profiles.ProfileError, match="no field 'npu_mem_size.typo'"):
        profiles.project(field='npu_mem_size.typo')
    with pytest.raises(profiles.ProfileError, match='exactly one'):
        profiles.project()
    with pytest.raises(profiles.ProfileError, match='exactly one'):
        profiles.project(field='label', fields={'a': 'label'})
    with pytest.raises(profiles.ProfileError, match='fields must be'):
        profiles.project(fields={'a': 3})
    with pytest.raises(profiles.ProfileError, match='no range'):
        profiles.describe_range('hbm_mb')


# ---------------------------------------------------------------------- classification of real captures

@pytest.mark.parametrize('directory', CAPTURE_DIRS)
@pytest.mark.parametrize('capture, expected', sorted(CAPTURES.items()))
def test_real_captures_are_their_profile(directory, capture, expected):
    parsed = parse_npu_smi_info(read(os.path.join(directory, capture)))['chips']
    assert profiles.classify(parsed) == expected
    assert profiles.classify_by_hbm(parsed) == expected
    profile = profiles.PROFILES[expected]
    # What the table says of the profile is what the real machine prints.
    assert len(parsed) == profile['chips']
    assert set(chip['name'] for chip in parsed) <= set(profile['chip_models'])
    assert set(chip['hbm_total_mb'] for chip in parsed) == set([profile['hbm_mb']])


@pytest.mark.parametrize('directory', CAPTURE_DIRS)
def test_the_logical_id_mapping_names_chips_of_the_family(directory):
    mapping = parse_npu_smi_mapping(read(os.path.join(directory, 'atlas800ia2_910b4x8_info-m.txt')))
    names = [entry['name'] for entry in mapping if entry.get('logical_id') is not None]
    assert len(names) == 8 and all(profiles.chip_is_910b(name) for name in names)


@pytest.mark.parametrize('variant, expected', sorted(VARIANT_PROFILES.items()))
def test_variants(variant, expected):
    parsed = parse_npu_smi_info(read(os.path.join(VARIANTS, variant)))['chips']
    assert (profiles.classify(parsed), profiles.classify_by_hbm(parsed)) == expected


def test_the_sandbox_simulates_the_tables_hardware():
    """The simulated nodes (sandbox/images/npu-node) must be what the table calls each profile."""
    with open(SANDBOX_PROFILES) as handle:
        simulated = json.load(handle)
    for name in profiles.profile_names():
        node = simulated[name[len('atlas-'):]]
        assert profiles.classify(node['chips']) == name, name


class TestRules(object):
    @pytest.mark.parametrize('name', ['910B4', '910B3', '910B', 'Ascend910', 'Ascend 910B4', 'ascend910b4', 'ASCEND_910B3'])
    def test_names_of_the_family(self, name):
        assert profiles.chip_is_910b(name)
        assert profiles.classify(chips(name, 32 * 1024)) == PROFILE_32G
        assert profiles.classify(chips(name, 64 * 1024)) == PROFILE_64G

    @pytest.mark.parametrize('name', ['310P3', '310', '', None, 'Ascend310P'])
    def test_other_chips(self, name):
        assert not profiles.chip_is_910b(name)
        assert profiles.classify(chips(name, 32 * 1024)) is None
        assert profiles.classify_by_hbm(chips(name, 32 * 1024, 4)) is None

    @pytest.mark.parametrize('given, whole, subset', [
        (chips('910B4', 32 * 1024, 4), None, PROFILE_32G),
        (chips('910B3', 64 * 1024, 1), None, PROFILE_64G),
        (chips('910B4', 32 * 1024, 16), None, None),
        (chips('910B4', 32 * 1024, 9), None, None),
        (chips('910B4', 32 * 1024, 7) + chips('910B3', 64 * 1024, 1), None, None),
        (chips('910B4', 48 * 1024), None, None),
        (chips('910B4', None), None, None),
        ([], None, None),
        (None, None, None),
    ])
    def test_whole_server_and_subset(self, given, whole, subset):
        assert profiles.classify(given) == whole
        assert profiles.classify_by_hbm(given) == subset

    def test_profile_for_group(self):
        assert profiles.profile_for_group(['atlas_800i_a2_64g', 'mindie_nodes']) == PROFILE_64G
        assert profiles.profile_for_group(['mindie_nodes', 'atlas_800i_a2_32g']) == PROFILE_32G
        assert profiles.profile_for_group(['mindie_nodes']) is None
        assert profiles.profile_for_group([]) is None
        assert profiles.profile_for_group(None) is None


# ---------------------------------------------------------------------- consumers read the table

def test_diagnose_uses_the_one_subset_rule():
    """The diagnosis had its own HBM-only rule: a non-910B card with 32 GB HBM counted as a 32G node. It now
    uses profiles.classify_by_hbm, the one rule (family and HBM size, at most a whole server)."""
    capture = read(os.path.join(VARIANTS, 'npu-smi_25.0.rc1.1_subset_npu4-7.txt'))
    assert diagnose.check_npu(capture)[2] == PROFILE_32G
    other = capture.replace('910B4', '310P3')
    assert parse_npu_smi_info(other)['chips'][0]['name'] == '310P3'
    assert diagnose.check_npu(other)[2] is None


def test_diagnose_texts_come_from_the_table(monkeypatch):
    config = {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': 12}]},
                                'ScheduleConfig': {'maxBatchSize': 8}}}
    text = ' '.join(f['message'] + ' ' + f['hint'] for f in diagnose.check_config(config, PROFILE_64G))
    assert "npuMemSize is 12, below the guide's 16-20 for 64G" in text
    assert "maxBatchSize is 8, below the guide's 16-32 for 64G" in text
    changed = dict(profiles.PROFILES[PROFILE_64G], npu_mem_size={'default': 12, 'min': 12, 'max': 14}, label='64X')
    monkeypatch.setitem(profiles.PROFILES, PROFILE_64G, changed)
    text = ' '.join(f['message'] + ' ' + f['hint'] for f in diagnose.check_config(config, PROFILE_64G))
    assert 'npuMemSize' not in text
    minus_one = {'BackendConfig': {'ModelDeployConfig': {'ModelConfig': [{'modelName': 'qwen2_vl', 'npuMemSize': -1}]}}}
    hints = [f['hint'] for f in diagnose.check_config(minus_one, PROFILE_32G)]
    assert 'Set npuMemSize to a fixed size (guide: 8-10 on 32G, 12-14 on 64X).' in hints


def test_precheck_counts_and_texts_come_from_the_table(monkeypatch):
    npu = {'npu_smi_version': '25.0.rc1.1', 'count': 8, 'processes': [],
           'chips': [dict(c, npu_id=i, logical_id=i) for i, c in enumerate(chips('310P3', 24 * 1024))]}
    check = dict((c['name'], c) for c in pc.check_npu(npu, None, list(range(8)), None))['npu_profile']
    # The same text as before the table.
    assert check['reason'] == 'not an Atlas 800I A2 32G/64G: 8 chips named 310P3 with 24576 MB HBM'
    assert check['hint'] == 'This collection deploys on 8x 910B with 32768 or 65536 MB HBM each.'
    by_name = dict((c['name'], c) for c in pc.check_npu(npu, None, [0, 1], PROFILE_64G))
    assert by_name['npu_count']['status'] == 'fail' and 'needs 4 or 8' in by_name['npu_count']['reason']
    monkeypatch.setitem(profiles.PROFILES, PROFILE_64G, dict(profiles.PROFILES[PROFILE_64G], npu_counts=(2, 4, 8)))
    by_name = dict((c['name'], c) for c in pc.check_npu(npu, None, [0, 1], PROFILE_64G))
    assert by_name['npu_count']['status'] == 'pass'


# ---------------------------------------------------------------------- the filter and the lookup

def test_filter():
    assert FilterModule().filters() == {'mindie_profile': mindie_profile}
    assert mindie_profile(PROFILE_32G) == profiles.get_profile(PROFILE_32G)
    assert mindie_profile(None) == {} and mindie_profile('') == {} and mindie_profile('atlas-800i-a2-16g') == {}
    assert mindie_profile(PROFILE_64G, 'npu_counts') == [4, 8]
    assert mindie_profile(PROFILE_64G, 'run_pa_reference')['throughput_tokens_per_s'] == 98.79
    assert mindie_profile(None, 'inference.max_batch_size') is None
    with pytest.raises(AnsibleFilterError, match="no field 'npu_mem_size.dflt'"):
        mindie_profile(PROFILE_32G, 'npu_mem_size.dflt')
    with pytest.raises(AnsibleFilterError, match='a profile name'):
        mindie_profile({'profile': PROFILE_32G})
    with pytest.raises(AnsibleFilterError, match='dotted path'):
        mindie_profile(PROFILE_32G, 3)


@pytest.fixture
def lookup(monkeypatch):
    """The lookup with its options set as Ansible's plugin loader sets them (the loader itself is used by
    test_roles_render_the_table)."""
    def set_options(self, task_keys=None, var_options=None, direct=None):
        self._options = dict({'field': None, 'fields': None}, **(direct or {}))
    monkeypatch.setattr(LookupModule, 'set_options', set_options)
    monkeypatch.setattr(LookupModule, 'get_option', lambda self, name, hostvars=None: self._options[name])
    return LookupModule()


def test_lookup(lookup):
    assert lookup.run([]) == [profiles.table()]
    assert lookup.run([PROFILE_64G, PROFILE_32G]) == [profiles.get_profile(PROFILE_64G), profiles.get_profile(PROFILE_32G)]
    assert lookup.run([], field='min_memory_gb') == [{PROFILE_32G: 64, PROFILE_64G: 128}]
    assert lookup.run([PROFILE_64G], field='npu_counts') == [[4, 8]]
    assert lookup.run([], fields={'n': 'npu_mem_size.default'}) == [{PROFILE_32G: {'n': 8}, PROFILE_64G: {'n': 16}}]
    with pytest.raises(AnsibleLookupError, match="'atlas-800i-a2-128g' is not a profile"):
        lookup.run(['atlas-800i-a2-128g'])
    with pytest.raises(AnsibleLookupError, match="no field 'hbm'"):
        lookup.run([], field='hbm')
    with pytest.raises(AnsibleLookupError, match='exactly one'):
        lookup.run([], field='hbm_mb', fields={'a': 'hbm_mb'})


PLAY = """
- name: Render what the roles take from the table, for a node of profile {profile}
  hosts: localhost
  gather_facts: false
  vars_files:
    - {repo}/roles/service/defaults/main.yml
    - {repo}/roles/prechecks/defaults/main.yml
    - {repo}/roles/inference/vars/main.yml
  vars:
    mindie_plan: {{profile: {profile}}}
    mindie_inference_max_batch_size: null
  tasks:
    - name: Write them
      ansible.builtin.copy:
        dest: {out}
        content: "{{{{ __rendered | to_json }}}}"
        mode: "0644"
      vars:
        __rendered:
          service: "{{{{ mindie_service_profile_defaults }}}}"
          min_memory: "{{{{ mindie_precheck_min_memory_gb }}}}"
          batch: "{{{{ __mindie_inference_batch }}}}"
          reference: "{{{{ __mindie_inference_reference }}}}"
"""


def _collections_path():
    return next(p for p in sys.path if p and os.path.isdir(os.path.join(p, 'ansible_collections', 'ascend', 'mindie')))


def test_roles_render_the_table(tmp_path):
    """The roles' defaults and vars, rendered by ansible-playbook (the real filter and lookup), are the table's
    values, and the role variables exactly what their literal defaults were before the table."""
    names = ('atlas-800i-a2-32g', 'atlas-800i-a2-64g', 'null')
    play = tmp_path / 'play.yml'
    play.write_text(''.join(PLAY.format(repo=REPO, profile=name, out=tmp_path / ('%d.json' % index))
                            for index, name in enumerate(names)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    proc = subprocess.run([playbook, str(play)], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
    rendered = [json.loads((tmp_path / ('%d.json' % index)).read_text()) for index in range(len(names))]
    for one in rendered:
        assert one['service'] == {PROFILE_32G: {'npu_mem_size': 8, 'max_batch_size': 8},
                                  PROFILE_64G: {'npu_mem_size': 16, 'max_batch_size': 32}}
        assert one['min_memory'] == {PROFILE_32G: 64, PROFILE_64G: 128}
    assert [one['batch'] for one in rendered] == [4, 32, 1]
    assert [one['reference'] for one in rendered] == [
        {'batch': 4, 'tokens': 320, 'latency_s': 7.44, 'throughput_tokens_per_s': 43},
        {'batch': 32, 'tokens': 2560, 'latency_s': 25.912, 'throughput_tokens_per_s': 98.79},
        None]


# ---------------------------------------------------------------------- nothing else repeats the table

BAR = re.compile(r'910B|32768|65536')
BAR_DIRS = ('plugins', 'roles', 'playbooks', 'inventories', 'extensions')


def test_only_the_table_names_chip_models_and_hbm_sizes():
    """The issue's bar: outside sandbox/ and tests/, only profiles.py names the chip models or HBM sizes."""
    found = []
    for top in BAR_DIRS:
        for root, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for name in files:
                path = os.path.join(root, name)
                if os.path.relpath(path, REPO) == os.path.join('plugins', 'module_utils', 'profiles.py'):
                    continue
                with open(path, encoding='utf-8', errors='replace') as handle:
                    for number, line in enumerate(handle, 1):
                        if BAR.search(line):
                            found.append('%s:%d: %s' % (os.path.relpath(path, REPO), number, line.strip()))
    assert not found, '\n'.join(found)


@pytest.mark.parametrize('path, variable', [
    ('roles/service/defaults/main.yml', 'mindie_service_profile_defaults'),
    ('roles/prechecks/defaults/main.yml', 'mindie_precheck_min_memory_gb'),
])
def test_role_defaults_are_read_from_the_table(path, variable):
    """The override hooks keep their names and shapes (see test_roles_render_the_table), but their defaults are the
    lookup, not a copy of the table."""
    with open(os.path.join(REPO, path)) as handle:
        value = yaml.safe_load(handle)[variable]
    assert isinstance(value, str) and "lookup('ascend.mindie.mindie_profiles'" in value


def test_the_prod_inventory_does_not_repeat_the_table():
    for root, dummy, files in os.walk(os.path.join(REPO, 'inventories', 'prod')):
        for name in files:
            with open(os.path.join(root, name)) as handle:
                data = yaml.safe_load(handle) or {}
            assert not set(data) & {'mindie_service_profile_defaults', 'mindie_precheck_min_memory_gb'}, name
