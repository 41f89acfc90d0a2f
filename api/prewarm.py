"""Pre-warm the ranking cache for the current shift, at start-up and after a promotion.

The dashboards re-render the requests planners made for the shift in progress; after the service
starts (empty in-process cache) or a new champion changes every key, the first re-render would
wait for a full simulation. So once the service is ready, and after each hot reload, the latest
distinct stored requests whose ``fixed_conditions.shift`` is the shift now running on the mine's
clock are run again through the strategies route (same admission, run store and cache), at most
``MINEOPS_CACHE_PREWARM_REQUESTS`` of them, one after the other. They take the simulator pool like
any request, so a user arriving meanwhile may wait or see 503 + Retry-After.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from api.auth import Principal, Role
from live.kpis import current_shift_key
from pydantic import ValidationError

from simulator.request import StrategiesRequest
from simulator.scenario import SpecError
from training.schema import normalise_shift

log = logging.getLogger(__name__)

#: Stored runs looked at to find them (newest first).
PREWARM_LOOKBACK_RUNS = 50
#: Seconds between checks of the service's readiness before the start-up pre-warm.
READY_POLL_S = 0.5


def requests_to_warm(runs: list[dict[str, Any]], shift: str, limit: int) -> list[dict]:
    """The newest distinct request bodies of ``runs`` (newest first) planned for ``shift``."""
    out: list[dict] = []
    seen: set[str] = set()
    for run in runs:
        body = run.get("request")
        try:
            planned = normalise_shift(body["fixed_conditions"]["shift"])
        except (KeyError, TypeError, ValueError):
            continue
        marker = repr(sorted(body.items(), key=lambda kv: kv[0])) if isinstance(body, dict) else ""
        if planned != shift or marker in seen:
            continue
        seen.add(marker)
        out.append(body)
        if len(out) == limit:
            break
    return out


async def prewarm(app: Any, now: datetime | None = None) -> int:
    """Run the current shift's recent requests through the strategies route; return how many were stored."""
    from api.routes.strategies import get_top_3_strategies

    state = app.state
    cache = getattr(state, "ranking_cache", None)
    limit = state.settings.cache_prewarm_requests
    if cache is None or not cache.enabled or not state.ready or limit == 0:
        return 0
    shift = current_shift_key(now or datetime.now(timezone.utc)).split("/")[-1]
    site = state.settings.site
    runs = await asyncio.to_thread(state.store.recent_runs, PREWARM_LOOKBACK_RUNS, site)
    principal = Principal(subject="ranking-cache-prewarm", role=Role.planner, site=site, via="internal")
    warmed = 0
    for body in requests_to_warm(runs, shift, limit):
        try:
            key = cache.key(body, state.served.version)
        except SpecError:
            continue
        if await cache.get(key) is not None:
            continue  # still cached (a restart with Redis keeps the entries)
        try:
            parsed = StrategiesRequest.model_validate(body)
        except ValidationError:
            continue
        response = await get_top_3_strategies(state, state.settings, principal, parsed, cache_control="no-cache")
        if getattr(response, "status_code", 500) == 200:
            warmed += 1
    if warmed:
        log.info("pre-warmed %d ranking(s) for %s", warmed, shift)
    return warmed


async def prewarm_when_ready(app: Any) -> None:
    """The start-up pre-warm: waits for readiness, then warms once."""
    while not app.state.ready:
        if app.state.startup_error:
            return
        await asyncio.sleep(READY_POLL_S)
    try:
        await prewarm(app)
    except Exception:
        log.exception("start-up pre-warm failed; the cache fills on demand")
