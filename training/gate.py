"""The promotion gate: a pure function from holdout metrics to a pass/fail decision with reasons.

``candidate`` and ``champion`` are metrics dicts shaped like
``{"fuel": {"r2": .., "mae": ..}, "payload": {"r2": .., "mae": ..}, "delay": {"auc": .., "brier": ..}}``
(extra keys are ignored). ``champion`` holds the current champion's metrics evaluated on the SAME
holdout as the candidate, or ``None`` when there is no champion yet.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from training.settings import TrainingSettings

# Floating-point slack when comparing against ``champion - tolerance``: 0.85 - 0.02 is not exactly
# 0.83 in binary, and a candidate sitting exactly on the tolerance edge must pass. Unitless (R²/AUC).
COMPARISON_EPSILON = 1e-9

# (model, metric) pairs the gate compares with the champion; higher is better for all three.
COMPARED_METRICS: tuple[tuple[str, str], ...] = (("fuel", "r2"), ("payload", "r2"), ("delay", "auc"))


@dataclass(frozen=True)
class GateThresholds:
    """Quality bars a candidate must clear to be promoted."""

    min_r2: float = 0.8
    """Fuel and payload regressors need holdout R² strictly above this (unitless; issue spec)."""
    min_auc: float = 0.7
    """Delay classifier needs holdout ROC AUC at or above this (unitless; issue spec)."""
    tolerance: float = 0.02
    """Largest drop below the champion's R²/AUC on the same holdout that is still accepted."""

    def __post_init__(self) -> None:
        for name in ("min_r2", "min_auc", "tolerance"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                raise ValueError(f"GateThresholds.{name} must be a number, got {value!r}")
        if not 0.0 <= self.min_auc <= 1.0:
            raise ValueError(f"GateThresholds.min_auc must be in [0, 1], got {self.min_auc}")
        if self.min_r2 > 1.0:
            raise ValueError(f"GateThresholds.min_r2 must be <= 1, got {self.min_r2}")
        if self.tolerance < 0.0:
            raise ValueError(f"GateThresholds.tolerance must be >= 0, got {self.tolerance}")

    @classmethod
    def from_settings(cls, settings: TrainingSettings) -> "GateThresholds":
        """Thresholds from ``MINEOPS_GATE_MIN_R2``, ``MINEOPS_GATE_MIN_AUC``, ``MINEOPS_GATE_TOLERANCE``."""
        return cls(
            min_r2=settings.gate_min_r2,
            min_auc=settings.gate_min_auc,
            tolerance=settings.gate_tolerance,
        )


@dataclass(frozen=True)
class GateDecision:
    """Outcome of the gate: ``reasons`` lists every failed rule, or every passed rule on success."""

    passed: bool
    reasons: tuple[str, ...]

    def summary(self) -> str:
        """One line for logs and command output."""
        return ("gate passed: " if self.passed else "gate rejected: ") + "; ".join(self.reasons)


def _metric(metrics: Mapping[str, Any] | None, model: str, name: str) -> float | None:
    """The finite float at ``metrics[model][name]``, or None when missing, non-numeric or NaN/inf."""
    if not isinstance(metrics, Mapping):
        return None
    section = metrics.get(model)
    if not isinstance(section, Mapping):
        return None
    value = section.get(name)
    if value is None or isinstance(value, (bool, str)):
        return None
    try:
        number = float(value)  # also accepts numpy scalars
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _raw(metrics: Mapping[str, Any] | None, model: str, name: str) -> str:
    """How a missing/invalid metric looked, for the reason text."""
    try:
        return repr(metrics[model][name])  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return "missing"


def gate(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    thresholds: GateThresholds,
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``champion`` (pure; no I/O)."""
    passes: list[str] = []
    failures: list[str] = []

    # Absolute bars.
    for model in ("fuel", "payload"):
        r2 = _metric(candidate, model, "r2")
        if r2 is None:
            failures.append(f"{model} r2 is {_raw(candidate, model, 'r2')} (need a finite number > {thresholds.min_r2:.3f})")
        elif r2 > thresholds.min_r2:
            passes.append(f"{model} r2 {r2:.3f} > {thresholds.min_r2:.3f}")
        else:
            failures.append(f"{model} r2 {r2:.3f} <= {thresholds.min_r2:.3f}")

    auc = _metric(candidate, "delay", "auc")
    if auc is None:
        failures.append(f"delay auc is {_raw(candidate, 'delay', 'auc')} (need a finite number >= {thresholds.min_auc:.3f})")
    elif auc >= thresholds.min_auc:
        passes.append(f"delay auc {auc:.3f} >= {thresholds.min_auc:.3f}")
    else:
        failures.append(f"delay auc {auc:.3f} < {thresholds.min_auc:.3f}")

    # Relative to the champion on the same holdout.
    if champion is None:
        passes.append("no champion to compare against")
    else:
        for model, name in COMPARED_METRICS:
            cand = _metric(candidate, model, name)
            champ = _metric(champion, model, name)
            if cand is None:
                continue  # already reported above
            if champ is None:
                failures.append(
                    f"{model} {name}: champion value is {_raw(champion, model, name)} on this holdout, "
                    "cannot compare (check the champion, then promote by hand if intended)"
                )
                continue
            floor = champ - thresholds.tolerance
            if cand >= floor - COMPARISON_EPSILON:
                passes.append(
                    f"{model} {name} {cand:.3f} >= champion {champ:.3f} - tolerance {thresholds.tolerance:.3f}"
                )
            else:
                failures.append(
                    f"{model} {name} {cand:.3f} < champion {champ:.3f} - tolerance {thresholds.tolerance:.3f}"
                )

    if failures:
        return GateDecision(passed=False, reasons=tuple(failures))
    return GateDecision(passed=True, reasons=tuple(passes))
