"""The discrete-event model of one shift on a haul network: several loading points and destinations,
dispatch rules, dump bays with closures, and bunching on single-lane roads.

``run_replication(inputs, params, replication, seed) -> ReplicationResult`` is pure, like
``simulator.model`` whose pieces it reuses: the replication's random numbers (``model.draw``: the same
streams, block layout and per-cycle values, so a one-road network replays today's draws), the phase
noise and noise tables, the breakdown rules and the end-of-shift rule, so a one-road network replays
today's model. What the network adds:

* Loading points: each serves its excavators FIFO analytically, as ``model`` does for its one pool (the
  Kiefer-Wolfowitz recursion with the excavators' outages drawn ahead): a truck arriving at a point
  takes the excavator that frees first and its destination at once, so loading costs no event.
  A truck is woken only where it reads or changes what other trucks see: at its arrival at a point,
  at a single-lane entry, at a dump with a queue, and (dynamic rules) when it leaves the dump; in
  between it keeps its own clock, the floats a leg-by-leg clock gives. Its process is a SimPy-style
  generator that yields the minute of its next wake-up; :func:`run_wakeups` orders them in SimPy's
  order with a heap (:func:`run_on_simpy` runs them on SimPy, with the same results). This
  replaced one ``simpy.Store`` per point (kept in ``tests/simulator/reference_network_model.py``): with
  one destination per point the results are bit-identical on randomized networks, whatever the rule,
  bays, closures, lanes and breakdowns (``test_network_equivalence.py``); with several, the destination
  is now taken at the truck's arrival instead of its load start (same shift totals within the CI).
* Dispatch: a truck that has dumped (or starts its shift) is sent to a loading point by the strategy's
  rule (``simulator.dispatch``); ``fixed`` sends it back to its home point (trucks are dealt to points in
  proportion to their loaders, :func:`simulator.dispatch.home_points`).
* Destinations: when it is given its loader, the truck is given the allowed destination furthest below
  its wanted share of the tonnes sent so far (shares or targets of the request), skipping destinations
  closed at that moment while another is open. A destination has ``bays`` tipping places served FIFO
  (the Kiefer-Wolfowitz recursion of ``model``) and closures: a truck that would start tipping inside
  a closure waits until it ends.
* Travel: a route's mean minutes (per truck, loaded or empty) are split over its legs by the
  travel-time model's leg times (``simulator.travel``); the cycle's drawn haul/return factor scales the
  whole route. A delay (drawn as in ``model``) stops the truck before it leaves the loading point.
* Bunching: a single-lane leg (one queue per direction) keeps the trucks' order and a minimum headway:
  a truck leaves it at max(its own free exit, the exit of the truck ahead + ``headway_min``) (Newell's
  simplified car following), so a faster truck behind a slower one follows it until passing is allowed
  again. The minutes lost that way are ``bunching_hours``. A lane's free minutes are its leg's minutes
  less ``lane_allowance_min`` (the following already in the champion's minutes, which learned them at
  the records' traffic: ``network_engine.following_allowance``). A route without single-lane legs costs one
  timeout, as in ``model``.
* End of shift: as ``model``: a truck that gets a loader starts the cycle only if the drawn loading,
  haul, dump and return (to the same point) end within the shift; started cycles finish and count.
"""
from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import simpy

from simulator import dispatch as dispatch_rules
from simulator.model import (Breakdowns, FleetTables, ModelParams, NoiseTables, PhaseNoise, _apply_outages,
                             block_cycles, cycle_draws, deterministic_draws, draw, exact_delay, excavator_outages,
                             outage_minutes, shared_draws, shift_record, truck_repair)
from simulator.results import ReplicationResult
from training.bundle import PHASES

#: Minimum time between two trucks leaving a single-lane segment in the same direction, min. The
#: records hold cycle phases, not segment passages, so it cannot be fitted on them: 30 s is the common
#: following rule on haul roads (about 100 m at 12-15 km/h on a loaded ramp). Named, per request.
DEFAULT_HEADWAY_MIN: float = 0.5
_MIN_PER_HOUR = 60.0


@dataclass(frozen=True, eq=False)
class NetworkInputs(FleetTables):
    """One strategy's tables. T trucks, E excavators (each at a loading point), L points, D destinations.

    ``haul_legs[l][d]`` / ``return_legs[d][l]``: the route's legs as (share of the route's minutes, lane
    index or -1 when passing is allowed); consecutive free legs are merged. ``return_ratio[d, a, b]``:
    mean empty minutes from ``d`` to point ``b`` over those to point ``a``.
    """

    scenario_key: str
    excavator_point: tuple[int, ...]   # (E,) loading point index of each excavator
    payload_t: np.ndarray              # (T, E)
    load_min: np.ndarray               # (T, E)
    haul_min: np.ndarray               # (T, E, D) loaded travel, whole route
    dump_min: np.ndarray               # (T, E, D)
    return_min: np.ndarray             # (T, E, D) empty travel back to the excavator's point
    fuel_l: np.ndarray                 # (T, E, D) per cycle
    delay_probability: np.ndarray      # (T, E, D)
    haul_legs: tuple                   # [L][D] -> ((share, lane), ...)
    return_legs: tuple                 # [D][L] -> ((share, lane), ...)
    return_ratio: np.ndarray           # (D, L, L)
    bays: tuple[int | None, ...]       # (D,) None: no dump queue
    closures_min: tuple[tuple[tuple[float, float], ...], ...]  # (D,) sorted (start, end) minutes
    shares: tuple[float, ...]          # (D,) wanted tonnage shares
    allowed: tuple[tuple[int, ...], ...]  # (L,) destinations each point may send to
    point_ids: tuple[str, ...] = ()
    destination_ids: tuple[str, ...] = ()
    targets_t: tuple[float | None, ...] = ()
    dispatch: str = dispatch_rules.DEFAULT_RULE
    headway_min: float = DEFAULT_HEADWAY_MIN
    lanes: int = 0
    #: Per lane, the minutes of following already inside its legs' minutes (the records' traffic, see
    #: ``network_engine.following_allowance``): a pass drives its leg's minutes less this before the
    #: headway rule adds the following of the simulated traffic. Empty: none.
    lane_allowance_min: tuple[float, ...] = ()
    phase_noise: tuple[PhaseNoise, ...] = field(default_factory=lambda: (PhaseNoise("constant"),) * len(PHASES))
    noise: object = field(default_factory=NoiseTables.none)
    breakdowns: Breakdowns = field(default_factory=Breakdowns)
    #: d log(loaded travel) / d payload residual, 1/t (``training.site``'s ``haul_payload_slope_per_t``):
    #: a cycle's loaded travel is multiplied by exp(slope x its payload residual). 0: no dependence.
    haul_payload_slope_per_t: float = 0.0

    def __post_init__(self) -> None:
        t, e = np.shape(self.payload_t)
        d = len(self.bays)
        n_points = len(self.haul_legs)
        checks = {"load_min": (t, e), "haul_min": (t, e, d), "dump_min": (t, e, d), "return_min": (t, e, d),
                  "fuel_l": (t, e, d), "delay_probability": (t, e, d), "return_ratio": (d, n_points, n_points)}
        for name, shape in checks.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"NetworkInputs.{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if len(self.excavator_point) != e or any(not 0 <= p < n_points for p in self.excavator_point):
            raise ValueError("NetworkInputs.excavator_point needs one valid point index per excavator")
        if t < 1 or e < 1:
            raise ValueError("a scenario needs at least one truck and one excavator")
        if self.dispatch not in dispatch_rules.RULES:
            raise ValueError(f"unknown dispatch rule {self.dispatch!r}; known: {', '.join(dispatch_rules.RULES)}")
        if not math.isfinite(self.haul_payload_slope_per_t):
            raise ValueError(f"NetworkInputs.haul_payload_slope_per_t must be finite, got {self.haul_payload_slope_per_t!r}")
        if not (math.isfinite(self.headway_min) and self.headway_min >= 0):
            raise ValueError(f"NetworkInputs.headway_min must be >= 0, got {self.headway_min!r}")
        if self.lane_allowance_min and (len(self.lane_allowance_min) != self.lanes or not all(
                math.isfinite(a) and a >= 0 for a in self.lane_allowance_min)):
            raise ValueError(f"NetworkInputs.lane_allowance_min needs one finite minute >= 0 per lane "
                             f"({self.lanes}), got {self.lane_allowance_min!r}")

    @property
    def points(self) -> int:
        return len(self.haul_legs)

    @property
    def sampling_key(self) -> tuple:
        """What ``model.draw`` reads besides the fleet size (``model.ScenarioInputs.sampling_key``): the
        strategies of a request that share it share their draws (``model.shared_draws``)."""
        return (self.noise.key, self.phase_noise, self.breakdowns)

    def expected_cycle_min(self, delay_mean_min: float) -> np.ndarray:
        """Per truck, the expected cycle without queues, averaged over its excavators and destinations, min."""
        per = (self.load_min[:, :, None] + self.haul_min + self.dump_min + self.return_min
               + self.delay_probability * delay_mean_min)
        return per.mean(axis=(1, 2))

    def subset(self, trucks: int, excavators: int, scenario_key: str, dispatch: str | None = None) -> "NetworkInputs":
        """The strategy using the first ``trucks`` trucks and ``excavators`` excavators."""
        if trucks > self.trucks or excavators > self.excavators:
            raise ValueError(f"{scenario_key}: tables hold {self.trucks} trucks x {self.excavators} excavators")
        t, e = slice(0, trucks), slice(0, excavators)
        return replace(self, scenario_key=scenario_key, excavator_point=self.excavator_point[:excavators],
                       payload_t=np.array(self.payload_t[t, e]), load_min=np.array(self.load_min[t, e]),
                       haul_min=np.array(self.haul_min[t, e]), dump_min=np.array(self.dump_min[t, e]),
                       return_min=np.array(self.return_min[t, e]), fuel_l=np.array(self.fuel_l[t, e]),
                       delay_probability=np.array(self.delay_probability[t, e]),
                       dispatch=self.dispatch if dispatch is None else dispatch)


@dataclass(frozen=True)
class _Prepared:
    """Lists for the inner loop (once per strategy) and the block size ``model.draw`` needs."""

    load: list
    payload: list
    haul: list
    dump: list
    back: list
    fuel: list
    p_delay: list
    point_load: list       # [truck][point] mean load minutes at the point
    point_back: list       # [truck][dest][point] mean empty minutes from dest to point
    return_ratio: list     # [dest][from point][to point] (``NetworkInputs.return_ratio``)
    homes: tuple
    simple_haul: list      # [point][dest] True: the route has no single-lane leg (one timeout)
    simple_back: list      # [dest][point]
    one_lane_haul: list    # [point][dest] (before, lane, share, after) when the route has one single-lane leg
    one_lane_back: list    # [dest][point]   (the shares of the route's minutes before, on and after it)
    cycles_per_block: int
    det_draws: list | None
    mean_delay_min: float


def prepare(inputs: NetworkInputs, params: ModelParams) -> _Prepared:
    """Turn the network scenario's arrays into the lists the trucks index (per point: mean load and return)."""
    noise = inputs.noise
    mean_delay = noise.mean_delay_min
    haul = inputs.haul_min.astype(float).copy()
    det = None
    if params.deterministic:  # as model.prepare: the expected delay rides on every haul, no draws
        haul += inputs.delay_probability * mean_delay
        det = deterministic_draws(noise)
    n_points = inputs.points
    point_of = np.asarray(inputs.excavator_point)
    point_load = np.zeros((inputs.trucks, n_points))
    point_back = np.zeros((inputs.trucks, len(inputs.bays), n_points))
    for p in range(n_points):
        cols = point_of == p
        if cols.any():
            point_load[:, p] = inputs.load_min[:, cols].mean(axis=1)
            point_back[:, :, p] = inputs.return_min[:, cols, :].mean(axis=1)
        else:  # no excavator deployed there: scale the mean return of the others
            for d in range(len(inputs.bays)):
                ratio = [inputs.return_ratio[d, int(a), p] for a in point_of]
                point_back[:, d, p] = (inputs.return_min[:, :, d] * np.asarray(ratio)).mean(axis=1)
            point_load[:, p] = math.inf
    loaders = [int((point_of == p).sum()) for p in range(n_points)]
    homes = dispatch_rules.home_points(inputs.trucks, loaders)
    expected = inputs.expected_cycle_min(mean_delay)
    k = params.cycles_per_block or block_cycles(params.shift_hours, float(expected.min()))
    return _Prepared(load=inputs.load_min.tolist(), payload=inputs.payload_t.tolist(), haul=haul.tolist(),
                     dump=inputs.dump_min.tolist(), back=inputs.return_min.tolist(), fuel=inputs.fuel_l.tolist(),
                     p_delay=inputs.delay_probability.tolist(), point_load=point_load.tolist(),
                     point_back=point_back.tolist(), return_ratio=inputs.return_ratio.tolist(), homes=homes,
                     simple_haul=[[all(lane < 0 for _, lane in legs) for legs in row] for row in inputs.haul_legs],
                     simple_back=[[all(lane < 0 for _, lane in legs) for legs in row] for row in inputs.return_legs],
                     one_lane_haul=[[_one_lane(legs) for legs in row] for row in inputs.haul_legs],
                     one_lane_back=[[_one_lane(legs) for legs in row] for row in inputs.return_legs],
                     cycles_per_block=k, det_draws=det,
                     mean_delay_min=mean_delay)


def _one_lane(legs) -> tuple[float, int, float, float] | None:
    """(share before, lane, share on it, share after) of a route with exactly one single-lane leg (free
    legs are merged, so at most one on each side); None otherwise."""
    lanes = [k for k, (_, lane) in enumerate(legs) if lane >= 0]
    if len(lanes) != 1:
        return None
    k = lanes[0]
    return (legs[k - 1][0] if k else 0.0, legs[k][1], legs[k][0], legs[k + 1][0] if k + 1 < len(legs) else 0.0)


class _Mine:
    """The shared state of one replication: the loaders' next free minutes (the analytic FIFO queue per
    point), bays, lanes, the dispatcher's view and counters."""

    def __init__(self, inputs: NetworkInputs, params: ModelParams, prep: _Prepared, outages: dict):
        self.inputs = inputs
        self.shift = params.shift_hours * _MIN_PER_HOUR
        n_points, n_dest = inputs.points, len(inputs.bays)
        e = inputs.excavators
        self.point_excavators = [[j for j, p in enumerate(inputs.excavator_point) if p == q] for q in range(n_points)]
        self.free_at = [0.0] * e               # minute each excavator is next free (after loads assigned)
        self.order = list(range(e))            # order of that release: a FIFO pool's tie-break
        self.released = e                      # release counter
        # Outages still ahead per point (consumed by model._apply_outages) and all of them (the view).
        self.point_outages = [{j: outages[j] for j in exc if j in outages} for exc in self.point_excavators]
        self.spans = {j: tuple(spans) for j, spans in outages.items()}
        t = inputs.trucks
        self.bays = [None if b is None or b >= t else [0.0] * b for b in inputs.bays]
        self.lane_exit = [-math.inf] * inputs.lanes
        self.allowance = list(inputs.lane_allowance_min) or [0.0] * inputs.lanes
        self.lane_lost = [0.0] * inputs.lanes   # per lane, minutes lost following and passes
        self.lane_passes = [0] * inputs.lanes
        # The dispatcher's view of each point, brought up to a decision's minute when one is taken: the
        # loads assigned there not yet started by then (a heap of (start, assignment, excavator's place
        # at the point, end)) and, per excavator at the point, the end of its latest load started.
        self.local = [0] * e
        for exc in self.point_excavators:
            for k, j in enumerate(exc):
                self.local[j] = k
        self.pending: list[list[tuple]] = [[] for _ in range(n_points)]
        self.started_end = [[-math.inf] * len(exc) for exc in self.point_excavators]
        self.point_spans = [[(k, self.spans[j]) for k, j in enumerate(exc) if j in self.spans]
                            for exc in self.point_excavators]
        self.en_route: list[list[float]] = [[] for _ in range(n_points)]  # expected arrivals
        # Per point with loaders, the lists above that the dispatcher reads (the same objects).
        self.views = [(p, self.pending[p], self.started_end[p], self.point_spans[p], self.en_route[p])
                      for p in range(n_points) if self.point_excavators[p]]
        self.sent_t = [0.0] * n_dest              # tonnes dispatched per destination
        self.rule = dispatch_rules.rule(inputs.dispatch)
        self.any_closure = any(inputs.closures_min)
        # Per point, its allowed destinations as (index, share of the point's allowed shares), in the
        # order that breaks a tie on the shortfall: larger share first, then lower index.
        self.destination_order = []
        for allowed in inputs.allowed:
            total = sum(inputs.shares[d] for d in allowed) or 1.0
            ranked = sorted(allowed, key=lambda d: (-inputs.shares[d], d))
            self.destination_order.append(tuple((d, inputs.shares[d] / total) for d in ranked))
        self.headway = inputs.headway_min
        self.prep = prep

    def take_loader(self, p: int, now: float) -> tuple[int, float]:
        """The excavator at point ``p`` a truck arriving at ``now`` gets, and its loading start: the one
        that frees first, the earliest release on equal minutes (``model``'s recursion, per point)."""
        free_at, order = self.free_at, self.order
        outages = self.point_outages[p]
        if outages:
            _apply_outages(free_at, outages, now)
        exc = self.point_excavators[p]
        e = exc[0]
        x = free_at[e]
        for j in exc[1:]:
            y = free_at[j]
            if y < x or (y == x and order[j] < order[e]):
                e, x = j, y
        return e, (x if x > now else now)

    def record_load(self, p: int, e: int, start: float, end: float) -> None:
        """Show the dispatcher a load given to excavator ``e`` at point ``p`` (dynamic rules only)."""
        heapq.heappush(self.pending[p], (start, self.released, self.local[e], end))

    def choose_point(self, i: int, d: int, home: int, now: float) -> int:
        """The rule's loading point for truck ``i`` leaving destination ``d`` at ``now``."""
        options = self.loader_options(i, d, now)
        return self.rule.choose(i, home, options) if options else home

    def loader_options(self, i: int, d: int, now: float) -> list:
        """Each point with loaders as a dispatcher sees it at ``now`` for truck ``i`` leaving destination
        ``d``: its working loaders and when their loads in progress end (the remaining loading of each
        truck in service), the trucks queued there, loading and already sent there."""
        prep = self.prep
        point_load, point_back = prep.point_load[i], prep.point_back[i][d]
        projected, pop, right = dispatch_rules.projected_option, heapq.heappop, bisect.bisect_right
        options = []
        for p, pending, working, spans, en_route in self.views:
            travel = point_back[p]
            arrive = now + travel
            while pending and pending[0][0] <= now:  # loads started since the last look
                load = pop(pending)
                working[load[2]] = load[3]
            queued = len(pending)
            loading = 0  # loads in progress (ending after now), an outage's loader's too
            for x in working:
                if x > now:
                    loading += 1
            if spans:  # loaders in an outage are not working
                down = {k for k, s in spans if any(a <= now < b for a, b in s)}
                if down:
                    working = [x for k, x in enumerate(working) if k not in down]
            loaders = len(working)
            k = right(en_route, arrive) if en_route else 0
            if not loaders:  # all down
                options.append(dispatch_rules.LoaderOption(p, travel, queued + loading + k, 0, math.inf))
            elif not queued and not k:  # projected_wait's answer without its loops
                wait = min(working) - arrive
                options.append(dispatch_rules.LoaderOption(p, travel, loading, loaders, wait if wait > 0.0 else 0.0))
            else:  # worked out if the rule reads it
                options.append(projected(p, travel, queued + loading + k, loaders,
                                         now, arrive, tuple(working), queued, en_route[:k], point_load[p]))
        return options

    def choose_destination(self, p: int, now: float) -> int:
        """The allowed destination furthest below its share of the tonnes sent (open ones first); on
        equal shortfalls the larger share, then the lower index."""
        order = self.destination_order[p]
        if len(order) == 1:
            return order[0][0]
        sent_t = self.sent_t
        if len(order) == 2 and not self.any_closure:  # the loop below for two (a + b == b + a exactly)
            (a, fa), (b, fb) = order
            sent = sent_t[a] + sent_t[b]
            return a if fa * sent - sent_t[a] >= fb * sent - sent_t[b] else b
        sent = 0.0
        for d in self.inputs.allowed[p]:  # summed in the request's order (the same float)
            sent += sent_t[d]
        if self.any_closure:
            closures = self.inputs.closures_min
            order = tuple(o for o in order if not any(a <= now < b for a, b in closures[o[0]])) or order
        best = -1
        best_gap = 0.0
        for d, fraction in order:  # strictly larger only: the first of equal shortfalls stays
            gap = fraction * sent - sent_t[d]
            if best < 0 or gap > best_gap:
                best, best_gap = d, gap
        return best

    def pass_lane(self, lane: int, entry: float, minutes: float, lost: list) -> float:
        """Leave single-lane leg ``lane`` entered at ``entry`` and driven in ``minutes`` (less the lane's
        allowance: the following already in them): no earlier than ``headway_min`` after the truck ahead
        in the lane (the minutes lost go to ``lost[0]``)."""
        free = minutes - self.allowance[lane]
        leave = entry + (free if free > 0.0 else 0.0)
        behind = self.lane_exit[lane] + self.headway
        if behind > leave:
            lost[0] += behind - leave
            self.lane_lost[lane] += behind - leave
            leave = behind
        self.lane_exit[lane] = leave
        self.lane_passes[lane] += 1
        return entry + (leave - entry)

    def dump_start(self, d: int, arrival: float, dump_min: float) -> float:
        """When truck arriving at ``arrival`` starts tipping at ``d`` (bays FIFO, then closures)."""
        bays = self.bays[d]
        start = arrival
        k = -1
        if bays is not None:
            k = 0
            if len(bays) > 1:  # the bay that frees first (the first of equal ones)
                k = bays.index(min(bays))
            if bays[k] > start:
                start = bays[k]
        if self.any_closure:
            for a, b in self.inputs.closures_min[d]:
                if a <= start < b:
                    start = b
        if k >= 0:
            bays[k] = start + dump_min
        return start


def _drive(mine: _Mine, legs, minutes: float, clock: float, at: float, lost: list):
    """Drive a route of ``minutes`` split over ``legs`` from minute ``clock`` (``at``: the minute the truck
    was last woken); returns the arrival minute and ``at``. Only a single-lane leg's entry is a wake-up
    (the lane's order is the order of entries); free legs are added to the truck's clock as the
    leg-by-leg timeouts summed them."""
    pending = 0.0
    for share, lane in legs:
        if lane < 0:
            pending += share * minutes
            continue
        if pending:
            clock = clock + pending
            pending = 0.0
        if clock != at:  # (else the truck is at the lane already, in this very wake-up)
            at = yield clock
        clock = mine.pass_lane(lane, clock, share * minutes, lost)
    if pending:
        clock = clock + pending
    return clock, at


def _truck(i: int, mine: _Mine, draws, out: list, dispatch_at: float):
    """One truck's shift (see the module docstring); totals into ``out[i]``.

    The truck keeps its own clock; it is woken only where it reads or changes what other trucks see:
    at its arrival at a loading point (it takes a loader and a destination), at a single-lane entry, at
    a dump with a queue, and (dynamic rules) when it leaves the dump. It yields the minute of its next
    wake-up and is sent that minute back (:func:`run_wakeups`).
    """
    inputs, prep, shift = mine.inputs, mine.prep, mine.shift
    load, pay, haul, dmp, back, fuel, pdel = (prep.load[i], prep.payload[i], prep.haul[i], prep.dump[i],
                                              prep.back[i], prep.fuel[i], prep.p_delay[i])
    haul_legs, return_legs, ratio = inputs.haul_legs, inputs.return_legs, prep.return_ratio
    simple_haul, simple_back = prep.simple_haul, prep.simple_back
    one_lane_haul, one_lane_back, pass_lane = prep.one_lane_haul, prep.one_lane_back, mine.pass_lane
    bays = mine.bays
    free_at, order = mine.free_at, mine.order
    dynamic = mine.rule.dynamic
    take_loader, choose_destination, dump_start = mine.take_loader, mine.choose_destination, mine.dump_start
    choose_point, record_load, en_route, insort = mine.choose_point, mine.record_load, mine.en_route, bisect.insort
    sent_t = mine.sent_t
    payload_slope = inputs.haul_payload_slope_per_t
    ttf, ttr = draws.truck_ttf[i], draws.truck_ttr[i]
    next_fail, n_fail = ttf[0], 0
    home = p = prep.homes[i]
    lost = [0.0]
    loads = delays = 0
    q_load = q_dump = busy = loading = payload = fuel_total = delay_min = cycle_sum = p_sum = downtime = 0.0
    by_dest = [0.0] * len(inputs.bays)
    clock = at = 0.0  # the truck's clock; the minute it was last woken
    if dispatch_at:
        clock = dispatch_at
        at = yield dispatch_at
    for f0, f1, f2, f3, u, dm, pr, fr in cycle_draws(draws, i):
        now = clock
        if now >= next_fail:
            now, down, next_fail = truck_repair(now, shift, n_fail, ttf, ttr)
            n_fail, downtime, clock = n_fail + 1, downtime + down, now
            at = yield clock
        if now >= shift:
            break
        e, t1 = take_loader(p, now)
        d = choose_destination(p, t1)
        lt = load[e] * f0
        h = haul[e][d] * f1
        if payload_slope:  # a heavier load than the model expects hauls slower (training.site)
            h *= math.exp(payload_slope * pr)
        pe = pdel[e][d]
        delayed = u < pe
        stop = dm if delayed else 0.0
        dump = dmp[e][d] * f2
        ret = back[e][d] * f3
        mine.released += 1
        order[e] = mine.released
        if t1 + lt + stop + h + dump + ret > shift:  # the drawn cycle would not end in the shift: stop
            free_at[e] = t1                          # and hand the excavator on at once
            if dynamic:  # it stands in the queue until then, as the dispatcher sees it
                record_load(p, e, t1, t1)
            break
        loaded = t1 + lt
        free_at[e] = loaded
        if dynamic:
            record_load(p, e, t1, loaded)
        x = pay[e] + pr
        x = x if x > 0.0 else 0.0
        sent_t[d] += x
        if t1 < shift:
            loading += lt if loaded <= shift else shift - t1
        p_sum += pe
        if delayed:
            delays += 1
            delay_min += dm
        if simple_haul[p][d]:
            t2 = loaded + (stop + h)
        else:
            t2 = loaded + stop if stop else loaded
            one = one_lane_haul[p][d]
            if one is None:
                t2, at = yield from _drive(mine, haul_legs[p][d], h, t2, at, lost)
            else:  # _drive's sums for a route with one single-lane leg, without a generator
                before, lane, share, after = one
                if before:
                    t2 = t2 + before * h
                if t2 != at:
                    at = yield t2
                t2 = pass_lane(lane, t2, share * h, lost)
                if after:
                    t2 = t2 + after * h
        if bays[d] is not None:  # a dump queue: bays are taken in the order trucks arrive
            at = yield t2
        start = dump_start(d, t2, dump)
        q_dump += start - t2
        if dynamic:
            left = t2 + (start - t2 + dump)
            at = yield left
            nxt = choose_point(i, d, home, left)
        else:
            nxt = p
        ret *= ratio[d][p][nxt] if nxt != p else 1.0
        if dynamic:
            arrive = left + ret
            insort(en_route[nxt], arrive)
        if simple_back[d][nxt]:
            end = arrive if dynamic else t2 + (start - t2 + dump + ret)
        else:
            if not dynamic:
                left = t2 + (start - t2 + dump)
            one = one_lane_back[d][nxt]
            if one is None:
                end, at = yield from _drive(mine, return_legs[d][nxt], ret, left, at, lost)
            else:  # as on the haul
                before, lane, share, after = one
                end = left + before * ret if before else left
                if end != at:
                    at = yield end
                end = pass_lane(lane, end, share * ret, lost)
                if after:
                    end = end + after * ret
        at = yield end  # arrival at the loading point
        if dynamic:
            en_route[nxt].remove(arrive)
        q_load += t1 - now
        busy += (end if end < shift else shift) - now
        if end < next_fail:  # else the truck broke down in this cycle: cancelled (``model``'s rule)
            loads += 1
            cycle_sum += end - now
            payload += x
            by_dest[d] += x
        x = fuel[e][d] + fr
        if x > 0.0:
            fuel_total += x
        p = nxt
        clock = end
    out[i] = (loads, payload, fuel_total, q_load, q_dump, lost[0], busy, loading, cycle_sum, delays, delay_min,
              p_sum, n_fail, downtime, by_dest)


def run_wakeups(processes: Sequence[Generator[float, float, None]]) -> None:
    """Run processes that each yield the minute they next need waking (and are sent it back) to their
    end, in SimPy's order: by minute, then in the order the wake-ups were asked for (a ``Timeout``'s
    event id), the processes started in creation order at minute 0 (its ``Initialize`` events).

    The trucks' queues, bays and lanes are served analytically, so the scheduler only orders wake-ups;
    a heap of (minute, request number, process) does that for about a third of what a SimPy
    ``Environment`` spends per timeout (event objects, callbacks; ``benchmarks/bench_network.py``), with
    the very same order: :func:`run_on_simpy` runs the same processes on SimPy, and the two give
    bit-identical shifts (``tests/simulator/test_network_equivalence.py``).
    """
    heap = []
    asked = 0
    for process in processes:
        try:
            heap.append((next(process), asked, process))
        except StopIteration:
            continue
        asked += 1
    heapq.heapify(heap)
    replace, pop = heapq.heapreplace, heapq.heappop
    while heap:
        when, _, process = heap[0]
        try:
            replace(heap, (process.send(when), asked, process))
        except StopIteration:
            pop(heap)
            continue
        asked += 1


def run_on_simpy(processes: Sequence[Generator[float, float, None]]) -> None:
    """:func:`run_wakeups` on a SimPy environment: each wake-up an ``env.timeout`` (``exact_delay``)."""
    env = simpy.Environment()

    def wrap(process):
        try:
            when = next(process)
            while True:
                yield env.timeout(exact_delay(env.now, when))
                when = process.send(when)
        except StopIteration:
            return

    for process in processes:
        env.process(wrap(process))
    env.run()


def _run_shift(inputs: NetworkInputs, params: ModelParams, draws, prep: _Prepared, runner) -> tuple:
    """The shift's trucks run to their end: (the mine's final state, per-truck totals, counted outages)."""
    shift = params.shift_hours * _MIN_PER_HOUR
    outages, counted = excavator_outages(draws, inputs.excavators, shift)
    mine = _Mine(inputs, params, prep, outages)
    out: list = [None] * inputs.trucks
    late = getattr(draws, "truck_late", None)  # late joins
    runner([_truck(i, mine, draws, out, i * params.dispatch_interval_min + (late[i] if late is not None else 0.0))
            for i in range(inputs.trucks)])
    return mine, out, counted


def simulate(inputs: NetworkInputs, params: ModelParams, draws, *, replication: int = 0,
             prepared: _Prepared | None = None, runner=run_wakeups) -> ReplicationResult:
    """Run the shift on given draws (``model.draw``'s layout); ``runner`` orders the trucks' wake-ups."""
    prep = prepared or prepare(inputs, params)
    _, out, counted = _run_shift(inputs, params, draws, prep, runner)
    cols = list(zip(*out))
    (loads, payload, fuel, q_load, q_dump, lost, busy, loading, cycle_sum, delays, delay_min, p_sum, breakdowns,
     downtime) = (sum(c) for c in cols[:-1])
    by_dest = tuple(float(x) for x in np.sum(np.asarray(cols[-1], dtype=float), axis=0))
    totals = (loads, payload, fuel, q_load + q_dump, busy, loading, cycle_sum, delays, delay_min, p_sum, breakdowns,
              downtime)
    return shift_record(
        inputs, params, prep, replication, totals, counted,
        dispatch=inputs.dispatch, loader_queue_hours=q_load / _MIN_PER_HOUR, dump_queue_hours=q_dump / _MIN_PER_HOUR,
        bunching_hours=lost / _MIN_PER_HOUR, truck_downtime_hours=downtime / _MIN_PER_HOUR,
        excavator_downtime_hours=outage_minutes(counted) / _MIN_PER_HOUR, loading_hours=loading / _MIN_PER_HOUR,
        destination_ids=tuple(inputs.destination_ids), destination_production_t=by_dest,
        destination_targets_t=tuple(inputs.targets_t),
    )


def lane_following(inputs: NetworkInputs, params: ModelParams, seed: int, replications: int) -> tuple[float, ...]:
    """Per lane, the mean minutes a pass lost following the truck ahead, over ``replications`` shifts
    (0 for a lane no truck passed)."""
    prep = prepare(inputs, params)
    lost, passes = [0.0] * inputs.lanes, [0] * inputs.lanes
    for r in range(replications):
        mine, _, _ = _run_shift(inputs, params, draw(inputs, params, prep, r, seed), prep, run_wakeups)
        for lane in range(inputs.lanes):
            lost[lane] += mine.lane_lost[lane]
            passes[lane] += mine.lane_passes[lane]
    return tuple(x / n if n else 0.0 for x, n in zip(lost, passes))


def run_replication(inputs: NetworkInputs, params: ModelParams, replication: int, seed: int,
                    *, prepared: _Prepared | None = None) -> ReplicationResult:
    """One shift with replication ``replication``'s common random numbers (the streams of ``model``)."""
    prep = prepared or prepare(inputs, params)
    return simulate(inputs, params, draw(inputs, params, prep, replication, seed), replication=replication,
                    prepared=prep)


def run_replications(inputs: NetworkInputs, params: ModelParams, seed: int,
                     replications: range | Sequence[int]) -> list[ReplicationResult]:
    """Replications of one strategy (tables prepared once, draws shared with the request's other
    strategies this process runs: ``model.shared_draws``)."""
    prep = prepare(inputs, params)
    return [simulate(inputs, params, shared_draws(inputs, params, prep, r, seed), replication=r, prepared=prep)
            for r in replications]


# --- building inputs ---------------------------------------------------------------------------------

def merge_legs(leg_minutes: Sequence[float], lanes: Sequence[int]) -> tuple[tuple[float, int], ...]:
    """(share, lane) legs from per-leg minutes, consecutive free legs merged (shares sum to 1)."""
    total = float(sum(leg_minutes))
    if total <= 0:
        return ((1.0, -1),)
    out: list[list] = []
    for minutes, lane in zip(leg_minutes, lanes):
        share = float(minutes) / total
        if lane < 0 and out and out[-1][1] < 0:
            out[-1][0] += share
        else:
            out.append([share, int(lane)])
    return tuple((s, l) for s, l in out) or ((1.0, -1),)


def from_pair_inputs(pair, *, dump_bays: int | None, dispatch: str = dispatch_rules.DEFAULT_RULE,
                     single_lane: bool = False, headway_min: float = DEFAULT_HEADWAY_MIN) -> NetworkInputs:
    """Today's one-road scenario (``model.ScenarioInputs``) as a network of one road: one loading point
    with every excavator, one destination with ``dump_bays``; ``single_lane`` makes the road one lane."""
    phase = np.asarray(pair.phase_mean_min, dtype=float)
    lanes = 2 if single_lane else 0
    return NetworkInputs(
        scenario_key=pair.scenario_key, excavator_point=(0,) * pair.excavators,
        payload_t=np.asarray(pair.payload_t, dtype=float), load_min=phase[:, :, 0],
        haul_min=phase[:, :, 1:2], dump_min=phase[:, :, 2:3], return_min=phase[:, :, 3:4],
        fuel_l=np.asarray(pair.fuel_l, dtype=float)[:, :, None],
        delay_probability=np.asarray(pair.delay_probability, dtype=float)[:, :, None],
        haul_legs=((((1.0, 0 if single_lane else -1),),),), return_legs=((((1.0, 1 if single_lane else -1),),),),
        return_ratio=np.ones((1, 1, 1)), bays=(dump_bays,), closures_min=((),), shares=(1.0,), allowed=((0,),),
        point_ids=("LOAD",), destination_ids=("DUMP",), targets_t=(None,), dispatch=dispatch,
        headway_min=headway_min, lanes=lanes, phase_noise=pair.phase_noise, noise=pair.noise,
        breakdowns=pair.breakdowns)
