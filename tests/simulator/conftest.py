"""Simulator fixtures: hand-made scenario inputs, a tiny fake champion, the reference fleet, and a real
champion trained once per session on a small synthetic mine (reference fleet + generated cycles)."""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.model import Breakdowns, NoiseTables, PhaseNoise, ScenarioInputs
from training.bundle import PHASES, CyclePrediction, PhaseModel, Reliability
from training.dataset import load_master
from training.features import Fleet
from tests.paths import REFERENCE_EXPORT_END

CONSTANT = PhaseNoise("constant")


def make_inputs(trucks: int, excavators: int, phases_min=(5.0, 9.0, 2.0, 8.0), *, payload_t: float = 30.0,
                fuel_l: float = 40.0, delay_probability: float = 0.0, noise=(CONSTANT,) * 4,
                tables: NoiseTables | None = None, breakdowns: Breakdowns | None = None,
                key: str = "test") -> ScenarioInputs:
    """Every pair alike: phase means (load, haul, dump, return) in minutes and the given samplers."""
    shape = (trucks, excavators)
    means = np.broadcast_to(np.asarray(phases_min, dtype=float), shape + (4,)).copy()
    return ScenarioInputs(scenario_key=key, payload_t=np.full(shape, payload_t), fuel_l=np.full(shape, fuel_l),
                          delay_probability=np.full(shape, delay_probability), phase_mean_min=means,
                          phase_noise=tuple(noise), noise=tables or NoiseTables.none(),
                          breakdowns=breakdowns or Breakdowns())


#: Phase log-sds of the fake champion (the synthetic mine's ground truth values).
FAKE_SIGMA = {"loading": 0.15, "hauling": 0.10, "dumping": 0.18, "returning": 0.10}


class FakeBundle:
    """The ModelBundle surface the simulator uses, with simple closed-form models; counts predict calls."""

    def __init__(self, version: str = "fake-1"):
        rng = np.random.default_rng(0)
        self.version = version
        self.durations = {p: PhaseModel(model=None, sigma=FAKE_SIGMA[p]) for p in PHASES}
        self.residuals = {"payload": rng.normal(0.0, 1.0, 400), "fuel": rng.normal(0.0, 3.0, 400)}
        self.delay_minutes = np.round(rng.lognormal(2.4, 0.6, 200))
        self.reliability = {"truck": Reliability(250.0, 6.0, 0, 0.0, "prior"),
                            "excavator": Reliability(400.0, 8.0, 0, 0.0, "prior")}
        self.predict_calls = 0
        self.predicted_rows = 0

    def predict(self, features: pd.DataFrame) -> CyclePrediction:
        self.predict_calls += 1
        self.predicted_rows += len(features)
        capacity = features["truck_capacity_t"].to_numpy(dtype=float)
        bucket = features["bucket_capacity_m3"].to_numpy(dtype=float)
        distance = features["distance_km"].to_numpy(dtype=float)
        rain = (features["weather"] != "CERAH").to_numpy()
        return CyclePrediction(
            payload_t=0.9 * capacity,
            fuel_l=5.0 + 5.0 * distance,
            delay_probability=np.where(rain, 0.15, 0.05),
            phase_mu={"loading": np.log(1.0 + 0.4 * capacity / bucket), "hauling": np.log(60 * distance / 25.0),
                      "dumping": np.full(len(features), math.log(1.5)),
                      "returning": np.log(60 * distance / 35.0)},
        )


@pytest.fixture(scope="session")
def reference_fleet(reference_export: Path) -> Fleet:
    """The reference export's master tables through the validating loader."""
    return Fleet.from_export(load_master(reference_export))


@pytest.fixture
def fake_bundle() -> FakeBundle:
    return FakeBundle()


@dataclass(frozen=True)
class TrainedMine:
    """A small synthetic mine with a champion in its registry."""

    data: Path
    models: Path
    logs: Path
    bundle: object
    export: object
    version: str

    @property
    def fleet(self) -> Fleet:
        return Fleet.from_export(self.export)


def train_champion(data: Path, root: Path) -> TrainedMine:
    """Train the export in ``data`` with the project's own ``training.train`` and promote it in a registry
    under ``root`` (no gate: the tests' small mines are for the simulator, not for the gate)."""
    from training.bundle import load_champion
    from training.cli import Paths
    from training.features import feature_hash
    from training.prepare import prepare
    from training.registry import Registry
    from training.schema import SCHEMA_HASH
    from training.train import train
    from simulator.settings import SimulatorSettings

    paths = Paths(data=data, models=root / "models", logs=root / "logs")
    settings = SimulatorSettings(_env_file=None)
    prepared = prepare(paths, settings)
    result = train(prepared, settings)
    registry = Registry(paths.models)
    metadata = {"schema_hash": SCHEMA_HASH, "feature_hash": feature_hash(), "data_hash": prepared.data_hash,
                "row_counts": prepared.row_counts, "training_seconds": 0.0,
                "metrics": {k: result.metrics[k] for k in ("fuel", "payload", "delay")}}
    version = registry.create_version(result.bundle.save, metadata)
    registry.promote(version)
    return TrainedMine(data=data, models=paths.models, logs=paths.logs, bundle=load_champion(registry),
                       export=load_master(data), version=version)


@pytest.fixture(scope="session")
def trained_mine(tmp_path_factory, reference_export: Path) -> TrainedMine:
    """Reference fleet + 6 days of generated cycles (16 trucks, 3 excavators), trained by the project's
    own ``training.train`` and promoted in a registry (about 10 s on 2 cores)."""
    from training.synthetic import generate

    root = tmp_path_factory.mktemp("mine")
    data = Path(shutil.copytree(reference_export, root / "data"))
    generate(data, days=6, trucks=16, excavators=3, seed=11, end=REFERENCE_EXPORT_END)
    return train_champion(data, root)
