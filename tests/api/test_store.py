"""The run store on SQLite and on a real PostgreSQL server: runs, prediction log, migrations, CSV appends."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from api.migrations import SCRIPT_LOCATION, current_revision, head_revision, legacy_versions, migrate
from api.store import (RunExistsError, RunStore, append_csv, normalise_url, prediction_columns, read_csv_records,
                       read_csv_text)
from tests.fixtures_postgres import create_database, postgres_url  # noqa: F401
from training.features import CATEGORICAL_FEATURES, PREDICTION_LOG_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
#: A run store written by the release before Alembic (3 runs, 4 prediction rows).
LEGACY_SQLITE = Path(__file__).resolve().parent / "data" / "runstore_before_alembic.sqlite"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'logs' / 'runs.sqlite3'}"
    return create_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str):
    s = RunStore.from_url(store_url)
    yield s
    s.close()


def log_rows(n: int, run_id: str = "run-1", logged_at: datetime | None = None) -> pd.DataFrame:
    """``n`` prediction-log rows with distinct values (row i holds i-based numbers)."""
    frame = pd.DataFrame({
        name: ([f"{name}-{i % 3}" for i in range(n)] if name in CATEGORICAL_FEATURES else np.arange(n) + 0.25)
        for name in PREDICTION_LOG_COLUMNS[3:]
    })
    frame.insert(0, "model_version", "v7")
    frame.insert(0, "run_id", run_id)
    frame.insert(0, "logged_at", pd.Timestamp(logged_at or datetime(2025, 11, 9, 23, 2, 38, 194000,
                                                                    tzinfo=timezone.utc)))
    return frame


# --- runs ----------------------------------------------------------------------------------------------

def test_a_saved_run_reads_back_whole(store: RunStore):
    created = datetime(2025, 11, 10, 8, 30, 0, 123000, tzinfo=timezone(timedelta(hours=7)))
    request = {"fixed_conditions": {"weatherCondition": "Hujan Ringan"}, "decision_variables": {"alokasi_truk": [5, 10]}}
    result = {"top_3_strategies": [{"profit_idr": np.float64(1.5e9), "trucks": np.int64(10)}],
              "grid": np.array([1.0, 2.0]), "when": datetime(2025, 1, 1, tzinfo=timezone.utc),
              "ci": (np.float64("nan"), float("inf"))}
    store.save_run("r-1", request=request, result=result, model_version="v3", timings={"simulate_s": 0.8},
                   created_at=created)
    run = store.get_run("r-1")
    assert run == {
        "run_id": "r-1",
        "created_at": "2025-11-10T01:30:00.123+00:00",
        "model_version": "v3",
        "site": "default",
        "request": request,
        "result": {"top_3_strategies": [{"profit_idr": 1.5e9, "trucks": 10}], "grid": [1.0, 2.0],
                   "when": "2025-01-01T00:00:00+00:00", "ci": [None, None]},
        "timings": {"simulate_s": 0.8},
    }


def test_values_json_cannot_hold_are_refused(store: RunStore):
    with pytest.raises(TypeError, match="object"):
        store.save_run("r-x", request={"what": object()}, result={}, model_version="v1", timings={})
    assert store.get_run("r-x") is None


def test_an_unknown_run_is_none_and_a_run_is_written_once(store: RunStore):
    assert store.get_run("nope") is None
    store.save_run("r-1", request={}, result={}, model_version="v1", timings={})
    with pytest.raises(RunExistsError, match="r-1"):
        store.save_run("r-1", request={"other": 1}, result={}, model_version="v1", timings={})
    assert store.get_run("r-1")["request"] == {}


def test_recent_runs_are_newest_first_without_results(store: RunStore):
    start = datetime(2025, 11, 1, tzinfo=timezone.utc)
    for i in range(5):
        store.save_run(f"r-{i}", request={"i": i}, result={"big": list(range(100))}, model_version="v1",
                       timings={"total_s": i}, created_at=start + timedelta(hours=i))
    recent = store.recent_runs(limit=3)
    assert [r["run_id"] for r in recent] == ["r-4", "r-3", "r-2"]
    assert all("result" not in r for r in recent)
    assert recent[0] == {"run_id": "r-4", "created_at": "2025-11-01T04:00:00.000+00:00", "model_version": "v1",
                         "site": "default", "request": {"i": 4}, "timings": {"total_s": 4}}
    assert len(store.recent_runs()) == 5
    assert store.recent_runs(limit=0) == []


def test_concurrent_saves_from_threads_all_land(store: RunStore):
    def save(i: int) -> None:
        store.save_run(f"t-{i}", request={"i": i}, result={}, model_version="v1", timings={})

    threads = [threading.Thread(target=save, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.recent_runs(limit=100)) == 20


# --- prediction log --------------------------------------------------------------------------------------

def test_predictions_round_trip_with_types_and_nulls(store: RunStore):
    rows = log_rows(10)
    rows.loc[2, "operator_rating"] = np.nan
    rows.loc[3, "truck_brand"] = None
    assert store.append_predictions(rows) == 10
    assert store.append_predictions(log_rows(4, run_id="run-2")) == 4
    assert store.count_predictions() == 14
    assert store.count_predictions("run-2") == 4
    back = store.read_predictions("run-1")
    assert list(back.columns) == list(PREDICTION_LOG_COLUMNS)
    assert back["logged_at"].tolist() == [pd.Timestamp("2025-11-09T23:02:38.194Z")] * 10
    assert back["distance_km"].tolist() == [i + 0.25 for i in range(10)]
    assert np.isnan(back.loc[2, "operator_rating"])
    assert back.loc[3, "truck_brand"] is None
    assert back.loc[4, "weather"] == "weather-1"


def test_predictions_without_a_column_are_refused(store: RunStore):
    with pytest.raises(ValueError, match="predicted_fuel_l"):
        store.append_predictions(log_rows(2).drop(columns=["predicted_fuel_l"]))
    assert store.count_predictions() == 0
    assert store.append_predictions(log_rows(0)) == 0


def test_prediction_columns_orders_and_cleans():
    rows = log_rows(2)[list(reversed(PREDICTION_LOG_COLUMNS))]
    rows.loc[1, "gradient_pct"] = np.nan
    columns = prediction_columns(rows)
    assert len(columns) == len(PREDICTION_LOG_COLUMNS)
    by_name = dict(zip(PREDICTION_LOG_COLUMNS, columns))
    assert by_name["gradient_pct"] == [0.25, None]
    assert by_name["run_id"] == ["run-1", "run-1"]
    assert all(dt.tzinfo is not None for dt in by_name["logged_at"])


# --- migrations (Alembic: api/alembic/) -------------------------------------------------------------------

def _revision(store: RunStore) -> str | None:
    with store.engine.connect() as conn:
        return current_revision(conn)


def test_open_migrates_once_and_the_schema_matches_the_log_columns(store_url: str):
    RunStore.from_url(store_url).close()
    store = RunStore.from_url(store_url)  # second open: nothing to apply
    try:
        assert _revision(store) == head_revision()
        with store.engine.connect() as conn, conn.begin():
            assert migrate(conn) == []
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1
            columns = [c["name"] for c in inspect(conn).get_columns("predictions")]
        assert columns == ["id", *PREDICTION_LOG_COLUMNS]
    finally:
        store.close()


def test_processes_opening_a_new_database_at_once_migrate_it_once(store_url: str, tmp_path: Path):
    # Each process imports everything, says it is ready, and opens the store once both are ready.
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from api.store import RunStore
        gate = Path({str(tmp_path)!r})
        (gate / f"ready-{{sys.argv[1]}}").touch()
        deadline = time.monotonic() + 30
        while len(list(gate.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        RunStore.from_url({store_url!r}).close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=REPO_ROOT, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    store = RunStore.from_url(store_url)
    try:
        assert _revision(store) == head_revision()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1
    finally:
        store.close()


def test_threads_opening_a_new_database_at_once_migrate_it_once(store_url: str):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            RunStore.from_url(store_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = RunStore.from_url(store_url)
    try:
        assert _revision(store) == head_revision()
    finally:
        store.close()


def test_a_new_revision_is_applied_after_the_old_ones_and_only_once(store_url: str, tmp_path: Path):
    RunStore.from_url(store_url).close()
    scripts = Path(shutil.copytree(SCRIPT_LOCATION, tmp_path / "alembic"))
    head = head_revision()
    (scripts / "versions" / "9999_notes.py").write_text(textwrap.dedent(f'''
        from alembic import op
        revision = "9999"
        down_revision = {head!r}
        def upgrade():
            op.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        def downgrade():
            op.drop_table("notes")
    '''))
    store = RunStore.from_url(store_url)
    try:
        for expected in (["9999"], []):
            with store.engine.connect() as conn, conn.begin():
                assert migrate(conn, script_location=scripts) == expected
        with store.engine.connect() as conn:
            assert current_revision(conn) == "9999" and inspect(conn).has_table("notes")
        # The released code does not know the new revision: opening must refuse, not guess.
        with pytest.raises(RuntimeError, match="newer release"):
            RunStore.from_url(store_url)
    finally:
        store.close()


def _legacy_database(url: str) -> None:
    """A run store as the hand-written migrations left it: their three steps' tables, recorded in
    ``schema_migrations``, no ``alembic_version`` (the revisions 0001-0003 are those steps verbatim)."""
    store = RunStore.from_url(url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(text("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                              "description VARCHAR(200) NOT NULL, applied_at TIMESTAMP NOT NULL)"))
            conn.execute(text("INSERT INTO schema_migrations VALUES (1, 'runs and predictions tables', "
                              "'2025-11-10 00:00:00'), (2, 'live tables', '2025-11-10 00:00:00'), "
                              "(3, 'sites of runs, API keys, audit log', '2025-11-10 00:00:00')"))
        store.save_run("old-run", request={"a": 1}, result={"b": 2}, model_version="v1", timings={})
        store.append_predictions(log_rows(5, run_id="old-run"))
    finally:
        store.close()


def test_a_database_of_the_hand_written_migrations_is_upgraded_without_losing_rows(store_url: str):
    _legacy_database(store_url)
    store = RunStore.from_url(store_url)  # stamps 0003 (the last legacy step), then upgrades
    try:
        assert _revision(store) == head_revision()
        assert store.get_run("old-run")["result"] == {"b": 2}
        assert store.count_predictions("old-run") == 5
    finally:
        store.close()


def test_the_sqlite_file_the_previous_release_wrote_opens_with_its_rows(tmp_path: Path):
    """tests/api/data/runstore_before_alembic.sqlite was written by the run store before Alembic
    (3 runs, 4 prediction rows, schema_migrations 1-2)."""
    path = Path(shutil.copy(LEGACY_SQLITE, tmp_path / "runs.sqlite3"))
    store = RunStore.from_url(f"sqlite:///{path}")
    try:
        assert _revision(store) == head_revision()
        assert [r["run_id"] for r in store.recent_runs(10)] == ["legacy-run-2", "legacy-run-1", "legacy-run-0"]
        assert store.get_run("legacy-run-1")["timings"] == {"total": 1.5}
        assert store.count_predictions("legacy-run-0") == 4
        with store.engine.connect() as conn:
            assert legacy_versions(conn) == [1, 2]  # the old record is kept
    finally:
        store.close()


def test_an_unknown_legacy_step_is_refused():
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO schema_migrations VALUES (1), (2), (3), (4)"))
        with pytest.raises(RuntimeError, match="newer release"):
            migrate(conn)


# --- URLs and SQLite settings --------------------------------------------------------------------------------

def test_urls_get_the_psycopg_driver_and_others_are_refused():
    assert normalise_url("postgresql://u:p@db:5432/runs").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@db/runs").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@db/runs").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///logs/runs.sqlite3").database == "logs/runs.sqlite3"
    with pytest.raises(ValueError, match="unsupported database URL"):
        normalise_url("mysql://u@db/runs")


@pytest.mark.postgres
def test_a_plain_postgresql_url_opens(postgres_url: str):  # noqa: F811 - the fixture
    url = create_database(postgres_url).replace("postgresql+psycopg://", "postgresql://")
    store = RunStore.from_url(url)
    try:
        assert store.dialect == "postgresql"
        store.save_run("r", request={}, result={}, model_version="v1", timings={})
        assert store.get_run("r")["run_id"] == "r"
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path):
    store = RunStore.from_url(f"sqlite:///{tmp_path / 'new' / 'dir' / 'runs.sqlite3'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert (tmp_path / "new" / "dir" / "runs.sqlite3").is_file()
    finally:
        store.close()


def test_the_settings_default_url_opens(tmp_path: Path):
    from api.settings import Settings

    settings = Settings(logs_dir=tmp_path / "logs")
    store = RunStore.from_url(settings.effective_database_url)
    try:
        assert store.dialect == "sqlite"
        assert (tmp_path / "logs" / "runs.sqlite3").is_file()
    finally:
        store.close()


# --- locked CSV appends ---------------------------------------------------------------------------------------

def test_append_csv_writes_the_header_once_and_whole_lines(tmp_path: Path):
    path = tmp_path / "sub" / "f.csv"
    seen: list[list[str]] = []

    def render(columns: list[str]) -> str:
        seen.append(columns)
        return "1,x\n"

    append_csv(path, "a,b", render)
    append_csv(path, "a,b", render)
    assert path.read_text() == "a,b\n1,x\n1,x\n"
    assert seen == [["a", "b"], ["a", "b"]]
    assert read_csv_records(path) == [{"a": "1", "b": "x"}, {"a": "1", "b": "x"}]
    assert read_csv_text(tmp_path / "absent.csv") == ""
    assert not list(path.parent.glob(".*.tmp"))


def test_append_csv_repairs_a_missing_final_newline_and_an_empty_file(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,x")  # hand-edited, no final newline
    append_csv(path, "a,b", lambda cols: "2,y\n")
    assert path.read_text() == "a,b\n1,x\n2,y\n"
    empty = tmp_path / "empty.csv"
    empty.touch()
    append_csv(empty, "a,b", lambda cols: "3,z\n")
    assert empty.read_text() == "a,b\n3,z\n"


def test_append_csv_moves_an_incompatible_file_aside(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_text("old,columns\n1,2\n")
    append_csv(path, "a,b", lambda cols: "9,9\n" if cols == ["a", "b"] else None)
    assert path.read_text() == "a,b\n9,9\n"
    moved = [p for p in tmp_path.glob("f.*.csv")]
    assert len(moved) == 1 and moved[0].read_text() == "old,columns\n1,2\n"


def test_append_csv_from_many_threads_loses_and_tears_nothing(tmp_path: Path):
    path = tmp_path / "f.csv"
    barrier = threading.Barrier(16)

    def worker(w: int) -> None:
        barrier.wait()
        for i in range(25):
            append_csv(path, "worker,i,payload", lambda cols, i=i: f"{w},{i},{'x' * 500}\n", fsync=False)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["worker", "i", "payload"]
    assert len(rows) == 1 + 16 * 25
    assert sorted((int(w), int(i)) for w, i, _ in rows[1:]) == [(w, i) for w in range(16) for i in range(25)]
    assert all(len(p) == 500 for _, _, p in rows[1:])


def test_missing_postgresql_binaries_skip_naming_the_package_and_fail_under_ci(monkeypatch: pytest.MonkeyPatch):
    from tests import fixtures_postgres, servers

    monkeypatch.setattr(fixtures_postgres, "PG_BIN_GLOB", "/nonexistent/postgresql/*/bin")
    monkeypatch.delenv(servers.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the Debian package postgresql"):
        fixtures_postgres.find_pg_bin()
    monkeypatch.setenv(servers.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="install the Debian package postgresql"):
        fixtures_postgres.find_pg_bin()
