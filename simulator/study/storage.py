"""A study's files: the spec file it reads and the folder it writes (``<output>/<run_id>/``).

Batches are committed atomically (temp file, fsync, rename); a lock keeps a second process out.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.study.rows import ROW_KEYS

#: Folder under ``logs_dir`` holding one folder per study (the API serves plots from here).
STUDIES_FOLDER = "studies"


class StudyBusyError(RuntimeError):
    """Another process holds the study's lock (the same study is already running)."""


def load_spec_file(path: Path) -> Any:
    """A spec file's content: JSON for ``.json``, else YAML (which also reads JSON)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


def study_folder(logs_dir: Path, run_id: str) -> Path:
    """Where the study ``run_id`` lives under the default output (``<logs>/studies/<run_id>``)."""
    return Path(logs_dir) / STUDIES_FOLDER / run_id


def plots_folder(logs_dir: Path, run_id: str) -> Path:
    """The plots folder of study ``run_id`` under the default output."""
    return study_folder(logs_dir, run_id) / "plots"


def _fsync_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class StudyFolder:
    """The files of one study; batches are committed atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.results = self.root / "results"
        self.replications = self.root / "replications"
        self.plots = self.root / "plots"
        self.spec_path = self.root / "spec.json"
        self.summary_csv = self.root / "summary.csv"
        self.summary_json = self.root / "summary.json"
        self._lock_fh: Any = None

    def lock(self) -> None:
        """Take the study's exclusive lock (raises ``StudyBusyError`` when another process runs it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StudyBusyError(f"study {self.root.name} is already running in another process") from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def committed(self) -> list[Path]:
        """The committed batch files, by name (= grid order of their first scenario)."""
        return sorted(self.results.glob("batch-*.parquet")) if self.results.is_dir() else []

    def clean(self) -> None:
        """Remove what an interrupted run left half-done: temp files, replication rows of uncommitted batches."""
        for folder in (self.results, self.replications):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
        if self.replications.is_dir():
            names = {p.name for p in self.committed()}
            for orphan in self.replications.glob("batch-*.parquet"):
                if orphan.name not in names:
                    orphan.unlink(missing_ok=True)

    def done(self) -> set[tuple[str, str]]:
        """(weather, scenario key) of every scenario in a committed file; raises if one is there twice."""
        seen: set[tuple[str, str]] = set()
        for path in self.committed():
            table = pq.read_table(path, columns=["weather", "scenario_key"]).to_pydict()
            for key in zip(table["weather"], table["scenario_key"]):
                if key in seen:
                    raise ValueError(f"scenario {key} is in more than one batch file of {self.results}")
                seen.add(key)
        return seen

    def write_batch(self, name: str, rows: pd.DataFrame, replication_rows: pd.DataFrame | None) -> Path:
        """Commit a batch: its replication rows first, then its result rows (the commit point)."""
        if replication_rows is not None:
            self.replications.mkdir(parents=True, exist_ok=True)
            tmp = self.replications / f".{name}.tmp"
            pq.write_table(pa.Table.from_pandas(replication_rows, preserve_index=False), tmp)
            _fsync_replace(tmp, self.replications / name)
        self.results.mkdir(parents=True, exist_ok=True)
        tmp = self.results / f".{name}.tmp"
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp)
        path = self.results / name
        _fsync_replace(tmp, path)
        return path

    def recorded_start(self) -> datetime | None:
        """The shift's start recorded in ``spec.json`` when the study began (None before it began)."""
        if not self.spec_path.exists():
            return None
        recorded = json.loads(self.spec_path.read_text()).get("start")
        return datetime.fromisoformat(recorded) if recorded else None

    def write_spec(self, record: Mapping[str, Any]) -> None:
        """Write ``spec.json`` once: a resumed study keeps the record of its first run."""
        if self.spec_path.exists():
            return
        tmp = self.root / ".spec.json.tmp"
        tmp.write_text(json.dumps(record, indent=2, default=str, ensure_ascii=False))
        _fsync_replace(tmp, self.spec_path)

    def write_summary(self, summary: pd.DataFrame, record: Mapping[str, Any]) -> None:
        """``summary.csv`` (the ranked table) and ``summary.json`` (``record``), each replaced whole."""
        tmp = self.root / ".summary.csv.tmp"
        summary.to_csv(tmp, index=False)
        os.replace(tmp, self.summary_csv)
        tmp = self.root / ".summary.json.tmp"
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str))
        os.replace(tmp, self.summary_json)

    def read_results(self) -> pd.DataFrame:
        """Every committed scenario row."""
        files = self.committed()
        if not files:
            return pd.DataFrame(columns=list(ROW_KEYS))
        return pd.concat([pq.read_table(p).to_pandas() for p in files], ignore_index=True)

    def read_replications(self) -> pd.DataFrame:
        """Every committed replication row (empty when the study keeps none)."""
        names = {p.name for p in self.committed()}
        files = sorted(p for p in self.replications.glob("batch-*.parquet") if p.name in names) \
            if self.replications.is_dir() else []
        if not files:
            return pd.DataFrame()
        return pd.concat([pq.read_table(p).to_pandas() for p in files], ignore_index=True)
