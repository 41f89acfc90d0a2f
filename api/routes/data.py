"""The prototype's data endpoints, same bodies and answers: POST /add_vessel, POST /add_schedule.

The prototype's ``GET /`` liveness answer lives in ``api.routes.web`` (beside the planner page).
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.audit import audit_change
from api.auth import Admin, require_own_site
from api.deps import SettingsDep
from api.vessels import Created, FieldError, NewSchedule, NewVessel, add_schedule, add_vessel

router = APIRouter(tags=["data"])


def _unprocessable(exc: FieldError) -> HTTPException:
    """422 in FastAPI's own validation-error shape, naming the field."""
    return HTTPException(status_code=422, detail=[{
        "type": "value_error", "loc": ["body", exc.field], "msg": exc.message, "input": exc.value,
    }])


@router.post("/add_vessel", response_model=Created)
def post_vessel(vessel: NewVessel, settings: SettingsDep, principal: Admin, request: Request) -> Created:
    """Add a vessel to data/vessels.csv (admins of this deployment's site; 422 for an implausible
    capacity or a name already taken)."""
    require_own_site(principal, settings, "site")
    try:
        vessel_id = add_vessel(settings.data_dir, vessel)
    except FieldError as exc:
        raise _unprocessable(exc) from exc
    audit_change(request, {"added": "vessel", "id": vessel_id, "values": vessel.model_dump(mode="json")})
    return Created(message=f"Kapal {vessel.name} berhasil ditambahkan.", id=vessel_id)


@router.post("/add_schedule", response_model=Created)
def post_schedule(schedule: NewSchedule, settings: SettingsDep, principal: Admin, request: Request) -> Created:
    """Add a sailing schedule to data/sailing_schedules.csv (422 for an unknown vessel or an overload)."""
    require_own_site(principal, settings, "site")
    try:
        schedule_id = add_schedule(settings.data_dir, schedule)
    except FieldError as exc:
        raise _unprocessable(exc) from exc
    audit_change(request, {"added": "schedule", "id": schedule_id, "values": schedule.model_dump(mode="json")})
    return Created(message="Jadwal berhasil dibuat.", id=schedule_id)
