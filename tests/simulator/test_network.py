"""The haul network graph: built from road segments, routes, shares, loader layout, bad input."""
from __future__ import annotations

import pandas as pd
import pytest

from simulator.network import (Closure, Destination, Edge, HaulNetwork, LoadingPoint, NetworkError, build_network,
                               edges_from_road_segments, infer_points, one_road)
from tests.paths import REFERENCE_EXPORT


def _roads(rows):
    cols = ["id", "code", "startPoint", "endPoint", "distance", "gradient", "maxSpeed", "roadCondition", "isActive"]
    return pd.DataFrame(rows, columns=cols)


ROADS = _roads([
    ("r1", "ROAD-1", "PIT-1", "J", 1.0, 8.0, 20, "GOOD", True),
    ("r2", "ROAD-2", "PIT-2", "J", 1.5, 2.0, 30, "FAIR", True),
    ("r3", "ROAD-3", "J", "ROM", 3.0, -1.0, 40, "GOOD", True),
    ("r4", "ROAD-4", "J", "ROM", 2.0, -1.0, 10, "GOOD", True),     # shorter but slow: not the route
    ("r5", "ROAD-5", "J", "WASTE", 2.5, 0.5, 40, "POOR", True),
    ("r6", "ROAD-6", "X", "", 1.0, 0.0, 40, "POOR", True),          # no end point: quarantined
    ("r7", "ROAD-7", "J", "Y", -1.0, 0.0, 40, "POOR", True),        # bad length: quarantined
    ("r8", "ROAD-8", "J", "Z", 1.0, 0.0, 40, "POOR", False),        # inactive: left out
])


def test_network_from_road_segments_routes_by_free_flow_time_and_flips_gradients():
    net, rejected = build_network(ROADS, (LoadingPoint("PIT-1", "PIT-1", 2), LoadingPoint("PIT-2", "PIT-2", 1)),
                                  (Destination("ROM", "ROM", 2, share=0.7), Destination("WASTE", "WASTE", None, share=0.3)),
                                  single_lane=["ROAD-1"])
    assert [r.split(":")[0] for r in rejected] == ["r6", "r7"]
    haul = net.route("PIT-1", "ROM")
    assert [leg.edge.id for leg in haul] == ["r1", "r3"]  # 3 km at 40 beats 2 km at 10
    assert [leg.gradient_pct for leg in haul] == [8.0, -1.0]
    back = net.route("ROM", "PIT-1")
    assert [(leg.edge.id, leg.gradient_pct) for leg in back] == [("r3", 1.0), ("r1", -8.0)]
    assert haul[0].lane == "r1>" and back[-1].lane == "r1<" and haul[1].lane == ""
    assert net.shares() == pytest.approx((0.7, 0.3))
    assert net.excavator_layout(2) == (0, 1) and net.excavator_layout(3) == (0, 1, 0)


def test_targets_give_shares_and_one_road_is_todays_mine():
    net = one_road("ROAD-1", 4.7, 5.0, 20, "GOOD", dump_bays=None, excavators=3)
    assert net.route("LOAD", "DUMP")[0].edge.length_km == 4.7 and net.destinations[0].bays is None
    edges, _ = edges_from_road_segments(ROADS)
    net = HaulNetwork(edges, (LoadingPoint("P", "PIT-1"),),
                      (Destination("ROM", "ROM", target_t=3000), Destination("WASTE", "WASTE", target_t=1000)))
    assert net.shares() == pytest.approx((0.75, 0.25))


@pytest.mark.parametrize("make, field", [
    (lambda e: HaulNetwork(e, (LoadingPoint("P", "nowhere"),), (Destination("D", "ROM"),)), "network.loading_points[0].node"),
    (lambda e: HaulNetwork(e, (LoadingPoint("P", "PIT-1", destinations=("X",)),), (Destination("D", "ROM"),)),
     "network.loading_points[0].destinations"),
    (lambda e: HaulNetwork(e, (LoadingPoint("P", "PIT-1"),), (Destination("D", "ROM", share=1), Destination("W", "WASTE"))),
     "network.destinations"),
    (lambda e: HaulNetwork(e, (LoadingPoint("P", "PIT-1"),), ()), "network.destinations"),
])
def test_bad_networks_name_the_field(make, field):
    edges, _ = edges_from_road_segments(ROADS)
    with pytest.raises(NetworkError) as err:
        make(edges)
    assert err.value.field == field


def test_unjoined_nodes_and_unknown_single_lane_roads_are_refused():
    edges, _ = edges_from_road_segments(ROADS)
    net = HaulNetwork(edges + (Edge("iso", "A", "B", 1.0, 0.0, 20, "GOOD"),), (LoadingPoint("P", "A"),),
                      (Destination("D", "ROM"),))
    with pytest.raises(NetworkError, match="no road joins"):
        net.route("A", "ROM")
    with pytest.raises(NetworkError, match="single_lane"):
        edges_from_road_segments(ROADS, single_lane=["ROAD-99"])
    with pytest.raises(ValueError):
        Closure(3.0, 2.0)


def test_points_inferred_from_hauling_records_and_the_reference_roads_form_a_graph():
    hauling = pd.DataFrame({"loadingPointId": ["PIT-1", "PIT-1", "PIT-2", None],
                            "dumpingPointId": ["ROM", "WASTE", "ROM", "ROM"], "loadWeight": [30, 10, 30, 30]})
    excavators = pd.DataFrame({"currentLocation": ["PIT-1", "PIT-1", "PIT-2", "Workshop"]})
    edges, _ = edges_from_road_segments(ROADS)
    nodes = {e.start for e in edges} | {e.end for e in edges}
    lps, dests = infer_points(hauling, excavators, nodes)
    assert [(p.id, p.excavators) for p in lps] == [("PIT-1", 2), ("PIT-2", 1)]
    assert [(d.id, round(d.share, 3)) for d in dests] == [("ROM", 0.9), ("WASTE", 0.1)]
    reference = pd.read_csv(REFERENCE_EXPORT / "road_segments.csv")
    ref_edges, rejected = edges_from_road_segments(reference)
    assert len(ref_edges) + len(rejected) == int(reference["isActive"].astype(str).str.lower().eq("true").sum())
    ref = HaulNetwork(ref_edges, (LoadingPoint("P", "Point-A"),), (Destination("D", "Point-E"),))
    assert [leg.edge.start for leg in ref.route("Point-A", "Point-E")] == ["Point-A", "Point-B", "Point-C", "Point-D"]
