"""The sample-mine generator: contract format, kept master tables, determinism, emergent queues."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.dataset import load_export
from training.errors import BadInputError
from training.ground_truth import RAIN, CycleContext, phase_means_min
from training.synthetic import HAULING_COLUMNS, HAULING_FILE, generate, main, write_csv
from tests import paths

REFERENCE = paths.REFERENCE_EXPORT
REF_END, FRESH_END = paths.REFERENCE_EXPORT_END, paths.GENERATED_FLEET_END
MASTER_FILES = ("trucks.csv", "excavators.csv", "operators.csv", "road_segments.csv", "maintenance_logs.csv")
STAMPS = ("queueStartTime", "queueEndTime", "loadingStartTime", "loadingEndTime", "departureTime", "arrivalTime",
          "dumpingStartTime", "dumpingEndTime", "returnTime")
PHASES = {"queueDuration": ("queueStartTime", "queueEndTime"),
          "loadingDuration": ("loadingStartTime", "loadingEndTime"),
          "haulingDuration": ("departureTime", "arrivalTime"),
          "dumpingDuration": ("dumpingStartTime", "dumpingEndTime"),
          "returnDuration": ("dumpingEndTime", "returnTime")}
SHIFT_START_UTC_HOUR = {"SHIFT_1": 0, "SHIFT_2": 8, "SHIFT_3": 16}  # 07, 15, 23 local (UTC+7)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CUID = re.compile(r"^c[0-9a-z]{24}$")


def copy_reference(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in REFERENCE.glob("*.csv"):
        shutil.copyfile(path, folder / path.name)
    return folder


def read(folder: Path, name: str = HAULING_FILE) -> pd.DataFrame:
    return pd.read_csv(folder / name, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def ref_run(tmp_path_factory) -> Path:
    """3 days x 12 trucks on a copy of the reference export."""
    folder = copy_reference(tmp_path_factory.mktemp("ref") / "data")
    generate(folder, days=3, trucks=12, seed=11, end=REF_END)
    return folder


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory) -> Path:
    """30 days x 12 trucks of a generated fleet: enough rainy shifts to compare with dry ones."""
    folder = tmp_path_factory.mktemp("fresh") / "data"
    generate(folder, days=30, trucks=12, seed=5, end=FRESH_END)
    return folder


# --- master tables and ids ------------------------------------------------------------------------

def test_master_tables_of_an_export_are_kept_byte_for_byte(ref_run):
    for name in MASTER_FILES:
        assert (ref_run / name).read_bytes() == (REFERENCE / name).read_bytes(), name
    assert {p.name for p in ref_run.glob("*.csv")} == set(MASTER_FILES) | {
        HAULING_FILE, "vessels.csv", "sailing_schedules.csv"}


def test_cycles_use_only_known_haul_trucks_excavators_operators_and_roads(ref_run):
    cycles = read(ref_run)
    trucks, excavators = read(ref_run, "trucks.csv"), read(ref_run, "excavators.csv")
    operators, roads = read(ref_run, "operators.csv"), read(ref_run, "road_segments.csv")
    haulers = trucks[(trucks["capacity"] >= 20) & trucks["isActive"]]
    assert len(cycles) > 500
    assert set(cycles["truckId"]) <= set(haulers["id"])
    assert "cmhsc28fi00013n5pp3m69brt" not in set(cycles["truckId"])  # the 2 t Hilux never hauls
    assert set(cycles["excavatorId"]) <= set(excavators[excavators["isActive"]]["id"])
    assert set(cycles["roadSegmentId"]) <= set(roads[roads["isActive"]]["id"])
    drivers = operators.set_index("id").loc[cycles["operatorId"]]
    assert (drivers["status"] == "ACTIVE").all()
    assert (drivers["shift"].to_numpy() == cycles["shift"].to_numpy()).all()  # operators work their own shift
    assert cycles["truckId"].nunique() == 12
    assert cycles["excavatorId"].nunique() == cycles["roadSegmentId"].nunique() <= 3  # ~1 per 5 trucks


def test_the_period_ends_at_the_last_whole_shift_before_the_export(ref_run):
    cycles = read(ref_run)
    latest_created = "2025-11-09T23:17:02.382Z"  # the reference export's latest createdAt (the Hilux)
    assert cycles["returnTime"].max() <= "2025-11-09T16:00:00.000Z" < latest_created
    assert cycles["queueStartTime"].min() >= "2025-11-06T16:00:00.000Z"  # 3 days earlier


def test_hauling_file_is_written_in_the_export_dialect(ref_run):
    with (ref_run / HAULING_FILE).open(newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == HAULING_COLUMNS
    raw = (ref_run / HAULING_FILE).read_text().splitlines()
    assert raw[0] == ",".join(f'"{c}"' for c in HAULING_COLUMNS)
    field = re.compile(r'("(?:[^"]|"")*"|[^,]*)(?:,|$)')
    cycles = read(ref_run)
    quoted = {c for c in HAULING_COLUMNS if cycles[c].dtype == object} - {"isDelayed"}
    for line in raw[1:200]:
        fields = field.findall(line)[: len(HAULING_COLUMNS)]
        for name, text in zip(HAULING_COLUMNS, fields):
            if text == "":
                assert name in {"delayReasonId", "supervisorId", "loadingPointId", "dumpingPointId", "remarks"}
            elif name in quoted:
                assert text.startswith('"') and text.endswith('"'), (name, text)
            elif name == "isDelayed":
                assert text in ("true", "false")
            else:
                assert re.fullmatch(r"-?\d+(\.\d+)?", text), (name, text)  # bare number, 30 not 30.0
    assert cycles["id"].map(CUID.match).all() and cycles["id"].is_unique
    assert cycles["activityNumber"].str.fullmatch(r"HA-\d{8}-\d{4}").all() and cycles["activityNumber"].is_unique
    for column in STAMPS + ("createdAt", "updatedAt"):
        assert cycles[column].str.match(ISO_MS).all(), column


def test_write_csv_quotes_text_and_leaves_numbers_booleans_and_nulls_bare(tmp_path):
    frame = pd.DataFrame({"a": ['x "y"', None], "n": [3, 4], "f": [21.0, 0.5], "b": [True, False],
                          "j": ['{"k":1}', "z"]})
    text = write_csv(tmp_path / "t.csv", frame).read_text()
    assert text == '"a","n","f","b","j"\n"x ""y""",3,21,true,"{""k"":1}"\n,4,0.5,false,"z"\n'


# --- the cycles ----------------------------------------------------------------------------------

@pytest.mark.parametrize("run", ["ref_run", "fresh_run"])
def test_timestamps_are_ordered_and_durations_match_them(run, request):
    cycles = read(request.getfixturevalue(run))
    stamps = {c: pd.to_datetime(cycles[c], utc=True) for c in STAMPS}
    for earlier, later in zip(STAMPS, STAMPS[1:]):
        assert (stamps[earlier] <= stamps[later]).all(), (earlier, later)
    for duration, (start, end) in PHASES.items():
        minutes = (stamps[end] - stamps[start]).dt.total_seconds() / 60
        assert (minutes == cycles[duration]).all(), duration
    delay = (stamps["departureTime"] - stamps["loadingEndTime"]).dt.total_seconds() / 60
    assert (delay == cycles["delayMinutes"]).all()
    assert (cycles["isDelayed"] == (cycles["delayMinutes"] > 0)).all()
    total = cycles[list(PHASES)].sum(axis=1) + cycles["delayMinutes"]
    assert (total == cycles["totalCycleTime"]).all()
    assert (cycles[["loadingDuration", "haulingDuration", "dumpingDuration", "returnDuration"]] >= 1).all().all()


@pytest.mark.parametrize("run", ["ref_run", "fresh_run"])
def test_every_cycle_starts_and_ends_inside_its_shift(run, request):
    cycles = read(request.getfixturevalue(run))
    start = pd.to_datetime(cycles["queueStartTime"], utc=True)
    end = pd.to_datetime(cycles["returnTime"], utc=True)
    shift_start = start.dt.floor("8h")
    assert (shift_start.dt.hour.to_numpy() == cycles["shift"].map(SHIFT_START_UTC_HOUR).to_numpy()).all()
    assert (end <= shift_start + pd.Timedelta(hours=8)).all()


def test_statuses_weather_and_loads_are_plausible(fresh_run):
    cycles = read(fresh_run)
    share = cycles["status"].value_counts(normalize=True)
    assert share["COMPLETED"] > 0.6 and 0.02 < share["DELAYED"] < 0.35
    assert set(share.index) <= {"COMPLETED", "DELAYED", "INCIDENT", "CANCELLED"}
    assert set(cycles["weatherCondition"]) <= {"CERAH", "BERAWAN", "MENDUNG", "HUJAN_RINGAN", "HUJAN_SEDANG",
                                               "HUJAN_LEBAT", "BADAI", "KABUT"}
    assert set(cycles["roadCondition"]) <= {"EXCELLENT", "GOOD", "FAIR", "POOR", "LICIN"}
    efficiency = cycles["loadWeight"] / cycles["targetWeight"] * 100
    assert np.allclose(efficiency, cycles["loadEfficiency"], atol=0.01)
    assert cycles["loadEfficiency"].between(50, 120).all()  # 120 % = the overload cap
    assert (cycles["fuelConsumed"] > 0).all()


def test_phase_times_follow_the_ground_truth(fresh_run):
    """Observed mean loaded-haul and loading minutes match the truth's means for the same contexts.

    Whole-minute stamps are floors of both ends, so recorded durations are unbiased; 3 % allows for
    the lognormal spread over ~5,000 cycles (se < 1 %) and for cycles dropped at shift end.
    """
    cycles = read(fresh_run)
    cycles = cycles[cycles["delayMinutes"] == 0]
    trucks = read(fresh_run, "trucks.csv").set_index("id").loc[cycles["truckId"]]
    excavators = read(fresh_run, "excavators.csv").set_index("id").loc[cycles["excavatorId"]]
    roads = read(fresh_run, "road_segments.csv").set_index("id").loc[cycles["roadSegmentId"]]
    operators = read(fresh_run, "operators.csv").set_index("id").loc[cycles["operatorId"]]
    years = operators["competency"].map(lambda s: json.loads(s)["years_experience"]).to_numpy()
    truth = phase_means_min(CycleContext(
        distance_km=roads["distance"].to_numpy(), max_speed_kmh=roads["maxSpeed"].to_numpy(),
        gradient_pct=roads["gradient"].to_numpy(), road_condition=cycles["roadCondition"].to_numpy(),
        weather=cycles["weatherCondition"].to_numpy(), shift=cycles["shift"].to_numpy(),
        operator_years_experience=years, truck_capacity_t=trucks["capacity"].to_numpy(),
        bucket_capacity_m3=excavators["bucketCapacity"].to_numpy()))
    assert cycles["haulingDuration"].mean() == pytest.approx(truth["hauling"].mean(), rel=0.03)
    assert cycles["loadingDuration"].mean() == pytest.approx(truth["loading"].mean(), rel=0.03)


def test_rain_raises_the_delay_rate_and_lengthens_hauls(fresh_run):
    """Fixed seed, ~90 shifts of which ~25 rainy: each group holds thousands of cycles, so the
    standard error of a rate is ~1 point; the truth's gaps are far larger than the margins used."""
    cycles = read(fresh_run)
    rain = cycles["weatherCondition"].isin(RAIN)
    dry = cycles["weatherCondition"].isin(["CERAH", "BERAWAN"])
    assert rain.sum() > 1000 and dry.sum() > 1000
    assert cycles.loc[rain, "isDelayed"].mean() > cycles.loc[dry, "isDelayed"].mean() + 0.1
    pace = cycles["haulingDuration"] / cycles["distance"]  # min/km, fair across roads of any length
    assert pace[rain].mean() > 1.1 * pace[dry].mean()


def test_queues_emerge_only_from_sharing_an_excavator(tmp_path):
    generate(tmp_path / "one", days=3, trucks=1, excavators=1, seed=3, end=FRESH_END)
    generate(tmp_path / "many", days=2, trucks=12, excavators=1, seed=3, end=FRESH_END)
    alone, crowded = read(tmp_path / "one"), read(tmp_path / "many")
    assert len(alone) > 50 and (alone["queueDuration"] == 0).all()
    # 12 trucks on one ~2-minute loader with ~25-minute cycles keep it near saturation: queues of minutes.
    assert crowded["queueDuration"].mean() > 2.0
    loading = crowded.sort_values("loadingStartTime")
    starts = pd.to_datetime(loading["loadingStartTime"], utc=True)
    ends = pd.to_datetime(loading["loadingEndTime"], utc=True)
    assert (starts.to_numpy()[1:] >= ends.to_numpy()[:-1]).all()  # one truck under the bucket at a time


# --- determinism and safety -----------------------------------------------------------------------

def test_the_same_seed_gives_byte_identical_files(ref_run, tmp_path):
    again = copy_reference(tmp_path / "again")
    generate(again, days=3, trucks=12, seed=11, end=REF_END)
    for name in (HAULING_FILE, "vessels.csv", "sailing_schedules.csv"):
        assert (again / name).read_bytes() == (ref_run / name).read_bytes(), name
    other = copy_reference(tmp_path / "other")
    generate(other, days=3, trucks=12, seed=12, end=REF_END)
    assert (other / HAULING_FILE).read_bytes() != (ref_run / HAULING_FILE).read_bytes()


def test_existing_cycles_are_only_replaced_with_force(tmp_path):
    folder = tmp_path / "data"
    generate(folder, days=1, trucks=3, seed=1, end=FRESH_END)
    before = (folder / HAULING_FILE).read_bytes()
    with pytest.raises(BadInputError, match="--force"):
        generate(folder, days=1, trucks=3, seed=2)
    assert (folder / HAULING_FILE).read_bytes() == before
    assert main(["--data", str(folder), "--logs", str(tmp_path / "logs"), "--days", "1", "--seed", "2"]) == 2
    trucks_before = (folder / "trucks.csv").read_bytes()
    generate(folder, days=1, trucks=3, seed=2, force=True)
    assert (folder / HAULING_FILE).read_bytes() != before
    assert (folder / "trucks.csv").read_bytes() == trucks_before  # the fleet written first is now kept


def test_partial_master_tables_are_refused(tmp_path):
    tmp_path.joinpath("data").mkdir()
    shutil.copyfile(REFERENCE / "trucks.csv", tmp_path / "data" / "trucks.csv")
    with pytest.raises(BadInputError, match="excavators"):
        generate(tmp_path / "data", days=1, trucks=3, seed=1)


def test_fleet_tables_without_a_maintenance_log_get_one_for_the_units_used(tmp_path):
    folder = copy_reference(tmp_path / "data")
    (folder / "maintenance_logs.csv").unlink()
    generate(folder, days=2, trucks=5, seed=4, end=REF_END)
    logs, cycles = read(folder, "maintenance_logs.csv"), read(folder)
    assert set(logs["truckId"].dropna()) == set(cycles["truckId"])  # every truck has its services logged
    assert set(logs["excavatorId"].dropna()) <= set(read(folder, "excavators.csv")["id"])
    assert load_export(folder).report.total_quarantined == 0


def test_command_line_writes_the_files_a_report_and_a_summary(tmp_path, capsys):
    code = main(["--data", str(tmp_path / "data"), "--logs", str(tmp_path / "logs"), "--days", "1",
                 "--trucks", "4", "--seed", "9", "--end", "2025-06-01", "--generated-fleet"])
    assert code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("synthetic: wrote 8 files") and "hauling_activities" in out and "\n" not in out
    report = json.loads((tmp_path / "logs" / "synthetic_report.json").read_text())
    assert report["rows"]["trucks"] == 4 and report["period_end"] == "2025-06-01T00:00:00.000Z"
    assert read(tmp_path / "data")["returnTime"].max() <= "2025-06-01T00:00:00.000Z"


# --- a generated fleet --------------------------------------------------------------------------

def test_a_fresh_fleet_has_every_master_table_in_the_reference_format(fresh_run):
    for name in MASTER_FILES:
        with (REFERENCE / name).open(newline="") as ref, (fresh_run / name).open(newline="") as gen:
            assert next(csv.reader(gen)) == next(csv.reader(ref)), name
    trucks = read(fresh_run, "trucks.csv")
    assert len(trucks) == 12 and (trucks["capacity"] >= 20).all() and trucks["id"].map(CUID.match).all()
    operators = read(fresh_run, "operators.csv")
    competency = operators["competency"].map(json.loads)
    assert competency.map(lambda c: set(c) == {"dump_truck", "heavy_equipment", "years_experience"}).all()
    assert set(operators["shift"]) == {"SHIFT_1", "SHIFT_2", "SHIFT_3"}
    assert {p.name for p in fresh_run.glob("*.csv")} == set(MASTER_FILES) | {
        HAULING_FILE, "vessels.csv", "sailing_schedules.csv"}


def test_generated_maintenance_logs_match_the_breakdowns(fresh_run):
    logs = read(fresh_run, "maintenance_logs.csv")
    cycles = read(fresh_run)
    truck_repairs = logs[(logs["maintenanceType"] == "CORRECTIVE") & logs["truckId"].notna()]
    assert len(truck_repairs) == (cycles["status"] == "CANCELLED").sum() > 0  # one cancelled cycle per breakdown
    done = logs[logs["status"] == "COMPLETED"]
    hours = (pd.to_datetime(done["completionDate"]) - pd.to_datetime(done["actualDate"])).dt.total_seconds() / 3600
    assert (hours == done["downtimeHours"]).all() and (done["duration"] == done["downtimeHours"]).all()
    preventive = logs[logs["maintenanceType"] == "PREVENTIVE"]
    assert set(preventive["truckId"].dropna()) == set(read(fresh_run, "trucks.csv")["id"])
    # No truck hauls while it is in the workshop.
    start = pd.to_datetime(cycles["queueStartTime"])
    end = pd.to_datetime(cycles["returnTime"])
    for _, job in done[done["truckId"].notna()].iterrows():
        own = cycles["truckId"] == job["truckId"]
        a, b = pd.Timestamp(job["actualDate"]), pd.Timestamp(job["completionDate"])
        assert not ((start[own] < b) & (end[own] > a)).any()


def test_vessels_and_schedules_are_plausible(fresh_run):
    vessels, schedules = read(fresh_run, "vessels.csv"), read(fresh_run, "sailing_schedules.csv")
    assert list(vessels.columns) == ["id", "name", "type", "capacity", "createdAt"]
    assert list(schedules.columns) == ["id", "vesselId", "loadingPort", "destination", "etaLoading", "etsLoading",
                                       "plannedQuantity", "actualQuantity", "buyer", "status", "createdAt"]
    assert 3 <= len(schedules) and set(schedules["vesselId"]) <= set(vessels["id"])
    assert (schedules["etaLoading"] < schedules["etsLoading"]).all()
    capacity = vessels.set_index("id").loc[schedules["vesselId"], "capacity"].to_numpy()
    assert (schedules["plannedQuantity"].to_numpy() <= capacity).all()
    assert "SCHEDULED" in set(schedules["status"])  # calls after the period for the planner


@pytest.mark.parametrize("run", ["ref_run", "fresh_run"])
def test_output_loads_through_the_validating_loader_without_quarantine(run, request):
    export = load_export(request.getfixturevalue(run))
    assert export.report.total_quarantined == 0, export.report.lines()[:5]
    assert len(export.hauling_activities) == len(read(request.getfixturevalue(run)))


# --- the default site -----------------------------------------------------------------------------

#: Ids the prototype's Streamlit dashboard posts by default (target_road_id, target_excavator_id).
DASHBOARD_ROAD_ID = "cmhsbjn8x02s2maft90hi31ty"
DASHBOARD_EXCAVATOR_ID = "cmhsbjpma05ddmaft5kv95dom"
#: An end of period in the dashboard's present (any date works; pinned so the files are reproducible).
TODAY = "2026-12-02T10:20:00Z"


def default_site(folder: Path, logs: Path, seed: int = 9, end: str = TODAY) -> int:
    return main(["--data", str(folder), "--logs", str(logs), "--days", "3", "--trucks", "8", "--seed", str(seed),
                 "--end", end])


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """The command on an empty folder: the prototype's fleet tables, a period ending 'today'."""
    root = tmp_path_factory.mktemp("default")
    assert default_site(root / "data", root / "logs") == 0
    return root / "data"


def test_an_empty_folder_gets_the_prototypes_fleet_with_its_ids(default_run):
    for name in ("trucks.csv", "excavators.csv", "operators.csv", "road_segments.csv"):
        assert (default_run / name).read_bytes() == (REFERENCE / name).read_bytes(), name
    assert DASHBOARD_ROAD_ID in set(read(default_run, "road_segments.csv")["id"])
    assert DASHBOARD_EXCAVATOR_ID in set(read(default_run, "excavators.csv")["id"])
    cycles = read(default_run)
    assert set(cycles["truckId"]) <= set(read(default_run, "trucks.csv")["id"])
    # The period's own maintenance log (the shipped one ends in 2025 and would make every unit overdue).
    logs = read(default_run, "maintenance_logs.csv")
    assert logs["actualDate"].max() > "2026-11-01" and (default_run / "maintenance_logs.csv").read_bytes() != (
        REFERENCE / "maintenance_logs.csv").read_bytes()
    assert load_export(default_run).report.total_quarantined == 0


def test_the_period_ends_at_the_given_end_and_the_line_up_runs_past_it(default_run):
    cycles = read(default_run)
    assert "2026-12-02T00:00:00.000Z" < cycles["returnTime"].max() <= "2026-12-02T08:00:00.000Z"
    assert cycles["queueStartTime"].min() >= "2026-11-29T08:00:00.000Z"  # 3 days before the last shift's end
    schedules = read(default_run, "sailing_schedules.csv")
    upcoming = schedules[schedules["status"] == "SCHEDULED"]
    assert len(upcoming) >= 1
    assert (upcoming["etaLoading"] > TODAY[:10]).all() and (upcoming["etaLoading"] <= "2026-12-16T08:00:00Z").all()
    completed = schedules[schedules["status"] == "COMPLETED"]
    assert len(completed) >= 1 and (completed["etsLoading"] <= "2026-12-02T08:00:00Z").all()


@pytest.mark.parametrize("seed", range(6))
def test_every_line_up_has_an_upcoming_call_in_the_next_two_weeks(tmp_path, seed):
    generate(tmp_path / "data", days=1, trucks=2, seed=seed, end=TODAY)
    schedules = read(tmp_path / "data", "sailing_schedules.csv")
    upcoming = schedules[schedules["status"] == "SCHEDULED"]["etaLoading"]
    assert ((upcoming > "2026-12-02T08:00:00Z") & (upcoming <= "2026-12-16T08:00:00Z")).any()


def test_the_default_site_is_reproducible_from_seed_and_end(default_run, tmp_path):
    assert default_site(tmp_path / "data", tmp_path / "logs") == 0
    for path in default_run.glob("*.csv"):
        assert (tmp_path / "data" / path.name).read_bytes() == path.read_bytes(), path.name


def test_without_an_end_the_period_ends_now(tmp_path):
    import time

    before = time.time()
    summary = generate(tmp_path / "data", days=1, trucks=2, seed=1)
    end = pd.Timestamp(summary.period_end).timestamp()
    assert before - 8 * 3600 <= end <= time.time()  # the last whole 8-hour shift before now
