"""The fleet the sample mine runs: picked from master tables, or generated in the reference export's
style; ``FleetPlan`` holds how the mine is organised."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

import numpy as np
import pandas as pd

from training.errors import BadInputError
from training.features import operator_years_experience
from training.schema import SHIFTS, normalise_road_condition
from training.synthetic.formats import (DAY_S, FLEET_TABLES, LOCAL_UTC_OFFSET_HOURS, UPPER_ALNUM, epoch_seconds,
                                        iso_stamps, new_ids, truthy)

log = logging.getLogger(__name__)

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


@dataclass
class WorkingFleet:
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


def age_years(purchase_s: float, at_s: float) -> float:
    """Age in years at ``at_s`` (epoch s) of a unit bought at ``purchase_s`` (unknown purchase = new)."""
    return 0.0 if math.isnan(purchase_s) else max(0.0, (at_s - purchase_s) / DAY_S / 365.25)


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


def fleet_from_tables(tables: dict[str, pd.DataFrame], n_trucks: int, n_excavators: int,
                       rng: np.random.Generator, plan: FleetPlan) -> WorkingFleet:
    """Pick the working units from master tables (active haul trucks, active excavators and roads)."""
    trucks, excs, ops, roads = (tables[t] for t in FLEET_TABLES)
    cap = _numeric(trucks, "capacity", "trucks")
    haulers = trucks[truthy(trucks["isActive"]) & (cap >= plan.min_truck_capacity_t)]
    bucket = _numeric(excs, "bucketCapacity", "excavators")
    loaders = excs[truthy(excs["isActive"]) & (bucket > 0)]
    dist, speed = _numeric(roads, "distance", "road_segments"), _numeric(roads, "maxSpeed", "road_segments")
    usable_roads = roads[truthy(roads["isActive"]) & (dist > 0) & (speed > 0)]
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
    return WorkingFleet(
        truck_id=t["id"].tolist(), truck_capacity=_numeric(t, "capacity", "trucks"),
        truck_purchase_s=epoch_seconds(t["purchaseDate"]),
        exc_id=e["id"].tolist(), exc_bucket=_numeric(e, "bucketCapacity", "excavators"),
        exc_purchase_s=epoch_seconds(e["purchaseDate"]),
        road_id=r["id"].tolist(), road_distance=_numeric(r, "distance", "road_segments"),
        road_speed=_numeric(r, "maxSpeed", "road_segments"), road_gradient=grad,
        road_condition=[_road_condition(v) for v in r["roadCondition"]],
        operator_id=drivers["id"].tolist(),
        operator_years=operator_years_experience(drivers["competency"]).to_numpy(),
        operators_by_shift={s: np.flatnonzero(drivers["shift"].to_numpy() == s) for s in SHIFTS},
    )


@dataclass
class GeneratedFleet:
    """A generated fleet: the arrays the simulation needs plus the attributes only the files need."""

    fleet: WorkingFleet
    trucks: pd.DataFrame
    excavators: pd.DataFrame
    operators: pd.DataFrame
    roads: pd.DataFrame


def _uniform_int(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> np.ndarray:
    """``n`` integers drawn uniformly from ``bounds`` (both included)."""
    return rng.integers(bounds[0], bounds[1] + 1, size=n)


def spread(rng: np.random.Generator, share: float, n: int) -> np.ndarray:
    """``n`` multipliers drawn uniformly from 1 +/- ``share``."""
    return rng.uniform(1.0 - share, 1.0 + share, size=n)


def _purchase_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """Purchase at local midnight (17:00Z) of a random day of the model year, epoch seconds."""
    jan1 = np.array([datetime(int(y), 1, 1, tzinfo=timezone.utc).timestamp() for y in years])
    return jan1 + rng.integers(0, 365, size=len(years)) * DAY_S - LOCAL_UTC_OFFSET_HOURS * 3600


def fresh_fleet(n_trucks: int, n_excavators: int, export_s: float, rng: np.random.Generator,
                 plan: FleetPlan) -> GeneratedFleet:
    """A plausible fleet in the reference export's style (ranges taken from it)."""
    export_year = datetime.fromtimestamp(export_s, tz=timezone.utc).year
    n_exc = max(1, min(n_excavators, n_trucks))

    brands = rng.choice(list(TRUCK_MODELS), size=n_trucks)
    models = [TRUCK_MODELS[b][rng.integers(len(TRUCK_MODELS[b]))] for b in brands]
    first_year = export_year - plan.fleet_max_age_years
    t_years = rng.integers(first_year, export_year, size=n_trucks)
    trucks = pd.DataFrame({
        "id": new_ids(rng, n_trucks), "code": [f"HD-{i + 1:04d}" for i in range(n_trucks)],
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
        "id": new_ids(rng, n_exc), "code": [f"EXC-{i + 1:04d}" for i in range(n_exc)],
        "name": [f"{b} {m}-{i + 1:03d}" for i, (b, m) in enumerate(zip(e_brands, e_models))],
        "brand": e_brands.astype(object), "model": e_models, "yearManufacture": e_years,
        "bucketCapacity": rng.uniform(*plan.bucket_range_m3, size=n_exc),
    })
    e_purchase = _purchase_dates(rng, e_years)

    roads = pd.DataFrame({
        "id": new_ids(rng, n_exc), "code": [f"ROAD-{i + 1:04d}" for i in range(n_exc)],
        "name": [f"Road Segment {i + 1}" for i in range(n_exc)], "miningSiteId": new_ids(rng, n_exc),
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
        "id": new_ids(rng, n_ops), "userId": new_ids(rng, n_ops),
        "employeeNumber": [f"OPR-{i + 1:04d}" for i in range(n_ops)],
        "licenseNumber": ["SIM-" + s for s in np.ascontiguousarray(
            UPPER_ALNUM[rng.integers(0, 36, size=(n_ops, 8))]).view("S8").ravel().astype(str)],
        "licenseType": np.where(heavy, "OPERATOR_ALAT_BERAT", "SIM_B2").astype(object),
        "licenseExpiry": iso_stamps(export_s + rng.integers(120, 900, size=n_ops) * DAY_S),
        "competency": [json.dumps({"dump_truck": True, "heavy_equipment": bool(h), "years_experience": int(y)},
                                  separators=(",", ":")) for h, y in zip(heavy, years)],
        "status": "ACTIVE", "shift": [SHIFTS[i // per_shift] for i in range(n_ops)],
        "totalHours": (years * plan.operator_hours_per_year * spread(rng, plan.hour_meter_spread, n_ops)).astype(int),
        "rating": rng.uniform(*plan.operator_rating_range, size=n_ops),
        "joinDate": iso_stamps(export_s - years * 365 * DAY_S), "resignDate": None,
    })
    fleet = WorkingFleet(
        truck_id=trucks["id"].tolist(), truck_capacity=trucks["capacity"].to_numpy(dtype=float),
        truck_purchase_s=t_purchase, exc_id=excavators["id"].tolist(),
        exc_bucket=excavators["bucketCapacity"].to_numpy(), exc_purchase_s=e_purchase,
        road_id=roads["id"].tolist(), road_distance=roads["distance"].to_numpy(),
        road_speed=roads["maxSpeed"].to_numpy(dtype=float), road_gradient=roads["gradient"].to_numpy(),
        road_condition=roads["roadCondition"].tolist(), operator_id=operators["id"].tolist(),
        operator_years=years.astype(float),
        operators_by_shift={s: np.flatnonzero(operators["shift"].to_numpy() == s) for s in SHIFTS},
    )
    return GeneratedFleet(fleet, trucks, excavators, operators, roads)
