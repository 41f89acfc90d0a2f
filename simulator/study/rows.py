"""The row format of a study's result files: a scenario summary as one flat row, and back.

Pure: tables in, tables out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from simulator import replications
from simulator.results import Estimate, ReplicationResult, ScenarioSummary

#: Identity columns of a result row, before the metric columns.
ROW_KEYS = ("weather", "scenario_key", "trucks", "excavators", "dispatch", "replications", "probability_vessel_late")
#: ``ReplicationResult`` fields copied into a replication row (``hours_to_target`` follows, None as NaN).
REPLICATION_FIELDS = tuple(f.name for f in fields(ReplicationResult) if f.name != "hours_to_target")
#: Columns of one metric in a result row: ``<metric>_<part>``.
ESTIMATE_PARTS = ("mean", "ci_low", "ci_high", "std", "n")


def summary_row(weather: str, summary: ScenarioSummary) -> dict[str, Any]:
    """A scenario summary as one flat row (``<metric>_mean``, ``_ci_low``, ``_ci_high``, ``_std``, ``_n``)."""
    row: dict[str, Any] = {"weather": weather, "scenario_key": summary.scenario_key, "trucks": summary.trucks,
                           "excavators": summary.excavators, "dispatch": summary.dispatch,
                           "replications": summary.replications,
                           "probability_vessel_late": summary.probability_vessel_late}
    for metric, est in summary.metrics.items():
        for part in ESTIMATE_PARTS:
            row[f"{metric}_{part}"] = getattr(est, part)
    return row


def metric_names(columns: Sequence[str]) -> list[str]:
    """The metrics a row table holds, in report order."""
    known = replications.METRICS + replications.VESSEL_METRICS
    present = {c[: -len("_mean")] for c in columns if c.endswith("_mean")}
    return [m for m in known if m in present] + sorted(present - set(known))


def row_summary(row: Mapping[str, Any], metrics: Sequence[str]) -> ScenarioSummary:
    """A flat row back into a ``ScenarioSummary`` (unranked)."""
    return ScenarioSummary(
        scenario_key=str(row["scenario_key"]), trucks=int(row["trucks"]), excavators=int(row["excavators"]),
        replications=int(row["replications"]), dispatch=str(row.get("dispatch", "fixed")),
        metrics={m: Estimate(mean=float(row[f"{m}_mean"]), ci_low=float(row[f"{m}_ci_low"]),
                             ci_high=float(row[f"{m}_ci_high"]), n=int(row[f"{m}_n"]), std=float(row[f"{m}_std"]))
                 for m in metrics},
        probability_vessel_late=float(row["probability_vessel_late"]),
    )


def replication_frame(weather: str, results: Sequence[ReplicationResult], metrics: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per replication: identity, the model's raw outputs and every per-replication metric."""
    columns: dict[str, Any] = {"weather": [weather] * len(results)}
    for name in REPLICATION_FIELDS:
        columns[name] = [getattr(r, name) for r in results]
    columns["hours_to_target"] = [math.nan if r.hours_to_target is None else r.hours_to_target for r in results]
    for name, values in metrics.items():
        columns.setdefault(name, values)
    return pd.DataFrame(columns)
