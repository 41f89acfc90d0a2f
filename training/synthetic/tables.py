"""The export's tables built from the simulated mine: hauling activities, maintenance logs, the
fleet tables of a generated fleet, vessels and their sailing schedules. Pure: frames, no files."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.features import UNKNOWN_AGE_DAYS
from training.ground_truth import GroundTruth, fuel_l, lookup, maintenance_delay_logit, payload_t
from training.synthetic.fleet import FleetPlan, GeneratedFleet, WorkingFleet, spread
from training.synthetic.formats import DAY_S, HAULING_COLUMNS, LOCAL_UTC_OFFSET_HOURS, iso_stamps, new_ids
from training.synthetic.maintenance import MaintenanceState

MECHANICS: tuple[str, ...] = ("Agus", "Budi", "Dedi", "Rudi")
PARTS: tuple[str, ...] = ("Filter Oli", "Ban", "Brake Pad")
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


def hauling_frame(cycles: dict[str, list], weathers: list[str], fleet: WorkingFleet, t0: float, shifts: list[str],
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
                        np.clip((t0 + c["loading_start"] - purchase) / DAY_S, 0.0, None))
    distance = fleet.road_distance[road]
    fuel = fuel_l(load, distance, fleet.road_gradient[road], age_days, c["days_since_maintenance"], rng, gt)

    # Whole-minute stamps (t0 is on the 8-hour grid): every duration is a difference of two stamps.
    def minute(seconds: np.ndarray) -> np.ndarray:
        return (t0 + np.asarray(seconds, dtype=float)) // 60

    load_end_s = c["loading_start"] + c["loading_s"]
    depart_s = load_end_s + c["gap_min"] * 60
    arrive_s = depart_s + c["hauling_s"]
    tip_s = arrive_s + c["dump_wait_s"] if "dump_wait_s" in c else arrive_s  # a haul network's dumps queue
    dumped_s = tip_s + c["dumping_s"]
    back_s = dumped_s + c["returning_s"]
    q0, l0, l1, dep, arr, d0, d1, ret = (minute(x) for x in (c["queue_start"], c["loading_start"], load_end_s,
                                                             depart_s, arrive_s, tip_s, dumped_s, back_s))
    stamp = {name: iso_stamps(m * 60) for name, m in (("q0", q0), ("l0", l0), ("l1", l1), ("dep", dep),
                                                ("arr", arr), ("d0", d0), ("d1", d1), ("ret", ret))}
    # a haul network's cycles name their loading and dumping points; the one-road mine's none
    points = {k: c[f] if f in c else None for k, f in (("loadingPointId", "loading_point"),
                                                       ("dumpingPointId", "dumping_point"))}
    status = np.where(c["cancelled"], "CANCELLED", np.where(c["incident"], "INCIDENT",
                                                            np.where(c["delayed"], "DELAYED", "COMPLETED")))
    frame = pd.DataFrame({
        "id": new_ids(ids, n), "truckId": np.asarray(fleet.truck_id, dtype=object)[truck],
        "excavatorId": np.asarray(fleet.exc_id, dtype=object)[exc],
        "operatorId": np.asarray(fleet.operator_id, dtype=object)[c["operator"]],
        "roadSegmentId": np.asarray(fleet.road_id, dtype=object)[road],
        "shift": np.asarray(shifts, dtype=object)[c["shift_index"]],
        "queueStartTime": stamp["q0"], "queueEndTime": stamp["l0"], "loadingStartTime": stamp["l0"],
        "loadingEndTime": stamp["l1"], "departureTime": stamp["dep"], "arrivalTime": stamp["arr"],
        "dumpingStartTime": stamp["d0"], "dumpingEndTime": stamp["d1"], "returnTime": stamp["ret"],
        "queueDuration": (l0 - q0).astype(np.int64), "loadingDuration": (l1 - l0).astype(np.int64),
        "haulingDuration": (arr - dep).astype(np.int64), "dumpingDuration": (d1 - d0).astype(np.int64),
        "returnDuration": (ret - d1).astype(np.int64), "totalCycleTime": (ret - q0).astype(np.int64),
        "loadWeight": load, "targetWeight": capacity.astype(float),
        "loadEfficiency": np.round(100.0 * load / capacity, 2), "distance": distance,
        "fuelConsumed": np.round(fuel, 2), "status": status.astype(object),
        "weatherCondition": weather, "roadCondition": c["road_condition"].astype(object),
        "isDelayed": c["gap_min"] > 0, "delayMinutes": c["gap_min"].astype(np.int64),
        "delayReasonId": None, "createdAt": stamp["ret"], "updatedAt": stamp["ret"],
        "supervisorId": None, **points,
        "remarks": _remarks(status, weather, c["road_condition"], c["days_since_maintenance"], gt),
    })
    order = np.lexsort((frame["truckId"].to_numpy(), q0))
    frame = frame.iloc[order].reset_index(drop=True)
    local_day = ((q0[order] * 60 + LOCAL_UTC_OFFSET_HOURS * 3600) // DAY_S).astype("datetime64[D]")
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
    return iso_stamps(export_s + np.arange(n) * 0.003)


def maintenance_frame(state: MaintenanceState, fleet: WorkingFleet, t0: float, export_s: float,
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
        "id": new_ids(ids, n), "maintenanceNumber": [f"MNT-{i + 1:06d}" for i in range(n)],
        "truckId": [fleet.truck_id[j.unit] if j.kind == "truck" else None for j in jobs],
        "excavatorId": [fleet.exc_id[j.unit] if j.kind == "excavator" else None for j in jobs],
        "supportEquipmentId": None, "maintenanceType": types,
        "scheduledDate": np.where(np.array(types) == "PREVENTIVE", iso_stamps(start), None),
        "actualDate": iso_stamps(start), "completionDate": np.where(finished, iso_stamps(start + hours * 3600.0), None),
        "duration": pd.array(np.where(finished, hours, np.nan), dtype="Int64"),
        "cost": np.where(finished, cost, np.nan),
        "description": [f"Maintenance {m} {i + 1}" for i, m in enumerate(types)],
        "partsReplaced": np.where(finished, parts, None), "mechanicName": rng.choice(MECHANICS, size=n).astype(object),
        "status": np.where(finished, "COMPLETED", "IN_PROGRESS").astype(object),
        "downtimeHours": np.where(finished, hours, 0).astype(np.int64), "remarks": None,
        "createdAt": _stamps(n, export_s), "updatedAt": _stamps(n, export_s),
    })


def _unit_status(state: MaintenanceState, kind: str, n: int, t0: float,
                 export_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of ``kind``: last maintenance completed by the export (epoch s, NaN if none), down at export."""
    last, down = np.full(n, np.nan), np.zeros(n, dtype=bool)
    for job in state.jobs:
        if job.kind == kind:
            start, end = t0 + job.start, t0 + job.start + job.hours * 3600.0
            if end <= export_s:
                last[job.unit] = np.fmax(last[job.unit], end)
            down[job.unit] |= start <= export_s < end
    return last, down


def fresh_master_frames(fresh: GeneratedFleet, state: MaintenanceState, hauling: pd.DataFrame, t0: float,
                         export_s: float, rng: np.random.Generator, plan: FleetPlan) -> dict[str, pd.DataFrame]:
    """The four fleet tables of a generated fleet, with the state the simulation left them in."""
    t_last_s, t_down = _unit_status(state, "truck", len(fresh.trucks), t0, export_s)
    e_last_s, e_down = _unit_status(state, "excavator", len(fresh.excavators), t0, export_s)
    last_driver = hauling.groupby("truckId", sort=False)["operatorId"].last()

    def usage(purchase: np.ndarray) -> np.ndarray:
        years = np.clip((export_s - purchase) / DAY_S / 365.25, 0.0, None)
        return (years * plan.hours_per_year * spread(rng, plan.hour_meter_spread, len(purchase))).astype(np.int64)

    trucks = fresh.trucks
    hours = usage(fresh.fleet.truck_purchase_s)
    trucks_out = pd.DataFrame({
        **{c: trucks[c] for c in ("id", "code", "name", "brand", "model", "yearManufacture", "capacity",
                                  "fuelCapacity")},
        "status": np.where(t_down, "MAINTENANCE", "IDLE").astype(object),
        "lastMaintenance": iso_stamps(t_last_s),
        "nextMaintenance": iso_stamps(t_last_s + plan.preventive_interval_days["truck"] * DAY_S),
        "totalHours": hours, "totalDistance": (hours * plan.odometer_km_per_hour).astype(np.int64),
        "currentOperatorId": trucks["id"].map(last_driver).astype(object).where(lambda s: s.notna(), None),
        "currentLocation": np.where(t_down, "Workshop", "Pool").astype(object),
        "isActive": True, "purchaseDate": iso_stamps(fresh.fleet.truck_purchase_s), "retirementDate": None,
        "remarks": None, "createdAt": _stamps(len(trucks), export_s), "updatedAt": _stamps(len(trucks), export_s),
    })
    excs = fresh.excavators
    e_hours = usage(fresh.fleet.exc_purchase_s)
    excavators_out = pd.DataFrame({
        **{c: excs[c] for c in ("id", "code", "name", "brand", "model", "yearManufacture", "bucketCapacity")},
        "status": np.where(e_down, "MAINTENANCE", "ACTIVE").astype(object),
        "lastMaintenance": iso_stamps(e_last_s),
        "nextMaintenance": iso_stamps(e_last_s + plan.preventive_interval_days["excavator"] * DAY_S),
        "totalHours": e_hours, "currentLocation": [f"PIT-{i + 1:02d}" for i in range(len(excs))],
        "isActive": True, "purchaseDate": iso_stamps(fresh.fleet.exc_purchase_s), "retirementDate": None,
        "remarks": None, "createdAt": _stamps(len(excs), export_s), "updatedAt": _stamps(len(excs), export_s),
    })
    operators = fresh.operators.copy()
    operators["createdAt"] = operators["updatedAt"] = _stamps(len(operators), export_s)
    roads = fresh.roads.copy()
    graded = rng.random(len(roads)) < plan.graded_road_share
    roads["isActive"] = True
    graded_s = export_s - rng.integers(1, 60, size=len(roads)) * DAY_S
    roads["lastMaintenance"] = np.where(graded, iso_stamps(graded_s), None)
    roads["createdAt"] = roads["updatedAt"] = _stamps(len(roads), export_s)
    return {"trucks": trucks_out, "excavators": excavators_out, "operators": operators, "road_segments": roads}


def vessels_and_schedules(t0: float, period_end: float, rng: np.random.Generator, ids: np.random.Generator,
                           plan: FleetPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A handful of barges and bulk carriers and their loading calls around the period."""
    vessels = pd.DataFrame({"id": new_ids(ids, len(VESSELS)), "name": [v.name for v in VESSELS],
                            "type": [v.type for v in VESSELS],
                            "capacity": np.array([v.capacity_t for v in VESSELS], dtype=np.int64)})
    vessels["createdAt"] = iso_stamps(np.full(len(vessels), t0 - plan.vessel_listed_days_before * DAY_S))
    barges = [i for i, v in enumerate(VESSELS) if v.type == "BARGE"]
    carriers = [i for i, v in enumerate(VESSELS) if v.type != "BARGE"]
    calls = []
    eta = t0 + rng.uniform(0.0, plan.barge_call_every_days) * DAY_S
    while eta < period_end + plan.schedule_days_ahead * DAY_S:
        carrier = rng.random() < plan.bulk_carrier_call_share
        v = int(rng.choice(carriers if carrier else barges))
        ets = eta + rng.uniform(*VESSELS[v].loading_days) * DAY_S
        planned = float(np.floor(VESSELS[v].capacity_t * rng.uniform(*plan.planned_fill_range) / 100) * 100)
        status = "COMPLETED" if ets <= period_end else ("LOADING" if eta <= period_end else "SCHEDULED")
        actual = {"COMPLETED": planned * rng.uniform(*plan.loaded_vs_planned_range),
                  "LOADING": planned * (period_end - eta) / (ets - eta)}.get(status, np.nan)
        buyer = int(rng.integers(1, len(BUYERS))) if carrier else 0
        calls.append({"vesselId": vessels["id"][v], "loadingPort": LOADING_PORT, "destination": BUYERS[buyer][1],
                      "etaLoading": eta, "etsLoading": ets, "plannedQuantity": planned,
                      "actualQuantity": round(float(actual), 1), "buyer": BUYERS[buyer][0], "status": status,
                      "createdAt": eta - plan.schedule_notice_days * DAY_S})
        eta += plan.barge_call_every_days * spread(rng, plan.call_interval_spread, 1)[0] * DAY_S
    sched = pd.DataFrame(calls)
    sched.insert(0, "id", new_ids(ids, len(sched)))
    for col in ("etaLoading", "etsLoading", "createdAt"):
        sched[col] = iso_stamps(sched[col].to_numpy())
    return vessels, sched
