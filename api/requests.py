"""Every request body the API accepts, as pydantic models: the one place a body is parsed.

- ``POST /get_top_3_strategies``: :class:`~simulator.request.StrategiesRequest` (the prototype's body
  with Indonesian field names, shared with ``python -m simulator``; it lives in ``simulator`` because
  the command line parses the same body);
- ``POST /ask_chatbot`` and ``/ask_chatbot/stream``: :data:`ChatBody`, the prototype's
  ``{pertanyaan_user, top_3_strategies_context}`` or ``{question, run_id}``;
- ``POST /add_vessel`` / ``/add_schedule``: ``api.vessels.NewVessel`` / ``NewSchedule``.

Validation errors of these bodies are answered by :func:`validation_error_response`: FastAPI's 422
shape, each message starting with the field's path (``decision_variables.alokasi_truk[1]: must be a
positive integer, got -1``), so clients read one error format.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from api.chat import MAX_QUESTION_CHARS
from simulator.request import (LEGACY_EXAMPLE, REF_A_EXAMPLE, StrategiesRequest, error_loc, error_reason,
                               field_path, value_error)

__all__ = ["StrategiesRequest", "LegacyChatRequest", "ChatRequest", "ChatBody", "LEGACY_EXAMPLE", "REF_A_EXAMPLE",
           "CHAT_EXAMPLE", "QUESTION_EXAMPLE", "CHAT_DISCRIMINATOR", "chat_kind", "validation_error_response", "error_details"]

#: The prototype's chat body (documentation example; ``contracts/legacy-chat-request.json`` is the full one).
CHAT_EXAMPLE: dict[str, Any] = {"pertanyaan_user": "Mengapa opsi 1 lebih baik dari opsi 2?", "top_3_strategies_context": [
    {"OPSI_1": {"TYPE": "REKOMENDASI UTAMA",
                "INSTRUKSI_FLAT": {"JUMLAH_DUMP_TRUCK": "10 Unit", "JUMLAH_EXCAVATOR": "2 Unit"},
                "KPI_PREDIKSI": {"PROFIT": "1.21 Miliar IDR", "PRODUKSI": "1,802 Ton",
                                 "FUEL_RATIO": "0.41 L/Ton", "IDLE_ANTRIAN": "0.8 Jam"}}}]}
QUESTION_EXAMPLE: dict[str, Any] = {"question": "Why is option 1 better than option 2?",
                                    "run_id": "0123456789abcdef0123456789abcdef"}


def _question(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise value_error("missing or empty (a question is required)")
    if len(value) > MAX_QUESTION_CHARS:
        raise value_error(f"{len(value)} characters, at most {MAX_QUESTION_CHARS} allowed")
    return value.strip()


def _context(value: Any) -> Any:
    if value is None:
        raise value_error("missing (a list of ranked strategies is required)")
    if not isinstance(value, (list, dict)):
        raise value_error(f"must be a list of ranked strategies, got {type(value).__name__}")
    if not value:
        raise value_error("empty (at least one strategy is required)")
    return value


def _run_id(value: Any) -> Any:
    if value is None or value == "":
        raise value_error("missing (send {question, run_id} or the prototype's {pertanyaan_user, top_3_strategies_context})")
    if not isinstance(value, str):
        raise value_error(f"must be a string run id, got {value!r}")
    return value


def _optional_run_id(value: Any) -> Any:
    return None if value in (None, "") else _run_id(value)


Question = Annotated[str, BeforeValidator(_question), Field(min_length=1, max_length=MAX_QUESTION_CHARS)]


class LegacyChatRequest(BaseModel):
    """The prototype's chat body: a question and the ranked strategies it is about (as the strategies
    route answered them: display block first, optionally the ``strategy`` numbers beside it)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [CHAT_EXAMPLE]})

    pertanyaan_user: Question = Field(description="The planner's question (Indonesian or English).")
    top_3_strategies_context: Annotated[list[dict[str, Any]] | dict[str, Any], BeforeValidator(_context)] = Field(
        description="The ``top_3_strategies`` items of a strategies answer (``{\"OPSI_1\": {...}}`` blocks).")
    run_id: Annotated[str | None, BeforeValidator(_optional_run_id)] = Field(
        None, description="Optional: the run the context came from (enables what-if questions).")


class ChatRequest(BaseModel):
    """A question about a stored run (``run_id`` from a strategies answer)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [QUESTION_EXAMPLE]})

    question: Question = Field(description="The planner's question (Indonesian or English).")
    run_id: Annotated[str, BeforeValidator(_run_id)] = Field(description="Run id of a strategies answer.")


def chat_kind(body: Any) -> str:
    """Which chat body this is: the prototype's when it has one of its keys, else the run-id form."""
    if isinstance(body, dict) and ("pertanyaan_user" in body or "top_3_strategies_context" in body):
        return "legacy"
    if isinstance(body, LegacyChatRequest):
        return "legacy"
    return "question"


#: ``POST /ask_chatbot``'s body: either form, told apart by the prototype's keys (``CHAT_DISCRIMINATOR``
#: goes in the route's ``Body(discriminator=...)``: FastAPI keeps a discriminator only there).
ChatBody = Annotated[LegacyChatRequest, Tag("legacy")] | Annotated[ChatRequest, Tag("question")]
CHAT_DISCRIMINATOR = Discriminator(chat_kind)

#: Union tags pydantic puts in an error's location (not part of the field path the client sent).
_TAGS = frozenset({"legacy", "question"})


def error_details(exc: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 ``detail`` items (of a ``RequestValidationError`` or a ``ValidationError``), each
    ``msg`` starting with the field's path."""
    errors = exc.errors()
    out = []
    for error in errors:
        raw = [part for part in error["loc"] if part not in _TAGS]
        where, rest = (raw[0], raw[1:]) if raw and raw[0] in _SOURCES else ("body", raw)
        if (error.get("ctx") or {}).get("path"):  # a path our validator named (inside the body)
            where, rest = "body", list(error_loc(error))
        if error["type"] == "json_invalid":  # the position in the text is not a field
            rest = []
        out.append({"loc": [where, *rest], "msg": _message(error, tuple(rest)), "type": error["type"]})
    return out


#: Where a FastAPI error's location starts (the rest is the field's path inside it).
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def _message(error: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """'path: reason' for one pydantic error (reason as ``simulator.request`` words it)."""
    adjusted = dict(error, loc=loc)
    if error["type"] == "missing":
        name = str(loc[-1]) if loc else ""
        special = {"pertanyaan_user": "missing or empty (a question is required)",
                   "question": "missing or empty (a question is required)",
                   "top_3_strategies_context": "missing (a list of ranked strategies is required)",
                   "run_id": "missing (send {question, run_id} or the prototype's "
                             "{pertanyaan_user, top_3_strategies_context})"}
        if name in special:
            return f"{field_path(loc)}: {special[name]}"
    return f"{field_path(loc)}: {error_reason(adjusted)}"


def validation_error_response(exc: Any) -> JSONResponse:
    """The 422 of a body that failed its model."""
    return JSONResponse({"detail": error_details(exc)}, status_code=422)

