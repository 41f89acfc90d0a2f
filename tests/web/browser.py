"""Debian's chromium driven by Playwright (never a downloaded browser), for the planner page's tests.

``launch(playwright, profile_dir)`` starts ``/usr/bin/chromium`` headless with a fresh profile and
no background traffic (component updates, sync, ...), so the only requests are the page's own.
``chromium_or_skip()`` skips a test when the browser is absent, naming the Debian package (through
``tests.servers``, so CI, which installs it, fails instead of skipping).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.servers import skip_missing

#: Debian package of the browser (listed in .ci/apt-packages.txt).
CHROMIUM_PACKAGE = "chromium"
#: Where Debian installs it.
CHROMIUM_PATHS: tuple[str, ...] = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: Flags: no GPU, no sandbox (containers), and nothing the browser would fetch on its own.
CHROMIUM_ARGS: tuple[str, ...] = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                  "--disable-component-update", "--disable-sync", "--no-first-run",
                                  "--disable-default-apps", "--disable-extensions")
#: Viewport of the screenshots (a laptop screen).
VIEWPORT = {"width": 1400, "height": 1000}


def chromium_or_skip() -> str:
    """Path of Debian's chromium; skips the test naming the Debian package when absent.

    Playwright itself is a dev dependency (``pip install -e ".[dev]"``), imported by the caller.
    """
    for candidate in CHROMIUM_PATHS:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        skip_missing("`chromium` (the browser the planner page is tested in)", CHROMIUM_PACKAGE)
    return found


def launch(playwright, profile_dir: Path, executable: str, locale: str = "id-ID"):
    """A headless persistent context on a fresh profile folder (downloads accepted)."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=executable, headless=True, args=list(CHROMIUM_ARGS),
        accept_downloads=True, viewport=VIEWPORT, locale=locale)
