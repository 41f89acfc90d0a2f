"""Done-when: replay an export, SIGKILL the worker mid-way, restart it; every cycle is stored exactly
once and the live KPIs equal those computed from the CSV directly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import redis
from sqlalchemy import func, select

from live.broker import RedisStreamBroker
from live.db import open_engine
from live.replay import read_events, publish
from live.speed import SpeedLayer
from live.tables import cycles
from training.schema import FINISHED_CYCLE_STATUSES, MINE_UTC_OFFSET_HOURS, shift_starts

#: Seconds the test waits for a worker to make progress or finish.
WAIT_S = 120.0


def _worker(settings, consumer: str, *extra: str) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "MINEOPS_REDIS_URL": settings.redis_url, "MINEOPS_DATA_DIR": str(settings.data_dir),
           "MINEOPS_LOGS_DIR": str(settings.logs_dir), "MINEOPS_MODELS_DIR": str(settings.models_dir),
           "MINEOPS_LIVE_BATCH_SIZE": "40", "MINEOPS_LIVE_CLAIM_IDLE_S": "1", "MINEOPS_LIVE_BATCH_ENABLED": "false"}
    return subprocess.Popen([sys.executable, "-m", "live.worker", "--consumer", consumer, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stored(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cycles)).scalar_one())


def expected_kpis(csv_path: Path) -> dict[str, dict]:
    """Per shift key, the KPIs straight from the export with pandas (independent of live.kpis)."""
    df = pd.read_csv(csv_path)
    start = shift_starts(pd.to_datetime(df["loadingStartTime"], utc=True), df["shift"])
    local = start.dt.tz_convert(None) + pd.Timedelta(hours=MINE_UTC_OFFSET_HOURS)
    df["key"] = local.dt.strftime("%Y-%m-%d") + "/" + df["shift"]
    out = {}
    for key, g in df.groupby("key"):
        loads = g[g["status"].isin(FINISHED_CYCLE_STATUSES)]
        fuel = loads[loads["fuelConsumed"].notna()]
        out[key] = {
            "cycles": len(g), "loads": len(loads), "tonnes": loads["loadWeight"].sum(),
            "mean_cycle_time_min": loads["totalCycleTime"].mean(), "mean_queue_time_min": loads["queueDuration"].mean(),
            "trucks_working": g["truckId"].nunique(), "fuel_l_per_tonne": fuel["fuelConsumed"].sum() / fuel["loadWeight"].sum(),
        }
    return out


@pytest.mark.slow
def test_sigkilled_worker_loses_nothing_and_stores_nothing_twice(live_settings, live_mine: Path) -> None:
    csv_path = live_mine / "hauling_activities.csv"
    events = read_events(csv_path)
    broker = RedisStreamBroker.from_url(live_settings.redis_url, live_settings.live_stream, live_settings.live_group)
    assert publish(broker, events) == len(events)
    engine = open_engine(live_settings.effective_database_url)

    first = _worker(live_settings, "doomed")
    deadline = time.monotonic() + WAIT_S
    while _stored(engine) < len(events) // 4:
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the first worker made no progress"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = _stored(engine)
    assert 0 < killed_at < len(events), "the kill did not land mid-way"

    second = _worker(live_settings, "rescuer", "--max-idle", "3")
    out, _ = second.communicate(timeout=WAIT_S)
    assert second.returncode == 0, out

    assert _stored(engine) == len(events)
    with engine.connect() as conn:
        ids = list(conn.execute(select(cycles.c.id)).scalars())
    assert sorted(ids) == sorted(e["id"] for _, e in events)
    stats = broker.stats()
    assert (stats.pending, stats.lag) == (0, 0)

    speed = SpeedLayer(redis.Redis.from_url(live_settings.redis_url), live_settings.live_snapshot_ttl_s)
    expected = expected_kpis(csv_path)
    for key, want in expected.items():
        snap = speed.snapshot("default", key)
        assert snap is not None, key
        got = snap["data"]
        assert got["totals"]["cycles"] == want["cycles"], key
        for name in ("loads", "trucks_working"):
            assert got[name] == want[name], (key, name)
        for name in ("tonnes", "mean_cycle_time_min", "mean_queue_time_min", "fuel_l_per_tonne"):
            assert got[name] == pytest.approx(want[name], rel=1e-9), (key, name)

