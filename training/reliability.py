"""Breakdown model: MTBF and MTTR (hours) per equipment kind, fitted on the maintenance logs.

Failures are the CORRECTIVE maintenance records (not cancelled) of the units that worked in the
hauling data, inside the period the hauling data covers; exposure is the units' shift-hours in
that period. Truck failures also show in the hauling records: the fleet system cancels the cycle a
truck breaks down in (status in :data:`BREAKDOWN_STATUSES`, "unit to workshop"). The two records
come from different systems and either may miss events (a maintenance log kept on paper, a
cancellation never entered), so the larger of the two counts is used. With fewer than
``min_failures`` failures the estimate is not trusted and the named prior below is used instead
(``source`` says which, and the training report shows it). Repair times come only from the logs
(their ``downtimeHours``), else the prior.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from training.bundle import Reliability

#: Hauling-cycle statuses that mean the truck broke down during the cycle.
BREAKDOWN_STATUSES: tuple[str, ...] = ("CANCELLED",)


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


def _fit_kind(kind: str, unit_col: str, cycles: pd.DataFrame, logs: pd.DataFrame,
              prior_mtbf: float, prior_mttr: float, priors: ReliabilityPriors,
              cancelled: int = 0) -> Reliability:
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
    if n < priors.min_failures:
        return Reliability(prior_mtbf, prior_mttr, n, exposure_h,
                           f"prior: {n} failures < {priors.min_failures} in the data period")
    downtime = pd.to_numeric(failures["downtimeHours"], errors="coerce")
    downtime = downtime[downtime > 0]
    mttr = float(downtime.mean()) if len(downtime) >= priors.min_failures else prior_mttr
    counted = (f"{logged} corrective records" if logged >= cancelled
               else f"{cancelled} cycles cancelled by a breakdown ({logged} corrective records)")
    repairs = "MTTR from the logs" if len(downtime) >= priors.min_failures else "MTTR prior"
    return Reliability(exposure_h / n, mttr, n, exposure_h,
                       f"fitted: {counted} over {exposure_h:.0f} {kind} shift-hours; {repairs}")


def fit_reliability(cycles: pd.DataFrame, maintenance_logs: pd.DataFrame,
                    priors: ReliabilityPriors = ReliabilityPriors(),
                    breakdown_cycles: int = 0) -> dict[str, Reliability]:
    """MTBF/MTTR for ``truck`` and ``excavator`` from cycles (``at``, ids, shift), the logs and the number
    of hauling cycles cancelled by a truck breakdown in the same period (:data:`BREAKDOWN_STATUSES`)."""
    cycles = cycles.rename(columns={"truck_id": "truckId", "excavator_id": "excavatorId"})
    return {
        "truck": _fit_kind("truck", "truckId", cycles, maintenance_logs,
                           priors.truck_mtbf_hours, priors.truck_mttr_hours, priors, cancelled=breakdown_cycles),
        "excavator": _fit_kind("excavator", "excavatorId", cycles, maintenance_logs,
                               priors.excavator_mtbf_hours, priors.excavator_mttr_hours, priors),
    }
