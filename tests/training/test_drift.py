"""The drift job: clean logs pass, shifted logs are flagged (exit 4), windows, bad input, lazy Evidently."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.cli import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK
from training.drift import (COLUMN_DRIFT_THRESHOLD, COMPARED_COLUMNS, DRIFT_DIR, LATEST_FILE, PREDICTION_LOG_FILE,
                            STATUS_DRIFT, STATUS_INSUFFICIENT, STATUS_OK, main, parse_since, read_latest, run_drift,
                            summarise_drift)
from training.errors import BadInputError
from training.features import FEATURE_COLUMNS, PREDICTION_LOG_COLUMNS, REFERENCE_FILE
from training.registry import Registry

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=timezone.utc)
REFERENCE_N = 3000
LOG_N = 1000
#: Any one drifted column of the 19 compared exceeds this (1/19 = 0.053), so each single-cause shift
#: below must be caught on its own; the clean log must therefore have no drifted column at all.
ONE_COLUMN = 0.05

# --- a small synthetic mine: shares and sizes chosen to look like the reference export -------------
#: Weather shares of the training period (BADAI = storm is deliberately absent: "never seen").
WEATHER_SHARES = {"CERAH": 0.45, "BERAWAN": 0.20, "MENDUNG": 0.12, "HUJAN_RINGAN": 0.10,
                  "HUJAN_SEDANG": 0.06, "HUJAN_LEBAT": 0.04, "KABUT": 0.03}
RAIN = ("HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT")
ROAD_SHARES = {"EXCELLENT": 0.15, "GOOD": 0.40, "FAIR": 0.30, "POOR": 0.10, "LICIN": 0.05}
SHIFTS = ("SHIFT_1", "SHIFT_2", "SHIFT_3")
TRUCK_CAPACITY_T = {"CATERPILLAR": 90.0, "KOMATSU": 60.0, "HITACHI": 40.0}
BUCKET_M3 = {"PC2000": 11.0, "EX1200": 6.7, "PC1250": 6.5}
ROAD_DISTANCE_KM = (1.2, 1.8, 2.5, 3.1, 3.6, 4.4, 5.0)  # the mine's haul roads
LOAD_SHARE = 0.9  # payload / rated capacity
FUEL_FIXED_L, FUEL_PER_KM_L = 5.0, 2.5


def make_reference(rng: np.random.Generator, n: int = REFERENCE_N) -> pd.DataFrame:
    """Training-like rows (features + the toy model's predictions)."""
    brand = rng.choice(list(TRUCK_CAPACITY_T), n)
    model = rng.choice(list(BUCKET_M3), n)
    distance = rng.choice(ROAD_DISTANCE_KM, n)
    frame = pd.DataFrame({
        "truck_capacity_t": [TRUCK_CAPACITY_T[b] for b in brand],
        "bucket_capacity_m3": [BUCKET_M3[m] for m in model],
        "operator_rating": rng.uniform(3.0, 5.0, n).round(1),
        "operator_years_experience": rng.gamma(3.0, 2.5, n).round(1),
        "distance_km": distance,
        "log_distance_km": np.log(distance),
        "gradient_pct": rng.normal(6.0, 2.0, n),
        "max_speed_kmh": rng.choice([30.0, 40.0, 50.0], n),
        "truck_age_days": rng.uniform(100, 3000, n),
        "excavator_age_days": rng.uniform(100, 4000, n),
        "days_since_maintenance": rng.exponential(30.0, n),
        "weather": rng.choice(list(WEATHER_SHARES), n, p=list(WEATHER_SHARES.values())),
        "road_condition": rng.choice(list(ROAD_SHARES), n, p=list(ROAD_SHARES.values())),
        "shift": rng.choice(SHIFTS, n),
        "truck_brand": brand,
        "excavator_model": model,
    })
    return predict(frame, rng)


def predict(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Toy fuel/payload/delay model: rain lowers payload, raises fuel and delay."""
    out = frame.copy()
    rain = out["weather"].isin(RAIN).to_numpy()
    n = len(out)
    out["predicted_payload_t"] = LOAD_SHARE * out["truck_capacity_t"] * (1 - 0.05 * rain) + rng.normal(0, 2, n)
    out["predicted_fuel_l"] = FUEL_FIXED_L + FUEL_PER_KM_L * out["distance_km"] * (1 + 0.1 * rain) + rng.normal(0, 1, n)
    logit = -2.0 + 1.0 * rain + 0.5 * (out["road_condition"] == "POOR").to_numpy()
    out["predicted_delay_probability"] = 1 / (1 + np.exp(-logit)) + rng.normal(0, 0.02, n)
    return out


def resample(reference: pd.DataFrame, rng: np.random.Generator, n: int = LOG_N) -> pd.DataFrame:
    """Rows drawn with replacement from the reference (no drift by construction)."""
    return reference.iloc[rng.integers(0, len(reference), n)].reset_index(drop=True)


def unseen_weather(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rng.random(len(out)) < 0.25, "weather"] = "BADAI"  # a quarter of the cycles in a storm
    return out


def heavier_rain(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()  # 20% rain in training -> about 60% now
    wet = rng.random(len(out)) < 0.5
    out.loc[wet, "weather"] = rng.choice(RAIN, int(wet.sum()))
    return out


def longer_roads(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    out["distance_km"] = out["distance_km"] * 2
    out["log_distance_km"] = np.log(out["distance_km"])
    return out


def shifted_predictions(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()  # inputs unchanged, the model's outputs moved (e.g. a bad retrain)
    out["predicted_fuel_l"] = out["predicted_fuel_l"] * 1.3
    out["predicted_delay_probability"] = out["predicted_delay_probability"] + 0.15
    return out


def write_log(logs: Path, frame: pd.DataFrame, *, newest: datetime | None = None,
              span: timedelta = timedelta(days=6), append: bool = False) -> Path:
    """Write ``frame`` as the prediction log, rows spread evenly over ``span`` ending at ``newest`` (now)."""
    logs.mkdir(parents=True, exist_ok=True)
    newest = newest or datetime.now(timezone.utc)
    n = len(frame)
    out = frame.copy()
    out["logged_at"] = [(newest - span * (i + 0.5) / n).isoformat() for i in range(n)]
    out["run_id"] = [f"run-{i // 50}" for i in range(n)]
    out["model_version"] = "v1"
    path = logs / PREDICTION_LOG_FILE
    out[list(PREDICTION_LOG_COLUMNS)].to_csv(path, index=False, mode="a" if append else "w", header=not append)
    return path


def make_registry(models: Path, reference: pd.DataFrame | None) -> Registry:
    registry = Registry(models)

    def write(folder: Path) -> None:
        (folder / "fuel.joblib").write_bytes(b"model")
        if reference is not None:
            reference.to_parquet(folder / REFERENCE_FILE, index=False)

    meta = {"schema_hash": "5c4e" * 16, "feature_hash": "fea7" * 16, "data_hash": "da7a" * 16,
            "row_counts": {"hauling_activities": REFERENCE_N}, "metrics": {"fuel": {"r2": 0.9}},
            "training_seconds": 1.0}
    registry.promote(registry.create_version(write, meta))
    return registry


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_reference(np.random.default_rng(20251120))


@pytest.fixture
def mine(tmp_path: Path, reference: pd.DataFrame) -> tuple[Path, Path]:
    """(models, logs) folders with a champion carrying ``reference``."""
    make_registry(tmp_path / "models", reference)
    return tmp_path / "models", tmp_path / "logs"


def cli(models: Path, logs: Path, *extra: str) -> int:
    return main(["--models", str(models), "--logs", str(logs), *extra])


# ---------------------------------------------------------------------------------------- verdicts


def test_log_resampled_from_reference_is_not_flagged(mine, reference, capsys):
    models, logs = mine
    write_log(logs, resample(reference, np.random.default_rng(1)))

    code = cli(models, logs, "--since", "7d", "--threshold", str(ONE_COLUMN))

    latest = json.loads((logs / DRIFT_DIR / LATEST_FILE).read_text())
    assert code == EXIT_OK, capsys.readouterr()
    assert latest["status"] == STATUS_OK and latest["dataset_drift"] is False
    assert latest["drifted_columns"] == [] and latest["drift_share"] == 0.0
    assert set(latest["per_column"]) == set(COMPARED_COLUMNS) and len(COMPARED_COLUMNS) == 19
    # the sampling noise of 1,000 rows stays under the per-column threshold (see MIN_CURRENT_ROWS)
    assert max(c["drift_score"] for c in latest["per_column"].values()) < COLUMN_DRIFT_THRESHOLD
    assert latest["unseen_categories"] == {}
    assert latest["evidently_version"] == importlib.metadata.version("evidently")
    assert "no drift, 0/19 columns drifted" in capsys.readouterr().out


@pytest.mark.parametrize("shift, expected", [
    (unseen_weather, {"weather"}),
    (heavier_rain, {"weather"}),
    (longer_roads, {"distance_km", "log_distance_km"}),
    (shifted_predictions, {"predicted_fuel_l", "predicted_delay_probability"}),
], ids=["unseen_weather", "heavier_rain", "roads_twice_as_long", "predictions_shifted"])
def test_shifted_log_is_flagged_with_exit_4(mine, reference, capsys, shift, expected):
    models, logs = mine
    write_log(logs, shift(resample(reference, np.random.default_rng(2)), np.random.default_rng(3)))

    code = cli(models, logs, "--threshold", str(ONE_COLUMN))

    latest = read_latest(logs)
    assert code == EXIT_DRIFT, capsys.readouterr()
    assert latest["status"] == STATUS_DRIFT and latest["dataset_drift"] is True
    assert set(latest["drifted_columns"]) == expected  # exactly the shifted columns, nothing else
    assert all(latest["per_column"][c]["drift_score"] >= COLUMN_DRIFT_THRESHOLD for c in expected)
    assert latest["drift_share"] == pytest.approx(len(expected) / 19)
    assert "DRIFT" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- window


def test_since_filters_old_rows(mine, reference):
    models, logs = mine
    write_log(logs, longer_roads(resample(reference, np.random.default_rng(5)), None),
              newest=NOW - timedelta(days=20), span=timedelta(days=5))  # old and shifted
    write_log(logs, resample(reference, np.random.default_rng(6)), newest=NOW, append=True)  # recent, clean

    recent, _ = run_drift(models, logs, "7d", ONE_COLUMN, now=NOW)
    counted = {since: run_drift(models, logs, since, ONE_COLUMN, now=NOW, min_rows=10 * LOG_N)[0]["current_rows"]
               for since in ("30d", "24h", "90m")}  # min_rows above the log: counts only, no Evidently run

    # the old rows (roads twice as long, which the test above flags) are left out
    assert (recent["current_rows"], recent["status"], recent["drifted_columns"]) == (LOG_N, STATUS_OK, [])
    assert counted == {"30d": 2 * LOG_N, "24h": round(LOG_N / 6), "90m": round(LOG_N / 6 / 16)}
    assert recent["window_start"] == (NOW - timedelta(days=7)).isoformat(timespec="seconds")


def test_insufficient_data_exits_0_and_says_so(mine, reference, capsys):
    models, logs = mine
    write_log(logs, resample(reference, np.random.default_rng(7), 40))

    code = cli(models, logs, "--since", "90m")
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "insufficient data" in out and "need 1000" in out
    latest = read_latest(logs)
    assert latest["status"] == STATUS_INSUFFICIENT and latest["drift_share"] is None
    assert latest["current_rows"] == 0  # 40 rows over six days: none in the last 90 minutes
    assert not list((logs / DRIFT_DIR).glob("*.html"))


# ---------------------------------------------------------------------------------------- outputs


def test_html_and_json_written_and_latest_matches(mine, reference):
    models, logs = mine
    current = unseen_weather(resample(reference, np.random.default_rng(8)), np.random.default_rng(9))
    write_log(logs, current, newest=NOW)

    summary, html = run_drift(models, logs, "7d", 0.5, now=NOW)

    stamped = logs / DRIFT_DIR / "20251120T120000000000Z.json"
    assert html == logs / DRIFT_DIR / "20251120T120000000000Z.html"
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>") and "Drift for column weather" in page
    assert json.loads(stamped.read_text()) == json.loads((logs / DRIFT_DIR / LATEST_FILE).read_text())
    assert read_latest(logs) == json.loads(json.dumps(summary, default=str))
    for key in ("generated_at", "model_version", "since", "reference_rows", "current_rows", "drift_share",
                "drifted_columns", "per_column", "dataset_drift", "threshold", "status"):
        assert key in summary, key
    assert summary["model_version"] == "v1" and summary["reference_rows"] == REFERENCE_N
    assert summary["generated_at"] == "2025-11-20T12:00:00+00:00" and summary["threshold"] == 0.5
    assert summary["model_versions_in_window"] == {"v1": LOG_N}
    assert set(summary["per_column"]["weather"]) >= {"drift_score", "stattest", "drifted"}
    # the same shift exits 4 at ONE_COLUMN (test above); at 0.5 one drifted column of 19 is not enough
    assert summary["drifted_columns"] == ["weather"] and summary["drift_share"] == pytest.approx(1 / 19)
    assert summary["status"] == STATUS_OK and summary["dataset_drift"] is False
    assert summary["unseen_categories"] == {"weather": {"BADAI": int((current["weather"] == "BADAI").sum())}}
    assert summary["per_column"]["weather"]["stattest"] == "jensenshannon"
    assert summary["per_column"]["distance_km"]["stattest"] == "wasserstein"


# ---------------------------------------------------------------------------------------- bad input


def test_no_champion_is_bad_input(tmp_path, reference, capsys):
    Registry(tmp_path / "models").root.mkdir()
    write_log(tmp_path / "logs", resample(reference, np.random.default_rng(10)))
    assert cli(tmp_path / "models", tmp_path / "logs") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "no champion" in err and str(tmp_path / "models") in err
    assert read_latest(tmp_path / "logs") is None


def test_champion_without_reference_is_bad_input(tmp_path, reference, capsys):
    make_registry(tmp_path / "models", None)
    write_log(tmp_path / "logs", resample(reference, np.random.default_rng(11)))
    assert cli(tmp_path / "models", tmp_path / "logs") == EXIT_BAD_INPUT
    assert REFERENCE_FILE in capsys.readouterr().err


def test_missing_log_is_bad_input_naming_the_file(mine, capsys):
    models, logs = mine
    assert cli(models, logs) == EXIT_BAD_INPUT
    assert str(logs / PREDICTION_LOG_FILE) in capsys.readouterr().err


@pytest.mark.parametrize("text", [
    "logged_at,run_id\n2025-11-20T00:00:00+00:00,r1\n",  # columns missing
    "",  # empty file
], ids=["missing_columns", "empty"])
def test_garbled_log_is_bad_input_naming_the_file(mine, capsys, text):
    models, logs = mine
    logs.mkdir()
    (logs / PREDICTION_LOG_FILE).write_text(text)
    assert cli(models, logs) == EXIT_BAD_INPUT
    assert str(logs / PREDICTION_LOG_FILE) in capsys.readouterr().err


def test_a_few_unreadable_rows_are_dropped_too_many_are_bad_input(mine, reference):
    models, logs = mine
    path = write_log(logs, resample(reference, np.random.default_rng(12), 500), newest=NOW)
    lines = path.read_text().splitlines()
    lines[1] = "yesterday" + lines[1][lines[1].index(","):]  # bad logged_at
    path.write_text("\n".join(lines) + "\n")
    summary, _ = run_drift(models, logs, "7d", 0.5, now=NOW, min_rows=LOG_N, max_bad_row_share=0.05)
    assert (summary["log_rows_dropped"], summary["current_rows"]) == (1, 499)

    frame = pd.read_csv(path, dtype=str)
    frame.loc[:99, "distance_km"] = "far"  # 20% of the rows
    frame.to_csv(path, index=False)
    with pytest.raises(BadInputError, match="garbled") as info:
        run_drift(models, logs, "7d", 0.5, now=NOW, max_bad_row_share=0.05)
    assert str(path) in str(info.value) and "'far' is not a number" in info.value.problems[1]


def test_bad_since_and_threshold_are_bad_input(mine, reference):
    models, logs = mine
    write_log(logs, resample(reference, np.random.default_rng(13), 200), newest=NOW)
    with pytest.raises(BadInputError, match="--since"):
        run_drift(models, logs, "a week", 0.5, now=NOW)
    with pytest.raises(BadInputError, match="threshold"):
        run_drift(models, logs, "7d", 1.5, now=NOW)
    assert cli(models, logs, "--since", "7x") == EXIT_BAD_INPUT


@pytest.mark.parametrize("text, expected", [
    ("7d", timedelta(days=7)), ("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)),
    (" 2d ", timedelta(days=2)),
])
def test_parse_since(text, expected):
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "1w", "1.5h"])
def test_parse_since_rejects(text):
    with pytest.raises(ValueError):
        parse_since(text)


# ---------------------------------------------------------------------------------------- import cost


def test_importing_the_module_does_not_import_evidently():
    code = "\n".join([
        "import importlib.util, sys, training.drift",
        "assert 'evidently' not in sys.modules, 'import training.drift imported evidently'",
        "assert importlib.util.find_spec('evidently'), 'evidently is not installed'",  # so the check means something
    ])
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_feature_columns_are_all_compared():
    assert set(FEATURE_COLUMNS) < set(COMPARED_COLUMNS)
