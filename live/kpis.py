"""Shift KPIs of the live path: pure functions over the validated cycles (no Redis, no database).

A cycle belongs to the shift its ``shift`` column names that started last before its
``loadingStartTime`` on the mine's clock (``training.schema.shift_starts``, as the backtest and the
site calibration group cycles). A shift is keyed ``YYYY-MM-DD/SHIFT_n``, the mine-local date of
its start (SHIFT_3 of the night from 1 to 2 March is ``2025-03-01/SHIFT_3``).

Per site and shift the speed layer keeps running totals (``ShiftTotals``) and derives the KPIs:
tonnes hauled against plan, loads, mean cycle time, mean queue time at the loader, trucks working,
fuel per tonne. A load is a finished cycle (status COMPLETED or DELAYED); cancelled and incident
cycles count as cycles and their truck as working, but carry no tonnes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from training.schema import FINISHED_CYCLE_STATUSES, MINE_UTC_OFFSET_HOURS, SHIFTS, shift_starts

#: Separator of a shift key's date and shift name.
SHIFT_KEY_SEPARATOR = "/"


@dataclass(frozen=True)
class ShiftTotals:
    """Running sums of one site's shift; every KPI is derived from these."""

    cycles: int = 0
    loads: int = 0
    tonnes: float = 0.0
    cycle_min_sum: float = 0.0  # over loads
    queue_min_sum: float = 0.0  # over loads
    fuel_l: float = 0.0  # over loads with fuel recorded
    fuel_tonnes: float = 0.0  # tonnes of the loads with fuel recorded
    trucks: int = 0  # distinct trucks with a cycle in the shift


def shift_key(start_utc: pd.Timestamp | datetime, shift: str, utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> str:
    """``YYYY-MM-DD/SHIFT_n`` of a shift starting at ``start_utc``."""
    local = pd.Timestamp(start_utc).tz_convert(None) + pd.Timedelta(hours=utc_offset_hours)
    return f"{local:%Y-%m-%d}{SHIFT_KEY_SEPARATOR}{shift}"


def parse_shift_key(key: str, utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> tuple[datetime, str]:
    """(start in UTC, shift) of ``YYYY-MM-DD/SHIFT_n``; ValueError naming the problem otherwise."""
    from training.schema import SHIFT_START_HOUR

    day, sep, shift = key.partition(SHIFT_KEY_SEPARATOR)
    if not sep or shift not in SHIFTS:
        raise ValueError(f"shift {key!r} must look like 2025-03-01/SHIFT_1 (shifts: {', '.join(SHIFTS)})")
    try:
        date = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"shift {key!r}: {day!r} is not a date (YYYY-MM-DD)") from None
    local = date + timedelta(hours=SHIFT_START_HOUR[shift])
    return (local - timedelta(hours=utc_offset_hours)).replace(tzinfo=timezone.utc), shift


def current_shift_key(now: datetime, utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> str:
    """The key of the shift running at ``now`` (aware) on the mine's clock."""
    at = pd.Series([pd.Timestamp(now).tz_convert("UTC")] * len(SHIFTS))
    starts = shift_starts(at, pd.Series(SHIFTS), utc_offset_hours)
    i = int(np.argmax(starts.to_numpy()))
    return shift_key(starts.iloc[i], SHIFTS[i], utc_offset_hours)


def cycle_columns(cycles: pd.DataFrame, default_site: str,
                  utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> pd.DataFrame:
    """Per cycle what the KPIs need, from validated ``hauling_activities`` rows (typed, as the loader
    returns them): site, shift, shift_key, shift_start, truck_id, finished, load_weight_t,
    total_cycle_min, queue_min, fuel_l (NaN when not recorded)."""
    start = shift_starts(cycles["loadingStartTime"], cycles["shift"], utc_offset_hours)
    local_day = (start.dt.tz_convert(None) + pd.Timedelta(hours=utc_offset_hours)).dt.strftime("%Y-%m-%d")
    if "site" in cycles.columns:
        site = cycles["site"].where(cycles["site"].notna() & (cycles["site"] != ""), default_site)
    else:
        site = pd.Series(default_site, index=cycles.index)
    return pd.DataFrame({
        "site": site.astype(str),
        "shift": cycles["shift"].astype(str),
        "shift_key": local_day + SHIFT_KEY_SEPARATOR + cycles["shift"].astype(str),
        "shift_start": start,
        "truck_id": cycles["truckId"].astype(str),
        "finished": cycles["status"].isin(FINISHED_CYCLE_STATUSES).to_numpy(),
        "load_weight_t": cycles["loadWeight"].astype(float),
        "total_cycle_min": cycles["totalCycleTime"].astype(float),
        "queue_min": cycles["queueDuration"].astype(float),
        "fuel_l": cycles["fuelConsumed"].astype(float),
    }, index=cycles.index)


def totals_by_shift(columns: pd.DataFrame) -> dict[tuple[str, str], ShiftTotals]:
    """``ShiftTotals`` per (site, shift_key) of ``cycle_columns`` output (the batch computation)."""
    out: dict[tuple[str, str], ShiftTotals] = {}
    for (site, key), g in columns.groupby(["site", "shift_key"], sort=True):
        loads = g[g["finished"]]
        fuel = loads[loads["fuel_l"].notna()]
        out[(str(site), str(key))] = ShiftTotals(
            cycles=len(g), loads=len(loads), tonnes=float(loads["load_weight_t"].sum()),
            cycle_min_sum=float(loads["total_cycle_min"].sum()), queue_min_sum=float(loads["queue_min"].sum()),
            fuel_l=float(fuel["fuel_l"].sum()), fuel_tonnes=float(fuel["load_weight_t"].sum()),
            trucks=int(g["truck_id"].nunique()),
        )
    return out


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def kpis(totals: ShiftTotals, plan_tonnes: float | None) -> dict:
    """The shift's KPIs (JSON-ready; units in the names; None where undefined)."""
    plan = plan_tonnes if plan_tonnes and plan_tonnes > 0 else None
    attainment = _ratio(totals.tonnes * 100.0, plan) if plan else None
    return {
        "tonnes": totals.tonnes,
        "plan_tonnes": plan,
        "plan_attainment_pct": attainment,
        "loads": totals.loads,
        "cycles": totals.cycles,
        "mean_cycle_time_min": _ratio(totals.cycle_min_sum, totals.loads),
        "mean_queue_time_min": _ratio(totals.queue_min_sum, totals.loads),
        "trucks_working": totals.trucks,
        "fuel_l_per_tonne": _ratio(totals.fuel_l, totals.fuel_tonnes),
        "totals": asdict(totals),
    }
