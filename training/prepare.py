"""``python -m training.prepare``: validate the exports and build the training frame.

Reads every CSV of ``--data`` through the validating loader (bad rows quarantined under
``--logs/quarantine``), keeps the cycles that ran to the end, builds the shared feature frame and
writes it with its targets to ``--data/prepared/training_frame.parquet`` plus a JSON report.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from training.bundle import PHASES
from training.cli import EXIT_OK, Paths, run_command, write_json_report
from training.dataset import Export, load_export
from training.errors import BadInputError
from training.features import FEATURE_COLUMNS, Fleet, build_features
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

#: Cycle statuses whose fuel, payload and phase durations are complete observations: the cycles that
#: reached the dump. An INCIDENT cycle did too (its load was dumped); its stop is in its delay minutes
#: (``isDelayed`` true), so the delay model learns how often and how long incidents stop a cycle under
#: each condition. A CANCELLED cycle (the truck broke down) delivered nothing.
FINISHED_STATUSES: tuple[str, ...] = ("COMPLETED", "DELAYED", "INCIDENT")
TARGET_COLUMNS = {"fuel": "fuelConsumed", "payload": "loadWeight", "delay": "isDelayed"}
PHASE_COLUMNS = {p: f"{p}Duration" if p != "returning" else "returnDuration" for p in PHASES}
PREPARED_FILE = "training_frame.parquet"


@dataclass(frozen=True)
class Prepared:
    """The training frame: features, targets and bookkeeping, one row per finished cycle."""

    frame: pd.DataFrame
    export: Export
    data_hash: str
    row_counts: dict[str, int]

    @property
    def features(self) -> pd.DataFrame:
        return self.frame[list(FEATURE_COLUMNS)]


def data_fingerprint(data_dir: Path) -> str:
    """sha256 over the CSV files of the export (names and bytes), to tie a model to its data."""
    digest = hashlib.sha256()
    for path in sorted(Path(data_dir).glob("*.csv")):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def training_frame(export: Export) -> pd.DataFrame:
    """Features + targets for the finished cycles, ordered by start time."""
    cycles = export.hauling_activities
    cycles = cycles[cycles["status"].isin(FINISHED_STATUSES)].copy()
    cycles["at"] = cycles["loadingStartTime"]
    cycles = cycles.sort_values(["at", "id"], kind="stable").reset_index(drop=True)
    features = build_features(cycles, Fleet.from_export(export))
    frame = features.copy()
    frame["cycle_id"] = cycles["id"].to_numpy()
    frame["truck_id"] = cycles["truckId"].to_numpy()
    frame["excavator_id"] = cycles["excavatorId"].to_numpy()
    frame["at"] = cycles["at"].array  # keeps the tz-aware dtype without boxing each time
    frame["fuel_l"] = cycles[TARGET_COLUMNS["fuel"]].astype(float).to_numpy()
    frame["payload_t"] = cycles[TARGET_COLUMNS["payload"]].astype(float).to_numpy()
    frame["delayed"] = cycles[TARGET_COLUMNS["delay"]].astype(bool).astype(int).to_numpy()
    frame["delay_min"] = pd.to_numeric(cycles["delayMinutes"], errors="coerce").fillna(0.0).to_numpy()
    frame["queue_min"] = pd.to_numeric(cycles["queueDuration"], errors="coerce").to_numpy()
    for phase, column in PHASE_COLUMNS.items():
        frame[f"{phase}_min"] = pd.to_numeric(cycles[column], errors="coerce").to_numpy()
    return frame


def prepare(paths: Paths, settings: TrainingSettings) -> Prepared:
    """Load and validate ``paths.data``, then build the training frame (raises BadInputError)."""
    export = load_export(paths.data, quarantine_dir=paths.logs / "quarantine",
                         max_bad_share=settings.max_bad_row_share)
    frame = training_frame(export)
    if len(frame) < 50:
        raise BadInputError(
            f"{paths.data / 'hauling_activities.csv'}: only {len(frame)} finished cycles "
            f"(status in {FINISHED_STATUSES}); at least 50 are needed to train")
    counts = {name: int(n) for name, n in export.report.rows_read.items()}
    counts["training_cycles"] = int(len(frame))
    return Prepared(frame=frame, export=export, data_hash=data_fingerprint(paths.data), row_counts=counts)


def _run(paths: Paths, settings: TrainingSettings) -> int:
    started = time.perf_counter()
    prepared = prepare(paths, settings)
    out = paths.data / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    prepared.frame.to_parquet(out / PREPARED_FILE, index=False)
    report = {
        "data": str(paths.data), "data_hash": prepared.data_hash, "row_counts": prepared.row_counts,
        "rows_quarantined": prepared.export.report.rows_quarantined,
        "seconds": round(time.perf_counter() - started, 2),
        "output": str(out / PREPARED_FILE),
    }
    write_json_report(paths.logs / "prepare" / "latest.json", report)
    quarantined = sum(prepared.export.report.rows_quarantined.values())
    print(f"prepared {len(prepared.frame)} cycles from {paths.data} "
          f"({quarantined} rows quarantined) -> {out / PREPARED_FILE} in {report['seconds']} s")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m training.prepare", __doc__, _run, argv)

if __name__ == "__main__":
    sys.exit(main())

