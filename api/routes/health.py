"""Liveness, readiness, metrics exposition and the latest drift report."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pydantic import BaseModel

from api.auth import PUBLIC, Viewer, require_own_site
from api.deps import SettingsDep, StateDep
from api.openapi_docs import NOT_FOUND_RESPONSE, RETRY_AFTER_HEADER
from api.metrics import FileFactsCollector
from training.registry import site_registry_root

router = APIRouter(tags=["operations"])

#: Seconds a client should wait before asking again while the service warms up.
READY_RETRY_AFTER_S = 5


@router.get("/health", dependencies=[PUBLIC])
async def health() -> dict:
    """200 while the process lives (even while it warms up); answered on the event loop, no thread hop."""
    return {"status": "ok"}


class Ready(BaseModel):
    """200: the champion is loaded and the simulator pool is warm."""

    status: str
    champion: str
    workers: int | None


class NotReady(BaseModel):
    """503: still starting (``phase`` says where) or start-up failed (``detail`` says why)."""

    status: str
    phase: str
    detail: str | None


@router.get("/ready", dependencies=[PUBLIC], response_model=Ready, responses={
    503: {"model": NotReady, "headers": RETRY_AFTER_HEADER, "description": "Starting, or start-up failed."}})
async def ready(state: StateDep) -> JSONResponse:
    """200 once the champion is loaded and the simulator pool is warm, else 503."""
    if state.ready and state.served is not None:
        return JSONResponse({"status": "ready", "champion": state.served.version,
                             "workers": getattr(state.executor, "workers", None)})
    body = {"status": "error" if state.startup_error else "starting", "phase": state.startup_phase,
            "detail": state.startup_error}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(READY_RETRY_AFTER_S)})


@router.get("/metrics", include_in_schema=False, dependencies=[PUBLIC])
def metrics(state: StateDep, settings: SettingsDep) -> Response:
    """Prometheus exposition; with several workers, every worker's values aggregated."""
    from api.settings import multiprocess_dir

    mp_dir = multiprocess_dir()
    if mp_dir is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(mp_dir))
        registry.register(FileFactsCollector(site_registry_root(settings.models_dir, settings.site),
                                             settings.logs_dir))
        if getattr(state, "live", None) is not None:
            from api.live import LiveCollector

            registry.register(LiveCollector(state.live))
    else:
        registry = state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/drift/latest", responses={404: NOT_FOUND_RESPONSE})
def drift_latest(settings: SettingsDep, principal: Viewer) -> dict:
    """The latest drift report's summary (written by ``python -m training.drift``)."""
    from training.drift import read_latest

    require_own_site(principal, settings, "drift report")
    report = read_latest(settings.logs_dir)
    if report is None:
        raise HTTPException(404, detail="no drift report yet: run python -m training.drift")
    return report
