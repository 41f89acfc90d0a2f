"""Read-only master data for the planner: GET /master/roads, /excavators, /vessels, /schedules.

The same lists the planner page's form is built from (``api.web.master``), so a client can pick a
haul road, a loading unit or a vessel schedule by name and send its id in ``fixed_conditions``.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.auth import Principal, Viewer, require_own_site
from api.deps import StateDep
from api.web import master
from training.dataset import Export

router = APIRouter(prefix="/master", tags=["master data"],
                   responses={503: {"description": "The fleet's export cannot be read (the detail says why)"}})


def _export(state, principal: Principal) -> Export:
    require_own_site(principal, state.settings, "master data")  # the fleet files are this deployment's site
    try:
        return state.fleet_cache.get()
    except Exception as exc:  # a bad export is reported, not a 500
        raise HTTPException(status_code=503, detail=f"fleet export unreadable: {type(exc).__name__}: {exc}") from exc


@router.get("/roads")
def get_roads(state: StateDep, principal: Viewer) -> list[dict[str, Any]]:
    """Active haul road segments by code (``id`` goes to ``fixed_conditions.target_road_id``)."""
    return master.roads(_export(state, principal))


@router.get("/excavators")
def get_excavators(state: StateDep, principal: Viewer) -> list[dict[str, Any]]:
    """Active loading units by code (``id`` goes to ``fixed_conditions.target_excavator_id``)."""
    return master.excavators(_export(state, principal))


@router.get("/vessels")
def get_vessels(state: StateDep, principal: Viewer) -> list[dict[str, Any]]:
    """Vessels by name (``id`` goes to ``POST /add_schedule``'s ``vesselId``)."""
    return master.vessels(_export(state, principal))


@router.get("/schedules")
def get_schedules(state: StateDep, principal: Viewer, upcoming: bool = False) -> list[dict[str, Any]]:
    """Sailing schedules with their vessel's name, ETA and tonnage; upcoming first by ETA.

    ``?upcoming=true`` leaves out schedules whose loading deadline has passed. ``id`` goes to
    ``fixed_conditions.target_schedule_id``.
    """
    rows = master.schedules(_export(state, principal))
    return [r for r in rows if r["upcoming"]] if upcoming else rows
