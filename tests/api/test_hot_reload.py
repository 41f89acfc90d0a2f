"""Hot reload (api/app.py): a promoted or rolled-back champion is served without a restart, and a
request in flight finishes on the version it started with."""
from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.test_app import WAIT_S, GatedExecutor, app_settings, metric, scrape, small_body, wait_ready, wait_until
from training.registry import Registry

#: The watcher's poll interval in these tests (s).
POLL_S = 0.2
#: Longest wait for the watcher to notice a new champion pointer (s); it polls every 0.2 s.
RELOAD_WAIT_S = 30.0


def clone_version(models: Path, source: str = "v1") -> str:
    """Register a new version with ``source``'s artefacts (as a retrain on the same data would)."""
    registry = Registry(models)
    folder = registry.path(source)
    metadata = {k: v for k, v in registry.metadata(source).items()
                if k not in ("files", "library_versions", "created_at")}

    def write(tmp: Path) -> None:
        for item in folder.iterdir():
            if item.name != "metadata.json":
                shutil.copy(item, tmp / item.name)

    return registry.create_version(write, metadata)


def champion_served(client: TestClient) -> str:
    return client.get("/ready").json()["champion"]


def strategies(client: TestClient):
    r = client.post("/get_top_3_strategies", json=small_body())
    assert r.status_code == 200, r.text
    return r


@pytest.fixture
def gated():
    return GatedExecutor()


@pytest.fixture
def client(trained_mine_copy, gated):
    app = create_app(app_settings(trained_mine_copy, model_reload_poll_s=POLL_S), executor_factory=lambda s: gated)
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_promote_and_rollback_switch_the_served_version_and_in_flight_requests_keep_theirs(
        client, gated, trained_mine_copy):
    models = trained_mine_copy.models
    first = strategies(client)
    assert first.headers["X-Model-Version"] == first.json()["model_version"] == "v1"

    v2 = clone_version(models)
    assert v2 == "v2"
    gated.hold()
    with ThreadPoolExecutor(1) as background:
        in_flight = background.submit(client.post, "/get_top_3_strategies", json=small_body(),
                                      headers={"Cache-Control": "no-cache"})  # simulate, not the cached v1 ranking
        try:
            assert gated.entered.wait(WAIT_S), "the request never reached the simulator"
            Registry(models).promote(v2)
            wait_until(lambda: champion_served(client) == "v2", RELOAD_WAIT_S, "the reload to v2")
        finally:
            gated.release()
        old = in_flight.result(WAIT_S)
    assert old.status_code == 200
    assert old.headers["X-Model-Version"] == old.json()["model_version"] == "v1"
    new = strategies(client)
    assert new.headers["X-Model-Version"] == new.json()["model_version"] == "v2"
    assert new.headers["X-Cache"] == "miss"  # the new champion changes the ranking cache's key
    stored = client.get(f"/runs/{new.json()['run_id']}").json()
    assert stored["model_version"] == "v2"

    samples = scrape(client)
    assert metric(samples, "mineops_champion_info", version="v2") == 1.0
    assert metric(samples, "mineops_champion_info", version="v1") == 0.0
    assert metric(samples, "mineops_model_reloads_total") == 1.0

    Registry(models).rollback()
    wait_until(lambda: champion_served(client) == "v1", RELOAD_WAIT_S, "the rollback to v1")
    assert strategies(client).headers["X-Model-Version"] == "v1"
    samples = scrape(client)
    assert metric(samples, "mineops_champion_info", version="v1") == 1.0
    assert metric(samples, "mineops_champion_info", version="v2") == 0.0
    assert metric(samples, "mineops_model_reloads_total") == 2.0


def test_unreadable_champion_pointer_keeps_the_current_version_serving(client, trained_mine_copy):
    pointer = trained_mine_copy.models / "champion.json"
    pointer.write_text("{not json")
    time.sleep(5 * POLL_S)  # several watcher polls see the broken pointer
    for _ in range(3):
        r = strategies(client)
        assert r.headers["X-Model-Version"] == "v1"
    assert client.get("/ready").json()["champion"] == "v1"
    pointer.write_text(json.dumps({"version": "v1", "previous": [], "updated_at": "2025-11-10T00:00:00+00:00"}))
    v2 = clone_version(trained_mine_copy.models)
    Registry(trained_mine_copy.models).promote(v2)
    wait_until(lambda: champion_served(client) == "v2", RELOAD_WAIT_S, "the reload after the pointer was fixed")
