"""POST /get_top_3_strategies (api/routes/strategies.py, api/presenters.py) on the real simulator pool.

Contracts are replayed unchanged; every 422 names the exact field path; stored runs and the
prediction log carry the run id.
"""
from __future__ import annotations

import copy
import csv
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from simulator.ranking import RANK_REASONS
from tests.api.test_app import (  # noqa: F401  (module_mine is a fixture)
    WAIT_S, app_settings, contract, module_mine, small_body, wait_ready, wait_until)

#: The prototype dashboard's defaults (issue: must work unchanged).
DASHBOARD_ROAD_ID = "cmhsbjn8x02s2maft90hi31ty"
DASHBOARD_EXCAVATOR_ID = "cmhsbjpma05ddmaft5kv95dom"

KPI_KEYS = {"PROFIT", "PRODUKSI", "ESTIMASI_DURASI", "FUEL_RATIO", "IDLE_ANTRIAN"}
BLOCK_KEYS = ["TYPE", "INSTRUKSI_FLAT", "KPI_PREDIKSI", "ANALISIS_KAPAL", "SOP_KESELAMATAN"]
INSTRUCTION_KEYS = ["JUMLAH_DUMP_TRUCK", "JUMLAH_EXCAVATOR", "ALAT_MUAT_TARGET", "JALUR_ANGKUT"]
PROFIT_RE = re.compile(r"^-?[\d.]+ (Miliar|Juta) IDR$")
TONNES_RE = re.compile(r"^\d{1,3}(,\d{3})* Ton$")
FUEL_RE = re.compile(r"^\d+\.\d\d L/Ton$")
HOURS_RE = re.compile(r"^\d+\.\d Jam$")
UNITS_RE = re.compile(r"^(\d+) Unit$")
#: Metrics every strategy reports with a 95% CI (units in the names).
CI_METRICS = ("profit_idr", "revenue_idr", "cost_idr", "production_t", "fuel_l", "fuel_ratio_l_per_t",
              "queue_hours", "cycle_time_min", "excavator_utilisation", "truck_utilisation", "loads")


@pytest.fixture(scope="module")
def app(module_mine):
    return create_app(app_settings(module_mine, sim_workers=2, sim_max_job_simulations=3000))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        assert wait_ready(c)["workers"] == 2
        yield c


def post(client: TestClient, body: Any):
    return client.post("/get_top_3_strategies", json=body)


def check_items(body: dict[str, Any], replications: int) -> None:
    """The prototype's display block first, then the machine-readable numbers with ordered CIs."""
    items = body["top_3_strategies"]
    assert len(items) == min(3, body["grid"]["scenarios"])
    for rank, item in enumerate(items, start=1):
        assert list(item) == [f"OPSI_{rank}", "strategy"]
        block = item[f"OPSI_{rank}"]
        assert list(block) == BLOCK_KEYS
        assert block["TYPE"] == ("REKOMENDASI UTAMA" if rank == 1 else "ALTERNATIF")
        assert list(block["INSTRUKSI_FLAT"]) == INSTRUCTION_KEYS
        assert set(block["KPI_PREDIKSI"]) == KPI_KEYS
        kpi = block["KPI_PREDIKSI"]
        assert PROFIT_RE.match(kpi["PROFIT"]), kpi["PROFIT"]
        assert TONNES_RE.match(kpi["PRODUKSI"]), kpi["PRODUKSI"]
        assert FUEL_RE.match(kpi["FUEL_RATIO"]), kpi["FUEL_RATIO"]
        assert HOURS_RE.match(kpi["IDLE_ANTRIAN"]), kpi["IDLE_ANTRIAN"]
        strategy = item["strategy"]
        assert strategy["rank"] == rank
        assert strategy["replications"] == replications
        assert strategy["scenario_key"] == f"T{strategy['trucks']}-E{strategy['excavators']}"
        assert UNITS_RE.match(block["INSTRUKSI_FLAT"]["JUMLAH_DUMP_TRUCK"]).group(1) == str(strategy["trucks"])
        assert UNITS_RE.match(block["INSTRUKSI_FLAT"]["JUMLAH_EXCAVATOR"]).group(1) == str(strategy["excavators"])
        for name in CI_METRICS:
            est = strategy["metrics"][name]
            assert est["n"] == replications, name
            assert est["ci_low"] <= est["mean"] <= est["ci_high"], (name, est)
        # the display strings are the numbers, rounded
        profit = strategy["metrics"]["profit_idr"]["mean"]
        shown = float(kpi["PROFIT"].split()[0]) * (1e9 if "Miliar" in kpi["PROFIT"] else 1e6)
        assert abs(shown - profit) <= (0.005e9 if "Miliar" in kpi["PROFIT"] else 0.5e6)
        assert kpi["PRODUKSI"] == f"{strategy['metrics']['production_t']['mean']:,.0f} Ton"
    profits = [item["strategy"]["metrics"]["profit_idr"]["mean"] for item in items]
    ranked = [s["rank"] for s in body["all_strategies"]]
    assert ranked == list(range(1, body["grid"]["scenarios"] + 1))
    assert [s["scenario_key"] for s in body["all_strategies"][:len(items)]] == \
        [item["strategy"]["scenario_key"] for item in items]
    assert len(profits) == len(items)


def test_legacy_contract_is_answered_with_the_prototype_display_blocks(client):
    body = contract("legacy-top3-request.json")
    r = post(client, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert list(out)[:2] == ["run_id", "top_3_strategies"]
    assert re.fullmatch(r"[0-9a-f]{32}", out["run_id"])
    assert r.headers["X-Model-Version"] == out["model_version"] == "v1"
    assert out["grid"] == {"scenarios": 4, "replications": 30, "simulations": 120, "duration_hours": 8.0,
                           "seed": 42, "deterministic": False, "dump_bays": None,
                           "dispatch_interval_min": pytest.approx(1.5, abs=0.2)}
    # The sample mine's trucks never wait to dump (no dump queue) and leave the line-up ~1.5 min apart.
    assert out["conditions"]["weather"] == "HUJAN_RINGAN"
    assert out["conditions"]["road_condition"] == "FAIR"
    check_items(out, replications=30)
    # the legacy grid is 5/10 trucks x 1/2 excavators: every option is one of them
    assert {(i["strategy"]["trucks"], i["strategy"]["excavators"]) for i in out["top_3_strategies"]} <= \
        {(5, 1), (5, 2), (10, 1), (10, 2)}
    assert set(out["timings_s"]) == {"predict", "simulate", "summarise", "total"}
    assert out["timings_s"]["total"] >= out["timings_s"]["simulate"] > 0


def test_ref_a_contract_runs_990_simulations(client):
    r = post(client, contract("ref-a.json"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["grid"] == {"scenarios": 33, "replications": 30, "simulations": 990, "duration_hours": 8.0,
                           "seed": 42, "deterministic": False, "dump_bays": None,
                           "dispatch_interval_min": pytest.approx(1.5, abs=0.2)}
    # The sample mine's trucks never wait to dump (no dump queue) and leave the line-up ~1.5 min apart.
    assert out["conditions"]["start"] == "2025-11-10T00:00:00+00:00"
    assert isinstance(out["warnings"], list)
    assert len(out["all_strategies"]) == 33
    check_items(out, replications=30)
    best = out["top_3_strategies"][0]["strategy"]
    assert best["trucks"] in range(5, 16) and best["excavators"] in (1, 2, 3)
    # Each strategy says why it ranks above the next; where the next has the higher mean profit, the
    # reason is a tie within the CI, never "higher mean profit".
    ranked = out["all_strategies"]
    for s, following in zip(ranked, ranked[1:]):
        higher = following["profit_idr"]["mean"] > s["profit_idr"]["mean"]
        assert (s["rank_reason"] != "higher_mean_profit") == higher, (s, following)
    assert ranked[-1]["rank_reason"] is None
    for item in out["top_3_strategies"]:
        reason = item["strategy"]["rank_reason"]
        assert reason["code"] in RANK_REASONS and f"rank {item['strategy']['rank'] + 1}" in reason["text"]


def test_same_request_gives_the_same_numbers_under_a_new_run_id(client):
    """Bit for bit: the request's predict runs single-threaded (a random forest with n_jobs=-1 would
    otherwise sum its trees in thread-completion order and change the last bits)."""
    body = small_body([3, 4], [1, 2], replications=3)
    first = post(client, body)
    again = client.post("/get_top_3_strategies", json=body, headers={"Cache-Control": "no-cache"})
    assert again.headers["X-Cache"] == "miss"  # simulated again, not the cached ranking
    a, b = first.json(), again.json()
    assert a["run_id"] != b["run_id"]
    assert a["top_3_strategies"] == b["top_3_strategies"]
    assert a["all_strategies"] == b["all_strategies"]
    other = post(client, small_body([3, 4], [1, 2], replications=3, seed=8)).json()
    profits = [i["strategy"]["metrics"]["profit_idr"]["mean"] for i in a["top_3_strategies"]]
    other_profits = [i["strategy"]["metrics"]["profit_idr"]["mean"] for i in other["top_3_strategies"]]
    assert profits != pytest.approx(other_profits, rel=1e-6)


def first_scheduled(data_dir) -> str:
    with open(data_dir / "sailing_schedules.csv", newline="") as fh:
        return next(row["id"] for row in csv.DictReader(fh) if row["status"] == "SCHEDULED")


def test_dashboard_defaults_work_and_the_schedule_drives_the_vessel_analysis(client, module_mine):
    schedule_id = first_scheduled(module_mine.data)
    body = {"fixed_conditions": {"weatherCondition": "Cerah", "roadCondition": "LICIN", "shift": "SHIFT_1",
                                 "target_road_id": DASHBOARD_ROAD_ID, "target_excavator_id": DASHBOARD_EXCAVATOR_ID,
                                 "target_schedule_id": schedule_id,
                                 "simulation_start_date": "2025-11-10T00:00:00Z"},
            "decision_variables": {"alokasi_truk": [5, 10, 15, 20, 25], "jumlah_excavator": [1, 2, 3]},
            "simulation": {"replications": 10}}
    r = post(client, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["grid"]["simulations"] == 150
    assert out["conditions"]["road_condition"] == "LICIN"
    assert out["conditions"]["start"] == "2025-11-10T00:00:00+00:00"
    assert out["conditions"]["road"] == "Road Segment 1 (4.7 km)"  # cmhsbjn8x02s2maft90hi31ty
    assert out["conditions"]["loading_unit"] == "PIT-01 (Unit: Kobelco SK500-10-001)"  # cmhsbjpma05ddmaft5kv95dom
    check_items(out, replications=10)
    for i, item in enumerate(out["top_3_strategies"], start=1):
        block = item[f"OPSI_{i}"]
        assert block["INSTRUKSI_FLAT"]["JALUR_ANGKUT"] == "Road Segment 1 (4.7 km)"
        assert block["ANALISIS_KAPAL"].startswith("Status: "), block["ANALISIS_KAPAL"]
        assert HOURS_RE.match(block["KPI_PREDIKSI"]["ESTIMASI_DURASI"]), block["KPI_PREDIKSI"]
        assert item["strategy"]["metrics"]["vessel_hours_to_target"]["mean"] > 0
    # without the schedule there is no vessel to analyse
    no_vessel = copy.deepcopy(body)
    no_vessel["fixed_conditions"]["target_schedule_id"] = None
    block = post(client, no_vessel).json()["top_3_strategies"][0]["OPSI_1"]
    assert (block["ANALISIS_KAPAL"], block["KPI_PREDIKSI"]["ESTIMASI_DURASI"]) == ("Tidak ada kapal.", "N/A")


def test_a_completed_schedule_is_analysed_without_demurrage_and_named_in_the_warnings(client, module_mine):
    with open(module_mine.data / "sailing_schedules.csv", newline="") as fh:
        schedule_id = next(row["id"] for row in csv.DictReader(fh) if row["status"] == "COMPLETED")
    body = copy.deepcopy(contract("legacy-top3-request.json"))
    body["fixed_conditions"].update({"target_schedule_id": schedule_id, "simulation_start_date": "2025-11-10T00:00:00Z",
                                     "target_road_id": DASHBOARD_ROAD_ID, "target_excavator_id": DASHBOARD_EXCAVATOR_ID})
    body["simulation"] = {"replications": 4, "seed": 5}
    r = post(client, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["top_3_strategies"]) == 3
    assert any(schedule_id in w and "COMPLETED" in w and "no demurrage" in w for w in out["warnings"]), out["warnings"]
    # the same seeded run without a vessel: a closed schedule changes no profit (no demurrage, no penalty)
    without = _with(body, "fixed_conditions", "target_schedule_id", None)
    base = {s["scenario_key"]: s["profit_idr"]["mean"] for s in post(client, without).json()["all_strategies"]}
    assert {s["scenario_key"]: s["profit_idr"]["mean"] for s in out["all_strategies"]} == pytest.approx(base)
    for i, item in enumerate(out["top_3_strategies"], start=1):
        metrics = item["strategy"]["metrics"]
        assert metrics["vessel_late_hours"]["mean"] == 0 and metrics["vessel_late_probability"]["mean"] == 0
        assert item["strategy"]["probability_vessel_late"] == 0
        analysis = item[f"OPSI_{i}"]["ANALISIS_KAPAL"]
        assert analysis.startswith("Status: TIDAK_DIHITUNG | Jadwal " + schedule_id), analysis
        assert "berstatus COMPLETED" in analysis and "tidak dihitung" in analysis


def _with(body: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out[section][key] = value
    return out


LEGACY = contract("legacy-top3-request.json")
BAD_INPUTS = [
    # (id, body, loc, message fragment)
    ("empty-trucks", _with(LEGACY, "decision_variables", "alokasi_truk", []),
     ["body", "decision_variables", "alokasi_truk"], "must not be empty"),
    ("negative-trucks", _with(LEGACY, "decision_variables", "alokasi_truk", [5, -1]),
     ["body", "decision_variables", "alokasi_truk", 1], "must be a positive integer, got -1"),
    ("zero-excavators", _with(LEGACY, "decision_variables", "jumlah_excavator", [0]),
     ["body", "decision_variables", "jumlah_excavator", 0], "must be a positive integer, got 0"),
    ("fractional-trucks", _with(LEGACY, "decision_variables", "alokasi_truk", [5, 7.5]),
     ["body", "decision_variables", "alokasi_truk", 1], "must be a positive integer, got 7.5"),
    ("string-trucks", _with(LEGACY, "decision_variables", "alokasi_truk", ["5"]),
     ["body", "decision_variables", "alokasi_truk", 0], "must be a positive integer, got '5'"),
    ("not-a-list", _with(LEGACY, "decision_variables", "jumlah_excavator", 2),
     ["body", "decision_variables", "jumlah_excavator"], "must be a list of positive integers"),
    ("unknown-weather", _with(LEGACY, "fixed_conditions", "weatherCondition", "Salju"),
     ["body", "fixed_conditions", "weatherCondition"],
     "unknown weather condition 'Salju'; accepted: CERAH, BERAWAN, MENDUNG, HUJAN_RINGAN, HUJAN_SEDANG, "
     "HUJAN_LEBAT, BADAI, KABUT"),
    ("unknown-road-condition", _with(LEGACY, "fixed_conditions", "roadCondition", "MUDDY"),
     ["body", "fixed_conditions", "roadCondition"], "accepted: EXCELLENT, GOOD, FAIR, POOR, LICIN"),
    ("unknown-shift", _with(LEGACY, "fixed_conditions", "shift", "SHIFT_4"),
     ["body", "fixed_conditions", "shift"], "accepted: SHIFT_1, SHIFT_2, SHIFT_3"),
    ("unknown-road-id", _with(LEGACY, "fixed_conditions", "target_road_id", "no-such-road"),
     ["body", "fixed_conditions", "target_road_id"], "unknown road segment id 'no-such-road'"),
    ("unknown-excavator-id", _with(LEGACY, "fixed_conditions", "target_excavator_id", "no-such-excavator"),
     ["body", "fixed_conditions", "target_excavator_id"], "unknown excavator id 'no-such-excavator'"),
    ("unknown-schedule-id", _with(LEGACY, "fixed_conditions", "target_schedule_id", "no-such-schedule"),
     ["body", "fixed_conditions", "target_schedule_id"], "unknown sailing schedule id 'no-such-schedule'"),
    ("bad-start-date", _with(LEGACY, "fixed_conditions", "simulation_start_date", "10/11/2025"),
     ["body", "fixed_conditions", "simulation_start_date"], "must be an ISO-8601 date-time"),
    ("missing-decisions", {"fixed_conditions": LEGACY["fixed_conditions"]},
     ["body", "decision_variables"], "required object is missing"),
    ("unknown-simulation-key", {**LEGACY, "simulation": {"replicatons": 3}},
     ["body", "simulation", "replicatons"], "unknown key; accepted: duration_hours, replications, seed"),
    ("grid-above-limit", {**LEGACY, "decision_variables": {"alokasi_truk": list(range(1, 12)),
                                                           "jumlah_excavator": [1, 2, 3]},
                          "simulation": {"replications": 100}},
     ["body", "simulation", "replications"],
     "33 scenarios x 100 replications = 3300 simulations exceeds the limit of 3000"),  # the job limit
]


@pytest.mark.parametrize("body,loc,fragment", [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_422_naming_the_field(client, body, loc, fragment):
    r = post(client, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert len(detail) == 1
    assert detail[0]["loc"] == loc
    assert fragment in detail[0]["msg"]
    assert detail[0]["msg"].startswith(field_path(loc) + ": ")


def field_path(loc: list[Any]) -> str:
    """['body', 'a', 'b', 1] -> 'a.b[1]' (how the message names the field)."""
    out = ""
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def test_non_object_body_is_a_422(client):
    r = client.post("/get_top_3_strategies", json=[1, 2])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


def test_grid_limit_is_a_setting(client, app, monkeypatch):
    monkeypatch.setattr(app.state.settings, "sim_max_grid_simulations", 100)  # above it: a job (tests/api/test_jobs.py)
    monkeypatch.setattr(app.state.settings, "sim_max_job_simulations", 100)  # ... up to this
    r = post(client, contract("legacy-top3-request.json"))  # 4 scenarios x 30 = 120
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == ("simulation.replications: 4 scenarios x 30 replications = 120 "
                                            "simulations exceeds the limit of 100")
    monkeypatch.undo()
    assert post(client, contract("legacy-top3-request.json")).status_code == 200


def test_stored_run_is_served_by_get_runs(client):
    body = small_body([2, 4], [1], replications=2)
    out = post(client, body).json()
    run = client.get(f"/runs/{out['run_id']}")
    assert run.status_code == 200
    stored = run.json()
    assert stored["run_id"] == out["run_id"]
    assert stored["model_version"] == "v1"
    assert stored["request"] == body
    assert stored["result"] == out
    assert stored["timings"] == out["timings_s"]
    newest = client.get("/runs", params={"limit": 1}).json()
    assert [r["run_id"] for r in newest] == [out["run_id"]]
    assert client.get("/runs/0123456789abcdef").status_code == 404


def test_prediction_log_rows_carry_the_run_id(client, app, module_mine):
    body = small_body([2, 3], [1, 2], replications=2)
    out = post(client, body).json()
    run_id = out["run_id"]
    pairs = 3 * 2  # one prediction per (truck, excavator) pair of the largest scenario
    csv_path = module_mine.logs / "prediction_logs.csv"

    def rows() -> list[dict[str, str]]:
        if not csv_path.exists():
            return []
        with open(csv_path, newline="") as fh:
            return [row for row in csv.DictReader(fh) if row["run_id"] == run_id]

    wait_until(lambda: len(rows()) == pairs, WAIT_S, "the prediction log's CSV rows")
    logged = rows()
    assert {row["model_version"] for row in logged} == {"v1"}
    assert {row["weather"] for row in logged} == {"CERAH"}
    assert all(float(row["predicted_payload_t"]) > 0 and float(row["predicted_fuel_l"]) > 0 for row in logged)
    assert app.state.store.count_predictions(run_id) == pairs
    stored = app.state.store.read_predictions(run_id)
    assert sorted(stored["predicted_fuel_l"].round(6)) == sorted(round(float(r["predicted_fuel_l"]), 6)
                                                                   for r in logged)


def test_requests_in_parallel_all_succeed(client):
    """Several requests share the pool; each gets its own run and a complete answer."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [small_body([2, 3], [1], replications=2, seed=s) for s in range(4)]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: post(client, b), bodies))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.json()["run_id"] for a in answers}) == 4
    assert time.perf_counter() - started < WAIT_S
