"""The deterministic answer written from the numbers alone, when the model cannot answer. Pure."""
from __future__ import annotations

from collections.abc import Sequence

from api.chat.context import StrategyFacts, detect_language
from api.chat.prompt import clean_text
from api.chat_format import Language, format_idr, format_number

#: Each phrase of the fallback answer: (Indonesian, English).
_PHRASES: dict[str, tuple[str, str]] = {
    "intro": ("Penjelasan otomatis dari angka simulasi:", "Automatic explanation from the simulation numbers:"),
    "rank": ("{label} berada di peringkat {rank}{type}", "{label} ranks {rank}{type}"),
    "why_best": (", terutama karena profitnya paling tinggi", ", mainly because its profit is the highest"),
    "kpis": ("{trucks} dump truck dan {excavators} excavator, profit {profit}{ci}, produksi {prod} ton, "
             "rasio BBM {fuel} L/ton, antrian {queue} jam",
             "{trucks} dump trucks and {excavators} excavators, profit {profit}{ci}, production {prod} t, "
             "fuel ratio {fuel} L/t, queue {queue} hours"),
    "ci": (" (interval {level}%: {lo} sampai {hi})", " ({level}% interval: {lo} to {hi})"),
    "vs": ("Dibanding {label} ({trucks} dump truck, {excavators} excavator)",
           "Compared with {label} ({trucks} dump trucks, {excavators} excavators)"),
    "higher": ("lebih tinggi", "higher"), "lower": ("lebih rendah", "lower"), "same": ("sama", "the same"),
    "longer": ("lebih lama", "longer"), "shorter": ("lebih singkat", "shorter"),
    "profit": ("profit", "profit"), "production": ("produksi", "production"),
    "fuel": ("rasio BBM", "fuel ratio"), "queue": ("antrian", "queue"),
    "tradeoff": ("Trade-off: {best} unggul di {wins}, sedangkan {other} lebih baik di {loses}.",
                 "Trade-off: {best} is ahead on {wins}, while {other} is better on {loses}."),
    "dominates": ("{best} sama atau lebih baik dari {other} di semua indikator ini.",
                  "{best} is as good as or better than {other} on all of these."),
    "tie": ("{a} dan {b} setara secara statistik: selisih profitnya masih dalam ketidakpastian simulasi.",
            "{a} and {b} are statistically tied: their profit difference is within the simulation's uncertainty."),
    "and": (" dan ", " and "), "vessel": ("Kapal", "Vessel"), "safety": ("SOP keselamatan", "Safety SOP"),
    "unit_t": (" ton", " t"), "unit_fuel": (" L/ton", " L/t"), "unit_h": (" jam", " h"),
}
_WORDS = {lang: {key: phrases[i] for key, phrases in _PHRASES.items()} for i, lang in enumerate(("id", "en"))}


def fallback_answer(question: str, facts: Sequence[StrategyFacts], language: Language | None = None) -> str:
    """A deterministic explanation from the numbers alone, in the question's language."""
    lang = language or detect_language(question)
    w, num = _WORDS[lang], (lambda value, decimals: format_number(value, decimals, lang))
    money = lambda value: format_idr(value, lang)  # noqa: E731
    ranked = sorted(facts, key=lambda f: f.rank)
    best = ranked[0]
    ci = ""
    if best.profit_ci_idr:
        ci = w["ci"].format(level=num(best.profit_ci_level * 100, 1), lo=money(best.profit_ci_idr[0]),
                            hi=money(best.profit_ci_idr[1]))
    head = w["rank"].format(label=best.label, rank=best.rank,
                            type=f" ({clean_text(best.type_label)})" if best.type_label else "")
    if len(ranked) > 1 and all(best.profit_idr > f.profit_idr for f in ranked[1:]):
        head += w["why_best"]
    kpis = w["kpis"].format(trucks=best.trucks, excavators=best.excavators, profit=money(best.profit_idr), ci=ci,
                            prod=num(best.production_t, 0), fuel=num(best.fuel_ratio_l_per_t, 2),
                            queue=num(best.queue_hours, 2))
    lines = [w["intro"], f"{head}: {kpis}."]
    for other in ranked[1:]:
        parts, wins, loses = [], [], []
        for key, b, o, fmt, higher_better, unit in (
            ("profit", best.profit_idr, other.profit_idr, money, True, ""),
            ("production", best.production_t, other.production_t, lambda v: num(v, 0), True, w["unit_t"]),
            ("fuel", best.fuel_ratio_l_per_t, other.fuel_ratio_l_per_t, lambda v: num(v, 2), False, w["unit_fuel"]),
            ("queue", best.queue_hours, other.queue_hours, lambda v: num(v, 2), False, w["unit_h"]),
        ):
            diff = fmt(abs(b - o))
            if diff == fmt(0.0):
                parts.append(f"{w[key]} {w['same']} ({fmt(b)}{unit})")
                continue
            direction = ("longer" if b > o else "shorter") if key == "queue" else ("higher" if b > o else "lower")
            parts.append(f"{w[key]} {w[direction]} {diff}{unit} ({fmt(b)} vs {fmt(o)}{unit})")
            (wins if (b > o) == higher_better else loses).append(w[key])
        lines.append(w["vs"].format(label=other.label, trucks=other.trucks, excavators=other.excavators)
                     + f", {best.label}: " + "; ".join(parts) + ".")
        if wins and loses:
            lines.append(w["tradeoff"].format(best=best.label, other=other.label, wins=w["and"].join(wins),
                                              loses=w["and"].join(loses)))
        elif not loses:
            lines.append(w["dominates"].format(best=best.label, other=other.label))
        if other.label in best.tied_with or best.label in other.tied_with:
            lines.append(w["tie"].format(a=best.label, b=other.label))
    notes = [f"{w[k]}: {clean_text(text)}" for k, text in (("vessel", best.vessel_note), ("safety", best.guideline))
             if clean_text(text)]
    if notes:
        lines.append(f"{best.label}: " + "; ".join(notes) + ".")
    return "\n".join(lines)


INTERRUPTED_NOTE = {
    "id": "\n\n[Jawaban terputus; berikut penjelasan otomatis dari angka simulasi.]\n\n",
    "en": "\n\n[The answer was interrupted; here is the automatic explanation from the simulation numbers.]\n\n",
}
