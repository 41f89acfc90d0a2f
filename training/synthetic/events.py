"""The event simulation of the sample mine: shifts, pits, FIFO queues at the excavators, breakdowns.

A small heap-based simulation, not SimPy: the simulator under test must not share an engine with the
data it is checked on. Pure: arrays and random generators in, cycle records out."""
from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass

import numpy as np

from training.features import NO_MAINTENANCE_ON_RECORD_DAYS
from training.ground_truth import (
    CycleContext, GroundTruth, delay_logit, incident_probability, maintenance_delay_logit, phase_means_min,
    road_condition_today, road_wetness, sample_delay_min, sample_hours_to_failure, sample_incident_stop_min,
    sample_phase_durations, sample_repair_hours, sample_weather,
)
from training.synthetic.fleet import FleetPlan, WorkingFleet, age_years
from training.synthetic.formats import DAY_S, SHIFT_S
from training.synthetic.maintenance import MaintenanceJob, MaintenanceState


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
    return NO_MAINTENANCE_ON_RECORD_DAYS if i == 0 else (t - done[i - 1]) / DAY_S


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


class Mine:
    """The event simulation: shifts, pits, FIFO queues at the excavators, breakdowns."""

    #: Upper bound of cycles per truck and shift: every phase lasts >= 1 min, so a cycle >= 4 min.
    MAX_CYCLES = SHIFT_S // 240 + 1

    def __init__(self, fleet: WorkingFleet, t0: float, maintenance: MaintenanceState, rng: np.random.Generator,
                 gt: GroundTruth, plan: FleetPlan):
        self.fleet, self.t0, self.maintenance, self.rng, self.gt, self.plan = fleet, t0, maintenance, rng, gt, plan
        self.wear = {kind: self._new_wear(kind, purchase) for kind, purchase in (
            ("truck", fleet.truck_purchase_s), ("excavator", fleet.exc_purchase_s))}
        self.cycles: dict[str, list] = {f: [] for f in _CYCLE_FIELDS}
        self._seq = 0  # heap tie-breaker: equal times are served first come, first served

    def _new_wear(self, kind: str, purchase: np.ndarray) -> _Wear:
        ages = np.array([age_years(p, self.t0) for p in purchase])
        return _Wear([0.0] * len(ages), list(sample_hours_to_failure(ages, kind, self.rng, self.gt) * 3600.0))

    def _maybe_break(self, kind: str, unit: int, purchase: float, at: float) -> bool:
        """Break the unit down at ``at`` if its accrued operating time reached its time to failure."""
        wear = self.wear[kind]
        if wear.accrued[unit] < wear.to_failure[unit]:
            return False
        repair_hours = float(sample_repair_hours(kind, self.rng, self.gt))
        self.maintenance.add(MaintenanceJob(kind, unit, "CORRECTIVE", at, repair_hours))
        wear.accrued[unit] = 0.0
        age = age_years(purchase, self.t0 + at)
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

    def _crew(self, k: int, shift: str) -> tuple[float, float, float, np.ndarray, list[int]]:
        """A shift's start, end and ready second (after the shift preparation), its drivers in a random
        order and the trucks out of the workshop by its end (at most one per driver, in a random order);
        downtime that ended before the shift is forgotten. Excavators are the caller's (their layout)."""
        m, rng, fleet = self.maintenance, self.rng, self.fleet
        s0, s1 = k * SHIFT_S, (k + 1) * SHIFT_S
        ready = s0 + self.plan.shift_prep_min * 60.0
        for intervals in (*m.truck_down, *m.exc_down):
            if intervals and min(end for _, end in intervals) <= s0:
                intervals[:] = [iv for iv in intervals if iv[1] > s0]
        order = rng.permutation(len(fleet.truck_id))
        pool = fleet.operators_by_shift[shift]
        drivers = pool[rng.permutation(len(pool))]
        trucks = [int(i) for i in order if _free_at(m.truck_down[i], ready) < s1][: len(drivers)]
        return s0, s1, ready, drivers, trucks

    def _shift(self, k: int, shift: str, weather: str, wetness: int) -> None:
        fleet, gt, rng, m = self.fleet, self.gt, self.rng, self.maintenance
        s0, s1, ready, drivers, trucks = self._crew(k, shift)
        pits = [e for e in range(len(fleet.exc_id)) if _free_at(m.exc_down[e], ready) < s1]
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
