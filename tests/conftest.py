"""Shared fixtures: the read-only reference export of the fleet database and a writable copy."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests import paths
from tests.servers import pytest_runtest_makereport  # noqa: F401 - the hook: missing servers fail under CI

REFERENCE_EXPORT = paths.REFERENCE_EXPORT
REFERENCE_EXPORT_END = paths.REFERENCE_EXPORT_END


def _reference_export() -> Path:
    return REFERENCE_EXPORT


@pytest.fixture(scope="session")
def reference_export() -> Path:
    """The read-only reference export (trucks, excavators, operators, road_segments, maintenance_logs)."""
    path = _reference_export()
    assert path.is_dir(), f"reference export not found at {path}"
    return path


@pytest.fixture
def tmp_data(tmp_path: Path, reference_export: Path) -> Path:
    """A writable copy of the reference export at ``tmp_path / "data"``."""
    return Path(shutil.copytree(reference_export, tmp_path / "data"))


#: Size of the sample mine the end-to-end fixtures train on: big enough for the promotion gate's
#: holdout to hold several weather regimes, small enough to generate and train in ~20 s.
SMALL_MINE_DAYS = 20
SMALL_MINE_TRUCKS = 20
SMALL_MINE_SEED = 11


@pytest.fixture(scope="session")
def trained_mine(tmp_path_factory, reference_export: Path):
    """A sample mine generated on the reference fleet, with a promoted champion (session-wide).

    Returns ``training.cli.Paths``; tests must treat the folders as read-only (copy them to
    change anything): ``trained_mine_copy`` gives a private copy.
    """
    from training.cli import Paths
    from training.retrain import retrain
    from training.settings import TrainingSettings
    from training.synthetic import generate

    root = tmp_path_factory.mktemp("mine")
    paths = Paths(root / "data", root / "models", root / "logs")
    shutil.copytree(reference_export, paths.data)
    generate(paths.data, days=SMALL_MINE_DAYS, trucks=SMALL_MINE_TRUCKS, seed=SMALL_MINE_SEED,
             end=REFERENCE_EXPORT_END)
    outcome = retrain(paths, TrainingSettings(data_dir=paths.data, models_dir=paths.models, logs_dir=paths.logs))
    assert outcome.promoted, f"the fixture's baseline was rejected: {outcome.reasons}"
    return paths


@pytest.fixture
def trained_mine_copy(trained_mine, tmp_path: Path):
    """A private, writable copy of ``trained_mine``."""
    from training.cli import Paths

    out = Paths(tmp_path / "data", tmp_path / "models", tmp_path / "logs")
    shutil.copytree(trained_mine.data, out.data)
    shutil.copytree(trained_mine.models, out.models, symlinks=True)
    out.logs.mkdir()
    return out


def pytest_addoption(parser):
    parser.addoption("--regenerate-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.json from the current code (an intended model change only)")
