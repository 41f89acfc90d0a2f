"""Progress of a study on stderr: a bar with ETA on a terminal, periodic lines otherwise."""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_INTERVAL_S = 10.0


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Simulations done out of a total: a tqdm bar on a terminal, else a line every ``interval_s``.

    The ETA weighs the work left by its cost (``work``: truck-simulations, since a simulation's CPU time
    grows with its trucks), so a grid whose large fleets come last is not promised too early.
    """

    def __init__(self, total: int, done: int = 0, *, total_work: float | None = None, done_work: float | None = None,
                 label: str = "study", stream: TextIO | None = None, interval_s: float = PROGRESS_INTERVAL_S,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.initial = int(total), int(done), int(done)
        self.total_work = float(total if total_work is None else total_work)
        self.done_work = self.initial_work = float(done if done_work is None else done_work)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self._clock = clock
        self._started = self._last = clock()
        is_tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        if is_tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, unit="sim", desc=label, file=self.stream,
                             dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} sims "
                                                            "[{elapsed}, {rate_fmt}{postfix}]")
            self._bar.set_postfix_str(f"ETA {_clock(self.eta_s)}", refresh=False)

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._started

    @property
    def rate(self) -> float:
        """Simulations per second in this run (resumed work not counted)."""
        elapsed = self.elapsed_s
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float:
        """Seconds left at this run's pace of work (inf before the first batch)."""
        elapsed, work = self.elapsed_s, self.done_work - self.initial_work
        if elapsed <= 0 or work <= 0:
            return 0.0 if self.done >= self.total else math.inf
        return max(self.total_work - self.done_work, 0.0) * elapsed / work

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        return (f"{datetime.now().strftime('%H:%M:%S')} {self.label}: {self.done}/{self.total} simulations "
                f"({share:.1%}), {self.rate:.1f} sim/s, elapsed {_clock(self.elapsed_s)}, ETA {_clock(self.eta_s)}")

    def update(self, simulations: int, work: float | None = None) -> None:
        """Count finished simulations (and their cost in work units; default one per simulation)."""
        self.done += simulations
        self.done_work += simulations if work is None else work
        if self._bar is not None:
            self._bar.set_postfix_str(f"ETA {_clock(self.eta_s)}", refresh=False)
            self._bar.update(simulations)
            return
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(self.line(), file=self.stream, flush=True)
