"""The fleet KPIs planners compare strategies with, one value per replication (CIs in ``replications``).

* ``match_factor`` = (trucks x mean loading minutes per load) / (loaders x mean truck cycle without
  waiting) (Douglas's match factor; 1 = balanced fleet, < 1 loaders wait, > 1 trucks queue);
* ``cost_per_t_idr`` = the strategy's cost (revenue - profit) / tonnes, IDR/t;
* ``t_per_truck_operating_hour`` = tonnes / truck operating hours (hours in a cycle: not idle at the
  end of the shift, not broken down), t/h;
* ``t_per_loader_operating_hour`` = tonnes / loader available hours (shift less the loaders'
  breakdown hours; a loader waiting for trucks is operating), t/h;
* ``loader_queue_hours`` and ``dump_queue_hours``: truck-hours waiting at loaders and at dumps;
  ``bunching_hours``: truck-hours lost behind slower trucks on single-lane roads;
* per destination ``production_t@<id>`` and, with a target, ``target_attainment@<id>`` (tonnes / target).

The one-road model does not split its queue or its downtime: with no dump queue (``dump_bays`` None or
a bay per truck) its whole queue is loader queue; otherwise the split is left out. Its loader downtime
is bounded above by the total downtime (trucks included), so the loader rate is then a lower bound.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from simulator.results import ReplicationResult

_MIN_PER_HOUR = 60.0
#: KPIs every summary carries.
KPI_METRICS: tuple[str, ...] = ("match_factor", "cost_per_t_idr", "t_per_truck_operating_hour",
                                "t_per_loader_operating_hour")
#: KPIs present when the model splits the queue (and, for bunching, has single-lane roads modelled).
QUEUE_SPLIT_METRICS: tuple[str, ...] = ("loader_queue_hours", "dump_queue_hours", "bunching_hours")


def _loading_hours(r: ReplicationResult) -> float:
    return r.loading_hours if r.loading_hours is not None else r.excavator_utilisation * r.excavators * r.shift_hours


def match_factor(r: ReplicationResult) -> float:
    """Trucks x loading time / (loaders x truck cycle without waiting); NaN without a load."""
    if not r.loads:
        return math.nan
    load_min = _loading_hours(r) * _MIN_PER_HOUR / r.loads
    waiting_min = (r.queue_hours + (r.bunching_hours or 0.0)) * _MIN_PER_HOUR / r.loads
    cycle_min = r.cycle_time_min - waiting_min
    if not cycle_min > 0:
        return math.nan
    return r.trucks * load_min / (r.excavators * cycle_min)


def truck_operating_hours(r: ReplicationResult) -> float:
    return r.truck_utilisation * r.trucks * r.shift_hours


def loader_available_hours(r: ReplicationResult) -> float:
    down = r.excavator_downtime_hours if r.excavator_downtime_hours is not None else r.downtime_hours
    return max(r.excavators * r.shift_hours - down, 0.0)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def queue_split(r: ReplicationResult) -> tuple[float, float] | None:
    """(loader, dump) queue hours when known."""
    if r.loader_queue_hours is not None and r.dump_queue_hours is not None:
        return r.loader_queue_hours, r.dump_queue_hours
    return None


def kpi_columns(results: Sequence[ReplicationResult], cost_idr: np.ndarray,
                no_dump_queue: bool | None = None) -> dict[str, np.ndarray]:
    """Every KPI of the module docstring, one value per replication (same order as ``results``).

    ``no_dump_queue``: the one-road model ran without a dump queue, so its queue is loader queue.
    """
    n = len(results)

    def col(values) -> np.ndarray:
        return np.fromiter(values, dtype=float, count=n)

    production = col(r.production_t for r in results)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost_per_t = np.where(production > 0, np.asarray(cost_idr, dtype=float) / np.where(production > 0, production, 1.0),
                              np.nan)
    out = {
        "match_factor": col(match_factor(r) for r in results),
        "cost_per_t_idr": cost_per_t,
        "t_per_truck_operating_hour": col(_ratio(r.production_t, truck_operating_hours(r)) for r in results),
        "t_per_loader_operating_hour": col(_ratio(r.production_t, loader_available_hours(r)) for r in results),
    }
    splits = [queue_split(r) for r in results]
    if all(s is not None for s in splits):
        out["loader_queue_hours"] = col(s[0] for s in splits)  # type: ignore[index]
        out["dump_queue_hours"] = col(s[1] for s in splits)  # type: ignore[index]
    elif no_dump_queue:
        out["loader_queue_hours"] = col(r.queue_hours for r in results)
        out["dump_queue_hours"] = np.zeros(n)
    if all(r.bunching_hours is not None for r in results):
        out["bunching_hours"] = col(r.bunching_hours for r in results)  # type: ignore[misc]
    first = results[0] if results else None
    if first is not None and first.destination_ids:
        for k, dest in enumerate(first.destination_ids):
            made = col(r.destination_production_t[k] for r in results)
            out[f"production_t@{dest}"] = made
            target = first.destination_targets_t[k] if k < len(first.destination_targets_t) else None
            if target:
                out[f"target_attainment@{dest}"] = made / float(target)
    return out
