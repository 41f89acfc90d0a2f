"""``live`` imports only ``training`` of ours (the API imports ``live``, never the other way)."""
from __future__ import annotations

import ast
from pathlib import Path

import live

OURS = {"training", "simulator", "live", "api", "tests", "benchmarks"}


def test_live_imports_only_training() -> None:
    root = Path(live.__file__).parent
    found = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                if top in OURS - {"training", "live"}:
                    found.setdefault(path.name, []).append(name)
    assert found == {}
