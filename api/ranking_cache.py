"""Cache-first strategies: a repeated request is answered with the stored ranking (same body, run_id).

The key is the request's normalised spec (``simulator.request.parse_request`` with the settings'
defaults: display and enum spellings, omitted defaults and key order all give the same key), the
champion version and the data fingerprint (size and modification time of the files the simulation
reads), so a promotion or new data misses. Entries live ``MINEOPS_CACHE_TTL_S`` seconds, in Redis
when ``MINEOPS_REDIS_URL`` is set (shared by every API process) and in this process otherwise.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis

from api.settings import Settings
from simulator.engine import simulation_defaults
from simulator.request import parse_request

log = logging.getLogger(__name__)

#: Files of the data folder a strategies run reads (the fleet, vessels, schedules) or whose change
#: means new data (the hauling export the next champion trains on).
DATA_FILES: tuple[str, ...] = ("trucks.csv", "excavators.csv", "operators.csv", "road_segments.csv",
                               "maintenance_logs.csv", "vessels.csv", "sailing_schedules.csv",
                               "hauling_activities.csv")
#: Entries the in-process cache keeps at most (least recently used dropped first).
LOCAL_MAX_ENTRIES = 256
KEY_PREFIX = "cache:strategies:"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def data_fingerprint(data_dir: Path) -> str:
    """sha256 of (name, size, mtime) of ``DATA_FILES`` in ``data_dir`` (absent files count too)."""
    parts = []
    for name in DATA_FILES:
        try:
            st = (Path(data_dir) / name).stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except FileNotFoundError:
            parts.append(f"{name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def sync_limit(settings: Settings) -> int:
    """Largest grid answered synchronously; a larger one is a background job (202, ``api.jobs``)."""
    return settings.sim_max_grid_simulations


def grid_limit(settings: Settings) -> int:
    """Largest grid a request may ask for (as a job above ``sync_limit``): the cluster's when a Dask
    scheduler is configured, else ``sim_max_job_simulations`` on the local pool."""
    job = settings.sim_max_cluster_simulations if settings.dask_scheduler_address else settings.sim_max_job_simulations
    return max(job, sync_limit(settings))


def cache_key(body: Any, settings: Settings, champion: str, data_hash: str) -> str:
    """The key of a strategies request; raises ``SpecError`` like the run would on a bad body or a grid
    above the limit (so a request the service refuses now is refused, not answered from the cache)."""
    spec = parse_request(body, defaults=simulation_defaults(settings), max_simulations=grid_limit(settings))
    normalised = json.dumps(_plain(spec), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{normalised}|{champion}|{data_hash}".encode()).hexdigest()
    return KEY_PREFIX + digest


class CacheBackend(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...


class LocalCache:
    """In-process LRU with per-entry expiry (one API process; no I/O, so nothing waits)."""

    def __init__(self, max_entries: int = LOCAL_MAX_ENTRIES):
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get_now(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if time.monotonic() >= expires:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set_now(self, key: str, value: bytes, ttl_s: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self.set_now(key, value, ttl_s)


class RedisCache:
    """Entries in Redis with ``EX`` expiry (shared by every API process), read and written on the
    event loop (redis.asyncio: a request waits for no thread); errors count as misses."""

    def __init__(self, client: aioredis.Redis):
        self.client = client

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.client.get(key)
        except (redis.RedisError, OSError) as exc:
            log.warning("ranking cache read failed, computing: %s", exc)
            return None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            await self.client.set(key, value, ex=ttl_s)
        except (redis.RedisError, OSError) as exc:
            log.warning("ranking cache write failed: %s", exc)


@dataclasses.dataclass
class RankingCache:
    """The cache the strategies route consults first."""

    backend: CacheBackend
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings, client: aioredis.Redis | None) -> "RankingCache":
        return cls(RedisCache(client) if client is not None else LocalCache(), settings)

    @property
    def enabled(self) -> bool:
        return self.settings.cache_ttl_s > 0

    def key(self, body: Any, champion: str) -> str:
        """The request's key (CPU only: parse and a few file stats, cheap enough for the event loop)."""
        return cache_key(body, self.settings, champion, data_fingerprint(self.settings.data_dir))

    async def get(self, key: str) -> bytes | None:
        return await self.backend.get(key) if self.enabled else None

    async def put(self, key: str, response: dict) -> bytes:
        """Store the response (JSON bytes, returned so the caller sends exactly what is stored)."""
        payload = json.dumps(response, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        if self.enabled:
            await self.backend.set(key, payload, self.settings.cache_ttl_s)
        return payload
