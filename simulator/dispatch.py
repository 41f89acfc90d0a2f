"""Dispatch rules: which loading point an empty truck drives to next.

One interface: a rule is a small class with a ``name`` and ``choose(truck, home, options) -> index``.
``options`` describe every loading point the truck may go to, as the dispatcher sees them at the
decision (the truck has just dumped, or starts its shift); ``home`` is the truck's fixed assignment.
A new rule is one class registered in :data:`RULES`; requests name rules in
``decision_variables.dispatch``.

The expected wait is what a dispatcher can project from the point's state at the decision
(:func:`projected_wait`): its working loaders free when their loads in progress end, the trucks
queued there and then the trucks already sent there that arrive first each take the loader that
frees first for a mean load, FIFO; the truck waits from its arrival until the next loader frees.

The issue's rule names, and what separates them:

* ``shortest_queue``: the fewest trucks ahead per working loader (queued, in service and already sent
  there), a count as a dispatcher's screen shows it; a truck in service counts as a whole truck
  however far its loading is. Ties go to the shorter expected wait.
* ``shortest_wait`` (shortest expected wait at the loader): the projected wait above, in minutes; a
  truck in service counts only for its remaining loading (its loader frees when that load ends), so a
  point whose truck is nearly loaded beats one with one truck fewer whose loading has just begun.
* ``shortest_travel_wait``: empty travel plus that wait: the point where loading starts soonest.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from operator import itemgetter
from typing import ClassVar, Protocol


class LoaderOption(tuple):
    """One loading point as the dispatcher sees it for one truck, minutes.

    The model builds one per point at every dynamic dispatch (a flat tuple, so building one is a single
    C call and its fields are read at C speed), and the expected wait is worked out only when a rule
    reads it: the model passes ``projection`` (:func:`projected_wait`'s arguments) instead of
    ``expected_wait_min``. Fields: ``index``, ``travel_min`` (the truck's expected empty travel to the
    point), ``trucks_ahead`` (queued + loading + already sent there), ``loaders`` (working loaders at
    the point, 0 when all are down), ``queue_per_loader`` and ``expected_wait_min``.
    """

    __slots__ = ()

    def __new__(cls, index: int, travel_min: float, trucks_ahead: int, loaders: int,
                expected_wait_min: float | None = None, projection: tuple | None = None) -> "LoaderOption":
        if (expected_wait_min is None) == (projection is None):
            raise ValueError("LoaderOption needs expected_wait_min or projection, not both")
        if projection is not None and len(projection) != _PROJECTION_FIELDS:
            raise ValueError(f"LoaderOption.projection holds projected_wait's {_PROJECTION_FIELDS} arguments")
        return tuple.__new__(cls, (index, travel_min, trucks_ahead, loaders,
                                   trucks_ahead / loaders if loaders else math.inf, expected_wait_min,
                                   *(projection or (None,) * _PROJECTION_FIELDS)))

    index = property(itemgetter(0))
    travel_min = property(itemgetter(1))
    trucks_ahead = property(itemgetter(2))
    loaders = property(itemgetter(3))
    queue_per_loader = property(itemgetter(4))

    @property
    def expected_wait_min(self) -> float:
        """Fluid estimate of the wait once there, see the module docstring (a pure function of the
        point's state at the decision, so reading it twice gives the same minutes)."""
        wait = self[5]
        return projected_wait(*self[6:]) if wait is None else wait

    def __repr__(self) -> str:
        return (f"LoaderOption(index={self.index}, travel_min={self.travel_min}, trucks_ahead={self.trucks_ahead}, "
                f"loaders={self.loaders}, expected_wait_min={self.expected_wait_min})")


_PROJECTION_FIELDS = 6  # projected_wait's arguments, stored after the wait


def projected_option(index: int, travel_min: float, trucks_ahead: int, loaders: int, now: float, arrival: float,
                     free_at: Sequence[float], queued: int, arrivals_before: Sequence[float], mean_load_min: float,
                     _new=tuple.__new__) -> LoaderOption:
    """The model's :class:`LoaderOption` with a lazy wait (:func:`projected_wait`'s arguments after
    ``loaders``), without the argument checks of the constructor (``loaders`` > 0: the model passes
    only points with working loaders)."""
    return _new(LoaderOption, (index, travel_min, trucks_ahead, loaders, trucks_ahead / loaders, None, now, arrival,
                               free_at, queued, arrivals_before, mean_load_min))


class DispatchRule(Protocol):
    """Chooses the loading point index for an empty truck."""

    name: ClassVar[str]
    #: False: the model never builds options (the truck always goes home), which keeps it fast.
    dynamic: ClassVar[bool]

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int: ...


class FixedAssignment:
    """Each truck always returns to its own loading point (today's behaviour)."""

    name: ClassVar[str] = "fixed"
    dynamic: ClassVar[bool] = False

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        return home


class ShortestQueue:
    """The point with the fewest trucks ahead per working loader, loading progress aside (ties: shorter
    expected wait, then travel)."""

    name: ClassVar[str] = "shortest_queue"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        per_loader = [o.queue_per_loader for o in options]
        fewest = min(per_loader)
        if per_loader.count(fewest) == 1:  # the waits are needed only to break ties
            return options[per_loader.index(fewest)].index
        tied = [o for o, q in zip(options, per_loader) if q == fewest]
        return smallest(tied, [o.expected_wait_min for o in tied], lambda o: (o.travel_min, o.index != home)).index


class ShortestExpectedWait:
    """The point where the truck is expected to wait least once there, counting the remaining loading of
    each truck in service (ties: shorter travel)."""

    name: ClassVar[str] = "shortest_wait"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        usable = [o for o in options if o.loaders] or list(options)
        return smallest(usable, [o.expected_wait_min for o in usable], lambda o: (o.travel_min, o.index != home)).index


class ShortestTravelPlusWait:
    """The point where the truck starts loading soonest: travel plus expected wait."""

    name: ClassVar[str] = "shortest_travel_wait"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        usable = [o for o in options if o.loaders] or options
        if len(usable) == 1:
            return usable[0].index
        # Nearest first: travel + wait >= travel, so a point whose travel alone is clearly above the
        # best sum found cannot be chosen, nor can any further one; their waits are not worked out.
        best = math.inf
        chosen = None
        examined = []
        for o in sorted(usable, key=_travel):
            travel = o.travel_min
            if travel > best + _CLEARLY_BELOW_MIN:
                break
            value = travel + o.expected_wait_min
            examined.append((o, value))
            if value < best:
                best, chosen = value, o
        bound = best + _CLEARLY_BELOW_MIN
        near = 0
        for _, value in examined:
            if value <= bound:
                near += 1
        if near == 1 and chosen is not None:  # smallest()'s answer without putting the options back in order
            return chosen.index
        values = {o.index: value for o, value in examined}
        usable = [o for o in usable if o.index in values]
        return smallest(usable, [values[o.index] for o in usable], lambda o: o.index != home).index


_travel = itemgetter(1)  # LoaderOption.travel_min


#: Decimals of a minute the rules compare estimates to, so that float noise does not decide between
#: points (1e-9 min); a value more than two such units below every other one stays the smallest once
#: rounded, which :func:`smallest` uses to skip the (slow) rounding.
ROUND_DECIMALS: int = 9
_CLEARLY_BELOW_MIN: float = 2e-9


def smallest(options: Sequence[LoaderOption], values: Sequence[float], then) -> LoaderOption:
    """The option with the smallest value rounded to :data:`ROUND_DECIMALS`, ties by ``then(option)``
    (then the first): ``min`` over ``(round(value, 9), then(option))``, rounding only when needed."""
    lowest = min(values)
    near = [k for k, v in enumerate(values) if v <= lowest + _CLEARLY_BELOW_MIN]
    if len(near) == 1:
        return options[near[0]]
    return options[min(near, key=lambda k: (round(values[k], ROUND_DECIMALS), then(options[k])))]


#: Rules by the name requests use (``decision_variables.dispatch``); the first is the default.
RULES: dict[str, type] = {r.name: r for r in (FixedAssignment, ShortestQueue, ShortestExpectedWait,
                                               ShortestTravelPlusWait)}
DEFAULT_RULE = FixedAssignment.name


def rule(name: str) -> DispatchRule:
    """A rule instance by name (ValueError naming the known rules)."""
    try:
        return RULES[name]()
    except KeyError:
        raise ValueError(f"unknown dispatch rule {name!r}; known: {', '.join(RULES)}") from None


def projected_wait(now: float, arrival: float, free_at: Sequence[float], queued: int,
                   arrivals_before: Sequence[float], mean_load_min: float) -> float:
    """Minutes a truck arriving at ``arrival`` is expected to wait (see the module docstring).

    ``free_at``: when each working loader ends its load in progress (<= now: idle); ``queued``: trucks
    waiting there now; ``arrivals_before``: expected arrivals of trucks already sent there, before ours,
    in the order they arrive (sorted).
    """
    n = len(free_at)
    if n == 1:  # one loader: the same sums without the heap
        x = free_at[0]
        if x < now:
            x = now
        for _ in range(queued):
            x += mean_load_min
        for a in arrivals_before:
            x = (x if x > a else a) + mean_load_min
        return x - arrival if x > arrival else 0.0
    if n == 2:  # two loaders (the commonest point): the heap's multiset as (earlier, later) free minute
        lo, hi = free_at
        if lo < now:
            lo = now
        if hi < now:
            hi = now
        if lo > hi:
            lo, hi = hi, lo
        for _ in range(queued):
            x = lo + mean_load_min
            if x > hi:
                lo, hi = hi, x
            else:
                lo = x
        for a in arrivals_before:
            x = (lo if lo > a else a) + mean_load_min
            if x > hi:
                lo, hi = hi, x
            else:
                lo = x
        return lo - arrival if lo > arrival else 0.0
    if not n:
        return math.inf
    free = [f if f > now else now for f in free_at]
    heapq.heapify(free)  # the loader that frees first takes the next truck (equal minutes: any)
    replace = heapq.heapreplace
    for _ in range(queued):
        replace(free, free[0] + mean_load_min)
    for a in arrivals_before:
        x = free[0]
        replace(free, (x if x > a else a) + mean_load_min)
    x = free[0] - arrival
    return x if x > 0.0 else 0.0


def home_points(trucks: int, loaders_per_point: Sequence[int]) -> tuple[int, ...]:
    """Fixed assignment: trucks dealt to loading points in proportion to their loaders (largest
    remainder), in truck order, so that truck ``i``'s point does not depend on the fleet size more than
    the proportions require."""
    total = sum(loaders_per_point)
    if total <= 0:
        raise ValueError("no loaders to assign trucks to")
    homes = []
    given = [0] * len(loaders_per_point)
    for i in range(trucks):
        # the point furthest below its share of the first i + 1 trucks
        want = [(i + 1) * n / total - g for n, g in zip(loaders_per_point, given)]
        k = max(range(len(want)), key=lambda j: (want[j], -j))
        homes.append(k)
        given[k] += 1
    return tuple(homes)
