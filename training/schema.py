"""The input data contract: every table, column, type, unit, allowed value and plausibility bound.

The schema lives here once. ``training.dataset`` enforces it, and the README's schema table is
generated from it (``python -m training.schema`` prints that table; the README holds it between
``<!-- schema:start -->`` and ``<!-- schema:end -->``).

The master tables are the fleet database's camelCase CSV export (ISO-8601 timestamps, JSON in
``competency``/``partsReplaced``, quoted strings, empty field = null); ``hauling_activities.csv`` holds
one row per haul cycle; ``vessels.csv`` and ``sailing_schedules.csv`` are optional (ship deadlines).
Categorical values are accepted in the enum form (``HUJAN_RINGAN``) and the display form
(``'Hujan Ringan'``), case-insensitively, and normalised to the enum form.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pandas is imported where a function needs it: the schema table loads without it
    import pandas as pd

DType = Literal["str", "int", "float", "bool", "datetime", "json", "category"]
DTYPES: tuple[str, ...] = ("str", "int", "float", "bool", "datetime", "json", "category")

# --- canonical vocabularies (enum form, as the fleet database stores them) --------------------------

#: Weather conditions (fleet DB enum ``WeatherCondition``).
WEATHER: tuple[str, ...] = (
    "CERAH", "BERAWAN", "MENDUNG", "HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT", "BADAI", "KABUT",
)
#: Display form of each weather value, as the fleet database's UI and older exports write it.
WEATHER_DISPLAY: dict[str, str] = {
    "CERAH": "Cerah", "BERAWAN": "Berawan", "MENDUNG": "Mendung", "HUJAN_RINGAN": "Hujan Ringan",
    "HUJAN_SEDANG": "Hujan Sedang", "HUJAN_LEBAT": "Hujan Lebat", "BADAI": "Badai", "KABUT": "Kabut",
}
#: Road conditions; LICIN = slippery (issue contract).
ROAD_CONDITIONS: tuple[str, ...] = ("EXCELLENT", "GOOD", "FAIR", "POOR", "LICIN")
#: Shifts (fleet DB enum ``Shift``).
SHIFTS: tuple[str, ...] = ("SHIFT_1", "SHIFT_2", "SHIFT_3")
#: Local start hour of each shift (h): SHIFT_1 07-15, SHIFT_2 15-23, SHIFT_3 23-07.
SHIFT_START_HOUR: dict[str, int] = {"SHIFT_1": 7, "SHIFT_2": 15, "SHIFT_3": 23}
#: Length of every shift (h).
SHIFT_LENGTH_HOURS: int = 8
#: The mine's clock: WIB, UTC+7 (the offset of the reference request's ``simulation_start_date``).
#: Shift start hours are on this clock; the export's timestamps are UTC, h.
MINE_UTC_OFFSET_HOURS: float = 7.0
#: Haul-cycle statuses (fleet DB enum ``HaulingStatus``).
CYCLE_STATUSES: tuple[str, ...] = (
    "PLANNED", "IN_QUEUE", "LOADING", "HAULING", "DUMPING", "RETURNING",
    "COMPLETED", "DELAYED", "CANCELLED", "INCIDENT",
)
#: Cycle statuses whose every phase timestamp must be recorded.
FINISHED_CYCLE_STATUSES: tuple[str, ...] = ("COMPLETED", "DELAYED")
#: Truck statuses (fleet DB enum ``TruckStatus``).
TRUCK_STATUSES: tuple[str, ...] = (
    "IDLE", "HAULING", "LOADING", "DUMPING", "IN_QUEUE", "MAINTENANCE", "BREAKDOWN", "REFUELING",
    "STANDBY", "OUT_OF_SERVICE",
)
#: Excavator statuses (fleet DB enum ``ExcavatorStatus``).
EXCAVATOR_STATUSES: tuple[str, ...] = ("ACTIVE", "IDLE", "MAINTENANCE", "BREAKDOWN", "STANDBY", "OUT_OF_SERVICE")
#: Operator statuses (fleet DB enum ``OperatorStatus``).
OPERATOR_STATUSES: tuple[str, ...] = ("ACTIVE", "ON_LEAVE", "SICK", "RESIGNED", "SUSPENDED")
#: Operator licence types (fleet DB enum ``LicenseType``).
LICENSE_TYPES: tuple[str, ...] = ("SIM_A", "SIM_B1", "SIM_B2", "OPERATOR_ALAT_BERAT")
#: Maintenance types (fleet DB enum ``MaintenanceType``).
MAINTENANCE_TYPES: tuple[str, ...] = ("PREVENTIVE", "PREDICTIVE", "CORRECTIVE", "INSPECTION", "OVERHAUL")
#: Maintenance statuses (fleet DB enum ``MaintenanceStatus``; DELAYED is in the enum, not in the sample).
MAINTENANCE_STATUSES: tuple[str, ...] = ("SCHEDULED", "IN_PROGRESS", "COMPLETED", "CANCELLED", "DELAYED")

#: Trucks rated below this payload (t) are light vehicles, not haul trucks: the reference export's
#: Toyota Hilux is rated 2 t, its smallest haul truck 20 t. Used by ``training.dataset.is_haul_truck``.
MIN_HAUL_CAPACITY_T: float = 10.0


@dataclass(frozen=True)
class PlausibilityBounds:
    """Limits beyond which a recorded value is a recording error rather than a fact of the mine."""

    #: Largest haul-truck payload in service (BelAZ 75710 is rated 450 t), t.
    max_truck_capacity_t: float = 500.0
    #: Largest haul-truck fuel tank (Cat 797F: 7,571 L) with margin, L.
    max_fuel_tank_l: float = 10_000.0
    #: Oldest / newest credible model year of a machine still in the fleet, year.
    min_year_manufacture: int = 1950
    max_year_manufacture: int = 2100
    #: Hour meter ceiling: about 28 years around the clock, h.
    max_machine_hours: float = 250_000.0
    #: Odometer ceiling of a haul truck, km.
    max_odometer_km: float = 10_000_000.0
    #: Largest loading-tool bucket (rope shovels reach about 80 m3), m3.
    max_bucket_m3: float = 100.0
    #: Operator rating scale of the fleet database (1-5), points.
    min_rating: float = 1.0
    max_rating: float = 5.0
    #: Longest single road segment / haul distance of one cycle, km.
    max_distance_km: float = 50.0
    #: Fastest credible posted speed on a haul road, km/h.
    max_speed_kmh: float = 100.0
    #: Steepest credible haul-road grade either way (design ramps are 8-10 %), %.
    max_abs_gradient_pct: float = 25.0
    #: Longest maintenance job or downtime recorded on one log line (one year), h.
    max_maintenance_hours: float = 8_760.0
    #: Dearest single maintenance job (about USD 6 M), IDR.
    max_maintenance_cost_idr: float = 1e11
    #: Longest single phase of a haul cycle (queue, load, haul, dump, return): 12 h, min.
    max_phase_min: float = 720.0
    #: Longest whole haul cycle or delay: one day, min.
    max_cycle_min: float = 1_440.0
    #: Fuel one cycle can burn at most (a large truck burns about 200 L/h), L.
    max_fuel_per_cycle_l: float = 1_000.0
    #: A load above this multiple of the truck's rated capacity is a weighing/recording error
    #: (Caterpillar's 10/10/20 payload policy caps any single load at 1.2 x target), ratio.
    max_payload_factor: float = 1.5
    #: One cycle cannot burn more than this many full tanks (no refuelling inside a cycle), ratio.
    max_fuel_tanks_per_cycle: float = 1.0
    #: Load efficiency (load / target x 100) ceiling, %.
    max_load_efficiency_pct: float = 200.0
    #: Largest bulk carrier afloat (about 400,000 DWT) with margin, t.
    max_vessel_capacity_t: float = 500_000.0


#: The bounds the schema below is built with.
BOUNDS = PlausibilityBounds()


@dataclass(frozen=True)
class RefCap:
    """Upper bound relative to the referenced parent row: value <= factor x parent.column."""

    table: str
    column: str
    factor: float


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input file: type, unit, allowed values or range, presence and nullability."""

    name: str
    dtype: DType
    unit: str = ""
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False  # True: value must be > min (e.g. a distance)
    required: bool = True  # the column must be present in the file
    nullable: bool = False  # an empty field is accepted (null)
    unique: bool = False  # no two rows may share a value
    max_ref: RefCap | None = None  # cross-table upper bound (checked after the parent is loaded)
    description: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: dtype {self.dtype!r} not in {DTYPES}")
        if (self.dtype == "category") != (self.allowed is not None):
            raise ValueError(f"column {self.name}: 'allowed' is required for, and only for, categories")
        if (self.min is not None or self.max is not None) and self.dtype not in ("int", "float"):
            raise ValueError(f"column {self.name}: a range needs a numeric dtype")


@dataclass(frozen=True)
class Completeness:
    """Rows whose ``status_column`` is in ``statuses`` must have every one of ``columns`` set."""

    status_column: str
    statuses: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """One input file: its columns, key, foreign keys and row-level rules."""

    name: str
    file: str
    columns: tuple[ColumnSpec, ...]
    primary_key: str = "id"
    foreign_keys: dict[str, str] = field(default_factory=dict)  # column -> parent table (its id)
    required_file: bool = True
    ordered: tuple[str, ...] = ()  # timestamps that must not decrease, over the non-null ones
    exactly_one_of: tuple[str, ...] = ()  # exactly one of these columns must be set
    complete_when: Completeness | None = None
    description: str = ""

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name`` (KeyError if the table has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.file} has no column {name!r} in the schema")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


# --- column helpers ---------------------------------------------------------------------------------

def _id(name: str = "id", description: str = "Primary key (cuid)") -> ColumnSpec:
    return ColumnSpec(name, "str", unique=True, description=description)


def _ref(name: str, table: str, *, nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(name, "str", nullable=nullable, description=f"id of a row of {table}")


def _text(name: str, *, nullable: bool = False, unique: bool = False, required: bool = True,
          description: str = "") -> ColumnSpec:
    return ColumnSpec(name, "str", nullable=nullable, unique=unique, required=required, description=description)


def _ts(name: str, *, nullable: bool = False, description: str = "") -> ColumnSpec:
    return ColumnSpec(name, "datetime", unit="UTC", nullable=nullable, description=description)


def _cat(name: str, allowed: tuple[str, ...], *, nullable: bool = False, description: str = "") -> ColumnSpec:
    return ColumnSpec(name, "category", allowed=allowed, nullable=nullable, description=description)


def _stamps() -> tuple[ColumnSpec, ...]:
    return (_ts("createdAt", description="Row creation time"), _ts("updatedAt", description="Last update time"))


def _remarks() -> ColumnSpec:
    return _text("remarks", nullable=True, required=False, description="Free text")


_B = BOUNDS

_MACHINE_YEAR = ColumnSpec("yearManufacture", "int", unit="year", min=_B.min_year_manufacture,
                           max=_B.max_year_manufacture, nullable=True, description="Model year")

TRUCKS = TableSpec(
    name="trucks", file="trucks.csv", description="Haul trucks (and light vehicles) of the fleet",
    columns=(
        _id(),
        _text("code", unique=True, description="Fleet number, e.g. HD-0001"),
        _text("name"),
        _text("brand", nullable=True),
        _text("model", nullable=True),
        _MACHINE_YEAR,
        ColumnSpec("capacity", "float", unit="t", min=0, min_exclusive=True, max=_B.max_truck_capacity_t,
                   description="Rated payload; below MIN_HAUL_CAPACITY_T it is a light vehicle"),
        ColumnSpec("fuelCapacity", "float", unit="L", min=0, min_exclusive=True, max=_B.max_fuel_tank_l,
                   nullable=True, description="Fuel tank size"),
        _cat("status", TRUCK_STATUSES),
        _ts("lastMaintenance", nullable=True),
        _ts("nextMaintenance", nullable=True),
        ColumnSpec("totalHours", "int", unit="h", min=0, max=_B.max_machine_hours, description="Hour meter"),
        ColumnSpec("totalDistance", "float", unit="km", min=0, max=_B.max_odometer_km, description="Odometer"),
        _text("currentOperatorId", nullable=True, description="id of an operator (not checked)"),
        _text("currentLocation", nullable=True),
        ColumnSpec("isActive", "bool"),
        _ts("purchaseDate", nullable=True),
        _ts("retirementDate", nullable=True),
        _remarks(),
        *_stamps(),
    ),
)

EXCAVATORS = TableSpec(
    name="excavators", file="excavators.csv", description="Loading units",
    columns=(
        _id(),
        _text("code", unique=True, description="Fleet number, e.g. EXC-0001"),
        _text("name"),
        _text("brand", nullable=True),
        _text("model", nullable=True),
        _MACHINE_YEAR,
        ColumnSpec("bucketCapacity", "float", unit="m3", min=0, min_exclusive=True, max=_B.max_bucket_m3,
                   nullable=True, description="Bucket size"),
        _cat("status", EXCAVATOR_STATUSES),
        _ts("lastMaintenance", nullable=True),
        _ts("nextMaintenance", nullable=True),
        ColumnSpec("totalHours", "int", unit="h", min=0, max=_B.max_machine_hours, description="Hour meter"),
        _text("currentLocation", nullable=True),
        ColumnSpec("isActive", "bool"),
        _ts("purchaseDate", nullable=True),
        _ts("retirementDate", nullable=True),
        _remarks(),
        *_stamps(),
    ),
)

OPERATORS = TableSpec(
    name="operators", file="operators.csv", description="Truck and excavator operators",
    columns=(
        _id(),
        _text("userId", unique=True),
        _text("employeeNumber", unique=True),
        _text("licenseNumber", nullable=True),
        _cat("licenseType", LICENSE_TYPES),
        _ts("licenseExpiry", nullable=True),
        ColumnSpec("competency", "json", nullable=True,
                   description='e.g. {"dump_truck":true,"heavy_equipment":false,"years_experience":5}'),
        _cat("status", OPERATOR_STATUSES),
        _cat("shift", SHIFTS, nullable=True),
        ColumnSpec("totalHours", "int", unit="h", min=0, max=_B.max_machine_hours, description="Hours worked"),
        ColumnSpec("rating", "float", unit="points", min=_B.min_rating, max=_B.max_rating, nullable=True,
                   description="Performance rating"),
        _ts("joinDate"),
        _ts("resignDate", nullable=True),
        *_stamps(),
    ),
)

ROAD_SEGMENTS = TableSpec(
    name="road_segments", file="road_segments.csv", description="Haul road segments",
    columns=(
        _id(),
        _text("code", unique=True),
        _text("name"),
        _text("miningSiteId"),
        _text("startPoint"),
        _text("endPoint"),
        ColumnSpec("distance", "float", unit="km", min=0, min_exclusive=True, max=_B.max_distance_km,
                   description="Segment length"),
        _cat("roadCondition", ROAD_CONDITIONS),
        ColumnSpec("maxSpeed", "int", unit="km/h", min=0, min_exclusive=True, max=_B.max_speed_kmh,
                   description="Posted speed limit"),
        ColumnSpec("gradient", "float", unit="%", min=-_B.max_abs_gradient_pct, max=_B.max_abs_gradient_pct,
                   nullable=True, description="Grade, positive uphill from start to end"),
        ColumnSpec("isActive", "bool"),
        _ts("lastMaintenance", nullable=True),
        *_stamps(),
    ),
)

MAINTENANCE_LOGS = TableSpec(
    name="maintenance_logs", file="maintenance_logs.csv", description="Maintenance jobs of the fleet",
    foreign_keys={"truckId": "trucks", "excavatorId": "excavators"},
    exactly_one_of=("truckId", "excavatorId", "supportEquipmentId"),
    columns=(
        _id(),
        _text("maintenanceNumber", unique=True),
        _ref("truckId", "trucks", nullable=True),
        _ref("excavatorId", "excavators", nullable=True),
        _text("supportEquipmentId", nullable=True, description="id of support equipment (table not exported)"),
        _cat("maintenanceType", MAINTENANCE_TYPES),
        _ts("scheduledDate", nullable=True),
        _ts("actualDate"),
        _ts("completionDate", nullable=True),
        ColumnSpec("duration", "int", unit="h", min=0, max=_B.max_maintenance_hours, nullable=True),
        ColumnSpec("cost", "float", unit="IDR", min=0, max=_B.max_maintenance_cost_idr, nullable=True),
        _text("description"),
        ColumnSpec("partsReplaced", "json", nullable=True, description='e.g. {"parts":"Ban","quantity":4}'),
        _text("mechanicName", nullable=True),
        _cat("status", MAINTENANCE_STATUSES),
        ColumnSpec("downtimeHours", "float", unit="h", min=0, max=_B.max_maintenance_hours),
        _remarks(),
        *_stamps(),
    ),
)

#: Phase timestamps of a haul cycle, in the order they must happen.
CYCLE_TIMESTAMPS: tuple[str, ...] = (
    "queueStartTime", "queueEndTime", "loadingStartTime", "loadingEndTime", "departureTime",
    "arrivalTime", "dumpingStartTime", "dumpingEndTime", "returnTime",
)
#: Timestamps a finished (COMPLETED/DELAYED) cycle must have; a cycle may skip the queue.
FINISHED_CYCLE_TIMESTAMPS: tuple[str, ...] = CYCLE_TIMESTAMPS[2:]


def _phase(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(name, "int", unit="min", min=0, max=_B.max_phase_min, description=description)


HAULING_ACTIVITIES = TableSpec(
    name="hauling_activities", file="hauling_activities.csv", description="One row per haul cycle",
    foreign_keys={"truckId": "trucks", "excavatorId": "excavators", "operatorId": "operators",
                  "roadSegmentId": "road_segments"},
    ordered=CYCLE_TIMESTAMPS,
    complete_when=Completeness("status", FINISHED_CYCLE_STATUSES, FINISHED_CYCLE_TIMESTAMPS),
    columns=(
        _id(),
        _text("activityNumber", unique=True, description="e.g. HA-20250101-001"),
        _ref("truckId", "trucks"),
        _ref("excavatorId", "excavators"),
        _ref("operatorId", "operators"),
        _text("supervisorId", nullable=True, required=False, description="id of a user (carried)"),
        _text("loadingPointId", nullable=True, required=False, description="carried"),
        _text("dumpingPointId", nullable=True, required=False, description="carried"),
        _ref("roadSegmentId", "road_segments", nullable=True),
        _cat("shift", SHIFTS, description="SHIFT_1 07-15, SHIFT_2 15-23, SHIFT_3 23-07"),
        _ts("queueStartTime", nullable=True),
        _ts("queueEndTime", nullable=True),
        _ts("loadingStartTime"),
        _ts("loadingEndTime", nullable=True),
        _ts("departureTime", nullable=True),
        _ts("arrivalTime", nullable=True),
        _ts("dumpingStartTime", nullable=True),
        _ts("dumpingEndTime", nullable=True),
        _ts("returnTime", nullable=True),
        _phase("queueDuration", "Time queued at the loading unit"),
        _phase("loadingDuration", "Time being loaded"),
        _phase("haulingDuration", "Loaded travel time"),
        _phase("dumpingDuration", "Time dumping"),
        _phase("returnDuration", "Empty travel time"),
        ColumnSpec("totalCycleTime", "int", unit="min", min=0, max=_B.max_cycle_min, description="Whole cycle"),
        ColumnSpec("loadWeight", "float", unit="t", min=0, max=_B.max_truck_capacity_t,
                   max_ref=RefCap("trucks", "capacity", _B.max_payload_factor), description="Payload carried"),
        ColumnSpec("targetWeight", "float", unit="t", min=0, max=_B.max_truck_capacity_t, description="Target payload"),
        ColumnSpec("loadEfficiency", "float", unit="%", min=0, max=_B.max_load_efficiency_pct, nullable=True,
                   description="loadWeight / targetWeight x 100"),
        ColumnSpec("distance", "float", unit="km", min=0, min_exclusive=True, max=_B.max_distance_km,
                   description="Haul distance"),
        ColumnSpec("fuelConsumed", "float", unit="L", min=0, max=_B.max_fuel_per_cycle_l, nullable=True,
                   max_ref=RefCap("trucks", "fuelCapacity", _B.max_fuel_tanks_per_cycle),
                   description="Fuel burnt in the cycle"),
        _cat("status", CYCLE_STATUSES),
        _cat("weatherCondition", WEATHER, nullable=True, description="Display form accepted ('Hujan Ringan')"),
        _cat("roadCondition", ROAD_CONDITIONS),
        ColumnSpec("isDelayed", "bool"),
        ColumnSpec("delayMinutes", "int", unit="min", min=0, max=_B.max_cycle_min),
        _text("delayReasonId", nullable=True, description="id of a delay reason (table not exported)"),
        _remarks(),
        *_stamps(),
    ),
)

VESSELS = TableSpec(
    name="vessels", file="vessels.csv", required_file=False, description="Ships and barges loaded at the port",
    columns=(
        _id(),
        _text("name"),
        _text("type", description="Vessel type (vocabulary not fixed by the export)"),
        ColumnSpec("capacity", "float", unit="t", min=0, min_exclusive=True, max=_B.max_vessel_capacity_t),
        _ts("createdAt"),
    ),
)

SAILING_SCHEDULES = TableSpec(
    name="sailing_schedules", file="sailing_schedules.csv", required_file=False,
    description="Ship calls; etsLoading is the loading deadline",
    foreign_keys={"vesselId": "vessels"},
    ordered=("etaLoading", "etsLoading"),
    columns=(
        _id(),
        _ref("vesselId", "vessels"),
        _text("loadingPort"),
        _text("destination"),
        _ts("etaLoading", description="Expected arrival at the loading port"),
        _ts("etsLoading", description="Expected departure = loading deadline"),
        ColumnSpec("plannedQuantity", "float", unit="t", min=0, min_exclusive=True, max=_B.max_vessel_capacity_t),
        ColumnSpec("actualQuantity", "float", unit="t", min=0, max=_B.max_vessel_capacity_t, nullable=True),
        _text("buyer", nullable=True),
        _text("status", description="Schedule status (vocabulary not fixed by the export)"),
        _ts("createdAt"),
    ),
)

#: Every input table, parents before children (the loader validates them in this order).
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (TRUCKS, EXCAVATORS, OPERATORS, ROAD_SEGMENTS, MAINTENANCE_LOGS, VESSELS,
                        HAULING_ACTIVITIES, SAILING_SCHEDULES)
}
MASTER_TABLES: tuple[str, ...] = ("trucks", "excavators", "operators", "road_segments", "maintenance_logs")


def canonical_json(tables: dict[str, TableSpec] | None = None, bounds: PlausibilityBounds | None = None) -> str:
    """The schema as canonical JSON (sorted keys, no whitespace): what SCHEMA_HASH fingerprints."""
    payload = {
        "tables": [asdict(t) for t in (TABLES if tables is None else tables).values()],
        "bounds": asdict(BOUNDS if bounds is None else bounds),
        "min_haul_capacity_t": MIN_HAUL_CAPACITY_T,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def schema_hash(tables: dict[str, TableSpec] | None = None, bounds: PlausibilityBounds | None = None) -> str:
    """sha256 of ``canonical_json()``; changes whenever the contract changes."""
    return hashlib.sha256(canonical_json(tables, bounds).encode("utf-8")).hexdigest()


#: Fingerprint of the input contract (stable across runs and processes).
SCHEMA_HASH: str = schema_hash()


# --- categorical normalisation ------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-_]+")


def enum_key(value: str) -> str:
    """Upper-case, separators (spaces, hyphens, underscores) collapsed to one underscore."""
    return _SEPARATORS.sub("_", value.strip()).upper()


def normalise_category(value: object, allowed: tuple[str, ...], what: str = "value") -> str:
    """``value`` in enum form if it is one of ``allowed`` in any spelling, else ValueError."""
    if isinstance(value, str):
        key = enum_key(value)
        if key in allowed:
            return key
    raise ValueError(f"unknown {what} {value!r}; accepted: {', '.join(allowed)} "
                     "(any case; spaces, hyphens or underscores)")


def normalise_weather(value: object) -> str:
    """'Hujan Ringan', 'hujan_ringan', 'HUJAN RINGAN' -> 'HUJAN_RINGAN'; ValueError otherwise."""
    return normalise_category(value, WEATHER, "weather condition")


def normalise_road_condition(value: object) -> str:
    """'Licin', 'licin', 'LICIN' -> 'LICIN'; ValueError otherwise."""
    return normalise_category(value, ROAD_CONDITIONS, "road condition")


def normalise_shift(value: object) -> str:
    """'Shift 1', 'shift_1', 'SHIFT_1' -> 'SHIFT_1'; ValueError otherwise."""
    return normalise_category(value, SHIFTS, "shift")


# --- README table -------------------------------------------------------------------------------------

def _num(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:g}"


def _rules(table: TableSpec, col: ColumnSpec) -> str:
    parts: list[str] = []
    if col.allowed is not None:
        parts.append(", ".join(col.allowed))
    if col.min is not None:
        parts.append(f"{'>' if col.min_exclusive else '>='} {_num(col.min)}")
    if col.max is not None:
        parts.append(f"<= {_num(col.max)}")
    if col.max_ref is not None:
        parts.append(f"<= {_num(col.max_ref.factor)} x {col.max_ref.table}.{col.max_ref.column}")
    if col.dtype == "datetime":
        parts.append("ISO-8601")
    elif col.dtype == "bool":
        parts.append("true, false")
    elif col.dtype == "json":
        parts.append("JSON")
    if col.name in table.foreign_keys:
        parts.append(f"id in {table.foreign_keys[col.name]}")
    if col.unique:
        parts.append("unique")
    if col.name in table.ordered:
        i = table.ordered.index(col.name)
        if i > 0:
            earlier = " or any earlier set timestamp" if i > 1 else ""
            parts.append(f"not before {table.ordered[i - 1]}{earlier}")
    if table.complete_when is not None and col.name in table.complete_when.columns:
        parts.append(f"set when {table.complete_when.status_column} is "
                     f"{'/'.join(table.complete_when.statuses)}")
    if col.name in table.exactly_one_of:
        parts.append(f"exactly one of {'/'.join(table.exactly_one_of)} set")
    return "; ".join(parts)


def _required(col: ColumnSpec) -> str:
    if not col.required:
        return "no"
    return "yes, may be empty" if col.nullable else "yes"


def markdown_table() -> str:
    """The README's schema table: one row per column of every input file."""
    lines = [
        "| table | column | type | unit | allowed / range | required |",
        "|---|---|---|---|---|---|",
    ]
    for table in TABLES.values():
        label = table.name if table.required_file else f"{table.name} (optional file)"
        for col in table.columns:
            lines.append(f"| {label} | {col.name} | {col.dtype} | {col.unit} | {_rules(table, col)} | "
                         f"{_required(col)} |")
    return "\n".join(lines) + "\n"


def shift_starts(at: "pd.Series", shift: "pd.Series", utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> "pd.Series":
    """Start (UTC) of the shift each cycle belongs to: the latest start hour of its shift at or before
    ``at`` on the mine's clock (a SHIFT_3 cycle after midnight belongs to the previous evening)."""
    import pandas as pd

    offset = pd.Timedelta(hours=utc_offset_hours)
    local = pd.to_datetime(at, utc=True).dt.tz_convert(None) + offset
    start_hour = pd.to_timedelta(shift.map(SHIFT_START_HOUR).astype(float), unit="h")
    local_start = (local - start_hour).dt.floor("D") + start_hour
    return (local_start - offset).dt.tz_localize("UTC")


def main() -> int:
    """Print the README schema table."""
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
