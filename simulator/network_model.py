"""The SimPy model of one shift on a haul network: several loading points and destinations, dispatch
rules, dump bays with closures, and bunching on single-lane roads.

``run_replication(inputs, params, replication, seed) -> ReplicationResult`` is pure, like
``simulator.model`` whose pieces it reuses: the replication's random numbers (``model.draw``: the same
streams, block layout and per-cycle values, so a one-road network replays today's draws), the phase
noise and noise tables, the breakdown rules and the end-of-shift rule. Loading points are SimPy pools
(the one-road model serves its single pool analytically since; it was checked bit-identical to this
pool form, so a one-road network still replays it exactly). What the network adds:

* Loading points: each is a pool (``simpy.Store``) of its excavators, used FIFO as in ``model``.
* Dispatch: a truck that has dumped (or starts its shift) is sent to a loading point by the strategy's
  rule (``simulator.dispatch``); ``fixed`` sends it back to its home point (trucks are dealt to points in
  proportion to their loaders, :func:`simulator.dispatch.home_points`).
* Destinations: when its load starts, the truck is given the allowed destination furthest below its
  wanted share of the tonnes sent so far (shares or targets of the request), skipping destinations
  closed at that moment while another is open. A destination has ``bays`` tipping places served FIFO
  (the Kiefer-Wolfowitz recursion of ``model``) and closures: a truck that would start tipping inside
  a closure waits until it ends.
* Travel: a route's mean minutes (per truck, loaded or empty) are split over its legs by the
  travel-time model's leg times (``simulator.travel``); the cycle's drawn haul/return factor scales the
  whole route. A delay (drawn as in ``model``) stops the truck before it leaves the loading point.
* Bunching: a single-lane leg (one queue per direction) keeps the trucks' order and a minimum headway:
  a truck leaves it at max(its own free exit, the exit of the truck ahead + ``headway_min``) (Newell's
  simplified car following), so a faster truck behind a slower one follows it until passing is allowed
  again. The minutes lost that way are ``bunching_hours``. A route without single-lane legs costs one
  timeout, as in ``model``.
* End of shift: as ``model``: a truck that gets a loader starts the cycle only if the drawn loading,
  haul, dump and return (to the same point) end within the shift; started cycles finish and count.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import simpy

from simulator import dispatch as dispatch_rules
from simulator.model import Breakdowns, ModelParams, NoiseTables, PhaseNoise, block_cycles, draw
from simulator.results import ReplicationResult
from training.bundle import PHASES

#: Minimum time between two trucks leaving a single-lane segment in the same direction, min. The
#: records hold cycle phases, not segment passages, so it cannot be fitted on them: 30 s is the common
#: following rule on haul roads (about 100 m at 12-15 km/h on a loaded ramp). Named, per request.
DEFAULT_HEADWAY_MIN: float = 0.5
_MIN_PER_HOUR = 60.0
#: Values per cycle in a truck's flat draw list (``model.draw``): 4 phase factors, delay u, delay
#: minutes, payload residual, fuel residual.
_PER_CYCLE = 8


@dataclass(frozen=True, eq=False)
class NetworkInputs:
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
    phase_noise: tuple[PhaseNoise, ...] = field(default_factory=lambda: (PhaseNoise("constant"),) * len(PHASES))
    noise: object = field(default_factory=NoiseTables.none)
    breakdowns: Breakdowns = field(default_factory=Breakdowns)

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
        if not (math.isfinite(self.headway_min) and self.headway_min >= 0):
            raise ValueError(f"NetworkInputs.headway_min must be >= 0, got {self.headway_min!r}")

    @property
    def trucks(self) -> int:
        return int(np.shape(self.payload_t)[0])

    @property
    def excavators(self) -> int:
        return int(np.shape(self.payload_t)[1])

    @property
    def points(self) -> int:
        return len(self.haul_legs)

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
    homes: tuple
    simple_haul: list      # [point][dest] True: the route has no single-lane leg (one timeout)
    simple_back: list      # [dest][point]
    cycles_per_block: int
    det_draws: list | None
    mean_delay_min: float


def prepare(inputs: NetworkInputs, params: ModelParams) -> _Prepared:
    noise = inputs.noise
    mean_delay = noise.mean_delay_min
    haul = inputs.haul_min.astype(float).copy()
    det = None
    if params.deterministic:  # as model.prepare: the expected delay rides on every haul, no draws
        haul += inputs.delay_probability * mean_delay
        pr = float(noise.payload_residuals_t.mean()) if noise.payload_residuals_t.size else 0.0
        fr = float(noise.fuel_residuals_l.mean()) if noise.fuel_residuals_l.size else 0.0
        det = [1.0, 1.0, 1.0, 1.0, 2.0, 0.0, pr, fr]
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
                     point_back=point_back.tolist(), homes=homes,
                     simple_haul=[[all(lane < 0 for _, lane in legs) for legs in row] for row in inputs.haul_legs],
                     simple_back=[[all(lane < 0 for _, lane in legs) for legs in row] for row in inputs.return_legs],
                     cycles_per_block=k, det_draws=det,
                     mean_delay_min=mean_delay)


def _hand_over(pool: simpy.Store, token: int) -> None:
    """Return an excavator index to its pool: straight to the first waiting truck's get event if any,
    else back on the shelf. Same effect as ``pool.put(token)`` (FIFO), one scheduled event fewer."""
    waiting = pool.get_queue
    if waiting:
        waiting.pop(0).succeed(token)
    else:
        pool.items.append(token)


def _excavator_failures(env, j, shift, failures, pool, down, withheld, out):
    """Take excavator ``j`` out of its loading pool at each failure inside the shift, for its repair
    (at once when idle; a truck loading keeps it until the load ends, then it is withheld)."""
    for time_to_failure, repair in failures:
        at = env.now + time_to_failure
        if at >= shift:
            return
        yield env.timeout(time_to_failure)
        if j in pool.items:  # idle: no truck can be waiting while tokens are free
            pool.items.remove(j)
            withheld[j] = True
        else:
            down[j] = True
        out[0] += 1
        out[1] += min(repair, shift - at)
        yield env.timeout(repair)
        down[j] = False
        if withheld[j]:
            withheld[j] = False
            _hand_over(pool, j)


class _Mine:
    """The shared state of one replication (pools, bays, lanes, dispatcher's view, counters)."""

    def __init__(self, env, inputs: NetworkInputs, params: ModelParams, prep: _Prepared):
        self.env = env
        self.inputs = inputs
        self.shift = params.shift_hours * _MIN_PER_HOUR
        n_points, n_dest = inputs.points, len(inputs.bays)
        self.pools = [simpy.Store(env) for _ in range(n_points)]
        for j, p in enumerate(inputs.excavator_point):
            self.pools[p].items.append(j)
        self.point_excavators = [[j for j, p in enumerate(inputs.excavator_point) if p == q] for q in range(n_points)]
        t = inputs.trucks
        self.bays = [None if b is None or b >= t else [0.0] * b for b in inputs.bays]
        self.lane_exit = [-math.inf] * inputs.lanes
        self.down = [False] * inputs.excavators
        self.withheld = [False] * inputs.excavators
        self.busy_until = [0.0] * inputs.excavators
        self.loading_at = [0] * n_points          # trucks loading now per point
        self.en_route: list[list[float]] = [[] for _ in range(n_points)]  # expected arrivals
        self.sent_t = [0.0] * n_dest              # tonnes dispatched per destination
        self.rule = dispatch_rules.rule(inputs.dispatch)
        self.headway = inputs.headway_min
        self.prep = prep

    def choose_point(self, i: int, d: int, home: int, now: float) -> int:
        """The rule's loading point for truck ``i`` leaving destination ``d``."""
        prep = self.prep
        options = []
        for p in range(self.inputs.points):
            mean_load = prep.point_load[i][p]
            if not math.isfinite(mean_load):
                continue
            travel = prep.point_back[i][d][p]
            arrive = now + travel
            free_at = [self.busy_until[j] for j in self.point_excavators[p] if not self.down[j] and not self.withheld[j]]
            before = [a for a in self.en_route[p] if a <= arrive]
            queued = len(self.pools[p].get_queue)
            options.append(dispatch_rules.LoaderOption(
                index=p, travel_min=travel, trucks_ahead=queued + self.loading_at[p] + len(before),
                loaders=len(free_at),
                expected_wait_min=dispatch_rules.projected_wait(now, arrive, free_at, queued, before, mean_load)))
        return self.rule.choose(i, home, options) if options else home

    def choose_destination(self, p: int, now: float) -> int:
        """The allowed destination furthest below its share of the tonnes sent (open ones first)."""
        allowed = self.inputs.allowed[p]
        if len(allowed) == 1:
            return allowed[0]
        closures = self.inputs.closures_min
        open_ = [d for d in allowed if not any(a <= now < b for a, b in closures[d])] or list(allowed)
        shares = self.inputs.shares
        total_share = sum(shares[d] for d in allowed) or 1.0
        sent = sum(self.sent_t[d] for d in allowed)
        return max(open_, key=lambda d: (shares[d] / total_share * sent - self.sent_t[d], shares[d], -d))

    def dump_start(self, d: int, arrival: float, dump_min: float) -> float:
        """When truck arriving at ``arrival`` starts tipping at ``d`` (bays FIFO, then closures)."""
        bays = self.bays[d]
        start = arrival
        k = -1
        if bays is not None:
            k = min(range(len(bays)), key=bays.__getitem__)
            if bays[k] > start:
                start = bays[k]
        for a, b in self.inputs.closures_min[d]:
            if a <= start < b:
                start = b
        if k >= 0:
            bays[k] = start + dump_min
        return start


def _travel(env, mine: _Mine, legs, minutes: float, lost: list):
    """Drive a route of ``minutes`` split over ``legs``; single-lane legs keep order and headway."""
    pending = 0.0
    for share, lane in legs:
        if lane < 0:
            pending += share * minutes
            continue
        if pending:
            yield env.timeout(pending)
            pending = 0.0
        entry = env.now
        leave = entry + share * minutes
        behind = mine.lane_exit[lane] + mine.headway
        if behind > leave:
            lost[0] += behind - leave
            leave = behind
        mine.lane_exit[lane] = leave
        yield env.timeout(leave - entry)
    if pending:
        yield env.timeout(pending)


def _truck(env, i: int, mine: _Mine, draws, out: list, dispatch_at: float):
    """One truck's shift (see the module docstring); totals into ``out[i]``."""
    inputs, prep, shift = mine.inputs, mine.prep, mine.shift
    timeout = env.timeout
    load, pay, haul, dmp, back, fuel, pdel = (prep.load[i], prep.payload[i], prep.haul[i], prep.dump[i],
                                              prep.back[i], prep.fuel[i], prep.p_delay[i])
    haul_legs, return_legs, ratio = inputs.haul_legs, inputs.return_legs, inputs.return_ratio
    simple_haul, simple_back = prep.simple_haul, prep.simple_back
    dynamic = mine.rule.dynamic
    d_list = draws.trucks[i]
    ttf, ttr = draws.truck_ttf[i], draws.truck_ttr[i]
    b, end_b, block = 0, len(d_list), 0
    next_fail, n_fail = ttf[0], 0
    n = _PER_CYCLE
    home = p = prep.homes[i]
    lost = [0.0]
    loads = delays = breakdowns = 0
    q_load = q_dump = busy = loading = payload = fuel_total = delay_min = cycle_sum = p_sum = downtime = 0.0
    by_dest = [0.0] * len(inputs.bays)
    if dispatch_at:
        yield timeout(dispatch_at)
    now = env.now
    while True:
        if now >= next_fail:
            repair = ttr[n_fail]
            breakdowns += 1
            downtime += repair if now + repair < shift else max(shift - now, 0.0)
            yield timeout(repair)
            now = env.now
            n_fail += 1
            next_fail = now + ttf[n_fail] if n_fail < len(ttf) else math.inf
        if now >= shift:
            break
        if b >= end_b:
            block += 1
            d_list = draws.extra(i, block)
            b, end_b = 0, len(d_list)
        f0, f1, f2, f3, u, dm, pr, fr = d_list[b:b + n]
        b += n
        pool = mine.pools[p]
        if pool.items and not pool.get_queue:
            e = pool.items.pop(0)
            t1 = now
        else:
            e = yield pool.get()
            t1 = env.now
        d = mine.choose_destination(p, t1)
        lt = load[e] * f0
        h = haul[e][d] * f1
        pe = pdel[e][d]
        delayed = u < pe
        stop = dm if delayed else 0.0
        dump = dmp[e][d] * f2
        ret = back[e][d] * f3
        if t1 + lt + stop + h + dump + ret > shift:  # the drawn cycle would not end in the shift: stop
            if mine.down[e]:
                mine.withheld[e] = True
            else:
                _hand_over(pool, e)
            break
        mine.busy_until[e] = t1 + lt
        mine.loading_at[p] += 1
        x = pay[e] + pr
        x = x if x > 0.0 else 0.0
        mine.sent_t[d] += x
        yield timeout(lt)
        mine.loading_at[p] -= 1
        if mine.down[e]:
            mine.withheld[e] = True
        else:
            _hand_over(pool, e)
        if t1 < shift:
            loading += lt if t1 + lt <= shift else shift - t1
        p_sum += pe
        if delayed:
            delays += 1
            delay_min += dm
        if simple_haul[p][d]:
            yield timeout(stop + h)
        else:
            if stop:
                yield timeout(stop)
            yield from _travel(env, mine, haul_legs[p][d], h, lost)
        t2 = env.now
        start = mine.dump_start(d, t2, dump)
        q_dump += start - t2
        if dynamic:
            yield timeout(start - t2 + dump)
            nxt = mine.choose_point(i, d, home, env.now)
        else:
            nxt = p
        ret *= ratio[d][p][nxt] if nxt != p else 1.0
        if dynamic:
            arrive = env.now + ret
            mine.en_route[nxt].append(arrive)
            if simple_back[d][nxt]:
                yield timeout(ret)
            else:
                yield from _travel(env, mine, return_legs[d][nxt], ret, lost)
            mine.en_route[nxt].remove(arrive)
        elif simple_back[d][nxt]:
            yield timeout(start - t2 + dump + ret)
        else:
            yield timeout(start - t2 + dump)
            yield from _travel(env, mine, return_legs[d][nxt], ret, lost)
        end = env.now
        loads += 1
        q_load += t1 - now
        busy += (end if end < shift else shift) - now
        cycle_sum += end - now
        payload += x
        by_dest[d] += x
        x = fuel[e][d] + fr
        if x > 0.0:
            fuel_total += x
        p = nxt
        now = end
    out[i] = (loads, payload, fuel_total, q_load, q_dump, lost[0], busy, loading, cycle_sum, delays, delay_min,
              p_sum, breakdowns, downtime, by_dest)


def simulate(inputs: NetworkInputs, params: ModelParams, draws, *, replication: int = 0,
             prepared: _Prepared | None = None) -> ReplicationResult:
    """Run the SimPy shift on given draws (``model.draw``'s layout)."""
    prep = prepared or prepare(inputs, params)
    env = simpy.Environment()
    mine = _Mine(env, inputs, params, prep)
    shift = mine.shift
    t, e = inputs.trucks, inputs.excavators
    out: list = [None] * t
    exc_out = [0, 0.0]
    for j, failures in enumerate(draws.excavator_failures):
        if failures and failures[0][0] < shift:
            env.process(_excavator_failures(env, j, shift, failures, mine.pools[inputs.excavator_point[j]],
                                            mine.down, mine.withheld, exc_out))
    for i in range(t):
        env.process(_truck(env, i, mine, draws, out, i * params.dispatch_interval_min))
    env.run()
    cols = list(zip(*out))
    (loads, payload, fuel, q_load, q_dump, lost, busy, loading, cycle_sum, delays, delay_min, p_sum, breakdowns,
     downtime) = (sum(c) for c in cols[:-1])
    by_dest = tuple(float(x) for x in np.sum(np.asarray(cols[-1], dtype=float), axis=0))
    if params.deterministic:
        delays = int(round(p_sum))
        delay_min = p_sum * prep.mean_delay_min
    queue = q_load + q_dump
    return ReplicationResult(
        scenario_key=inputs.scenario_key, replication=replication, trucks=t, excavators=e,
        shift_hours=params.shift_hours, loads=int(loads), production_t=float(payload), fuel_l=float(fuel),
        queue_hours=queue / _MIN_PER_HOUR, cycle_time_min=cycle_sum / loads if loads else math.nan,
        excavator_utilisation=loading / (e * shift), truck_utilisation=busy / (t * shift),
        delays=int(delays), delay_hours=delay_min / _MIN_PER_HOUR,
        incident_expected=loads * params.incident_probability_per_cycle,
        breakdowns=int(breakdowns + exc_out[0]), downtime_hours=(downtime + exc_out[1]) / _MIN_PER_HOUR,
        dispatch=inputs.dispatch, loader_queue_hours=q_load / _MIN_PER_HOUR, dump_queue_hours=q_dump / _MIN_PER_HOUR,
        bunching_hours=lost / _MIN_PER_HOUR, truck_downtime_hours=downtime / _MIN_PER_HOUR,
        excavator_downtime_hours=exc_out[1] / _MIN_PER_HOUR, loading_hours=loading / _MIN_PER_HOUR,
        destination_ids=tuple(inputs.destination_ids), destination_production_t=by_dest,
        destination_targets_t=tuple(inputs.targets_t),
    )


def run_replication(inputs: NetworkInputs, params: ModelParams, replication: int, seed: int,
                    *, prepared: _Prepared | None = None) -> ReplicationResult:
    """One shift with replication ``replication``'s common random numbers (the streams of ``model``)."""
    prep = prepared or prepare(inputs, params)
    return simulate(inputs, params, draw(inputs, params, prep, replication, seed), replication=replication,
                    prepared=prep)


def run_replications(inputs: NetworkInputs, params: ModelParams, seed: int,
                     replications: range | Sequence[int]) -> list[ReplicationResult]:
    """Replications of one strategy (tables prepared once)."""
    prep = prepare(inputs, params)
    return [run_replication(inputs, params, r, seed, prepared=prep) for r in replications]


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
