"""The data and runs routers over HTTP: the prototype's bodies and answers, 422s naming the field, 404s.

The prototype's ``GET /`` answer is tested with the planner page (tests/api/test_routes_web.py).
"""
from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes import data, runs
from api.settings import Settings, get_settings
from api.store import RunStore
from api.vessels import VESSEL_CAPACITY_RANGE_T, schedules_path, vessels_path

SCHEDULE = {"loadingPort": "Pelabuhan Tanjung Bara", "destination": "Guangzhou",
            "etaLoading": "2025-11-12T08:00", "etsLoading": "2025-11-14T20:00", "plannedQuantity": 50000,
            "buyer": "PT Energi"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", logs_dir=tmp_path / "logs")


@pytest.fixture
def store(settings: Settings):
    s = RunStore.from_url(settings.effective_database_url)
    yield s
    s.close()


@pytest.fixture
def client(settings: Settings, store: RunStore):
    app = FastAPI(version="1.2.3")
    app.include_router(data.router)
    app.include_router(runs.router)
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.store = store
    with TestClient(app) as c:
        yield c


def error_fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["loc"][-1] for e in response.json()["detail"]]


def test_add_vessel_answers_like_the_prototype_and_writes_the_csv(client: TestClient, settings: Settings):
    r = client.post("/add_vessel", json={"name": "MV Borneo", "capacity": 60000})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "success" and body["message"] == "Kapal MV Borneo berhasil ditambahkan."
    assert len(body["id"]) == 25
    rows = list(csv.DictReader(io.StringIO(vessels_path(settings.data_dir).read_text())))
    assert rows == [{"id": body["id"], "name": "MV Borneo", "type": "Bulk Carrier", "capacity": "60000",
                     "createdAt": rows[0]["createdAt"]}]


def test_add_schedule_answers_like_the_prototype(client: TestClient, settings: Settings):
    vessel_id = client.post("/add_vessel", json={"name": "MV Borneo", "type": "Bulk Carrier",
                                                 "capacity": 60000}).json()["id"]
    r = client.post("/add_schedule", json={"vesselId": vessel_id, **SCHEDULE})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "success" and body["message"] == "Jadwal berhasil dibuat."
    row = next(csv.DictReader(io.StringIO(schedules_path(settings.data_dir).read_text())))
    assert row["id"] == body["id"] and row["vesselId"] == vessel_id
    assert (row["etaLoading"], row["etsLoading"]) == ("2025-11-12T01:00:00.000Z", "2025-11-14T13:00:00.000Z")
    assert row["status"] == "SCHEDULED" and row["actualQuantity"] == ""


def test_bad_requests_are_422_naming_the_field(client: TestClient, settings: Settings):
    assert error_fields(client.post("/add_vessel", json={"name": "x", "capacity": 0})) == ["capacity"]
    assert error_fields(client.post("/add_vessel", json={"name": "x", "capacity": -3})) == ["capacity"]
    assert error_fields(client.post("/add_vessel", json={"capacity": 5000})) == ["name"]
    assert error_fields(client.post("/add_schedule", json={"vesselId": "cnope", **SCHEDULE})) == ["vesselId"]
    vessel_id = client.post("/add_vessel", json={"name": "Barge", "capacity": 8000}).json()["id"]
    assert error_fields(client.post("/add_schedule", json={**SCHEDULE, "vesselId": vessel_id,
                                                           "etsLoading": "2025-11-11T08:00"})) == ["etsLoading"]
    assert error_fields(client.post("/add_schedule", json={**SCHEDULE, "vesselId": vessel_id,
                                                           "plannedQuantity": 0})) == ["plannedQuantity"]
    assert error_fields(client.post("/add_schedule", json={**SCHEDULE, "vesselId": vessel_id})) == ["plannedQuantity"]
    assert not schedules_path(settings.data_dir).exists()


def test_fifty_concurrent_posts_give_fifty_whole_rows(client: TestClient, settings: Settings):
    vessel_id = client.post("/add_vessel", json={"name": "MV Borneo", "capacity": 60000}).json()["id"]

    def post(k: int) -> str:
        r = client.post("/add_schedule", json={**SCHEDULE, "vesselId": vessel_id, "plannedQuantity": 100 + k})
        assert r.status_code == 200, r.text
        return r.json()["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(post, range(50)))
    rows = list(csv.reader(io.StringIO(schedules_path(settings.data_dir).read_text())))
    assert len(rows) == 51 and all(len(r) == 11 for r in rows)
    assert sorted(r[0] for r in rows[1:]) == sorted(ids) and len(set(ids)) == 50
    assert sorted(float(r[6]) for r in rows[1:]) == [100.0 + k for k in range(50)]


def test_a_stored_run_is_served_and_an_unknown_one_is_404(client: TestClient, store: RunStore):
    store.save_run("run-a", request={"decision_variables": {"alokasi_truk": [5]}}, result={"top_3_strategies": []},
                   model_version="v2", timings={"total_s": 0.7})
    r = client.get("/runs/run-a")
    assert r.status_code == 200
    assert r.json() == store.get_run("run-a") and r.json()["result"] == {"top_3_strategies": []}
    r = client.get("/runs/missing")
    assert r.status_code == 404 and r.json() == {"detail": "run missing not found"}


def test_recent_runs_come_newest_first_without_results(client: TestClient, store: RunStore):
    start = datetime(2025, 11, 1, tzinfo=timezone.utc)
    for i in range(3):
        store.save_run(f"r{i}", request={"i": i}, result={"big": [0] * 1000}, model_version="v1",
                       timings={}, created_at=start + timedelta(minutes=i))
    r = client.get("/runs", params={"limit": 2})
    assert r.status_code == 200
    assert [run["run_id"] for run in r.json()] == ["r2", "r1"]
    assert all("result" not in run for run in r.json())
    assert len(client.get("/runs").json()) == 3
    assert error_fields(client.get("/runs", params={"limit": 0})) == ["limit"]


@pytest.mark.parametrize("capacity", [5e-324, 1, 999.9, 400_000.5, 1e9, True, "lots", None])
def test_implausible_capacities_are_422_naming_capacity(client: TestClient, settings: Settings, capacity):
    r = client.post("/add_vessel", json={"name": "MV Odd", "capacity": capacity})
    assert r.status_code == 422 and error_fields(r) == ["capacity"], r.text
    assert not vessels_path(settings.data_dir).exists()


@pytest.mark.parametrize("capacity", [VESSEL_CAPACITY_RANGE_T[0], 7500, 58_000, VESSEL_CAPACITY_RANGE_T[1]])
def test_barges_to_the_largest_bulk_carriers_are_accepted(client: TestClient, capacity):
    r = client.post("/add_vessel", json={"name": f"Vessel {capacity}", "capacity": capacity})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "MV\tTab", "MV\u200bZero width", "MV\x07Bell", "two\nlines", 42])
def test_empty_over_long_or_unprintable_names_are_422_naming_name(client: TestClient, name):
    r = client.post("/add_vessel", json={"name": name, "capacity": 8000})
    assert r.status_code == 422 and error_fields(r) == ["name"], r.text


def test_a_vessel_name_already_taken_is_422_and_nothing_is_written(client: TestClient, settings: Settings):
    first = client.post("/add_vessel", json={"name": "MV Sea Pioneer", "capacity": 58000})
    assert first.status_code == 200
    before = vessels_path(settings.data_dir).read_bytes()
    for again in ("MV Sea Pioneer", "mv  sea   PIONEER", " MV Sea Pioneer "):
        r = client.post("/add_vessel", json={"name": again, "capacity": 55000})
        assert r.status_code == 422 and error_fields(r) == ["name"], r.text
        assert first.json()["id"] in r.json()["detail"][0]["msg"]
    assert vessels_path(settings.data_dir).read_bytes() == before
    assert client.post("/add_vessel", json={"name": "MV Sea Pioneer II", "capacity": 58000}).status_code == 200


def test_concurrent_adds_of_one_name_write_it_once(client: TestClient, settings: Settings):
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: client.post("/add_vessel", json={"name": "BG Twin", "capacity": 8000})
                              .status_code, range(8)))
    assert sorted(codes) == [200] + [422] * 7
    rows = list(csv.DictReader(io.StringIO(vessels_path(settings.data_dir).read_text())))
    assert [r["name"] for r in rows] == ["BG Twin"]


def test_a_boolean_planned_quantity_is_422(client: TestClient):
    vessel_id = client.post("/add_vessel", json={"name": "Barge", "capacity": 8000}).json()["id"]
    r = client.post("/add_schedule", json={**SCHEDULE, "vesselId": vessel_id, "plannedQuantity": True})
    assert r.status_code == 422 and error_fields(r) == ["plannedQuantity"], r.text
