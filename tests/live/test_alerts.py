"""Live-KPI alerts (live/alerts.py): the rules on exact numbers, then the live worker publishing
``live.kpi_alert`` once per site, shift and kind, delivered by the API's dispatcher to a local webhook
receiver (signed with the secret, retried, failures counted)."""
from __future__ import annotations

import csv
import threading
from datetime import datetime, timedelta, timezone

import pytest

from live.alerts import BEHIND_PLAN, QUEUE_TIME, AlertThresholds, KpiAlerter, evaluate
from live.broker import RedisStreamBroker
from live.kpis import ShiftTotals, kpis
from live.worker import build
from training.events import read_events

START = datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc)  # SHIFT_1 of 2025-03-01 (07:00 on the mine's clock)
RULES = AlertThresholds(behind_plan_pct=20.0, queue_min=15.0, min_elapsed_share=0.25)


def snapshot(tonnes: float, plan: float | None, loads: int = 10, queue_min_sum: float = 50.0) -> dict:
    totals = ShiftTotals(cycles=loads, loads=loads, tonnes=tonnes, queue_min_sum=queue_min_sum, trucks=3)
    return {"site": "pit-1", "shift": "2025-03-01/SHIFT_1", "shift_start": START.isoformat().replace("+00:00", "Z"),
            "data": kpis(totals, plan)}


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def test_behind_plan_is_judged_against_the_plan_pro_rated_to_the_time_run():
    # 4 of 8 hours run, plan 8000 t: 4000 t expected by now, alert below 80% of it (3200 t)
    assert evaluate(snapshot(3300.0, 8000.0), at(4), RULES) == []
    (alert,) = evaluate(snapshot(3000.0, 8000.0), at(4), RULES)
    assert alert.kind == BEHIND_PLAN and (alert.site, alert.shift) == ("pit-1", "2025-03-01/SHIFT_1")
    assert alert.data["expected_tonnes_by_now"] == 4000.0 and alert.data["behind_pct"] == pytest.approx(25.0)
    assert alert.data["elapsed_share"] == 0.5 and "25% behind" in alert.summary
    # the same 3000 t at the end of the shift are far behind; after it, the whole plan counts
    assert evaluate(snapshot(3000.0, 8000.0), at(12), RULES)[0].data["expected_tonnes_by_now"] == 8000.0


def test_nothing_is_judged_early_in_the_shift_without_a_plan_or_when_turned_off():
    assert evaluate(snapshot(0.0, 8000.0, queue_min_sum=500.0), at(1.9), RULES) == []  # < 25% of 8 h
    assert [a.kind for a in evaluate(snapshot(0.0, 8000.0), at(2), RULES)] == [BEHIND_PLAN]
    assert evaluate(snapshot(0.0, None), at(6), RULES) == []  # no plan known yet
    off = AlertThresholds(behind_plan_pct=0.0, queue_min=0.0, min_elapsed_share=0.25)
    assert evaluate(snapshot(0.0, 8000.0, queue_min_sum=500.0), at(6), off) == []


def test_queue_time_above_the_limit():
    assert evaluate(snapshot(4000.0, 8000.0, loads=10, queue_min_sum=150.0), at(4), RULES) == []  # 15.0 = limit
    (alert,) = evaluate(snapshot(4000.0, 8000.0, loads=10, queue_min_sum=151.0), at(4), RULES)
    assert alert.kind == QUEUE_TIME and alert.data["mean_queue_time_min"] == pytest.approx(15.1)
    assert alert.data["threshold_min"] == 15.0 and "15.1 min" in alert.summary


def test_an_alert_is_published_once_per_claim():
    claimed, published = set(), []

    def claim(site, shift, kind):
        if (site, shift, kind) in claimed:
            return False
        claimed.add((site, shift, kind))
        return True

    alerter = KpiAlerter(RULES, claim, published.append)
    snap = snapshot(0.0, 8000.0, queue_min_sum=500.0)
    as_of = {("pit-1", "2025-03-01/SHIFT_1"): at(4)}
    assert {a.kind for a in alerter([snap], as_of)} == {BEHIND_PLAN, QUEUE_TIME}
    assert alerter([snap], as_of) == [] and len(published) == 2
    assert alerter([snap], {}) == []  # a snapshot without its shift's clock is not judged


def _events(data) -> list[dict[str, str]]:
    with open(data / "hauling_activities.csv", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def test_the_worker_publishes_kpi_alerts_once_and_the_dispatcher_delivers_them_signed(live_settings, live_mine):
    from api.metrics import Metrics
    from api.notify import Dispatcher, WebhookReceiver
    from prometheus_client import CollectorRegistry
    from tests.api.test_notify import SECRET, WebhookSink

    events = [e for e in _events(live_mine) if e["shift"] == "SHIFT_1"][:400]
    # a plan no shift meets, and a queue limit of zero minutes plus a hair: both rules fire on every shift
    settings = live_settings.model_copy(update={"live_batch_size": 20, "live_shift_plan_tonnes": 1e9,
                                                "live_alert_queue_min": 1e-6})
    broker = RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group)
    broker.publish(events + events[:100])  # a hundred cycles delivered twice
    workers = [build(settings, name)[0] for name in ("w1", "w2")]  # two workers share the shifts' batches
    threads = [threading.Thread(target=w.run, kwargs={"max_idle_s": 0.5}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(w.totals.batches for w in workers), "both workers took part"
    published, _, bad = read_events(settings.logs_dir, 0)
    assert not bad and published and {e.type for e in published} == {"live.kpi_alert"}
    keys = [(e.site, e.data["shift"], e.data["kind"]) for e in published]
    assert len(keys) == len(set(keys)), "one alert per site, shift and kind, whichever worker saw it first"
    shifts = {e.data["shift"] for e in published}
    assert {k for _, _, k in keys} == {BEHIND_PLAN, QUEUE_TIME} and len(keys) == 2 * len(shifts) >= 4
    assert all(e.data["elapsed_share"] >= settings.live_alert_min_elapsed_share for e in published)

    sink = WebhookSink(fail_first=1)
    try:
        metrics = Metrics(CollectorRegistry())
        dispatcher = Dispatcher(settings.logs_dir, [WebhookReceiver(sink.url, SECRET)], metrics, attempts=3,
                                backoff_s=0.01)
        assert dispatcher.deliver_pending() == len(published)
        delivered = sink.verified()  # every request's signature checks out with the secret
        assert len(delivered) == len(sink.requests) == len(published) + 1  # the first answer was a 500
        assert {d["id"] for d in delivered} == {e.id for e in published}
        assert {h["X-MineOps-Event"] for h, _ in sink.requests} == {"live.kpi_alert"}
        sample = metrics.registry.get_sample_value
        assert sample("mineops_notifications_total", {"receiver": "webhook", "outcome": "delivered"}) == len(published)
        assert sample("mineops_notification_attempt_failures_total", {"receiver": "webhook"}) == 1
    finally:
        sink.close()
