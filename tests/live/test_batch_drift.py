"""The batch layer's drift job: the new cycles exported into the training data against the data the
champion was trained on (Evidently on the model's features), and the gated retrain it triggers.

Both batches are cycles of the trained mine's own export sent again as new events (new ids): one as
recorded (the mine as the champion knows it: no drift), one as the rainy season would send them (heavy
rain on slippery roads: drift on weather and road condition).
"""
from __future__ import annotations

import csv
import json
import random

import pytest
import redis

from live.batch import BatchLayer
from live.broker import RedisStreamBroker
from live.worker import build
from training.drift import CYCLES_PREFIX, DRIFT_DIR, LATEST_FILE, MIN_CURRENT_ROWS
from training.registry import Registry
from live.settings import LiveSettings as Settings

pytestmark = pytest.mark.slow

#: Cycles per batch: above the drift job's minimum once unfinished cycles are left out.
BATCH_CYCLES = MIN_CURRENT_ROWS + 400


def new_cycles(paths, seed: int, **changes: str) -> list[dict[str, str]]:
    """``BATCH_CYCLES`` of the cycles the champion was fitted on (the export's earliest, before its
    holdout share), sent again as new events (new id and activity number). Not the holdout days: the
    weather of a few days differs from that of the weeks before, which the drift job rightly flags."""
    with open(paths.data / "hauling_activities.csv", newline="") as fh:
        rows = sorted((dict(r) for r in csv.DictReader(fh)), key=lambda r: r["loadingStartTime"])
    fitted = rows[:int(len(rows) * (1 - Settings().holdout_share))]
    sample = random.Random(seed).sample(fitted, BATCH_CYCLES)
    return [{**r, "id": f"new-{seed}-{i}", "activityNumber": f"NEW-{seed}-{i:05d}", **changes}
            for i, r in enumerate(sample)]


@pytest.fixture
def batch(trained_mine_copy, redis_server):
    settings = Settings(redis_url=redis_server.url, data_dir=trained_mine_copy.data,
                        models_dir=trained_mine_copy.models, logs_dir=trained_mine_copy.logs,
                        live_batch_enabled=False, champion_max_age_days=10_000)
    worker, client = build(settings, "drift-1")
    layer = BatchLayer(settings, redis.Redis.from_url(settings.redis_url), worker.ingestor.store.engine)
    worker.on_batch = layer.on_batch

    def run(events: list[dict[str, str]]) -> dict:
        RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group).publish(events)
        worker.run(max_idle_s=0.5)
        return layer.run_daily("new cycles")

    yield run, trained_mine_copy
    client.close()


def test_new_cycles_like_the_training_data_do_not_drift_and_retrain_nothing(batch):
    run, paths = batch
    versions = len(Registry(paths.models).versions())
    report = run(new_cycles(paths, seed=1))
    assert report["exported_cycles"] == BATCH_CYCLES
    drift = report["drift"]
    assert drift["status"] == "ok" and drift["dataset_drift"] is False, drift
    assert MIN_CURRENT_ROWS <= drift["current_rows"] <= BATCH_CYCLES  # the finished ones
    assert drift["model_version"] == Registry(paths.models).champion()
    assert report["retrain"] is None and len(Registry(paths.models).versions()) == versions
    latest = json.loads((paths.logs / DRIFT_DIR / f"{CYCLES_PREFIX}{LATEST_FILE}").read_text())
    assert latest["status"] == "ok" and latest["columns_compared"] >= 10
    assert "predicted_fuel_l" not in latest["per_column"]  # features only: new cycles carry no predictions
    assert (paths.logs / DRIFT_DIR / latest["html_report"]).is_file()


def test_a_rainy_season_batch_drifts_and_triggers_the_gated_retrain(batch):
    run, paths = batch
    champion = Registry(paths.models).champion()
    report = run(new_cycles(paths, seed=2, weatherCondition="HUJAN_LEBAT", roadCondition="LICIN"))
    drift = report["drift"]
    assert drift["status"] == "drift" and drift["dataset_drift"] is True, drift
    assert {"weather", "road_condition"} <= set(drift["drifted_columns"])
    assert drift["model_version"] == champion
    retrain = report["retrain"]
    assert retrain["why"] == "new cycles drifted", retrain
    assert retrain["version"] in {v.version for v in Registry(paths.models).versions()}  # a candidate was trained
    assert retrain["promoted"] == (Registry(paths.models).champion() == retrain["version"])  # the gate decided
    stored = sorted((paths.logs / "live").glob("batch-*.json"))
    assert json.loads(stored[-1].read_text())["drift"]["status"] == "drift"


def test_the_api_and_the_batch_layer_import_evidently_only_when_drift_runs():
    import subprocess
    import sys

    code = ("import sys, importlib.util, api.app, live.batch, live.worker; "
            "assert importlib.util.find_spec('evidently'); "
            "assert 'evidently' not in sys.modules, 'start-up imported evidently'")
    subprocess.run([sys.executable, "-c", code], check=True)
