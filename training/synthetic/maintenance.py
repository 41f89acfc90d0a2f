"""Maintenance of the sample mine: downtime intervals and completions, from a log or a preventive plan."""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.features import COMPLETED_MAINTENANCE
from training.synthetic.fleet import FleetPlan, WorkingFleet
from training.synthetic.formats import DAY_S, epoch_seconds


@dataclass
class MaintenanceJob:
    """One maintenance job (preventive or a breakdown repair), times in seconds from the period start."""

    kind: str  # 'truck' | 'excavator'
    unit: int
    maintenance_type: str  # 'PREVENTIVE' | 'CORRECTIVE'
    start: float
    hours: float


@dataclass
class MaintenanceState:
    """Per-unit downtime intervals and truck maintenance completions (s from the period start)."""

    truck_down: list[list[tuple[float, float]]]
    exc_down: list[list[tuple[float, float]]]
    truck_done: list[list[float]]
    jobs: list[MaintenanceJob]
    record: bool  # True: breakdown repairs are written to the logs (and so count as maintenance)

    @classmethod
    def empty(cls, fleet: WorkingFleet, record: bool) -> "MaintenanceState":
        return cls([[] for _ in fleet.truck_id], [[] for _ in fleet.exc_id], [[] for _ in fleet.truck_id], [], record)

    def add(self, job: MaintenanceJob) -> None:
        end = job.start + job.hours * 3600.0
        (self.truck_down if job.kind == "truck" else self.exc_down)[job.unit].append((job.start, end))
        if self.record:
            self.jobs.append(job)
            if job.kind == "truck":
                bisect.insort(self.truck_done[job.unit], end)


def maintenance_from_logs(logs: pd.DataFrame, fleet: WorkingFleet, t0: float) -> MaintenanceState:
    """Downtime and completions of the selected units from an existing maintenance log."""
    state = MaintenanceState.empty(fleet, record=False)
    done = logs[logs["status"].astype(str) == COMPLETED_MAINTENANCE]
    actual = epoch_seconds(done["actualDate"]) - t0
    completion = epoch_seconds(done["completionDate"]) - t0
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


def preventive_plan(fleet: WorkingFleet, t0: float, period_s: float, rng: np.random.Generator,
                     plan: FleetPlan) -> MaintenanceState:
    """Preventive services every interval (staggered per unit) from one interval before the period."""
    state = MaintenanceState.empty(fleet, record=True)
    first_day_start = math.floor(t0 / DAY_S) * DAY_S - t0  # a SHIFT_1 start (00:00Z)
    for kind, n in (("truck", len(fleet.truck_id)), ("excavator", len(fleet.exc_id))):
        interval = plan.preventive_interval_days[kind]
        offsets = rng.integers(0, int(interval), size=n)
        for unit in range(n):
            day = float(offsets[unit]) - interval
            while day * DAY_S + first_day_start < period_s:
                state.add(MaintenanceJob(kind, unit, "PREVENTIVE", first_day_start + day * DAY_S,
                               plan.preventive_downtime_hours[kind]))
                day += interval
    return state
