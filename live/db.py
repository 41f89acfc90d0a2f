"""The live worker's connection to the run store's database (SQLite file or PostgreSQL).

Same conventions as the API's run store: ``postgresql://`` gets the psycopg 3 driver; a SQLite file
runs in WAL mode with a busy timeout so the API, its prediction-log thread and several workers
share it.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url

from live.tables import create_tables

#: How long a SQLite writer waits for another writer's lock before "database is locked", s.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Pause between attempts to switch a new SQLite file to WAL while another process holds it, s.
WAL_RETRY_PAUSE_S = 0.05


def database_url(url: str) -> URL:
    """SQLAlchemy URL; ``postgres://`` / ``postgresql://`` get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                         "use sqlite:///path or postgresql://user@host/db")
    return parsed


def set_wal(cur) -> None:  # noqa: ANN001
    """Switch a SQLite connection to WAL mode, retrying while another process holds the file.

    Changing the journal mode needs an exclusive lock, and SQLite may answer "database is locked"
    at once instead of waiting through the busy timeout (seen with two processes opening a new
    database together), so the wait happens here, bounded by the same busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_PAUSE_S)


def sqlite_pragmas(cur, *, file: bool = True) -> None:  # noqa: ANN001
    """What every SQLite connection of the run store's database sets: the busy timeout, and for a
    file (not ``:memory:``) WAL mode with synchronous=NORMAL (durable across app crashes in WAL)."""
    cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    if file:
        set_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")


def open_engine(url: str) -> Engine:
    """An engine on ``url`` with the live tables created (idempotent)."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            sqlite_pragmas(cur)
            cur.close()
    else:
        engine = create_engine(parsed, pool_pre_ping=True)
    with engine.begin() as conn:
        create_tables(conn)
    return engine
