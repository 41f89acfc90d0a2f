"""Run the real service (``python -m api``) in a subprocess for end-to-end tests.

``running_api(paths, ollama_host)`` starts the README's main command on a free 127.0.0.1 port with
``MINEOPS_*`` variables pointing at the given data/models/logs folders and Ollama URL, waits for
``/ready`` (with a deadline), yields a :class:`RunningApi` and stops the process at the end (SIGTERM,
then SIGKILL of its process group after ``stop_timeout_s``). The server's output goes to a log
file whose tail is quoted in every failure::

    with running_api(trained_mine_copy, ollama.url) as api:
        httpx.post(f"{api.url}/get_top_3_strategies", json=body)
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from training.cli import Paths
from training.settings import ENV_PREFIX

REPO = Path(__file__).resolve().parents[1]
#: The service command (README's main command, the image's CMD), run with this interpreter.
API_ARGV: tuple[str, ...] = (sys.executable, "-m", "api")
#: Seconds to wait for ``/ready`` by default: interpreter start, champion load and pool warm-up
#: take ~3 s on a 2-core machine; the margin covers a loaded CI host.
READY_TIMEOUT_S = 60.0
#: Seconds a SIGTERM'd server gets to finish its lifespan shutdown before SIGKILL.
STOP_TIMEOUT_S = 15.0
#: Seconds between probe polls.
POLL_INTERVAL_S = 0.1
#: Characters of the server log quoted in failure messages.
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_env(paths: Paths, ollama_host: str, port: int, extra: Mapping[str, str] | None = None,
            base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a test server: ``base`` (default os.environ) without its ``MINEOPS_*``, plus ours.

    The repository goes first on PYTHONPATH so ``python -m api`` imports this checkout from any cwd.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update({
        f"{ENV_PREFIX}ENVIRONMENT": "test",
        f"{ENV_PREFIX}API_HOST": "127.0.0.1",
        f"{ENV_PREFIX}API_PORT": str(port),
        f"{ENV_PREFIX}DATA_DIR": str(paths.data),
        f"{ENV_PREFIX}MODELS_DIR": str(paths.models),
        f"{ENV_PREFIX}LOGS_DIR": str(paths.logs),
        f"{ENV_PREFIX}OLLAMA_HOST": ollama_host,
    })
    env.update(extra or {})
    return env


@dataclass
class RunningApi:
    """A started server process: its base URL, process handle and log file."""

    url: str
    process: subprocess.Popen
    log_path: Path
    killed: bool = field(default=False)  # True when stop() had to SIGKILL

    def log(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log()[-chars:]

    def wait_for(self, path: str, timeout_s: float, status: int = 200) -> httpx.Response:
        """Poll ``GET path`` until it answers ``status``; AssertionError (with the log) on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        last: str = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited with {self.process.returncode} while waiting for "
                                         f"{path}; log:\n{self.log_tail()}")
                try:
                    response = client.get(self.url + path)
                    if response.status_code == status:
                        return response
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise AssertionError(f"GET {path} did not answer {status} within {timeout_s:.0f} s "
                                         f"(last: {last}); log:\n{self.log_tail()}")
                time.sleep(POLL_INTERVAL_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait ``timeout_s``, then SIGKILL its process group (it and its pool workers); the exit code."""
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.killpg(proc.pid, signal.SIGKILL)  # the leader is not reaped yet: the group is still ours
                proc.wait(timeout=timeout_s)
        return proc.returncode


def start_api(argv: Sequence[str], env: Mapping[str, str], port: int, log_path: Path,
              cwd: Path | None = None) -> RunningApi:
    """Start ``argv`` in its own process group with output to ``log_path``; does not wait."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return RunningApi(f"http://127.0.0.1:{port}", proc, log_path)


@contextmanager
def running_api(paths: Paths, ollama_host: str, *, env_extra: Mapping[str, str] | None = None,
                argv: Sequence[str] = API_ARGV, cwd: Path | None = None, log_path: Path | None = None,
                ready_timeout_s: float | None = READY_TIMEOUT_S,
                stop_timeout_s: float = STOP_TIMEOUT_S) -> Iterator[RunningApi]:
    """Run the service on a free port against ``paths``; yield once ``/ready`` is 200, stop it on exit.

    ``ready_timeout_s=None`` yields as soon as the process is started (probe it yourself). ``cwd``
    defaults to the logs folder's parent (so nothing lands in the checkout); the log goes to
    ``log_path`` (default ``<logs>/../api-server.log``).
    """
    port = free_port()
    workdir = Path(cwd) if cwd is not None else Path(paths.logs).parent
    server = start_api(argv, api_env(paths, ollama_host, port, env_extra), port,
                       log_path or workdir / "api-server.log", cwd=workdir)
    try:
        if ready_timeout_s is not None:
            server.wait_for("/ready", ready_timeout_s)
        yield server
    finally:
        server.stop(stop_timeout_s)
