# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/monitoring/files/grafana/mindie-fleet.json: its structure, and that every metric its queries name exists
(monitoring_names.py: what the simulator serves, what the node collector writes, the recording rules, up)."""

from __future__ import absolute_import, division, print_function

import copy
import json

import pytest

from monitoring_names import (DASHBOARD, exporter_metric_names, known_metric_names, metric_names, rendered_rules,
                              simulator_families, variable_query_expr)

DS_UID = "${DS_PROMETHEUS}"
PANEL_TYPES = ("row", "timeseries", "stat")


@pytest.fixture(scope="module")
def dashboard():
    with open(DASHBOARD, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def known():
    return known_metric_names(rendered_rules())


def panels_of(dash):
    """Every panel, those nested in collapsed rows included."""
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def queries_of(dash):
    """(where, PromQL) for every panel target and every variable query."""
    out = []
    for panel in panels_of(dash):
        for target in panel.get("targets") or []:
            out.append(("panel %s %r target %s" % (panel.get("id"), panel.get("title"), target.get("refId")),
                        target.get("expr") or ""))
    for variable in dash.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            expr = variable_query_expr(variable.get("query"))
            if expr:
                out.append(("variable %s" % variable["name"], expr))
    return out


def unknown_metrics(dash, known):
    """{where: sorted unknown names} for the queries of ``dash``."""
    out = {}
    for where, expr in queries_of(dash):
        missing = sorted(metric_names(expr) - known)
        if missing:
            out[where] = missing
    return out


# ------------------------------------------------------------------------------------------- structure

def test_dashboard_header(dashboard):
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and dashboard["title"]
    inputs = {item["name"]: item for item in dashboard["__inputs"]}
    assert inputs["DS_PROMETHEUS"]["type"] == "datasource"
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"


def test_template_variables(dashboard):
    variables = {item["name"]: item for item in dashboard["templating"]["list"]}
    assert set(variables) >= {"node", "instance"}
    for name in ("node", "instance"):
        variable = variables[name]
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        assert variable["type"] == "query"
        assert variable["datasource"]["uid"] == DS_UID
        assert query.startswith("label_values(") and query.rstrip(")").endswith(name), query
    # the instance list follows the chosen nodes
    assert "$node" in json.dumps(variables["instance"]["query"])


def test_every_panel_has_id_type_title_gridpos_datasource(dashboard):
    problems = []
    for panel in panels_of(dashboard):
        where = "panel %s %r" % (panel.get("id"), panel.get("title"))
        if not isinstance(panel.get("id"), int):
            problems.append("%s: no integer id" % where)
        if panel.get("type") not in PANEL_TYPES:
            problems.append("%s: type %r" % (where, panel.get("type")))
        if not panel.get("title"):
            problems.append("%s: no title" % where)
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(key), int) for key in ("h", "w", "x", "y")):
            problems.append("%s: gridPos %r" % (where, grid))
        elif grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > 24 or grid["h"] < 1:
            problems.append("%s: gridPos %r outside the 24-column grid" % (where, grid))
        datasource = panel.get("datasource") or {}
        if datasource.get("type") != "prometheus" or datasource.get("uid") != DS_UID:
            problems.append("%s: datasource %r" % (where, datasource))
    assert not problems, "\n".join(problems)


def test_panel_ids_are_unique(dashboard):
    ids = [panel["id"] for panel in panels_of(dashboard)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_panels_do_not_overlap(dashboard):
    cells = {}
    for panel in panels_of(dashboard):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, "panels %s and %s overlap" % (cells[(x, y)], panel["id"])
                cells[(x, y)] = panel["id"]


def test_targets_have_expr_and_refid(dashboard):
    problems = []
    for panel in panels_of(dashboard):
        if panel["type"] == "row":
            assert not panel.get("targets"), "row %s has targets" % panel["id"]
            continue
        targets = panel.get("targets") or []
        if not targets:
            problems.append("panel %s %r: no targets" % (panel["id"], panel["title"]))
        ref_ids = [target.get("refId") for target in targets]
        if len(ref_ids) != len(set(ref_ids)):
            problems.append("panel %s: refIds %r repeat" % (panel["id"], ref_ids))
        for target in targets:
            if not target.get("refId") or not (target.get("expr") or "").strip():
                problems.append("panel %s %r: target %r without refId or expr" % (panel["id"], panel["title"], target))
            if (target.get("datasource") or {}).get("uid") not in (None, DS_UID):
                problems.append("panel %s: target datasource %r" % (panel["id"], target["datasource"]))
    assert not problems, "\n".join(problems)


def test_dashboard_shows_what_the_fleet_needs(dashboard):
    """The brief's panels: requests and failures, TTFT and TPOT percentiles, output tokens, running/waiting, KV
    cache, live/ready/restarts; per node HBM used/total, health, temperature, power, AICore."""
    named = set()
    for dummy, expr in queries_of(dashboard):
        named |= metric_names(expr)
    wanted = {
        "node_instance:mindie_requests_received:rate5m", "node_instance:mindie_requests_failed:rate5m",
        "node_instance:mindie_request_failure:ratio_rate5m", "node_instance:mindie_generation_tokens:rate5m",
        "num_requests_running", "num_requests_waiting", "npu_cache_usage_perc",
        "mindie_instance_live", "mindie_instance_ready", "mindie_instance_supervisor_restarts",
        "mindie_instance_container_restarts", "ascend_npu_hbm_used_bytes", "ascend_npu_hbm_total_bytes",
        "ascend_npu_healthy", "ascend_npu_temperature_celsius", "ascend_npu_power_watts",
        "ascend_npu_aicore_utilization_ratio",
    }
    for metric in ("time_to_first_token_seconds", "time_per_output_token_seconds"):
        wanted |= set("node_instance:mindie_%s:%s_5m" % (metric, q) for q in ("p50", "p90", "p99"))
    assert not wanted - named, sorted(wanted - named)


def test_node_job_instance_metrics_are_filtered_by_exported_instance(dashboard):
    """The collector's instance label arrives as exported_instance: $instance must filter that, not instance."""
    for where, expr in queries_of(dashboard):
        if "mindie_instance_" in expr:
            assert "exported_instance=~\"$instance\"" in expr and "instance=~" not in expr.replace(
                "exported_instance=~", ""), "%s: %s" % (where, expr)


# ------------------------------------------------------------------------------------------- metric names

def test_known_names_come_from_the_real_sources(known):
    families = simulator_families()
    assert families.get("time_to_first_token_seconds") == "histogram"
    assert families.get("request_received_total") == "counter"
    assert "time_to_first_token_seconds_bucket" in known and "time_to_first_token_seconds" not in known
    exporter, source = exporter_metric_names()
    assert "ascend_npu_healthy" in exporter and "mindie_instance_ready" in exporter, source
    assert "node_instance:mindie_time_to_first_token_seconds:p90_5m" in known
    assert "up" in known


def test_every_dashboard_metric_exists(dashboard, known):
    missing = unknown_metrics(dashboard, known)
    assert not missing, "metrics no source serves:\n" + "\n".join("  %s: %s" % item for item in sorted(missing.items()))


def test_a_panel_naming_a_missing_metric_is_caught(dashboard, known):
    broken = copy.deepcopy(dashboard)
    panel = next(p for p in broken["panels"] if p["type"] == "timeseries")
    panel["targets"][0]["expr"] = 'rate(mindie_request_latency_seconds_bucket{node=~"$node"}[5m])'
    missing = unknown_metrics(broken, known)
    assert list(missing.values()) == [["mindie_request_latency_seconds_bucket"]]


@pytest.mark.parametrize("expr, names", [
    ('up{job="mindie_instance"} == 0', {"up"}),
    ('sum by (node, instance, le) (rate(time_to_first_token_seconds_bucket{job="x", le="0.5"}[5m]))',
     {"time_to_first_token_seconds_bucket"}),
    ('histogram_quantile(0.9, sum by (le) (rate(a_bucket[$__rate_interval])))', {"a_bucket"}),
    ('(a == 0) unless on (node, exported_instance) (b{c="d"} == 1)', {"a", "b"}),
    ('x / on (node) group_left (status) y offset 5m > bool 1e3', {"x", "y"}),
    ('time() - node_npu:ascend_npu_hbm_used:ratio{npu_id=~"${npu}"} > Inf', {"node_npu:ascend_npu_hbm_used:ratio"}),
    ('count(m{a="{b}"}) or vector(0)', {"m"}),
    ('sum(rate(foo_total[5m])) by (node)', {"foo_total"}),
    ('max_over_time(g[1h:5m])', {"g"}),
])
def test_metric_name_extraction(expr, names):
    assert metric_names(expr) == names
