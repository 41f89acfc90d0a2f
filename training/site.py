"""Site calibration: what the hauling records say about the pit beyond the per-cycle models.

Fitted on the training split's cycles (never the holdout, which the backtest replays) and kept in
the bundle (``site.json``):

* **Dump capacity.** A truck that arrived at the dump and started dumping later waited for a place
  (``dumpingStartTime - arrivalTime``). When at most :data:`MIN_DUMP_QUEUE_SHARE` of the cycles show
  such a wait, the dump never held a truck up and the simulator keeps no dump queue (``dump_bays``
  None, evidence ``no_queue``). Otherwise the capacity is the most trucks seen dumping at once at one
  dumping point (the road segment when the point is not recorded), evidence ``queue``. Without the
  timestamps the evidence is ``no_data`` and the simulator's named default applies.
* **Dispatch interval.** Trucks leave the shift's line-up one at a time: per shift group (shift start,
  excavator) the span of its trucks' first arrivals divided by the gaps between them; the median
  over groups, minutes. Cycles that name their loading point (``loadingPointId``) are a haul
  network's, whose trucks leave one line-up for all its pits (the network simulator releases the
  whole fleet one after another): their group is the shift (:func:`lineup_groups`), and its gap the
  median of the pairwise gaps per rank (:func:`theil_sen_gap`), which a late joiner does not stretch.
* **Late joins.** A truck still in the workshop at the shift's start (a repair carried over from the
  shift before) joins its fleet hours late. Per shift group, each truck's first arrival is compared with
  its place in the line-up (the group's first arrival + rank x dispatch interval; groups as for the
  dispatch interval); a truck more than
  :data:`LATE_JOIN_MIN_MIN` behind it joined late. Kept: the share of truck-shifts that did
  (``late_join_share``) and the quantiles of how late (``late_join_min``); the simulator draws a late
  start per truck and replication from them.
* **Incidents by condition.** INCIDENT cycles per cycle, pooled and per weather and road condition,
  each shrunk towards the pooled rate with :data:`INCIDENT_PRIOR_CYCLES` pseudo-cycles (incidents are
  rare: a condition with few cycles keeps about the pooled rate). The probability of a condition pair is
  the pooled rate times the weather's and the road condition's ratios to it.
* **Shift-level phase effects.** How far a shift group's phase times sit from the champion's means, beyond
  what the cycle-to-cycle spread explains: per phase, the between-group variance of the log-duration
  residuals (variance of the group means minus the mean within-group variance over the group size,
  groups of at least :data:`MIN_GROUP_CYCLES` cycles), as a log-sd (``phase_shift_sd``). It is the
  champion's error for a given fleet, road and conditions plus whatever moves a whole shift; the
  simulator draws one such factor per phase and replication.
* **Payload and loaded speed.** Whether a heavier load hauls slower than the champion expects: the
  least-squares slope of the hauling log-residuals on the payload's deviation from its truck's mean
  payload (both taken within each truck), per tonne. Kept (``haul_payload_slope_per_t``) when its t
  statistic reaches :data:`MIN_PAYLOAD_SLOPE_T` on at least :data:`MIN_PAYLOAD_CYCLES` cycles, else 0
  (the records show no dependence beyond the truck's class, which the models already see); the haul
  network's simulator then lengthens a cycle's loaded travel by ``exp(slope x payload residual)``.
* **Network traffic.** The median number of trucks on a haul network's shift (cycles naming their
  ``loadingPointId``): the traffic in which the records' travel minutes were driven, so the minutes
  the champion learned include the following behind slower trucks on single-lane roads at that
  traffic (``network_trucks_per_shift``; the network simulator takes that following out of its
  single-lane legs before it adds its own, ``simulator.network_engine.following_allowance``).
* **Conditions seen.** Training cycles and shifts per weather and per road condition: the domain in
  which the champion's models have evidence. A request or a replayed shift outside it (fewer than
  :data:`MIN_CONDITION_SHIFTS` shifts) is extrapolation and is flagged as such.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.schema import shift_starts

#: |t| the payload slope of the loaded travel time must reach to be used (about a 5 % two-sided test).
MIN_PAYLOAD_SLOPE_T: float = 2.0
#: Fewest cycles with a payload and a hauling residual for the payload slope to be measured.
MIN_PAYLOAD_CYCLES: int = 200
#: Waits shorter than this are the timestamps' rounding, not a queue, min (the records hold whole minutes).
DUMP_WAIT_TOLERANCE_MIN: float = 1.0
#: Largest share of cycles with a dump wait at which the dump still counts as never holding trucks up
#: (one cycle in a hundred: a stray timestamp, not a queue), share.
MIN_DUMP_QUEUE_SHARE: float = 0.01
#: Fewest training shifts with a weather (or road condition) for the champion to know it. The models
#: learn a condition's effect from whole shifts (a shift's cycles share its weather and road), and
#: three is the fewest that give a spread; fewer is extrapolation, shift.
MIN_CONDITION_SHIFTS: int = 3
EVIDENCE: tuple[str, ...] = ("queue", "no_queue", "no_data")
#: A truck whose first arrival is this much behind its place in the line-up joined late (it was out of
#: service at the start): beyond the line-up's spread and the whole-minute recording (on the sample mine
#: 96 % of truck-shifts are within 1.5 min of their place, and the late ones are hours late), min.
LATE_JOIN_MIN_MIN: float = 10.0
#: Quantiles kept of a measured distribution (late-join minutes, repair hours): enough to resample
#: its shape, small enough for a JSON file, count.
DISTRIBUTION_QUANTILES: int = 101
#: Pseudo-cycles at the pooled incident rate added to each condition's counts (shrinkage: a condition
#: needs several thousand cycles, a few expected incidents, before its own rate dominates), cycles.
INCIDENT_PRIOR_CYCLES: float = 2000.0
#: Fewest finished cycles of a shift group that enters the between-group variance (a whole shift of one
#: excavator runs 20-100; fewer is a fleet that joined for a few cycles), cycles.
MIN_GROUP_CYCLES: int = 10
#: Cycle status of an incident (the unit stopped for recovery; the cycle still finished).
INCIDENT_STATUS: str = "INCIDENT"
_SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class SiteCalibration:
    """The site figures a bundle carries (see the module docstring)."""

    dump_evidence: str = "no_data"              # one of EVIDENCE
    dump_bays: int | None = None                # trucks dumping at once when a queue was seen
    dump_wait_share: float = math.nan           # share of cycles that waited to dump
    dispatch_interval_min: float = 0.0          # minutes between two trucks leaving the line-up
    weather_shifts: dict[str, int] = field(default_factory=dict)         # training shifts per weather
    road_condition_shifts: dict[str, int] = field(default_factory=dict)  # training shifts per condition
    late_join_share: float = 0.0                # share of truck-shifts whose truck joined late
    late_join_min: list[float] = field(default_factory=list)  # quantiles of how late, min
    incident_rate: float = math.nan             # INCIDENT cycles per cycle, pooled
    incident_ratio_by_weather: dict[str, float] = field(default_factory=dict)  # shrunk rate / pooled rate
    incident_ratio_by_road_condition: dict[str, float] = field(default_factory=dict)
    phase_shift_sd: dict[str, float] = field(default_factory=dict)  # per phase, log-sd of a shift group's effect
    haul_payload_slope_per_t: float = 0.0       # d log(loaded travel) / d payload above the truck's mean, 1/t
    network_trucks_per_shift: float = 0.0       # median trucks on a haul network's shift (0: no network records)
    notes: dict[str, str] = field(default_factory=dict)                  # how each figure was found

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SiteCalibration":
        """From ``to_dict``'s output; an empty or missing dict (a bundle written before) gives the defaults."""
        data = dict(data or {})
        for name in ("dump_wait_share", "incident_rate"):
            if data.get(name) is None:
                data[name] = math.nan
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def incident_probability(self, weather: str, road_condition: str) -> float | None:
        """Incidents per cycle in these conditions (None without incident evidence: no cycles counted)."""
        if not math.isfinite(self.incident_rate):
            return None
        p = (self.incident_rate * self.incident_ratio_by_weather.get(str(weather), 1.0)
             * self.incident_ratio_by_road_condition.get(str(road_condition), 1.0))
        return float(min(max(p, 0.0), 1.0))

    def unseen_conditions(self, weather: str, road_condition: str,
                          min_shifts: int = MIN_CONDITION_SHIFTS) -> list[str]:
        """Human-readable reasons why (weather, road condition) is outside the training evidence
        (empty when both were seen often enough, or when the bundle predates the record)."""
        out = []
        for label, value, seen in (("weather", weather, self.weather_shifts),
                                   ("road condition", road_condition, self.road_condition_shifts)):
            if seen and seen.get(str(value), 0) < min_shifts:
                out.append(f"{label} {value} was seen on {seen.get(str(value), 0)} training shift(s) "
                           f"(fewer than {min_shifts}): the models extrapolate")
        return out


def shift_keys(cycles: pd.DataFrame) -> pd.Series:
    """A key per cycle naming its shift: the shift's start (UTC) and the shift name."""
    start = shift_starts(cycles["loadingStartTime"], cycles["shift"])
    return start.dt.strftime("%Y-%m-%dT%H:%M") + "/" + cycles["shift"].astype(str)


def dump_capacity(cycles: pd.DataFrame) -> tuple[str, int | None, float, str]:
    """(evidence, bays, wait share, note) from the cycles' arrival and dumping timestamps."""
    needed = {"arrivalTime", "dumpingStartTime", "dumpingEndTime"}
    if not needed <= set(cycles.columns):
        return "no_data", None, math.nan, f"no {sorted(needed - set(cycles.columns))} columns"
    c = cycles.dropna(subset=sorted(needed))
    if c.empty:
        return "no_data", None, math.nan, "no cycle has arrival and dumping timestamps"
    wait = (c["dumpingStartTime"] - c["arrivalTime"]).dt.total_seconds() / _SECONDS_PER_MINUTE
    share = float((wait >= DUMP_WAIT_TOLERANCE_MIN).mean())
    if share <= MIN_DUMP_QUEUE_SHARE:
        return "no_queue", None, share, (f"{share:.2%} of {len(c)} cycles waited to dump "
                                         f"(<= {MIN_DUMP_QUEUE_SHARE:.0%}): no dump queue")
    point = c["dumpingPointId"] if "dumpingPointId" in c else pd.Series(None, index=c.index)
    point = point.astype(object).where(point.notna(), c.get("roadSegmentId", pd.Series("", index=c.index)))
    bays = max(_max_overlap(g["dumpingStartTime"], g["dumpingEndTime"]) for _, g in c.groupby(point.astype(str)))
    return "queue", int(max(bays, 1)), share, (f"{share:.2%} of {len(c)} cycles waited to dump; at most {bays} "
                                               f"trucks dumped at once at one point")


def _max_overlap(starts: pd.Series, ends: pd.Series) -> int:
    """Most intervals [start, end) open at one instant (an end at t closes before a start at t)."""
    s = starts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    e = ends.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    times = np.concatenate([s, e])
    steps = np.concatenate([np.ones(len(s), dtype=np.int64), -np.ones(len(e), dtype=np.int64)])
    order = np.lexsort((steps, times))  # at equal times, closing (-1) before opening (+1)
    return int(np.cumsum(steps[order]).max()) if len(order) else 0


#: The line-up group of a haul network's cycles (those naming a ``loadingPointId``): the whole shift.
NETWORK_LINEUP: str = "<network>"


def lineup_groups(cycles: pd.DataFrame) -> np.ndarray:
    """Per cycle, the line-up it left within its shift: its excavator's, or the whole network's
    (:data:`NETWORK_LINEUP`) for a cycle that names its loading point."""
    excavator = cycles["excavatorId"].astype(str)
    if "loadingPointId" not in cycles:
        return excavator.to_numpy()
    return excavator.where(cycles["loadingPointId"].isna(), NETWORK_LINEUP).to_numpy()


def theil_sen_gap(minutes: np.ndarray) -> float:
    """The line-up's gap: the median over pairs of trucks of (later - earlier arrival) / (rank apart),
    for first arrivals sorted ascending, min. A network's line-up holds tens of trucks and most shifts
    a truck that joined late from the workshop; the mean gap (span / (n - 1)) would spread its lateness
    over every gap, the median of pairwise slopes ignores it (up to ~29 % of late trucks)."""
    i, j = np.triu_indices(len(minutes), k=1)
    return float(np.median((minutes[j] - minutes[i]) / (j - i))) if len(i) else 0.0


def dispatch_interval(cycles: pd.DataFrame, keys: pd.Series) -> tuple[float, str]:
    """(minutes, note): median over shift groups of the mean gap between the trucks' first arrivals."""
    first = cycles["queueStartTime"].fillna(cycles["loadingStartTime"]) if "queueStartTime" in cycles \
        else cycles["loadingStartTime"]
    frame = pd.DataFrame({"key": keys.to_numpy(), "exc": lineup_groups(cycles),
                          "truck": cycles["truckId"].astype(str).to_numpy(), "at": first.to_numpy()})
    arrivals = frame.groupby(["key", "exc", "truck"])["at"].min().reset_index()
    spans = arrivals.groupby(["key", "exc"])["at"].agg(["min", "max", "count"])
    spans = spans[spans["count"] >= 2]
    if spans.empty:
        return 0.0, "no shift group with two trucks: trucks start together"
    gaps = (spans["max"] - spans["min"]).dt.total_seconds() / _SECONDS_PER_MINUTE / (spans["count"] - 1)
    for key in [k for k in spans.index if k[1] == NETWORK_LINEUP]:  # a long line-up: robust to late joiners
        at = arrivals.loc[(arrivals["key"] == key[0]) & (arrivals["exc"] == key[1]), "at"].sort_values()
        gaps[key] = theil_sen_gap((at - at.iloc[0]).dt.total_seconds().to_numpy() / _SECONDS_PER_MINUTE)
    value = float(np.median(gaps.to_numpy()))
    return value, f"median over {len(gaps)} shift groups of the gap between the trucks' first arrivals"


def quantiles(values: Any, n: int = DISTRIBUTION_QUANTILES) -> list[float]:
    """``n`` evenly spaced quantiles (0..1) of ``values`` (all of them when fewer), ascending."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    if x.size <= n:
        return [float(v) for v in x]
    return [float(v) for v in np.quantile(x, np.linspace(0.0, 1.0, n))]


def late_joins(cycles: pd.DataFrame, keys: pd.Series, interval_min: float) -> tuple[float, list[float], str]:
    """(share of truck-shifts that joined late, quantiles of how late in minutes, note); see the module
    docstring. Needs the shift groups' first arrivals (queue start, else loading start)."""
    first = cycles["queueStartTime"].fillna(cycles["loadingStartTime"]) if "queueStartTime" in cycles \
        else cycles["loadingStartTime"]
    frame = pd.DataFrame({"key": keys.to_numpy(), "exc": lineup_groups(cycles),
                          "truck": cycles["truckId"].astype(str).to_numpy(), "at": first.to_numpy()})
    arrivals = frame.groupby(["key", "exc", "truck"])["at"].min().reset_index().sort_values(["key", "exc", "at"])
    if arrivals.empty:
        return 0.0, [], "no truck-shifts"
    group = arrivals.groupby(["key", "exc"])["at"]
    behind = ((arrivals["at"] - group.transform("min")).dt.total_seconds() / _SECONDS_PER_MINUTE
              - group.cumcount() * interval_min)
    late = behind[behind > LATE_JOIN_MIN_MIN].to_numpy(dtype=float)
    share = float(len(late) / len(arrivals))
    note = (f"{len(late)} of {len(arrivals)} truck-shifts ({share:.2%}) joined over {LATE_JOIN_MIN_MIN:g} min behind "
            f"their place in the line-up" + (f", median {np.median(late):.0f} min late" if len(late) else ""))
    return share, quantiles(late), note


def incident_rates(cycles: pd.DataFrame, prior_cycles: float = INCIDENT_PRIOR_CYCLES
                   ) -> tuple[float, dict[str, float], dict[str, float], str]:
    """(pooled incident rate, weather ratios, road-condition ratios, note) from the cycles' statuses."""
    if "status" not in cycles or cycles.empty:
        return math.nan, {}, {}, "no cycle statuses"
    incident = (cycles["status"].astype(str) == INCIDENT_STATUS).to_numpy(dtype=float)
    pooled = float(incident.mean())

    def ratios(column: str) -> dict[str, float]:
        if column not in cycles or pooled == 0:
            return {}
        frame = pd.DataFrame({"v": cycles[column].astype(str).to_numpy(), "i": incident})
        frame = frame[cycles[column].notna().to_numpy()]
        counts = frame.groupby("v")["i"].agg(["sum", "count"])
        shrunk = (counts["sum"] + prior_cycles * pooled) / (counts["count"] + prior_cycles)
        return {str(k): float(v / pooled) for k, v in shrunk.sort_index().items()}

    note = (f"{int(incident.sum())} INCIDENT cycles of {len(incident)} ({pooled:.3%}); per condition shrunk "
            f"towards it with {prior_cycles:g} pseudo-cycles")
    return pooled, ratios("weatherCondition"), ratios("roadCondition"), note


def between_group_sd(residuals: Any, groups: Any, min_cycles: int = MIN_GROUP_CYCLES) -> tuple[float, int]:
    """(sd of the group effect, groups used) of per-cycle residuals: the variance of the group means minus
    the mean of (within-group variance / group size), floored at 0 (see the module docstring)."""
    frame = pd.DataFrame({"g": np.asarray(groups), "r": np.asarray(residuals, dtype=float)})
    frame = frame[np.isfinite(frame["r"])]
    stats = frame.groupby("g")["r"].agg(["mean", "var", "count"])
    stats = stats[stats["count"] >= min_cycles]
    if len(stats) < 2:
        return 0.0, int(len(stats))
    between = float(stats["mean"].var() - (stats["var"] / stats["count"]).mean())
    return math.sqrt(max(between, 0.0)), int(len(stats))


def payload_haul_slope(hauling_residuals: Any, load_t: Any, trucks: Any) -> tuple[float, float, int]:
    """(slope per tonne, its t statistic, cycles used) of the hauling log-residuals on the payload, both
    taken as deviations from their truck's mean (see the module docstring); (0, 0, n) when not measurable."""
    frame = pd.DataFrame({"r": np.asarray(hauling_residuals, dtype=float),
                          "w": pd.to_numeric(pd.Series(np.asarray(load_t)), errors="coerce").to_numpy(dtype=float),
                          "truck": np.asarray(trucks).astype(str)})
    frame = frame[np.isfinite(frame["r"]) & np.isfinite(frame["w"])]
    n, groups = len(frame), frame["truck"].nunique()
    if n < MIN_PAYLOAD_CYCLES or n <= groups + 1:
        return 0.0, 0.0, n
    by_truck = frame.groupby("truck")
    x = (frame["w"] - by_truck["w"].transform("mean")).to_numpy()
    y = (frame["r"] - by_truck["r"].transform("mean")).to_numpy()
    sxx = float(x @ x)
    if sxx <= 0.0:
        return 0.0, 0.0, n
    slope = float(x @ y) / sxx
    rest = y - slope * x
    se = math.sqrt(float(rest @ rest) / (n - groups - 1) / sxx)
    return slope, (slope / se if se > 0 else math.inf), n


def condition_shifts(cycles: pd.DataFrame, keys: pd.Series, column: str) -> dict[str, int]:
    """Distinct shifts per value of ``column`` (weather or road condition)."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "value": cycles[column].astype(str).to_numpy()})
    frame = frame[cycles[column].notna().to_numpy()]
    return {str(k): int(v) for k, v in frame.drop_duplicates().groupby("value")["key"].count().sort_index().items()}


def network_traffic(cycles: pd.DataFrame, keys: pd.Series) -> tuple[float, str]:
    """(trucks, note): the median number of trucks that worked a haul network's shift (cycles naming
    their ``loadingPointId``), the traffic the records' travel minutes were driven in; 0 without any."""
    if "loadingPointId" not in cycles:
        return 0.0, "no loadingPointId column: no haul-network records"
    network = cycles["loadingPointId"].notna().to_numpy()
    if not network.any():
        return 0.0, "no cycle names a loadingPointId: no haul-network records"
    per_shift = cycles.loc[network, "truckId"].groupby(keys[network].to_numpy()).nunique()
    return float(per_shift.median()), f"median distinct trucks over {len(per_shift)} network shifts"


def calibrate(cycles: pd.DataFrame, phase_residuals: dict[str, Any] | None = None) -> SiteCalibration:
    """The site figures from hauling records (the training split's finished cycles); ``phase_residuals``:
    per phase, each cycle's log-duration minus the champion's log-mean, in ``cycles``' row order."""
    if cycles.empty:
        return SiteCalibration(notes={"all": "no training cycles"})
    keys = shift_keys(cycles)
    evidence, bays, share, dump_note = dump_capacity(cycles)
    interval, dispatch_note = dispatch_interval(cycles, keys)
    late_share, late_min, late_note = late_joins(cycles, keys, interval)
    rate, by_weather, by_road, incident_note = incident_rates(cycles)
    traffic, traffic_note = network_traffic(cycles, keys)
    shift_sd: dict[str, float] = {}
    notes: dict[str, str] = {}
    if phase_residuals:
        groups = keys.to_numpy() + "/" + cycles["excavatorId"].astype(str).to_numpy()
        used = 0
        for phase, r in phase_residuals.items():
            shift_sd[phase], used = between_group_sd(r, groups)
        notes["phase_shift"] = (f"between-group log-sd of the phase residuals over {used} shift groups of at least "
                                f"{MIN_GROUP_CYCLES} cycles: " + ", ".join(f"{p} {v:.3f}" for p, v in shift_sd.items()))
    payload_slope = 0.0
    if phase_residuals and "hauling" in phase_residuals and "loadWeight" in cycles.columns:
        slope, t_stat, n = payload_haul_slope(phase_residuals["hauling"], cycles["loadWeight"], cycles["truckId"])
        payload_slope = slope if abs(t_stat) >= MIN_PAYLOAD_SLOPE_T else 0.0
        notes["payload_haul"] = (f"hauling log-residual on payload within trucks over {n} cycles: slope {slope:.5f}/t, "
                                 f"t {t_stat:.2f}; " + ("used" if payload_slope else
                                                        f"not used (|t| < {MIN_PAYLOAD_SLOPE_T} or too few cycles)"))
    return SiteCalibration(
        dump_evidence=evidence, dump_bays=bays, dump_wait_share=share, dispatch_interval_min=interval,
        weather_shifts=condition_shifts(cycles, keys, "weatherCondition"),
        road_condition_shifts=condition_shifts(cycles, keys, "roadCondition"),
        late_join_share=late_share, late_join_min=late_min, incident_rate=rate,
        incident_ratio_by_weather=by_weather, incident_ratio_by_road_condition=by_road, phase_shift_sd=shift_sd,
        haul_payload_slope_per_t=payload_slope, network_trucks_per_shift=traffic,
        notes={"dump": dump_note, "dispatch": dispatch_note, "late_join": late_note, "incidents": incident_note,
               "network_traffic": traffic_note, **notes})
