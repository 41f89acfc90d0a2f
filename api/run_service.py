"""The run service: admission, the simulation, storage and metrics of one strategies run.

``POST /get_top_3_strategies`` and the chat's what-if tool both run a parsed
:class:`~simulator.scenario.RequestSpec` through :meth:`RunService.run`; routes only translate HTTP
(``Busy`` -> 503 with ``Retry-After``, ``SpecError`` -> 422). The service

1. admits the run or raises :class:`Busy` (warming up, or ``settings.sim_queue_limit`` runs in flight);
2. runs it on the champion captured at admission (in-flight runs finish on the version they started
   with), on the local pool, or on the Dask cluster for a grid above the local limit when one is
   configured (such grids come as background jobs, ``api.jobs``, which report progress);
3. for a recorded run (the route's): presents it (``api.presenters.top3_response``), submits the
   prediction log, stores request and response in the run store, and updates the run metrics.
   The what-if is not recorded (it is part of a chat), but its simulations are counted.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.notify import publish_vessel_risk
from api.presenters import top3_response
from api.ranking_cache import grid_limit
from api.tracing import traced
from simulator.dask_executor import cluster_settings, executor_for, requested_simulations
from simulator.engine import RunResult, run_request, simulation_defaults
from simulator.executor import Progress
from simulator.scenario import RequestSpec, SimulationParams, SpecError
from training.features import FEATURE_COLUMNS, PREDICTION_COLUMNS, Fleet

log = logging.getLogger(__name__)

#: Seconds a client should wait after a 503 because the simulator is busy.
BUSY_RETRY_AFTER_S = 2
#: Seconds a client should wait after a 503 because the service is warming up.
WARMING_RETRY_AFTER_S = 5
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


class Busy(Exception):
    """The run was not admitted; ``retry_after_s`` is what the client should wait."""

    def __init__(self, detail: str, retry_after_s: int, reason: str):
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.reason = reason  # "not_ready" | "rejected" (the simulation_requests label)


@dataclass(frozen=True)
class Run:
    """A finished run: the simulator's numbers and, when recorded, the response that was stored."""

    result: RunResult
    response: dict[str, Any] | None = None
    warnings: tuple[str, ...] = field(default=())


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


def prediction_rows(table: Any) -> Any:
    """The context table as prediction-log rows (features + the model's outputs)."""
    out = table[list(FEATURE_COLUMNS)].copy()
    out["predicted_payload_t"] = table["payload_t"].to_numpy()
    out["predicted_fuel_l"] = table["fuel_l"].to_numpy()
    out["predicted_delay_probability"] = table["delay_probability"].to_numpy()
    return out[list(FEATURE_COLUMNS + PREDICTION_COLUMNS)]


class RunService:
    """Runs specs for the routes of one application (``state`` is its ``app.state``: see ``api.deps.AppState``)."""

    def __init__(self, state: Any):
        self.state = state

    def defaults(self) -> SimulationParams:
        """The settings' default shift length, replications and seed (what a body leaves out)."""
        return simulation_defaults(self.state.settings)

    def admit(self, count_rejection: bool = True) -> Any:
        """The served champion if a run may start now, else :class:`Busy`."""
        state, settings = self.state, self.state.settings
        if not state.ready:
            busy = Busy(f"warming up ({state.startup_phase}); retry shortly", WARMING_RETRY_AFTER_S, "not_ready")
        elif state.inflight >= settings.sim_queue_limit:
            busy = Busy(f"simulator busy: {state.inflight} requests in progress (limit {settings.sim_queue_limit})",
                        BUSY_RETRY_AFTER_S, "rejected")
        else:
            return state.served
        if count_rejection:
            state.metrics.simulation_requests.labels(busy.reason).inc()
        raise busy

    def simulate(self, spec: RequestSpec, served: Any, progress: Progress | None = None) -> RunResult:
        """Run ``spec`` on ``served`` (blocking: call it in a worker thread; the pool does the CPU work).

        A grid above the synchronous limit (a background job's: ``api.jobs``) runs on the Dask cluster
        when one is configured, else on the local pool up to ``sim_max_job_simulations``."""
        state, settings = self.state, self.state.settings
        export = state.fleet_cache.get()
        cluster = executor_for(settings, requested_simulations(spec))
        if cluster is not None:
            limits = cluster_settings(settings)
        elif requested_simulations(spec) > settings.sim_max_grid_simulations:
            limits = settings.model_copy(update={"sim_max_grid_simulations": grid_limit(settings)})
        else:
            limits = settings
        try:
            with small_batch_predict(state):
                return run_request(spec, bundle=served.bundle, fleet=Fleet.from_export(export),
                                   executor=traced(cluster or state.executor), settings=limits,
                                   sailing_schedules=export.sailing_schedules, vessels=export.vessels,
                                   progress=progress)
        finally:
            if cluster is not None:
                cluster.close()

    async def run(self, spec: RequestSpec, *, request: dict[str, Any] | None = None,
                  warnings: tuple[str, ...] | list[str] = (), record: bool = True, site: str | None = None,
                  served: Any = None, progress: Progress | None = None) -> Run:
        """Admit, simulate and (``record``) present, log, store and count one run.

        Raises :class:`Busy` (not admitted) or ``SpecError`` (a field the fleet or the limits refuse).
        ``request`` is the body as the client sent it (stored beside the response); ``warnings`` are
        the request's own (unknown fields), listed before the model's in the response; ``site``: the
        caller's site (the stored run belongs to it; its vessel-risk notification); ``served``: the
        champion admitted by the caller (default: admit now); ``progress(n)``: told in the simulating thread
        each time ``n`` more replications finished (a background job's progress).
        """
        state = self.state
        metrics = state.metrics
        served = served if served is not None else self.admit(count_rejection=record)
        state.inflight += 1
        metrics.queue_depth.set(state.inflight)
        started = time.perf_counter()
        try:
            result = await run_in_threadpool(self.simulate, spec, served, progress)
        except SpecError:
            if record:
                metrics.simulation_requests.labels("invalid").inc()
            raise
        except Exception:
            if record:
                metrics.simulation_requests.labels("error").inc()
            raise
        finally:
            state.inflight -= 1
            metrics.queue_depth.set(state.inflight)
        metrics.simulations.inc(result.simulations)
        metrics.predictions.inc(len(result.context_table))
        if not record:
            return Run(result=result, warnings=tuple(warnings))
        response = top3_response(result, request_warnings=tuple(warnings))
        state.prediction_log.submit(result.run_id, result.model_version, prediction_rows(result.context_table))
        dropped = state.prediction_log.dropped
        if dropped > state.dropped_seen:
            metrics.prediction_log_dropped.inc(dropped - state.dropped_seen)
            state.dropped_seen = dropped
        saved_site = {} if site is None else {"site": site}
        await run_in_threadpool(state.store.save_run, result.run_id, request=request, result=response,
                                model_version=result.model_version, timings=response["timings_s"], **saved_site)
        if site is not None:
            await run_in_threadpool(publish_vessel_risk, result, state.settings, site)
        metrics.simulation_requests.labels("ok").inc()
        metrics.simulation_seconds.observe(time.perf_counter() - started)
        metrics.grid_simulations.observe(result.simulations)
        best = result.ranked[0].metrics
        metrics.best_profit.set(best["profit_idr"].mean)
        metrics.best_production.set(best["production_t"].mean)
        metrics.best_fuel_ratio.set(best["fuel_ratio_l_per_t"].mean)
        metrics.best_queue_hours.set(best["queue_hours"].mean)
        log.info("strategies run %s: %d simulations on %s in %.2f s", result.run_id, result.simulations,
                 result.model_version, time.perf_counter() - started,
                 extra={"run_id": result.run_id, "model_version": result.model_version})
        return Run(result=result, response=response, warnings=tuple(warnings))
