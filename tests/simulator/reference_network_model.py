"""The haul-network model's SimPy processes as they were before the analytic loader queue per point
(commit a1e966e, ``simulator/network_model.py``): each loading point a ``simpy.Store`` of its
excavators, excavator failures as processes, one event per phase and per route leg.

Kept verbatim (only ``simulate`` renamed ``simulate_reference``, plus the later model changes of how the
shift runs: a truck's breakdown cancels the cycle it happens in, a late join delays its line-up start)
so that ``test_network_equivalence.py`` can run old and new on the same draws. It shares ``prepare``/``draw`` and the inputs with
``simulator.network_model``: a change to what a replication *samples* applies to both; a change to how
the shift *runs* must be made here too (or the equivalence test says where they part).
"""
from __future__ import annotations

import math

import numpy as np
import simpy

from simulator import dispatch as dispatch_rules
from simulator.model import _PER_CYCLE, ModelParams
from simulator.network_model import _MIN_PER_HOUR, NetworkInputs, _Prepared, prepare
from simulator.results import ReplicationResult


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
            before = sorted(a for a in self.en_route[p] if a <= arrive)  # projected_wait takes them in order
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
        q_load += t1 - now
        busy += (end if end < shift else shift) - now
        if end < next_fail:  # else the truck broke down in this cycle: cancelled (no load, no cycle time)
            loads += 1
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


def simulate_reference(inputs: NetworkInputs, params: ModelParams, draws, *, replication: int = 0,
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
        late = draws.truck_late[i] if draws.truck_late is not None else 0.0
        env.process(_truck(env, i, mine, draws, out, i * params.dispatch_interval_min + late))
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
