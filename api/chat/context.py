"""What a chat is about: a run's strategies as facts (parsed from the prototype's display strings),
the question, and its language. Pure."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api.chat_format import Language, parse_display_number

MAX_QUESTION_CHARS = 2000  # longest question accepted (characters); longer is a 422
PROFIT_CI_LEVEL = 0.95  # level of ``profit_ci_idr`` when the caller does not give one (StrategyFacts.profit_ci_level)


class ContextError(ValueError):
    """The request carries no usable context; ``problems`` names each missing/unparseable field (HTTP 422)."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, kw_only=True)
class StrategyFacts:
    """One ranked strategy of a run, as the chat may quote it (IDR, tonnes, litres, hours, minutes)."""

    label: str  # "OPSI_1"
    rank: int  # 1 = recommended
    type_label: str = ""  # "REKOMENDASI UTAMA" / "ALTERNATIF"
    trucks: int
    excavators: int
    profit_idr: float
    profit_ci_idr: tuple[float, float] | None = None  # confidence interval of the mean profit, IDR
    profit_ci_level: float = PROFIT_CI_LEVEL
    production_t: float
    fuel_ratio_l_per_t: float
    queue_hours: float  # loading-queue idle time, hours
    cycle_time_min: float | None = None
    duration_hours: float | None = None  # estimated time to fill the vessel, hours
    loading_unit: str = ""
    road: str = ""
    vessel_note: str = ""
    guideline: str = ""
    tied_with: tuple[str, ...] = ()  # labels whose profit is statistically indistinguishable
    dispatch: str = "fixed"  # dispatch rule (``simulator.dispatch``; a haul network's dynamic rules)



# --- legacy context ------------------------------------------------------------------------------------
_LEGACY_REQUIRED = {
    # field path: (StrategyFacts attribute, accepted units -> factor to the attribute's unit, integer?)
    ("INSTRUKSI_FLAT", "JUMLAH_DUMP_TRUCK"): ("trucks", {"": 1.0, "unit": 1.0, "units": 1.0}, True),
    ("INSTRUKSI_FLAT", "JUMLAH_EXCAVATOR"): ("excavators", {"": 1.0, "unit": 1.0, "units": 1.0}, True),
    ("KPI_PREDIKSI", "PROFIT"): ("profit_idr", {"": 1.0, "idr": 1.0, "rp": 1.0, "rupiah": 1.0}, False),
    ("KPI_PREDIKSI", "PRODUKSI"): ("production_t", {"": 1.0, "ton": 1.0, "tons": 1.0, "tonnes": 1.0, "t": 1.0}, False),
    ("KPI_PREDIKSI", "FUEL_RATIO"): ("fuel_ratio_l_per_t", {"": 1.0, "l/ton": 1.0, "l/t": 1.0, "liter/ton": 1.0},
                                     False),
    ("KPI_PREDIKSI", "IDLE_ANTRIAN"): ("queue_hours", {"": 1.0, "jam": 1.0, "hours": 1.0, "hour": 1.0, "h": 1.0,
                                                       "menit": 1 / 60, "min": 1 / 60, "minutes": 1 / 60}, False),
}
_LEGACY_TEXT = {  # optional text fields: path -> attribute
    ("TYPE",): "type_label",
    ("INSTRUKSI_FLAT", "ALAT_MUAT_TARGET"): "loading_unit",
    ("INSTRUKSI_FLAT", "JALUR_ANGKUT"): "road",
    ("ANALISIS_KAPAL",): "vessel_note",
    ("SOP_KESELAMATAN",): "guideline",
}
_NOT_AVAILABLE = {"", "n/a", "na", "-", "none", "null"}
_HOUR_UNITS = {"": 1.0, "jam": 1.0, "hours": 1.0, "hour": 1.0, "h": 1.0, "menit": 1 / 60, "min": 1 / 60}


def _lookup(node: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _parse_quantity(raw: Any, where: str, units: Mapping[str, float], integer: bool,
                    problems: list[str]) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        problems.append(f"{where}: {raw!r} is not a number")
        return None
    if isinstance(raw, (int, float)):
        value, unit = float(raw), ""
    else:
        try:
            value, unit = parse_display_number(raw)
        except ValueError:
            problems.append(f"{where}: {raw!r} is not a number")
            return None
    if unit not in units:
        expected = ", ".join(sorted(u for u in units if u))
        problems.append(f"{where}: {raw!r} has unit {unit!r}, expected one of {expected}")
        return None
    value *= units[unit]
    if integer and (value != int(value) or value < 1):
        problems.append(f"{where}: {raw!r} is not a whole number of units >= 1")
        return None
    return value


def facts_from_legacy_context(ctx: Any, where: str = "top_3_strategies_context") -> list[StrategyFacts]:
    """Parse the prototype's ``top_3_strategies_context`` (display strings) into facts, best rank first.

    Raises :class:`ContextError` listing every missing or unparseable field by its JSON path.
    """
    if isinstance(ctx, Mapping):
        entries = [(f"{where}.{label}", label, body) for label, body in ctx.items()]
    elif isinstance(ctx, list):
        entries = []
        for i, item in enumerate(ctx):
            if not isinstance(item, Mapping) or not item:
                raise ContextError([f"{where}[{i}]: expected an object like {{\"OPSI_1\": {{...}}}}, "
                                    f"got {type(item).__name__}"])
            # The display block is the item's FIRST key (the dashboard reads ``list(item)[0]``);
            # later keys (the API's machine-readable ``strategy``) are not strategies of their own.
            label, body = next(iter(item.items()))
            entries.append((f"{where}[{i}].{label}", label, body))
    else:
        raise ContextError([f"{where}: missing (a list of ranked strategies is required)"])
    if not entries:
        raise ContextError([f"{where}: empty (at least one strategy is required)"])

    problems: list[str] = []
    facts = []
    for position, (path, label, body) in enumerate(entries):
        if not isinstance(body, Mapping):
            problems.append(f"{path}: expected an object, got {type(body).__name__}")
            continue
        values: dict[str, Any] = {}
        known_problems = len(problems)
        for keys, (attr, units, integer) in _LEGACY_REQUIRED.items():
            where_field = f"{path}.{'.'.join(keys)}"
            found, raw = _lookup(body, keys)
            if not found:
                problems.append(f"{where_field}: missing")
                continue
            values[attr] = _parse_quantity(raw, where_field, units, integer, problems)
        for keys, attr in _LEGACY_TEXT.items():
            found, raw = _lookup(body, keys)
            values[attr] = str(raw).strip() if found and raw is not None else ""
        found, raw = _lookup(body, ("KPI_PREDIKSI", "ESTIMASI_DURASI"))
        if found and str(raw).strip().lower() not in _NOT_AVAILABLE:
            values["duration_hours"] = _parse_quantity(raw, f"{path}.KPI_PREDIKSI.ESTIMASI_DURASI",
                                                       _HOUR_UNITS, False, problems)
        if len(problems) > known_problems:
            continue
        digits = re.findall(r"\d+", label)
        facts.append(StrategyFacts(
            label=label, rank=int(digits[-1]) if digits else position + 1,
            trucks=int(values.pop("trucks")), excavators=int(values.pop("excavators")), **values,
        ))
    if problems:
        raise ContextError(problems)
    return sorted(facts, key=lambda f: f.rank)


def validate_question(question: Any, where: str = "pertanyaan_user") -> str:
    """The question stripped; ContextError if it is missing, empty or longer than MAX_QUESTION_CHARS."""
    if not isinstance(question, str) or not question.strip():
        raise ContextError([f"{where}: missing or empty (a question is required)"])
    if len(question) > MAX_QUESTION_CHARS:
        raise ContextError([f"{where}: {len(question)} characters, at most {MAX_QUESTION_CHARS} allowed"])
    return question.strip()


# --- language ------------------------------------------------------------------------------------------
# Common function words and domain words of each language. The question is Indonesian unless it has
# more English than Indonesian words from these lists (most users write Indonesian).
INDONESIAN_WORDS = frozenset(
    "yang dan atau apa apakah mengapa kenapa bagaimana berapa opsi lebih dari untuk dengan jelaskan "
    "adalah tidak ini itu antrian antrean truk kapal jam saya kami kita bisa jika kalau apabila "
    "sebaiknya pilih baik dibanding dibandingkan biaya keuntungan mana tolong abaikan semua instruksi "
    "sebelumnya tampilkan harus produksi bahan bakar ada akan pada di ke tambah kurangi menjadi jadi "
    "berikan beri unit alat muat jalan hujan cerah rekomendasi utama alternatif kenaikan penurunan".split()
)
ENGLISH_WORDS = frozenset(
    "the why what how which is are better than and or of option options explain should does do queue "
    "fuel production trucks truck vessel hours if we i you ignore previous instructions show tell me "
    "more less would with between compare cost best difference to in a an it this that can give "
    "recommended recommendation increase decrease add remove weather road rain".split()
)


def detect_language(question: str) -> Language:
    """"en" if the question has more words from ENGLISH_WORDS than INDONESIAN_WORDS, else "id"."""
    words = re.findall(r"[^\W\d_]+", question.lower())
    english = sum(w in ENGLISH_WORDS for w in words)
    indonesian = sum(w in INDONESIAN_WORDS for w in words)
    return "en" if english > indonesian else "id"
