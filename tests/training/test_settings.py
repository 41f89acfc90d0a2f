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
