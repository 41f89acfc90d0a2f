"""The simulator's SimPy processes as they were before the analytic loader queue (commit 3377951).

Kept verbatim (only ``simulate`` renamed ``simulate_reference``, plus the two later model changes of how
the shift runs: a truck's breakdown cancels the cycle it happens in, and a late join delays its line-up
start) so that ``test_model_equivalence.py`` can run old and new on the same draws and prove the
numbers identical. It shares ``prepare``/``draw``
and the result type with ``simulator.model``: a change to what a replication *samples* applies to both;
a change to how the shift *runs* must be made here too (or the equivalence test says where they part).
"""
from __future__ import annotations

import math

import simpy

from simulator.model import _MIN_PER_HOUR, _PER_CYCLE, Draws, ModelParams, Prepared, ScenarioInputs, prepare
from simulator.results import ReplicationResult

# --- the SimPy processes --------------------------------------------------------------------------

def _hand_over(pool: simpy.Store, token: int) -> None:
    """Return an excavator index to the pool: straight to the first waiting truck's get event if any,
    else back on the shelf. Same effect as ``pool.put(token)`` (FIFO), one scheduled event fewer."""
    waiting = pool.get_queue
    if waiting:
        waiting.pop(0).succeed(token)
    else:
        pool.items.append(token)


def _truck(env, i, shift, prep: Prepared, draws: Draws, loaders, down, withheld, bays, out, trace,
           dispatch_at=0.0):
    """One truck's shift: cycles until the next drawn cycle no longer fits (see the module docstring);
    totals into ``out[i]``.

    ``bays`` holds the minute each dump bay is free again (None: no dump queue). The release of an
    excavator is :func:`_hand_over` written inline (this loop is the simulator's hot path).
    """
    timeout = env.timeout
    free_loaders, wait_loader, loader_queue = loaders.items, loaders.get, loaders.get_queue
    n_bays = len(bays) if bays is not None else 0
    base, pay, fuel, p = prep.base[i], prep.payload[i], prep.fuel[i], prep.p_delay[i]
    d = draws.trucks[i]
    ttf, ttr = draws.truck_ttf[i], draws.truck_ttr[i]
    b, end_b, block = 0, len(d), 0
    next_fail, n_fail = ttf[0], 0
    n = _PER_CYCLE
    loads = delays = breakdowns = 0
    queue = busy = loading = payload = fuel_total = delay_min = cycle_sum = p_sum = downtime = 0.0
    if dispatch_at:  # the line-up: this truck leaves it dispatch_at minutes into the shift
        yield timeout(dispatch_at)
    while True:
        now = env.now
        if now >= next_fail:  # the failure happened during the last cycle: down now, then repaired
            repair = ttr[n_fail]
            breakdowns += 1
            downtime += (repair if now + repair < shift else max(shift - now, 0.0))
            yield timeout(repair)
            now = env.now
            n_fail += 1
            next_fail = now + ttf[n_fail] if n_fail < len(ttf) else math.inf
        if now >= shift:
            break
        if b >= end_b:
            block += 1
            d = draws.extra(i, block)
            b, end_b = 0, len(d)
        f0, f1, f2, f3, u, dm, pr, fr = d[b:b + n]
        b += n
        if free_loaders and not loader_queue:
            e = free_loaders.pop(0)
            t1 = now
        else:
            e = yield wait_loader()
            t1 = env.now
        bi = base[e]
        lt = bi[0] * f0
        h = bi[1] * f1
        pe = p[e]
        delayed = u < pe
        if delayed:
            h += dm
        dump = bi[2] * f2
        back = bi[3] * f3
        if t1 + lt + h + dump + back > shift:  # the drawn cycle would not end in the shift: stop
            if down[e]:
                withheld[e] = True
            elif loader_queue:
                loader_queue.pop(0).succeed(e)
            else:
                free_loaders.append(e)
            break
        if trace is not None:
            trace.append((i, e, t1))
        yield timeout(lt)
        if down[e]:
            withheld[e] = True  # the excavator broke down during this load: keep it out of the pool
        elif loader_queue:
            loader_queue.pop(0).succeed(e)
        else:
            free_loaders.append(e)
        if t1 < shift:
            loading += lt if t1 + lt <= shift else shift - t1
        p_sum += pe
        if delayed:
            delays += 1
            delay_min += dm
        yield timeout(h)
        if bays is not None:  # FIFO dump queue: take the bay that frees first (see the docstring)
            t2 = env.now
            k = 0
            start = bays[0]
            for j in range(1, n_bays):
                if bays[j] < start:
                    start, k = bays[j], j
            if start < t2:
                start = t2
            bays[k] = start + dump
            queue += start - t2
            yield timeout(start - t2 + dump + back)
        else:  # no dump queue can form: one timeout for dump and return
            yield timeout(dump + back)
        end = env.now
        queue += t1 - now
        busy += (end if end < shift else shift) - now
        if end < next_fail:  # else the truck broke down in this cycle: cancelled (no load, no cycle time)
            loads += 1
            cycle_sum += end - now
            x = pay[e] + pr
            if x > 0.0:
                payload += x
        x = fuel[e] + fr
        if x > 0.0:
            fuel_total += x
    out[i] = (loads, payload, fuel_total, queue, busy, loading, cycle_sum, delays, delay_min, p_sum,
              breakdowns, downtime)


def _excavator_failures(env, j, shift, failures, loaders, down, withheld, out):
    """Take excavator ``j`` out of the loading pool at each failure inside the shift, for its repair."""
    for time_to_failure, repair in failures:
        at = env.now + time_to_failure
        if at >= shift:
            return
        yield env.timeout(time_to_failure)
        if j in loaders.items:  # idle: no truck can be waiting while tokens are free
            loaders.items.remove(j)
            withheld[j] = True
        else:  # loading a truck: the truck keeps the token when its load ends
            down[j] = True
        out[0] += 1
        out[1] += min(repair, shift - at)
        yield env.timeout(repair)
        down[j] = False
        if withheld[j]:
            withheld[j] = False
            _hand_over(loaders, j)


def simulate_reference(inputs: ScenarioInputs, params: ModelParams, draws: Draws, *, replication: int = 0,
             prepared: Prepared | None = None, trace: list | None = None) -> ReplicationResult:
    """Run the SimPy shift on given draws (``trace`` collects (truck, excavator, minute) load starts)."""
    prep = prepared or prepare(inputs, params)
    env = simpy.Environment()
    shift = params.shift_hours * _MIN_PER_HOUR
    t, e = inputs.trucks, inputs.excavators
    loaders = simpy.Store(env)
    loaders.items.extend(range(e))
    # Minute each dump bay is free again (None: a bay per truck, no dump queue can form).
    bays = [0.0] * params.dump_bays if params.dump_bays is not None and params.dump_bays < t else None
    down, withheld = [False] * e, [False] * e
    out: list = [None] * t
    exc_out = [0, 0.0]
    for j, failures in enumerate(draws.excavator_failures):
        if failures and failures[0][0] < shift:
            env.process(_excavator_failures(env, j, shift, failures, loaders, down, withheld, exc_out))
    for i in range(t):
        late = draws.truck_late[i] if draws.truck_late is not None else 0.0
        env.process(_truck(env, i, shift, prep, draws, loaders, down, withheld, bays, out, trace,
                           i * params.dispatch_interval_min + late))
    env.run()
    (loads, payload, fuel, queue, busy, loading, cycle_sum, delays, delay_min, p_sum, breakdowns,
     downtime) = (sum(col) for col in zip(*out))
    if params.deterministic:  # expected delays ride on every haul (see prepare)
        delays = int(round(p_sum))
        delay_min = p_sum * prep.mean_delay_min
    return ReplicationResult(
        scenario_key=inputs.scenario_key, replication=replication, trucks=t, excavators=e,
        shift_hours=params.shift_hours, loads=int(loads), production_t=float(payload), fuel_l=float(fuel),
        queue_hours=queue / _MIN_PER_HOUR,
        cycle_time_min=cycle_sum / loads if loads else math.nan,
        excavator_utilisation=loading / (e * shift), truck_utilisation=busy / (t * shift),
        delays=int(delays), delay_hours=delay_min / _MIN_PER_HOUR,
        incident_expected=loads * params.incident_probability_per_cycle,
        breakdowns=int(breakdowns + exc_out[0]), downtime_hours=(downtime + exc_out[1]) / _MIN_PER_HOUR,
    )
