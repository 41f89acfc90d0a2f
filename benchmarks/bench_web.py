"""Benchmark of the planner page in a real browser (Debian's chromium via Playwright) against the real service.

    python benchmarks/bench_web.py [--data D --models M] [--loads 10]

Starts ``python -m api`` on a copy of the given mine (or a small synthetic mine trained here), opens
``GET /`` in headless chromium ``--loads`` times and prints figures only (no pass/fail):

1. page load: the first load (cold browser cache) and the median / max of the following loads
   (warm cache), each from navigation start until the page's scripts ran (``body[data-ready]``),
   with the browser's own navigation timing (DOMContentLoaded, load) beside it (target < 1 s);
2. requests per load and how many went to another host (target 0), and the bytes of the HTML.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.bench_api import prepare_mine  # noqa: E402
from tests.e2e_server import running_api  # noqa: E402
from tests.ollama_server import OllamaTestServer  # noqa: E402
from tests.web.browser import CHROMIUM_PATHS, launch  # noqa: E402

READY_TIMEOUT_S = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--models", type=Path)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args(argv)
    chromium = next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)
    if chromium is None:
        print("needs the Debian package chromium (apt-get install chromium)")
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, OllamaTestServer() as ollama:
        mine = prepare_mine(args.data, args.models, Path(tmp))
        with running_api(mine, ollama.url, ready_timeout_s=READY_TIMEOUT_S) as api, sync_playwright() as p:
            html = httpx.get(api.url + "/", headers={"Accept": "text/html"}).content
            context = launch(p, Path(tmp) / "profile", chromium)
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            own = urlsplit(api.url).netloc
            walls, dcl, load, counts, foreign = [], [], [], [], 0
            for _ in range(args.loads):
                requests.clear()
                started = time.perf_counter()
                page.goto(api.url + "/")
                page.wait_for_selector("body[data-ready='true']")
                walls.append(time.perf_counter() - started)
                page.wait_for_load_state("load")
                timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                       " return [n.domContentLoadedEventEnd, n.loadEventEnd]; }")
                dcl.append(timing[0] / 1000)
                load.append(timing[1] / 1000)
                counts.append(len(requests))
                foreign += sum(1 for u in requests if urlsplit(u).netloc not in (own, ""))
            context.close()
    warm = walls[1:] or walls
    print(f"planner page, {args.loads} loads in headless chromium (machine may be shared):")
    print(f"  first load (cold cache): {walls[0] * 1000:.0f} ms until the scripts ran "
          f"(DOMContentLoaded {dcl[0] * 1000:.0f} ms, load {load[0] * 1000:.0f} ms)")
    print(f"  warm loads: median {statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms "
          f"(DOMContentLoaded median {statistics.median(dcl[1:] or dcl) * 1000:.0f} ms); target < 1000 ms")
    print(f"  requests per load: {statistics.median(counts):.0f}; to another host: {foreign} (target 0); "
          f"HTML {len(html) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
