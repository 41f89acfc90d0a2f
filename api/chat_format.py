"""Numbers in chat text: parse display strings ("1.21 Miliar IDR", "1,802 Ton") and find numbers in
free text with every reading a separator allows. Amounts and quantities are written by the presenter's
formatters (``api.presenters.format_idr``, ``format_number``), re-exported here for the chat.

Conventions (documented because they decide what a number means):

- Indonesian writes ``1.802`` for one thousand eight hundred and two and ``0,41`` for a decimal;
  English writes ``1,802`` and ``0.41``.
- The prototype's display strings use the English convention (``"1,802 Ton"``, ``"1.21 Miliar
  IDR"``), so :func:`parse_display_number` reads one ``,`` before exactly three digits as a
  thousands separator and one ``.`` as the decimal point; ``1.802.000`` and ``1.802,5`` (several
  dots, or a comma last) are read the Indonesian way.
- In free text (model answers) the language is not trusted: :func:`extract_numbers` keeps every
  reading of an ambiguous token (``1.802`` is 1802 or 1.802) and grounding accepts any of them.
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass

from api.presenters import Language, format_idr, format_number  # noqa: F401  (the chat's formatters)

# Scale words that may follow a number, with every value they can mean.
SCALE_WORDS: dict[str, tuple[float, ...]] = {
    "ribu": (1e3,), "rb": (1e3,), "thousand": (1e3,), "k": (1e3,),
    "juta": (1e6,), "jt": (1e6,), "million": (1e6,), "mn": (1e6,),
    "miliar": (1e9,), "milyar": (1e9,), "billion": (1e9,), "bn": (1e9,),
    "m": (1e6, 1e9),  # "M" is million in English, miliar in Indonesian financial writing
    "triliun": (1e12,), "trillion": (1e12,),
    "%": (0.01,), "persen": (0.01,), "percent": (0.01,),
}

_SCALE_ALTERNATION = "|".join(sorted((re.escape(w) for w in SCALE_WORDS), key=len, reverse=True))
_NUMBER_RE = re.compile(
    r"(?<![\d.,])(?P<num>\d+(?:[.,]\d+)*)(?:\s?(?P<scale>" + _SCALE_ALTERNATION + r")(?![^\W\d_]))?",
    re.IGNORECASE,
)
_DISPLAY_RE = re.compile(
    r"^\s*(?P<sign>[-−+])?\s*(?:rp\.?\s*)?(?P<num>\d+(?:[.,]\d+)*)\s*"
    r"(?:(?P<scale>" + _SCALE_ALTERNATION + r")(?![^\W\d_]))?\s*(?P<unit>.*?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NumberToken:
    """A number found in text; ``readings`` holds (value, tolerance) for every plausible reading."""

    text: str
    start: int
    readings: tuple[tuple[float, float], ...]
    scaled: bool  # a scale word (juta, miliar, %, ...) followed the digits


def _readings_of_digits(digits: str) -> list[tuple[float, int]]:
    """Every (value, decimals) reading of a digit run with ``.``/``,`` separators; [] if none."""
    seps = [c for c in digits if c in ".,"]
    groups = re.split(r"[.,]", digits)
    if not seps:
        return [(float(digits), 0)]
    if len(set(seps)) == 1:
        if len(seps) > 1:  # 1.802.000 / 1,802,000: thousands only
            if all(len(g) == 3 for g in groups[1:]):
                return [(float("".join(groups)), 0)]
            return []  # a date or version string, not a quantity
        whole, frac = groups
        decimal = (float(f"{whole}.{frac}"), len(frac))
        if len(frac) == 3:
            return [(float(whole + frac), 0), decimal]
        return [decimal]
    # both separators: the last one is the decimal point, the other groups thousands
    last = seps[-1]
    if any(s == last for s in seps[:-1]) or not all(len(g) == 3 for g in groups[1:-1]):
        return []
    return [(float("".join(groups[:-1]) + "." + groups[-1]), len(groups[-1]))]


def extract_numbers(text: str) -> list[NumberToken]:
    """All numbers in free text, each with every reading its separators and scale word allow."""
    tokens = []
    for match in _NUMBER_RE.finditer(text):
        scale_word = (match.group("scale") or "").lower()
        scales = SCALE_WORDS.get(scale_word, (1.0,))
        readings = tuple(
            (value * scale, 0.5 * 10.0 ** -decimals * scale)
            for value, decimals in _readings_of_digits(match.group("num"))
            for scale in scales
        )
        if readings:
            tokens.append(NumberToken(match.group(0), match.start(), readings, bool(scale_word)))
    return tokens


def parse_display_number(text: str) -> tuple[float, str]:
    """Parse a display string like "1.21 Miliar IDR" into (1.21e9, "idr"); ValueError if no number."""
    match = _DISPLAY_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a number")
    digits = match.group("num")
    seps = [c for c in digits if c in ".,"]
    readings = _readings_of_digits(digits)
    if not readings:
        raise ValueError(f"{text!r} is not a number")
    if len(readings) == 2:  # one separator before three digits: ',' groups thousands, '.' is decimal
        readings = readings[:1] if seps == [","] else readings[1:]
    value = readings[0][0] * SCALE_WORDS.get((match.group("scale") or "").lower(), (1.0,))[-1]
    if match.group("sign") in ("-", "−"):
        value = -value
    return value, match.group("unit").lower()


def is_close_to_any(target: float, tolerance: float, sorted_values: list[float]) -> bool:
    """Whether some value in ``sorted_values`` lies within ``tolerance`` of ``target`` (bisection)."""
    slack = tolerance + 1e-9 * max(1.0, abs(target))
    i = bisect.bisect_left(sorted_values, target - slack)
    return i < len(sorted_values) and sorted_values[i] <= target + slack and math.isfinite(target)
