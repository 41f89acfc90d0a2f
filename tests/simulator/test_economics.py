"""Economics of one replication: every term on hand-computed numbers, legacy financial_params, vessel deadline."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from simulator.economics import (
    LEGACY_KEYS,
    FinancialParams,
    VesselTarget,
    economics,
    queue_cost_idr_per_hour,
    vessel_outcome,
)
from simulator.results import ReplicationResult, ScheduleClosure
from tests import paths


def _contract(name: str) -> dict:
    return json.loads((paths.CONTRACTS / name).read_text(encoding="utf-8"))


def result(**overrides) -> ReplicationResult:
    """A shift of 10 trucks and 2 excavators with round numbers (override any field)."""
    base = dict(
        scenario_key="T10-E2", replication=0, trucks=10, excavators=2, shift_hours=8.0, loads=60,
        production_t=1800.0, fuel_l=720.0, queue_hours=2.5, cycle_time_min=80.0,
        excavator_utilisation=0.6, truck_utilisation=0.9, delays=3, delay_hours=0.5,
        incident_expected=0.3, breakdowns=0, downtime_hours=0.0,
    )
    base.update(overrides)
    return ReplicationResult(**base)


# Round rates so every term can be checked by hand.
P = FinancialParams(
    coal_price_idr_per_t=1_000.0, fuel_price_idr_per_l=10.0, vessel_penalty_idr=7_000.0,
    incident_cost_idr=100.0, demurrage_idr_per_hour=50.0, truck_cost_idr_per_hour=20.0,
    excavator_cost_idr_per_hour=100.0, excavator_fuel_l_per_hour=3.0, idle_fuel_l_per_hour=2.0,
    operator_wait_cost_idr_per_hour=5.0, demurrage_max_hours=100.0,
)


def test_each_term_without_vessel_is_hand_computed():
    e = economics(result(), P, None)
    assert e.revenue_idr == 1800 * 1000              # tonnes x coal price
    assert e.fuel_cost_idr == 720 * 10               # litres x diesel price
    assert e.truck_cost_idr == 10 * 8 * 20           # trucks x hours x rate
    assert e.excavator_cost_idr == 2 * 8 * (100 + 3 * 10)  # excavators x hours x (rate + own diesel)
    assert e.queue_penalty_idr == 2.5 * (2 * 10 + 5)  # queue h x (idle L/h x price + operator wait)
    assert e.incident_risk_idr == pytest.approx(0.3 * 100)
    assert (e.demurrage_idr, e.vessel_penalty_idr, e.vessel_late) == (0.0, 0.0, False)
    assert e.profit_idr == pytest.approx(1_800_000 - 7_200 - 1_600 - 2_080 - 62.5 - 30)
    assert queue_cost_idr_per_hour(P) == 25.0


def test_default_queue_penalty_is_idle_diesel_plus_operator_wait():
    p = FinancialParams()
    e = economics(result(queue_hours=3.0), p, None)
    assert e.queue_penalty_idr == 3.0 * (p.idle_fuel_l_per_hour * 15_000 + p.operator_wait_cost_idr_per_hour)


def test_late_vessel_pays_demurrage_per_late_hour_and_the_penalty_once():
    # rate 1800 t / 8 h = 225 t/h; 45,000 t need 200 h; 180 h available -> 20 h late
    vessel = VesselTarget(planned_t=45_000, hours_available=180, name="MV Test")
    assert vessel_outcome(result(), vessel).hours_to_load == pytest.approx(200.0)
    assert vessel_outcome(result(), vessel).late_hours == pytest.approx(20.0)
    e = economics(result(), P, vessel)
    assert e.vessel_late is True
    assert e.demurrage_idr == pytest.approx(20 * 50)
    assert e.vessel_penalty_idr == 7_000


def test_vessel_on_time_costs_nothing():
    e = economics(result(), P, VesselTarget(planned_t=45_000, hours_available=250))
    assert (e.demurrage_idr, e.vessel_penalty_idr, e.vessel_late) == (0.0, 0.0, False)
    assert vessel_outcome(result(), VesselTarget(45_000, 250)).late_hours == 0.0


def test_no_production_never_loads_the_vessel_and_demurrage_is_capped():
    r = result(production_t=0.0, fuel_l=0.0)
    assert math.isinf(vessel_outcome(r, VesselTarget(1_000, 10)).hours_to_load)
    e = economics(r, P, VesselTarget(1_000, 10))
    assert e.vessel_late and e.demurrage_idr == 100 * 50 and math.isfinite(e.profit_idr)
    assert vessel_outcome(r, VesselTarget(0, 10)).late_hours == 0.0  # nothing to load


def test_deadline_already_passed_is_late_by_the_overdue_hours_plus_loading():
    out = vessel_outcome(result(), VesselTarget(planned_t=2_250, hours_available=-5))
    assert out.hours_to_load == pytest.approx(10.0) and out.late_hours == pytest.approx(15.0)


def test_a_closed_schedule_is_never_late_and_costs_nothing():
    # the same 45,000 t that are 20 h late on an open schedule (see above)
    closed = VesselTarget(planned_t=45_000, hours_available=180, schedule_id="s1",
                          closed_reason="s1 is COMPLETED",
                          closure=ScheduleClosure("over", "s1", "BG X", "COMPLETED", "2025-11-12 07:00", "2025-11-10 08:00"))
    assert not closed.chargeable and VesselTarget(45_000, 180).chargeable
    out = vessel_outcome(result(), closed)
    assert out.hours_to_load == pytest.approx(200.0) and out.late_hours == 0.0
    e = economics(result(), P, closed)
    assert (e.demurrage_idr, e.vessel_penalty_idr, e.vessel_late) == (0.0, 0.0, False)
    assert e.profit_idr == economics(result(), P, None).profit_idr
    passed = VesselTarget(planned_t=2_250, hours_available=-5, closed_reason="deadline before the shift")
    assert vessel_outcome(result(), passed).late_hours == 0.0 and not economics(result(), P, passed).vessel_late


def from_request(section):
    """The FinancialParams of a body whose ``financial_params`` is ``section`` (parsed by ``simulator.request``)."""
    from simulator.request import parse_request

    body = _contract("legacy-top3-request.json")
    if section is not None:
        body["financial_params"] = section
    return parse_request(body).financial


def test_defaults_equal_the_prototype_financial_params():
    legacy = _contract("ref-a.json")["financial_params"]
    assert FinancialParams().to_legacy() == legacy
    assert from_request(legacy) == FinancialParams()
    assert from_request(None) == FinancialParams()


def test_from_request_maps_legacy_names_and_accepts_extras():
    p = from_request({"HargaSolar": 16_500, "BiayaDemurragePerJam": 1.5e7,
                                      "truck_cost_idr_per_hour": 500_000})
    assert p.fuel_price_idr_per_l == 16_500 and p.demurrage_idr_per_hour == 1.5e7
    assert p.truck_cost_idr_per_hour == 500_000
    assert p.coal_price_idr_per_t == 800_000  # untouched default
    assert p.to_legacy()["HargaSolar"] == 16_500
    assert set(p.to_legacy()) == set(LEGACY_KEYS)


def test_from_request_unknown_key_names_it_and_lists_accepted_keys():
    with pytest.raises(ValueError) as err:
        from_request({"HargaBatu": 1})
    message = str(err.value)
    assert message.startswith("financial_params.HargaBatu: unknown key")
    assert all(k in message for k in LEGACY_KEYS) and "idle_fuel_l_per_hour" in message


@pytest.mark.parametrize("value", [-1, -0.5])
def test_from_request_negative_value_names_the_key(value):
    with pytest.raises(ValueError, match="HargaSolar"):
        from_request({"HargaSolar": value})


@pytest.mark.parametrize("value", ["15000", True, float("nan"), float("inf"), None])
def test_from_request_rejects_non_numbers(value):
    with pytest.raises(ValueError, match="BiayaRataRataInsiden"):
        from_request({"BiayaRataRataInsiden": value})


def test_params_are_frozen_and_validated():
    with pytest.raises(ValueError, match="truck_cost_idr_per_hour"):
        FinancialParams(truck_cost_idr_per_hour=-1.0)
    with pytest.raises(Exception):
        FinancialParams().coal_price_idr_per_t = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="planned_t"):
        VesselTarget(planned_t=-1, hours_available=10)
    assert replace(P, fuel_price_idr_per_l=0.0).fuel_price_idr_per_l == 0.0
