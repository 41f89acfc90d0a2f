"""A real HTTP server speaking the Ollama API, for driving the official ``ollama`` client in tests.

It serves ``GET/HEAD /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags`` (a
configurable model list) and ``POST /api/chat``: ``stream: true`` (the default, as in Ollama)
answers NDJSON over chunked transfer, one line per word and a final ``done: true`` line with
``done_reason``, durations and token counts; ``stream: false`` answers one JSON object. Replies are
scripted (:class:`Reply`: text, tool calls, an HTTP error with ``{"error": ...}``, an error line
inside a stream, a delay before answering); an unknown model gets Ollama's 404. Every request is
recorded. Use it as a context manager::

    with OllamaTestServer() as server:
        server.script(Reply.text("Halo"))
        ollama.Client(host=server.url).chat(model="qwen2.5:7b", messages=[...])
        server.chat_bodies[-1]["messages"]
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OLLAMA_VERSION = "0.12.6"  # version /api/version reports
DEFAULT_MODELS = ("qwen2.5:7b",)


@dataclass
class Reply:
    """One scripted answer of ``/api/chat``."""

    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None  # [{"function": {"name": ..., "arguments": {...}}}]
    status: int = 200  # non-200: answer {"error": error} with this status
    error: str = ""
    stream_error: str = ""  # sent as an {"error": ...} NDJSON line after the content (status 200)
    delay_s: float = 0.0  # wait before sending anything (a slow or stuck model)
    chunk_delay_s: float = 0.0  # wait between streamed lines
    done_reason: str = "stop"

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        """A plain assistant answer."""
        return cls(content=content, **kwargs)

    @classmethod
    def tool_call(cls, name: str, **arguments: Any) -> Reply:
        """The model asks for one tool call."""
        return cls(tool_calls=[{"function": {"name": name, "arguments": arguments}}])

    @classmethod
    def failure(cls, status: int, error: str) -> Reply:
        """An HTTP error answered as Ollama does: ``{"error": "..."}`` with ``status``."""
        return cls(status=status, error=error)


@dataclass
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text if it was not JSON, or None without a body


@dataclass
class _State:
    models: list[str]
    default_reply: Reply
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _words(text: str) -> list[str]:
    """Stream pieces of ``text`` (a word and the whitespace after it) that join back to ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the access log
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during a scripted delay)

    # -- plumbing --
    def _record(self, body: Any) -> None:
        state = self.server.state
        with state.lock:
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.requests.append(RecordedRequest(self.command, self.path, headers, body))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _not_found(self) -> None:
        self._send(404, b"404 page not found", "text/plain")

    # -- routes --
    def do_HEAD(self) -> None:
        self._record(None)
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8") if self.path == "/" else self._not_found()

    def do_GET(self) -> None:
        self._record(None)
        if self.path == "/":
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self._send_json(200, {"version": OLLAMA_VERSION})
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [_model_entry(name) for name in self.server.state.models]})
        else:
            self._not_found()

    def do_POST(self) -> None:
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
        state = self.server.state
        model = (body or {}).get("model") or ""
        if not model:
            self._send_json(400, {"error": "model is required"})
            return
        if model not in state.models:
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        with state.lock:
            reply = state.replies.popleft() if state.replies else state.default_reply
        if reply.delay_s and state.stopping.wait(reply.delay_s):
            return
        if reply.status != 200:
            self._send_json(reply.status, {"error": reply.error})
            return
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        if body.get("stream", True):
            self._stream(model, reply, prompt_tokens)
        else:
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if reply.tool_calls:
                message["tool_calls"] = reply.tool_calls
            self._send_json(200, {"model": model, "created_at": _now(), "message": message, "done": True,
                                  **_final_fields(reply, prompt_tokens, len(_words(reply.content)) or 1)})

    def _stream(self, model: str, reply: Reply, prompt_tokens: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def line(payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        words = _words(reply.content)
        for i, word in enumerate(words):
            if i and reply.chunk_delay_s and self.server.state.stopping.wait(reply.chunk_delay_s):
                return
            line({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": word},
                  "done": False})
        if reply.tool_calls:
            line({"model": model, "created_at": _now(),
                  "message": {"role": "assistant", "content": "", "tool_calls": reply.tool_calls}, "done": False})
        if reply.stream_error:
            line({"error": reply.stream_error})
        else:
            line({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                  "done": True, **_final_fields(reply, prompt_tokens, len(words) or 1)})
        self.wfile.write(b"0\r\n\r\n")


def _final_fields(reply: Reply, prompt_tokens: int, eval_count: int) -> dict[str, Any]:
    """Ollama's closing statistics (durations in nanoseconds)."""
    return {"done_reason": reply.done_reason, "total_duration": 1_000_000 * (eval_count + prompt_tokens),
            "load_duration": 100_000, "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 100_000 * prompt_tokens, "eval_count": eval_count,
            "eval_duration": 1_000_000 * eval_count}


def _model_entry(name: str) -> dict[str, Any]:
    family = name.split(":")[0].split(".")[0]  # "qwen2.5:7b" -> "qwen2", as Ollama reports it
    return {"name": name, "model": name, "modified_at": "2025-11-01T08:00:00.000000000+07:00",
            "size": 4_683_087_332, "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": "7.6B", "quantization_level": "Q4_K_M"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State


class OllamaTestServer:
    """The Ollama protocol on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self, models: tuple[str, ...] | list[str] = DEFAULT_MODELS, default_reply: Reply | None = None):
        self._state = _State(models=list(models), default_reply=default_reply or Reply.text("OK"))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    def start(self) -> OllamaTestServer:
        """Bind and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self._state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; scripted delays in progress end at once."""
        self._state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- configuration and inspection --
    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def models(self) -> list[str]:
        """Models /api/tags lists and /api/chat accepts (mutable)."""
        return self._state.models

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next /api/chat requests (then ``default_reply``)."""
        with self._state.lock:
            self._state.replies.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the /api/chat requests, in order."""
        return [r.body for r in self.requests if r.path == "/api/chat" and r.method == "POST"]


def closed_port_url() -> str:
    """URL of a 127.0.0.1 port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

