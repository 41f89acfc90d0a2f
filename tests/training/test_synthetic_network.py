"""The haul-network sample mine's whole export (``python -m training.synthetic --network``): the network's
roads and routes, excavators at their pits, records with loading and dumping points, dump queues, and
the ``network.json`` the backtest reads."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from training.dataset import load_export
from training.errors import BadInputError
from training.synthetic import copy_fleet_tables, generate, main
from training.synthetic.network import NETWORK_FILE, ROUTE_CODE_PREFIX, export_network_mine, route_rows
from tests import paths

END = paths.REFERENCE_EXPORT_END
TRUCKS = 14


def read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def network_run(tmp_path_factory) -> Path:
    """4 days x 14 trucks of the network mine on the prototype's fleet tables."""
    folder = tmp_path_factory.mktemp("network") / "data"
    copy_fleet_tables(folder)
    generate(folder, days=4, trucks=TRUCKS, seed=3, end=END, network=True)
    return folder


def test_road_segments_are_the_network_and_one_inactive_route_per_pit_and_dump(network_run):
    mine = export_network_mine(TRUCKS)
    roads = read(network_run, "road_segments")
    edges, routes = roads[roads["isActive"]], roads[~roads["isActive"]]
    assert edges["code"].tolist() == [r.id for r in mine.roads] and "RAMP" in set(edges["code"])
    assert len(routes) == len(mine.pits) * len(mine.dumps)
    assert routes["code"].str.startswith(ROUTE_CODE_PREFIX).all()
    for row, x in zip(routes.itertuples(), route_rows(mine)):  # a route is the sum of its roads
        assert row.distance == pytest.approx(sum(r.distance_km for r, _ in x.legs))
        assert (row.startPoint, row.endPoint) == (mine.pits[x.pit].node, mine.dumps[x.dump].node)
    # the ROM pad is over the ramp (+8 %) from every pit: the loaded truck climbs on average
    assert (routes.loc[routes["endPoint"] == "ROM", "gradient"] > 0).all()


def test_records_name_their_points_and_route_and_the_excavators_sit_at_their_pits(network_run):
    cycles, roads = read(network_run, "hauling_activities"), read(network_run, "road_segments")
    excavators = read(network_run, "excavators")
    section = json.loads((network_run / NETWORK_FILE).read_text())
    pits = {p["id"]: p["excavators"] for p in section["loading_points"]}
    assert [len(ids) for ids in pits.values()] == [2, 2, 1]
    located = excavators.set_index("id")["currentLocation"]
    for pit, ids in pits.items():
        assert (located[ids] == pit).all()
        assert set(cycles.loc[cycles["loadingPointId"] == pit, "excavatorId"]) == set(ids)
    assert set(cycles["dumpingPointId"]) == {d["id"] for d in section["destinations"]}
    code = roads.set_index("id")["code"]
    assert (cycles["roadSegmentId"].map(code)
            == ROUTE_CODE_PREFIX + "-" + cycles["loadingPointId"] + "-" + cycles["dumpingPointId"]).all()
    # tonnes go to the dumps in their shares (60 / 40)
    rom = cycles.loc[cycles["dumpingPointId"] == "ROM", "loadWeight"].sum() / cycles["loadWeight"].sum()
    assert rom == pytest.approx(0.6, abs=0.02)


def test_trucks_wait_for_a_tipping_bay_and_dumping_starts_after_arrival(network_run):
    c = read(network_run, "hauling_activities")
    arrival, tip, end = (pd.to_datetime(c[k]) for k in ("arrivalTime", "dumpingStartTime", "dumpingEndTime"))
    wait_min = (tip - arrival).dt.total_seconds() / 60
    assert (wait_min >= 0).all() and (wait_min >= 1).any()
    assert ((end - tip).dt.total_seconds() / 60 == c["dumpingDuration"]).all()
    assert (c["totalCycleTime"] == c[["queueDuration", "loadingDuration", "delayMinutes", "haulingDuration",
                                      "dumpingDuration", "returnDuration"]].sum(axis=1) + wait_min).all()


def test_the_network_export_loads_without_quarantine_and_is_reproducible(network_run, tmp_path):
    export = load_export(network_run)
    assert export.report.total_quarantined == 0, export.report.lines()[:5]
    assert len(export.hauling_activities) == len(read(network_run, "hauling_activities"))
    again = tmp_path / "data"
    copy_fleet_tables(again)
    generate(again, days=4, trucks=TRUCKS, seed=3, end=END, network=True)
    for name in ("hauling_activities.csv", "road_segments.csv", "excavators.csv", NETWORK_FILE):
        assert (again / name).read_bytes() == (network_run / name).read_bytes(), name


def test_the_network_mine_places_its_own_excavators(tmp_path, capsys):
    with pytest.raises(BadInputError, match="excavators"):
        generate(tmp_path / "data", days=1, trucks=5, seed=1, end=END, network=True, excavators=3)
    with pytest.raises(BadInputError, match="at least 5 trucks"):
        generate(tmp_path / "few", days=1, trucks=2, seed=1, end=END, network=True)
    folder = tmp_path / "cli"
    assert main(["--data", str(folder), "--logs", str(tmp_path / "logs"), "--days", "1", "--trucks", "6",
                 "--end", END, "--network"]) == 0
    assert (folder / NETWORK_FILE).exists() and "network.json" in capsys.readouterr().out
    default = tmp_path / "default"
    generate(default, days=1, trucks=6, seed=1, end=END)
    assert not (default / NETWORK_FILE).exists()
    assert read(default, "hauling_activities")["loadingPointId"].isna().all()


def test_another_layout_the_same_mine_with_its_ramp_two_lane(tmp_path):
    mine = export_network_mine(TRUCKS)
    two_lane = dataclasses.replace(mine, roads=tuple(dataclasses.replace(r, single_lane=False) for r in mine.roads))
    folder = tmp_path / "data"
    copy_fleet_tables(folder)
    generate(folder, days=1, trucks=6, seed=3, end=END, network=True, network_mine=two_lane)
    section = json.loads((folder / NETWORK_FILE).read_text())
    assert section["single_lane"] == [] and "RAMP" in set(read(folder, "road_segments")["code"])
    assert read(folder, "hauling_activities")["truckId"].nunique() == 6
