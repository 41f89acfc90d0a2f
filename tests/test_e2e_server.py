"""Tests of the end-to-end server helper's process handling (with tiny stand-in programs)."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.e2e_server import REPO, api_env, free_port, start_api
from training.cli import Paths

#: A server that ignores SIGTERM and has a child in its process group (like a pool worker).
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); it is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_env_replaces_the_hosts_mineops_variables(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "d", tmp_path / "m", tmp_path / "l")
    env = api_env(paths, "http://127.0.0.1:9", 1234, {"MINEOPS_SIM_QUEUE_LIMIT": "1"},
                  base={"MINEOPS_DATA_DIR": "/elsewhere", "MINEOPS_SECRET_KEY": "x", "PATH": "/bin"})
    assert env["MINEOPS_DATA_DIR"] == str(paths.data) and "MINEOPS_SECRET_KEY" not in env
    assert env["MINEOPS_API_PORT"] == "1234" and env["MINEOPS_API_HOST"] == "127.0.0.1"
    assert env["MINEOPS_OLLAMA_HOST"] == "http://127.0.0.1:9" and env["MINEOPS_SIM_QUEUE_LIMIT"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO) and env["PATH"] == "/bin"


def test_stop_kills_the_process_group_when_sigterm_is_ignored(tmp_path: Path) -> None:
    port = free_port()
    server = start_api([sys.executable, "-c", STUBBORN], os.environ, port, tmp_path / "out.log")
    deadline = time.monotonic() + 10
    while not server.log().strip():
        assert time.monotonic() < deadline, "stand-in did not start"
        time.sleep(0.05)
    child = int(server.log().split()[0])
    code = server.stop(timeout_s=0.5)
    assert server.killed and code == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the child in the server's process group survived"
        time.sleep(0.05)


def test_wait_for_reports_an_exited_server_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    server = start_api([sys.executable, "-c", "print('boom: no champion'); raise SystemExit(3)"], os.environ, port,
                       tmp_path / "out.log")
    with pytest.raises(AssertionError, match=r"exited with 3[\s\S]*boom: no champion"):
        server.wait_for("/health", timeout_s=10)
    assert server.stop() == 3 and not server.killed
