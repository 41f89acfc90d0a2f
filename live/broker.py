"""The broker interface the worker loops over, and its Redis Streams implementation.

The domain code (validate, store, KPIs) sees only ``Message`` (an entry id and its fields as
bytes) and the five calls of ``Broker``; a Kafka implementation (consumer group offsets, a
dead-letter topic for quarantine is not needed: quarantine is in the database) fits the same shape.

Redis Streams semantics used (redis-py's ``xreadgroup``, ``xack``, ``xautoclaim``): every entry is
delivered to one consumer of the group and stays in that consumer's pending list until XACKed;
after a crash a worker re-reads its own pending entries (id ``0``) and any worker XAUTOCLAIMs the
entries another consumer left unacknowledged longer than ``claim_idle_ms``. So delivery is
at-least-once: the worker acknowledges only after the database commit, and storing is idempotent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import redis


@dataclass(frozen=True)
class Message:
    """One event: the broker's id (a Redis entry id ``<ms>-<seq>``) and its fields (bytes -> bytes)."""

    id: str
    fields: dict[bytes, bytes]


@dataclass(frozen=True)
class BrokerStats:
    """Backlog of the consumer group: entries not yet delivered (lag) and delivered but unacknowledged."""

    length: int
    lag: int | None
    pending: int
    consumers: int


class Broker(Protocol):
    """What the live worker needs from a message broker."""

    def publish(self, events: list[dict[str, str]]) -> list[str]:
        """Append events; return their ids."""

    def read(self, consumer: str, count: int, block_ms: int, *, own_pending: bool = False) -> list[Message]:
        """New events for ``consumer`` (or, with ``own_pending``, those it was given and did not ack)."""

    def ack(self, ids: list[str]) -> None:
        """Mark events as processed (they are not delivered again)."""

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Message]:
        """Take over events other consumers left unacknowledged longer than ``min_idle_ms``."""

    def stats(self) -> BrokerStats:
        """Backlog figures for metrics."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamBroker:
    """``Broker`` on one Redis Stream and one consumer group (created on first use)."""

    def __init__(self, client: redis.Redis, stream: str, group: str, *, maxlen: int | None = None):
        self.client = client
        self.stream = stream
        self.group = group
        self.maxlen = maxlen
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, stream: str, group: str, *, maxlen: int | None = None) -> "RedisStreamBroker":
        return cls(redis.Redis.from_url(url), stream, group, maxlen=maxlen)

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; new groups start at the beginning."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def publish(self, events: list[dict[str, str]]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for fields in events:
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        return [_text(i) for i in pipe.execute()]

    @staticmethod
    def _messages(entries) -> list[Message]:  # noqa: ANN001
        # a claimed or pending entry trimmed from the stream comes back with no fields
        return [Message(_text(i), dict(f or {})) for i, f in entries]

    def read(self, consumer: str, count: int, block_ms: int, *, own_pending: bool = False) -> list[Message]:
        self.ensure_group()
        reply = self.client.xreadgroup(self.group, consumer, {self.stream: "0" if own_pending else ">"},
                                       count=count, block=None if own_pending else block_ms)
        return self._messages(reply[0][1]) if reply else []

    def ack(self, ids: list[str]) -> None:
        if ids:
            self.client.xack(self.stream, self.group, *ids)

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Message]:
        self.ensure_group()
        claimed: list[Message] = []
        cursor = "0-0"
        while len(claimed) < count:  # XAUTOCLAIM scans the pending list a slice at a time
            cursor, entries, *_deleted = self.client.xautoclaim(self.stream, self.group, consumer, min_idle_ms,
                                                                 start_id=cursor, count=count - len(claimed))
            claimed.extend(self._messages(entries))
            if _text(cursor) == "0-0":
                break
        return claimed

    def stats(self) -> BrokerStats:
        self.ensure_group()
        length = int(self.client.xlen(self.stream))
        for g in self.client.xinfo_groups(self.stream):
            if _text(g["name"]) == self.group:
                lag = g.get("lag")
                return BrokerStats(length, None if lag is None else int(lag), int(g["pending"]), int(g["consumers"]))
        return BrokerStats(length, length, 0, 0)
