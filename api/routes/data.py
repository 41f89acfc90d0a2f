"""The prototype's data endpoints, same bodies and answers: GET /, POST /add_vessel, POST /add_schedule."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from api.deps import SettingsDep
from api.vessels import Created, FieldError, NewSchedule, NewVessel, add_schedule, add_vessel

router = APIRouter(tags=["data"])

#: Service name GET / reports.
SERVICE_NAME = "mining-ops-ai"


def _unprocessable(exc: FieldError) -> HTTPException:
    """422 in FastAPI's own validation-error shape, naming the field."""
    return HTTPException(status_code=422, detail=[{
        "type": "value_error", "loc": ["body", exc.field], "msg": exc.message, "input": exc.value,
    }])


@router.get("/")
def root(request: Request) -> dict[str, Any]:
    """Liveness answer of the prototype: {"status": "online", ...}."""
    app = request.app
    return {"status": "online", "service": SERVICE_NAME, "version": app.version, "docs": app.docs_url}


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
