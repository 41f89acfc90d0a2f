"""Static checks of the Grafana provisioning and dashboards, and of every metric name monitoring/ uses."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring import promql
from tests.servers import require_binary

GRAFANA = promql.MONITORING_DIR / "grafana"
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in promql.dashboard_files()}
TARGETS = promql.panel_targets()
RULES = promql.rule_expressions()
KNOWN = promql.exported_metric_names() | promql.PROMETHEUS_SERIES
DATASOURCE_UID = "prometheus"

#: What the issue asks each dashboard to show, as metric names its queries must read.
REQUIRED = {
    "service": {"http_requests_total", "http_request_duration_seconds_bucket", "mineops_simulator_queue_depth",
                "mineops_simulator_queue_limit", "mineops_simulation_requests_total"},
    "model": {"mineops_predictions_total", "mineops_drift_share", "mineops_drift_column_score",
              "mineops_drift_detected", "mineops_champion_info", "mineops_champion_created_timestamp_seconds",
              "mineops_retrain_runs", "mineops_retrain_last_timestamp_seconds", "mineops_retrain_last_metric",
              "mineops_retrain_last_duration_seconds", "mineops_chat_requests_total", "mineops_chat_tokens_total",
              "mineops_ollama_up"},
    "operations": {"mineops_run_best_profit_idr", "mineops_run_best_production_t",
                   "mineops_run_best_fuel_ratio_l_per_t", "mineops_run_best_queue_hours", "mineops_simulations_total",
                   "mineops_grid_simulations_bucket"},
    "live": {"mineops_live_shift_tonnes", "mineops_live_shift_loads", "mineops_live_shift_trucks_working",
             "mineops_live_shift_cycle_time_minutes", "mineops_live_shift_queue_time_minutes",
             "mineops_live_shift_fuel_litres_per_tonne", "mineops_live_events_total", "mineops_live_consumer_lag",
             "mineops_live_pending", "mineops_live_snapshot_age_seconds", "mineops_cache_requests_total"},
}


def test_four_dashboards_with_unique_uids_and_titles() -> None:
    assert set(DASHBOARDS) == {"service", "model", "operations", "live"}
    uids = [d.get("uid") for d in DASHBOARDS.values()]
    titles = [d.get("title") for d in DASHBOARDS.values()]
    assert all(uids) and len(set(uids)) == len(uids), uids
    assert all(titles) and len(set(titles)) == len(titles), titles
    for d in DASHBOARDS.values():
        assert d["schemaVersion"] >= 36 and d["id"] is None  # id null: Grafana assigns it on provisioning


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_layout_and_targets(name: str) -> None:
    panels = list(promql.iter_panels(DASHBOARDS[name]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}: {ids}"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, (name, p["title"], pos)
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{name}: panel {p['title']!r} overlaps another"
        cells |= area
        if p["type"] == "row":
            continue
        assert p.get("title") and p.get("description"), (name, p["id"])
        assert p["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, (name, p["title"])
        refs = [t.get("refId") for t in p.get("targets") or []]
        assert refs and all(refs) and len(set(refs)) == len(refs), (name, p["title"], refs)
        for t in p["targets"]:
            assert t.get("expr", "").strip(), (name, p["title"], t)
            assert t["datasource"]["uid"] == DATASOURCE_UID


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_dashboard_shows_what_the_issue_asks(name: str) -> None:
    used = {n for t in TARGETS if t.file.stem == name for n in promql.metric_names(t.expr)}
    assert REQUIRED[name] <= used, f"{name} misses {sorted(REQUIRED[name] - used)}"


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.label)
def test_panel_query_reads_only_exported_metrics(target: promql.PanelTarget) -> None:
    names = promql.metric_names(target.expr)
    assert names, f"{target.label} reads no metric"
    assert names <= KNOWN, f"{target.label} ({target.panel_title}) reads unknown {sorted(names - KNOWN)}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_reads_only_exported_metrics(rule: promql.RuleExpr) -> None:
    names = promql.metric_names(rule.expr)
    assert names, f"{rule.name} reads no metric"
    assert names <= KNOWN, f"{rule.name} reads unknown {sorted(names - KNOWN)}"


def test_every_domain_metric_is_on_a_dashboard() -> None:
    used = {n for t in TARGETS for n in promql.metric_names(t.expr)}
    unseen = sorted(family for family, series in promql.exported_metric_families().items()
                    if family.startswith("mineops_") and not series & used)
    assert not unseen, f"domain metrics no dashboard shows: {unseen}"


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (as a recording rule), so a typo fails here, not in Grafana."""
    promtool = require_binary("promtool", package="prometheus")
    rules = [{"record": f"dashboard:{t.dashboard_uid.replace('-', '_')}:panel_{t.panel_id}_{t.ref_id}",
              "expr": promql.instant_query(t.expr)} for t in TARGETS]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_datasource_provisioning_matches_the_dashboards() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = doc["datasources"]
    assert (ds["uid"], ds["type"], ds["url"]) == (DATASOURCE_UID, "prometheus", "http://prometheus:9090")
    scrape = yaml.safe_load(promql.PROMETHEUS_CONFIG.read_text())["global"]["scrape_interval"]
    assert ds["jsonData"]["timeInterval"] == scrape


def test_dashboard_provider_loads_the_dashboard_folder() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
