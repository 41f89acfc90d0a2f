"""OpenAPI pieces shared by the routes: the error bodies and the status codes they document."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    """One invalid field: ``loc`` is its path (``["body", "decision_variables", "alokasi_truk", 1]``),
    ``msg`` starts with the same path written as ``decision_variables.alokasi_truk[1]: ...``."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """422: the body (or a parameter) failed validation; every problem names its field."""

    detail: list[FieldProblem]


class Problem(BaseModel):
    """An error with a human-readable ``detail`` (404, 503)."""

    detail: Any = Field(description="What went wrong.")


RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}

INVALID_RESPONSE: dict[str, Any] = {"model": Invalid, "description": "A field is missing or invalid (named in `msg`)."}
BUSY_RESPONSE: dict[str, Any] = {"model": Problem, "headers": RETRY_AFTER_HEADER,
                                 "description": "Warming up, or the simulator queue is full: retry after `Retry-After` s."}
NOT_FOUND_RESPONSE: dict[str, Any] = {"model": Problem, "description": "Not found."}
BAD_BODY_RESPONSE: dict[str, Any] = {"model": Problem, "description": "The body could not be read (not UTF-8 text, "
                                                                     "or a form where JSON was expected)."}


def document_bad_bodies(routes: Any) -> None:
    """Add the 400 FastAPI answers for an unreadable body to every route that takes one."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            route.responses.setdefault(400, BAD_BODY_RESPONSE)
