"""python -m training.retrain: gate, promotion, rejection, bad input, reports and exit codes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from training.cli import EXIT_BAD_INPUT, EXIT_GATE_REJECTED, EXIT_OK
from training.registry import Registry
from training.retrain import main


def _args(paths) -> list[str]:
    return ["--data", str(paths.data), "--models", str(paths.models), "--logs", str(paths.logs)]


def _history(paths) -> list[dict]:
    return [json.loads(x) for x in (paths.logs / "retrain" / "history.jsonl").read_text().splitlines()]


def test_shuffled_labels_are_rejected_and_the_champion_keeps_serving(trained_mine_copy, capsys):
    paths = trained_mine_copy
    before = Registry(paths.models).champion()
    csv = paths.data / "hauling_activities.csv"
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(5)
    # Labels shuffled where they stay physically plausible (else validation, not the gate, stops
    # the run): fuel across all cycles, payload among each truck's own cycles.
    df["fuelConsumed"] = rng.permutation(df["fuelConsumed"].to_numpy())
    df["loadWeight"] = df.groupby("truckId")["loadWeight"].transform(lambda s: rng.permutation(s.to_numpy()))
    df.to_csv(csv, index=False)

    assert main(_args(paths)) == EXIT_GATE_REJECTED
    registry = Registry(paths.models)
    assert registry.champion() == before
    out = capsys.readouterr().out
    assert "REJECTED" in out and "fuel r2" in out
    last = _history(paths)[-1]
    assert last["outcome"] == "rejected" and last["champion_after"] == before
    candidate = registry.metadata(last["version"])
    assert candidate["training_report"]["gate"]["passed"] is False


def test_same_data_again_is_promoted_and_recorded(trained_mine_copy, capsys):
    paths = trained_mine_copy
    before = Registry(paths.models).champion()
    assert main(_args(paths)) == EXIT_OK
    after = Registry(paths.models).champion()
    assert after != before
    assert "promoted" in capsys.readouterr().out
    report = sorted((paths.logs / "retrain").glob("2*.json"))[-1]
    body = json.loads(report.read_text())
    assert body["outcome"] == "promoted" and body["champion_before"] == before and body["version"] == after
    assert body["champion_metrics"]["fuel"]["r2"] > 0.8   # champion scored on the same holdout


def test_bad_input_writes_nothing_to_the_registry(trained_mine_copy, capsys):
    paths = trained_mine_copy
    versions = [v.version for v in Registry(paths.models).versions()]
    csv = paths.data / "hauling_activities.csv"
    pd.read_csv(csv, dtype=str, keep_default_na=False).drop(columns=["loadWeight"]).to_csv(csv, index=False)
    assert main(_args(paths)) == EXIT_BAD_INPUT
    assert [v.version for v in Registry(paths.models).versions()] == versions
    err = capsys.readouterr().err
    assert "hauling_activities.csv" in err and "loadWeight" in err
    assert _history(paths)[-1]["outcome"] == "bad_input"


class _TrainingSeen(Exception):
    """Raised by the spy once it has recorded the thread counts ``train`` ran with."""


def test_a_retrain_fits_its_models_on_the_named_number_of_threads(monkeypatch, tmp_path):
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the tree models use)
    from threadpoolctl import threadpool_info, threadpool_limits

    from training import retrain as retrain_module
    from training.cli import Paths
    from training.settings import TrainingSettings

    seen: list[int] = []

    def spy_train(prepared, settings):
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp")
        raise _TrainingSeen

    monkeypatch.setattr(retrain_module, "prepare", lambda paths, settings: object())
    monkeypatch.setattr(retrain_module, "train", spy_train)
    paths = Paths(tmp_path / "data", tmp_path / "models", tmp_path / "logs")
    with threadpool_limits(limits=3, user_api="openmp"):  # more than TRAINING_THREADS on any machine
        try:
            retrain_module.retrain(paths, TrainingSettings(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs))
        except _TrainingSeen:
            pass
    assert seen and all(n == retrain_module.TRAINING_THREADS for n in seen)
