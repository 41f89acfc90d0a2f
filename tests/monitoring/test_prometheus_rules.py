"""Prometheus config and alert rules: promtool checks, the promtool unit tests, and rule conventions."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from live.settings import LiveSettings
from tests.monitoring import promql
from tests.servers import require_binary

PROM_DIR = promql.PROMETHEUS_CONFIG.parent
ALERTS = PROM_DIR / "alerts.yml"
ALERTS_TEST = PROM_DIR / "alerts_test.yml"
RULES = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
#: The alerts the issue asks for, plus ApiDown (without it every other API alert goes silent when the API dies).
EXPECTED_ALERTS = {"ApiDown", "StrategiesLatencyHigh", "ChatLatencyHigh", "Api5xxRateHigh", "OllamaUnreachable",
                   "LiveConsumerLagHigh", "LiveKpisStale",
                   "DriftDetected", "ChampionTooOld", "SimulatorPoolSaturated", "RetrainRejected"}


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", package="prometheus")
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=PROM_DIR)


def test_promtool_check_config() -> None:
    done = _promtool("check", "config", promql.PROMETHEUS_CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_promtool_check_rules() -> None:
    done = _promtool("check", "rules", ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(RULES)} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _promtool("test", "rules", ALERTS_TEST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_fail_on_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests can fail: with the strategies threshold raised to 50 s its firing case breaks."""
    tail = 'handler="/get_top_3_strategies"}[5m]))\n          ) > 5'
    broken = ALERTS.read_text().replace(tail, tail + "0")
    assert broken != ALERTS.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    done = _promtool("test", "rules", tmp_path / "alerts_test.yml")
    assert done.returncode != 0
    assert "StrategiesLatencyHigh" in done.stdout + done.stderr


def test_scrape_job_targets_the_api_service() -> None:
    cfg = yaml.safe_load(promql.PROMETHEUS_CONFIG.read_text())
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "mining-ops-api"]
    assert job["static_configs"][0]["targets"] == ["api:8000"]
    assert cfg["global"]["scrape_interval"] == "15s"
    assert cfg["rule_files"] == ["alerts.yml"]


def test_the_issue_s_alerts_exist_once_each() -> None:
    names = [r["alert"] for r in RULES]
    assert len(names) == len(set(names)), names
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["alert"])
def test_rule_has_for_severity_and_runbook(rule: dict) -> None:
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["summary"].strip()
    assert "Action:" in rule["annotations"]["description"]


def _unit_tests_by_alert() -> dict[str, tuple[int, int]]:
    """Per alert: (unit-test groups where it fires, groups where every check expects it quiet)."""
    doc = yaml.safe_load(ALERTS_TEST.read_text())
    counts: dict[str, list[int]] = {}
    for group in doc["tests"]:
        fired: dict[str, bool] = {}
        for check in group.get("alert_rule_test") or []:
            fired[check["alertname"]] = fired.get(check["alertname"], False) or bool(check.get("exp_alerts"))
        for name, any_fired in fired.items():
            c = counts.setdefault(name, [0, 0])
            c[0 if any_fired else 1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_every_rule_has_a_firing_and_a_quiet_unit_test(name: str) -> None:
    firing, quiet = _unit_tests_by_alert().get(name, (0, 0))
    assert firing >= 1 and quiet >= 1, f"{name}: {firing} firing and {quiet} quiet test groups"


def test_champion_age_limit_matches_the_setting() -> None:
    (rule,) = [r for r in RULES if r["alert"] == "ChampionTooOld"]
    days = int(re.search(r"/ 86400 > (\d+)\s*$", rule["expr"].strip()).group(1))
    assert days == LiveSettings.model_fields["champion_max_age_days"].default
    assert f"limit {days}" in rule["annotations"]["summary"]
