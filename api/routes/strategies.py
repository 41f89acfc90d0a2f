"""POST /get_top_3_strategies: the prototype's body in, ranked strategies with CIs out.

The body is parsed once, by its model (``simulator.request.StrategiesRequest``); the run service
(``api.run_service``) does the rest. This route only translates: ``Busy`` -> 503 with Retry-After,
``SpecError`` -> 422 naming the field.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.openapi_docs import BUSY_RESPONSE, INVALID_RESPONSE
from api.presenters import StrategiesResponse
from api.requests import LEGACY_EXAMPLE, REF_A_EXAMPLE, StrategiesRequest
from api.run_service import Busy
from api.schemas import spec_error_response
from simulator.scenario import SpecError

router = APIRouter(tags=["strategies"])

PATH = "/get_top_3_strategies"
MODEL_VERSION_HEADER = "X-Model-Version"


def busy(exc: Busy) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=503, headers={"Retry-After": str(exc.retry_after_s)})


@router.post(PATH, response_model=StrategiesResponse, responses={
    200: {"headers": {MODEL_VERSION_HEADER: {"description": "The champion version that answered.",
                                             "schema": {"type": "string"}}}},
    422: INVALID_RESPONSE, 503: BUSY_RESPONSE})
async def get_top_3_strategies(state: StateDep, body: StrategiesRequest = Body(..., openapi_examples={
        "legacy": {"summary": "The prototype dashboard's body (contracts/legacy-top3-request.json)",
                   "value": LEGACY_EXAMPLE},
        "ref-a": {"summary": "REF-A: 33 strategies x 30 replications (contracts/ref-a.json)",
                  "value": REF_A_EXAMPLE}})) -> Any:
    """Simulate every (trucks x excavators) strategy and return the best three with CIs.

    Unknown fields of the prototype's sections (top level, ``fixed_conditions``,
    ``decision_variables``) are ignored and listed in ``warnings``; unknown keys of
    ``financial_params`` and ``simulation`` are a 422.
    """
    service = state.runs
    try:
        spec = body.to_spec(service.defaults())
        run = await service.run(spec, request=body.model_dump(mode="json", exclude_unset=True),
                                warnings=body.warnings())
    except Busy as exc:
        return busy(exc)
    except SpecError as exc:
        return spec_error_response(exc)
    return JSONResponse(run.response, headers={MODEL_VERSION_HEADER: run.result.model_version})
