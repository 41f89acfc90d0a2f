"""The batch layer (aggregates, schedule, export into the training data) and the serving layer's merge."""
from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from live.batch import BatchLayer, aggregate_shifts, daily_due, export_new_cycles
from live.broker import RedisStreamBroker
from live.history import shift_history
from live.tables import cycles, shift_aggregates
from live.worker import build


def _run_worker(settings, events) -> object:  # noqa: ANN001
    RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group).publish(events)
    worker, _ = build(settings, "b1")
    worker.run(max_idle_s=0.3)
    return worker


def _events(data: Path) -> list[dict[str, str]]:
    with open(data / "hauling_activities.csv", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


@pytest.mark.parametrize(("last", "now", "due"), [
    (None, "2025-03-01T10:00", True),
    ("2025-02-28T18:30", "2025-02-28T19:50", True),   # 02:00 WIB = 19:00 UTC passed after the last run
    ("2025-02-28T19:30", "2025-03-01T18:59", False),  # the next 02:00 WIB is 19:00 UTC on 1 March
    ("2025-02-28T19:30", "2025-03-01T19:00", True),
])
def test_daily_run_is_due_once_the_mine_local_time_passed(last, now, due) -> None:  # noqa: ANN001
    utc = lambda s: datetime.fromisoformat(s).replace(tzinfo=timezone.utc)  # noqa: E731
    assert daily_due(utc(last) if last else None, utc(now), "02:00") is due


def test_aggregates_equal_the_speed_layer_and_history_falls_back_when_stale(live_settings, live_mine) -> None:
    events = _events(live_mine)
    worker = _run_worker(live_settings, events)
    engine, speed = worker.ingestor.store.engine, worker.ingestor.speed
    now = datetime.now(timezone.utc)
    assert aggregate_shifts(engine, None, now) > 0
    with engine.connect() as conn:
        rows = {r.shift_key: r for r in conn.execute(select(shift_aggregates))}
    for key, row in rows.items():
        snap = speed.snapshot("default", key)["data"]["totals"]
        assert (row.cycles, row.loads, row.trucks) == (snap["cycles"], snap["loads"], snap["trucks"])
        assert row.tonnes == pytest.approx(snap["tonnes"], rel=1e-9)
        assert row.fuel_l == pytest.approx(snap["fuel_l"], rel=1e-9)

    fresh = shift_history(engine, speed, "default", 5, now)
    assert fresh["speed_layer"]["status"] == "fresh" and "fallback" not in fresh
    assert [s["source"] for s in fresh["shifts"]] == ["speed"] + ["batch"] * 4
    latest = fresh["shifts"][0]
    later = now + timedelta(seconds=live_settings.live_snapshot_ttl_s + 1)
    stale = shift_history(engine, speed, "default", 5, later)
    assert stale["speed_layer"]["status"] == "stale" and stale["fallback"].startswith("batch:")
    assert all(s["source"] == "batch" for s in stale["shifts"])
    assert stale["shifts"][0]["data"]["tonnes"] == pytest.approx(latest["data"]["tonnes"], rel=1e-9)
    assert shift_history(engine, None, "default", 3, now)["speed_layer"]["status"] == "unavailable"


def test_new_cycles_are_exported_once_into_the_training_data(live_settings, live_mine, tmp_path: Path) -> None:
    data = Path(shutil.copytree(live_mine, tmp_path / "data"))
    events = _events(data)
    (data / "hauling_activities.csv").write_text(
        (data / "hauling_activities.csv").read_text().splitlines(True)[0] + "".join(
            (data / "hauling_activities.csv").read_text().splitlines(True)[1:101]))  # the file had the first 100
    settings = live_settings.model_copy(update={"data_dir": data})
    worker = _run_worker(settings, events[:300])
    engine = worker.ingestor.store.engine
    assert export_new_cycles(engine, data) == 200
    assert export_new_cycles(engine, data) == 0
    from training.dataset import load_export

    exported = load_export(data).hauling_activities
    assert len(exported) == 300 and exported["id"].is_unique
    assert list(exported["id"]) == [e["id"] for e in events[:300]]
    with engine.connect() as conn:
        assert all(conn.execute(select(cycles.c.exported)).scalars())


@pytest.mark.slow
def test_enough_new_cycles_trigger_the_daily_run_with_export_and_drift(live_settings, live_mine, tmp_path) -> None:
    data = Path(shutil.copytree(live_mine, tmp_path / "data"))
    (data / "hauling_activities.csv").unlink()
    settings = live_settings.model_copy(update={"data_dir": data, "live_batch_every_cycles": 100,
                                                "champion_max_age_days": 10_000})
    client = redis.Redis.from_url(settings.redis_url)
    worker, _ = build(settings, "b2")
    batch = BatchLayer(settings, client, worker.ingestor.store.engine)
    client.set("live:batch:last_daily", datetime.now(timezone.utc).isoformat())  # the schedule is not due
    worker.on_batch = batch.on_batch
    RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group).publish(
        _events(live_mine)[:150])
    worker.run(max_idle_s=0.3)
    report = batch.tick()
    assert report is not None and report["reason"] == "new cycles" and report["new_cycles"] == 150
    assert report["exported_cycles"] == 150 and report["aggregated_shifts"] > 0
    assert report["drift"]["status"] == "not run"  # no champion in this folder: nothing to compare with
    assert report["retrain"]["why"] == "no champion"
    assert batch.tick() is None  # nothing due any more
    assert any((settings.logs_dir / "live").glob("batch-*.json"))
    assert client.hgetall("live:plan:default")
