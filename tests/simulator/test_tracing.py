"""Trace context across the simulator pool (simulator/tracing.py): every work unit runs in a
``simulator.batch`` span made in its worker, a child of the caller's span (W3C context sent with the
unit), and the finished spans come back to the caller; untraced runs load no OpenTelemetry in workers."""
from __future__ import annotations

from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from simulator.executor import InlineExecutor, LocalPoolExecutor, split_units
from simulator.tracing import BATCH_SPAN, WORKER_SERVICE, TraceLink, readable
from tests.simulator.test_executor import _tasks, noise  # noqa: F401  (a fixture)


def traced_map(executor, tasks):
    """Run ``tasks`` on ``executor`` under a caller span; return (results, caller span, worker spans)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    received = []

    def on_spans(records):
        received.extend(records)
        for rec in records:
            provider.get_tracer("test").span_processor.on_end(readable(rec))

    with provider.get_tracer("test").start_as_current_span("caller") as caller:
        carrier: dict[str, str] = {}
        inject(carrier)
        results = executor.map_scenarios(tasks, trace=TraceLink(carrier, on_spans))
    assert len(received) == len([s for s in exporter.get_finished_spans() if s.name == BATCH_SPAN])
    return results, caller, [s for s in exporter.get_finished_spans() if s.name == BATCH_SPAN]


def check_batches(batches, caller, tasks, units):
    assert len(batches) == len(units)  # one span per work unit
    assert {s.context.trace_id for s in batches} == {caller.context.trace_id}
    assert {s.parent.span_id for s in batches} == {caller.context.span_id}
    assert all(s.resource.attributes["service.name"] == WORKER_SERVICE for s in batches)
    covered = sorted((s.attributes["scenario"], s.attributes["replication_start"], s.attributes["replication_stop"])
                     for s in batches)
    assert covered == sorted((tasks[i].inputs.scenario_key, a, b) for i, a, b in units)
    assert all(s.attributes["cpu_seconds"] > 0 and s.end_time > s.start_time for s in batches)


def test_pool_units_run_in_worker_spans_of_the_callers_trace(noise):
    tasks = _tasks(noise)
    with LocalPoolExecutor(2) as pool:
        results, caller, batches = traced_map(pool, tasks)
        assert results == InlineExecutor().map_scenarios(tasks)  # tracing changes no number
        check_batches(batches, caller, tasks, split_units(tasks, pool.workers))
        assert {s.attributes["process.pid"] for s in batches} <= pool.worker_pids
        assert caller.start_time <= min(s.start_time for s in batches)
        assert max(s.end_time for s in batches) <= caller.end_time


#: Asked of a worker with the builtin ``eval`` (a function of this module would import its OpenTelemetry).
LOADED = "'opentelemetry' in __import__('sys').modules"


def test_untraced_units_load_no_opentelemetry_in_the_workers(noise):
    with LocalPoolExecutor(1) as pool:
        pool.map_scenarios(_tasks(noise)[:2])
        assert pool._pool.submit(eval, LOADED).result() is False
        traced_map(pool, _tasks(noise)[:1])
        assert pool._pool.submit(eval, LOADED).result() is True  # the check can fail
