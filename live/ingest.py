"""One batch of events through the live path: decode, validate, store, update the speed layer.

Pure of broker types: the worker hands ``Message`` objects in and acknowledges what ``process``
returns only after it returned (the database commit and the speed layer update are done by then).
Validation is the batch loader's (``training.dataset.check_records`` over ``hauling_activities``
of ``training.schema``): the same types, ranges, vocabularies, timestamp order, completeness,
foreign keys (against the fleet's master tables in the data folder) and payload/fuel caps. A bad
event goes to ``live_quarantine`` with its reasons and is acknowledged: it is never retried.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from live.broker import Message
from live.kpis import cycle_columns
from live.speed import SpeedLayer
from live.store import CycleStore
from training.dataset import check_records, load_master

log = logging.getLogger(__name__)

TABLE = "hauling_activities"
#: Event field naming the site (not part of the fleet export's contract; carried beside it).
SITE_FIELD = "site"
#: Master tables the cycle's foreign keys and caps refer to.
PARENT_TABLES: tuple[str, ...] = ("trucks", "excavators", "operators", "road_segments")
#: Files whose change makes the worker re-read the parents.
PARENT_FILES: tuple[str, ...] = ("trucks.csv", "excavators.csv", "operators.csv", "road_segments.csv",
                                 "maintenance_logs.csv")


class FleetParents:
    """The validated master tables of ``data_dir``, re-read when one of their files changes."""

    def __init__(self, data_dir: Path, max_bad_share: float):
        self.data_dir = Path(data_dir)
        self.max_bad_share = max_bad_share
        self._stamp: tuple | None = None
        self._parents: dict[str, pd.DataFrame] | None = None
        self._lock = threading.Lock()

    def _current_stamp(self) -> tuple:
        out = []
        for name in PARENT_FILES:
            try:
                st = (self.data_dir / name).stat()
                out.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def __call__(self) -> dict[str, pd.DataFrame]:
        stamp = self._current_stamp()
        with self._lock:
            if self._parents is None or stamp != self._stamp:
                export = load_master(self.data_dir, max_bad_share=self.max_bad_share)
                self._parents = {name: export.table(name) for name in PARENT_TABLES}
                self._stamp = stamp
            return self._parents


@dataclass
class BatchOutcome:
    """What one ``process`` call did."""

    received: int = 0
    accepted: int = 0  # valid events (new or redelivered)
    stored: int = 0  # cycles newly written
    quarantined: int = 0
    duplicates: int = 0  # copies of a cycle id already in the same batch (idempotent, not stored again)
    snapshots: list[dict] = field(default_factory=list)
    alerts: list = field(default_factory=list)  # live.alerts.Alert published for this batch
    ack: list[str] = field(default_factory=list)


def _decode(message: Message) -> tuple[dict[str, str] | None, str | None]:
    """The entry's fields as text, or (None, reason) when they are not UTF-8 or there are none."""
    if not message.fields:
        return None, "entry has no fields (trimmed from the stream before it was processed, or empty)"
    try:
        return {k.decode(): v.decode() for k, v in message.fields.items()}, None
    except (UnicodeDecodeError, AttributeError):
        pass
    for k, v in message.fields.items():  # name the offending field
        for what, b in (("a field name", k), (repr(k), v)):
            try:
                b.decode() if isinstance(b, bytes) else str(b)
            except UnicodeDecodeError:
                return None, f"{what}: not UTF-8 text"
    return None, "fields are not text"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Ingestor:
    """Validate, store and count a batch of events (one per worker; thread-compatible, not shared)."""

    def __init__(self, store: CycleStore, speed: SpeedLayer | None, parents: Callable[[], dict[str, pd.DataFrame]],
                 default_site: str, source: str = "hauling-events", alerter: Callable[..., list] | None = None):
        self.store = store
        self.alerter = alerter  # live.alerts.KpiAlerter: judges the new snapshots (needs ``speed``)
        self.speed = speed
        self.parents = parents
        self.default_site = default_site
        self.source = source

    def process(self, messages: list[Message]) -> BatchOutcome:
        out = BatchOutcome(received=len(messages), ack=[m.id for m in messages])
        if not messages:
            return out
        now = _utc_now()
        quarantine_rows: list[dict] = []
        records: list[dict[str, str]] = []
        kept: list[Message] = []
        sites: list[str] = []
        seen: set[str | None] = set()

        def reject(message: Message, fields: dict, site: str, reason: str) -> None:
            quarantine_rows.append({
                "stream_id": message.id, "site": site, "cycle_id": (fields.get("id") or None),
                "reason": reason, "fields": json.dumps(fields, ensure_ascii=False), "received_at": now,
            })

        for message in messages:
            fields, problem = _decode(message)
            if fields is None:
                raw = {repr(k): repr(v) for k, v in message.fields.items()}
                reject(message, raw, self.default_site, problem)
                continue
            site = fields.pop(SITE_FIELD, "") or self.default_site
            cycle_id = fields.get("id")
            if cycle_id and cycle_id in seen:  # the producer sent the cycle twice: one copy is enough
                out.duplicates += 1
                continue
            seen.add(cycle_id)
            records.append(fields)
            kept.append(message)
            sites.append(site)

        cycle_rows: list[dict] = []
        check = check_records(TABLE, records, self.parents(), source=self.source) if records else None
        if check is not None:
            for i, problems in check.rejected.items():
                reject(kept[i], records[i], sites[i], "; ".join(p.detail for p in problems))
            good = check.frame
            if len(good):
                frame = good.assign(site=[sites[i] for i in good.index])
                columns = cycle_columns(frame, self.default_site)
                loading = list(pd.DatetimeIndex(frame["loadingStartTime"]).to_pydatetime())
                starts = list(pd.DatetimeIndex(columns["shift_start"]).to_pydatetime())
                for j, (i, c, status) in enumerate(zip(good.index, columns.itertuples(index=False), frame["status"])):
                    cycle_rows.append({
                        "id": records[i]["id"], "activity_number": records[i]["activityNumber"], "site": c.site,
                        "shift": c.shift, "shift_key": c.shift_key, "shift_start": starts[j],
                        "loading_start": loading[j],
                        "truck_id": c.truck_id, "excavator_id": records[i]["excavatorId"],
                        "status": status, "finished": bool(c.finished),
                        "load_weight_t": c.load_weight_t, "total_cycle_min": c.total_cycle_min,
                        "queue_min": c.queue_min, "fuel_l": None if pd.isna(c.fuel_l) else c.fuel_l,
                        "record": json.dumps(records[i], ensure_ascii=False), "stream_id": kept[i].id,
                        "ingested_at": now, "exported": False,
                    })
        result = self.store.write(cycle_rows, quarantine_rows)
        out.stored = result.stored
        out.quarantined = result.quarantined
        out.accepted = len(cycle_rows) - len(result.conflicts)
        if self.speed is not None:
            if cycle_rows and len(result.conflicts) < len(cycle_rows):
                ok = [i for i, r in zip(good.index, cycle_rows) if r["id"] not in result.conflicts]
                out.snapshots = self.speed.add(columns.loc[ok], [records[i]["id"] for i in ok])
                if self.alerter is not None:
                    # the shift's clock: the latest loading start of the batch per site and shift
                    as_of = frame.loc[ok, "loadingStartTime"].groupby(
                        [columns.loc[ok, "site"], columns.loc[ok, "shift_key"]]).max()
                    out.alerts = self.alerter(out.snapshots, {k: pd.Timestamp(v).to_pydatetime()
                                                              for k, v in as_of.items()})
            self.speed.count_quarantined(out.quarantined)
        return out
