"""The one settings object: the API's part composed with the simulator's and the live path's.

Each package reads its own part (``training.settings.TrainingSettings`` at the bottom,
``simulator.settings.SimulatorSettings``, ``live.settings.LiveSettings``); only the API sees every
layer, so the composition lives here: ``Settings`` is what the service runs on, what routes get
through ``SettingsDep`` (tests override ``get_settings``), and what ``.env.example`` documents::

    python -m api.settings > .env.example

Also the one place that touches prometheus_client's environment: it decides at import time, from its
own environment variable, whether metrics are shared between processes. With several uvicorn workers
``python -m api`` calls ``enable_multiprocess_metrics`` before any worker imports it; nothing else
reads or writes it.
"""
from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from live.settings import LiveSettings
from simulator.settings import SimulatorSettings
from training.settings import DEV_ENVIRONMENTS, ENV_PREFIX, env_example as _env_example

#: prometheus_client's variable naming its multiprocess directory (its protocol, not ours).
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How to regenerate ``.env.example`` (written into its header).
ENV_EXAMPLE_COMMAND = "python -m api.settings > .env.example"


class Settings(LiveSettings, SimulatorSettings):
    """The API's settings: the service, the chat (Ollama), auth and rate limits, notifications, tracing, the cache."""

    # --- the service --------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Bind address of python -m api")
    api_port: int = Field(8000, description="Port of python -m api")
    api_workers: int = Field(1, ge=1, description="Uvicorn worker processes")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Service log lines: json (one object per line), text (one human line: time, level, "
                            "message), auto (text when stderr is a terminal, else json; the image sets json)",
    )
    sim_queue_limit: int = Field(
        8, ge=1, description="Requests waiting for the simulator pool before 503 Retry-After"
    )
    sim_max_job_simulations: int = Field(
        50_000, ge=1, description="Largest grid a strategies request may ask for as a background job (202 + "
                                  "/jobs/{id}; grids above sim_max_grid_simulations) on the local pool; with a "
                                  "Dask scheduler sim_max_cluster_simulations applies",
    )
    model_reload_poll_s: float = Field(
        2.0, gt=0, description="Seconds between checks of the registry's champion pointer (hot reload)"
    )
    secret_key: str = Field("dev-insecure-secret", description="Signing secret; must be changed outside development")

    # --- chat ---------------------------------------------------------------------------------
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server URL")
    ollama_model: str = Field("qwen2.5:7b", description="Model the chat uses")
    ollama_timeout_s: float = Field(30.0, gt=0, description="Seconds before the chat falls back")
    ollama_probe_interval_s: float = Field(
        30.0, gt=0, description="Seconds between Ollama health probes (the mineops_ollama_up gauge)"
    )
    chat_what_if_replications: int = Field(
        10, ge=1, description="Replications of a what-if the chat model asks for (kept small: it waits)"
    )

    # --- who may do what (api/auth.py) --------------------------------------------------------
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

    # --- notifications (training/events.py, api/notify.py) ------------------------------------
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

    # --- tracing (api/tracing.py) -------------------------------------------------------------
    otlp_endpoint: str = Field(
        "", description="OTLP/HTTP traces endpoint (http://collector:4318/v1/traces); empty = tracing off"
    )
    otel_service_name: str = Field("mining-ops-api", description="service.name of the exported spans")

    # --- live KPIs over SSE and the ranking cache ---------------------------------------------
    live_sse_keepalive_s: float = Field(
        15.0, gt=0, description="Seconds between keep-alive comments on the SSE streams "
                                "(GET /live/kpis/stream, GET /jobs/{id}/events)",
    )
    cache_ttl_s: int = Field(900, ge=0, description="Seconds a strategies ranking is answered from the cache")
    cache_prewarm_requests: int = Field(
        3, ge=0, description="Latest stored requests of the running shift re-run into the cache at start-up and "
                             "after a promotion (0 = no pre-warm); each is a full simulation",
    )

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> "Settings":
        if self.environment not in DEV_ENVIRONMENTS and self.secret_key == "dev-insecure-secret":
            raise ValueError(
                f"{ENV_PREFIX}SECRET_KEY must be set when {ENV_PREFIX}ENVIRONMENT={self.environment}"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings of the service (cached; tests build their own ``Settings(...)``)."""
    return Settings()


def env_example() -> str:
    """The text of ``.env.example``: every setting of every part with its default and meaning."""
    return _env_example(Settings, ENV_EXAMPLE_COMMAND)


def enable_multiprocess_metrics(logs_dir: Path) -> Path:
    """Start from an empty shared metrics folder under ``logs_dir`` and point prometheus_client at it."""
    folder = Path(logs_dir) / "prometheus-multiproc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[PROMETHEUS_MULTIPROC_ENV] = str(folder.resolve())
    return folder


def multiprocess_dir() -> Path | None:
    """The shared metrics folder when multiprocess mode is on, else None."""
    value = os.environ.get(PROMETHEUS_MULTIPROC_ENV)
    return Path(value) if value else None


__all__ = ["Settings", "env_example", "get_settings", "enable_multiprocess_metrics", "multiprocess_dir"]

if __name__ == "__main__":
    from api.settings import env_example as generated  # the module by its name, not as __main__

    print(generated(), end="")
