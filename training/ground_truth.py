"""The synthetic mine's physics: every constant with its unit and source, and the pure functions over them.

``training.synthetic`` draws its haul cycles from these functions, and the simulator's tests check
themselves against them, so this module is the one documented truth of the sample mine. Nothing
here reads files or holds state; randomness comes in as a ``numpy.random.Generator``.

Conventions: distances km, speeds km/h, durations minutes (repair times hours), masses tonnes,
fuel litres, gradients percent with the sign of the *loaded* haul (positive = the loaded truck
climbs from the loading point to the dump; the empty return runs the other way). Every function
takes scalars or numpy arrays (broadcast together) and categorical values in the enum form of
``training.schema`` (``HUJAN_LEBAT``, ``LICIN``, ``SHIFT_3``).

Values are typical of small open-pit coal operations with 20-40 t rigid dump trucks and
8-13 m3 hydraulic excavators (the reference export's fleet); "handbook" below means the
Caterpillar Performance Handbook (ed. 48), the usual source for haul-road and loading figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Mapping

import numpy as np
from numpy.typing import ArrayLike

from training.bundle import PHASES
from training.schema import ROAD_CONDITIONS, SHIFTS, WEATHER

#: Equipment kinds with a breakdown model.
EQUIPMENT_KINDS: tuple[str, ...] = ("truck", "excavator")
#: Weather values that are rain (wet material, wet roads).
RAIN: tuple[str, ...] = ("HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT", "BADAI")

_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class GroundTruth:
    """Every physical constant of the synthetic mine (read-only by convention; tables keyed by enum)."""

    # --- travel --------------------------------------------------------------------------------
    #: Average loaded speed on a level road as a share of the posted limit (acceleration, bends,
    #: passing bays; haul-road time studies put rigid trucks at 55-65 %), ratio.
    loaded_speed_share: float = 0.60
    #: Average empty speed on a level road as a share of the posted limit, ratio.
    empty_speed_share: float = 0.75
    #: Loaded speed loss per % of adverse grade: speed = level speed / (1 + k x grade). Rimpull
    #: curves of 30-40 t trucks lose about a third of their speed between 0 and 10 % (handbook), 1/%.
    loaded_uphill_slowdown_per_pct: float = 0.05
    #: Loaded speed loss per % of favourable grade (retarder-limited descent), 1/%.
    loaded_downhill_slowdown_per_pct: float = 0.03
    #: Empty speed loss per % of adverse grade on the return, 1/%.
    empty_uphill_slowdown_per_pct: float = 0.03
    #: Empty speed loss per % of favourable grade on the return (speed limit governs), 1/%.
    empty_downhill_slowdown_per_pct: float = 0.015
    #: Fixed manoeuvring time added to the loaded haul (leaving the loading bench), min.
    hauling_fixed_min: float = 0.5
    #: Fixed manoeuvring time added to the empty return (entering the loading area), min.
    returning_fixed_min: float = 0.4
    #: Speed multiplier per weather: rain cuts traction and visibility, fog visibility.
    weather_speed_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=1.00, BERAWAN=1.00, MENDUNG=0.98, HUJAN_RINGAN=0.92, HUJAN_SEDANG=0.85,
        HUJAN_LEBAT=0.72, BADAI=0.60, KABUT=0.80))
    #: Speed multiplier per road condition of the day (rolling resistance, ruts; LICIN = slippery).
    road_speed_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        EXCELLENT=1.00, GOOD=0.95, FAIR=0.88, POOR=0.78, LICIN=0.65))
    #: Speed multiplier per shift: SHIFT_3 (23-07) runs in the dark, SHIFT_2 ends at dusk.
    shift_speed_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        SHIFT_1=1.00, SHIFT_2=0.97, SHIFT_3=0.88))
    #: Time saved per year of operator experience on the truck-driven phases, 1/year.
    experience_time_gain_per_year: float = 0.008
    #: Experience beyond this many years brings no further gain, years.
    experience_cap_years: float = 10.0

    # --- loading and dumping -------------------------------------------------------------------
    #: Loose density of run-of-mine coal (bank ~1.3 t/m3 with ~35 % swell), t/m3.
    loose_density_t_per_m3: float = 0.95
    #: Bucket fill factor of a reference-size bucket in dry coal (handbook: 0.85-1.0 for
    #: loose, well-blasted material), ratio.
    bucket_fill_factor: float = 0.90
    #: Bucket size the fill factor and swing time refer to, m3.
    reference_bucket_m3: float = 10.0
    #: Fill-factor change per m3 of bucket above the reference (big buckets fill less fully), 1/m3.
    bucket_fill_change_per_m3: float = -0.015
    #: Excavator pass time (dig, swing, dump, return) with the reference bucket: 25-30 s, min.
    swing_cycle_min: float = 0.45
    #: Extra pass time per m3 of bucket above the reference (bigger machines swing slower), min/m3.
    swing_cycle_change_min_per_m3: float = 0.015
    #: Time to spot the truck under the bucket before the first pass, min.
    spotting_min: float = 0.6
    #: Payload the loader aims at as a share of the truck's rated capacity, ratio.
    target_load_ratio: float = 1.0
    #: Dumping at the ROM/stockpile: reverse in, raise, lower, pull out (1-2 min), min.
    dumping_base_min: float = 1.5
    #: Loading/dumping time multiplier per weather (sticky wet material, poor visibility).
    weather_handling_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=1.00, BERAWAN=1.00, MENDUNG=1.00, HUJAN_RINGAN=1.04, HUJAN_SEDANG=1.08,
        HUJAN_LEBAT=1.15, BADAI=1.25, KABUT=1.06))
    #: Loading/dumping time multiplier per shift (night work under lights).
    shift_handling_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        SHIFT_1=1.00, SHIFT_2=1.02, SHIFT_3=1.07))

    # --- phase duration spread -----------------------------------------------------------------
    #: Log-sd of each phase's duration around its mean (lognormal; time-study spreads of
    #: 10-20 % for travel, more for short manual phases), ratio.
    phase_sigma: Mapping[str, float] = field(default_factory=lambda: dict(
        loading=0.15, hauling=0.10, dumping=0.18, returning=0.10))

    # --- payload -------------------------------------------------------------------------------
    #: Payload multiplier per weather: wet fines stick in the bucket and loaders under-fill to
    #: avoid spillage on wet ramps, ratio.
    weather_payload_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=1.00, BERAWAN=1.00, MENDUNG=1.00, HUJAN_RINGAN=0.97, HUJAN_SEDANG=0.94,
        HUJAN_LEBAT=0.90, BADAI=0.88, KABUT=1.00))
    #: Log-sd of one load around its mean (weighbridge scatter of ~4 %), ratio.
    payload_noise_sd: float = 0.04
    #: No load exceeds this multiple of rated capacity (Caterpillar 10/10/20 policy), ratio.
    max_overload_ratio: float = 1.2

    # --- fuel ----------------------------------------------------------------------------------
    #: Rolling resistance of a maintained haul road (handbook: 2-4 %), ratio.
    rolling_resistance: float = 0.03
    #: Tare mass of a 20-40 t rigid dump truck, t.
    truck_empty_mass_t: float = 15.0
    #: Lower heating value of diesel, MJ/L.
    diesel_energy_mj_per_l: float = 38.6
    #: Engine + drivetrain efficiency from fuel to wheel work, ratio.
    drivetrain_efficiency: float = 0.36
    #: Fuel per km driven on top of the wheel work (idle, acceleration, braking, auxiliaries), L/km.
    base_fuel_l_per_km: float = 0.35
    #: Fuel increase per year of truck age (engine and drivetrain wear), 1/year.
    fuel_increase_per_year_of_age: float = 0.012
    #: Fuel increase per day since the last completed maintenance (filters, injectors, tyres), 1/day.
    fuel_increase_per_day_since_maintenance: float = 0.0015
    #: Days since maintenance beyond which wear effects stop growing (fuel, delays), days.
    maintenance_effect_cap_days: float = 60.0
    #: Log-sd of one cycle's fuel around its mean (driver style, payload spot, ~5 %), ratio.
    fuel_noise_sd: float = 0.05

    # --- delays and incidents ------------------------------------------------------------------
    # The delay odds are spread widely on purpose: the sample mine must teach the delay model
    # something (holdout AUC >= 0.8), so conditions, not chance, decide most delays.
    #: Log-odds of a delay on a dry, excellent road, day shift, freshly maintained truck (~0.4 %).
    delay_base_logit: float = -5.5
    #: Added log-odds of a delay per weather (stops for lightning/heavy rain, fog escorts).
    weather_delay_logit: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=0.0, BERAWAN=0.35, MENDUNG=1.0, HUJAN_RINGAN=2.15, HUJAN_SEDANG=2.75,
        HUJAN_LEBAT=3.1, BADAI=3.6, KABUT=2.4))
    #: Added log-odds of a delay per road condition (potholes, grader work, stuck trucks on LICIN):
    #: a dry POOR road is delayed ~7 % of cycles, heavy rain on LICIN ~65 %.
    road_delay_logit: Mapping[str, float] = field(default_factory=lambda: dict(
        EXCELLENT=0.0, GOOD=1.1, FAIR=2.05, POOR=2.9, LICIN=3.0))
    #: Added log-odds of a delay per shift (night: lighting, fatigue, fewer supervisors).
    shift_delay_logit: Mapping[str, float] = field(default_factory=lambda: dict(
        SHIFT_1=0.0, SHIFT_2=0.4, SHIFT_3=1.0))
    #: Added log-odds of a delay per day since the last completed maintenance (minor faults), 1/day.
    delay_logit_per_day_since_maintenance: float = 0.02
    #: Mean length of a delay in dry weather, min.
    delay_mean_min: float = 12.0
    #: Delay length multiplier per weather (rain stops last until the road drains).
    weather_delay_length_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=1.0, BERAWAN=1.0, MENDUNG=1.1, HUJAN_RINGAN=1.2, HUJAN_SEDANG=1.5,
        HUJAN_LEBAT=2.0, BADAI=2.5, KABUT=1.5))
    #: Log-sd of a delay's length, ratio.
    delay_sigma: float = 0.6
    #: Probability of an incident (spill, minor contact, truck stuck) per cycle, dry and excellent.
    incident_base_probability: float = 0.001
    #: Incident probability multiplier per weather.
    weather_incident_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=1.0, BERAWAN=1.0, MENDUNG=1.2, HUJAN_RINGAN=1.8, HUJAN_SEDANG=2.5,
        HUJAN_LEBAT=4.0, BADAI=5.0, KABUT=3.0))
    #: Incident probability multiplier per road condition.
    road_incident_factor: Mapping[str, float] = field(default_factory=lambda: dict(
        EXCELLENT=1.0, GOOD=1.1, FAIR=1.3, POOR=2.0, LICIN=4.0))
    #: Mean stop caused by an incident (recovery, report, clean-up), min.
    incident_stop_mean_min: float = 45.0
    #: Log-sd of an incident stop, ratio.
    incident_stop_sigma: float = 0.5

    # --- breakdowns ----------------------------------------------------------------------------
    #: Mean operating hours between failures of a new unit (fleet-availability studies of
    #: haul trucks and hydraulic excavators: a few hundred hours), h.
    mtbf_new_hours: Mapping[str, float] = field(default_factory=lambda: dict(truck=300.0, excavator=450.0))
    #: Relative MTBF loss per year of age: MTBF = new x exp(-k x age), 1/year.
    mtbf_decay_per_year: Mapping[str, float] = field(default_factory=lambda: dict(truck=0.08, excavator=0.06))
    #: Mean time to repair a failure (diagnosis, parts, repair), h.
    mttr_hours: Mapping[str, float] = field(default_factory=lambda: dict(truck=6.0, excavator=8.0))
    #: Log-sd of a repair time, ratio.
    mttr_sigma: float = 0.6

    # --- weather and roads ---------------------------------------------------------------------
    #: Long-run share of shifts per weather in a humid tropical pit (East Kalimantan: rain on
    #: most days but on about a quarter of shifts), ratio (sums to 1).
    weather_share: Mapping[str, float] = field(default_factory=lambda: dict(
        CERAH=0.30, BERAWAN=0.25, MENDUNG=0.15, HUJAN_RINGAN=0.12, HUJAN_SEDANG=0.08,
        HUJAN_LEBAT=0.05, BADAI=0.02, KABUT=0.03))
    #: Probability that a shift keeps the previous shift's weather (otherwise a fresh draw from
    #: ``weather_share``, so the chain's stationary distribution is exactly ``weather_share``).
    weather_persistence: float = 0.5
    #: Road wetness a weather leaves (0 dry .. 3 soaked).
    weather_wetness: Mapping[str, int] = field(default_factory=lambda: dict(
        CERAH=0, BERAWAN=0, MENDUNG=0, HUJAN_RINGAN=1, HUJAN_SEDANG=2, HUJAN_LEBAT=3, BADAI=3, KABUT=0))
    #: Wetness a road loses per dry shift (it drains and is graded), steps/shift.
    drying_per_shift: int = 1
    #: Wetness at or above which a road is LICIN (slippery), steps.
    licin_wetness: int = 3

    def __post_init__(self) -> None:
        tables = {WEATHER: ("weather_speed_factor", "weather_handling_factor", "weather_payload_factor",
                            "weather_delay_logit", "weather_delay_length_factor",
                            "weather_incident_factor", "weather_share", "weather_wetness"),
                  ROAD_CONDITIONS: ("road_speed_factor", "road_delay_logit", "road_incident_factor"),
                  SHIFTS: ("shift_speed_factor", "shift_handling_factor", "shift_delay_logit"),
                  PHASES: ("phase_sigma",),
                  EQUIPMENT_KINDS: ("mtbf_new_hours", "mtbf_decay_per_year", "mttr_hours")}
        for keys, names in tables.items():
            for name in names:
                if set(getattr(self, name)) != set(keys):
                    raise ValueError(f"GroundTruth.{name} must have exactly the keys {keys}")
        if not np.isclose(sum(self.weather_share.values()), 1.0):
            raise ValueError("GroundTruth.weather_share must sum to 1")

    def constants(self) -> dict[str, object]:
        """All fields as a plain dict (for reports)."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v) for f in fields(self)}


@dataclass(frozen=True)
class CycleContext:
    """What determines a cycle's phase times; each field a scalar or an array (broadcast together)."""

    distance_km: ArrayLike
    max_speed_kmh: ArrayLike
    gradient_pct: ArrayLike
    road_condition: ArrayLike
    weather: ArrayLike
    shift: ArrayLike
    operator_years_experience: ArrayLike
    truck_capacity_t: ArrayLike
    bucket_capacity_m3: ArrayLike


def _gt(gt: GroundTruth | None) -> GroundTruth:
    return gt if gt is not None else GroundTruth()


def lookup(table: Mapping[str, float], keys: ArrayLike) -> np.ndarray:
    """``table[key]`` for every key of a scalar or array of enum strings (KeyError on unknown)."""
    arr = np.asarray(keys)
    if arr.ndim == 0:
        return np.asarray(float(table[str(arr)]))
    uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
    try:
        values = np.array([float(table[k]) for k in uniq])
    except KeyError as exc:
        raise KeyError(f"unknown value {exc.args[0]!r}; known: {tuple(table)}") from None
    return values[inverse].reshape(arr.shape)


def _f(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


# --- phase times --------------------------------------------------------------------------------

def pass_mass_t(bucket_capacity_m3: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Coal moved by one excavator pass in dry weather, t."""
    g = _gt(gt)
    bucket = _f(bucket_capacity_m3)
    fill = g.bucket_fill_factor + g.bucket_fill_change_per_m3 * (bucket - g.reference_bucket_m3)
    return bucket * g.loose_density_t_per_m3 * fill


def passes_per_load(truck_capacity_t: ArrayLike, bucket_capacity_m3: ArrayLike,
                    gt: GroundTruth | None = None) -> np.ndarray:
    """Whole excavator passes that bring a truck nearest its target payload (at least 1)."""
    g = _gt(gt)
    target = _f(truck_capacity_t) * g.target_load_ratio
    return np.maximum(1.0, np.rint(target / pass_mass_t(bucket_capacity_m3, g)))


def experience_time_factor(operator_years_experience: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Multiplier (<= 1) on truck-driven phase times for an operator's years (NaN = novice)."""
    g = _gt(gt)
    years = np.nan_to_num(_f(operator_years_experience), nan=0.0)
    return 1.0 - g.experience_time_gain_per_year * np.clip(years, 0.0, g.experience_cap_years)


def travel_speeds_kmh(ctx: CycleContext, gt: GroundTruth | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean (loaded, empty) travel speeds, km/h."""
    g = _gt(gt)
    grade = _f(ctx.gradient_pct)
    up, down = np.maximum(grade, 0.0), np.maximum(-grade, 0.0)
    common = (_f(ctx.max_speed_kmh) * lookup(g.weather_speed_factor, ctx.weather)
              * lookup(g.road_speed_factor, ctx.road_condition) * lookup(g.shift_speed_factor, ctx.shift))
    loaded = common * g.loaded_speed_share / (
        1.0 + g.loaded_uphill_slowdown_per_pct * up + g.loaded_downhill_slowdown_per_pct * down)
    empty = common * g.empty_speed_share / (
        1.0 + g.empty_uphill_slowdown_per_pct * down + g.empty_downhill_slowdown_per_pct * up)
    return loaded, empty


def phase_means_min(ctx: CycleContext, gt: GroundTruth | None = None) -> dict[str, np.ndarray]:
    """Mean minutes of 'loading', 'hauling', 'dumping', 'returning' for each context."""
    g = _gt(gt)
    handling = lookup(g.weather_handling_factor, ctx.weather) * lookup(g.shift_handling_factor, ctx.shift)
    bucket = _f(ctx.bucket_capacity_m3)
    pass_min = g.swing_cycle_min + g.swing_cycle_change_min_per_m3 * (bucket - g.reference_bucket_m3)
    loading = (g.spotting_min + passes_per_load(ctx.truck_capacity_t, bucket, g) * pass_min) * handling
    driver = experience_time_factor(ctx.operator_years_experience, g)
    loaded_kmh, empty_kmh = travel_speeds_kmh(ctx, g)
    distance = _f(ctx.distance_km)
    hauling = (g.hauling_fixed_min + 60.0 * distance / loaded_kmh) * driver
    returning = (g.returning_fixed_min + 60.0 * distance / empty_kmh) * driver
    dumping = g.dumping_base_min * handling * driver
    shape = np.broadcast_shapes(*(np.shape(a) for a in (loading, hauling, dumping, returning)))
    means = {"loading": loading, "hauling": hauling, "dumping": dumping, "returning": returning}
    return {p: np.broadcast_to(means[p], shape).astype(float) for p in PHASES}


def lognormal_around(mean: ArrayLike, sigma: ArrayLike, rng: np.random.Generator,
                     size: tuple[int, ...] | None = None) -> np.ndarray:
    """Lognormal draws whose mean is ``mean`` (log-sd ``sigma``); ``size`` defaults to mean's shape."""
    mean = _f(mean)
    sigma = _f(sigma)
    shape = size if size is not None else np.broadcast_shapes(mean.shape, sigma.shape)
    return mean * np.exp(sigma * rng.standard_normal(shape) - 0.5 * sigma**2)


def sample_phase_durations(ctx: CycleContext, rng: np.random.Generator, gt: GroundTruth | None = None,
                           size: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """One lognormal draw per context (or ``size`` draws broadcast against it) per phase, min."""
    g = _gt(gt)
    means = phase_means_min(ctx, g)
    return {p: lognormal_around(means[p], g.phase_sigma[p], rng, size) for p in PHASES}


# --- payload and fuel ---------------------------------------------------------------------------

def payload_mean_t(truck_capacity_t: ArrayLike, bucket_capacity_m3: ArrayLike, weather: ArrayLike,
                   gt: GroundTruth | None = None) -> np.ndarray:
    """Expected load: whole passes of the bucket, lightened by wet weather, t (before the cap)."""
    g = _gt(gt)
    dry = passes_per_load(truck_capacity_t, bucket_capacity_m3, g) * pass_mass_t(bucket_capacity_m3, g)
    return dry * lookup(g.weather_payload_factor, weather)


def payload_t(truck_capacity_t: ArrayLike, bucket_capacity_m3: ArrayLike, weather: ArrayLike,
              rng: np.random.Generator, gt: GroundTruth | None = None) -> np.ndarray:
    """One load per context: mean x lognormal scatter, capped at the overload limit, t."""
    g = _gt(gt)
    mean = payload_mean_t(truck_capacity_t, bucket_capacity_m3, weather, g)
    load = lognormal_around(mean, g.payload_noise_sd, rng)
    return np.minimum(load, _f(truck_capacity_t) * g.max_overload_ratio)


def fuel_mean_l(payload_t: ArrayLike, distance_km: ArrayLike, gradient_pct: ArrayLike,
                truck_age_days: ArrayLike, days_since_maintenance: ArrayLike,
                gt: GroundTruth | None = None) -> np.ndarray:
    """Expected fuel of one cycle (loaded haul + empty return), L.

    Wheel work = g x mass x distance x (rolling resistance + grade), floored at zero downhill,
    turned into litres by the diesel energy and drivetrain efficiency; plus a per-km base; then
    scaled up with truck age and with days since maintenance (capped).
    """
    g = _gt(gt)
    grade = _f(gradient_pct) / 100.0
    distance = _f(distance_km)
    loaded_mass = g.truck_empty_mass_t + _f(payload_t)
    resist_t = (loaded_mass * np.maximum(g.rolling_resistance + grade, 0.0)
                + g.truck_empty_mass_t * np.maximum(g.rolling_resistance - grade, 0.0))
    work_mj = 9.81 * resist_t * distance  # t x m/s2 x km = 9.81 MJ per unit
    litres = work_mj / (g.diesel_energy_mj_per_l * g.drivetrain_efficiency) + g.base_fuel_l_per_km * 2 * distance
    age_years = np.clip(_f(truck_age_days), 0.0, None) / _DAYS_PER_YEAR
    since = np.clip(_f(days_since_maintenance), 0.0, g.maintenance_effect_cap_days)
    return (litres * (1.0 + g.fuel_increase_per_year_of_age * age_years)
            * (1.0 + g.fuel_increase_per_day_since_maintenance * since))


def fuel_l(payload_t: ArrayLike, distance_km: ArrayLike, gradient_pct: ArrayLike, truck_age_days: ArrayLike,
           days_since_maintenance: ArrayLike, rng: np.random.Generator,
           gt: GroundTruth | None = None) -> np.ndarray:
    """One cycle's fuel per context: the mean x lognormal scatter, L."""
    g = _gt(gt)
    mean = fuel_mean_l(payload_t, distance_km, gradient_pct, truck_age_days, days_since_maintenance, g)
    return lognormal_around(mean, g.fuel_noise_sd, rng)


# --- delays and incidents -----------------------------------------------------------------------

def maintenance_delay_logit(days_since_maintenance: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """The maintenance part of ``delay_logit``: grows with days since maintenance, up to the cap."""
    g = _gt(gt)
    if isinstance(days_since_maintenance, float):  # the generator's per-cycle call: skip numpy overhead
        return g.delay_logit_per_day_since_maintenance * min(max(days_since_maintenance, 0.0),
                                                             g.maintenance_effect_cap_days)
    since = np.clip(_f(days_since_maintenance), 0.0, g.maintenance_effect_cap_days)
    return g.delay_logit_per_day_since_maintenance * since


def delay_logit(weather: ArrayLike, road_condition: ArrayLike, days_since_maintenance: ArrayLike,
                shift: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Log-odds that a cycle is delayed."""
    g = _gt(gt)
    return (g.delay_base_logit + lookup(g.weather_delay_logit, weather)
            + lookup(g.road_delay_logit, road_condition) + lookup(g.shift_delay_logit, shift)
            + maintenance_delay_logit(days_since_maintenance, g))


def delay_probability(weather: ArrayLike, road_condition: ArrayLike, days_since_maintenance: ArrayLike,
                      shift: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Probability that a cycle is delayed (logistic in weather, road, maintenance age, shift)."""
    return 1.0 / (1.0 + np.exp(-delay_logit(weather, road_condition, days_since_maintenance, shift, gt)))


def delay_mean_min(weather: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Mean length of a delay, min."""
    g = _gt(gt)
    return g.delay_mean_min * lookup(g.weather_delay_length_factor, weather)


def sample_delay_min(weather: ArrayLike, rng: np.random.Generator, gt: GroundTruth | None = None,
                     size: tuple[int, ...] | None = None) -> np.ndarray:
    """Lognormal delay lengths around ``delay_mean_min`` (``size`` draws), whole minutes >= 1."""
    g = _gt(gt)
    return np.maximum(1.0, np.rint(lognormal_around(delay_mean_min(weather, g), g.delay_sigma, rng, size)))


def incident_probability(weather: ArrayLike, road_condition: ArrayLike, gt: GroundTruth | None = None) -> np.ndarray:
    """Probability of an incident in one cycle (rises with rain and slippery roads)."""
    g = _gt(gt)
    return (g.incident_base_probability * lookup(g.weather_incident_factor, weather)
            * lookup(g.road_incident_factor, road_condition))


def sample_incident_stop_min(size: tuple[int, ...], rng: np.random.Generator,
                             gt: GroundTruth | None = None) -> np.ndarray:
    """Incident stops of shape ``size``, whole minutes >= 1."""
    g = _gt(gt)
    return np.maximum(1.0, np.rint(lognormal_around(g.incident_stop_mean_min, g.incident_stop_sigma, rng, size)))


# --- breakdowns ---------------------------------------------------------------------------------

def mtbf_hours(equipment_age_years: ArrayLike, kind: str, gt: GroundTruth | None = None) -> np.ndarray:
    """Mean operating hours between failures of a unit of ``kind`` ('truck'/'excavator') and age, h."""
    g = _gt(gt)
    age = np.clip(_f(equipment_age_years), 0.0, None)
    return g.mtbf_new_hours[kind] * np.exp(-g.mtbf_decay_per_year[kind] * age)


def mttr_hours(kind: str, gt: GroundTruth | None = None) -> float:
    """Mean time to repair a failure of ``kind``, h."""
    return float(_gt(gt).mttr_hours[kind])


def sample_hours_to_failure(equipment_age_years: ArrayLike, kind: str, rng: np.random.Generator,
                            gt: GroundTruth | None = None) -> np.ndarray:
    """Operating hours until the next failure (exponential with the age's MTBF), h."""
    mtbf = mtbf_hours(equipment_age_years, kind, gt)
    return rng.exponential(1.0, size=mtbf.shape) * mtbf


def sample_repair_hours(kind: str, rng: np.random.Generator, gt: GroundTruth | None = None,
                        size: tuple[int, ...] = ()) -> np.ndarray:
    """Repair times of ``kind``: lognormal around the MTTR, whole hours >= 1."""
    g = _gt(gt)
    return np.maximum(1.0, np.rint(lognormal_around(g.mttr_hours[kind], g.mttr_sigma, rng, size)))


# --- weather and road condition -----------------------------------------------------------------

def weather_transition_matrix(gt: GroundTruth | None = None) -> np.ndarray:
    """Shift-to-shift weather transition matrix (rows/cols in ``training.schema.WEATHER`` order)."""
    g = _gt(gt)
    share = np.array([g.weather_share[w] for w in WEATHER])
    return g.weather_persistence * np.eye(len(WEATHER)) + (1.0 - g.weather_persistence) * share[None, :]


def sample_weather(n_shifts: int, rng: np.random.Generator, gt: GroundTruth | None = None) -> list[str]:
    """A Markov chain of ``n_shifts`` weathers, started from the stationary shares."""
    g = _gt(gt)
    share = np.array([g.weather_share[w] for w in WEATHER])
    fresh = rng.choice(len(WEATHER), size=n_shifts, p=share)
    keep = rng.random(n_shifts) < g.weather_persistence
    codes = np.empty(n_shifts, dtype=int)
    for k in range(n_shifts):
        codes[k] = codes[k - 1] if (k > 0 and keep[k]) else fresh[k]
    return [WEATHER[c] for c in codes]


def road_wetness(weathers: list[str], gt: GroundTruth | None = None, initial: int = 0) -> list[int]:
    """Road wetness per shift: the shift's rain sets it, dry shifts drain it step by step."""
    g = _gt(gt)
    out, wet = [], initial
    for w in weathers:
        wet = max(int(g.weather_wetness[w]), wet - g.drying_per_shift)
        out.append(wet)
    return out


def road_condition_today(base_condition: str, wetness: int, gt: GroundTruth | None = None) -> str:
    """The road's condition for a shift: its surveyed condition worsened one grade per wetness step,
    LICIN when soaked (never better than surveyed, never worse than POOR unless LICIN)."""
    g = _gt(gt)
    if wetness >= g.licin_wetness or base_condition == "LICIN":
        return "LICIN"
    dry_grades = ROAD_CONDITIONS[:-1]  # EXCELLENT .. POOR
    return dry_grades[min(dry_grades.index(base_condition) + max(wetness, 0), len(dry_grades) - 1)]
