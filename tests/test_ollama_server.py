"""tests/ollama_server.py speaks the Ollama HTTP API: raw HTTP checks and the official client against it."""
from __future__ import annotations

import json
import threading
import time

import httpx
import ollama
import pytest

from tests.ollama_server import OLLAMA_VERSION, OllamaTestServer, Reply, closed_port_url

MODEL = "qwen2.5:7b"
MESSAGES = [{"role": "user", "content": "berapa profit opsi 1"}]


@pytest.fixture
def server():
    with OllamaTestServer() as running:
        yield running


def test_root_version_and_unknown_paths(server):
    assert httpx.get(server.url).text == "Ollama is running"
    head = httpx.head(server.url)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "17"
    assert httpx.get(f"{server.url}/api/version").json() == {"version": OLLAMA_VERSION}
    missing = httpx.get(f"{server.url}/api/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")


def test_tags_lists_the_configured_models(server):
    server.models.append("llama3.2:1b")
    body = httpx.get(f"{server.url}/api/tags").json()
    assert [m["name"] for m in body["models"]] == [MODEL, "llama3.2:1b"]
    assert body["models"][0]["details"]["family"] == "qwen2" and len(body["models"][0]["digest"]) == 64
    listed = ollama.Client(host=server.url).list()
    assert [m.model for m in listed.models] == [MODEL, "llama3.2:1b"] and listed.models[0].size == 4_683_087_332


def test_chat_streams_ndjson_by_default(server):
    server.script(Reply.text("Profit opsi 1 Rp1,21 miliar."))
    with httpx.stream("POST", f"{server.url}/api/chat", json={"model": MODEL, "messages": MESSAGES}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert "".join(line["message"]["content"] for line in lines) == "Profit opsi 1 Rp1,21 miliar."
    assert [line["done"] for line in lines] == [False] * 5 + [True]
    assert all(line["model"] == MODEL and line["message"]["role"] == "assistant" for line in lines)
    final = lines[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == 5 and final["prompt_eval_count"] == 4
    assert {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration", "created_at"} <= set(final)


def test_chat_without_streaming_is_one_json(server):
    server.script(Reply.text("Halo planner."))
    response = httpx.post(f"{server.url}/api/chat", json={"model": MODEL, "messages": MESSAGES, "stream": False})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["message"] == {"role": "assistant", "content": "Halo planner."}
    assert body["done"] is True and body["eval_count"] == 2


def test_official_client_reads_text_and_tool_calls(server):
    client = ollama.Client(host=server.url)
    server.script(Reply.tool_call("what_if", strategy_label="OPSI_2", trucks=8, excavators=2),
                  Reply.tool_call("compare", strategy_a="OPSI_1", strategy_b="OPSI_2"),
                  Reply.text("Selesai."))
    called = client.chat(model=MODEL, messages=MESSAGES)
    (call,) = called.message.tool_calls
    assert (call.function.name, call.function.arguments) == ("what_if", {"strategy_label": "OPSI_2", "trucks": 8,
                                                                         "excavators": 2})
    streamed = list(client.chat(model=MODEL, messages=MESSAGES, stream=True))
    assert streamed[-2].message.tool_calls[0].function.name == "compare" and streamed[-1].done
    assert client.chat(model=MODEL, messages=MESSAGES).message.content == "Selesai."
    assert client.chat(model=MODEL, messages=MESSAGES).message.content == "OK"  # the default reply


def test_errors_are_statuses_with_an_error_body(server):
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="llama3.2", messages=MESSAGES)
    assert (missing.value.status_code, missing.value.error) == (404, 'model "llama3.2" not found, try pulling it first')
    server.script(Reply.failure(503, "server busy, please try again"))
    with pytest.raises(ollama.ResponseError) as busy:
        client.chat(model=MODEL, messages=MESSAGES)
    assert (busy.value.status_code, busy.value.error) == (503, "server busy, please try again")
    no_model = httpx.post(f"{server.url}/api/chat", json={"messages": MESSAGES})
    assert (no_model.status_code, no_model.json()) == (400, {"error": "model is required"})
    server.script(Reply.text("Sebagian jawaban", stream_error="llama runner process has terminated"))
    with pytest.raises(ollama.ResponseError, match="llama runner process has terminated"):
        list(client.chat(model=MODEL, messages=MESSAGES, stream=True))


def test_requests_are_recorded(server):
    ollama.Client(host=server.url).chat(model=MODEL, messages=MESSAGES, options={"temperature": 0.2})
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/chat")
    assert request.headers["user-agent"].startswith("ollama-python/")
    assert request.body == {"model": MODEL, "messages": MESSAGES, "tools": [], "stream": False,
                            "options": {"temperature": 0.2}}
    assert server.chat_bodies == [request.body]


def test_delay_triggers_client_timeouts_and_stop_ends_it():
    server = OllamaTestServer().start()
    server.script(Reply.text("late", delay_s=30))
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        ollama.Client(host=server.url, timeout=0.2).chat(model=MODEL, messages=MESSAGES)
    assert time.perf_counter() - started < 1.0
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=3)
    assert not stopper.is_alive()  # the 30 s delay did not hold the server


def test_closed_port_refuses_connections():
    with pytest.raises(ConnectionError):
        ollama.Client(host=closed_port_url()).chat(model=MODEL, messages=MESSAGES)
