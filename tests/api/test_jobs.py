"""Long grids as background jobs (api/jobs.py, api/routes/jobs.py) on the real app.

A strategies request above the synchronous limit answers 202 + Location; GET /jobs/{id} gives status
and progress (counted by the executor, replication by replication) and, when done, the synchronous
route's body; /jobs/{id}/events streams it. Jobs live in the run store: another app on the same
database reads them, a stopped service fails its unfinished jobs, and a dead one's are failed once
they go stale.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api import jobs as jobs_module
from api.app import create_app
from api.jobs import ORPHANED, STOPPED, JobStore
from simulator.executor import InlineExecutor
from tests.api.test_app import (WAIT_S, app_settings, contract, copy_mine, metric, parse_metrics, small_body,
                                wait_ready, wait_until)
from tests.fixtures_postgres import create_database, postgres_url  # noqa: F401  (a fixture)

#: The synchronous limit of these apps: small_body's 2 strategies x 2 replications fit, LONG does not.
SYNC_LIMIT = 4
#: 3 truck counts x 2 excavator counts x 2 replications = 12 simulations: a job.
LONG = small_body(trucks=[2, 3, 4], excavators=[1, 2], replications=2)
LONG_TOTAL = 12


class SteppingExecutor:
    """Runs one scenario per ``step()`` (all at once when free-running) and reports it as progress:
    the test decides when each scenario's replications are done."""

    workers = 1

    def __init__(self, free: bool = False, fail: bool = False) -> None:
        self.inner = InlineExecutor()
        self.steps = threading.Semaphore(0)
        self.free = free
        self.fail = fail
        self.waiting = threading.Event()
        self.progress_calls: list[int] = []
        self.closed = False

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.steps.release()

    def map_scenarios(self, tasks, progress=None):
        out = []
        for task in tasks:
            if not self.free:
                self.waiting.set()
                if not self.steps.acquire(timeout=WAIT_S) or self.closed:
                    raise TimeoutError("SteppingExecutor: no step")
            if self.fail:
                raise RuntimeError("a simulator worker died")
            out.append(self.inner.map_scenarios([task])[0])
            if progress is not None:
                self.progress_calls.append(task.replications)
                progress(task.replications)
        return out

    def close(self) -> None:
        self.closed = True
        self.step(10_000)


def make_client(paths, executor, **overrides) -> TestClient:
    settings = app_settings(paths, sim_max_grid_simulations=SYNC_LIMIT, live_sse_keepalive_s=0.3, **overrides)
    app = create_app(settings, executor_factory=lambda s: executor)
    return TestClient(app)


@pytest.fixture
def stepping(trained_mine_copy) -> Iterator[tuple[TestClient, SteppingExecutor]]:
    executor = SteppingExecutor()
    with make_client(trained_mine_copy, executor) as client:
        wait_ready(client)
        client.app.state.jobs.progress_every_s = 0.0  # every count is written (the test steps one at a time)
        yield client, executor
        executor.close()


def submit(client: TestClient, body: dict[str, Any] = LONG) -> tuple[str, dict[str, Any]]:
    r = client.post("/get_top_3_strategies", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/jobs/{job['job_id']}" == job["links"]["self"]
    assert job["links"]["events"] == f"/jobs/{job['job_id']}/events"
    return r.headers["Location"], job


def wait_status(client: TestClient, location: str, *statuses: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(client.get(location).json())
        return seen.get("status") in statuses

    wait_until(reached, what=f"job status in {statuses}")
    return seen


def events_of(text: str) -> list[tuple[str, Any]]:
    """(event name, data) of an SSE body; comments as ('comment', text)."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            out.append(("comment", block[1:].strip()))
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A strategies response without what differs between two runs of one request (id, wall time)."""
    return {k: v for k, v in body.items() if k not in ("run_id", "timings_s")}


# --- tests ---------------------------------------------------------------------------------------------

def test_a_long_grid_is_a_job_whose_result_is_the_synchronous_answer_and_then_a_cache_hit(trained_mine_copy):
    with make_client(trained_mine_copy, InlineExecutor()) as client:
        wait_ready(client)
        assert client.post("/get_top_3_strategies", json=small_body()).status_code == 200  # 4: synchronous
        location, job = submit(client)
        assert job["status"] == "queued" and job["done"] == 0 and job["total"] == LONG_TOTAL
        done = wait_status(client, location, "done", "failed")
        assert done["status"] == "done", done
        assert done["done"] == done["total"] == LONG_TOTAL
        result = done["result"]
        assert result["run_id"] == done["run_id"] and done["links"]["run"] == f"/runs/{done['run_id']}"
        assert client.get(f"/runs/{done['run_id']}").json()["result"] == result  # stored like any run
        again = client.post("/get_top_3_strategies", json=LONG)  # the dashboard re-renders: at once, same run
        assert again.status_code == 200 and again.headers["X-Cache"] == "hit"
        assert again.json() == result
        samples = parse_metrics(client.get("/metrics").text)
        assert metric(samples, "mineops_jobs_total", outcome="accepted") == 1.0
        assert metric(samples, "mineops_jobs_total", outcome="done") == 1.0
        assert metric(samples, "mineops_jobs_active") == 0.0
        assert metric(samples, "mineops_simulations_total") == 4 + LONG_TOTAL  # the run service counted both
    # The same request answered synchronously (a higher limit) gives the same numbers.
    with TestClient(create_app(app_settings(trained_mine_copy, sim_max_grid_simulations=100),
                               executor_factory=lambda s: InlineExecutor())) as sync_client:
        wait_ready(sync_client)
        r = sync_client.post("/get_top_3_strategies", json=LONG, headers={"Cache-Control": "no-cache"})
        assert r.status_code == 200
        assert comparable(r.json()) == comparable(result)
        assert r.json()["grid"]["simulations"] == LONG_TOTAL


def test_progress_is_the_executors_count_and_the_events_stream_follows_it(stepping):
    client, executor = stepping
    location, job = submit(client)
    executor.waiting.wait(WAIT_S)
    assert client.get(location).json()["status"] == "running"
    received: list[str] = []

    def read() -> None:
        with client.stream("GET", f"{location}/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for chunk in r.iter_text():
                received.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    for step in range(1, 7):  # six strategies of two replications each
        executor.step()
        wait_until(lambda: client.get(location).json()["done"] >= 2 * step, what=f"done {2 * step}")
        seen = client.get(location).json()
        assert seen["done"] == 2 * step and seen["total"] == LONG_TOTAL
        if step < 6:
            assert seen["status"] == "running"
    assert wait_status(client, location, "done", "failed")["status"] == "done"  # ranked and stored after the count
    reader.join(WAIT_S)
    assert not reader.is_alive(), "the stream did not end with the job"
    events = events_of("".join(received))
    progress = [data["done"] for name, data in events if name == "progress"]
    assert progress == sorted(progress) and progress[-1] == LONG_TOTAL and len(set(progress)) >= 2
    assert executor.progress_calls == [2] * 6
    name, data = [e for e in events if e[0] != "comment"][-1]
    assert name == "done" and data["run_id"] == client.get(location).json()["run_id"]
    assert data["links"] == {"self": location, "events": f"{location}/events", "run": f"/runs/{data['run_id']}"}


def test_the_job_runs_on_after_its_reader_disconnects_and_the_stream_keeps_alive(stepping):
    client, executor = stepping
    location, _ = submit(client)
    executor.waiting.wait(WAIT_S)
    first: list[str] = []
    with client.stream("GET", f"{location}/events") as r:
        for chunk in r.iter_text():
            first.append(chunk)
            if ": keep-alive" in "".join(first):  # keep-alive comments while nothing moves (0.3 s here)
                break
    assert events_of("".join(first))[0][0] == "progress"
    executor.step(6)  # the reader left; the job goes on
    done = wait_status(client, location, "done", "failed")
    assert done["status"] == "done" and done["result"]["run_id"] == done["run_id"]
    with client.stream("GET", f"{location}/events") as r:  # a late reader gets the end at once
        tail = events_of(r.read().decode())
    assert [name for name, _ in tail] == ["progress", "done"]


def test_a_failed_run_fails_the_job_with_its_reason(trained_mine_copy):
    with make_client(trained_mine_copy, SteppingExecutor(free=True, fail=True)) as client:
        wait_ready(client)
        location, _ = submit(client)
        failed = wait_status(client, location, "done", "failed")
        assert failed["status"] == "failed" and "a simulator worker died" in failed["error"]
        assert failed["result"] is None and failed["run_id"] is None
        events = events_of(client.get(f"{location}/events").text)
        assert events[-1] == ("failed", {"job_id": failed["job_id"], "error": failed["error"]})


def test_limits_unknown_jobs_and_a_full_queue(trained_mine_copy):
    executor = SteppingExecutor()
    with make_client(trained_mine_copy, executor, sim_max_job_simulations=8, sim_queue_limit=2) as client:
        wait_ready(client)
        too_big = client.post("/get_top_3_strategies", json=LONG)  # 12 > the job limit of 8
        assert too_big.status_code == 422
        assert "exceeds the limit of 8" in too_big.text and "replications" in too_big.text
        eight = small_body(trucks=[2, 3], excavators=[1, 2], replications=2)
        running, _ = submit(client, eight)
        executor.waiting.wait(WAIT_S)
        queued, _ = submit(client, small_body(trucks=[2, 4], excavators=[1, 2], replications=2))
        assert client.get(queued).json()["status"] == "queued"  # one job at a time per process
        busy = client.post("/get_top_3_strategies", json=small_body(trucks=[3, 4], excavators=[1, 2]))
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
        assert "job queue full: 2 jobs" in busy.json()["detail"]
        assert client.get("/jobs/0123456789abcdef").status_code == 404
        assert client.get("/jobs/0123456789abcdef/events").status_code == 404
        executor.step(8)
        assert wait_status(client, running, "done", "failed")["status"] == "done"
        assert wait_status(client, queued, "done", "failed")["status"] == "done"
        executor.close()


def test_another_api_process_reads_the_job_and_a_stopped_service_fails_its_unfinished_jobs(trained_mine_copy):
    executor = SteppingExecutor()
    first = make_client(trained_mine_copy, executor)
    with first:
        wait_ready(first)
        first.app.state.jobs.progress_every_s = 0.0
        location, job = submit(first)
        executor.step(1)
        wait_until(lambda: first.get(location).json()["done"] == 2, what="first scenario counted")
        # a second process on the same database (another uvicorn worker) sees the same job
        with make_client(trained_mine_copy, InlineExecutor()) as second:
            wait_ready(second)
            seen = second.get(location).json()
            assert seen["status"] == "running" and seen["done"] == 2
        # the first process stops while its job runs (a restart)
    executor.close()
    with make_client(trained_mine_copy, InlineExecutor()) as after:
        wait_ready(after)
        stopped = after.get(location).json()
        assert stopped["status"] == "failed" and stopped["error"] == STOPPED
        assert stopped["done"] == 2 and stopped["finished_at"]


def test_jobs_of_a_process_that_died_are_failed_once_stale(trained_mine_copy):
    """A killed process cannot mark its jobs: they stop being refreshed, and the next look fails them."""
    with make_client(trained_mine_copy, InlineExecutor()) as client:
        wait_ready(client)
        store: JobStore = client.app.state.jobs.store
        for job_id, age_s in (("dead-long-ago", 3600), ("dead-just-now", 0)):
            store.create(job_id, site="default", total=10, request={"r": 1}, owner="gone:1:x")
            store.start(job_id)
            with store.engine.begin() as conn:
                conn.execute(update(store._t).where(store._t.c.job_id == job_id).values(
                    updated_at=datetime.now(timezone.utc) - timedelta(seconds=age_s)))
        assert client.get("/jobs/dead-long-ago").json()["error"] == ORPHANED  # read: stale, so failed
        assert client.get("/jobs/dead-just-now").json()["status"] == "running"  # refreshed recently: alive
    # a starting process fails every stale job at once (here: anything older than 0 s)
    assert store.fail_stale(stale_after_s=0.0) == 1
    assert store.get("dead-just-now", "default")["status"] == "failed"
    assert store.get("dead-just-now", "north-pit") is None  # another site's job is not found


def test_the_owner_keeps_its_jobs_fresh_while_they_wait(trained_mine_copy, monkeypatch):
    monkeypatch.setattr(jobs_module, "HEARTBEAT_S", 0.1)
    executor = SteppingExecutor()
    with make_client(trained_mine_copy, executor) as client:
        wait_ready(client)
        location, job = submit(client)
        executor.waiting.wait(WAIT_S)
        store: JobStore = client.app.state.jobs.store
        stamp = lambda: store.get(job["job_id"], "default")["updated_at"]  # noqa: E731
        first = stamp()
        wait_until(lambda: stamp() != first, what="a heartbeat")  # no progress meanwhile: the owner's beat
        assert client.get(location).json()["done"] == 0
        executor.close()


def test_the_readmes_long_grid_is_a_job_with_the_default_limits(trained_mine_copy):
    executor = SteppingExecutor()  # never stepped: the job stays running until the app stops
    with TestClient(create_app(app_settings(trained_mine_copy), executor_factory=lambda s: executor)) as client:
        wait_ready(client)
        r = client.post("/get_top_3_strategies", json=contract("ref-a-long.json"))
        assert r.status_code == 202 and r.json()["total"] == 33 * 100
        executor.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_job_table_on_both_databases(backend, request, tmp_path):
    """Migration 0004 and every JobStore transition on SQLite and PostgreSQL."""
    from api.store import RunStore

    url = (f"sqlite:///{tmp_path / 'runs.sqlite3'}" if backend == "sqlite"
           else create_database(request.getfixturevalue("postgres_url")))
    store = RunStore.from_url(url)
    try:
        jobs = JobStore(store.engine)
        made = jobs.create("j1", site="north-pit", total=990, request={"r": [1, 2]}, owner="host:1:a")
        assert made["status"] == "queued" and made["done"] == 0 and made["total"] == 990
        assert jobs.start("j1") and jobs.progress("j1", 330)
        running = jobs.get("j1", "north-pit")
        assert (running["status"], running["done"], running["started_at"] is not None) == ("running", 330, True)
        assert jobs.get("j1", "default") is None
        assert jobs.heartbeat("host:1:a") == 1 and jobs.heartbeat("other:2:b") == 0
        assert jobs.finish("j1", "run-1", 990)
        done = jobs.get("j1", "north-pit")
        assert (done["status"], done["run_id"], done["done"], done["error"]) == ("done", "run-1", 990, None)
        assert not jobs.fail("j1", "too late") and jobs.get("j1", "north-pit")["status"] == "done"  # ended stays ended
        jobs.create("j2", site="north-pit", total=10, request={}, owner="host:1:a")
        assert jobs.fail_owned("host:1:a", STOPPED) == 1
        assert jobs.get("j2", "north-pit")["error"] == STOPPED
        jobs.create("j3", site="north-pit", total=10, request={}, owner="gone:9:z")
        assert jobs.fail_stale(stale_after_s=3600) == 0  # fresh
        assert jobs.fail_stale(stale_after_s=-1) == 1  # everything unfinished is older than "1 s in the future"
        assert jobs.get("j3", "north-pit")["error"] == ORPHANED
    finally:
        store.close()


def test_openapi_documents_the_202_the_job_routes_and_their_stream(trained_mine_copy):
    with make_client(trained_mine_copy, InlineExecutor()) as client:
        doc = client.get("/openapi.json").json()
    accepted = doc["paths"]["/get_top_3_strategies"]["post"]["responses"]["202"]
    assert "Location" in accepted["headers"] and "JobAccepted" in json.dumps(accepted["content"])
    status = doc["paths"]["/jobs/{job_id}"]["get"]["responses"]
    assert "JobStatus" in json.dumps(status["200"]) and "404" in status
    events = doc["paths"]["/jobs/{job_id}/events"]["get"]["responses"]
    assert "text/event-stream" in events["200"]["content"] and "404" in events
    for path in ("/jobs/{job_id}", "/jobs/{job_id}/events"):
        assert doc["paths"][path]["get"]["security"]  # a role is needed (viewer)


@pytest.mark.slow
def test_the_real_service_with_two_workers_answers_the_job_and_a_restart_fails_it(trained_mine, tmp_path):
    """python -m api --workers 2: every connection (either worker) sees the job's progress; stopped while
    the job runs, the next start answers it failed with the reason, not running forever."""
    import httpx

    from tests.e2e_server import API_ARGV, running_api
    from tests.ollama_server import closed_port_url

    mine = copy_mine(trained_mine, tmp_path)
    env = {"MINEOPS_SIM_WORKERS": "1", "MINEOPS_SIM_MAX_GRID_SIMULATIONS": "100"}
    body = {**contract("ref-a.json"), "simulation": {"duration_hours": 8, "replications": 1000, "seed": 42}}
    with running_api(mine, closed_port_url(), env_extra=env, argv=(*API_ARGV, "--workers", "2")) as api:
        posted: list = []

        def accepted() -> bool:  # the worker that takes the connection may still be warming up (503)
            posted.append(httpx.post(f"{api.url}/get_top_3_strategies", json=body, timeout=60))
            return posted[-1].status_code != 503

        wait_until(accepted, timeout_s=120, what="a worker ready to take the job")
        r = posted[-1]
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        answers = []

        def moving() -> bool:
            with httpx.Client(base_url=api.url, timeout=30) as fresh:  # a new connection: any worker
                answers.append(fresh.get(location).json())
            return answers[-1]["done"] > 0

        wait_until(moving, timeout_s=120, what="the executor's first finished units")
        for _ in range(6):
            moving()
        assert all(a["job_id"] == r.json()["job_id"] and a["total"] == 33_000 for a in answers)
        assert answers[-1]["status"] == "running" and answers[-1]["done"] < 33_000, answers[-1]
        assert [a["done"] for a in answers] == sorted(a["done"] for a in answers)
    assert not api.killed, "the service did not stop in time"
    with running_api(mine, closed_port_url(), env_extra=env) as again:
        stopped = httpx.get(f"{again.url}{location}", timeout=30).json()
        assert stopped["status"] == "failed" and stopped["error"] == STOPPED, stopped
        assert 0 < stopped["done"] < stopped["total"]
