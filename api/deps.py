"""Typed dependencies for the routes: everything heavy is built in ``lifespan`` on ``app.state``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast

from fastapi import Depends, Request

from api.prediction_log import PredictionLogWriter
from api.settings import Settings, get_settings
from api.store import RunStore

if TYPE_CHECKING:
    from api.app import FleetCache, ServedModel
    from api.chat import ChatService
    from api.jobs import JobRunner
    from api.metrics import Metrics
    from api.run_service import RunService

SettingsDep = Annotated[Settings, Depends(get_settings)]


class AppState(Protocol):
    """What ``create_app`` and ``lifespan`` put on ``app.state`` (the attributes routes may read)."""

    settings: Settings
    ready: bool
    startup_phase: str
    startup_error: str | None
    served: ServedModel | None  # the champion new runs use; swapped by the hot reload
    executor: Any  # the simulator's Executor (local pool), None until warm
    threadpools: Any  # threadpoolctl controller (caps OpenMP threads of a request's predict)
    inflight: int  # runs in progress (admission control)
    dropped_seen: int  # prediction-log rows dropped, as last reported to the metrics
    fleet_cache: FleetCache
    metrics: Metrics
    store: RunStore
    prediction_log: PredictionLogWriter
    chat: ChatService
    runs: RunService
    jobs: JobRunner  # background jobs of long grids (api.jobs)


def get_state(request: Request) -> AppState:
    """The application state object that ``create_app`` and ``lifespan`` filled."""
    return cast(AppState, request.app.state)


def get_store(request: Request) -> RunStore:
    """The run store (``api.store.RunStore``)."""
    return request.app.state.store


def get_prediction_log(request: Request) -> PredictionLogWriter:
    """The batched prediction-log writer (``api.prediction_log.PredictionLogWriter``)."""
    return request.app.state.prediction_log


StateDep = Annotated[AppState, Depends(get_state)]
StoreDep = Annotated[RunStore, Depends(get_store)]
PredictionLogDep = Annotated[PredictionLogWriter, Depends(get_prediction_log)]
