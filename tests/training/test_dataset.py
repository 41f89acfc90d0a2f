"""The validating loader: the reference export loads whole; each kind of defect is reported exactly."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from tests.training._factories import (HAULING_COLUMNS, edit_field, field_of, make_cycles, write_cycles,
                                       write_rows)
from training.dataset import (DEFAULT_MAX_BAD_SHARE, Export, Problem, ValidationReport, is_haul_truck,
                              load_export, load_master)
from training.errors import BadInputError
from training.schema import BOUNDS, CYCLE_STATUSES, MIN_HAUL_CAPACITY_T, WEATHER
from training.settings import TrainingSettings

REFERENCE_COUNTS = {"trucks": 601, "excavators": 600, "operators": 480, "road_segments": 600,
                    "maintenance_logs": 600}
HILUX_ID = "cmhsc28fi00013n5pp3m69brt"
HAUL = "hauling_activities.csv"


def quarantine(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "quarantine"


def load(data: Path, tmp_path: Path, **kwargs) -> Export:
    return load_export(data, quarantine_dir=quarantine(tmp_path), **kwargs)


def quarantined_rows(tmp_path: Path, file: str) -> list[dict[str, str]]:
    with (quarantine(tmp_path) / file).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def cycles_with(data: Path, reference_export: Path, n: int, edits: dict[int, dict[str, object]]) -> list[dict]:
    """Write ``n`` valid cycles with ``edits`` {row number (1-based): {column: value}} applied."""
    rows = make_cycles(reference_export, n)
    for row, changes in edits.items():
        rows[row - 1].update(changes)
    write_cycles(data, rows)
    return rows


def assert_single_defect(export: Export, tmp_path: Path, file: str, table: str, expected: str, n_rows: int) -> None:
    """Exactly one problem, one quarantined row carrying it as its reason, the rest loaded."""
    assert [str(p) for p in export.report.problems] == [expected]
    assert export.report.rows_quarantined[table] == 1
    assert export.report.rows_read[table] == n_rows
    assert len(export.table(table)) == n_rows - 1
    q = quarantined_rows(tmp_path, file)
    assert len(q) == 1
    row = int(expected.split(" row ")[1].split(":")[0])
    assert q[0]["_row"] == str(row)
    assert q[0]["_reason"] == expected.split(": ", 1)[1]
    assert row not in export.table(table).index


# --- the reference export ---------------------------------------------------------------------------------

def test_reference_export_loads_whole_with_nothing_quarantined(reference_export: Path, tmp_path: Path) -> None:
    master = load_master(reference_export, quarantine_dir=quarantine(tmp_path))
    assert master.report.rows_read == REFERENCE_COUNTS
    assert master.report.rows_quarantined == dict.fromkeys(REFERENCE_COUNTS, 0)
    assert master.report.problems == []
    assert {name: len(master.table(name)) for name in REFERENCE_COUNTS} == REFERENCE_COUNTS
    assert master.hauling_activities is None and master.vessels is None and master.sailing_schedules is None
    assert not quarantine(tmp_path).exists()

    export = load_export(reference_export, require_activities=False)
    assert export.report.rows_read == REFERENCE_COUNTS
    assert export.report.total_quarantined == 0


def test_reference_export_values_are_typed(reference_export: Path) -> None:
    export = load_master(reference_export)
    trucks, operators, roads, logs = export.trucks, export.operators, export.road_segments, export.maintenance_logs
    assert str(trucks["createdAt"].dtype) == "datetime64[ns, UTC]"
    assert trucks.loc[1, "createdAt"] == pd.Timestamp("2025-11-09T23:02:37.028Z")
    assert trucks.loc[1, "capacity"] == 25.0 and bool(trucks.loc[1, "isActive"]) is True
    assert str(trucks["totalHours"].dtype) == "Int64"
    assert operators.loc[1, "competency"] == {"dump_truck": True, "heavy_equipment": False, "years_experience": 5}
    assert roads["gradient"].between(-5, 10).all() and roads["maxSpeed"].between(20, 49).all()
    assert logs.loc[1, "partsReplaced"] is None
    assert set(logs["maintenanceType"]) == {"PREVENTIVE", "PREDICTIVE", "CORRECTIVE", "INSPECTION", "OVERHAUL"}
    assert list(trucks.index[:3]) == [1, 2, 3] and trucks.index.name == "_row"


def test_light_vehicle_is_a_valid_row_told_apart_from_haul_trucks(reference_export: Path) -> None:
    export = load_master(reference_export)
    hilux = export.trucks[export.trucks["id"] == HILUX_ID]
    assert len(hilux) == 1 and hilux["capacity"].iloc[0] == 2.0
    assert hilux["purchaseDate"].isna().all() and hilux["currentLocation"].isna().all()
    flags = is_haul_truck(export.trucks)
    assert not flags[hilux.index[0]] and flags.sum() == 600
    assert HILUX_ID not in set(export.haul_trucks["id"]) and len(export.haul_trucks) == 600
    assert is_haul_truck(export.trucks, min_capacity_t=1.0).all()
    assert MIN_HAUL_CAPACITY_T > 2.0


def test_valid_cycles_all_load_typed_and_extra_columns_are_carried(tmp_data: Path, reference_export: Path,
                                                                   tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 300)
    for i, row in enumerate(rows):
        row["predictedDelayRisk"] = "Low" if i % 2 else None
    rows[10]["status"] = "HAULING"  # an unfinished cycle may lack its later timestamps
    for name in ("arrivalTime", "dumpingStartTime", "dumpingEndTime", "returnTime"):
        rows[10][name] = None
    rows[11]["queueStartTime"] = rows[11]["queueEndTime"] = None  # a cycle may skip the queue
    write_rows(tmp_data / HAUL, rows, HAULING_COLUMNS + ("predictedDelayRisk",))
    export = load(tmp_data, tmp_path)
    cycles = export.hauling_activities
    assert export.report.problems == [] and export.report.total_quarantined == 0
    assert len(cycles) == 300 and export.report.rows_read["hauling_activities"] == 300
    assert str(cycles["returnTime"].dtype) == "datetime64[ns, UTC]"
    assert str(cycles["totalCycleTime"].dtype) == "Int64" and cycles.loc[1, "totalCycleTime"] == 32
    assert cycles["isDelayed"].dtype == "boolean" and not cycles["isDelayed"].any()
    assert cycles.loc[2, "predictedDelayRisk"] == "Low" and cycles.loc[1, "predictedDelayRisk"] is None
    assert cycles.loc[1, "supervisorId"] == "sup-1"
    assert pd.isna(cycles.loc[11, "returnTime"]) and cycles.loc[11, "status"] == "HAULING"


def test_both_spellings_of_categories_are_normalised(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    spellings = [("Hujan Ringan", "Licin", "Shift 2"), ("HUJAN_RINGAN", "licin", "SHIFT_2"),
                 ("hujan ringan", "LICIN", "shift_2"), ("Cerah", "Fair", "SHIFT_1"), ("Hujan Lebat", "POOR", "Shift 3"),
                 ("Berawan", "good", "shift 1"), ("HUJAN_SEDANG", "Excellent", "SHIFT_3"), ("Kabut", "FAIR", "SHIFT_1")]
    edits = {i + 1: {"weatherCondition": w, "roadCondition": r, "shift": s} for i, (w, r, s) in enumerate(spellings)}
    cycles_with(tmp_data, reference_export, 20, edits)
    cycles = load(tmp_data, tmp_path).hauling_activities
    assert list(cycles["weatherCondition"][:8]) == ["HUJAN_RINGAN"] * 3 + [
        "CERAH", "HUJAN_LEBAT", "BERAWAN", "HUJAN_SEDANG", "KABUT"]
    assert list(cycles["roadCondition"][:8]) == ["LICIN"] * 3 + ["FAIR", "POOR", "GOOD", "EXCELLENT", "FAIR"]
    assert list(cycles["shift"][:8]) == ["SHIFT_2"] * 3 + ["SHIFT_1", "SHIFT_3", "SHIFT_1", "SHIFT_3", "SHIFT_1"]
    assert set(cycles["weatherCondition"]) <= set(WEATHER)


def test_booleans_accept_true_false_in_any_case_and_1_0(tmp_data: Path, reference_export: Path,
                                                         tmp_path: Path) -> None:
    spellings = {1: "True", 2: "FALSE", 3: "1", 4: "0", 5: "true"}
    edits = {row: {"isDelayed": value} for row, value in spellings.items()}
    rows = make_cycles(reference_export, 10)
    for row, changes in edits.items():
        rows[row - 1].update(changes)
    write_cycles(tmp_data, rows)
    # write_cycles quotes strings; the export writes booleans bare, so unquote them for realism
    path = tmp_data / HAUL
    path.write_text(path.read_text().replace('"True"', "True").replace('"FALSE"', "FALSE"))
    cycles = load(tmp_data, tmp_path).hauling_activities
    assert list(cycles["isDelayed"][:5]) == [True, False, True, False, True]


# --- one test per kind of defect ----------------------------------------------------------------------

def test_negative_value_is_reported_with_file_row_column_value_and_quarantined(
        tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    rows = cycles_with(tmp_data, reference_export, 1000, {812: {"loadWeight": -3}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         "hauling_activities.csv row 812: loadWeight=-3, must be >= 0", 1000)
    q = quarantined_rows(tmp_path, HAUL)[0]
    assert q["id"] == rows[811]["id"] and q["loadWeight"] == "-3"
    assert list(q)[: len(HAULING_COLUMNS)] == list(HAULING_COLUMNS) and list(q)[-2:] == ["_row", "_reason"]
    assert rows[811]["id"] not in set(export.hauling_activities["id"])


@pytest.mark.parametrize(("column", "value", "message"), [
    ("fuelConsumed", 5000, f"must be <= {BOUNDS.max_fuel_per_cycle_l:g}"),
    ("distance", 0, "must be > 0"),
    ("distance", 120, f"must be <= {BOUNDS.max_distance_km:g}"),
    ("loadingDuration", 2000, f"must be <= {BOUNDS.max_phase_min:g}"),
    ("delayMinutes", -5, "must be >= 0"),
    ("loadEfficiency", 900, f"must be <= {BOUNDS.max_load_efficiency_pct:g}"),
])
def test_physically_absurd_cycle_values_are_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path,
                                                         column: str, value: object, message: str) -> None:
    cycles_with(tmp_data, reference_export, 50, {7: {column: value}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 7: {column}={value}, {message}", 50)


def test_load_above_the_trucks_capacity_and_fuel_above_its_tank_are_quarantined(
        tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 50)
    capacity = float(rows[2]["targetWeight"])
    tank = float(field_of(reference_export / "trucks.csv", 4, "fuelCapacity"))  # row 4 = 4th haul truck
    assert rows[3]["truckId"] == field_of(reference_export / "trucks.csv", 4, "id")
    rows[2]["loadWeight"] = 2 * capacity
    rows[3]["fuelConsumed"] = tank + 1
    write_cycles(tmp_data, rows)
    export = load(tmp_data, tmp_path)
    factor = BOUNDS.max_payload_factor
    assert [str(p) for p in export.report.problems] == [
        f"hauling_activities.csv row 3: loadWeight={2 * capacity!r}, must be <= {factor:g} x trucks.capacity = "
        f"{factor * capacity:g} (capacity {capacity:g} t)",
        f"hauling_activities.csv row 4: fuelConsumed={tank + 1!r}, must be <= 1 x trucks.fuelCapacity = "
        f"{tank:g} (fuelCapacity {tank:g} L)",
    ]
    assert export.report.rows_quarantined["hauling_activities"] == 2
    assert [r["_row"] for r in quarantined_rows(tmp_path, HAUL)] == ["3", "4"]


def test_absurd_master_value_is_quarantined(tmp_data: Path, tmp_path: Path) -> None:
    edit_field(tmp_data / "road_segments.csv", 5, "gradient", "45")
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert_single_defect(export, tmp_path, "road_segments.csv", "road_segments",
                         f"road_segments.csv row 5: gradient=45, must be <= {BOUNDS.max_abs_gradient_pct:g}", 600)


def test_unknown_category_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {9: {"weatherCondition": "Salju"}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 9: weatherCondition=Salju, must be one of {', '.join(WEATHER)}",
                         30)


def test_unknown_cycle_status_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {2: {"status": "ONGOING"}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 2: status=ONGOING, must be one of {', '.join(CYCLE_STATUSES)}",
                         30)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("loadWeight", "abc", "must be a number"),
    ("delayMinutes", "2.5", "must be a whole number"),
    ("isDelayed", "yes", "must be true or false"),
    ("loadingEndTime", "yesterday", "must be an ISO-8601 timestamp"),
    ("fuelConsumed", "NaN", "must be a number"),
])
def test_wrong_type_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path,
                                   column: str, value: str, message: str) -> None:
    cycles_with(tmp_data, reference_export, 30, {4: {column: value}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 4: {column}={value}, {message}", 30)


def test_invalid_json_in_a_master_table_is_quarantined(tmp_data: Path, tmp_path: Path) -> None:
    edit_field(tmp_data / "operators.csv", 3, "competency", '{"dump_truck":true,')
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert_single_defect(export, tmp_path, "operators.csv", "operators",
                         'operators.csv row 3: competency={"dump_truck":true,, must be valid JSON', 480)


def test_empty_required_value_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {6: {"loadWeight": None}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         "hauling_activities.csv row 6: loadWeight=(empty), must not be empty", 30)


def test_duplicate_id_keeps_the_first_and_quarantines_the_later(tmp_data: Path, reference_export: Path,
                                                                 tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 30)
    rows[5]["id"] = rows[2]["id"]
    write_cycles(tmp_data, rows)
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 6: id={rows[2]['id']}, duplicate of row 3", 30)
    kept = export.hauling_activities
    assert kept.loc[3, "id"] == rows[2]["id"] and kept.loc[3, "activityNumber"] == rows[2]["activityNumber"]


def test_duplicate_master_id_is_quarantined(tmp_data: Path, tmp_path: Path) -> None:
    first = field_of(tmp_data / "excavators.csv", 1, "id")
    edit_field(tmp_data / "excavators.csv", 600, "id", first)
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert_single_defect(export, tmp_path, "excavators.csv", "excavators",
                         f"excavators.csv row 600: id={first}, duplicate of row 1", 600)


def test_orphan_foreign_key_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {11: {"excavatorId": "no-such-excavator"}})
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         "hauling_activities.csv row 11: excavatorId=no-such-excavator, no such id in excavators.csv",
                         30)


def test_child_of_a_quarantined_parent_is_an_orphan(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 30)
    truck = field_of(tmp_data / "trucks.csv", 1, "id")
    assert rows[0]["truckId"] == truck
    edit_field(tmp_data / "trucks.csv", 1, "capacity", "-25")
    write_cycles(tmp_data, rows)
    export = load(tmp_data, tmp_path)
    assert [str(p) for p in export.report.problems] == [
        "trucks.csv row 1: capacity=-25, must be > 0",
        f"maintenance_logs.csv row 1: truckId={truck}, refers to a quarantined row of trucks.csv",
        f"hauling_activities.csv row 1: truckId={truck}, refers to a quarantined row of trucks.csv",
    ]
    assert export.report.rows_quarantined == {**dict.fromkeys(REFERENCE_COUNTS, 0), "trucks": 1,
                                              "maintenance_logs": 1, "hauling_activities": 1}
    assert sorted(p.name for p in quarantine(tmp_path).iterdir()) == [HAUL, "maintenance_logs.csv", "trucks.csv"]


def test_orphan_maintenance_reference_is_quarantined(tmp_data: Path, tmp_path: Path) -> None:
    edit_field(tmp_data / "maintenance_logs.csv", 2, "truckId", "ghost-truck")
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert_single_defect(export, tmp_path, "maintenance_logs.csv", "maintenance_logs",
                         "maintenance_logs.csv row 2: truckId=ghost-truck, no such id in trucks.csv", 600)


def test_maintenance_must_reference_exactly_one_equipment(tmp_data: Path, tmp_path: Path) -> None:
    truck = field_of(tmp_data / "maintenance_logs.csv", 1, "truckId")
    excavator = field_of(tmp_data / "excavators.csv", 1, "id")
    edit_field(tmp_data / "maintenance_logs.csv", 1, "excavatorId", excavator)
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert_single_defect(
        export, tmp_path, "maintenance_logs.csv", "maintenance_logs",
        f"maintenance_logs.csv row 1: truckId/excavatorId/supportEquipmentId={truck}/{excavator}/, "
        "exactly one of truckId, excavatorId, supportEquipmentId must be set (found 2)", 600)


def test_cycle_timestamps_out_of_order_are_quarantined(tmp_data: Path, reference_export: Path,
                                                        tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 30)
    start = rows[3]["loadingStartTime"]
    early = start.replace("T07:24:00", "T07:20:00")
    assert early != start
    rows[3]["loadingEndTime"] = early
    write_cycles(tmp_data, rows)
    export = load(tmp_data, tmp_path)
    assert_single_defect(export, tmp_path, HAUL, "hauling_activities",
                         f"hauling_activities.csv row 4: loadingEndTime={early}, "
                         f"must not be before loadingStartTime={start}", 30)


def test_finished_cycle_missing_a_phase_timestamp_is_quarantined(tmp_data: Path, reference_export: Path,
                                                                  tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 50, {5: {"arrivalTime": None}, 6: {"status": "DELAYED",
                                                                              "returnTime": None}})
    export = load(tmp_data, tmp_path)
    assert [str(p) for p in export.report.problems] == [
        "hauling_activities.csv row 5: arrivalTime=(empty), must not be empty when status is COMPLETED",
        "hauling_activities.csv row 6: returnTime=(empty), must not be empty when status is DELAYED",
    ]
    assert export.report.rows_quarantined["hauling_activities"] == 2


def test_row_with_wrong_field_count_is_quarantined(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    write_cycles(tmp_data, make_cycles(reference_export, 20))
    path = tmp_data / HAUL
    lines = path.read_text().splitlines()
    lines[3] += ',"surplus"'  # data row 3
    lines.insert(6, "")  # a blank line: it is data row 6 for the numbering, and not a row
    path.write_text("\n".join(lines) + "\n")
    export = load(tmp_data, tmp_path)
    assert [str(p) for p in export.report.problems] == [
        f"hauling_activities.csv row 3: has {len(HAULING_COLUMNS) + 1} fields, the header has {len(HAULING_COLUMNS)}"]
    assert export.report.rows_read["hauling_activities"] == 20
    assert list(export.hauling_activities.index[:6]) == [1, 2, 4, 5, 7, 8]
    assert [r["_row"] for r in quarantined_rows(tmp_path, HAUL)] == ["3"]


def test_blank_lines_count_in_the_numbering_but_are_not_rows(tmp_data: Path, reference_export: Path,
                                                             tmp_path: Path) -> None:
    write_cycles(tmp_data, make_cycles(reference_export, 30))
    path = tmp_data / HAUL
    lines = path.read_text().splitlines()
    lines.insert(3, "")  # data row 3 is blank
    path.write_text("\n".join(lines) + "\n\n")
    edit_field(path, 10, "loadWeight", "-2")  # the 9th cycle, on data row 10
    export = load(tmp_data, tmp_path)
    assert [str(p) for p in export.report.problems] == ["hauling_activities.csv row 10: loadWeight=-2, must be >= 0"]
    assert export.report.rows_read["hauling_activities"] == 30
    assert list(export.hauling_activities.index[:4]) == [1, 2, 4, 5]


def test_every_problem_of_a_row_is_reported_and_the_row_counted_once(tmp_data: Path, reference_export: Path,
                                                                      tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {2: {"loadWeight": -1, "weatherCondition": "Salju"}})
    export = load(tmp_data, tmp_path)
    assert len(export.report.problems) == 2 and export.report.rows_quarantined["hauling_activities"] == 1
    reason = quarantined_rows(tmp_path, HAUL)[0]["_reason"]
    assert reason.startswith("loadWeight=-1, must be >= 0; weatherCondition=Salju, must be one of CERAH")


# --- optional ship files ---------------------------------------------------------------------------------

VESSEL_COLUMNS = ("id", "name", "type", "capacity", "createdAt")
SCHEDULE_COLUMNS = ("id", "vesselId", "loadingPort", "destination", "etaLoading", "etsLoading", "plannedQuantity",
                    "actualQuantity", "buyer", "status", "createdAt")


def write_ships(data: Path, *, eta: str = "2025-10-05T00:00:00.000Z", vessel: str = "v1") -> None:
    write_rows(data / "vessels.csv", [
        {"id": "v1", "name": "MV Borneo", "type": "MOTHER_VESSEL", "capacity": 55000.0,
         "createdAt": "2025-09-01T00:00:00.000Z"}], VESSEL_COLUMNS)
    write_rows(data / "sailing_schedules.csv", [
        {"id": "s1", "vesselId": "v1", "loadingPort": "Tanjung Bara", "destination": "Kaohsiung",
         "etaLoading": "2025-10-05T00:00:00.000Z", "etsLoading": "2025-10-08T00:00:00.000Z",
         "plannedQuantity": 50000.0, "actualQuantity": None, "buyer": "TPC", "status": "SCHEDULED",
         "createdAt": "2025-09-01T00:00:00.000Z"},
        {"id": "s2", "vesselId": vessel, "loadingPort": "Tanjung Bara", "destination": "Mumbai",
         "etaLoading": eta, "etsLoading": "2025-10-10T00:00:00.000Z", "plannedQuantity": 40000.0,
         "actualQuantity": 1000.0, "buyer": None, "status": "LOADING", "createdAt": "2025-09-01T00:00:00.000Z"},
    ], SCHEDULE_COLUMNS)


def test_vessels_and_schedules_load_when_present(tmp_data: Path, tmp_path: Path) -> None:
    write_ships(tmp_data)
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path))
    assert export.report.total_quarantined == 0
    assert export.vessels["capacity"].tolist() == [55000.0]
    deadline = export.sailing_schedules.set_index("id").loc["s1", "etsLoading"]
    assert deadline == pd.Timestamp("2025-10-08T00:00:00Z")


def test_schedule_deadline_before_arrival_and_orphan_vessel_are_quarantined(tmp_data: Path, tmp_path: Path) -> None:
    write_ships(tmp_data, eta="2025-10-12T00:00:00.000Z", vessel="v9")
    export = load_master(tmp_data, quarantine_dir=quarantine(tmp_path), max_bad_share=1.0)
    assert [str(p) for p in export.report.problems] == [
        "sailing_schedules.csv row 2: vesselId=v9, no such id in vessels.csv",
        "sailing_schedules.csv row 2: etsLoading=2025-10-10T00:00:00.000Z, "
        "must not be before etaLoading=2025-10-12T00:00:00.000Z",
    ]


def test_schedules_without_vessels_is_bad_input(tmp_data: Path) -> None:
    write_ships(tmp_data)
    (tmp_data / "vessels.csv").unlink()
    with pytest.raises(BadInputError, match=r"sailing_schedules\.csv: vesselId refers to vessels\.csv"):
        load_master(tmp_data)


# --- fatal problems ---------------------------------------------------------------------------------------

def test_missing_required_file_is_bad_input(tmp_data: Path) -> None:
    with pytest.raises(BadInputError, match=r"hauling_activities\.csv: missing required file") as err:
        load_export(tmp_data)
    assert err.value.problems == [f"hauling_activities.csv: missing required file (looked in {tmp_data})"]
    (tmp_data / "operators.csv").unlink()
    with pytest.raises(BadInputError, match=r"operators\.csv: missing required file"):
        load_master(tmp_data)


def test_missing_required_column_is_bad_input_naming_file_and_column(tmp_data: Path, reference_export: Path) -> None:
    rows = make_cycles(reference_export, 10)
    write_rows(tmp_data / HAUL, rows, tuple(c for c in HAULING_COLUMNS if c != "loadWeight"))
    with pytest.raises(BadInputError) as err:
        load_export(tmp_data)
    assert err.value.problems == ["hauling_activities.csv: missing required column loadWeight"]
    assert "hauling_activities.csv: missing required column loadWeight" in str(err.value)


def test_optional_carried_columns_may_be_absent(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    carried = {"supervisorId", "loadingPointId", "dumpingPointId", "remarks"}
    write_rows(tmp_data / HAUL, make_cycles(reference_export, 10), tuple(c for c in HAULING_COLUMNS
                                                                         if c not in carried))
    export = load(tmp_data, tmp_path)
    assert len(export.hauling_activities) == 10 and not carried & set(export.hauling_activities.columns)


@pytest.mark.parametrize(("content", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, "binary content"),
    ('"id","name"\n"a","Caf\u00e9"\n'.encode("latin-1"), "not UTF-8"),
    (b"", "empty, no header"),
])
def test_unreadable_file_is_bad_input_naming_the_file(tmp_data: Path, content: bytes, says: str) -> None:
    (tmp_data / "excavators.csv").write_bytes(content)
    with pytest.raises(BadInputError, match=rf"excavators\.csv: unreadable file: {says}"):
        load_master(tmp_data)


def test_garbage_text_file_is_bad_input(tmp_data: Path) -> None:
    (tmp_data / "trucks.csv").write_text("this is not the truck export\n")
    with pytest.raises(BadInputError, match=r"trucks\.csv: missing required column id"):
        load_master(tmp_data)


def test_too_many_bad_rows_is_bad_input_and_writes_nothing_but_quarantine(
        tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    edits = {row: {"loadWeight": -1} for row in range(1, 11)}
    cycles_with(tmp_data, reference_export, 100, edits)
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(BadInputError) as err:
        load(tmp_data, tmp_path)
    assert str(err.value).startswith(
        "hauling_activities.csv: 10 of 100 rows are bad (10.0%), above the limit of 5.0% (max_bad_share)")
    assert len(err.value.problems) == 10
    created = {p for p in tmp_path.rglob("*")} - before
    assert created == {tmp_path / "logs", quarantine(tmp_path), quarantine(tmp_path) / HAUL}
    assert len(quarantined_rows(tmp_path, HAUL)) == 10
    export = load(tmp_data, tmp_path, max_bad_share=0.10)  # exactly at the limit is accepted
    assert len(export.hauling_activities) == 90


def test_default_bad_share_is_the_settings_default() -> None:
    assert DEFAULT_MAX_BAD_SHARE == TrainingSettings().max_bad_row_share == 0.05


def test_stale_quarantine_file_is_removed_when_the_file_is_clean(tmp_data: Path, reference_export: Path,
                                                                 tmp_path: Path) -> None:
    cycles_with(tmp_data, reference_export, 30, {1: {"loadWeight": -1}})
    load(tmp_data, tmp_path)
    assert (quarantine(tmp_path) / HAUL).exists()
    cycles_with(tmp_data, reference_export, 30, {})
    export = load(tmp_data, tmp_path)
    assert export.report.total_quarantined == 0 and not (quarantine(tmp_path) / HAUL).exists()


def test_missing_data_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_export(tmp_path / "nowhere")


# --- report and speed --------------------------------------------------------------------------------------

def test_problem_and_report_formatting() -> None:
    assert str(Problem("hauling_activities.csv", 812, "loadWeight", "-3", "must be >= 0")) == \
        "hauling_activities.csv row 812: loadWeight=-3, must be >= 0"
    assert str(Problem("trucks.csv", None, None, None, "missing required column id")) == \
        "trucks.csv: missing required column id"
    assert str(Problem("a.csv", 1, "x", "y" * 100, "bad")) == f"a.csv row 1: x={'y' * 80}..., bad"
    report = ValidationReport({"trucks": 3}, {"trucks": 1}, [Problem("trucks.csv", 2, "id", "", "must not be empty")])
    assert report.to_dict() == {"rows_read": {"trucks": 3}, "rows_quarantined": {"trucks": 1},
                                "problems": ["trucks.csv row 2: id=(empty), must not be empty"],
                                "problems_total": 1, "quarantine_files": {}}


def test_100k_cycles_validate_with_unique_ids(tmp_data: Path, reference_export: Path, tmp_path: Path) -> None:
    """A 100k-cycle export loads whole (its speed is printed by benchmarks/bench_validate.py)."""
    n = 100_000
    rows = make_cycles(reference_export, 2_000)
    write_cycles(tmp_data, rows)
    path = tmp_data / HAUL
    header, *body = path.read_text().splitlines()
    body = [line.replace('"cyc', f'"c{k}cyc').replace('"HA-', f'"HA{k}-') for k in range(n // len(rows))
            for line in body]  # unique ids and activity numbers
    path.write_text("\n".join([header, *body]) + "\n")
    export = load(tmp_data, tmp_path)
    assert len(export.hauling_activities) == n and export.report.total_quarantined == 0
    assert export.hauling_activities["id"].is_unique


def test_irregular_file_is_read_exactly_like_a_regular_one(tmp_data: Path, reference_export: Path,
                                                            tmp_path: Path) -> None:
    rows = make_cycles(reference_export, 40)
    rows[3]["remarks"] = 'line one\nline "two"'  # a quoted newline forces the exact (csv module) reader
    write_cycles(tmp_data, rows)
    exact = load(tmp_data, tmp_path).hauling_activities
    rows[3]["remarks"] = 'line one line "two"'
    write_cycles(tmp_data, rows)
    fast = load(tmp_data, tmp_path).hauling_activities
    assert exact.loc[4, "remarks"] == 'line one\nline "two"'
    pd.testing.assert_frame_equal(exact.drop(columns="remarks"), fast.drop(columns="remarks"))
