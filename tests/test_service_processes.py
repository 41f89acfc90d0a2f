"""The service never leaves processes behind: SIGKILL'd, its simulator pool ends on its own.

The real service (``python -m api``) runs with a two-worker pool; its descendants (the fork server,
the resource tracker and the workers, children of the fork server) are listed while it is ready.
Killed with SIGKILL (as the OOM killer does) it gets no chance to shut anything down: every one of
them must still be gone within seconds (``simulator.lifeline``). SIGTERM still shuts down cleanly.
"""
from __future__ import annotations

import os
import signal
import time

import psutil

from tests.e2e_server import API_ARGV, running_api
from tests.ollama_server import closed_port_url

#: Seconds the orphaned pool may take to notice and exit (it takes well under one on an idle machine).
ORPHAN_DEADLINE_S = 10.0
#: Seconds a SIGTERM'd service gets for its clean shutdown.
STOP_GRACE_S = 30.0
POOL_WORKERS = 2


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running (a zombie has exited; only its parent's reaping is missing)."""
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def describe(processes: list[psutil.Process]) -> list[str]:
    out = []
    for p in processes:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            out.append(str(p.pid))
    return out


def pool_of(pid: int) -> list[psutil.Process]:
    """Every descendant of the service: fork server, resource tracker, workers."""
    return psutil.Process(pid).children(recursive=True)


def started_for(data_dir) -> list[psutil.Process]:
    """Every process whose environment names ``data_dir`` (the service and all it started, reparented or not)."""
    wanted = str(data_dir)
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("MINEOPS_DATA_DIR") == wanted:
                out.append(p)
        except psutil.Error:
            pass
    return out


def check_pool_shape(pool: list[psutil.Process]) -> None:
    commands = [" ".join(p.cmdline()) for p in pool]
    servers = [p for p, c in zip(pool, commands) if "multiprocessing.forkserver" in c]
    assert servers, f"no fork server among {commands}"
    workers = [p for p in pool if p.ppid() in {s.pid for s in servers}]
    assert len(workers) >= POOL_WORKERS, f"expected {POOL_WORKERS} workers under the fork server: {commands}"


def test_sigkill_of_the_service_leaves_no_pool_process(trained_mine_copy):
    with running_api(trained_mine_copy, closed_port_url(),
                     env_extra={"MINEOPS_SIM_WORKERS": str(POOL_WORKERS)}) as api:
        pool = pool_of(api.process.pid)
        check_pool_shape(pool)
        os.kill(api.process.pid, signal.SIGKILL)
        api.process.wait(timeout=STOP_GRACE_S)
        pool += [p for p in started_for(trained_mine_copy.data) if p.pid not in {q.pid for q in pool}]
        deadline = time.monotonic() + ORPHAN_DEADLINE_S
        while alive(pool) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(pool)
        for p in left:  # do not leave them to the next test either
            p.kill()
        assert not left, f"still running {ORPHAN_DEADLINE_S:.0f} s after SIGKILL: {describe(left)}"


def test_sigterm_still_shuts_down_cleanly_and_takes_the_pool_along(trained_mine_copy):
    with running_api(trained_mine_copy, closed_port_url(),
                     env_extra={"MINEOPS_SIM_WORKERS": str(POOL_WORKERS)}) as api:
        pool = pool_of(api.process.pid)
        check_pool_shape(pool)
        code = api.stop(STOP_GRACE_S)
        assert not api.killed, f"not stopped by SIGTERM within {STOP_GRACE_S:.0f} s; log:\n{api.log_tail()}"
        assert code in (0, -signal.SIGTERM), f"exit code {code}; log:\n{api.log_tail()}"
        assert "Application shutdown complete" in api.log(), api.log_tail()
        deadline = time.monotonic() + ORPHAN_DEADLINE_S
        while alive(pool) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pool), f"left after a clean shutdown: {describe(alive(pool))}"


def test_sigkill_of_the_supervisor_of_several_workers_leaves_no_process(trained_mine_copy):
    # python -m api --workers 2: uvicorn's supervisor, two server processes, each with its own pool.
    with running_api(trained_mine_copy, closed_port_url(), env_extra={"MINEOPS_SIM_WORKERS": "1"},
                     argv=(*API_ARGV, "--workers", "2")) as api:
        api.wait_for("/ready", STOP_GRACE_S)  # probably the other server too (they start alike)
        family = pool_of(api.process.pid)
        servers = [p for p in family if p.ppid() == api.process.pid
                   and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]
        assert len(servers) >= 2, describe(family)
        os.kill(api.process.pid, signal.SIGKILL)
        api.process.wait(timeout=STOP_GRACE_S)
        family = alive(started_for(trained_mine_copy.data)) + family  # pools started after the snapshot too
        deadline = time.monotonic() + STOP_GRACE_S  # the servers shut down cleanly: allow a clean shutdown's time
        while alive(family) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(family)
        for p in left:
            p.kill()
        assert not left, f"still running {STOP_GRACE_S:.0f} s after SIGKILL of the supervisor: {describe(left)}"
