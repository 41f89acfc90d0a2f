"""``python -m training.synthetic``: generate a sample mine's CSV export from the documented physics.

Writes every file of the input contract (``training.schema``) into ``--data``. Master tables
already there (for example a copy of the reference export) are kept byte for byte and their
trucks, excavators, operators and roads are used. A folder without them gets the prototype's
fleet tables (``training.reference``, with their real ids, so the prototype's dashboard defaults
are valid); ``--generated-fleet`` invents a plausible fleet instead. The period ends at ``--end``
(default: now, at the last whole shift), and the vessel line-up runs on past it, so a planner
opening the dashboard today sees upcoming calls. The same seed and end give byte-identical files.
An existing ``hauling_activities.csv`` is only replaced with ``--force``.

Each 8-hour shift gets a weather from a Markov chain, each road the day's condition (worsened by
rain), each excavator a road and a group of trucks, and a small heap-based event simulation runs
the cycles: trucks queue FIFO for their excavator (queues emerge from the sharing), load, haul,
dump and return; breakdowns (MTBF/MTTR by age) and maintenance take units out of service (the
trucks of a broken excavator stand by until it is repaired); no cycle starts that cannot finish
inside the shift. A truck breakdown cancels the cycle it ends (status CANCELLED). Every number comes from
``training.ground_truth``; this module only organises the mine and writes the files. It does not
use SimPy: the simulator under test must not share an engine with the data it is checked on.

Timestamps are written in UTC at whole minutes (the contract's durations are whole minutes);
each duration is the difference of its two timestamps, so they agree exactly. The delay of a
cycle is the gap between loading end and departure. "Days since maintenance" follows
``training.features``: the latest COMPLETED log of the truck at or before the loading start.
Generated maintenance logs record every preventive service and breakdown repair; an existing
log is kept unchanged and is then the only maintenance record (repairs of simulated breakdowns
take the unit out of service but are not written).
"""
from __future__ import annotations

import argparse
import bisect
import heapq
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths, setup_logging, write_json_report
from training.errors import BadInputError
from training.features import (
    COMPLETED_MAINTENANCE, NO_MAINTENANCE_ON_RECORD_DAYS, UNKNOWN_AGE_DAYS, operator_years_experience,
)
from training.ground_truth import (
    CycleContext, GroundTruth, delay_logit, fuel_l, incident_probability, lookup, maintenance_delay_logit,
    payload_t, phase_means_min, road_condition_today, road_wetness, sample_delay_min, sample_hours_to_failure,
    sample_incident_stop_min, sample_phase_durations, sample_repair_hours, sample_weather,
)
from training.reference import REFERENCE_EXPORT_DIR
from training.schema import (MINE_UTC_OFFSET_HOURS, SHIFT_LENGTH_HOURS, SHIFT_START_HOUR, SHIFTS,
                             normalise_road_condition)
from training.settings import Settings, get_settings

log = logging.getLogger(__name__)

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

_SHIFT_S = SHIFT_LENGTH_HOURS * 3600
_DAY_S = 86_400
_ID_ALPHABET = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_UPPER_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)

# Catalogue of the reference export (brand -> models), used only for a generated fleet.
TRUCK_MODELS: dict[str, tuple[str, ...]] = {
    "Hino": ("FM260JD", "FM285JM", "Profia FM320", "Ranger FM285JD"),
    "Mercedes-Benz": ("Actros 4144", "Arocs 4143", "Axor 3340"),
    "Mitsubishi Fuso": ("FJ2528R", "FM517HS", "FV517RL"),
    "Scania": ("G440", "P410", "R500"),
    "UD Trucks": ("Quester CGE420", "Quester CWE280", "Quon GWE370"),
    "Volvo": ("FH540", "FM440", "FMX500"),
}
EXCAVATOR_MODELS: dict[str, tuple[str, ...]] = {
    "Caterpillar": ("349E", "374F", "390F", "6030"),
    "Hitachi": ("EX1200-6", "EX1900-6", "EX2600-6", "EX3600-6"),
    "Kobelco": ("SK380-10", "SK500-10", "SK850-10"),
    "Komatsu": ("PC1250-8", "PC2000-8", "PC400-8", "PC800-8"),
    "Liebherr": ("R9400", "R9800", "R984C"),
    "Volvo": ("EC480E", "EC750E", "EC950F"),
}
MECHANICS: tuple[str, ...] = ("Agus", "Budi", "Dedi", "Rudi")
LOADING_PORT = "Jetty Muara Pantai"
#: (buyer, destination): the first takes the barges to the transhipment anchorage, the others export cargoes.
BUYERS: tuple[tuple[str, str], ...] = (
    ("PT PLN (Persero)", "Muara Berau Anchorage"), ("China Huadian Corp", "Guangzhou, China"),
    ("Adani Enterprises", "Paradip, India"), ("POSCO", "Pohang, South Korea"),
    ("San Miguel Global Power", "Batangas, Philippines"),
)


@dataclass(frozen=True)
class VesselSpec:
    """A vessel that calls at the jetty: 300-ft coal barges and Supramax bulk carriers."""

    name: str
    type: str
    capacity_t: int
    loading_days: tuple[float, float]  # time alongside, days


VESSELS: tuple[VesselSpec, ...] = (
    VesselSpec("BG Mitra Bara 301", "BARGE", 7500, (1.0, 2.0)),
    VesselSpec("BG Kaltim Jaya 12", "BARGE", 8000, (1.0, 2.0)),
    VesselSpec("BG Borneo Energi 7", "BARGE", 8000, (1.0, 2.0)),
    VesselSpec("BG Mahakam Prima 5", "BARGE", 7500, (1.0, 2.0)),
    VesselSpec("MV Ocean Harmony", "BULK_CARRIER", 55000, (4.0, 6.0)),
    VesselSpec("MV Sea Pioneer", "BULK_CARRIER", 58000, (4.0, 6.0)),
)
PARTS: tuple[str, ...] = ("Filter Oli", "Ban", "Brake Pad")
DUMP_POINTS: tuple[str, ...] = ("ROM-01", "ROM-02", "Stockpile-01", "Crusher")


@dataclass(frozen=True)
class FleetPlan:
    """How the sample mine is organised and how a generated fleet looks (units in the names)."""

    #: Smallest rated payload of a haul truck; lighter vehicles (the export's 2 t Hilux) never haul, t.
    min_truck_capacity_t: float = 20.0
    #: Trucks per excavator when the excavator count is not given (typical match of 20-40 t
    #: trucks to 8-13 m3 excavators on 1-5 km hauls), trucks.
    trucks_per_excavator: float = 5.0
    #: Start-of-shift time before the first dispatch: pre-start check (P2H), safety talk, travel, min.
    shift_prep_min: float = 20.0
    #: Trucks leave the park-up one after another at this spacing, min.
    dispatch_interval_min: float = 1.5
    #: Years of experience of the typical operator used to balance trucks between pits, years.
    planning_operator_years: float = 5.0
    #: Preventive service interval (the reference export's nextMaintenance - lastMaintenance), days.
    preventive_interval_days: Mapping[str, float] = field(default_factory=lambda: dict(truck=30.0, excavator=60.0))
    #: Workshop time of one preventive service, h.
    preventive_downtime_hours: Mapping[str, int] = field(default_factory=lambda: dict(truck=8, excavator=12))
    #: Cost of one preventive service (parts, oil, labour), IDR.
    preventive_cost_idr: Mapping[str, float] = field(default_factory=lambda: dict(truck=8e6, excavator=15e6))
    #: Cost of corrective work per hour of repair (parts and labour), IDR/h.
    corrective_cost_idr_per_hour: Mapping[str, float] = field(default_factory=lambda: dict(
        truck=2.5e6, excavator=4.0e6))
    #: Log-sd of a maintenance job's cost, ratio.
    cost_sigma: float = 0.3
    #: Spare operators per shift on top of one per truck (leave, sickness), ratio.
    spare_operator_share: float = 0.25
    #: Operating hours a unit logs per year of age (reference export: ~3,900 h/year), h/year.
    hours_per_year: float = 3900.0
    #: Average speed over the hour meter (reference export: odometer / hours ~ 15), km/h.
    odometer_km_per_hour: float = 15.0
    #: Days of line-up the vessel table covers after the period's end (a port's published two weeks;
    #: longer than the longest gap between calls, so at least one SCHEDULED call is always ahead), days.
    schedule_days_ahead: float = 14.0
    #: One barge call at the jetty every this many days, days.
    barge_call_every_days: float = 7.0
    #: Relative scatter of the interval between calls, ratio.
    call_interval_spread: float = 0.3
    #: Share of calls by an export bulk carrier (the rest are barges to the transhipment anchorage), ratio.
    bulk_carrier_call_share: float = 0.25
    #: Planned cargo as a share of the vessel's capacity, ratio.
    planned_fill_range: tuple[float, float] = (0.90, 0.98)
    #: Cargo loaded as a share of the plan on a completed call, ratio.
    loaded_vs_planned_range: tuple[float, float] = (0.93, 1.01)
    #: A call is scheduled this many days before its ETA, days.
    schedule_notice_days: float = 21.0
    #: Vessels are listed this many days before the period, days.
    vessel_listed_days_before: float = 180.0

    # --- a generated fleet: ranges of the reference export (uniform draws, bounds included) ---------
    #: Rated payload of a generated haul truck, t.
    truck_capacity_range_t: tuple[int, int] = (20, 39)
    #: Fuel tank of a generated haul truck, L.
    fuel_tank_range_l: tuple[int, int] = (250, 449)
    #: Bucket of a generated excavator, m3.
    bucket_range_m3: tuple[float, float] = (8.0, 13.0)
    #: Length of a generated haul road (the shortest reference roads, < 0.8 km, are stockpile shuttles), km.
    road_distance_range_km: tuple[float, float] = (0.8, 5.0)
    #: Posted speed limit of a generated road, km/h.
    road_speed_range_kmh: tuple[int, int] = (20, 49)
    #: Grade of a generated road, positive when the loaded truck climbs, %.
    road_gradient_range_pct: tuple[float, float] = (-5.0, 10.0)
    #: Oldest generated unit: model years from export year - this to the year before the export, years.
    fleet_max_age_years: int = 10
    #: Experience of a generated operator, years.
    operator_years_range: tuple[int, int] = (1, 10)
    #: Rating of a generated operator, points.
    operator_rating_range: tuple[float, float] = (3.5, 5.0)
    #: Hours an operator works per year of experience, h/year.
    operator_hours_per_year: float = 2000.0
    #: Relative scatter of hour meters around hours_per_year x age, ratio.
    hour_meter_spread: float = 0.15
    #: Share of roads with a grading recorded in the last two months (reference export: ~73 %), ratio.
    graded_road_share: float = 0.7


@dataclass(frozen=True)
class GenerationSummary:
    """What one run wrote."""

    data_dir: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]
    rows: dict[str, int]
    seconds: float
    generated_fleet: bool
    period_start: str
    period_end: str

    def line(self) -> str:
        """The one-line human summary."""
        rows = ", ".join(f"{name} {n}" for name, n in self.rows.items())
        kept = f"; kept {', '.join(self.kept)}" if self.kept else ""
        return (f"synthetic: wrote {len(self.written)} files to {self.data_dir} ({rows}){kept}; "
                f"{self.period_start} .. {self.period_end} in {self.seconds:.1f} s")


# --- small helpers --------------------------------------------------------------------------------

def _ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` cuid-like ids: 'c' + 24 lowercase alphanumerics."""
    codes = np.ascontiguousarray(_ID_ALPHABET[rng.integers(0, 36, size=(n, 24))])
    return ["c" + s for s in codes.view("S24").ravel().astype(str)]


def _iso(seconds: np.ndarray | list[float] | float) -> np.ndarray:
    """Epoch seconds -> '2025-10-01T23:02:38.000Z' strings (NaN -> None)."""
    arr = np.atleast_1d(np.asarray(seconds, dtype=float))
    out = np.full(arr.shape, None, dtype=object)
    ok = ~np.isnan(arr)
    if ok.any():
        stamps = np.rint(arr[ok] * 1000).astype("int64").astype("datetime64[ms]")
        out[ok] = np.char.add(np.datetime_as_string(stamps, unit="ms"), "Z").astype(object)
    return out


def _epoch(series: pd.Series) -> np.ndarray:
    """ISO timestamps -> epoch seconds (NaN where missing)."""
    ts = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    out = (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    return out.to_numpy(dtype=float)


def _truthy(series: pd.Series) -> np.ndarray:
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


def _allocate(n: int, weights: np.ndarray) -> np.ndarray:
    """Split ``n`` items over ``weights`` by largest remainder, at least one each while n allows."""
    w = np.asarray(weights, dtype=float)
    raw = n * w / w.sum()
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    while (counts == 0).any() and counts.max() > 1:
        counts[int(np.argmin(counts))] += 1
        counts[int(np.argmax(counts))] -= 1
    return counts


def shift_names(t0: float, n_shifts: int) -> list[str]:
    """The shift label of each 8-hour block from ``t0`` (epoch s on the 8-hour UTC grid)."""
    first_hour_local = (int(t0 // 3600) + LOCAL_UTC_OFFSET_HOURS) % 24
    shift_of_hour = {h: s for s, h in SHIFT_START_HOUR.items()}
    return [shift_of_hour[(first_hour_local + k * SHIFT_LENGTH_HOURS) % 24] for k in range(n_shifts)]


def _column(values: object) -> np.ndarray:
    """Values as a column (one row per truck), to broadcast against a (trucks, cycles) draw."""
    return np.asarray(values)[:, None]


def _free_at(intervals: list[tuple[float, float]], t: float) -> float:
    """Earliest time >= t outside every (start, end) downtime interval (s from the period start).

    A unit returns to service at the next whole minute after its downtime, the export's resolution,
    so no written timestamp puts it to work before its maintenance is complete.
    """
    moved = True
    while moved:
        moved = False
        for start, end in intervals:
            if start <= t < end:
                t, moved = math.ceil(end / 60.0) * 60.0, True
    return t


def _days_since(done: list[float], t: float) -> float:
    """Days since the latest maintenance completed at or before t (the features' as-of rule)."""
    i = bisect.bisect_right(done, t)
    return NO_MAINTENANCE_ON_RECORD_DAYS if i == 0 else (t - done[i - 1]) / _DAY_S


def _js_number(x: float) -> str:
    """A float the way the fleet database's export writes numbers (21.0 -> '21')."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _format_column(values: pd.Series) -> list[str]:
    """One column as CSV fields: strings quoted, numbers and booleans bare, null empty."""
    if pd.api.types.is_bool_dtype(values):
        return ["true" if v else "false" for v in values]
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64").astype(str).replace("<NA>", "").tolist()
    if pd.api.types.is_float_dtype(values):
        return [_js_number(v) if v == v else "" for v in values]
    return ["" if v is None or v != v else '"' + str(v).replace('"', '""') + '"' for v in values]


def write_csv(path: Path, frame: pd.DataFrame, chunk_rows: int = 20_000) -> Path:
    """Write ``frame`` in the export's CSV dialect, atomically (temp file + rename), in row chunks."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join('"' + c + '"' for c in frame.columns) + "\n")
        for first in range(0, len(frame), chunk_rows):
            part = frame.iloc[first:first + chunk_rows]
            rows = map(",".join, zip(*(_format_column(part[c]) for c in frame.columns)))
            fh.write("".join(row + "\n" for row in rows))
    os.replace(tmp, path)
    return path


# --- the fleet the simulation runs --------------------------------------------------------------

@dataclass
class _Fleet:
    """Selected units as arrays (index = unit number in the simulation)."""

    truck_id: list[str]
    truck_capacity: np.ndarray
    truck_purchase_s: np.ndarray
    exc_id: list[str]
    exc_bucket: np.ndarray
    exc_purchase_s: np.ndarray
    road_id: list[str]
    road_distance: np.ndarray
    road_speed: np.ndarray
    road_gradient: np.ndarray
    road_condition: list[str]
    operator_id: list[str]
    operator_years: np.ndarray
    operators_by_shift: dict[str, np.ndarray]


def _age_years(purchase_s: float, at_s: float) -> float:
    """Age in years at ``at_s`` (epoch s) of a unit bought at ``purchase_s`` (unknown purchase = new)."""
    return 0.0 if math.isnan(purchase_s) else max(0.0, (at_s - purchase_s) / _DAY_S / 365.25)


def _read_master(data_dir: Path) -> dict[str, pd.DataFrame] | None:
    present = [t for t in FLEET_TABLES if (data_dir / f"{t}.csv").exists()]
    if not present:
        if (data_dir / "maintenance_logs.csv").exists():
            raise BadInputError(f"{data_dir} holds maintenance_logs.csv without the fleet tables it refers to")
        return None
    missing = [t for t in FLEET_TABLES if t not in present]
    if missing:
        raise BadInputError(f"{data_dir} holds {', '.join(present)} but not {', '.join(missing)}: "
                            "give all four fleet tables or none", [f"{t}.csv missing" for t in missing])
    tables = {}
    for name in FLEET_TABLES + ("maintenance_logs",):
        path = data_dir / f"{name}.csv"
        if path.exists():
            try:
                tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise BadInputError(f"{path}: unreadable CSV ({exc})") from exc
    return tables


def _numeric(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    if column not in frame.columns:
        raise BadInputError(f"{table}.csv has no column {column!r}")
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _choose(rng: np.random.Generator, frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows picked at random, in the table's own order."""
    picked = np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))
    return frame.iloc[picked]


def _competent_drivers(operators: pd.DataFrame) -> np.ndarray:
    def drives(value: object) -> bool:
        try:
            return bool(json.loads(value).get("dump_truck", False)) if isinstance(value, str) else False
        except (ValueError, AttributeError):
            return False
    return operators["competency"].map(drives).to_numpy(dtype=bool)


def _road_condition(value: object) -> str:
    try:
        return normalise_road_condition(value)
    except ValueError as exc:
        raise BadInputError(f"road_segments.csv: {exc}") from exc


def _fleet_from_tables(tables: dict[str, pd.DataFrame], n_trucks: int, n_excavators: int,
                       rng: np.random.Generator, plan: FleetPlan) -> _Fleet:
    """Pick the working units from master tables (active haul trucks, active excavators and roads)."""
    trucks, excs, ops, roads = (tables[t] for t in FLEET_TABLES)
    cap = _numeric(trucks, "capacity", "trucks")
    haulers = trucks[_truthy(trucks["isActive"]) & (cap >= plan.min_truck_capacity_t)]
    bucket = _numeric(excs, "bucketCapacity", "excavators")
    loaders = excs[_truthy(excs["isActive"]) & (bucket > 0)]
    dist, speed = _numeric(roads, "distance", "road_segments"), _numeric(roads, "maxSpeed", "road_segments")
    usable_roads = roads[_truthy(roads["isActive"]) & (dist > 0) & (speed > 0)]
    drivers = ops[(ops["status"].astype(str) == "ACTIVE") & _competent_drivers(ops)
                  & ops["shift"].isin(SHIFTS)]
    problems = [f"no {what}" for what, frame in (
        (f"active truck of capacity >= {plan.min_truck_capacity_t:g} t", haulers),
        ("active excavator with a bucket capacity", loaders), ("active road segment", usable_roads),
        ("ACTIVE operator with dump_truck competency and a shift", drivers)) if frame.empty]
    if problems:
        raise BadInputError("the master tables cannot run a mine: " + "; ".join(problems), problems)
    if len(haulers) < n_trucks:
        log.warning("only %d usable haul trucks (asked for %d)", len(haulers), n_trucks)
    t = _choose(rng, haulers, n_trucks)
    e = _choose(rng, loaders, min(n_excavators, len(t)))
    r = _choose(rng, usable_roads, len(e))
    if len(r) < len(e):
        e = e.iloc[: len(r)]
    grad = np.nan_to_num(_numeric(r, "gradient", "road_segments"), nan=0.0)
    return _Fleet(
        truck_id=t["id"].tolist(), truck_capacity=_numeric(t, "capacity", "trucks"),
        truck_purchase_s=_epoch(t["purchaseDate"]),
        exc_id=e["id"].tolist(), exc_bucket=_numeric(e, "bucketCapacity", "excavators"),
        exc_purchase_s=_epoch(e["purchaseDate"]),
        road_id=r["id"].tolist(), road_distance=_numeric(r, "distance", "road_segments"),
        road_speed=_numeric(r, "maxSpeed", "road_segments"), road_gradient=grad,
        road_condition=[_road_condition(v) for v in r["roadCondition"]],
        operator_id=drivers["id"].tolist(),
        operator_years=operator_years_experience(drivers["competency"]).to_numpy(),
        operators_by_shift={s: np.flatnonzero(drivers["shift"].to_numpy() == s) for s in SHIFTS},
    )


@dataclass
class _FreshFleet:
    """A generated fleet: the arrays the simulation needs plus the attributes only the files need."""

    fleet: _Fleet
    trucks: pd.DataFrame
    excavators: pd.DataFrame
    operators: pd.DataFrame
    roads: pd.DataFrame


def _uniform_int(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> np.ndarray:
    """``n`` integers drawn uniformly from ``bounds`` (both included)."""
    return rng.integers(bounds[0], bounds[1] + 1, size=n)


def _spread(rng: np.random.Generator, share: float, n: int) -> np.ndarray:
    """``n`` multipliers drawn uniformly from 1 +/- ``share``."""
    return rng.uniform(1.0 - share, 1.0 + share, size=n)


def _purchase_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """Purchase at local midnight (17:00Z) of a random day of the model year, epoch seconds."""
    jan1 = np.array([datetime(int(y), 1, 1, tzinfo=timezone.utc).timestamp() for y in years])
    return jan1 + rng.integers(0, 365, size=len(years)) * _DAY_S - LOCAL_UTC_OFFSET_HOURS * 3600


def _fresh_fleet(n_trucks: int, n_excavators: int, export_s: float, rng: np.random.Generator,
                 plan: FleetPlan) -> _FreshFleet:
    """A plausible fleet in the reference export's style (ranges taken from it)."""
    export_year = datetime.fromtimestamp(export_s, tz=timezone.utc).year
    n_exc = max(1, min(n_excavators, n_trucks))

    brands = rng.choice(list(TRUCK_MODELS), size=n_trucks)
    models = [TRUCK_MODELS[b][rng.integers(len(TRUCK_MODELS[b]))] for b in brands]
    first_year = export_year - plan.fleet_max_age_years
    t_years = rng.integers(first_year, export_year, size=n_trucks)
    trucks = pd.DataFrame({
        "id": _ids(rng, n_trucks), "code": [f"HD-{i + 1:04d}" for i in range(n_trucks)],
        "name": [f"{b} {m}-{i + 1:03d}" for i, (b, m) in enumerate(zip(brands, models))],
        "brand": brands.astype(object), "model": models, "yearManufacture": t_years,
        "capacity": _uniform_int(rng, plan.truck_capacity_range_t, n_trucks),
        "fuelCapacity": _uniform_int(rng, plan.fuel_tank_range_l, n_trucks),
    })
    t_purchase = _purchase_dates(rng, t_years)

    e_brands = rng.choice(list(EXCAVATOR_MODELS), size=n_exc)
    e_models = [EXCAVATOR_MODELS[b][rng.integers(len(EXCAVATOR_MODELS[b]))] for b in e_brands]
    e_years = rng.integers(first_year, export_year, size=n_exc)
    excavators = pd.DataFrame({
        "id": _ids(rng, n_exc), "code": [f"EXC-{i + 1:04d}" for i in range(n_exc)],
        "name": [f"{b} {m}-{i + 1:03d}" for i, (b, m) in enumerate(zip(e_brands, e_models))],
        "brand": e_brands.astype(object), "model": e_models, "yearManufacture": e_years,
        "bucketCapacity": rng.uniform(*plan.bucket_range_m3, size=n_exc),
    })
    e_purchase = _purchase_dates(rng, e_years)

    roads = pd.DataFrame({
        "id": _ids(rng, n_exc), "code": [f"ROAD-{i + 1:04d}" for i in range(n_exc)],
        "name": [f"Road Segment {i + 1}" for i in range(n_exc)], "miningSiteId": _ids(rng, n_exc),
        "startPoint": [f"PIT-{i + 1:02d}" for i in range(n_exc)],
        "endPoint": [DUMP_POINTS[i % len(DUMP_POINTS)] for i in range(n_exc)],
        "distance": rng.uniform(*plan.road_distance_range_km, size=n_exc),
        "roadCondition": rng.choice(["EXCELLENT", "GOOD", "FAIR", "POOR"], size=n_exc).astype(object),
        "maxSpeed": _uniform_int(rng, plan.road_speed_range_kmh, n_exc),
        "gradient": rng.uniform(*plan.road_gradient_range_pct, size=n_exc),
    })

    per_shift = int(math.ceil(n_trucks * (1.0 + plan.spare_operator_share)))
    n_ops = per_shift * len(SHIFTS)
    years = _uniform_int(rng, plan.operator_years_range, n_ops)
    heavy = rng.random(n_ops) < 0.5
    operators = pd.DataFrame({
        "id": _ids(rng, n_ops), "userId": _ids(rng, n_ops),
        "employeeNumber": [f"OPR-{i + 1:04d}" for i in range(n_ops)],
        "licenseNumber": ["SIM-" + s for s in np.ascontiguousarray(
            _UPPER_ALNUM[rng.integers(0, 36, size=(n_ops, 8))]).view("S8").ravel().astype(str)],
        "licenseType": np.where(heavy, "OPERATOR_ALAT_BERAT", "SIM_B2").astype(object),
        "licenseExpiry": _iso(export_s + rng.integers(120, 900, size=n_ops) * _DAY_S),
        "competency": [json.dumps({"dump_truck": True, "heavy_equipment": bool(h), "years_experience": int(y)},
                                  separators=(",", ":")) for h, y in zip(heavy, years)],
        "status": "ACTIVE", "shift": [SHIFTS[i // per_shift] for i in range(n_ops)],
        "totalHours": (years * plan.operator_hours_per_year * _spread(rng, plan.hour_meter_spread, n_ops)).astype(int),
        "rating": rng.uniform(*plan.operator_rating_range, size=n_ops),
        "joinDate": _iso(export_s - years * 365 * _DAY_S), "resignDate": None,
    })
    fleet = _Fleet(
        truck_id=trucks["id"].tolist(), truck_capacity=trucks["capacity"].to_numpy(dtype=float),
        truck_purchase_s=t_purchase, exc_id=excavators["id"].tolist(),
        exc_bucket=excavators["bucketCapacity"].to_numpy(), exc_purchase_s=e_purchase,
        road_id=roads["id"].tolist(), road_distance=roads["distance"].to_numpy(),
        road_speed=roads["maxSpeed"].to_numpy(dtype=float), road_gradient=roads["gradient"].to_numpy(),
        road_condition=roads["roadCondition"].tolist(), operator_id=operators["id"].tolist(),
        operator_years=years.astype(float),
        operators_by_shift={s: np.flatnonzero(operators["shift"].to_numpy() == s) for s in SHIFTS},
    )
    return _FreshFleet(fleet, trucks, excavators, operators, roads)


# --- maintenance ----------------------------------------------------------------------------------

@dataclass
class _Job:
    """One maintenance job (preventive or a breakdown repair), times in seconds from the period start."""

    kind: str  # 'truck' | 'excavator'
    unit: int
    maintenance_type: str  # 'PREVENTIVE' | 'CORRECTIVE'
    start: float
    hours: float


@dataclass
class _Maintenance:
    """Per-unit downtime intervals and truck maintenance completions (s from the period start)."""

    truck_down: list[list[tuple[float, float]]]
    exc_down: list[list[tuple[float, float]]]
    truck_done: list[list[float]]
    jobs: list[_Job]
    record: bool  # True: breakdown repairs are written to the logs (and so count as maintenance)

    @classmethod
    def empty(cls, fleet: _Fleet, record: bool) -> "_Maintenance":
        return cls([[] for _ in fleet.truck_id], [[] for _ in fleet.exc_id], [[] for _ in fleet.truck_id], [], record)

    def add(self, job: _Job) -> None:
        end = job.start + job.hours * 3600.0
        (self.truck_down if job.kind == "truck" else self.exc_down)[job.unit].append((job.start, end))
        if self.record:
            self.jobs.append(job)
            if job.kind == "truck":
                bisect.insort(self.truck_done[job.unit], end)


def _maintenance_from_logs(logs: pd.DataFrame, fleet: _Fleet, t0: float) -> _Maintenance:
    """Downtime and completions of the selected units from an existing maintenance log."""
    state = _Maintenance.empty(fleet, record=False)
    done = logs[logs["status"].astype(str) == COMPLETED_MAINTENANCE]
    actual = _epoch(done["actualDate"]) - t0
    completion = _epoch(done["completionDate"]) - t0
    finished = np.where(np.isnan(completion), actual, completion)
    truck_pos = {tid: i for i, tid in enumerate(fleet.truck_id)}
    exc_pos = {eid: i for i, eid in enumerate(fleet.exc_id)}
    truck_col = done["truckId"] if "truckId" in done else pd.Series(None, index=done.index)
    exc_col = done["excavatorId"] if "excavatorId" in done else pd.Series(None, index=done.index)
    for tid, eid, a, c, f in zip(truck_col, exc_col, actual, completion, finished):
        if tid in truck_pos:
            if not math.isnan(f):
                bisect.insort(state.truck_done[truck_pos[tid]], float(f))
            if not (math.isnan(a) or math.isnan(c)) and c > a:
                state.truck_down[truck_pos[tid]].append((float(a), float(c)))
        elif eid in exc_pos and not (math.isnan(a) or math.isnan(c)) and c > a:
            state.exc_down[exc_pos[eid]].append((float(a), float(c)))
    return state


def _preventive_plan(fleet: _Fleet, t0: float, period_s: float, rng: np.random.Generator,
                     plan: FleetPlan) -> _Maintenance:
    """Preventive services every interval (staggered per unit) from one interval before the period."""
    state = _Maintenance.empty(fleet, record=True)
    first_day_start = math.floor(t0 / _DAY_S) * _DAY_S - t0  # a SHIFT_1 start (00:00Z)
    for kind, n in (("truck", len(fleet.truck_id)), ("excavator", len(fleet.exc_id))):
        interval = plan.preventive_interval_days[kind]
        offsets = rng.integers(0, int(interval), size=n)
        for unit in range(n):
            day = float(offsets[unit]) - interval
            while day * _DAY_S + first_day_start < period_s:
                state.add(_Job(kind, unit, "PREVENTIVE", first_day_start + day * _DAY_S,
                               plan.preventive_downtime_hours[kind]))
                day += interval
    return state


# --- the simulation ------------------------------------------------------------------------------

_CYCLE_FIELDS = ("truck", "excavator", "operator", "road", "shift_index", "queue_start", "loading_start",
                 "loading_s", "gap_min", "hauling_s", "dumping_s", "returning_s", "delayed", "incident",
                 "cancelled", "days_since_maintenance", "road_condition")


@dataclass
class _Wear:
    """Operating time accrued towards each unit's next failure (s)."""

    accrued: list[float]
    to_failure: list[float]


@dataclass
class _ShiftDraws:
    """Everything random about one shift, drawn up front per truck (row) and cycle (column)."""

    trucks: list[int]  # unit number of each truck working the shift
    drivers: list[int]  # operator index driving it
    conditions: list[str]  # road condition of each pit's road
    seconds: dict[str, list[list[int]]]  # phase -> truck -> cycle -> s (>= 60)
    base_logit: list[float]  # delay log-odds without the maintenance part
    p_incident: list[float]
    u_delay: list[list[float]]
    u_incident: list[list[float]]
    delay_min: list[list[int]]
    stop_min: list[list[int]]
    cycles_done: list[int]


class _Mine:
    """The event simulation: shifts, pits, FIFO queues at the excavators, breakdowns."""

    #: Upper bound of cycles per truck and shift: every phase lasts >= 1 min, so a cycle >= 4 min.
    MAX_CYCLES = _SHIFT_S // 240 + 1

    def __init__(self, fleet: _Fleet, t0: float, maintenance: _Maintenance, rng: np.random.Generator,
                 gt: GroundTruth, plan: FleetPlan):
        self.fleet, self.t0, self.maintenance, self.rng, self.gt, self.plan = fleet, t0, maintenance, rng, gt, plan
        self.wear = {kind: self._new_wear(kind, purchase) for kind, purchase in (
            ("truck", fleet.truck_purchase_s), ("excavator", fleet.exc_purchase_s))}
        self.cycles: dict[str, list] = {f: [] for f in _CYCLE_FIELDS}
        self._seq = 0  # heap tie-breaker: equal times are served first come, first served

    def _new_wear(self, kind: str, purchase: np.ndarray) -> _Wear:
        ages = np.array([_age_years(p, self.t0) for p in purchase])
        return _Wear([0.0] * len(ages), list(sample_hours_to_failure(ages, kind, self.rng, self.gt) * 3600.0))

    def _maybe_break(self, kind: str, unit: int, purchase: float, at: float) -> bool:
        """Break the unit down at ``at`` if its accrued operating time reached its time to failure."""
        wear = self.wear[kind]
        if wear.accrued[unit] < wear.to_failure[unit]:
            return False
        self.maintenance.add(_Job(kind, unit, "CORRECTIVE", at, float(sample_repair_hours(kind, self.rng, self.gt))))
        wear.accrued[unit] = 0.0
        age = _age_years(purchase, self.t0 + at)
        wear.to_failure[unit] = float(sample_hours_to_failure(age, kind, self.rng, self.gt)) * 3600.0
        return True

    def _push(self, heap: list, at: float, i: int) -> None:
        heapq.heappush(heap, (at, self._seq, i))
        self._seq += 1

    def run(self, shifts: list[str]) -> list[str]:
        """Simulate every shift; return the weather of each (the cycles accumulate in ``self.cycles``)."""
        weathers = sample_weather(len(shifts), self.rng, self.gt)
        wetness = road_wetness(weathers, self.gt)
        for k, (shift, weather) in enumerate(zip(shifts, weathers)):
            self._shift(k, shift, weather, wetness[k])
        return weathers

    def _shift(self, k: int, shift: str, weather: str, wetness: int) -> None:
        fleet, gt, rng, m = self.fleet, self.gt, self.rng, self.maintenance
        s0, s1 = k * _SHIFT_S, (k + 1) * _SHIFT_S
        ready = s0 + self.plan.shift_prep_min * 60.0
        for intervals in (*m.truck_down, *m.exc_down):  # forget downtime that ended before the shift
            if intervals and min(end for _, end in intervals) <= s0:
                intervals[:] = [iv for iv in intervals if iv[1] > s0]
        pits = [e for e in range(len(fleet.exc_id)) if _free_at(m.exc_down[e], ready) < s1]
        order = rng.permutation(len(fleet.truck_id))
        pool = fleet.operators_by_shift[shift]
        drivers = pool[rng.permutation(len(pool))]
        trucks = [int(i) for i in order if _free_at(m.truck_down[i], ready) < s1][: len(drivers)]
        if not pits or not trucks:
            return
        conditions = [road_condition_today(c, wetness, gt) for c in fleet.road_condition]

        # Balance trucks between pits by each pit's need (cycle time / loading time of a typical truck).
        need = phase_means_min(CycleContext(
            distance_km=fleet.road_distance[pits], max_speed_kmh=fleet.road_speed[pits],
            gradient_pct=fleet.road_gradient[pits], road_condition=[conditions[e] for e in pits],
            weather=weather, shift=shift, operator_years_experience=self.plan.planning_operator_years,
            truck_capacity_t=float(np.mean(fleet.truck_capacity)), bucket_capacity_m3=fleet.exc_bucket[pits]), gt)
        pit_of = np.repeat(np.array(pits), _allocate(len(trucks), sum(need.values()) / need["loading"]))

        n, size = len(trucks), (len(trucks), self.MAX_CYCLES)
        cond = np.array([conditions[e] for e in pit_of])
        durations = sample_phase_durations(CycleContext(
            distance_km=_column(fleet.road_distance[pit_of]), max_speed_kmh=_column(fleet.road_speed[pit_of]),
            gradient_pct=_column(fleet.road_gradient[pit_of]), road_condition=_column(cond), weather=weather,
            shift=shift, operator_years_experience=_column(fleet.operator_years[drivers[:n]]),
            truck_capacity_t=_column(fleet.truck_capacity[trucks]),
            bucket_capacity_m3=_column(fleet.exc_bucket[pit_of])), rng, gt, size=size)
        draws = _ShiftDraws(
            trucks=trucks, drivers=[int(d) for d in drivers[:n]], conditions=conditions,
            seconds={p: np.maximum(60, np.rint(d * 60.0)).astype(np.int64).tolist() for p, d in durations.items()},
            base_logit=delay_logit(weather, cond, 0.0, shift, gt).tolist(),
            p_incident=incident_probability(weather, cond, gt).tolist(),
            u_delay=rng.random(size).tolist(), u_incident=rng.random(size).tolist(),
            delay_min=sample_delay_min(weather, rng, gt, size=size).astype(int).tolist(),
            stop_min=sample_incident_stop_min(size, rng, gt).astype(int).tolist(), cycles_done=[0] * n)
        for e in pits:
            self._pit(k, e, np.flatnonzero(pit_of == e).tolist(), s0, s1, ready, draws)

    def _pit(self, k: int, e: int, members: list[int], s0: float, s1: float, ready: float,
             draws: _ShiftDraws) -> None:
        """One excavator and its trucks for one shift: a FIFO single-server queue, event by event."""
        fleet, m, gt, record = self.fleet, self.maintenance, self.gt, self.cycles
        secs = draws.seconds
        heap: list[tuple[float, int, int]] = []
        for j, i in enumerate(members):
            arrive = _free_at(m.truck_down[draws.trucks[i]], ready + j * self.plan.dispatch_interval_min * 60.0)
            if arrive < s1:
                self._push(heap, arrive, i)
        exc_free, exc_last = float(s0), None
        while heap:
            arrive, _, i = heapq.heappop(heap)
            t, c = draws.trucks[i], draws.cycles_done[i]
            start = max(arrive, exc_free)
            available = _free_at(m.exc_down[e], start)
            if available != start:  # excavator down: the truck stands by until it is repaired
                if available < s1:
                    self._push(heap, available, i)
                continue
            load, haul, dump, ret = (secs["loading"][i][c], secs["hauling"][i][c],
                                     secs["dumping"][i][c], secs["returning"][i][c])
            days = _days_since(m.truck_done[t], start - start % 60)  # as of the written loadingStartTime
            logit = draws.base_logit[i] + float(maintenance_delay_logit(days, gt))
            delayed = draws.u_delay[i][c] < 1.0 / (1.0 + math.exp(-logit))
            incident = draws.u_incident[i][c] < draws.p_incident[i]
            gap = (draws.delay_min[i][c] if delayed else 0) + (draws.stop_min[i][c] if incident else 0)
            end = start + load + gap * 60 + haul + dump + ret
            if end > s1:  # no cycle starts that cannot finish inside the shift
                continue
            draws.cycles_done[i] = c + 1
            exc_free = start + load
            self.wear["excavator"].accrued[e] += exc_free - (start if exc_last is None else exc_last)
            exc_last = exc_free
            self._maybe_break("excavator", e, fleet.exc_purchase_s[e], exc_free)
            self.wear["truck"].accrued[t] += end - arrive
            cancelled = self._maybe_break("truck", t, fleet.truck_purchase_s[t], end)
            for name, value in (("truck", t), ("excavator", e), ("operator", draws.drivers[i]), ("road", e),
                                ("shift_index", k), ("queue_start", arrive), ("loading_start", start),
                                ("loading_s", load), ("gap_min", gap), ("hauling_s", haul), ("dumping_s", dump),
                                ("returning_s", ret), ("delayed", delayed), ("incident", incident),
                                ("cancelled", cancelled), ("days_since_maintenance", days),
                                ("road_condition", draws.conditions[e])):
                record[name].append(value)
            following = _free_at(m.truck_down[t], end)
            if following < s1:
                self._push(heap, following, i)


# --- output tables --------------------------------------------------------------------------------

def _hauling_frame(cycles: dict[str, list], weathers: list[str], fleet: _Fleet, t0: float, shifts: list[str],
                   rng: np.random.Generator, ids: np.random.Generator, gt: GroundTruth) -> pd.DataFrame:
    """The hauling_activities table from the simulated cycles (payload and fuel drawn here)."""
    c = {k: np.asarray(v) for k, v in cycles.items()}
    n = len(c["truck"])
    if n == 0:
        return pd.DataFrame(columns=list(HAULING_COLUMNS))
    truck, exc, road = c["truck"], c["excavator"], c["road"]
    weather = np.asarray(weathers, dtype=object)[c["shift_index"]]
    capacity = fleet.truck_capacity[truck]
    load = np.round(payload_t(capacity, fleet.exc_bucket[exc], weather, rng, gt), 2)  # weighbridge: 10 kg
    purchase = fleet.truck_purchase_s[truck]
    age_days = np.where(np.isnan(purchase), UNKNOWN_AGE_DAYS,
                        np.clip((t0 + c["loading_start"] - purchase) / _DAY_S, 0.0, None))
    distance = fleet.road_distance[road]
    fuel = fuel_l(load, distance, fleet.road_gradient[road], age_days, c["days_since_maintenance"], rng, gt)

    # Whole-minute stamps (t0 is on the 8-hour grid): every duration is a difference of two stamps.
    def minute(seconds: np.ndarray) -> np.ndarray:
        return (t0 + np.asarray(seconds, dtype=float)) // 60

    load_end_s = c["loading_start"] + c["loading_s"]
    depart_s = load_end_s + c["gap_min"] * 60
    arrive_s = depart_s + c["hauling_s"]
    dumped_s = arrive_s + c["dumping_s"]
    back_s = dumped_s + c["returning_s"]
    q0, l0, l1, dep, arr, d1, ret = (minute(x) for x in (c["queue_start"], c["loading_start"], load_end_s,
                                                         depart_s, arrive_s, dumped_s, back_s))
    stamp = {name: _iso(m * 60) for name, m in (("q0", q0), ("l0", l0), ("l1", l1), ("dep", dep),
                                                ("arr", arr), ("d1", d1), ("ret", ret))}
    status = np.where(c["cancelled"], "CANCELLED", np.where(c["incident"], "INCIDENT",
                                                            np.where(c["delayed"], "DELAYED", "COMPLETED")))
    frame = pd.DataFrame({
        "id": _ids(ids, n), "truckId": np.asarray(fleet.truck_id, dtype=object)[truck],
        "excavatorId": np.asarray(fleet.exc_id, dtype=object)[exc],
        "operatorId": np.asarray(fleet.operator_id, dtype=object)[c["operator"]],
        "roadSegmentId": np.asarray(fleet.road_id, dtype=object)[road],
        "shift": np.asarray(shifts, dtype=object)[c["shift_index"]],
        "queueStartTime": stamp["q0"], "queueEndTime": stamp["l0"], "loadingStartTime": stamp["l0"],
        "loadingEndTime": stamp["l1"], "departureTime": stamp["dep"], "arrivalTime": stamp["arr"],
        "dumpingStartTime": stamp["arr"], "dumpingEndTime": stamp["d1"], "returnTime": stamp["ret"],
        "queueDuration": (l0 - q0).astype(np.int64), "loadingDuration": (l1 - l0).astype(np.int64),
        "haulingDuration": (arr - dep).astype(np.int64), "dumpingDuration": (d1 - arr).astype(np.int64),
        "returnDuration": (ret - d1).astype(np.int64), "totalCycleTime": (ret - q0).astype(np.int64),
        "loadWeight": load, "targetWeight": capacity.astype(float),
        "loadEfficiency": np.round(100.0 * load / capacity, 2), "distance": distance,
        "fuelConsumed": np.round(fuel, 2), "status": status.astype(object),
        "weatherCondition": weather, "roadCondition": c["road_condition"].astype(object),
        "isDelayed": c["gap_min"] > 0, "delayMinutes": c["gap_min"].astype(np.int64),
        "delayReasonId": None, "createdAt": stamp["ret"], "updatedAt": stamp["ret"],
        "supervisorId": None, "loadingPointId": None, "dumpingPointId": None,
        "remarks": _remarks(status, weather, c["road_condition"], c["days_since_maintenance"], gt),
    })
    order = np.lexsort((frame["truckId"].to_numpy(), q0))
    frame = frame.iloc[order].reset_index(drop=True)
    local_day = ((q0[order] * 60 + LOCAL_UTC_OFFSET_HOURS * 3600) // _DAY_S).astype("datetime64[D]")
    day_text = pd.Series(np.char.replace(np.datetime_as_string(local_day, unit="D"), "-", ""), dtype=object)
    number = day_text.groupby(day_text, sort=False).cumcount() + 1
    frame["activityNumber"] = ("HA-" + day_text + "-" + number.map("{:04d}".format)).astype(object)
    return frame[list(HAULING_COLUMNS)]


def _remarks(status: np.ndarray, weather: np.ndarray, road: np.ndarray, days_since: np.ndarray,
             gt: GroundTruth) -> np.ndarray:
    """Free-text remark per cycle: the dominant cause of a delay, or what happened."""
    causes = np.stack([lookup(gt.weather_delay_logit, weather), lookup(gt.road_delay_logit, road),
                       maintenance_delay_logit(days_since, gt)])
    cause = np.argmax(causes, axis=0)
    delay_text = np.array(["Delay: weather", "Delay: road condition", "Delay: unit fault"], dtype=object)
    out = np.full(len(status), None, dtype=object)
    out[status == "DELAYED"] = delay_text[cause[status == "DELAYED"]]
    out[status == "INCIDENT"] = "Incident: unit stopped for recovery"
    out[status == "CANCELLED"] = "Truck breakdown: cycle cancelled, unit to workshop"
    return out


def _stamps(n: int, export_s: float) -> np.ndarray:
    """createdAt/updatedAt of master rows: the export time, 3 ms apart (as the reference export)."""
    return _iso(export_s + np.arange(n) * 0.003)


def _maintenance_frame(state: _Maintenance, fleet: _Fleet, t0: float, export_s: float,
                       rng: np.random.Generator, ids: np.random.Generator, plan: FleetPlan) -> pd.DataFrame:
    """Maintenance logs for the jobs begun before the export (COMPLETED, or IN_PROGRESS at export)."""
    jobs = sorted((j for j in state.jobs if t0 + j.start <= export_s),
                  key=lambda j: (j.start, j.kind, j.unit))
    n = len(jobs)
    start = np.array([t0 + j.start for j in jobs])
    hours = np.array([j.hours for j in jobs])
    finished = start + hours * 3600.0 <= export_s
    kinds = [j.kind for j in jobs]
    types = [j.maintenance_type for j in jobs]
    base = np.array([plan.preventive_cost_idr[k] if m == "PREVENTIVE" else plan.corrective_cost_idr_per_hour[k] * h
                     for k, m, h in zip(kinds, types, hours)])
    cost = base * np.exp(plan.cost_sigma * rng.standard_normal(n) - 0.5 * plan.cost_sigma**2)
    parts = [json.dumps({"parts": "Filter Oli" if m == "PREVENTIVE" else PARTS[int(p)], "quantity": int(q)},
                        separators=(",", ":"))
             for m, p, q in zip(types, rng.integers(0, len(PARTS), size=n), rng.integers(1, 5, size=n))]
    return pd.DataFrame({
        "id": _ids(ids, n), "maintenanceNumber": [f"MNT-{i + 1:06d}" for i in range(n)],
        "truckId": [fleet.truck_id[j.unit] if j.kind == "truck" else None for j in jobs],
        "excavatorId": [fleet.exc_id[j.unit] if j.kind == "excavator" else None for j in jobs],
        "supportEquipmentId": None, "maintenanceType": types,
        "scheduledDate": np.where(np.array(types) == "PREVENTIVE", _iso(start), None),
        "actualDate": _iso(start), "completionDate": np.where(finished, _iso(start + hours * 3600.0), None),
        "duration": pd.array(np.where(finished, hours, np.nan), dtype="Int64"),
        "cost": np.where(finished, cost, np.nan),
        "description": [f"Maintenance {m} {i + 1}" for i, m in enumerate(types)],
        "partsReplaced": np.where(finished, parts, None), "mechanicName": rng.choice(MECHANICS, size=n).astype(object),
        "status": np.where(finished, "COMPLETED", "IN_PROGRESS").astype(object),
        "downtimeHours": np.where(finished, hours, 0).astype(np.int64), "remarks": None,
        "createdAt": _stamps(n, export_s), "updatedAt": _stamps(n, export_s),
    })


def _unit_status(state: _Maintenance, kind: str, n: int, t0: float, export_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of ``kind``: last maintenance completed by the export (epoch s, NaN if none), down at export."""
    last, down = np.full(n, np.nan), np.zeros(n, dtype=bool)
    for job in state.jobs:
        if job.kind == kind:
            start, end = t0 + job.start, t0 + job.start + job.hours * 3600.0
            if end <= export_s:
                last[job.unit] = np.fmax(last[job.unit], end)
            down[job.unit] |= start <= export_s < end
    return last, down


def _fresh_master_frames(fresh: _FreshFleet, state: _Maintenance, hauling: pd.DataFrame, t0: float,
                         export_s: float, rng: np.random.Generator, plan: FleetPlan) -> dict[str, pd.DataFrame]:
    """The four fleet tables of a generated fleet, with the state the simulation left them in."""
    t_last_s, t_down = _unit_status(state, "truck", len(fresh.trucks), t0, export_s)
    e_last_s, e_down = _unit_status(state, "excavator", len(fresh.excavators), t0, export_s)
    last_driver = hauling.groupby("truckId", sort=False)["operatorId"].last()

    def usage(purchase: np.ndarray) -> np.ndarray:
        years = np.clip((export_s - purchase) / _DAY_S / 365.25, 0.0, None)
        return (years * plan.hours_per_year * _spread(rng, plan.hour_meter_spread, len(purchase))).astype(np.int64)

    trucks = fresh.trucks
    hours = usage(fresh.fleet.truck_purchase_s)
    trucks_out = pd.DataFrame({
        **{c: trucks[c] for c in ("id", "code", "name", "brand", "model", "yearManufacture", "capacity",
                                  "fuelCapacity")},
        "status": np.where(t_down, "MAINTENANCE", "IDLE").astype(object),
        "lastMaintenance": _iso(t_last_s),
        "nextMaintenance": _iso(t_last_s + plan.preventive_interval_days["truck"] * _DAY_S),
        "totalHours": hours, "totalDistance": (hours * plan.odometer_km_per_hour).astype(np.int64),
        "currentOperatorId": trucks["id"].map(last_driver).astype(object).where(lambda s: s.notna(), None),
        "currentLocation": np.where(t_down, "Workshop", "Pool").astype(object),
        "isActive": True, "purchaseDate": _iso(fresh.fleet.truck_purchase_s), "retirementDate": None,
        "remarks": None, "createdAt": _stamps(len(trucks), export_s), "updatedAt": _stamps(len(trucks), export_s),
    })
    excs = fresh.excavators
    e_hours = usage(fresh.fleet.exc_purchase_s)
    excavators_out = pd.DataFrame({
        **{c: excs[c] for c in ("id", "code", "name", "brand", "model", "yearManufacture", "bucketCapacity")},
        "status": np.where(e_down, "MAINTENANCE", "ACTIVE").astype(object),
        "lastMaintenance": _iso(e_last_s),
        "nextMaintenance": _iso(e_last_s + plan.preventive_interval_days["excavator"] * _DAY_S),
        "totalHours": e_hours, "currentLocation": [f"PIT-{i + 1:02d}" for i in range(len(excs))],
        "isActive": True, "purchaseDate": _iso(fresh.fleet.exc_purchase_s), "retirementDate": None,
        "remarks": None, "createdAt": _stamps(len(excs), export_s), "updatedAt": _stamps(len(excs), export_s),
    })
    operators = fresh.operators.copy()
    operators["createdAt"] = operators["updatedAt"] = _stamps(len(operators), export_s)
    roads = fresh.roads.copy()
    graded = rng.random(len(roads)) < plan.graded_road_share
    roads["isActive"] = True
    roads["lastMaintenance"] = np.where(graded, _iso(export_s - rng.integers(1, 60, size=len(roads)) * _DAY_S), None)
    roads["createdAt"] = roads["updatedAt"] = _stamps(len(roads), export_s)
    return {"trucks": trucks_out, "excavators": excavators_out, "operators": operators, "road_segments": roads}


def _vessels_and_schedules(t0: float, period_end: float, rng: np.random.Generator, ids: np.random.Generator,
                           plan: FleetPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A handful of barges and bulk carriers and their loading calls around the period."""
    vessels = pd.DataFrame({"id": _ids(ids, len(VESSELS)), "name": [v.name for v in VESSELS],
                            "type": [v.type for v in VESSELS],
                            "capacity": np.array([v.capacity_t for v in VESSELS], dtype=np.int64)})
    vessels["createdAt"] = _iso(np.full(len(vessels), t0 - plan.vessel_listed_days_before * _DAY_S))
    barges = [i for i, v in enumerate(VESSELS) if v.type == "BARGE"]
    carriers = [i for i, v in enumerate(VESSELS) if v.type != "BARGE"]
    calls = []
    eta = t0 + rng.uniform(0.0, plan.barge_call_every_days) * _DAY_S
    while eta < period_end + plan.schedule_days_ahead * _DAY_S:
        carrier = rng.random() < plan.bulk_carrier_call_share
        v = int(rng.choice(carriers if carrier else barges))
        ets = eta + rng.uniform(*VESSELS[v].loading_days) * _DAY_S
        planned = float(np.floor(VESSELS[v].capacity_t * rng.uniform(*plan.planned_fill_range) / 100) * 100)
        status = "COMPLETED" if ets <= period_end else ("LOADING" if eta <= period_end else "SCHEDULED")
        actual = {"COMPLETED": planned * rng.uniform(*plan.loaded_vs_planned_range),
                  "LOADING": planned * (period_end - eta) / (ets - eta)}.get(status, np.nan)
        buyer = int(rng.integers(1, len(BUYERS))) if carrier else 0
        calls.append({"vesselId": vessels["id"][v], "loadingPort": LOADING_PORT, "destination": BUYERS[buyer][1],
                      "etaLoading": eta, "etsLoading": ets, "plannedQuantity": planned,
                      "actualQuantity": round(float(actual), 1), "buyer": BUYERS[buyer][0], "status": status,
                      "createdAt": eta - plan.schedule_notice_days * _DAY_S})
        eta += plan.barge_call_every_days * _spread(rng, plan.call_interval_spread, 1)[0] * _DAY_S
    sched = pd.DataFrame(calls)
    sched.insert(0, "id", _ids(ids, len(sched)))
    for col in ("etaLoading", "etsLoading", "createdAt"):
        sched[col] = _iso(sched[col].to_numpy())
    return vessels, sched


# --- the command ------------------------------------------------------------------------------------

def copy_fleet_tables(data_dir: Path, source: Path = REFERENCE_EXPORT_DIR) -> tuple[str, ...]:
    """Copy the prototype's fleet tables into ``data_dir`` when it holds none; the names copied.

    Only the four fleet tables (trucks, excavators, operators, road segments, with their ids) are
    copied: the shipped maintenance log ends with the reference export, so on a period ending
    today every unit would look a year overdue; the generator writes the period's own log.
    """
    data_dir = Path(data_dir)
    if any((data_dir / f"{t}.csv").exists() for t in FLEET_TABLES + ("maintenance_logs",)):
        return ()
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in FLEET_TABLES:
        tmp = data_dir / f"{name}.csv.tmp"
        tmp.write_bytes((source / f"{name}.csv").read_bytes())
        os.replace(tmp, data_dir / f"{name}.csv")
    return tuple(f"{name}.csv" for name in FLEET_TABLES)


def generate(data_dir: Path, *, days: int, trucks: int, seed: int, end: str | datetime | None = None,
             excavators: int | None = None, force: bool = False, ground_truth: GroundTruth | None = None,
             plan: FleetPlan | None = None) -> GenerationSummary:
    """Write a sample mine's CSV export into ``data_dir`` (see the module docstring).

    ``end`` (ISO date/time, naive = UTC) is when the export is taken; None means now. Master tables
    already in ``data_dir`` are used; without them a fleet is generated (``copy_fleet_tables`` first
    for the prototype's).
    """
    started = time.perf_counter()
    if days < 1 or trucks < 1:
        raise BadInputError(f"days and trucks must be >= 1 (got days={days}, trucks={trucks})")
    if excavators is not None and excavators < 1:
        raise BadInputError(f"excavators must be >= 1 (got {excavators})")
    gt, plan = ground_truth or GroundTruth(), plan or FleetPlan()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / HAULING_FILE).exists() and not force:
        raise BadInputError(f"{data_dir / HAULING_FILE} exists; pass --force to replace it")

    fleet_rng, sim_rng, draw_rng, maint_rng, vessel_rng, id_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    n_exc = excavators or max(1, int(round(trucks / plan.trucks_per_excavator)))
    tables = _read_master(data_dir)
    export_s = parse_end(end)
    period_end = math.floor(export_s / _SHIFT_S) * _SHIFT_S  # the last whole shift ends here
    t0 = period_end - days * _DAY_S

    fresh = None
    if tables is None:
        fresh = _fresh_fleet(trucks, n_exc, export_s, fleet_rng, plan)
        fleet = fresh.fleet
    else:
        fleet = _fleet_from_tables(tables, trucks, n_exc, fleet_rng, plan)
    logs_exist = (data_dir / "maintenance_logs.csv").exists()
    maintenance = (_maintenance_from_logs(tables["maintenance_logs"], fleet, t0) if logs_exist
                   else _preventive_plan(fleet, t0, days * _DAY_S, maint_rng, plan))

    shifts = shift_names(t0, days * 24 // SHIFT_LENGTH_HOURS)
    mine = _Mine(fleet, t0, maintenance, sim_rng, gt, plan)
    weathers = mine.run(shifts)
    hauling = _hauling_frame(mine.cycles, weathers, fleet, t0, shifts, draw_rng, id_rng, gt)

    out: dict[str, pd.DataFrame] = {}
    if fresh is not None:
        out.update(_fresh_master_frames(fresh, maintenance, hauling, t0, export_s, maint_rng, plan))
    if not logs_exist:
        out["maintenance_logs"] = _maintenance_frame(maintenance, fleet, t0, export_s, maint_rng, id_rng, plan)
    vessels, schedules = _vessels_and_schedules(t0, period_end, vessel_rng, id_rng, plan)
    for name, frame in (("vessels", vessels), ("sailing_schedules", schedules)):
        if not (data_dir / f"{name}.csv").exists():
            out[name] = frame
    out["hauling_activities"] = hauling

    kept = tuple(sorted(p.name for p in data_dir.glob("*.csv") if p.stem not in out))
    for name, frame in out.items():
        write_csv(data_dir / f"{name}.csv", frame)
    return GenerationSummary(
        data_dir=data_dir, written=tuple(f"{name}.csv" for name in out), kept=kept,
        rows={name: len(frame) for name, frame in out.items()}, seconds=time.perf_counter() - started,
        generated_fleet=fresh is not None, period_start=str(_iso(t0)[0]), period_end=str(_iso(period_end)[0]))


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    s = settings or get_settings()
    parser = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    add_path_args(parser)
    parser.add_argument("--days", type=int, default=s.synthetic_days, help="days of haulage (default: %(default)s)")
    parser.add_argument("--trucks", type=int, default=s.synthetic_trucks, help="haul trucks (default: %(default)s)")
    parser.add_argument("--excavators", type=int, default=None, help="excavators (default: one per 5 trucks)")
    parser.add_argument("--seed", type=int, default=s.synthetic_seed, help="random seed (default: %(default)s)")
    parser.add_argument("--end", default=None,
                        help="end of the period, ISO date/time UTC (default: now; the period ends at the last "
                             "whole shift before it)")
    parser.add_argument("--generated-fleet", action="store_true",
                        help="in a folder without fleet tables, invent a fleet instead of copying the prototype's")
    parser.add_argument("--force", action="store_true", help="replace an existing hauling_activities.csv")
    args = parser.parse_args(argv)
    setup_logging(s.log_level)
    paths = resolve_paths(args, s)
    try:
        if not args.generated_fleet:
            copied = copy_fleet_tables(paths.data)
            if copied:
                log.info("copied the prototype's fleet tables into %s: %s", paths.data, ", ".join(copied))
        summary = generate(paths.data, days=args.days, trucks=args.trucks, seed=args.seed, end=args.end,
                           excavators=args.excavators, force=args.force)
    except BadInputError as exc:
        print(f"synthetic: bad input: {exc}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_json_report(paths.logs / "synthetic_report.json", {
        "command": "training.synthetic", "data_dir": str(summary.data_dir), "days": args.days,
        "trucks": args.trucks, "excavators": args.excavators, "seed": args.seed, "written": summary.written,
        "kept": summary.kept, "rows": summary.rows, "seconds": round(summary.seconds, 3),
        "generated_fleet": summary.generated_fleet, "period_start": summary.period_start,
        "period_end": summary.period_end, "ground_truth": GroundTruth().constants(),
    })
    print(summary.line())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
