"""Reliability from the records: truck repairs after a breakdown-cancelled cycle, excavator outages
seen as an idle fleet, and the logs' corrective records."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.reliability import OUTAGE_MIN_IDLE_HOURS, excavator_outages, fit_reliability, truck_repair_hours

T0 = pd.Timestamp("2025-11-03T00:00:00Z")


def _hauling(cycles: list[tuple[str, str, float, float, str]]) -> pd.DataFrame:
    """(truck, excavator, arrival h, return h, status) per cycle, hours after T0."""
    rows = []
    for k, (truck, exc, arrive, back, status) in enumerate(cycles):
        rows.append({"id": f"c{k}", "truckId": truck, "excavatorId": exc, "shift": "SHIFT_1", "status": status,
                     "queueStartTime": T0 + pd.Timedelta(hours=arrive),
                     "loadingStartTime": T0 + pd.Timedelta(hours=arrive),
                     "returnTime": T0 + pd.Timedelta(hours=back)})
    return pd.DataFrame(rows)


def _steady(exc: str, trucks: tuple[str, ...], hours: float, start: float = 0.0) -> list:
    """Trucks cycling 0.5 h each, 0.1 h apart, so the fleet is never idle."""
    out = []
    for i, t in enumerate(trucks):
        at = start + 0.1 * i
        while at + 0.5 <= start + hours:
            out.append((t, exc, at, at + 0.5, "COMPLETED"))
            at += 0.5
    return out


def test_truck_repair_is_the_time_from_the_cancelled_cycle_to_its_next_arrival():
    cycles = [("T1", "E1", 0.0, 0.5, "COMPLETED"), ("T1", "E1", 0.5, 1.0, "CANCELLED"),
              ("T1", "E1", 7.0, 7.5, "COMPLETED"), ("T2", "E1", 0.0, 0.5, "CANCELLED")]  # T2 never came back
    assert truck_repair_hours(_hauling(cycles)).tolist() == pytest.approx([6.0])


def test_an_idle_fleet_is_an_excavator_outage_unless_a_truck_broke_down_or_it_was_logged():
    cycles = (_steady("E1", ("T1", "T2"), 3.0)
              + _steady("E1", ("T1", "T2"), 3.0, start=8.0)     # fleet idle 3.0 -> 8.0 h: an outage of 5 h
              + _steady("E2", ("T3",), 1.0)
              + [("T3", "E2", 1.0, 1.5, "CANCELLED")]
              + _steady("E2", ("T3",), 1.0, start=6.0))          # idle after a cancelled cycle: the truck's
    hauling = _hauling(cycles)
    hours = excavator_outages(hauling, None)
    assert hours.tolist() == pytest.approx([5.0])
    logs = pd.DataFrame({"excavatorId": ["E1"], "truckId": [None], "maintenanceType": ["PREVENTIVE"],
                         "status": ["COMPLETED"], "actualDate": [T0 + pd.Timedelta(hours=3)],
                         "completionDate": [T0 + pd.Timedelta(hours=7)], "downtimeHours": [4]})
    assert excavator_outages(hauling, logs).size == 0  # a planned service, not a failure
    # Short idles (a shift change) are not outages.
    short = _hauling(_steady("E1", ("T1",), 2.0) + _steady("E1", ("T1",), 2.0, start=2.0 + OUTAGE_MIN_IDLE_HOURS / 2))
    assert excavator_outages(short, None).size == 0


def test_fit_uses_outages_and_repairs_from_the_hauling_records_when_the_logs_are_silent():
    # Excavator E1 works 2-h blocks 10 h apart (an 8-h outage between two blocks); truck T9 is repaired
    # for 6 h three times (on excavators of its own, whose fleets never idle after a completed cycle).
    cycles = []
    for k in range(3):
        cycles += _steady("E1", ("T1", "T2"), 2.0, start=10.0 * k)
        cycles += [("T9", f"X{k}", 10.0 * k, 10.0 * k + 0.5, "CANCELLED"),
                   ("T9", f"X{k}", 10.0 * k + 6.5, 10.0 * k + 7.0, "COMPLETED")]
    hauling = _hauling(cycles)
    frame = pd.DataFrame({"truckId": hauling["truckId"], "excavatorId": hauling["excavatorId"],
                          "at": hauling["loadingStartTime"], "shift": hauling["shift"]})
    logs = pd.DataFrame(columns=["truckId", "excavatorId", "maintenanceType", "status", "actualDate",
                                 "completionDate", "downtimeHours"])
    fit = fit_reliability(frame, logs, breakdown_cycles=3, hauling=hauling)
    e, t = fit["excavator"], fit["truck"]
    assert e.failures == 2 and "prior" in e.source  # two gaps between three blocks: below min_failures
    assert t.failures == 3 and t.mttr_hours == pytest.approx(6.0) and t.repair_hours == pytest.approx((6.0,) * 3)
    assert "repairs seen in the hauling records" in t.source
    cycles += _steady("E1", ("T1", "T2"), 2.0, start=30.0) + _steady("E1", ("T1", "T2"), 2.0, start=40.0)
    hauling = _hauling(cycles)
    frame = pd.DataFrame({"truckId": hauling["truckId"], "excavatorId": hauling["excavatorId"],
                          "at": hauling["loadingStartTime"], "shift": hauling["shift"]})
    e = fit_reliability(frame, logs, breakdown_cycles=3, hauling=hauling)["excavator"]
    assert e.failures == 4 and e.source.startswith("fitted")
    assert e.mttr_hours == pytest.approx(8.0) and e.mtbf_hours == pytest.approx(e.operating_hours / 4)
    assert np.all(np.isclose(e.repair_hours, 8.0))
