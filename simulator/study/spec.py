"""A study spec: the strategies request with ranges and a weather sweep, parsed into ``StudySpec``.

Pure: no file, no clock. ``parse_study`` raises ``SpecError`` naming the field.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from simulator.request import parse_request
from simulator.scenario import Grid, RequestSpec, SimulationParams, SpecError, scenario_key
from training.schema import normalise_weather

#: Version of the folder layout; part of the run id, so a new layout never resumes an old folder.
STUDY_FORMAT = 1
#: Scenarios per batch (one Parquet file each) when the spec does not say.
DEFAULT_CHUNK_SCENARIOS = 12
#: Largest study (scenarios x replications) a spec may ask for: guards a typo such as ``to: 6000``.
MAX_STUDY_SIMULATIONS = 10_000_000
#: Top-level keys of a study spec, and keys of its ``study`` section and of a range.
SPEC_KEYS = ("fixed_conditions", "decision_variables", "weathers", "simulation", "financial_params", "network",
             "study")
OPTION_KEYS = ("output", "chunk_scenarios", "replication_rows", "plots")
RANGE_KEYS = ("from", "to", "step")


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
