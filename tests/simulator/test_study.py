"""Fleet-size studies: spec parsing, resumable Parquet streaming (interrupt and kill), summaries, progress, CLI."""
from __future__ import annotations

import copy
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator import study as st
from simulator.engine import run_request, simulation_defaults
from simulator.request import parse_request
from simulator.executor import InlineExecutor, LocalPoolExecutor
from simulator.scenario import SpecError
from simulator.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parents[2]

BASE: dict = {
    "fixed_conditions": {"roadCondition": "GOOD", "shift": "SHIFT_1",
                         "simulation_start_date": "2025-11-10T07:00:00+07:00"},
    "decision_variables": {"alokasi_truk": {"from": 2, "to": 4}, "jumlah_excavator": [1, 2]},
    "weathers": ["Cerah", "Hujan Lebat"],
    "simulation": {"duration_hours": 2, "replications": 4, "seed": 7},
    "study": {"chunk_scenarios": 2, "plots": False},
}


def body(**changes) -> dict:
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        out[key] = value
    return out


def run(spec_body: dict, mine, output: Path, executor=None, **kwargs) -> st.StudyResult:
    spec = st.parse_study(spec_body)
    return st.run_study(spec, bundle=mine.bundle, fleet=mine.fleet, executor=executor or InlineExecutor(),
                        output=output, sailing_schedules=mine.export.sailing_schedules, vessels=mine.export.vessels,
                        progress_stream=io.StringIO(), **kwargs)


def sorted_rows(frame: pd.DataFrame, keys=("weather", "trucks", "excavators")) -> pd.DataFrame:
    return frame.sort_values(list(keys), kind="stable").reset_index(drop=True)


# --- spec ------------------------------------------------------------------------------------------

def test_spec_expands_ranges_and_sweeps_weathers():
    spec = st.parse_study(body(decision_variables={"alokasi_truk": {"from": 5, "to": 60},
                                                   "jumlah_excavator": {"from": 1, "to": 6}},
                               weathers=["Cerah", "hujan ringan", "HUJAN_LEBAT", "Cerah"],
                               simulation={"replications": 100, "seed": 1}))
    assert spec.weathers == ("CERAH", "HUJAN_RINGAN", "HUJAN_LEBAT")
    assert spec.grid.truck_counts == tuple(range(5, 61)) and spec.grid.excavator_counts == tuple(range(1, 7))
    assert len(spec.scenarios) == 56 * 6 * 3 and spec.simulations == 56 * 6 * 3 * 100
    assert spec.scenarios[0] == st.StudyScenario("CERAH", 5, 1) and spec.scenarios[-1].key == "T60-E6"
    assert [r.conditions.weather for r in spec.requests] == list(spec.weathers)
    stepped = st.parse_study(body(decision_variables={"alokasi_truk": {"from": 4, "to": 20, "step": 4},
                                                      "jumlah_excavator": [2, 1]}))
    assert stepped.grid.truck_counts == (4, 8, 12, 16, 20) and stepped.grid.excavator_counts == (1, 2)
    single = dict(body(), fixed_conditions={**BASE["fixed_conditions"], "weatherCondition": "Kabut"})
    del single["weathers"]
    assert st.parse_study(single).weathers == ("KABUT",)


@pytest.mark.parametrize("change,field", [
    ({"decision_variables": {"alokasi_truk": {"from": 9, "to": 3}, "jumlah_excavator": [1]}},
     "decision_variables.alokasi_truk.to"),
    ({"decision_variables": {"alokasi_truk": {"from": 1, "upto": 3}, "jumlah_excavator": [1]}},
     "decision_variables.alokasi_truk.upto"),
    ({"decision_variables": {"alokasi_truk": {"from": 1, "to": 3, "step": 0}, "jumlah_excavator": [1]}},
     "decision_variables.alokasi_truk.step"),
    ({"decision_variables": {"alokasi_truk": [2], "jumlah_excavator": [0]}}, "decision_variables.jumlah_excavator[0]"),
    ({"weathers": ["Cerah", "Salju"]}, "weathers[1]"),
    ({"weathers": []}, "weathers"),
    ({"study": {"chunk_scenarios": 0}}, "study.chunk_scenarios"),
    ({"study": {"chunk": 3}}, "study.chunk"),
    ({"simulation": {"replications": 0}}, "simulation.replications"),
    ({"replications": 3}, "replications"),
    ({"decision_variables": {"alokasi_truk": {"from": 1, "to": 5000}, "jumlah_excavator": {"from": 1, "to": 1000}},
      "simulation": {"replications": 1000}}, "decision_variables"),
    ({"decision_variables": {"alokasi_truk": {"from": 1, "to": 10 ** 12}, "jumlah_excavator": [1]}},
     "decision_variables.alokasi_truk"),
])
def test_spec_errors_name_the_field(change, field):
    with pytest.raises(SpecError) as info:
        st.parse_study(body(**change))
    assert info.value.field == field


def test_run_id_depends_on_what_the_results_depend_on_only():
    spec = st.parse_study(body())
    assert spec.run_id("v1") == st.parse_study(body()).run_id("v1")
    assert spec.run_id("v1").startswith("study-")
    assert st.parse_study(body(study={"chunk_scenarios": 5, "plots": True})).run_id("v1") == spec.run_id("v1")
    assert spec.run_id("v2") != spec.run_id("v1")
    assert st.parse_study(body(simulation={**BASE["simulation"], "seed": 8})).run_id("v1") != spec.run_id("v1")
    assert st.parse_study(body(weathers=["Cerah"])).run_id("v1") != spec.run_id("v1")
    assert st.parse_study(body(financial_params={"HargaSolar": 16000})).run_id("v1") != spec.run_id("v1")


def test_spec_files_are_read_as_yaml_or_json(tmp_path):
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "s.json").write_text(json.dumps(BASE))
    assert st.load_spec_file(tmp_path / "s.yaml") == st.load_spec_file(tmp_path / "s.json") == BASE


# --- running ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(trained_mine, tmp_path_factory) -> st.StudyResult:
    """The small study run uninterrupted on a 2-worker pool."""
    with LocalPoolExecutor(2) as pool:
        return run(body(), trained_mine, tmp_path_factory.mktemp("reference"), executor=pool)


def test_a_one_weather_study_gives_the_same_numbers_as_the_request_engine(trained_mine, tmp_path):
    request = body(decision_variables={"alokasi_truk": [2, 3, 4], "jumlah_excavator": [1, 2]})
    one = dict(request, weathers=["Cerah"])
    result = run(one, trained_mine, tmp_path)
    legacy = dict(request, fixed_conditions={**request["fixed_conditions"], "weatherCondition": "Cerah"})
    del legacy["weathers"], legacy["study"]
    engine = run_request(parse_request(legacy, defaults=simulation_defaults(SimulatorSettings())), bundle=trained_mine.bundle, fleet=trained_mine.fleet, executor=InlineExecutor(),
                         settings=SimulatorSettings(), sailing_schedules=trained_mine.export.sailing_schedules,
                         vessels=trained_mine.export.vessels)
    rows = result.summary.set_index("scenario_key")
    assert len(rows) == len(engine.summaries) == 6
    for s in engine.ranked:
        row = rows.loc[s.scenario_key]
        assert row["rank"] == s.rank and bool(row["pareto"]) == s.pareto
        for metric, est in s.metrics.items():
            for part in ("mean", "ci_low", "ci_high", "std"):
                a, b = row[f"{metric}_{part}"], getattr(est, part)
                assert (math.isnan(a) and math.isnan(b)) or a == b, (s.scenario_key, metric, part)
            assert row[f"{metric}_n"] == est.n


def test_a_study_writes_its_folder(reference):
    folder = st.StudyFolder(reference.folder)
    spec = json.loads(folder.spec_path.read_text())
    assert spec["run_id"] == reference.run_id == reference.folder.name
    assert spec["model_version"] == reference.model_version and spec["spec"] == body()
    assert spec["start"].startswith("2025-11-10T00:00:00")
    assert len(folder.committed()) == 6  # 12 scenarios in batches of 2
    summary = pd.read_csv(folder.summary_csv)
    assert len(summary) == reference.scenarios == 12 and reference.resumed_scenarios == 0
    for _, table in summary.groupby("weather"):
        assert sorted(table["rank"]) == list(range(1, 7))
        # each row says why it is above the next; a tie reason exactly where the next has the higher mean
        ordered = table.sort_values("rank")
        reasons, means = ordered["rank_reason"].tolist(), ordered["profit_idr_mean"].tolist()
        for k in range(len(ordered) - 1):
            assert (reasons[k] != "higher_mean_profit") == (means[k + 1] > means[k])
        assert not isinstance(reasons[-1], str) or reasons[-1] == ""
    assert "above the next because" in st.format_summary(reference)
    saved = json.loads(folder.summary_json.read_text())
    assert set(saved["best"]) == {"CERAH", "HUJAN_LEBAT"} and saved["simulations"] == 48
    best = summary[(summary["weather"] == "CERAH") & (summary["rank"] == 1)].iloc[0]
    assert saved["best"]["CERAH"]["scenario_key"] == best["scenario_key"]


def test_replication_rows_are_streamed_beside_the_summaries(reference):
    folder = st.StudyFolder(reference.folder)
    reps = folder.read_replications()
    assert len(reps) == 12 * 4
    assert set(reps.groupby(["weather", "scenario_key"])["replication"].apply(tuple)) == {(0, 1, 2, 3)}
    means = reps.groupby(["weather", "scenario_key"])["profit_idr"].mean()
    rows = folder.read_results().set_index(["weather", "scenario_key"])
    pd.testing.assert_series_equal(means.sort_index(), rows["profit_idr_mean"].sort_index(), check_names=False,
                                   rtol=1e-12)


def test_an_interrupted_study_resumes_with_no_scenario_lost_or_repeated(trained_mine, reference, tmp_path):
    seen = []

    def stop_after_two(report: st.BatchReport) -> None:
        seen.append(report)
        if len(seen) == 2:
            raise st.StudyInterrupted("stop")

    with pytest.raises(st.StudyInterrupted):
        run(body(), trained_mine, tmp_path, on_batch=stop_after_two)
    folder = st.StudyFolder(tmp_path / reference.run_id)
    assert len(folder.committed()) == 2 and len(folder.done()) == 4
    assert seen[-1].done_scenarios == 4 and seen[-1].total_scenarios == 12

    resumed = run(body(), trained_mine, tmp_path)
    assert (resumed.resumed_scenarios, resumed.simulated_scenarios) == (4, 8)
    rows = folder.read_results()
    assert len(rows) == 12 and not rows.duplicated(["weather", "scenario_key"]).any()
    expected = st.StudyFolder(reference.folder).read_results()
    pd.testing.assert_frame_equal(sorted_rows(rows), sorted_rows(expected))
    pd.testing.assert_frame_equal(sorted_rows(folder.read_replications(), ("weather", "trucks", "excavators", "replication")),
                                  sorted_rows(st.StudyFolder(reference.folder).read_replications(),
                                              ("weather", "trucks", "excavators", "replication")))
    pd.testing.assert_frame_equal(resumed.summary, reference.summary)
    again = run(body(), trained_mine, tmp_path)  # a finished study only re-reads its results
    assert (again.resumed_scenarios, again.simulated_scenarios) == (12, 0)


def test_a_killed_study_resumes_from_its_committed_batches(trained_mine, tmp_path):
    spec_body = body(decision_variables={"alokasi_truk": {"from": 2, "to": 9}, "jumlah_excavator": [1, 2]},
                     simulation={"duration_hours": 12, "replications": 10, "seed": 3},
                     study={"chunk_scenarios": 1, "plots": False})
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec_body))
    args = [str(spec_path), "--data", str(trained_mine.data), "--models", str(trained_mine.models),
            "--logs", str(tmp_path / "logs"), "--workers", "1"]
    run_id = st.parse_study(spec_body).run_id(str(trained_mine.bundle.version))
    folder = st.StudyFolder(tmp_path / "logs" / st.STUDIES_FOLDER / run_id)
    proc = subprocess.Popen([sys.executable, "-m", "simulator.study", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(folder.committed()) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: what is on disk must be consistent
    finally:
        proc.wait()
    done_before = len(folder.done())
    assert 3 <= done_before < 32, proc.stderr.read().decode()[-2000:]
    (folder.results / ".batch-9999999-deadbeef00.parquet.tmp").write_bytes(b"half a batch")
    assert st.main(args) == st.EXIT_OK
    rows = folder.read_results()
    assert len(rows) == 32 and not rows.duplicated(["weather", "scenario_key"]).any()
    assert not list(folder.results.glob(".*.tmp"))
    fresh = run(spec_body, trained_mine, tmp_path / "fresh")
    pd.testing.assert_frame_equal(sorted_rows(rows), sorted_rows(st.StudyFolder(fresh.folder).read_results()))
    summary = json.loads(folder.summary_json.read_text())
    assert summary["resumed_scenarios"] == done_before and summary["simulated_scenarios"] == 32 - done_before


class FailingOnce(InlineExecutor):
    """Loses the second batch it is given (a worker or cluster failure), then works."""

    def __init__(self):
        import threading

        self.calls, self.lock = 0, threading.Lock()

    def map_scenarios(self, tasks):
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == 2:
            raise RuntimeError("worker lost")
        return super().map_scenarios(tasks)


def test_an_executor_failure_stops_the_study_and_a_rerun_completes_it(trained_mine, reference, tmp_path):
    with pytest.raises(RuntimeError, match="worker lost"):
        run(body(), trained_mine, tmp_path, executor=FailingOnce())
    folder = st.StudyFolder(tmp_path / reference.run_id)
    assert len(folder.done()) <= 2  # at most the first batch was committed
    resumed = run(body(), trained_mine, tmp_path)
    assert resumed.resumed_scenarios + resumed.simulated_scenarios == 12
    pd.testing.assert_frame_equal(sorted_rows(folder.read_results()),
                                  sorted_rows(st.StudyFolder(reference.folder).read_results()))


def test_a_study_cannot_run_twice_at_once_and_refuses_duplicate_rows(trained_mine, reference, tmp_path):
    folder = st.StudyFolder(tmp_path / reference.run_id)
    folder.lock()
    try:
        with pytest.raises(st.StudyBusyError):
            run(body(), trained_mine, tmp_path)
    finally:
        folder.unlock()
    source = st.StudyFolder(reference.folder)
    folder.results.mkdir(parents=True)
    first = source.committed()[0]
    (folder.results / first.name).write_bytes(first.read_bytes())
    (folder.results / "batch-9999999-copy.parquet").write_bytes(first.read_bytes())
    with pytest.raises(ValueError, match="more than one batch"):
        folder.done()


def test_plots_are_written_by_the_study(trained_mine, reference, tmp_path):
    result = run(body(study={"chunk_scenarios": 6, "plots": True}), trained_mine, tmp_path)
    assert result.run_id == reference.run_id  # options are not part of the identity
    assert {"fleet_size.png", "fleet_size.html", "queue_heatmap.png", "pareto.html"} <= set(result.plots)
    assert all((result.folder / "plots" / name).is_file() for name in result.plots)
    assert len(st.StudyFolder(result.folder).committed()) == 2


# --- progress and command line ---------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_lines_give_rate_and_eta_when_not_a_terminal():
    clock, out = FakeClock(), io.StringIO()
    progress = st.Progress(100, 20, label="s", stream=out, interval_s=5.0, tty=False, clock=clock)
    assert progress.eta_s == math.inf  # nothing measured yet
    clock.t += 10.0
    progress.update(30)
    assert progress.rate == pytest.approx(3.0) and progress.eta_s == pytest.approx(50 / 3)
    clock.t += 1.0
    progress.update(3)  # within the interval: no new line
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "s: 50/100 simulations (50.0%), 3.0 sim/s" in lines[0] and "ETA 00:00:17" in lines[0]
    assert "53/100" in lines[1]


def test_the_eta_weighs_the_work_left_by_its_cost():
    clock = FakeClock()
    progress = st.Progress(100, 20, total_work=1000, done_work=100, stream=io.StringIO(), tty=False, clock=clock)
    clock.t += 10.0
    progress.update(30, work=150)  # cheap scenarios first: 15 work units per second
    assert progress.rate == pytest.approx(3.0)
    assert progress.eta_s == pytest.approx((1000 - 250) / 15.0)  # not (100 - 50) / 3 = 17 s


def test_progress_is_a_bar_on_a_terminal():
    out = io.StringIO()
    clock = FakeClock()
    progress = st.Progress(40, 10, label="bar", stream=out, tty=True, clock=clock)
    clock.t += 4.0
    progress.update(10)
    progress.close()
    text = out.getvalue()
    assert "bar" in text and "20/40 sims" in text and "ETA 00:00:08" in text


def test_cli_rejects_a_bad_spec_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fixed_conditions: {roadCondition: GOOD, shift: SHIFT_1}\nweathers: [Cerah]\n"
                   "decision_variables: {alokasi_truk: {from: 9, to: 2}, jumlah_excavator: [1]}\n")
    assert st.main([str(bad), "--logs", str(tmp_path)]) == st.EXIT_BAD_INPUT
    assert "decision_variables.alokasi_truk.to" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("weathers: [Cerah\n")
    assert st.main([str(tmp_path / "broken.yaml")]) == st.EXIT_BAD_INPUT
    assert st.main([str(tmp_path / "missing.json")]) == st.EXIT_BAD_INPUT


def test_cli_runs_a_study_and_prints_the_summary_table(trained_mine, reference, tmp_path, capsys):
    spec_path = tmp_path / "study.yaml"
    import yaml

    spec_path.write_text(yaml.safe_dump(body()))
    code = st.main([str(spec_path), "--data", str(trained_mine.data), "--models", str(trained_mine.models),
                    "--logs", str(tmp_path / "logs"), "--workers", "1", "--chunk", "5", "--no-replication-rows"])
    assert code == st.EXIT_OK
    captured = capsys.readouterr()
    assert f"study {reference.run_id}" in captured.out
    assert "Cerah: best 5 of 6" in captured.out and "Hujan Lebat: best 5 of 6" in captured.out
    assert "12 scenarios simulated, 0 resumed" in captured.out
    assert "simulations" in captured.err  # the progress line(s)
    folder = st.StudyFolder(tmp_path / "logs" / st.STUDIES_FOLDER / reference.run_id)
    assert len(folder.committed()) == 3 and not folder.replications.exists()
    pd.testing.assert_frame_equal(sorted_rows(folder.read_results()),
                                  sorted_rows(st.StudyFolder(reference.folder).read_results()))


def test_a_network_study_ranks_dispatch_rules_and_matches_the_request_engine(trained_mine, tmp_path):
    from tests.simulator.test_network_request import NETWORK

    request = body(decision_variables={"alokasi_truk": [4, 6], "jumlah_excavator": [3],
                                       "dispatch": ["fixed", "shortest_travel_wait"]}, network=copy.deepcopy(NETWORK))
    one = dict(request, weathers=["Cerah"])
    spec = st.parse_study(one)
    assert spec.scenario_count == 4 and [s.key for s in spec.scenarios] == [
        "T4-E3", "T4-E3/shortest_travel_wait", "T6-E3", "T6-E3/shortest_travel_wait"]
    result = run(one, trained_mine, tmp_path)
    legacy = dict(request, fixed_conditions={**request["fixed_conditions"], "weatherCondition": "Cerah"})
    del legacy["weathers"], legacy["study"]
    engine = run_request(parse_request(legacy, defaults=simulation_defaults(SimulatorSettings())), bundle=trained_mine.bundle, fleet=trained_mine.fleet, executor=InlineExecutor(),
                         settings=SimulatorSettings(), sailing_schedules=trained_mine.export.sailing_schedules,
                         vessels=trained_mine.export.vessels)
    rows = result.summary.set_index("scenario_key")
    assert len(rows) == len(engine.summaries) == 4
    for s in engine.ranked:
        row = rows.loc[s.scenario_key]
        assert row["rank"] == s.rank and row["dispatch"] == s.dispatch
        for metric in ("production_t", "bunching_hours", "production_t@ROM-01", "match_factor"):
            assert row[f"{metric}_mean"] == s.metrics[metric].mean, (s.scenario_key, metric)
