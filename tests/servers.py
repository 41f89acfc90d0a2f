"""Tests that start a real server binary: find it, or skip naming the Debian package that has it.

A fresh clone's ``python -m pytest`` passes without the Debian packages: every test that needs a
binary asks :func:`require_binary` (or :func:`require_path`), which skips with a reason naming the
package and how to install it. CI installs the packages (``.ci/apt-packages.txt``) and sets
``MINEOPS_TEST_REQUIRE_SERVERS=1``; under that variable the skip is a failure, and the hook
:func:`pytest_runtest_makereport` (registered by ``tests/conftest.py``, or ``-p tests.servers``)
turns any skip whose reason came from :func:`missing_reason` into one, so CI still runs everything::

    promtool = require_binary("promtool", package="prometheus")
"""
from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

#: Set (to anything but "", "0", "false", "no") by ``.ci/run``: a missing server binary fails the test.
REQUIRE_ENV = "MINEOPS_TEST_REQUIRE_SERVERS"
#: Every skip reason of this module starts with this, so the conftest hook can find them.
SKIP_PREFIX = "missing server binary:"
#: The file that lists the Debian packages CI installs.
APT_PACKAGES_FILE = ".ci/apt-packages.txt"


def servers_required() -> bool:
    """True when a missing server binary must fail the test (CI), not skip it."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def missing_reason(what: str, package: str) -> str:
    """The skip reason: what is missing, the Debian package that has it and how to get it."""
    return (f"{SKIP_PREFIX} {what} not found; install the Debian package {package} "
            f"(apt-get install -y {package}; listed in {APT_PACKAGES_FILE}, .ci/run installs it)")


def skip_missing(what: str, package: str) -> None:
    """Skip the test (fail it under ``MINEOPS_TEST_REQUIRE_SERVERS``) because ``what`` is missing."""
    reason = missing_reason(what, package)
    if servers_required():
        pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so this is a failure", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, *, package: str) -> str:
    """The path of executable ``name`` on PATH, or skip naming the Debian ``package`` that ships it."""
    found = shutil.which(name)
    if found is None:
        skip_missing(f"`{name}`", package)
    return found


def require_path(pattern: str, *, package: str) -> list[Path]:
    """The files matching glob ``pattern`` (sorted), or skip naming ``package`` (binaries off PATH)."""
    found = sorted(Path(p) for p in glob.glob(pattern))
    if not found:
        skip_missing(pattern, package)
    return found


def is_missing_server_skip(reason: str) -> bool:
    """True for a skip reason written by this module."""
    return SKIP_PREFIX in reason


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``MINEOPS_TEST_REQUIRE_SERVERS`` a skip for a missing server binary is reported as a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and servers_required() and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if is_missing_server_skip(reason):
            report.outcome = "failed"
            report.longrepr = f"{reason}\n{REQUIRE_ENV} is set: a missing server binary fails the run"
