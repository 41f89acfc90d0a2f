"""A real, throw-away Redis server on 127.0.0.1 (Debian package ``redis-server``).

``RedisServer`` starts ``redis-server`` on a free loopback port with its files in a temporary
folder (append-only file on, as in the compose file) and stops it on exit. Without the binary the
test skips naming the package (``tests.servers.require_binary``; a failure in CI).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import require_binary

#: Seconds to wait for the server to answer PING after start.
START_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """``with RedisServer() as server: server.url``."""

    def __init__(self) -> None:
        self.binary = require_binary("redis-server", package="redis-server")
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mineops-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> "RedisServer":
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--save", "", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)
        client.close()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
