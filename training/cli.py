"""Shared command-line plumbing: the common ``--data/--models/--logs`` flags and exit codes.

Exit codes (documented in the README, identical for every command):

==== =====================================================================
code meaning
==== =====================================================================
0    success
1    unexpected error (a bug: the traceback is printed)
2    bad input (missing/unreadable file or column, too many bad rows, bad spec)
3    rejected by the promotion gate (the champion keeps serving)
4    drift above threshold (``training.drift``) / backtest out of band
==== =====================================================================
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.settings import Settings, get_settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_GATE_REJECTED = 3
EXIT_DRIFT = 4


@dataclass(frozen=True)
class Paths:
    """The three folders every command works on."""

    data: Path
    models: Path
    logs: Path


def add_path_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--data``, ``--models`` and ``--logs`` (defaults come from the settings)."""
    parser.add_argument("--data", type=Path, default=None, help="CSV export folder (default: settings.data_dir)")
    parser.add_argument("--models", type=Path, default=None, help="model registry (default: settings.models_dir)")
    parser.add_argument("--logs", type=Path, default=None, help="logs folder (default: settings.logs_dir)")


def resolve_paths(args: argparse.Namespace, settings: Settings | None = None) -> Paths:
    """Command-line folders, falling back to the settings."""
    s = settings or get_settings()
    return Paths(
        data=Path(args.data) if getattr(args, "data", None) else s.data_dir,
        models=Path(args.models) if getattr(args, "models", None) else s.models_dir,
        logs=Path(args.logs) if getattr(args, "logs", None) else s.logs_dir,
    )


def setup_logging(level: str | None = None) -> None:
    """Plain, timestamped log lines on stderr for the batch commands."""
    logging.basicConfig(
        level=(level or get_settings().log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def write_json_report(path: Path, report: dict[str, Any]) -> Path:
    """Write a JSON report atomically (temp file + rename) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    tmp.replace(path)
    return path
