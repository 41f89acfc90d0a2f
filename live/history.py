"""The serving layer: a site's shift history merging the batch aggregates with the speed layer.

For the site's latest shift (the one running) the speed layer's snapshot answers while it is fresh
(younger than its ``ttl_seconds``): it has every cycle up to now. Every other shift, and the latest
one when the speed layer is stale or unreachable, comes from the batch layer: the stored
``live_shift_aggregates`` row, or the same aggregate computed now from ``live_cycles`` for a shift
the hourly run has not reached yet. The answer says which source each shift came from and, when
it fell back, why.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from live.batch import compute_aggregates
from live.kpis import ShiftTotals, kpis
from live.speed import SpeedLayer, age_seconds


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _from_row(row: dict[str, Any], plan: float | None) -> dict[str, Any]:
    totals = ShiftTotals(**{k: row[k] for k in ("cycles", "loads", "tonnes", "cycle_min_sum", "queue_min_sum",
                                                "fuel_l", "fuel_tonnes", "trucks")})
    return {"shift": row["shift_key"], "shift_start": _iso(row["shift_start"]), "source": "batch",
            "computed_at": _iso(row["computed_at"]), "data": kpis(totals, plan)}


def shift_history(engine: Engine, speed: SpeedLayer | None, site: str, limit: int,
                  now: datetime | None = None) -> dict[str, Any]:
    """The ``limit`` latest shifts of ``site``, newest first, each with its source (speed or batch)."""
    from live.tables import cycles as c
    from live.tables import shift_aggregates as a

    now = now or datetime.now(timezone.utc)
    with engine.connect() as conn:
        keys = [r[0] for r in conn.execute(
            select(c.c.shift_key).where(c.c.site == site).group_by(c.c.shift_key)
            .order_by(desc(c.c.shift_key)).limit(limit))]
        stored = {r.shift_key: dict(r._mapping) for r in conn.execute(
            select(a).where(a.c.site == site, a.c.shift_key.in_(keys)))}
        missing = [(site, k) for k in keys if k not in stored]
        computed = {r["shift_key"]: r for r in compute_aggregates(conn, missing, now)} if missing else {}

    speed_state: dict[str, Any] = {"status": "unavailable"}
    latest_snapshot = None
    if speed is not None:
        try:
            latest = speed.latest_shift(site)
            latest_snapshot = speed.snapshot(site, latest) if latest else None
        except Exception as exc:  # Redis down: the batch layer answers alone
            speed_state = {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
        else:
            if latest_snapshot is not None:
                age = age_seconds(latest_snapshot, now)
                speed_state = {"status": "fresh" if age <= latest_snapshot["ttl_seconds"] else "stale",
                               "shift": latest, "age_seconds": round(age, 3),
                               "ttl_seconds": latest_snapshot["ttl_seconds"]}
            else:
                speed_state = {"status": "warming"}

    plan = None
    shifts = []
    if latest_snapshot is not None and speed_state["status"] == "fresh":
        if latest_snapshot["shift"] not in keys:  # counted by the speed layer, not yet committed here
            keys = sorted(set(keys) | {latest_snapshot["shift"]}, reverse=True)[:limit]
    for key in keys:
        if latest_snapshot is not None and key == latest_snapshot["shift"] and speed_state["status"] == "fresh":
            shifts.append({"shift": key, "shift_start": latest_snapshot["shift_start"], "source": "speed",
                           "generated_at": latest_snapshot["generated_at"], "data": latest_snapshot["data"]})
            continue
        row = stored.get(key) or computed.get(key)
        if row is None:
            continue
        if speed is not None:
            try:
                plan = speed.plan_for(site, row["shift"])
            except Exception:
                plan = None
        shifts.append(_from_row(row, plan))
    out: dict[str, Any] = {"site": site, "speed_layer": speed_state, "shifts": shifts}
    if speed_state["status"] in ("stale", "unavailable") and keys:
        why = ("the speed layer's latest snapshot is "
               f"{speed_state['age_seconds']:.0f} s old (fresh for {speed_state['ttl_seconds']} s)"
               if speed_state["status"] == "stale" else "the speed layer is not reachable")
        out["fallback"] = f"batch: {why}; every shift is computed from the stored cycles"
    return out
