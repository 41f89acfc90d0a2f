"""The repository stands alone: no tracked file reads or links a path outside it."""
from __future__ import annotations

import re
import subprocess

from tests import paths
from training.reference import MASTER_TABLES, REFERENCE_EXPORT_DIR

#: Paths a user's clone does not have: the steering folder beside the repo and this machine's work tree.
OUTSIDE = re.compile(r"\.\./shared|/work/(shared|main|steering)\b")


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=paths.REPO, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def test_no_tracked_file_reads_or_links_outside_the_repo():
    offenders = []
    for name in _tracked_files():
        path = paths.REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not offenders, f"paths outside the repository: {offenders}"


def test_contracts_and_master_tables_ship_with_the_repo():
    assert {p.name for p in paths.CONTRACTS.glob("*.json")} >= {
        "ref-a.json", "legacy-top3-request.json", "legacy-chat-request.json"}
    assert sorted(p.stem for p in REFERENCE_EXPORT_DIR.glob("*.csv")) == sorted(MASTER_TABLES)
