"""A study's plots from its summary table: the fleet-size curve, the queue-hours heatmap, the Pareto front.

Each plot is written twice: a static PNG (matplotlib, Agg, no pyplot state) and an interactive HTML
page (plotly). The pages load ``plotly.min.js`` from their own folder (written once, so a study's
folder works offline and a browser fetches the library once). Input is the study's summary table
(``simulator.study``): one row per (weather, trucks, excavators) with ``<metric>_mean``,
``<metric>_ci_low`` and ``<metric>_ci_high`` columns and the ranking's ``pareto`` flag.
Files are written atomically (temp file, then rename), so a reader never sees half a plot.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from training.schema import WEATHER_DISPLAY

#: The plots a study writes (file stem -> title); each as ``<stem>.png`` and ``<stem>.html``.
PLOTS: dict[str, str] = {
    "fleet_size": "Fleet-size curve: profit and production (mean, 95% CI) against trucks",
    "queue_heatmap": "Queue truck-hours per shift (mean) by trucks and excavators",
    "pareto": "Pareto front: profit against queue hours",
}
#: File types a plots folder may hold and serve, with their media types.
MEDIA_TYPES: dict[str, str] = {".png": "image/png", ".html": "text/html; charset=utf-8",
                               ".js": "text/javascript; charset=utf-8"}
#: The plotly library the HTML pages load from their own folder.
PLOTLY_JS = "plotly.min.js"
#: Profit is shown in billions of IDR (the legacy display's "Miliar").
IDR_PER_BILLION = 1e9
#: PNG resolution, dots per inch; width per weather panel and height per row, inches.
PNG_DPI = 110
PANEL_WIDTH_IN, PANEL_HEIGHT_IN = 5.5, 3.6
#: Cells of a heatmap panel up to which each cell is annotated with its value.
MAX_ANNOTATED_CELLS = 60
#: Tick labels along a heatmap's truck axis at most (every k-th truck count is labelled beyond).
MAX_TICK_LABELS = 20
#: Pareto points up to which each point is labelled with its scenario key.
MAX_LABELLED_POINTS = 25


def weather_label(weather: str) -> str:
    """'HUJAN_RINGAN' -> 'Hujan Ringan' (the fleet database's display form)."""
    return WEATHER_DISPLAY.get(weather, weather)


def _weathers(summary: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(summary["weather"].tolist()))


def _ordered(summary: pd.DataFrame, weather: str) -> pd.DataFrame:
    return summary[summary["weather"] == weather].sort_values(["excavators", "trucks"], kind="stable")


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# --- matplotlib (PNG) ----------------------------------------------------------------------------

def _figure(rows: int, cols: int, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PANEL_WIDTH_IN * cols, PANEL_HEIGHT_IN * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **kwargs)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def fleet_size_figure(summary: pd.DataFrame):
    """Profit (top) and production (bottom) against trucks, one line per excavator count, per weather."""
    weathers = _weathers(summary)
    fig, axes = _figure(2, len(weathers), sharey="row")
    excavators = sorted(summary["excavators"].unique())
    colours = dict(zip(excavators, _colours(len(excavators))))
    panels = (("profit_idr", IDR_PER_BILLION, "profit (billion IDR)"), ("production_t", 1.0, "production (t)"))
    for c, weather in enumerate(weathers):
        table = _ordered(summary, weather)
        for r, (metric, scale, label) in enumerate(panels):
            ax = axes[r][c]
            for e, rows in table.groupby("excavators", sort=True):
                x = rows["trucks"].to_numpy()
                ax.fill_between(x, rows[f"{metric}_ci_low"] / scale, rows[f"{metric}_ci_high"] / scale,
                                color=colours[e], alpha=0.2, linewidth=0)
                ax.plot(x, rows[f"{metric}_mean"] / scale, marker="o", markersize=3, color=colours[e],
                        label=f"{e} excavator{'s' if e > 1 else ''}")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(weather_label(weather))
            else:
                ax.set_xlabel("trucks")
    axes[0][-1].legend(loc="best", fontsize="small")
    fig.suptitle(PLOTS["fleet_size"])
    return fig


def _grid(table: pd.DataFrame, metric: str) -> tuple[np.ndarray, list[int], list[int]]:
    """(excavators x trucks) matrix of a metric's mean (NaN where the grid has no scenario)."""
    pivot = table.pivot_table(index="excavators", columns="trucks", values=f"{metric}_mean", aggfunc="first")
    return pivot.to_numpy(dtype=float), [int(v) for v in pivot.index], [int(v) for v in pivot.columns]


def queue_heatmap_figure(summary: pd.DataFrame):
    """Mean queue truck-hours per shift over trucks x excavators, one panel per weather (shared scale)."""
    weathers = _weathers(summary)
    fig, axes = _figure(1, len(weathers))
    top = float(np.nanmax(summary["queue_hours_mean"].to_numpy(dtype=float))) if len(summary) else 1.0
    image = None
    for c, weather in enumerate(weathers):
        ax = axes[0][c]
        z, exc, trucks = _grid(_ordered(summary, weather), "queue_hours")
        image = ax.imshow(z, aspect="auto", origin="lower", cmap="viridis", vmin=0.0, vmax=max(top, 1e-9),
                          extent=(-0.5, len(trucks) - 0.5, -0.5, len(exc) - 0.5))
        every = max(1, math.ceil(len(trucks) / MAX_TICK_LABELS))
        ax.set_xticks(range(0, len(trucks), every), [str(t) for t in trucks[::every]], fontsize="small")
        ax.set_yticks(range(len(exc)), [str(e) for e in exc])
        ax.set_xlabel("trucks")
        ax.set_ylabel("excavators")
        ax.set_title(weather_label(weather))
        if z.size <= MAX_ANNOTATED_CELLS:
            for (i, j), v in np.ndenumerate(z):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize="x-small",
                            color="white" if v < top / 2 else "black")
    if image is not None:
        fig.colorbar(image, ax=[axes[0][c] for c in range(len(weathers))], label="queue truck-hours per shift")
    fig.suptitle(PLOTS["queue_heatmap"])
    return fig


def _front(table: pd.DataFrame) -> pd.DataFrame:
    """The ranking's Pareto set (profit, queue hours and fuel ratio), by queue hours."""
    return table[table["pareto"].astype(bool)].sort_values("queue_hours_mean", kind="stable")


def profit_queue_frontier(table: pd.DataFrame) -> pd.DataFrame:
    """The strategies no other beats on both mean profit and mean queue hours, by queue hours (the
    two-dimensional frontier the Pareto plot draws; ties on queue keep the most profitable)."""
    ordered = table.sort_values(["queue_hours_mean", "profit_idr_mean"], ascending=[True, False], kind="stable")
    keep, best = [], -np.inf
    for index, profit in zip(ordered.index, ordered["profit_idr_mean"].to_numpy(dtype=float)):
        if profit > best:
            keep.append(index)
            best = profit
    return ordered.loc[keep]


def pareto_figure(summary: pd.DataFrame):
    """Every strategy's mean profit against mean queue hours; the ranking's Pareto front highlighted."""
    weathers = _weathers(summary)
    fig, axes = _figure(1, len(weathers), sharey="row")
    for c, weather in enumerate(weathers):
        ax = axes[0][c]
        table = summary[summary["weather"] == weather]
        ax.scatter(table["queue_hours_mean"], table["profit_idr_mean"] / IDR_PER_BILLION, s=10, color="0.7",
                   label="dominated")
        front = _front(table)
        ax.scatter(front["queue_hours_mean"], front["profit_idr_mean"] / IDR_PER_BILLION, s=18, color="C1",
                   label="Pareto (profit, queue, fuel ratio)")
        frontier = profit_queue_frontier(table)
        ax.step(frontier["queue_hours_mean"], frontier["profit_idr_mean"] / IDR_PER_BILLION, where="post",
                marker="o", color="C3", markersize=5, linewidth=1.2, label="profit-queue frontier")
        if len(frontier) <= MAX_LABELLED_POINTS:
            for _, row in frontier.iterrows():
                ax.annotate(str(row["scenario_key"]), (row["queue_hours_mean"], row["profit_idr_mean"] / IDR_PER_BILLION),
                            textcoords="offset points", xytext=(4, 3), fontsize="x-small")
        ax.set_xlabel("queue truck-hours per shift")
        ax.set_ylabel("profit (billion IDR)")
        ax.set_title(weather_label(weather))
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize="small")
    fig.suptitle(PLOTS["pareto"])
    return fig


# --- plotly (HTML) -------------------------------------------------------------------------------

def _subplots(rows: int, weathers: list[str], **kwargs):
    from plotly.subplots import make_subplots

    titles = [weather_label(w) for w in weathers] + [""] * (rows - 1) * len(weathers)
    return make_subplots(rows=rows, cols=len(weathers), subplot_titles=titles, **kwargs)


def fleet_size_plotly(summary: pd.DataFrame):
    """The fleet-size curve as an interactive figure (hover: mean and 95% CI)."""
    import plotly.graph_objects as go

    weathers = _weathers(summary)
    fig = _subplots(2, weathers, shared_xaxes=True, vertical_spacing=0.08)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    excavators = sorted(summary["excavators"].unique())
    colour = {e: palette[i % len(palette)] for i, e in enumerate(excavators)}
    panels = (("profit_idr", IDR_PER_BILLION, "profit (billion IDR)"), ("production_t", 1.0, "production (t)"))
    for c, weather in enumerate(weathers, start=1):
        table = _ordered(summary, weather)
        for r, (metric, scale, label) in enumerate(panels, start=1):
            for e, rows in table.groupby("excavators", sort=True):
                x = rows["trucks"].tolist()
                lo = (rows[f"{metric}_ci_low"] / scale).tolist()
                hi = (rows[f"{metric}_ci_high"] / scale).tolist()
                mean = (rows[f"{metric}_mean"] / scale).tolist()
                fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colour[e],
                                         opacity=0.2, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                         legendgroup=str(e)), row=r, col=c)
                fig.add_trace(go.Scatter(
                    x=x, y=mean, mode="lines+markers", line={"color": colour[e]}, name=f"{e} excavator{'s' if e > 1 else ''}",
                    legendgroup=str(e), showlegend=(r == 1 and c == 1),
                    customdata=np.column_stack([lo, hi]),
                    hovertemplate=f"{weather_label(weather)}, {e} excavators, %{{x}} trucks<br>{label}: "
                                  "%{y:,.2f} (95% CI %{customdata[0]:,.2f} to %{customdata[1]:,.2f})<extra></extra>",
                ), row=r, col=c)
            fig.update_yaxes(title_text=label if c == 1 else None, row=r, col=c)
        fig.update_xaxes(title_text="trucks", row=2, col=c)
    fig.update_layout(title=PLOTS["fleet_size"], hovermode="closest")
    return fig


def queue_heatmap_plotly(summary: pd.DataFrame):
    """The queue-hours heatmap as an interactive figure (one shared colour scale)."""
    import plotly.graph_objects as go

    weathers = _weathers(summary)
    fig = _subplots(1, weathers)
    top = float(np.nanmax(summary["queue_hours_mean"].to_numpy(dtype=float))) if len(summary) else 1.0
    for c, weather in enumerate(weathers, start=1):
        z, exc, trucks = _grid(_ordered(summary, weather), "queue_hours")
        fig.add_trace(go.Heatmap(z=z, x=trucks, y=exc, coloraxis="coloraxis",
                                 hovertemplate="%{x} trucks, %{y} excavators<br>queue %{z:.2f} truck-h<extra></extra>"),
                      row=1, col=c)
        fig.update_xaxes(title_text="trucks", type="category", row=1, col=c)
        fig.update_yaxes(title_text="excavators" if c == 1 else None, type="category", row=1, col=c)
    fig.update_layout(title=PLOTS["queue_heatmap"],
                      coloraxis={"colorscale": "Viridis", "cmin": 0.0, "cmax": max(top, 1e-9),
                                 "colorbar": {"title": "truck-h"}})
    return fig


def pareto_plotly(summary: pd.DataFrame):
    """The Pareto plot as an interactive figure (hover: scenario, profit, queue, fuel ratio)."""
    import plotly.graph_objects as go

    weathers = _weathers(summary)
    fig = _subplots(1, weathers)
    hover = ("%{text}<br>profit %{y:,.3f} billion IDR<br>queue %{x:.2f} truck-h<br>"
             "fuel %{customdata:.3f} L/t<extra></extra>")
    for c, weather in enumerate(weathers, start=1):
        table = summary[summary["weather"] == weather]
        for rows, name, style in ((table, "all strategies", {"color": "#b0b0b0", "size": 6}),
                                  (_front(table), "Pareto (profit, queue, fuel ratio)", {"color": "#ff7f0e", "size": 8}),
                                  (profit_queue_frontier(table), "profit-queue frontier", {"color": "#d62728", "size": 9})):
            fig.add_trace(go.Scatter(
                x=rows["queue_hours_mean"], y=rows["profit_idr_mean"] / IDR_PER_BILLION,
                mode="lines+markers" if name == "profit-queue frontier" else "markers", marker=style, name=name,
                line={"shape": "hv"},
                legendgroup=name, showlegend=(c == 1), text=rows["scenario_key"],
                customdata=rows["fuel_ratio_l_per_t_mean"], hovertemplate=hover), row=1, col=c)
        fig.update_xaxes(title_text="queue truck-hours per shift", row=1, col=c)
        fig.update_yaxes(title_text="profit (billion IDR)" if c == 1 else None, row=1, col=c)
    fig.update_layout(title=PLOTS["pareto"])
    return fig


FIGURES = {"fleet_size": (fleet_size_figure, fleet_size_plotly),
           "queue_heatmap": (queue_heatmap_figure, queue_heatmap_plotly),
           "pareto": (pareto_figure, pareto_plotly)}


def write_plots(summary: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """Write every plot of :data:`PLOTS` as PNG and HTML into ``folder``; returns file name -> path."""
    import io

    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    library = folder / PLOTLY_JS
    if not library.exists():
        written[PLOTLY_JS] = _write_atomic(library, get_plotlyjs().encode("utf-8"))
    for stem, (static, interactive) in FIGURES.items():
        buffer = io.BytesIO()
        static(summary).savefig(buffer, format="png", dpi=PNG_DPI)
        written[f"{stem}.png"] = _write_atomic(folder / f"{stem}.png", buffer.getvalue())
        html = pio.to_html(interactive(summary), include_plotlyjs="directory", full_html=True)
        written[f"{stem}.html"] = _write_atomic(folder / f"{stem}.html", html.encode("utf-8"))
    return written


def list_plots(folder: Path) -> dict[str, Path]:
    """The servable files of a plots folder (name -> path): PNG, HTML and the JS they load; {} if none."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix in MEDIA_TYPES}
