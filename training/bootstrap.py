"""``python -m training.bootstrap``: make a fresh checkout usable with no data and no model.

When ``--data`` has no ``hauling_activities.csv`` a sample mine is generated on the master tables
already there, or, in a folder without them, on the prototype's fleet tables (copied with their
ids, so the prototype's dashboard defaults are valid ids); its period ends now and its vessel
line-up has calls in the coming days. When the registry has no champion a baseline is trained and
promoted through the normal gated retrain. Both steps log their progress. The API runs this at
start-up.
"""
from __future__ import annotations

import logging
import sys
import time

from training.cli import EXIT_OK, Paths, run_command
from training.errors import BadInputError
from training.registry import Registry
from training.settings import TrainingSettings

log = logging.getLogger(__name__)


def ensure_baseline(paths: Paths, settings: TrainingSettings) -> str:
    """Generate sample data and train a champion if missing; return the champion version."""
    registry = Registry(paths.models)
    champion = registry.champion()
    if champion is not None:
        log.info("champion %s present in %s", champion, paths.models)
        return champion
    if not (paths.data / "hauling_activities.csv").exists():
        from training.synthetic import copy_fleet_tables, generate

        copied = copy_fleet_tables(paths.data)
        if copied:
            log.info("copied the prototype's fleet tables into %s: %s", paths.data, ", ".join(copied))
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


def _run(paths: Paths, settings: TrainingSettings) -> int:
    print(f"champion: {ensure_baseline(paths, settings)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m training.bootstrap", __doc__, _run, argv)

if __name__ == "__main__":
    sys.exit(main())
