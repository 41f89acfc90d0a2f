"""Whether an answer's numbers follow from the facts, and whether it leaks the prompt's rules. Pure."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from api.chat.context import StrategyFacts
from api.chat.prompt import CANARY, system_instructions
from api.chat_format import Language, extract_numbers, is_close_to_any

LEAK_WINDOW_CHARS = 48  # an answer quoting this many consecutive characters of the rules leaks them


@dataclass(frozen=True)
class GroundingResult:
    """Whether every number of an answer follows from the facts; ``unsupported`` quotes the others."""

    grounded: bool
    unsupported: tuple[str, ...]



def _fact_kinds(f: StrategyFacts) -> dict[str, list[float]]:
    kinds = {
        "profit": [f.profit_idr, *(f.profit_ci_idr or ())], "production": [f.production_t],
        "fuel": [f.fuel_ratio_l_per_t], "queue": [f.queue_hours, f.queue_hours * 60],
        "trucks": [float(f.trucks)], "excavators": [float(f.excavators)], "rank": [float(f.rank)],
    }
    if f.cycle_time_min is not None:
        kinds["cycle"] = [f.cycle_time_min]
    if f.duration_hours is not None:
        kinds["duration"] = [f.duration_hours, f.duration_hours * 60]
    if f.profit_ci_idr:
        kinds["ci_level"] = [f.profit_ci_level * 100, f.profit_ci_level]
    return kinds


def text_values(text: str) -> list[float]:
    return [value for token in extract_numbers(text) for value, _ in token.readings]


def _per_strategy_derived(f: StrategyFacts) -> list[float]:
    """Per-option quantities a planner derives: t per truck/excavator, IDR per t/truck, litres, idle truck-hours."""
    ratios = [(f.production_t, f.trucks), (f.production_t, f.excavators), (f.trucks, f.excavators),
              (f.profit_idr, f.trucks), (f.profit_idr, f.production_t)]
    return [a / b for a, b in ratios if b] + [f.fuel_ratio_l_per_t * f.production_t, f.queue_hours * f.trucks]


def supported_values(facts: Sequence[StrategyFacts], extra: Iterable[float] = ()) -> list[float]:
    """Sorted absolute values an answer may state: facts, numbers in their texts, and

    sums/differences/ratios of one kind across options, the per-option quantities of
    :func:`_per_strategy_derived`, and differences/ratios between ``extra`` values (question, tool
    results) and the facts.
    """
    values: set[float] = set()
    per_strategy = [_fact_kinds(f) for f in facts]
    base = [v for kinds in per_strategy for vs in kinds.values() for v in vs]
    values.update(base)
    for f in facts:
        for text in (f.label, f.type_label, f.loading_unit, f.road, f.vessel_note, f.guideline):
            values.update(text_values(text))
    kinds_all = {k for kinds in per_strategy for k in kinds}
    for kind in kinds_all:
        same = [v for kinds in per_strategy for v in kinds.get(kind, ())]
        for i, a in enumerate(same):
            for j, b in enumerate(same):
                if i != j:
                    values.update((a - b, a + b))
                    if b:
                        values.update((a / b, a / b - 1))
    for f in facts:
        values.update(_per_strategy_derived(f))
    for e in extra:
        values.add(e)
        for b in base:
            values.add(e - b)
            if b:
                values.update((e / b, e / b - 1))
    return sorted({abs(v) for v in values})


_LIST_MARKER_RE = re.compile(r"(?m)^[ \t>*-]*(\d+)[.)][ \t]")


def check_grounding(answer: str, facts: Sequence[StrategyFacts], extra_values: Iterable[float] = ()) -> GroundingResult:
    """Every number of ``answer`` must equal, at its written precision and scale, a supported value.

    Small whole numbers up to the number of options (at least 3) pass as ordinals ("opsi 2"), and
    numbered-list markers ("4. Kesimpulan") are not quantities.
    """
    allowed = supported_values(facts, extra_values)
    ordinal_limit = max(3, len(facts))
    markers = {m.start(1) for m in _LIST_MARKER_RE.finditer(answer)}
    unsupported = []
    for token in extract_numbers(answer):
        if token.start in markers:
            continue
        ordinal = not token.scaled and any(v == int(v) and 0 <= v <= ordinal_limit and tol == 0.5
                                           for v, tol in token.readings)
        if ordinal or any(is_close_to_any(abs(v), tol, allowed) for v, tol in token.readings):
            continue
        unsupported.append(token.text)
    return GroundingResult(not unsupported, tuple(unsupported))


def grounding_note(unsupported: Sequence[str], language: Language) -> str:
    """The sentence appended to an answer whose numbers could not all be verified."""
    listed = ", ".join(unsupported)
    if language == "id":
        return (f"Catatan: angka berikut tidak dapat diverifikasi terhadap hasil simulasi: {listed}. "
                "Periksa kembali sebelum digunakan.")
    return f"Note: these numbers could not be verified against the simulation results: {listed}. Check them before use."


@lru_cache(maxsize=4)
def _instruction_windows(language: Language) -> frozenset[str]:
    rules = _normalise(system_instructions(language))
    return frozenset(rules[i:i + LEAK_WINDOW_CHARS] for i in range(len(rules) - LEAK_WINDOW_CHARS + 1))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def leaks_instructions(answer: str, language: Language) -> bool:
    """Whether ``answer`` contains the canary or LEAK_WINDOW_CHARS consecutive characters of the rules."""
    if CANARY.lower() in answer.lower():
        return True
    text, windows = _normalise(answer), _instruction_windows(language)
    return any(text[i:i + LEAK_WINDOW_CHARS] in windows for i in range(len(text) - LEAK_WINDOW_CHARS + 1))



def result_values(node: Any) -> list[float]:
    """Every number in a tool call's arguments or result (numeric leaves and numbers written in strings)."""
    if isinstance(node, bool):
        return []
    if isinstance(node, (int, float)):
        return [float(node)]
    if isinstance(node, str):
        return text_values(node)
    if isinstance(node, Mapping):
        return [v for item in node.values() for v in result_values(item)]
    if isinstance(node, (list, tuple)):
        return [v for item in node for v in result_values(item)]
    return []


class LeakScanner:
    """Incremental :func:`leaks_instructions` over a growing text (rescans only the new tail)."""

    def __init__(self, language: Language):
        self.language, self.checked = language, 0

    def leaked(self, text: str) -> bool:
        start = max(0, self.checked - 4 * max(LEAK_WINDOW_CHARS, len(CANARY)))
        self.checked = len(text)
        return leaks_instructions(text[start:], self.language)
