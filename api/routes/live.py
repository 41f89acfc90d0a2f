"""GET /live/kpis (+ /stream, SSE): the current shift's KPIs from the speed layer; GET /live/shifts: history."""
from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from api.auth import Viewer, visible_site
from api.deps import SettingsDep, StateDep
from live.kpis import parse_shift_key

router = APIRouter(prefix="/live", tags=["live"])

#: Seconds a client should wait after a 202 "warming" (the workers have not written a snapshot yet).
WARMING_RETRY_AFTER_S = 5
#: Seconds the stream waits for a published snapshot before checking the client and the keep-alive.
POLL_S = 1.0
NOT_CONFIGURED = "live ingestion is not configured: set MINEOPS_REDIS_URL and run python -m live.worker"

_NOT_CONFIGURED_RESPONSE = {503: {"description": NOT_CONFIGURED,
                                  "content": {"application/json": {"example": {"detail": NOT_CONFIGURED}}}}}
_KPI_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The snapshot: site, shift, shift_start, generated_at, ttl_seconds, version, "
                         "age_seconds, stale and data (tonnes, plan_tonnes, plan_attainment_pct, loads, cycles, "
                         "mean_cycle_time_min, mean_queue_time_min, trucks_working, fuel_l_per_tonne)"},
    202: {"description": "No snapshot yet for this shift (the workers have not counted a cycle of it)",
          "content": {"application/json": {"example": {"status": "warming",
                                                       "retry_after_seconds": WARMING_RETRY_AFTER_S}}}},
    422: {"description": "shift is not YYYY-MM-DD/SHIFT_n"},
    **_NOT_CONFIGURED_RESPONSE,
}

SiteQuery = Query(None, description="Site (default: this deployment's, MINEOPS_SITE)")
ShiftQuery = Query(None, description="Shift as YYYY-MM-DD/SHIFT_n (mine-local start date); "
                                     "default: the site's latest shift with events, i.e. the current one")


def warming() -> JSONResponse:
    return JSONResponse({"status": "warming", "retry_after_seconds": WARMING_RETRY_AFTER_S}, status_code=202,
                        headers={"Retry-After": str(WARMING_RETRY_AFTER_S)})


def _live(state: Any, shift: str | None) -> Any:
    """The live service for a KPI query: 503 (HTTPException) when live ingestion is not configured, 422 when
    ``shift`` is not ``YYYY-MM-DD/SHIFT_n``."""
    live = getattr(state, "live", None)
    if live is None:
        raise HTTPException(status_code=503, detail=NOT_CONFIGURED)
    if shift is not None:
        try:
            parse_shift_key(shift)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=[
                {"loc": ["query", "shift"], "msg": str(exc), "type": "value_error"}]) from exc
    return live


@router.get("/kpis", responses=_KPI_RESPONSES)
async def live_kpis(state: StateDep, settings: SettingsDep, principal: Viewer, site: str | None = SiteQuery,
                    shift: str | None = ShiftQuery) -> Any:
    """The shift's KPI snapshot, or 202 warming while there is none."""
    site = visible_site(principal, site, settings.site)
    live = _live(state, shift)
    snap = await run_in_threadpool(live.snapshot, site, shift)
    return warming() if snap is None else JSONResponse(snap)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/kpis/stream", responses={200: {"description": "text/event-stream: `event: init` with the current "
                                                            "snapshot (or the warming status), then `event: update` "
                                                            "with each new snapshot of the site (of `shift` when "
                                                            "given), and `: keep-alive` comments about every 15 s",
                                             "content": {"text/event-stream": {}}},
                                       422: {"description": "shift is not YYYY-MM-DD/SHIFT_n"},
                                       **_NOT_CONFIGURED_RESPONSE})
async def live_kpis_stream(request: Request, state: StateDep, settings: SettingsDep, principal: Viewer,
                           site: str | None = SiteQuery, shift: str | None = ShiftQuery) -> Any:
    """Server-sent events of the site's KPI snapshots as the workers write them."""
    site = visible_site(principal, site, settings.site)
    live = _live(state, shift)

    async def events():
        async with live.subscription() as updates:  # subscribed before the snapshot is read: nothing falls between
            snap = await run_in_threadpool(live.snapshot, site, shift)
            yield _sse("init", snap if snap is not None else {"status": "warming",
                                                               "retry_after_seconds": WARMING_RETRY_AFTER_S})
            last_sent = time.monotonic()
            while not await request.is_disconnected():
                item = await updates.next(timeout_s=POLL_S)
                if item is not None and item.get("site") == site and (shift is None or item.get("shift") == shift):
                    yield _sse("update", item)
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= settings.live_sse_keepalive_s:
                    yield ": keep-alive\n\n"
                    last_sent = time.monotonic()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


#: Shifts the history returns by default (a week of three shifts a day).
DEFAULT_HISTORY_SHIFTS = 21
#: Most shifts one history request may ask for (a quarter of three shifts a day).
MAX_HISTORY_SHIFTS = 300


@router.get("/shifts", responses={200: {"description": "site, speed_layer {status: fresh|stale|warming|unavailable, "
                                                       "age_seconds, ttl_seconds}, shifts (newest first, each "
                                                       "with source speed or batch and the KPIs in data), and "
                                                       "fallback when the speed layer is stale or down"}})
async def live_shifts(state: StateDep, settings: SettingsDep, principal: Viewer, site: str | None = SiteQuery,
                      limit: int = Query(DEFAULT_HISTORY_SHIFTS, ge=1, le=MAX_HISTORY_SHIFTS,
                                         description="How many of the latest shifts")) -> Any:
    """Shift history: the batch layer's aggregates merged with the speed layer's current shift."""
    from live.history import shift_history

    site = visible_site(principal, site, settings.site)
    live = getattr(state, "live", None)
    speed = live.speed if live is not None else None
    return await run_in_threadpool(shift_history, state.store.engine, speed, site, limit)
