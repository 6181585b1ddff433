# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ascend.mindie.mindie_vars (documented in plugins/modules/mindie_vars.py).

Runs on the controller only. Every role's preflight calls it first:

* the typed variables of the role (types from the role's ``meta/argument_specs.yml``, ranges from
  the task's ``limits``) must read as their type, because role argument validation does not
  convert them and ``-e key=value`` makes every value a string; the preflights and vars then
  convert with ``| int``, ``| float``, ``| bool`` knowing the conversion is exact;
* ``mindie_*`` variables that no role of the collection knows are reported with the nearest
  known name, once per host and run (a warning), or refused with ``mindie_strict_variables``.

The known names are read at run time from the installed collection's roles (every
``defaults/main.yml`` and ``meta/argument_specs.yml``), plus the names in ``EXTRA_KNOWN``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import difflib
import json
import math
import os
import re

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML without libyaml
    from yaml import SafeLoader as _Loader

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = 'mindie_'

# Names the collection reads or sets that no role's defaults/main.yml or meta/argument_specs.yml
# declares: variables of the playbooks, the facts and registered results the roles set, and what
# the sandbox inventory adds. tests/unit/plugins/action/test_mindie_vars.py checks that every
# mindie_* name used in roles/, playbooks/ and inventories/ is known.
EXTRA_KNOWN = frozenset((
    # read by this plugin
    'mindie_strict_variables',
    # playbooks/*.yml
    'mindie_target_hosts',
    'mindie_test_image',
    # (the inference, diagnose and teardown roles declare the variables of those playbooks)
    # facts of the roles: the plan, each role's result (mindie_<role>_result), the container's spec
    'mindie_plan', 'mindie_prechecks_result', 'mindie_image_result', 'mindie_container_result',
    'mindie_dependencies_result', 'mindie_service_result', 'mindie_verify_result', 'mindie_container_spec',
    'mindie_inference_result', 'mindie_diagnose_result', 'mindie_teardown_result', 'mindie_loadbalancer_result',
    'mindie_rollout_result', 'mindie_container_drift', 'mindie_service_drift',
    # the benchmark role's steps (per host) and its report
    'mindie_benchmark_results', 'mindie_benchmark_result', 'mindie_benchmark_aisbench',
    # the load balancer hosts' group, and the loadbalancer role's handler topic
    'mindie_lb', 'mindie_loadbalancer_reload',
    # the monitor hosts' group, the monitoring role's result and handler topics
    'mindie_monitor', 'mindie_monitoring_result', 'mindie_monitoring_reload', 'mindie_monitoring_restart',
    'mindie_monitoring_node_exporter_restart', 'mindie_monitoring_collect',
    # deprecated aliases of the results (the same values)
    'mindie_precheck_results', 'mindie_image_info', 'mindie_container_changes', 'mindie_dependencies_status',
    'mindie_service_status', 'mindie_verify_results',
    'mindie_deploy_failure', 'mindie_deploy_phase', 'mindie_deploy_targets',
    # (the sandbox inventory's own variables, written by sandbox/fleet.py, are sandbox_*: no role reads them)
))

TYPED = ('int', 'float', 'bool', 'list', 'dict')
NUMERIC = ('int', 'float')
LIMIT_KEYS = ('min', 'max', 'gt', 'lt', 'values')
# Exactly what the `bool` filter converts without a deprecation warning (ansible-core 2.19).
BOOL_TRUE = frozenset(('yes', 'on', 'true', '1'))
BOOL_FALSE = frozenset(('no', 'off', 'false', '0'))
_INT_RE = re.compile(r'^\s*[+-]?[0-9]+\s*$')
_A = {'int': 'an integer', 'float': 'a number', 'bool': 'a boolean (true/false, yes/no, on/off, 1/0)',
      'list': 'a list', 'dict': 'a mapping', 'str': 'a string', 'path': 'a path'}
_PLURAL = {'int': 'integers', 'float': 'numbers', 'bool': 'booleans', 'list': 'lists', 'dict': 'mappings',
           'str': 'strings', 'path': 'paths'}

_CACHE = {}


class VariableError(Exception):
    """A value that does not read as what the variable needs."""


class SpecError(Exception):
    """The collection's own files or the task's arguments are wrong (a bug, not bad input)."""


def _load_yaml(path):
    try:
        with open(path, 'rb') as handle:
            return yaml.load(handle, Loader=_Loader)  # nosec B506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError('cannot read %s: %s' % (path, to_text(exc)))


def load_collection(root=COLLECTION_ROOT):
    """Return (specs, known): specs[role][entry_point] = options; known = every declared name."""
    if root in _CACHE:
        return _CACHE[root]
    roles_dir = os.path.join(root, 'roles')
    try:
        roles = sorted(r for r in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, r)))
    except OSError as exc:
        raise SpecError('cannot list the roles of ascend.mindie in %s: %s' % (roles_dir, to_text(exc)))
    specs = {}
    known = set(EXTRA_KNOWN)
    for role in roles:
        for name in ('main.yml', 'main.yaml'):
            defaults = os.path.join(roles_dir, role, 'defaults', name)
            if os.path.isfile(defaults):
                data = _load_yaml(defaults) or {}
                if not isinstance(data, dict):
                    raise SpecError('%s is not a mapping of variables' % defaults)
                known.update(data)
        for name in ('argument_specs.yml', 'argument_specs.yaml'):
            path = os.path.join(roles_dir, role, 'meta', name)
            if os.path.isfile(path):
                data = _load_yaml(path) or {}
                entry_points = data.get('argument_specs') if isinstance(data, dict) else None
                if not isinstance(entry_points, dict):
                    raise SpecError('%s has no argument_specs mapping' % path)
                for entry_point, spec in entry_points.items():
                    options = (spec or {}).get('options') or {}
                    specs.setdefault(role, {})[entry_point] = options
                    known.update(options)
    result = (specs, frozenset(k for k in known if isinstance(k, str)))
    _CACHE[root] = result
    return result


def show(value, limit=80):
    """The value as the operator wrote it: JSON, so a string shows its quotes."""
    try:
        text = json.dumps(value, sort_keys=True, default=to_text)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def to_int(value):
    """Convert exactly what `| int` converts to the same integer; refuse the rest."""
    if isinstance(value, bool):
        raise VariableError('a boolean')
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise VariableError('not a whole number')
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value.strip())
    raise VariableError('not an integer')


def to_float(value):
    """Convert exactly what `| float` converts to the same number; refuse the rest."""
    if isinstance(value, bool):
        raise VariableError('a boolean')
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise VariableError('not a number')
    else:
        raise VariableError('not a number')
    if not math.isfinite(number):
        raise VariableError('not a finite number')
    return number


def to_bool(value):
    """Convert exactly what `| bool` converts without a deprecation warning; refuse the rest."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.lower() in BOOL_TRUE:
            return True
        if value.lower() in BOOL_FALSE:
            return False
    raise VariableError('not a boolean')


_CONVERT = {'int': to_int, 'float': to_float, 'bool': to_bool}


def _bounds(limit):
    parts = []
    if 'min' in limit and 'max' in limit:
        parts.append('in [%s, %s]' % (limit['min'], limit['max']))
    elif 'min' in limit:
        parts.append('>= %s' % limit['min'])
    elif 'max' in limit:
        parts.append('<= %s' % limit['max'])
    if 'gt' in limit:
        parts.append('> %s' % limit['gt'])
    if 'lt' in limit:
        parts.append('< %s' % limit['lt'])
    return ' and '.join(parts)


def expected(spec, limit):
    """Describe what the variable must be, e.g. 'an integer in [1024, 65535]'."""
    kind = spec.get('type', 'str')
    bounds = _bounds(limit)
    choices = spec.get('choices')
    if kind in ('list', 'dict'):
        inner = spec.get('elements') if kind == 'list' else limit.get('values')
        text = _A[kind]
        if inner:
            text += ' of ' + _PLURAL.get(inner, inner)
            if bounds:
                text += ' ' + bounds
            if choices:
                text += ' from ' + ', '.join(to_text(c) for c in choices)
    elif choices:
        text = 'one of ' + ', '.join(to_text(c) for c in choices)
    else:
        text = _A.get(kind, kind) + (' ' + bounds if bounds else '')
    return text + (' (or null)' if spec.get('default') is None else '')


def _in_bounds(number, limit):
    return not (('min' in limit and number < limit['min']) or ('max' in limit and number > limit['max'])
                or ('gt' in limit and number <= limit['gt']) or ('lt' in limit and number >= limit['lt']))


def _scalar(value, kind, limit, choices):
    """Convert one scalar of type kind and check its bounds and choices; raise VariableError."""
    if kind in _CONVERT:
        converted = _CONVERT[kind](value)
        if kind in NUMERIC and not _in_bounds(converted, limit):
            raise VariableError('out of range')
    elif isinstance(value, (list, dict)) or value is None:
        raise VariableError('not %s' % _A.get(kind, kind))
    else:
        converted = value
    if choices:
        if isinstance(converted, bool) and kind not in ('bool',):
            raise VariableError("a boolean; YAML reads unquoted yes/no/on/off/true/false as booleans: quote the value")
        if converted not in choices:
            raise VariableError('not one of the choices')
    return converted


def check_value(name, value, spec, limit=None):
    """Return the value converted to the variable's type, or raise VariableError with the whole message."""
    limit = limit or {}
    kind = spec.get('type', 'str')
    want = expected(spec, limit)

    def fail(detail=None):
        shown = '(hidden: no_log)' if spec.get('no_log') else show(value)
        hint = ''
        if isinstance(value, str) and kind in ('list', 'dict'):
            example = '[4, 5]' if kind == 'list' else '{"key": "value"}'
            hint = (" (-e key=value gives a string; pass %s as JSON: -e '{\"%s\": %s}')"
                    % (_A[kind], name, example))
        elif detail and not spec.get('no_log'):
            hint = ' (%s)' % detail
        raise VariableError('%s is %s: expected %s%s' % (name, shown, want, hint))

    if value is None:
        if spec.get('default') is None:
            return None
        fail()
    if kind == 'list':
        if not isinstance(value, (list, tuple)):
            fail()
        elements = spec.get('elements', 'raw')
        converted = []
        for item in value:
            try:
                converted.append(_scalar(item, elements, limit, spec.get('choices'))
                                 if elements in _CONVERT or spec.get('choices') else item)
            except VariableError:
                fail('element %s' % show(item, 40))
        return converted
    if kind == 'dict':
        if not isinstance(value, dict):
            fail()
        inner = limit.get('values')
        if not inner:
            return dict(value)
        converted = {}
        for key, item in value.items():
            try:
                converted[key] = _scalar(item, inner, limit, None)
            except VariableError:
                fail('%s is %s' % (to_text(key), show(item, 40)))
        return converted
    try:
        return _scalar(value, kind, limit, spec.get('choices'))
    except VariableError as exc:
        fail(to_text(exc) if 'YAML' in to_text(exc) else None)


def nearest(name, known):
    """The known name closest to name, or None."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_names(names, known):
    """[(name, nearest known name or None)] for the mindie_* names that are not known, sorted."""
    return [(n, nearest(n, known)) for n in sorted(set(names)) if n.startswith(PREFIX) and n not in known]


def describe_unknown(unknown):
    return '; '.join('%s (did you mean %s?)' % (n, s) if s else '%s (no known name is close)' % n for n, s in unknown)


def validate_limits(limits):
    """Refuse a limits argument the plugin cannot apply (a bug in the calling role)."""
    for name, limit in limits.items():
        if not isinstance(limit, dict):
            raise SpecError('limits.%s must be a mapping of %s' % (name, ', '.join(LIMIT_KEYS)))
        for key, bound in limit.items():
            if key not in LIMIT_KEYS:
                raise SpecError('limits.%s has %s; allowed: %s' % (name, key, ', '.join(LIMIT_KEYS)))
            if key == 'values':
                if bound not in ('int', 'float', 'bool', 'str'):
                    raise SpecError('limits.%s.values must be int, float, bool or str' % name)
            elif isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise SpecError('limits.%s.%s must be a number, not %s' % (name, key, show(bound)))


def find_spec(specs, role, entry_point, name):
    """The argument spec of name: the role's entry point first, then any role that declares it."""
    options = specs.get(role, {}).get(entry_point, {})
    if name in options:
        return options[name]
    for role_specs in (specs.get(role, {}),) + tuple(specs[r] for r in sorted(specs) if r != role):
        for entry in sorted(role_specs):
            if name in role_specs[entry]:
                return role_specs[entry][name]
    return None


class ActionModule(ActionBase):
    """Check a role's typed variables and report unknown mindie_* variables."""

    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        role=dict(type='str', required=True),
        entry_point=dict(type='str', default='main'),
        variables=dict(type='list', elements='str'),
        limits=dict(type='dict', default={}),
        unknown=dict(type='bool', default=True),
    )

    def _value(self, task_vars, name):
        return self._templar.template(task_vars[name])

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result['changed'] = False
        validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        host = task_vars.get('inventory_hostname', '?')
        role = args['role']
        try:
            specs, known = load_collection()
            if role not in specs:
                raise SpecError('ascend.mindie has no role %s with argument_specs (roles: %s)' % (role, ', '.join(sorted(specs))))
            if args['entry_point'] not in specs[role]:
                raise SpecError('ascend.mindie.%s has no entry point %s' % (role, args['entry_point']))
            limits = args['limits']
            validate_limits(limits)
            errors, values = self._check_types(task_vars, specs, role, args['entry_point'], args['variables'], limits)
            unknown, strict = [], False
            if args['unknown']:
                unknown = unknown_names(task_vars, known)
                try:
                    strict = to_bool(self._value(task_vars, 'mindie_strict_variables')) if 'mindie_strict_variables' in task_vars else False
                except VariableError:
                    errors.append('mindie_strict_variables is %s: expected %s'
                                  % (show(self._value(task_vars, 'mindie_strict_variables')), _A['bool']))
        except SpecError as exc:
            result.update(failed=True, msg='ascend.mindie.mindie_vars cannot check the variables of %s: %s' % (role, to_text(exc)))
            return result

        if unknown and strict:
            errors.append('unknown variables (no role of ascend.mindie reads them; mindie_strict_variables is true): %s'
                          % describe_unknown(unknown))
        if errors:
            result.update(failed=True, errors=errors,
                          msg='%s: ascend.mindie.%s cannot use these variables: %s. Fix them where they are set '
                              '(inventory, playbook or -e).' % (host, role, '; '.join(errors)))
            return result
        previous = task_vars.get(self._task.register) if self._task.register else None
        reported = sorted(set(previous.get('reported_unknown') or [])) if isinstance(previous, dict) else []
        result.update(values=values, unknown=[dict(name=n, nearest=s) for n, s in unknown], reported_unknown=reported)
        new = [(n, s) for n, s in unknown if n not in reported]
        if new:
            result['warnings'] = ['%s: unknown variable%s, read by no role of ascend.mindie: %s. Correct the name or '
                                  'remove it; mindie_strict_variables: true makes this an error.'
                                  % (host, 's' if len(new) > 1 else '', describe_unknown(new))]
            result['reported_unknown'] = sorted(set(reported) | set(n for n, _nearest in new))
        result['msg'] = 'the variables of ascend.mindie.%s are usable' % role
        return result

    def _check_types(self, task_vars, specs, role, entry_point, variables, limits):
        options = specs[role][entry_point]
        if variables is None:
            names = [n for n, s in options.items() if s.get('type', 'str') in TYPED or s.get('choices')]
        else:
            names = list(variables)
        for name in limits:
            if name not in names:
                names.append(name)
        errors, values = [], {}
        for name in names:
            spec = find_spec(specs, role, entry_point, name)
            if spec is None:
                raise SpecError('no meta/argument_specs.yml of ascend.mindie declares %s' % name)
            if name not in task_vars:
                continue
            try:
                value = self._value(task_vars, name)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append('%s cannot be evaluated: %s' % (name, to_text(exc)))
                continue
            try:
                converted = check_value(name, value, spec, limits.get(name))
            except VariableError as exc:
                errors.append(to_text(exc))
                continue
            # Only scalars come back: lists and mappings (environments, say) may hold secrets.
            if not spec.get('no_log') and (converted is None or isinstance(converted, (bool, int, float, str))):
                values[name] = converted
        return errors, values
