"""Load what a simulator command needs: the champion model and the fleet, or one clear message.

``python -m simulator``, ``python -m simulator.study`` and ``python -m simulator.backtest`` all start
with "load the champion and the fleet, else exit 2"; :func:`load_champion_and_fleet` is that step.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from simulator.settings import SimulatorSettings
from training.cli import Paths
from training.errors import BadInputError, RegistryError


@dataclass(frozen=True)
class Inputs:
    """The champion bundle and the fleet export (master tables; ``full`` exports also hold the cycles)."""

    bundle: Any
    export: Any


def load_champion_and_fleet(prog: str, paths: Paths, settings: SimulatorSettings, *,
                            full: bool = False) -> Inputs | None:
    """The champion and the export, or None after printing why on stderr (the caller exits 2).

    ``full`` loads the whole export (hauling activities too: the backtest); else the master tables only.
    """
    from training.bundle import load_champion
    from training.dataset import load_export, load_master
    from training.registry import Registry

    try:
        bundle = load_champion(Registry(paths.models))
    except RegistryError as exc:
        print(f"{prog}: cannot load the champion from {paths.models}: {exc}", file=sys.stderr)
        return None
    if bundle is None:
        print(f"{prog}: no champion model in {paths.models}; train one first with "
              f"`python -m training.retrain --data {paths.data} --models {paths.models}`", file=sys.stderr)
        return None
    load = load_export if full else load_master
    try:
        export = load(paths.data, quarantine_dir=None, max_bad_share=settings.max_bad_row_share)
    except BadInputError as exc:
        print(f"{prog}: bad fleet data in {paths.data}: {exc}", file=sys.stderr)
        return None
    return Inputs(bundle=bundle, export=export)
