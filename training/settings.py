"""The project's one settings object (environment variables prefixed ``MINEOPS_``).

It lives in ``training`` because that is the bottom layer: the training commands, the simulator
and the API all read it, and ``training`` may import nothing of ours. ``api/settings.py`` wraps it
in the cached FastAPI dependency. Every field is listed in ``.env.example`` (a test checks that);
nothing else in the code base reads ``os.environ``.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
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


class Settings(BaseSettings):
    """Runtime configuration; defaults run everything locally with no external service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    # --- where things live -------------------------------------------------------------------
    environment: str = Field("development", description="development | test | production")
    data_dir: Path = Field(Path("data"), description="Folder of the fleet database CSV exports")
    models_dir: Path = Field(Path("models"), description="Model registry root (vN/ folders + champion pointer)")
    logs_dir: Path = Field(Path("logs"), description="Quarantine, reports, prediction log, drift reports")
    log_level: str = Field("INFO", description="Python logging level")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Service log lines: json (one object per line), text (one human line: time, level, "
                            "message), auto (text when stderr is a terminal, else json; the image sets json)",
    )

    # --- data validation ---------------------------------------------------------------------
    max_bad_row_share: float = Field(
        0.05, ge=0.0, le=1.0,
        description="Share of bad rows in any file above which the input is rejected (exit 2)",
    )

    # --- synthetic mine ------------------------------------------------------------------------
    synthetic_days: int = Field(90, ge=1, description="Days of haulage the sample mine generates")
    synthetic_trucks: int = Field(40, ge=1, description="Trucks the sample mine operates")
    synthetic_seed: int = Field(7, description="Seed of the sample mine")

    # --- training and the promotion gate -------------------------------------------------------
    random_seed: int = Field(42, description="random_state of every model fit")
    holdout_share: float = Field(0.2, gt=0.0, lt=1.0, description="Latest share of cycles held out")
    gate_min_r2: float = Field(0.8, description="Fuel and payload must reach R2 > this to be promoted")
    gate_min_auc: float = Field(0.7, description="Delay classifier must reach AUC >= this")
    gate_tolerance: float = Field(
        0.02, ge=0.0,
        description="A candidate may be at most this much worse than the champion (R2/AUC points)",
    )

    # --- simulation ----------------------------------------------------------------------------
    sim_replications: int = Field(30, ge=1, description="Default replications per scenario")
    sim_duration_hours: float = Field(8.0, gt=0, description="Default shift length simulated")
    sim_seed: int = Field(42, description="Default root seed of a simulation request")
    sim_max_grid_simulations: int = Field(
        2000, ge=1, description="Largest grid (scenarios x replications) one request may ask for"
    )
    sim_max_job_simulations: int = Field(
        50_000, ge=1, description="Largest grid a strategies request may ask for as a background job (202 + "
                                  "/jobs/{id}; grids above sim_max_grid_simulations) on the local pool; with a "
                                  "Dask scheduler sim_max_cluster_simulations applies",
    )
    sim_workers: int = Field(0, ge=0, description="Simulator processes; 0 = one per CPU core")
    sim_queue_limit: int = Field(
        8, ge=1, description="Requests waiting for the simulator pool before 503 Retry-After"
    )

    # --- API and storage -----------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Bind address of python -m api")
    api_port: int = Field(8000, description="Port of python -m api")
    api_workers: int = Field(1, ge=1, description="Uvicorn worker processes")
    database_url: str = Field(
        "", description="Run store; empty = SQLite file logs/runs.sqlite3; postgresql://... for PostgreSQL"
    )
    model_reload_poll_s: float = Field(
        2.0, gt=0, description="Seconds between checks of the registry's champion pointer (hot reload)"
    )
    secret_key: str = Field("dev-insecure-secret", description="Signing secret; must be changed outside development")

    # --- chat ------------------------------------------------------------------------------------
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server URL")
    ollama_model: str = Field("qwen2.5:7b", description="Model the chat uses")
    ollama_timeout_s: float = Field(30.0, gt=0, description="Seconds before the chat falls back")
    ollama_probe_interval_s: float = Field(
        30.0, gt=0, description="Seconds between Ollama health probes (the mineops_ollama_up gauge)"
    )
    chat_what_if_replications: int = Field(
        10, ge=1, description="Replications of a what-if the chat model asks for (kept small: it waits)"
    )

    # --- monitoring --------------------------------------------------------------------------------
    drift_threshold: float = Field(
        0.05, ge=0, le=1,
        description="Drift is declared when the share of drifted columns exceeds this (0.05: any 1 of the 19)",
    )
    champion_max_age_days: int = Field(30, ge=1, description="Alert when the champion is older")

    # --- cluster -----------------------------------------------------------------------------------
    dask_scheduler_address: str = Field("", description="Dask scheduler (tcp://host:8786); empty = local pool")
    dask_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the Dask scheduler to answer")
    sim_max_cluster_simulations: int = Field(
        200_000, ge=1,
        description="Largest grid one request may ask for when a Dask scheduler is configured "
                    "(grids above sim_max_grid_simulations run on the cluster, as background jobs)",
    )

    # --- who may do what (api/auth.py) -----------------------------------------------------------
    auth: str = Field(
        "off", pattern="^(off|on)$",
        description="on: every request needs an API key or a bearer JWT; off (everyone is admin) is "
                    "allowed only when api_host is a loopback address",
    )
    anonymous_role: str = Field(
        "", pattern="^(|viewer|planner|admin)$",
        description="With auth on, the role of requests without credentials (empty = 401); for the "
                    "prototype dashboard, which cannot send headers, on a trusted network only",
    )
    site: str = Field(
        "default", pattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Site of this deployment's fleet files, models and drift reports, of runs made "
                    "before sites existed and of live events that name none (was MINEOPS_LIVE_DEFAULT_SITE)",
    )
    jwt_issuer: str = Field("", description="Issuer (iss) of accepted OAuth2 bearer JWTs; empty = JWTs refused")
    jwt_jwks_url: str = Field("", description="JWKS URL of the identity provider that signs the JWTs")
    jwt_audience: str = Field("", description="Required audience (aud) of the JWTs; empty = not checked")
    jwt_role_claim: str = Field("mineops_role", description="JWT claim holding the role (viewer|planner|admin)")
    jwt_site_claim: str = Field("mineops_site", description="JWT claim holding the site")
    rate_limit_heavy: str = Field(
        "30/minute",
        description="Per key (or anonymous client address): requests to the heavy routes (strategies, "
                    "studies, chat) allowed per window, e.g. 30/minute; empty = no limit",
    )
    rate_limit_storage_url: str = Field(
        "memory://", description="Where rate-limit counters live: memory:// (per process) or redis://host:6379"
    )

    # --- notifications (training/events.py, api/notify.py) -----------------------------------------
    notify_webhook_url: str = Field(
        "", description="Events are POSTed here as JSON, signed with HMAC-SHA256 of secret_key "
                        "(X-MineOps-Signature); empty = no webhook",
    )
    notify_smtp_host: str = Field("", description="SMTP server for event e-mails; empty = no e-mail")
    notify_smtp_port: int = Field(25, description="SMTP port")
    notify_smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    notify_smtp_user: str = Field("", description="SMTP login (empty = none)")
    notify_smtp_password: str = Field("", description="SMTP password")
    notify_email_from: str = Field("mineops@localhost", description="Sender of event e-mails")
    notify_email_to: str = Field("", description="Comma-separated recipients of event e-mails")
    notify_attempts: int = Field(5, ge=1, description="Delivery attempts per event and receiver")
    notify_backoff_s: float = Field(
        1.0, gt=0, description="First pause between delivery attempts (s); doubles each retry"
    )
    notify_poll_s: float = Field(1.0, gt=0, description="Seconds between looks at the event outbox")
    notify_vessel_late_probability: float = Field(
        0.2, ge=0, le=1,
        description="Publish vessel.at_risk when a run's recommended strategy misses its target vessel with "
                    "a higher probability than this",
    )

    # --- tracing (api/tracing.py) --------------------------------------------------------------------
    otlp_endpoint: str = Field(
        "", description="OTLP/HTTP traces endpoint (http://collector:4318/v1/traces); empty = tracing off"
    )
    otel_service_name: str = Field("mining-ops-api", description="service.name of the exported spans")

    # --- live haulage (Redis Streams ingestion, speed and batch layers, cache) ---------------------
    redis_url: str = Field(
        "", description="Redis for live ingestion, KPI snapshots and the ranking cache (redis://host:6379/0); "
                        "empty = live ingestion not configured, in-process cache",
    )
    live_stream: str = Field("hauling-events", description="Redis Stream the fleet system XADDs cycle events to")
    live_group: str = Field("live-workers", description="Consumer group of python -m live.worker")
    live_stream_maxlen: int = Field(
        1_000_000, ge=1000, description="Approximate length the stream is trimmed to on XADD (MAXLEN ~), entries",
    )
    live_batch_size: int = Field(2000, ge=1, description="Events a worker reads, validates and writes per batch")
    live_block_ms: int = Field(100, ge=1, description="Milliseconds XREADGROUP waits for new events")
    live_claim_idle_s: float = Field(
        30.0, gt=0, description="Seconds an event may stay unacknowledged before another worker claims it "
                                "(a crashed worker's pending entries)",
    )
    live_snapshot_ttl_s: int = Field(
        60, ge=1, description="Seconds a KPI snapshot counts as fresh; the worker re-stamps the current shift's "
                              "snapshot every third of this, so an older one means the speed layer stopped",
    )
    live_shift_plan_tonnes: float = Field(
        0.0, ge=0, description="Tonnes planned per shift; 0 = the median of the stored shifts of the same "
                               "site and shift (batch layer)",
    )
    live_alert_behind_plan_pct: float = Field(
        20.0, ge=0, le=100, description="live.kpi_alert when a shift's tonnes are more than this many percent below "
                                        "its plan pro-rated to the time the shift has run; 0 = off",
    )
    live_alert_queue_min: float = Field(
        15.0, ge=0, description="live.kpi_alert when a shift's mean queue time at the loaders is above this, "
                                "minutes; 0 = off",
    )
    live_alert_min_elapsed_share: float = Field(
        0.25, ge=0, le=1, description="Share of a shift (by its events' clock) that must have run before its "
                                      "KPIs are judged for alerts",
    )
    live_batch_every_cycles: int = Field(
        20_000, ge=1, description="New stored cycles after which the batch layer runs (export, drift, retrain)",
    )
    live_daily_at: str = Field("02:00", description="Mine-local time (HH:MM) of the daily batch run")
    live_batch_enabled: bool = Field(
        True, description="Whether python -m live.worker runs the batch layer (aggregates, export, drift, retrain)",
    )
    live_sse_keepalive_s: float = Field(
        15.0, gt=0, description="Seconds between keep-alive comments on the SSE streams (GET /live/kpis/stream, "
                                "GET /jobs/{id}/events)",
    )
    cache_ttl_s: int = Field(900, ge=0, description="Seconds a strategies ranking is answered from the cache")
    cache_prewarm_requests: int = Field(
        3, ge=0, description="Latest stored requests of the running shift re-run into the cache at start-up and "
                             "after a promotion (0 = no pre-warm); each is a full simulation",
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # noqa: ANN001, ANN206 (pydantic-settings' hook)
        return (init_settings, env_settings, DeprecatedEnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> "Settings":
        if self.environment not in DEV_ENVIRONMENTS and self.secret_key == "dev-insecure-secret":
            raise ValueError(
                f"{ENV_PREFIX}SECRET_KEY must be set when {ENV_PREFIX}ENVIRONMENT={self.environment}"
            )
        return self

    @field_validator("live_daily_at")
    @classmethod
    def _hh_mm(cls, v: str) -> str:
        hours, _, minutes = v.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"live_daily_at must be HH:MM on the mine's clock, got {v!r}")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @property
    def quarantine_dir(self) -> Path:
        return self.logs_dir / "quarantine"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.logs_dir / 'runs.sqlite3').as_posix()}"

    @property
    def effective_workers(self) -> int:
        return self.sim_workers or (os.cpu_count() or 1)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings(...)``)."""
    return Settings()


def env_example() -> str:
    """The text of ``.env.example``: every setting with its default and meaning (generated)."""
    lines = ["# Mining Ops AI settings. Every variable is optional; the value shown is the default.",
             "# Generated from training/settings.py: python -m training.settings > .env.example", ""]
    for name, field in Settings.model_fields.items():
        default = field.default
        value = default.as_posix() if isinstance(default, Path) else default
        lines.append(f"# {field.description}")
        lines.append(f"{ENV_PREFIX}{name.upper()}={value}")
        lines.append("")
    lines.append("# Deprecated names, still read (a warning in the log says which to rename):")
    lines += [f"#   {old} -> {ENV_PREFIX}{new.upper()}" for old, new in DEPRECATED_ENV.items()]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(env_example(), end="")
