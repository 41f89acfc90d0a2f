"""Benchmark of long grids as background jobs (202 + /jobs/{id}, api/jobs.py).

    python benchmarks/bench_jobs.py [--data D --models M] [--runs 3] [--replications 100]

Starts the real server (``python -m api``, the mine copied or trained as in ``bench_api.py``) with a
synchronous limit of 1,000 simulations, so REF-A (990) answers at once and REF-A with
``--replications`` (3,300 at 100) is a job. Prints figures only (no pass/fail), medians of ``--runs``:

1. a job followed over SSE: wall time from the POST to ``event: done``, server process-tree CPU per
   simulation against REF-A's synchronous CPU per simulation (the job path's overhead), and the
   progress events received and the longest gap between two;
2. fairness: REF-A's synchronous wall time alone and while a job runs (the pool keeps only
   ``executor.JOB_UNITS_IN_FLIGHT_PER_WORKER`` of the job's units per worker queued).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_api import SIMULATE, prepare_mine, tree_cpu_s  # noqa: E402
from tests.e2e_server import running_api  # noqa: E402
from tests.ollama_server import OllamaTestServer  # noqa: E402

CONTRACTS = REPO / "contracts"
#: The server's synchronous limit here: REF-A (990) is answered at once, more is a job.
SYNC_LIMIT = 1_000
READY_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 600.0


def sync_ref_a(http: httpx.Client, body: dict, pid: int) -> tuple[float, float]:
    """(wall s, server-tree CPU s) of one synchronous REF-A."""
    cpu0, t0 = tree_cpu_s(pid), time.perf_counter()
    r = http.post("/get_top_3_strategies", json=body, headers=SIMULATE)
    if r.status_code != 200:
        raise SystemExit(f"REF-A answered {r.status_code}: {r.text[:300]}")
    return time.perf_counter() - t0, tree_cpu_s(pid) - cpu0


def follow_job(http: httpx.Client, body: dict, pid: int) -> dict:
    """POST a long grid, read its events until done; wall, CPU, events and the largest gap between them."""
    cpu0, t0 = tree_cpu_s(pid), time.perf_counter()
    r = http.post("/get_top_3_strategies", json=body, headers=SIMULATE)
    if r.status_code != 202:
        raise SystemExit(f"the long grid answered {r.status_code}, not 202: {r.text[:300]}")
    location, total = r.headers["Location"], r.json()["total"]
    stamps, last_event = [], None
    with http.stream("GET", f"{location}/events", timeout=REQUEST_TIMEOUT_S) as events:
        for line in events.iter_lines():
            if line.startswith("event: "):
                last_event = line.removeprefix("event: ")
                stamps.append(time.perf_counter())
            if last_event in ("done", "failed") and line.startswith("data: "):
                break
    wall = time.perf_counter() - t0
    if last_event != "done":
        raise SystemExit(f"the job ended {last_event}: {http.get(location).text[:300]}")
    job = http.get(location).json()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"wall": wall, "cpu": tree_cpu_s(pid) - cpu0, "total": total, "events": len(stamps),
            "max_gap": max(gaps, default=0.0), "run_id": job["run_id"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="fleet CSV folder of a trained mine (copied)")
    parser.add_argument("--models", type=Path, help="model registry with a champion (copied)")
    parser.add_argument("--runs", type=int, default=3, help="jobs and REF-A requests timed (default 3)")
    parser.add_argument("--replications", type=int, default=100, help="replications of the long grid (default 100)")
    args = parser.parse_args(argv)
    ref_a = json.loads((CONTRACTS / "ref-a.json").read_text())
    long_grid = {**ref_a, "simulation": {**ref_a["simulation"], "replications": args.replications}}

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp, OllamaTestServer() as ollama:
        paths = prepare_mine(args.data, args.models, Path(tmp))
        with running_api(paths, ollama.url, ready_timeout_s=READY_TIMEOUT_S, log_path=Path(tmp) / "server.log",
                         env_extra={"MINEOPS_SIM_MAX_GRID_SIMULATIONS": str(SYNC_LIMIT)}) as server:
            pid = server.process.pid
            workers = httpx.get(server.url + "/ready", timeout=5.0).json()["workers"]
            print(f"server ready: {workers} simulator workers; synchronous limit {SYNC_LIMIT} simulations")
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:
                for _ in range(2):
                    sync_ref_a(http, ref_a, pid)  # warm-up
                alone = [sync_ref_a(http, ref_a, pid) for _ in range(args.runs)]
                jobs = [follow_job(http, long_grid, pid) for _ in range(args.runs)]

                during: list[float] = []
                done = threading.Event()

                def background() -> None:
                    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as other:
                        follow_job(other, long_grid, pid)
                    done.set()

                runner = threading.Thread(target=background)
                runner.start()
                time.sleep(0.5)  # the job is queued in the pool
                while not done.is_set() and len(during) < args.runs:
                    during.append(sync_ref_a(http, ref_a, pid)[0])
                runner.join()

    sims_a = 990
    cpu_a = statistics.median(c for _, c in alone) / sims_a
    total = jobs[0]["total"]
    cpu_job = statistics.median(j["cpu"] for j in jobs) / total
    print(f"1. job of {total} simulations followed over SSE ({args.runs} runs, median):")
    print(f"   POST to event: done {statistics.median(j['wall'] for j in jobs):.2f} s; "
          f"{statistics.median(j['events'] for j in jobs):.0f} events, longest gap "
          f"{statistics.median(j['max_gap'] for j in jobs):.2f} s")
    print(f"   server CPU per simulation: job {cpu_job * 1000:.3f} ms, synchronous REF-A {cpu_a * 1000:.3f} ms "
          f"(ratio {cpu_job / cpu_a:.2f})")
    busy = f"p50 {statistics.median(during):.2f} s over {len(during)} request(s)" if during else \
        "not measured (the job ended first: raise --replications)"
    print(f"2. REF-A synchronous wall: alone p50 {statistics.median(w for w, _ in alone):.2f} s; "
          f"while a job runs {busy}")
    print("   (a shared machine: compare the figures of one run with each other, not across runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
