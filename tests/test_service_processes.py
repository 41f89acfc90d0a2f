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

from tests.e2e_server import running_api
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
