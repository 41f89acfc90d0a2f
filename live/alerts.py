"""Live-KPI alerts: a shift behind its plan, or trucks queueing too long at the loaders, published as
``live.kpi_alert`` events.

The speed layer's snapshot of a (site, shift) is judged each time a batch of events updates it:

- ``behind_plan``: tonnes hauled are more than ``behind_plan_pct`` percent below the shift's plan
  pro-rated to the time the shift has run (plan x elapsed / shift length), so a shift is not "behind"
  at 08:00 for having hauled an eighth of its plan;
- ``queue_time``: the mean queue time at the loaders over the shift's loads so far is above
  ``queue_min`` minutes.

Neither is judged before ``min_elapsed_share`` of the shift has run (a few early loads say little).
The shift's clock is its events' (the latest loading start in the batch), not the wall clock, so a
replayed day alerts as it would have live. Each alert kind fires at most once per site and shift:
the first worker to claim it (``SpeedLayer.claim_alert``, a Redis ``SET NX`` shared by all workers)
publishes it. Publishing goes through ``training.events.publish`` (the outbox the API's dispatcher
delivers to the signed webhook and e-mail, with retries and failure counts), so the live worker
never imports the API and never waits on a receiver.

``evaluate`` is pure; ``KpiAlerter`` wires it to a claim and a publish function.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from training.schema import SHIFT_LENGTH_HOURS

#: The event type every alert is published as.
EVENT_TYPE = "live.kpi_alert"
BEHIND_PLAN = "behind_plan"
QUEUE_TIME = "queue_time"


@dataclass(frozen=True)
class AlertThresholds:
    """When a shift's KPIs are worth telling people about (``MINEOPS_LIVE_ALERT_*``; 0 turns one off)."""

    behind_plan_pct: float  # % below the pro-rated plan
    queue_min: float  # mean queue time at the loaders, min
    min_elapsed_share: float  # share of the shift run before anything is judged

    @classmethod
    def from_settings(cls, settings: Any) -> "AlertThresholds":
        return cls(settings.live_alert_behind_plan_pct, settings.live_alert_queue_min,
                   settings.live_alert_min_elapsed_share)


@dataclass(frozen=True)
class Alert:
    """One alert: its kind, where, a one-line summary and the numbers behind it."""

    kind: str
    site: str
    shift: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


def elapsed_share(snapshot: Mapping[str, Any], as_of: datetime, shift_hours: float = SHIFT_LENGTH_HOURS) -> float:
    """Share (0..1) of the snapshot's shift that has run at ``as_of`` (aware)."""
    start = datetime.fromisoformat(snapshot["shift_start"].replace("Z", "+00:00"))
    return min(1.0, max(0.0, (as_of - start).total_seconds() / 3600.0 / shift_hours))


def evaluate(snapshot: Mapping[str, Any], as_of: datetime, thresholds: AlertThresholds,
             shift_hours: float = SHIFT_LENGTH_HOURS) -> list[Alert]:
    """The alerts a speed-layer snapshot calls for at ``as_of`` (the shift's clock)."""
    share = elapsed_share(snapshot, as_of, shift_hours)
    if share <= 0 or share < thresholds.min_elapsed_share:
        return []
    data, site, shift = snapshot["data"], snapshot["site"], snapshot["shift"]
    common = {"shift": shift, "shift_start": snapshot["shift_start"], "as_of": as_of.isoformat(timespec="seconds"),
              "elapsed_share": round(share, 4)}
    alerts = []
    plan = data.get("plan_tonnes")
    if thresholds.behind_plan_pct > 0 and plan:
        expected = plan * share
        floor = expected * (1.0 - thresholds.behind_plan_pct / 100.0)
        if data["tonnes"] < floor:
            behind = 100.0 * (1.0 - data["tonnes"] / expected)
            alerts.append(Alert(BEHIND_PLAN, site, shift,
                                f"{site} {shift}: {data['tonnes']:,.0f} t hauled, {behind:.0f}% behind the "
                                f"{expected:,.0f} t planned by now ({share:.0%} of the shift; plan {plan:,.0f} t)",
                                {**common, "kind": BEHIND_PLAN, "tonnes": data["tonnes"], "plan_tonnes": plan,
                                 "expected_tonnes_by_now": expected, "behind_pct": behind,
                                 "threshold_pct": thresholds.behind_plan_pct}))
    queue = data.get("mean_queue_time_min")
    if thresholds.queue_min > 0 and queue is not None and queue > thresholds.queue_min:
        alerts.append(Alert(QUEUE_TIME, site, shift,
                            f"{site} {shift}: trucks queue {queue:.1f} min on average at the loaders "
                            f"(limit {thresholds.queue_min:g} min, {data['loads']} loads)",
                            {**common, "kind": QUEUE_TIME, "mean_queue_time_min": queue, "loads": data["loads"],
                             "threshold_min": thresholds.queue_min}))
    return alerts


class KpiAlerter:
    """Judges each new snapshot, claims each alert once per site, shift and kind, and publishes it."""

    def __init__(self, thresholds: AlertThresholds, claim: Callable[[str, str, str], bool],
                 publish: Callable[[Alert], Any], shift_hours: float = SHIFT_LENGTH_HOURS):
        self.thresholds = thresholds
        self.claim = claim
        self.publish = publish
        self.shift_hours = shift_hours

    def __call__(self, snapshots: list[Mapping[str, Any]],
                 as_of: Mapping[tuple[str, str], datetime]) -> list[Alert]:
        """Publish the new alerts of ``snapshots`` (``as_of``: the latest event time per (site, shift)); return them."""
        published = []
        for snapshot in snapshots:
            at = as_of.get((snapshot["site"], snapshot["shift"]))
            if at is None:
                continue
            for alert in evaluate(snapshot, at, self.thresholds, self.shift_hours):
                if self.claim(alert.site, alert.shift, alert.kind):
                    self.publish(alert)
                    published.append(alert)
        return published


def outbox_publisher(logs_dir: Any) -> Callable[[Alert], Any]:
    """``publish`` for ``KpiAlerter``: the event outbox in ``logs_dir`` (delivered by the API)."""
    from training.events import publish

    return lambda alert: publish(logs_dir, EVENT_TYPE, alert.summary, alert.data, alert.site)
