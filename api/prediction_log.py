"""The prediction log, written off the request path: every prediction the simulator used.

``PredictionLogWriter.submit(run_id, model_version, table)`` only stamps the time and enqueues
(a few microseconds; it never blocks and never does I/O). One background thread gathers the
queued tables into batches of about ``batch_rows`` rows (or whatever is pending after
``flush_interval_s``), inserts them into the run store and appends them to ``csv_path``
(``logs/prediction_logs.csv``, the file the operations runbook and the drift job read; header
written once, lines appended under ``flock`` so several API workers can share the file).

The queue is bounded (``max_pending_rows``): when a new table would overflow it, the oldest
queued tables are dropped and counted in ``dropped`` (rows), so a slow or dead database costs log
rows, never request latency. A failed write (or a table lacking columns) is logged and counted in
``failed`` (rows).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, repeat
from pathlib import Path

import numpy as np
import pandas as pd

from api.store import TEXT_LOG_COLUMNS, RunStore, append_csv, column_values, prediction_csv_lines
from training.drift import PREDICTION_LOG_FILE
from training.features import FEATURE_COLUMNS, PREDICTION_COLUMNS, PREDICTION_LOG_COLUMNS

log = logging.getLogger(__name__)

#: Columns a submitted table must carry (the writer adds logged_at, run_id, model_version).
TABLE_COLUMNS: tuple[str, ...] = FEATURE_COLUMNS + PREDICTION_COLUMNS
#: Default rows per database/CSV write: large enough to amortise a transaction and an fsync.
DEFAULT_BATCH_ROWS = 5_000
#: Default longest time a submitted row waits before it is written (s).
DEFAULT_FLUSH_INTERVAL_S = 1.0
#: Default bound of the queue (rows); about 20 MB of pending rows at ~200 B a row.
DEFAULT_MAX_PENDING_ROWS = 100_000
#: The CSV's header line.
CSV_HEADER = ",".join(PREDICTION_LOG_COLUMNS)


#: Table columns by kind, in log order.
_NUMERIC = tuple(c for c in TABLE_COLUMNS if c not in TEXT_LOG_COLUMNS)
_TEXT = tuple(c for c in TABLE_COLUMNS if c in TEXT_LOG_COLUMNS)


@dataclass(frozen=True)
class _Item:
    run_id: str
    model_version: str
    logged_at: datetime
    table: pd.DataFrame
    rows: int


def _arrays(item: _Item) -> tuple[np.ndarray, np.ndarray]:
    """(numeric (rows x len(_NUMERIC)) float array, text (rows x len(_TEXT)) object array) of a table."""
    missing = [c for c in TABLE_COLUMNS if c not in item.table.columns]
    if missing:
        raise ValueError(f"lacks column(s) {missing}")
    return (item.table.loc[:, list(_NUMERIC)].to_numpy(dtype=float),
            item.table.loc[:, list(_TEXT)].to_numpy(dtype=object))


def _log_columns(items: list[_Item], arrays: list[tuple[np.ndarray, np.ndarray]]) -> list[list]:
    """``prediction_columns`` of the queued tables (built from numpy blocks, no DataFrame concat)."""
    numeric = np.concatenate([a[0] for a in arrays])
    text = np.concatenate([a[1] for a in arrays])
    by_name: dict[str, list] = {
        "logged_at": list(chain.from_iterable(repeat(it.logged_at, it.rows) for it in items)),
        "run_id": list(chain.from_iterable(repeat(it.run_id, it.rows) for it in items)),
        "model_version": list(chain.from_iterable(repeat(it.model_version, it.rows) for it in items)),
    }
    for j, name in enumerate(_NUMERIC):
        by_name[name] = column_values(numeric[:, j], numeric=True)
    for j, name in enumerate(_TEXT):
        by_name[name] = column_values(text[:, j], numeric=False)
    return [by_name[name] for name in PREDICTION_LOG_COLUMNS]


def default_csv_path(logs_dir: Path) -> Path:
    """``<logs_dir>/prediction_logs.csv``: the file the runbook names and ``training.drift`` reads."""
    return Path(logs_dir) / PREDICTION_LOG_FILE


class PredictionLogWriter:
    """Batches prediction-log rows into the run store and the CSV from one background thread."""

    def __init__(self, store: RunStore | None, csv_path: Path | None, *, batch_rows: int = DEFAULT_BATCH_ROWS,
                 flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
                 max_pending_rows: int = DEFAULT_MAX_PENDING_ROWS,
                 on_written: Callable[[int], None] | None = None):
        if batch_rows < 1 or max_pending_rows < 1 or flush_interval_s <= 0:
            raise ValueError("batch_rows and max_pending_rows must be >= 1 and flush_interval_s > 0")
        self.store = store
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_pending_rows = max_pending_rows
        self.on_written = on_written
        #: Rows written (store and CSV) / dropped (queue full, or submitted after close) / lost to a
        #: failed write or a table lacking columns (logged).
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self._queue: deque[tuple[float, _Item]] = deque()
        self._pending_rows = 0
        self._submitted = 0  # tables submitted
        self._done = 0  # tables written, failed or dropped (FIFO, so a count suffices)
        self._flush_wanted = False
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    # --- request path ------------------------------------------------------------------------------------

    def submit(self, run_id: str, model_version: str, table: pd.DataFrame) -> None:
        """Enqueue ``table`` (FEATURE_COLUMNS + PREDICTION_COLUMNS) and return at once.

        The writer keeps a reference to ``table``: the caller must not modify it afterwards.
        """
        rows = len(table)
        if rows == 0:
            return
        item = _Item(run_id, model_version, datetime.now(timezone.utc), table, rows)
        with self._cond:
            if self._closing:
                self.dropped += rows
                log.warning("prediction log: closed; %d rows of run %s not logged", rows, run_id)
                return
            while self._queue and self._pending_rows + rows > self.max_pending_rows:
                _, old = self._queue.popleft()
                self._pending_rows -= old.rows
                self.dropped += old.rows
                self._done += 1
            was_empty = not self._queue
            self._queue.append((time.monotonic(), item))
            self._pending_rows += rows
            self._submitted += 1
            if was_empty or self._pending_rows >= self.batch_rows:
                self._cond.notify_all()  # start the interval timer / a full batch is due

    # --- control -------------------------------------------------------------------------------------------

    @property
    def pending_rows(self) -> int:
        """Rows queued and not yet written."""
        return self._pending_rows

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Write everything submitted so far; True when done within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._submitted
            self._flush_wanted = True
            self._cond.notify_all()
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return self._done >= target
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Drain the queue and stop the thread; True when everything was written in time."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        return not self._thread.is_alive() and not self._queue

    # --- writer thread ---------------------------------------------------------------------------------------

    def _take(self) -> list[_Item] | None:
        """Wait for a batch to be due; pop it (None = closed and drained)."""
        with self._cond:
            while True:
                if self._queue:
                    due = self._queue[0][0] + self.flush_interval_s
                    if (self._closing or self._flush_wanted or self._pending_rows >= self.batch_rows
                            or time.monotonic() >= due):
                        break
                    self._cond.wait(max(0.0, due - time.monotonic()))
                elif self._closing:
                    return None
                else:
                    self._flush_wanted = False
                    self._cond.wait()
            items: list[_Item] = []
            rows = 0
            while self._queue and rows < self.batch_rows:
                _, item = self._queue.popleft()
                items.append(item)
                rows += item.rows
            self._pending_rows -= rows
            if not self._queue:
                self._flush_wanted = False
            return items

    def _run(self) -> None:
        while True:
            items = self._take()
            if items is None:
                return
            try:
                written = self._write(items)
            except Exception:  # keep the thread alive whatever happens
                log.exception("prediction log: batch of %d table(s) lost", len(items))
                written = 0
            with self._cond:
                self.written += written
                self.failed += sum(item.rows for item in items) - written
                self._done += len(items)
                self._cond.notify_all()
            if written and self.on_written is not None:
                try:
                    self.on_written(written)
                except Exception:  # a metrics hook must not stop the log
                    log.exception("prediction log: on_written hook failed")

    def _write(self, items: list[_Item]) -> int:
        """Write one batch to the store and the CSV; the rows written to both (failures are logged)."""
        good: list[_Item] = []
        arrays: list[tuple[np.ndarray, np.ndarray]] = []
        for item in items:
            try:
                arrays.append(_arrays(item))
                good.append(item)
            except (ValueError, TypeError) as exc:
                log.error("prediction log: table of run %s %s; %d rows not logged", item.run_id, exc, item.rows)
        if not good:
            return 0
        columns = _log_columns(good, arrays)
        rows = len(columns[0])
        body = prediction_csv_lines(columns)  # one rendering for the CSV file and PostgreSQL's COPY
        ok = True
        if self.store is not None:
            try:
                self.store.insert_prediction_columns(columns, csv_lines=body)
            except Exception:
                log.exception("prediction log: database write of %d rows failed", rows)
                ok = False
        if self.csv_path is not None:
            try:
                append_csv(self.csv_path, CSV_HEADER,
                           lambda file_columns: body if file_columns == list(PREDICTION_LOG_COLUMNS) else None)
            except Exception:
                log.exception("prediction log: CSV append of %d rows to %s failed", rows, self.csv_path)
                ok = False
        return rows if ok else 0
