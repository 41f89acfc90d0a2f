"""The prototype's data endpoints, same bodies and answers: POST /add_vessel, POST /add_schedule.

The prototype's ``GET /`` liveness answer lives in ``api.routes.web`` (beside the planner page).
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import SettingsDep
from api.vessels import Created, FieldError, NewSchedule, NewVessel, add_schedule, add_vessel

router = APIRouter(tags=["data"])


def _unprocessable(exc: FieldError) -> HTTPException:
    """422 in FastAPI's own validation-error shape, naming the field."""
    return HTTPException(status_code=422, detail=[{
        "type": "value_error", "loc": ["body", exc.field], "msg": exc.message, "input": exc.value,
    }])


@router.post("/add_vessel", response_model=Created)
def post_vessel(vessel: NewVessel, settings: SettingsDep) -> Created:
    """Add a vessel to data/vessels.csv (422 for an implausible capacity or a name already taken)."""
    try:
        vessel_id = add_vessel(settings.data_dir, vessel)
    except FieldError as exc:
        raise _unprocessable(exc) from exc
    return Created(message=f"Kapal {vessel.name} berhasil ditambahkan.", id=vessel_id)


@router.post("/add_schedule", response_model=Created)
def post_schedule(schedule: NewSchedule, settings: SettingsDep) -> Created:
    """Add a sailing schedule to data/sailing_schedules.csv (422 for an unknown vessel or an overload)."""
    try:
        schedule_id = add_schedule(settings.data_dir, schedule)
    except FieldError as exc:
        raise _unprocessable(exc) from exc
    return Created(message="Jadwal berhasil dibuat.", id=schedule_id)
