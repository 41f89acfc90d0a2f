"""``python -m simulator.backtest``: replay held-out shifts and check the simulator's 95% prediction intervals.

    python -m simulator.backtest [--data D] [--models M] [--logs L] [--replications N] [--max-shifts K]
                                 [--seed S] [--workers W] [--verdict production|both] [--shift-hours H]
                                 [--network FILE [--dispatch RULE]]

**What is replayed.** The held-out cycles are the champion's evaluation split (``training.train.split_by_time``
on the training frame: the latest ``SimulatorSettings.holdout_share`` of finished cycles). They are grouped into
*shift groups*: what one excavator's fleet did on one road in one shift (key: the shift's start on the
mine's clock, the shift, the excavator, the road). Each group is replayed through the engine's own
steps (context table -> ``pair_inputs`` -> ``model_params`` -> ``scenario_tasks``) with exactly its units
(the distinct trucks that worked it, each with the operator of most of its cycles, its excavator and
road), its shift, weather and road condition, for ``--replications`` replications.

**A haul network** (``--network FILE``: a strategies request's ``network`` section). The groups are then
whole shifts of the network: every cycle loaded at one of its points (the records' ``loadingPointId``,
matched to a point's id or node) in one shift. Each is replayed on the network model with exactly its
trucks and drivers, each point with the excavators that loaded there that shift (idle points left
out), under ``--dispatch`` (default ``fixed``; a dynamic rule needs the network), through the engine's
network steps (``network_plan``, ``network_params``, ``network_tasks``), every road segment in the
road condition the shift's records name (the master table's ``roadCondition`` is the survey at the
export). A file whose points match no record's ``loadingPointId`` is bad input naming that field.
A dynamic rule replayed on a mine whose trucks were dispatched fixed is a counterfactual (what the
rule would have given with the same trucks, loaders and conditions), not a calibration check.
``python -m training.synthetic --network`` writes a network sample mine and its ``network.json``.
Scored as below.

**Replay window.** ``SHIFT_LENGTH_HOURS`` minus the shift-start delay measured on the *training* split
(median time from a shift's start to its fleet's first cycle: pre-start checks, safety talk, travel;
20 min on the sample mine; a network's fleet is its whole line-up, ``training.site.lineup_groups``).
The simulator has no such allowance, so replaying the nominal 8 h would add ~4 % of production that
no fleet can haul; ``--shift-hours 8`` replays the nominal shift instead.

**Comparison.** Per group: production (t, the finished cycles' ``loadWeight``) and mean cycle time (min,
queue included: ``totalCycleTime``) against the simulated 95% *prediction* interval, the 2.5 and 97.5
percentiles of the replication values. Not a confidence interval of the mean: the actual shift is one
draw from the shift-to-shift distribution, so the question is whether it looks like one more
replication. The percentiles use :data:`QUANTILE_METHOD`, which makes the interval distribution-free
(see there); :data:`DEFAULT_REPLICATIONS` = 39 makes it exactly 95%.

**Verdict.** The share of groups whose production lies inside its interval (coverage) must be within
:data:`COVERAGE_BAND`; with ``--verdict both`` (default) the cycle-time coverage must be too. Also
reported: MAPE and bias of the simulated median, each coverage's exact binomial 95% interval, and all
of it per weather. Coverage moves in steps of 1/shifts: with fewer than 10 shifts no count lands in
the band, and a perfectly calibrated simulator passes it with 95% probability only from ~70 shifts on.

**Conditions the champion has not seen.** A shift whose weather or road condition was seen on fewer
than ``training.site.MIN_CONDITION_SHIFTS`` training shifts (``SiteCalibration.unseen_conditions``)
is replayed and reported apart (``outside_domain``), not in the verdict: there the models extrapolate
from other conditions (a storm never seen in training gets the delay odds of a shower), which the
API flags on every such request as well. Their coverage and bias are in the summary line and report.

Exit codes (``training.cli``): 0 coverage inside the band; 4 (``EXIT_DRIFT``, "backtest out of band")
outside it; 2 bad input (no champion, unreadable data, no hauling data, no whole held-out shift);
1 unexpected error. A one-line summary goes to stdout, the JSON report to
``--logs/backtest/<UTC time>.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from simulator.dispatch import DEFAULT_RULE, RULES
from simulator.engine import bundle_site, context_tables, model_params, pair_inputs, scenario_tasks
from simulator.executor import Executor, InlineExecutor, LocalPoolExecutor, ScenarioTask
from simulator.fleet import Selection, Unit
from simulator.inputs import load_champion_and_fleet
from simulator.model import Breakdowns, NoiseTables
from simulator.network_engine import network_params, network_plan, network_tasks
from simulator.request import NetworkBody
from simulator.scenario import Conditions, Grid, NetworkSpec, RequestSpec, SimulationParams, SpecError
from simulator.settings import SimulatorSettings, get_settings
from training.cli import (EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK, add_path_args, resolve_paths, setup_logging,
                          write_json_report)
from training.dataset import Export
from training.errors import BadInputError
from training.features import Fleet
from training.prepare import FINISHED_STATUSES, training_frame
from training.schema import MINE_UTC_OFFSET_HOURS, SHIFT_LENGTH_HOURS, shift_starts
from training.site import MIN_CONDITION_SHIFTS, lineup_groups
from training.train import split_by_time

#: Coverage a calibrated 95% prediction interval must reach over the held-out shifts (inclusive),
#: share. Below: the simulator is biased or overconfident; above 0.99: its intervals are too wide.
COVERAGE_BAND: tuple[float, float] = (0.90, 0.99)
#: Two-sided level of the per-shift prediction interval.
INTERVAL_LEVEL: float = 0.95
#: Quantile definition of the interval (Hyndman-Fan type 6, the k-th smallest of R values sits at
#: probability k/(R+1)): a new draw of the same distribution falls below the k-th smallest of R with
#: probability k/(R+1), whatever the distribution. At R = 39 the 2.5/97.5 percentiles are the min and
#: max, covering exactly 38/40 = 95%; with fewer replications they are still the min and max, covering
#: (R-1)/(R+1) (0.935 at R = 30).
QUANTILE_METHOD: str = "weibull"
#: Replications per shift group: the smallest count at which the interval is an exact 95% one.
DEFAULT_REPLICATIONS: int = 39
#: Fewest finished cycles a group needs to count as a shift's work (a whole 8-h shift of one excavator
#: runs ~20-100 cycles on the sample mine; fewer is a unit that joined for a few cycles).
MIN_SHIFT_CYCLES: int = 10
#: Latest first loading of a group after its shift's start, as a share of the shift: a fleet that
#: started later did not work the shift (its excavator was out at the start), share.
MAX_LATE_START_SHARE: float = 0.25
#: Cycle statuses of a cycle still running when the export was taken (its shift is not over).
IN_PROGRESS_STATUSES: tuple[str, ...] = ("PLANNED", "IN_QUEUE", "LOADING", "HAULING", "DUMPING", "RETURNING")
#: Metrics compared per group (``ReplicationResult`` field names; units in the names).
METRICS: tuple[str, ...] = ("production_t", "cycle_time_min")
#: ``--verdict`` choices: which metrics' coverage decides the exit code.
VERDICTS: dict[str, tuple[str, ...]] = {"production": ("production_t",), "both": METRICS}
#: Why a group is left out (report keys), in the order the rules are applied.
EXCLUSION_RULES: dict[str, str] = {
    "not_held_out": "part of its finished cycles are in the training split (the shift the holdout starts in)",
    "in_progress": "a cycle was still running when the export was taken (the shift was not over)",
    "no_road": "no road segment recorded",
    "no_conditions": "weather or road condition not recorded",
    "too_few_cycles": f"fewer than MIN_SHIFT_CYCLES={MIN_SHIFT_CYCLES} finished cycles",
    "late_start": f"first loading over MAX_LATE_START_SHARE={MAX_LATE_START_SHARE} of the shift after its start",
}
#: Loading point names quoted in the error of a network file that matches none of the records.
MAX_NAMES_SHOWN: int = 8
_SECONDS_PER_HOUR = 3600.0
_SECONDS_PER_MINUTE = 60.0


# --- shift groups -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShiftGroup:
    """What one excavator's fleet did in one held-out shift: its units, conditions and actual output."""

    key: str                       # "<local start>/<shift>/<excavator id>/<road id>"
    start: datetime                # shift start, UTC
    shift: str
    excavator_id: str
    road_id: str
    truck_ids: tuple[str, ...]     # distinct trucks that worked it, in order of their first cycle
    operator_ids: tuple[str, ...]  # per truck: the operator of most of its cycles
    weather: str
    road_condition: str
    cycles: int                    # finished cycles (status in FINISHED_STATUSES)
    other_cycles: int              # cancelled / incident cycles (not in the actual output)
    actual_production_t: float     # loadWeight summed over the finished cycles, t
    actual_cycle_time_min: float   # mean totalCycleTime of the finished cycles (queue included), min
    #: A haul-network group (``--network``): per loading point of the network, the excavators that
    #: loaded there in the shift (empty: the point was idle); () for a one-road group.
    point_excavators: tuple[tuple[str, ...], ...] = ()

    def actual(self, metric: str) -> float:
        return {"production_t": self.actual_production_t, "cycle_time_min": self.actual_cycle_time_min}[metric]


def _mode(values: pd.Series) -> Any:
    """Most frequent non-null value (ties: the first seen); None when all are null."""
    counts = values.dropna().value_counts(sort=False)
    return None if counts.empty else counts.idxmax()


def cycle_minutes(cycles: pd.DataFrame) -> pd.Series:
    """``totalCycleTime``, else the queue (or loading) start to return time difference, min."""
    total = pd.to_numeric(cycles["totalCycleTime"], errors="coerce").astype(float)
    begin = cycles["queueStartTime"].fillna(cycles["loadingStartTime"])
    return total.fillna((cycles["returnTime"] - begin).dt.total_seconds() / _SECONDS_PER_MINUTE)


def holdout_cycle_ids(export: Export, holdout_share: float) -> set[str]:
    """Ids of the held-out cycles: the training frame's time-ordered split (``split_by_time``)."""
    frame = training_frame(export)
    _, hold = split_by_time(frame["at"], holdout_share)
    return set(frame.loc[hold, "cycle_id"].astype(str))


def shift_groups(export: Export, held: set[str], *, shift_hours: float = SHIFT_LENGTH_HOURS,
                 utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> tuple[list[ShiftGroup], dict[str, int]]:
    """The whole held-out shift groups (by start, then key) and how many were left out per rule of
    :data:`EXCLUSION_RULES`. A group is held out when all its finished cycles are in ``held`` (the
    held-out cycle ids) or, having none, when it starts inside the holdout's time span."""
    c = export.hauling_activities.copy()
    c["_road"] = c["roadSegmentId"].astype(object).where(c["roadSegmentId"].notna(), "")
    excluded = dict.fromkeys(EXCLUSION_RULES, 0)
    groups = [ShiftGroup(key=f"{prefix}/{excavator}/{road}", excavator_id=str(excavator), road_id=str(road), **common)
              for (_, _, excavator, road), _, prefix, common
              in _kept_groups(c, held, ["excavatorId", "_road"], shift_hours, utc_offset_hours, excluded,
                              no_road=lambda key: key[3] == "")]
    return groups, excluded


def _kept_groups(c: pd.DataFrame, held: set[str], by: list[str], shift_hours: float, utc_offset_hours: float,
                 excluded: dict[str, int], *, no_road=lambda key: False):
    """The kept shift groups of cycles ``c`` (grouped by shift start, shift and ``by``; ``c`` gains the
    working columns): (group key, its cycles, its key prefix "<local start>/<shift>", the ShiftGroup
    fields every kind of group has). The groups :func:`_screen` leaves out are counted in ``excluded``."""
    c["_start"] = shift_starts(c["loadingStartTime"], c["shift"], utc_offset_hours)
    c["_finished"] = c["status"].isin(FINISHED_STATUSES)
    c["_held"] = c["id"].astype(str).isin(held)
    c = c.sort_values(["loadingStartTime", "id"], kind="stable")
    holdout_from = c.loc[c["_held"], "loadingStartTime"].min()
    for key, g in c.groupby(["_start", "shift", *by], sort=True):
        start, shift = key[0], key[1]
        rule, finished, weather, condition = _screen(g, start, holdout_from, shift_hours, no_road=no_road(key))
        if rule is not None:
            if rule:
                excluded[rule] += 1
            continue
        trucks = tuple(dict.fromkeys(g["truckId"].astype(str)))
        operators = tuple(str(_mode(g.loc[g["truckId"].astype(str) == t, "operatorId"])) for t in trucks)
        local = (start + pd.Timedelta(hours=utc_offset_hours)).strftime("%Y-%m-%dT%H:%M")
        yield key, g, f"{local}/{shift}", dict(
            start=start.to_pydatetime(), shift=str(shift), truck_ids=trucks, operator_ids=operators,
            weather=str(weather), road_condition=str(condition), cycles=int(len(finished)),
            other_cycles=int(len(g) - len(finished)),
            actual_production_t=float(finished["loadWeight"].astype(float).sum()),
            actual_cycle_time_min=float(cycle_minutes(finished).mean()))


def _screen(g: pd.DataFrame, start: pd.Timestamp, holdout_from: Any, shift_hours: float, *,
            no_road: bool) -> tuple[str | None, pd.DataFrame, str | None, str | None]:
    """(rule, finished cycles, weather, road condition) of one shift group. ``rule`` is the
    :data:`EXCLUSION_RULES` name that leaves the group out, "" when it is left out uncounted (wholly
    training data, or no finished cycle before the holdout), None when the group is kept."""
    finished = g[g["_finished"]]
    in_progress = g["status"].isin(IN_PROGRESS_STATUSES).any()
    if finished.empty:
        counted = pd.notna(holdout_from) and g["loadingStartTime"].min() >= holdout_from
        return ("in_progress" if in_progress else "too_few_cycles") if counted else "", finished, None, None
    if not finished["_held"].all():
        return ("not_held_out" if finished["_held"].any() else ""), finished, None, None
    weather, condition = _mode(g["weatherCondition"]), _mode(g["roadCondition"])
    late_s = (g["loadingStartTime"].min() - start).total_seconds()
    rule = ("in_progress" if in_progress else
            "no_road" if no_road else
            "no_conditions" if weather is None or condition is None else
            "too_few_cycles" if len(finished) < MIN_SHIFT_CYCLES else
            "late_start" if late_s > MAX_LATE_START_SHARE * shift_hours * _SECONDS_PER_HOUR else None)
    return rule, finished, weather, condition


def network_shift_groups(export: Export, held: set[str], network: NetworkSpec, *,
                         shift_hours: float = SHIFT_LENGTH_HOURS,
                         utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> tuple[list[ShiftGroup], dict[str, int]]:
    """The whole held-out shifts of a haul network: what every fleet loading at one of ``network``'s
    points (the records' ``loadingPointId``, matched to a point's id or node) did in one shift, by
    start; the exclusion rules of :func:`shift_groups` (but ``no_road``: the roads are the network's)."""
    c = export.hauling_activities
    if "loadingPointId" not in c.columns:
        raise BadInputError("hauling_activities.loadingPointId: column missing, the records name no loading points")
    names = {name: k for k, lp in enumerate(network.loading_points) for name in (lp.node, lp.id)}
    point = c["loadingPointId"].astype(object).map(names)
    c = c[point.notna()].copy()
    c["_point"] = point[point.notna()].astype(int)
    if c.empty:
        recorded = sorted(export.hauling_activities["loadingPointId"].dropna().astype(str).unique())
        seen = (f"the records name {', '.join(recorded[:MAX_NAMES_SHOWN])}"
                f"{' ...' if len(recorded) > MAX_NAMES_SHOWN else ''}" if recorded
                else "every record's loadingPointId is empty (a one-road export: `python -m training.synthetic "
                     "--network` writes a network sample)")
        raise BadInputError(f"hauling_activities.loadingPointId: no record loads at the network's loading points "
                            f"{sorted(names)} (matched by id or node); {seen}")
    excluded = dict.fromkeys(EXCLUSION_RULES, 0)
    groups = []
    for _, g, prefix, common in _kept_groups(c, held, [], shift_hours, utc_offset_hours, excluded):
        per_point = tuple(tuple(dict.fromkeys(g.loc[g["_point"] == k, "excavatorId"].astype(str)))
                          for k in range(len(network.loading_points)))
        groups.append(ShiftGroup(key=f"{prefix}/network", excavator_id=",".join(x for ids in per_point for x in ids),
                                 road_id="network", point_excavators=per_point, **common))
    return groups, excluded


def start_delay_hours(export: Export, held: set[str], utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> float:
    """Median time from a shift's start to its fleet's first cycle (queue, else loading start) over the
    training split's shift groups, h (0 without training cycles). Measured before the holdout, so the
    replay uses no held-out fact. A fleet is one excavator's, or a haul network's whole line-up for
    cycles that name their loading point (``training.site.lineup_groups``, as the site calibration's
    dispatch interval): the network simulator starts its line-up at 0."""
    c = export.hauling_activities
    c = c[~c["id"].astype(str).isin(held)]
    if c.empty:
        return 0.0
    start = shift_starts(c["loadingStartTime"], c["shift"], utc_offset_hours)
    first = c["queueStartTime"].fillna(c["loadingStartTime"])
    lineup = pd.Series(lineup_groups(c), index=c.index)
    delay = (first - start).dt.total_seconds().groupby([start, c["shift"], lineup]).min()
    return float(max(float(np.median(delay.to_numpy())), 0.0) / _SECONDS_PER_HOUR)


def sample_groups(groups: Sequence[ShiftGroup], max_shifts: int | None, seed: int) -> list[ShiftGroup]:
    """At most ``max_shifts`` groups drawn without replacement (deterministic by ``seed``), in order."""
    if max_shifts is None or max_shifts >= len(groups):
        return list(groups)
    keep = np.sort(np.random.default_rng(seed).choice(len(groups), size=max_shifts, replace=False))
    return [groups[i] for i in keep]


# --- replaying groups through the engine --------------------------------------------------------------

def _units(table: pd.DataFrame, ids: Sequence[str], size_column: str) -> tuple[Unit, ...]:
    """Units by id, named from the master table (blank names for an id it lacks)."""
    table_ids = table["id"].astype(str).to_numpy()

    def text(row: pd.Series | None, column: str) -> str:
        value = None if row is None else row.get(column)
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

    out = []
    for unit_id in ids:
        hits = np.flatnonzero(table_ids == unit_id)
        row = table.iloc[hits[0]] if hits.size else None
        size = pd.to_numeric(pd.Series([None if row is None else row.get(size_column)]), errors="coerce").iloc[0]
        out.append(Unit(id=unit_id, code=text(row, "code"), name=text(row, "name"),
                        location=text(row, "currentLocation"), size=float(size)))
    return tuple(out)


def group_seed(seed: int, key: str) -> int:
    """Root seed of a group's replications, from the run's seed and the group's key: a group draws the
    same numbers whichever other groups are sampled, and no two groups share streams."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return int(np.random.SeedSequence([seed, digest]).generate_state(1, dtype=np.uint32)[0])


def group_request(group: ShiftGroup, fleet: Fleet, simulation: SimulationParams) -> tuple[RequestSpec, Selection]:
    """The request an engine run of this group amounts to, and its selection: exactly the group's trucks
    (with their operators), its excavator and road, at its shift's start."""
    conditions = Conditions(weather=group.weather, road_condition=group.road_condition, shift=group.shift,
                            road_id=group.road_id, excavator_id=group.excavator_id, start=group.start)
    spec = RequestSpec(conditions=conditions, grid=Grid((len(group.truck_ids),), (1,)), simulation=simulation)
    selection = Selection(road=_units(fleet.road_segments, [group.road_id], "distance")[0],
                          excavators=_units(fleet.excavators, [group.excavator_id], "bucketCapacity"),
                          trucks=_units(fleet.trucks, group.truck_ids, "capacity"),
                          operator_ids=group.operator_ids, start=group.start)
    return spec, selection


def group_tasks(groups: Sequence[ShiftGroup], bundle: Any, fleet: Fleet, *, replications: int, seed: int,
                shift_hours: float, dump_bays: int | None = None) -> list[ScenarioTask]:
    """One scenario task per group, built by the engine's steps (``pair_inputs``, ``model_params``,
    ``scenario_tasks``) from the groups' context tables; each group has its own root seed."""
    noise, breakdowns = NoiseTables.from_bundle(bundle), Breakdowns.from_bundle(bundle)
    requests = [group_request(g, fleet, SimulationParams(duration_hours=shift_hours, replications=replications,
                                                         seed=group_seed(seed, g.key), dump_bays=dump_bays))
                for g in groups]
    tasks: list[ScenarioTask] = []
    for (spec, _), table in zip(requests, context_tables(requests, bundle, fleet)):
        full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, noise, breakdowns)
        tasks.extend(scenario_tasks(spec, full, model_params(spec, full, bundle_site(bundle))))
    return tasks


def roads_in_condition(fleet: Fleet, road_condition: str) -> Fleet:
    """The fleet with every road segment in ``road_condition``: a replayed shift's roads were in the
    condition its records name (the master table's ``roadCondition`` is the survey at the export, and
    the network engine predicts each leg in its segment's own condition)."""
    roads = fleet.road_segments.copy()
    roads["roadCondition"] = road_condition
    return replace(fleet, road_segments=roads)


def network_group_tasks(groups: Sequence[ShiftGroup], bundle: Any, fleet: Fleet, network: NetworkSpec,
                        dispatch: str, *, replications: int, seed: int, shift_hours: float) -> list[ScenarioTask]:
    """One task per haul-network group: the network with the loading points that worked that shift and
    their excavators, exactly the group's trucks and drivers, under ``dispatch``, through the engine's
    network steps (``network_plan``, ``network_params``, ``network_tasks``)."""
    site = bundle_site(bundle)
    tasks: list[ScenarioTask] = []
    for g in groups:
        kept = [(lp, ids) for lp, ids in zip(network.loading_points, g.point_excavators) if ids]
        shift_fleet = roads_in_condition(fleet, g.road_condition)
        spec = RequestSpec(
            conditions=Conditions(weather=g.weather, road_condition=g.road_condition, shift=g.shift, start=g.start),
            grid=Grid((len(g.truck_ids),), (sum(len(ids) for _, ids in kept),), (dispatch,)),
            simulation=SimulationParams(duration_hours=shift_hours, replications=replications,
                                        seed=group_seed(seed, g.key)),
            network=replace(network, loading_points=tuple(replace(lp, excavators=len(ids)) for lp, ids in kept),
                            excavator_ids=tuple(ids for _, ids in kept)))
        plan = network_plan(spec, shift_fleet, bundle, g.start, site,
                            trucks=_units(fleet.trucks, g.truck_ids, "capacity"), operator_ids=g.operator_ids)
        tasks.extend(network_tasks(spec, plan, network_params(spec, plan.full, site)))
    return tasks


# --- scoring -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A simulated prediction interval with its median, and the actual value (metric's unit)."""

    low: float
    median: float
    high: float
    actual: float

    @property
    def inside(self) -> bool:
        return bool(self.low <= self.actual <= self.high)

    @property
    def relative_error(self) -> float:
        """(median - actual) / actual (NaN when the actual is 0)."""
        return (self.median - self.actual) / self.actual if self.actual else math.nan


def prediction_interval(values: Sequence[float], actual: float, level: float = INTERVAL_LEVEL) -> Interval:
    """The (1-level)/2 and (1+level)/2 quantiles (:data:`QUANTILE_METHOD`) and the median of replication
    values; NaN values (a replication without a finished cycle has no cycle time) are left out."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, float(actual))
    low, median, high = np.quantile(x, [(1 - level) / 2, 0.5, (1 + level) / 2], method=QUANTILE_METHOD)
    return Interval(float(low), float(median), float(high), float(actual))


@dataclass(frozen=True)
class GroupOutcome:
    """One replayed group and its interval per metric."""

    group: ShiftGroup
    intervals: dict[str, Interval]
    unseen: tuple[str, ...] = ()  # why its conditions are outside the champion's training evidence


@dataclass(frozen=True)
class MetricSummary:
    """Coverage, MAPE and bias of one metric over replayed groups (shares unless a unit is named)."""

    metric: str
    shifts: int
    coverage: float                # share of groups whose actual value is inside the interval
    coverage_ci: tuple[float, float]  # exact (Clopper-Pearson) 95% interval of that share
    inside: int
    below: int                     # actual below the interval (for production: simulator too optimistic)
    above: int
    mape: float                    # mean |median - actual| / actual
    bias: float                    # mean (median - actual) / actual (> 0: the simulator overestimates)
    mean_abs_error: float          # mean |median - actual|, metric's unit


def summarise_metric(metric: str, outcomes: Sequence[GroupOutcome]) -> MetricSummary:
    """Coverage and errors of ``metric`` over ``outcomes`` (NaN figures when there are none)."""
    iv = [o.intervals[metric] for o in outcomes]
    if not iv:
        return MetricSummary(metric, 0, math.nan, (math.nan, math.nan), 0, 0, 0, math.nan, math.nan, math.nan)
    rel = np.array([i.relative_error for i in iv], dtype=float)
    err = np.array([i.median - i.actual for i in iv], dtype=float)
    inside = sum(i.inside for i in iv)
    ci = binomtest(inside, len(iv)).proportion_ci(confidence_level=INTERVAL_LEVEL, method="exact")
    return MetricSummary(
        metric=metric, shifts=len(iv), coverage=inside / len(iv), coverage_ci=(float(ci.low), float(ci.high)),
        inside=inside, below=sum(i.actual < i.low for i in iv), above=sum(i.actual > i.high for i in iv),
        mape=float(np.nanmean(np.abs(rel))), bias=float(np.nanmean(rel)),
        mean_abs_error=float(np.nanmean(np.abs(err))))


def in_band(coverage: float, band: tuple[float, float] = COVERAGE_BAND) -> bool:
    """Coverage within the band, both ends included (NaN is not)."""
    return bool(band[0] <= coverage <= band[1])


def _finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


@dataclass(frozen=True)
class BacktestReport:
    """A whole backtest: settings, per-metric summaries (overall and per weather), groups, verdict."""

    model_version: str
    replications: int
    seed: int
    shift_hours: float            # simulated hours per shift (the replay window)
    start_delay_hours: float      # measured shift-start delay on the training split
    holdout_share: float
    band: tuple[float, float]
    verdict_metrics: tuple[str, ...]
    groups_held_out: int          # whole held-out groups before sampling
    excluded: dict[str, int]
    outcomes: tuple[GroupOutcome, ...]  # the shifts the verdict is on
    seconds: float
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    #: Shifts whose weather or road condition the champion saw on fewer than MIN_CONDITION_SHIFTS
    #: training shifts: replayed and reported, not in the verdict (the models extrapolate there).
    outside_domain: tuple[GroupOutcome, ...] = ()
    network: tuple[str, ...] | None = None  # the haul network's loading points (None: one-road groups)
    dispatch: str = DEFAULT_RULE

    @property
    def shifts(self) -> int:
        return len(self.outcomes)

    @cached_property
    def summaries(self) -> dict[str, MetricSummary]:
        return {m: summarise_metric(m, self.outcomes) for m in METRICS}

    def by_weather(self) -> dict[str, dict[str, MetricSummary]]:
        """The summaries per weather of the day (where a miscalibration comes from)."""
        weathers = sorted({o.group.weather for o in self.outcomes})
        return {w: {m: summarise_metric(m, [o for o in self.outcomes if o.group.weather == w]) for m in METRICS}
                for w in weathers}

    @property
    def passed(self) -> bool:
        summaries = self.summaries
        return all(in_band(summaries[m].coverage, self.band) for m in self.verdict_metrics)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_DRIFT

    def summary_line(self) -> str:
        p, c = self.summaries["production_t"], self.summaries["cycle_time_min"]
        return (f"backtest {'inside' if self.passed else 'OUT OF'} band: {self.shifts} shifts, model "
                f"{self.model_version}, {self.replications} replications of {self.shift_hours:.2f} h; coverage "
                f"production {p.coverage:.1%}, cycle time {c.coverage:.1%} "
                f"(band {self.band[0]:.0%}-{self.band[1]:.0%} on {'+'.join(self.verdict_metrics)}); "
                f"MAPE {p.mape:.1%} / {c.mape:.1%}; "
                f"bias {p.bias:+.1%} / {c.bias:+.1%}" + self._outside_note())

    def _outside_note(self) -> str:
        if not self.outside_domain:
            return ""
        p = summarise_metric("production_t", self.outside_domain)
        conditions = sorted({f"{o.group.weather}/{o.group.road_condition}" for o in self.outside_domain})
        return (f"; {len(self.outside_domain)} more shift(s) in conditions the champion has barely seen "
                f"({', '.join(conditions)}) reported apart: production coverage {p.coverage:.0%}, "
                f"bias {p.bias:+.0%}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (plain types; non-finite numbers as null)."""
        return _finite({
            "created_at": self.created_at, "passed": self.passed, "exit_code": self.exit_code,
            "model_version": self.model_version, "shifts": self.shifts, "groups_held_out": self.groups_held_out,
            "network": None if self.network is None else list(self.network), "dispatch": self.dispatch,
            "excluded": self.excluded, "exclusion_rules": EXCLUSION_RULES, "min_shift_cycles": MIN_SHIFT_CYCLES,
            "replications": self.replications, "seed": self.seed, "shift_hours": self.shift_hours,
            "nominal_shift_hours": SHIFT_LENGTH_HOURS, "start_delay_hours": self.start_delay_hours,
            "holdout_share": self.holdout_share, "interval_level": INTERVAL_LEVEL,
            "quantile_method": QUANTILE_METHOD, "band": list(self.band),
            "verdict_metrics": list(self.verdict_metrics),
            "metrics": {m: asdict(s) for m, s in self.summaries.items()},
            "by_weather": {w: {m: asdict(s) for m, s in per.items()} for w, per in self.by_weather().items()},
            "seconds": round(self.seconds, 3),
            "groups": [_group_json(o) for o in self.outcomes],
            "outside_domain": {
                "rule": f"weather or road condition on fewer than {MIN_CONDITION_SHIFTS} training shifts",
                "shifts": len(self.outside_domain),
                "metrics": {m: asdict(summarise_metric(m, self.outside_domain)) for m in METRICS},
                "groups": [{**_group_json(o), "unseen": list(o.unseen)} for o in self.outside_domain],
            },
        })


def _group_json(o: GroupOutcome) -> dict[str, Any]:
    """One replayed group for the JSON report."""
    return {
        "key": o.group.key, "start": o.group.start.isoformat(), "shift": o.group.shift,
        "excavator_id": o.group.excavator_id, "road_id": o.group.road_id,
        "trucks": len(o.group.truck_ids), "truck_ids": list(o.group.truck_ids),
        "weather": o.group.weather, "road_condition": o.group.road_condition,
        "cycles": o.group.cycles, "other_cycles": o.group.other_cycles,
        **({"point_excavators": [list(ids) for ids in o.group.point_excavators]} if o.group.point_excavators else {}),
        **{m: {**asdict(i), "inside": i.inside} for m, i in o.intervals.items()},
    }


def run_backtest(export: Export, bundle: Any, executor: Executor, settings: SimulatorSettings, *,
                 replications: int = DEFAULT_REPLICATIONS, seed: int | None = None, max_shifts: int | None = None,
                 verdict_metrics: tuple[str, ...] = METRICS, band: tuple[float, float] = COVERAGE_BAND,
                 shift_hours: float | None = None, dump_bays: int | None = None,
                 network: NetworkSpec | None = None, dispatch: str = DEFAULT_RULE) -> BacktestReport:
    """Replay the whole held-out shift groups of ``export`` with ``bundle`` (``seed``: the settings' sim
    seed; ``shift_hours``: the nominal shift minus the measured start delay); with ``network``, whole
    shifts of the haul network under ``dispatch`` instead (:func:`network_shift_groups`). Raises
    BadInputError when there is no hauling data or no whole held-out shift."""
    started = time.perf_counter()
    if replications < 2:
        raise ValueError(f"replications must be >= 2 for an interval, got {replications}")
    if export.hauling_activities is None or export.hauling_activities.empty:
        raise BadInputError("no hauling_activities data: nothing to replay")
    seed = settings.sim_seed if seed is None else seed
    if dispatch not in RULES:
        raise BadInputError(f"unknown dispatch rule {dispatch!r}; known: {', '.join(RULES)}")
    if dispatch != DEFAULT_RULE and network is None:
        raise BadInputError(f"dispatch {dispatch!r} chooses between loading points: give a network")
    held = holdout_cycle_ids(export, settings.holdout_share)
    groups, excluded = (shift_groups(export, held) if network is None
                        else network_shift_groups(export, held, network))
    if not groups:
        left_out = ", ".join(f"{k}={v}" for k, v in excluded.items() if v) or "none"
        raise BadInputError(f"no whole held-out shift to replay (left out: {left_out})")
    delay = start_delay_hours(export, held)
    hours = SHIFT_LENGTH_HOURS - delay if shift_hours is None else shift_hours
    chosen = sample_groups(groups, max_shifts, seed)
    if network is None:
        tasks = group_tasks(chosen, bundle, Fleet.from_export(export), replications=replications, seed=seed,
                            shift_hours=hours, dump_bays=dump_bays)
    else:
        tasks = network_group_tasks(chosen, bundle, Fleet.from_export(export), network, dispatch,
                                    replications=replications, seed=seed, shift_hours=hours)
    per_task = executor.map_scenarios(tasks)
    site = bundle_site(bundle)
    outcomes = [GroupOutcome(g, {m: prediction_interval([getattr(r, m) for r in results], g.actual(m))
                                 for m in METRICS},
                             tuple(site.unseen_conditions(g.weather, g.road_condition)) if site else ())
                for g, results in zip(chosen, per_task)]
    return BacktestReport(
        model_version=str(bundle.version), replications=replications, seed=seed, shift_hours=hours,
        start_delay_hours=delay, holdout_share=settings.holdout_share, band=band,
        verdict_metrics=tuple(verdict_metrics), groups_held_out=len(groups), excluded=excluded,
        outcomes=tuple(o for o in outcomes if not o.unseen), seconds=time.perf_counter() - started,
        outside_domain=tuple(o for o in outcomes if o.unseen),
        network=None if network is None else tuple(lp.id for lp in network.loading_points), dispatch=dispatch)


# --- command line --------------------------------------------------------------------------------------

def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _hours(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator.backtest", description=__doc__.splitlines()[0])
    add_path_args(parser)
    parser.add_argument("--replications", type=_positive, default=DEFAULT_REPLICATIONS,
                        help=f"replications per shift group (default {DEFAULT_REPLICATIONS}: the 2.5-97.5 "
                             "percentile range is then an exact 95%% prediction interval)")
    parser.add_argument("--max-shifts", type=_positive, default=None,
                        help="replay a sample of at most this many shift groups (drawn with --seed)")
    parser.add_argument("--seed", type=int, default=None, help="root seed (default: settings.sim_seed)")
    parser.add_argument("--workers", type=int, default=None,
                        help="simulator processes (default: settings.effective_workers; 0 or 1 = in-process)")
    parser.add_argument("--verdict", choices=tuple(VERDICTS), default="both",
                        help="metrics whose coverage decides the exit code (default: both)")
    parser.add_argument("--network", type=Path, default=None, metavar="FILE",
                        help="replay whole shifts of a haul network: a JSON file holding a strategies request's "
                             "'network' section (loading points matched to the records' loadingPointId)")
    parser.add_argument("--dispatch", choices=tuple(RULES), default=DEFAULT_RULE,
                        help="dispatch rule of the network replay (default fixed; dynamic rules need --network)")
    parser.add_argument("--shift-hours", type=_hours, default=None,
                        help=f"hours simulated per shift (default: {SHIFT_LENGTH_HOURS} minus the shift-start "
                             "delay measured on the training split)")
    return parser


def main(argv: list[str] | None = None, settings: SimulatorSettings | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or get_settings()
    setup_logging(settings.log_level)
    paths = resolve_paths(args, settings)

    network = None
    if args.network is not None:
        try:
            network = NetworkBody.model_validate(json.loads(args.network.read_text())).to_spec()
        except (OSError, ValueError) as exc:  # unreadable, not JSON, or not a network section (pydantic)
            print(f"backtest: bad network file {args.network}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.dispatch != DEFAULT_RULE and network is None:
        print(f"backtest: --dispatch {args.dispatch} chooses between loading points: give --network", file=sys.stderr)
        return EXIT_BAD_INPUT
    inputs = load_champion_and_fleet("backtest", paths, settings, full=True)
    if inputs is None:
        return EXIT_BAD_INPUT
    bundle, export = inputs.bundle, inputs.export
    workers = settings.effective_workers if args.workers is None else args.workers
    executor = InlineExecutor() if workers <= 1 else LocalPoolExecutor(workers, settings=settings)
    try:
        report = run_backtest(export, bundle, executor, settings, replications=args.replications, seed=args.seed,
                              max_shifts=args.max_shifts, verdict_metrics=VERDICTS[args.verdict],
                              shift_hours=args.shift_hours, network=network, dispatch=args.dispatch)
    except (BadInputError, SpecError) as exc:
        print(f"backtest: bad input in {paths.data}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        executor.close()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = write_json_report(paths.logs / "backtest" / f"{stamp}.json", report.to_dict())
    print(f"{report.summary_line()}; report {path}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
