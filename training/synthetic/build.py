"""The sample mine's export built in memory: the fleet, its maintenance, the shifts simulated, the tables.

Pure: master tables and a seed in, frames out (``writer`` reads and writes the folder).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.ground_truth import GroundTruth
from training.schema import SHIFT_LENGTH_HOURS
from training.synthetic.events import Mine
from training.synthetic.fleet import FleetPlan, fleet_from_tables, fresh_fleet
from training.synthetic.formats import DAY_S, SHIFT_S, shift_names
from training.synthetic.maintenance import maintenance_from_logs, preventive_plan
from training.synthetic.tables import fresh_master_frames, hauling_frame, maintenance_frame, vessels_and_schedules


@dataclass(frozen=True)
class Export:
    """A generated export: the tables to write (in writing order) and the period they cover (epoch s)."""

    frames: dict[str, pd.DataFrame]
    t0: float
    period_end: float
    generated_fleet: bool


def build_export(master: dict[str, pd.DataFrame] | None, *, days: int, trucks: int, seed: int, export_s: float,
                 excavators: int | None = None, present: frozenset[str] = frozenset(),
                 gt: GroundTruth | None = None, plan: FleetPlan | None = None) -> Export:
    """The tables of ``days`` of haulage ending at the last whole shift before ``export_s``.

    ``master``: the folder's master tables (None: a fleet is generated and its four tables are part of
    the export); a maintenance log among them is used, not rewritten. ``present``: names of the tables
    already in the folder; vessels and sailing schedules among them are kept, not rewritten.
    """
    gt, plan = gt or GroundTruth(), plan or FleetPlan()
    fleet_rng, sim_rng, draw_rng, maint_rng, vessel_rng, id_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    n_exc = excavators or max(1, int(round(trucks / plan.trucks_per_excavator)))
    period_end = math.floor(export_s / SHIFT_S) * SHIFT_S  # the last whole shift ends here
    t0 = period_end - days * DAY_S

    fresh, fleet = working_fleet(master, trucks, n_exc, export_s, fleet_rng, plan)
    logs_exist = master is not None and "maintenance_logs" in master
    maintenance = (maintenance_from_logs(master["maintenance_logs"], fleet, t0) if logs_exist
                   else preventive_plan(fleet, t0, days * DAY_S, maint_rng, plan))

    shifts = shift_names(t0, days * 24 // SHIFT_LENGTH_HOURS)
    mine = Mine(fleet, t0, maintenance, sim_rng, gt, plan)
    weathers = mine.run(shifts)
    hauling = hauling_frame(mine.cycles, weathers, fleet, t0, shifts, draw_rng, id_rng, gt)

    out = export_frames(fresh, fleet, maintenance, hauling, t0=t0, export_s=export_s, period_end=period_end,
                        present=present, logs_exist=logs_exist, rngs=(maint_rng, vessel_rng, id_rng), plan=plan)
    return Export(out, t0, period_end, fresh is not None)


def working_fleet(master: dict[str, pd.DataFrame] | None, trucks: int, excavators: int, export_s: float,
                  rng: np.random.Generator, plan: FleetPlan):
    """(the generated fleet or None, the working fleet): a fleet is generated when the folder has no
    master tables, else ``trucks`` and ``excavators`` are picked from them."""
    if master is None:
        fresh = fresh_fleet(trucks, excavators, export_s, rng, plan)
        return fresh, fresh.fleet
    return None, fleet_from_tables(master, trucks, excavators, rng, plan)


def export_frames(fresh, fleet, maintenance, hauling: pd.DataFrame, *, t0: float, export_s: float,
                  period_end: float, present: frozenset[str], logs_exist: bool, rngs: tuple, plan: FleetPlan,
                  road_segments: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The export's tables around the hauling records (one-road and network mines alike): a generated
    fleet's master tables, ``road_segments`` when the mine brings its own, the maintenance log unless
    the folder has one, vessels and schedules the folder lacks. ``rngs``: (maintenance, vessels, ids)."""
    maint_rng, vessel_rng, id_rng = rngs
    out: dict[str, pd.DataFrame] = {}
    if fresh is not None:
        out.update(fresh_master_frames(fresh, maintenance, hauling, t0, export_s, maint_rng, plan))
    if road_segments is not None:
        out["road_segments"] = road_segments
    if not logs_exist:
        out["maintenance_logs"] = maintenance_frame(maintenance, fleet, t0, export_s, maint_rng, id_rng, plan)
    vessels, schedules = vessels_and_schedules(t0, period_end, vessel_rng, id_rng, plan)
    for name, frame in (("vessels", vessels), ("sailing_schedules", schedules)):
        if name not in present:
            out[name] = frame
    out["hauling_activities"] = hauling
    return out
