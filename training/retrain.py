"""``python -m training.retrain``: prepare, train, evaluate, gate, promote.

The candidate and the current champion are scored on the same time-ordered holdout; the gate
(``training.gate``) decides. Every candidate is registered (immutable, with its gate decision in
its metadata) but only a passing one becomes champion. Exit codes: 0 promoted, 3 rejected by the
gate (champion unchanged), 2 bad input (nothing written to the registry). A one-line summary goes
to stdout and a JSON report to ``--logs/retrain/<UTC time>.json`` (history in ``history.jsonl``).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from threadpoolctl import threadpool_limits

from training.bundle import load_version
from training.cli import EXIT_GATE_REJECTED, EXIT_OK, Paths, run_command, write_json_report
from training.errors import BadInputError, RegistryError
from training.gate import GateThresholds, gate
from training.prepare import prepare
from training.registry import Registry
from training.settings import TrainingSettings
from training.train import evaluate_bundle, register, summary_line, train

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
#: OpenMP/BLAS threads a retrain's model fits use. A retrain shares the machine with the simulator's
#: pool workers (a busy API, a start-up warming its pool) and other jobs; gradient boosting's OpenMP
#: threads then spin waiting for each other at every split. Measured on a shared 2-core machine
#: (``benchmarks/bench_cold_start.py``, 10-day sample mine): training took 188 s of wall and 27 s of
#: CPU on two threads, 8.7 s and 1.8 s on one (a 20,000-row gradient-boosting fit 141 s -> 0.56 s).
#: On a quiet machine two threads fit large gradient-boosting models up to ~1.5x faster; one thread
#: is the choice that never collapses.
TRAINING_THREADS: int = 1


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retrain did: the candidate's version, whether it was promoted, and why."""

    version: str
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    reasons: tuple[str, ...]
    report: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.promoted else EXIT_GATE_REJECTED


def retrain(paths: Paths, settings: TrainingSettings) -> RetrainOutcome:
    """Run the whole retrain; raises BadInputError before anything is written on bad data."""
    started = time.perf_counter()
    prepared = prepare(paths, settings)
    with threadpool_limits(limits=TRAINING_THREADS):
        result = train(prepared, settings)
    registry = Registry(paths.models)
    champion = registry.champion()
    champion_metrics = None
    champion_note = None
    if champion is not None:
        try:
            champion_metrics = evaluate_bundle(load_version(registry, champion), result.holdout)
        except RegistryError as exc:  # trained on another contract: it cannot be compared
            champion_note = f"champion {champion} not comparable: {exc}"
            log.warning(champion_note)
    decision = gate(result.metrics, champion_metrics, GateThresholds.from_settings(settings))
    result.report["gate"] = {"passed": decision.passed, "reasons": list(decision.reasons),
                             "champion": champion, "champion_metrics": champion_metrics,
                             "champion_note": champion_note}
    version = register(registry, result, prepared)
    if decision.passed:
        registry.promote(version)
    seconds = time.perf_counter() - started
    report = {
        "finished_at": datetime.now(timezone.utc).isoformat(), "version": version,
        "outcome": "promoted" if decision.passed else "rejected",
        "champion_before": champion, "champion_after": registry.champion(),
        "reasons": list(decision.reasons), "metrics": result.metrics, "champion_metrics": champion_metrics,
        "seconds": round(seconds, 2), "row_counts": prepared.row_counts,
        "rows_quarantined": prepared.export.report.rows_quarantined, "training_report": result.report,
    }
    return RetrainOutcome(version, decision.passed, champion, registry.champion(), decision.reasons, report)


def record(paths: Paths, report: dict[str, Any]) -> None:
    """Write the JSON report and append the outcome to the retrain history (read by /metrics)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = paths.logs / "retrain"
    write_json_report(folder / f"{stamp}.json", report)
    line = {k: report.get(k) for k in ("finished_at", "version", "outcome", "seconds", "champion_after")}
    line["fuel_r2"] = report.get("metrics", {}).get("fuel", {}).get("r2")
    line["payload_r2"] = report.get("metrics", {}).get("payload", {}).get("r2")
    line["delay_auc"] = report.get("metrics", {}).get("delay", {}).get("auc")
    with (folder / HISTORY_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, default=str) + "\n")


def publish_outcome(paths: Paths, settings: TrainingSettings, outcome: RetrainOutcome) -> None:
    """Tell people (``training.events``): a new champion, or a candidate the gate rejected."""
    from training.events import publish

    data = {"version": outcome.version, "champion_before": outcome.champion_before,
            "champion_after": outcome.champion_after, "reasons": list(outcome.reasons),
            "metrics": outcome.report.get("metrics")}
    if outcome.promoted:
        publish(paths.logs, "model.promoted", f"model {outcome.version} promoted to champion "
                f"(was {outcome.champion_before or 'none'})", data, settings.site)
    else:
        publish(paths.logs, "model.rejected", f"candidate {outcome.version} rejected by the gate: "
                f"{'; '.join(outcome.reasons)}", data, settings.site)


def _run(paths: Paths, settings: TrainingSettings) -> int:
    outcome = retrain(paths, settings)
    record(paths, outcome.report)
    publish_outcome(paths, settings, outcome)
    verdict = "promoted" if outcome.promoted else f"REJECTED by the gate ({'; '.join(outcome.reasons)})"
    print(f"retrain: {outcome.version} {verdict}; {summary_line(outcome.report['metrics'])}; "
          f"champion {outcome.champion_before} -> {outcome.champion_after}; {outcome.report['seconds']} s")
    return outcome.exit_code


def _record_bad_input(paths: Paths, exc: BadInputError) -> None:
    record(paths, {"finished_at": datetime.now(timezone.utc).isoformat(), "outcome": "bad_input",
                   "error": str(exc), "problems": exc.problems[:200]})


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m training.retrain", __doc__, _run, argv, on_bad_input=_record_bad_input)

if __name__ == "__main__":
    sys.exit(main())
