"""A missing server binary skips naming its Debian package, and fails under MINEOPS_TEST_REQUIRE_SERVERS."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import paths, servers

#: A test module that needs a binary no machine has, one that skips the same way by hand, and one that passes.
PROBE = '''
import pytest
from tests import servers

def test_needs_a_binary():
    servers.require_binary("mineops-no-such-server", package="mineops-no-such-package")

def test_skips_by_hand():
    pytest.skip(servers.missing_reason("`mineops-other`", "mineops-other-package"))

def test_plain():
    assert True
'''


def _run_probe(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != servers.REQUIRE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(paths.REPO), env.get("PYTHONPATH", "")) if p)
    if require is not None:
        env[servers.REQUIRE_ENV] = require
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.servers", "-p", "no:cacheprovider",
                           "-rs", "-q", "test_probe.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_without_the_variable_missing_binaries_skip_with_the_package_named(tmp_path: Path):
    done = _run_probe(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"1 passed, 2 skipped", done.stdout), done.stdout
    assert "install the Debian package mineops-no-such-package" in done.stdout
    assert "apt-get install -y mineops-no-such-package" in done.stdout
    assert "install the Debian package mineops-other-package" in done.stdout


@pytest.mark.parametrize("value", ["1", "true"])
def test_under_the_variable_every_missing_binary_fails(tmp_path: Path, value: str):
    done = _run_probe(tmp_path, value)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"2 failed, 1 passed", done.stdout), done.stdout
    assert servers.REQUIRE_ENV in done.stdout


def test_a_zero_variable_means_not_required(monkeypatch: pytest.MonkeyPatch):
    for value in ("", "0", "false", "no"):
        monkeypatch.setenv(servers.REQUIRE_ENV, value)
        assert not servers.servers_required()
    monkeypatch.setenv(servers.REQUIRE_ENV, "yes")
    assert servers.servers_required()


def test_found_binaries_are_returned(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(servers.REQUIRE_ENV, raising=False)
    assert servers.require_binary("sh", package="dash") == servers.shutil.which("sh")
    assert servers.require_path(sys.executable, package="python3") == [Path(sys.executable)]


def test_ci_installs_the_packages_the_tests_name_and_requires_them():
    listed = {line.strip() for line in (paths.REPO / ".ci" / "apt-packages.txt").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")}
    named = set()
    for path in (paths.REPO / "tests").rglob("*.py"):
        named |= set(re.findall(r'package="([a-z0-9.+-]+)"', path.read_text()))
        named |= set(re.findall(r'skip_missing\([^\n]*?,\s*"([a-z0-9.+-]+)"\)', path.read_text()))
    named -= {"mineops-no-such-package", "dash", "python3", "mineops-other-package"}
    assert named, "no test names a package"
    assert named <= listed, f"tests need packages CI does not install: {sorted(named - listed)}"
    ci = (paths.REPO / ".ci" / "run").read_text()
    assert re.search(rf"export {servers.REQUIRE_ENV}=1", ci), "CI must turn missing-server skips into failures"
