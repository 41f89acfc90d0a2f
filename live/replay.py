"""``python -m live.replay FILE.csv [--speed 60]``: publish a hauling export as events, in time order.

Each row of ``hauling_activities.csv`` becomes one stream entry whose fields are the row's columns
as written (text, empty field = empty value), plus ``site``. Rows are published in the order the
fleet system would send them: when the cycle ended (``updatedAt``; a row whose timestamp does not
parse keeps its place relative to the others' order and is still sent: the worker quarantines it).
``--speed 60`` replays an hour of the export per minute; the default ``0`` publishes as fast as
Redis takes it (the load generator). Exit codes: 0 done, 2 bad input (file unreadable, no Redis URL).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import datetime
from pathlib import Path

from live.broker import Broker, RedisStreamBroker
from live.settings import get_settings
from training.cli import EXIT_BAD_INPUT

#: Column that says when the fleet system published the cycle (the end of the cycle).
EVENT_TIME_COLUMN = "updatedAt"
#: Events per pipelined XADD round trip.
PUBLISH_CHUNK = 1000


def _event_time(value: str | None) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None
    except ValueError:
        return None


def read_events(path: Path, site: str | None = None) -> list[tuple[float | None, dict[str, str]]]:
    """(event time in epoch seconds or None, fields) per row, in time order."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    events = []
    for row in rows:
        fields = {k: (v if v is not None else "") for k, v in row.items() if k is not None}
        if site:
            fields["site"] = site
        events.append((_event_time(fields.get(EVENT_TIME_COLUMN)), fields))
    known = sorted((t, i) for i, (t, _) in enumerate(events) if t is not None)
    order = iter(i for _, i in known)
    # rows without a time keep their slot; the timed rows are sorted among the remaining slots
    slots = [i if events[i][0] is None else next(order) for i in range(len(events))]
    return [events[i] for i in slots]


def publish(broker: Broker, events: list[tuple[float | None, dict[str, str]]], speed: float = 0.0,
            chunk: int = PUBLISH_CHUNK) -> int:
    """Publish ``events``; with ``speed`` > 0 pace them at ``speed`` x the export's clock."""
    start_wall = time.monotonic()
    first = next((t for t, _ in events if t is not None), None)
    sent = 0
    batch: list[dict[str, str]] = []
    for t, fields in events:
        if speed > 0 and t is not None and first is not None:
            due = (t - first) / speed - (time.monotonic() - start_wall)
            if due > 0:
                if batch:
                    sent += len(broker.publish(batch))
                    batch = []
                time.sleep(due)
        batch.append(fields)
        if len(batch) >= chunk:
            sent += len(broker.publish(batch))
            batch = []
    if batch:
        sent += len(broker.publish(batch))
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.replay", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, help="a hauling_activities.csv export")
    parser.add_argument("--speed", type=float, default=0.0, help="x real time (60 = an hour a minute); 0 = flat out")
    parser.add_argument("--site", default=None, help="site field of every event (default: none, the worker's default)")
    parser.add_argument("--limit", type=int, default=None, help="publish only the first N events (in time order)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not settings.redis_url:
        print("live.replay: MINEOPS_REDIS_URL is not set", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        events = read_events(args.file, args.site)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"live.replay: {args.file}: unreadable ({exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.limit is not None:
        events = events[:args.limit]
    broker = RedisStreamBroker.from_url(settings.redis_url, settings.live_stream, settings.live_group,
                                        maxlen=settings.live_stream_maxlen)
    started = time.perf_counter()
    sent = publish(broker, events, args.speed)
    seconds = time.perf_counter() - started
    print(f"live.replay: {sent} events from {args.file} to {settings.live_stream} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
