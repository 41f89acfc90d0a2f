"""Exceptions shared by the commands, each mapped to a documented exit code in ``training.cli``."""
from __future__ import annotations


class BadInputError(Exception):
    """The input data cannot be used (missing file/column, unreadable, too many bad rows).

    ``problems`` holds one human-readable line per problem, each naming file, row, column and value.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class GateRejectedError(Exception):
    """A candidate model did not pass the promotion gate; the champion is unchanged."""

    def __init__(self, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = list(reasons or [])


class RegistryError(Exception):
    """The model registry is inconsistent or a version cannot be loaded (e.g. hash mismatch)."""
