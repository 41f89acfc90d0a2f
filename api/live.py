"""The API's side of the live path: reading KPI snapshots, following them for SSE, live metrics.

Built in ``lifespan`` only when ``MINEOPS_REDIS_URL`` is set (``open_live``); without it the live
routes answer 503 "live ingestion is not configured" and the service runs as before. Reads go to
the speed layer the workers write (``live.speed``); the shift history merges it with the batch
layer's aggregates in the run store's database (``live.history``).
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from api.settings import Settings
from live.broker import RedisStreamBroker
from live.speed import CHANNEL, SpeedLayer, age_seconds

log = logging.getLogger(__name__)

#: Seconds a Redis call of a request or a scrape may take before it counts as down.
REDIS_TIMEOUT_S = 2.0


@dataclass
class LiveService:
    """Redis clients of the live routes (one sync for reads and scrapes, one asyncio for SSE)."""

    settings: Settings
    client: redis.Redis
    aclient: aioredis.Redis
    speed: SpeedLayer
    broker: RedisStreamBroker

    def snapshot(self, site: str, shift: str | None) -> dict | None:
        """The snapshot of ``shift`` (a key ``YYYY-MM-DD/SHIFT_n``) at ``site``, or of its latest shift."""
        key = shift or self.speed.latest_shift(site)
        if key is None:
            return None
        snap = self.speed.snapshot(site, key)
        if snap is not None:
            snap["age_seconds"] = round(age_seconds(snap), 3)
            snap["stale"] = snap["age_seconds"] > snap["ttl_seconds"]
        return snap

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator["Subscription"]:
        """Every snapshot the workers publish from now on (one pub/sub subscription)."""
        pubsub = self.aclient.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            yield Subscription(pubsub)
        finally:
            await pubsub.unsubscribe(CHANNEL)
            await pubsub.aclose()

    async def aclose(self) -> None:
        self.client.close()
        await self.aclient.aclose()


class Subscription:
    """The snapshots published since the subscription started."""

    def __init__(self, pubsub):  # noqa: ANN001
        self._pubsub = pubsub

    async def next(self, timeout_s: float) -> dict | None:
        """The next published snapshot, or None when none came within ``timeout_s``."""
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
        return None if message is None else json.loads(message["data"])


def open_live(settings: Settings) -> LiveService | None:
    """The live service when ``redis_url`` is set, else None (live ingestion not configured)."""
    if not settings.redis_url:
        return None
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    aclient = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT_S)
    speed = SpeedLayer(client, settings.live_snapshot_ttl_s, settings.live_shift_plan_tonnes)
    broker = RedisStreamBroker(client, settings.live_stream, settings.live_group)
    return LiveService(settings, client, aclient, speed, broker)


#: Every metric ``LiveCollector`` exports: name -> (type, help). Dashboards, alert rules and the
#: monitoring tests read this catalogue.
LIVE_METRICS: dict[str, tuple[str, str]] = {
    "mineops_live_redis_up": ("gauge", "1 when the live path's Redis answered the scrape"),
    "mineops_live_events": ("counter", "Stream events processed by the live workers, by outcome"),
    "mineops_live_cycles_stored": ("counter", "Cycles counted for the first time by the speed layer"),
    "mineops_live_stream_length": ("gauge", "Entries in the hauling event stream"),
    "mineops_live_consumer_lag": ("gauge", "Stream entries not yet delivered to the consumer group"),
    "mineops_live_pending": ("gauge", "Entries delivered to a worker and not yet acknowledged"),
    "mineops_live_consumers": ("gauge", "Consumers registered in the group"),
    "mineops_live_snapshot_age_seconds": ("gauge", "Seconds since the latest shift's KPI snapshot was written, per site"),
    "mineops_live_snapshot_ttl_seconds": ("gauge", "Freshness limit of the KPI snapshots"),
    "mineops_live_shift_tonnes": ("gauge", "Tonnes hauled in the site's latest shift"),
    "mineops_live_shift_loads": ("gauge", "Loads delivered in the site's latest shift"),
    "mineops_live_shift_trucks_working": ("gauge", "Trucks with a cycle in the site's latest shift"),
    "mineops_live_shift_cycle_time_minutes": ("gauge", "Mean cycle time of the site's latest shift"),
    "mineops_live_shift_queue_time_minutes": ("gauge", "Mean queue time at the loader in the site's latest shift"),
    "mineops_live_shift_fuel_litres_per_tonne": ("gauge", "Fuel burnt per tonne hauled in the site's latest shift"),
}
#: Snapshot KPI behind each per-site shift gauge.
_SHIFT_GAUGES = {
    "mineops_live_shift_tonnes": "tonnes", "mineops_live_shift_loads": "loads",
    "mineops_live_shift_trucks_working": "trucks_working", "mineops_live_shift_cycle_time_minutes": "mean_cycle_time_min",
    "mineops_live_shift_queue_time_minutes": "mean_queue_time_min",
    "mineops_live_shift_fuel_litres_per_tonne": "fuel_l_per_tonne",
}


def _family(name: str, labels: list[str] | None = None):  # noqa: ANN202
    kind, doc = LIVE_METRICS[name]
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


class LiveCollector(Collector):
    """Live-path metrics read from Redis at scrape time (the workers write them there, so every
    worker's counts are in, whichever API process answers)."""

    def __init__(self, live: LiveService):
        self.live = live

    def collect(self):  # noqa: ANN201
        up = _family("mineops_live_redis_up")
        try:
            stats = self.live.speed.stats()
            backlog = self.live.broker.stats()
            snapshots = []
            for site in self.live.speed.sites():
                key = self.live.speed.latest_shift(site)
                snap = self.live.speed.snapshot(site, key) if key else None
                if snap is not None:
                    snapshots.append((site, snap))
        except (redis.RedisError, OSError) as exc:
            log.warning("live metrics: Redis unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        events = _family("mineops_live_events", ["outcome"])
        for outcome in ("accepted", "quarantined"):
            events.add_metric([outcome], stats.get(outcome, 0))
        yield events
        for name, value in (("mineops_live_cycles_stored", stats.get("new", 0)),
                            ("mineops_live_stream_length", backlog.length),
                            ("mineops_live_consumer_lag", backlog.lag if backlog.lag is not None else backlog.length),
                            ("mineops_live_pending", backlog.pending),
                            ("mineops_live_consumers", backlog.consumers),
                            ("mineops_live_snapshot_ttl_seconds", self.live.settings.live_snapshot_ttl_s)):
            family = _family(name)
            family.add_metric([], value)
            yield family
        now = datetime.now(timezone.utc)
        age = _family("mineops_live_snapshot_age_seconds", ["site"])
        for site, snap in snapshots:
            age.add_metric([site], age_seconds(snap, now))
        yield age
        for name, kpi in _SHIFT_GAUGES.items():
            family = _family(name, ["site", "shift"])
            for site, snap in snapshots:
                value = snap["data"].get(kpi)
                if value is not None:
                    family.add_metric([site, snap["shift"]], float(value))
            yield family
