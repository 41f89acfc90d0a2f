"""``python -m training.bootstrap``: make a fresh checkout usable with no data and no model.

When ``--data`` has no ``hauling_activities.csv`` a sample mine is generated (keeping any master
tables already there); when the registry has no champion a baseline is trained and promoted
through the normal gated retrain. Both steps log their progress. The API runs this at start-up.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from training.cli import EXIT_BAD_INPUT, EXIT_OK, Paths, add_path_args, resolve_paths, setup_logging
from training.errors import BadInputError
from training.registry import Registry
from training.settings import Settings, get_settings

log = logging.getLogger(__name__)


def ensure_baseline(paths: Paths, settings: Settings) -> str:
    """Generate sample data and train a champion if missing; return the champion version."""
    registry = Registry(paths.models)
    champion = registry.champion()
    if champion is not None:
        log.info("champion %s present in %s", champion, paths.models)
        return champion
    if not (paths.data / "hauling_activities.csv").exists():
        from training.synthetic import generate

        log.info("no hauling_activities.csv in %s: generating the sample mine (%d days x %d trucks)...",
                 paths.data, settings.synthetic_days, settings.synthetic_trucks)
        t0 = time.perf_counter()
        generate(paths.data, days=settings.synthetic_days, trucks=settings.synthetic_trucks,
                 seed=settings.synthetic_seed)
        log.info("sample mine written to %s in %.1f s", paths.data, time.perf_counter() - t0)
    from training.retrain import record, retrain

    log.info("no champion in %s: training a baseline (validate, fit, gate, promote)...", paths.models)
    outcome = retrain(paths, settings)
    record(paths, outcome.report)
    if not outcome.promoted:
        raise BadInputError(f"baseline model rejected by the gate: {'; '.join(outcome.reasons)}")
    log.info("baseline %s promoted in %.1f s", outcome.version, outcome.report["seconds"])
    return outcome.version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bootstrap", description=__doc__.splitlines()[0])
    add_path_args(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    paths = resolve_paths(args, settings)
    try:
        version = ensure_baseline(paths, settings)
    except BadInputError as exc:
        print(f"bootstrap: bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"champion: {version}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
