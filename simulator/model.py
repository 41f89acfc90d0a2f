"""The closed-loop SimPy model of one shift: trucks queue, load, haul, queue at the dump, dump, return.

``run_replication(inputs, params, replication, seed) -> ReplicationResult`` is pure: everything comes
in through the arguments (per truck x excavator pair tables precomputed from the champion's batched
predictions, the phase noise, the resampled noise tables, the breakdown rates) and nothing is loaded
or read from globals, so tests feed constant samplers or the synthetic mine's ground truth.

Model (times in minutes inside, hours in the result):

* The loading queue is FIFO over the excavators and is served analytically at each truck's arrival
  (the Kiefer-Wolfowitz recursion, exact for FIFO servers): every truck ahead in the queue has already
  taken its excavator, so the arriving truck takes the one that frees first (the earliest release on
  equal minutes, as a FIFO pool hands them out) and starts loading at max(arrival, that minute). The
  truck x excavator pair's loading time, payload, fuel and delay probability apply. SimPy then only
  orders the trucks' arrivals: one event per cycle, at its end (two with a dump queue). Each truck
  keeps its own clock, the same floats a phase-by-phase clock gives (``exact_delay``). This gave
  bit-identical results and load-start logs to the ``simpy.Store`` model it replaced (kept in
  ``tests/simulator/reference_model.py``; ``test_model_equivalence.py``) for about 25-30 % less CPU.
* The dump is a FIFO queue with ``dump_bays`` places. Dump times are drawn before the truck arrives,
  so a truck arriving at the dump takes the bay that frees first and starts at max(arrival, that
  time) (the Kiefer-Wolfowitz recursion, exact for FIFO servers); one timeout then covers its wait,
  dump and return. This gave the same results as a ``simpy.Store`` of bays up to float rounding
  (relative 1e-14 on REF-A) for 18 % less CPU. No dump queue is kept when bays >= trucks or
  ``dump_bays`` is None (the champion's data showed no truck waiting to dump).
* Trucks leave the line-up ``dispatch_interval_min`` apart (truck ``i`` joins the loading queue at
  ``i x`` that), as measured on the mine's shift starts; 0 sends every truck at the shift start.
* A cycle thus costs one SimPy event (two with a dump queue); ``benchmarks/bench_simulator.py``
  measures the CPU per simulation against a plain request/release SimPy loop of the same grid.
* Phase duration = pair mean minutes x a mean-one factor from the phase's :class:`PhaseNoise`
  (lognormal ``exp(sigma z - sigma^2/2)`` for the champion's calibrated log-normal phases) x the
  replication's shift-level factor of that phase (``PhaseNoise.shift_sigma``, common to its cycles).
* Payload and fuel of a cycle = pair mean + a holdout residual resampled (one holdout row for both,
  which keeps their correlation), clipped at 0. Delay: Bernoulli(pair probability), then a length
  resampled from the observed delay minutes of the request's weather (``NoiseTables.for_weather``:
  rain stops last longer), added to the haul.
* Expected incidents = completed cycles x ``incident_probability_per_cycle`` (the rate measured on the
  site's INCIDENT records for the request's weather and road condition; their cost is charged by
  ``economics``; the stop an incident causes is in the resampled delay minutes of the records).
* Breakdowns: per unit, time to failure ~ Exp(MTBF) on the shift's clock; repair times resampled from
  the measured repairs (``Breakdowns.truck_repair_min``/``excavator_repair_min``, quantiles), else
  ~ Exp(MTTR). A truck that fails during a cycle drives it to its end, but the cycle is cancelled (as
  the fleet system records it: no load, no cycle time; its fuel and time are spent), then it goes to
  repair. An excavator's outages are drawn ahead (each failure counted from the previous repair's
  end), so the queue knows them at any arrival: one failing mid-load finishes that load and is
  released when repaired, one failing while idle is out of the pool until repaired. Downtime counts
  repair time inside the shift.
* Late joins: a truck still in the workshop at the shift's start (a repair carried over) joins the
  line-up late: with probability ``Breakdowns.truck_late_share`` by minutes resampled from
  ``truck_late_min`` (both measured on the site's shift groups, ``training.site``), drawn per truck and
  replication from a stream of its own.
* End of shift (the synthetic mine's rule, ``training.synthetic.events.Mine._pit``): a truck queues for an
  excavator as long as the shift runs; when it gets one, it starts the cycle only if the cycle's drawn
  phase durations (loading, haul with its drawn delay, dump, return) end within the shift, counted
  from the loading start, so the loading queue it just waited through counts. Otherwise it hands the
  excavator on and stops for the shift. The dump-queue wait is not known ahead and is not counted (the
  mine has no dump queue). Started cycles finish and count.
* Deterministic mode: every factor 1 (each phase at its mean), payload/fuel at mean + mean residual,
  each haul lengthened by probability x mean delay, no breakdowns, no random numbers at all.

Common random numbers: replication ``r`` draws from ``SeedSequence(seed, spawn_key=(r, ...))`` (the
children of ``SeedSequence(seed).spawn(n)``) whatever the scenario. Truck ``i``'s per-cycle draws are
row ``i`` of one ``(trucks, cycles_per_block, DRAWS)`` uniform block, and numpy fills arrays in order,
so the row is the same in every scenario with more than ``i`` trucks: adding a truck shifts no other
truck's draws. Excavator failures come from a second stream, laid out the same way.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from scipy.special import gammaincinv, ndtri

from simulator.results import ReplicationResult
from training.bundle import PHASES

#: Dump positions (tipping bays at the ROM pad/hopper) served at once when neither the data nor the
#: request says otherwise. The fleet export has no dump-point table; two bays is the common layout of
#: a small pit's ROM pad and the figure of the reference benchmark loop. Count.
DEFAULT_DUMP_BAYS: int = 2
#: Probability of an incident (spill, minor contact, stuck truck) per haul cycle, used for the
#: expected incident cost only when the champion has no incident evidence (a bundle without
#: ``SiteCalibration.incident_rate``): the engine uses the rate measured on the INCIDENT records by
#: weather and road condition. This fallback is the synthetic mine's dry-weather base rate
#: (``training.ground_truth``, one in a thousand cycles). 1/cycle.
DEFAULT_INCIDENT_PROBABILITY: float = 0.001
#: Cycles drawn per truck per block beyond the expected number (``BLOCK_SAFETY`` x expected + margin);
#: a truck that needs more draws another block from its own stream, so this only tunes speed.
BLOCK_SAFETY: float = 1.25
BLOCK_MARGIN: int = 4
#: Failures simulated per excavator per shift at most (at MTBF of hundreds of hours a second failure
#: inside one shift is already rare), count.
MAX_EXCAVATOR_FAILURES: int = 4
#: Uniforms drawn per truck per cycle: 4 phase factors, delay occurrence, delay length, residual row,
#: time to failure, repair time (the last two are used by the truck's f-th failure from row f).
DRAWS: int = 9
#: Values per cycle in a truck's flat draw list: 4 phase factors, delay u, delay minutes,
#: payload residual, fuel residual.
_PER_CYCLE = 8
_MIN_PER_HOUR = 60.0
#: Stream ids under the replication's spawn key: truck block, excavator failures, extra truck blocks,
#: late joins, shift-level phase factors.
_TRUCK_STREAM, _EXCAVATOR_STREAM, _EXTRA_STREAM, _LATE_STREAM, _SHIFT_STREAM = 0, 1, 2, 3, 4
NOISE_KINDS: tuple[str, ...] = ("lognormal", "exponential", "gamma", "constant")


@dataclass(frozen=True)
class PhaseNoise:
    """Mean-one multiplicative noise of a phase duration (duration = pair mean minutes x factor).

    ``lognormal``: ``exp(shape z - shape^2/2)``, shape = log-sd (the champion's ``PhaseModel.sigma``);
    ``exponential``: Exp(1); ``gamma``: Gamma(shape, 1/shape); ``constant``: 1.
    ``shift_sigma``: log-sd of a mean-one lognormal factor common to every cycle of a replication (the
    shift-level effect the site calibration measured: how far a shift group's phase times sit from the
    champion's means, ``training.site.between_group_sd``); 0 = none.
    """

    kind: str = "lognormal"
    shape: float = 0.0
    shift_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"PhaseNoise.kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        if not math.isfinite(self.shape) or self.shape < 0 or (self.kind == "gamma" and self.shape == 0):
            raise ValueError(f"PhaseNoise.shape must be finite and >= 0 (> 0 for gamma), got {self.shape!r}")
        if not math.isfinite(self.shift_sigma) or self.shift_sigma < 0:
            raise ValueError(f"PhaseNoise.shift_sigma must be finite and >= 0, got {self.shift_sigma!r}")

    def factors(self, u: np.ndarray) -> np.ndarray:
        """Mean-one factors from uniforms in [0, 1) (inverse transform, so streams stay aligned)."""
        if self.kind == "constant" or (self.kind == "lognormal" and self.shape == 0):
            return np.ones_like(u)
        if self.kind == "lognormal":
            z = ndtri(np.clip(u, 1e-12, 1 - 1e-12))
            return np.exp(self.shape * z - 0.5 * self.shape ** 2)
        if self.kind == "exponential":
            return -np.log1p(-u)
        return gammaincinv(self.shape, u) / self.shape


@dataclass(frozen=True, eq=False)
class NoiseTables:
    """Per-version arrays resampled per cycle: holdout residuals (t, L) and observed delay lengths (min).

    ``delay_minutes`` is what a replication samples; ``delay_minutes_by_weather`` keeps the champion's
    per-weather arrays until :meth:`for_weather` picks the request's (the conditions are fixed per
    request), which returns tables whose ``delay_minutes`` is that weather's array (the pooled one for
    a weather the bundle has none for) and that carry no per-weather arrays (light to ship to workers).
    """

    key: str
    payload_residuals_t: np.ndarray
    fuel_residuals_l: np.ndarray
    delay_minutes: np.ndarray
    delay_minutes_by_weather: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, payload_residuals_t, fuel_residuals_l, delay_minutes, label: str = "",
              delay_minutes_by_weather: Mapping[str, Any] | None = None) -> "NoiseTables":
        """Tables keyed by ``label`` plus a content hash (a worker caches them by this key)."""
        arrays = [_flat(a) for a in (payload_residuals_t, fuel_residuals_l, delay_minutes)]
        by_weather = {str(w): _flat(a) for w, a in sorted((delay_minutes_by_weather or {}).items())}
        digest = hashlib.blake2b(digest_size=8)
        for name, a in [("", x) for x in arrays] + sorted(by_weather.items()):
            digest.update(name.encode() + b"\0")
            digest.update(len(a).to_bytes(8, "little"))
            digest.update(a.tobytes())
        return cls(f"{label}-{digest.hexdigest()}" if label else digest.hexdigest(), *arrays, by_weather)

    @classmethod
    def from_bundle(cls, bundle: Any, weather: str | None = None) -> "NoiseTables":
        """The champion's holdout residuals and delay minutes (of ``weather`` when given, see
        :meth:`for_weather`; else all of the bundle's, to be narrowed later)."""
        tables = cls.build(bundle.residuals["payload"], bundle.residuals["fuel"], bundle.delay_minutes,
                           label=str(bundle.version),
                           delay_minutes_by_weather=getattr(bundle, "delay_minutes_by_weather", None))
        return tables if weather is None else tables.for_weather(weather)

    @classmethod
    def none(cls) -> "NoiseTables":
        """No residual noise and no delay length (constant samplers in tests)."""
        return cls.build([], [], [], label="none")

    def for_weather(self, weather: str) -> "NoiseTables":
        """The tables of one weather of the day: its delay lengths, else the pooled ones (self when
        there are no per-weather arrays: nothing to choose)."""
        if not self.delay_minutes_by_weather:
            return self
        chosen = self.delay_minutes_by_weather.get(str(weather))
        label = f"{self.key}@{'pooled' if chosen is None else weather}"
        return NoiseTables(label, self.payload_residuals_t, self.fuel_residuals_l,
                           self.delay_minutes if chosen is None else chosen)

    @property
    def mean_delay_min(self) -> float:
        return float(self.delay_minutes.mean()) if self.delay_minutes.size else 0.0


def _flat(values: Any) -> np.ndarray:
    """A contiguous 1-D float copy."""
    return np.ascontiguousarray(np.asarray(values, dtype=float).ravel())


@dataclass(frozen=True)
class Breakdowns:
    """Out-of-service time of trucks and excavators: exponential failures (MTBF = inf: none), repairs
    resampled from measured quantiles (min; empty: exponential of mean MTTR, h), and late joins."""

    truck_mtbf_hours: float = math.inf
    truck_mttr_hours: float = 0.0
    excavator_mtbf_hours: float = math.inf
    excavator_mttr_hours: float = 0.0
    truck_repair_min: tuple[float, ...] = ()
    excavator_repair_min: tuple[float, ...] = ()
    #: Share of truck-shifts whose truck joins the line-up late, and quantiles of how late (min).
    truck_late_share: float = 0.0
    truck_late_min: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.truck_late_share <= 1.0:
            raise ValueError(f"Breakdowns.truck_late_share must be in [0, 1], got {self.truck_late_share!r}")

    @classmethod
    def from_bundle(cls, bundle: Any) -> "Breakdowns":
        """MTBF/MTTR and repair quantiles (``bundle.reliability``) and the site's late joins (``bundle.site``)."""
        t, e = bundle.reliability["truck"], bundle.reliability["excavator"]
        site = getattr(bundle, "site", None)
        return cls(float(t.mtbf_hours), float(t.mttr_hours), float(e.mtbf_hours), float(e.mttr_hours),
                   truck_repair_min=tuple(h * _MIN_PER_HOUR for h in getattr(t, "repair_hours", ())),
                   excavator_repair_min=tuple(h * _MIN_PER_HOUR for h in getattr(e, "repair_hours", ())),
                   truck_late_share=float(getattr(site, "late_join_share", 0.0) or 0.0),
                   truck_late_min=tuple(getattr(site, "late_join_min", ()) or ()))


class FleetTables:
    """The fleet size of a scenario's pair tables: ``payload_t`` has a row per truck and a column per
    excavator (``ScenarioInputs`` and ``network_model.NetworkInputs``)."""

    payload_t: np.ndarray

    @property
    def trucks(self) -> int:
        return int(np.shape(self.payload_t)[0])

    @property
    def excavators(self) -> int:
        return int(np.shape(self.payload_t)[1])


@dataclass(frozen=True, eq=False)
class ScenarioInputs(FleetTables):
    """One scenario's pair tables (rows = its trucks, columns = its excavators) and samplers."""

    scenario_key: str
    payload_t: np.ndarray          # (T, E) mean payload per cycle, t
    fuel_l: np.ndarray             # (T, E) mean fuel per cycle, L
    delay_probability: np.ndarray  # (T, E) probability that a cycle is delayed
    phase_mean_min: np.ndarray     # (T, E, 4) mean minutes of loading, hauling, dumping, returning
    phase_noise: tuple[PhaseNoise, ...] = field(default_factory=lambda: (PhaseNoise("constant"),) * len(PHASES))
    noise: Any = field(default_factory=NoiseTables.none)  # NoiseTables (a NoiseRef while shipped to a worker)
    breakdowns: Breakdowns = field(default_factory=Breakdowns)

    def __post_init__(self) -> None:
        t, e = np.shape(self.payload_t)
        for name in ("fuel_l", "delay_probability"):
            if np.shape(getattr(self, name)) != (t, e):
                raise ValueError(f"ScenarioInputs.{name} must have shape {(t, e)}")
        if np.shape(self.phase_mean_min) != (t, e, len(PHASES)):
            raise ValueError(f"ScenarioInputs.phase_mean_min must have shape {(t, e, len(PHASES))}")
        if len(self.phase_noise) != len(PHASES):
            raise ValueError(f"ScenarioInputs.phase_noise needs one PhaseNoise per phase {PHASES}")
        if t < 1 or e < 1:
            raise ValueError("a scenario needs at least one truck and one excavator")

    def subset(self, trucks: int, excavators: int, scenario_key: str) -> "ScenarioInputs":
        """The scenario using the first ``trucks`` rows and ``excavators`` columns of these tables."""
        if trucks > self.trucks or excavators > self.excavators:
            raise ValueError(f"{scenario_key}: tables hold {self.trucks}x{self.excavators} pairs")
        return ScenarioInputs(
            scenario_key=scenario_key,
            payload_t=np.array(self.payload_t[:trucks, :excavators]),
            fuel_l=np.array(self.fuel_l[:trucks, :excavators]),
            delay_probability=np.array(self.delay_probability[:trucks, :excavators]),
            phase_mean_min=np.array(self.phase_mean_min[:trucks, :excavators]),
            phase_noise=self.phase_noise, noise=self.noise, breakdowns=self.breakdowns)

    @property
    def sampling_key(self) -> tuple:
        """Everything :func:`draw` reads from the scenario besides its size: scenarios with equal keys
        draw the same numbers (the smaller's are a prefix of the larger's, see :func:`shared_draws`).
        Whatever ``draw`` comes to read from the inputs must join this key."""
        return (self.noise.key, self.phase_noise, self.breakdowns)

    def expected_cycle_min(self, delay_mean_min: float) -> np.ndarray:
        """Per truck, the expected cycle without queues over this scenario's excavators, min."""
        per_pair = self.phase_mean_min.sum(axis=2) + self.delay_probability * delay_mean_min
        return per_pair.mean(axis=1)


@dataclass(frozen=True)
class ModelParams:
    """How a replication runs (shared by every scenario of a request)."""

    shift_hours: float = 8.0
    #: Dump positions served at once; None: no dump queue (the data showed trucks never wait to dump).
    dump_bays: int | None = DEFAULT_DUMP_BAYS
    incident_probability_per_cycle: float = DEFAULT_INCIDENT_PROBABILITY
    deterministic: bool = False
    #: Cycles drawn per truck per block; fix it per request (``block_cycles``) so that scenarios share
    #: their draws (common random numbers). None = computed from the scenario's own tables.
    cycles_per_block: int | None = None
    #: Minutes between two trucks' first arrival at the loaders: truck ``i`` joins the loading queue at
    #: ``i x dispatch_interval_min`` (the line-up leaves one truck at a time; 0: all at the shift start).
    dispatch_interval_min: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.shift_hours) and self.shift_hours > 0):
            raise ValueError(f"ModelParams.shift_hours must be > 0, got {self.shift_hours!r}")
        if not (math.isfinite(self.dispatch_interval_min) and self.dispatch_interval_min >= 0):
            raise ValueError(f"ModelParams.dispatch_interval_min must be >= 0, got {self.dispatch_interval_min!r}")
        if self.dump_bays is not None and self.dump_bays < 1:
            raise ValueError(f"ModelParams.dump_bays must be >= 1, got {self.dump_bays!r}")
        if not 0 <= self.incident_probability_per_cycle <= 1:
            raise ValueError("ModelParams.incident_probability_per_cycle must be in [0, 1]")


def block_cycles(shift_hours: float, shortest_cycle_min: float) -> int:
    """Cycles per truck block: enough for a shift of the shortest expected cycle, with a safety margin."""
    expected = shift_hours * _MIN_PER_HOUR / max(shortest_cycle_min, 1e-3)
    return int(min(math.ceil(BLOCK_SAFETY * expected) + BLOCK_MARGIN, 100_000))


def replication_seed(seed: int, replication: int, *stream: int) -> np.random.SeedSequence:
    """Replication ``replication``'s seed (= ``SeedSequence(seed).spawn(n)[replication]``), or a
    sub-stream of it."""
    return np.random.SeedSequence(seed, spawn_key=(replication, *stream))


# --- per-replication preparation ------------------------------------------------------------------

@dataclass(frozen=True)
class Prepared:
    """Scenario tables as Python lists for the inner loop (built once per scenario, not per replication)."""

    base: list            # [truck][excavator] -> [load, haul, dump, return] mean minutes
    payload: list         # [truck][excavator]
    fuel: list
    p_delay: list
    expected_cycle: list  # [truck] expected cycle without queue, min
    cycles_per_block: int
    det_draws: list | None  # deterministic flat draw list of one cycle per truck (repeated)
    mean_delay_min: float


def deterministic_draws(noise: NoiseTables) -> list[float]:
    """The one cycle of draws deterministic mode repeats (both models): every phase factor 1, delay u = 2
    (above any probability: no sampled delay, the expected one rides on the haul), payload and fuel at
    the mean residual."""
    pr = float(noise.payload_residuals_t.mean()) if noise.payload_residuals_t.size else 0.0
    fr = float(noise.fuel_residuals_l.mean()) if noise.fuel_residuals_l.size else 0.0
    return [1.0, 1.0, 1.0, 1.0, 2.0, 0.0, pr, fr]


def prepare(inputs: ScenarioInputs, params: ModelParams) -> Prepared:
    """Turn the scenario's arrays into the lists the SimPy processes index."""
    noise = inputs.noise
    mean_delay = noise.mean_delay_min
    base = inputs.phase_mean_min.astype(float).copy()
    det = None
    if params.deterministic:  # each haul carries its expected delay
        base[:, :, 1] += inputs.delay_probability * mean_delay
        det = deterministic_draws(noise)
    expected = inputs.expected_cycle_min(mean_delay)
    k = params.cycles_per_block or block_cycles(params.shift_hours, float(expected.min()))
    return Prepared(base=base.tolist(), payload=inputs.payload_t.tolist(), fuel=inputs.fuel_l.tolist(),
                    p_delay=inputs.delay_probability.tolist(), expected_cycle=expected.tolist(),
                    cycles_per_block=k, det_draws=det, mean_delay_min=mean_delay)


def _shift_factors(inputs: ScenarioInputs, replication: int, seed: int) -> np.ndarray | None:
    """Per phase, the replication's shift-level factor ``exp(s z - s^2/2)`` (None when no phase has one),
    from a stream of its own (the other draws are unchanged)."""
    sigma = np.array([n.shift_sigma for n in inputs.phase_noise])
    if not sigma.any():
        return None
    g = np.random.Generator(np.random.PCG64(replication_seed(seed, replication, _SHIFT_STREAM)))
    z = ndtri(np.clip(g.random(len(sigma)), 1e-12, 1 - 1e-12))
    return np.exp(sigma * z - 0.5 * sigma ** 2)


def _cycle_values(u: np.ndarray, inputs: ScenarioInputs, shift_factors: np.ndarray | None = None) -> np.ndarray:
    """Uniform block (..., DRAWS) -> per-cycle values (..., 8): factors (times the replication's shift
    factors, when given), delay u, delay min, residuals."""
    noise = inputs.noise
    out = np.empty(u.shape[:-1] + (_PER_CYCLE,))
    phases = len(inputs.phase_noise)
    if all(n.kind == "lognormal" for n in inputs.phase_noise):  # the champion's case: one vectorised pass
        sigma = np.array([n.shape for n in inputs.phase_noise])
        z = ndtri(np.clip(u[..., :phases], 1e-12, 1 - 1e-12))
        out[..., :phases] = np.exp(z * sigma - 0.5 * sigma ** 2)
    else:
        for p, phase_noise in enumerate(inputs.phase_noise):
            out[..., p] = phase_noise.factors(u[..., p])
    if shift_factors is not None:
        out[..., :phases] *= shift_factors
    out[..., 4] = u[..., 4]
    for col, table, src in ((5, noise.delay_minutes, 5), (6, noise.payload_residuals_t, 6),
                            (7, noise.fuel_residuals_l, 6)):
        if table.size:
            out[..., col] = table[np.minimum((u[..., src] * table.size).astype(np.intp), table.size - 1)]
        else:
            out[..., col] = 0.0
    return out


def _exp_minutes(u: np.ndarray, mean_hours: float) -> np.ndarray:
    """Exponential times (min) of mean ``mean_hours`` from uniforms; inf when the mean is inf."""
    if not math.isfinite(mean_hours):
        return np.full(u.shape, math.inf)
    return -np.log1p(-u) * mean_hours * _MIN_PER_HOUR


def resample_quantiles(u: np.ndarray, table: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Values of the distribution whose evenly spaced quantiles are ``table`` at uniforms ``u`` (linear
    between quantiles; inverse transform, so streams stay aligned)."""
    q = np.asarray(table, dtype=float)
    if q.size == 1:
        return np.full(np.shape(u), q[0])
    return np.interp(np.asarray(u) * (q.size - 1), np.arange(q.size), q)


def _repair_minutes(u: np.ndarray, mttr_hours: float, table: tuple[float, ...]) -> np.ndarray:
    """Repair times (min): resampled from the measured quantiles, else exponential of mean MTTR."""
    return resample_quantiles(u, table) if table else _exp_minutes(u, mttr_hours)


def late_minutes(u: np.ndarray, share: float, table: tuple[float, ...]) -> np.ndarray:
    """Minutes each truck joins late: with probability ``share`` (u < share) a value of ``table``'s
    distribution (at u / share), else 0."""
    u = np.asarray(u, dtype=float)
    if share <= 0.0 or not table:
        return np.zeros(u.shape)
    return np.where(u < share, resample_quantiles(np.minimum(u / share, 1.0), table), 0.0)


@dataclass
class Draws:
    """One replication's random inputs, ready for the processes (tests may build one by hand)."""

    trucks: list                  # [truck] flat list of _PER_CYCLE values per cycle
    truck_ttf: list               # [truck] list of times to failure, min (inf = none)
    truck_ttr: list               # [truck] list of repair times, min
    excavator_failures: list      # [excavator] list of (time to failure, repair) pairs, min
    extra: Any                    # callable(truck, block) -> flat list, for trucks that need more cycles
    truck_late: list | None = None  # [truck] minutes it joins the line-up late (None: none)


def draw(inputs: ScenarioInputs, params: ModelParams, prep: Prepared, replication: int, seed: int) -> Draws:
    """All uniforms of a replication in two vectorised blocks (trucks, excavator failures)."""
    t, e, k = inputs.trucks, inputs.excavators, prep.cycles_per_block
    if params.deterministic:
        flat = prep.det_draws * k
        return Draws([flat] * t, [[math.inf]] * t, [[0.0]] * t, [[] for _ in range(e)],
                     lambda truck, block: flat)
    rng = np.random.Generator(np.random.PCG64(replication_seed(seed, replication, _TRUCK_STREAM)))
    u = rng.random((t, k, DRAWS))
    shift_factors = _shift_factors(inputs, replication, seed)
    values = _cycle_values(u, inputs, shift_factors).reshape(t, k * _PER_CYCLE).tolist()
    bd = inputs.breakdowns
    ttf = _exp_minutes(u[:, :, 7], bd.truck_mtbf_hours).tolist()
    ttr = _repair_minutes(u[:, :, 8], bd.truck_mttr_hours, bd.truck_repair_min).tolist() \
        if math.isfinite(bd.truck_mtbf_hours) else [[0.0]] * t
    failures: list = [[] for _ in range(e)]
    if math.isfinite(bd.excavator_mtbf_hours):
        rng_e = np.random.Generator(np.random.PCG64(replication_seed(seed, replication, _EXCAVATOR_STREAM)))
        ue = rng_e.random((e, MAX_EXCAVATOR_FAILURES, 2))
        f = _exp_minutes(ue[:, :, 0], bd.excavator_mtbf_hours)
        r = _repair_minutes(ue[:, :, 1], bd.excavator_mttr_hours, bd.excavator_repair_min)
        failures = [list(zip(f[j].tolist(), r[j].tolist())) for j in range(e)]

    def extra(truck: int, block: int) -> list:
        g = np.random.Generator(np.random.PCG64(replication_seed(seed, replication, _EXTRA_STREAM, truck, block)))
        return _cycle_values(g.random((k, DRAWS)), inputs, shift_factors).ravel().tolist()

    late = None
    if bd.truck_late_share > 0.0 and bd.truck_late_min:
        rng_l = np.random.Generator(np.random.PCG64(replication_seed(seed, replication, _LATE_STREAM)))
        late = late_minutes(rng_l.random(t), bd.truck_late_share, bd.truck_late_min).tolist()
    return Draws(values, ttf, ttr, failures, extra, late)


#: Values (floats) of drawn replications a process keeps for the next scenarios of a request
#: (:func:`shared_draws`): about 32 bytes each, so about 32 MB. REF-A needs about 58,000.
DRAW_CACHE_VALUES: int = 1_000_000
_DRAW_CACHE: OrderedDict = OrderedDict()  # key -> (trucks, excavators, values, Draws)
#: Guards ``_DRAW_CACHE``: a Dask worker (and the API's inline executor) runs scenarios on several
#: threads of one process, and an eviction scan while another thread inserts raised
#: "OrderedDict mutated during iteration".
_DRAW_CACHE_LOCK = threading.Lock()


def shared_draws(inputs: ScenarioInputs, params: ModelParams, prep: Prepared, replication: int,
                 seed: int) -> Draws:
    """:func:`draw`, computed once per replication for all the scenarios of a request a process runs.

    Common random numbers make a scenario's draws the first rows of a larger scenario's (truck ``i``'s
    row, excavator ``j``'s failures, whatever the fleet size), and the processes only read rows
    ``< trucks`` and ``< excavators``; so the draws of the largest scenario seen serve every smaller
    one with the same :attr:`ScenarioInputs.sampling_key`, block size and seed. Before this cache,
    drawing took about 40 % of REF-A's simulation CPU, redone for each of its 33 scenarios.
    """
    t, e = inputs.trucks, inputs.excavators
    key = (inputs.sampling_key, params.deterministic, prep.cycles_per_block, seed, replication)
    with _DRAW_CACHE_LOCK:
        hit = _DRAW_CACHE.get(key)
        if hit is not None and hit[0] >= t and hit[1] >= e:
            _DRAW_CACHE.move_to_end(key)
            return hit[3]
    draws = draw(inputs, params, prep, replication, seed)  # outside the lock: the costly part
    values = t * prep.cycles_per_block * _PER_CYCLE
    with _DRAW_CACHE_LOCK:
        held = _DRAW_CACHE.get(key)
        if held is None or held[0] < t or held[1] < e:  # another thread may have stored a larger one
            _DRAW_CACHE[key] = (t, e, values, draws)
        _DRAW_CACHE.move_to_end(key)
        total = sum(entry[2] for entry in _DRAW_CACHE.values())
        while total > DRAW_CACHE_VALUES and len(_DRAW_CACHE) > 1:
            total -= _DRAW_CACHE.popitem(last=False)[1][2]
    return draws


# --- the SimPy processes --------------------------------------------------------------------------

def exact_delay(now: float, when: float) -> float:
    """The delay ``d`` whose float sum ``now + d`` (what SimPy fires ``env.timeout(d)`` at) is ``when``,
    or the nearest below it when no float delay sums to it exactly (``when >= now >= 0``).

    ``when - now`` usually is that delay but not always (rounding). A truck's times are its own clock
    (the very floats the phase-by-phase clock gave, ``((t1 + load) + haul) + (dump + return)``), never
    read back from SimPy; SimPy only orders the wake-ups, and this keeps its clock on the truck's (so
    equal minutes stay equal and fire in scheduling order) whenever the float arithmetic allows.
    """
    d = when - now
    while now + d < when:
        d = math.nextafter(d, math.inf)
    while now + d > when:
        d = math.nextafter(d, -math.inf)
    return d


def _apply_outages(free_at: list, outages: dict, now: float) -> None:
    """Move each excavator's next free minute past the outages it has run into by ``now``.

    An outage ``(fail, repaired)`` that starts before the excavator is released (it failed mid-load,
    the truck finishes the load) holds the release until ``repaired``; one that starts while it stands
    idle before ``now`` takes it out of the pool until ``repaired``. Outages are drawn ahead
    (``_outages``), so this is known at any arrival; ``now`` only grows, so a move is never undone.
    """
    for j in list(outages):
        spans = outages[j]
        x = free_at[j]
        while spans:
            fail, repaired = spans[0]
            if repaired <= x:      # began and ended inside a load: the release is unaffected
                spans.pop(0)
            elif fail <= x or fail < now:  # down at the release, or failed while idle
                x = repaired
                spans.pop(0)
            else:                  # still ahead
                break
        free_at[j] = x
        if not spans:
            del outages[j]


def cycle_draws(draws: Draws, truck: int):
    """Truck ``truck``'s draws, one cycle at a time: the ``_PER_CYCLE`` values (phase factors, delay u, delay
    minutes, payload and fuel residuals) from its first block, then from extra blocks drawn on demand.
    Both models' trucks consume the common random numbers this way."""
    d, block, n = draws.trucks[truck], 0, _PER_CYCLE
    while True:
        for b in range(0, len(d), n):
            yield d[b:b + n]
        block += 1
        d = draws.extra(truck, block)


def truck_repair(now: float, shift: float, n_fail: int, ttf, ttr) -> tuple[float, float, float]:
    """A truck's ``n_fail``-th failure, due at minute ``now``: (the minute it is repaired, the downtime it adds
    to the shift (the part before the shift's end), the minute of its next failure (inf: no more drawn)).
    Both models' trucks break down this way."""
    minutes = ttr[n_fail]
    repaired = now + minutes
    down = minutes if repaired < shift else max(shift - now, 0.0)
    return repaired, down, (repaired + ttf[n_fail + 1] if n_fail + 1 < len(ttf) else math.inf)


def _truck(env, i, shift, prep: Prepared, draws: Draws, loaders, bays, out, trace, dispatch_at=0.0):
    """One truck's shift: cycles until the next drawn cycle no longer fits (see the module docstring);
    totals into ``out[i]``.

    ``loaders`` is ``[free_at, order, outages, counter]``: per excavator the minute it is next free and
    the order of that release (the FIFO pool's tie-break), the excavators' outages still ahead, and the
    release counter. At its arrival a truck takes the excavator that frees first (the FIFO queue served
    analytically: every truck ahead of it has already taken its own), so a cycle costs one SimPy event,
    fired at the cycle's end (:func:`exact_delay`). ``bays`` holds the minute each dump bay is
    free again (None: no dump queue); with a dump queue the truck wakes at the dump too (two events).
    """
    timeout = env.timeout
    free_at, order, outages = loaders[0], loaders[1], loaders[2]
    n_bays = len(bays) if bays is not None else 0
    base, pay, fuel, p = prep.base[i], prep.payload[i], prep.fuel[i], prep.p_delay[i]
    ttf, ttr = draws.truck_ttf[i], draws.truck_ttr[i]
    next_fail, n_fail = ttf[0], 0
    loads = delays = 0
    queue = busy = loading = payload = fuel_total = delay_min = cycle_sum = p_sum = downtime = 0.0
    clock = 0.0  # this truck's own minute (SimPy's may lag it by a rounding unit, see exact_delay)
    if dispatch_at:  # the line-up: this truck leaves it dispatch_at minutes into the shift
        clock = dispatch_at
        yield timeout(dispatch_at)
    for f0, f1, f2, f3, u, dm, pr, fr in cycle_draws(draws, i):
        now = clock
        if now >= next_fail:  # the failure happened during the last cycle: down now, then repaired
            now, down, next_fail = truck_repair(now, shift, n_fail, ttf, ttr)
            n_fail, downtime, clock = n_fail + 1, downtime + down, now
            yield timeout(exact_delay(env.now, clock))
        if now >= shift:
            break
        # The loading queue, served at arrival: the excavator free first (earliest release on ties).
        if outages:
            _apply_outages(free_at, outages, now)
        x = min(free_at)
        e = free_at.index(x)
        if free_at.count(x) > 1:
            e = min((order[j], j) for j, v in enumerate(free_at) if v == x)[1]
        t1 = x if x > now else now
        bi = base[e]
        lt = bi[0] * f0
        h = bi[1] * f1
        pe = p[e]
        delayed = u < pe
        if delayed:
            h += dm
        dump = bi[2] * f2
        back = bi[3] * f3
        loaders[3] += 1
        order[e] = loaders[3]
        if t1 + lt + h + dump + back > shift:  # the drawn cycle would not end in the shift: stop
            free_at[e] = t1                    # and hand the excavator on at once
            break
        free_at[e] = t1 + lt
        if trace is not None:
            trace.append((i, e, t1))
        if t1 < shift:
            loading += lt if t1 + lt <= shift else shift - t1
        p_sum += pe
        if delayed:
            delays += 1
            delay_min += dm
        if bays is not None:  # FIFO dump queue: take the bay that frees first (see the docstring)
            t2 = t1 + lt + h
            yield timeout(exact_delay(env.now, t2))
            k = 0
            start = bays[0]
            for j in range(1, n_bays):
                if bays[j] < start:
                    start, k = bays[j], j
            if start < t2:
                start = t2
            bays[k] = start + dump
            queue += start - t2
            end = t2 + (start - t2 + dump + back)
            yield timeout(exact_delay(env.now, end))
        else:  # no dump queue can form: the cycle is one event, at its end
            end = t1 + lt + h + (dump + back)
            yield timeout(exact_delay(env.now, end))
        clock = end
        queue += t1 - now
        busy += (end if end < shift else shift) - now
        if end < next_fail:  # else the truck broke down in this cycle: cancelled, repaired at the loop top
            loads += 1
            cycle_sum += end - now
            x = pay[e] + pr
            if x > 0.0:
                payload += x
        x = fuel[e] + fr
        if x > 0.0:
            fuel_total += x
    out[i] = (loads, payload, fuel_total, queue, busy, loading, cycle_sum, delays, delay_min, p_sum,
              n_fail, downtime)


def _outages(failures: list, shift: float) -> tuple[list, list]:
    """An excavator's outages inside the shift, ``[(fail, repaired), ...]`` in minutes (each time to
    failure counted from the previous repair), and ``(fail, downtime in the shift)`` per outage."""
    spans, counted = [], []
    clock = 0.0
    for time_to_failure, repair in failures:
        at = clock + time_to_failure
        if at >= shift:
            break
        clock = at + repair
        spans.append((at, clock))
        counted.append((at, min(repair, shift - at)))
    return spans, counted


def excavator_outages(draws: Draws, excavators: int, shift: float) -> tuple[dict, list]:
    """The first ``excavators``' outages inside the shift, ``{j: [(fail, repaired), ...]}`` for those with
    any, and every outage's ``(fail, downtime in the shift)`` (:func:`_outages`); the draws may hold a
    larger fleet's rows."""
    outages: dict = {}
    counted: list = []
    for j, failures in enumerate(draws.excavator_failures[:excavators]):
        spans, c = _outages(failures, shift)
        if spans:
            outages[j] = spans
            counted.extend(c)
    return outages, counted


def outage_minutes(counted: list) -> float:
    """The excavators' downtime in the shift, min: the counted outages summed in the order they happen."""
    total = 0.0
    for _, minutes in sorted(counted):
        total += minutes
    return total


def shift_record(inputs, params: ModelParams, prep, replication: int, totals, counted: list,
                 **network_fields) -> ReplicationResult:
    """One replication's record from the trucks' summed ``totals`` (loads, payload t, fuel l, then minutes:
    queue, busy, loading, cycle sum, delays (count), delay, delay probability sum, breakdowns (count),
    downtime) and the excavators' counted outages; ``network_fields``: what only the network model fills.
    Both models end their shift here."""
    loads, payload, fuel, queue, busy, loading, cycle_sum, delays, delay_min, p_sum, breakdowns, downtime = totals
    if params.deterministic:  # expected delays ride on every haul (see prepare)
        delays = int(round(p_sum))
        delay_min = p_sum * prep.mean_delay_min
    shift = params.shift_hours * _MIN_PER_HOUR
    t, e = inputs.trucks, inputs.excavators
    return ReplicationResult(
        scenario_key=inputs.scenario_key, replication=replication, trucks=t, excavators=e,
        shift_hours=params.shift_hours, loads=int(loads), production_t=float(payload), fuel_l=float(fuel),
        queue_hours=queue / _MIN_PER_HOUR,
        cycle_time_min=cycle_sum / loads if loads else math.nan,
        excavator_utilisation=loading / (e * shift), truck_utilisation=busy / (t * shift),
        delays=int(delays), delay_hours=delay_min / _MIN_PER_HOUR,
        incident_expected=loads * params.incident_probability_per_cycle,
        breakdowns=int(breakdowns + len(counted)),
        downtime_hours=(downtime + outage_minutes(counted)) / _MIN_PER_HOUR,
        **network_fields,
    )


def simulate(inputs: ScenarioInputs, params: ModelParams, draws: Draws, *, replication: int = 0,
             prepared: Prepared | None = None, trace: list | None = None) -> ReplicationResult:
    """Run the SimPy shift on given draws (``trace`` collects (truck, excavator, minute) load starts,
    in the order the loads start)."""
    prep = prepared or prepare(inputs, params)
    env = simpy.Environment()
    shift = params.shift_hours * _MIN_PER_HOUR
    t, e = inputs.trucks, inputs.excavators
    # Minute each dump bay is free again (None: a bay per truck, no dump queue can form).
    bays = [0.0] * params.dump_bays if params.dump_bays is not None and params.dump_bays < t else None
    outages, counted = excavator_outages(draws, e, shift)
    loaders = [[0.0] * e, list(range(e)), outages, e]
    out: list = [None] * t
    for i in range(t):
        late = draws.truck_late[i] if draws.truck_late is not None else 0.0
        env.process(_truck(env, i, shift, prep, draws, loaders, bays, out, trace,
                           i * params.dispatch_interval_min + late))
    env.run()
    if trace is not None:
        trace.sort(key=lambda row: row[2])  # appended at arrival; stable: FIFO among equal starts
    return shift_record(inputs, params, prep, replication, [sum(col) for col in zip(*out)], counted)


def run_replication(inputs: ScenarioInputs, params: ModelParams, replication: int, seed: int,
                    *, prepared: Prepared | None = None) -> ReplicationResult:
    """Simulate one shift of one scenario with replication ``replication``'s common random numbers
    (the stream ``SeedSequence(seed).spawn(n)[replication]``; same arguments, same result)."""
    prep = prepared or prepare(inputs, params)
    return simulate(inputs, params, draw(inputs, params, prep, replication, seed), replication=replication,
                    prepared=prep)


def run_replications(inputs: ScenarioInputs, params: ModelParams, seed: int,
                     replications: range | list[int]) -> list[ReplicationResult]:
    """Replications of one scenario (the tables are prepared once, the draws shared with the other
    scenarios of the request this process runs: :func:`shared_draws`)."""
    prep = prepare(inputs, params)
    return [simulate(inputs, params, shared_draws(inputs, params, prep, r, seed), replication=r, prepared=prep)
            for r in replications]


def trace_replication(inputs: ScenarioInputs, params: ModelParams, replication: int = 0,
                      seed: int = 0) -> tuple[ReplicationResult, list[tuple[int, int, float]]]:
    """A replication plus its load-start log: (truck, excavator, minute) in event order."""
    prep = prepare(inputs, params)
    log: list[tuple[int, int, float]] = []
    result = simulate(inputs, params, draw(inputs, params, prep, replication, seed), replication=replication,
                      prepared=prep, trace=log)
    return result, log
