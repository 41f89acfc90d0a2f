"""The fleet's master data as the planner picks it: roads, loading units, vessels and schedules by name.

Pure functions over a validated ``training.dataset.Export`` (no I/O), so the page's form and the
read-only ``/master/*`` routes show exactly what the simulator will select from: active units
(the ``isActive`` flag, as ``simulator.fleet`` uses it) sorted by code, and sailing schedules
joined to their vessel's name, the upcoming ones (loading deadline not passed) first by ETA.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from training.dataset import Export
from training.schema import MIN_HAUL_CAPACITY_T, ROAD_CONDITIONS, SHIFT_START_HOUR, SHIFTS, WEATHER, WEATHER_DISPLAY

_TRUE_TEXT = frozenset({"true", "1", "yes"})


def _active(frame: pd.DataFrame) -> pd.Series:
    flag = frame["isActive"]
    if pd.api.types.is_bool_dtype(flag):
        return flag.fillna(False).astype(bool)
    return flag.astype(str).str.strip().str.lower().isin(_TRUE_TEXT)


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as text ('' for missing), or '' for every row when the column is absent."""
    if column not in frame:
        return [""] * len(frame)
    return [_text(v) for v in frame[column].tolist()]


def _floats(frame: pd.DataFrame, column: str) -> list[float | None]:
    """A column as finite floats (None for missing or unparsable values)."""
    if column not in frame:
        return [None] * len(frame)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return [float(v) if math.isfinite(v) else None for v in values]


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat().replace("+00:00", "Z")


def _records(frame: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows as dicts: output name -> (source column, 'text' or 'float'), column-wise (600 rows in ~1 ms)."""
    values = {name: (_floats if kind == "float" else _texts)(frame, source)
              for name, (source, kind) in columns.items()}
    return [dict(zip(values, row)) for row in zip(*values.values())]


def roads(export: Export) -> list[dict[str, Any]]:
    """Active road segments by code: id, code, name, distance (km), condition, gradient (%)."""
    frame = export.road_segments
    frame = frame[_active(frame)].sort_values("code", kind="stable")
    return _records(frame, {"id": ("id", "text"), "code": ("code", "text"), "name": ("name", "text"),
                            "distance_km": ("distance", "float"), "road_condition": ("roadCondition", "text"),
                            "gradient_pct": ("gradient", "float")})


def excavators(export: Export) -> list[dict[str, Any]]:
    """Active excavators (loading units) by code: id, code, name, location, bucket (m3)."""
    frame = export.excavators
    frame = frame[_active(frame)].sort_values("code", kind="stable")
    return _records(frame, {"id": ("id", "text"), "code": ("code", "text"), "name": ("name", "text"),
                            "location": ("currentLocation", "text"), "bucket_m3": ("bucketCapacity", "float")})


def haul_truck_count(export: Export) -> int:
    """Active trucks rated at least ``MIN_HAUL_CAPACITY_T`` (the most a strategy can use)."""
    frame = export.trucks
    capacity = pd.to_numeric(frame["capacity"], errors="coerce")
    return int((_active(frame) & (capacity >= MIN_HAUL_CAPACITY_T)).sum())


def vessels(export: Export) -> list[dict[str, Any]]:
    """Vessels by name: id, name, type, capacity (t)."""
    frame = export.vessels
    if frame is None or frame.empty:
        return []
    frame = frame.sort_values("name", kind="stable")
    return _records(frame, {"id": ("id", "text"), "name": ("name", "text"), "type": ("type", "text"),
                            "capacity_t": ("capacity", "float")})


def schedules(export: Export, now: datetime | None = None) -> list[dict[str, Any]]:
    """Sailing schedules joined to their vessel: upcoming first (by ETA), then past ones, newest first.

    ``upcoming`` means the loading deadline (``etsLoading``) is after ``now`` (UTC; default: the clock).
    """
    frame = export.sailing_schedules
    if frame is None or frame.empty:
        return []
    now = pd.Timestamp(now or datetime.now(timezone.utc))
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    names = {v["id"]: v for v in vessels(export)}
    out = _records(frame, {"id": ("id", "text"), "vessel_id": ("vesselId", "text"),
                           "planned_t": ("plannedQuantity", "float"), "loading_port": ("loadingPort", "text"),
                           "destination": ("destination", "text"), "buyer": ("buyer", "text"),
                           "status": ("status", "text")})
    for row, eta, ets in zip(out, frame["etaLoading"].tolist(), frame["etsLoading"].tolist()):
        row["vessel_name"] = names.get(row["vessel_id"], {}).get("name") or row["vessel_id"]
        row["eta"], row["ets"] = _iso(eta), _iso(ets)
        deadline = pd.Timestamp(ets)
        deadline = deadline.tz_localize("UTC") if deadline.tzinfo is None else deadline.tz_convert("UTC")
        row["upcoming"] = bool(deadline > now)
    upcoming = sorted((s for s in out if s["upcoming"]), key=lambda s: s["eta"] or "")
    past = sorted((s for s in out if not s["upcoming"]), key=lambda s: s["eta"] or "", reverse=True)
    return upcoming + past


def vocabularies() -> dict[str, Any]:
    """The accepted condition values (enum form) with the weather's display form."""
    return {"weather": [{"value": w, "label": WEATHER_DISPLAY.get(w, w)} for w in WEATHER],
            "road_conditions": list(ROAD_CONDITIONS),
            "shifts": [{"value": s, "start_hour": SHIFT_START_HOUR[s]} for s in SHIFTS]}
