"""Which units a scenario uses: pure selection from the fleet's master tables.

* road: ``target_road_id``, else the first active road segment by code;
* excavators: ``target_excavator_id`` first, then the other active excavators by code;
* trucks: active haul trucks (rated at least ``training.schema.MIN_HAUL_CAPACITY_T``; the export's
  light vehicle is left out) by code; a scenario with N trucks uses the first N, so every smaller
  scenario is a prefix of the largest one;
* operators: active operators of the request's shift by employee number, dealt round-robin to the
  trucks (all active operators when the shift has none);
* start: ``simulation_start_date``, else the shift's start today in the mine's local time;
* vessel: ``target_schedule_id``'s tonnes still to load (``plannedQuantity`` less the
  ``actualQuantity`` already loaded) and hours from the start to its ``etsLoading``. A
  schedule that is over (status in :data:`CLOSED_SCHEDULE_STATUSES`) or whose deadline is before the
  start is *closed*: reported, never charged demurrage or penalty (``VesselTarget.closed_reason``).

"Active" is the ``isActive`` flag; the ``status`` column is a snapshot of the export's moment (a unit
in MAINTENANCE then may well work the planned shift), so it is not used. Asking for more units than
the fleet holds, or for an unknown id, raises :class:`~simulator.scenario.SpecError` naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from simulator.economics import VesselTarget
from simulator.results import ScheduleClosure
from simulator.scenario import Conditions, SpecError
from training.features import Fleet
from training.schema import MIN_HAUL_CAPACITY_T, MINE_UTC_OFFSET_HOURS, SHIFT_START_HOUR
#: Operator status that may be rostered.
ACTIVE_OPERATOR_STATUS = "ACTIVE"
#: Sailing-schedule statuses of a call that is over (loaded and gone, or called off): nothing left
#: for the shift to load. The prototype's dashboard lists the open ones (SCHEDULED, ARRIVED,
#: LOADING, ANCHORAGE, STANDBY); an unknown status is treated as open.
CLOSED_SCHEDULE_STATUSES = frozenset({"COMPLETED", "DEPARTED", "SAILED", "CANCELLED"})
_TRUE_TEXT = frozenset({"true", "1", "yes"})


@dataclass(frozen=True)
class Unit:
    """One truck, excavator or road segment as the reports name it."""

    id: str
    code: str
    name: str
    location: str = ""
    size: float = float("nan")  # truck capacity t, bucket m3, road length km


@dataclass(frozen=True)
class Selection:
    """The units of the largest scenario; scenario (T, E) uses ``trucks[:T]`` and ``excavators[:E]``."""

    road: Unit
    excavators: tuple[Unit, ...]
    trucks: tuple[Unit, ...]
    operator_ids: tuple[str, ...]  # one per truck
    start: datetime  # UTC

    @property
    def loading_unit_label(self) -> str:
        """The prototype's ALAT_MUAT_TARGET: ``PIT-01 (Unit: Kobelco SK500-10-001)``."""
        first = self.excavators[0]
        return f"{first.location} (Unit: {first.name})" if first.location else first.name

    @property
    def road_label(self) -> str:
        """The prototype's JALUR_ANGKUT: ``Road Segment 1 (4.7 km)``."""
        return f"{self.road.name} ({self.road.size:.1f} km)"


def _active(frame: pd.DataFrame) -> pd.Series:
    flag = frame["isActive"]
    if pd.api.types.is_bool_dtype(flag):
        return flag.fillna(False).astype(bool)
    return flag.astype(str).str.strip().str.lower().isin(_TRUE_TEXT)


def _by_code(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("code", kind="stable")


def _text(value) -> str:
    """A cell as text ("" for a missing value)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _unit(row: pd.Series, size_column: str) -> Unit:
    size = pd.to_numeric(pd.Series([row.get(size_column)]), errors="coerce").iloc[0]
    return Unit(id=str(row["id"]), code=_text(row.get("code")), name=_text(row.get("name")),
                location=_text(row.get("currentLocation")), size=float(size))


def _find(frame: pd.DataFrame, unit_id: str, field: str, what: str) -> pd.Series:
    hit = frame[frame["id"].astype(str) == unit_id]
    if hit.empty:
        raise SpecError(field, f"unknown {what} id {unit_id!r}")
    return hit.iloc[0]


def shift_start(shift: str, now: datetime, utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> datetime:
    """Start (UTC) of ``shift`` on the mine's local calendar day of ``now``."""
    local = timezone(timedelta(hours=utc_offset_hours))
    day = now.astimezone(local).date()
    return datetime(day.year, day.month, day.day, SHIFT_START_HOUR[shift], tzinfo=local).astimezone(timezone.utc)


def select_road(fleet: Fleet, conditions: Conditions) -> Unit:
    """The requested road, else the first active road by code."""
    roads = fleet.road_segments
    if conditions.road_id is not None:
        return _unit(_find(roads, conditions.road_id, "fixed_conditions.target_road_id", "road segment"), "distance")
    active = _by_code(roads[_active(roads)])
    if active.empty:
        raise SpecError("fixed_conditions.target_road_id", "the fleet has no active road segment")
    return _unit(active.iloc[0], "distance")


def select_excavators(fleet: Fleet, conditions: Conditions, n: int) -> tuple[Unit, ...]:
    """The requested excavator first, then the other active ones by code."""
    table = fleet.excavators
    ordered = _by_code(table[_active(table)])
    if conditions.excavator_id is not None:
        first = _find(table, conditions.excavator_id, "fixed_conditions.target_excavator_id", "excavator")
        ordered = pd.concat([first.to_frame().T, ordered[ordered["id"].astype(str) != conditions.excavator_id]])
    if n > len(ordered):
        raise SpecError("decision_variables.jumlah_excavator",
                        f"{n} excavators asked for but the fleet has {len(ordered)} active ones")
    return tuple(_unit(row, "bucketCapacity") for _, row in ordered.head(n).iterrows())


def select_trucks(fleet: Fleet, n: int, min_capacity_t: float = MIN_HAUL_CAPACITY_T) -> tuple[Unit, ...]:
    """The first ``n`` active haul trucks by code (light vehicles below ``min_capacity_t`` left out)."""
    table = fleet.trucks
    capacity = pd.to_numeric(table["capacity"], errors="coerce")
    haul = _by_code(table[_active(table) & capacity.ge(min_capacity_t)])
    if n > len(haul):
        raise SpecError("decision_variables.alokasi_truk",
                        f"{n} trucks asked for but the fleet has {len(haul)} active haul trucks "
                        f"(rated >= {min_capacity_t:g} t)")
    return tuple(_unit(row, "capacity") for _, row in haul.head(n).iterrows())


def roster_operators(fleet: Fleet, shift: str, n: int) -> tuple[str, ...]:
    """Operator ids for ``n`` trucks: the shift's active operators by employee number, round-robin."""
    ops = fleet.operators
    active = ops[ops["status"].astype(str) == ACTIVE_OPERATOR_STATUS]
    on_shift = active[active["shift"].astype(str) == shift]
    pool = on_shift if not on_shift.empty else active
    if pool.empty:
        raise SpecError("fixed_conditions.shift", f"the fleet has no active operator to roster for {shift}")
    ids = pool.sort_values("employeeNumber", kind="stable")["id"].astype(str).tolist()
    return tuple(ids[i % len(ids)] for i in range(n))


def select_units(fleet: Fleet, conditions: Conditions, trucks: int, excavators: int, now: datetime) -> Selection:
    """Every unit the largest scenario of a request needs (``now`` places a start-less shift)."""
    return Selection(
        road=select_road(fleet, conditions),
        excavators=select_excavators(fleet, conditions, excavators),
        trucks=select_trucks(fleet, trucks),
        operator_ids=roster_operators(fleet, conditions.shift, trucks),
        start=conditions.start or shift_start(conditions.shift, now),
    )


def _closed(schedule_id: str, name: str, status: str, deadline: pd.Timestamp,
            start: datetime) -> tuple[str, ScheduleClosure | None]:
    """Why a schedule's deadline is not chargeable: an English sentence (the run's warnings) and the
    closure's codes and figures (None, "" when it is chargeable)."""
    local = timezone(timedelta(hours=MINE_UTC_OFFSET_HOURS))
    when = deadline.tz_convert(local).strftime("%Y-%m-%d %H:%M")
    begins = pd.Timestamp(start).tz_convert(local).strftime("%Y-%m-%d %H:%M")
    if status in CLOSED_SCHEDULE_STATUSES:
        return (f"sailing schedule {schedule_id} ({name}) is {status}: nothing left to load, so no demurrage "
                f"or late penalty is charged", ScheduleClosure("over", schedule_id, name, status, when, begins))
    if deadline <= pd.Timestamp(start):
        return (f"sailing schedule {schedule_id} ({name}) had its loading deadline {when} (UTC+"
                f"{MINE_UTC_OFFSET_HOURS:g}) before the shift starts ({begins}): the shift cannot meet or miss "
                f"it, so no demurrage or late penalty is charged",
                ScheduleClosure("deadline_passed", schedule_id, name, status, when, begins))
    return "", None


def vessel_target(schedule_id: str | None, start: datetime, sailing_schedules: pd.DataFrame | None,
                  vessels: pd.DataFrame | None) -> VesselTarget | None:
    """The vessel to load for ``target_schedule_id``: planned tonnes and hours from ``start`` to its
    loading deadline (``etsLoading``); closed when the call is over or the deadline precedes ``start``.
    None without an id; an id the export does not hold (or no schedules at all) is a SpecError."""
    field = "fixed_conditions.target_schedule_id"
    if schedule_id is None:
        return None
    if sailing_schedules is None or sailing_schedules.empty:
        raise SpecError(field, f"unknown sailing schedule id {schedule_id!r}: the data holds no sailing schedules "
                               "(add one with POST /add_schedule)")
    row = _find(sailing_schedules, schedule_id, field, "sailing schedule")
    deadline = pd.Timestamp(row["etsLoading"])
    deadline = deadline.tz_localize("UTC") if deadline.tzinfo is None else deadline.tz_convert("UTC")
    name = _text(row.get("vesselId"))
    if vessels is not None and not vessels.empty:
        hit = vessels[vessels["id"].astype(str) == name]
        if not hit.empty:
            name = _text(hit.iloc[0].get("name")) or name
    status = _text(row.get("status")).strip().upper()
    reason, closure = _closed(schedule_id, name, status, deadline, start)
    planned = float(row["plannedQuantity"])
    loaded = pd.to_numeric(pd.Series([row.get("actualQuantity")]), errors="coerce").iloc[0]
    if not reason and pd.notna(loaded) and loaded > 0:  # a call being loaded: only the rest is still to load
        planned = max(0.0, planned - float(loaded))
    return VesselTarget(planned_t=planned,
                        hours_available=(deadline - pd.Timestamp(start)).total_seconds() / 3600.0, name=name,
                        schedule_id=schedule_id, closed_reason=reason, closure=closure)
