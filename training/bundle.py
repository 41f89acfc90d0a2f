"""What one registry version holds, and loading it back with its contract checked.

A bundle is everything the simulator needs from the mine's history:

* ``fuel`` and ``payload``: regressors, litres and tonnes per cycle;
* ``delay``: a classifier with calibrated probabilities of a cycle being delayed;
* ``durations``: per phase, a model of the log-duration (minutes) given the context, plus the
  residual spread: a lognormal distribution per context;
* ``residuals``: holdout residuals of fuel and payload, resampled as noise by the simulator;
* ``delay_minutes``: the observed delay lengths of delayed cycles (minutes), all weathers pooled;
* ``delay_minutes_by_weather``: the same per weather of the day (only weathers with enough delayed
  cycles; the simulator falls back to the pooled array for the others): delays last longer in rain;
* ``reliability``: MTBF/MTTR (hours) of trucks and excavators fitted on the maintenance logs;
* ``site``: the pit's figures from the hauling records (dump capacity, dispatch interval, the
  weathers and road conditions the models have seen): ``training.site.SiteCalibration``.

Every model is a whole sklearn ``Pipeline`` (encoding inside), so callers pass raw features.
"""
from __future__ import annotations

import functools
import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from training.errors import RegistryError
from training.site import SiteCalibration

PHASES: tuple[str, ...] = ("loading", "hauling", "dumping", "returning")
MODEL_FILES = {"fuel": "fuel.joblib", "payload": "payload.joblib", "delay": "delay.joblib",
               "durations": "durations.joblib"}
ARRAYS_FILE = "distributions.npz"
#: Key prefix of the per-weather delay arrays in ``ARRAYS_FILE`` (``delay_minutes@HUJAN_LEBAT``); a file
#: without them (written before they existed) loads with an empty mapping.
WEATHER_DELAY_PREFIX = "delay_minutes@"
RELIABILITY_FILE = "reliability.json"
#: Rows below which :meth:`ModelBundle.predict` runs its models on one thread. A request's batch (the
#: pairs of its largest scenario: REF-A has 45) is far too small to share out: OpenMP's hand-offs cost
#: more than the work. Measured on the default mine's champion, REF-A's batch took 30 ms of CPU on one
#: thread against 244 ms on two (gradient boosting's per-tree parallel loops), and on a busy machine
#: 0.3 s of wall time against 1.75 s. Holdout evaluations (tens of thousands of rows) keep every core.
SERIAL_PREDICT_ROWS: int = 5_000
#: ``site`` as JSON; a version written before it existed loads with ``SiteCalibration()`` (no evidence).
SITE_FILE = "site.json"


@dataclass(frozen=True)
class PhaseModel:
    """Lognormal duration of one phase: ``log(minutes) ~ N(model(x) + offset, sigma)``.

    ``offset`` moves the log-mean when ``sigma`` was corrected for the recording's rounding (see
    ``training.train.corrected_spread``): the mean minutes ``exp(mu + sigma^2/2)`` stay those fitted.
    """

    model: Any
    sigma: float
    offset: float = 0.0

    def mu(self, features: pd.DataFrame) -> np.ndarray:
        """Mean of log-minutes per row."""
        return np.asarray(self.model.predict(features), dtype=float) + self.offset


@dataclass(frozen=True)
class Reliability:
    """Breakdown model of one equipment kind: exponential time between failures; repair times resampled
    from ``repair_hours`` (quantiles of the measured repairs), exponential of mean MTTR without them."""

    mtbf_hours: float
    mttr_hours: float
    failures: int
    operating_hours: float
    source: str
    repair_hours: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"mtbf_hours": self.mtbf_hours, "mttr_hours": self.mttr_hours, "failures": self.failures,
                "operating_hours": self.operating_hours, "source": self.source,
                "repair_hours": list(self.repair_hours)}


@dataclass(frozen=True)
class CyclePrediction:
    """Batched model outputs per context row (arrays of equal length)."""

    payload_t: np.ndarray
    fuel_l: np.ndarray
    delay_probability: np.ndarray
    phase_mu: dict[str, np.ndarray]


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's OpenMP/BLAS thread pools, found once (at the first prediction, when the models'
    libraries are loaded; scanning them costs about a millisecond, a limit through this ~10 us)."""
    return ThreadpoolController()


@contextmanager
def _serial():
    """One OpenMP/BLAS thread and joblib's sequential backend in this thread. A forest fitted with
    ``n_jobs=-1`` otherwise starts a thread pool per call and sums its trees in completion order (the
    same request's numbers then differ in the last bits; ``api.routes.strategies`` does the same)."""
    from joblib import parallel_config

    with _thread_pools().limit(limits=1), parallel_config(backend="sequential"):
        yield


@dataclass(frozen=True)
class ModelBundle:
    """The champion (or a candidate) as the simulator and the evaluation use it."""

    version: str
    fuel: Any
    payload: Any
    delay: Any
    durations: dict[str, PhaseModel]
    residuals: dict[str, np.ndarray]
    delay_minutes: np.ndarray
    reliability: dict[str, Reliability]
    metadata: dict[str, Any] = field(default_factory=dict)
    delay_minutes_by_weather: dict[str, np.ndarray] = field(default_factory=dict)  # weather -> min
    site: SiteCalibration = field(default_factory=SiteCalibration)

    def predict(self, features: pd.DataFrame) -> CyclePrediction:
        """One batched call per model for all rows of ``features`` (a small batch on one thread and
        joblib's sequential backend, :data:`SERIAL_PREDICT_ROWS`)."""
        with _serial() if len(features) < SERIAL_PREDICT_ROWS else nullcontext():
            return CyclePrediction(
                payload_t=np.clip(np.asarray(self.payload.predict(features), dtype=float), 0.0, None),
                fuel_l=np.clip(np.asarray(self.fuel.predict(features), dtype=float), 0.0, None),
                delay_probability=np.asarray(self.delay.predict_proba(features)[:, 1], dtype=float),
                phase_mu={p: self.durations[p].mu(features) for p in PHASES},
            )

    def save(self, folder: Path) -> list[str]:
        """Write the artifacts into ``folder`` (a registry temp folder); return the file names."""
        folder = Path(folder)
        joblib.dump(self.fuel, folder / MODEL_FILES["fuel"])
        joblib.dump(self.payload, folder / MODEL_FILES["payload"])
        joblib.dump(self.delay, folder / MODEL_FILES["delay"])
        joblib.dump({p: (m.model, m.sigma, m.offset) for p, m in self.durations.items()},
                    folder / MODEL_FILES["durations"])
        per_weather = {f"{WEATHER_DELAY_PREFIX}{w}": np.asarray(a, dtype=float)
                       for w, a in sorted(self.delay_minutes_by_weather.items())}
        np.savez(folder / ARRAYS_FILE, fuel_residuals=self.residuals["fuel"],
                 payload_residuals=self.residuals["payload"], delay_minutes=self.delay_minutes, **per_weather)
        (folder / RELIABILITY_FILE).write_text(
            json.dumps({k: v.to_dict() for k, v in self.reliability.items()}, indent=2))
        (folder / SITE_FILE).write_text(json.dumps(self.site.to_dict(), indent=2))
        return [*MODEL_FILES.values(), ARRAYS_FILE, RELIABILITY_FILE, SITE_FILE]

    @classmethod
    def load(cls, folder: Path, version: str, metadata: dict[str, Any] | None = None) -> "ModelBundle":
        """Read a bundle written by ``save``."""
        folder = Path(folder)
        try:
            durations = joblib.load(folder / MODEL_FILES["durations"])
            with np.load(folder / ARRAYS_FILE) as npz:
                arrays = {name: npz[name] for name in npz.files}
            reliability = json.loads((folder / RELIABILITY_FILE).read_text())
            site_path = folder / SITE_FILE
            site = SiteCalibration.from_dict(json.loads(site_path.read_text()) if site_path.exists() else None)
            return cls(
                version=version,
                fuel=joblib.load(folder / MODEL_FILES["fuel"]),
                payload=joblib.load(folder / MODEL_FILES["payload"]),
                delay=joblib.load(folder / MODEL_FILES["delay"]),
                # (model, sigma[, offset]): versions written before the rounding correction have no offset
                durations={p: PhaseModel(model=v[0], sigma=float(v[1]), offset=float(v[2]) if len(v) > 2 else 0.0)
                           for p, v in durations.items()},
                residuals={"fuel": arrays["fuel_residuals"], "payload": arrays["payload_residuals"]},
                delay_minutes=arrays["delay_minutes"],
                reliability={k: Reliability(**{**v, "repair_hours": tuple(v.get("repair_hours", ()))})
                             for k, v in reliability.items()},
                metadata=dict(metadata or {}),
                delay_minutes_by_weather={name[len(WEATHER_DELAY_PREFIX):]: a for name, a in arrays.items()
                                          if name.startswith(WEATHER_DELAY_PREFIX)},
                site=site,
            )
        except FileNotFoundError as exc:
            raise RegistryError(f"{folder}: incomplete model version, missing {Path(exc.filename).name}") from exc


def load_version(registry, version: str) -> ModelBundle:
    """Load ``version`` from a ``training.registry.Registry``, refusing a contract mismatch.

    The registry checks the version's schema and feature hashes against this code's (a model
    trained on other columns or encodings must not be served) before anything is unpickled.
    """
    from training.features import feature_hash
    from training.schema import SCHEMA_HASH

    registry.verify(version, schema_hash=SCHEMA_HASH, feature_hash=feature_hash())
    return ModelBundle.load(registry.path(version), version, registry.metadata(version))


def load_champion(registry) -> ModelBundle | None:
    """The champion bundle, or None when the registry has no champion yet."""
    version = registry.champion()
    return None if version is None else load_version(registry, version)
