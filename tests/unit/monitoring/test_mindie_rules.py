# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/monitoring/templates/mindie_rules.yml.j2 rendered with the role's defaults: every expression names only
metrics that exist, every alert has its severity, summary and description naming the node and the instance, the
node job's instance label is read as exported_instance, and the promtool tests assume the role's defaults.
(The rules' behaviour is tested by promtool: tests/prometheus/run_promtool.sh.)"""

from __future__ import absolute_import, division, print_function

import os
import re

import pytest

from monitoring_names import (DEFAULTS, REPO, TEMPLATE, all_rules, known_metric_names, metric_names, render_module,
                              rendered_rules, template_queries)

ALERTS = {"MindIEInstanceDown", "MindIEInstanceNotReady", "MindIEInstanceCrashLooping", "AscendNPUUnhealthy",
          "AscendNPUHBMHigh", "MindIETTFTAboveSLO", "MindIERequestFailuresRising", "MindIENodeExporterDown",
          "MindIEMetricsStale"}
# Alerts about one MindIE instance (the others are about a node or one of its NPUs).
INSTANCE_ALERTS = {"MindIEInstanceDown", "MindIEInstanceNotReady", "MindIEInstanceCrashLooping",
                   "MindIETTFTAboveSLO", "MindIERequestFailuresRising"}
# The node collector's per-instance families: their `instance` label is stored as exported_instance.
NODE_INSTANCE_METRIC = re.compile(r"\bmindie_instance_[a-z_]+")


@pytest.fixture(scope="module")
def rules_doc():
    return rendered_rules()


@pytest.fixture(scope="module")
def rules(rules_doc):
    return all_rules(rules_doc)


@pytest.fixture(scope="module")
def alerts(rules):
    return [rule for rule in rules if "alert" in rule]


def test_the_template_uses_only_the_roles_defaults():
    render = render_module()
    with open(TEMPLATE, encoding="utf-8") as handle:
        used = render.template_variables(handle.read())
    defaults = render.load_defaults(DEFAULTS)
    ours = set(name for name in used if name.startswith("mindie_monitoring_"))
    assert used - ours <= set(render.ANSIBLE_VARIABLES), used - ours
    assert ours <= set(defaults), "not in %s: %s" % (DEFAULTS, sorted(ours - set(defaults)))
    # the promtool tests (tests/prometheus/mindie_rules_test.yml) were written for these values
    assert ours == set(render.TEST_DEFAULTS)
    render.check_test_defaults(defaults)


def test_alert_names(alerts):
    assert set(rule["alert"] for rule in alerts) == ALERTS


def test_every_expression_names_known_metrics(rules_doc, rules):
    known = known_metric_names(rules_doc)
    problems = []
    for rule in rules:
        name = rule.get("record") or rule.get("alert")
        missing = metric_names(rule["expr"]) - known
        if missing:
            problems.append("%s: expr names %s" % (name, sorted(missing)))
        for text in list((rule.get("annotations") or {}).values()) + list((rule.get("labels") or {}).values()):
            for query in template_queries(str(text)):
                missing = metric_names(query) - known
                if missing:
                    problems.append("%s: annotation query names %s" % (name, sorted(missing)))
        assert metric_names(rule["expr"]), "%s: no metric found in %r" % (name, rule["expr"])
    assert not problems, "\n".join(problems)


def test_recording_rules_aggregate_per_node_and_instance(rules):
    for rule in rules:
        if "record" not in rule:
            continue
        if rule["record"].startswith("node_instance:"):
            assert "by (node, instance" in rule["expr"], rule
        assert re.match(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$", rule["record"]), rule["record"]


def test_every_alert_has_severity_summary_description(alerts):
    for rule in alerts:
        labels, annotations = rule.get("labels") or {}, rule.get("annotations") or {}
        assert labels.get("severity") in ("critical", "warning"), rule["alert"]
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]
        for key in ("summary", "description"):
            assert "$labels.node" in annotations[key], (rule["alert"], key)
        # what to do: a command
        assert "`" in annotations["description"], rule["alert"]


# An instance-job rule that consults the collector's series maps their MindIE instance name onto `instance` first
# (MindIEInstanceDown: not while the supervisor reports a restart); its result carries the instance job's labels.
MAPPED_FROM_NODE_JOB = re.compile(r'label_replace\((?:.|\n)*?"instance",\s*"\$1",\s*"exported_instance"')


def test_instance_alerts_name_the_instance(alerts):
    for rule in alerts:
        if rule["alert"] not in INSTANCE_ALERTS:
            continue
        node_job = bool(NODE_INSTANCE_METRIC.search(rule["expr"])) and not MAPPED_FROM_NODE_JOB.search(rule["expr"])
        label = "$labels.exported_instance" if node_job else "$labels.instance"
        for key in ("summary", "description"):
            assert label in rule["annotations"][key], (rule["alert"], key, label)
        assert rule["labels"]["mindie_instance"] == "{{ %s }}" % label, rule["alert"]


def test_node_job_instance_metrics_use_exported_instance(rules):
    """Rules on the collector's mindie_instance_* never match, group or name by the target's `instance` label
    (on node-job series that is the node exporter, not the MindIE instance)."""
    for rule in rules:
        if not NODE_INSTANCE_METRIC.search(rule["expr"]) or MAPPED_FROM_NODE_JOB.search(rule["expr"]):
            continue
        for clause in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", rule["expr"]):
            labels = [label.strip() for label in clause.split(",")]
            assert "instance" not in labels, (rule.get("alert") or rule.get("record"), clause)
            assert "exported_instance" in labels or labels == ["node"], (rule.get("alert"), clause)
        texts = list((rule.get("annotations") or {}).values()) + list((rule.get("labels") or {}).values())
        assert not any("$labels.instance" in str(text) for text in texts), rule.get("alert")


def test_annotations_name_real_playbooks_and_roles(alerts):
    found = set()
    for rule in alerts:
        for text in rule["annotations"].values():
            for kind, name in re.findall(r"(ansible-playbook )?ascend\.mindie\.([a-z_]+)", text):
                found.add(name)
                if kind:
                    assert os.path.isfile(os.path.join(REPO, "playbooks", name + ".yml")), (rule["alert"], name)
                else:
                    assert os.path.isdir(os.path.join(REPO, "roles", name)) or os.path.isfile(
                        os.path.join(REPO, "playbooks", name + ".yml")), (rule["alert"], name)
    assert "collect_logs" in found


def test_no_template_delimiters_left(rules_doc, rules):
    """Every Ansible variable was rendered; every Prometheus template stayed for Prometheus."""
    for rule in rules:
        for text in [rule["expr"], str(rule.get("for", ""))] + list((rule.get("annotations") or {}).values()):
            assert "[[" not in text and "]]" not in text and "{%" not in text, text
    assert any("{{ $labels.node }}" in str(rule.get("annotations")) for rule in rules)
