"""The prototype's data endpoints, same bodies and answers: POST /add_vessel, POST /add_schedule.

The prototype's ``GET /`` liveness answer lives in ``api.routes.web`` (beside the planner page).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from api.audit import audit_change
from api.auth import Admin, Principal, require_own_site
from api.deps import SettingsDep
from api.settings import Settings
from api.vessels import Created, FieldError, NewSchedule, NewVessel, add_schedule, add_vessel

router = APIRouter(tags=["data"])


def _append(kind: str, add: Callable[[Path, Any], str], item: BaseModel, settings: Settings,
            principal: Principal, request: Request) -> str:
    """Append ``item`` to this site's data with ``add`` and audit it; its new id. A value ``add`` refuses
    is a 422 in FastAPI's own validation-error shape, naming the field."""
    require_own_site(principal, settings, "site")
    try:
        new_id = add(settings.data_dir, item)
    except FieldError as exc:
        raise HTTPException(status_code=422, detail=[{
            "type": "value_error", "loc": ["body", exc.field], "msg": exc.message, "input": exc.value,
        }]) from exc
    audit_change(request, {"added": kind, "id": new_id, "values": item.model_dump(mode="json")})
    return new_id


@router.post("/add_vessel", response_model=Created)
def post_vessel(vessel: NewVessel, settings: SettingsDep, principal: Admin, request: Request) -> Created:
    """Add a vessel to data/vessels.csv (admins of this deployment's site; 422 for an implausible
    capacity or a name already taken)."""
    vessel_id = _append("vessel", add_vessel, vessel, settings, principal, request)
    return Created(message=f"Kapal {vessel.name} berhasil ditambahkan.", id=vessel_id)


@router.post("/add_schedule", response_model=Created)
def post_schedule(schedule: NewSchedule, settings: SettingsDep, principal: Admin, request: Request) -> Created:
    """Add a sailing schedule to data/sailing_schedules.csv (422 for an unknown vessel or an overload)."""
    schedule_id = _append("schedule", add_schedule, schedule, settings, principal, request)
    return Created(message="Jadwal berhasil dibuat.", id=schedule_id)
