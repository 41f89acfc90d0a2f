"""One settings object composed of each package's part, documented in .env.example, refusing default
secrets in production."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings, env_example
from live.settings import LiveSettings
from simulator.settings import SimulatorSettings
from training.settings import ENV_PREFIX, TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_its_default():
    assert (ROOT / ".env.example").read_text() == env_example(), \
        "regenerate: python -m api.settings > .env.example"
    for name in Settings.model_fields:
        assert f"{ENV_PREFIX}{name.upper()}=" in env_example()


def test_environment_variables_override_defaults(monkeypatch):
    monkeypatch.setenv("MINEOPS_SIM_REPLICATIONS", "12")
    monkeypatch.setenv("MINEOPS_DATA_DIR", "/tmp/elsewhere")
    s = Settings()
    assert s.sim_replications == 12 and s.data_dir == Path("/tmp/elsewhere")


def test_default_secret_refused_outside_development():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production")
    assert Settings(environment="production", secret_key="s3cret").environment == "production"


def test_no_module_reads_os_environ_outside_settings():
    offenders = []
    for folder in ("training", "simulator", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if ("os.environ" in text or "os.getenv" in text) and path.name != "settings.py":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_settings_module_prints_env_example():
    out = subprocess.run([sys.executable, "-m", "api.settings"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out == env_example()


def test_the_old_name_of_the_site_is_still_read_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("MINEOPS_SITE", raising=False)
    monkeypatch.setenv("MINEOPS_LIVE_DEFAULT_SITE", "north-pit")
    with caplog.at_level("WARNING", logger="training.settings"):
        assert Settings().site == "north-pit"
    assert "MINEOPS_LIVE_DEFAULT_SITE is deprecated: rename it MINEOPS_SITE" in caplog.text
    assert "live_default_site" not in Settings.model_fields  # one setting, not two

    monkeypatch.setenv("MINEOPS_SITE", "south-pit")  # the new name wins, and the log says the old one is ignored
    caplog.clear()
    with caplog.at_level("WARNING", logger="training.settings"):
        assert Settings().site == "south-pit"
    assert "MINEOPS_LIVE_DEFAULT_SITE is deprecated and ignored" in caplog.text


def test_an_old_name_with_a_bad_value_is_refused_like_the_new_one(monkeypatch):
    monkeypatch.delenv("MINEOPS_SITE", raising=False)
    monkeypatch.setenv("MINEOPS_LIVE_DEFAULT_SITE", "no spaces allowed")
    with pytest.raises(ValidationError, match="site"):
        Settings()


def test_each_package_declares_its_own_part_and_the_api_composes_them():
    training, simulator, live = (set(c.model_fields) for c in (TrainingSettings, SimulatorSettings, LiveSettings))
    assert training < simulator and training < live and not (simulator - training) & (live - training)
    assert {"sim_workers", "dask_scheduler_address"} <= simulator - training
    assert {"redis_url", "live_stream"} <= live - training
    api_only = set(Settings.model_fields) - simulator - live
    assert {"api_port", "auth", "ollama_host", "cache_ttl_s", "rate_limit_heavy"} <= api_only
    assert set(Settings.model_fields) == simulator | live | api_only
    assert issubclass(Settings, SimulatorSettings) and issubclass(Settings, LiveSettings)


def test_every_part_reads_the_same_environment_variable(monkeypatch):
    monkeypatch.setenv("MINEOPS_SIM_WORKERS", "3")
    monkeypatch.setenv("MINEOPS_LIVE_BATCH_SIZE", "77")
    monkeypatch.setenv("MINEOPS_LOGS_DIR", "/tmp/elsewhere")
    assert SimulatorSettings().sim_workers == Settings().sim_workers == 3
    assert LiveSettings().live_batch_size == Settings().live_batch_size == 77
    assert {TrainingSettings().logs_dir, SimulatorSettings().logs_dir, LiveSettings().logs_dir,
            Settings().logs_dir} == {Path("/tmp/elsewhere")}


def test_a_part_refuses_another_parts_field():
    with pytest.raises(ValidationError, match="sim_workers"):
        TrainingSettings(sim_workers=2)
    with pytest.raises(ValidationError, match="api_port"):
        SimulatorSettings(api_port=1)
    with pytest.raises(ValidationError, match="redis_url"):
        SimulatorSettings(redis_url="redis://x")


@pytest.mark.parametrize(("module", "allowed"), [
    ("training/settings.py", set()), ("simulator/settings.py", {"training"}), ("live/settings.py", {"training"}),
])
def test_settings_modules_keep_the_layering(module, allowed):
    ours = {"training", "simulator", "live", "api"}
    tree = ast.parse((ROOT / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported & ours <= allowed
