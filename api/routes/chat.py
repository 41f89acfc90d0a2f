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

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from api.chat import SOURCE_HEADER, ChatAnswer, ContextError, StrategyFacts, facts_from_legacy_context, \
    validate_question
from api.deps import StateDep
from api.ratelimit import HeavyPlanner
from api.tracing import span
from api.schemas import field_loc, validation_error

log = logging.getLogger(__name__)
router = APIRouter(tags=["chat"])

#: The run a chat is about (its stored request), for what-if tool calls made during that chat.
current_run: contextvars.ContextVar[dict | None] = contextvars.ContextVar("current_run", default=None)

CHAT_EXAMPLE = {"pertanyaan_user": "Mengapa opsi 1 lebih baik dari opsi 2?", "top_3_strategies_context": [
    {"OPSI_1": {"TYPE": "REKOMENDASI UTAMA",
                "INSTRUKSI_FLAT": {"JUMLAH_DUMP_TRUCK": "10 Unit", "JUMLAH_EXCAVATOR": "2 Unit"},
                "KPI_PREDIKSI": {"PROFIT": "1.21 Miliar IDR", "PRODUKSI": "1,802 Ton",
                                 "FUEL_RATIO": "0.41 L/Ton", "IDLE_ANTRIAN": "0.8 Jam"}}}]}


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


def _parse(body: Any, state: Any, site: str) -> tuple[str, list[StrategyFacts], dict | None]:
    """(question, facts, stored run or None); ContextError names what is missing."""
    if not isinstance(body, dict):
        raise ContextError(["body: expected a JSON object"])
    if "pertanyaan_user" in body or "top_3_strategies_context" in body:
        question = validate_question(body.get("pertanyaan_user"), "pertanyaan_user")
        run = None
        run_id = body.get("run_id")
        if run_id:
            run = state.store.get_run(str(run_id), site=site)
        return question, facts_from_items(body.get("top_3_strategies_context"), "top_3_strategies_context"), run
    question = validate_question(body.get("question"), "question")
    run_id = body.get("run_id")
    if not run_id:
        raise ContextError(["run_id: missing (send {question, run_id} or the prototype's "
                            "{pertanyaan_user, top_3_strategies_context})"])
    run = state.store.get_run(str(run_id), site=site)  # another site's run is "not found"
    if run is None:
        raise ContextError([f"run_id: run {run_id} not found"])
    return question, facts_from_items(run["result"].get("top_3_strategies"), "run.top_3_strategies"), run


def make_tool_handler(app: Any):
    """The chat's what-if tool: re-simulate a strategy of the current run with other counts."""

    async def handler(name: str, args: dict) -> dict:
        run = current_run.get()
        if name != "what_if":
            return {"error": f"unknown tool {name}"}
        if run is None or not isinstance(run.get("request"), dict):
            return {"error": "what-if needs the run's request: ask with {question, run_id}"}
        state = app.state
        if not state.ready:
            return {"error": "the simulator is warming up"}
        if state.inflight >= state.settings.sim_queue_limit:  # the same bound as POST /get_top_3_strategies
            return {"error": f"the simulator is busy ({state.inflight} requests in progress); "
                             "answer from the ranked options"}
        request = json.loads(json.dumps(run["request"]))
        request["decision_variables"] = {"alokasi_truk": [int(args["trucks"])],
                                         "jumlah_excavator": [int(args["excavators"])]}
        sim = dict(request.get("simulation") or {})
        sim["replications"] = state.settings.chat_what_if_replications
        request["simulation"] = sim
        from api.routes.strategies import simulate

        state.inflight += 1
        state.metrics.queue_depth.set(state.inflight)
        try:
            result = await run_in_threadpool(simulate, state, state.settings, request, state.served)
        finally:
            state.inflight -= 1
            state.metrics.queue_depth.set(state.inflight)
        state.metrics.simulations.inc(result.simulations)
        state.metrics.predictions.inc(len(result.context_table))
        best = result.ranked[0]
        return {"strategy": args.get("strategy_label"), "trucks": best.trucks, "excavators": best.excavators,
                "replications": best.replications,
                **{k: round(best.metrics[k].mean, 3) for k in ("profit_idr", "production_t",
                                                                 "fuel_ratio_l_per_t", "queue_hours")},
                "profit_ci_idr": [round(best.metrics["profit_idr"].ci_low), round(best.metrics["profit_idr"].ci_high)]}

    return handler


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


def _context_error(exc: ContextError) -> JSONResponse:
    """422 in FastAPI's shape; list indices in ``loc`` are integers, as in the strategies route's errors."""
    return JSONResponse({"detail": [{"loc": _problem_loc(p), "msg": p, "type": "value_error"}
                                    for p in exc.problems]}, status_code=422)


async def _inputs(body: Any, state: Any, site: str) -> tuple[str, list[StrategyFacts], dict | None] | JSONResponse:
    """The chat's (question, facts, run of ``site``), or the 422 saying what context is missing."""
    try:
        return await run_in_threadpool(_parse, body, state, site)
    except ContextError as exc:
        return _context_error(exc)


@router.post("/ask_chatbot")
async def ask_chatbot(state: StateDep, principal: HeavyPlanner,
                      body: Any = Body(..., examples=[CHAT_EXAMPLE])) -> Any:
    """Answer a planner's question from a run's numbers (LLM, or a deterministic fallback)."""
    started = time.perf_counter()
    inputs = await _inputs(body, state, principal.site)
    if isinstance(inputs, JSONResponse):
        return inputs
    question, facts, run = inputs
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


@router.post("/ask_chatbot/stream")
async def ask_chatbot_stream(state: StateDep, principal: HeavyPlanner,
                             body: Any = Body(..., examples=[CHAT_EXAMPLE])) -> Any:
    """The same answer as server-sent events: ``data: {"delta": ...}`` chunks, then ``event: done``."""
    started = time.perf_counter()
    inputs = await _inputs(body, state, principal.site)
    if isinstance(inputs, JSONResponse):
        return inputs
    question, facts, run = inputs

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
