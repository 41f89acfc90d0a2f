"""The README's commands and tables match the code."""
from __future__ import annotations

import re
from pathlib import Path

from training.schema import markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    return re.findall(r"```bash\n\s*(python -m pip install[^\n]*)\n\s*```", README)


def test_exactly_two_setup_commands_main_job_then_tests():
    commands = _setup_commands()
    assert commands == ['python -m pip install -e . && python -m api',
                        'python -m pip install -e ".[dev]" && python -m pytest']


def test_ci_runs_the_readme_test_command_unchanged():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _setup_commands()[1] in ci


def test_schema_table_is_generated_from_the_code():
    block = README.split("<!-- schema:start -->\n", 1)[1].split("<!-- schema:end -->", 1)[0]
    assert block.strip() == markdown_table().strip(), "regenerate: python -m training.schema"


def test_every_documented_command_exists():
    import importlib.util

    for module in set(re.findall(r"python -m ([a-z_.]+)", README)):
        if module in ("pip", "pytest", "json.tool"):
            continue
        assert importlib.util.find_spec(module) is not None, module


def test_files_the_readme_examples_post_ship_with_the_repo():
    """`curl -d @FILE` and `python -m simulator FILE` examples run from the repository's root as written."""
    posted = set(re.findall(r"-d @([\w./-]+)", README)) | set(re.findall(r"e\.g\. `([\w./-]+\.json)`", README))
    assert "contracts/ref-a.json" in posted
    for name in posted:
        assert (ROOT / name).is_file(), f"README example reads {name}, which a fresh clone does not have"
