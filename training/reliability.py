"""Breakdown model: MTBF and MTTR (hours) per equipment kind, fitted on the maintenance logs.

Failures are the CORRECTIVE maintenance records (not cancelled) of the units that worked in the
hauling data, inside the period the hauling data covers; exposure is the units' shift-hours in
that period. Truck failures also show in the hauling records: the fleet system cancels the cycle a
truck breaks down in (status in :data:`BREAKDOWN_STATUSES`, "unit to workshop"). The two records
come from different systems and either may miss events (a maintenance log kept on paper, a
cancellation never entered), so the larger of the two counts is used. With fewer than
``min_failures`` failures the estimate is not trusted and the named prior below is used instead
(``source`` says which, and the training report shows it). Repair times come only from the logs
(their ``downtimeHours``), else from the hauling records as below, else the prior.

The hauling records show out-of-service time the logs may miss:

* **Truck repairs**: the time from a breakdown-cancelled cycle's return to the truck's next arrival at
  an excavator (the repair, plus at most a shift change's start-up). Their mean is the MTTR and their
  quantiles the repair distribution the simulator resamples (``Reliability.repair_hours``).
* **Excavator outages**: an excavator whose fleet was idle (no truck of it in a cycle) for at least
  :data:`OUTAGE_MIN_IDLE_HOURS` before its next loading was out of service (a truck breakdown idles
  only that truck, and the gap after a cancelled cycle is not counted). Gaps overlapping a maintenance
  job logged for the excavator are that job (a logged repair is already counted, a preventive service
  is planned), so failures = corrective records + unlogged outages, and the outage lengths give the
  repair distribution when the logs hold too few repair times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.bundle import Reliability
from training.site import quantiles

#: Hauling-cycle statuses that mean the truck broke down during the cycle.
BREAKDOWN_STATUSES: tuple[str, ...] = ("CANCELLED",)
#: Idle time of an excavator's whole fleet that means the excavator was out of service: twice the
#: longest idle of a normal shift change (the start-up after the shift's start plus the last cycle that
#: no longer fit, up to ~0.75 h on the sample mine; 99.9 % of idle gaps there are under 0.6 h), h.
OUTAGE_MIN_IDLE_HOURS: float = 1.5
_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class ReliabilityPriors:
    """Fallbacks when the logs hold too few failures to estimate from (hours).

    Values are the order of magnitude reported for open-pit haul trucks and hydraulic excavators
    in fleet-availability studies (MTBF a few hundred hours, MTTR several hours); a mine with
    its own figures sets them here.
    """

    truck_mtbf_hours: float = 250.0
    truck_mttr_hours: float = 6.0
    excavator_mtbf_hours: float = 400.0
    excavator_mttr_hours: float = 8.0
    min_failures: int = 3
    shift_hours: float = 8.0


def _arrival(hauling: pd.DataFrame) -> pd.Series:
    """When a cycle's truck arrived at the excavator (queue start, else loading start)."""
    if "queueStartTime" in hauling:
        return hauling["queueStartTime"].fillna(hauling["loadingStartTime"])
    return hauling["loadingStartTime"]


def truck_repair_hours(hauling: pd.DataFrame) -> np.ndarray:
    """Per breakdown-cancelled cycle with a later cycle of the same truck: hours from its return to the
    truck's next arrival (see the module docstring)."""
    if hauling is None or hauling.empty or "returnTime" not in hauling:
        return np.array([])
    c = hauling.assign(_arrive=_arrival(hauling)).sort_values(["truckId", "_arrive"], kind="stable")
    following = c.groupby(c["truckId"].astype(str))["_arrive"].shift(-1)
    gap = (following - c["returnTime"]).dt.total_seconds() / _SECONDS_PER_HOUR
    gap = gap[c["status"].isin(BREAKDOWN_STATUSES) & gap.notna() & (gap > 0)]
    return gap.to_numpy(dtype=float)


def excavator_outages(hauling: pd.DataFrame, logs: pd.DataFrame | None,
                      min_idle_hours: float = OUTAGE_MIN_IDLE_HOURS) -> np.ndarray:
    """Hours of each unlogged excavator outage seen as an idle fleet (see the module docstring)."""
    if hauling is None or hauling.empty or "returnTime" not in hauling:
        return np.array([])
    c = hauling.assign(_arrive=_arrival(hauling)).sort_values(["excavatorId", "_arrive"], kind="stable")
    exc = c["excavatorId"].astype(str)
    busy_until = c["returnTime"].groupby(exc).cummax().groupby(exc).shift(1)
    # the cycle that ended last before the gap: a cancelled one means a truck broke down, not the excavator
    last_status = c["status"].where(c["returnTime"].eq(c["returnTime"].groupby(exc).cummax())).groupby(exc).ffill()
    idle = (c["_arrive"] - busy_until).dt.total_seconds() / _SECONDS_PER_HOUR
    out = pd.DataFrame({"exc": exc, "start": busy_until, "end": c["_arrive"], "hours": idle,
                        "after": last_status.groupby(exc).shift(1)})
    out = out[(out["hours"] >= min_idle_hours) & ~out["after"].isin(BREAKDOWN_STATUSES)]
    if logs is not None and not logs.empty and "excavatorId" in logs and len(out):
        start = pd.to_datetime(logs["actualDate"], utc=True, errors="coerce")
        end = pd.to_datetime(logs.get("completionDate"), utc=True, errors="coerce").fillna(start)
        jobs = pd.DataFrame({"exc": logs["excavatorId"].astype(str), "start": start, "end": end}).dropna()
        logged = np.zeros(len(out), dtype=bool)
        for k, (unit, a, b) in enumerate(zip(out["exc"], out["start"], out["end"])):
            j = jobs[jobs["exc"] == unit]
            logged[k] = bool(((j["start"] < b) & (j["end"] > a)).any())
        out = out[~logged]
    return out["hours"].to_numpy(dtype=float)


def _fit_kind(kind: str, unit_col: str, cycles: pd.DataFrame, logs: pd.DataFrame,
              prior_mtbf: float, prior_mttr: float, priors: ReliabilityPriors,
              cancelled: int = 0, observed_repairs: np.ndarray | None = None,
              observed_what: str = "cycles cancelled by a breakdown") -> Reliability:
    if cycles.empty:
        return Reliability(prior_mtbf, prior_mttr, 0, 0.0, "prior: no hauling data")
    start, end = cycles["at"].min(), cycles["at"].max()
    shift_day = cycles["at"].dt.floor("D").astype(str) + "|" + cycles["shift"].astype(str)
    unit_shifts = pd.DataFrame({"u": cycles[unit_col].astype(str), "s": shift_day}).drop_duplicates()
    exposure_h = float(len(unit_shifts) * priors.shift_hours)
    units = set(unit_shifts["u"])

    log_unit = logs[unit_col].astype(str) if unit_col in logs else pd.Series([], dtype=str)
    when = pd.to_datetime(logs["actualDate"], utc=True, errors="coerce")
    failures = logs[
        (logs["maintenanceType"].astype(str) == "CORRECTIVE")
        & (logs["status"].astype(str) != "CANCELLED")
        & log_unit.isin(units)
        & (when >= start) & (when <= end)
    ]
    logged = int(len(failures))
    n = max(logged, cancelled)
    observed = np.asarray(observed_repairs if observed_repairs is not None else [], dtype=float)
    downtime = pd.to_numeric(failures["downtimeHours"], errors="coerce")
    downtime = downtime[downtime > 0].to_numpy(dtype=float)
    if len(downtime) >= priors.min_failures:
        mttr, repair, repairs = float(downtime.mean()), quantiles(downtime), "MTTR from the logs"
    elif len(observed) >= priors.min_failures:
        mttr, repair = float(observed.mean()), quantiles(observed)
        repairs = f"MTTR from {len(observed)} repairs seen in the hauling records"
    else:
        mttr, repair, repairs = prior_mttr, [], "MTTR prior"
    if n < priors.min_failures:
        return Reliability(prior_mtbf, mttr, n, exposure_h,
                           f"prior: {n} failures < {priors.min_failures} in the data period; {repairs}",
                           repair_hours=tuple(repair))
    counted = (f"{logged} corrective records" if logged >= cancelled
               else f"{cancelled} {observed_what} ({logged} corrective records)")
    return Reliability(exposure_h / n, mttr, n, exposure_h,
                       f"fitted: {counted} over {exposure_h:.0f} {kind} shift-hours; {repairs}",
                       repair_hours=tuple(repair))


def fit_reliability(cycles: pd.DataFrame, maintenance_logs: pd.DataFrame,
                    priors: ReliabilityPriors = ReliabilityPriors(),
                    breakdown_cycles: int = 0, hauling: pd.DataFrame | None = None) -> dict[str, Reliability]:
    """MTBF/MTTR for ``truck`` and ``excavator`` from cycles (``at``, ids, shift), the logs, the number
    of hauling cycles cancelled by a truck breakdown in the same period (:data:`BREAKDOWN_STATUSES`) and
    the period's raw hauling records (``hauling``, every status: repairs and outages, module docstring)."""
    cycles = cycles.rename(columns={"truck_id": "truckId", "excavator_id": "excavatorId"})
    outages = excavator_outages(hauling, maintenance_logs)
    logged_exc = 0
    if maintenance_logs is not None and "excavatorId" in maintenance_logs and not cycles.empty:
        when = pd.to_datetime(maintenance_logs["actualDate"], utc=True, errors="coerce")
        logged_exc = int(((maintenance_logs["maintenanceType"].astype(str) == "CORRECTIVE")
                          & (maintenance_logs["status"].astype(str) != "CANCELLED")
                          & maintenance_logs["excavatorId"].astype(str).isin(set(cycles["excavatorId"].astype(str)))
                          & (when >= cycles["at"].min()) & (when <= cycles["at"].max())).sum())
    return {
        "truck": _fit_kind("truck", "truckId", cycles, maintenance_logs,
                           priors.truck_mtbf_hours, priors.truck_mttr_hours, priors, cancelled=breakdown_cycles,
                           observed_repairs=truck_repair_hours(hauling)),
        "excavator": _fit_kind("excavator", "excavatorId", cycles, maintenance_logs,
                               priors.excavator_mtbf_hours, priors.excavator_mttr_hours, priors,
                               cancelled=logged_exc + len(outages), observed_repairs=outages,
                               observed_what="outages: corrective records + idle-fleet gaps not in the logs"),
    }
