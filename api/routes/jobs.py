"""GET /jobs/{job_id} (status, and the strategies response when done) and GET /jobs/{job_id}/events (SSE).

Jobs are strategies requests whose grid is above the synchronous limit: ``POST /get_top_3_strategies``
answers them 202 with ``Location: /jobs/{id}`` (``api.jobs``). Both routes read the run store, so
any API process answers them; a job of another site is 404.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from api.auth import Viewer
from api.deps import SettingsDep, StateDep
from api.jobs import DONE, FAILED, links, sse
from api.openapi_docs import NOT_FOUND_RESPONSE
from api.presenters import StrategiesResponse

router = APIRouter(prefix="/jobs", tags=["jobs"])

#: Seconds between the events stream's looks at the job (progress is written at most every 0.5 s).
POLL_S = 0.5


class JobLinks(BaseModel):
    self: str = Field(description="This job: status, and the result when done")
    events: str = Field(description="Server-sent events of its progress")
    run: str | None = Field(None, description="The stored run, when done")


class JobAccepted(BaseModel):
    """202: the grid is above the synchronous limit; the request runs as a background job."""

    job_id: str
    status: Literal["queued"]
    done: int = Field(description="Simulations (scenario replications) finished")
    total: int = Field(description="Simulations the grid asks for (scenarios x replications)")
    links: JobLinks


class JobStatus(BaseModel):
    """A job: status, progress and, when done, the response the synchronous route gives (``result``)."""

    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    done: int = Field(description="Simulations (scenario replications) finished")
    total: int = Field(description="Simulations the grid asks for (scenarios x replications)")
    run_id: str | None = Field(None, description="The run it produced (when done)")
    error: str | None = Field(None, description="Why it failed (when failed)")
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    links: JobLinks
    result: StrategiesResponse | None = Field(
        None, description="When done: the body POST /get_top_3_strategies answers synchronously (same run_id)")


def accepted(job: dict[str, Any]) -> dict[str, Any]:
    """The 202 body of a new job."""
    return {"job_id": job["job_id"], "status": job["status"], "done": job["done"], "total": job["total"],
            "links": links(job["job_id"])}


def public_view(job: dict[str, Any]) -> dict[str, Any]:
    keep = ("job_id", "status", "done", "total", "run_id", "error", "created_at", "started_at", "finished_at")
    return {**{k: job[k] for k in keep}, "links": links(job["job_id"], job["run_id"]), "result": None}


async def _job_or_404(state: Any, job_id: str, site: str) -> dict[str, Any]:
    job = await run_in_threadpool(state.jobs.store.get, job_id, site)
    if job is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return job


@router.get("/{job_id}", response_model=JobStatus, responses={404: NOT_FOUND_RESPONSE})
async def get_job(job_id: str, state: StateDep, principal: Viewer) -> Any:
    """The job of the caller's site: status and progress; when done, ``result`` is the strategies response."""
    job = await _job_or_404(state, job_id, principal.site)
    body = public_view(job)
    if job["status"] == DONE:
        run = await run_in_threadpool(state.store.get_run, job["run_id"], principal.site)
        body["result"] = run["result"] if run is not None else None
    return JSONResponse(body)  # as stored: the result is byte-for-byte what the synchronous route sent


EVENTS_DESCRIPTION = (
    "text/event-stream: `event: progress` with `{job_id, status, done, total}` whenever the count moves, "
    "then `event: done` with `{job_id, run_id, links}` (the result is at `links.self`) or `event: failed` "
    "with `{job_id, error}`, after which the stream ends; `: keep-alive` comments in between (about every "
    "15 s). The job runs on whether or not anyone is listening.")


@router.get("/{job_id}/events", responses={200: {"description": EVENTS_DESCRIPTION, "content": {"text/event-stream": {}}},
                                            404: NOT_FOUND_RESPONSE})
async def job_events(job_id: str, request: Request, state: StateDep, settings: SettingsDep,
                     principal: Viewer) -> Any:
    """Server-sent events of the job's progress until it is done or failed."""
    job = await _job_or_404(state, job_id, principal.site)

    async def events():
        nonlocal job
        last: tuple | None = None
        last_sent = time.monotonic()
        while True:
            if job is None:  # removed meanwhile (it cannot be, today); end the stream
                return
            seen = (job["status"], job["done"])
            if seen != last:
                last = seen
                yield sse("progress", {k: job[k] for k in ("job_id", "status", "done", "total")})
                last_sent = time.monotonic()
                if job["status"] == DONE:
                    yield sse("done", {"job_id": job_id, "run_id": job["run_id"],
                                       "links": links(job_id, job["run_id"])})
                    return
                if job["status"] == FAILED:
                    yield sse("failed", {"job_id": job_id, "error": job["error"]})
                    return
            elif time.monotonic() - last_sent >= settings.live_sse_keepalive_s:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            if await request.is_disconnected():
                return  # the job itself runs on
            await asyncio.sleep(POLL_S)
            job = await run_in_threadpool(state.jobs.store.get, job_id, principal.site)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
