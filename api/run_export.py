"""A stored run as a spreadsheet (XLSX, with openpyxl) or a CSV table of its strategies.

Pure builders over the run dict the run store returns (``request``, ``result`` = the body of
``POST /get_top_3_strategies``, ``model_version``, ``created_at``): the numbers are written as
numbers (never display strings), with their units in the column names, so a planner can sort,
chart and re-use them. Sheets: Summary (conditions, grid, warnings, financial parameters),
Top 3 (every metric's mean and 95% interval), All strategies, Request (the body as sent).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

#: Media type of an XLSX file.
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Columns of the all-strategies table: (header, key in all_strategies items, metric part or None).
STRATEGY_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("rank", "rank", None), ("scenario_key", "scenario_key", None), ("trucks", "trucks", None),
    ("excavators", "excavators", None), ("pareto", "pareto", None), ("tied_with", "tied_with", None),
    ("profit_idr_mean", "profit_idr", "mean"), ("profit_idr_ci_low", "profit_idr", "ci_low"),
    ("profit_idr_ci_high", "profit_idr", "ci_high"),
    ("production_t_mean", "production_t", "mean"), ("production_t_ci_low", "production_t", "ci_low"),
    ("production_t_ci_high", "production_t", "ci_high"),
    ("queue_hours_mean", "queue_hours", "mean"), ("queue_hours_ci_low", "queue_hours", "ci_low"),
    ("queue_hours_ci_high", "queue_hours", "ci_high"),
)
#: Excel number formats by column-name suffix.
_FORMATS = (("_idr", "#,##0"), ("_t", "#,##0.0"), ("_hours", "0.00"), ("_min", "0.0"), ("_l_per_t", "0.000"),
            ("_l", "#,##0"), ("utilisation", "0.0%"), ("probability", "0.0%"))
_BOLD = Font(bold=True)


def _cell(value: Any) -> Any:
    """A value openpyxl writes as is: numbers, text, booleans; lists joined; None stays empty."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def strategy_rows(run: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of every strategy of the run, best first."""
    header = [name for name, _, _ in STRATEGY_COLUMNS]
    rows = []
    for item in (run.get("result") or {}).get("all_strategies") or []:
        row = []
        for _, key, part in STRATEGY_COLUMNS:
            value = item.get(key)
            row.append(_cell(value.get(part) if part and isinstance(value, dict) else value))
        rows.append(row)
    return header, rows


def top3_rows(run: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the top three: counts, then every metric's mean, ci_low, ci_high, then the texts."""
    items = (run.get("result") or {}).get("top_3_strategies") or []
    numbers = [item.get("strategy") or {} for item in items]
    metric_names: list[str] = []
    for n in numbers:
        metric_names += [m for m in (n.get("metrics") or {}) if m not in metric_names]
    header = ["option", "rank", "scenario_key", "trucks", "excavators", "dispatch", "replications", "pareto",
              "tied_with"]
    header += [f"{m}_{part}" for m in metric_names for part in ("mean", "ci_low", "ci_high")]
    header += ["vessel_analysis", "guideline"]
    rows = []
    for item, n in zip(items, numbers):
        metrics = n.get("metrics") or {}
        row = [next(iter(item)), n.get("rank"), n.get("scenario_key"), n.get("trucks"), n.get("excavators"),
               n.get("dispatch", "fixed"), n.get("replications"), n.get("pareto"), _cell(n.get("tied_with"))]
        row += [(metrics.get(m) or {}).get(part) for m in metric_names for part in ("mean", "ci_low", "ci_high")]
        row += [_cell(n.get("vessel_analysis")), _cell(n.get("guideline"))]
        rows.append(row)
    return header, rows


def summary_rows(run: dict[str, Any]) -> list[list[Any]]:
    """(field, value) rows: the run, its conditions, grid, financial parameters and warnings."""
    result = run.get("result") or {}
    request = run.get("request") or {}
    rows: list[list[Any]] = [["run_id", run.get("run_id")], ["created_at", run.get("created_at")],
                             ["model_version", run.get("model_version")]]
    rows += [[f"conditions.{k}", _cell(v)] for k, v in (result.get("conditions") or {}).items()]
    rows += [[f"grid.{k}", _cell(v)] for k, v in (result.get("grid") or {}).items()]
    fin = request.get("financial_params") if isinstance(request, dict) else None
    rows += [[f"financial_params.{k}", _cell(v)] for k, v in (fin or {}).items()]
    rows += [["pareto_front", _cell(result.get("pareto_front") or [])]]
    rows += [["warning", w] for w in result.get("warnings") or []]
    rows += [[f"timings_s.{k}", v] for k, v in (result.get("timings_s") or {}).items()]
    return rows


def _flatten(value: Any, prefix: str = "") -> list[list[Any]]:
    if isinstance(value, dict):
        out: list[list[Any]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [[prefix, _cell(value)]]


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]], *, first: bool = False):
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    ws.append(header)
    for cell in ws[1]:
        cell.font = _BOLD
    for row in rows:
        ws.append(row)
    ws.freeze_panes = "A2"
    for i, name in enumerate(header, start=1):
        letter = get_column_letter(i)
        width = max([len(str(name))] + [len(str(r[i - 1])) for r in rows[:200] if i - 1 < len(r)])
        ws.column_dimensions[letter].width = min(60, max(10, width + 2))
        fmt = next((f for suffix, f in _FORMATS if name.removesuffix("_mean").removesuffix("_ci_low")
                    .removesuffix("_ci_high").endswith(suffix)), None)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    cell.number_format = fmt
    return ws


def run_xlsx(run: dict[str, Any]) -> bytes:
    """The run as an XLSX workbook (Summary, Top 3, All strategies, Request)."""
    wb = Workbook()
    _sheet(wb, "Summary", ["field", "value"], summary_rows(run), first=True)
    _sheet(wb, "Top 3", *top3_rows(run))
    _sheet(wb, "All strategies", *strategy_rows(run))
    _sheet(wb, "Request", ["field", "value"], _flatten(run.get("request") or {}))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def run_csv(run: dict[str, Any]) -> str:
    """Every strategy of the run as CSV (header row, best first)."""
    header, rows = strategy_rows(run)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()
