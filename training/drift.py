"""``python -m training.drift [--since 7d]``: Evidently drift of the prediction log against the champion.

The reference is the champion version's ``reference.parquet`` (a sample of its training rows with
the model's predictions); the current data are the rows of ``logs/prediction_logs.csv`` logged in
the last ``--since``. Every input feature (data drift) and every prediction column (prediction
drift) is compared; drift is declared when the share of drifted columns exceeds the threshold
(``MINEOPS_DRIFT_THRESHOLD``). Writes ``logs/drift/<UTC time>.html`` (Evidently's report),
``<UTC time>.json`` (compact summary) and ``latest.json`` (what the API serves at
``GET /drift/latest`` and turns into Prometheus gauges).

The live batch layer also checks the new cycles it exports into the training data against the
same reference (``cycle_features`` + ``run_cycle_drift``: the model's features only, reports
``logs/drift/cycles-*``).

Exit codes: 0 no drift (or too few rows to judge), 4 drift above the threshold, 2 bad input (no
champion, missing reference, missing/garbled log). Evidently (about 4 s to import) is imported
only when a comparison runs, so importing this module (the API does) stays cheap.

API used: Evidently 0.7 ``Report([DataDriftPreset(...)], include_tests=True).run(current, reference)``
on ``Dataset.from_pandas(..., data_definition=DataDefinition(...))``, read via ``Snapshot.dict()``
and written via ``Snapshot.save_html``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.cli import (EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK, add_path_args, resolve_paths, setup_logging,
                          write_json_report)
from training.errors import BadInputError, RegistryError
from training.features import (CATEGORICAL_FEATURES, FEATURE_COLUMNS, PREDICTION_COLUMNS, PREDICTION_LOG_COLUMNS,
                               REFERENCE_FILE)
from training.registry import Registry
from training.settings import get_settings

log = logging.getLogger(__name__)

#: The prediction log the API appends to, inside the logs folder (columns ``PREDICTION_LOG_COLUMNS``).
PREDICTION_LOG_FILE = "prediction_logs.csv"
#: Folder (inside the logs folder) of the drift reports; ``latest.json`` there is the last result.
DRIFT_DIR = "drift"
LATEST_FILE = "latest.json"
#: Prefix of the reports on new cycles against the champion's training data (the live batch layer's).
CYCLES_PREFIX = "cycles-"
#: Default look-back window of the current data.
DEFAULT_SINCE = "7d"
#: Fewest logged rows in the window worth comparing; below it the status is ``insufficient_data``.
#: Measured on a drift-free log resampled from a 3,000-row reference (60 draws each): the largest
#: of the 19 distances below reaches the column threshold in 100% of draws at 100 rows, 30% at 500
#: and 0% at 1,000 (95th percentile 0.091 < 0.1), so fewer rows would raise false alarms.
MIN_CURRENT_ROWS = 1_000
#: Rows of the window compared at most (a uniform sample beyond it): the distances' sampling noise
#: is ~0.01 there (it shrinks as 1/sqrt(rows)) and Evidently's CPU time stays small (measured: 2.1 s
#: at 5,000 rows, 3.2 s at 20,000, plus ~4 s to import Evidently).
MAX_CURRENT_ROWS = 20_000
#: Seed of that sample, so a rerun over the same log gives the same report.
SAMPLE_SEED = 0

#: Per-column tests, pinned to Evidently's own choice for references over 1,000 rows (ours hold up
#: to ``REFERENCE_ROWS`` = 5,000) so the verdict does not change with sample size. Both are effect
#: sizes, not p-values: a p-value test on 19 columns raises a false alarm in ~60% of clean runs
#: (1 - 0.95**19) and flags negligible shifts once the log is large.
NUMERICAL_STATTEST = "wasserstein"  # Wasserstein distance / std of the reference (dimensionless)
CATEGORICAL_STATTEST = "jensenshannon"  # Jensen-Shannon distance of the category shares (0..0.83, ln)
#: A column drifts when its distance reaches this (Evidently's default for both tests above).
COLUMN_DRIFT_THRESHOLD = 0.1

#: Columns compared: numeric features and predictions as numerical, the rest categorical.
NUMERICAL_COLUMNS: tuple[str, ...] = (
    tuple(c for c in FEATURE_COLUMNS if c not in CATEGORICAL_FEATURES) + PREDICTION_COLUMNS
)
COMPARED_COLUMNS: tuple[str, ...] = FEATURE_COLUMNS + PREDICTION_COLUMNS

STATUS_OK = "ok"
STATUS_DRIFT = "drift"
STATUS_INSUFFICIENT = "insufficient_data"

_SINCE_RE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_SINCE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_FAILED = "FAIL"  # Evidently test status of a column whose drift was detected
_MAX_PROBLEMS = 5


def parse_since(text: str) -> timedelta:
    """``"7d"``, ``"24h"``, ``"90m"`` -> timedelta; ValueError otherwise."""
    match = _SINCE_RE.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--since must be a positive whole number of d, h or m (e.g. 7d, 24h, 90m), got {text!r}")
    return timedelta(**{_SINCE_UNITS[match.group(2)]: int(match.group(1))})


def _clean_types(frame: pd.DataFrame, columns: tuple[str, ...] = COMPARED_COLUMNS) -> pd.DataFrame:
    """Compared columns only: numbers as float, categories as str (missing stays NaN)."""
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        if column in NUMERICAL_COLUMNS:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        else:
            out[column] = frame[column].where(frame[column].isna(), frame[column].astype(str)).astype(object)
    return out


def unseen_categories(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per categorical feature, values in ``current`` never seen in ``reference`` -> row count."""
    found: dict[str, dict[str, int]] = {}
    for column in CATEGORICAL_FEATURES:
        known = set(reference[column].dropna().astype(str))
        counts = current[column].dropna().astype(str).value_counts()
        new = {str(v): int(n) for v, n in counts.items() if v not in known}
        if new:
            found[column] = dict(sorted(new.items()))
    return found


def _run_report(reference: pd.DataFrame, current: pd.DataFrame, threshold: float,
                columns: tuple[str, ...] = COMPARED_COLUMNS) -> tuple[dict[str, Any], Any]:
    """Run Evidently's DataDriftPreset on ``columns``; return (summary, snapshot)."""
    from evidently import DataDefinition, Dataset, Report  # heavy (~4 s): only the drift job pays it
    from evidently import __version__ as evidently_version
    from evidently.presets import DataDriftPreset

    missing = {name: [c for c in columns if c not in frame.columns]
               for name, frame in (("reference", reference), ("current", current))}
    missing = {name: cols for name, cols in missing.items() if cols}
    if missing:
        raise BadInputError(f"drift frames lack column(s): {missing}")
    reference, current = _clean_types(reference, columns), _clean_types(current, columns)
    empty = [c for c in columns if reference[c].isna().all() or current[c].isna().all()]
    compared = [c for c in columns if c not in empty]
    if not compared:
        raise BadInputError("no column has values in both the reference and the current data")
    numerical = [c for c in compared if c in NUMERICAL_COLUMNS]
    categorical = [c for c in compared if c not in NUMERICAL_COLUMNS]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(
        columns=compared, drift_share=threshold,
        num_method=NUMERICAL_STATTEST, cat_method=CATEGORICAL_STATTEST,
        num_threshold=COLUMN_DRIFT_THRESHOLD, cat_threshold=COLUMN_DRIFT_THRESHOLD,
    )
    snapshot = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current[compared], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[compared], data_definition=definition),
    )
    result = snapshot.dict()
    failed = {t["metric_config"]["metric_id"] for t in result["tests"] if t.get("status") == _FAILED}
    per_column: dict[str, dict[str, Any]] = {}
    share = None
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith(":ValueDrift"):
            per_column[config["column"]] = {
                "drift_score": float(metric["value"]),
                "stattest": config.get("method"),
                "stattest_threshold": config.get("threshold"),
                "drifted": metric["id"] in failed,
            }
        elif kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    if set(per_column) != set(compared) or share is None:
        raise RuntimeError(f"unexpected Evidently {evidently_version} result: columns {sorted(per_column)}")
    per_column = {c: per_column[c] for c in compared}
    drifted = [c for c in compared if per_column[c]["drifted"]]
    dataset_drift = share > threshold
    summary = {
        "reference_rows": int(len(reference)),
        "current_rows": int(len(current)),
        "drift_share": share,
        "drifted_columns": drifted,
        "drifted_count": len(drifted),
        "columns_compared": len(compared),
        "per_column": per_column,
        "dataset_drift": dataset_drift,
        "threshold": float(threshold),
        "status": STATUS_DRIFT if dataset_drift else STATUS_OK,
        "skipped_columns": empty,
        "unseen_categories": unseen_categories(reference, current),
        "evidently_version": evidently_version,
    }
    return summary, snapshot


def summarise_drift(reference: pd.DataFrame, current: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Evidently drift of ``current`` vs ``reference`` (features + predictions); drift if share > threshold.

    Returns ``drift_share`` (share of compared columns that drifted), ``drifted_columns``,
    ``per_column`` ({col: {drift_score, stattest, drifted}}), ``dataset_drift``, ``status``
    (``"ok"``/``"drift"``) and row counts. Columns empty in either frame are skipped and listed;
    BadInputError if a compared column is missing. Drift needs the share strictly above ``threshold``
    (Evidently's own HTML verdict uses >=, so the two differ only at exact equality).
    """
    return _run_report(reference, current, threshold)[0]


# ------------------------------------------------------------------------------------------ inputs


def load_reference(models_dir: Path) -> tuple[str, Path, pd.DataFrame]:
    """(champion version, reference file, its frame); BadInputError if there is none to use."""
    registry = Registry(models_dir)
    try:
        version = registry.champion()
        if version is None:
            raise BadInputError(f"no champion in {models_dir}: train and promote a model first "
                                "(python -m training.retrain)")
        path = registry.path(version) / REFERENCE_FILE
    except RegistryError as exc:
        raise BadInputError(f"model registry {models_dir}: {exc}") from exc
    if not path.is_file():
        raise BadInputError(f"{path} not found: champion {version} has no drift reference (retrain to create one)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise BadInputError(f"{path} is unreadable: {exc}") from exc
    lacking = [c for c in COMPARED_COLUMNS if c not in frame.columns]
    if lacking:
        raise BadInputError(f"{path} lacks column(s) {lacking}")
    return version, path, frame


def load_log(path: Path, max_bad_row_share: float) -> tuple[pd.DataFrame, int]:
    """The prediction log with ``logged_at`` as UTC datetimes and the count of dropped bad rows.

    A row is bad when its ``logged_at`` or a numeric column does not parse; bad rows are dropped
    unless they exceed ``max_bad_row_share`` of the file (then the log is garbled: BadInputError).
    """
    if not path.is_file():
        raise BadInputError(f"prediction log {path} not found (the API writes it when it serves predictions)")
    try:
        frame = pd.read_csv(path, dtype=str)  # pandas' NA spellings ("", nan, NULL, ...) become NaN
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"prediction log {path} is garbled: {exc}") from exc
    lacking = [c for c in PREDICTION_LOG_COLUMNS if c not in frame.columns]
    if lacking:
        raise BadInputError(f"prediction log {path} lacks column(s) {lacking}; "
                            f"expected {list(PREDICTION_LOG_COLUMNS)}")
    logged_at = pd.to_datetime(frame["logged_at"], utc=True, errors="coerce", format="ISO8601")
    bad = logged_at.isna()
    problems = [f"{path} row {i + 2}: logged_at {frame['logged_at'].iat[i]!r} is not an ISO time"
                for i in bad.to_numpy().nonzero()[0][:_MAX_PROBLEMS]]
    for column in NUMERICAL_COLUMNS:
        raw = frame[column]
        parsed = pd.to_numeric(raw, errors="coerce")
        wrong = parsed.isna() & raw.notna()
        problems += [f"{path} row {i + 2}: {column} {raw.iat[i]!r} is not a number"
                     for i in wrong.to_numpy().nonzero()[0][:_MAX_PROBLEMS]]
        bad |= wrong
        frame[column] = parsed.astype(float)
    n_bad = int(bad.sum())
    if len(frame) and n_bad / len(frame) > max_bad_row_share:
        raise BadInputError(f"prediction log {path} is garbled: {n_bad} of {len(frame)} rows unreadable "
                            f"(more than {max_bad_row_share:.0%})", problems[:_MAX_PROBLEMS])
    if n_bad:
        log.warning("%s: dropped %d unreadable row(s), e.g. %s", path, n_bad, problems[0])
    frame["logged_at"] = logged_at
    return frame[~bad].reset_index(drop=True), n_bad


# ------------------------------------------------------------------------------------------ the job


def run_drift(models_dir: Path, logs_dir: Path, since: str, threshold: float, now: datetime | None = None, *,
              min_rows: int = MIN_CURRENT_ROWS,
              max_bad_row_share: float | None = None) -> tuple[dict[str, Any], Path | None]:
    """Compare the last ``since`` of the prediction log with the champion's reference; write the reports.

    Returns (summary, HTML report path or None when there were too few rows). Writes
    ``logs_dir/drift/<UTC time>.json`` (+ ``.html``) and ``latest.json``. Raises BadInputError.
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    try:
        window = parse_since(since)
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    if not 0.0 <= threshold <= 1.0:
        raise BadInputError(f"drift threshold must be a share between 0 and 1, got {threshold}")
    if max_bad_row_share is None:
        max_bad_row_share = get_settings().max_bad_row_share
    version, reference_path, reference = load_reference(Path(models_dir))
    log_path = Path(logs_dir) / PREDICTION_LOG_FILE
    frame, n_bad = load_log(log_path, max_bad_row_share)
    start = now - window
    current = frame[frame["logged_at"] >= pd.Timestamp(start)]
    window_rows = len(current)
    versions = {str(k): int(v) for k, v in current["model_version"].value_counts(dropna=False).items()}
    if window_rows > MAX_CURRENT_ROWS:
        current = current.sample(n=MAX_CURRENT_ROWS, random_state=np.random.default_rng(SAMPLE_SEED))
    header = {
        "generated_at": now.isoformat(timespec="seconds"),
        "model_version": version,
        "since": since,
        "window_start": start.isoformat(timespec="seconds"),
        "reference_file": str(reference_path),
        "log_file": str(log_path),
        "log_rows_dropped": n_bad,
        "model_versions_in_window": versions,
        "window_rows": int(window_rows),
        "threshold": float(threshold),
        "min_rows": int(min_rows),
    }
    folder = Path(logs_dir) / DRIFT_DIR
    stamp = now.astimezone(timezone.utc).strftime(_STAMP_FORMAT)
    html_path: Path | None = None
    if len(current) < min_rows:
        summary = {**header, "reference_rows": int(len(reference)), "current_rows": int(len(current)),
                   "drift_share": None, "drifted_columns": [], "per_column": {}, "dataset_drift": False,
                   "status": STATUS_INSUFFICIENT}
    else:
        result, snapshot = _run_report(reference, current, threshold)
        folder.mkdir(parents=True, exist_ok=True)
        html_path = folder / f"{stamp}.html"
        snapshot.save_html(str(html_path))
        summary = {**header, **result, "html_report": html_path.name}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    write_json_report(folder / f"{stamp}.json", summary)
    write_json_report(folder / LATEST_FILE, summary)
    return summary, html_path


def cycle_features(records: list[dict[str, str]], data_dir: Path, max_bad_row_share: float) -> pd.DataFrame:
    """The model features (``FEATURE_COLUMNS``) of the finished cycles among ``records`` (fields of
    ``hauling_activities`` as text, as the fleet system sends and the export holds them), built the way
    training builds them (``training.prepare.training_frame`` on the fleet in ``data_dir``); records the
    loader would refuse are left out."""
    from training.dataset import check_records, load_master
    from training.prepare import training_frame

    master = load_master(data_dir, max_bad_share=max_bad_row_share)
    parents = {name: master.table(name) for name in ("trucks", "excavators", "operators", "road_segments")}
    checked = check_records("hauling_activities", records, parents)
    if checked.rejected:
        log.warning("cycle drift: %d of %d new cycle(s) left out, refused by the loader's checks",
                    len(checked.rejected), len(records))
    frame = training_frame(dataclasses.replace(master, hauling_activities=checked.frame.reset_index(drop=True)))
    return frame[list(FEATURE_COLUMNS)]


def run_cycle_drift(models_dir: Path, logs_dir: Path, features: pd.DataFrame, threshold: float,
                    now: datetime | None = None, *, min_rows: int = MIN_CURRENT_ROWS,
                    label: str = "new cycles") -> dict[str, Any]:
    """Compare new cycles' features with the champion's training data (its reference sample); write the reports.

    ``features``: ``FEATURE_COLUMNS`` of the cycles the champion has not been trained on
    (:func:`cycle_features`). Only the features are compared: new cycles carry no predictions. The
    same tests, thresholds and row minimum as the prediction log's drift; writes
    ``logs_dir/drift/cycles-<UTC time>.json`` (+ ``.html``) and ``cycles-latest.json``. Raises
    BadInputError (no champion or reference).
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    if not 0.0 <= threshold <= 1.0:
        raise BadInputError(f"drift threshold must be a share between 0 and 1, got {threshold}")
    version, reference_path, reference = load_reference(Path(models_dir))
    current = features
    window_rows = len(current)
    if window_rows > MAX_CURRENT_ROWS:
        current = current.sample(n=MAX_CURRENT_ROWS, random_state=np.random.default_rng(SAMPLE_SEED))
    header = {"generated_at": now.isoformat(timespec="seconds"), "model_version": version, "compared": label,
              "reference_file": str(reference_path), "window_rows": int(window_rows),
              "threshold": float(threshold), "min_rows": int(min_rows)}
    folder = Path(logs_dir) / DRIFT_DIR
    stamp = now.astimezone(timezone.utc).strftime(_STAMP_FORMAT)
    if len(current) < min_rows:
        summary = {**header, "reference_rows": int(len(reference)), "current_rows": int(len(current)),
                   "drift_share": None, "drifted_columns": [], "per_column": {}, "dataset_drift": False,
                   "status": STATUS_INSUFFICIENT}
    else:
        result, snapshot = _run_report(reference, current, threshold, columns=FEATURE_COLUMNS)
        folder.mkdir(parents=True, exist_ok=True)
        html_path = folder / f"{CYCLES_PREFIX}{stamp}.html"
        snapshot.save_html(str(html_path))
        summary = {**header, **result, "html_report": html_path.name}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    write_json_report(folder / f"{CYCLES_PREFIX}{stamp}.json", summary)
    write_json_report(folder / f"{CYCLES_PREFIX}{LATEST_FILE}", summary)
    return summary


def read_latest(logs_dir: Path) -> dict[str, Any] | None:
    """The last drift summary (``logs_dir/drift/latest.json``), None if the job never ran or it is unreadable."""
    try:
        data = json.loads((Path(logs_dir) / DRIFT_DIR / LATEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def summary_line(summary: dict[str, Any], html_path: Path | None) -> str:
    """One human line for stdout."""
    head = f"drift: {summary['model_version']} vs prediction log since {summary['since']}"
    if summary["status"] == STATUS_INSUFFICIENT:
        return (f"{head}: insufficient data, {summary['current_rows']} row(s) in the window "
                f"(need {summary['min_rows']}); nothing compared")
    verdict = "DRIFT" if summary["dataset_drift"] else "no drift"
    share = summary["drift_share"]
    cmp = ">" if summary["dataset_drift"] else "<="
    columns = ", ".join(summary["drifted_columns"]) or "none"
    unseen = summary.get("unseen_categories") or {}
    extra = "; unseen " + ", ".join(f"{c}={sorted(v)}" for c, v in unseen.items()) if unseen else ""
    sampled = f" (sample of {summary['window_rows']})" if summary["window_rows"] > summary["current_rows"] else ""
    return (f"{head}: {verdict}, {summary['drifted_count']}/{summary['columns_compared']} columns drifted "
            f"(share {share:.3f} {cmp} threshold {summary['threshold']:.3f}): {columns}{extra}; "
            f"{summary['current_rows']}{sampled} logged vs {summary['reference_rows']} reference rows; "
            f"report {html_path}; {summary['seconds']} s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training.drift``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m training.drift", description=__doc__.splitlines()[0])
    add_path_args(parser)
    parser.add_argument("--since", default=DEFAULT_SINCE,
                        help=f"look-back window of the prediction log: 7d, 24h, 90m (default {DEFAULT_SINCE})")
    parser.add_argument("--threshold", type=float, default=None,
                        help="share of drifted columns above which drift is declared "
                             "(default: settings.drift_threshold)")
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    paths = resolve_paths(args, settings)
    threshold = settings.drift_threshold if args.threshold is None else args.threshold
    try:
        summary, html_path = run_drift(paths.models, paths.logs, args.since, threshold,
                                       max_bad_row_share=settings.max_bad_row_share)
    except BadInputError as exc:
        print(f"drift: bad input, nothing compared: {exc}", file=sys.stderr)
        for problem in exc.problems[:_MAX_PROBLEMS]:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summary_line(summary, html_path))
    if summary["dataset_drift"]:
        from training.events import publish

        publish(paths.logs, "drift.detected", summary_line(summary, html_path),
                {k: summary.get(k) for k in ("model_version", "since", "drift_share", "drifted_columns")},
                settings.site)
    return EXIT_DRIFT if summary["dataset_drift"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
