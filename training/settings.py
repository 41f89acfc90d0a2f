"""The bottom part of the project's one settings object (environment variables prefixed ``MINEOPS_``).

Each package reads its own part, and the parts stack along the layers: ``TrainingSettings`` here
(where things live, the site, validation, the sample mine, training, the gate, drift), the
simulator's ``simulator.settings.SimulatorSettings`` and the live path's ``live.settings.LiveSettings``
on top of it, and ``api.settings.Settings`` composing both with the API's part: the one object the
service runs on, and the one ``.env.example`` documents (``python -m api.settings > .env.example``;
a test keeps them equal). Nothing else in the code base reads ``os.environ``.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "MINEOPS_"
DEV_ENVIRONMENTS = frozenset({"development", "test"})
#: Variables still read under an old name: old name -> the setting that replaced it (logged as deprecated).
DEPRECATED_ENV: dict[str, str] = {f"{ENV_PREFIX}LIVE_DEFAULT_SITE": "site"}

log = logging.getLogger(__name__)


class DeprecatedEnvSource(PydanticBaseSettingsSource):
    """Values of ``DEPRECATED_ENV`` variables for their new settings, below the new names in priority,
    each with a warning in the log (a deployment's old .env keeps working while it is updated)."""

    def get_field_value(self, field, field_name):  # noqa: ANN001 (unused: __call__ does the work)
        return None, field_name, False

    def __call__(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for old, new in DEPRECATED_ENV.items():
            value = os.environ.get(old)
            if value is None:
                continue
            current = os.environ.get(f"{ENV_PREFIX}{new.upper()}")
            if current is not None and current != value:
                log.warning("%s is deprecated and ignored: %s%s=%s is set", old, ENV_PREFIX, new.upper(), current)
                continue
            log.warning("%s is deprecated: rename it %s%s (read as %s)", old, ENV_PREFIX, new.upper(), value)
            out[new] = value
        return out


class TrainingSettings(BaseSettings):
    """The settings every package shares (where things live, the site) and the training commands' own.

    The bottom of the one settings object: ``simulator.settings.SimulatorSettings`` and
    ``live.settings.LiveSettings`` add their parts to it, and ``api.settings.Settings`` composes them
    all with the API's part. A field's environment variable is ``MINEOPS_`` + its name, whichever
    part declares it. Unknown keyword arguments are refused (a part never silently drops another's field).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="forbid")

    # --- where things live --------------------------------------------------------------------
    environment: str = Field("development", description="development | test | production")
    data_dir: Path = Field(Path("data"), description="Folder of the fleet database CSV exports")
    models_dir: Path = Field(Path("models"), description="Model registry root (vN/ folders + champion pointer)")
    logs_dir: Path = Field(Path("logs"), description="Quarantine, reports, prediction log, drift reports")
    database_url: str = Field(
        "", description="Run store; empty = SQLite file logs/runs.sqlite3; postgresql://... for PostgreSQL"
    )
    log_level: str = Field("INFO", description="Python logging level")
    site: str = Field(
        "default", pattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Site of this deployment's fleet files, models and drift reports, of runs made "
                    "before sites existed and of live events that name none (was MINEOPS_LIVE_DEFAULT_SITE)",
    )

    # --- data validation ----------------------------------------------------------------------
    max_bad_row_share: float = Field(
        0.05, ge=0.0, le=1.0,
        description="Share of bad rows in any file above which the input is rejected (exit 2)",
    )

    # --- synthetic mine -----------------------------------------------------------------------
    synthetic_days: int = Field(90, ge=1, description="Days of haulage the sample mine generates")
    synthetic_trucks: int = Field(40, ge=1, description="Trucks the sample mine operates")
    synthetic_seed: int = Field(7, description="Seed of the sample mine")

    # --- training and the promotion gate ------------------------------------------------------
    random_seed: int = Field(42, description="random_state of every model fit")
    holdout_share: float = Field(0.2, gt=0.0, lt=1.0, description="Latest share of cycles held out")
    gate_min_r2: float = Field(0.8, description="Fuel and payload must reach R2 > this to be promoted")
    gate_min_auc: float = Field(0.7, description="Delay classifier must reach AUC >= this")
    gate_tolerance: float = Field(
        0.02, ge=0.0,
        description="A candidate may be at most this much worse than the champion (R2/AUC points)",
    )

    # --- monitoring ---------------------------------------------------------------------------
    drift_threshold: float = Field(
        0.05, ge=0, le=1,
        description="Drift is declared when the share of drifted columns exceeds this (0.05: any 1 of the 19)",
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # noqa: ANN001, ANN206 (pydantic-settings' hook)
        return (init_settings, env_settings, DeprecatedEnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @property
    def quarantine_dir(self) -> Path:
        return self.logs_dir / "quarantine"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.logs_dir / 'runs.sqlite3').as_posix()}"


@lru_cache
def get_settings() -> TrainingSettings:
    """The training commands' settings, read once per process (tests build their own)."""
    return TrainingSettings()


def env_example(settings_cls: type[TrainingSettings], command: str) -> str:
    """The text of ``.env.example`` for ``settings_cls``: every field with its default and meaning, under
    the part (class) that declares it, bottom layer first. ``command`` is how to regenerate the file."""
    lines = ["# Mining Ops AI settings. Every variable is optional; the value shown is the default.",
             f"# Generated from the settings classes: {command}", ""]
    listed: set[str] = set()
    for part in reversed(settings_cls.__mro__):
        own = [name for name in getattr(part, "__annotations__", {}) if name in settings_cls.model_fields
               and name not in listed]
        if not own:
            continue
        lines += [f"# === {part.__module__}.{part.__qualname__}: {part.__doc__.strip().splitlines()[0]}", ""]
        for name in own:
            field = settings_cls.model_fields[name]
            value = field.default.as_posix() if isinstance(field.default, Path) else field.default
            lines += [f"# {field.description}", f"{ENV_PREFIX}{name.upper()}={value}", ""]
        listed.update(own)
    lines.append("# Deprecated names, still read (a warning in the log says which to rename):")
    lines += [f"#   {old} -> {ENV_PREFIX}{new.upper()}" for old, new in DEPRECATED_ENV.items()]
    lines.append("")
    return "\n".join(lines)
