"""Benchmark of the live path: ingestion rate, event-to-snapshot latency, cached REF-A over HTTP.

    python benchmarks/bench_live.py [--days 90] [--trucks 40] [--workers 1 2] [--runs 3] [--cache-requests 50]

Prints figures only (no pass/fail), medians over ``--runs``:

1. sustained ingestion: the whole ``--days`` export (90 days x 40 trucks, ~150,000 cycles) is
   published to a fresh stream first, then ``--workers`` ``python -m live.worker`` processes (no batch
   layer) validate it with the loader's contract and write it in batches to a SQLite run store; the
   rate is events / (time until every cycle is stored) (target >= 5,000 events/s on 2 cores);
2. event -> KPI snapshot latency under that load: the export is published at 5,000 events/s while
   the workers run; a subscriber to the snapshot channel notes when each shift's cycle count first
   reaches k, and the latency of the shift's k-th published event is that moment minus its XADD time
   (exact with one worker, which processes in stream order; with several it is an estimate) (target
   p99 <= 1 s);
3. REF-A repeated over HTTP from the ranking cache (in-process cache, the real ``python -m api``):
   p50 / p90 of ``--cache-requests`` repeats after the first (simulated) answer (target p50 <= 20 ms).

Needs the Debian package redis-server. The machine is whatever runs this; on a shared host the
figures move with the neighbours' load.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import redis

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from live.broker import RedisStreamBroker  # noqa: E402
from live.db import open_engine  # noqa: E402
from live.replay import read_events  # noqa: E402
from live.speed import CHANNEL  # noqa: E402
from live.store import CycleStore  # noqa: E402
from tests.e2e_server import running_api  # noqa: E402
from tests.ollama_server import OllamaTestServer  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from training.cli import Paths  # noqa: E402
from training.reference import REFERENCE_EXPORT_DIR  # noqa: E402

CONTRACTS = REPO / "contracts"
#: Publishing rate of the latency run, events/s (the issue's sustained load).
LATENCY_RATE = 5000
#: Events per paced publish round trip in the latency run.
LATENCY_CHUNK = 250
#: The cache run's mine: days, trucks, seed (bench_api's size).
CACHE_MINE = (20, 20, 11)
TIMEOUT_S = 900.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def start_workers(n: int, redis_url: str, data: Path, logs: Path, tag: str) -> list[subprocess.Popen]:
    env = {**os.environ, "MINEOPS_REDIS_URL": redis_url, "MINEOPS_DATA_DIR": str(data), "MINEOPS_LOGS_DIR": str(logs),
           "MINEOPS_LIVE_BATCH_ENABLED": "false", "MINEOPS_LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    return [subprocess.Popen([sys.executable, "-m", "live.worker", "--consumer", f"{tag}-{i}", "--max-idle", "5"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]


def wait_stored(store: CycleStore, total: int, started: float, at_least: int | None = None) -> tuple[float, int]:
    """(seconds since ``started``, cycles stored) once ``at_least`` (default ``total``) cycles are stored."""
    goal = total if at_least is None else at_least
    while (n := store.count_cycles()) < goal:
        if time.perf_counter() - started > TIMEOUT_S:
            raise TimeoutError(f"only {n} of {total} cycles stored")
        time.sleep(0.02)
    return time.perf_counter() - started, n


def wait_consumers(broker: RedisStreamBroker, n: int) -> None:
    """Block until ``n`` workers have joined the group (imports and the fleet's master tables loaded)."""
    deadline = time.monotonic() + TIMEOUT_S
    while broker.stats().consumers < n:
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start")
        time.sleep(0.1)


def bench_ingestion(data: Path, events: list, workers: int, runs: int, root: Path) -> None:
    rates = []
    for run in range(runs):
        with RedisServer() as server:
            logs = root / f"ingest-{workers}-{run}"
            broker = RedisStreamBroker.from_url(server.url, "hauling-events", "live-workers", maxlen=None)
            broker.ensure_group()
            for start in range(0, len(events), 5000):
                broker.publish([fields for _, fields in events[start:start + 5000]])
            store = CycleStore(open_engine(f"sqlite:///{logs / 'runs.sqlite3'}"))
            started = time.perf_counter()
            procs = start_workers(workers, server.url, data, logs, f"ingest{run}")
            try:  # timed from the first stored batch, so interpreter start-up is not counted
                first_s, first_n = wait_stored(store, len(events), started, at_least=1)
                last_s, _ = wait_stored(store, len(events), started)
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(30)
            seconds = last_s - first_s
            rates.append((len(events) - first_n) / seconds)
            print(f"    run {run + 1}: {len(events) - first_n:,} events in {seconds:.1f} s = {rates[-1]:,.0f} "
                  f"events/s (first batch after {first_s:.1f} s of start-up)", flush=True)
    print(f"  ingestion, {workers} worker(s): median {statistics.median(rates):,.0f} events/s", flush=True)


def bench_latency(data: Path, events: list, workers: int, root: Path) -> None:
    with RedisServer() as server:
        logs = root / f"latency-{workers}"
        broker = RedisStreamBroker.from_url(server.url, "hauling-events", "live-workers", maxlen=None)
        broker.ensure_group()
        store = CycleStore(open_engine(f"sqlite:///{logs / 'runs.sqlite3'}"))
        from live.kpis import cycle_columns  # shift key of each event, as the worker computes it
        import pandas as pd

        frame = pd.DataFrame([f for _, f in events])
        typed = pd.DataFrame({"loadingStartTime": pd.to_datetime(frame["loadingStartTime"], utc=True),
                              "shift": frame["shift"], "truckId": frame["truckId"], "status": frame["status"],
                              "loadWeight": 0.0, "totalCycleTime": 0.0, "queueDuration": 0.0, "fuelConsumed": 0.0})
        keys = cycle_columns(typed, "default")["shift_key"].tolist()
        procs = start_workers(workers, server.url, data, logs, "lat")  # after the set-up: they stop when idle
        wait_consumers(broker, workers)
        sent_at: dict[str, list[float]] = {}
        reached: dict[str, list[float]] = {}
        done = threading.Event()
        client = redis.Redis.from_url(server.url)
        pubsub = client.pubsub()
        pubsub.subscribe(CHANNEL)

        def listen() -> None:
            while not done.is_set():
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is None:
                    continue
                now = time.perf_counter()
                snap = json.loads(message["data"])
                seen = reached.setdefault(snap["shift"], [])
                while len(seen) < snap["data"]["totals"]["cycles"]:
                    seen.append(now)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        started = time.perf_counter()
        for start in range(0, len(events), LATENCY_CHUNK):
            due = started + start / LATENCY_RATE
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            chunk = events[start:start + LATENCY_CHUNK]
            broker.publish([f for _, f in chunk])
            t = time.perf_counter()
            for key in keys[start:start + len(chunk)]:
                sent_at.setdefault(key, []).append(t)
        published = time.perf_counter() - started
        wait_stored(store, len(events), started)
        time.sleep(1.0)
        done.set()
        listener.join(5)
        for p in procs:
            p.terminate()
            p.wait(30)
        lat = [r - s for key, sent in sent_at.items() for s, r in zip(sent, reached.get(key, []))]
        print(f"  event -> snapshot, {workers} worker(s), published at {len(events) / published:,.0f} events/s: "
              f"p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"over {len(lat):,} events", flush=True)


def bench_cache(root: Path, requests: int) -> None:
    from training.retrain import retrain
    from training.settings import TrainingSettings
    from training.synthetic import generate

    paths = Paths(root / "cache" / "data", root / "cache" / "models", root / "cache" / "logs")
    shutil.copytree(REFERENCE_EXPORT_DIR, paths.data)
    days, trucks, seed = CACHE_MINE
    generate(paths.data, days=days, trucks=trucks, seed=seed)
    retrain(paths, TrainingSettings(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs))
    body = json.loads((CONTRACTS / "ref-a.json").read_text())
    with OllamaTestServer() as ollama, running_api(paths, ollama.url, ready_timeout_s=300) as api, \
            httpx.Client(base_url=api.url, timeout=300) as http:
        t0 = time.perf_counter()
        first = http.post("/get_top_3_strategies", json=body)
        miss_s = time.perf_counter() - t0
        assert first.headers.get("X-Cache") == "miss", first.headers
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = http.post("/get_top_3_strategies", json=body)
            times.append(time.perf_counter() - t0)
            assert r.headers.get("X-Cache") == "hit" and r.content == first.content
    print(f"  REF-A over HTTP: first (simulated) {miss_s:.2f} s; cached p50 {pct(times, 50) * 1000:.1f} ms, "
          f"p90 {pct(times, 90) * 1000:.1f} ms over {requests} repeats", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--trucks", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache-requests", type=int, default=50)
    parser.add_argument("--skip", nargs="*", default=[], choices=["ingestion", "latency", "cache"])
    args = parser.parse_args()
    from training.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        root = Path(tmp)
        data = Path(shutil.copytree(REFERENCE_EXPORT_DIR, root / "data"))
        t0 = time.perf_counter()
        generate(data, days=args.days, trucks=args.trucks, seed=7)
        events = read_events(data / "hauling_activities.csv")
        print(f"mine: {args.days} days x {args.trucks} trucks = {len(events):,} cycles "
              f"(generated in {time.perf_counter() - t0:.1f} s); {os.cpu_count()} CPUs", flush=True)
        if "ingestion" not in args.skip:
            for n in args.workers:
                bench_ingestion(data, events, n, args.runs, root)
        if "latency" not in args.skip:
            for n in args.workers:
                bench_latency(data, events, n, root)
        if "cache" not in args.skip:
            bench_cache(root, args.cache_requests)


if __name__ == "__main__":
    main()
