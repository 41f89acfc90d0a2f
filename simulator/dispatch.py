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
"""
from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import ClassVar, NamedTuple, Protocol


class LoaderOption(NamedTuple):
    """One loading point as the dispatcher sees it for one truck, minutes (a named tuple: the model
    builds one per point at every dynamic dispatch)."""

    index: int
    travel_min: float        # the truck's expected empty travel to the point
    trucks_ahead: int        # queued + loading + already sent there
    loaders: int             # working loaders at the point (0 when all are down)
    expected_wait_min: float  # fluid estimate, see the module docstring

    @property
    def queue_per_loader(self) -> float:
        return self.trucks_ahead / self.loaders if self.loaders else float("inf")


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
    """The point with the fewest trucks ahead per working loader (ties: shorter expected wait, travel)."""

    name: ClassVar[str] = "shortest_queue"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        return min(options, key=lambda o: (o.queue_per_loader, round(o.expected_wait_min, 9), o.travel_min,
                                           o.index != home)).index


class ShortestExpectedWait:
    """The point where the truck is expected to wait least once there (ties: shorter travel)."""

    name: ClassVar[str] = "shortest_wait"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        usable = [o for o in options if o.loaders] or list(options)
        return min(usable, key=lambda o: (round(o.expected_wait_min, 9), o.travel_min, o.index != home)).index


class ShortestTravelPlusWait:
    """The point where the truck starts loading soonest: travel plus expected wait."""

    name: ClassVar[str] = "shortest_travel_wait"
    dynamic: ClassVar[bool] = True

    def choose(self, truck: int, home: int, options: Sequence[LoaderOption]) -> int:
        usable = [o for o in options if o.loaders] or list(options)
        return min(usable, key=lambda o: (round(o.travel_min + o.expected_wait_min, 9), o.index != home)).index


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
    waiting there now; ``arrivals_before``: expected arrivals of trucks already sent there, before ours.
    """
    if not free_at:
        return float("inf")
    if len(free_at) == 1:  # one loader: the same sums without the list
        x = free_at[0] if free_at[0] > now else now
        for _ in range(queued):
            x += mean_load_min
        for a in sorted(arrivals_before):
            x = (x if x > a else a) + mean_load_min
        return x - arrival if x > arrival else 0.0
    free = [f if f > now else now for f in free_at]
    heapq.heapify(free)  # the loader that frees first takes the next truck (equal minutes: any)
    for _ in range(queued):
        heapq.heapreplace(free, free[0] + mean_load_min)
    for a in sorted(arrivals_before):
        x = free[0]
        heapq.heapreplace(free, (x if x > a else a) + mean_load_min)
    return max(0.0, free[0] - arrival)


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
