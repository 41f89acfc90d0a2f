"""The input contract: vocabularies, normalisers, tables matching the real export, hash, README table."""
from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import training
from training import schema
from training.schema import (BOUNDS, CYCLE_STATUSES, MASTER_TABLES, ROAD_CONDITIONS, SCHEMA_HASH, SHIFT_START_HOUR,
                             SHIFTS, TABLES, WEATHER, WEATHER_DISPLAY, ColumnSpec, markdown_table,
                             normalise_road_condition, normalise_shift, normalise_weather, schema_hash)

REPO = Path(training.__file__).resolve().parents[1]

#: hauling_activities.csv columns the issue's contract requires, in its order.
CONTRACT_HAULING_COLUMNS = (
    "id", "activityNumber", "truckId", "excavatorId", "operatorId", "roadSegmentId", "shift", "queueStartTime",
    "queueEndTime", "loadingStartTime", "loadingEndTime", "departureTime", "arrivalTime", "dumpingStartTime",
    "dumpingEndTime", "returnTime", "queueDuration", "loadingDuration", "haulingDuration", "dumpingDuration",
    "returnDuration", "totalCycleTime", "loadWeight", "targetWeight", "loadEfficiency", "distance", "fuelConsumed",
    "status", "weatherCondition", "roadCondition", "isDelayed", "delayMinutes", "delayReasonId", "createdAt",
    "updatedAt",
)


def test_vocabularies_are_the_contracts() -> None:
    assert WEATHER == ("CERAH", "BERAWAN", "MENDUNG", "HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT", "BADAI", "KABUT")
    assert ROAD_CONDITIONS == ("EXCELLENT", "GOOD", "FAIR", "POOR", "LICIN")
    assert SHIFTS == ("SHIFT_1", "SHIFT_2", "SHIFT_3")
    assert SHIFT_START_HOUR == {"SHIFT_1": 7, "SHIFT_2": 15, "SHIFT_3": 23}
    assert len(CYCLE_STATUSES) == 10 and {"COMPLETED", "DELAYED", "CANCELLED", "INCIDENT"} <= set(CYCLE_STATUSES)
    assert set(WEATHER_DISPLAY) == set(WEATHER)


@pytest.mark.parametrize(("spelling", "enum"), [
    ("Hujan Ringan", "HUJAN_RINGAN"), ("hujan_ringan", "HUJAN_RINGAN"), ("HUJAN RINGAN", "HUJAN_RINGAN"),
    ("HUJAN_RINGAN", "HUJAN_RINGAN"), (" Cerah ", "CERAH"), ("Berawan", "BERAWAN"), ("Hujan Lebat", "HUJAN_LEBAT"),
    ("hujan-sedang", "HUJAN_SEDANG"), ("KABUT", "KABUT"),
])
def test_weather_accepts_display_and_enum_form(spelling: str, enum: str) -> None:
    assert normalise_weather(spelling) == enum


def test_every_display_form_normalises_to_its_enum() -> None:
    assert {normalise_weather(display): enum for enum, display in WEATHER_DISPLAY.items()} == \
        {enum: enum for enum in WEATHER}


@pytest.mark.parametrize(("spelling", "enum"), [("Licin", "LICIN"), ("licin", "LICIN"), ("Excellent", "EXCELLENT"),
                                                ("poor", "POOR"), ("GOOD", "GOOD")])
def test_road_condition_accepts_any_case(spelling: str, enum: str) -> None:
    assert normalise_road_condition(spelling) == enum


@pytest.mark.parametrize(("spelling", "enum"), [("Shift 1", "SHIFT_1"), ("shift_2", "SHIFT_2"), ("SHIFT_3", "SHIFT_3")])
def test_shift_accepts_any_spelling(spelling: str, enum: str) -> None:
    assert normalise_shift(spelling) == enum


@pytest.mark.parametrize(("normalise", "value", "accepted"), [
    (normalise_weather, "Salju", WEATHER), (normalise_road_condition, "CRITICAL", ROAD_CONDITIONS),
    (normalise_shift, "SHIFT_4", SHIFTS), (normalise_weather, None, WEATHER), (normalise_weather, "", WEATHER),
])
def test_unknown_category_raises_listing_accepted_values(normalise, value, accepted) -> None:
    with pytest.raises(ValueError) as err:
        normalise(value)
    assert ", ".join(accepted) in str(err.value) and repr(value) in str(err.value)


def test_master_tables_match_the_reference_export_headers(reference_export: Path) -> None:
    for name in MASTER_TABLES:
        with (reference_export / TABLES[name].file).open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert list(TABLES[name].column_names) == header, name
        assert set(TABLES[name].required_columns) == set(header) - {"remarks"}, name


def test_hauling_contract_columns_are_required_and_carried_ones_are_not() -> None:
    cycles = TABLES["hauling_activities"]
    assert cycles.required_columns == CONTRACT_HAULING_COLUMNS
    assert {c.name for c in cycles.columns if not c.required} == {"supervisorId", "loadingPointId", "dumpingPointId",
                                                                   "remarks"}
    assert cycles.required_file and not TABLES["vessels"].required_file
    assert not TABLES["sailing_schedules"].required_file
    assert TABLES["vessels"].column_names == ("id", "name", "type", "capacity", "createdAt")
    assert TABLES["sailing_schedules"].column_names == (
        "id", "vesselId", "loadingPort", "destination", "etaLoading", "etsLoading", "plannedQuantity",
        "actualQuantity", "buyer", "status", "createdAt")


def test_tables_are_ordered_parents_first_and_references_resolve() -> None:
    order = list(TABLES)
    for name, table in TABLES.items():
        assert table.name == name and table.file == f"{name}.csv"
        assert table.primary_key in table.column_names
        for column, parent in table.foreign_keys.items():
            assert column in table.column_names and parent in TABLES
            assert order.index(parent) < order.index(name), f"{parent} must be validated before {name}"
        for col in table.columns:
            if col.max_ref is not None:
                assert col.max_ref.table in table.foreign_keys.values()
                assert TABLES[col.max_ref.table].column(col.max_ref.column).dtype == "float"
        for column in (*table.ordered, *table.exactly_one_of):
            assert column in table.column_names
    assert set(TABLES["hauling_activities"].foreign_keys.values()) == {"trucks", "excavators", "operators",
                                                                        "road_segments"}


def test_reference_export_ranges_sit_inside_the_plausibility_bounds() -> None:
    roads = TABLES["road_segments"]
    assert roads.column("gradient").min <= -5 and roads.column("gradient").max >= 10
    assert roads.column("distance").max >= 5 and roads.column("maxSpeed").max >= 49
    assert TABLES["excavators"].column("bucketCapacity").max >= 13
    assert TABLES["operators"].column("rating").min <= 3.5 and TABLES["operators"].column("rating").max >= 5
    assert 2 < schema.MIN_HAUL_CAPACITY_T < 20  # between the Hilux and the smallest haul truck


def test_column_spec_rejects_inconsistent_definitions() -> None:
    with pytest.raises(ValueError):
        ColumnSpec("x", "decimal")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ColumnSpec("x", "category")
    with pytest.raises(ValueError):
        ColumnSpec("x", "str", min=0)


def test_schema_hash_is_stable_and_tracks_the_contract() -> None:
    assert SCHEMA_HASH == schema_hash() and len(SCHEMA_HASH) == 64
    code = "from training.schema import SCHEMA_HASH; print(SCHEMA_HASH)"
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == SCHEMA_HASH
    looser = dataclasses.replace(BOUNDS, max_payload_factor=2.0)
    assert schema_hash(bounds=looser) != SCHEMA_HASH
    trucks = TABLES["trucks"]
    renamed = {**TABLES, "trucks": dataclasses.replace(trucks, columns=trucks.columns[:-1])}
    assert schema_hash(tables=renamed) != SCHEMA_HASH


def test_markdown_table_has_one_row_per_column() -> None:
    table = markdown_table()
    lines = table.splitlines()
    assert lines[0] == "| table | column | type | unit | allowed / range | required |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 2 + sum(len(t.columns) for t in TABLES.values())
    assert "| hauling_activities | loadWeight | float | t | >= 0; <= 500; <= 1.5 x trucks.capacity | yes |" in lines
    weather = f"| hauling_activities | weatherCondition | category |  | {', '.join(WEATHER)} | yes, may be empty |"
    assert weather in lines
    assert "| hauling_activities | remarks | str |  |  | no |" in lines
    assert "| vessels (optional file) | capacity | float | t | > 0; <= 500000 | yes |" in lines
    assert all(line.count("|") == 7 for line in lines)


def test_module_prints_the_readme_table() -> None:
    out = subprocess.run([sys.executable, "-m", "training.schema"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout == markdown_table()
