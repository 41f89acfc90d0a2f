"""The application (api/app.py): probes during warm-up, the bounded simulator queue, start-up failure, shutdown.

The helpers at the top (settings, readiness wait, gated executor, metric parsing) are shared by the
other API test modules (they import them from here).
"""
from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.settings import Settings
from simulator.executor import InlineExecutor
from tests.ollama_server import closed_port_url
from training.cli import Paths
from tests import paths

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = paths.CONTRACTS
#: Longest wait for /ready on a loaded 2-core machine (s): warm-up is a few seconds unloaded.
READY_TIMEOUT_S = 120.0
#: Longest time a test waits for a background request or event (s).
WAIT_S = 60.0


# --- shared helpers ------------------------------------------------------------------------------------

def contract(name: str) -> dict[str, Any]:
    """A request body from shared/contracts."""
    return json.loads((CONTRACTS / name).read_text())


def copy_mine(source: Paths, root: Path) -> Paths:
    """A writable copy of a trained mine under ``root`` (data, models; empty logs)."""
    out = Paths(root / "data", root / "models", root / "logs")
    shutil.copytree(source.data, out.data)
    shutil.copytree(source.models, out.models, symlinks=True)
    out.logs.mkdir(parents=True)
    return out


def app_settings(paths: Paths, **overrides: Any) -> Settings:
    """Settings for a test app on ``paths`` (1 simulator worker, fast reload, Ollama on a closed port, no
    ranking-cache pre-warm)."""
    values: dict[str, Any] = dict(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs, sim_workers=1,
                                  ollama_host=closed_port_url(), ollama_timeout_s=5.0, model_reload_poll_s=0.2,
                                  cache_prewarm_requests=0)  # no start-up simulations competing with the test's
    values.update(overrides)
    return Settings(**values)


def inline_factory(settings: Settings) -> InlineExecutor:
    """An executor factory running the simulator in the request's thread (fast start, same numbers)."""
    return InlineExecutor()


def wait_ready(client: TestClient, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Poll GET /ready until 200; fail with the last answer at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get("/ready")
        if r.status_code == 200:
            return r.json()
        assert time.monotonic() < deadline, f"not ready after {timeout_s} s: {r.status_code} {r.text}"
        time.sleep(0.05)


def wait_until(predicate, timeout_s: float = WAIT_S, what: str = "condition") -> None:
    """Poll ``predicate()`` until true; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class GatedExecutor:
    """An in-process executor whose ``map_scenarios`` can be held at a gate (a request kept in flight)."""

    workers = 1

    def __init__(self) -> None:
        self.inner = InlineExecutor()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls = 0
        self.closed = False

    def hold(self) -> None:
        """Make the next calls wait at the gate."""
        self.entered.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def map_scenarios(self, tasks):
        self.calls += 1
        self.entered.set()
        if not self.gate.wait(WAIT_S):
            raise TimeoutError("GatedExecutor: the gate was never released")
        return self.inner.map_scenarios(tasks)

    def close(self) -> None:
        self.closed = True
        self.gate.set()


def small_body(trucks: list[int] | None = None, excavators: list[int] | None = None, replications: int = 2,
               seed: int = 7, **fixed: Any) -> dict[str, Any]:
    """A quick strategies request (legacy shape + simulation)."""
    conditions = {"weatherCondition": "Cerah", "roadCondition": "GOOD", "shift": "SHIFT_1",
                  "target_road_id": None, "target_excavator_id": None, "target_schedule_id": None,
                  "simulation_start_date": "2025-11-10T07:00:00+07:00", **fixed}
    return {"fixed_conditions": conditions,
            "decision_variables": {"alokasi_truk": trucks or [2, 3], "jumlah_excavator": excavators or [1]},
            "simulation": {"duration_hours": 4, "replications": replications, "seed": seed}}


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus exposition text -> {(sample name, labels): value}."""
    out: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float | None:
    """One sample's value (None when absent)."""
    return samples.get((name, frozenset(labels.items())))


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return parse_metrics(r.text)


@pytest.fixture(scope="module")
def module_mine(trained_mine, tmp_path_factory) -> Paths:
    """A private copy of the trained mine shared by one test module's app."""
    return copy_mine(trained_mine, tmp_path_factory.mktemp("api-mine"))


# --- tests ---------------------------------------------------------------------------------------------

def test_health_answers_during_warm_up_and_ready_waits_for_the_simulator_pool(module_mine):
    started, release = threading.Event(), threading.Event()

    def slow_factory(settings: Settings) -> InlineExecutor:
        started.set()
        release.wait(WAIT_S)
        return InlineExecutor()

    app = create_app(app_settings(module_mine), executor_factory=slow_factory)
    try:
        with TestClient(app) as client:
            assert started.wait(WAIT_S), "warm-up never reached the simulator pool"
            health = client.get("/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            ready = client.get("/ready")
            assert ready.status_code == 503
            assert ready.headers["Retry-After"] == "5"
            assert ready.json() == {"status": "starting", "phase": "warming simulator pool", "detail": None}
            busy = client.post("/get_top_3_strategies", json=small_body())
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "5"
            assert busy.json()["detail"].startswith("warming up (warming simulator pool)")
            assert metric(scrape(client), "mineops_simulation_requests_total", outcome="not_ready") == 1.0

            release.set()
            assert wait_ready(client) == {"status": "ready", "champion": "v1", "workers": 1}
            ok = client.post("/get_top_3_strategies", json=small_body())
            assert ok.status_code == 200, ok.text
            assert ok.json()["grid"]["simulations"] == 4
    finally:
        release.set()


def test_full_queue_answers_503_with_retry_after_and_drains(module_mine):
    executor = GatedExecutor()
    app = create_app(app_settings(module_mine, sim_queue_limit=1), executor_factory=lambda s: executor)
    with TestClient(app) as client, ThreadPoolExecutor(1) as background:
        wait_ready(client)
        executor.hold()
        fresh = {"Cache-Control": "no-cache"}  # each request must reach admission, not the ranking cache
        held = background.submit(client.post, "/get_top_3_strategies", json=small_body(), headers=fresh)
        try:
            assert executor.entered.wait(WAIT_S), "the first request never reached the simulator"
            rejected = client.post("/get_top_3_strategies", json=small_body(), headers=fresh)
            assert rejected.status_code == 503
            assert rejected.headers["Retry-After"] == "2"
            assert rejected.json() == {"detail": "simulator busy: 1 requests in progress (limit 1)"}
            t0 = time.perf_counter()
            assert client.get("/health").status_code == 200  # the event loop is free while the pool works
            assert time.perf_counter() - t0 < 5.0
            samples = scrape(client)
            assert metric(samples, "mineops_simulator_queue_depth") == 1.0
            assert metric(samples, "mineops_simulator_queue_limit") == 1.0
            assert metric(samples, "mineops_simulation_requests_total", outcome="rejected") == 1.0
        finally:
            executor.release()
        first = held.result(WAIT_S)
        assert first.status_code == 200, first.text
        again = client.post("/get_top_3_strategies", json=small_body(), headers=fresh)
        assert again.status_code == 200, again.text
        samples = scrape(client)
        assert metric(samples, "mineops_simulator_queue_depth") == 0.0
        assert metric(samples, "mineops_simulation_requests_total", outcome="ok") == 2.0
        assert executor.calls == 2  # the rejected request never reached the pool
    assert executor.closed, "shutdown must close the simulator pool"


def test_start_up_failure_is_reported_by_ready_while_health_stays_up(module_mine, tmp_path):
    broken = copy_mine(module_mine, tmp_path / "broken")
    (broken.models / "champion.json").write_text(json.dumps({"version": "v9", "previous": [],
                                                            "updated_at": "2025-11-10T00:00:00+00:00"}))
    app = create_app(app_settings(broken), executor_factory=inline_factory)
    with TestClient(app) as client:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (body := client.get("/ready").json())["status"] != "error":
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert body["phase"] == "failed"
        assert body["detail"].startswith("RegistryError: ") and "v9" in body["detail"]
        assert client.get("/health").status_code == 200
        assert client.post("/get_top_3_strategies", json=small_body()).status_code == 503


def test_docs_and_root_answer(module_mine):
    app = create_app(app_settings(module_mine), executor_factory=inline_factory)
    with TestClient(app) as client:
        assert client.get("/").json()["status"] == "online"
        paths = client.get("/openapi.json").json()["paths"]
        for route in ("/get_top_3_strategies", "/ask_chatbot", "/ask_chatbot/stream", "/health", "/ready",
                      "/runs/{run_id}"):
            assert route in paths, route
        assert "/metrics" not in paths


def test_pool_started_after_shutdown_is_closed_by_the_warm_up(module_mine, monkeypatch):
    """Shutdown during a long warm-up (e.g. bootstrap training) must not leak the pool started later."""
    import api.app

    monkeypatch.setattr(api.app, "SHUTDOWN_WARM_UP_WAIT_S", 0.1)
    started, release = threading.Event(), threading.Event()
    executor = GatedExecutor()

    def slow_factory(settings: Settings) -> GatedExecutor:
        started.set()
        release.wait(WAIT_S)
        return executor

    app = create_app(app_settings(module_mine), executor_factory=slow_factory)
    try:
        with TestClient(app):
            assert started.wait(WAIT_S)
        assert not executor.closed
        release.set()
        wait_until(lambda: executor.closed, WAIT_S, "the warm-up to close the pool it started")
        assert app.state.startup_phase == "stopped"
        assert app.state.executor is None and not app.state.ready
    finally:
        release.set()


def test_request_threads_predict_single_threaded(module_mine):
    """The small per-request predict runs single-threaded: OpenMP barriers stall on busy cores, and a
    random forest with n_jobs=-1 sums its trees in thread-completion order (not reproducible)."""
    import sklearn.ensemble  # noqa: F401  (loads OpenMP, so that its settings can be read)
    from joblib.parallel import get_active_backend
    from threadpoolctl import threadpool_info

    from api.run_service import PREDICT_OPENMP_THREADS

    seen: list[list[int]] = []
    backends: list[str] = []
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    assert before, "OpenMP is not loaded"

    class Recording(InlineExecutor):
        def map_scenarios(self, tasks):
            seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"])
            backends.append(type(get_active_backend()[0]).__name__)
            return super().map_scenarios(tasks)

    app = create_app(app_settings(module_mine), executor_factory=lambda s: Recording())
    with TestClient(app) as client:
        wait_ready(client)
        assert client.post("/get_top_3_strategies", json=small_body()).status_code == 200
    assert PREDICT_OPENMP_THREADS == 1
    assert seen and seen[0] and set(seen[0]) == {1}
    assert backends == ["SequentialBackend"]  # a random forest's trees are summed in order
    assert type(get_active_backend()[0]).__name__ != "SequentialBackend"
    # only the request's thread is limited
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"] == before
