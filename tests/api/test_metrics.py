"""/metrics (api/metrics.py, api/routes/health.py): HTTP histograms, domain metrics, and the
multiprocess mode of ``python -m api --workers 2`` (every worker's counts, whichever answers)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.multiprocess import MultiProcessCollector

from api.app import create_app
from api.metrics import LATENCY_BUCKETS_S
from tests.api.test_app import (  # noqa: F401  (module_mine is a fixture)
    READY_TIMEOUT_S, REPO, app_settings, contract, inline_factory, metric, module_mine, parse_metrics, scrape,
    small_body, wait_ready)
from tests.ollama_server import closed_port_url

STRATEGIES = "/get_top_3_strategies"


@pytest.fixture(scope="module")
def client(module_mine):
    app = create_app(app_settings(module_mine), executor_factory=inline_factory)
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_http_latency_histogram_has_the_buckets_from_50_ms_to_30_s(client):
    assert LATENCY_BUCKETS_S[0] == 0.05 and LATENCY_BUCKETS_S[-1] == 30.0
    assert client.post(STRATEGIES, json=small_body()).status_code == 200
    assert client.post(STRATEGIES, json={"fixed_conditions": {}}).status_code == 422
    samples = scrape(client)
    for le in ("0.05", "30.0", "+Inf"):
        value = metric(samples, "http_request_duration_seconds_bucket", handler=STRATEGIES, method="POST", le=le)
        assert value is not None, le
    assert metric(samples, "http_request_duration_seconds_bucket", handler=STRATEGIES, method="POST",
                  le="+Inf") >= 2.0
    assert metric(samples, "http_requests_total", handler=STRATEGIES, method="POST", status="200") >= 1.0
    assert metric(samples, "http_requests_total", handler=STRATEGIES, method="POST", status="422") >= 1.0
    # every configured bucket is exposed, none other
    les = sorted(float(dict(labels)["le"]) for (name, labels) in samples
                 if name == "http_request_duration_seconds_bucket" and dict(labels).get("handler") == STRATEGIES)
    assert les == sorted([*LATENCY_BUCKETS_S, float("inf")])


def test_domain_metrics_follow_a_run(client):
    before = scrape(client)
    r = client.post(STRATEGIES, json=small_body([2, 3, 4], [1, 2], replications=3))
    assert r.status_code == 200
    out = r.json()
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return (metric(after, name, **labels) or 0.0) - (metric(before, name, **labels) or 0.0)

    assert out["grid"]["simulations"] == 18
    assert grew("mineops_simulations_total") == 18.0
    assert grew("mineops_simulation_requests_total", outcome="ok") == 1.0
    assert grew("mineops_simulation_duration_seconds_count") == 1.0
    assert grew("mineops_grid_simulations_sum") == 18.0
    assert grew("mineops_predictions_total") == 4 * 2  # one per (truck, excavator) pair of the largest scenario
    assert metric(after, "mineops_champion_info", version="v1") == 1.0
    best = out["top_3_strategies"][0]["strategy"]["metrics"]
    assert metric(after, "mineops_run_best_profit_idr") == pytest.approx(best["profit_idr"]["mean"])
    assert metric(after, "mineops_run_best_queue_hours") == pytest.approx(best["queue_hours"]["mean"])
    assert metric(after, "mineops_champion_created_timestamp_seconds", version="v1") > 1.6e9
    assert metric(after, "mineops_ollama_up") == 0.0  # Ollama is on a closed port here
    assert client.post(STRATEGIES, json=small_body([0], [1])).status_code == 422
    assert grew_after(client, after, "mineops_simulation_requests_total", outcome="invalid") == 1.0


def grew_after(client: TestClient, before, name: str, **labels: str) -> float:
    return (metric(scrape(client), name, **labels) or 0.0) - (metric(before, name, **labels) or 0.0)


# --- multiprocess mode: python -m api --workers 2 ---------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simulations_per_process(folder: Path) -> dict[str, float]:
    """mineops_simulations_total per worker, read from each worker's multiprocess counter file."""
    out = {}
    for path in folder.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            for s in family.samples:
                if s.name == "mineops_simulations_total":
                    out[path.name] = s.value
    return out


@pytest.mark.slow
def test_several_workers_report_every_workers_counts(trained_mine_copy):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINEOPS_", "PROMETHEUS_"))}
    env.update(MINEOPS_DATA_DIR=str(trained_mine_copy.data), MINEOPS_MODELS_DIR=str(trained_mine_copy.models),
               MINEOPS_LOGS_DIR=str(trained_mine_copy.logs), MINEOPS_SIM_WORKERS="1",
               MINEOPS_OLLAMA_HOST=closed_port_url(), MINEOPS_OLLAMA_TIMEOUT_S="2")
    log_path = trained_mine_copy.logs / "server.log"
    log_file = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "api", "--workers", "2", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)
    mp_dir = trained_mine_copy.logs / "prometheus-multiproc"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        expected = 0
        answered = 0
        with httpx.Client(base_url=base, timeout=60.0) as http:
            while True:  # wait for a worker to listen
                assert proc.poll() is None, log_path.read_text()[-2000:]
                try:
                    if http.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the service never became ready"
                time.sleep(0.2)
            # bounded loop: fresh connections until both workers have answered strategies requests
            for i in range(60):
                r = httpx.post(base + STRATEGIES, json=small_body([2, 3], [1], replications=2, seed=i), timeout=60.0)
                if r.status_code == 503:  # this worker is still warming up
                    time.sleep(0.2)
                    continue
                assert r.status_code == 200, r.text
                expected += r.json()["grid"]["simulations"]
                answered += 1
                per_process = simulations_per_process(mp_dir)
                if answered >= 4 and sum(v > 0 for v in per_process.values()) >= 2:
                    break
            per_process = simulations_per_process(mp_dir)
            assert sum(v > 0 for v in per_process.values()) == 2, per_process
            assert sum(per_process.values()) == expected
            # whichever worker answers the scrape, the total is every worker's
            for _ in range(6):
                text = httpx.get(base + "/metrics", timeout=30.0).text
                assert metric(parse_metrics(text), "mineops_simulations_total") == expected
            # the chat falls back (Ollama refuses the connection) and says so
            chat = httpx.post(base + "/ask_chatbot", json=contract("legacy-chat-request.json"), timeout=30.0)
            assert chat.status_code == 200 and chat.headers["X-Chat-Source"] == "fallback"
            assert chat.json()["source"] == "fallback"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log_file.close()
    assert code == 0, log_path.read_text()[-2000:]
    # the supervisor and both workers log JSON lines; request lines carry their request id
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert any(r["message"].startswith("Started parent process") for r in records)
    assert len({r["message"] for r in records if r["message"].startswith("Started server process")}) == 2
    strategy_lines = [r for r in records if r["message"].startswith("strategies run ")]
    assert len(strategy_lines) == answered
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) for r in strategy_lines)
