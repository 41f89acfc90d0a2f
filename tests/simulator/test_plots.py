"""Study plots: what each figure draws comes from the summary table; files are written whole and listed safely."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import plots
from simulator.results import Estimate, ScenarioSummary
from simulator.study import ranked_summary, summary_row

WEATHERS = ("CERAH", "HUJAN_LEBAT")
TRUCKS = (2, 4, 6, 8)
EXCAVATORS = (1, 2, 3)


def _estimate(mean: float, half: float) -> Estimate:
    return Estimate(mean=mean, ci_low=mean - half, ci_high=mean + half, n=10, std=half)


def make_summary() -> pd.DataFrame:
    """A ranked summary of a 2-weather x 4 x 3 grid with closed-form numbers (rain: 20% less production)."""
    rows = []
    for w, weather in enumerate(WEATHERS):
        for t in TRUCKS:
            for e in EXCAVATORS:
                production = 500.0 * min(t, 3.0 * e) * (1 - 0.2 * w)
                queue = max(0.0, t - 3.0 * e) * 1.5 + 0.1 * t / e
                profit = 800_000.0 * production - 5e7 * t - 2e8 * e
                s = ScenarioSummary(
                    scenario_key=f"T{t}-E{e}", trucks=t, excavators=e, replications=10,
                    metrics={"profit_idr": _estimate(profit, 0.05 * abs(profit)),
                             "production_t": _estimate(production, 20.0), "queue_hours": _estimate(queue, 0.1),
                             "fuel_ratio_l_per_t": _estimate(0.3 + 0.01 * e, 0.01),
                             "excavator_utilisation": _estimate(min(1.0, t / (3.0 * e)), 0.01)})
                rows.append(summary_row(weather, s))
    return ranked_summary(pd.DataFrame(rows), WEATHERS)


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return make_summary()


def test_the_summary_fixture_is_ranked_within_each_weather(summary):
    assert len(summary) == len(WEATHERS) * len(TRUCKS) * len(EXCAVATORS)
    for _, table in summary.groupby("weather"):
        assert sorted(table["rank"]) == list(range(1, len(table) + 1))
        assert table["pareto"].any()


def test_fleet_size_curve_draws_one_line_per_excavator_count_with_its_ci(summary):
    fig = plots.fleet_size_plotly(summary)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(lines) == len(bands) == len(WEATHERS) * 2 * len(EXCAVATORS)  # profit and production panels
    first = summary[(summary["weather"] == "CERAH") & (summary["excavators"] == 1)].sort_values("trucks")
    assert list(lines[0].x) == list(TRUCKS)
    np.testing.assert_allclose(lines[0].y, first["profit_idr_mean"] / plots.IDR_PER_BILLION)
    np.testing.assert_allclose(bands[0].y[: len(TRUCKS)], first["profit_idr_ci_high"] / plots.IDR_PER_BILLION)
    png = plots.fleet_size_figure(summary)
    assert len(png.axes) == 2 * len(WEATHERS)
    assert [len(ax.lines) for ax in png.axes] == [len(EXCAVATORS)] * (2 * len(WEATHERS))


def test_queue_heatmap_holds_the_mean_queue_of_every_cell(summary):
    fig = plots.queue_heatmap_plotly(summary)
    assert len(fig.data) == len(WEATHERS)
    z = np.asarray(fig.data[1].z)
    assert z.shape == (len(EXCAVATORS), len(TRUCKS))
    row = summary[(summary["weather"] == "HUJAN_LEBAT") & (summary["trucks"] == 8) & (summary["excavators"] == 2)]
    assert z[EXCAVATORS.index(2), TRUCKS.index(8)] == pytest.approx(float(row["queue_hours_mean"].iloc[0]))
    assert fig.layout.coloraxis.cmax == pytest.approx(summary["queue_hours_mean"].max())


def test_profit_queue_frontier_keeps_exactly_the_undominated_points():
    table = pd.DataFrame({"queue_hours_mean": [0.0, 1.0, 1.0, 2.0, 3.0, 5.0],
                          "profit_idr_mean": [1.0, 3.0, 2.0, 2.5, 4.0, 4.0]})
    frontier = plots.profit_queue_frontier(table)
    assert frontier.index.tolist() == [0, 1, 4]
    q, p = table["queue_hours_mean"].to_numpy(), table["profit_idr_mean"].to_numpy()
    undominated = [i for i in range(len(table))
                   if not any(q[j] <= q[i] and p[j] >= p[i] and (q[j] < q[i] or p[j] > p[i]) for j in range(len(table)))]
    assert sorted(frontier.index) == undominated


def test_pareto_plot_marks_the_rankings_front(summary):
    fig = plots.pareto_plotly(summary)
    front_traces = [t for t in fig.data if t.name.startswith("Pareto")]
    assert len(front_traces) == len(WEATHERS)
    cerah = summary[(summary["weather"] == "CERAH") & summary["pareto"]]
    assert sorted(front_traces[0].text) == sorted(cerah["scenario_key"])


def test_write_plots_writes_png_and_html_atomically_and_lists_them(summary, tmp_path):
    written = plots.write_plots(summary, tmp_path / "plots")
    expected = {f"{stem}.{ext}" for stem in plots.PLOTS for ext in ("png", "html")} | {plots.PLOTLY_JS}
    assert set(written) == expected
    for name in expected:
        assert (tmp_path / "plots" / name).stat().st_size > 0
    assert (tmp_path / "plots" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "plots" / "fleet_size.html").read_text()
    assert 'src="plotly.min.js"' in html and "Hujan Lebat" in html
    assert not list((tmp_path / "plots").glob(".*"))  # no temp file left behind
    (tmp_path / "plots" / ".half.png.tmp").write_bytes(b"x")
    (tmp_path / "plots" / "notes.txt").write_text("not a plot")
    assert set(plots.list_plots(tmp_path / "plots")) == expected
    assert plots.list_plots(tmp_path / "missing") == {}
    again = plots.write_plots(summary, tmp_path / "plots")
    assert plots.PLOTLY_JS not in again  # the library is written once per folder
