"""The live path's part of the settings: Redis Streams ingestion, the speed and batch layers, KPI
alerts (environment variables ``MINEOPS_REDIS_URL``, ``MINEOPS_LIVE_*``, ...).

``LiveSettings`` stacks on ``training.settings.TrainingSettings`` (``live`` imports only ``training``);
``api.settings.Settings`` adds the simulator's and the API's parts to it.
"""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator

from training.settings import TrainingSettings


class LiveSettings(TrainingSettings):
    """The live path's settings: the stream, the worker, KPI snapshots and alerts, the batch layer."""

    # --- live haulage (Redis Streams ingestion, speed and batch layers) -----------------------
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

    # --- monitoring ---------------------------------------------------------------------------
    champion_max_age_days: int = Field(30, ge=1, description="Alert when the champion is older")

    @field_validator("live_daily_at")
    @classmethod
    def _hh_mm(cls, v: str) -> str:
        hours, _, minutes = v.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"live_daily_at must be HH:MM on the mine's clock, got {v!r}")
        return f"{int(hours):02d}:{int(minutes):02d}"


@lru_cache
def get_settings() -> LiveSettings:
    """The live worker's settings, read once per process (tests build their own)."""
    return LiveSettings()
