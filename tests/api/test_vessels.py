"""Vessels and sailing schedules on the contract CSVs: format, timestamps, checks, concurrency."""
from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from api.vessels import (DEFAULT_VESSEL_TYPE, ID_LENGTH, MINE_UTC_OFFSET_HOURS, NEW_SCHEDULE_STATUS, SCHEDULES,
                         VESSELS, FieldError, NewSchedule, NewVessel, add_schedule, add_vessel, as_utc,
                         contract_timestamp, new_id, read_vessels, schedules_path, vessels_path)
from training.dataset import load_master

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 11, 9, 23, 2, 38, 194567, tzinfo=timezone.utc)
CUID = re.compile(r"^c[0-9a-z]{24}$")


def schedule(vessel_id: str, **changes) -> NewSchedule:
    body = {"vesselId": vessel_id, "loadingPort": "Pelabuhan Tanjung Bara", "destination": "Guangzhou",
            "etaLoading": "2025-11-12T08:00:00Z", "etsLoading": "2025-11-14T20:00:00Z", "plannedQuantity": 50000,
            "buyer": "PT Energi"}
    return NewSchedule(**{**body, **changes})


def test_ids_are_25_char_cuids_ordered_by_time():
    ids = [new_id(NOW + timedelta(milliseconds=k)) for k in range(3)]
    assert all(CUID.match(i) and len(i) == ID_LENGTH for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert new_id(NOW)[:9] == new_id(NOW)[:9] and new_id(NOW) != new_id(NOW)


def test_timestamps_with_an_offset_are_kept_and_naive_ones_are_mine_time():
    assert MINE_UTC_OFFSET_HOURS == 7
    assert contract_timestamp(NOW) == "2025-11-09T23:02:38.194Z"
    assert contract_timestamp(datetime(2025, 11, 10, 8, 0)) == "2025-11-10T01:00:00.000Z"  # 08:00 WIB
    parsed = {text: schedule("v", etaLoading=text, etsLoading="2030-01-01T00:00:00Z").etaLoading
              for text in ("2025-11-10T08:00", "2025-11-10 08:00:00", "2025-11-10T01:00:00Z",
                           "2025-11-10T09:00:00+08:00", "2025-11-10T01:00:00.000Z")}
    assert set(parsed.values()) == {datetime(2025, 11, 10, 1, 0, tzinfo=timezone.utc)}
    assert as_utc(datetime(2025, 1, 1, tzinfo=timezone.utc)).tzinfo == timezone.utc


def test_a_vessel_row_is_written_in_the_export_format(tmp_path: Path):
    vessel_id = add_vessel(tmp_path, NewVessel(name='MV "Borneo" Star', capacity=55000), now=NOW)
    add_vessel(tmp_path, NewVessel(name="Barge 7", type="Barge", capacity=7500.5), now=NOW)
    lines = vessels_path(tmp_path).read_text().splitlines()
    assert lines == [
        '"id","name","type","capacity","createdAt"',
        f'"{vessel_id}","MV ""Borneo"" Star","{DEFAULT_VESSEL_TYPE}",55000,"2025-11-09T23:02:38.194Z"',
        lines[2],
    ]
    assert lines[2].endswith(',"Barge 7","Barge",7500.5,"2025-11-09T23:02:38.194Z"')
    assert CUID.match(vessel_id)
    assert read_vessels(tmp_path)[vessel_id]["name"] == 'MV "Borneo" Star'


def test_a_schedule_row_has_status_scheduled_and_an_empty_actual_quantity(tmp_path: Path):
    vessel_id = add_vessel(tmp_path, NewVessel(name="MV Borneo", capacity=60000), now=NOW)
    schedule_id = add_schedule(tmp_path, schedule(vessel_id, etaLoading="2025-11-12T15:00", buyer=None), now=NOW)
    lines = schedules_path(tmp_path).read_text().splitlines()
    assert lines[0] == ",".join(f'"{c}"' for c in SCHEDULES.column_names)
    assert lines[1] == (f'"{schedule_id}","{vessel_id}","Pelabuhan Tanjung Bara","Guangzhou",'
                        '"2025-11-12T08:00:00.000Z","2025-11-14T20:00:00.000Z",50000,,,'
                        f'"{NEW_SCHEDULE_STATUS}","2025-11-09T23:02:38.194Z"')


def test_written_rows_load_through_the_fleet_loader(tmp_data: Path):
    vessel_id = add_vessel(tmp_data, NewVessel(name="MV Borneo", capacity=60000))
    other = add_vessel(tmp_data, NewVessel(name="Barge 7", type="Barge", capacity=7500))
    first = add_schedule(tmp_data, schedule(vessel_id))
    second = add_schedule(tmp_data, schedule(other, plannedQuantity=7000.25, buyer='Buyer, "quoted"'))
    export = load_master(tmp_data)
    assert export.report.rows_quarantined.get("vessels", 0) == 0
    assert export.report.rows_quarantined.get("sailing_schedules", 0) == 0
    vessels = export.vessels.set_index("id")
    assert vessels.loc[vessel_id, "capacity"] == 60000 and vessels.loc[other, "type"] == "Barge"
    schedules = export.sailing_schedules.set_index("id")
    assert list(schedules.index) == [first, second]
    assert schedules.loc[first, "etsLoading"] == pd.Timestamp("2025-11-14T20:00:00Z")
    assert schedules.loc[second, "plannedQuantity"] == 7000.25
    assert schedules.loc[second, "buyer"] == 'Buyer, "quoted"'
    assert pd.isna(schedules.loc[first, "actualQuantity"]) and schedules.loc[first, "status"] == "SCHEDULED"


def test_bad_bodies_are_refused_naming_the_field():
    def fields(exc: ValidationError) -> set[str]:
        return {str(e["loc"][-1]) if e["loc"] else "" for e in exc.errors()}

    with pytest.raises(ValidationError) as err:
        NewVessel(name="x", capacity=0)
    assert fields(err.value) == {"capacity"}
    with pytest.raises(ValidationError) as err:
        NewVessel(name="  ", capacity=5000)
    assert fields(err.value) == {"name"}
    with pytest.raises(ValidationError) as err:
        NewVessel(name="two\nlines", capacity=5000)
    assert fields(err.value) == {"name"}
    with pytest.raises(ValidationError) as err:
        schedule("v", etsLoading="2025-11-12T07:59:59Z")
    assert fields(err.value) == {"etsLoading"}
    with pytest.raises(ValidationError) as err:
        schedule("v", etsLoading="2025-11-12T08:00:00Z")  # no time to load
    assert fields(err.value) == {"etsLoading"}
    with pytest.raises(ValidationError) as err:
        schedule("v", plannedQuantity=-5)
    assert fields(err.value) == {"plannedQuantity"}
    with pytest.raises(ValidationError) as err:
        schedule("v", etaLoading="next tuesday")
    assert fields(err.value) == {"etaLoading"}


def test_unknown_vessels_and_overloads_are_refused_and_nothing_is_written(tmp_path: Path):
    with pytest.raises(FieldError) as err:
        add_schedule(tmp_path, schedule("cnotavessel000000000000000"))
    assert err.value.field == "vesselId"
    vessel_id = add_vessel(tmp_path, NewVessel(name="Barge", capacity=8000))
    with pytest.raises(FieldError) as err:
        add_schedule(tmp_path, schedule(vessel_id, plannedQuantity=8000.5))
    assert err.value.field == "plannedQuantity" and "8000" in err.value.message
    assert not schedules_path(tmp_path).exists()
    add_schedule(tmp_path, schedule(vessel_id, plannedQuantity=8000))
    assert len(schedules_path(tmp_path).read_text().splitlines()) == 2


def test_an_existing_file_keeps_its_column_order(tmp_path: Path):
    path = vessels_path(tmp_path)
    path.write_text('"name","id","createdAt","capacity","type","remarks"\n'
                    '"Old","cold0000000000000000000000","2025-01-01T00:00:00.000Z",100,"Barge","kept"')
    vessel_id = add_vessel(tmp_path, NewVessel(name="New", capacity=2000), now=NOW)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["name"] for r in rows] == ["Old", "New"]
    assert rows[1] == {"name": "New", "id": vessel_id, "createdAt": "2025-11-09T23:02:38.194Z", "capacity": "2000",
                       "type": DEFAULT_VESSEL_TYPE, "remarks": ""}


def test_a_file_without_a_needed_column_is_an_error_not_a_bad_row(tmp_path: Path):
    vessels_path(tmp_path).write_text('"id","name"\n')
    with pytest.raises(ValueError, match="capacity"):
        add_vessel(tmp_path, NewVessel(name="New", capacity=2000))
    assert vessels_path(tmp_path).read_text() == '"id","name"\n'


def test_fifty_threads_add_fifty_whole_rows(tmp_path: Path):
    barrier = threading.Barrier(50)
    ids: list[str] = []

    def worker(k: int) -> None:
        barrier.wait()
        ids.append(add_vessel(tmp_path, NewVessel(name=f"Vessel {k} " + "x" * 150, capacity=1000 + k)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(csv.reader(io.StringIO(vessels_path(tmp_path).read_text())))
    assert rows[0] == list(VESSELS.column_names)
    assert len(rows) == 51 and all(len(r) == 5 for r in rows)
    assert sorted(r[0] for r in rows[1:]) == sorted(ids) and len(set(ids)) == 50
    assert sorted(float(r[3]) for r in rows[1:]) == [1000.0 + k for k in range(50)]


def test_two_processes_add_rows_without_losing_any(tmp_path: Path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from api.vessels import NewVessel, add_vessel
        gate = Path({str(tmp_path)!r}) / "gate"
        (gate / f"ready-{{sys.argv[1]}}").touch()
        deadline = time.monotonic() + 30
        while len(list(gate.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        for k in range(25):
            add_vessel(Path({str(tmp_path)!r}), NewVessel(name=f"p{{sys.argv[1]}}-{{k}}", capacity=1000 + k))
    """)
    (tmp_path / "gate").mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", script, str(p)], cwd=REPO_ROOT, stderr=subprocess.PIPE,
                              text=True) for p in range(2)]
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    rows = list(csv.DictReader(io.StringIO(vessels_path(tmp_path).read_text())))
    assert sorted(r["name"] for r in rows) == sorted(f"p{p}-{k}" for p in range(2) for k in range(25))
    assert all(r["createdAt"].endswith("Z") and CUID.match(r["id"]) for r in rows)
