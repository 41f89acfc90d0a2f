"""A real Prometheus scrapes the real API; every dashboard query and alert rule must find its data.

Issue (monitoring, 5): "A test starts a real Prometheus (Debian package prometheus) against a running
API, drives traffic, and checks that every dashboard panel's query and every alert expression
returns data: no dead panels, no rule on a metric that does not exist."

One module-scoped stack: ``python -m api`` on a copy of the trained mine (queue limit 1 so 503s
happen), the Ollama-protocol test server, and ``prometheus`` with the shipped config and rules
(1 s scrape and evaluation). Traffic runs in two rounds with a scrape between them, because a
labelled counter is born at its first increment and ``rate()`` only sees increases between two
samples: after round 2 every rate the dashboards draw is a real number. The files the API turns
into gauges at scrape time are produced too: the retrain history (``training.retrain.record``) and
a drift report (``training.drift.run_drift`` on the prediction log the API wrote).

A panel passes when its query returns at least one finite value (empty = "No data", NaN = a dead
graph); an alert rule passes when every vector selector in it returns series, its full expression
evaluates, and Prometheus reports the rule healthy. Prometheus missing fails the tests.
"""
from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e_server import READY_TIMEOUT_S, RunningApi, free_port, running_api
from tests.monitoring import promql
from tests.servers import require_binary
from tests.ollama_server import OllamaTestServer, Reply
from tests.redis_server import RedisServer
from training.cli import Paths
from tests import paths

CONTRACTS = paths.CONTRACTS
JOB = "mining-ops-api"  # job_name of the API in monitoring/prometheus/prometheus.yml

#: Window substituted for Grafana's $__rate_interval and $__range: longer than this whole module
#: runs, so every increase the test causes lies inside it.
QUERY_WINDOW = "5m"
#: Seconds Prometheus gets to become ready / to scrape something new (1 s interval; loaded CI host).
PROMETHEUS_DEADLINE_S = 30.0
#: Seconds a SIGTERM'd Prometheus gets before SIGKILL.
PROMETHEUS_STOP_S = 10.0
#: Replications per strategy request: small, the point is traffic, not statistics (20 simulations).
TRAFFIC_REPLICATIONS = 5
#: Concurrent strategy requests per round; with MINEOPS_SIM_QUEUE_LIMIT=1 all but one get 503.
CONCURRENT_STRATEGY_REQUESTS = 3
#: Fewest prediction-log rows the drift job compares here (its production floor, 1,000, would take
#: ~50 requests); the verdict does not matter, only that a real report with per-column scores exists.
DRIFT_MIN_ROWS = 20
#: Queries that cannot return data in this test, with the reason. Empty: every panel and every rule
#: selector has data (keep it that way; add an entry only with a reason that holds for any run).
NO_DATA_EXPECTED: dict[str, str] = {}

PANELS = promql.panel_targets()
RULES = promql.rule_expressions()
RULE_SELECTORS = [(rule, sel) for rule in RULES for sel in dict.fromkeys(promql.selectors(rule.expr))]


# ---------------------------------------------------------------------------------------- Prometheus
@dataclass
class Prometheus:
    """A running ``prometheus`` process and its HTTP API."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0)
        body = response.json()
        assert response.status_code == 200 and body.get("status") == "success", \
            f"{path} {params}: HTTP {response.status_code} {body}"
        return body["data"]

    def query(self, expr: str) -> list[float]:
        """Values of an instant query now (vector samples, or the one scalar)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            return [float(s["value"][1]) for s in data["result"]]
        if data["resultType"] == "scalar":
            return [float(data["result"][1])]
        raise AssertionError(f"{expr}: unexpected result type {data['resultType']}")

    def wait_until(self, what: str, check, deadline_s: float = PROMETHEUS_DEADLINE_S) -> None:
        deadline = time.monotonic() + deadline_s
        while not check():
            assert self.process.poll() is None, f"prometheus exited while waiting for {what}:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}; prometheus log:\n{self.log_tail()}"
            time.sleep(0.2)

    def wait_scraped_after(self, when: float) -> None:
        """Block until Prometheus holds a scrape of the API taken after Unix time ``when``."""
        def scraped() -> bool:
            values = self.query(f'timestamp(up{{job="{JOB}"}} == 1)')
            return bool(values) and max(values) > when
        self.wait_until(f"a scrape after {when:.1f}", scraped)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=PROMETHEUS_STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=PROMETHEUS_STOP_S)


def start_prometheus(target: str, folder: Path) -> Prometheus:
    """Start the Debian package's ``prometheus`` on the shipped config (aimed at ``target``); wait for /-/ready."""
    binary = require_binary("prometheus", package="prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(promql.live_prometheus_config(target)))
    port = free_port()
    log_path = folder / "prometheus.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log_path)

    def ready() -> bool:
        try:
            return httpx.get(f"{prom.url}/-/ready", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        prom.wait_until("/-/ready", ready)
    except BaseException:
        prom.stop()
        raise
    return prom


# ---------------------------------------------------------------------------------------- the mine's files
def write_retrain_history(paths: Paths) -> None:
    """Record the fixture's promotion of the champion and one gate rejection in logs/retrain/history.jsonl.

    ``trained_mine`` ran ``retrain()`` without recording it; a real second retrain costs 15-80 s on
    a 2-core host, so the rejection is the real gate applied to the champion's own holdout metrics
    with an R² bar no model reaches (min_r2=1.0).
    """
    from training.gate import GateThresholds, gate
    from training.registry import Registry
    from training.retrain import record

    registry = Registry(paths.models)
    version = registry.champion()
    meta = json.loads((registry.path(version) / "metadata.json").read_text())
    metrics = meta["metrics"]
    base = {"version": version, "metrics": metrics, "champion_after": version,
            "seconds": meta.get("training_seconds", 0.0)}
    record(paths, {**base, "finished_at": meta["created_at"], "outcome": "promoted", "champion_before": None})
    decision = gate(metrics, metrics, GateThresholds(min_r2=1.0))
    assert not decision.passed, decision.summary()
    record(paths, {**base, "finished_at": datetime.now(timezone.utc).isoformat(), "outcome": "rejected",
                   "champion_before": version, "reasons": list(decision.reasons)})


def run_drift_job(paths: Paths) -> dict[str, Any]:
    """Run the drift job on the prediction log the API wrote (waits for the log writer's flush)."""
    from training.drift import PREDICTION_LOG_FILE, run_drift

    log_file = paths.logs / PREDICTION_LOG_FILE
    deadline = time.monotonic() + PROMETHEUS_DEADLINE_S
    while not (log_file.exists() and len(log_file.read_text().splitlines()) - 1 >= DRIFT_MIN_ROWS):
        assert time.monotonic() < deadline, f"the API wrote fewer than {DRIFT_MIN_ROWS} rows to {log_file}"
        time.sleep(0.2)
    summary, _ = run_drift(paths.models, paths.logs, "1d", threshold=0.05, min_rows=DRIFT_MIN_ROWS,
                           max_bad_row_share=0.0)
    assert summary["status"] in ("ok", "drift") and summary["per_column"], summary
    return summary


# ---------------------------------------------------------------------------------------- traffic
def strategy_body() -> dict[str, Any]:
    body = json.loads((CONTRACTS / "legacy-top3-request.json").read_text())
    body["simulation"] = {"replications": TRAFFIC_REPLICATIONS, "seed": 42}
    return body


def drive_traffic(api: RunningApi, ollama: OllamaTestServer) -> dict[str, list[int]]:
    """One round of every kind of request the dashboards and rules count; returns status codes by kind."""
    seen: dict[str, list[int]] = {}

    def note(kind: str, response: httpx.Response) -> httpx.Response:
        seen.setdefault(kind, []).append(response.status_code)
        return response

    with httpx.Client(base_url=api.url, timeout=120.0) as client:
        # Concurrent strategy requests: one is admitted (200), the rest see the full queue (503).
        barrier = threading.Barrier(CONCURRENT_STRATEGY_REQUESTS)
        codes: list[int] = []

        def post() -> None:
            with httpx.Client(base_url=api.url, timeout=120.0) as own:
                barrier.wait(timeout=PROMETHEUS_DEADLINE_S)
                codes.append(own.post("/get_top_3_strategies", json=strategy_body(),
                                      headers={"Cache-Control": "no-cache"}).status_code)  # not the cached ranking

        threads = [threading.Thread(target=post) for _ in range(CONCURRENT_STRATEGY_REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen["strategies"] = sorted(codes)
        cached = note("repeat strategies", client.post("/get_top_3_strategies", json=strategy_body()))
        seen["repeat cache"] = [cached.headers.get("X-Cache")]
        bad = strategy_body()
        bad["decision_variables"]["alokasi_truk"] = []
        note("invalid strategies", client.post("/get_top_3_strategies", json=bad))
        chat = json.loads((CONTRACTS / "legacy-chat-request.json").read_text())
        ollama.script(Reply.text("Opsi 1 memberi profit lebih tinggi dengan antrian yang masih wajar."))
        llm = note("chat llm", client.post("/ask_chatbot", json=chat))
        seen["chat llm source"] = [llm.headers.get("X-Chat-Source")]
        ollama.script(Reply.failure(404, 'model "qwen2.5:7b" not found, try pulling it first'))
        fallback = note("chat fallback", client.post("/ask_chatbot", json=chat))
        seen["chat fallback source"] = [fallback.headers.get("X-Chat-Source")]
        note("invalid chat", client.post("/ask_chatbot", json={"question": "why?"}))
        note("drift", client.get("/drift/latest"))
        note("health", client.get("/health"))
    return seen


#: Hauling events the live worker processes per round (new ones each round, so the rates move).
LIVE_EVENTS_PER_ROUND = 40


def drive_live_events(settings, round_no: int) -> int:  # noqa: ANN001
    """Publish the next slice of the mine's cycles to the stream and let a worker process them."""
    import csv

    from live.broker import RedisStreamBroker
    from live.worker import build

    with open(settings.data_dir / "hauling_activities.csv", newline="") as fh:
        rows = [dict(r) for _, r in zip(range(LIVE_EVENTS_PER_ROUND * (round_no + 1)), csv.DictReader(fh))]
    broker = RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group)
    broker.publish(rows[LIVE_EVENTS_PER_ROUND * round_no:])
    worker, _ = build(settings, "prometheus-test")
    return worker.run(max_idle_s=0.3).received


def assert_round(seen: dict[str, list]) -> None:
    assert seen["strategies"].count(200) == 1 and seen["strategies"].count(503) >= 1, seen
    assert seen["repeat strategies"] == [200] and seen["repeat cache"] == ["hit"], seen
    assert seen["live events"] == [LIVE_EVENTS_PER_ROUND], seen
    assert seen["invalid strategies"] == [422] and seen["invalid chat"] == [422], seen
    assert seen["chat llm"] == [200] and seen["chat llm source"] == ["llm"], seen
    assert seen["chat fallback"] == [200] and seen["chat fallback source"] == ["fallback"], seen


@dataclass
class LiveStack:
    prometheus: Prometheus
    api: RunningApi
    rounds: list[dict[str, list]]
    drift: dict[str, Any]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    """The Debian package's ``prometheus`` (asked first, so a machine without it skips before training)."""
    return require_binary("prometheus", package="prometheus")


@pytest.fixture(scope="module")
def live(prometheus_binary: str, trained_mine: Paths,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """API + Ollama test server + Redis + Prometheus, after two rounds of traffic (HTTP and live events)
    and the file-based facts."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp("live-prometheus")
    paths = Paths(root / "data", root / "models", root / "logs")
    shutil.copytree(trained_mine.data, paths.data)
    shutil.copytree(trained_mine.models, paths.models, symlinks=True)
    paths.logs.mkdir()
    write_retrain_history(paths)
    seconds: dict[str, float] = {}
    with OllamaTestServer() as ollama, RedisServer() as redis_server, \
            running_api(paths, ollama.url, env_extra={"MINEOPS_SIM_QUEUE_LIMIT": "1",
                                                      "MINEOPS_REDIS_URL": redis_server.url},
                        ready_timeout_s=None) as api:
        from live.settings import LiveSettings

        live_settings = LiveSettings(redis_url=redis_server.url, data_dir=paths.data, models_dir=paths.models,
                                 logs_dir=paths.logs, live_batch_enabled=False)
        # Prometheus starts and Evidently (~4 s to import) loads while the API warms up.
        prom = start_prometheus(api.url.removeprefix("http://"), root / "prometheus")
        try:
            import evidently.presets  # noqa: F401
            api.wait_for("/ready", READY_TIMEOUT_S)
            seconds["api ready"] = time.monotonic() - started
            prom.wait_scraped_after(time.time())
            seconds["prometheus scraping"] = time.monotonic() - started
            rounds = [drive_traffic(api, ollama)]
            rounds[0]["live events"] = [drive_live_events(live_settings, 0)]
            drift = run_drift_job(paths)  # after round 1: the prediction log has rows
            seconds["drift job"] = time.monotonic() - started
            prom.wait_scraped_after(time.time())
            rounds.append(drive_traffic(api, ollama))
            rounds[1]["live events"] = [drive_live_events(live_settings, 1)]
            prom.wait_scraped_after(time.time())
            # one more evaluation cycle so the rules have run on the final data
            prom.wait_scraped_after(time.time())
            seconds["traffic done"] = time.monotonic() - started
            yield LiveStack(prom, api, rounds, drift, seconds)
        finally:
            prom.stop()


# ---------------------------------------------------------------------------------------- tests
def test_stack_ran_the_traffic_the_queries_need(live: LiveStack) -> None:
    for seen in live.rounds:
        assert_round(seen)
    assert live.drift["current_rows"] >= DRIFT_MIN_ROWS and live.drift["model_version"] == \
        httpx.get(f"{live.api.url}/ready").json()["champion"], live.drift
    assert live.rounds[1]["drift"] == [200], "the drift report written after round 1 is served"
    assert live.prometheus.query(f'up{{job="{JOB}"}}') == [1.0]
    print("timings (s since start):", {k: round(v, 1) for k, v in live.seconds.items()})


def test_prometheus_loaded_every_rule_and_evaluates_it_without_error(live: LiveStack) -> None:
    groups = live.prometheus.api("rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == {r.name for r in RULES}
    broken = {name: rule.get("lastError") for name, rule in loaded.items() if rule.get("health") != "ok"}
    assert not broken, f"rules Prometheus could not evaluate: {broken}"


#: Seconds a query may take to find data before its panel or rule counts as dead: a few 1 s scrapes.
#: (In one full-suite run a gauge read from a file at scrape time was briefly absent from a scrape,
#: while the same series answered a later query; a really dead query still fails after this.)
DATA_GRACE_S = 5.0


def query_with_grace(live: LiveStack, expr: str, has_data) -> list[float]:
    """The query's values, re-asked once per scrape interval until ``has_data`` or the grace ends."""
    deadline = time.monotonic() + DATA_GRACE_S
    while True:
        values = live.prometheus.query(expr)
        if has_data(values) or time.monotonic() > deadline:
            return values
        time.sleep(1.0)


@pytest.mark.parametrize("target", PANELS, ids=[p.label for p in PANELS])
def test_every_panel_query_returns_data(live: LiveStack, target: promql.PanelTarget) -> None:
    expr = promql.instant_query(target.expr, rate_interval=QUERY_WINDOW, interval="1s", range_=QUERY_WINDOW)
    if target.label in NO_DATA_EXPECTED:
        values = live.prometheus.query(expr)
    else:
        values = query_with_grace(live, expr, lambda vs: any(math.isfinite(v) for v in vs))
    if target.label in NO_DATA_EXPECTED:
        assert not any(math.isfinite(v) for v in values), f"{target.label} has data now: drop its exception"
        return
    assert values, f"dead panel {target.label} ({target.panel_title!r}): no series for {expr}"
    assert any(math.isfinite(v) for v in values), \
        f"dead panel {target.label} ({target.panel_title!r}): only NaN/Inf {values} for {expr}"


@pytest.mark.parametrize(("rule", "selector"), RULE_SELECTORS,
                         ids=[f"{rule.name}:{sel}" for rule, sel in RULE_SELECTORS])
def test_every_rule_selector_finds_series(live: LiveStack, rule: promql.RuleExpr, selector: str) -> None:
    values = query_with_grace(live, selector, bool)
    assert values, f"alert {rule.name} reads {selector}, which has no series in the live API's metrics"


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_every_rule_expression_evaluates(live: LiveStack, rule: promql.RuleExpr) -> None:
    data = live.prometheus.api("query", query=rule.expr)
    assert data["resultType"] == "vector", f"{rule.name}: alert expressions must give a vector"
    for sample in data["result"]:  # firing or not does not matter; the values must be numbers
        assert not math.isnan(float(sample["value"][1])), f"{rule.name} evaluates to NaN: {sample}"
