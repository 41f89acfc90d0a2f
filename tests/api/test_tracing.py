"""Tracing (api/tracing.py): one strategies request is one trace with the API, pool (and the workers'
batch) and database spans;
the JSON logs carry the trace id beside the request id; nothing is traced without a provider."""
from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api.app import create_app
from api.logging_setup import JsonFormatter
from tests.api.test_app import app_settings, contract, wait_ready


def test_one_strategies_request_is_one_trace_with_api_pool_and_database_spans(trained_mine_copy):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(app_settings(trained_mine_copy), tracer_provider=provider)  # the real process pool
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))  # formatted where it is logged, as the real handler does

    keep = Keep()
    keep.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(keep)
    try:
        with TestClient(app) as client:
            wait_ready(client)
            exporter.clear()
            body = contract("legacy-top3-request.json")
            r = client.post("/get_top_3_strategies", json=body, headers={"X-Request-ID": "trace-me"})
            assert r.status_code == 200, r.text
    finally:
        logging.getLogger().removeHandler(keep)
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.name == "POST /get_top_3_strategies"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["mineops.request_id"] == "trace-me"
    trace_id = server.context.trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}, "every span of the request is in one trace"
    names = [s.name for s in spans]
    (pool,) = [s for s in spans if s.name == "simulator.pool"]
    assert pool.attributes["executor"] == "LocalPoolExecutor" and pool.attributes["tasks"] >= 1
    db = [s for s in spans if s.name.startswith("db ")]
    assert "db INSERT runs" in names, names
    by_id = {s.context.span_id: s for s in spans}

    def root_of(s):
        while s.parent is not None and s.parent.span_id in by_id:
            s = by_id[s.parent.span_id]
        return s

    assert root_of(pool) is server and all(root_of(s) is server for s in db)
    assert pool.start_time >= server.start_time and pool.end_time <= server.end_time
    # the pool's work units: one span each, made in the worker process that ran it, child of the pool span
    batches = [s for s in spans if s.name == "simulator.batch"]
    assert batches and {s.parent.span_id for s in batches} == {pool.context.span_id}
    assert {s.attributes["process.pid"] for s in batches} <= app.state.executor.worker_pids
    assert all(s.resource.attributes["service.name"] == "mining-ops-simulator" for s in batches)
    assert sum(s.attributes["replication_stop"] - s.attributes["replication_start"] for s in batches) \
        == pool.attributes["replications"]
    # the request's log lines carry the trace id beside the request id
    out = next(o for o in map(json.loads, lines) if o["message"].startswith("strategies run"))
    assert out["request_id"] == "trace-me" and out["trace_id"] == format(trace_id, "032x")


def test_without_a_provider_nothing_is_traced(trained_mine_copy):
    app = create_app(app_settings(trained_mine_copy))
    assert app.state.tracer_provider is None
    from api.tracing import TracingMiddleware

    assert not [m for m in app.user_middleware if m.cls is TracingMiddleware]
