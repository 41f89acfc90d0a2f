"""A strategies request with a ``network`` part and several dispatch rules, end to end on the engine."""
from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from simulator.engine import run_request
from simulator.executor import InlineExecutor
from simulator.model import DEFAULT_DUMP_BAYS
from simulator.network import Closure
from simulator.request import NETWORK_EXAMPLE, StrategiesRequest, parse_request
from simulator.scenario import SpecError
from simulator.settings import SimulatorSettings
from tests.paths import CONTRACTS
from tests.simulator.conftest import FAKE_SIGMA, FakeBundle

# The reference export's roads form chains Point-A - Point-B - ...; two pits and two dumps on them.
NETWORK = {
    "loading_points": [{"id": "PIT-01", "node": "Point-A", "excavators": 2},
                       {"id": "PIT-02", "node": "Point-C", "excavators": 1}],
    "destinations": [{"id": "ROM-01", "node": "Point-B", "bays": 2, "target_t": 1200},
                     {"id": "WASTE-01", "node": "Point-D", "bays": 1, "target_t": 400,
                      "closures": [{"start_hour": 1, "end_hour": 2}]}],
    "single_lane": ["ROAD-0002"],
    "headway_min": 0.5,
}


def _body(**decisions):
    body = json.loads((CONTRACTS / "ref-a.json").read_text())
    body["decision_variables"] = {"alokasi_truk": [4, 8], "jumlah_excavator": [2, 3], **decisions}
    body["network"] = copy.deepcopy(NETWORK)
    body["simulation"] = {"duration_hours": 8, "replications": 6, "seed": 3}
    return body


def test_fixed_and_dynamic_dispatch_are_ranked_together_with_cis_and_the_new_kpis(reference_fleet, fake_bundle):
    body = _body(dispatch=["fixed", "shortest_travel_wait"])
    result = run_request(parse_request(body), bundle=fake_bundle, fleet=reference_fleet, executor=InlineExecutor(),
                         settings=SimulatorSettings())
    keys = {s.scenario_key for s in result.summaries}
    assert keys == {"T4-E2", "T4-E2/shortest_travel_wait", "T4-E3", "T4-E3/shortest_travel_wait",
                    "T8-E2", "T8-E2/shortest_travel_wait", "T8-E3", "T8-E3/shortest_travel_wait"}
    assert fake_bundle.predict_calls == 1
    assert [s.rank for s in result.ranked] == list(range(1, 9))
    best = result.ranked[0]
    for metric in ("profit_idr", "match_factor", "cost_per_t_idr", "t_per_truck_operating_hour",
                   "t_per_loader_operating_hour", "loader_queue_hours", "dump_queue_hours", "bunching_hours",
                   "production_t@ROM-01", "production_t@WASTE-01", "target_attainment@ROM-01"):
        est = best.metrics[metric]
        assert est.n == 6 and est.ci_low <= est.mean <= est.ci_high, metric
    dynamic = next(s for s in result.summaries if s.scenario_key == "T8-E3/shortest_travel_wait")
    assert dynamic.dispatch == "shortest_travel_wait"
    total = best.metrics["production_t@ROM-01"].mean + best.metrics["production_t@WASTE-01"].mean
    assert total == pytest.approx(best.metrics["production_t"].mean)


def test_the_same_network_request_gives_the_same_numbers(reference_fleet, fake_bundle):
    body = _body(dispatch=["shortest_queue"])
    a = run_request(parse_request(body), bundle=fake_bundle, fleet=reference_fleet, executor=InlineExecutor(), settings=SimulatorSettings())
    b = run_request(parse_request(body), bundle=fake_bundle, fleet=reference_fleet, executor=InlineExecutor(), settings=SimulatorSettings())
    assert a.results == b.results


@pytest.mark.parametrize("patch, field", [
    (lambda b: b["decision_variables"].update(dispatch=["nearest"]), "decision_variables.dispatch[0]"),
    (lambda b: b.pop("network"), "decision_variables.dispatch"),
    (lambda b: b["network"]["destinations"][0].update(bays=0), "network.destinations[0].bays"),
    (lambda b: b["network"]["destinations"][1]["closures"][0].update(end_hour=0.5), "network.destinations[1].closures[0]"),
    (lambda b: b["network"]["loading_points"][0].update(excavators=0), "network.loading_points[0].excavators"),
    (lambda b: b["network"].update(lanes=[]), "network.lanes"),
])
def test_bad_network_parts_name_the_field(patch, field):
    body = _body(dispatch=["fixed", "shortest_wait"])
    patch(body)
    with pytest.raises(SpecError) as err:
        parse_request(body)
    assert err.value.field == field


def test_unknown_nodes_are_refused_by_the_engine(reference_fleet, fake_bundle):
    body = _body()
    body["network"]["destinations"][0]["node"] = "Nowhere"
    with pytest.raises(SpecError, match="network.destinations"):
        run_request(parse_request(body), bundle=fake_bundle, fleet=reference_fleet, executor=InlineExecutor(), settings=SimulatorSettings())


def test_the_legacy_body_still_runs_the_one_road_model():
    spec = parse_request(json.loads((CONTRACTS / "legacy-top3-request.json").read_text()))
    assert spec.network is None and spec.grid.dispatch == ("fixed",)
    assert [k for k in spec.grid.strategies] == [(t, e, "fixed") for t, e in spec.grid.scenarios]


@pytest.mark.parametrize("patch, field, accepted", [
    (lambda n: n.update(lanes=[]), "network.lanes", "loading_points, destinations, single_lane, headway_min"),
    (lambda n: n["loading_points"][1].update(dumps=["ROM-01"]), "network.loading_points[1].dumps",
     "id, node, excavators, destinations"),
    (lambda n: n["destinations"][0].update(bay=2), "network.destinations[0].bay",
     "id, node, bays, share, target_t, closures"),
    (lambda n: n["destinations"][1]["closures"][0].update(hours=1), "network.destinations[1].closures[0].hours",
     "start_hour, end_hour"),
])
def test_unknown_network_keys_are_refused_at_every_depth_naming_the_path(patch, field, accepted):
    body = _body()
    patch(body["network"])
    with pytest.raises(SpecError) as err:
        parse_request(body)
    assert err.value.field == field
    assert err.value.reason.startswith(f"unknown key; accepted: {accepted}")


@pytest.mark.parametrize("patch, field", [
    (lambda n: n["loading_points"][0].update(id=" "), "network.loading_points[0].id"),
    (lambda n: n["loading_points"][0].update(excavators=[]), "network.loading_points[0].excavators"),
    (lambda n: n["loading_points"][0].update(excavators="2"), "network.loading_points[0].excavators"),
    (lambda n: n["destinations"][0].update(target_t=-1), "network.destinations[0].target_t"),
    (lambda n: n["destinations"][0].update(share="0.5"), "network.destinations[0].share"),
    (lambda n: n["destinations"][1]["closures"][0].pop("start_hour"), "network.destinations[1].closures[0].start_hour"),
    (lambda n: n["destinations"][1].update(closures=1.5), "network.destinations[1].closures"),
    (lambda n: n.update(destinations=[]), "network.destinations"),
    (lambda n: n.update(loading_points=[3]), "network.loading_points[0]"),
    (lambda n: n.update(headway_min=True), "network.headway_min"),
    (lambda n: n.update(single_lane="ROAD-0002"), "network.single_lane"),
])
def test_bad_network_values_name_their_path(patch, field):
    body = _body()
    patch(body["network"])
    with pytest.raises(SpecError) as err:
        parse_request(body)
    assert err.value.field == field


def test_the_network_section_is_parsed_once_into_the_spec():
    body = _body()
    body["network"]["loading_points"][1] = {"id": " PIT-02 ", "excavators": [" EX-7 ", "EX-9"]}
    body["network"]["destinations"][0].pop("bays")
    body["network"]["destinations"][1]["bays"] = None
    net = parse_request(body).network
    assert [(p.id, p.node, p.excavators) for p in net.loading_points] == [("PIT-01", "Point-A", 2),
                                                                          ("PIT-02", "PIT-02", 2)]
    assert net.excavator_ids == ((), ("EX-7", "EX-9"))
    assert [d.bays for d in net.destinations] == [DEFAULT_DUMP_BAYS, None]
    assert net.destinations[1].closures == (Closure(1.0, 2.0),) and net.destinations[0].target_t == 1200.0
    assert (net.single_lane, net.headway_min) == (("ROAD-0002",), 0.5)


def test_the_stored_network_reads_as_sent_and_parses_again():
    body = _body()
    sent = StrategiesRequest.model_validate(body).model_dump(mode="json", exclude_unset=True)
    assert sent["network"] == NETWORK
    assert StrategiesRequest.model_validate(sent).to_spec() == parse_request(body)


def test_the_documented_example_is_a_valid_network():
    body = _body()
    body["network"] = NETWORK_EXAMPLE
    assert len(parse_request(body).network.loading_points) == 2


def test_the_schema_documents_every_network_field_and_refuses_others():
    defs = StrategiesRequest.model_json_schema()["$defs"]
    expected = {"NetworkBody": ["loading_points", "destinations", "single_lane", "headway_min"],
                "LoadingPointBody": ["id", "node", "excavators", "destinations"],
                "DestinationBody": ["id", "node", "bays", "share", "target_t", "closures"],
                "ClosureBody": ["start_hour", "end_hour"]}
    for name, fields in expected.items():
        assert list(defs[name]["properties"]) == fields and defs[name]["additionalProperties"] is False, name
    assert defs["NetworkBody"]["examples"] == [NETWORK_EXAMPLE]
    assert defs["DestinationBody"]["properties"]["bays"]["anyOf"][0] == {"minimum": 1, "type": "integer"}


class _ConditionBundle(FakeBundle):
    """The fake champion, with hauling and returning slower on worse roads (its road_condition feature)."""

    SLOWER = {"GOOD": 1.0, "POOR": 1.5}

    def predict(self, features):
        out = super().predict(features)
        factor = np.log(features["road_condition"].map(self.SLOWER).to_numpy(dtype=float))
        return dataclasses.replace(out, phase_mu={**out.phase_mu, "hauling": out.phase_mu["hauling"] + factor,
                                                   "returning": out.phase_mu["returning"] + factor})


def _two_dump_roads(ramp_condition: str) -> pd.DataFrame:
    """Pits P1, P2 joined at J; dump D1 beyond segment R-D1 (in ``ramp_condition``), dump D2 beyond R-D2."""
    rows = [("R-P1", "P1", "J", 1.0, 2.0, 30, "GOOD"), ("R-P2", "P2", "J", 1.5, -1.0, 30, "GOOD"),
            ("R-D1", "J", "D1", 2.0, 4.0, 30, ramp_condition), ("R-D2", "J", "D2", 3.0, 1.0, 30, "GOOD")]
    return pd.DataFrame([{"id": r[0], "code": r[0], "startPoint": r[1], "endPoint": r[2], "distance": r[3],
                          "gradient": r[4], "maxSpeed": r[5], "roadCondition": r[6], "isActive": True} for r in rows])


def test_each_segment_is_timed_in_its_own_road_condition(reference_fleet):
    # The request says GOOD. With segment R-D1 POOR (1.5x slower on the models), every route over R-D1
    # gets 0.5x that leg's minutes more, loaded and empty, per truck; routes over the others do not move.
    from simulator.network_engine import network_plan

    body = _body()
    body["fixed_conditions"]["roadCondition"] = "GOOD"
    body["network"] = {"loading_points": [{"id": "P1", "excavators": 2}, {"id": "P2", "excavators": 1}],
                       "destinations": [{"id": "D1", "bays": None}, {"id": "D2", "bays": None}],
                       "single_lane": ["R-D1"]}
    spec = parse_request(body)
    now = datetime(2025, 11, 10, tzinfo=timezone.utc)
    bundle = _ConditionBundle()
    plans = {c: network_plan(spec, dataclasses.replace(reference_fleet, road_segments=_two_dump_roads(c)), bundle, now)
             for c in ("GOOD", "POOR")}
    good, poor = plans["GOOD"].full, plans["POOR"].full
    spread = {ph: np.exp(0.5 * FAKE_SIGMA[ph] ** 2) for ph in ("hauling", "returning")}
    loaded_leg = 60 * 2.0 / 25.0 * spread["hauling"]     # R-D1's minutes on the GOOD road, as FakeBundle predicts
    empty_leg = 60 * 2.0 / 35.0 * spread["returning"]
    np.testing.assert_allclose(poor.haul_min[:, :, 0] - good.haul_min[:, :, 0], 0.5 * loaded_leg, rtol=1e-9)
    np.testing.assert_allclose(poor.return_min[:, :, 0] - good.return_min[:, :, 0], 0.5 * empty_leg, rtol=1e-9)
    np.testing.assert_array_equal(poor.haul_min[:, :, 1], good.haul_min[:, :, 1])
    np.testing.assert_array_equal(poor.return_min[:, :, 1], good.return_min[:, :, 1])
    # the single lane's part of the route follows (bunching happens there)
    assert poor.haul_legs[0][0][-1][0] > good.haul_legs[0][0][-1][0]
    # the logged predictions are the model's rows as predicted (the request's condition on the pairs),
    # each column once (a second ``shift`` made the prediction log's text columns shift by one)
    assert plans["POOR"].table.columns.is_unique
    assert (plans["POOR"].table["road_condition"] == "GOOD").all()
    np.testing.assert_array_equal(plans["POOR"].table["hauling_mean_min"], plans["GOOD"].table["hauling_mean_min"])


def test_a_calibrated_payload_slope_moves_spread_from_the_haul_noise_to_the_payload(reference_fleet):
    from simulator.network_engine import network_plan
    from training.site import SiteCalibration

    spec = parse_request(_body())
    now = datetime(2025, 11, 10, tzinfo=timezone.utc)
    plain = FakeBundle()
    sloped = FakeBundle()
    sloped.site = SiteCalibration(haul_payload_slope_per_t=0.01)
    a, b = (network_plan(spec, reference_fleet, bundle, now).full for bundle in (plain, sloped))
    assert a.haul_payload_slope_per_t == 0.0 and b.haul_payload_slope_per_t == 0.01
    r = b.noise.payload_residuals_t
    np.testing.assert_allclose(b.haul_min * np.mean(np.exp(0.01 * r)), a.haul_min, rtol=1e-12)
    hauling = 1  # PHASES order: loading, hauling, dumping, returning
    assert b.phase_noise[hauling].shape ** 2 == pytest.approx(FAKE_SIGMA["hauling"] ** 2 - np.var(0.01 * r))
    assert b.phase_noise[0] == a.phase_noise[0] and b.return_min.tolist() == a.return_min.tolist()
