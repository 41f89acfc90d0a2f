"""The FastAPI application: lifespan (warm-up, hot reload, probes), routers, metrics.

Start-up never blocks the event loop: ``/health`` answers at once while a background thread makes
the service ready (generates the sample mine and trains a baseline on an empty checkout, loads
the champion and the fleet, warms the simulator pool). ``/ready`` answers 503 until then.
A watcher polls the registry's champion pointer and swaps the served model without a restart;
requests keep the ``ServedModel`` they started with, so in-flight work finishes on its version.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as instrumentator_metrics

from api.audit import AuditMiddleware
from api.auth import Authenticator, check_auth_mode
from api.logging_setup import RequestIdMiddleware, configure_logging
from api.ratelimit import RateLimiter
from api.tracing import TracingMiddleware, setup_tracing
from api.metrics import LATENCY_BUCKETS_S, FileFactsCollector, Metrics
from api.openapi_docs import document_bad_bodies
from api.prewarm import prewarm, prewarm_when_ready
from api.run_service import RunService
from api.settings import Settings, get_settings
from training.bundle import ModelBundle, load_version
from training.cli import Paths
from training.dataset import Export, load_master
from training.features import Fleet
from training.registry import Registry, site_registry_root

log = logging.getLogger(__name__)

#: Files whose change makes the service re-read the fleet (master tables, vessels, schedules).
FLEET_FILES: tuple[str, ...] = ("trucks.csv", "excavators.csv", "operators.csv", "road_segments.csv",
                                "maintenance_logs.csv", "vessels.csv", "sailing_schedules.csv")

#: Seconds shutdown waits for an unfinished warm-up (bootstrap training can take minutes; it is a
#: daemon thread, and closes the simulator pool it starts once it sees the service stopping).
SHUTDOWN_WARM_UP_WAIT_S = 5.0


@dataclass(frozen=True)
class ServedModel:
    """The champion a request runs on (captured once per request)."""

    version: str
    bundle: ModelBundle


class FleetCache:
    """The fleet's master tables, re-read only when one of their files changes."""

    def __init__(self, data_dir: Path, quarantine_dir: Path, max_bad_share: float):
        self.data_dir = Path(data_dir)
        self.quarantine_dir = Path(quarantine_dir)
        self.max_bad_share = max_bad_share
        self._key: tuple | None = None
        self._export: Export | None = None
        self._lock = threading.Lock()

    def _stamp(self) -> tuple:
        out = []
        for name in FLEET_FILES:
            try:
                st = (self.data_dir / name).stat()
                out.append((name, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append((name, None, None))
        return tuple(out)

    def get(self) -> Export:
        """The current export (master tables + vessels + schedules)."""
        key = self._stamp()
        with self._lock:
            if self._export is None or key != self._key:
                self._export = load_master(self.data_dir, quarantine_dir=self.quarantine_dir,
                                           max_bad_share=self.max_bad_share)
                self._key = key
            return self._export

    def fleet(self) -> Fleet:
        return Fleet.from_export(self.get())


def _bootstrap_lock(logs_dir: Path):
    """An exclusive file lock so several uvicorn workers do not bootstrap the same folders at once."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    fh = open(logs_dir / ".bootstrap.lock", "w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def _warm_up(app: FastAPI) -> None:
    """Make the service ready (runs in a background thread at start-up)."""
    state = app.state
    settings: Settings = state.settings
    paths = Paths(settings.data_dir, site_registry_root(settings.models_dir, settings.site), settings.logs_dir)
    try:
        started = time.perf_counter()
        with _bootstrap_lock(paths.logs):
            from training.bootstrap import ensure_baseline

            state.startup_phase = "bootstrap"
            ensure_baseline(paths, settings)
        state.startup_phase = "loading model"
        registry = Registry(paths.models)
        version = registry.champion()
        state.served = ServedModel(version, load_version(registry, version))
        state.metrics.set_champion(version)
        from threadpoolctl import ThreadpoolController

        state.threadpools = ThreadpoolController()  # after the model's libraries (OpenMP) are loaded
        state.startup_phase = "loading fleet"
        state.fleet_cache.get()
        state.startup_phase = "warming simulator pool"
        from simulator.executor import LocalPoolExecutor

        executor = state.executor_factory(settings) if state.executor_factory else \
            LocalPoolExecutor(settings.effective_workers, settings=settings)
        with state.lifecycle_lock:
            if state.closing:  # the service stopped while the pool was starting: nobody else will close it
                executor.close()
                state.startup_phase = "stopped"
                return
            state.executor = executor
        state.ready = True
        state.startup_phase = "ready"
        log.info("ready: champion %s, %s simulator workers, %.1f s", version,
                 getattr(state.executor, "workers", "?"), time.perf_counter() - started)
    except Exception as exc:  # reported by /ready and the log; the process stays up for /health
        state.startup_error = f"{type(exc).__name__}: {exc}"
        state.startup_phase = "failed"
        log.exception("start-up failed: %s", exc)


def reload_champion_if_changed(app: FastAPI) -> str | None:
    """Swap the served model when the registry's champion changed; return the new version."""
    state = app.state
    if state.served is None:
        return None
    registry = Registry(site_registry_root(state.settings.models_dir, state.settings.site))
    try:
        version = registry.champion()
    except Exception as exc:  # a broken pointer must not take the service down
        log.error("champion pointer unreadable, keeping %s: %s", state.served.version, exc)
        return None
    if version is None or version == state.served.version:
        return None
    previous = state.served.version
    bundle = load_version(registry, version)
    state.served = ServedModel(version, bundle)
    state.metrics.set_champion(version, previous)
    state.metrics.model_reloads.inc()
    log.info("hot reload: champion %s -> %s", previous, version)
    return version


async def _watch_champion(app: FastAPI) -> None:
    while True:
        await asyncio.sleep(app.state.settings.model_reload_poll_s)
        try:
            promoted = await asyncio.to_thread(reload_champion_if_changed, app)
        except Exception:
            log.exception("hot reload failed; the previous champion keeps serving")
            continue
        if promoted is not None:  # every cached ranking is keyed on the old champion
            try:
                await prewarm(app)
            except Exception:
                log.exception("pre-warm after the promotion failed; the cache fills on demand")


async def _probe_ollama(app: FastAPI) -> None:
    while True:
        try:
            up = await app.state.chat.health()
        except Exception:
            up = False
        app.state.metrics.ollama_up.set(1 if up else 0)
        await asyncio.sleep(app.state.settings.ollama_probe_interval_s)


@asynccontextmanager
async def lifespan(app: FastAPI):
    state = app.state
    settings: Settings = state.settings
    from api.chat import ChatService
    from api.jobs import JobRunner, JobStore
    from api.live import LiveCollector, open_live
    from api.ranking_cache import RankingCache
    from api.prediction_log import PredictionLogWriter, default_csv_path
    from api.routes.chat import make_tool_handler
    from api.store import RunStore

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    state.store = RunStore.from_url(settings.effective_database_url)
    if state.tracer_provider is not None:
        from api.tracing import instrument_engine

        instrument_engine(state.store.engine)
    state.prediction_log = PredictionLogWriter(state.store, default_csv_path(settings.logs_dir))
    state.jobs = JobRunner(state, JobStore(state.store.engine))
    await state.jobs.start()  # fails the jobs a dead process left unfinished
    state.chat = ChatService.from_settings(settings, make_tool_handler(app),
                                           on_fallback=lambda reason: state.metrics.ollama_errors.labels(reason).inc())
    state.metrics.queue_limit.set(settings.sim_queue_limit)
    from api.notify import Dispatcher

    state.notifications = Dispatcher.from_settings(settings, state.metrics).start()
    state.live = open_live(settings)  # None without MINEOPS_REDIS_URL: live routes say "not configured"
    if state.live is not None:
        state.metrics.registry.register(LiveCollector(state.live))
    state.ranking_cache = RankingCache.from_settings(settings, state.live.aclient if state.live else None)
    from simulator.lifeline import stop_when_parent_dies

    stop_when_parent_dies()  # a worker of `python -m api --workers N` stops with its supervisor
    warm = threading.Thread(target=_warm_up, args=(app,), name="warm-up", daemon=True)
    warm.start()
    tasks = [asyncio.create_task(_watch_champion(app)), asyncio.create_task(_probe_ollama(app)),
             asyncio.create_task(prewarm_when_ready(app))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await state.jobs.close()  # its unfinished jobs are marked failed for whoever follows them
        with state.lifecycle_lock:  # a warm-up still running closes the pool it starts (see _warm_up)
            state.closing = True
            executor = state.executor
        await asyncio.to_thread(warm.join, SHUTDOWN_WARM_UP_WAIT_S)
        if executor is not None:
            executor.close()
        state.notifications.close()
        state.prediction_log.close()
        state.store.close()
        if state.tracer_provider is not None and state.tracer_provider is not state.given_tracer_provider:
            state.tracer_provider.shutdown()  # flushes the spans still batched for the OTLP exporter
        await state.chat.aclose()
        if state.live is not None:
            await state.live.aclose()


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 for a body or parameter that failed its model: FastAPI's shape, each ``msg`` naming the field.
    A strategies body refused here counts as an invalid simulation request, like one the fleet refuses."""
    from api.requests import validation_error_response
    from api.routes.strategies import PATH as STRATEGIES_PATH

    if request.url.path == STRATEGIES_PATH:
        request.app.state.metrics.simulation_requests.labels("invalid").inc()
    return validation_error_response(exc)


def create_app(settings: Settings | None = None, *, executor_factory: Any = None,
               tracer_provider: Any = None) -> FastAPI:
    """Build the application (``executor_factory(settings)`` lets tests inject an executor, and
    ``tracer_provider`` an OpenTelemetry provider; otherwise one is built when OTLP is configured)."""
    settings = settings or get_settings()
    check_auth_mode(settings.auth, settings.api_host)
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(title="Mining Ops AI", version="1.0",
                  description="Haulage strategy simulation, ranking and grounded explanations.",
                  lifespan=lifespan)
    state = app.state
    state.settings = settings
    state.ready = False
    state.startup_phase = "starting"
    state.startup_error = None
    state.served = None
    state.live = None
    state.executor = None
    state.executor_factory = executor_factory
    state.given_tracer_provider = tracer_provider
    state.tracer_provider = setup_tracing(settings, tracer_provider)
    state.threadpools = None  # threadpoolctl controller: caps OpenMP threads of a request's predict
    state.closing = False
    state.lifecycle_lock = threading.Lock()
    state.inflight = 0
    state.dropped_seen = 0
    state.fleet_cache = FleetCache(settings.data_dir, settings.quarantine_dir, settings.max_bad_row_share)
    state.metrics = Metrics(CollectorRegistry())
    state.metrics.registry.register(FileFactsCollector(site_registry_root(settings.models_dir, settings.site),
                                                       settings.logs_dir))
    state.runs = RunService(state)
    state.authenticator = Authenticator(settings)
    state.rate_limiter = RateLimiter.from_settings(settings)

    from api import audit
    from api.routes import chat, data, export, health, jobs, live, master, plots, runs, strategies, web

    app.dependency_overrides[get_settings] = lambda: settings
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for module in (health, strategies, jobs, chat, data, runs, plots, live, export, master, web, audit):
        document_bad_bodies(module.router.routes)
        app.include_router(module.router)
    web.mount_static(app)

    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"],
                   registry=state.metrics.registry).add(
        instrumentator_metrics.default(latency_lowr_buckets=LATENCY_BUCKETS_S, registry=state.metrics.registry)
    ).instrument(app)
    app.add_middleware(AuditMiddleware)
    if state.tracer_provider is not None:  # inside the request id, so spans and logs carry it
        app.add_middleware(TracingMiddleware, provider=state.tracer_provider)
    app.add_middleware(RequestIdMiddleware)  # outermost: the audit row and every log line carry the id
    return app
