"""Golden responses (tests/golden/): the same requests give the same numbers as the recorded code.

Strategies: the prototype's body (with a fixed start), REF-A with fewer replications, and enum
spellings in deterministic mode. Chat: the prototype's chat body answered by the fallback, and a
``{question, run_id}`` chat whose model asks the what-if tool (the tool's numbers are recorded).
Regenerate after an INTENDED model change: ``python -m pytest tests/api/test_golden.py
--regenerate-golden`` (see tests/golden/cases.py).
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.test_app import app_settings, inline_factory, module_mine, wait_ready  # noqa: F401
from tests.golden import cases
from tests.ollama_server import OllamaTestServer, Reply

WHAT_IF_REPLICATIONS = 3
MODEL = "qwen2.5:7b"


@pytest.fixture(scope="module")
def server():
    with OllamaTestServer() as s:
        yield s


@pytest.fixture(scope="module")
def client(module_mine, server):
    settings = app_settings(module_mine, ollama_host=server.url, ollama_timeout_s=5.0,
                            chat_what_if_replications=WHAT_IF_REPLICATIONS)
    with TestClient(create_app(settings, executor_factory=inline_factory)) as c:
        wait_ready(c)
        yield c


def check(request: pytest.FixtureRequest, name: str, actual: Any) -> None:
    actual = cases.strip_volatile(actual)
    if request.config.getoption("--regenerate-golden"):
        cases.store(name, actual)
        return
    problems = cases.differences(cases.load(name), actual)
    assert not problems, (f"{name}: the response differs from the golden one ({len(problems)} places; "
                          "regenerate only for an intended model change, see tests/golden/cases.py):\n"
                          + "\n".join(problems[:20]))


@pytest.mark.parametrize("name", sorted(cases.strategies_cases()))
def test_strategies_responses_match_the_golden_ones(client, request, name):
    r = client.post("/get_top_3_strategies", json=cases.strategies_cases()[name])
    assert r.status_code == 200, r.text
    check(request, f"strategies_{name}", r.json())


def test_prototype_chat_body_fallback_matches_the_golden_answer(client, server, request):
    server.models.remove(MODEL)  # model missing: the deterministic fallback answers from the numbers
    try:
        r = client.post("/ask_chatbot", json=cases.contract("legacy-chat-request.json"))
    finally:
        server.models.append(MODEL)
    assert r.status_code == 200, r.text
    check(request, "chat_legacy_fallback", r.json())


def test_what_if_and_run_chat_match_the_golden_numbers(client, server, request):
    body = cases.strategies_cases()["legacy_top3"]
    run = client.post("/get_top_3_strategies", json=body).json()
    sent = len(server.chat_bodies)
    server.script(Reply.tool_call("what_if", strategy_label="OPSI_1", trucks=7, excavators=1),
                  Reply.text("With 7 trucks and 1 excavator."))
    r = client.post("/ask_chatbot", json={"question": "What if 7 trucks and 1 excavator?", "run_id": run["run_id"]})
    assert r.status_code == 200, r.text
    tool = [m for m in server.chat_bodies[sent + 1]["messages"] if m["role"] == "tool"]
    assert len(tool) == 1
    check(request, "chat_what_if_tool", json.loads(tool[0]["content"]))

    server.models.remove(MODEL)
    try:
        r = client.post("/ask_chatbot", json={"question": "Why is option 1 best?", "run_id": run["run_id"]})
    finally:
        server.models.append(MODEL)
    assert r.status_code == 200, r.text
    check(request, "chat_run_fallback", r.json())
