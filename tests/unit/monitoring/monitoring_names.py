# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metric names the monitoring may use, and a PromQL metric-name extractor (shared by test_dashboard.py and
test_mindie_rules.py).

Known metric names:
  (a) what the MindIE simulator really serves: the families of ``Engine.metrics_text()`` of
      sandbox/images/mindie-sim/.../mindie_sim/daemon.py (a histogram as its _bucket, _sum and _count series);
  (b) what the node collector writes: ``FAMILIES`` of plugins/module_utils/npu_exporter.py (EXPORTER_FALLBACK only
      when that file does not exist);
  (c) the recording rules of roles/monitoring/templates/mindie_rules.yml.j2, rendered with the role's defaults;
  (d) ``up``.
"""

from __future__ import absolute_import, division, print_function

import ast
import importlib
import importlib.util
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SIM_LIB = os.path.join(REPO, "sandbox", "images", "mindie-sim", "rootfs", "usr", "local", "Ascend", "mindie", "1.0.0",
                       "mindie-service", "lib", "simulator")
EXPORTER = os.path.join(REPO, "plugins", "module_utils", "npu_exporter.py")
TEMPLATE = os.path.join(REPO, "roles", "monitoring", "templates", "mindie_rules.yml.j2")
# MINDIE_MONITORING_DEFAULTS points the tests at another defaults file (the role's is the default).
DEFAULTS = os.environ.get("MINDIE_MONITORING_DEFAULTS") or os.path.join(REPO, "roles", "monitoring", "defaults",
                                                                         "main.yml")
DASHBOARD = os.path.join(REPO, "roles", "monitoring", "files", "grafana", "mindie-fleet.json")
RENDER_RULES = os.path.join(REPO, "tests", "prometheus", "render_rules.py")

# The collector's names as agreed, used only while plugins/module_utils/npu_exporter.py does not exist.
EXPORTER_FALLBACK = (
    "ascend_npu_healthy", "ascend_npu_health_status", "ascend_npu_hbm_used_bytes", "ascend_npu_hbm_total_bytes",
    "ascend_npu_temperature_celsius", "ascend_npu_power_watts", "ascend_npu_aicore_utilization_ratio",
    "ascend_npu_processes", "ascend_npu_info", "ascend_npu_smi_up", "ascend_npu_smi_collect_duration_seconds",
    "mindie_instance_live", "mindie_instance_ready", "mindie_instance_busy", "mindie_instance_container_running",
    "mindie_instance_container_restarts", "mindie_instance_container_started_timestamp_seconds",
    "mindie_instance_supervisor_restarts", "mindie_instance_crash_looping", "mindie_instance_status",
    "mindie_exporter_last_run_timestamp_seconds", "mindie_exporter_instances_file_ok",
)
BUILTIN = ("up",)


# ------------------------------------------------------------------------------------------- (a) the simulator

class _QuietLogger(object):
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def simulator_families():
    """{family name: type} from the simulator's real ``Engine.metrics_text()``."""
    if SIM_LIB not in sys.path:
        sys.path.insert(0, SIM_LIB)
    daemon = importlib.import_module("mindie_sim.daemon")
    engine = daemon.Engine({"max_batch": 4, "world_size": 1, "model_name": "qwen2_vl"}, None, {}, 1024,
                           _QuietLogger())
    engine.state = "stopped"        # its health-checker thread waits while "loading", then ends
    engine.ttft.observe(0.3)
    engine.tpot.observe(0.02)
    families = {}
    for line in engine.metrics_text().splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)$", line)
        if match:
            families[match.group(1)] = match.group(2)
    return families


def simulator_metric_names():
    """The series names a scrape of the simulator returns (a histogram's _bucket/_sum/_count, not its bare name)."""
    names = set()
    for name, kind in simulator_families().items():
        if kind == "histogram":
            names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


# ------------------------------------------------------------------------------------------- (b) the collector

def exporter_metric_names():
    """(names, source): FAMILIES of npu_exporter.py when the file exists, else EXPORTER_FALLBACK."""
    if not os.path.isfile(EXPORTER):
        return set(EXPORTER_FALLBACK), "fallback list (%s does not exist)" % os.path.relpath(EXPORTER, REPO)
    module = importlib.import_module("ansible_collections.ascend.mindie.plugins.module_utils.npu_exporter")
    families = getattr(module, "FAMILIES", None)
    if families:
        return set(family[0] for family in families), "npu_exporter.FAMILIES"
    # no FAMILIES table: the names written in its source
    with open(EXPORTER, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(re.findall(r"\b((?:ascend_npu|mindie_instance|mindie_exporter)_[a-z_]*[a-z])\b", node.value))
    return names, "string constants of npu_exporter.py"


# ------------------------------------------------------------------------------------------- (c) the rules

def render_module():
    spec = importlib.util.spec_from_file_location("mindie_render_rules", RENDER_RULES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered_rules():
    """The rules file rendered with the role's defaults (a clear failure when they are missing)."""
    render = render_module()
    if not os.path.isfile(DEFAULTS):
        raise AssertionError("the role's defaults %s do not exist: the rules template cannot be rendered" % DEFAULTS)
    return yaml.safe_load(render.render(TEMPLATE, render.load_defaults(DEFAULTS)))


def all_rules(rules_doc):
    return [rule for group in rules_doc["groups"] for rule in group["rules"]]


def recording_names(rules_doc):
    return set(rule["record"] for rule in all_rules(rules_doc) if "record" in rule)


def known_metric_names(rules_doc):
    exporter, dummy = exporter_metric_names()
    return simulator_metric_names() | exporter | recording_names(rules_doc) | set(BUILTIN)


# ------------------------------------------------------------------------------------------- PromQL

# Keywords, binary operators spelled as words, and literals: never metric names.
PROMQL_WORDS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                          "unless", "offset", "atan2", "inf", "nan"))
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*),\s*[A-Za-z_]\w*\s*\)\s*$", re.S)


def metric_names(expr):
    """The metric names a PromQL expression selects: identifiers that are no function (not followed by `(`),
    keyword or literal, outside strings, label matchers `{...}`, ranges `[...]` and the label lists of
    by/without/on/ignoring/group_left/group_right. Grafana variables ($node, ${instance}) are dropped."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VAR.sub(" ", text)
    previous = None
    while previous != text:         # nested braces and brackets, innermost first
        previous = text
        text = _MATCHERS.sub(" ", text)
        text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end():].lstrip()
        if rest.startswith("("):
            continue                # a function, or an aggregation
        if match.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(match.group(0))
    return names


def variable_query_expr(query):
    """The PromQL of a Grafana Prometheus variable query (label_values(expr, label) -> expr; None for
    label_values(label) alone)."""
    if isinstance(query, dict):
        query = query.get("query") or ""
    match = _LABEL_VALUES.match(query)
    if match:
        return match.group(1)
    if re.match(r"^\s*label_values\s*\(\s*\w+\s*\)\s*$", query):
        return None
    match = re.match(r"^\s*query_result\s*\((.*)\)\s*$", query, re.S)
    return match.group(1) if match else query


def template_queries(text):
    """The PromQL inside Prometheus annotation templates: the format string of every `printf "..." ... | query`."""
    out = []
    for match in re.finditer(r'printf\s+"((?:[^"\\]|\\.)*)"[^|}]*\|\s*query', text):
        out.append(match.group(1).replace('\\"', '"').replace("%q", '""'))
    return out
