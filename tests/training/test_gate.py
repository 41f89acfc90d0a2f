"""The promotion gate: absolute bars, champion comparison with tolerance, missing/NaN metrics."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from training.gate import GateDecision, GateThresholds, gate
from training.settings import TrainingSettings

DEFAULT = GateThresholds()


def metrics(fuel: float = 0.91, payload: float = 0.88, auc: float = 0.78) -> dict:
    return {
        "fuel": {"r2": fuel, "mae": 3.2},
        "payload": {"r2": payload, "mae": 4.1},
        "delay": {"auc": auc, "brier": 0.17},
    }


def test_good_candidate_without_champion_passes_with_reasons():
    decision = gate(metrics(), None, DEFAULT)
    assert decision == GateDecision(
        passed=True,
        reasons=(
            "fuel r2 0.910 > 0.800",
            "payload r2 0.880 > 0.800",
            "delay auc 0.780 >= 0.700",
            "no champion to compare against",
        ),
    )
    assert decision.summary().startswith("gate passed: fuel r2 0.910 > 0.800;")


def test_good_candidate_no_worse_than_champion_passes():
    decision = gate(metrics(0.91, 0.88, 0.78), metrics(0.90, 0.89, 0.79), DEFAULT)
    assert decision.passed
    assert "payload r2 0.880 >= champion 0.890 - tolerance 0.020" in decision.reasons
    assert len(decision.reasons) == 6


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (metrics(fuel=0.412), "fuel r2 0.412 <= 0.800"),
        (metrics(payload=0.5), "payload r2 0.500 <= 0.800"),
        (metrics(auc=0.65), "delay auc 0.650 < 0.700"),
    ],
)
def test_each_absolute_bar_fails_alone(candidate, reason):
    decision = gate(candidate, None, DEFAULT)
    assert decision == GateDecision(passed=False, reasons=(reason,))
    assert decision.summary() == f"gate rejected: {reason}"


def test_r2_bar_is_strict_and_auc_bar_is_inclusive():
    assert gate(metrics(fuel=0.8), None, DEFAULT).reasons == ("fuel r2 0.800 <= 0.800",)
    assert gate(metrics(payload=0.8), None, DEFAULT).reasons == ("payload r2 0.800 <= 0.800",)
    assert gate(metrics(auc=0.7), None, DEFAULT).passed


def test_every_failing_rule_gives_one_reason():
    decision = gate(metrics(0.1, 0.2, 0.3), None, DEFAULT)
    assert not decision.passed
    assert decision.reasons == ("fuel r2 0.100 <= 0.800", "payload r2 0.200 <= 0.800", "delay auc 0.300 < 0.700")


@pytest.mark.parametrize(
    ("candidate", "champion", "reason"),
    [
        (metrics(fuel=0.85), metrics(fuel=0.90), "fuel r2 0.850 < champion 0.900 - tolerance 0.020"),
        (metrics(payload=0.85), metrics(payload=0.95), "payload r2 0.850 < champion 0.950 - tolerance 0.020"),
        (metrics(auc=0.75), metrics(auc=0.80), "delay auc 0.750 < champion 0.800 - tolerance 0.020"),
    ],
)
def test_worse_than_champion_beyond_tolerance_fails(candidate, champion, reason):
    assert gate(candidate, champion, DEFAULT) == GateDecision(passed=False, reasons=(reason,))


@pytest.mark.parametrize(
    ("candidate", "champion"),
    [
        (metrics(fuel=0.83), metrics(fuel=0.85)),  # 0.85 - 0.02 is 0.8300000000000001 in binary
        (metrics(payload=0.88), metrics(payload=0.90)),
        (metrics(auc=0.73), metrics(auc=0.75)),
    ],
)
def test_exactly_on_the_tolerance_edge_passes(candidate, champion):
    assert gate(candidate, champion, DEFAULT).passed


def test_just_beyond_the_tolerance_edge_fails():
    decision = gate(metrics(fuel=0.8299), metrics(fuel=0.85), DEFAULT)
    assert decision.reasons == ("fuel r2 0.830 < champion 0.850 - tolerance 0.020",)


def test_tolerance_is_a_setting():
    candidate, champion = metrics(fuel=0.85), metrics(fuel=0.90)
    assert not gate(candidate, champion, GateThresholds(tolerance=0.0)).passed
    assert gate(candidate, champion, GateThresholds(tolerance=0.06)).passed
    assert not gate(metrics(fuel=0.84), None, GateThresholds(min_r2=0.85)).passed


def test_thresholds_from_settings():
    settings = TrainingSettings(gate_min_r2=0.6, gate_min_auc=0.55, gate_tolerance=0.05)
    assert GateThresholds.from_settings(settings) == GateThresholds(min_r2=0.6, min_auc=0.55, tolerance=0.05)
    assert GateThresholds.from_settings(TrainingSettings()) == GateThresholds(min_r2=0.8, min_auc=0.7, tolerance=0.02)


@pytest.mark.parametrize("bad", [{"tolerance": -0.01}, {"min_auc": 1.5}, {"min_r2": float("nan")}, {"min_r2": 2.0}])
def test_nonsense_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GateThresholds(**bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "0.9", True])
def test_nan_or_non_numeric_candidate_metric_fails(value):
    candidate = metrics()
    candidate["fuel"]["r2"] = value
    decision = gate(candidate, metrics(), DEFAULT)
    assert not decision.passed
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith(f"fuel r2 is {value!r} (need a finite number > 0.800)")


def test_missing_metric_or_section_fails():
    no_delay = metrics()
    del no_delay["delay"]
    assert gate(no_delay, None, DEFAULT).reasons == ("delay auc is missing (need a finite number >= 0.700)",)
    no_r2 = metrics()
    del no_r2["payload"]["r2"]
    assert gate(no_r2, None, DEFAULT).reasons == ("payload r2 is missing (need a finite number > 0.800)",)
    assert not gate({}, None, DEFAULT).passed


def test_champion_metric_nan_fails_closed():
    champion = metrics()
    champion["delay"]["auc"] = math.nan
    decision = gate(metrics(), champion, DEFAULT)
    assert not decision.passed
    assert decision.reasons == (
        "delay auc: champion value is nan on this holdout, cannot compare "
        "(check the champion, then promote by hand if intended)",
    )


def test_numpy_values_and_extra_keys_are_accepted_and_inputs_untouched():
    candidate = {
        "fuel": {"r2": np.float64(0.9), "rmse": 1.0},
        "payload": {"r2": np.float32(0.9)},
        "delay": {"auc": np.float64(0.8)},
        "n_holdout": 1234,
    }
    champion = metrics()
    before = copy.deepcopy((candidate, champion))
    assert gate(candidate, champion, DEFAULT).passed
    assert (candidate, champion) == before
