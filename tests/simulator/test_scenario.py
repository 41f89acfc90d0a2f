"""Request parsing: the legacy and extended bodies, normalisation, and errors that name the field."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from simulator.economics import FinancialParams
from simulator.request import parse_request
from simulator.scenario import (SimulationParams, SpecError, parse_start,
                                scenario_key)
from tests import paths

CONTRACTS = paths.CONTRACTS


def _contract(name: str) -> dict:
    return json.loads((CONTRACTS / name).read_text())


def test_legacy_body_is_accepted_unchanged():
    spec = parse_request(_contract("legacy-top3-request.json"))
    c = spec.conditions
    assert (c.weather, c.road_condition, c.shift) == ("HUJAN_RINGAN", "FAIR", "SHIFT_1")
    assert (c.road_id, c.excavator_id, c.schedule_id, c.start) == (None, None, None, None)
    assert spec.grid.scenarios == [(5, 1), (5, 2), (10, 1), (10, 2)]
    assert spec.simulation == SimulationParams()
    assert spec.financial == FinancialParams()
    assert spec.simulations == 4 * 30


def test_ref_a_body_with_financial_and_simulation_sections():
    spec = parse_request(_contract("ref-a.json"))
    assert spec.grid.truck_counts == tuple(range(5, 16)) and spec.grid.excavator_counts == (1, 2, 3)
    assert spec.simulation == SimulationParams(duration_hours=8.0, replications=30, seed=42)
    assert spec.simulations == 990
    assert spec.conditions.start == datetime(2025, 11, 10, 0, 0, tzinfo=timezone.utc)  # 07:00+07:00
    assert spec.financial.coal_price_idr_per_t == 800_000
    assert spec.simulation.dump_bays is None  # not in the body: the champion's site calibration decides


def test_defaults_come_from_the_caller_and_the_body_overrides_them():
    body = _contract("legacy-top3-request.json")
    defaults = SimulationParams(duration_hours=12.0, replications=10, seed=7)
    assert parse_request(body, defaults=defaults).simulation == defaults
    body["simulation"] = {"replications": 5, "deterministic": True, "dump_bays": 3}
    sim = parse_request(body, defaults=defaults).simulation
    assert (sim.duration_hours, sim.replications, sim.seed, sim.dump_bays) == (12.0, 5, 7, 3)
    assert sim.deterministic and sim.effective_replications == 1


@pytest.mark.parametrize("weather, expected", [("Cerah", "CERAH"), ("Hujan Ringan", "HUJAN_RINGAN"),
                                               ("hujan_lebat", "HUJAN_LEBAT"), ("BADAI", "BADAI")])
def test_weather_display_and_enum_forms_are_normalised(weather, expected):
    body = _contract("legacy-top3-request.json")
    body["fixed_conditions"]["weatherCondition"] = weather
    body["fixed_conditions"]["roadCondition"] = "licin"
    body["fixed_conditions"]["shift"] = "Shift 3"
    c = parse_request(body).conditions
    assert (c.weather, c.road_condition, c.shift) == (expected, "LICIN", "SHIFT_3")


def test_counts_are_sorted_and_deduplicated():
    body = _contract("legacy-top3-request.json")
    body["decision_variables"] = {"alokasi_truk": [10, 5, 10, 7], "jumlah_excavator": [2, 2, 1]}
    grid = parse_request(body).grid
    assert grid.truck_counts == (5, 7, 10) and grid.excavator_counts == (1, 2)
    assert (grid.max_trucks, grid.max_excavators) == (10, 2)
    assert scenario_key(10, 2) == "T10-E2"


def _error(mutate) -> SpecError:
    body = copy.deepcopy(_contract("ref-a.json"))
    mutate(body)
    with pytest.raises(SpecError) as info:
        parse_request(body, max_simulations=2000)
    return info.value


@pytest.mark.parametrize("mutate, field, words", [
    (lambda b: b["decision_variables"].__setitem__("alokasi_truk", [5, 6, -1]),
     "decision_variables.alokasi_truk[2]", "must be a positive integer, got -1"),
    (lambda b: b["decision_variables"].__setitem__("alokasi_truk", []), "decision_variables.alokasi_truk", "empty"),
    (lambda b: b["decision_variables"].__setitem__("alokasi_truk", [5, "6"]),
     "decision_variables.alokasi_truk[1]", "positive integer"),
    (lambda b: b["decision_variables"].__setitem__("jumlah_excavator", [1, 2.5]),
     "decision_variables.jumlah_excavator[1]", "positive integer"),
    (lambda b: b["decision_variables"].__setitem__("jumlah_excavator", [True]),
     "decision_variables.jumlah_excavator[0]", "positive integer"),
    (lambda b: b["decision_variables"].__setitem__("jumlah_excavator", 3),
     "decision_variables.jumlah_excavator", "list"),
    (lambda b: b["decision_variables"].pop("jumlah_excavator"), "decision_variables.jumlah_excavator", "missing"),
    (lambda b: b.pop("decision_variables"), "decision_variables", "missing"),
    (lambda b: b["fixed_conditions"].__setitem__("weatherCondition", "Salju"),
     "fixed_conditions.weatherCondition", "unknown weather"),
    (lambda b: b["fixed_conditions"].__setitem__("roadCondition", None), "fixed_conditions.roadCondition", "missing"),
    (lambda b: b["fixed_conditions"].__setitem__("shift", "SHIFT_9"), "fixed_conditions.shift", "unknown shift"),
    (lambda b: b["fixed_conditions"].__setitem__("target_road_id", 12), "fixed_conditions.target_road_id", "string"),
    (lambda b: b["fixed_conditions"].__setitem__("simulation_start_date", "10/11/2025"),
     "fixed_conditions.simulation_start_date", "ISO-8601"),
    (lambda b: b["financial_params"].__setitem__("HargaSolar", -1), "financial_params.HargaSolar", ">= 0, got -1"),
    (lambda b: b["financial_params"].__setitem__("Bonus", 1), "financial_params.Bonus", "unknown key"),
    (lambda b: b["simulation"].__setitem__("replications", 0), "simulation.replications", "integer in [1"),
    (lambda b: b["simulation"].__setitem__("duration_hours", 0), "simulation.duration_hours", "(0, 168]"),
    (lambda b: b["simulation"].__setitem__("seed", -3), "simulation.seed", "non-negative"),
    (lambda b: b["simulation"].__setitem__("deterministic", "yes"), "simulation.deterministic", "true or false"),
    (lambda b: b["simulation"].__setitem__("reps", 3), "simulation.reps", "unknown key"),
    (lambda b: b["simulation"].__setitem__("replications", 100), "simulation.replications", "exceeds the limit of 2000"),
])
def test_errors_name_the_field_and_the_problem(mutate, field, words):
    error = _error(mutate)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert words in str(error)


def test_body_must_be_an_object():
    with pytest.raises(SpecError, match=r"^\(body\): must be a JSON object"):
        parse_request([1, 2])
    with pytest.raises(SpecError, match="^fixed_conditions: must be an object"):
        parse_request({"fixed_conditions": "x", "decision_variables": {}})


@pytest.mark.parametrize("text, expected", [
    ("2025-11-10T07:00:00+07:00", datetime(2025, 11, 10, 0, tzinfo=timezone.utc)),
    ("2025-11-10T00:00:00Z", datetime(2025, 11, 10, 0, tzinfo=timezone.utc)),
    ("2025-11-10T03:30:00", datetime(2025, 11, 10, 3, 30, tzinfo=timezone.utc)),  # no offset: UTC
    (None, None),
])
def test_start_dates_become_utc(text, expected):
    assert parse_start(text, "x") == expected


def test_unknown_fields_of_the_prototype_sections_are_warnings_with_the_closest_name():
    from simulator.request import parse_body

    body = _contract("legacy-top3-request.json")
    body["fixed_conditions"]["weatherConditon"] = "Hujan Lebat"
    body["decision_variables"]["alokasi_trukk"] = [3]
    body["jumlah_excavatorr"] = [1]
    body["comment"] = "from the dashboard"
    request = parse_body(body)
    assert request.warnings() == [
        "jumlah_excavatorr ignored: unknown field; did you mean decision_variables.jumlah_excavator?",
        "comment ignored: unknown field",
        "fixed_conditions.weatherConditon ignored: unknown field; did you mean weatherCondition?",
        "decision_variables.alokasi_trukk ignored: unknown field; did you mean alokasi_truk?",
    ]
    spec = request.to_spec()  # the typos change nothing: the sent weather and counts are used
    assert spec == parse_request(_contract("legacy-top3-request.json"))


@pytest.mark.parametrize("section", ["financial_params", "simulation"])
def test_unknown_fields_of_the_new_sections_are_refused_naming_the_path(section):
    body = _contract("ref-a.json")
    body[section]["HargaSolarr" if section == "financial_params" else "replicatons"] = 1
    with pytest.raises(SpecError) as err:
        parse_request(body)
    assert err.value.field.startswith(f"{section}.")
    assert "unknown key; accepted:" in str(err.value) and "did you mean" in str(err.value)


def test_equal_requests_have_one_normalized_key():
    a = _contract("legacy-top3-request.json")
    b = _contract("legacy-top3-request.json")
    b["fixed_conditions"]["weatherCondition"] = "HUJAN_RINGAN"  # another spelling of the same weather
    b["decision_variables"]["alokasi_truk"] = [10, 5, 5]  # another order, a duplicate
    b["financial_params"] = {"HargaSolar": 15000}  # the default, written out
    assert parse_request(a).normalized_key() == parse_request(b).normalized_key()
    b["simulation"] = {"seed": 43}
    assert parse_request(a).normalized_key() != parse_request(b).normalized_key()
