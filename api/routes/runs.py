"""Stored runs: GET /runs/{run_id} (the whole run) and GET /runs?limit=N (newest, without results)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from api.auth import Viewer
from api.deps import StoreDep
from api.openapi_docs import NOT_FOUND_RESPONSE

router = APIRouter(prefix="/runs", tags=["runs"])

#: Most runs one GET /runs returns.
MAX_LIST_LIMIT = 200
#: Runs GET /runs returns when no limit is given.
DEFAULT_LIST_LIMIT = 20


class RunSummary(BaseModel):
    """A stored run without its result body."""

    run_id: str
    created_at: str
    model_version: str
    site: str
    request: Any
    timings: dict[str, Any]


class Run(RunSummary):
    """A stored run: the request, the result, the model version and the timings."""

    result: Any


@router.get("/{run_id}", response_model=Run, responses={404: NOT_FOUND_RESPONSE})
def get_run(run_id: str, store: StoreDep, principal: Viewer) -> dict[str, Any]:
    """The stored run of the caller's site, or 404 (also for another site's run)."""
    run = store.get_run(run_id, site=principal.site)
    if run is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return run


@router.get("", response_model=list[RunSummary])
def list_runs(store: StoreDep, principal: Viewer,
              limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT) -> list[dict[str, Any]]:
    """The caller's site's newest runs first, without their result bodies."""
    return store.recent_runs(limit, site=principal.site)
