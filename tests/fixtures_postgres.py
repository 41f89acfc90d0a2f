"""A real, throw-away PostgreSQL server for the store tests (Debian package ``postgresql``).

``postgres_url`` initdb's a cluster in a temporary folder, starts it on 127.0.0.1 and a free port
(unix socket in the same folder), creates a database and yields its SQLAlchemy URL; the server is
stopped and the folder removed at the end of the session. The cluster is started once per session
even when several test modules import the fixture (it is kept in ``config.stash``).

Missing binaries skip the tests naming the Debian package (``tests.servers``); CI installs it
(``.ci/apt-packages.txt``) and sets ``MINEOPS_TEST_REQUIRE_SERVERS``, under which a missing binary
fails them. As root the server runs as the ``postgres`` user (initdb refuses root).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import skip_missing

#: Where the Debian package puts the server binaries (one folder per major version).
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The unprivileged user the server runs as when the tests run as root.
PG_OS_USER = "postgres"
#: Seconds pg_ctl waits for the server to start or stop.
PG_CTL_TIMEOUT_S = 60
#: Name of the database the fixture creates.
TEST_DATABASE = "mineops_test"


@dataclass(frozen=True)
class _Cluster:
    bin_dir: Path
    root: Path
    port: int
    run_as: list[str]  # command prefix that runs a binary as the cluster's owner

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        return _run(self.run_as + [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args])

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


_CLUSTER_KEY = pytest.StashKey[_Cluster]()


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S + 30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return done


def find_pg_bin() -> Path:
    """The newest installed PostgreSQL bin folder; skips the test (naming the package) when none is installed."""
    found = sorted(glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    found = [p for p in found if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()]
    if not found:
        skip_missing(f"PostgreSQL server binaries ({PG_BIN_GLOB}/initdb)", "postgresql")
    return Path(found[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_cluster() -> _Cluster:
    bin_dir = find_pg_bin()
    root = Path(tempfile.mkdtemp(prefix="mineops-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            pytest.fail(f"running as root and there is no {PG_OS_USER!r} user to run PostgreSQL as", pytrace=False)
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", PG_OS_USER, "--"]
    cluster = _Cluster(bin_dir, root, _free_port(), run_as)
    _run(run_as + [str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"])
    # fsync off: the tests check behaviour, not durability against power loss; it makes them fast.
    options = (f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
    cluster.pg_ctl("-o", options, "-l", str(root / "server.log"), "-w", "-t", str(PG_CTL_TIMEOUT_S), "start")
    return cluster


def _stop_cluster(cluster: _Cluster) -> None:
    try:
        cluster.pg_ctl("-m", "fast", "-w", "-t", str(PG_CTL_TIMEOUT_S), "stop")
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


def create_database(admin_url: str, name: str | None = None) -> str:
    """Create a new empty database on the server of ``admin_url``; return its URL."""
    import psycopg

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    base, _, _ = admin_url.rpartition("/")
    dsn = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) of a database on a throw-away local server."""
    config = request.config
    cluster = config.stash.get(_CLUSTER_KEY, None)
    if cluster is None:
        cluster = _start_cluster()
        config.stash[_CLUSTER_KEY] = cluster
        config.add_cleanup(lambda: _stop_cluster(cluster))
        create_database(cluster.url("postgres"), TEST_DATABASE)
    return cluster.url(TEST_DATABASE)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """URL of a new, empty database on the session's server (one per test: isolation)."""
    return create_database(postgres_url)
