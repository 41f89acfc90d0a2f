"""The speed layer: per site and shift running totals in Redis, and the KPI snapshot readers get.

Every worker adds its accepted cycles with one Lua script per (site, shift): the script adds each
cycle id to the shift's id set and only a new id adds to the totals, so a redelivered event (a
crash between the database commit and the ack) is counted once, and several workers update the
same shift atomically. The worker then writes the snapshot ``{site, shift, shift_start,
generated_at, ttl_seconds, version, data}`` (``data`` = ``live.kpis.kpis``) only if its version
is not older than the stored one, and publishes it on ``CHANNEL`` for the SSE stream.

Keys (all under ``live:``) expire ``RETENTION_S`` after their shift's last event; the batch layer's
table is the history.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import redis

from live.kpis import ShiftTotals, kpis

#: Pub/sub channel every new snapshot is published on (JSON of the snapshot).
CHANNEL = "live:kpis"
#: How long the speed layer keeps a shift's totals and snapshot after its last event: a week of
#: shifts, beyond which the batch aggregates answer, s.
RETENTION_S = 7 * 24 * 3600
_SITES = "live:sites"
_STATS = "live:stats"


def _k(kind: str, site: str, shift_key: str = "") -> str:
    return f"live:{kind}:{site}" + (f":{shift_key}" if shift_key else "")


_ACCUMULATE = """
local ttl = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 7 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    added = added + 1
    redis.call('SADD', KEYS[3], ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], 'cycles', 1)
    if ARGV[i + 2] == '1' then
      redis.call('HINCRBY', KEYS[1], 'loads', 1)
      redis.call('HINCRBYFLOAT', KEYS[1], 'tonnes', ARGV[i + 3])
      redis.call('HINCRBYFLOAT', KEYS[1], 'cycle_min_sum', ARGV[i + 4])
      redis.call('HINCRBYFLOAT', KEYS[1], 'queue_min_sum', ARGV[i + 5])
      if ARGV[i + 6] ~= '' then
        redis.call('HINCRBYFLOAT', KEYS[1], 'fuel_l', ARGV[i + 6])
        redis.call('HINCRBYFLOAT', KEYS[1], 'fuel_tonnes', ARGV[i + 3])
      end
    end
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[1], 'version', 1) end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
return {added, redis.call('HGETALL', KEYS[1]), redis.call('SCARD', KEYS[3])}
"""

_SET_SNAPSHOT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
local version = tonumber(ARGV[1])
if version < current then return 0 end
redis.call('HSET', KEYS[1], 'version', version, 'json', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _totals(flat: list, trucks: int) -> tuple[ShiftTotals, int]:
    values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(flat[::2], flat[1::2])}
    num = lambda name: float(values.get(name, 0) or 0)  # noqa: E731
    totals = ShiftTotals(cycles=int(num("cycles")), loads=int(num("loads")), tonnes=num("tonnes"),
                         cycle_min_sum=num("cycle_min_sum"), queue_min_sum=num("queue_min_sum"),
                         fuel_l=num("fuel_l"), fuel_tonnes=num("fuel_tonnes"), trucks=int(trucks))
    return totals, int(num("version"))


def _number(x: float) -> str:
    return repr(float(x))


class SpeedLayer:
    """The Redis side of the live KPIs (used by the worker to write and by the API to read)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, plan_tonnes: float = 0.0):
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.plan_tonnes = plan_tonnes
        self._accumulate = client.register_script(_ACCUMULATE)
        self._set_snapshot = client.register_script(_SET_SNAPSHOT)

    # --- writing (worker) ---------------------------------------------------------------------------

    def plan_for(self, site: str, shift: str) -> float | None:
        """Planned tonnes of a shift: the setting, else the batch layer's median of past shifts."""
        if self.plan_tonnes > 0:
            return self.plan_tonnes
        value = self.client.hget(_k("plan", site), shift)
        return float(value) if value else None

    def add(self, columns: pd.DataFrame, ids: list[str]) -> list[dict]:
        """Add accepted cycles (``live.kpis.cycle_columns`` rows, ``ids`` their cycle ids); return the
        snapshots written (one per site and shift touched)."""
        snapshots = []
        frame = columns.assign(_id=ids)
        for (site, key), g in frame.groupby(["site", "shift_key"], sort=False):
            args: list[str] = [str(RETENTION_S)]
            for cid, truck, fin, t, c, q, f in zip(g["_id"], g["truck_id"], g["finished"], g["load_weight_t"],
                                                   g["total_cycle_min"], g["queue_min"], g["fuel_l"]):
                args += [cid, truck, "1" if fin else "0", _number(t), _number(c), _number(q),
                         "" if pd.isna(f) else _number(f)]
            added, flat, trucks = self._accumulate(keys=[_k("acc", site, key), _k("ids", site, key),
                                                         _k("trucks", site, key)], args=args)
            totals, version = _totals(flat, trucks)
            start = g["shift_start"].iloc[0]
            pipe = self.client.pipeline(transaction=False)
            pipe.sadd(_SITES, site)
            pipe.zadd(_k("shifts", site), {key: start.timestamp()})
            pipe.hincrby(_STATS, "accepted", len(g))
            pipe.hincrby(_STATS, "new", int(added))
            pipe.execute()
            snapshots.append(self.write_snapshot(site, key, start.to_pydatetime(), g["shift"].iloc[0], totals, version))
        return snapshots

    def write_snapshot(self, site: str, key: str, start: datetime, shift: str, totals: ShiftTotals,
                       version: int) -> dict:
        snapshot = {
            "site": site, "shift": key, "shift_start": _iso(start), "generated_at": _iso(_now()),
            "ttl_seconds": self.ttl_seconds, "version": version,
            "data": kpis(totals, self.plan_for(site, shift)),
        }
        self._set_snapshot(keys=[_k("snap", site, key)],
                           args=[version, json.dumps(snapshot, separators=(",", ":")), RETENTION_S, CHANNEL])
        return snapshot

    def restamp_latest(self) -> int:
        """Re-write every site's latest shift snapshot with a new ``generated_at`` (the worker's
        heartbeat: a snapshot older than its TTL then means the speed layer stopped); returns how many."""
        n = 0
        for site in self.sites():
            key = self.latest_shift(site)
            if key is None:
                continue
            acc = self.client.hgetall(_k("acc", site, key))
            if not acc:
                continue
            flat = [x for kv in acc.items() for x in kv]
            totals, version = _totals(flat, self.client.scard(_k("trucks", site, key)))
            start = datetime.fromtimestamp(float(self.client.zscore(_k("shifts", site), key)), timezone.utc)
            self.write_snapshot(site, key, start, key.split("/")[-1], totals, version)
            n += 1
        return n

    def claim_alert(self, site: str, shift_key: str, kind: str) -> bool:
        """True for the first caller (of any worker) to claim this alert of this site and shift."""
        return bool(self.client.set(_k("alert", site, f"{shift_key}:{kind}"), 1, nx=True, ex=RETENTION_S))

    def count_quarantined(self, n: int) -> None:
        if n:
            self.client.hincrby(_STATS, "quarantined", n)

    # --- reading (API, metrics) -------------------------------------------------------------------------

    def sites(self) -> list[str]:
        return sorted(s.decode() for s in self.client.smembers(_SITES))

    def latest_shift(self, site: str) -> str | None:
        """The newest shift with events at ``site`` (the current shift while trucks are working)."""
        top = self.client.zrevrange(_k("shifts", site), 0, 0)
        return top[0].decode() if top else None

    def snapshot(self, site: str, key: str) -> dict | None:
        raw = self.client.hget(_k("snap", site, key), "json")
        return json.loads(raw) if raw else None

    def stats(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(_STATS).items()}


def age_seconds(snapshot: dict, now: datetime | None = None) -> float:
    """Seconds since the snapshot was generated."""
    generated = datetime.fromisoformat(snapshot["generated_at"].replace("Z", "+00:00"))
    return ((now or _now()) - generated).total_seconds()


def is_stale(snapshot: dict, now: datetime | None = None) -> bool:
    """True when the snapshot is older than its own ``ttl_seconds``."""
    return age_seconds(snapshot, now) > snapshot["ttl_seconds"]

