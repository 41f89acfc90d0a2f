"""The Ollama client: ``ChatService`` asks the model (tools, streaming) and reviews its answer.

It uses the official ``ollama`` ``AsyncClient`` with its own timeout and never raises for an Ollama
failure (timeout, refused connection, missing model, 5xx, empty or leaking answer): it answers with
:func:`api.chat.fallback.fallback_answer`, marked ``source="fallback"`` with a ``fallback_reason``
the API counts.
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import ollama
import pydantic

from api.chat.context import StrategyFacts, detect_language
from api.chat.fallback import INTERRUPTED_NOTE, fallback_answer
from api.chat.grounding import LEAK_WINDOW_CHARS, GroundingResult, LeakScanner, result_values, text_values, \
    check_grounding, grounding_note, leaks_instructions
from api.chat.prompt import build_messages, compare_strategies, tool_schemas
from api.chat_format import Language
from simulator.dispatch import RULES

#: The logger keeps the name it had before the chat became a package (log filters and tests use it).
logger = logging.getLogger("api.chat")

MAX_TOOL_ROUNDS = 2  # rounds of tool calls the model may make before it must answer
DEFAULT_TEMPERATURE = 0.2  # low: the answer should restate numbers, not be creative
HEALTH_TIMEOUT_S = 2.0  # seconds the readiness probe waits for /api/tags
SOURCE_HEADER = "X-Chat-Source"  # response header the API sets to ChatAnswer.source
FALLBACK_MODEL = "deterministic-fallback"  # ChatAnswer.model when the fallback wrote the answer
FALLBACK_REASONS = (  # values of ChatAnswer.fallback_reason (a metric label)
    "timeout", "connection", "model_missing", "server_error", "bad_status", "bad_response", "empty", "prompt_leak",
)

Source = Literal["llm", "fallback"]
ToolHandler = Callable[[str, dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call the model made and what it got back."""

    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True)
class ChatAnswer:
    """The outcome of one chat; ``source`` says whether the model or the fallback wrote ``answer``."""

    answer: str
    source: Source
    model: str
    grounded: bool
    language: Language
    unsupported: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    fallback_reason: str | None = None  # one of FALLBACK_REASONS when source == "fallback"
    tool_calls: tuple[ToolCallRecord, ...] = ()

    def response_fields(self) -> dict[str, Any]:
        """The fields of the /ask_chatbot body (legacy ``jawaban_ai`` beside ``answer``)."""
        return {"jawaban_ai": self.answer, "answer": self.answer, "model": self.model,
                "grounded": self.grounded, "source": self.source}


_FALLBACK_ERRORS = (TimeoutError, ConnectionError, httpx.TransportError, ollama.ResponseError,
                    pydantic.ValidationError, json.JSONDecodeError)


def _fallback_reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return "timeout"
    if isinstance(exc, (ConnectionError, httpx.TransportError)):
        return "connection"
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404:
            return "model_missing"
        return "server_error" if exc.status_code >= 500 or exc.status_code == -1 else "bad_status"
    return "bad_response"


class ChatService:
    """Answers questions about a run through Ollama, falling back to :func:`fallback_answer`.

    ``tool_handler(name, arguments) -> dict`` (sync or async) runs ``what_if`` (the API wires it to
    the simulator); ``compare`` is answered from the facts. ``on_fallback(reason)`` is called each
    time the fallback answers (the API counts it for alerting).
    """

    def __init__(self, host: str, model: str, timeout_s: float, tool_handler: ToolHandler | None = None, *,
                 temperature: float = DEFAULT_TEMPERATURE, keep_alive: str | float | None = None,
                 health_timeout_s: float = HEALTH_TIMEOUT_S, on_fallback: Callable[[str], None] | None = None):
        self.host, self.model, self.timeout_s = host, model, timeout_s
        self.tool_handler, self.on_fallback = tool_handler, on_fallback
        self.keep_alive, self.health_timeout_s = keep_alive, health_timeout_s
        self._options = {"temperature": temperature}
        self._client = ollama.AsyncClient(host=host, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: Any, tool_handler: ToolHandler | None = None, **kwargs: Any) -> ChatService:
        """Build from the project Settings (``ollama_host``, ``ollama_model``, ``ollama_timeout_s``)."""
        return cls(settings.ollama_host, settings.ollama_model, settings.ollama_timeout_s, tool_handler, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def __aenter__(self) -> ChatService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def health(self) -> bool:
        """Whether Ollama answers /api/tags within ``health_timeout_s`` and lists the configured model."""
        try:
            async with asyncio.timeout(self.health_timeout_s):
                listed = await self._client.list()
        except _FALLBACK_ERRORS:
            return False
        names = {m.model for m in listed.models if m.model}
        return self.model in names or (":" not in self.model and f"{self.model}:latest" in names)

    # -- shared steps --
    def _chat_kwargs(self, messages: list[dict[str, Any]], labels: Sequence[str], offer_tools: bool) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "tools": tool_schemas(labels) if offer_tools else None,
                "options": self._options, "keep_alive": self.keep_alive}

    async def _run_tools(self, calls: Sequence[ollama.Message.ToolCall], facts: Sequence[StrategyFacts],
                         records: list[ToolCallRecord]) -> list[dict[str, Any]]:
        """Execute the model's tool calls; one ``tool`` message per call (errors go back to the model)."""
        messages = []
        for call in calls:
            name, arguments = call.function.name, dict(call.function.arguments or {})
            result = await self._run_tool(name, arguments, facts)
            records.append(ToolCallRecord(name, arguments, result))
            messages.append({"role": "tool", "tool_name": name, "content": json.dumps(result, ensure_ascii=False)})
        return messages

    async def _run_tool(self, name: str, arguments: dict[str, Any], facts: Sequence[StrategyFacts]) -> dict[str, Any]:
        labels = [f.label for f in facts]
        if name == "compare":
            return compare_strategies(facts, str(arguments.get("strategy_a")), str(arguments.get("strategy_b")))
        if name != "what_if":
            return {"error": f"unknown tool {name!r}; available: what_if, compare"}
        if arguments.get("strategy_label") not in labels:
            return {"error": f"unknown option {arguments.get('strategy_label')!r}; known: {', '.join(labels)}"}
        try:
            counts = {k: int(arguments[k]) for k in ("trucks", "excavators")}
        except (KeyError, TypeError, ValueError):
            return {"error": "what_if needs whole numbers trucks and excavators"}
        if min(counts.values()) < 1 or any(float(arguments[k]) != counts[k] for k in counts):
            return {"error": "trucks and excavators must be whole numbers >= 1"}
        rule = arguments.get("dispatch")
        if rule is not None and rule not in RULES:
            return {"error": f"unknown dispatch rule {rule!r}; known: {', '.join(RULES)}"}
        if self.tool_handler is None:
            return {"error": "what_if is not available in this deployment"}
        try:
            result = self.tool_handler(name, {"strategy_label": arguments["strategy_label"], **counts,
                                              **({"dispatch": rule} if rule is not None else {})})
            if inspect.isawaitable(result):
                result = await result
            return dict(result)
        except Exception as exc:  # the simulator's failure goes back to the model, not to the user
            logger.warning("chat tool %s failed: %s", name, exc)
            return {"error": f"what_if failed: {exc}"}

    def _review(self, content: str, question: str, facts: Sequence[StrategyFacts], language: Language,
                records: Sequence[ToolCallRecord]) -> tuple[str | None, GroundingResult]:
        """(fallback reason or None, grounding) of the model's text: empty or leaking text is replaced."""
        if not content.strip():
            return "empty", GroundingResult(True, ())
        if leaks_instructions(content, language):
            return "prompt_leak", GroundingResult(True, ())
        extra = text_values(question) + [v for r in records for v in result_values([r.arguments, r.result])]
        return None, check_grounding(content, facts, extra)

    def _fallback(self, question: str, facts: Sequence[StrategyFacts], language: Language, reason: str,
                  started: float, records: Sequence[ToolCallRecord], tokens: tuple[int, int],
                  sent_text: str = "") -> ChatAnswer:
        """The deterministic answer (after ``sent_text`` and an interruption note, if text was streamed)."""
        logger.warning("chat fallback: reason=%s model=%s host=%s", reason, self.model, self.host)
        if self.on_fallback is not None:
            self.on_fallback(reason)
        prefix = sent_text + INTERRUPTED_NOTE[language] if sent_text else ""
        return ChatAnswer(answer=prefix + fallback_answer(question, facts, language), source="fallback",
                          model=FALLBACK_MODEL, grounded=True, language=language, prompt_tokens=tokens[0],
                          completion_tokens=tokens[1], latency_s=time.perf_counter() - started,
                          fallback_reason=reason, tool_calls=tuple(records))

    def _llm_answer(self, content: str, grounding: GroundingResult, language: Language, model: str,
                    started: float, records: Sequence[ToolCallRecord], tokens: tuple[int, int]) -> ChatAnswer:
        note = "" if grounding.grounded else "\n\n" + grounding_note(grounding.unsupported, language)
        return ChatAnswer(answer=content + note, source="llm", model=model, grounded=grounding.grounded,
                          language=language, unsupported=grounding.unsupported, prompt_tokens=tokens[0],
                          completion_tokens=tokens[1], latency_s=time.perf_counter() - started,
                          tool_calls=tuple(records))

    # -- public --
    async def answer(self, question: str, facts: Sequence[StrategyFacts]) -> ChatAnswer:
        """One grounded answer (non-streaming); never raises for an Ollama failure (ContextError if no facts)."""
        started = time.perf_counter()
        language = detect_language(question)
        messages: list[dict[str, Any]] = build_messages(question, facts, language)
        labels = [f.label for f in facts]
        records: list[ToolCallRecord] = []
        prompt_tokens = completion_tokens = 0
        model, content = self.model, ""
        try:
            for round_no in range(MAX_TOOL_ROUNDS + 1):
                offer_tools = round_no < MAX_TOOL_ROUNDS
                async with asyncio.timeout(self.timeout_s):
                    response = await self._client.chat(**self._chat_kwargs(messages, labels, offer_tools), stream=False)
                prompt_tokens += response.prompt_eval_count or 0
                completion_tokens += response.eval_count or 0
                model = response.model or model
                calls = response.message.tool_calls or []
                if calls and offer_tools:
                    messages.append({"role": "assistant", "content": response.message.content or "",
                                     "tool_calls": [c.model_dump() for c in calls]})
                    messages += await self._run_tools(calls, facts, records)
                    continue
                content = response.message.content or ""
                break
        except _FALLBACK_ERRORS as exc:
            return self._fallback(question, facts, language, _fallback_reason(exc), started, records,
                                  (prompt_tokens, completion_tokens))
        content = content.strip()
        reason, grounding = self._review(content, question, facts, language, records)
        if reason:
            return self._fallback(question, facts, language, reason, started, records,
                                  (prompt_tokens, completion_tokens))
        return self._llm_answer(content, grounding, language, model, started, records,
                                (prompt_tokens, completion_tokens))

    def stream(self, question: str, facts: Sequence[StrategyFacts]) -> ChatStream:
        """Text chunks for server-sent events; ``.result`` holds the ChatAnswer once iteration ends."""
        return ChatStream(self, question, facts)


class ChatStream:
    """Async iterator of answer chunks; ``result`` (the ChatAnswer) is set when the iteration ends.

    The first chunk waits at most ``timeout_s``; later ones are bounded by the client's read timeout.
    The last LEAK_WINDOW_CHARS characters are held back until the leak check has seen what follows
    them, so a leaking answer is cut before the leak is sent. If Ollama fails (or leaks) before any
    text was sent, the fallback is sent as one chunk; after some text, an interruption note and the
    fallback follow it. A note on unverifiable numbers, if any, comes as the last chunk.
    """

    def __init__(self, service: ChatService, question: str, facts: Sequence[StrategyFacts]):
        self._service, self._question, self._facts = service, question, facts
        self.result: ChatAnswer | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[str]:
        svc, question, facts = self._service, self._question, self._facts
        started = time.perf_counter()
        language = detect_language(question)
        messages: list[dict[str, Any]] = build_messages(question, facts, language)
        labels = [f.label for f in facts]
        records: list[ToolCallRecord] = []
        scanner = LeakScanner(language)
        prompt_tokens = completion_tokens = 0
        model, text, sent, leaked = svc.model, "", 0, False
        try:
            for round_no in range(MAX_TOOL_ROUNDS + 1):
                offer_tools = round_no < MAX_TOOL_ROUNDS
                calls: list[ollama.Message.ToolCall] = []
                async with asyncio.timeout(svc.timeout_s) as first_chunk_deadline:
                    parts = await svc._client.chat(**svc._chat_kwargs(messages, labels, offer_tools), stream=True)
                    async with contextlib.aclosing(parts):
                        async for part in parts:
                            first_chunk_deadline.reschedule(None)
                            calls += part.message.tool_calls or []
                            if part.done:
                                prompt_tokens += part.prompt_eval_count or 0
                                completion_tokens += part.eval_count or 0
                                model = part.model or model
                            text += part.message.content or ""
                            if scanner.leaked(text):
                                leaked = True
                                break
                            if len(text) - LEAK_WINDOW_CHARS > sent:
                                yield text[sent:len(text) - LEAK_WINDOW_CHARS]
                                sent = len(text) - LEAK_WINDOW_CHARS
                if leaked or not (calls and offer_tools):
                    break
                messages.append({"role": "assistant", "content": "", "tool_calls": [c.model_dump() for c in calls]})
                messages += await svc._run_tools(calls, facts, records)
        except _FALLBACK_ERRORS as exc:
            reason: str | None = _fallback_reason(exc)
        else:
            reason, grounding = svc._review(text, question, facts, language, records)
        tokens = (prompt_tokens, completion_tokens)
        if reason:
            self.result = svc._fallback(question, facts, language, reason, started, records, tokens, text[:sent])
            yield self.result.answer[sent:]
            return
        self.result = svc._llm_answer(text, grounding, language, model, started, records, tokens)
        yield self.result.answer[sent:]
