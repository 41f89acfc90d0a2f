"""Cache-first strategies: a repeat is a hit with the same body and run_id; a new champion or new data
changes the key; Redis when configured, in-process otherwise."""
from __future__ import annotations

import copy
import os
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.ranking_cache import LocalCache, cache_key, data_fingerprint
from api.settings import Settings
from simulator.scenario import SpecError
from tests.api.test_app import app_settings, module_mine, small_body, wait_ready  # noqa: F401
from tests.redis_server import RedisServer


def test_key_ignores_spelling_and_defaults_but_not_champion_or_data(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    body = small_body([2, 3], [1], replications=2)
    spelled = copy.deepcopy(body)
    spelled["fixed_conditions"]["weatherCondition"] = spelled["fixed_conditions"]["weatherCondition"].upper()
    spelled = dict(reversed(list(spelled.items())))  # key order does not matter either
    data = data_fingerprint(tmp_path)
    key = cache_key(body, settings, "v1", data)
    assert cache_key(spelled, settings, "v1", data) == key
    assert cache_key(body, settings, "v2", data) != key  # a new champion
    (tmp_path / "vessels.csv").write_text("id,name\n")
    assert data_fingerprint(tmp_path) != data  # new data
    assert cache_key(body, settings, "v1", data_fingerprint(tmp_path)) != key
    assert cache_key(small_body([2, 3], [1], replications=2, seed=9), settings, "v1", data) != key
    with pytest.raises(SpecError):
        cache_key({"fixed_conditions": {}}, settings, "v1", data)


def test_local_cache_expires_and_drops_the_least_recently_used() -> None:
    cache = LocalCache(max_entries=2)
    cache.set_now("a", b"1", ttl_s=60)
    cache.set_now("b", b"2", ttl_s=60)
    assert cache.get_now("a") == b"1"
    cache.set_now("c", b"3", ttl_s=60)  # b is the least recently used
    assert (cache.get_now("a"), cache.get_now("b"), cache.get_now("c")) == (b"1", None, b"3")
    cache.set_now("d", b"4", ttl_s=0)
    assert cache.get_now("d") is None


def _repeat_is_a_hit(client: TestClient, data_dir) -> None:  # noqa: ANN001
    body = small_body([2, 3], [1], replications=2)
    first = client.post("/get_top_3_strategies", json=body)
    second = client.post("/get_top_3_strategies", json=body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.content == first.content and second.json()["run_id"] == first.json()["run_id"]
    assert second.headers["X-Model-Version"] == first.headers["X-Model-Version"]
    vessels = data_dir / "vessels.csv"
    stamp = time.time() + 5
    os.utime(vessels, (stamp, stamp))  # new data: the next request simulates again
    third = client.post("/get_top_3_strategies", json=body)
    assert third.headers["X-Cache"] == "miss" and third.json()["run_id"] != first.json()["run_id"]
    metrics = client.get("/metrics").text
    assert 'mineops_cache_requests_total{result="hit"} 1.0' in metrics
    assert 'mineops_cache_requests_total{result="miss"} 2.0' in metrics


def test_repeat_is_a_hit_in_process_without_redis(module_mine) -> None:  # noqa: F811
    with TestClient(create_app(app_settings(module_mine))) as client:
        wait_ready(client)
        _repeat_is_a_hit(client, module_mine.data)


def test_repeat_is_a_hit_from_redis_shared_by_two_apps(module_mine) -> None:  # noqa: F811
    with RedisServer() as server:
        settings = app_settings(module_mine, redis_url=server.url)
        with TestClient(create_app(settings)) as client:
            wait_ready(client)
            _repeat_is_a_hit(client, module_mine.data)
        body = small_body([2, 3], [1], replications=2)
        with TestClient(create_app(settings)) as other:  # another API process: same Redis, same answer
            wait_ready(other)
            r = other.post("/get_top_3_strategies", json=body)
            assert r.headers["X-Cache"] == "hit"


def test_requests_to_warm_are_the_newest_distinct_ones_of_the_shift() -> None:
    from api.prewarm import requests_to_warm

    def run(shift: str, seed: int) -> dict:
        return {"request": small_body([2], [1], replications=1, seed=seed, shift=shift)}

    runs = [run("SHIFT_2", 1), run("Shift 1", 2), run("SHIFT_1", 2), run("SHIFT_1", 3), {"request": {"x": 1}},
            run("SHIFT_1", 4), run("SHIFT_1", 5)]
    warm = requests_to_warm(runs, "SHIFT_1", limit=3)
    assert [b["simulation"]["seed"] for b in warm] == [2, 2, 3]  # display spelling differs: not a duplicate body
    assert requests_to_warm(runs, "SHIFT_3", limit=3) == []


def test_start_up_prewarms_the_current_shifts_recent_requests(module_mine) -> None:  # noqa: F811
    from datetime import datetime, timezone

    from live.kpis import current_shift_key

    shift = current_shift_key(datetime.now(timezone.utc)).split("/")[-1]
    body = small_body([2, 3], [1], replications=2, seed=21, shift=shift)
    with TestClient(create_app(app_settings(module_mine))) as first:
        wait_ready(first)
        assert first.post("/get_top_3_strategies", json=body).headers["X-Cache"] == "miss"
    app = create_app(app_settings(module_mine, cache_prewarm_requests=3))  # a restart: the in-process cache is empty
    with TestClient(app) as client:
        wait_ready(client)
        key = app.state.ranking_cache.key(body, app.state.served.version)
        deadline = time.monotonic() + 120
        while app.state.ranking_cache.backend.get_now(key) is None:  # the in-process cache (no Redis here)
            assert time.monotonic() < deadline, "the start-up pre-warm did not store the ranking"
            time.sleep(0.2)
        assert client.post("/get_top_3_strategies", json=body).headers["X-Cache"] == "hit"


def test_a_grid_above_the_current_limit_is_refused_not_served_from_the_cache(tmp_path) -> None:
    body = small_body([2, 3], [1], replications=2)  # 2 scenarios x 2 = 4 simulations
    cache_key(body, Settings(data_dir=tmp_path), "v1", "d")
    cache_key(body, Settings(data_dir=tmp_path, sim_max_grid_simulations=3), "v1", "d")  # a job's request has a key
    with pytest.raises(SpecError, match="exceeds the limit of 3"):  # above the job limit too: refused
        cache_key(body, Settings(data_dir=tmp_path, sim_max_grid_simulations=3, sim_max_job_simulations=3), "v1", "d")
