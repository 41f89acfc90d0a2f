"""The batch layer: shift aggregates, daily runs, new cycles into the training data, drift, retrain.

Runs in a thread of ``python -m live.worker`` (one at a time across all workers: a Redis lock).

* **Hourly** (and before every daily run): recompute ``live_shift_aggregates`` for every shift that
  received cycles since the last run (SQL over ``live_cycles``), and the plan per site and shift
  (median tonnes of the last ``PLAN_HISTORY_SHIFTS`` stored shifts of that shift) that the speed
  layer shows when ``MINEOPS_LIVE_SHIFT_PLAN_TONNES`` is 0.
* **Daily** at ``MINEOPS_LIVE_DAILY_AT`` on the mine's clock, and whenever
  ``MINEOPS_LIVE_BATCH_EVERY_CYCLES`` new cycles were stored since the last run: append the new
  cycles to ``data/hauling_activities.csv`` (their fields as received; ids already in the file are
  skipped); check the cycles the champion was not trained on (stored since it was created) for
  drift against its training data (``training.drift.run_cycle_drift``: Evidently on the model's
  features, against the reference sample the champion keeps; ``logs/drift/cycles-*.json``); and run
  the gated retrain (``training.retrain``) when they drifted or the champion is older than
  ``MINEOPS_CHAMPION_MAX_AGE_DAYS``. The prediction log's drift (``training.drift.run_drift``: what
  planners asked, not what the mine did) is recorded beside it but does not trigger a retrain. The
  API picks up a promotion by its hot reload. Each run writes ``logs/live/batch-<UTC stamp>.json``.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import redis
from sqlalchemy import delete, distinct, func, select, update
from sqlalchemy.engine import Connection, Engine

from live.settings import LiveSettings
from training.cli import Paths, write_json_report
from training.registry import site_registry_root
from training.schema import MINE_UTC_OFFSET_HOURS, TABLES

log = logging.getLogger(__name__)

#: Stored shifts of the same site and shift whose median tonnes is the plan (two weeks of one shift).
PLAN_HISTORY_SHIFTS = 14
#: Seconds between the thread's checks of the schedule.
TICK_S = 30.0
#: The hourly aggregation period, s.
HOURLY_S = 3600.0
#: Longest a batch run may hold the cross-worker lock (a retrain on 90 days takes minutes), s.
LOCK_TIMEOUT_S = 3 * 3600
#: Redis keys of the batch layer's shared state.
NEW_CYCLES_KEY = "live:batch:new_cycles"
LAST_HOURLY_KEY = "live:batch:last_hourly"
LAST_DAILY_KEY = "live:batch:last_daily"
LOCK_KEY = "live:batch:lock"
EXPORT_FILE = TABLES["hauling_activities"].file


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def daily_due(last_run: datetime | None, now: datetime, daily_at: str,
              utc_offset_hours: float = MINE_UTC_OFFSET_HOURS) -> bool:
    """True when the mine-local ``daily_at`` (HH:MM) passed after ``last_run`` and by ``now``."""
    hours, minutes = (int(x) for x in daily_at.split(":"))
    offset = timedelta(hours=utc_offset_hours)
    local_now = now + offset
    today = local_now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    latest = today if today <= local_now else today - timedelta(days=1)
    latest_utc = latest - offset
    return last_run is None or last_run < latest_utc


def compute_aggregates(conn: Connection, keys: list[tuple[str, str]], now: datetime) -> list[dict[str, Any]]:
    """``live_shift_aggregates`` rows of the (site, shift key) pairs ``keys``, from ``live_cycles``."""
    from live.tables import cycles as c

    rows: list[dict[str, Any]] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        sites = {s for s, _ in chunk}
        shift_keys = {k for _, k in chunk}
        where = (c.c.site.in_(sites), c.c.shift_key.in_(shift_keys))
        query = (select(c.c.site, c.c.shift_key, c.c.finished, func.min(c.c.shift).label("shift"),
                        func.min(c.c.shift_start).label("shift_start"), func.count().label("cycles"),
                        func.sum(c.c.load_weight_t).label("tonnes"),
                        func.sum(c.c.total_cycle_min).label("cycle_min_sum"),
                        func.sum(c.c.queue_min).label("queue_min_sum"),
                        func.sum(c.c.fuel_l).label("fuel_l"),
                        func.sum(c.c.load_weight_t).filter(c.c.fuel_l.is_not(None)).label("fuel_tonnes"))
                 .where(*where).group_by(c.c.site, c.c.shift_key, c.c.finished))
        trucks = {(r.site, r.shift_key): r.n for r in conn.execute(
            select(c.c.site, c.c.shift_key, func.count(distinct(c.c.truck_id)).label("n"))
            .where(*where).group_by(c.c.site, c.c.shift_key))}
        acc: dict[tuple[str, str], dict[str, Any]] = {}
        wanted = set(chunk)
        for r in conn.execute(query):
            if (r.site, r.shift_key) not in wanted:  # the IN lists cross sites with keys
                continue
            row = acc.setdefault((r.site, r.shift_key), {
                "site": r.site, "shift_key": r.shift_key, "shift": r.shift, "shift_start": r.shift_start,
                "cycles": 0, "loads": 0, "tonnes": 0.0, "cycle_min_sum": 0.0, "queue_min_sum": 0.0,
                "fuel_l": 0.0, "fuel_tonnes": 0.0, "trucks": trucks[(r.site, r.shift_key)], "computed_at": now})
            row["cycles"] += int(r.cycles)
            if r.finished:  # a load: only finished cycles carry tonnes and times (as in the speed layer)
                row["loads"] += int(r.cycles)
                for name in ("tonnes", "cycle_min_sum", "queue_min_sum", "fuel_l", "fuel_tonnes"):
                    row[name] += float(getattr(r, name) or 0.0)
        rows.extend(acc.values())
    return rows


def aggregate_shifts(engine: Engine, since: datetime | None, now: datetime) -> int:
    """Recompute the aggregates of every (site, shift) with cycles ingested since ``since``; return how many."""
    from live.tables import cycles as c
    from live.tables import shift_aggregates as a

    with engine.begin() as conn:
        touched = select(c.c.site, c.c.shift_key)
        if since is not None:
            touched = touched.where(c.c.ingested_at >= since)
        keys = [(r[0], r[1]) for r in conn.execute(touched.group_by(c.c.site, c.c.shift_key))]
        if not keys:
            return 0
        rows = compute_aggregates(conn, keys, now)
        for site, key in keys:
            conn.execute(delete(a).where(a.c.site == site, a.c.shift_key == key))
        if rows:
            conn.execute(a.insert(), rows)
    return len(rows)


def plans(engine: Engine) -> dict[str, dict[str, float]]:
    """Per site and shift name, the median tonnes of its last ``PLAN_HISTORY_SHIFTS`` aggregated shifts."""
    from live.tables import shift_aggregates as a

    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(a.c.site, a.c.shift, a.c.shift_start, a.c.tonnes)).all(),
                             columns=["site", "shift", "shift_start", "tonnes"])
    out: dict[str, dict[str, float]] = {}
    for (site, shift), g in frame.sort_values("shift_start").groupby(["site", "shift"]):
        out.setdefault(site, {})[shift] = float(g["tonnes"].tail(PLAN_HISTORY_SHIFTS).median())
    return out


def export_new_cycles(engine: Engine, data_dir: Path) -> int:
    """Append the cycles not yet exported to ``data_dir/hauling_activities.csv``; return how many were
    written (ids already in the file are skipped and marked exported)."""
    from live.tables import cycles as c

    path = Path(data_dir) / EXPORT_FILE
    with engine.connect() as conn:
        pending = conn.execute(select(c.c.id, c.c.record).where(c.c.exported.is_(False))).all()
    if not pending:
        return 0
    columns = list(TABLES["hauling_activities"].column_names)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.seek(0)
        reader = csv.reader(fh)
        header = next(reader, None)
        known: set[str] = set()
        if header:
            header = [h.strip() for h in header]
            at = header.index("id") if "id" in header else None
            if at is not None:
                known = {row[at] for row in reader if len(row) > at}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if not header:
            header = columns
            writer.writerow(header)
        written = 0
        for cycle_id, record in pending:
            if cycle_id in known:
                continue
            fields = json.loads(record)
            writer.writerow([fields.get(name, "") for name in header])
            known.add(cycle_id)
            written += 1
        fh.seek(0, io.SEEK_END)
        if fh.tell() > 0:
            fh.seek(fh.tell() - 1)
            if fh.read(1) != "\n":
                fh.write("\n")
        fh.write(out.getvalue())
        fh.flush()
    ids = [p[0] for p in pending]
    with engine.begin() as conn:
        for start in range(0, len(ids), 1000):
            conn.execute(update(c).where(c.c.id.in_(ids[start:start + 1000])).values(exported=True))
    return written


def champion_created_at(models_dir: Path) -> datetime | None:
    """When the champion was written (UTC), None without a champion."""
    from training.registry import Registry

    registry = Registry(models_dir)
    version = registry.champion()
    if version is None:
        return None
    info = next((v for v in registry.versions() if v.version == version), None)
    if info is None or not info.created_at:
        return None
    created = datetime.fromisoformat(info.created_at.replace("Z", "+00:00"))
    return created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created


def champion_age_days(models_dir: Path, now: datetime) -> float | None:
    """Days since the champion was written, None without a champion."""
    created = champion_created_at(models_dir)
    return None if created is None else (now - created).total_seconds() / 86400.0


def cycles_since(engine: Engine, since: datetime | None, limit: int) -> list[dict[str, str]]:
    """The fields (as received) of the exported cycles stored since ``since`` (all when None), at most
    ``limit`` of the latest: the new data a champion created at ``since`` has not been trained on."""
    from live.tables import cycles as c

    query = select(c.c.record).where(c.c.exported.is_(True))
    if since is not None:
        query = query.where(c.c.ingested_at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(c.c.ingested_at.desc()).limit(limit)).scalars().all()
    return [json.loads(r) for r in rows]


@dataclass
class BatchLayer:
    """The scheduler thread and the runs (every step also callable on its own)."""

    settings: LiveSettings
    client: redis.Redis
    engine: Engine
    clock: Callable[[], datetime] = _utc_now
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: LiveSettings, client: redis.Redis, engine: Engine) -> "BatchLayer":
        return cls(settings, client, engine)

    @property
    def paths(self) -> Paths:
        s = self.settings
        return Paths(s.data_dir, site_registry_root(s.models_dir, s.site), s.logs_dir)

    # --- triggers ----------------------------------------------------------------------------------

    def on_batch(self, outcome) -> None:  # noqa: ANN001
        """Count newly stored cycles (shared by all workers); wake the thread when a run is due."""
        if outcome.stored:
            total = self.client.incrby(NEW_CYCLES_KEY, outcome.stored)
            if total >= self.settings.live_batch_every_cycles:
                self._wake.set()

    def _stamp(self, key: str) -> datetime | None:
        value = self.client.get(key)
        return datetime.fromisoformat(value.decode()) if value else None

    def tick(self) -> dict[str, Any] | None:
        """Run whatever is due (under the cross-worker lock); return the report of a daily run."""
        lock = self.client.lock(LOCK_KEY, timeout=LOCK_TIMEOUT_S)
        if not lock.acquire(blocking=False):
            return None
        try:
            now = self.clock()
            new = int(self.client.get(NEW_CYCLES_KEY) or 0)
            last_daily = self._stamp(LAST_DAILY_KEY)
            if new >= self.settings.live_batch_every_cycles or daily_due(last_daily, now, self.settings.live_daily_at):
                reason = "new cycles" if new >= self.settings.live_batch_every_cycles else "daily schedule"
                return self.run_daily(reason)
            last_hourly = self._stamp(LAST_HOURLY_KEY)
            if last_hourly is None or (now - last_hourly).total_seconds() >= HOURLY_S:
                self.run_hourly()
            return None
        finally:
            lock.release()

    # --- runs --------------------------------------------------------------------------------------

    def run_hourly(self) -> int:
        """Aggregates of the shifts touched since the last run, and the plans the speed layer shows."""
        now = self.clock()
        n = aggregate_shifts(self.engine, self._stamp(LAST_HOURLY_KEY), now)
        pipe = self.client.pipeline()
        for site, by_shift in plans(self.engine).items():
            pipe.hset(f"live:plan:{site}", mapping={k: repr(v) for k, v in by_shift.items()})
        pipe.set(LAST_HOURLY_KEY, now.isoformat())
        pipe.execute()
        log.info("batch: %d shift aggregates recomputed", n)
        return n

    def run_daily(self, reason: str) -> dict[str, Any]:
        """Aggregates, export of new cycles, drift, and the gated retrain when drift or an old champion asks."""
        from training.drift import DEFAULT_SINCE, run_drift
        from training.errors import BadInputError
        from training.retrain import record, retrain

        s = self.settings
        started = self.clock()
        new = int(self.client.getset(NEW_CYCLES_KEY, 0) or 0)
        report: dict[str, Any] = {"started_at": started.isoformat(), "reason": reason, "new_cycles": new}
        report["aggregated_shifts"] = self.run_hourly()
        report["exported_cycles"] = export_new_cycles(self.engine, s.data_dir)
        drift = self.cycle_drift(started)
        report["drift"] = drift
        try:
            planned, _html = run_drift(self.paths.models, s.logs_dir, DEFAULT_SINCE, s.drift_threshold,
                                       max_bad_row_share=s.max_bad_row_share)
            report["prediction_drift"] = {k: planned.get(k) for k in ("status", "dataset_drift", "drift_share",
                                                                     "current_rows")}
        except (BadInputError, FileNotFoundError) as exc:
            report["prediction_drift"] = {"status": "not run", "reason": str(exc)}
        age = champion_age_days(self.paths.models, started)
        report["champion_age_days"] = age
        drifted = bool(drift.get("dataset_drift"))
        too_old = age is None or age > s.champion_max_age_days
        if drifted or too_old:
            why = "new cycles drifted" if drifted else ("no champion" if age is None else
                                                   f"champion older than {s.champion_max_age_days} days")
            try:
                outcome = retrain(self.paths, s)
                record(self.paths, outcome.report)
                report["retrain"] = {"why": why, "version": outcome.version, "promoted": outcome.promoted,
                                     "reasons": list(outcome.reasons)}
            except BadInputError as exc:
                report["retrain"] = {"why": why, "error": str(exc)}
        else:
            report["retrain"] = None
        report["finished_at"] = self.clock().isoformat()
        self.client.set(LAST_DAILY_KEY, started.isoformat())
        stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
        write_json_report(Path(s.logs_dir) / "live" / f"batch-{stamp}.json", report)
        log.info("batch (%s): %d new cycles, %d exported, drift %s, retrain %s", reason, new,
                 report["exported_cycles"], report["drift"].get("status"), report["retrain"])
        return report

    def cycle_drift(self, now: datetime) -> dict[str, Any]:
        """Drift of the cycles stored since the champion was created against its training data (the
        summary's headline fields; the full report is ``logs/drift/cycles-<time>.json``)."""
        from training.drift import MAX_CURRENT_ROWS, cycle_features, run_cycle_drift
        from training.errors import BadInputError

        s, models = self.settings, self.paths.models
        try:
            since = champion_created_at(models)
            if since is None:
                raise BadInputError(f"no champion in {models}: nothing to compare the new cycles with")
            records = cycles_since(self.engine, since, MAX_CURRENT_ROWS)
            features = cycle_features(records, s.data_dir, s.max_bad_row_share)
            summary = run_cycle_drift(models, s.logs_dir, features, s.drift_threshold, now,
                                      label=f"cycles stored since {since.isoformat(timespec='seconds')}")
        except (BadInputError, FileNotFoundError) as exc:
            return {"status": "not run", "reason": str(exc)}
        return {k: summary.get(k) for k in ("status", "dataset_drift", "drift_share", "current_rows",
                                            "drifted_columns", "model_version", "compared")}

    # --- the thread ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a failed run is logged and retried at the next tick; ingestion goes on
                log.exception("batch layer run failed")
            self._wake.wait(TICK_S)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="live-batch", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
