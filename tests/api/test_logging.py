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
from api.logging_setup import JsonFormatter, TextFormatter, configure_logging, request_id_var, resolve_format
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


# --- the format setting: JSON lines by default, one human line on a terminal ------------------------

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("setting, tty, expected", [
    ("auto", True, "text"), ("auto", False, "json"), ("json", True, "json"), ("text", False, "text"),
])
def test_the_setting_chooses_json_or_text(setting, tty, expected):
    stream = _Tty() if tty else io.StringIO()
    assert resolve_format(setting, stream) == expected


def test_text_lines_are_one_line_with_time_level_message_and_request_id():
    record = logging.LogRecord("api.test", logging.WARNING, __file__, 1, "queue %d deep", (3,), None)
    record.created, record.msecs = time.mktime((2026, 12, 2, 10, 32, 21, 0, 0, -1)), 123
    assert TextFormatter().format(record) == "2026-12-02 10:32:21.123 WARNING queue 3 deep"
    token = request_id_var.set("rid-9")
    try:
        assert TextFormatter().format(record).endswith("queue 3 deep  [request rid-9]")
    finally:
        request_id_var.reset(token)


def test_configure_logging_switches_format_without_adding_handlers():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = _Tty()
    try:
        configure_logging("INFO", "text", stream=stream)
        logging.getLogger("api.test").info("hello")
        configure_logging("INFO", "json", stream=stream)
        logging.getLogger("api.test").info("again")
        assert len(root.handlers) == 1
        first, second = stream.getvalue().splitlines()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    hello", first), first
        assert json.loads(second)["message"] == "again"
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])


def _service_log_line(env_format: str | None, tty: bool) -> str:
    """The first line ``configure_logging`` (as the service calls it) writes in a fresh interpreter."""
    import pty
    import subprocess
    import sys

    from tests import paths

    code = ("import logging; from api.logging_setup import configure_logging; from api.settings import get_settings; "
            "s = get_settings(); configure_logging(s.log_level, s.log_format); logging.getLogger('api').info('up')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINEOPS_")}
    env["PYTHONPATH"] = str(paths.REPO)
    if env_format:
        env["MINEOPS_LOG_FORMAT"] = env_format
    if not tty:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        return done.stderr.splitlines()[0]
    parent, child = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=child)
        os.close(child)
        child = -1
        out = b""
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=60)
        return out.decode().splitlines()[0]
    finally:
        os.close(parent)
        if child >= 0:
            os.close(child)


def test_the_service_logs_text_on_a_terminal_and_json_into_a_pipe():
    text_line = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    up"
    on_terminal = _service_log_line(None, tty=True)
    assert re.fullmatch(text_line, on_terminal), on_terminal
    assert json.loads(_service_log_line(None, tty=False))["message"] == "up"
    assert json.loads(_service_log_line("json", tty=True))["message"] == "up"
    assert re.fullmatch(text_line, _service_log_line("text", tty=False))
