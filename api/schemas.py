"""Request examples and error bodies shared by the routes (the prototype's shapes)."""
from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse

from simulator.scenario import SpecError

#: The prototype dashboard's strategies body (documentation example).
STRATEGIES_EXAMPLE: dict[str, Any] = {
    "fixed_conditions": {"weatherCondition": "Cerah", "roadCondition": "GOOD", "shift": "SHIFT_1",
                         "target_road_id": None, "target_excavator_id": None, "target_schedule_id": None,
                         "simulation_start_date": "2025-11-10T07:00:00+07:00"},
    "decision_variables": {"alokasi_truk": [5, 10, 15], "jumlah_excavator": [1, 2, 3]},
    "financial_params": {"HargaJualBatuBara": 800000, "HargaSolar": 15000,
                         "BiayaPenaltiKeterlambatanKapal": 100000000, "BiayaRataRataInsiden": 50000000,
                         "BiayaDemurragePerJam": 50000000},
    "simulation": {"duration_hours": 8, "replications": 30, "seed": 42},
}

_INDEX = re.compile(r"\[(\d+)\]")


def field_loc(path: str) -> list[Any]:
    """'decision_variables.alokasi_truk[2]' -> ['body', 'decision_variables', 'alokasi_truk', 2]."""
    loc: list[Any] = ["body"]
    for part in path.split("."):
        name = _INDEX.split(part)
        loc.append(name[0]) if name[0] else None
        loc.extend(int(i) for i in _INDEX.findall(part))
    return loc


def validation_error(loc: list[Any], message: str, status: int = 422) -> JSONResponse:
    """FastAPI's own 422 shape, so clients parse one error format."""
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}, status_code=status)


def spec_error_response(exc: SpecError) -> JSONResponse:
    return validation_error(field_loc(exc.field), str(exc))
