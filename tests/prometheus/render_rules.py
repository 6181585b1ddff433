#!/usr/bin/env python3
"""Render roles/monitoring/templates/mindie_rules.yml.j2 the way Ansible's template module does, for promtool.

    render_rules.py --defaults roles/monitoring/defaults/main.yml [--template PATH] [--output-dir DIR]
                    [-e NAME=VALUE ...] [--check-test-defaults]

Writes DIR/mindie_rules.yml (DIR defaults to build/prometheus). The variables come from the defaults file
(roles/monitoring/defaults/main.yml): every variable the template uses must be defined there (or with -e), else
this stops and names the missing ones. Like Ansible's template module it honours a first-line `#jinja2:` override
(the rules template uses `[[ ... ]]` for its variables), keeps Jinja's trim_blocks on and fails on an undefined
variable. A default that is itself a template (`"{{ other }}"`) is resolved against the other defaults.

--check-test-defaults: also fail unless the values equal those tests/prometheus/mindie_rules_test.yml was written
for (TEST_DEFAULTS below): the promtool tests assume the role's defaults.

Also importable: ``render(template_path, variables) -> str`` and ``load_defaults(path) -> dict``.
"""

import argparse
import ast
import os
import sys

import jinja2
import jinja2.meta
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(REPO, "roles", "monitoring", "templates", "mindie_rules.yml.j2")
OUTPUT_NAME = "mindie_rules.yml"
OVERRIDE = "#jinja2:"
# Ansible's own variables the template may name, with what the template module would give them.
ANSIBLE_VARIABLES = {"ansible_managed": "Ansible managed"}
# What tests/prometheus/mindie_rules_test.yml assumes (the role's defaults).
TEST_DEFAULTS = {
    "mindie_monitoring_instance_down_for": "2m",
    "mindie_monitoring_node_exporter_down_for": "1m",
    "mindie_monitoring_not_ready_for": "10m",
    "mindie_monitoring_crash_loop_restarts": 3,
    "mindie_monitoring_crash_loop_window": "10m",
    "mindie_monitoring_hbm_threshold": 0.97,
    "mindie_monitoring_hbm_for": "10m",
    "mindie_monitoring_ttft_slo_seconds": 2.0,
    "mindie_monitoring_ttft_for": "5m",
    "mindie_monitoring_failure_ratio": 0.05,
    "mindie_monitoring_failure_for": "5m",
    "mindie_monitoring_exporter_stale_s": 300,
    "mindie_monitoring_npu_for": "1m",
}


class RenderError(Exception):
    pass


def split_overrides(text):
    """(template text without the header line, Environment keyword arguments) for a `#jinja2:` first line."""
    if not text.startswith(OVERRIDE):
        return text, {}
    eol = text.find("\n")
    if eol == -1:
        raise RenderError("missing newline after the %r line" % OVERRIDE)
    overrides = {}
    for pair in text[len(OVERRIDE):eol].split(","):
        if ":" not in pair:
            raise RenderError("%r override %r has no ':'" % (OVERRIDE, pair))
        key, value = pair.split(":", 1)
        overrides[key.strip()] = ast.literal_eval(value.strip())
    return text[eol + 1:], overrides


def environment(overrides):
    options = {"trim_blocks": True, "undefined": jinja2.StrictUndefined, "keep_trailing_newline": True}
    options.update(overrides)
    return jinja2.Environment(**options)


def template_variables(text):
    """The undeclared variables of a template (its header honoured)."""
    body, overrides = split_overrides(text)
    return set(jinja2.meta.find_undeclared_variables(environment(overrides).parse(body)))


def load_defaults(path):
    if not os.path.isfile(path):
        raise RenderError("no defaults file at %s (give the role's defaults with --defaults)" % path)
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise RenderError("%s is not a mapping of variables" % path)
    return data


def _resolve(name, variables, seen=()):
    """A variable's value, a templated default ("{{ other }}") rendered against the others (Ansible's lazy way)."""
    value = variables[name]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        if name in seen:
            raise RenderError("the default of %s refers to itself" % name)
        env = environment({})
        needed = jinja2.meta.find_undeclared_variables(env.parse(value))
        missing = sorted(n for n in needed if n not in variables)
        if missing:
            raise RenderError("the default of %s needs %s, which is not defined" % (name, ", ".join(missing)))
        context = {n: _resolve(n, variables, seen + (name,)) for n in needed}
        value = yaml.safe_load(env.from_string(value).render(context))
    return value


def render(template_path, variables):
    with open(template_path, encoding="utf-8") as handle:
        text = handle.read()
    body, overrides = split_overrides(text)
    env = environment(overrides)
    needed = template_variables(text)
    known = dict(ANSIBLE_VARIABLES)
    known.update(variables)
    missing = sorted(n for n in needed if n not in known)
    if missing:
        raise RenderError("%s uses variables the defaults do not define: %s" % (template_path, ", ".join(missing)))
    context = {name: _resolve(name, known) for name in needed}
    return env.from_string(body).render(context)


def check_test_defaults(variables):
    wrong = ["%s: %r (the promtool tests assume %r)" % (name, variables.get(name), value)
             for name, value in sorted(TEST_DEFAULTS.items()) if variables.get(name) != value]
    if wrong:
        raise RenderError("the defaults differ from those tests/prometheus/mindie_rules_test.yml was written for:\n  "
                          + "\n  ".join(wrong))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--defaults", required=True, help="the role's defaults (roles/monitoring/defaults/main.yml)")
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--output-dir", default=os.path.join(REPO, "build", "prometheus"))
    parser.add_argument("-e", "--extra-var", action="append", default=[], metavar="NAME=VALUE",
                        help="override one variable (the value is read as YAML), as ansible-playbook -e")
    parser.add_argument("--check-test-defaults", action="store_true",
                        help="fail unless the variables are those the promtool tests were written for")
    args = parser.parse_args(argv)
    try:
        variables = load_defaults(args.defaults)
        for item in args.extra_var:
            if "=" not in item:
                raise RenderError("-e %r is not NAME=VALUE" % item)
            name, value = item.split("=", 1)
            variables[name] = yaml.safe_load(value)
        if args.check_test_defaults:
            check_test_defaults(variables)
        text = render(args.template, variables)
    except (RenderError, jinja2.TemplateError, yaml.YAMLError, OSError) as exc:
        print("render_rules.py: %s" % exc, file=sys.stderr)
        return 2
    os.makedirs(args.output_dir, exist_ok=True)
    out = os.path.join(args.output_dir, OUTPUT_NAME)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
