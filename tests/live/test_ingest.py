"""Ingestion: every defect kind the batch loader knows ends in quarantine with its reason, the rest is
stored once, and the worker keeps going."""
from __future__ import annotations

import csv
from pathlib import Path


from live.broker import Message, RedisStreamBroker
from live.db import open_engine
from live.ingest import FleetParents, Ingestor
from live.speed import SpeedLayer
from live.store import CycleStore
from live.tables import cycles, quarantine
from live.worker import build
from sqlalchemy import select
from training.schema import BOUNDS


def _events(data: Path, n: int | None = None) -> list[dict[str, str]]:
    with open(data / "hauling_activities.csv", newline="") as fh:
        rows = [dict(r) for r in csv.DictReader(fh)]
    return rows[:n] if n else rows


def _truck(data: Path, truck_id: str) -> dict[str, str]:
    with open(data / "trucks.csv", newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["id"] == truck_id)


def _defects(data: Path, base: list[dict[str, str]]) -> list[tuple[dict[str, str], str]]:
    """(bad event, expected reason) for every kind of defect the loader checks on a cycle row."""
    def edit(i: int, **changes: str) -> dict[str, str]:
        return {**base[i], **changes}

    truck = _truck(data, base[11]["truckId"])
    capacity, tank = float(truck["capacity"]), float(truck["fuelCapacity"])
    no_shift = dict(base[16])
    del no_shift["shift"]
    return [
        (edit(0, loadWeight="-3"), "loadWeight=-3, must be >= 0"),
        (edit(1, distance="0"), "distance=0, must be > 0"),
        (edit(2, distance="120"), f"distance=120, must be <= {BOUNDS.max_distance_km:g}"),
        (edit(3, loadWeight="abc"), "loadWeight=abc, must be a number"),
        (edit(4, delayMinutes="2.5"), "delayMinutes=2.5, must be a whole number"),
        (edit(5, isDelayed="yes"), "isDelayed=yes, must be true or false"),
        (edit(6, loadingEndTime="yesterday"), "loadingEndTime=yesterday, must be an ISO-8601 timestamp"),
        (edit(7, weatherCondition="Salju"), "weatherCondition=Salju, must be one of CERAH"),
        (edit(8, status="ONGOING"), "status=ONGOING, must be one of PLANNED"),
        (edit(9, loadWeight=""), "loadWeight=(empty), must not be empty"),
        (edit(10, excavatorId="no-such-excavator"), "excavatorId=no-such-excavator, no such id in excavators.csv"),
        (edit(11, loadWeight=repr(2 * capacity)), f"must be <= {BOUNDS.max_payload_factor:g} x trucks.capacity"),
        (edit(12, fuelConsumed=repr(tank + 1), truckId=base[11]["truckId"]), "must be <= 1 x trucks.fuelCapacity"),
        (edit(13, loadingEndTime=base[13]["queueStartTime"], loadingStartTime=base[13]["loadingEndTime"]),
         "must not be before loadingStartTime"),
        (edit(14, arrivalTime=""), "arrivalTime=(empty), must not be empty when status is"),
        (edit(15, activityNumber=base[40]["activityNumber"]), f"activityNumber={base[40]['activityNumber']}, duplicate"),
        (no_shift, "missing required column shift"),
    ]


def _ingestor(settings) -> Ingestor:  # noqa: ANN001
    import redis

    engine = open_engine(settings.effective_database_url)
    speed = SpeedLayer(redis.Redis.from_url(settings.redis_url), settings.live_snapshot_ttl_s)
    return Ingestor(CycleStore(engine), speed, FleetParents(settings.data_dir, settings.max_bad_row_share),
                    settings.site)


def test_every_defect_kind_is_quarantined_with_its_reason_and_the_rest_stored(live_settings, live_mine) -> None:
    base = _events(live_mine, 60)
    defects = _defects(live_mine, base)
    edited = {d["id"] for d, _ in defects}
    good = [e for e in base if e["id"] not in edited]
    ingestor = _ingestor(live_settings)
    messages = [Message(f"1-{i}", {k.encode(): v.encode() for k, v in e.items()})
                for i, e in enumerate(good + [d for d, _ in defects])]
    messages.append(Message("2-0", {b"id": b"\xff\xfe", b"shift": b"SHIFT_1"}))
    outcome = ingestor.process(messages)

    assert outcome.ack == [m.id for m in messages]
    assert outcome.stored == len(good) and outcome.accepted == len(good)
    with ingestor.store.engine.connect() as conn:
        stored = set(conn.execute(select(cycles.c.id)).scalars())
        reasons = {r.cycle_id: r.reason for r in conn.execute(select(quarantine))}
    assert stored == {e["id"] for e in good}
    assert len(reasons) == len(defects) + 1
    for event, expected in defects:
        assert expected in reasons[event["id"]], (expected, reasons[event["id"]])
    assert any("not UTF-8" in r for r in reasons.values())


def test_redelivery_and_a_repeated_cycle_id_are_stored_once(live_settings, live_mine) -> None:
    events = _events(live_mine, 30)
    ingestor = _ingestor(live_settings)
    msgs = [Message(f"1-{i}", {k.encode(): v.encode() for k, v in e.items()}) for i, e in enumerate(events)]
    first = ingestor.process(msgs[:20] + msgs[:5])  # the producer sent five cycles twice
    again = ingestor.process(msgs)  # the whole stream delivered again (a crash before the ack)
    assert (first.stored, first.duplicates, again.stored) == (20, 5, 10)
    assert ingestor.store.count_cycles() == 30 and ingestor.store.count_quarantined() == 0
    snap = ingestor.speed.snapshot("default", ingestor.speed.latest_shift("default"))
    assert snap["data"]["totals"]["cycles"] <= 30


def test_worker_keeps_going_through_bad_events(live_settings, live_mine) -> None:
    base = _events(live_mine, 80)
    defects = _defects(live_mine, base)
    edited = {d["id"] for d, _ in defects}
    events = [e for e in base if e["id"] not in edited] + [d for d, _ in defects]
    live_settings = live_settings.model_copy(update={"live_batch_size": 7})
    broker = RedisStreamBroker.from_url(live_settings.redis_url, live_settings.live_stream, live_settings.live_group)
    broker.publish(events)
    worker, _client = build(live_settings, "w1")
    totals = worker.run(max_idle_s=0.5)
    assert totals.received == len(events)
    assert totals.stored == len(events) - len(defects) and totals.quarantined == len(defects)
    stats = broker.stats()
    assert (stats.pending, stats.lag) == (0, 0)


def test_worker_without_redis_url_is_bad_configuration(live_mine, tmp_path: Path, monkeypatch) -> None:
    from live import worker

    monkeypatch.setenv("MINEOPS_REDIS_URL", "")
    monkeypatch.setenv("MINEOPS_LOGS_DIR", str(tmp_path))
    worker.get_settings.cache_clear()
    try:
        assert worker.main(["--no-batch"]) == 2
    finally:
        worker.get_settings.cache_clear()
