"""Background jobs: strategies grids above the synchronous limit, followed at ``/jobs/{id}``.

``POST /get_top_3_strategies`` with a grid above ``ranking_cache.sync_limit`` (scenarios x
replications > ``MINEOPS_SIM_MAX_GRID_SIMULATIONS``) answers 202 with a job id and ``Location:
/jobs/{id}``; :class:`JobRunner` then runs the request through the same :class:`~api.run_service.
RunService` as the synchronous route (admission at submission, the run, storage, metrics, the
ranking cache), with the executor's progress (replications done of total) written to the job.

Job state lives in the run store's ``jobs`` table (``api/alembic/versions/0004_jobs.py``), so any API
process answers ``GET /jobs/{id}`` and ``/events``, also after a restart. A job belongs to the
process that accepted it (``owner``), which runs it as an asyncio task (independent of whoever
reads it: a reader may disconnect) and refreshes ``updated_at`` every ``HEARTBEAT_S``. A process
that stops marks its unfinished jobs failed; one that died without stopping leaves them
un-refreshed, and they are marked failed by the first look after ``STALE_AFTER_S`` (a read, or a
process starting): never left "running" forever.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import MetaData, Table, insert, select, update
from sqlalchemy.engine import Engine

from api.store import to_json

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Statuses of a job that has not ended.
ACTIVE = (QUEUED, RUNNING)
#: Seconds between the owner's refreshes of its unfinished jobs' ``updated_at``.
HEARTBEAT_S = 5.0
#: Seconds without a refresh after which an unfinished job counts as orphaned (6 missed heartbeats).
STALE_AFTER_S = 30.0
#: Least seconds between two progress writes of one job (the final count is always written).
PROGRESS_WRITE_S = 0.5
#: Jobs one API process runs at once; the others wait queued. One long grid at a time leaves the
#: simulator pool to the synchronous requests between its work units (``executor.JOB_UNITS_IN_FLIGHT_PER_WORKER``).
JOBS_AT_ONCE = 1
STOPPED = "interrupted: the API process running the job stopped before it finished; submit the request again"
ORPHANED = ("interrupted: the API process running the job stopped answering (killed or restarted); "
            "submit the request again")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime) -> datetime:
    """UTC-aware ``dt`` (SQLite hands back naive UTC datetimes)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else _aware(dt).isoformat(timespec="milliseconds")


class JobStore:
    """The ``jobs`` table of the run store's database (thread-safe: one engine, short transactions)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        with engine.connect() as conn:
            self._t = Table("jobs", MetaData(), autoload_with=conn)

    def create(self, job_id: str, *, site: str, total: int, request: Any, owner: str) -> dict[str, Any]:
        """Store a new queued job and return it."""
        now = _now()
        row = {"job_id": job_id, "site": site, "status": QUEUED, "done": 0, "total": int(total),
               "request": to_json(request), "run_id": None, "error": None, "owner": owner,
               "created_at": now, "started_at": None, "finished_at": None, "updated_at": now}
        with self.engine.begin() as conn:
            conn.execute(insert(self._t), row)
        return self._view(row)

    def get(self, job_id: str, site: str, stale_after_s: float = STALE_AFTER_S) -> dict[str, Any] | None:
        """The job of ``site`` (None for another site's or an unknown id); an orphaned one is failed first."""
        t = self._t
        query = select(t).where(t.c.job_id == job_id, t.c.site == site)
        with self.engine.connect() as conn:  # a read (SSE readers poll): no write lock unless the job is orphaned
            row = conn.execute(query).first()
        if row is None:
            return None
        cutoff = _now() - timedelta(seconds=stale_after_s)
        if row.status in ACTIVE and _aware(row.updated_at) < cutoff:
            with self.engine.begin() as conn:  # conditional: a heartbeat meanwhile keeps it alive
                conn.execute(update(t).where(t.c.job_id == job_id, t.c.status.in_(ACTIVE), t.c.updated_at < cutoff)
                             .values(status=FAILED, error=ORPHANED, finished_at=_now()))
                row = conn.execute(query).first()
        return self._view(row._mapping)

    def _set(self, job_id: str, **values: Any) -> bool:
        """Update an unfinished job (an ended one never changes again); False when it had ended."""
        t = self._t
        with self.engine.begin() as conn:
            done = conn.execute(update(t).where(t.c.job_id == job_id, t.c.status.in_(ACTIVE))
                                .values(updated_at=_now(), **values))
        return done.rowcount == 1

    def start(self, job_id: str) -> bool:
        return self._set(job_id, status=RUNNING, started_at=_now())

    def progress(self, job_id: str, done: int) -> bool:
        return self._set(job_id, done=int(done))

    def finish(self, job_id: str, run_id: str, done: int) -> bool:
        return self._set(job_id, status=DONE, run_id=run_id, done=int(done), finished_at=_now())

    def fail(self, job_id: str, reason: str) -> bool:
        return self._set(job_id, status=FAILED, error=reason, finished_at=_now())

    def heartbeat(self, owner: str) -> int:
        """Refresh the unfinished jobs of ``owner``; how many there were."""
        t = self._t
        with self.engine.begin() as conn:
            return conn.execute(update(t).where(t.c.owner == owner, t.c.status.in_(ACTIVE))
                                .values(updated_at=_now())).rowcount

    def fail_owned(self, owner: str, reason: str) -> int:
        """Fail every unfinished job of ``owner`` (the process is stopping); how many."""
        t = self._t
        with self.engine.begin() as conn:
            return conn.execute(update(t).where(t.c.owner == owner, t.c.status.in_(ACTIVE))
                                .values(status=FAILED, error=reason, finished_at=_now(), updated_at=_now())).rowcount

    def fail_stale(self, stale_after_s: float = STALE_AFTER_S, reason: str = ORPHANED) -> int:
        """Fail every unfinished job not refreshed for ``stale_after_s`` (its process died); how many."""
        t = self._t
        with self.engine.begin() as conn:
            return conn.execute(update(t).where(t.c.status.in_(ACTIVE),
                                                t.c.updated_at < _now() - timedelta(seconds=stale_after_s))
                                .values(status=FAILED, error=reason, finished_at=_now())).rowcount

    @staticmethod
    def _view(row: Any) -> dict[str, Any]:
        return {"job_id": row["job_id"], "site": row["site"], "status": row["status"], "done": int(row["done"]),
                "total": int(row["total"]), "run_id": row["run_id"], "error": row["error"],
                "created_at": _iso(row["created_at"]), "started_at": _iso(row["started_at"]),
                "finished_at": _iso(row["finished_at"]), "updated_at": _iso(row["updated_at"])}


def links(job_id: str, run_id: str | None = None) -> dict[str, str]:
    """Where a job is followed: its status (the result when done), its events, its stored run."""
    out = {"self": f"/jobs/{job_id}", "events": f"/jobs/{job_id}/events"}
    if run_id:
        out["run"] = f"/runs/{run_id}"
    return out


class ProgressWriter:
    """The executor's ``progress(n)`` for one job: counts replications, writes at most every
    ``PROGRESS_WRITE_S`` (and always the last count); called in the simulating thread."""

    def __init__(self, store: JobStore, job_id: str, total: int, every_s: float = PROGRESS_WRITE_S):
        self.store, self.job_id, self.total, self.every_s = store, job_id, total, every_s
        self.done = 0
        self._written_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._written_at < self.every_s and self.done < self.total:
                return
            self._written_at = now
            done = self.done
        try:
            self.store.progress(self.job_id, done)
        except Exception as exc:  # a lost progress write must not lose the run
            log.warning("job %s: progress write failed: %s", self.job_id, exc)


class JobRunner:
    """Runs this process's jobs (asyncio tasks on the service's event loop) and keeps them alive."""

    def __init__(self, state: Any, store: JobStore, *, heartbeat_s: float | None = None,
                 stale_after_s: float | None = None, progress_every_s: float | None = None):
        self.state = state
        self.store = store
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.stale_after_s = STALE_AFTER_S if stale_after_s is None else stale_after_s
        self.progress_every_s = PROGRESS_WRITE_S if progress_every_s is None else progress_every_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = asyncio.Semaphore(JOBS_AT_ONCE)
        self._tasks: dict[str, asyncio.Task] = {}
        self._heartbeat: asyncio.Task | None = None

    @property
    def active(self) -> int:
        """Jobs of this process queued or running."""
        return len(self._tasks)

    async def start(self) -> None:
        """Fail the jobs orphaned by a process that died, then keep this process's jobs refreshed."""
        failed = await run_in_threadpool(self.store.fail_stale, self.stale_after_s, ORPHANED)
        if failed:
            log.warning("%d job(s) of a stopped API process marked failed", failed)
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self._tasks:
                try:
                    await run_in_threadpool(self.store.heartbeat, self.owner)
                except Exception as exc:
                    log.warning("job heartbeat failed: %s", exc)

    async def submit(self, spec: Any, *, request: dict[str, Any], warnings: tuple[str, ...], site: str,
                     served: Any, cache_key: str | None) -> dict[str, Any]:
        """Store a queued job for ``spec`` and start it; return the stored job."""
        job_id = uuid.uuid4().hex
        job = await run_in_threadpool(lambda: self.store.create(job_id, site=site, total=spec.simulations,
                                                                request=request, owner=self.owner))
        task = asyncio.create_task(self._run(job_id, spec, request, warnings, site, served, cache_key),
                                   name=f"job-{job_id}")
        self._tasks[job_id] = task
        metrics = self.state.metrics
        metrics.jobs.labels("accepted").inc()
        metrics.jobs_active.set(len(self._tasks))

        def ended(_task: asyncio.Task) -> None:
            self._tasks.pop(job_id, None)
            metrics.jobs_active.set(len(self._tasks))

        task.add_done_callback(ended)
        log.info("job %s queued: %d simulations", job_id, spec.simulations, extra={"job_id": job_id})
        return job

    async def _run(self, job_id: str, spec: Any, request: dict[str, Any], warnings: tuple[str, ...], site: str,
                   served: Any, cache_key: str | None) -> None:
        """Run the job to an end state: done with its run, or failed with the reason (never left running)."""
        from simulator.scenario import SpecError

        async with self._slots:
            try:
                await run_in_threadpool(self.store.start, job_id)
                progress = ProgressWriter(self.store, job_id, spec.simulations, self.progress_every_s)
                run = await self.state.runs.run(spec, request=request, warnings=warnings, site=site,
                                                served=served, progress=progress)
                run_id = run.result.run_id
                cache = getattr(self.state, "ranking_cache", None)
                if cache_key is not None and cache is not None and run.result.model_version == served.version:
                    await cache.put(cache_key, run.response)  # a repeat of the request is then a cache hit
                await run_in_threadpool(self.store.finish, job_id, run_id, spec.simulations)
            except asyncio.CancelledError:
                raise  # the service is stopping: close() marks the job failed
            except Exception as exc:
                reason = f"{exc.field}: {exc}" if isinstance(exc, SpecError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, SpecError):
                    log.exception("job %s failed", job_id, extra={"job_id": job_id})
                self.state.metrics.jobs.labels("failed").inc()
                try:
                    await run_in_threadpool(self.store.fail, job_id, reason)
                except Exception as store_exc:  # the database is down: the job goes stale and is failed later
                    log.warning("job %s: could not record its failure: %s", job_id, store_exc)
                return
            self.state.metrics.jobs.labels("done").inc()
            log.info("job %s done: run %s", job_id, run_id, extra={"job_id": job_id, "run_id": run_id})

    async def close(self) -> None:
        """Stop: cancel this process's jobs and mark them failed (``STOPPED``) for whoever follows them."""
        tasks = [t for t in (self._heartbeat, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            stopped = await run_in_threadpool(self.store.fail_owned, self.owner, STOPPED)
        except Exception as exc:
            log.warning("could not mark this process's jobs failed: %s", exc)
            return
        if stopped:
            log.warning("%d unfinished job(s) marked failed: the service is stopping", stopped)


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
