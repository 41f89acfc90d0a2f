"""A whole request: parse, select units, one batched prediction, replicate every scenario, rank.

``run_request(spec, bundle=..., fleet=..., executor=..., settings=...) -> RunResult`` is what the
API's run service and ``python -m simulator`` call with a parsed ``RequestSpec``. The champion is asked once per request: one ``build_features``
and one ``bundle.predict`` over every (truck, excavator) pair of the largest scenario. Smaller
scenarios use the first rows/columns of that table (trucks and excavators are prefix-ordered). The
table (features + predictions) is kept in the result: the API stores it as the prediction log.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator import ranking, replications
from simulator.economics import VesselTarget
from simulator.executor import Executor, Progress, ScenarioTask
from simulator.network_engine import network_params, network_plan, network_tasks
from simulator.fleet import Selection, select_units, vessel_target
from simulator.model import (DEFAULT_DUMP_BAYS, DEFAULT_INCIDENT_PROBABILITY, Breakdowns, ModelParams, NoiseTables, PhaseNoise,
                             ScenarioInputs, block_cycles)
from simulator.results import ReplicationResult, ScenarioSummary
from simulator.scenario import RequestSpec, SimulationParams, scenario_key
from simulator.settings import SimulatorSettings
from training.bundle import PHASES
from training.features import FEATURE_COLUMNS, Fleet, build_features
from training.site import SiteCalibration

#: Identity columns of the context table, before the features and the predictions.
ID_COLUMNS: tuple[str, ...] = ("truck_index", "excavator_index", "truckId", "truckCode", "excavatorId",
                               "excavatorCode", "operatorId", "roadSegmentId", "at")


@dataclass(frozen=True)
class Timings:
    """Wall seconds of the request's stages."""

    predict_s: float
    simulate_s: float
    summarise_s: float
    total_s: float


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything a request produced (ranked best first; ``summaries`` in grid order)."""

    run_id: str
    spec: RequestSpec
    model_version: str
    ranked: tuple[ScenarioSummary, ...]
    summaries: tuple[ScenarioSummary, ...]
    results: dict[str, tuple[ReplicationResult, ...]]  # scenario key -> replications in index order
    context_table: pd.DataFrame
    selection: Selection
    vessel: VesselTarget | None
    timings: Timings
    params: ModelParams | None = None  # how the replications ran (dump places, dispatch interval, ...)
    #: Why the numbers are extrapolation (conditions the champion saw on too few training shifts).
    warnings: tuple[str, ...] = ()

    @property
    def scenarios(self) -> int:
        return len(self.summaries)

    @property
    def replications(self) -> int:
        return self.spec.simulation.effective_replications

    @property
    def simulations(self) -> int:
        return self.scenarios * self.replications


def bundle_site(bundle: Any) -> SiteCalibration | None:
    """The bundle's site calibration (None for a bundle object without one, e.g. a test double)."""
    return getattr(bundle, "site", None)


def simulation_defaults(settings: SimulatorSettings) -> SimulationParams:
    """The settings' default shift length, replications and seed."""
    return SimulationParams(duration_hours=settings.sim_duration_hours, replications=settings.sim_replications,
                            seed=settings.sim_seed)


def context_frame(spec: RequestSpec, selection: Selection) -> pd.DataFrame:
    """One cycle context per (truck, excavator) pair of the largest scenario, trucks-major."""
    rows = []
    for i, truck in enumerate(selection.trucks):
        for j, excavator in enumerate(selection.excavators):
            rows.append({
                "truck_index": i, "excavator_index": j, "truckId": truck.id, "truckCode": truck.code,
                "excavatorId": excavator.id, "excavatorCode": excavator.code,
                "operatorId": selection.operator_ids[i], "roadSegmentId": selection.road.id,
                "weatherCondition": spec.conditions.weather, "roadCondition": spec.conditions.road_condition,
                "shift": spec.conditions.shift, "at": pd.Timestamp(selection.start),
            })
    return pd.DataFrame(rows)


def context_tables(requests: Sequence[tuple[RequestSpec, Selection]], bundle: Any,
                   fleet: Fleet) -> list[pd.DataFrame]:
    """Features and the champion's predictions for every pair of each (spec, selection), from ONE
    ``build_features`` and ONE ``bundle.predict`` over all of them (each call has ~10 ms of fixed
    model overhead, so batching matters to the backtest's many shifts)."""
    frames = [context_frame(spec, selection) for spec, selection in requests]
    contexts = pd.concat(frames, ignore_index=True)
    features = build_features(contexts, fleet)
    prediction = bundle.predict(features)
    table = pd.concat([contexts[list(ID_COLUMNS)], features[list(FEATURE_COLUMNS)]], axis=1)
    table["payload_t"] = prediction.payload_t
    table["fuel_l"] = prediction.fuel_l
    table["delay_probability"] = prediction.delay_probability
    shift_sd = getattr(bundle_site(bundle), "phase_shift_sd", None) or {}
    for phase in PHASES:
        sigma = float(bundle.durations[phase].sigma)
        table[f"{phase}_mu"] = prediction.phase_mu[phase]
        table[f"{phase}_sigma"] = sigma
        table[f"{phase}_shift_sigma"] = float(shift_sd.get(phase, 0.0))
        table[f"{phase}_mean_min"] = np.exp(prediction.phase_mu[phase] + 0.5 * sigma ** 2)
    table["model_version"] = str(bundle.version)
    bounds = np.cumsum([0] + [len(f) for f in frames])
    return [table.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:])]


def context_table(spec: RequestSpec, selection: Selection, bundle: Any, fleet: Fleet) -> pd.DataFrame:
    """Features and the champion's predictions for every pair: ONE ``predict`` call per request."""
    return context_tables([(spec, selection)], bundle, fleet)[0]


def pair_inputs(table: pd.DataFrame, trucks: int, excavators: int, noise: NoiseTables,
                breakdowns: Breakdowns) -> ScenarioInputs:
    """The largest scenario's inputs from the context table (lognormal phases with the champion's sigma and
    the site's shift-level sigma;
    the delay lengths of the table's weather of the day, ``NoiseTables.for_weather``)."""
    shape = (trucks, excavators)
    ordered = table.sort_values(["truck_index", "excavator_index"], kind="stable")
    if "weather" in ordered.columns and len(ordered):
        noise = noise.for_weather(str(ordered["weather"].iloc[0]))

    def grid(column: str) -> np.ndarray:
        return ordered[column].to_numpy(dtype=float).reshape(shape)

    means = np.stack([grid(f"{phase}_mean_min") for phase in PHASES], axis=2)
    noise_per_phase = tuple(PhaseNoise("lognormal", float(ordered[f"{phase}_sigma"].iloc[0]),
                                       float(ordered[f"{phase}_shift_sigma"].iloc[0])
                                       if f"{phase}_shift_sigma" in ordered else 0.0) for phase in PHASES)
    return ScenarioInputs(scenario_key=scenario_key(trucks, excavators), payload_t=grid("payload_t"),
                          fuel_l=grid("fuel_l"), delay_probability=grid("delay_probability"),
                          phase_mean_min=means, phase_noise=noise_per_phase, noise=noise, breakdowns=breakdowns)


def site_dump_bays(site: SiteCalibration | None) -> int | None:
    """Dump places the champion's data supports: the places seen in use when trucks queued there, None
    (no dump queue) when no truck waited to dump, the named ``DEFAULT_DUMP_BAYS`` without evidence."""
    if site is None or site.dump_evidence == "no_data":
        return DEFAULT_DUMP_BAYS
    return None if site.dump_evidence == "no_queue" else site.dump_bays


def site_incident_probability(spec: RequestSpec, site: SiteCalibration | None) -> float:
    """Incidents per cycle in the request's weather and road condition, measured on the champion's
    INCIDENT records (``SiteCalibration.incident_probability``); the named default without that evidence."""
    p = site.incident_probability(spec.conditions.weather, spec.conditions.road_condition) if site else None
    return DEFAULT_INCIDENT_PROBABILITY if p is None else p


def model_params(spec: RequestSpec, full: ScenarioInputs, site: SiteCalibration | None = None) -> ModelParams:
    """The request's replication parameters; one draw-block size for all scenarios (common random numbers).
    Dump places: the request's ``simulation.dump_bays``, else :func:`site_dump_bays`; trucks leave the
    line-up at the site's measured dispatch interval (0 without a site)."""
    sim = spec.simulation
    shortest = float(full.expected_cycle_min(full.noise.mean_delay_min).min())
    return ModelParams(shift_hours=sim.duration_hours,
                       dump_bays=sim.dump_bays if sim.dump_bays is not None else site_dump_bays(site),
                       incident_probability_per_cycle=site_incident_probability(spec, site),
                       deterministic=sim.deterministic,
                       cycles_per_block=block_cycles(sim.duration_hours, shortest),
                       dispatch_interval_min=site.dispatch_interval_min if site is not None else 0.0)


def scenario_tasks(spec: RequestSpec, full: ScenarioInputs, params: ModelParams) -> list[ScenarioTask]:
    """One task per (trucks, excavators) of the grid, in grid order."""
    return [ScenarioTask(inputs=full.subset(t, e, scenario_key(t, e)), params=params, seed=spec.simulation.seed,
                         replications=spec.simulation.effective_replications)
            for t, e in spec.grid.scenarios]


def run_request(spec: RequestSpec, *, bundle: Any, fleet: Fleet, executor: Executor, settings: SimulatorSettings,
                sailing_schedules: pd.DataFrame | None = None, vessels: pd.DataFrame | None = None,
                deterministic: bool | None = None, now: datetime | None = None,
                progress: Progress | None = None) -> RunResult:
    """Simulate and rank every strategy of ``spec`` (a parsed request: ``simulator.request``; raises
    ``SpecError`` naming a bad field: the grid limit ``settings.sim_max_grid_simulations``, unknown ids).

    ``deterministic`` overrides the request's ``simulation.deterministic``; ``now`` places a shift
    without ``simulation_start_date`` (default: the current time); ``progress(n)`` is told each time
    ``n`` more replications finished (the executor's count; a background job's done/total).
    """
    started = time.perf_counter()
    if not isinstance(spec, RequestSpec):
        raise TypeError(f"run_request takes a RequestSpec (simulator.request.parse_request), got {type(spec).__name__}")
    spec.check_limit(settings.sim_max_grid_simulations)
    if deterministic is not None:
        spec = replace(spec, simulation=replace(spec.simulation, deterministic=deterministic))
    site = bundle_site(bundle)
    if spec.network is None:
        selection = select_units(fleet, spec.conditions, spec.grid.max_trucks, spec.grid.max_excavators,
                                 now or datetime.now(timezone.utc))
        t0 = time.perf_counter()
        table = context_table(spec, selection, bundle, fleet)
        full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, NoiseTables.from_bundle(bundle),
                           Breakdowns.from_bundle(bundle))
        params = model_params(spec, full, site)
        tasks = scenario_tasks(spec, full, params)
    else:  # several loading points and destinations: the haul-network model (simulator.network_engine)
        t0 = time.perf_counter()
        plan = network_plan(spec, fleet, bundle, now or datetime.now(timezone.utc), site)
        selection, table = plan.selection, plan.table
        params = network_params(spec, plan.full, site)
        tasks = network_tasks(spec, plan, params)
    vessel = vessel_target(spec.conditions.schedule_id, selection.start, sailing_schedules, vessels)
    warnings = tuple(site.unseen_conditions(spec.conditions.weather, spec.conditions.road_condition)) if site else ()
    if vessel is not None and not vessel.chargeable:
        warnings += (vessel.closed_reason,)
    t1 = time.perf_counter()
    per_task = executor.map_scenarios(tasks) if progress is None else executor.map_scenarios(tasks, progress=progress)
    t2 = time.perf_counter()
    summaries = [replications.summarise(results, spec.financial, vessel) for results in per_task]
    ranked = ranking.rank(summaries)
    t3 = time.perf_counter()
    return RunResult(
        run_id=uuid.uuid4().hex, spec=spec, model_version=str(bundle.version), ranked=tuple(ranked),
        summaries=tuple(summaries),
        results={task.inputs.scenario_key: tuple(results) for task, results in zip(tasks, per_task)},
        context_table=table, selection=selection, vessel=vessel,
        timings=Timings(predict_s=t1 - t0, simulate_s=t2 - t1, summarise_s=t3 - t2, total_s=t3 - started),
        params=params, warnings=warnings,
    )
