"""Planner KPIs per replication and their CIs in the summary."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator import network_model as nm
from simulator.economics import FinancialParams
from simulator.kpis import kpi_columns, match_factor
from simulator.model import ModelParams, run_replication
from simulator.network import Destination, Edge, HaulNetwork, LoadingPoint
from simulator.replications import summarise
from tests.simulator.conftest import make_inputs
from tests.simulator.network_factories import network_inputs


def test_match_factor_of_a_constant_fleet_is_its_textbook_value():
    # Loads 5 min, truck cycle without waits 24 min: MF = trucks x 5 / (loaders x 24).
    for trucks, loaders in ((4, 1), (10, 2), (6, 3)):
        r = run_replication(make_inputs(trucks, loaders), ModelParams(shift_hours=24, dump_bays=None,
                                                                      deterministic=True), 0, 0)
        assert match_factor(r) == pytest.approx(trucks * 5 / (loaders * 24), rel=0.02)


def test_kpis_of_a_two_destination_network_with_targets():
    edges = (Edge("A", "P", "J", 1.0, 0.0, 30.0, "GOOD"), Edge("B", "J", "ROM", 2.0, 3.0, 30.0, "GOOD"),
             Edge("C", "J", "WASTE", 2.5, 1.0, 30.0, "GOOD"))
    net = HaulNetwork(edges, (LoadingPoint("P", "P", 2),),
                      (Destination("ROM", "ROM", 1, target_t=1500.0), Destination("WASTE", "WASTE", 1, target_t=500.0)))
    results = nm.run_replications(network_inputs(net, 6), ModelParams(dump_bays=1, deterministic=True), 0, range(1))
    r = results[0]
    summary = summarise(results, FinancialParams(), None)
    m = summary.metrics
    assert m["production_t@ROM"].mean + m["production_t@WASTE"].mean == pytest.approx(r.production_t)
    assert m["target_attainment@ROM"].mean == pytest.approx(r.destination_production_t[0] / 1500.0)
    assert m["cost_per_t_idr"].mean == pytest.approx(m["cost_idr"].mean / r.production_t)
    assert m["t_per_truck_operating_hour"].mean == pytest.approx(r.production_t / (r.truck_utilisation * 6 * 8))
    assert m["t_per_loader_operating_hour"].mean == pytest.approx(r.production_t / (2 * 8))
    assert m["loader_queue_hours"].mean + m["dump_queue_hours"].mean == pytest.approx(r.queue_hours)
    assert m["bunching_hours"].mean == 0.0
    assert summary.dispatch == "fixed"


def test_one_road_results_without_a_split_leave_the_queue_split_out():
    r = run_replication(make_inputs(3, 1), ModelParams(dump_bays=2, deterministic=True), 0, 0)
    cols = kpi_columns([r], np.array([1e6]))
    assert "loader_queue_hours" not in cols and "production_t@DUMP" not in cols
    assert kpi_columns([r], np.array([1e6]), no_dump_queue=True)["loader_queue_hours"][0] == r.queue_hours
    empty = run_replication(make_inputs(1, 1, (5.0, 600.0, 1.0, 1.0)), ModelParams(deterministic=True), 0, 0)
    assert math.isnan(kpi_columns([empty], np.array([1e6]))["cost_per_t_idr"][0])
