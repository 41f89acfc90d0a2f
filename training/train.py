"""``python -m training.train``: fit the fuel, payload, delay and duration models and register them.

Evaluation is on a time-ordered holdout (the latest ``holdout_share`` of cycles, never a random
split). The delay classifier is chosen the same way among :data:`DELAY_FAMILIES` by holdout Brier
score (the simulator uses its probabilities as they are, so calibration, not only ranking, counts).
The regressor family is chosen by measurement: each candidate family is fitted on a
sample of the training rows and scored on the holdout; the most accurate wins, and a faster one
within ``FAMILY_R2_MARGIN`` of it is preferred (the simulator predicts in batches, so prediction
speed matters). The comparison is kept in the version's training report. The new version is
registered but not promoted: ``python -m training.retrain`` gates and promotes.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import brier_score_loss, mean_absolute_error, r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from training.bundle import PHASES, ModelBundle, PhaseModel
from training.cli import EXIT_OK, run_command, write_json_report
from training.features import (CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES, REFERENCE_FILE,
                               REFERENCE_ROWS, feature_hash)
from training.prepare import Prepared, prepare
from training.registry import Registry
from training.reliability import BREAKDOWN_STATUSES, fit_reliability
from training.schema import SCHEMA_HASH
from training.site import calibrate as calibrate_site
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

FAMILIES: tuple[str, ...] = ("hist_gradient_boosting", "random_forest", "ridge")
#: Rows of the training split used to compare families (the winner is refitted on all rows).
FAMILY_SAMPLE_ROWS = 20_000
#: A family within this many R2 points of the best counts as equally accurate.
FAMILY_R2_MARGIN = 0.005
#: Share of the (time-ordered) training rows kept aside to calibrate the gradient-boosting delay
#: classifier's probabilities (isotonic). Being the latest rows, the slice may miss whole weathers
#: (on the 20-day sample mine it held no rain at all), which is why the calibrated classifier competes
#: with a logistic regression fitted on all training rows (:data:`DELAY_FAMILIES`).
CALIBRATION_SHARE = 0.2
#: Delay classifiers compared on the holdout (lowest Brier score wins): gradient boosting calibrated on
#: the latest ``CALIBRATION_SHARE`` of training rows, and a logistic regression on all of them (its
#: log-loss fit calibrates its probabilities itself; the delay odds of a mine add up per condition).
DELAY_FAMILIES: tuple[str, ...] = ("hist_gradient_boosting", "logistic")
#: Inverse L2 penalty of the logistic delay classifier (one-hot + scaled inputs); sklearn's default.
LOGISTIC_C = 1.0
#: Iteration cap of the logistic fit (lbfgs converges in < 200 on the sample mine).
LOGISTIC_MAX_ITER = 2000
#: Fewest delayed training cycles a weather needs for its own delay-length array in the bundle (fewer:
#: the simulator resamples the pooled array). The sample mine's delay lengths have a coefficient of
#: variation of ~0.65 (``training.ground_truth.delay_sigma`` = 0.6 log-sd), so 30 lengths give the
#: weather's mean delay to a standard error of ~12 %, below the 20-100 % weather effect it must resolve.
MIN_DELAY_SAMPLES_PER_WEATHER = 30
#: Gradient-boosting size: enough rounds for the fleet's interactions, early stopping guards it.
HGB_MAX_ITER = 300
#: The prototype's forest size, kept so the comparison is against what it replaced.
RF_TREES = 100
#: Ridge penalty for the linear family and the log-duration models (one-hot + scaled inputs).
RIDGE_ALPHA = 1.0


def _preprocessor(scale: bool) -> ColumnTransformer:
    """One-hot encoding (+ imputation, scaling) for the linear models."""
    numeric = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric.append(("scale", StandardScaler()))
    return ColumnTransformer([
        ("num", Pipeline(numeric), list(NUMERIC_FEATURES)),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL_FEATURES)),
    ])


def _tree_preprocessor() -> ColumnTransformer:
    """Numeric columns as they are (trees handle NaN) and categories as integer codes.

    Unknown categories become -1, which gradient boosting treats as missing: a new weather
    value degrades to "unknown", it does not crash the simulator.
    """
    return ColumnTransformer([
        ("num", "passthrough", list(NUMERIC_FEATURES)),
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                               encoded_missing_value=-1), list(CATEGORICAL_FEATURES)),
    ])


#: Positions of the categorical columns after ``_tree_preprocessor`` (numeric columns first).
_TREE_CATEGORICAL = [False] * len(NUMERIC_FEATURES) + [True] * len(CATEGORICAL_FEATURES)


def make_regressor(family: str, seed: int) -> Pipeline:
    """A whole pipeline (encoding + regressor) of the named family."""
    if family == "hist_gradient_boosting":
        est = HistGradientBoostingRegressor(max_iter=HGB_MAX_ITER, early_stopping=True,
                                            categorical_features=_TREE_CATEGORICAL, random_state=seed)
        return Pipeline([("prep", _tree_preprocessor()), ("model", est)])
    if family == "random_forest":
        est = RandomForestRegressor(n_estimators=RF_TREES, min_samples_leaf=2, n_jobs=-1, random_state=seed)
        return Pipeline([("prep", _tree_preprocessor()), ("model", est)])
    if family == "ridge":
        return Pipeline([("prep", _preprocessor(scale=True)), ("model", Ridge(alpha=RIDGE_ALPHA))])
    raise ValueError(f"unknown model family {family!r}; known: {FAMILIES}")


def make_delay_classifier(seed: int, family: str = "hist_gradient_boosting") -> Pipeline:
    """A whole (uncalibrated) delay classification pipeline of one of :data:`DELAY_FAMILIES`."""
    if family == "hist_gradient_boosting":
        est = HistGradientBoostingClassifier(max_iter=HGB_MAX_ITER, early_stopping=True,
                                             categorical_features=_TREE_CATEGORICAL, random_state=seed)
        return Pipeline([("prep", _tree_preprocessor()), ("model", est)])
    if family == "logistic":
        est = LogisticRegression(C=LOGISTIC_C, max_iter=LOGISTIC_MAX_ITER, random_state=seed)
        return Pipeline([("prep", _preprocessor(scale=True)), ("model", est)])
    raise ValueError(f"unknown delay family {family!r}; known: {DELAY_FAMILIES}")


def fit_delay_family(family: str, train_df: pd.DataFrame, seed: int) -> Any:
    """The delay classifier of ``family`` fitted on the (time-ordered) training rows: gradient boosting
    on all but the latest ``CALIBRATION_SHARE``, calibrated (isotonic) on those; logistic on all."""
    X, y = list(FEATURE_COLUMNS), "delayed"
    if family == "logistic":
        return make_delay_classifier(seed, family).fit(train_df[X], train_df[y].to_numpy())
    n_cal = max(1, int(len(train_df) * CALIBRATION_SHARE))
    fit_part, cal_part = train_df.iloc[:-n_cal], train_df.iloc[-n_cal:]  # frame is time-ordered
    clf = make_delay_classifier(seed, family).fit(fit_part[X], fit_part[y].to_numpy())
    delay = CalibratedClassifierCV(FrozenEstimator(clf), method="isotonic")
    return delay.fit(cal_part[X], cal_part[y].to_numpy())


def calibration_by_weather(y: np.ndarray, proba: np.ndarray, weather: pd.Series) -> dict[str, dict[str, float]]:
    """Per weather: rows, observed delay rate and mean predicted probability (calibration-in-the-large)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(proba, dtype=float),
                          "w": weather.astype(str).to_numpy()})
    return {str(w): {"rows": int(len(g)), "observed_rate": float(g["y"].mean()),
                     "mean_probability": float(g["p"].mean())}
            for w, g in frame.groupby("w", sort=True)}


def choose_delay(train_df: pd.DataFrame, holdout: pd.DataFrame,
                 seed: int) -> tuple[Any, str, list[dict[str, Any]]]:
    """Fit every delay family, score each on the holdout; return the lowest-Brier one, its family and
    the comparison (Brier, AUC and per-weather calibration of each)."""
    X_ho, y_ho = holdout[list(FEATURE_COLUMNS)], holdout["delayed"].to_numpy()
    fitted, rows = {}, []
    for family in DELAY_FAMILIES:
        t0 = time.perf_counter()
        fitted[family] = model = fit_delay_family(family, train_df, seed)
        fit_s = time.perf_counter() - t0
        proba = model.predict_proba(X_ho)[:, 1]
        rows.append({"family": family, **classification_metrics(y_ho, proba), "fit_seconds": round(fit_s, 3),
                     "by_weather": calibration_by_weather(y_ho, proba, holdout["weather"])})
    best = min(rows, key=lambda r: (r["brier"], DELAY_FAMILIES.index(r["family"])))["family"]
    return fitted[best], best, rows


def split_by_time(at: pd.Series, holdout_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, holdout): the holdout is the latest ``holdout_share`` of cycles."""
    order = np.argsort(pd.to_datetime(at, utc=True).to_numpy(), kind="stable")
    n_hold = max(1, int(round(len(order) * holdout_share)))
    hold = np.zeros(len(order), dtype=bool)
    hold[order[-n_hold:]] = True
    return ~hold, hold


#: Rows in one simulator prediction batch: the reference grid's (truck, excavator) pairs, 15 x 3.
SIMULATOR_BATCH_ROWS = 45
#: Repeats when timing a prediction call (the fastest is kept).
TIMING_REPEATS = 5


def _predict_latency_ms(model: Any, X: pd.DataFrame, rows: int) -> float:
    """Fastest of ``TIMING_REPEATS`` ``predict`` calls on ``rows`` rows on one thread, milliseconds.

    One thread and the minimum make the figure a property of the model, not of the machine's load:
    on a busy machine OpenMP's spinning threads made a 7-ms gradient-boosting batch measure 900 ms
    (median), which flipped the family choice and so the champion a retrain produces."""
    sample = X.iloc[: min(len(X), rows)]
    times = []
    with threadpool_limits(limits=1):
        for _ in range(TIMING_REPEATS):
            t0 = time.perf_counter()
            model.predict(sample)
            times.append(time.perf_counter() - t0)
    return float(np.min(times) * 1e3)


def compare_families(X_tr: pd.DataFrame, y_tr: np.ndarray, X_ho: pd.DataFrame, y_ho: np.ndarray,
                     seed: int) -> list[dict[str, Any]]:
    """Fit each family on a sample of the training rows; score on the holdout."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X_tr), size=min(len(X_tr), FAMILY_SAMPLE_ROWS), replace=False)
    rows = []
    for family in FAMILIES:
        model = make_regressor(family, seed)
        t0 = time.perf_counter()
        model.fit(X_tr.iloc[idx], y_tr[idx])
        fit_s = time.perf_counter() - t0
        pred = model.predict(X_ho)
        rows.append({"family": family, "r2": float(r2_score(y_ho, pred)),
                     "mae": float(mean_absolute_error(y_ho, pred)), "fit_seconds": round(fit_s, 3),
                     "predict_ms_per_batch": round(_predict_latency_ms(model, X_ho, SIMULATOR_BATCH_ROWS), 3),
                     "predict_ms_per_2000_rows": round(_predict_latency_ms(model, X_ho, 2000), 3),
                     "sample_rows": int(len(idx))})
    return rows


def choose_family(comparison: list[dict[str, Any]]) -> str:
    """The most accurate family; among those within the margin, the fastest to predict a
    simulator batch, then the fastest to fit (retraining has a time budget)."""
    best = max(r["r2"] for r in comparison)
    near = [r for r in comparison if r["r2"] >= best - FAMILY_R2_MARGIN]
    return min(near, key=lambda r: (r["predict_ms_per_batch"], r["fit_seconds"]))["family"]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred))}


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    auc = float(roc_auc_score(y, proba)) if len(np.unique(y)) == 2 else float("nan")
    return {"auc": auc, "brier": float(brier_score_loss(y, proba)), "positive_rate": float(np.mean(y))}


def evaluate_bundle(bundle: ModelBundle, holdout: pd.DataFrame) -> dict[str, Any]:
    """Holdout metrics of a bundle (candidate or champion) on a prepared holdout frame."""
    X = holdout[list(FEATURE_COLUMNS)]
    metrics: dict[str, Any] = {
        "fuel": regression_metrics(holdout["fuel_l"].to_numpy(), bundle.fuel.predict(X)),
        "payload": regression_metrics(holdout["payload_t"].to_numpy(), bundle.payload.predict(X)),
        "delay": classification_metrics(holdout["delayed"].to_numpy(), bundle.delay.predict_proba(X)[:, 1]),
    }
    metrics["durations"] = duration_fit(bundle.durations, holdout)
    metrics["holdout"] = {"rows": int(len(holdout))}
    return metrics


#: Resolution of the fleet database's phase durations and timestamps, minutes (it stores whole
#: minutes). Durations observed on this grid are "dequantised" before fitting: each gets a
#: uniform draw of +-half a step, which undoes the rounding in distribution; without it a
#: 1.5-minute dump phase looks like a two-point distribution and no continuous law fits it.
DURATION_RESOLUTION_MIN = 1.0
#: Smallest duration kept after dequantising, as a share of the resolution (a phase takes time).
MIN_DURATION_SHARE = 0.05
#: Bisection steps of :func:`corrected_spread` (the bracket [0, observed spread] halves each step:
#: 20 steps resolve sigma to ~1e-6 of it).
SPREAD_BISECTION_STEPS = 20


def _on_time(frame: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Cycles whose phase duration is a clean observation (not delayed, recorded)."""
    col = f"{phase}_min"
    return frame[(frame["delayed"] == 0) & (frame[col] >= 0)]


def dequantise(minutes: np.ndarray, rng: np.random.Generator,
               resolution: float = DURATION_RESOLUTION_MIN) -> np.ndarray:
    """Undo rounding to ``resolution`` by a uniform jitter; values off the grid pass unchanged."""
    minutes = np.asarray(minutes, dtype=float)
    if not on_grid(minutes, resolution).all():
        return minutes
    jitter = rng.uniform(-resolution / 2, resolution / 2, size=minutes.shape)
    return np.clip(minutes + jitter, resolution * MIN_DURATION_SHARE, None)


def fit_durations(train: pd.DataFrame, seed: int) -> dict[str, PhaseModel]:
    """Per phase a lognormal: Ridge on log-minutes, sigma from the training residuals, corrected for
    the recording's rounding when the durations are on the whole-minute grid (:func:`corrected_spread`)."""
    models = {}
    rng = np.random.default_rng(seed)
    for phase in PHASES:
        rows = _on_time(train, phase)
        minutes = rows[f"{phase}_min"].to_numpy(dtype=float)
        y = np.log(dequantise(minutes, rng))
        model = Pipeline([("prep", _preprocessor(scale=True)), ("model", Ridge(alpha=RIDGE_ALPHA))])
        model.fit(rows[list(FEATURE_COLUMNS)], y)
        mu = model.predict(rows[list(FEATURE_COLUMNS)])
        observed = float(np.std(y - mu, ddof=1))
        if on_grid(minutes).all():
            sigma, offset = corrected_spread(mu, observed, rng)
        else:
            sigma, offset = observed, 0.0
        models[phase] = PhaseModel(model=model, sigma=sigma, offset=offset)
    return models


def on_grid(minutes: np.ndarray, resolution: float = DURATION_RESOLUTION_MIN) -> np.ndarray:
    """Which durations sit on the recording grid (whole multiples of ``resolution``)."""
    rest = np.mod(np.asarray(minutes, dtype=float), resolution)
    return np.isclose(rest, 0.0) | np.isclose(rest, resolution)


def recorded_log_spread(mu: np.ndarray, sigma: float, offset: float, rng: np.random.Generator,
                        resolution: float = DURATION_RESOLUTION_MIN) -> float:
    """Log-residual spread the training data would show if each phase truly lasted
    ``lognormal(mu + offset, sigma)`` minutes and was recorded as the fleet database records it: the
    difference of a start and an end timestamp each rounded to ``resolution`` (the start at a uniform
    point between two marks), then dequantised as :func:`fit_durations` does."""
    true = np.exp(mu + offset + sigma * rng.standard_normal(mu.shape))
    start = rng.random(mu.shape) * resolution
    recorded = (np.round((start + true) / resolution) - np.round(start / resolution)) * resolution
    y = np.log(dequantise(np.maximum(recorded, 0.0), rng, resolution))
    return float(np.std(y - mu, ddof=1))


def corrected_spread(mu: np.ndarray, observed: float, rng: np.random.Generator,
                     resolution: float = DURATION_RESOLUTION_MIN) -> tuple[float, float]:
    """(sigma, offset) of the true phase durations behind an ``observed`` log-residual spread of
    whole-minute records: the sigma whose simulated recording (:func:`recorded_log_spread`, the same
    random numbers at every trial) shows ``observed``, found by bisection; offset keeps the mean minutes
    ``exp(mu + offset + sigma^2/2)`` at the fitted ``exp(mu + observed^2/2)`` (rounding adds spread, not
    minutes). Rounding a 2-minute loading to whole minutes adds ~0.25 min^2 of variance, more than the
    phase's own; a simulator fed the raw spread queues its trucks too much. When rounding alone explains
    the spread, sigma is 0 (the phase is as regular as the records can tell)."""
    seed = int(rng.integers(2 ** 32))

    def spread(sigma: float) -> float:
        return recorded_log_spread(mu, sigma, (observed ** 2 - sigma ** 2) / 2, np.random.default_rng(seed),
                                   resolution)

    low, high = 0.0, observed
    if spread(low) >= observed:
        return 0.0, observed ** 2 / 2
    for _ in range(SPREAD_BISECTION_STEPS):
        mid = (low + high) / 2
        low, high = (mid, high) if spread(mid) < observed else (low, mid)
    sigma = (low + high) / 2
    return sigma, (observed ** 2 - sigma ** 2) / 2


def duration_fit(durations: dict[str, PhaseModel], holdout: pd.DataFrame,
                 seed: int = 0) -> dict[str, dict[str, float]]:
    """Goodness of fit per phase on the holdout: KS statistic of standardised log-residuals
    (of the dequantised durations) against N(0, 1) and the error of the predicted mean minutes.

    The records are compared with the *recorded* law: log-mean ``mu - offset`` and variance
    ``sigma^2 + 2 offset`` (the spread before :func:`corrected_spread` took the rounding out)."""
    out = {}
    rng = np.random.default_rng(seed)
    for phase, pm in durations.items():
        rows = _on_time(holdout, phase)
        if rows.empty:
            out[phase] = {"ks_statistic": float("nan"), "mean_abs_error_min": float("nan"), "rows": 0}
            continue
        y = dequantise(rows[f"{phase}_min"].to_numpy(), rng)
        mu = pm.mu(rows[list(FEATURE_COLUMNS)])
        recorded_sigma = math.sqrt(pm.sigma ** 2 + 2 * pm.offset)
        z = (np.log(y) - (mu - pm.offset)) / recorded_sigma
        mean_pred = np.exp(mu + pm.sigma ** 2 / 2)
        out[phase] = {"ks_statistic": float(stats.kstest(z, "norm").statistic),
                      "mean_abs_error_min": float(np.mean(np.abs(mean_pred - y))),
                      "mean_actual_min": float(np.mean(y)), "mean_predicted_min": float(np.mean(mean_pred)),
                      "sigma": pm.sigma, "recorded_sigma": recorded_sigma, "rows": int(len(rows))}
    return out


def delay_minutes_by_weather(minutes: pd.Series, weather: pd.Series,
                             min_samples: int = MIN_DELAY_SAMPLES_PER_WEATHER) -> dict[str, np.ndarray]:
    """Observed delay lengths (min) per weather, for weathers with at least ``min_samples`` of them."""
    values = pd.to_numeric(minutes, errors="coerce").astype(float)
    out = {}
    for w, group in values.groupby(weather.astype(str).to_numpy(), sort=True):
        kept = group.dropna().to_numpy(dtype=float)
        if kept.size >= min_samples:
            out[str(w)] = kept
    return out


@dataclass(frozen=True)
class TrainResult:
    """A fitted candidate with its holdout, metrics and training report."""

    bundle: ModelBundle
    metrics: dict[str, Any]
    report: dict[str, Any]
    holdout: pd.DataFrame


def phase_residuals(durations: dict[str, PhaseModel], frame: pd.DataFrame, cycle_ids: pd.Series) -> dict[str, np.ndarray]:
    """Per phase, log(recorded minutes) - the model's log-mean for the cycles ``cycle_ids`` (in that order;
    a whole-minute 0 counts as half a minute), for the site's shift-level effects."""
    rows = frame.set_index("cycle_id").loc[cycle_ids.astype(str).to_numpy()]
    X = rows[list(FEATURE_COLUMNS)]
    return {p: np.log(np.maximum(rows[f"{p}_min"].to_numpy(dtype=float), 0.5)) - durations[p].mu(X)
            for p in PHASES}


def train(prepared: Prepared, settings: TrainingSettings) -> TrainResult:
    """Fit every model of a bundle on the training split and evaluate it on the holdout."""
    started = time.perf_counter()
    seed = settings.random_seed
    frame = prepared.frame
    tr_mask, ho_mask = split_by_time(frame["at"], settings.holdout_share)
    train_df, holdout = frame[tr_mask], frame[ho_mask]
    X_tr = train_df[list(FEATURE_COLUMNS)]
    X_ho = holdout[list(FEATURE_COLUMNS)]
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    comparison = compare_families(X_tr, train_df["fuel_l"].to_numpy(), X_ho, holdout["fuel_l"].to_numpy(), seed)
    family = choose_family(comparison)
    timings["family_comparison"] = time.perf_counter() - t0
    log.info("model family by measurement: %s (%s)", family,
             ", ".join(f"{r['family']} r2={r['r2']:.3f} {r['predict_ms_per_batch']}ms/batch" for r in comparison))

    t0 = time.perf_counter()
    fuel = make_regressor(family, seed).fit(X_tr, train_df["fuel_l"].to_numpy())
    payload = make_regressor(family, seed).fit(X_tr, train_df["payload_t"].to_numpy())
    timings["fit_regressors"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    delay, delay_family, delay_comparison = choose_delay(train_df, holdout, seed)
    timings["fit_delay"] = time.perf_counter() - t0
    log.info("delay classifier by measurement: %s (%s)", delay_family,
             ", ".join(f"{r['family']} brier={r['brier']:.4f}" for r in delay_comparison))

    t0 = time.perf_counter()
    durations = fit_durations(train_df, seed)
    timings["fit_durations"] = time.perf_counter() - t0

    delayed = train_df[(train_df["delayed"] == 1) & (train_df["delay_min"] > 0)]
    delayed_minutes = delayed["delay_min"].to_numpy(dtype=float)
    # Reliability and site figures from the training split's period only (the backtest replays the rest).
    hauling = prepared.export.hauling_activities
    in_training = hauling["loadingStartTime"] < holdout["at"].min() if len(holdout) else hauling["id"].notna()
    breakdowns = int((in_training & hauling["status"].isin(BREAKDOWN_STATUSES)).sum())
    reliability = fit_reliability(train_df[["truck_id", "excavator_id", "at", "shift"]],
                                  prepared.export.maintenance_logs, breakdown_cycles=breakdowns,
                                  hauling=hauling[in_training])
    site_cycles = hauling[hauling["id"].isin(set(train_df["cycle_id"]))]
    site = calibrate_site(site_cycles, phase_residuals(durations, train_df, site_cycles["id"]))

    bundle = ModelBundle(
        version="candidate", fuel=fuel, payload=payload, delay=delay, durations=durations,
        residuals={"fuel": holdout["fuel_l"].to_numpy() - fuel.predict(X_ho),
                   "payload": holdout["payload_t"].to_numpy() - payload.predict(X_ho)},
        delay_minutes=delayed_minutes, reliability=reliability,
        delay_minutes_by_weather=delay_minutes_by_weather(delayed["delay_min"], delayed["weather"]), site=site)
    t0 = time.perf_counter()
    metrics = evaluate_bundle(bundle, holdout)
    timings["evaluate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    report = {
        "family": family, "family_comparison": comparison, "seed": seed,
        "delay_family": delay_family, "delay_comparison": delay_comparison,
        "train_rows": int(len(train_df)), "holdout_rows": int(len(holdout)),
        "holdout_from": str(holdout["at"].min()), "holdout_to": str(holdout["at"].max()),
        "reliability": {k: v.to_dict() for k, v in reliability.items()},
        "site": site.to_dict(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return TrainResult(bundle=bundle, metrics=metrics, report=report, holdout=holdout)


def register(registry: Registry, result: TrainResult, prepared: Prepared) -> str:
    """Write the candidate as a new immutable registry version; return its name."""
    metadata = {
        "schema_hash": SCHEMA_HASH, "feature_hash": feature_hash(), "data_hash": prepared.data_hash,
        "row_counts": prepared.row_counts, "metrics": result.metrics,
        "training_seconds": result.report["timings_seconds"]["total"], "seed": result.report["seed"],
        "feature_columns": list(FEATURE_COLUMNS), "training_report": result.report,
    }
    reference = reference_sample(result, prepared)

    def write(folder) -> None:
        result.bundle.save(folder)
        reference.to_parquet(folder / REFERENCE_FILE, index=False)

    return registry.create_version(write, metadata)


def reference_sample(result: TrainResult, prepared: Prepared) -> pd.DataFrame:
    """Training rows with the candidate's predictions: the drift job's reference distribution."""
    frame = prepared.frame
    train_rows = frame[~frame.index.isin(result.holdout.index)]
    n = min(len(train_rows), REFERENCE_ROWS)
    sample = train_rows.sample(n=n, random_state=result.report["seed"]).sort_values("at")
    features = sample[list(FEATURE_COLUMNS)]
    pred = result.bundle.predict(features)
    out = features.reset_index(drop=True).copy()
    out["predicted_payload_t"] = pred.payload_t
    out["predicted_fuel_l"] = pred.fuel_l
    out["predicted_delay_probability"] = pred.delay_probability
    return out


def summary_line(metrics: dict[str, Any]) -> str:
    return (f"fuel R2={metrics['fuel']['r2']:.3f} payload R2={metrics['payload']['r2']:.3f} "
            f"delay AUC={metrics['delay']['auc']:.3f} Brier={metrics['delay']['brier']:.3f}")


def _run(paths, settings: TrainingSettings) -> int:
    prepared = prepare(paths, settings)
    result = train(prepared, settings)
    version = register(Registry(paths.models), result, prepared)
    write_json_report(paths.logs / "train" / f"{version}.json",
                      {"version": version, "metrics": result.metrics, "report": result.report})
    print(f"trained {version} (not promoted): {summary_line(result.metrics)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m training.train", __doc__, _run, argv)

if __name__ == "__main__":
    sys.exit(main())
