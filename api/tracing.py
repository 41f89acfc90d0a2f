"""OpenTelemetry traces: one span per request, with children for the simulator pool, the database
writes and the Ollama call; exported over OTLP/HTTP when ``MINEOPS_OTLP_ENDPOINT`` is set, off
otherwise (no provider, no cost beyond a context-variable lookup).

No global state: ``setup_tracing`` builds a ``TracerProvider`` for the app (tests pass one with an
in-memory exporter) and ``TracingMiddleware`` puts its tracer in a context variable for the
duration of each request. Code below the routes opens child spans with ``span(name)``, which is a
no-op outside a traced request; the variable (like OpenTelemetry's own context) follows the
request into ``run_in_threadpool`` and ``asyncio.to_thread``, so a span opened in a worker thread
is still a child of the request's span.

- request: ``<METHOD> <route template>`` (SERVER), with status code, request id and principal;
- pool: ``simulator.pool`` around each grid the executor runs (``TracedExecutor``), and under it one
  ``simulator.batch`` span per work unit, made in the worker process that ran it: the W3C trace
  context goes to the workers with each unit (``propagate.inject`` into a carrier dict) and the
  finished worker spans come back with the results, to be exported here by the app's provider
  (``simulator/tracing.py`` says why: one exporter for the whole trace, nothing lost at a worker's
  exit, and a Dask cluster's workers need no collector either);
- database: ``db <VERB> <table>`` for every INSERT/UPDATE/DELETE/COPY on the run store's engine
  (SQLAlchemy cursor events, ``instrument_engine``);
- Ollama: ``ollama.chat`` around the chat answer (attribute ``chat.source``: llm or fallback).

The JSON logs carry ``trace_id`` (and ``span_id``) of the current span beside ``request_id``.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Instrumentation scope name of our spans.
TRACER_NAME = "mineops.api"
#: The tracer of the request being handled (None: tracing off, or outside a request).
current_tracer: contextvars.ContextVar[trace.Tracer | None] = contextvars.ContextVar("mineops_tracer", default=None)

_WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|COPY)\b(?:\s+INTO|\s+FROM)?\s+\"?(\w+)", re.I)


def setup_tracing(settings: Any, provider: Any = None) -> Any:
    """The app's ``TracerProvider``: ``provider`` when given, an OTLP exporter's when configured, else None."""
    if provider is not None:
        return provider
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


@contextlib.contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Any]:
    """A child span of the current request's span (a no-op when the request is not traced)."""
    tracer = current_tracer.get()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, kind=kind,
                                      attributes={k: v for k, v in attributes.items() if v is not None}) as s:
        yield s


class TracingMiddleware:
    """One SERVER span per HTTP request; makes the tracer current for the code below."""

    def __init__(self, app: ASGIApp, provider: Any):
        self.app = app
        self.tracer = provider.get_tracer(TRACER_NAME)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from api.logging_setup import request_id_var

        status = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        token = current_tracer.set(self.tracer)
        method = scope["method"]
        try:
            with self.tracer.start_as_current_span(f"{method} {scope['path']}", kind=SpanKind.SERVER,
                                                   attributes={"http.request.method": method,
                                                               "url.path": scope["path"]}) as s:
                try:
                    await self.app(scope, receive, send_status)
                finally:
                    route = scope.get("route")
                    if route is not None and getattr(route, "path", None):
                        s.update_name(f"{method} {route.path}")
                        s.set_attribute("http.route", route.path)
                    s.set_attribute("http.response.status_code", status["code"])
                    rid = request_id_var.get()
                    if rid:
                        s.set_attribute("mineops.request_id", rid)
                    principal = (scope.get("state") or {}).get("principal")
                    if principal is not None:
                        s.set_attribute("mineops.subject", principal.subject)
                        s.set_attribute("mineops.site", principal.site)
                    if status["code"] >= 500:
                        s.set_status(Status(StatusCode.ERROR))
        finally:
            current_tracer.reset(token)


class TracedExecutor:
    """An executor whose every grid is a ``simulator.pool`` span, with the workers' ``simulator.batch``
    spans under it (delegates everything else)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def map_scenarios(self, tasks: Sequence[Any], trace: Any = None, **options: Any) -> Any:
        from opentelemetry.propagate import inject
        from simulator.tracing import TraceLink

        with span("simulator.pool", tasks=len(tasks), workers=getattr(self.inner, "workers", None),
                  executor=type(self.inner).__name__,
                  replications=sum(getattr(t, "replications", 0) for t in tasks)) as pool_span:
            if pool_span is None:  # no traced request (the wrapper outlived it)
                return self.inner.map_scenarios(tasks, **options)
            carrier: dict[str, str] = {}
            inject(carrier)  # the pool span's W3C traceparent (and tracestate)
            return self.inner.map_scenarios(tasks, trace=TraceLink(carrier, emit_worker_spans), **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def emit_worker_spans(records: list[dict[str, Any]]) -> None:
    """Hand spans finished in simulator workers to the current request's span processors (its exporter)."""
    from simulator.tracing import readable

    tracer = current_tracer.get()
    processor = getattr(tracer, "span_processor", None)  # the SDK tracer's processors (its provider's)
    if processor is None:
        return
    for rec in records:
        processor.on_end(readable(rec))


def traced(executor: Any) -> Any:
    """``executor`` wrapped in pool spans while a traced request runs, else unchanged."""
    return TracedExecutor(executor) if current_tracer.get() is not None and executor is not None else executor


_DB_SPAN = "mineops_db_span"


def instrument_engine(engine: Any) -> None:
    """Open a ``db <VERB> <table>`` span around every writing statement on ``engine``."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        tracer = current_tracer.get()
        m = _WRITE_SQL.match(statement) if tracer is not None else None
        if m is None:
            return
        verb, table = m.group(1).upper(), m.group(2)
        s = tracer.start_span(f"db {verb} {table}", kind=SpanKind.CLIENT, attributes={
            "db.system": engine.dialect.name, "db.operation.name": verb, "db.collection.name": table,
            "db.executemany": bool(executemany)})
        conn.info.setdefault(_DB_SPAN, []).append(s)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        stack = conn.info.get(_DB_SPAN)
        if stack:
            stack.pop().end()

    @event.listens_for(engine, "handle_error")
    def _error(ctx):  # noqa: ANN001
        stack = ctx.connection.info.get(_DB_SPAN) if ctx.connection is not None else None
        if stack:
            s = stack.pop()
            s.set_status(Status(StatusCode.ERROR, str(ctx.original_exception)[:200]))
            s.end()


def log_ids() -> dict[str, str]:
    """``trace_id`` and ``span_id`` (hex) of the current span, for the JSON logs ({} when none)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
