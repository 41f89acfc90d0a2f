"""POST /ask_chatbot (and /ask_chatbot/stream): grounded explanations of a run's strategies.

Accepts the prototype's body ``{pertanyaan_user, top_3_strategies_context}`` and
``{question, run_id}``. Facts come from the context's display strings, refined by the numbers
the API put beside them (``strategy``: exact means and CIs) or by the stored run.
"""
from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from api.chat import SOURCE_HEADER, ChatAnswer, ContextError, StrategyFacts, facts_from_legacy_context
from api.deps import AppState, StateDep
from api.openapi_docs import INVALID_RESPONSE
from api.ratelimit import HeavyPlanner
from api.requests import (CHAT_DISCRIMINATOR, CHAT_EXAMPLE, QUESTION_EXAMPLE, ChatBody, ChatRequest, LegacyChatRequest,
                          StrategiesRequest)
from api.run_service import Busy
from api.tracing import span
from api.schemas import field_loc, validation_error
from simulator.scenario import SpecError

log = logging.getLogger(__name__)
router = APIRouter(tags=["chat"])

#: The run a chat is about (its stored request), for what-if tool calls made during that chat.
current_run: contextvars.ContextVar[dict | None] = contextvars.ContextVar("current_run", default=None)



def _refine(fact: StrategyFacts, numbers: Any, labels_by_key: dict[str, str]) -> StrategyFacts:
    """Replace rounded display values by the API's exact numbers when the item carries them.

    ``strategy.tied_with`` names scenario keys (``T10-E2``); the facts name options (``OPSI_2``), so
    ties are translated through ``labels_by_key`` (ties with strategies outside the list are left out).
    """
    if not isinstance(numbers, dict) or not isinstance(numbers.get("metrics"), dict):
        return fact
    m = numbers["metrics"]

    def mean(key: str, default: Any) -> Any:
        v = m.get(key, {}).get("mean") if isinstance(m.get(key), dict) else None
        return v if isinstance(v, (int, float)) else default

    profit = m.get("profit_idr") if isinstance(m.get("profit_idr"), dict) else {}
    ci = (profit.get("ci_low"), profit.get("ci_high"))
    return dataclasses.replace(
        fact,
        profit_idr=mean("profit_idr", fact.profit_idr),
        profit_ci_idr=ci if all(isinstance(x, (int, float)) for x in ci) else fact.profit_ci_idr,
        production_t=mean("production_t", fact.production_t),
        fuel_ratio_l_per_t=mean("fuel_ratio_l_per_t", fact.fuel_ratio_l_per_t),
        queue_hours=mean("queue_hours", fact.queue_hours),
        cycle_time_min=mean("cycle_time_min", fact.cycle_time_min),
        tied_with=_tied_labels(numbers.get("tied_with"), labels_by_key, fact.tied_with),
        dispatch=numbers["dispatch"] if isinstance(numbers.get("dispatch"), str) else fact.dispatch,
    )


def _tied_labels(keys: Any, labels_by_key: dict[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(keys, list) or not keys:
        return default
    return tuple(labels_by_key[k] for k in keys if isinstance(k, str) and k in labels_by_key)


def facts_from_items(items: Any, where: str) -> list[StrategyFacts]:
    """Facts from a top-3 list (display blocks first, refined by the ``strategy`` numbers)."""
    facts = facts_from_legacy_context(items, where=where)
    if isinstance(items, list):
        numbers = {next(iter(item)): item.get("strategy") for item in items if isinstance(item, dict) and item}
        labels_by_key = {n["scenario_key"]: label for label, n in numbers.items()
                         if isinstance(n, dict) and isinstance(n.get("scenario_key"), str)}
        facts = [_refine(f, numbers.get(f.label), labels_by_key) for f in facts]
    return facts


def _parse(body: LegacyChatRequest | ChatRequest, state: AppState,
           site: str) -> tuple[str, list[StrategyFacts], dict | None]:
    """(question, facts, stored run of ``site`` or None); ContextError names what is missing."""
    if isinstance(body, LegacyChatRequest):
        run = state.store.get_run(body.run_id, site=site) if body.run_id else None
        return body.pertanyaan_user, facts_from_items(body.top_3_strategies_context, "top_3_strategies_context"), run
    run = state.store.get_run(body.run_id, site=site)  # another site's run is "not found"
    if run is None:
        raise ContextError([f"run_id: run {body.run_id} not found"])
    return body.question, facts_from_items(run["result"].get("top_3_strategies"), "run.top_3_strategies"), run


class ChatAnswerBody(BaseModel):
    """The answer; ``jawaban_ai`` (the prototype's field) and ``answer`` hold the same text."""

    jawaban_ai: str
    answer: str
    model: str = Field(description="The model that answered, or `deterministic-fallback`.")
    grounded: bool = Field(description="Every number of the answer follows from the run's numbers.")
    source: str = Field(description="`llm` or `fallback`.")
    run_id: str | None = None


def make_tool_handler(app: Any):
    """The chat's what-if tool: re-simulate a strategy of the current run with other counts, and on a haul
    network another dispatch rule (else the option's own), through the run service like the strategies
    route (the stored request is parsed by the same model)."""

    async def handler(name: str, args: dict) -> dict:
        run = current_run.get()
        if name != "what_if":
            return {"error": f"unknown tool {name}"}
        if run is None or not isinstance(run.get("request"), dict):
            return {"error": "what-if needs the run's request: ask with {question, run_id}"}
        state: AppState = app.state
        service = state.runs
        try:
            stored = StrategiesRequest.model_validate(run["request"]).to_spec(service.defaults())
            dispatch = args.get("dispatch") or _option_dispatch(run, args.get("strategy_label"))
            spec = stored.with_grid(int(args["trucks"]), int(args["excavators"]),
                                    state.settings.chat_what_if_replications, dispatch=dispatch)
            result = (await service.run(spec, record=False)).result
        except Busy as exc:
            if exc.reason == "not_ready":
                return {"error": "the simulator is warming up"}
            return {"error": f"the simulator is busy ({state.inflight} requests in progress); "
                             "answer from the ranked options"}
        except (ValidationError, SpecError) as exc:
            return {"error": f"the run's request cannot be re-simulated: {exc}"}
        best = result.ranked[0]
        rule = {"dispatch": best.dispatch} if stored.network is not None else {}  # (one road: always fixed)
        return {"strategy": args.get("strategy_label"), "trucks": best.trucks, "excavators": best.excavators,
                **rule, "replications": best.replications,
                **{k: round(best.metrics[k].mean, 3) for k in ("profit_idr", "production_t",
                                                                 "fuel_ratio_l_per_t", "queue_hours")},
                "profit_ci_idr": [round(best.metrics["profit_idr"].ci_low), round(best.metrics["profit_idr"].ci_high)]}

    return handler


def _option_dispatch(run: dict, label: Any) -> str | None:
    """The dispatch rule of the run's option ``label`` (None when the run does not say)."""
    try:
        facts = facts_from_items(run["result"].get("top_3_strategies"), "run.top_3_strategies")
    except (ContextError, AttributeError, KeyError, TypeError):
        return None
    return next((f.dispatch for f in facts if f.label == label), None)


def _record(state: Any, answer: ChatAnswer, started: float) -> None:
    m = state.metrics
    m.chat_requests.labels(answer.source).inc()
    m.chat_seconds.observe(time.perf_counter() - started)
    if answer.prompt_tokens:
        m.chat_tokens.labels("prompt").inc(answer.prompt_tokens)
    if answer.completion_tokens:
        m.chat_tokens.labels("completion").inc(answer.completion_tokens)
    if answer.source == "fallback":
        log.warning("chat answered by the fallback: %s", answer.fallback_reason,
                    extra={"fallback_reason": answer.fallback_reason})


def _problem_loc(problem: str) -> list[Any]:
    """'top_3_strategies_context[0].OPSI_1.KPI_PREDIKSI.PROFIT: missing' -> ['body', ..., 0, 'OPSI_1', ...]."""
    path = problem.split(":", 1)[0].strip()
    return ["body"] if path in ("body", "(body)", "") else field_loc(path)


async def _inputs(body: LegacyChatRequest | ChatRequest, state: AppState,
                  site: str) -> tuple[str, list[StrategyFacts], dict | None]:
    """The chat's (question, facts, run of ``site``); a 422 in FastAPI's shape saying what context is
    missing (list indices in ``loc`` are integers, as in the strategies route's errors)."""
    try:
        return await run_in_threadpool(_parse, body, state, site)
    except ContextError as exc:
        raise HTTPException(status_code=422, detail=[{"loc": _problem_loc(p), "msg": p, "type": "value_error"}
                                                     for p in exc.problems]) from exc


_BODY = Body(..., discriminator=CHAT_DISCRIMINATOR, openapi_examples={
    "legacy": {"summary": "The prototype's body (contracts/legacy-chat-request.json)", "value": CHAT_EXAMPLE},
    "run": {"summary": "A question about a stored run", "value": QUESTION_EXAMPLE}})


@router.post("/ask_chatbot", response_model=ChatAnswerBody, responses={
    200: {"headers": {SOURCE_HEADER: {"description": "`llm` or `fallback`.", "schema": {"type": "string"}}}},
    422: INVALID_RESPONSE})
async def ask_chatbot(state: StateDep, principal: HeavyPlanner, body: ChatBody = _BODY) -> Any:
    """Answer a planner's question from a run's numbers (LLM, or a deterministic fallback)."""
    started = time.perf_counter()
    question, facts, run = await _inputs(body, state, principal.site)
    token = current_run.set(run)
    try:
        with span("ollama.chat", model=state.settings.ollama_model) as s:
            answer = await state.chat.answer(question, facts)
            if s is not None:
                s.set_attribute("chat.source", answer.source)
    finally:
        current_run.reset(token)
    _record(state, answer, started)
    fields = answer.response_fields()
    if run is not None:
        fields["run_id"] = run["run_id"]
    return JSONResponse(fields, headers={SOURCE_HEADER: answer.source})


#: One server-sent event of the stream (OpenAPI 3.1: the ``text/event-stream`` schema describes each
#: event); ``data`` is JSON: ``{"delta": ...}`` chunks, then the ``/ask_chatbot`` body in ``event: done``.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"type": "string", "description": "`message` for a chunk, `done` for the final answer."},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"anyOf": [
            {"type": "object", "required": ["delta"], "properties": {"delta": {"type": "string"}}},
            {"$ref": "#/components/schemas/ChatAnswerBody"}]}},
    },
}


@router.post("/ask_chatbot/stream", response_class=StreamingResponse, responses={
    200: {"description": "Server-sent events: `data: {\"delta\": \"...\"}` chunks, then `event: done` with "
                         "the /ask_chatbot body.",
          "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}},
    422: INVALID_RESPONSE})
async def ask_chatbot_stream(state: StateDep, principal: HeavyPlanner, body: ChatBody = _BODY) -> Any:
    """The same answer as server-sent events: ``data: {"delta": ...}`` chunks, then ``event: done``."""
    started = time.perf_counter()
    question, facts, run = await _inputs(body, state, principal.site)

    async def events():
        token = current_run.set(run)
        stream = state.chat.stream(question, facts)
        try:
            async for chunk in stream:
                yield f"data: {json.dumps({'delta': chunk}, ensure_ascii=False)}\n\n"
        finally:
            current_run.reset(token)
        if stream.result is not None:
            _record(state, stream.result, started)
            yield f"event: done\ndata: {json.dumps(stream.result.response_fields(), ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


__all__ = ["router", "make_tool_handler", "facts_from_items", "validation_error"]
