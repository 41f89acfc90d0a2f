"""``python -m simulator.study SPEC``: a fleet-size study over a large grid, streamed to Parquet, resumable.

    python -m simulator.study study.yaml [--data D] [--models M] [--logs L] [--workers N]
                                         [--executor auto|local|dask] [--scheduler tcp://host:8786]
                                         [--output DIR] [--chunk N] [--no-plots] [--no-replication-rows]

SPEC (YAML or JSON) is the strategies request body with ranges and a weather sweep, plus options::

    fixed_conditions: {roadCondition: GOOD, shift: SHIFT_1, simulation_start_date: "2025-11-10T07:00:00+07:00"}
    decision_variables:
      alokasi_truk: {from: 5, to: 60}        # or {from, to, step}, or a list
      jumlah_excavator: {from: 1, to: 6}
      dispatch: [fixed, shortest_travel_wait]   # with a network part (optional, as in a request)
    weathers: [Cerah, Hujan Ringan, Hujan Lebat]   # else fixed_conditions.weatherCondition
    simulation: {duration_hours: 8, replications: 100, seed: 42}
    financial_params: {HargaJualBatuBara: 800000}
    study: {output: logs/studies, chunk_scenarios: 12, replication_rows: true, plots: true}

The study's id is a hash of the resolved spec and the champion's version (``study`` options excluded),
so running the same spec again continues the same study in ``<output>/<run_id>/``:

* ``spec.json``: the spec as given, its resolved form, the model version and the shift's start;
* ``results/batch-*.parquet``: one file per finished batch, one row per scenario (every metric's mean,
  95% CI, std and n); a scenario is done once its row is in a committed file. Files are written to a
  temporary name and renamed, so an interrupted study never leaves half a batch behind;
* ``replications/batch-*.parquet``: per replication rows (written before the batch's result file);
* ``summary.csv``, ``summary.json``: every scenario ranked within its weather; ``plots/*.png|html``.

One context table (one batched ``predict``) per weather. Batches go to the executor (local process
pool by default, Dask when a scheduler is configured) two at a time, so the workers never wait on the
summaries; only the scenario summaries of committed batches are ever read back, so memory stays flat
as the grid grows. Progress: a bar with ETA on a terminal, periodic lines otherwise (stderr).

Exit codes (``training.cli``): 0 done; 2 bad input (unreadable or invalid spec -- the message names
the field --, bad fleet data, no champion, no scheduler address for ``--executor dask``, or the study
is already running in another process); 130 interrupted (re-run the same command to resume).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator import ranking, replications
from simulator.economics import VesselTarget
from simulator.engine import bundle_site, context_table, model_params, pair_inputs, simulation_defaults
from simulator.executor import Executor, InlineExecutor, LocalPoolExecutor, ScenarioTask
from simulator.fleet import select_units, shift_start, vessel_target
from simulator.model import Breakdowns, ModelParams, NoiseTables, ScenarioInputs
from simulator.network_engine import network_params, network_plan
from simulator.network_model import NetworkInputs
from simulator.results import Estimate, ReplicationResult, ScenarioSummary
from simulator.inputs import load_champion_and_fleet
from simulator.request import parse_request
from simulator.scenario import Grid, RequestSpec, SimulationParams, SpecError, scenario_key
from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths
from training.features import Fleet
from training.schema import normalise_weather
from training.settings import Settings, get_settings

#: Version of the folder layout; part of the run id, so a new layout never resumes an old folder.
STUDY_FORMAT = 1
#: Folder under ``logs_dir`` holding one folder per study (the API serves plots from here).
STUDIES_FOLDER = "studies"
#: Scenarios per batch (one Parquet file each) when the spec does not say.
DEFAULT_CHUNK_SCENARIOS = 12
#: Batches handed to the executor at once: one is simulated while the other's results are summarised.
BATCHES_IN_FLIGHT = 2
#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_INTERVAL_S = 10.0
#: Largest study (scenarios x replications) a spec may ask for: guards a typo such as ``to: 6000``.
MAX_STUDY_SIMULATIONS = 10_000_000
#: Strategies per weather printed in the closing summary table.
SUMMARY_TOP = 5
#: Exit code of an interrupted study (128 + SIGINT), resumable.
EXIT_INTERRUPTED = 130
#: Top-level keys of a study spec, and keys of its ``study`` section and of a range.
SPEC_KEYS = ("fixed_conditions", "decision_variables", "weathers", "simulation", "financial_params", "network",
             "study")
OPTION_KEYS = ("output", "chunk_scenarios", "replication_rows", "plots")
RANGE_KEYS = ("from", "to", "step")
#: Identity columns of a result row, before the metric columns.
ROW_KEYS = ("weather", "scenario_key", "trucks", "excavators", "dispatch", "replications", "probability_vessel_late")
#: ``ReplicationResult`` fields copied into a replication row (``hours_to_target`` follows, None as NaN).
REPLICATION_FIELDS = tuple(f.name for f in fields(ReplicationResult) if f.name != "hours_to_target")
#: Columns of one metric in a result row: ``<metric>_<part>``.
ESTIMATE_PARTS = ("mean", "ci_low", "ci_high", "std", "n")


class StudyBusyError(RuntimeError):
    """Another process holds the study's lock (the same study is already running)."""


class StudyInterrupted(RuntimeError):
    """Raised by ``on_batch`` callbacks in tests to stop a study after some batches."""


# --- the spec ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyOptions:
    """How to run a study (not part of its identity): output folder, batch size, what to write."""

    output: Path | None = None
    chunk_scenarios: int = DEFAULT_CHUNK_SCENARIOS
    replication_rows: bool = True
    plots: bool = True


@dataclass(frozen=True, order=True)
class StudyScenario:
    """One scenario of a study: a weather and a (trucks, excavators, dispatch rule) strategy."""

    weather: str
    trucks: int
    excavators: int
    dispatch: str = "fixed"

    @property
    def key(self) -> str:
        return scenario_key(self.trucks, self.excavators, self.dispatch)


@dataclass(frozen=True)
class StudySpec:
    """A parsed study: one request per weather (same grid, simulation and finances) and the options."""

    source: Mapping[str, Any]
    weathers: tuple[str, ...]
    requests: tuple[RequestSpec, ...]
    options: StudyOptions = field(default_factory=StudyOptions)

    @property
    def grid(self) -> Grid:
        return self.requests[0].grid

    @property
    def simulation(self) -> SimulationParams:
        return self.requests[0].simulation

    @property
    def replications(self) -> int:
        return self.simulation.effective_replications

    @property
    def scenarios(self) -> list[StudyScenario]:
        """Every scenario, weather-major then the grid's trucks-major order."""
        return [StudyScenario(w, t, e, d) for w in self.weathers for t, e, d in self.grid.strategies]

    @property
    def scenario_count(self) -> int:
        return len(self.weathers) * len(self.grid.strategies)

    @property
    def simulations(self) -> int:
        return self.scenario_count * self.replications

    def request(self, weather: str) -> RequestSpec:
        return self.requests[self.weathers.index(weather)]

    def identity(self) -> dict[str, Any]:
        """What the results depend on (the run id hashes this and the model version)."""
        first = self.requests[0]
        c = first.conditions
        return {
            "format": STUDY_FORMAT, "weathers": list(self.weathers),
            "conditions": {"road_condition": c.road_condition, "shift": c.shift, "road_id": c.road_id,
                           "excavator_id": c.excavator_id, "schedule_id": c.schedule_id,
                           "start": c.start.isoformat() if c.start else None},
            "trucks": list(self.grid.truck_counts), "excavators": list(self.grid.excavator_counts),
            "simulation": asdict(first.simulation), "financial": asdict(first.financial),
        }

    def run_id(self, model_version: str) -> str:
        """``study-<16 hex>``: the same spec on the same champion always gets the same id."""
        text = json.dumps({**self.identity(), "model_version": str(model_version)}, sort_keys=True, default=str)
        return "study-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expand_counts(value: Any, where: str) -> Any:
    """A ``{from, to[, step]}`` range (inclusive) as a list; anything else unchanged (the request
    parser validates lists)."""
    if not isinstance(value, Mapping):
        return value
    unknown = sorted(set(value) - set(RANGE_KEYS))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}", f"unknown key; a range has {', '.join(RANGE_KEYS)}")
    for key in ("from", "to"):
        if not _is_int(value.get(key)) or value[key] < 1:
            raise SpecError(f"{where}.{key}", f"must be a positive integer, got {value.get(key)!r}")
    step = value.get("step", 1)
    if not _is_int(step) or step < 1:
        raise SpecError(f"{where}.step", f"must be a positive integer, got {step!r}")
    if value["to"] < value["from"]:
        raise SpecError(f"{where}.to", f"must be >= from ({value['from']}), got {value['to']}")
    if (value["to"] - value["from"]) // step + 1 > MAX_STUDY_SIMULATIONS:
        raise SpecError(where, f"range holds more than {MAX_STUDY_SIMULATIONS} values")
    return list(range(value["from"], value["to"] + 1, step))


def _options(section: Any) -> StudyOptions:
    if section is None:
        return StudyOptions()
    if not isinstance(section, Mapping):
        raise SpecError("study", f"must be an object, got {type(section).__name__}")
    unknown = sorted(set(section) - set(OPTION_KEYS))
    if unknown:
        raise SpecError(f"study.{unknown[0]}", f"unknown key; accepted: {', '.join(OPTION_KEYS)}")
    out = StudyOptions()
    if section.get("output") is not None:
        if not isinstance(section["output"], str) or not section["output"].strip():
            raise SpecError("study.output", f"must be a folder path, got {section['output']!r}")
        out = replace(out, output=Path(section["output"]))
    if section.get("chunk_scenarios") is not None:
        v = section["chunk_scenarios"]
        if not _is_int(v) or v < 1:
            raise SpecError("study.chunk_scenarios", f"must be a positive integer, got {v!r}")
        out = replace(out, chunk_scenarios=v)
    for key in ("replication_rows", "plots"):
        if section.get(key) is not None:
            if not isinstance(section[key], bool):
                raise SpecError(f"study.{key}", f"must be true or false, got {section[key]!r}")
            out = replace(out, **{key: section[key]})
    return out


def _weathers(body: Mapping[str, Any]) -> tuple[str, ...]:
    listed = body.get("weathers")
    if listed is None:
        fixed = body.get("fixed_conditions")
        single = fixed.get("weatherCondition") if isinstance(fixed, Mapping) else None
        if single is None:
            raise SpecError("weathers", "give a list of weathers or fixed_conditions.weatherCondition")
        listed = [single]
    if not isinstance(listed, list) or not listed:
        raise SpecError("weathers", f"must be a non-empty list of weather conditions, got {listed!r}")
    out = []
    for i, w in enumerate(listed):
        try:
            out.append(normalise_weather(w))
        except ValueError as exc:
            raise SpecError(f"weathers[{i}]", str(exc)) from None
    return tuple(dict.fromkeys(out))


def parse_study(body: Any, *, defaults: SimulationParams | None = None) -> StudySpec:
    """Parse and validate a study spec; raises ``SpecError`` naming the field."""
    if not isinstance(body, Mapping):
        raise SpecError("(spec)", f"must be an object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(unknown[0], f"unknown key; a study spec has {', '.join(SPEC_KEYS)}")
    weathers = _weathers(body)
    decisions = body.get("decision_variables")
    if isinstance(decisions, Mapping):
        decisions = {k: expand_counts(v, f"decision_variables.{k}") for k, v in decisions.items()}
    fixed = body.get("fixed_conditions")
    requests = []
    for weather in weathers:
        request = {k: v for k, v in body.items() if k not in ("weathers", "study")}
        request["decision_variables"] = decisions
        if isinstance(fixed, Mapping):
            request["fixed_conditions"] = {**fixed, "weatherCondition": weather}
        requests.append(parse_request(request, defaults=defaults))
    spec = StudySpec(source=dict(body), weathers=weathers, requests=tuple(requests), options=_options(body.get("study")))
    if spec.simulations > MAX_STUDY_SIMULATIONS:
        raise SpecError("decision_variables", f"{spec.scenario_count} scenarios x {spec.replications} replications = "
                                              f"{spec.simulations} simulations exceeds {MAX_STUDY_SIMULATIONS}")
    return spec


def load_spec_file(path: Path) -> Any:
    """A spec file's content: JSON for ``.json``, else YAML (which also reads JSON)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


# --- the folder ----------------------------------------------------------------------------------

def study_folder(logs_dir: Path, run_id: str) -> Path:
    """Where the study ``run_id`` lives under the default output (``<logs>/studies/<run_id>``)."""
    return Path(logs_dir) / STUDIES_FOLDER / run_id


def plots_folder(logs_dir: Path, run_id: str) -> Path:
    """The plots folder of study ``run_id`` under the default output."""
    return study_folder(logs_dir, run_id) / "plots"


def _fsync_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class StudyFolder:
    """The files of one study; batches are committed atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.results = self.root / "results"
        self.replications = self.root / "replications"
        self.plots = self.root / "plots"
        self.spec_path = self.root / "spec.json"
        self.summary_csv = self.root / "summary.csv"
        self.summary_json = self.root / "summary.json"
        self._lock_fh: Any = None

    def lock(self) -> None:
        """Take the study's exclusive lock (raises ``StudyBusyError`` when another process runs it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StudyBusyError(f"study {self.root.name} is already running in another process") from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def committed(self) -> list[Path]:
        """The committed batch files, by name (= grid order of their first scenario)."""
        return sorted(self.results.glob("batch-*.parquet")) if self.results.is_dir() else []

    def clean(self) -> None:
        """Remove what an interrupted run left half-done: temp files, replication rows of uncommitted batches."""
        for folder in (self.results, self.replications):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
        if self.replications.is_dir():
            names = {p.name for p in self.committed()}
            for orphan in self.replications.glob("batch-*.parquet"):
                if orphan.name not in names:
                    orphan.unlink(missing_ok=True)

    def done(self) -> set[tuple[str, str]]:
        """(weather, scenario key) of every scenario in a committed file; raises if one is there twice."""
        seen: set[tuple[str, str]] = set()
        for path in self.committed():
            table = pq.read_table(path, columns=["weather", "scenario_key"]).to_pydict()
            for key in zip(table["weather"], table["scenario_key"]):
                if key in seen:
                    raise ValueError(f"scenario {key} is in more than one batch file of {self.results}")
                seen.add(key)
        return seen

    def write_batch(self, name: str, rows: pd.DataFrame, replication_rows: pd.DataFrame | None) -> Path:
        """Commit a batch: its replication rows first, then its result rows (the commit point)."""
        if replication_rows is not None:
            self.replications.mkdir(parents=True, exist_ok=True)
            tmp = self.replications / f".{name}.tmp"
            pq.write_table(pa.Table.from_pandas(replication_rows, preserve_index=False), tmp)
            _fsync_replace(tmp, self.replications / name)
        self.results.mkdir(parents=True, exist_ok=True)
        tmp = self.results / f".{name}.tmp"
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp)
        path = self.results / name
        _fsync_replace(tmp, path)
        return path

    def read_results(self) -> pd.DataFrame:
        """Every committed scenario row."""
        files = self.committed()
        if not files:
            return pd.DataFrame(columns=list(ROW_KEYS))
        return pd.concat([pq.read_table(p).to_pandas() for p in files], ignore_index=True)

    def read_replications(self) -> pd.DataFrame:
        """Every committed replication row (empty when the study keeps none)."""
        names = {p.name for p in self.committed()}
        files = sorted(p for p in self.replications.glob("batch-*.parquet") if p.name in names) \
            if self.replications.is_dir() else []
        if not files:
            return pd.DataFrame()
        return pd.concat([pq.read_table(p).to_pandas() for p in files], ignore_index=True)


# --- rows ------------------------------------------------------------------------------------------

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


# --- progress --------------------------------------------------------------------------------------

def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Simulations done out of a total: a tqdm bar on a terminal, else a line every ``interval_s``.

    The ETA weighs the work left by its cost (``work``: truck-simulations, since a simulation's CPU time
    grows with its trucks), so a grid whose large fleets come last is not promised too early.
    """

    def __init__(self, total: int, done: int = 0, *, total_work: float | None = None, done_work: float | None = None,
                 label: str = "study", stream: TextIO | None = None, interval_s: float = PROGRESS_INTERVAL_S,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.initial = int(total), int(done), int(done)
        self.total_work = float(total if total_work is None else total_work)
        self.done_work = self.initial_work = float(done if done_work is None else done_work)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self._clock = clock
        self._started = self._last = clock()
        is_tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        if is_tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, unit="sim", desc=label, file=self.stream,
                             dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} sims "
                                                            "[{elapsed}, {rate_fmt}{postfix}]")
            self._bar.set_postfix_str(f"ETA {_clock(self.eta_s)}", refresh=False)

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._started

    @property
    def rate(self) -> float:
        """Simulations per second in this run (resumed work not counted)."""
        elapsed = self.elapsed_s
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float:
        """Seconds left at this run's pace of work (inf before the first batch)."""
        elapsed, work = self.elapsed_s, self.done_work - self.initial_work
        if elapsed <= 0 or work <= 0:
            return 0.0 if self.done >= self.total else math.inf
        return max(self.total_work - self.done_work, 0.0) * elapsed / work

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        return (f"{datetime.now().strftime('%H:%M:%S')} {self.label}: {self.done}/{self.total} simulations "
                f"({share:.1%}), {self.rate:.1f} sim/s, elapsed {_clock(self.elapsed_s)}, ETA {_clock(self.eta_s)}")

    def update(self, simulations: int, work: float | None = None) -> None:
        """Count finished simulations (and their cost in work units; default one per simulation)."""
        self.done += simulations
        self.done_work += simulations if work is None else work
        if self._bar is not None:
            self._bar.set_postfix_str(f"ETA {_clock(self.eta_s)}", refresh=False)
            self._bar.update(simulations)
            return
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(self.line(), file=self.stream, flush=True)


# --- running ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeatherContext:
    """A weather's model inputs: the largest scenario's tables and the replication parameters."""

    spec: RequestSpec
    full: ScenarioInputs | NetworkInputs
    params: ModelParams
    vessel: VesselTarget | None

    def inputs(self, s: StudyScenario) -> ScenarioInputs | NetworkInputs:
        """The scenario's tables: the first trucks and excavators of the largest (and its dispatch rule)."""
        if isinstance(self.full, NetworkInputs):
            return self.full.subset(s.trucks, s.excavators, s.key, s.dispatch)
        return self.full.subset(s.trucks, s.excavators, s.key)


@dataclass(frozen=True)
class BatchReport:
    """What ``on_batch`` hears after a batch is committed."""

    name: str
    scenarios: int
    done_scenarios: int
    total_scenarios: int


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


def _batches(remaining: Sequence[tuple[int, StudyScenario]], size: int) -> Iterator[list[tuple[int, StudyScenario]]]:
    for i in range(0, len(remaining), size):
        yield list(remaining[i:i + size])


def batch_name(batch: Sequence[tuple[int, StudyScenario]]) -> str:
    """``batch-<grid index of the first scenario>-<hash of its scenarios>.parquet`` (unique per content)."""
    digest = hashlib.sha256("|".join(f"{s.weather}/{s.key}" for _, s in batch).encode()).hexdigest()[:10]
    return f"batch-{batch[0][0]:07d}-{digest}.parquet"


def _resolve_start(spec: StudySpec, folder: StudyFolder, now: datetime | None) -> datetime:
    """The shift's start: the spec's, else the one recorded when the study began, else today's shift start."""
    given = spec.requests[0].conditions.start
    if given is not None:
        return given
    if folder.spec_path.exists():
        recorded = json.loads(folder.spec_path.read_text()).get("start")
        if recorded:
            return datetime.fromisoformat(recorded)
    return shift_start(spec.requests[0].conditions.shift, now or datetime.now(timezone.utc))


def _write_spec(spec: StudySpec, folder: StudyFolder, run_id: str, model_version: str, start: datetime) -> None:
    if folder.spec_path.exists():
        return
    payload = {"run_id": run_id, "format": STUDY_FORMAT, "model_version": model_version,
               "created_at": datetime.now(timezone.utc).isoformat(), "start": start.isoformat(),
               "scenarios": spec.scenario_count, "replications": spec.replications,
               "simulations": spec.simulations, "resolved": spec.identity(), "spec": spec.source}
    tmp = folder.root / ".spec.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2, default=str, ensure_ascii=False))
    _fsync_replace(tmp, folder.spec_path)


def weather_context(spec: RequestSpec, *, bundle: Any, fleet: Fleet, noise: NoiseTables, breakdowns: Breakdowns,
                    now: datetime, sailing_schedules: pd.DataFrame | None,
                    vessels: pd.DataFrame | None) -> WeatherContext:
    """One batched prediction for the weather's largest scenario, as ``engine.run_request`` does (a
    request with a ``network`` part: the haul-network plan of ``simulator.network_engine``)."""
    if spec.network is not None:
        site = bundle_site(bundle)
        plan = network_plan(spec, fleet, bundle, now, site)
        vessel = vessel_target(spec.conditions.schedule_id, plan.selection.start, sailing_schedules, vessels)
        return WeatherContext(spec=spec, full=plan.full, params=network_params(spec, plan.full, site), vessel=vessel)
    selection = select_units(fleet, spec.conditions, spec.grid.max_trucks, spec.grid.max_excavators, now)
    vessel = vessel_target(spec.conditions.schedule_id, selection.start, sailing_schedules, vessels)
    table = context_table(spec, selection, bundle, fleet)
    full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, noise, breakdowns)
    return WeatherContext(spec=spec, full=full, params=model_params(spec, full, bundle_site(bundle)), vessel=vessel)


def run_study(spec: StudySpec, *, bundle: Any, fleet: Fleet, executor: Executor, output: Path,
              sailing_schedules: pd.DataFrame | None = None, vessels: pd.DataFrame | None = None,
              now: datetime | None = None, progress_stream: TextIO | None = None, tty: bool | None = None,
              on_batch: Callable[[BatchReport], None] | None = None) -> StudyResult:
    """Run (or continue) ``spec`` into ``output/<run_id>/`` and return the ranked summary.

    Scenarios already in committed batch files are skipped; the rest run in batches of
    ``spec.options.chunk_scenarios``, each committed as it finishes. ``on_batch`` is called after each
    commit (an exception from it stops the study with every committed batch kept).
    """
    started = time.perf_counter()
    model_version = str(bundle.version)
    run_id = spec.run_id(model_version)
    folder = StudyFolder(Path(output) / run_id)
    folder.lock()
    try:
        start = _resolve_start(spec, folder, now)
        spec = replace(spec, requests=tuple(replace(r, conditions=replace(r.conditions, start=start))
                                            for r in spec.requests))
        _write_spec(spec, folder, run_id, model_version, start)
        folder.clean()
        done = folder.done()
        ordered = list(enumerate(spec.scenarios))
        remaining = [(i, s) for i, s in ordered if (s.weather, s.key) not in done]
        reps = spec.replications
        work = {s: s.trucks * reps for _, s in ordered}  # truck-simulations: CPU grows with the trucks
        progress = Progress(spec.simulations, len(done) * reps, total_work=sum(work.values()),
                            done_work=sum(w for s, w in work.items() if (s.weather, s.key) in done),
                            label=run_id, stream=progress_stream, tty=tty)
        t0 = time.perf_counter()
        try:
            _simulate(spec, remaining, folder, progress, on_batch, len(ordered), bundle=bundle, fleet=fleet,
                      executor=executor, sailing_schedules=sailing_schedules, vessels=vessels, now=start)
        finally:
            progress.close()
        simulate_s = time.perf_counter() - t0
        summary = ranked_summary(folder.read_results(), spec.weathers)
        plots: dict[str, Path] = {}
        if spec.options.plots and len(summary):
            from simulator.plots import write_plots

            plots = write_plots(summary, folder.plots)
        result = StudyResult(run_id=run_id, folder=folder.root, model_version=model_version,
                             scenarios=len(ordered), replications=reps, resumed_scenarios=len(done),
                             simulated_scenarios=len(remaining), elapsed_s=time.perf_counter() - started,
                             simulate_s=simulate_s, summary=summary, plots=plots)
        write_summary(result, folder)
        return result
    finally:
        folder.unlock()


def _simulate(spec: StudySpec, remaining: list[tuple[int, StudyScenario]], folder: StudyFolder, progress: Progress,
              on_batch: Callable[[BatchReport], None] | None, total: int, *, bundle: Any, fleet: Fleet,
              executor: Executor, sailing_schedules, vessels, now: datetime) -> None:
    """Run the remaining scenarios batch by batch, ``BATCHES_IN_FLIGHT`` at a time, committing each."""
    if not remaining:
        return
    noise, breakdowns = NoiseTables.from_bundle(bundle), Breakdowns.from_bundle(bundle)
    contexts: dict[str, WeatherContext] = {}

    def context(weather: str) -> WeatherContext:
        """Built when the weather's first batch is launched, while earlier batches keep the workers busy."""
        if weather not in contexts:
            contexts[weather] = weather_context(spec.request(weather), bundle=bundle, fleet=fleet, noise=noise,
                                                breakdowns=breakdowns, now=now, sailing_schedules=sailing_schedules,
                                                vessels=vessels)
        return contexts[weather]

    reps = spec.replications
    financial = spec.requests[0].financial
    finished: queue.Queue = queue.Queue()
    pending = _batches(remaining, spec.options.chunk_scenarios)
    threads: list[threading.Thread] = []
    done_count = total - len(remaining)

    def launch() -> bool:
        batch = next(pending, None)
        if batch is None:
            return False
        tasks = [ScenarioTask(inputs=context(s.weather).inputs(s),
                              params=context(s.weather).params, seed=context(s.weather).spec.simulation.seed,
                              replications=reps) for _, s in batch]

        def work() -> None:
            try:
                finished.put((batch, executor.map_scenarios(tasks), None))
            except BaseException as exc:  # handed to the main thread, which raises it
                finished.put((batch, None, exc))

        thread = threading.Thread(target=work, name=f"study-{batch[0][0]}", daemon=True)
        thread.start()
        threads[:] = [t for t in threads if t.is_alive()] + [thread]
        return True

    inflight = sum(launch() for _ in range(BATCHES_IN_FLIGHT))
    executor_failed = False
    try:
        while inflight:
            batch, results, error = finished.get()
            inflight -= 1
            if error is not None:
                executor_failed = True
                raise error
            rows, rep_frames = [], []
            for (_, scenario), scenario_results in zip(batch, results):
                vessel = contexts[scenario.weather].vessel
                summary = replications.summarise(scenario_results, financial, vessel)
                rows.append(summary_row(scenario.weather, summary))
                if spec.options.replication_rows:
                    metrics = replications.replication_metrics(scenario_results, financial, vessel)
                    rep_frames.append(replication_frame(scenario.weather, scenario_results, metrics))
            name = batch_name(batch)
            folder.write_batch(name, pd.DataFrame(rows),
                               pd.concat(rep_frames, ignore_index=True) if rep_frames else None)
            done_count += len(batch)
            progress.update(len(batch) * reps, sum(s.trucks for _, s in batch) * reps)
            if on_batch is not None:
                on_batch(BatchReport(name=name, scenarios=len(batch), done_scenarios=done_count,
                                     total_scenarios=total))
            inflight += launch()
    except Exception:
        if not executor_failed:  # e.g. on_batch stopped the study: let batches in flight finish, drop them
            for thread in threads:
                thread.join()
        raise


# --- summary ---------------------------------------------------------------------------------------

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


def write_summary(result: StudyResult, folder: StudyFolder) -> None:
    """``summary.csv`` (every scenario, ranked per weather) and ``summary.json`` (best and front per weather)."""
    summary = result.summary
    tmp = folder.root / ".summary.csv.tmp"
    summary.to_csv(tmp, index=False)
    os.replace(tmp, folder.summary_csv)
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
    payload = {
        "run_id": result.run_id, "model_version": result.model_version, "scenarios": result.scenarios,
        "replications": result.replications, "simulations": result.simulations,
        "resumed_scenarios": result.resumed_scenarios, "simulated_scenarios": result.simulated_scenarios,
        "elapsed_s": result.elapsed_s, "simulate_s": result.simulate_s,
        "simulations_per_s": result.simulations_per_s, "best": best, "pareto": front,
        "files": {"summary_csv": folder.summary_csv.name, "results": f"{folder.results.name}/",
                  "plots": sorted(result.plots)},
    }
    tmp = folder.root / ".summary.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    os.replace(tmp, folder.summary_json)


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


# --- command line ----------------------------------------------------------------------------------

def make_executor(kind: str, workers: int | None, scheduler: str | None, settings: Settings) -> Executor:
    """The study's executor: Dask for ``dask`` (or ``auto`` with a scheduler address), else the local pool."""
    address = scheduler or settings.dask_scheduler_address
    if kind == "dask" or (kind == "auto" and address):
        if not address:
            raise SpecError("--scheduler", "no Dask scheduler address (set MINEOPS_DASK_SCHEDULER_ADDRESS)")
        from simulator.dask_executor import DaskExecutor

        return DaskExecutor(address, timeout_s=settings.dask_timeout_s)
    n = workers or settings.effective_workers
    return InlineExecutor() if n <= 1 else LocalPoolExecutor(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.study", description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="study spec, YAML or JSON")
    parser.add_argument("--workers", type=int, default=None,
                        help="local simulator processes (default: settings.effective_workers; 1 = in-process)")
    parser.add_argument("--executor", choices=("auto", "local", "dask"), default="auto",
                        help="auto: Dask when a scheduler address is set, else the local pool")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (default: settings)")
    parser.add_argument("--output", type=Path, default=None, help="folder of studies (default: <logs>/studies)")
    parser.add_argument("--chunk", type=int, default=None, help="scenarios per batch file")
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    parser.add_argument("--no-replication-rows", action="store_true", help="keep scenario summaries only")
    add_path_args(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    paths = resolve_paths(args, settings)

    try:
        spec = parse_study(load_spec_file(args.spec), defaults=simulation_defaults(settings))
    except (OSError, ValueError) as exc:  # SpecError is a ValueError; so are JSON and YAML syntax errors
        print(f"study: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # yaml.YAMLError
        print(f"study: cannot read {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = spec.options
    if args.chunk is not None:
        if args.chunk < 1:
            print("study: --chunk must be >= 1", file=sys.stderr)
            return EXIT_BAD_INPUT
        options = replace(options, chunk_scenarios=args.chunk)
    if args.no_plots:
        options = replace(options, plots=False)
    if args.no_replication_rows:
        options = replace(options, replication_rows=False)
    spec = replace(spec, options=options)
    output = args.output or options.output or paths.logs / STUDIES_FOLDER

    inputs = load_champion_and_fleet("study", paths, settings)
    if inputs is None:
        return EXIT_BAD_INPUT
    bundle, export = inputs.bundle, inputs.export
    run_id = spec.run_id(str(bundle.version))
    print(f"study {run_id}: {spec.scenario_count} scenarios x {spec.replications} replications = "
          f"{spec.simulations} simulations -> {Path(output) / run_id}", file=sys.stderr, flush=True)
    try:
        executor = make_executor(args.executor, args.workers, args.scheduler, settings)
    except (SpecError, OSError) as exc:
        print(f"study: no executor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = run_study(spec, bundle=bundle, fleet=Fleet.from_export(export), executor=executor, output=output,
                           sailing_schedules=export.sailing_schedules, vessels=export.vessels)
    except SpecError as exc:
        print(f"study: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StudyBusyError as exc:
        print(f"study: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        done = len(StudyFolder(Path(output) / run_id).done())
        print(f"\nstudy {run_id}: interrupted with {done} of {spec.scenario_count} scenarios committed; "
              f"run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        executor.close()
    print(format_summary(result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
