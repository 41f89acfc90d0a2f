"""Service logs: JSON lines (with a request id on every line logged while a request is handled), or
one human-readable line per record on a terminal.

``MINEOPS_LOG_FORMAT`` chooses: ``json``, ``text``, or ``auto`` (the default): text when stderr is
a terminal, JSON otherwise (files, pipes, log shippers). The image sets ``json``, so a container
logs JSON lines even when run with a terminal (``docker run -t``).
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.tracing import log_ids

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any ``extra``."""

    _RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        out.update(log_ids())  # trace_id, span_id of the current OpenTelemetry span, if any
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One human line: local time, level, message, then the request id when there is one (tracebacks follow)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        rid = request_id_var.get()
        if rid:
            line += f"  [request {rid}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text`` for the setting ``log_format`` (``auto``: text on a terminal, else JSON)."""
    if log_format != "auto":
        return log_format
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # closed or not a real stream
        return "json"


def configure_logging(level: str, log_format: str = "auto", stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) as JSON lines or text lines (idempotent)."""
    stream = stream or sys.stderr
    formatter = TextFormatter() if resolve_format(log_format, stream) == "text" else JsonFormatter()
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, (JsonFormatter, TextFormatter))]
    if ours and isinstance(ours[0], logging.StreamHandler) and ours[0].stream is stream:
        ours[0].setFormatter(formatter)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


class RequestIdMiddleware:
    """Take the caller's X-Request-ID (or make one), expose it to logs, echo it in the response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode())
        rid = incoming.decode("latin-1")[:64] if incoming else uuid.uuid4().hex
        token = request_id_var.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(REQUEST_ID_HEADER.lower().encode(), rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
