"""Fixtures of the live tests: a real Redis server and a small generated mine."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer

#: A few days of a small fleet: enough shifts and cycles for the worker to need many batches.
LIVE_MINE_DAYS = 3
LIVE_MINE_TRUCKS = 8
LIVE_MINE_SEED = 5


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def live_mine(tmp_path_factory, reference_export: Path) -> Path:
    """A data folder: the reference fleet plus a generated hauling export (read-only for tests)."""
    from training.synthetic import generate

    data = tmp_path_factory.mktemp("live-mine") / "data"
    shutil.copytree(reference_export, data)
    generate(data, days=LIVE_MINE_DAYS, trucks=LIVE_MINE_TRUCKS, seed=LIVE_MINE_SEED)
    return data


@pytest.fixture
def live_settings(tmp_path: Path, live_mine: Path, redis_server: RedisServer):
    from live.settings import LiveSettings

    return LiveSettings(redis_url=redis_server.url, data_dir=live_mine, logs_dir=tmp_path / "logs",
                    models_dir=tmp_path / "models", live_batch_enabled=False, live_claim_idle_s=1.0)
