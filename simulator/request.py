"""The strategies request body as pydantic models: the ONE parser of a request, used by every edge.

The HTTP route (``api``), ``python -m simulator SPEC.json``, the study and the chat's what-if all turn
a body into a :class:`~simulator.scenario.RequestSpec` through :meth:`StrategiesRequest.to_spec`;
nothing past that point sees a raw dict. The models keep the values as sent (so a stored request
reads like the body the client sent); ``to_spec`` returns the domain form (enum spellings, UTC
start, sorted unique counts).

Unknown fields, one policy:

- in the prototype's sections (the top level, ``fixed_conditions``, ``decision_variables``) they
  are accepted, as the prototype accepted them, and each is named in :meth:`StrategiesRequest.warnings`
  with the closest known name ("fixed_conditions.weatherConditon ignored: unknown field; did you
  mean weatherCondition?");
- in the sections added since (``financial_params``, ``simulation``, ``network`` at every depth) they
  are rejected.

Every error message starts with the field's path (``decision_variables.alokasi_truk[1]: must be a
positive integer, got -1``): :func:`error_messages` turns a ``ValidationError`` into
(path parts, message) pairs, :func:`parse_body` into a :class:`~simulator.scenario.SpecError`.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from simulator.dispatch import RULES
from simulator.economics import LEGACY_KEYS, FinancialParams
from simulator.model import DEFAULT_DUMP_BAYS
from simulator.network import Closure, Destination, LoadingPoint
from simulator.scenario import (MAX_DURATION_HOURS, MAX_REPLICATIONS, Conditions, Grid, NetworkSpec, RequestSpec,
                                SimulationParams, SpecError, parse_start)
from training.schema import (ROAD_CONDITIONS, SHIFTS, WEATHER, WEATHER_DISPLAY, normalise_road_condition,
                             normalise_shift, normalise_weather)

#: Example bodies shown in ``/docs`` (the contracts' shapes).
LEGACY_EXAMPLE: dict[str, Any] = {
    "fixed_conditions": {"weatherCondition": "Hujan Ringan", "roadCondition": "FAIR", "shift": "SHIFT_1",
                         "target_road_id": None, "target_excavator_id": None, "target_schedule_id": None},
    "decision_variables": {"alokasi_truk": [5, 10], "jumlah_excavator": [1, 2]},
}
REF_A_EXAMPLE: dict[str, Any] = {
    "fixed_conditions": {"weatherCondition": "Cerah", "roadCondition": "GOOD", "shift": "SHIFT_1",
                         "target_road_id": None, "target_excavator_id": None, "target_schedule_id": None,
                         "simulation_start_date": "2025-11-10T07:00:00+07:00"},
    "decision_variables": {"alokasi_truk": list(range(5, 16)), "jumlah_excavator": [1, 2, 3]},
    "financial_params": {"HargaJualBatuBara": 800000, "HargaSolar": 15000,
                         "BiayaPenaltiKeterlambatanKapal": 100000000, "BiayaRataRataInsiden": 50000000,
                         "BiayaDemurragePerJam": 50000000},
    "simulation": {"duration_hours": 8, "replications": 30, "seed": 42},
}


def value_error(reason: str, path: str | None = None) -> PydanticCustomError:
    """A validation error with our message; ``path`` names the field when pydantic's location would not
    (a check across sections, a section validated by its own parser)."""
    return PydanticCustomError("value_error", "{reason}", {"reason": reason, "path": path})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- field validators (messages without the path; error_messages prefixes it) ----------------------

def _category(normalise):
    def check(value: Any) -> Any:
        if value is None:
            raise value_error("required value is missing")
        try:
            normalise(value)
        except ValueError as exc:
            raise value_error(str(exc)) from None
        return value
    return check


def _optional_id(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise value_error(f"must be a non-empty string id or null, got {value!r}")
    return value


def _start(value: Any) -> Any:
    try:
        parse_start(value, "")
    except SpecError as exc:
        raise value_error(exc.reason) from None
    return value


def _count_list(value: Any) -> Any:
    if value is None:
        raise value_error("required list is missing")
    if not isinstance(value, (list, tuple)):
        raise value_error(f"must be a list of positive integers, got {type(value).__name__}")
    if not value:
        raise value_error("must not be empty")
    return list(value)


def _positive_int(value: Any) -> Any:
    if not _is_int(value) or value < 1:
        raise value_error(f"must be a positive integer, got {value!r}")
    return value


def _duration(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or not 0 < value <= MAX_DURATION_HOURS):
        raise value_error(f"must be a number in (0, {MAX_DURATION_HOURS:g}], got {value!r}")
    return value


def _replications(value: Any) -> Any:
    if value is not None and (not _is_int(value) or not 1 <= value <= MAX_REPLICATIONS):
        raise value_error(f"must be an integer in [1, {MAX_REPLICATIONS}], got {value!r}")
    return value


def _seed(value: Any) -> Any:
    if value is not None and (not _is_int(value) or value < 0):
        raise value_error(f"must be a non-negative integer, got {value!r}")
    return value


def _flag(value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise value_error(f"must be true or false, got {value!r}")
    return value


def _optional_positive_int(value: Any) -> Any:
    return None if value is None else _positive_int(value)


def _money(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise value_error(f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise value_error(f"must be finite, got {value!r}")
    if value < 0:
        raise value_error(f"must be >= 0, got {value!r}")
    return value


def _dispatch(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise value_error(f"must be a non-empty list of rule names ({', '.join(RULES)})")
    for i, rule in enumerate(value):
        if not isinstance(rule, str) or rule not in RULES:
            raise value_error(f"unknown rule {rule!r}; known: {', '.join(RULES)}",
                              path=f"decision_variables.dispatch[{i}]")
    return value


def _text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise value_error(f"must be a non-empty string, got {value!r}")
    return value


def _non_negative(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value < 0):
        raise value_error(f"must be a number >= 0, got {value!r}")
    return value


def _hours(value: Any) -> Any:
    if value is None:
        raise value_error("required value is missing")
    return _non_negative(value)


def _objects(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise value_error("must be a non-empty list of objects")
    return value


def _ids(what: str):
    def check(value: Any) -> Any:
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(x, str) and x.strip() for x in value)):
            raise value_error(f"must be a list of {what}")
        return value
    return check


def _loaders(value: Any) -> Any:
    if isinstance(value, list):
        if not value or not all(isinstance(x, str) and x.strip() for x in value):
            raise value_error("must be a positive integer or a non-empty list of excavator ids")
        return value
    if not _is_int(value) or value < 1:
        raise value_error(f"must be a positive integer or a list of excavator ids, got {value!r}")
    return value


def _accepted(values: tuple[str, ...]) -> list[str]:
    """Every spelling documented for a categorical: the enum form and the display form."""
    out = list(values)
    out += [WEATHER_DISPLAY[v] for v in values if v in WEATHER_DISPLAY and WEATHER_DISPLAY[v] not in out]
    return out


Count = Annotated[int, BeforeValidator(_positive_int), Field(ge=1)]
OptionalId = Annotated[str | None, BeforeValidator(_optional_id)]


# --- sections ------------------------------------------------------------------------------------------

class FixedConditions(BaseModel):
    """The day's fixed conditions (the prototype's section: unknown fields are warned about, not refused)."""

    model_config = ConfigDict(extra="allow")

    weatherCondition: Annotated[str, BeforeValidator(_category(normalise_weather)), Field(
        description="Weather of the shift, display or enum spelling (any case; spaces, hyphens or underscores).",
        json_schema_extra={"enum": _accepted(WEATHER)}, examples=["Cerah", "HUJAN_RINGAN"])]
    roadCondition: Annotated[str, BeforeValidator(_category(normalise_road_condition)), Field(
        description="Condition of the haul road (any case).", json_schema_extra={"enum": list(ROAD_CONDITIONS)},
        examples=["GOOD"])]
    shift: Annotated[str, BeforeValidator(_category(normalise_shift)), Field(
        description="Shift: SHIFT_1 07-15, SHIFT_2 15-23, SHIFT_3 23-07 (mine time, UTC+7).",
        json_schema_extra={"enum": list(SHIFTS)}, examples=["SHIFT_1"])]
    target_road_id: OptionalId = Field(None, description="Road segment id; null: the first road of the fleet.")
    target_excavator_id: OptionalId = Field(None, description="Excavator id; null: the fleet's first excavators.")
    target_schedule_id: OptionalId = Field(None, description="Sailing schedule id of the vessel to load; null: none.")
    simulation_start_date: Annotated[str | None, BeforeValidator(_start)] = Field(
        None, description="ISO-8601 start of the simulated shift (no offset: UTC); null: the shift's start today.",
        json_schema_extra={"format": "date-time"}, examples=["2025-11-10T07:00:00+07:00"])


class DecisionVariables(BaseModel):
    """The strategies to compare: every truck count x every excavator count (the prototype's section)."""

    model_config = ConfigDict(extra="allow")

    alokasi_truk: Annotated[list[Count], BeforeValidator(_count_list), Field(
        min_length=1, description="Dump-truck counts to compare.", examples=[[5, 10]])]
    jumlah_excavator: Annotated[list[Count], BeforeValidator(_count_list), Field(
        min_length=1, description="Excavator counts to compare.", examples=[[1, 2]])]
    dispatch: Annotated[list[str] | None, BeforeValidator(_dispatch)] = Field(
        None, description="Dispatch rules to compare (default: fixed); the dynamic ones need a `network` with "
                          "at least two loading points.", json_schema_extra={"items": {"enum": list(RULES)}})


_FINANCIAL_DEFAULTS = FinancialParams()
_LEGACY_BY_FIELD = {name: key for key, name in LEGACY_KEYS.items()}
#: A money or cost value: a finite number >= 0 (null is refused like any non-number; leave the key out).
Money = Annotated[float | int | None, BeforeValidator(_money), Field(ge=0)]

#: ``financial_params``: the prototype's five keys, then the named extras of ``FinancialParams``.
FinancialParamsBody: type[BaseModel] = create_model(
    "FinancialParamsBody",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Money and cost assumptions (IDR, litres, hours); every key optional, defaults shown.",
    **{_LEGACY_BY_FIELD.get(f.name, f.name): (
        Money,
        Field(None, description=f"FinancialParams.{f.name} (default {getattr(_FINANCIAL_DEFAULTS, f.name):g}).",
              examples=[getattr(_FINANCIAL_DEFAULTS, f.name)]))
       for f in sorted(dataclass_fields(FinancialParams), key=lambda f: f.name not in _LEGACY_BY_FIELD)},
)


class SimulationSettings(BaseModel):
    """How to simulate; every key optional (the service's settings give the defaults)."""

    model_config = ConfigDict(extra="forbid")

    duration_hours: Annotated[float | int | None, BeforeValidator(_duration)] = Field(
        None, gt=0, le=MAX_DURATION_HOURS, description="Shift length, h.", examples=[8])
    replications: Annotated[int | None, BeforeValidator(_replications)] = Field(
        None, ge=1, le=MAX_REPLICATIONS, description="Replications per strategy.", examples=[30])
    seed: Annotated[int | None, BeforeValidator(_seed)] = Field(
        None, ge=0, description="Root seed (every strategy uses the same replication seeds).", examples=[42])
    deterministic: Annotated[bool | None, BeforeValidator(_flag)] = Field(
        None, description="Every sample at its mean, no breakdowns, one replication.")
    dump_bays: Annotated[int | None, BeforeValidator(_optional_positive_int)] = Field(
        None, ge=1, description="Dump places; null: from the champion's data.")


#: Keys the ``simulation`` section accepts.
SIMULATION_KEYS: tuple[str, ...] = tuple(SimulationSettings.model_fields)


# --- the optional haul network (refuses unknown keys at every level) -----------------------------------

#: Example ``network`` section (docs/operations.md; nodes of the prototype's master tables' roads).
NETWORK_EXAMPLE: dict[str, Any] = {
    "loading_points": [{"id": "PIT-01", "node": "Point-A", "excavators": 2, "destinations": ["ROM-01"]},
                       {"id": "PIT-02", "node": "Point-C", "excavators": 1}],
    "destinations": [{"id": "ROM-01", "node": "Point-B", "bays": 2, "target_t": 1200,
                      "closures": [{"start_hour": 1, "end_hour": 2}]},
                     {"id": "WASTE-01", "node": "Point-D", "bays": None, "target_t": 400}],
    "single_lane": ["ROAD-0002"], "headway_min": 0.5,
}
Text = Annotated[str, BeforeValidator(_text)]
#: A number >= 0 kept as sent (int or float); the validator checks it, the schema says so.
NonNegative = Annotated[float | int | None, BeforeValidator(_non_negative), Field(json_schema_extra={"minimum": 0})]
Hours = Annotated[float | int, BeforeValidator(_hours), Field(json_schema_extra={"minimum": 0})]


class ClosureBody(BaseModel):
    """A period of the shift a destination is closed (crusher down), hours from the shift start."""

    model_config = ConfigDict(extra="forbid")

    start_hour: Hours = Field(examples=[1])
    end_hour: Hours = Field(examples=[2])

    @model_validator(mode="after")
    def _ordered(self) -> "ClosureBody":
        if self.end_hour <= self.start_hour:
            raise value_error(f"needs 0 <= start_hour < end_hour, got {self.start_hour!r}, {self.end_hour!r}")
        return self


class DestinationBody(BaseModel):
    """A dump (ROM pad, crusher, waste dump) at a road node; ``share`` or ``target_t`` for all or none."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(description="Destination id (results: `production_t@<id>`).", examples=["ROM-01"])
    node: Text = Field(None, description="Road node (a road segment's startPoint/endPoint); default: the id.",
                       examples=["Point-B"])
    bays: Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_optional_positive_int)] = Field(
        DEFAULT_DUMP_BAYS, description="Tipping places served at once; null: no dump queue.", examples=[2])
    share: NonNegative = Field(None, description="Wanted share of the tonnes (given for every destination or none).")
    target_t: NonNegative = Field(None, description="Tonnes wanted in the shift (for every destination or none).",
                                  examples=[1200])
    closures: list[ClosureBody] | None = Field(None, description="Periods the destination is closed.")


class LoadingPointBody(BaseModel):
    """A loading face at a road node with its loaders and the destinations it may send to."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(description="Loading point id.", examples=["PIT-01"])
    node: Text = Field(None, description="Road node; default: the id.", examples=["Point-A"])
    excavators: Annotated[Annotated[int, Field(ge=1)] | Annotated[list[str], Field(min_length=1)],
                          BeforeValidator(_loaders)] = Field(
        1, description="How many loaders (>= 1), or the excavator ids placed here.", examples=[2, ["EX-01"]])
    destinations: Annotated[list[str] | None, BeforeValidator(_ids("destination ids"))] = Field(
        None, description="Destination ids it may send to; empty or null: all.", examples=[["ROM-01"]])


class NetworkBody(BaseModel):
    """Several pits and dumps on the fleet's roads (``road_segments``); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [NETWORK_EXAMPLE]})

    loading_points: Annotated[list[LoadingPointBody], BeforeValidator(_objects), Field(min_length=1)]
    destinations: Annotated[list[DestinationBody], BeforeValidator(_objects), Field(min_length=1)]
    single_lane: Annotated[list[str] | None, BeforeValidator(_ids("road segment ids or codes"))] = Field(
        None, description="Road segments trucks cannot pass on (one lane).", examples=[["ROAD-0002"]])
    headway_min: NonNegative = Field(None, description="Minimum gap between trucks on a single lane, min; "
                                                       "null: the model's default.", examples=[0.5])

    def to_spec(self) -> NetworkSpec:
        """The domain form (ids and nodes stripped, the default node is the id)."""
        points, named = [], []
        for p in self.loading_points:
            excavators = tuple(x.strip() for x in p.excavators) if isinstance(p.excavators, list) else ()
            points.append(LoadingPoint(p.id.strip(), (p.node or p.id).strip(), len(excavators) or p.excavators,
                                       tuple(p.destinations or ())))
            named.append(excavators)
        destinations = tuple(
            Destination(d.id.strip(), (d.node or d.id).strip(), d.bays, share=_float(d.share),
                        target_t=_float(d.target_t),
                        closures=tuple(Closure(float(c.start_hour), float(c.end_hour)) for c in d.closures or ()))
            for d in self.destinations)
        return NetworkSpec(tuple(points), destinations, tuple(self.single_lane or ()), _float(self.headway_min),
                           tuple(named))


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


class StrategiesRequest(BaseModel):
    """``POST /get_top_3_strategies``: the prototype's body, optionally with ``financial_params`` and ``simulation``."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [LEGACY_EXAMPLE, REF_A_EXAMPLE]})

    fixed_conditions: FixedConditions
    decision_variables: DecisionVariables
    financial_params: FinancialParamsBody | None = None  # type: ignore[valid-type]
    simulation: SimulationSettings | None = None
    network: NetworkBody | None = Field(None, description="Optional haul network (several pits and dumps); "
                                                          "without it the one-road model runs.")

    @model_validator(mode="after")
    def _dynamic_dispatch_needs_a_network(self) -> "StrategiesRequest":
        rules = self.decision_variables.dispatch or []
        points = self.network.loading_points if self.network is not None else []
        if any(rule != "fixed" for rule in rules) and len(points) < 2:
            raise value_error("dynamic rules choose between loading points: give a network with at least two",
                              path="decision_variables.dispatch")
        return self

    def warnings(self) -> list[str]:
        """One line per unknown field of the prototype's sections, with the closest known name."""
        nested = [f"{section}.{name}" for section in ("fixed_conditions", "decision_variables")
                  for name in type(self).model_fields[section].annotation.model_fields]
        out = []
        for path, model in (("", self), ("fixed_conditions.", self.fixed_conditions),
                            ("decision_variables.", self.decision_variables)):
            known = list(type(model).model_fields)
            for key in model.model_extra or {}:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                if not close and not path:  # a top-level typo of a nested field: name its full path
                    by_name = {name.rsplit(".", 1)[1]: name for name in nested}
                    close = [by_name[c] for c in difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)]
                hint = f"; did you mean {close[0]}?" if close else ""
                out.append(f"{path}{key} ignored: unknown field{hint}")
        return out

    def to_spec(self, defaults: SimulationParams | None = None) -> RequestSpec:
        """The domain spec (``defaults`` fill what ``simulation`` leaves out: the settings' defaults)."""
        fixed, decisions = self.fixed_conditions, self.decision_variables
        conditions = Conditions(
            weather=normalise_weather(fixed.weatherCondition),
            road_condition=normalise_road_condition(fixed.roadCondition),
            shift=normalise_shift(fixed.shift),
            road_id=_stripped(fixed.target_road_id), excavator_id=_stripped(fixed.target_excavator_id),
            schedule_id=_stripped(fixed.target_schedule_id),
            start=parse_start(fixed.simulation_start_date, "fixed_conditions.simulation_start_date"))
        grid = Grid(truck_counts=tuple(sorted(set(decisions.alokasi_truk))),
                    excavator_counts=tuple(sorted(set(decisions.jumlah_excavator))),
                    dispatch=tuple(dict.fromkeys(decisions.dispatch or ["fixed"])))
        given = {} if self.financial_params is None else self.financial_params.model_dump(exclude_none=True)
        financial = FinancialParams(**{LEGACY_KEYS.get(k, k): float(v) for k, v in given.items()})
        simulation = defaults or SimulationParams()
        if self.simulation is not None:
            chosen = self.simulation.model_dump(exclude_none=True)
            if "duration_hours" in chosen:
                chosen["duration_hours"] = float(chosen["duration_hours"])
            simulation = replace(simulation, **chosen)
        return RequestSpec(conditions=conditions, grid=grid, simulation=simulation, financial=financial,
                           network=None if self.network is None else self.network.to_spec())


def _stripped(value: str | None) -> str | None:
    return None if value is None else value.strip()


# --- errors --------------------------------------------------------------------------------------------

#: What a missing required field is called, by its name (default: a value).
_MISSING = {"fixed_conditions": "required object is missing", "decision_variables": "required object is missing",
            "alokasi_truk": "required list is missing", "jumlah_excavator": "required list is missing"}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model validating the object at ``loc`` of a strategies body (list indices skipped), if any."""
    model: type[BaseModel] | None = StrategiesRequest
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            return None
        model = _model_in(field.annotation)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X``, ``X | None``, ``list[X]`` or ``Annotated[...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('decision_variables', 'alokasi_truk', 2) -> 'decision_variables.alokasi_truk[2]'; () -> '(body)'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def error_reason(error: Mapping[str, Any]) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "value_error" or kind.startswith("value_error"):
        return str(error.get("ctx", {}).get("reason") or error["msg"])
    if kind == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    if kind == "missing":
        return _MISSING.get(str(loc[-1]), "required value is missing") if loc else "a JSON body is required"
    if kind == "extra_forbidden":
        section = _model_at(loc[:-1])
        accepted = list(section.model_fields) if section is not None else []
        close = difflib.get_close_matches(str(loc[-1]), accepted, n=1, cutoff=0.6)
        return (f"unknown key; accepted: {', '.join(accepted)}" + (f"; did you mean {close[0]}?" if close else ""))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if value is None and loc and str(loc[-1]) in _MISSING:
            return _MISSING[str(loc[-1])]
        return (f"must be a JSON object, got {type(value).__name__}" if not loc
                else f"must be an object, got {type(value).__name__}")
    return f"{error['msg']}, got {value!r}"


def error_messages(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(loc, 'path: reason') of every error; ``loc`` without a leading 'body'."""
    out = []
    for error in exc.errors(include_url=False):
        loc = prefix + error_loc(error)
        out.append((loc, f"{field_path(loc)}: {error_reason(error)}"))
    return out


_INDEX = re.compile(r"\[(\d+)\]")


def path_loc(path: str) -> tuple[Any, ...]:
    """'decision_variables.alokasi_truk[2]' -> ('decision_variables', 'alokasi_truk', 2)."""
    loc: list[Any] = []
    for part in path.split("."):
        name = _INDEX.split(part)[0]
        if name:
            loc.append(name)
        loc.extend(int(i) for i in _INDEX.findall(part))
    return tuple(loc)


def error_loc(error: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where an error is: the path our validator named (``value_error(..., path=)``), else pydantic's."""
    path = (error.get("ctx") or {}).get("path")
    return path_loc(path) if path else tuple(error["loc"])


def parse_body(body: Any) -> StrategiesRequest:
    """A body validated into :class:`StrategiesRequest`; raises ``SpecError`` naming the first bad field."""
    try:
        return StrategiesRequest.model_validate(body)
    except ValidationError as exc:
        loc, message = error_messages(exc)[0]
        path = field_path(loc)
        raise SpecError(path, message[len(path) + 2:]) from None


def parse_request(body: Any, *, defaults: SimulationParams | None = None,
                  max_simulations: int | None = None) -> RequestSpec:
    """A body straight to the domain spec (the command line's and the study's edge; the API keeps the
    validated :class:`StrategiesRequest` for its warnings). Raises ``SpecError`` naming the field."""
    spec = parse_body(body).to_spec(defaults)
    return spec if max_simulations is None else spec.check_limit(max_simulations)
