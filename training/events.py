"""Events worth telling people about, published to an outbox file any process may append to.

``publish(logs_dir, type, summary, data, site)`` appends one JSON line to
``logs/events/outbox.jsonl`` under an exclusive ``flock`` (whole lines only, so concurrent
publishers never tear one). It lives in ``training`` (the bottom layer) so the batch commands
(retrain, registry, drift), the live worker and the API all publish the same way; publishing never
touches the network. The API's dispatcher (``api/notify.py``) reads the outbox from its last
delivered offset and delivers each event to the configured receivers (signed webhook, e-mail)
with retries, so a receiver being down delays a notification but never fails the command.

Event types: ``model.promoted``, ``model.rejected``, ``model.rolled_back``, ``drift.detected``,
``vessel.at_risk``, ``live.kpi_alert``.
"""
from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EVENTS_DIR = "events"
OUTBOX_FILE = "outbox.jsonl"
#: Types the publishers use (receivers may filter on them).
EVENT_TYPES = frozenset({"model.promoted", "model.rejected", "model.rolled_back", "drift.detected",
                         "vessel.at_risk", "live.kpi_alert"})
#: Site of events whose publisher does not know one (the single-site deployments of today).
DEFAULT_SITE = "default"


@dataclass(frozen=True)
class Event:
    """One notification: what happened (type, one-line summary), where (site), when, and details."""

    type: str
    summary: str
    site: str = DEFAULT_SITE
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> "Event":
        raw = json.loads(line)
        return cls(type=raw["type"], summary=raw["summary"], site=raw.get("site", DEFAULT_SITE),
                   data=raw.get("data") or {}, id=raw["id"], at=raw["at"])


def outbox_path(logs_dir: Path) -> Path:
    return Path(logs_dir) / EVENTS_DIR / OUTBOX_FILE


def publish(logs_dir: Path, type: str, summary: str, data: dict[str, Any] | None = None,
            site: str = DEFAULT_SITE) -> Event:
    """Append an event to the outbox (the API delivers it); return it."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}: one of {sorted(EVENT_TYPES)}")
    event = Event(type=type, summary=summary, site=site, data=dict(data or {}))
    path = outbox_path(logs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (event.to_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # releases the lock
    return event


def read_events(logs_dir: Path, offset: int) -> tuple[list[Event], int, list[str]]:
    """Whole events after byte ``offset``: (events, the offset after the last whole line, bad lines)."""
    path = outbox_path(logs_dir)
    try:
        with open(path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            if os.fstat(fh.fileno()).st_size < offset:  # the outbox was replaced: start over
                offset = 0
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return [], 0, []
    end = chunk.rfind(b"\n") + 1
    events, bad = [], []
    for raw in chunk[:end].splitlines():
        if not raw.strip():
            continue
        try:
            events.append(Event.from_json(raw.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            bad.append(f"{raw[:200]!r}: {exc}")
    return events, offset + end, bad
