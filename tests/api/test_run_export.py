"""api.run_export and GET /runs/{id}/export.xlsx|csv: the numbers as numbers, read back with openpyxl."""
from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.run_export import run_csv, run_xlsx, strategy_rows, top3_rows

RUN = {
    "run_id": "abc123", "created_at": "2026-01-01T00:00:00Z", "model_version": "v3",
    "request": {"fixed_conditions": {"weatherCondition": "Cerah"}, "financial_params": {"HargaSolar": 15000}},
    "result": {
        "conditions": {"weather": "CERAH", "road": "Road Segment 1 (4.7 km)"},
        "grid": {"scenarios": 2, "replications": 30, "simulations": 60},
        "warnings": ["weather CERAH was seen on 1 training shift(s)"],
        "pareto_front": ["T10-E2"],
        "top_3_strategies": [
            {"OPSI_1": {"TYPE": "REKOMENDASI UTAMA"},
             "strategy": {"rank": 1, "scenario_key": "T10-E2", "trucks": 10, "excavators": 2, "replications": 30,
                          "pareto": True, "tied_with": [], "guideline": "ok", "vessel_analysis": "Tidak ada kapal.",
                          "metrics": {"profit_idr": {"mean": 1.2e9, "ci_low": 1.1e9, "ci_high": 1.3e9, "n": 30},
                                      "queue_hours": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 30}}}},
            {"OPSI_2": {"TYPE": "ALTERNATIF"},
             "strategy": {"rank": 2, "scenario_key": "T5-E1", "trucks": 5, "excavators": 1, "replications": 30,
                          "pareto": False, "tied_with": ["T10-E2"], "guideline": "", "vessel_analysis": "",
                          "metrics": {"profit_idr": {"mean": 9e8, "ci_low": None, "ci_high": None, "n": 30}}}},
        ],
        "all_strategies": [
            {"rank": 1, "scenario_key": "T10-E2", "trucks": 10, "excavators": 2, "tied_with": [], "pareto": True,
             "profit_idr": {"mean": 1.2e9, "ci_low": 1.1e9, "ci_high": 1.3e9},
             "production_t": {"mean": 1800.0, "ci_low": 1700.0, "ci_high": 1900.0},
             "queue_hours": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}},
            {"rank": 2, "scenario_key": "T5-E1", "trucks": 5, "excavators": 1, "tied_with": ["T10-E2"], "pareto": False,
             "profit_idr": {"mean": 9e8, "ci_low": None, "ci_high": None},
             "production_t": {"mean": 900.0, "ci_low": 850.0, "ci_high": 950.0},
             "queue_hours": {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}},
        ],
        "timings_s": {"total": 0.4},
    },
}


def test_strategy_rows_are_numbers_best_first():
    header, rows = strategy_rows(RUN)
    record = dict(zip(header, rows[1]))
    assert record == {"rank": 2, "scenario_key": "T5-E1", "trucks": 5, "excavators": 1, "pareto": False,
                      "tied_with": "T10-E2", "profit_idr_mean": 9e8, "profit_idr_ci_low": None,
                      "profit_idr_ci_high": None, "production_t_mean": 900.0, "production_t_ci_low": 850.0,
                      "production_t_ci_high": 950.0, "queue_hours_mean": 0.0, "queue_hours_ci_low": 0.0,
                      "queue_hours_ci_high": 0.0}


def test_top3_rows_cover_every_metric_of_any_option():
    header, rows = top3_rows(RUN)
    assert header[:3] == ["option", "rank", "scenario_key"]
    assert "queue_hours_ci_high" in header and header[-2:] == ["vessel_analysis", "guideline"]
    second = dict(zip(header, rows[1]))
    assert second["option"] == "OPSI_2" and second["queue_hours_mean"] is None and second["profit_idr_mean"] == 9e8
    assert second["dispatch"] == "fixed"  # runs from before dispatch rules existed


def test_xlsx_reads_back_with_openpyxl():
    wb = load_workbook(io.BytesIO(run_xlsx(RUN)))
    assert wb.sheetnames == ["Summary", "Top 3", "All strategies", "Request"]
    summary = [tuple(r) for r in wb["Summary"].iter_rows(min_row=2, values_only=True)]
    assert ("run_id", "abc123") in summary and ("conditions.weather", "CERAH") in summary
    assert ("warning", "weather CERAH was seen on 1 training shift(s)") in summary
    assert ("financial_params.HargaSolar", 15000) in summary
    top = wb["Top 3"]
    header = [c.value for c in top[1]]
    first = dict(zip(header, [c.value for c in top[2]]))
    assert first["profit_idr_ci_low"] == 1.1e9 and first["trucks"] == 10
    assert top.cell(row=2, column=header.index("profit_idr_mean") + 1).number_format == "#,##0"
    request = dict(wb["Request"].iter_rows(min_row=2, values_only=True))
    assert request["fixed_conditions.weatherCondition"] == "Cerah"


def test_csv_has_one_row_per_strategy():
    rows = list(csv.DictReader(io.StringIO(run_csv(RUN))))
    assert [r["scenario_key"] for r in rows] == ["T10-E2", "T5-E1"]
    assert rows[1]["profit_idr_ci_low"] == "" and float(rows[0]["profit_idr_mean"]) == 1.2e9


def test_export_routes(tmp_path):
    from fastapi import FastAPI

    from api.routes import export
    from api.store import RunStore

    store = RunStore.from_url(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.save_run("abc123", request=RUN["request"], result=RUN["result"], model_version="v3", timings={})
    app = FastAPI()
    app.include_router(export.router)
    app.state.store = store
    try:
        with TestClient(app) as client:
            r = client.get("/runs/abc123/export.xlsx")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            assert r.headers["content-disposition"] == 'attachment; filename="mineops-run-abc123.xlsx"'
            assert load_workbook(io.BytesIO(r.content))["Summary"]["B2"].value == "abc123"
            r = client.get("/runs/abc123/export.csv")
            assert r.status_code == 200 and r.text.startswith("rank,scenario_key,")
            assert client.get("/runs/nope/export.xlsx").status_code == 404
            assert client.get("/runs/..%2Fx/export.csv").status_code == 404
    finally:
        store.close()
