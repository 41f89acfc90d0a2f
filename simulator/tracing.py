"""Trace context across the simulator pool: a span per batch (work unit) in the worker that ran it.

The caller (the API, while it traces a request) passes a :class:`TraceLink` to
``Executor.map_scenarios``: ``carrier`` is the W3C trace context of the caller's current span
(``traceparent``/``tracestate``, written with OpenTelemetry's ``propagate.inject``) and travels with
each work unit; the worker extracts it, runs the unit inside a ``simulator.batch`` span that is a
child of the caller's span, and sends the finished span back with the unit's results as a plain
:data:`SpanRecord` (a dict: picklable, no locks). ``on_spans`` receives them in the calling process,
which emits them through its own tracer provider (``api.tracing``), so its exporter (OTLP in a
deployment, in-memory in the tests) gets the worker spans beside its own, with one trace id.

Why the spans come back with the results instead of each worker exporting over OTLP: the pool's
workers (and a Dask cluster's) then need no collector address, exporter thread or flush at exit
(``multiprocessing`` workers leave through ``os._exit``, which skips the ``atexit`` flush of a
batching exporter, so their last spans would be lost), and one exporter configuration
(``MINEOPS_OTLP_ENDPOINT`` of the API) covers the whole trace. A span costs about 0.6 kB of result
and 30 µs of worker CPU (measured), once per work unit of a traced request.

Zero cost when tracing is off: no ``TraceLink`` means no carrier in the work units, and the workers
import nothing of OpenTelemetry (this module is imported only by a traced unit).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The worker-side span of one work unit.
BATCH_SPAN = "simulator.batch"
#: Instrumentation scope and ``service.name`` of the worker spans.
WORKER_SCOPE = "mineops.simulator"
WORKER_SERVICE = "mining-ops-simulator"

#: A finished worker span as plain data: name, ids (int), kind and status (names), times (ns since
#: the epoch), attributes, resource attributes and instrumentation scope.
SpanRecord = dict[str, Any]


@dataclass(frozen=True)
class TraceLink:
    """What a traced caller gives an executor: the context sent to the workers, and who takes their spans."""

    carrier: dict[str, str]
    on_spans: Callable[[list[SpanRecord]], None] = field(compare=False)


#: The worker's tracer (one per worker process; it has no processor: a unit reads its own span back).
_WORKER_TRACER: Any = None


def _tracer() -> Any:
    global _WORKER_TRACER
    if _WORKER_TRACER is None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=Resource.create({"service.name": WORKER_SERVICE}),
                                  shutdown_on_exit=False)
        _WORKER_TRACER = provider.get_tracer(WORKER_SCOPE)
    return _WORKER_TRACER


def run_traced(carrier: dict[str, str], attributes: dict[str, Any],
               work: Callable[[], Any]) -> tuple[Any, list[SpanRecord]]:
    """``work()`` inside a ``simulator.batch`` span that continues the trace in ``carrier``; returns
    its result and the finished span (none when the caller's trace is not sampled)."""
    from opentelemetry.propagate import extract

    cpu = time.process_time()
    with _tracer().start_as_current_span(BATCH_SPAN, context=extract(carrier),
                                         attributes={**attributes, "process.pid": os.getpid()}) as span:
        result = work()
        span.set_attribute("cpu_seconds", round(time.process_time() - cpu, 6))
    if getattr(span, "end_time", None) is None:  # a non-recording span: the caller's trace is not sampled
        return result, []
    return result, [record(span)]


def record(span: Any) -> SpanRecord:
    """A finished SDK span as a :data:`SpanRecord`."""
    ctx, parent = span.get_span_context(), span.parent
    return {
        "name": span.name, "trace_id": ctx.trace_id, "span_id": ctx.span_id, "trace_flags": int(ctx.trace_flags),
        "parent_span_id": parent.span_id if parent is not None else None,
        "kind": span.kind.name, "start_time": span.start_time, "end_time": span.end_time,
        "attributes": dict(span.attributes or {}), "status": span.status.status_code.name,
        "status_description": span.status.description,
        "resource": dict(span.resource.attributes), "scope": span.instrumentation_scope.name,
    }


def readable(rec: SpanRecord) -> Any:
    """A :data:`SpanRecord` as the SDK's ``ReadableSpan`` (what span processors and exporters take)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    flags = TraceFlags(rec["trace_flags"])
    parent = (SpanContext(rec["trace_id"], rec["parent_span_id"], is_remote=True, trace_flags=flags)
              if rec["parent_span_id"] is not None else None)
    return ReadableSpan(
        name=rec["name"], context=SpanContext(rec["trace_id"], rec["span_id"], is_remote=False, trace_flags=flags),
        parent=parent, resource=Resource(rec["resource"]), attributes=rec["attributes"],
        kind=SpanKind[rec["kind"]], status=Status(StatusCode[rec["status"]], rec["status_description"]),
        start_time=rec["start_time"], end_time=rec["end_time"], instrumentation_scope=InstrumentationScope(rec["scope"]))
