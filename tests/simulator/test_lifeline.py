"""simulator.lifeline: a pool worker exits when the process that owns the pool dies."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from simulator.lifeline import watch_parent
from tests import paths

#: Seconds the orphaned workers may take to exit.
DEADLINE_S = 10.0

OWNER = textwrap.dedent("""
    import sys, time
    from simulator.executor import LocalPoolExecutor

    if __name__ == "__main__":
        pool = LocalPoolExecutor(2)
        print(" ".join(map(str, sorted(pool.worker_pids))), flush=True)
        time.sleep(600)
""")


def test_outside_a_multiprocessing_child_there_is_nothing_to_watch():
    assert watch_parent() is False


def test_workers_fork_server_and_tracker_exit_when_the_pool_owner_is_killed(tmp_path):
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(paths.REPO), os.environ.get("PYTHONPATH", ""))
                                                      if p))
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    try:
        workers = {int(pid) for pid in owner.stdout.readline().split()}
        assert len(workers) == 2
        family = psutil.Process(owner.pid).children(recursive=True)
        assert workers <= {p.pid for p in family} and len(family) >= 4  # + fork server + resource tracker
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            if not left:
                break
            time.sleep(0.05)
        for p in left:
            p.kill()
        assert not left, [" ".join(p.cmdline()) for p in left]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
