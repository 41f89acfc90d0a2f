"""Golden responses: what the service answers to fixed requests on the tests' trained mine.

The stored JSON files beside this module were recorded from the code before the request edge was
rewritten (issue "One typed request at the edge"); ``tests/api/test_golden.py`` compares every new
response against them, so a refactoring that changes a number fails. Run ids and timings are left
out (they differ on every run); floats compare to a relative tolerance of ``FLOAT_REL``.

An INTENDED change of the model's numbers (a calibration, a fidelity fix) regenerates them with::

    python -m pytest tests/api/test_golden.py --regenerate-golden -p no:cacheprovider

and commits the new files with a message saying why the numbers changed.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from tests import paths

GOLDEN_DIR = Path(__file__).resolve().parent
#: Relative tolerance of float comparisons (same code and seed give identical numbers; this only
#: absorbs last-bit differences of a BLAS or a platform).
FLOAT_REL = 1e-9
#: Keys whose values change on every run and are not compared.
VOLATILE_KEYS = frozenset({"run_id", "timings_s"})
#: A fixed shift start for bodies that have none (the legacy contract's start is "now").
FIXED_START = "2025-11-10T07:00:00+07:00"
#: REF-A with fewer replications: the same 33 scenarios, 4 replications each (a fast test).
REF_A_REPLICATIONS = 4


def contract(name: str) -> dict[str, Any]:
    return json.loads((paths.CONTRACTS / name).read_text())


def strategies_cases() -> dict[str, dict[str, Any]]:
    """Name -> strategies request body."""
    legacy = contract("legacy-top3-request.json")
    legacy["fixed_conditions"]["simulation_start_date"] = FIXED_START
    ref_a = contract("ref-a.json")
    ref_a["simulation"]["replications"] = REF_A_REPLICATIONS
    display = copy.deepcopy(legacy)  # enum spellings of the categoricals and a deterministic run
    display["fixed_conditions"].update({"weatherCondition": "HUJAN_LEBAT", "roadCondition": "POOR",
                                        "shift": "SHIFT_2"})
    display["simulation"] = {"deterministic": True, "duration_hours": 6}
    return {"legacy_top3": legacy, "ref_a_reduced": ref_a, "enum_values_deterministic": display}


def strip_volatile(value: Any) -> Any:
    """``value`` without run ids and timings (recursively)."""
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Every place ``actual`` differs from ``expected`` (floats to ``FLOAT_REL``). A key the golden
    answer lacks is an addition old clients ignore, not a difference (regenerate to cover it)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}.{k}: missing" for k in expected if k not in actual]
        for k in expected:
            if k in actual:
                out += differences(expected[k], actual[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(actual)} items, expected {len(expected)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{path}[{i}]")]
    numbers = (int, float)
    if (isinstance(expected, numbers) and isinstance(actual, numbers)
            and not isinstance(expected, bool) and not isinstance(actual, bool)
            and (isinstance(expected, float) or isinstance(actual, float))):
        if math.isclose(expected, actual, rel_tol=FLOAT_REL, abs_tol=1e-12):
            return []
        return [f"{path}: {actual!r}, expected {expected!r}"]
    return [] if expected == actual else [f"{path}: {actual!r}, expected {expected!r}"]


def load(name: str) -> Any:
    return json.loads((GOLDEN_DIR / f"{name}.json").read_text())


def store(name: str, value: Any) -> None:
    (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(value, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
