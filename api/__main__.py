"""``python -m api [--host H] [--port P] [--workers N]``: run the service (the README's main command).

On an empty checkout the first start generates the sample mine and trains a baseline (progress in
the log) while ``/health`` already answers; ``/ready`` turns 200 when the service can simulate.
"""
from __future__ import annotations

import argparse
import sys

import uvicorn

from api.auth import AuthConfigError, check_auth_mode
from api.logging_setup import configure_logging
from api.settings import enable_multiprocess_metrics, get_settings
from training.cli import EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.api_host, help=f"bind address (default {settings.api_host})")
    parser.add_argument("--port", type=int, default=settings.api_port, help=f"port (default {settings.api_port})")
    parser.add_argument("--workers", type=int, default=settings.api_workers,
                        help=f"uvicorn worker processes (default {settings.api_workers})")
    args = parser.parse_args(argv)
    configure_logging(settings.log_level, settings.log_format)  # the supervisor's own lines (workers, restarts) too
    try:
        check_auth_mode(settings.auth, args.host)
    except AuthConfigError as exc:  # e.g. MINEOPS_AUTH=off on 0.0.0.0
        print(f"python -m api: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.workers > 1:
        enable_multiprocess_metrics(settings.logs_dir)
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
