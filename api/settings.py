"""The API's settings dependency, plus the one place that touches prometheus_client's environment.

The ``Settings`` class lives in ``training.settings`` (the bottom layer, so the batch commands
share it); routes get it through ``SettingsDep`` and tests override ``get_settings``.

prometheus_client decides at import time, from its own environment variable, whether metrics are
shared between processes. With several uvicorn workers ``python -m api`` calls
``enable_multiprocess_metrics`` before any worker imports it; nothing else reads or writes it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from training.settings import Settings, get_settings

#: prometheus_client's variable naming its multiprocess directory (its protocol, not ours).
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess_metrics(logs_dir: Path) -> Path:
    """Start from an empty shared metrics folder under ``logs_dir`` and point prometheus_client at it."""
    folder = Path(logs_dir) / "prometheus-multiproc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[PROMETHEUS_MULTIPROC_ENV] = str(folder.resolve())
    return folder


def multiprocess_dir() -> Path | None:
    """The shared metrics folder when multiprocess mode is on, else None."""
    value = os.environ.get(PROMETHEUS_MULTIPROC_ENV)
    return Path(value) if value else None


__all__ = ["Settings", "get_settings", "enable_multiprocess_metrics", "multiprocess_dir"]
