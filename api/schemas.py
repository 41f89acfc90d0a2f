"""Error bodies shared by the routes (FastAPI's 422 shape, the field named in ``loc`` and ``msg``)."""
from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from simulator.request import path_loc
from simulator.scenario import SpecError


def field_loc(path: str) -> list[Any]:
    """'decision_variables.alokasi_truk[2]' -> ['body', 'decision_variables', 'alokasi_truk', 2]."""
    return ["body", *path_loc(path)]


def validation_error(loc: list[Any], message: str, status: int = 422) -> JSONResponse:
    """FastAPI's own 422 shape, so clients parse one error format."""
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}, status_code=status)


def spec_error_response(exc: SpecError) -> JSONResponse:
    return validation_error(field_loc(exc.field), str(exc))
