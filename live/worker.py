"""``python -m live.worker``: consume the hauling event stream into the run store and the speed layer.

Loop (one consumer of the group ``MINEOPS_LIVE_GROUP``; start as many as the load needs):

1. on start, re-process this consumer's own pending entries (a restart under the same name);
2. every ``MINEOPS_LIVE_CLAIM_IDLE_S / 2`` seconds, XAUTOCLAIM entries other consumers left
   unacknowledged longer than ``MINEOPS_LIVE_CLAIM_IDLE_S`` (a worker killed mid-batch) and process them;
3. read up to ``MINEOPS_LIVE_BATCH_SIZE`` new entries (waiting ``MINEOPS_LIVE_BLOCK_MS``), process
   them (validate, one database transaction, speed layer), then XACK them;
4. every third of ``MINEOPS_LIVE_SNAPSHOT_TTL_S`` re-stamp the latest shift snapshots (heartbeat).

The batch layer (``live.batch``) runs beside the loop in a thread unless ``--no-batch`` or
``MINEOPS_LIVE_BATCH_ENABLED=false``.

SIGTERM/SIGINT finish the current batch and exit 0; a crash leaves the batch unacknowledged for
another worker to claim. Exit codes: 0 stopped, 2 bad configuration (no Redis URL, bad data folder).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

import redis

from live.alerts import AlertThresholds, KpiAlerter, outbox_publisher
from live.broker import Broker, RedisStreamBroker
from live.db import open_engine
from live.ingest import FleetParents, Ingestor
from live.settings import LiveSettings, get_settings
from live.speed import SpeedLayer
from live.store import CycleStore
from training.cli import EXIT_BAD_INPUT
from training.errors import BadInputError

log = logging.getLogger("live.worker")


@dataclass
class WorkerTotals:
    batches: int = 0
    received: int = 0
    stored: int = 0
    quarantined: int = 0


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    """The consume loop over a ``Broker`` and an ``Ingestor`` (no Redis types beyond the broker)."""

    def __init__(self, broker: Broker, ingestor: Ingestor, settings: LiveSettings, consumer: str,
                 on_batch=None):  # noqa: ANN001
        self.broker = broker
        self.ingestor = ingestor
        self.settings = settings
        self.consumer = consumer
        self.stop = threading.Event()
        self.totals = WorkerTotals()
        self.on_batch = on_batch  # called with each BatchOutcome (the batch layer counts new cycles)

    def _handle(self, messages) -> None:  # noqa: ANN001
        if not messages:
            return
        outcome = self.ingestor.process(messages)
        self.broker.ack(outcome.ack)
        t = self.totals
        t.batches += 1
        t.received += outcome.received
        t.stored += outcome.stored
        t.quarantined += outcome.quarantined
        if self.on_batch is not None:
            self.on_batch(outcome)

    def recover_own_pending(self) -> None:
        """Process the entries this consumer name was given and never acknowledged."""
        while not self.stop.is_set():
            messages = self.broker.read(self.consumer, self.settings.live_batch_size, 0, own_pending=True)
            if not messages:
                return
            self._handle(messages)

    def run(self, max_idle_s: float | None = None) -> WorkerTotals:
        """Consume until ``stop`` is set (or, with ``max_idle_s``, until nothing arrived for that long)."""
        s = self.settings
        claim_every = s.live_claim_idle_s / 2
        restamp_every = s.live_snapshot_ttl_s / 3
        self.recover_own_pending()
        last_claim = last_restamp = 0.0
        last_work = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now - last_claim >= claim_every:
                last_claim = now
                claimed = self.broker.claim_stale(self.consumer, int(s.live_claim_idle_s * 1000), s.live_batch_size)
                if claimed:
                    log.info("claimed %d entries left pending by another consumer", len(claimed))
                    self._handle(claimed)
                    last_work = time.monotonic()
            messages = self.broker.read(self.consumer, s.live_batch_size, s.live_block_ms)
            if messages:
                self._handle(messages)
                last_work = time.monotonic()
            if self.ingestor.speed is not None and time.monotonic() - last_restamp >= restamp_every:
                last_restamp = time.monotonic()
                self.ingestor.speed.restamp_latest()
            if max_idle_s is not None and time.monotonic() - last_work > max_idle_s:
                break
        return self.totals


def build(settings: LiveSettings, consumer: str) -> tuple[Worker, redis.Redis]:
    """A worker wired to Redis and the run store named by ``settings``."""
    if not settings.redis_url:
        raise BadInputError("MINEOPS_REDIS_URL is not set: live ingestion needs a Redis server")
    client = redis.Redis.from_url(settings.redis_url)
    broker = RedisStreamBroker(client, settings.live_stream, settings.live_group, maxlen=settings.live_stream_maxlen)
    engine = open_engine(settings.effective_database_url)
    speed = SpeedLayer(client, settings.live_snapshot_ttl_s, settings.live_shift_plan_tonnes)
    parents = FleetParents(settings.data_dir, settings.max_bad_row_share)
    parents()  # fail now, with the loader's message, if the fleet's master tables are unusable
    alerter = KpiAlerter(AlertThresholds.from_settings(settings), speed.claim_alert,
                         outbox_publisher(settings.logs_dir))
    ingestor = Ingestor(CycleStore(engine), speed, parents, settings.site, settings.live_stream, alerter)
    return Worker(broker, ingestor, settings, consumer), client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--consumer", default=None, help="consumer name in the group (default: host-pid)")
    parser.add_argument("--no-batch", action="store_true", help="do not run the batch layer in this worker")
    parser.add_argument("--max-idle", type=float, default=None,
                        help="exit after this many seconds without events (for replays and tests)")
    args = parser.parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    consumer = args.consumer or default_consumer_name()
    try:
        worker, _client = build(settings, consumer)
    except BadInputError as exc:
        print(f"live.worker: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    batch = None
    if settings.live_batch_enabled and not args.no_batch:
        from live.batch import BatchLayer

        batch = BatchLayer.from_settings(settings, _client, worker.ingestor.store.engine)
        worker.on_batch = batch.on_batch
        batch.start()

    def _stop(signum, _frame) -> None:  # noqa: ANN001
        log.info("signal %d: finishing the current batch", signum)
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("consumer %s reading %s (group %s)", consumer, settings.live_stream, settings.live_group)
    totals = worker.run(max_idle_s=args.max_idle)
    if batch is not None:
        batch.stop()
    print(f"live.worker: {totals.received} events, {totals.stored} cycles stored, "
          f"{totals.quarantined} quarantined in {totals.batches} batches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
