"""Where the API persists things: the run store (SQLite or PostgreSQL) and locked CSV appends.

``RunStore.from_url(url)`` opens the database named by ``Settings.effective_database_url``
(``sqlite:///logs/runs.sqlite3`` by default; ``postgresql://...`` is rewritten to the psycopg 3
driver), applies ``api.migrations`` and keeps one SQLAlchemy engine (thread-safe; one per store,
built in ``lifespan``, never at import). It holds every run (request, result, model version,
timings; JSON as TEXT) and the prediction log (``training.features.PREDICTION_LOG_COLUMNS`` as
typed columns). SQLite runs in WAL mode with a busy timeout so the prediction-log thread, request
threads and other processes share the file.

``append_csv`` / ``read_csv_text`` are the one way the API writes and reads shared CSV files
(``data/vessels.csv``, ``logs/prediction_logs.csv``): an ``fcntl.flock``'d append of complete lines,
the header created atomically when the file is absent, so concurrent writers (threads or
processes) never tear or lose a row.
"""
from __future__ import annotations


import csv
import dataclasses
import fcntl
import io
import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import MetaData, Table, create_engine, desc, event, func, insert, select
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from api.migrations import migrate
from live.db import SQLITE_BUSY_TIMEOUT_S, database_url, sqlite_pragmas
from training.features import CATEGORICAL_FEATURES, PREDICTION_LOG_COLUMNS

#: Rows per INSERT round trip when appending predictions (bounds statement size and memory).
INSERT_CHUNK_ROWS = 5_000
#: Execution option that makes the next SQLite transaction take the write lock at BEGIN.
_IMMEDIATE = "mineops_begin_immediate"
#: Columns of a run returned by ``recent_runs`` (the result body is left out: it is large).
_SUMMARY_COLUMNS = ("run_id", "created_at", "model_version", "request", "timings", "site")
#: Site of runs stored without one (the single-site data from before sites existed).
DEFAULT_SITE = "default"
#: Text columns of the prediction log (the others but logged_at are numbers).
TEXT_LOG_COLUMNS = frozenset(("run_id", "model_version") + CATEGORICAL_FEATURES)
#: How SQLAlchemy stores a DATETIME in SQLite (text); written directly on the bulk path.
_SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class RunExistsError(ValueError):
    """A run with this id is already stored (runs are written once)."""


# --- URLs and engines --------------------------------------------------------------------------------

#: SQLAlchemy URL of a database URL (``postgresql://`` gets the psycopg 3 driver; one rule with the
#: live worker, which writes to the same database).
normalise_url = database_url


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own is deferred)
        cur = dbapi_conn.cursor()
        sqlite_pragmas(cur, file=not memory)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")

    return engine


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


# --- JSON ---------------------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """JSON-native copy of ``value``: numpy, datetimes, paths, dataclasses and pydantic models
    converted; NaN and infinities become None (strict JSON, which HTTP responses require)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="json"))
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """Strict JSON text of a request/result/timings value (see ``plain``)."""
    return json.dumps(plain(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _utc(dt: datetime) -> datetime:
    """Aware UTC datetime; a naive one (SQLite hands those back) is taken as UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _iso(dt: datetime) -> str:
    return _utc(dt).isoformat(timespec="milliseconds")


_MISS = object()


def map_repeated(values: list, fn: Callable[[Any], Any]) -> list:
    """``[fn(v) for v in values]``, computing ``fn`` once per distinct value (timestamps repeat)."""
    cache: dict[Any, Any] = {}
    out = []
    for v in values:
        r = cache.get(v, _MISS)
        if r is _MISS:
            r = cache[v] = fn(v)
        out.append(r)
    return out


def _text_or_none(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if type(v) is str else str(v)


def column_values(values: np.ndarray | pd.Series, numeric: bool) -> list:
    """Python values of one log column, None where missing (an empty text counts as missing)."""
    if numeric:
        arr = pd.to_numeric(values).astype(float) if isinstance(values, pd.Series) else values
        arr = np.asarray(arr, dtype=float)
        missing = np.isnan(arr)
    else:
        arr = np.asarray(values, dtype=object)
        missing = pd.isna(arr)
    out = arr.tolist()
    if missing.any():
        for i in np.flatnonzero(missing):
            out[i] = None
    return out if numeric else map_repeated(out, _text_or_none)


def prediction_columns(frame: pd.DataFrame) -> list[list]:
    """One list per ``PREDICTION_LOG_COLUMNS`` column (logged_at aware UTC, None for missing)."""
    missing = [c for c in PREDICTION_LOG_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"prediction rows lack column(s) {missing}")
    columns = []
    for name in PREDICTION_LOG_COLUMNS:
        if name == "logged_at":
            columns.append(list(pd.DatetimeIndex(pd.to_datetime(frame[name], utc=True)).to_pydatetime()))
        else:
            columns.append(column_values(frame[name], numeric=name not in TEXT_LOG_COLUMNS))
    return columns


def _iso_ms(dt: datetime) -> str:
    """2025-11-09T23:02:38.194Z (UTC, milliseconds), the fleet exports' timestamp form."""
    dt = _utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}Z"


def _csv_text(v: str | None) -> str:
    if v is None:
        return ""
    if any(ch in v for ch in ',"\r\n') or v != v.strip():
        return '"' + v.replace('"', '""') + '"'
    return v


def prediction_csv_lines(columns: list[list]) -> str:
    """CSV lines (no header) of ``prediction_columns``: exact floats (repr), empty field = missing."""
    fields = [map_repeated(columns[0], _iso_ms)]
    for name, col in zip(PREDICTION_LOG_COLUMNS[1:], columns[1:]):
        if name in TEXT_LOG_COLUMNS:
            fields.append(map_repeated(col, _csv_text))
        else:
            fields.append(["" if v is None else repr(v) for v in col])
    return "".join(line + "\n" for line in map(",".join, zip(*fields)))


# --- the store -----------------------------------------------------------------------------------------

class RunStore:
    """Runs and the prediction log in one SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        md = MetaData()
        with engine.connect() as conn:
            self._runs = Table("runs", md, autoload_with=conn)
            self._predictions = Table("predictions", md, autoload_with=conn)
        missing = [c for c in PREDICTION_LOG_COLUMNS if c not in self._predictions.c]
        if missing:
            raise RuntimeError(f"the predictions table lacks column(s) {missing} of PREDICTION_LOG_COLUMNS: "
                               "add a revision in api/alembic/versions")

    @classmethod
    def from_url(cls, url: str) -> "RunStore":
        """Open (creating if needed) the database at ``url`` and bring its schema up to date."""
        engine = _engine(normalise_url(url))
        try:
            with engine.connect().execution_options(**{_IMMEDIATE: True}) as conn, conn.begin():
                migrate(conn)
            return cls(engine)
        except BaseException:
            engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    # --- runs ---------------------------------------------------------------------------------------

    def save_run(self, run_id: str, *, request: Mapping[str, Any], result: Mapping[str, Any], model_version: str,
                 timings: Mapping[str, Any], created_at: datetime | None = None, site: str = DEFAULT_SITE) -> None:
        """Store one run of ``site``; raises ``RunExistsError`` if ``run_id`` is already stored."""
        row = {
            "run_id": run_id,
            "site": site,
            "created_at": _utc(created_at or datetime.now(timezone.utc)),
            "model_version": model_version,
            "request": to_json(request),
            "result": to_json(result),
            "timings": to_json(timings),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(self._runs), row)
        except IntegrityError as exc:
            raise RunExistsError(f"run {run_id} is already stored") from exc

    def _run_dict(self, row: Any, with_result: bool) -> dict[str, Any]:
        out = {
            "run_id": row.run_id,
            "created_at": _iso(row.created_at),
            "model_version": row.model_version,
            "site": row.site,
            "request": json.loads(row.request),
        }
        if with_result:
            out["result"] = json.loads(row.result)
        out["timings"] = json.loads(row.timings)
        return out

    def get_run(self, run_id: str, site: str | None = None) -> dict[str, Any] | None:
        """{run_id, created_at (ISO, UTC), model_version, site, request, result, timings}, or None
        (also None when ``site`` is given and the run belongs to another site)."""
        t = self._runs
        query = select(t).where(t.c.run_id == run_id)
        if site is not None:
            query = query.where(t.c.site == site)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._run_dict(row, with_result=True)

    def recent_runs(self, limit: int = 20, site: str | None = None) -> list[dict[str, Any]]:
        """The ``limit`` newest runs (of ``site`` when given), newest first, without their result bodies."""
        if limit < 1:
            return []
        t = self._runs
        query = select(*(t.c[name] for name in _SUMMARY_COLUMNS))
        if site is not None:
            query = query.where(t.c.site == site)
        query = query.order_by(desc(t.c.created_at), desc(t.c.id)).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._run_dict(row, with_result=False) for row in rows]

    # --- prediction log -------------------------------------------------------------------------------

    def append_predictions(self, rows: pd.DataFrame) -> int:
        """Insert prediction-log rows (columns ``PREDICTION_LOG_COLUMNS``); return the number inserted."""
        return self.insert_prediction_columns(prediction_columns(rows))

    def insert_prediction_columns(self, columns: list[list], *, csv_lines: str | None = None) -> int:
        """Insert the output of ``prediction_columns`` in one transaction; return the row count.

        PostgreSQL loads them with ``COPY ... (FORMAT csv)`` from ``csv_lines`` (the
        ``prediction_csv_lines`` of the same columns, rendered here when not given); SQLite uses
        executemany.
        """
        n = len(columns[0]) if columns else 0
        if n == 0:
            return 0
        quote = self.engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in PREDICTION_LOG_COLUMNS)
        table = quote(self._predictions.name)
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                body = prediction_csv_lines(columns) if csv_lines is None else csv_lines
                with conn.connection.driver_connection.cursor() as cur:
                    with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
                        copy.write(body)
            else:  # SQLAlchemy keeps a SQLite DATETIME as text in this format (UTC here)
                stamps = map_repeated(columns[0], lambda dt: _utc(dt).strftime(_SQLITE_TIME_FORMAT))
                rows = list(zip(stamps, *columns[1:]))
                sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in PREDICTION_LOG_COLUMNS)})"
                for start in range(0, n, INSERT_CHUNK_ROWS):
                    conn.exec_driver_sql(sql, rows[start:start + INSERT_CHUNK_ROWS])
        return n

    def count_predictions(self, run_id: str | None = None) -> int:
        """Rows in the prediction log (of one run when ``run_id`` is given)."""
        t = self._predictions
        query = select(func.count()).select_from(t)
        if run_id is not None:
            query = query.where(t.c.run_id == run_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def read_predictions(self, run_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Prediction-log rows (``PREDICTION_LOG_COLUMNS``, logged_at as UTC), oldest first."""
        t = self._predictions
        query = select(*(t.c[name] for name in PREDICTION_LOG_COLUMNS)).order_by(t.c.id)
        if run_id is not None:
            query = query.where(t.c.run_id == run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=list(PREDICTION_LOG_COLUMNS))
        frame["logged_at"] = pd.to_datetime(frame["logged_at"], utc=True)
        return frame


# --- shared CSV files ------------------------------------------------------------------------------------

#: Bytes read to find a CSV file's header line.
_HEADER_PROBE_BYTES = 1 << 16


def _header_columns(fd: int) -> list[str]:
    head = os.pread(fd, _HEADER_PROBE_BYTES, 0).decode("utf-8-sig", errors="replace")
    first = head.split("\n", 1)[0].rstrip("\r")
    return [name.strip() for name in next(csv.reader([first]), [])]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _create_with_header(path: Path, header: str) -> None:
    """Create ``path`` holding just ``header`` unless it exists (atomic: temp file + hard link)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(header + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # no hard links here (some mounted volumes): create it empty; the header
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))  # is then written under the lock
    finally:
        tmp.unlink(missing_ok=True)


def append_csv(path: Path, header: str, render: Callable[[list[str]], str | None], *, fsync: bool = True) -> None:
    """Append ``render(file_columns)`` to the CSV at ``path`` under an exclusive ``flock``.

    ``header`` (no newline) is the header line a new file starts with; the file appears complete
    with it, so no reader sees a headless file. ``render`` receives the column names of the file's
    actual header and returns whole lines, each ending in ``\\n``; returning None means the file's
    header is incompatible: the file is moved aside to ``<stem>.<UTC stamp><suffix>`` and a new
    one is started. A missing final newline (hand edit) is added before appending.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        if not path.exists():
            _create_with_header(path, header)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            continue  # moved aside between the check and the open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    continue  # replaced while we waited for the lock: append to the new file
            except FileNotFoundError:
                continue
            size = os.fstat(fd).st_size
            if size == 0:
                first = (header + "\n").encode("utf-8")
                _write_all(fd, first)
                size = len(first)
            body = render(_header_columns(fd))
            if body is None:
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                os.rename(path, path.with_name(f"{path.stem}.{stamp}{path.suffix}"))
                continue
            if not body:
                return
            if os.pread(fd, 1, size - 1) != b"\n":
                body = "\n" + body
            _write_all(fd, body.encode("utf-8"))
            if fsync:
                os.fsync(fd)
            return
        finally:
            os.close(fd)  # closing releases the lock


def read_csv_text(path: Path) -> str:
    """The whole text of a CSV file under a shared ``flock`` ('' when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            return fh.read().decode("utf-8-sig")
    except FileNotFoundError:
        return ""


def read_csv_records(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts of text (read under a shared lock; [] when absent)."""
    text = read_csv_text(path)
    return list(csv.DictReader(io.StringIO(text, newline=""))) if text else []
