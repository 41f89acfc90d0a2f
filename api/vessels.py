"""Vessels and sailing schedules: the prototype's ``/add_vessel`` and ``/add_schedule`` on the CSVs.

Rows go to ``<data_dir>/vessels.csv`` and ``<data_dir>/sailing_schedules.csv`` in the fleet
database's export format (columns and types from ``training.schema.TABLES``; quoted header and
strings, bare numbers, empty = null, timestamps ``2025-11-09T23:02:38.194Z``), so the loader and
the dashboard read them as they read an export. Each row is one ``flock``'d append
(``api.store.append_csv``): concurrent requests, threads or processes, never tear or lose a row.

**Plausibility.** A vessel's capacity must lie in :data:`VESSEL_CAPACITY_RANGE_T` (coal barges to
the largest bulk carriers), its name must be new (compared ignoring case and repeated spaces),
and every text is one line of printable characters, 1 to :data:`MAX_TEXT_CHARS` long. A schedule
names a known vessel, plans more than 0 t and at most the vessel's capacity, and its loading
deadline comes after its arrival. Each failure is a 422 naming the field.

**Timestamps.** A timestamp with an offset (``Z``, ``+07:00``) is taken as given. A naive one
(``2025-11-10T08:00``, what a browser's datetime-local input sends) is mine local time, WIB =
UTC+7 (``MINE_UTC_OFFSET_HOURS``): the planner types the port's wall clock. Everything is written
in UTC.
"""
from __future__ import annotations

import csv
import io
import secrets
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator

from api.store import append_csv, read_csv_records
from training.schema import MINE_UTC_OFFSET_HOURS, TABLES, ColumnSpec, TableSpec

VESSELS: TableSpec = TABLES["vessels"]
SCHEDULES: TableSpec = TABLES["sailing_schedules"]

# The mine's local time is WIB (``training.schema.MINE_UTC_OFFSET_HOURS``); the fleet export agrees:
# purchase dates entered as local midnight are stored as 17:00Z the day before.
MINE_TZ = timezone(timedelta(hours=MINE_UTC_OFFSET_HOURS), "WIB")
#: Vessel type when the request gives none (the prototype's default).
DEFAULT_VESSEL_TYPE = "Bulk Carrier"
#: Status of a schedule when it is created (the fleet database's first schedule status).
NEW_SCHEDULE_STATUS = "SCHEDULED"
#: Longest text field accepted (characters); names and ports are short.
MAX_TEXT_CHARS = 200
#: Plausible cargo capacity of a vessel loading coal at the jetty, t. Low end: below the smallest
#: coal barges in use (180 ft, about 1,500 t; the sample mine's 300-ft barges carry 7,500-8,000 t).
#: High end: the largest bulk carriers afloat (Valemax class, about 400,000 t deadweight).
VESSEL_CAPACITY_RANGE_T: tuple[float, float] = (1_000.0, 400_000.0)
#: Ids are cuid-like: 'c', 8 base-36 digits of the millisecond clock, 16 random base-36 digits.
ID_LENGTH = 25
_ID_TIME_DIGITS = 8
_BASE36 = string.digits + string.ascii_lowercase


class FieldError(ValueError):
    """A request field that fails a check needing the data files (answered 422 naming ``field``)."""

    def __init__(self, field: str, message: str, value: Any = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.value = value


# --- formats ------------------------------------------------------------------------------------------

def new_id(now: datetime | None = None) -> str:
    """A new 25-character cuid-like id ('c' + lowercase base 36), time-ordered to the millisecond."""
    ms = int((now or datetime.now(timezone.utc)).timestamp() * 1000)
    clock = ""
    while ms:
        ms, digit = divmod(ms, 36)
        clock = _BASE36[digit] + clock
    clock = clock.rjust(_ID_TIME_DIGITS, "0")[-_ID_TIME_DIGITS:]
    tail = "".join(secrets.choice(_BASE36) for _ in range(ID_LENGTH - 1 - _ID_TIME_DIGITS))
    return "c" + clock + tail


def contract_timestamp(dt: datetime) -> str:
    """2025-11-09T23:02:38.194Z: UTC, milliseconds, Z (naive = mine local time)."""
    dt = as_utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}Z"


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; a naive ``dt`` is mine local time (UTC+``MINE_UTC_OFFSET_HOURS``)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=MINE_TZ)
    return dt.astimezone(timezone.utc)


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def format_field(col: ColumnSpec, value: Any) -> str:
    """One CSV field in the export format: '' for null, bare numbers/booleans, quoted text and times."""
    if value is None:
        return ""
    if col.dtype in ("int", "float"):
        return _number(value)
    if col.dtype == "bool":
        return "true" if value else "false"
    if col.dtype == "datetime":
        return _quoted(contract_timestamp(value) if isinstance(value, datetime) else str(value))
    return _quoted(str(value))


def header_line(spec: TableSpec) -> str:
    """The quoted header line of a new file of ``spec``."""
    return ",".join(_quoted(name) for name in spec.column_names)


def format_line(spec: TableSpec, record: dict[str, Any], file_columns: list[str]) -> str:
    """The record as one line in the column order of the file (columns the file lacks are an error)."""
    absent = [name for name in spec.column_names if name not in file_columns]
    if absent:
        raise ValueError(f"{spec.file} has no column(s) {absent} in its header: fix the file's header line")
    fields = [format_field(spec.column(name), record.get(name)) if name in record else "" for name in file_columns]
    return ",".join(fields) + "\n"


def _append(path: Path, spec: TableSpec, record: dict[str, Any]) -> None:
    append_csv(path, header_line(spec), lambda columns: format_line(spec, record, columns))


# --- request bodies -----------------------------------------------------------------------------------

def _printable(value: str) -> str:
    if any(ch in value for ch in "\r\n\t\x00") or not value.isprintable():
        raise ValueError("must be one line of printable text")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS),
                 AfterValidator(_printable)]
#: A timestamp as the dashboard sends it: ISO 8601 with or without offset (naive = mine time).
MineTime = Annotated[datetime, AfterValidator(as_utc)]


def _not_bool(value: Any) -> Any:
    """Refuse JSON true/false where a quantity is expected (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number of tonnes, not true/false")
    return value


#: Tonnes: a JSON number (or numeric text), never a boolean.
Tonnes = Annotated[float, BeforeValidator(_not_bool)]


def name_key(name: str) -> str:
    """A vessel name as compared for duplicates: case-folded, runs of whitespace as one space."""
    return " ".join(name.split()).casefold()


def _limits(col: ColumnSpec) -> dict[str, float]:
    """pydantic Field bounds of a numeric schema column."""
    out: dict[str, float] = {}
    if col.min is not None:
        out["gt" if col.min_exclusive else "ge"] = col.min
    if col.max is not None:
        out["le"] = col.max
    return out


class NewVessel(BaseModel):
    """Body of POST /add_vessel (the prototype's, unchanged)."""

    name: Text
    type: Text = DEFAULT_VESSEL_TYPE
    capacity: Tonnes = Field(..., description="Cargo capacity (t), from a coal barge to the largest bulk carrier",
                             ge=VESSEL_CAPACITY_RANGE_T[0], le=VESSEL_CAPACITY_RANGE_T[1])


class NewSchedule(BaseModel):
    """Body of POST /add_schedule (the prototype's; ``buyer`` may be omitted)."""

    vesselId: Text
    loadingPort: Text
    destination: Text
    etaLoading: MineTime = Field(..., description="Arrival at the loading port (ISO 8601; naive = WIB)")
    etsLoading: MineTime = Field(..., description="Loading deadline = departure (ISO 8601; naive = WIB)")
    plannedQuantity: Tonnes = Field(..., description="Tonnes to load (t), at most the vessel's capacity",
                                    **_limits(SCHEDULES.column("plannedQuantity")))
    buyer: Text | None = None

    @field_validator("etsLoading")
    @classmethod
    def _deadline_after_arrival(cls, ets: datetime, info: ValidationInfo) -> datetime:
        eta = info.data.get("etaLoading")
        if eta is not None and ets <= eta:
            raise ValueError(f"the loading deadline must be after etaLoading ({contract_timestamp(eta)})")
        return ets


class Created(BaseModel):
    """Answer of the add endpoints (the prototype's)."""

    status: str = "success"
    message: str
    id: str


# --- operations ---------------------------------------------------------------------------------------

def vessels_path(data_dir: Path) -> Path:
    return Path(data_dir) / VESSELS.file


def schedules_path(data_dir: Path) -> Path:
    return Path(data_dir) / SCHEDULES.file


def read_vessels(data_dir: Path) -> dict[str, dict[str, str]]:
    """The vessels of ``vessels.csv`` by id, as text ({} when the file is absent)."""
    return {row["id"]: row for row in read_csv_records(vessels_path(data_dir)) if row.get("id")}


def _names_in(path: Path) -> dict[str, str]:
    """name_key -> id of the vessels in ``path``, read without a lock (the caller holds the file's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return {name_key(row.get("name") or ""): row.get("id") or ""
            for row in csv.DictReader(io.StringIO(text, newline=""))}


def add_vessel(data_dir: Path, vessel: NewVessel, *, now: datetime | None = None) -> str:
    """Append a vessel to ``vessels.csv``; return its new id. FieldError("name") when the name is taken.

    The duplicate check runs under the file's exclusive lock, so two requests adding the same name
    at once cannot both succeed.
    """
    now = now or datetime.now(timezone.utc)
    record = {"id": new_id(now), "name": vessel.name, "type": vessel.type, "capacity": vessel.capacity,
              "createdAt": now}
    path = vessels_path(data_dir)

    def render(columns: list[str]) -> str:
        taken = _names_in(path).get(name_key(vessel.name))
        if taken is not None:
            raise FieldError("name", f"a vessel named {vessel.name!r} already exists (id {taken}) in {VESSELS.file}",
                             vessel.name)
        return format_line(VESSELS, record, columns)

    append_csv(path, header_line(VESSELS), render)
    return record["id"]


def add_schedule(data_dir: Path, schedule: NewSchedule, *, now: datetime | None = None) -> str:
    """Append a sailing schedule (status SCHEDULED); FieldError for an unknown vessel or an overload."""
    vessel = read_vessels(data_dir).get(schedule.vesselId)
    if vessel is None:
        raise FieldError("vesselId", f"unknown vessel {schedule.vesselId!r}: add it with POST /add_vessel first "
                         f"(not in {VESSELS.file})", schedule.vesselId)
    try:
        capacity = float(vessel.get("capacity") or "nan")
    except ValueError:
        capacity = float("nan")
    if schedule.plannedQuantity > capacity:  # False when the capacity is unknown (NaN)
        raise FieldError("plannedQuantity", f"{_number(schedule.plannedQuantity)} t is more than the capacity of "
                         f"vessel {schedule.vesselId} ({_number(capacity)} t)", schedule.plannedQuantity)
    now = now or datetime.now(timezone.utc)
    record = {
        "id": new_id(now), "vesselId": schedule.vesselId, "loadingPort": schedule.loadingPort,
        "destination": schedule.destination, "etaLoading": schedule.etaLoading, "etsLoading": schedule.etsLoading,
        "plannedQuantity": schedule.plannedQuantity, "actualQuantity": None, "buyer": schedule.buyer,
        "status": NEW_SCHEDULE_STATUS, "createdAt": now,
    }
    _append(schedules_path(data_dir), SCHEDULES, record)
    return record["id"]

