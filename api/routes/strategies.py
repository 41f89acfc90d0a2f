"""POST /get_top_3_strategies: the prototype's body in, ranked strategies with CIs out.

The body is parsed once, by its model (``simulator.request.StrategiesRequest``); the run service
(``api.run_service``) does admission, the run, storage and metrics. This route translates HTTP:
the caller's site (``api.auth``), the ranking cache (``X-Cache``), a grid above the synchronous
limit -> 202 and a background job (``api.jobs``, followed at ``/jobs/{id}``), ``Busy`` -> 503 with
Retry-After, ``SpecError`` -> 422 naming the field.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header, Response
from fastapi.responses import JSONResponse

from api.auth import require_own_site
from api.deps import SettingsDep, StateDep
from api.openapi_docs import BUSY_RESPONSE, INVALID_RESPONSE
from api.presenters import StrategiesResponse
from api.ratelimit import HeavyPlanner
from api.requests import LEGACY_EXAMPLE, REF_A_EXAMPLE, StrategiesRequest
from api.ranking_cache import grid_limit, sync_limit
from api.routes.jobs import JobAccepted, accepted
from api.run_service import BUSY_RETRY_AFTER_S, Busy
from api.schemas import spec_error_response
from simulator.scenario import SpecError

router = APIRouter(tags=["strategies"])

PATH = "/get_top_3_strategies"
MODEL_VERSION_HEADER = "X-Model-Version"
#: hit: the ranking came from the cache (same body and run_id as the first answer); miss: simulated now.
CACHE_HEADER = "X-Cache"


def cache_lookup_key(cache: Any, body: Any, champion: str) -> str | None:
    """The ranking-cache key of ``body``, or None when the cache is off or the body is invalid (the
    run then answers the 422 naming the field)."""
    if cache is None or not cache.enabled:
        return None
    try:
        return cache.key(body, champion)
    except SpecError:
        return None


async def submit_job(state: Any, spec: Any, sent: dict, warnings: tuple[str, ...], site: str, served: Any,
                     key: str | None) -> JSONResponse:
    """202 with ``Location: /jobs/{id}``; ``Busy`` when this process already holds ``sim_queue_limit`` jobs."""
    jobs = state.jobs
    if jobs.active >= state.settings.sim_queue_limit:
        state.metrics.simulation_requests.labels("rejected").inc()
        raise Busy(f"job queue full: {jobs.active} jobs queued or running (limit {state.settings.sim_queue_limit})",
                   BUSY_RETRY_AFTER_S, "rejected")
    job = await jobs.submit(spec, request=sent, warnings=tuple(warnings), site=site, served=served, cache_key=key)
    location = f"/jobs/{job['job_id']}"
    return JSONResponse(accepted(job), status_code=202, headers={"Location": location})


def busy(exc: Busy) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=503, headers={"Retry-After": str(exc.retry_after_s)})


@router.post(PATH, response_model=StrategiesResponse, responses={
    200: {"headers": {MODEL_VERSION_HEADER: {"description": "The champion version that answered.",
                                             "schema": {"type": "string"}},
                      CACHE_HEADER: {"description": "`hit` or `miss` when the ranking cache is on.",
                                     "schema": {"type": "string"}}}},
    202: {"model": JobAccepted, "description": "The grid is above the synchronous limit "
                                               "(MINEOPS_SIM_MAX_GRID_SIMULATIONS scenarios x replications): it runs "
                                               "as a background job; follow `Location` (GET /jobs/{id}, and "
                                               "/jobs/{id}/events for progress over SSE)",
          "headers": {"Location": {"description": "The job: /jobs/{id}", "schema": {"type": "string"}}}},
    422: INVALID_RESPONSE, 503: BUSY_RESPONSE})
async def get_top_3_strategies(state: StateDep, settings: SettingsDep, principal: HeavyPlanner,
                               body: StrategiesRequest = Body(..., openapi_examples={
                                   "legacy": {"summary": "The prototype dashboard's body "
                                                         "(contracts/legacy-top3-request.json)",
                                              "value": LEGACY_EXAMPLE},
                                   "ref-a": {"summary": "REF-A: 33 strategies x 30 replications (contracts/ref-a.json)",
                                             "value": REF_A_EXAMPLE}}),
                               cache_control: str | None = Header(
                                   None, alias="Cache-Control",
                                   description="no-cache: simulate even when a cached ranking exists "
                                               "(the new result replaces it)")) -> Any:
    """Simulate every (trucks x excavators) strategy and return the best three with CIs.

    A grid above the synchronous limit answers 202 with a job id and ``Location: /jobs/{id}``:
    ``GET /jobs/{id}`` gives its status and, when done, this same response (``result``);
    ``GET /jobs/{id}/events`` streams its progress. A repeat of a finished job's request is a cache hit.

    Unknown fields of the prototype's sections (top level, ``fixed_conditions``,
    ``decision_variables``) are ignored and listed in ``warnings``; unknown keys of
    ``financial_params``, ``simulation`` and ``network`` are a 422.
    """
    require_own_site(principal, settings, "site")  # the fleet and models served here are this site's
    service = state.runs
    sent = body.model_dump(mode="json", exclude_unset=True)
    try:
        served = service.admit()
        cache = getattr(state, "ranking_cache", None)
        key = cache_lookup_key(cache, sent, served.version)  # on the loop: concurrent requests reach admission together
        if key is not None and "no-cache" not in (cache_control or "").lower():
            stored = await cache.get(key)
            if stored is not None:
                state.metrics.cache_requests.labels("hit").inc()
                return Response(stored, media_type="application/json",
                                headers={CACHE_HEADER: "hit", MODEL_VERSION_HEADER: served.version})
        if key is not None:
            state.metrics.cache_requests.labels("miss").inc()
        spec = body.to_spec(service.defaults())
        if spec.simulations > sync_limit(settings):  # a long grid: 202 and a background job
            spec.check_limit(grid_limit(settings))
            return await submit_job(state, spec, sent, body.warnings(), principal.site, served, key)
        run = await service.run(spec, request=sent, warnings=body.warnings(), site=principal.site, served=served)
    except Busy as exc:
        return busy(exc)
    except SpecError as exc:
        return spec_error_response(exc)
    if key is not None and run.result.model_version == served.version:
        payload = await cache.put(key, run.response)
        return Response(payload, media_type="application/json",
                        headers={CACHE_HEADER: "miss", MODEL_VERSION_HEADER: run.result.model_version})
    return JSONResponse(run.response, headers={MODEL_VERSION_HEADER: run.result.model_version})
