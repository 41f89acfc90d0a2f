"""The champion's site calibration in a run: dump places and the line-up from data, the request's override,
and warnings for conditions the champion barely saw; the model's staggered dispatch and optional dump queue."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from simulator.engine import run_request, simulation_defaults, site_dump_bays
from simulator.request import parse_request
from simulator.executor import InlineExecutor
from simulator.model import DEFAULT_DUMP_BAYS, ModelParams, run_replication, trace_replication
from simulator.settings import SimulatorSettings
from training.site import SiteCalibration

from tests.simulator.conftest import make_inputs
from tests import paths

NOW = datetime(2025, 11, 10, 1, 0, tzinfo=timezone.utc)
CONTRACTS = paths.CONTRACTS


def _body(**simulation) -> dict:
    body = json.loads((CONTRACTS / "legacy-top3-request.json").read_text())
    body = copy.deepcopy(body)
    body.setdefault("simulation", {}).update(replications=3, **simulation)
    return body


def _run(bundle, fleet, body):
    settings = SimulatorSettings(_env_file=None)
    return run_request(parse_request(body, defaults=simulation_defaults(settings)), bundle=bundle, fleet=fleet,
                       executor=InlineExecutor(), settings=settings,
                       now=NOW)


@pytest.mark.parametrize("site, bays", [
    (None, DEFAULT_DUMP_BAYS),
    (SiteCalibration(), DEFAULT_DUMP_BAYS),  # no evidence: the named default
    (SiteCalibration(dump_evidence="no_queue", dump_wait_share=0.0), None),
    (SiteCalibration(dump_evidence="queue", dump_bays=3, dump_wait_share=0.2), 3),
])
def test_dump_places_follow_the_evidence(site, bays):
    assert site_dump_bays(site) == bays


def test_a_run_uses_the_champions_site_unless_the_request_says_otherwise(fake_bundle, reference_fleet):
    fake_bundle.site = SiteCalibration(dump_evidence="no_queue", dump_wait_share=0.0, dispatch_interval_min=1.5,
                                       weather_shifts={"HUJAN_RINGAN": 9}, road_condition_shifts={"GOOD": 9})
    run = _run(fake_bundle, reference_fleet, _body())
    assert run.params.dump_bays is None and run.params.dispatch_interval_min == 1.5
    assert _run(fake_bundle, reference_fleet, _body(dump_bays=1)).params.dump_bays == 1
    # A bundle object without a site (an older test double) runs on the named defaults.
    del fake_bundle.site
    run = _run(fake_bundle, reference_fleet, _body())
    assert run.params.dump_bays == DEFAULT_DUMP_BAYS and run.params.dispatch_interval_min == 0.0


def test_conditions_the_champion_barely_saw_are_warned_about(fake_bundle, reference_fleet):
    body = _body()
    fake_bundle.site = SiteCalibration(weather_shifts={"CERAH": 40}, road_condition_shifts={"GOOD": 40})
    run = _run(fake_bundle, reference_fleet, body)
    weather, road = run.spec.conditions.weather, run.spec.conditions.road_condition
    assert weather != "CERAH"
    assert len(run.warnings) == (1 if road == "GOOD" else 2) and weather in run.warnings[0]
    assert "extrapolate" in run.warnings[0]
    fake_bundle.site = SiteCalibration(weather_shifts={weather: 40}, road_condition_shifts={road: 40})
    assert _run(fake_bundle, reference_fleet, body).warnings == ()


def test_trucks_leave_the_line_up_at_the_dispatch_interval():
    inputs = make_inputs(4, 1, phases_min=(1.0, 9.0, 2.0, 8.0))
    _, log = trace_replication(inputs, ModelParams(shift_hours=1.0, dump_bays=None, deterministic=True,
                                                   dispatch_interval_min=2.5))
    first = {}
    for truck, _, minute in log:
        first.setdefault(truck, minute)
    assert first == {0: 0.0, 1: 2.5, 2: 5.0, 3: 7.5}  # loading (1 min) never holds the next truck up


def test_staggering_the_line_up_removes_the_shift_start_queue():
    inputs = make_inputs(4, 1, phases_min=(2.0, 9.0, 2.0, 8.0))
    together = run_replication(inputs, ModelParams(shift_hours=2.0, dump_bays=None, deterministic=True), 0, 0)
    staggered = run_replication(inputs, ModelParams(shift_hours=2.0, dump_bays=None, deterministic=True,
                                                    dispatch_interval_min=2.0), 0, 0)
    assert together.queue_hours * 60 == pytest.approx(0 + 2 + 4 + 6)  # the start-of-shift queue
    assert staggered.queue_hours == 0.0


def test_no_dump_queue_when_dump_bays_is_none():
    inputs = make_inputs(6, 3, phases_min=(1.0, 3.0, 4.0, 3.0))  # long dumps: one bay would queue
    none = run_replication(inputs, ModelParams(shift_hours=4.0, dump_bays=None, deterministic=True), 0, 0)
    one = run_replication(inputs, ModelParams(shift_hours=4.0, dump_bays=1, deterministic=True), 0, 0)
    plenty = run_replication(inputs, ModelParams(shift_hours=4.0, dump_bays=6, deterministic=True), 0, 0)
    assert none == plenty and one.loads < none.loads


@pytest.mark.parametrize("bad", [{"dump_bays": 0}, {"dispatch_interval_min": -1.0},
                                 {"dispatch_interval_min": float("nan")}])
def test_model_params_refuse_bad_values(bad):
    with pytest.raises(ValueError):
        ModelParams(**bad)
