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
from typing import Any, Callable

from training.errors import BadInputError
from training.settings import TrainingSettings, get_settings

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
    parser.add_argument("--models", type=Path, default=None,
                        help="model registry (default: the registry of settings.site under settings.models_dir)")
    parser.add_argument("--logs", type=Path, default=None, help="logs folder (default: settings.logs_dir)")


def resolve_paths(args: argparse.Namespace, settings: TrainingSettings | None = None) -> Paths:
    """Command-line folders, falling back to the settings (the models folder: the site's registry)."""
    from training.registry import site_registry_root

    s = settings or get_settings()
    return Paths(
        data=Path(args.data) if getattr(args, "data", None) else s.data_dir,
        models=Path(args.models) if getattr(args, "models", None) else site_registry_root(s.models_dir, s.site),
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


#: Problems printed under a "bad input" line (the full list is in the JSON report / quarantine).
MAX_PROBLEMS_SHOWN = 20


def run_command(prog: str, doc: str, body: Callable[[Paths, TrainingSettings], int], argv: list[str] | None = None,
                *, on_bad_input: Callable[[Paths, BadInputError], None] | None = None) -> int:
    """The shared ``main`` of the batch commands: flags, settings, logging, bad input -> exit 2.

    ``body(paths, settings)`` does the work and returns the exit code; a ``BadInputError`` it raises
    is printed with its first problems and mapped to ``EXIT_BAD_INPUT`` (after ``on_bad_input``).
    """
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    add_path_args(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    paths = resolve_paths(args, settings)
    try:
        return body(paths, settings)
    except BadInputError as exc:
        print(f"{prog.split()[-1]}: bad input, nothing written to {paths.models}: {exc}", file=sys.stderr)
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        if on_bad_input is not None:
            on_bad_input(paths, exc)
        return EXIT_BAD_INPUT
