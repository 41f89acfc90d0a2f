"""The simulator's part of the settings: default replications, shift and seed, the grid limit, the
local pool and the Dask cluster (environment variables ``MINEOPS_SIM_*``, ``MINEOPS_DASK_*``).

``SimulatorSettings`` stacks on ``training.settings.TrainingSettings``; ``api.settings.Settings`` adds
the live path's and the API's parts to it.
"""
from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field

from training.settings import TrainingSettings


class SimulatorSettings(TrainingSettings):
    """The simulator's settings: replications, shift length, seed, grid limits, the local pool, Dask."""

    # --- simulation ---------------------------------------------------------------------------
    sim_replications: int = Field(30, ge=1, description="Default replications per scenario")
    sim_duration_hours: float = Field(8.0, gt=0, description="Default shift length simulated")
    sim_seed: int = Field(42, description="Default root seed of a simulation request")
    sim_max_grid_simulations: int = Field(
        2000, ge=1, description="Largest grid (scenarios x replications) one request may ask for"
    )
    sim_workers: int = Field(0, ge=0, description="Simulator processes; 0 = one per CPU core")

    # --- cluster ------------------------------------------------------------------------------
    dask_scheduler_address: str = Field("", description="Dask scheduler (tcp://host:8786); empty = local pool")
    dask_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the Dask scheduler to answer")
    sim_max_cluster_simulations: int = Field(
        200_000, ge=1,
        description="Largest grid one request may ask for when a Dask scheduler is configured "
                    "(grids above sim_max_grid_simulations run on the cluster, as background jobs)",
    )

    @property
    def effective_workers(self) -> int:
        return self.sim_workers or (os.cpu_count() or 1)


@lru_cache
def get_settings() -> SimulatorSettings:
    """The simulator commands' settings, read once per process (tests build their own)."""
    return SimulatorSettings()
