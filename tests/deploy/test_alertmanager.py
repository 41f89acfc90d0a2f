"""Alertmanager routes Prometheus's alerts to the service's notification receivers.

monitoring/alertmanager/render.sh writes Alertmanager's configuration from the same MINEOPS_NOTIFY_*
settings the API's notifier uses; ``amtool check-config`` (Debian prometheus-alertmanager) checks
what it writes, with and without receivers. Compose runs it in front of alertmanager, and
Prometheus sends its alerts there.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_docker_files import ROOT, bind_mounts, rendered, services  # noqa: F401 (fixture)
from tests.servers import require_binary

RENDER = ROOT / "monitoring" / "alertmanager" / "render.sh"
FULL = {"MINEOPS_NOTIFY_WEBHOOK_URL": "https://hooks.example.test/mine?x='1'",
        "ALERTMANAGER_WEBHOOK_TOKEN": "t0ken", "MINEOPS_NOTIFY_SMTP_HOST": "smtp.example.test",
        "MINEOPS_NOTIFY_SMTP_PORT": "587", "MINEOPS_NOTIFY_SMTP_STARTTLS": "true",
        "MINEOPS_NOTIFY_SMTP_USER": "alerts", "MINEOPS_NOTIFY_SMTP_PASSWORD": "pa'ss",
        "MINEOPS_NOTIFY_EMAIL_FROM": "mineops@example.test", "MINEOPS_NOTIFY_EMAIL_TO": "planner@example.test"}


def render(tmp_path: Path, env: dict[str, str]) -> tuple[Path, dict]:
    out = tmp_path / "alertmanager.yml"
    proc = subprocess.run(["sh", str(RENDER), str(out)], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return out, yaml.safe_load(out.read_text())


@pytest.mark.parametrize("env", [FULL, {}], ids=["webhook+email", "no receivers"])
def test_rendered_configuration_passes_amtool(tmp_path: Path, env: dict[str, str]):
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    out, _ = render(tmp_path, env)
    proc = subprocess.run([amtool, "check-config", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alerts_go_to_the_notifiers_receivers(tmp_path: Path):
    _, config = render(tmp_path, FULL)
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == FULL["MINEOPS_NOTIFY_WEBHOOK_URL"] and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials": "t0ken"}
    (mail,) = receiver["email_configs"]
    assert mail["smarthost"] == "smtp.example.test:587" and mail["require_tls"] is True
    assert mail["to"] == "planner@example.test" and mail["auth_password"] == "pa'ss"
    _, empty = render(tmp_path, {})
    assert "webhook_configs" not in empty["receivers"][0] and "email_configs" not in empty["receivers"][0]


def test_compose_runs_alertmanager_with_the_rendered_file_and_prometheus_alerts_it(rendered):  # noqa: F811
    svc = services(rendered)
    am = svc["alertmanager"]
    assert bind_mounts(am)["/etc/alertmanager/render.sh"] == RENDER
    entry = am["entrypoint"]
    assert entry[:3] == ["/bin/sh", "/etc/alertmanager/render.sh", "/alertmanager/alertmanager.yml"]
    assert "--config.file=/alertmanager/alertmanager.yml" in entry
    assert {k for k in am["environment"] if k.startswith("MINEOPS_NOTIFY_")} >= {
        "MINEOPS_NOTIFY_WEBHOOK_URL", "MINEOPS_NOTIFY_SMTP_HOST", "MINEOPS_NOTIFY_EMAIL_TO"}
    prom = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = [t for am_cfg in prom["alerting"]["alertmanagers"] for sc in am_cfg["static_configs"]
               for t in sc["targets"]]
    assert targets == ["alertmanager:9093"]
    assert svc["api"]["environment"]["MINEOPS_AUTH"] == "on"  # compose listens on 0.0.0.0
