"""POST /get_top_3_strategies: the prototype's body in, ranked strategies with CIs out."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, Body, Header, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import require_own_site
from api.deps import SettingsDep, StateDep
from api.notify import publish_vessel_risk
from api.ratelimit import HeavyPlanner
from api.tracing import traced
from api.presenters import top3_response
from api.schemas import STRATEGIES_EXAMPLE, spec_error_response
from simulator.dask_executor import cluster_settings, executor_for, requested_simulations
from simulator.engine import run_request
from simulator.scenario import SpecError
from training.features import FEATURE_COLUMNS, PREDICTION_COLUMNS

log = logging.getLogger(__name__)
router = APIRouter(tags=["strategies"])

#: Seconds a client should wait after a 503 (pool busy or warming up) before retrying.
BUSY_RETRY_AFTER_S = 2
MODEL_VERSION_HEADER = "X-Model-Version"
#: hit: the ranking came from the cache (same body and run_id as the first answer); miss: simulated now.
CACHE_HEADER = "X-Cache"
#: OpenMP threads the champion's predict may use in a request thread. The batch is small (one row per
#: truck-excavator pair, 45 for REF-A), so extra threads only add barrier waits, and those stall for
#: seconds when the cores are busy (measured on 2 loaded cores: predict 0.4-4.9 s with 2 threads,
#: 0.2-0.35 s with 1). The limit applies to the calling thread only (OpenMP's per-thread setting).
PREDICT_OPENMP_THREADS = 1
#: joblib backend of the request thread's predict: a random forest fitted with n_jobs=-1 otherwise
#: starts a thread pool per call and sums its trees in completion order, so the same request gave
#: numbers differing in the last bits; sequential is deterministic and faster on 45 rows (context
#: table on 2 loaded cores: 0.46 s default, 0.15 s with one OpenMP thread, 0.09 s with both limits).
PREDICT_JOBLIB_BACKEND = "sequential"


@contextlib.contextmanager
def small_batch_predict(state: Any):
    """Single-threaded, deterministic model calls in this thread (OpenMP and joblib; thread-local)."""
    from joblib import parallel_config

    threadpools = getattr(state, "threadpools", None)
    with contextlib.ExitStack() as stack:
        if threadpools is not None:
            stack.enter_context(threadpools.limit(limits=PREDICT_OPENMP_THREADS, user_api="openmp"))
        stack.enter_context(parallel_config(backend=PREDICT_JOBLIB_BACKEND))
        yield


def cache_lookup_key(cache: Any, body: Any, champion: str) -> str | None:
    """The ranking-cache key of ``body``, or None when the cache is off or the body is invalid (the
    run then answers the 422 naming the field)."""
    if not cache.enabled:
        return None
    try:
        return cache.key(body, champion)
    except SpecError:
        return None


def busy(detail: str, retry_after_s: int = BUSY_RETRY_AFTER_S) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after_s)})


def prediction_rows(table: Any) -> Any:
    """The context table as prediction-log rows (features + the model's outputs)."""
    out = table[list(FEATURE_COLUMNS)].copy()
    out["predicted_payload_t"] = table["payload_t"].to_numpy()
    out["predicted_fuel_l"] = table["fuel_l"].to_numpy()
    out["predicted_delay_probability"] = table["delay_probability"].to_numpy()
    return out[list(FEATURE_COLUMNS + PREDICTION_COLUMNS)]


def simulate(state: Any, settings: Any, body: dict, served: Any) -> Any:
    """Run the request on the captured champion (in a worker thread; the pool does the CPU work)."""
    export = state.fleet_cache.get()
    from training.features import Fleet

    # Grids above the local limit go to the Dask cluster when one is configured (else: 422 as usual).
    cluster = executor_for(settings, requested_simulations(body, settings))
    try:
        with small_batch_predict(state):
            return run_request(body, bundle=served.bundle, fleet=Fleet.from_export(export),
                               executor=traced(cluster or state.executor),
                               settings=cluster_settings(settings) if cluster else settings,
                               sailing_schedules=export.sailing_schedules, vessels=export.vessels)
    finally:
        if cluster is not None:
            cluster.close()


@router.post("/get_top_3_strategies")
async def get_top_3_strategies(state: StateDep, settings: SettingsDep, principal: HeavyPlanner,
                               body: dict = Body(..., examples=[STRATEGIES_EXAMPLE]),
                               cache_control: str | None = Header(
                                   None, alias="Cache-Control",
                                   description="no-cache: simulate even when a cached ranking exists "
                                               "(the new result replaces it)")) -> Any:
    """Simulate every (trucks x excavators) strategy and return the best three with CIs."""
    require_own_site(principal, settings, "site")  # the fleet and models served here are this site's
    metrics = state.metrics
    if not state.ready:
        metrics.simulation_requests.labels("not_ready").inc()
        return busy(f"warming up ({state.startup_phase}); retry shortly", 5)
    if state.inflight >= settings.sim_queue_limit:
        metrics.simulation_requests.labels("rejected").inc()
        return busy(f"simulator busy: {state.inflight} requests in progress (limit {settings.sim_queue_limit})")
    served = state.served  # in-flight requests finish on the version they started with
    cache = state.ranking_cache
    key = cache_lookup_key(cache, body, served.version)  # on the loop: concurrent requests reach admission together
    if key is not None and "no-cache" not in (cache_control or "").lower():
        stored = await cache.get(key)
        if stored is not None:
            metrics.cache_requests.labels("hit").inc()
            return Response(stored, media_type="application/json",
                            headers={CACHE_HEADER: "hit", MODEL_VERSION_HEADER: served.version})
    if key is not None:
        metrics.cache_requests.labels("miss").inc()
    state.inflight += 1
    metrics.queue_depth.set(state.inflight)
    started = time.perf_counter()
    try:
        result = await run_in_threadpool(simulate, state, settings, body, served)
    except SpecError as exc:
        metrics.simulation_requests.labels("invalid").inc()
        return spec_error_response(exc)
    except Exception:
        metrics.simulation_requests.labels("error").inc()
        raise
    finally:
        state.inflight -= 1
        metrics.queue_depth.set(state.inflight)
    response = top3_response(result)
    state.prediction_log.submit(result.run_id, result.model_version, prediction_rows(result.context_table))
    dropped = state.prediction_log.dropped
    if dropped > state.dropped_seen:
        metrics.prediction_log_dropped.inc(dropped - state.dropped_seen)
        state.dropped_seen = dropped
    await run_in_threadpool(state.store.save_run, result.run_id, request=body, result=response,
                            model_version=result.model_version, timings=response["timings_s"], site=principal.site)
    await run_in_threadpool(publish_vessel_risk, result, settings, principal.site)
    metrics.simulation_requests.labels("ok").inc()
    metrics.simulations.inc(result.simulations)
    metrics.simulation_seconds.observe(time.perf_counter() - started)
    metrics.grid_simulations.observe(result.simulations)
    metrics.predictions.inc(len(result.context_table))
    best = result.ranked[0].metrics
    metrics.best_profit.set(best["profit_idr"].mean)
    metrics.best_production.set(best["production_t"].mean)
    metrics.best_fuel_ratio.set(best["fuel_ratio_l_per_t"].mean)
    metrics.best_queue_hours.set(best["queue_hours"].mean)
    log.info("strategies run %s: %d simulations on %s in %.2f s", result.run_id, result.simulations,
             result.model_version, time.perf_counter() - started,
             extra={"run_id": result.run_id, "model_version": result.model_version})
    if key is not None and result.model_version == served.version:
        payload = await cache.put(key, response)
        return Response(payload, media_type="application/json",
                        headers={CACHE_HEADER: "miss", MODEL_VERSION_HEADER: result.model_version})
    return JSONResponse(response, headers={MODEL_VERSION_HEADER: result.model_version})
