"""One settings object, documented in .env.example, refusing default secrets in production."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from training.settings import ENV_PREFIX, Settings, env_example

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_its_default():
    assert (ROOT / ".env.example").read_text() == env_example(), \
        "regenerate: python -m training.settings > .env.example"
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
    out = subprocess.run([sys.executable, "-m", "training.settings"], capture_output=True, text=True,
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
