# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_vars: conversions, messages, known names, and the tree's variables."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

from ansible_collections.ascend.mindie.plugins.action import mindie_vars as mv

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PORT = {'type': 'int', 'default': 1040}
PORT_LIMIT = {'min': 1024, 'max': 65535}


def message(name, value, spec, limit=None):
    with pytest.raises(mv.VariableError) as exc:
        mv.check_value(name, value, spec, limit)
    return str(exc.value)


@pytest.mark.parametrize('value, converted', [
    (1050, 1050), ('1050', 1050), (' 1050 ', 1050), ('+1050', 1050), (1050.0, 1050), (1024, 1024), ('65535', 65535),
])
def test_int_accepts_what_the_int_filter_converts_exactly(value, converted):
    result = mv.check_value('mindie_service_port', value, PORT, PORT_LIMIT)
    assert result == converted and type(result) is int


@pytest.mark.parametrize('value', ['80', 80, 1023, '65536', 'abc', '', '10.5', 10.5, '1e3', True, False, [1050], {'a': 1}, None])
def test_int_refuses_with_the_name_the_value_and_the_range(value):
    text = message('mindie_service_port', value, PORT, PORT_LIMIT)
    assert text.startswith('mindie_service_port is ')
    assert 'expected an integer in [1024, 65535]' in text
    assert mv.show(value) in text


def test_port_80_message_is_exact():
    assert message('mindie_service_port', '80', PORT, PORT_LIMIT) == 'mindie_service_port is "80": expected an integer in [1024, 65535]'


def test_null_is_accepted_only_where_the_default_is_null():
    assert mv.check_value('mindie_service_npu_mem_size', None, {'type': 'int', 'default': None}, {'min': 1}) is None
    assert mv.check_value('mindie_image_name', None, {'type': 'str'}) is None
    assert 'expected an integer' in message('mindie_service_port', None, PORT, PORT_LIMIT)


@pytest.mark.parametrize('value, converted', [
    (True, True), (False, False), ('true', True), ('False', False), ('yes', True), ('NO', False), ('on', True),
    ('off', False), ('1', True), ('0', False), (1, True), (0, False),
])
def test_bool_accepts_what_the_bool_filter_converts(value, converted):
    assert mv.check_value('mindie_container_privileged', value, {'type': 'bool', 'default': False}) is converted


@pytest.mark.parametrize('value', ['maybe', 'y', 'n', '', 2, 1.0, [True], ' true'])
def test_bool_refuses_what_the_bool_filter_would_guess(value):
    text = message('mindie_container_privileged', value, {'type': 'bool', 'default': False})
    assert 'mindie_container_privileged is' in text and 'expected a boolean' in text


@pytest.mark.parametrize('value, converted', [(120, 120.0), ('2.5', 2.5), ('1e2', 100.0), (0.001, 0.001)])
def test_float(value, converted):
    assert mv.check_value('mindie_verify_timeout', value, {'type': 'float', 'default': 120}, {'gt': 0}) == converted


@pytest.mark.parametrize('value', [0, '0', -1, 'nan', 'inf', 'abc', True])
def test_float_refused(value):
    assert 'expected a number > 0' in message('mindie_verify_timeout', value, {'type': 'float', 'default': 120}, {'gt': 0})


def test_list_given_as_a_string_gets_the_json_hint():
    spec = {'type': 'list', 'elements': 'int', 'default': []}
    text = message('mindie_npu_devices', '4,5', spec, {'min': 0})
    assert text.startswith('mindie_npu_devices is "4,5": expected a list of integers >= 0')
    assert '''-e '{"mindie_npu_devices": [4, 5]}\'''' in text


def test_list_elements_are_converted_and_bounded():
    spec = {'type': 'list', 'elements': 'int', 'default': []}
    assert mv.check_value('mindie_npu_devices', ['4', 5], spec, {'min': 0}) == [4, 5]
    assert 'element -1' in message('mindie_npu_devices', [4, -1], spec, {'min': 0})
    assert 'element "x"' in message('mindie_npu_devices', [4, 'x'], spec, {'min': 0})


def test_list_element_choices():
    spec = {'type': 'list', 'elements': 'str', 'choices': ['health', 'chat'], 'default': ['health']}
    assert mv.check_value('mindie_verify_tests', ['chat'], spec) == ['chat']
    text = message('mindie_verify_tests', ['chat', 'helth'], spec)
    assert 'expected a list of strings from health, chat' in text and 'element "helth"' in text


def test_dict_values():
    spec = {'type': 'dict', 'default': {}}
    assert mv.check_value('mindie_precheck_min_memory_gb', {'a': '64'}, spec, {'values': 'float', 'min': 0}) == {'a': 64.0}
    text = message('mindie_precheck_min_memory_gb', {'a': 'lots'}, spec, {'values': 'float', 'min': 0})
    assert 'expected a mapping of numbers >= 0 (a is "lots")' in text
    assert '-e' in message('mindie_precheck_min_memory_gb', 'a=1', spec)


def test_choices_and_the_yaml_no_trap():
    spec = {'type': 'str', 'choices': ['no', 'always'], 'default': 'always'}
    assert mv.check_value('mindie_container_restart_policy', 'no', spec) == 'no'
    text = message('mindie_container_restart_policy', False, spec)
    assert 'expected one of no, always' in text and 'quote' in text
    assert 'expected one of 1, 2, 4, 8' in message('mindie_npu_count', '3', {'type': 'int', 'choices': [1, 2, 4, 8], 'default': 8})
    assert mv.check_value('mindie_npu_count', '4', {'type': 'int', 'choices': [1, 2, 4, 8], 'default': 8}) == 4


def test_no_log_values_are_not_shown():
    text = message('mindie_x_key_passphrase', ['secret'], {'type': 'str', 'no_log': True, 'default': None})
    assert 'secret' not in text and 'hidden' in text


def test_limits_are_validated():
    mv.validate_limits({'a': {'min': 1, 'max': 2.5, 'gt': 0, 'lt': 3, 'values': 'int'}})
    for bad in ({'a': 1}, {'a': {'minimum': 1}}, {'a': {'min': '1'}}, {'a': {'min': True}}, {'a': {'values': 'list'}}):
        with pytest.raises(mv.SpecError):
            mv.validate_limits(bad)


def test_unknown_names_get_the_nearest_known_name():
    known = mv.load_collection(REPO)[1]
    found = mv.unknown_names(['mindie_service_max_batch_sise', 'mindie_service_port', 'other_var', 'mindie_zzzzqqqq'], known)
    assert found == [('mindie_service_max_batch_sise', 'mindie_service_max_batch_size'), ('mindie_zzzzqqqq', None)]
    assert mv.describe_unknown(found) == ('mindie_service_max_batch_sise (did you mean mindie_service_max_batch_size?); '
                                          'mindie_zzzzqqqq (no known name is close)')


def test_known_names_come_from_every_role():
    specs, known = mv.load_collection(REPO)
    assert set(specs) >= {'prechecks', 'image', 'container', 'dependencies', 'service', 'verify', 'fleet_report'}
    for role in glob.glob(os.path.join(REPO, 'roles', '*', 'defaults', 'main.yml')):
        with open(role) as handle:
            assert set(yaml.safe_load(handle) or {}) <= known, role
    assert mv.EXTRA_KNOWN <= known


def test_a_broken_collection_is_a_spec_error(tmp_path):
    (tmp_path / 'roles' / 'r' / 'meta').mkdir(parents=True)
    (tmp_path / 'roles' / 'r' / 'meta' / 'argument_specs.yml').write_text('argument_specs: [oops')
    with pytest.raises(mv.SpecError, match='cannot read'):
        mv.load_collection(str(tmp_path))


# --- Every mindie_* variable the tree uses must be known, so a new variable cannot be forgotten.

_NAME = re.compile(r'(?<![A-Za-z0-9_.$-])mindie_[a-z][a-z0-9_]*[a-z0-9](?![A-Za-z0-9_-])')
# Deliberate typos in the documentation's examples.
_EXAMPLES = {'mindie_service_max_batch_sise'}
_SCANNED = ['roles/**/*', 'playbooks/**/*', 'inventories/**/*', 'sandbox/inventory/**/*', 'extensions/molecule/**/*.yml', 'README.md']


def _tags(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'tags':
                found.update([value] if isinstance(value, str) else value or [])
            else:
                _tags(value, found)
    elif isinstance(node, list):
        for item in node:
            _tags(item, found)


def _not_variables():
    """Names of the mindie_ form that are not variables: modules, tags, inventory groups."""
    names = {os.path.splitext(os.path.basename(p))[0] for kind in ('modules', 'module_utils')
             for p in glob.glob(os.path.join(REPO, 'plugins', kind, '*.py'))}
    paths = [p for d in ('roles', 'playbooks', 'inventories', 'extensions', 'sandbox')
             for p in glob.glob(os.path.join(REPO, d, '**', '*.yml'), recursive=True)]
    for path in paths:
        try:
            with open(path) as handle:
                _tags(yaml.safe_load(handle), names)
        except yaml.YAMLError:
            continue
    # Prometheus's names in the monitoring role (PromQL, not Ansible): the collector's metric families, the parts of
    # the recording rules' names, the scrape jobs, and the rule and test files' names.
    from ansible_collections.ascend.mindie.plugins.module_utils import npu_exporter
    names.update(family[0] for family in npu_exporter.FAMILIES)
    with open(os.path.join(REPO, 'roles', 'monitoring', 'templates', 'mindie_rules.yml.j2')) as handle:
        for match in re.finditer(r'^\s*- record: (\S+)', handle.read(), re.M):
            names.update(match.group(1).split(':'))
    with open(os.path.join(REPO, 'roles', 'monitoring', 'vars', 'main.yml')) as handle:
        monitoring_vars = yaml.safe_load(handle)
    names.update(monitoring_vars[key] for key in ('__mindie_monitoring_instance_job', '__mindie_monitoring_node_job'))
    names.update(os.path.basename(p).split('.')[0] for p in glob.glob(os.path.join(REPO, 'roles', '*', 'templates', '*'))
                 + glob.glob(os.path.join(REPO, 'tests', 'prometheus', '*')))
    # Inventory groups: mindie_nodes, and the group_vars files that name groups.
    names.update(os.path.splitext(os.path.basename(p))[0] for p in paths if os.path.basename(os.path.dirname(p)) == 'group_vars')
    return names


def test_every_mindie_variable_in_the_tree_is_known():
    known = mv.load_collection(REPO)[1]
    skip = _not_variables()
    used = {}
    for pattern in _SCANNED:
        for path in glob.glob(os.path.join(REPO, pattern), recursive=True):
            if not os.path.isfile(path) or path.endswith(('.pyc', '.tar', '.gz')):
                continue
            with open(path, encoding='utf-8', errors='replace') as handle:
                for name in _NAME.findall(handle.read()):
                    used.setdefault(name, set()).add(os.path.relpath(path, REPO))
    unknown = {n: sorted(p) for n, p in used.items() if n not in known and n not in skip and n not in _EXAMPLES}
    assert not unknown, ('mindie_* variables used in the tree but declared in no role defaults/argument_specs and not in '
                         'EXTRA_KNOWN of plugins/action/mindie_vars.py: %s' % unknown)
    assert len(used) > 100
