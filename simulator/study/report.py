"""A finished study: its result, the ranked summary table, what ``summary.json`` holds and the closing table."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator import ranking
from simulator.study.rows import ROW_KEYS, metric_names, row_summary
from simulator.study.storage import StudyFolder

#: Strategies per weather printed in the closing summary table.
SUMMARY_TOP = 5


@dataclass(frozen=True, eq=False)
class StudyResult:
    """A finished study: where it is, what this invocation did, the ranked summary table and the plots."""

    run_id: str
    folder: Path
    model_version: str
    scenarios: int
    replications: int
    resumed_scenarios: int       # already done when this invocation started
    simulated_scenarios: int     # run by this invocation
    elapsed_s: float
    simulate_s: float            # wall time of the batches (context tables included, summary and plots not)
    summary: pd.DataFrame
    plots: dict[str, Path]

    @property
    def simulations(self) -> int:
        return self.scenarios * self.replications

    @property
    def simulations_per_s(self) -> float:
        """This invocation's throughput (simulations it ran / wall seconds of its batches)."""
        return self.simulated_scenarios * self.replications / self.simulate_s if self.simulate_s > 0 else 0.0



def ranked_summary(rows: pd.DataFrame, weathers: Sequence[str]) -> pd.DataFrame:
    """The committed rows ranked within each weather: rank, tie group, Pareto flag and guideline added."""
    if rows.empty:
        return rows
    metrics = metric_names(list(rows.columns))
    out = []
    for weather in weathers:
        subset = rows[rows["weather"] == weather]
        if subset.empty:
            continue
        ranked = ranking.rank([row_summary(r, metrics) for r in subset.to_dict("records")])
        by_key = subset.set_index("scenario_key")
        for s in ranked:
            base = by_key.loc[s.scenario_key].to_dict()
            out.append({"weather": weather, "rank": s.rank, "scenario_key": s.scenario_key, "trucks": s.trucks,
                        "excavators": s.excavators, "dispatch": s.dispatch, "replications": s.replications,
                        "pareto": s.pareto, "tied_with": " ".join(s.tied_with), "rank_reason": s.rank_reason,
                        "rank_reason_value": s.rank_reason_value, "guideline": s.guideline,
                        "vessel_analysis": s.vessel_analysis,
                        **{k: v for k, v in base.items() if k not in ROW_KEYS and k != "scenario_key"},
                        "probability_vessel_late": s.probability_vessel_late})
    return pd.DataFrame(out)


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def summary_record(result: StudyResult, folder: StudyFolder) -> dict[str, Any]:
    """What ``summary.json`` holds: the run's figures, and per weather the best strategy and the front."""
    summary = result.summary
    best: dict[str, Any] = {}
    front: dict[str, list[str]] = {}
    for weather, table in summary.groupby("weather", sort=False) if len(summary) else []:
        top = table.sort_values("rank").iloc[0]
        best[weather] = {"scenario_key": top["scenario_key"], "trucks": int(top["trucks"]),
                         "excavators": int(top["excavators"]), "tied_with": top["tied_with"].split(),
                         **{m: {"mean": _finite(top[f"{m}_mean"]), "ci_low": _finite(top[f"{m}_ci_low"]),
                                "ci_high": _finite(top[f"{m}_ci_high"])}
                            for m in ("profit_idr", "production_t", "queue_hours", "fuel_ratio_l_per_t")}}
        front[weather] = table[table["pareto"]].sort_values("rank")["scenario_key"].tolist()
    return {
        "run_id": result.run_id, "model_version": result.model_version, "scenarios": result.scenarios,
        "replications": result.replications, "simulations": result.simulations,
        "resumed_scenarios": result.resumed_scenarios, "simulated_scenarios": result.simulated_scenarios,
        "elapsed_s": result.elapsed_s, "simulate_s": result.simulate_s,
        "simulations_per_s": result.simulations_per_s, "best": best, "pareto": front,
        "files": {"summary_csv": folder.summary_csv.name, "results": f"{folder.results.name}/",
                  "plots": sorted(result.plots)},
    }


def _num(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _reason_cell(code: Any) -> str:
    """The table's why-column: blank where the order is the mean profit's, else the ranking's reason code."""
    return "" if not isinstance(code, str) or code in ("", "higher_mean_profit") else code


def format_summary(result: StudyResult, top: int = SUMMARY_TOP) -> str:
    """The closing table: per weather the best ``top`` strategies, then the throughput."""
    from simulator.plots import weather_label

    lines = [f"study {result.run_id}  model {result.model_version}  {result.scenarios} scenarios x "
             f"{result.replications} replications = {result.simulations} simulations  ({result.folder})"]
    header = ("rank", "trucks", "exc", "profit IDR (mean ± 95% CI)", "production t", "queue h", "fuel L/t", "pareto",
              "above the next because")
    for weather, table in result.summary.groupby("weather", sort=False) if len(result.summary) else []:
        rows = []
        for _, r in table.sort_values("rank").head(top).iterrows():
            half = (r["profit_idr_ci_high"] - r["profit_idr_ci_low"]) / 2
            rows.append((str(r["rank"]), str(r["trucks"]), str(r["excavators"]),
                         f"{_num(r['profit_idr_mean'])} ± {_num(half)}", _num(r["production_t_mean"]),
                         _num(r["queue_hours_mean"], 2), _num(r["fuel_ratio_l_per_t_mean"], 3),
                         "yes" if r["pareto"] else "", _reason_cell(r.get("rank_reason"))))
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
        lines.append(f"{weather_label(weather)}: best {top} of {len(table)} "
                     f"({int(table['pareto'].sum())} on the Pareto front)")
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    lines.append(f"this run: {result.simulated_scenarios} scenarios simulated, {result.resumed_scenarios} resumed; "
                 f"{result.simulations_per_s:,.1f} simulations/s; {result.elapsed_s:.1f} s in all")
    if result.plots:
        lines.append(f"plots: {result.folder / 'plots'} ({', '.join(n for n in sorted(result.plots) if n.endswith('.png'))})")
    return "\n".join(lines)
