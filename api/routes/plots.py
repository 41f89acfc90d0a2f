"""A study's plots: GET /runs/{run_id}/plots (the list) and GET /runs/{run_id}/plots/{name} (one file).

Files come from ``<logs>/studies/<run_id>/plots/`` as ``python -m simulator.study`` wrote them. Only a
name present in that folder is served (no path is ever built from the request beyond the run id,
which must be a plain identifier), so ``..`` or an absolute path cannot reach another file.
"""
from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.auth import Viewer, require_own_site
from api.deps import SettingsDep
from api.openapi_docs import NOT_FOUND_RESPONSE
from simulator.plots import MEDIA_TYPES, list_plots
from simulator.study import plots_folder

router = APIRouter(prefix="/runs", tags=["plots"])

#: A run id as the study and the API write them (hex, hyphens, underscores; no dots or slashes).
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def _plots(run_id: str, settings, principal) -> dict:
    require_own_site(principal, settings, f"run {run_id!r}")  # studies run on this deployment's site
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
    files = list_plots(plots_folder(settings.logs_dir, run_id))
    if not files:
        raise HTTPException(status_code=404, detail=f"run {run_id} has no plots")
    return files


@router.get("/{run_id}/plots", responses={404: NOT_FOUND_RESPONSE})
def get_plot_list(run_id: str, settings: SettingsDep, principal: Viewer) -> dict[str, list[str]]:
    """The plot files of a study (PNG and interactive HTML), or 404."""
    return {"plots": sorted(_plots(run_id, settings, principal))}


@router.get("/{run_id}/plots/{name}", response_class=FileResponse, responses={
    200: {"description": "The file.", "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                                  for media in sorted(set(MEDIA_TYPES.values()))}},
    404: NOT_FOUND_RESPONSE})
def get_plot(run_id: str, name: str, settings: SettingsDep, principal: Viewer) -> FileResponse:
    """One plot file of a study (``fleet_size.png``, ``pareto.html``, ...), or 404."""
    path = _plots(run_id, settings, principal).get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} has no plot {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix])
