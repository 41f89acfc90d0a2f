"""Shared fixtures: the read-only reference export of the fleet database and a writable copy."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REFERENCE_EXPORT = Path(__file__).resolve().parents[1].parent / "shared" / "reference-export"  # REPO/../shared


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
