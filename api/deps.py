"""Typed dependencies for the routes: everything heavy is built in ``lifespan`` on ``app.state``."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_state(request: Request) -> Any:
    """The application state object that ``lifespan`` filled."""
    return request.app.state


def get_store(request: Request):
    """The run store (``api.store.RunStore``)."""
    return request.app.state.store


def get_prediction_log(request: Request):
    """The batched prediction-log writer (``api.prediction_log.PredictionLogWriter``)."""
    return request.app.state.prediction_log


StateDep = Annotated[Any, Depends(get_state)]
StoreDep = Annotated[Any, Depends(get_store)]
PredictionLogDep = Annotated[Any, Depends(get_prediction_log)]
