"""The audit log: every write (who, role, site, route, what changed, when, request id) in the run store.

``AuditMiddleware`` records each request with a writing method (POST, PUT, PATCH, DELETE) after
its response started: the principal the auth dependency put on ``request.state`` (or
"unauthenticated" for a 401), the route template (``/runs/{run_id}``, not the raw path), the
status code, the request id of the JSON logs, and what changed. A route says what it changed with
``audit_change(request, {...})`` (e.g. the new vessel's id); otherwise the request body is recorded
(up to ``MAX_BODY_BYTES``; larger bodies are recorded by size and SHA-256). Admins read the log of
their own site at ``GET /audit``.

A failing audit write is logged and counted (``mineops_audit_write_failures_total``); it never
turns a completed request into an error, since the change has already happened.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import MetaData, Table, desc, insert, select
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Admin

log = logging.getLogger(__name__)

#: Methods that write (the ones audited).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Request bodies up to this size are stored whole in the audit row; larger ones by size and hash.
MAX_BODY_BYTES = 4096
#: Most rows one GET /audit returns, and the default.
MAX_AUDIT_LIMIT = 1000
DEFAULT_AUDIT_LIMIT = 100


class AuditLog:
    """The ``audit_log`` table."""

    def __init__(self, engine: Engine):
        self.engine = engine
        with engine.connect() as conn:
            self._t = Table("audit_log", MetaData(), autoload_with=conn)

    def record(self, *, subject: str, role: str, site: str, method: str, route: str, status: int,
               request_id: str | None, change: Any, at: datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(self._t), {
                "at": at or datetime.now(timezone.utc), "subject": subject, "role": role, "site": site,
                "method": method, "route": route, "status": int(status), "request_id": request_id,
                "change": json.dumps(change, ensure_ascii=False, default=str)})

    def recent(self, site: str, limit: int = DEFAULT_AUDIT_LIMIT) -> list[dict[str, Any]]:
        """The newest rows of ``site``, newest first."""
        t = self._t
        query = select(t).where(t.c.site == site).order_by(desc(t.c.at), desc(t.c.id)).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            at = r.at if r.at.tzinfo else r.at.replace(tzinfo=timezone.utc)
            out.append({"at": at.isoformat(timespec="milliseconds"), "subject": r.subject, "role": r.role,
                        "site": r.site, "method": r.method, "route": r.route, "status": r.status,
                        "request_id": r.request_id, "change": json.loads(r.change)})
        return out


def audit_change(request: Request, change: Any) -> None:
    """Say what this request changed (stored in its audit row instead of the request body)."""
    request.state.audit_change = change


def _body_summary(body: bytes, truncated: bool) -> Any:
    if truncated or len(body) > MAX_BODY_BYTES:
        return {"body_bytes": len(body), "body_sha256": hashlib.sha256(body).hexdigest(), "truncated": truncated}
    if not body:
        return None
    try:
        return {"body": json.loads(body)}
    except ValueError:
        return {"body_text": body.decode("utf-8", errors="replace")}


class AuditMiddleware:
    """Writes one audit row per writing request (see the module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        truncated = False
        status = {"code": 500}

        async def receive_copy() -> Message:
            nonlocal truncated
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if len(body) + len(chunk) <= MAX_BODY_BYTES + 1:
                    body.extend(chunk)
                else:
                    truncated = True
            return message

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_copy, send_status)
        finally:
            await self._write(scope, status["code"], bytes(body), truncated)

    async def _write(self, scope: Scope, status: int, body: bytes, truncated: bool) -> None:
        from api.logging_setup import request_id_var

        app_state = scope["app"].state
        store = getattr(app_state, "store", None)
        if store is None:
            return
        state = scope.get("state") or {}
        principal = state.get("principal")
        route = scope.get("route")
        change = state.get("audit_change", _MISSING)
        if change is _MISSING:
            change = _body_summary(body, truncated)
        row = dict(subject=principal.subject if principal else "unauthenticated",
                   role=principal.role.name if principal else "",
                   site=principal.site if principal else app_state.settings.site,
                   method=scope["method"], route=getattr(route, "path", scope.get("path", "")), status=status,
                   request_id=request_id_var.get(), change=change)
        try:
            await asyncio.to_thread(_audit_log(app_state).record, **row)
        except Exception:
            log.exception("audit write failed for %s %s", row["method"], row["route"])
            metrics = getattr(app_state, "metrics", None)
            if metrics is not None and hasattr(metrics, "audit_failures"):
                metrics.audit_failures.inc()


_MISSING = object()


def _audit_log(app_state: Any) -> AuditLog:
    audit = getattr(app_state, "audit_log", None)
    if audit is None or audit.engine is not app_state.store.engine:
        audit = app_state.audit_log = AuditLog(app_state.store.engine)
    return audit


# --- GET /audit ----------------------------------------------------------------------------------------

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    """One audited write."""

    at: str
    subject: str
    role: str
    site: str
    method: str
    route: str
    status: int
    request_id: str | None
    change: Any


@router.get("/audit", response_model=list[AuditEntry])
def get_audit(request: Request, principal: Admin,
              limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = DEFAULT_AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The newest audited writes of the caller's site, newest first (admins only)."""
    return _audit_log(request.app.state).recent(principal.site, limit)
