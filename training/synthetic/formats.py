"""The export's conventions: file and column names, cuid-like ids, UTC timestamps, shift labels."""
from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pandas as pd

from training.errors import BadInputError
from training.schema import MINE_UTC_OFFSET_HOURS, SHIFT_LENGTH_HOURS, SHIFT_START_HOUR

FLEET_TABLES: tuple[str, ...] = ("trucks", "excavators", "operators", "road_segments")
HAULING_FILE = "hauling_activities.csv"
HAULING_COLUMNS: tuple[str, ...] = (
    "id", "activityNumber", "truckId", "excavatorId", "operatorId", "roadSegmentId", "shift",
    "queueStartTime", "queueEndTime", "loadingStartTime", "loadingEndTime", "departureTime", "arrivalTime",
    "dumpingStartTime", "dumpingEndTime", "returnTime", "queueDuration", "loadingDuration", "haulingDuration",
    "dumpingDuration", "returnDuration", "totalCycleTime", "loadWeight", "targetWeight", "loadEfficiency",
    "distance", "fuelConsumed", "status", "weatherCondition", "roadCondition", "isDelayed", "delayMinutes",
    "delayReasonId", "createdAt", "updatedAt", "supervisorId", "loadingPointId", "dumpingPointId", "remarks",
)
#: Whole hours local time is ahead of UTC at the site (``training.schema.MINE_UTC_OFFSET_HOURS``).
LOCAL_UTC_OFFSET_HOURS = int(MINE_UTC_OFFSET_HOURS)
SHIFT_S = SHIFT_LENGTH_HOURS * 3600
DAY_S = 86_400
_ID_ALPHABET = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
UPPER_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def new_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` cuid-like ids: 'c' + 24 lowercase alphanumerics."""
    codes = np.ascontiguousarray(_ID_ALPHABET[rng.integers(0, 36, size=(n, 24))])
    return ["c" + s for s in codes.view("S24").ravel().astype(str)]


def iso_stamps(seconds: np.ndarray | list[float] | float) -> np.ndarray:
    """Epoch seconds -> '2025-10-01T23:02:38.000Z' strings (NaN -> None)."""
    arr = np.atleast_1d(np.asarray(seconds, dtype=float))
    out = np.full(arr.shape, None, dtype=object)
    ok = ~np.isnan(arr)
    if ok.any():
        stamps = np.rint(arr[ok] * 1000).astype("int64").astype("datetime64[ms]")
        out[ok] = np.char.add(np.datetime_as_string(stamps, unit="ms"), "Z").astype(object)
    return out


def epoch_seconds(series: pd.Series) -> np.ndarray:
    """ISO timestamps -> epoch seconds (NaN where missing)."""
    ts = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    out = (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    return out.to_numpy(dtype=float)


def truthy(series: pd.Series) -> np.ndarray:
    return series.astype(str).str.strip().str.lower().isin(("true", "1")).to_numpy()


def parse_end(value: str | datetime | None) -> float:
    """A date or ISO time (naive = UTC; None = now) -> epoch seconds."""
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
    else:
        try:
            ts = pd.Timestamp(str(value).strip())
        except ValueError as exc:
            raise BadInputError(f"--end {value!r} is not an ISO date or time") from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.timestamp()


def shift_names(t0: float, n_shifts: int) -> list[str]:
    """The shift label of each 8-hour block from ``t0`` (epoch s on the 8-hour UTC grid)."""
    first_hour_local = (int(t0 // 3600) + LOCAL_UTC_OFFSET_HOURS) % 24
    shift_of_hour = {h: s for s, h in SHIFT_START_HOUR.items()}
    return [shift_of_hour[(first_hour_local + k * SHIFT_LENGTH_HOURS) % 24] for k in range(n_shifts)]
