"""Structured JSON logs (api/logging_setup.py): one object per line, the request id on every line
logged while a request is handled (also from worker threads), echoed in X-Request-ID."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.logging_setup import JsonFormatter, configure_logging, request_id_var
from tests.api.test_app import (  # noqa: F401  (module_mine is a fixture)
    app_settings, contract, inline_factory, module_mine, small_body, wait_ready)


@pytest.fixture(scope="module")
def client(module_mine):
    app = create_app(app_settings(module_mine, ollama_timeout_s=1.0), executor_factory=inline_factory)
    with TestClient(app) as c:
        wait_ready(c)
        yield c


@pytest.fixture
def lines():
    """JSON lines the root logger writes during the test (through the service's formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def read() -> list[dict]:
        handler.flush()
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    try:
        yield read
    finally:
        root.removeHandler(handler)


def test_request_id_sent_is_on_every_line_of_the_request_and_echoed(client, lines, module_mine):
    rid = "req-7f3a-strategies"
    # touching a fleet file makes the request re-read the fleet in its worker thread (more log lines)
    vessels = module_mine.data / "vessels.csv"
    stamp = time.time() + 5
    os.utime(vessels, (stamp, stamp))
    r = client.post("/get_top_3_strategies", json=small_body(), headers={"X-Request-ID": rid})
    assert r.status_code == 200
    assert r.headers["X-Request-ID"] == rid
    logged = lines()
    run_lines = [line for line in logged if line["message"].startswith("strategies run ")]
    assert len(run_lines) == 1
    line = run_lines[0]
    assert line["request_id"] == rid
    assert line["run_id"] == r.json()["run_id"]
    assert line["model_version"] == "v1"
    assert line["level"] == "INFO" and line["logger"] == "api.run_service"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    reread = [line for line in logged if line["logger"] == "training.dataset"]
    assert reread, "the fleet was not re-read in the request's thread"
    assert {line.get("request_id") for line in reread} == {rid}


def test_request_without_an_id_gets_one(client, lines):
    r = client.post("/ask_chatbot", json=contract("legacy-chat-request.json"))  # Ollama is down: fallback
    assert r.status_code == 200 and r.headers["X-Chat-Source"] == "fallback"
    rid = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    warnings = [line for line in lines() if line["level"] == "WARNING"]
    assert {line["logger"] for line in warnings} >= {"api.chat", "api.routes.chat"}
    assert {line["request_id"] for line in warnings} == {rid}
    fallback = [line for line in warnings if line["logger"] == "api.routes.chat"][0]
    assert fallback["fallback_reason"] == "connection"


def test_concurrent_requests_keep_their_own_ids(client, lines):
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"req-{i}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: client.post("/get_top_3_strategies", json=small_body(seed=int(i[-1])),
                                                      headers={"X-Request-ID": i}), ids))
    by_run = {a.json()["run_id"]: a.headers["X-Request-ID"] for a in answers}
    assert sorted(by_run.values()) == ids
    run_lines = [line for line in lines() if line["message"].startswith("strategies run ")]
    assert {line["run_id"]: line["request_id"] for line in run_lines} == by_run


def test_formatter_writes_extras_and_exceptions_as_json():
    formatter = JsonFormatter()
    record = logging.LogRecord("api.test", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
    record.run_id = "abc"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    token = request_id_var.set("rid-1")
    try:
        out = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert out["message"] == "failed x"
    assert (out["level"], out["logger"], out["request_id"], out["run_id"]) == ("ERROR", "api.test", "rid-1", "abc")
    assert out["exception"].startswith("Traceback") and "ValueError: boom" in out["exception"]
    assert "request_id" not in json.loads(formatter.format(logging.makeLogRecord({"msg": "outside"})))


def test_configure_logging_is_idempotent():
    configure_logging("INFO")
    configure_logging("WARNING")
    root = logging.getLogger()
    json_handlers = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    try:
        assert len(json_handlers) == 1
        assert root.level == logging.WARNING
    finally:
        root.setLevel(logging.INFO)
