"""Tests of the PromQL extraction helpers used by the monitoring checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.monitoring import promql


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('histogram_quantile(0.95, sum by (handler, le) (rate(duration_seconds_bucket{handler="/x"}[5m])))',
         {"duration_seconds_bucket"}),
        ("max(mineops_drift_detected) == 1", {"mineops_drift_detected"}),  # name followed by ")"
        ("mineops_drift_share", {"mineops_drift_share"}),
        ("a * on(instance, job) group_left(version) b", {"a", "b"}),
        ("a / ignoring(outcome) b or on() vector(0)", {"a", "b"}),
        ("x * on(instance) group_left b", {"x", "b"}),
        ("sum without (instance) (c_total) > bool 3", {"c_total"}),
        ("sum(rate(c_total[5m])) by (handler)", {"c_total"}),
        ('{__name__="named_metric", job="x"}', {"named_metric"}),
        ('{__name__=~"regex.*"}', set()),
        ("rate(x[5m:30s] offset 1h)", {"x"}),
        ("rate(x[$__rate_interval])", {"x"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
        ("time() - max(ts_seconds) > 30 * 86400", {"ts_seconds"}),
        ("vector(0) > Inf or NaN", set()),
        ("sum(increase(job:requests:rate5m[1h])) # comment with fake_name{", {"job:requests:rate5m"}),
        ("1e3 * 0x1F + 1.5 * m", {"m"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert promql.metric_names(expr) == names


def test_selectors_keep_matchers_and_drop_ranges() -> None:
    expr = 'sum(rate(http_requests_total{status=~"5..", handler!="/metrics"}[5m])) / sum(rate(up[1m]))'
    assert promql.selectors(expr) == ['http_requests_total{status=~"5..", handler!="/metrics"}', "up"]


def test_unbalanced_expression_is_an_error() -> None:
    with pytest.raises(ValueError):
        promql.metric_names("sum(rate(x{job='a'[5m]))")


def test_instant_query_replaces_grafana_intervals() -> None:
    expr = "rate(x[$__rate_interval]) + increase(y[${__range}]) + z[$__interval]"
    assert promql.instant_query(expr, rate_interval="30s", range_="10m", interval="5s") == \
        "rate(x[30s]) + increase(y[10m]) + z[5s]"
    with pytest.raises(ValueError, match="handler"):
        promql.instant_query('x{handler="$handler"}')


def test_rule_files_follow_the_prometheus_config() -> None:
    files = promql.rule_files()
    assert files == [promql.PROMETHEUS_CONFIG.parent / "alerts.yml"]
    assert all(f.is_file() for f in files)


def test_rule_expressions_cover_every_rule() -> None:
    doc = yaml.safe_load((promql.PROMETHEUS_CONFIG.parent / "alerts.yml").read_text())
    n_rules = sum(len(g["rules"]) for g in doc["groups"])
    exprs = promql.rule_expressions()
    assert len(exprs) == n_rules
    assert all(e.kind == "alert" and e.expr and e.group for e in exprs)


def test_panel_targets_cover_every_target(tmp_path: Path) -> None:
    dash = {"uid": "d", "panels": [
        {"id": 1, "type": "row", "collapsed": True, "panels": [
            {"id": 2, "title": "nested", "targets": [{"refId": "A", "expr": " up ", "instant": True}]}]},
        {"id": 3, "title": "top", "targets": [{"refId": "A", "expr": "x", "range": True},
                                              {"refId": "B", "expr": "y"}]},
    ]}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dash))
    got = promql.panel_targets([path])
    assert [(t.label, t.expr, t.instant) for t in got] == [("d/2/A", "up", True), ("d/3/A", "x", False),
                                                          ("d/3/B", "y", False)]


def test_exported_names_follow_prometheus_suffixes() -> None:
    names = promql.exported_metric_names()
    assert {"mineops_simulations_total", "mineops_simulation_duration_seconds_bucket", "mineops_drift_share",
            "mineops_retrain_runs", "http_requests_total", "http_request_duration_seconds_bucket"} <= names
    assert "mineops_simulations" not in names and "mineops_drift_share_total" not in names


def test_live_config_points_at_the_target_with_absolute_rule_paths() -> None:
    cfg = promql.live_prometheus_config("127.0.0.1:18000", scrape_interval="1s")
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "mining-ops-api")
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:18000"]
    assert cfg["global"]["scrape_interval"] == "1s"
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in cfg["rule_files"])
