"""A stored run as a download: GET /runs/{run_id}/export.xlsx and GET /runs/{run_id}/export.csv."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import Viewer
from api.deps import StoreDep
from api.routes.plots import RUN_ID_PATTERN
from api.run_export import XLSX_MEDIA_TYPE, run_csv, run_xlsx

router = APIRouter(prefix="/runs", tags=["runs"])

_NOT_FOUND = {404: {"description": "No stored run with this id"}}


def _run(store, run_id: str, site: str) -> dict:
    run = store.get_run(run_id, site=site) if RUN_ID_PATTERN.fullmatch(run_id) else None
    if run is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return run


def _attachment(run_id: str, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="mineops-run-{run_id}.{suffix}"'}


@router.get("/{run_id}/export.xlsx", response_class=Response,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The run as a workbook"}, **_NOT_FOUND})
async def export_xlsx(run_id: str, store: StoreDep, principal: Viewer) -> Response:
    """The run as XLSX: Summary, Top 3 (means and 95% intervals), All strategies, Request."""
    run = await run_in_threadpool(_run, store, run_id, principal.site)
    body = await run_in_threadpool(run_xlsx, run)
    return Response(body, media_type=XLSX_MEDIA_TYPE, headers=_attachment(run_id, "xlsx"))


@router.get("/{run_id}/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "Every strategy of the run"}, **_NOT_FOUND})
async def export_csv(run_id: str, store: StoreDep, principal: Viewer) -> Response:
    """Every strategy of the run as CSV (rank, counts, profit/production/queue means and 95% intervals)."""
    run = await run_in_threadpool(_run, store, run_id, principal.site)
    return Response(run_csv(run), media_type="text/csv; charset=utf-8", headers=_attachment(run_id, "csv"))
