"""A strategies request with a ``network`` part and several dispatch rules, end to end on the engine."""
from __future__ import annotations

import copy
import json

import pytest

from simulator.engine import run_request
from simulator.executor import InlineExecutor
from simulator.request import parse_request
from simulator.scenario import SpecError
from simulator.settings import SimulatorSettings
from tests.paths import CONTRACTS

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
