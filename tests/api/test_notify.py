"""Notifications (training/events.py, api/notify.py): events from the outbox to a signed webhook and
e-mail, with retries and counted failures, against a local webhook receiver and a local SMTP server."""
from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.metrics import Metrics
from api.notify import (EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, UNDELIVERED_FILE, Dispatcher,
                        EmailReceiver, WebhookReceiver, sign, verify_signature)
from prometheus_client import CollectorRegistry
from tests.api.test_app import app_settings, inline_factory, wait_until
from tests.e2e_server import free_port
from tests.ollama_server import closed_port_url
from training.events import EVENTS_DIR, publish, read_events

SECRET = "a-test-secret-that-is-long-enough"


class WebhookSink:
    """A local webhook receiver: answers ``fail_first`` requests with 500, then 200; keeps every request."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.requests.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(sink.requests) <= sink.fail_first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self) -> list[dict]:
        """The bodies whose signature verifies with SECRET (as a receiver would check them)."""
        out = []
        for headers, body in self.requests:
            if verify_signature(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]):
                out.append(json.loads(body))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(fail_first=1)
    yield s
    s.close()


def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def value(m: Metrics, name: str, **labels) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def test_signatures_verify_only_with_the_secret_the_body_and_a_fresh_timestamp():
    body, now = b'{"type":"model.promoted"}', int(time.time())
    sig = sign(SECRET, body, now)
    assert sig.startswith("sha256=") and verify_signature(SECRET, body, str(now), sig)
    assert not verify_signature("another-secret", body, str(now), sig)
    assert not verify_signature(SECRET, body + b" ", str(now), sig)
    assert not verify_signature(SECRET, body, str(now - 3600), sign(SECRET, body, now - 3600))
    assert not verify_signature(SECRET, body, "yesterday", sig)


def test_outbox_keeps_whole_events_and_reads_from_an_offset(tmp_path: Path):
    a = publish(tmp_path, "model.promoted", "v2 promoted", {"version": "v2"}, "pit-1")
    events, offset, bad = read_events(tmp_path, 0)
    assert [e.id for e in events] == [a.id] and events[0].site == "pit-1" and not bad
    b = publish(tmp_path, "drift.detected", "drift")
    with open(tmp_path / EVENTS_DIR / "outbox.jsonl", "a") as fh:
        fh.write('{"half a line')  # a publisher still writing: not read yet
    events, offset2, _ = read_events(tmp_path, offset)
    assert [e.id for e in events] == [b.id] and offset2 > offset
    with pytest.raises(ValueError, match="unknown event type"):
        publish(tmp_path, "model.exploded", "?")


def test_webhook_is_retried_signed_and_counted(tmp_path: Path, sink: WebhookSink):
    m = metrics()
    event = publish(tmp_path, "model.rejected", "v3 rejected", {"version": "v3"})
    d = Dispatcher(tmp_path, [WebhookReceiver(sink.url, SECRET)], m, attempts=3, backoff_s=0.01)
    assert d.deliver_pending() == 1
    assert len(sink.requests) == 2  # the first answer was 500
    assert [e["id"] for e in sink.verified()] == [event.id] * 2  # both attempts signed
    assert sink.requests[-1][0][EVENT_HEADER] == "model.rejected"
    assert value(m, "mineops_notifications_total", receiver="webhook", outcome="delivered") == 1
    assert value(m, "mineops_notification_attempt_failures_total", receiver="webhook") == 1
    assert d.deliver_pending() == 0  # the offset moved: nothing is delivered twice


def test_a_receiver_that_never_answers_is_counted_and_kept_for_replay(tmp_path: Path):
    m = metrics()
    publish(tmp_path, "drift.detected", "drift on 5 of 19 columns")
    d = Dispatcher(tmp_path, [WebhookReceiver(closed_port_url() + "/hook", SECRET)], m, attempts=3, backoff_s=0.01)
    assert d.deliver_pending() == 1
    assert value(m, "mineops_notifications_total", receiver="webhook", outcome="failed") == 1
    assert value(m, "mineops_notification_attempt_failures_total", receiver="webhook") == 3
    kept = [json.loads(line) for line in (tmp_path / EVENTS_DIR / UNDELIVERED_FILE).read_text().splitlines()]
    assert [k["event"]["type"] for k in kept] == ["drift.detected"]


def test_email_goes_through_smtp(tmp_path: Path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        publish(tmp_path, "vessel.at_risk", "MV Borneo probably late", {"run_id": "r1"}, "pit-1")
        m = metrics()
        d = Dispatcher(tmp_path, [EmailReceiver("127.0.0.1", port, "mineops@test", ["planner@test", "ops@test"])], m,
                       attempts=2, backoff_s=0.01)
        assert d.deliver_pending() == 1
    finally:
        controller.stop()
    assert len(received) == 1
    msg = received[0]
    assert msg["Subject"] == "[mining-ops pit-1] vessel.at_risk: MV Borneo probably late"
    assert msg["To"] == "planner@test, ops@test" and '"run_id": "r1"' in msg.get_payload()
    assert value(m, "mineops_notifications_total", receiver="email", outcome="delivered") == 1


def test_a_promotion_delivers_a_signed_webhook_through_the_running_service(trained_mine_copy, sink: WebhookSink):
    from training.registry import Registry
    from training.registry import main as registry_main

    paths = trained_mine_copy
    champion = Registry(paths.models).champion()
    new = f"v{int(champion[1:]) + 1}"
    shutil.copytree(paths.models / champion, paths.models / new)  # a second version to promote
    settings = app_settings(paths, notify_webhook_url=sink.url, secret_key=SECRET, notify_poll_s=0.05,
                            notify_backoff_s=0.01, site="pit-7")
    with TestClient(__import__("api.app", fromlist=["create_app"]).create_app(
            settings, executor_factory=inline_factory)) as client:
        from unittest import mock

        with mock.patch("training.settings.get_settings", return_value=settings):
            assert registry_main(["--models", str(paths.models), "--logs", str(paths.logs), "promote", new]) == 0
        wait_until(lambda: sink.verified(), what="the promotion webhook")
        event = sink.verified()[0]
        assert event["type"] == "model.promoted" and event["data"]["version"] == new
        assert event["data"]["champion_before"] == champion and event["site"] == "pit-7"
        wait_until(lambda: 'mineops_notifications_total{outcome="delivered",receiver="webhook"} 1.0'
                   in client.get("/metrics").text, what="the delivery metric")
