"""Deliver the outbox's events (``training/events.py``) to people: a signed webhook and e-mail.

Receivers come from the settings: ``notify_webhook_url`` gets each event as a JSON POST with

    X-MineOps-Event: model.promoted
    X-MineOps-Timestamp: 1733130000            (Unix seconds)
    X-MineOps-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with MINEOPS_SECRET_KEY>

(``verify_signature`` is the receiver's side, with a freshness window against replays);
``notify_smtp_host`` + ``notify_email_to`` get a plain-text e-mail. Each delivery is retried
with exponential backoff (tenacity: ``notify_attempts``, first pause ``notify_backoff_s``);
attempts that fail are counted in ``mineops_notification_attempt_failures_total`` and events that
fail every attempt in ``mineops_notifications_total{outcome="failed"}`` and appended to
``logs/events/undelivered.jsonl`` for a later replay.

``Dispatcher`` runs in one thread per API process. It takes an exclusive lock on
``logs/events/outbox.offset`` while it reads new events, delivers them and advances the offset, so
with several workers each event is delivered once, and a crash before the offset moves means a
re-delivery (at least once), never a loss. Receivers should de-duplicate on the event's ``id``.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import smtplib
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx
from tenacity import Retrying, stop_after_attempt, wait_exponential

from training.events import EVENTS_DIR, Event, read_events

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MineOps-Signature"
TIMESTAMP_HEADER = "X-MineOps-Timestamp"
EVENT_HEADER = "X-MineOps-Event"
#: A signature older (or newer) than this is refused by ``verify_signature`` (replay window), s.
SIGNATURE_TOLERANCE_S = 300
#: Seconds a webhook POST and an SMTP conversation may take.
DELIVERY_TIMEOUT_S = 10.0
#: Longest pause between two attempts, s.
MAX_BACKOFF_S = 60.0
OFFSET_FILE = "outbox.offset"
UNDELIVERED_FILE = "undelivered.jsonl"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``sha256=<hex>`` of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, timestamp: str, signature: str, *,
                     now: float | None = None, tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """True when ``signature`` was made with ``secret`` over this body and a fresh timestamp."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature or "")


class Receiver(Protocol):
    name: str

    def deliver(self, event: Event) -> None: ...


class WebhookReceiver:
    """POSTs the event as JSON with the signature headers; any non-2xx answer is a failure."""

    name = "webhook"

    def __init__(self, url: str, secret: str, client: httpx.Client | None = None):
        self.url = url
        self.secret = secret
        self.client = client or httpx.Client(timeout=DELIVERY_TIMEOUT_S)

    def deliver(self, event: Event) -> None:
        body = event.to_json().encode("utf-8")
        ts = int(time.time())
        r = self.client.post(self.url, content=body, headers={
            "Content-Type": "application/json", EVENT_HEADER: event.type, TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(self.secret, body, ts)})
        r.raise_for_status()

    def close(self) -> None:
        self.client.close()


class EmailReceiver:
    """Sends a plain-text e-mail per event through SMTP."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: list[str], *, starttls: bool = False,
                 user: str = "", password: str = ""):
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.starttls, self.user, self.password = starttls, user, password

    def deliver(self, event: Event) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[mining-ops {event.site}] {event.type}: {event.summary}"[:200]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Message-ID"] = f"<{event.id}@mining-ops>"
        msg.set_content(f"{event.summary}\n\nsite: {event.site}\nat: {event.at}\nevent: {event.type} {event.id}\n\n"
                        + json.dumps(event.data, indent=2, ensure_ascii=False, default=str))
        with smtplib.SMTP(self.host, self.port, timeout=DELIVERY_TIMEOUT_S) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(msg)

    def close(self) -> None:
        return None


def receivers_from_settings(settings: Any) -> list[Any]:
    out: list[Any] = []
    if settings.notify_webhook_url:
        out.append(WebhookReceiver(settings.notify_webhook_url, settings.secret_key))
    recipients = [a.strip() for a in settings.notify_email_to.split(",") if a.strip()]
    if settings.notify_smtp_host and recipients:
        out.append(EmailReceiver(settings.notify_smtp_host, settings.notify_smtp_port, settings.notify_email_from,
                                 recipients, starttls=settings.notify_smtp_starttls, user=settings.notify_smtp_user,
                                 password=settings.notify_smtp_password))
    return out


class Dispatcher:
    """Delivers new outbox events to every receiver (one thread per process; see module docstring)."""

    def __init__(self, logs_dir: Path, receivers: list[Any], metrics: Any = None, *, attempts: int = 5,
                 backoff_s: float = 1.0, poll_s: float = 1.0):
        self.folder = Path(logs_dir) / EVENTS_DIR
        self.logs_dir = Path(logs_dir)
        self.receivers = receivers
        self.metrics = metrics
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Any, metrics: Any = None) -> "Dispatcher":
        return cls(settings.logs_dir, receivers_from_settings(settings), metrics, attempts=settings.notify_attempts,
                   backoff_s=settings.notify_backoff_s, poll_s=settings.notify_poll_s)

    # --- one pass ------------------------------------------------------------------------------------

    def deliver_pending(self) -> int:
        """Deliver every event published since the last pass; return how many were handled."""
        if not self.receivers:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / OFFSET_FILE, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.seek(0)
            text = fh.read().strip()
            offset = int(text) if text.isdigit() else 0
            events, new_offset, bad = read_events(self.logs_dir, offset)
            for line in bad:
                log.error("outbox line skipped (not an event): %s", line)
            for event in events:
                for receiver in self.receivers:
                    self._deliver(receiver, event)
            if self._stop.is_set():  # stopping cut retries short: deliver these again on the next start
                return len(events)
            fh.seek(0)
            fh.truncate()
            fh.write(str(new_offset))
            fh.flush()
        return len(events)

    def _deliver(self, receiver: Any, event: Event) -> None:
        def failed_attempt(state: Any) -> None:
            self._count_attempt_failure(receiver, state.outcome.exception())

        retrying = Retrying(stop=stop_after_attempt(self.attempts), reraise=True, after=failed_attempt,
                            wait=wait_exponential(multiplier=self.backoff_s, max=MAX_BACKOFF_S),
                            sleep=self._stop.wait)
        try:
            retrying(receiver.deliver, event)
        except Exception as exc:
            log.error("notification %s (%s) not delivered to %s after %d attempts: %s", event.id, event.type,
                      receiver.name, self.attempts, exc)
            self._count(receiver.name, "failed")
            with open(self.folder / UNDELIVERED_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"receiver": receiver.name, "error": str(exc), "event": json.loads(event.to_json())})
                         + "\n")
            return
        self._count(receiver.name, "delivered")
        log.info("notification %s (%s) delivered to %s", event.id, event.type, receiver.name)

    def _count_attempt_failure(self, receiver: Any, exc: BaseException | None) -> None:
        log.warning("notification attempt to %s failed: %s", receiver.name, exc)
        if self.metrics is not None:
            self.metrics.notification_attempt_failures.labels(receiver.name).inc()

    def _count(self, receiver: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.notifications.labels(receiver, outcome).inc()

    # --- the thread ----------------------------------------------------------------------------------

    def start(self) -> "Dispatcher":
        if self.receivers and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="notifications", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_pending()
            except Exception:
                log.exception("notification pass failed; retrying on the next poll")
            self._stop.wait(self.poll_s)

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for receiver in self.receivers:
            close = getattr(receiver, "close", None)
            if close is not None:
                close()


def publish_vessel_risk(result: Any, settings: Any, site: str) -> Event | None:
    """Publish ``vessel.at_risk`` when a run's recommended strategy probably misses its vessel."""
    from api.presenters import vessel_text
    from training.events import publish

    best = result.ranked[0]
    p_late = best.probability_vessel_late
    if best.vessel is None or p_late is None or p_late <= settings.notify_vessel_late_probability:
        return None
    return publish(settings.logs_dir, "vessel.at_risk",
                   f"run {result.run_id}: even the recommended {best.trucks} trucks x {best.excavators} excavators "
                   f"miss the vessel with probability {p_late:.0%}",
                   {"run_id": result.run_id, "probability_vessel_late": p_late, "trucks": best.trucks,
                    "excavators": best.excavators, "vessel_analysis": vessel_text(best.vessel)}, site)
