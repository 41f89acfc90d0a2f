"""POST /ask_chatbot and /ask_chatbot/stream (api/routes/chat.py) against the Ollama-protocol test server.

One app and one test server serve the module; each test scripts the replies it needs.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.test_app import (  # noqa: F401  (module_mine is a fixture)
    app_settings, contract, inline_factory, metric, module_mine, scrape, small_body, wait_ready)
from tests.ollama_server import OllamaTestServer, Reply

MODEL = "qwen2.5:7b"
#: Seconds the app waits for Ollama before falling back (the slow reply below waits longer).
OLLAMA_TIMEOUT_S = 3.0
WHAT_IF_REPLICATIONS = 4
#: An answer that only quotes the legacy context's numbers (so it is grounded).
GROUNDED_ID = "OPSI_1 lebih baik: profit Rp1,21 miliar dibanding Rp640 juta, dengan antrian 0,8 jam."


@pytest.fixture(scope="module")
def server():
    with OllamaTestServer() as s:
        yield s


@pytest.fixture(scope="module")
def app(module_mine, server):
    settings = app_settings(module_mine, ollama_host=server.url, ollama_timeout_s=OLLAMA_TIMEOUT_S,
                            chat_what_if_replications=WHAT_IF_REPLICATIONS)
    return create_app(settings, executor_factory=inline_factory)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        wait_ready(c)
        yield c


@pytest.fixture
def legacy() -> dict[str, Any]:
    return contract("legacy-chat-request.json")


@pytest.fixture(scope="module")
def stored_run(client) -> dict[str, Any]:
    """A run of the strategies route (its request and response), for {question, run_id} chats."""
    body = small_body([3, 5], [1, 2], replications=3)
    r = client.post("/get_top_3_strategies", json=body)
    assert r.status_code == 200, r.text
    return {"request": body, "response": r.json()}


def chat(client: TestClient, body: Any):
    return client.post("/ask_chatbot", json=body)


def counters(client: TestClient) -> dict[str, float]:
    s = scrape(client)
    return {"llm": metric(s, "mineops_chat_requests_total", source="llm") or 0.0,
            "fallback": metric(s, "mineops_chat_requests_total", source="fallback") or 0.0,
            "model_missing": metric(s, "mineops_ollama_errors_total", reason="model_missing") or 0.0,
            "timeout": metric(s, "mineops_ollama_errors_total", reason="timeout") or 0.0}


def test_legacy_body_is_answered_by_the_model(client, server, legacy):
    before, sent = counters(client), len(server.chat_bodies)
    server.script(Reply.text(GROUNDED_ID))
    r = chat(client, legacy)
    assert r.status_code == 200, r.text
    assert r.headers["X-Chat-Source"] == "llm"
    assert r.json() == {"jawaban_ai": GROUNDED_ID, "answer": GROUNDED_ID, "model": MODEL, "grounded": True,
                        "source": "llm"}
    request = server.chat_bodies[sent]
    assert request["model"] == MODEL
    system = request["messages"][0]["content"]
    assert "OPSI_1 | 1 | REKOMENDASI UTAMA | 10 | 2 | Rp1,21 miliar | 1.802 | 0,41 | 0,8" in system
    assert legacy["pertanyaan_user"] in request["messages"][-1]["content"]
    after = counters(client)
    assert after["llm"] == before["llm"] + 1
    assert after["fallback"] == before["fallback"]


def test_question_and_run_id_use_the_stored_run(client, server, stored_run):
    run = stored_run["response"]
    best = run["top_3_strategies"][0]["strategy"]
    sent = len(server.chat_bodies)
    server.script(Reply.text(f"OPSI_1 uses {best['trucks']} dump trucks and {best['excavators']} excavators."))
    r = chat(client, {"question": "Why is option 1 the best choice?", "run_id": run["run_id"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["source"], out["grounded"], out["run_id"]) == ("llm", True, run["run_id"])
    assert out["jawaban_ai"] == out["answer"]
    system = server.chat_bodies[sent]["messages"][0]["content"]
    # English question: English number format; the exact trucks/excavators of each ranked option
    for i, item in enumerate(run["top_3_strategies"], start=1):
        s = item["strategy"]
        assert re.search(rf"^OPSI_{i} \| {i} \| [A-Z ]+ \| {s['trucks']} \| {s['excavators']} \|", system, re.M), system


def test_model_missing_falls_back_with_200_header_and_counters(client, server, legacy):
    before = counters(client)
    server.models.remove(MODEL)
    try:
        r = chat(client, legacy)
    finally:
        server.models.append(MODEL)
    assert r.status_code == 200
    assert r.headers["X-Chat-Source"] == "fallback"
    out = r.json()
    assert (out["source"], out["model"], out["grounded"]) == ("fallback", "deterministic-fallback", True)
    assert out["jawaban_ai"] == out["answer"]
    assert out["answer"].startswith("Penjelasan otomatis dari angka simulasi:\nOPSI_1 berada di peringkat 1")
    assert "Rp1,21 miliar" in out["answer"] and "Rp640 juta" in out["answer"]
    after = counters(client)
    assert after["fallback"] == before["fallback"] + 1
    assert after["model_missing"] == before["model_missing"] + 1
    assert after["llm"] == before["llm"]


def test_slow_model_falls_back_in_the_question_language(client, server, legacy):
    before = counters(client)
    server.script(Reply.text("too late", delay_s=OLLAMA_TIMEOUT_S + 2))
    legacy["pertanyaan_user"] = "Why is option 1 better than option 2? Explain the trade-off."
    r = chat(client, legacy)
    assert r.status_code == 200
    assert r.headers["X-Chat-Source"] == "fallback"
    assert r.json()["answer"].startswith("Automatic explanation from the simulation numbers:")
    after = counters(client)
    assert after["timeout"] == before["timeout"] + 1
    assert after["fallback"] == before["fallback"] + 1


@pytest.mark.parametrize("body,loc,fragment", [
    ({"question": "Why option 1?"}, ["body", "run_id"], "run_id: missing"),
    ({"question": "Why option 1?", "run_id": "0123456789abcdef"}, ["body", "run_id"],
     "run 0123456789abcdef not found"),
    ({"pertanyaan_user": "Kenapa?"}, ["body", "top_3_strategies_context"], "top_3_strategies_context: missing"),
    ({"pertanyaan_user": "Kenapa?", "top_3_strategies_context": []}, ["body", "top_3_strategies_context"],
     "top_3_strategies_context: empty"),
    ({"pertanyaan_user": "Kenapa?", "top_3_strategies_context": [{"OPSI_1": {"TYPE": "REKOMENDASI UTAMA"}}]},
     ["body", "top_3_strategies_context", 0, "OPSI_1", "INSTRUKSI_FLAT", "JUMLAH_DUMP_TRUCK"],
     "top_3_strategies_context[0].OPSI_1.INSTRUKSI_FLAT.JUMLAH_DUMP_TRUCK: missing"),
    ({"top_3_strategies_context": []}, ["body", "pertanyaan_user"], "pertanyaan_user"),
])
def test_request_without_usable_context_is_a_422_naming_what_is_missing(client, body, loc, fragment):
    r = chat(client, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == loc
    assert fragment in detail[0]["msg"]
    stream = client.post("/ask_chatbot/stream", json=body)
    assert (stream.status_code, stream.json()["detail"][0]["loc"]) == (422, loc)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """'event: x\\ndata: {...}\\n\\n' frames -> [(event name or 'message', data)]."""
    assert text.endswith("\n\n"), text[-80:]
    events = []
    for frame in text[:-2].split("\n\n"):
        name, data = "message", None
        for line in frame.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            else:
                assert field == "data", frame
                data = json.loads(value)
        events.append((name, data))
    return events


def test_stream_sends_deltas_then_a_done_event(client, server, legacy):
    server.script(Reply.text(GROUNDED_ID))
    r = client.post("/ask_chatbot/stream", json=legacy)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    events = sse_events(r.text)
    *deltas, (last_name, done) = events
    assert last_name == "done"
    assert deltas and all(name == "message" and set(data) == {"delta"} for name, data in deltas)
    assert "".join(data["delta"] for _, data in deltas) == GROUNDED_ID
    assert done == {"jawaban_ai": GROUNDED_ID, "answer": GROUNDED_ID, "model": MODEL, "grounded": True,
                    "source": "llm"}


def test_what_if_tool_call_runs_the_real_simulator(client, server, stored_run):
    run, request = stored_run["response"], stored_run["request"]
    before = metric(scrape(client), "mineops_simulations_total")
    sent = len(server.chat_bodies)
    server.script(Reply.tool_call("what_if", strategy_label="OPSI_1", trucks=4, excavators=1),
                  Reply.text("With 4 dump trucks and 1 excavator the profit is lower."))
    r = chat(client, {"question": "What if option 1 used 4 trucks and 1 excavator?", "run_id": run["run_id"]})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "llm"
    bodies = server.chat_bodies[sent:]
    assert len(bodies) == 2
    tool_messages = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1 and tool_messages[0]["tool_name"] == "what_if"
    result = json.loads(tool_messages[0]["content"])
    assert (result["trucks"], result["excavators"], result["replications"]) == (4, 1, WHAT_IF_REPLICATIONS)
    # the same request for that one strategy gives the same numbers (same seed, fleet and start)
    direct_body = json.loads(json.dumps(request))
    direct_body["decision_variables"] = {"alokasi_truk": [4], "jumlah_excavator": [1]}
    direct_body["simulation"]["replications"] = WHAT_IF_REPLICATIONS
    direct = client.post("/get_top_3_strategies", json=direct_body).json()["top_3_strategies"][0]["strategy"]
    for key in ("profit_idr", "production_t", "fuel_ratio_l_per_t", "queue_hours"):
        assert result[key] == round(direct["metrics"][key]["mean"], 3), key
    assert result["profit_ci_idr"] == [round(direct["metrics"]["profit_idr"]["ci_low"]),
                                       round(direct["metrics"]["profit_idr"]["ci_high"])]
    assert result["profit_idr"] != pytest.approx(run["top_3_strategies"][0]["strategy"]["metrics"]["profit_idr"]
                                                 ["mean"], rel=1e-6)  # another strategy than the run's best
    # the what-if and the direct request are both counted as simulations
    assert metric(scrape(client), "mineops_simulations_total") == before + 2 * WHAT_IF_REPLICATIONS


#: Two pits and two dumps on the reference export's roads (as tests/simulator/test_network_request.py).
NETWORK = {"loading_points": [{"id": "PIT-01", "node": "Point-A", "excavators": 1},
                              {"id": "PIT-02", "node": "Point-C", "excavators": 1}],
           "destinations": [{"id": "ROM-01", "node": "Point-B", "bays": 1}, {"id": "WASTE-01", "node": "Point-D"}]}


def test_what_if_on_a_network_run_reaches_the_simulator_with_the_dispatch_rule(client, server):
    body = small_body([3], [2], replications=3)
    body["network"] = NETWORK
    run = client.post("/get_top_3_strategies", json=body)
    assert run.status_code == 200, run.text
    run = run.json()
    results = []
    for call in ({"dispatch": "shortest_queue"}, {}):  # another rule; then the option's own (fixed)
        sent = len(server.chat_bodies)
        server.script(Reply.tool_call("what_if", strategy_label="OPSI_1", trucks=4, excavators=2, **call),
                      Reply.text("With 4 dump trucks."))
        r = chat(client, {"question": "What if we use shortest-queue dispatch with 4 trucks?", "run_id": run["run_id"]})
        assert r.status_code == 200, r.text
        tool = [m for m in server.chat_bodies[sent + 1]["messages"] if m["role"] == "tool"]
        results.append(json.loads(tool[0]["content"]))
    assert [(x["dispatch"], x["trucks"], x["excavators"]) for x in results] == [("shortest_queue", 4, 2), ("fixed", 4, 2)]
    # the same as asking the strategies route for that one strategy
    direct_body = json.loads(json.dumps(body))
    direct_body["decision_variables"] = {"alokasi_truk": [4], "jumlah_excavator": [2], "dispatch": ["shortest_queue"]}
    direct_body["simulation"]["replications"] = WHAT_IF_REPLICATIONS
    direct = client.post("/get_top_3_strategies", json=direct_body).json()["top_3_strategies"][0]["strategy"]
    assert direct["dispatch"] == "shortest_queue"
    for key in ("profit_idr", "production_t", "queue_hours"):
        assert results[0][key] == round(direct["metrics"][key]["mean"], 3), key


def test_what_if_on_a_one_road_run_refuses_a_dynamic_rule(client, server, stored_run):
    sent = len(server.chat_bodies)
    server.script(Reply.tool_call("what_if", strategy_label="OPSI_1", trucks=4, excavators=1, dispatch="shortest_wait"),
                  Reply.text("That needs several pits."))
    chat(client, {"question": "What if shortest wait?", "run_id": stored_run["response"]["run_id"]})
    tool = [m for m in server.chat_bodies[sent + 1]["messages"] if m["role"] == "tool"][0]
    assert "dynamic rules choose between loading points" in json.loads(tool["content"])["error"]


def test_what_if_without_a_stored_run_tells_the_model_why(client, server, legacy):
    sent = len(server.chat_bodies)
    server.script(Reply.tool_call("what_if", strategy_label="OPSI_1", trucks=6, excavators=2),
                  Reply.text(GROUNDED_ID))
    r = chat(client, legacy)
    assert r.status_code == 200 and r.json()["source"] == "llm"
    tool = [m for m in server.chat_bodies[sent + 1]["messages"] if m["role"] == "tool"][0]
    assert json.loads(tool["content"]) == {"error": "what-if needs the run's request: ask with {question, run_id}"}


def test_ties_in_the_api_numbers_reach_the_prompt_and_the_fallback_as_option_labels(client, server, legacy):
    """``strategy.tied_with`` names scenario keys; the chat speaks of OPSI_n labels."""
    items = legacy["top_3_strategies_context"]
    items[0]["strategy"] = {"scenario_key": "T10-E2", "tied_with": ["T5-E2", "T15-E3"],
                            "metrics": {"profit_idr": {"mean": 1.21e9, "ci_low": 0.9e9, "ci_high": 1.5e9}}}
    items[1]["strategy"] = {"scenario_key": "T5-E2", "tied_with": ["T10-E2"],
                            "metrics": {"profit_idr": {"mean": 6.4e8, "ci_low": 3.0e8, "ci_high": 9.8e8}}}
    sent = len(server.chat_bodies)
    server.script(Reply.text(GROUNDED_ID))
    assert chat(client, legacy).json()["source"] == "llm"
    system = server.chat_bodies[sent]["messages"][0]["content"]
    assert "statistically_tied_with" in system
    assert re.search(r"^OPSI_1 \| .* \| OPSI_2$", system, re.M), system
    assert re.search(r"^OPSI_2 \| .* \| OPSI_1$", system, re.M), system
    assert "T5-E2" not in system and "T15-E3" not in system
    server.models.remove(MODEL)
    try:
        answer = chat(client, legacy).json()
    finally:
        server.models.append(MODEL)
    assert answer["source"] == "fallback"
    assert "OPSI_1 dan OPSI_2 setara secara statistik" in answer["answer"]
