"""Test data: consistent haul cycles referencing the reference export, written like the fleet DB does."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

#: Columns of ``hauling_activities.csv`` in the fleet database's export order (contract + carried ones).
HAULING_COLUMNS: tuple[str, ...] = (
    "id", "activityNumber", "truckId", "excavatorId", "operatorId", "supervisorId", "loadingPointId",
    "dumpingPointId", "roadSegmentId", "shift", "queueStartTime", "queueEndTime", "loadingStartTime",
    "loadingEndTime", "departureTime", "arrivalTime", "dumpingStartTime", "dumpingEndTime", "returnTime",
    "queueDuration", "loadingDuration", "haulingDuration", "dumpingDuration", "returnDuration",
    "totalCycleTime", "loadWeight", "targetWeight", "loadEfficiency", "distance", "fuelConsumed", "status",
    "weatherCondition", "roadCondition", "isDelayed", "delayMinutes", "delayReasonId", "remarks",
    "createdAt", "updatedAt",
)
#: Phase lengths of every generated cycle (min): queue, load, haul, dump, return.
PHASE_MIN = {"queue": 3, "loading": 5, "hauling": 12, "dumping": 2, "return": 10}
#: Share of the truck's rated capacity each generated cycle carries.
LOAD_SHARE = 0.9
#: Generated fuel burn: fixed part (L) plus per km of haul distance (L/km).
FUEL_FIXED_L, FUEL_PER_KM_L = 5.0, 2.5
#: Minutes between the starts of consecutive generated cycles.
START_SPACING_MIN = 7
START = datetime(2025, 10, 1, 7, 0, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    """The export's timestamp form: 2025-10-01T23:02:38.191Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=4)
def _fleet(reference_dir: str) -> tuple[list[dict[str, str]], list[str], list[str], list[dict[str, str]]]:
    ref = Path(reference_dir)
    trucks = [t for t in _read(ref / "trucks.csv") if float(t["capacity"]) >= 10]  # haul trucks only
    excavators = [e["id"] for e in _read(ref / "excavators.csv")]
    operators = [o["id"] for o in _read(ref / "operators.csv")]
    roads = _read(ref / "road_segments.csv")
    return trucks, excavators, operators, roads


def make_cycles(reference_dir: Path, n: int, *, start: datetime = START) -> list[dict[str, object]]:
    """``n`` COMPLETED, mutually consistent cycles (ids from the reference export), one dict per row."""
    trucks, excavators, operators, roads = _fleet(str(reference_dir))
    rows: list[dict[str, object]] = []
    for i in range(n):
        truck, road = trucks[i % len(trucks)], roads[i % len(roads)]
        t0 = start + timedelta(minutes=START_SPACING_MIN * i)
        marks = [t0]
        for minutes in PHASE_MIN.values():
            marks.append(marks[-1] + timedelta(minutes=minutes))
        queue_start, loading_start, loading_end, arrival, dumping_end, back = marks
        capacity, distance = float(truck["capacity"]), float(road["distance"])
        shift = "SHIFT_1" if 7 <= t0.hour < 15 else "SHIFT_2" if 15 <= t0.hour < 23 else "SHIFT_3"
        rows.append({
            "id": f"cyc{i:07d}", "activityNumber": f"HA-{i:07d}", "truckId": truck["id"],
            "excavatorId": excavators[i % len(excavators)], "operatorId": operators[i % len(operators)],
            "supervisorId": "sup-1", "loadingPointId": "lp-1", "dumpingPointId": "dp-1",
            "roadSegmentId": road["id"], "shift": shift,
            "queueStartTime": iso(queue_start), "queueEndTime": iso(loading_start),
            "loadingStartTime": iso(loading_start), "loadingEndTime": iso(loading_end),
            "departureTime": iso(loading_end), "arrivalTime": iso(arrival),
            "dumpingStartTime": iso(arrival), "dumpingEndTime": iso(dumping_end), "returnTime": iso(back),
            "queueDuration": PHASE_MIN["queue"], "loadingDuration": PHASE_MIN["loading"],
            "haulingDuration": PHASE_MIN["hauling"], "dumpingDuration": PHASE_MIN["dumping"],
            "returnDuration": PHASE_MIN["return"], "totalCycleTime": sum(PHASE_MIN.values()),
            "loadWeight": round(LOAD_SHARE * capacity, 1), "targetWeight": capacity,
            "loadEfficiency": LOAD_SHARE * 100, "distance": distance,
            "fuelConsumed": round(FUEL_FIXED_L + FUEL_PER_KM_L * distance, 2), "status": "COMPLETED",
            "weatherCondition": "CERAH", "roadCondition": road["roadCondition"], "isDelayed": False,
            "delayMinutes": 0, "delayReasonId": None, "remarks": None,
            "createdAt": iso(back), "updatedAt": iso(back),
        })
    return rows


def _field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace('"', '""') + '"'


def write_rows(path: Path, rows: list[dict[str, object]], columns: tuple[str, ...] | None = None) -> Path:
    """Write rows like the fleet DB export: quoted strings, bare numbers/booleans, empty = null."""
    columns = columns or tuple(rows[0])
    lines = [",".join(_field(c) for c in columns)]
    lines += [",".join(_field(row.get(c)) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_cycles(data_dir: Path, rows: list[dict[str, object]]) -> Path:
    """Write ``hauling_activities.csv`` into ``data_dir``."""
    return write_rows(Path(data_dir) / "hauling_activities.csv", rows, HAULING_COLUMNS)


def edit_field(path: Path, row: int, column: str, value: str) -> str:
    """Set ``column`` of data row ``row`` (1-based, header excluded) of a CSV; returns the old value."""
    with path.open(newline="", encoding="utf-8") as fh:
        records = list(csv.reader(fh))
    col = records[0].index(column)
    old = records[row][col]
    records[row][col] = value
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(records)
    return old


def field_of(path: Path, row: int, column: str) -> str:
    """The text of ``column`` in data row ``row`` (1-based) of a CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        records = list(csv.reader(fh))
    return records[row][records[0].index(column)]
