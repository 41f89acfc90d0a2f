"""Benchmark of the HTTP service on the reference request (``contracts/ref-a.json``: 990 simulations).

    python benchmarks/bench_api.py [--data D --models M] [--runs 5] [--health-requests 500]

Starts the real server (``python -m api`` in a subprocess on a free port, its folders a temporary
copy of the given mine, or of a small synthetic mine trained here when none is given; Ollama is
``tests/ollama_server.OllamaTestServer`` answering at once) and prints figures only (no pass/fail):

1. REF-A over HTTP: p50 / p90 of ``--runs`` sequential requests after a warm-up (target p50 <= 0.5 s
   on the default mine, quiet 2-core machine), with the server's own stage timings and the CPU seconds
   of the server's whole process tree (API + pool workers) per request; then, in the same run, the
   bare SimPy loop of the same grid (``bench_simulator.bare_simpy``: REF-A's scenarios x replications,
   Resources and four timeouts per cycle, phases at the champion's mean minutes) split over as many
   processes as the server has workers: median wall and CPU of ``--runs`` runs, and the ratios
   REF-A p50 / bare wall (target <= 0.8) and REF-A CPU / bare CPU (steadier on a shared machine);
2. chat: p50 of the whole ``POST /ask_chatbot`` request (legacy body) against the test server, and
   p50 of one ``/api/chat`` call made directly to the test server (what the model server itself
   costs), so the difference is the service's overhead (target p50 <= 15 ms);
3. ``GET /health`` p50 / p99 / max over ``--health-requests`` requests while 4 REF-A requests run
   concurrently in threads (target p99 <= 50 ms);
4. the prediction log's cost: REF-A over HTTP with the writer and with its ``submit`` replaced by a
   no-op (an in-process uvicorn on the same app, runs interleaved; target < 5 %), and the writer's
   own time for one REF-A table (``submit`` on the request path, the batch write off it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e_server import free_port, running_api  # noqa: E402
from tests.ollama_server import OllamaTestServer  # noqa: E402
from training.cli import Paths  # noqa: E402
from training.reference import REFERENCE_EXPORT_DIR  # noqa: E402

CONTRACTS = REPO / "contracts"
REFERENCE_EXPORT = REFERENCE_EXPORT_DIR
#: Synthetic mine trained when no --data/--models is given: days, trucks, seed (the tests' size).
MINE_DAYS, MINE_TRUCKS, MINE_SEED = 20, 20, 11
#: End of the benchmark mine's period (the reference export's date), pinned so every run simulates the same data.
MINE_END = "2025-11-09T23:17:02.382Z"
#: REF-A requests sent concurrently while /health is timed (issue: 4).
CONCURRENT_REF_A = 4
#: Chat requests timed (and direct calls to the test server).
CHAT_REQUESTS = 50
READY_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 120.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def prepare_mine(data: Path | None, models: Path | None, root: Path) -> Paths:
    """A writable copy of the given mine, or a small synthetic mine trained here."""
    paths = Paths(root / "data", root / "models", root / "logs")
    if data and models:
        shutil.copytree(data, paths.data)
        shutil.copytree(models, paths.models, symlinks=True)
        paths.logs.mkdir()
        return paths
    from training.retrain import retrain
    from training.settings import TrainingSettings
    from training.synthetic import generate

    print(f"no --data/--models: generating and training a sample mine ({MINE_DAYS} days x {MINE_TRUCKS} trucks)...",
          flush=True)
    t0 = time.perf_counter()
    shutil.copytree(REFERENCE_EXPORT, paths.data)
    generate(paths.data, days=MINE_DAYS, trucks=MINE_TRUCKS, seed=MINE_SEED, end=MINE_END)
    outcome = retrain(paths, TrainingSettings(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs))
    if not outcome.promoted:
        raise SystemExit(f"the sample mine's model was rejected: {outcome.reasons}")
    print(f"  trained {outcome.version} in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


def wait_ready(base: str) -> dict:
    """Poll an in-process server's /ready (the subprocess server uses tests.e2e_server)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            r = httpx.get(base + "/ready", timeout=5.0)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server never became ready")


#: Every timed REF-A is simulated: the service answers a repeated request from its ranking cache
#: (``X-Cache: hit``, a few ms; bench_live.py times that), which is not what these figures are about.
SIMULATE = {"Cache-Control": "no-cache"}


def post_ref_a(http: httpx.Client, body: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = http.post("/get_top_3_strategies", json=body, headers=SIMULATE)
    if r.headers.get("X-Cache") == "hit":
        raise SystemExit("REF-A was answered from the ranking cache despite Cache-Control: no-cache")
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"REF-A answered {r.status_code}: {r.text[:300]}")
    return elapsed, r.json()


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its living descendants."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def bench_ref_a(http: httpx.Client, body: dict, runs: int, server_pid: int) -> tuple[float, float]:
    """REF-A's p50 wall and median server-tree CPU seconds per request."""
    times, cpus, stages = [], [], []
    for _ in range(runs):
        cpu0 = tree_cpu_s(server_pid)
        elapsed, out = post_ref_a(http, body)
        cpus.append(tree_cpu_s(server_pid) - cpu0)
        times.append(elapsed)
        stages.append(out["timings_s"])
    print(f"1. REF-A over HTTP ({out['grid']['simulations']} simulations, {runs} runs after a warm-up):")
    print(f"   p50 {pct(times, 50):.3f} s   p90 {pct(times, 90):.3f} s   min {min(times):.3f} s   "
          f"max {max(times):.3f} s   (target p50 <= 0.5 s on a quiet 2-core machine)")
    print(f"   server process tree CPU per request: median {statistics.median(cpus):.3f} s")
    median = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    print("   server stages (median): " + ", ".join(f"{k} {v:.3f} s" for k, v in median.items()))
    return pct(times, 50), statistics.median(cpus)


def _bare_chunk(args: tuple) -> float:
    """Run a share of the bare loop's simulations; this process's CPU seconds."""
    from benchmarks.bench_simulator import bare_simpy

    scenarios, hours, phases, bays = args
    t0 = time.process_time()
    for trucks, excavators in scenarios:
        bare_simpy(trucks, excavators, hours, phases, bays or trucks)
    return time.process_time() - t0


def bench_bare_loop(paths: Paths, body: dict, workers: int, runs: int, ref_a: tuple[float, float]) -> None:
    """The bare SimPy loop of REF-A's grid on ``workers`` processes, and REF-A's ratios to it."""
    import multiprocessing
    from datetime import datetime, timezone

    from simulator.engine import bundle_site, context_table, model_params, pair_inputs
    from simulator.fleet import select_units
    from simulator.model import Breakdowns, NoiseTables
    from simulator.request import parse_request
    from training.bundle import PHASES, load_champion
    from training.dataset import load_master
    from training.features import Fleet
    from training.registry import Registry

    bundle = load_champion(Registry(paths.models))
    fleet = Fleet.from_export(load_master(paths.data))
    spec = parse_request(body)
    selection = select_units(fleet, spec.conditions, spec.grid.max_trucks, spec.grid.max_excavators,
                             datetime.now(timezone.utc))
    table = context_table(spec, selection, bundle, fleet)
    full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, NoiseTables.from_bundle(bundle),
                       Breakdowns.from_bundle(bundle))
    bays = model_params(spec, full, bundle_site(bundle)).dump_bays
    phases = tuple(float(table[f"{p}_mean_min"].mean()) for p in PHASES)
    sims = [s for s in spec.grid.scenarios for _ in range(spec.simulation.effective_replications)]
    chunks = [(sims[w::workers], spec.simulation.duration_hours, phases, bays) for w in range(workers)]
    walls, cpus = [], []
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        pool.map(_bare_chunk, [(c[0][:1], *c[1:]) for c in chunks])  # start and import in every worker
        for _ in range(runs):
            t0 = time.perf_counter()
            cpus.append(sum(pool.map(_bare_chunk, chunks)))
            walls.append(time.perf_counter() - t0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    p50, ref_cpu = ref_a
    print(f"   bare SimPy loop of the same grid ({len(sims)} simulations, phases "
          f"{', '.join(f'{p:.2f}' for p in phases)} min, {bays or 'a bay per truck'} dump bays, {workers} processes, "
          f"median of {runs}): wall {wall:.3f} s, CPU {cpu:.3f} s")
    print(f"   ratio REF-A p50 / bare wall {p50 / wall:.2f} (target <= 0.8); "
          f"REF-A server CPU / bare CPU {ref_cpu / cpu:.2f}")


def bench_chat(http: httpx.Client, ollama: OllamaTestServer) -> None:
    body = json.loads((CONTRACTS / "legacy-chat-request.json").read_text())
    whole, direct = [], []
    sources = set()
    for _ in range(3):  # warm-up
        http.post("/ask_chatbot", json=body)
    for _ in range(CHAT_REQUESTS):
        t0 = time.perf_counter()
        r = http.post("/ask_chatbot", json=body)
        whole.append(time.perf_counter() - t0)
        sources.add(r.headers.get("X-Chat-Source"))
    sent = ollama.chat_bodies[-1]
    with httpx.Client(base_url=ollama.url, timeout=30.0) as raw:
        for _ in range(CHAT_REQUESTS):
            t0 = time.perf_counter()
            raw.post("/api/chat", json={**sent, "stream": False})
            direct.append(time.perf_counter() - t0)
    print(f"2. chat over the Ollama test server ({CHAT_REQUESTS} requests, answered by {sorted(map(str, sources))}):")
    print(f"   whole POST /ask_chatbot p50 {ms(pct(whole, 50))}  p90 {ms(pct(whole, 90))}; "
          f"the test server alone p50 {ms(pct(direct, 50))}; overhead p50 {ms(pct(whole, 50) - pct(direct, 50))} "
          "(target <= 15 ms)")


def bench_health_under_load(base: str, body: dict, health_requests: int) -> None:
    stop = threading.Event()
    ref_times: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = http.post("/get_top_3_strategies", json=body, headers=SIMULATE)
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        ref_times.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(CONCURRENT_REF_A)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # let every REF-A reach the pool
    latencies = []
    with httpx.Client(base_url=base, timeout=30.0) as http:
        for _ in range(health_requests):
            t0 = time.perf_counter()
            r = http.get("/health")
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 200
            time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join(REQUEST_TIMEOUT_S)
    print(f"3. GET /health while {CONCURRENT_REF_A} REF-A requests run concurrently ({health_requests} requests):")
    print(f"   p50 {ms(pct(latencies, 50))}  p99 {ms(pct(latencies, 99))}  max {ms(max(latencies))}  "
          f"(target p99 <= 50 ms)")
    others = sorted({s for s in statuses if s != 200})
    print(f"   meanwhile {len(ref_times)} REF-A completed, p50 {pct(ref_times, 50):.2f} s each"
          + (f"; other statuses: {others}" if others else ""))


def bench_prediction_log(paths: Paths, body: dict, runs: int, ollama_url: str) -> None:
    """REF-A over HTTP with and without the writer (in-process uvicorn), and the writer's own cost."""
    import uvicorn

    from api.app import create_app
    from api.prediction_log import TABLE_COLUMNS, PredictionLogWriter
    from api.store import RunStore
    from api.settings import Settings

    settings = Settings(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs, ollama_host=ollama_url,
                        log_level="WARNING")
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        writer = app.state.prediction_log
        real_submit = writer.submit
        with_log, without_log = [], []
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
            for _ in range(2):
                post_ref_a(http, body)
            for i in range(2 * runs):  # interleaved: with, without, with, ...
                logging_on = i % 2 == 0
                writer.submit = real_submit if logging_on else (lambda *args, **kwargs: None)
                elapsed, out = post_ref_a(http, body)
                (with_log if logging_on else without_log).append(elapsed)
                if logging_on:
                    run_id = out["run_id"]
                    writer.flush()  # the batch is written between runs, as at a flush interval
        writer.submit = real_submit
        a, b = statistics.median(with_log), statistics.median(without_log)
        print(f"4. prediction log: REF-A over HTTP median {a:.3f} s with the writer, {b:.3f} s without "
              f"({(a - b) / b:+.1%}; target < 5 %; {runs} interleaved runs each, in-process server)")
        table = app.state.store.read_predictions(run_id)[list(TABLE_COLUMNS)].reset_index(drop=True)
    finally:
        server.should_exit = True
        thread.join(60)
    # the writer alone, on a fresh store: one REF-A table (the largest scenario's pairs)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore.from_url(f"sqlite:///{tmp}/runs.sqlite3")
        writer = PredictionLogWriter(store, Path(tmp) / "prediction_logs.csv")
        submits, writes = [], []
        for i in range(20):
            t0 = time.perf_counter()
            writer.submit(f"bench{i}", "v1", table)
            submits.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            writer.flush()
            writes.append(time.perf_counter() - t0)
        writer.close()
        store.close()
    print(f"   writer per REF-A run ({len(table)} rows, last run {run_id[:8]}): submit p50 "
          f"{statistics.median(submits) * 1e6:.0f} us on the request path; batch write p50 "
          f"{ms(statistics.median(writes))} off it ({statistics.median(writes) / b:.1%} of a REF-A request)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="fleet CSV folder of a trained mine (copied)")
    parser.add_argument("--models", type=Path, help="model registry with a champion (copied)")
    parser.add_argument("--runs", type=int, default=5, help="timed REF-A runs (default 5)")
    parser.add_argument("--health-requests", type=int, default=500, help="timed /health requests (default 500)")
    args = parser.parse_args(argv)
    body = json.loads((CONTRACTS / "ref-a.json").read_text())

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, OllamaTestServer() as ollama:
        paths = prepare_mine(args.data, args.models, Path(tmp))
        t0 = time.perf_counter()
        with running_api(paths, ollama.url, ready_timeout_s=READY_TIMEOUT_S,
                         log_path=Path(tmp) / "server.log") as server:
            ready = httpx.get(server.url + "/ready", timeout=5.0).json()
            print(f"server ready in {time.perf_counter() - t0:.1f} s: champion {ready['champion']}, "
                  f"{ready['workers']} simulator workers, {os.cpu_count()} CPUs", flush=True)
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:
                for _ in range(2):  # warm-up: noise tables shipped, caches filled
                    post_ref_a(http, body)
                ref_a = bench_ref_a(http, body, args.runs, server.process.pid)
                bench_bare_loop(paths, body, int(ready["workers"]), args.runs, ref_a)
                bench_chat(http, ollama)
            bench_health_under_load(server.url, body, args.health_requests)
        bench_prediction_log(paths, body, args.runs, ollama.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
