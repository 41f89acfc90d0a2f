"""``python -m simulator SPEC.json``: ranked table, --json, exit codes, the same numbers with 1 or 2 workers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.__main__ import main
from training.cli import EXIT_BAD_INPUT, EXIT_OK
from tests import paths

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = paths.CONTRACTS


def _args(mine, spec: Path, *extra: str) -> list[str]:
    return [str(spec), "--data", str(mine.data), "--models", str(mine.models), "--logs", str(mine.logs), *extra]


def _spec(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(body))
    return path


def test_prints_the_ranked_table_and_writes_a_report(trained_mine, capsys):
    code = main(_args(trained_mine, CONTRACTS / "legacy-top3-request.json", "--workers", "1"))
    out = capsys.readouterr().out
    assert code == EXIT_OK
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("rank"))
    assert "profit IDR (mean ± 95% CI)" in lines[header] and "queue h" in lines[header]
    ranks = [line.split()[0] for line in lines[header + 1: header + 5]]
    assert ranks == ["1", "2", "3", "4"]
    assert "4 scenarios x 30 replications = 120 simulations" in out
    assert "HUJAN_RINGAN / FAIR / SHIFT_1" in out and "timings: predict" in out
    report = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    assert json.loads(report.read_text())["simulations"] == 120


def test_json_output_and_deterministic_mode(trained_mine, capsys):
    code = main(_args(trained_mine, CONTRACTS / "ref-a.json", "--json", "--deterministic", "--workers", "1"))
    payload = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert (payload["scenarios"], payload["replications"], payload["simulations"]) == (33, 1, 33)
    assert payload["deterministic"] is True and payload["model_version"] == trained_mine.version
    assert [s["rank"] for s in payload["ranked"]] == list(range(1, 34))
    best = payload["ranked"][0]
    assert best["metrics"]["profit_idr"]["mean"] == max(s["metrics"]["profit_idr"]["mean"] for s in payload["ranked"])
    assert payload["units"]["trucks"][:2] == ["HD-0001", "HD-0002"] and len(payload["units"]["excavators"]) == 3


def test_bad_spec_exits_2_naming_the_field(trained_mine, tmp_path, capsys):
    body = json.loads((CONTRACTS / "legacy-top3-request.json").read_text())
    body["decision_variables"]["alokasi_truk"] = [0, 5]
    assert main(_args(trained_mine, _spec(tmp_path, body))) == EXIT_BAD_INPUT
    assert "decision_variables.alokasi_truk[0]: must be a positive integer, got 0" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert main(_args(trained_mine, tmp_path / "broken.json")) == EXIT_BAD_INPUT
    assert "cannot read" in capsys.readouterr().err


def test_no_champion_exits_2_and_says_how_to_train_one(trained_mine, tmp_path, capsys):
    args = [str(CONTRACTS / "legacy-top3-request.json"), "--data", str(trained_mine.data),
            "--models", str(tmp_path / "empty-registry"), "--logs", str(tmp_path / "logs")]
    assert main(args) == EXIT_BAD_INPUT
    assert "python -m training.retrain" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_with_two_workers_matches_one_in_process_worker(trained_mine, capsys):
    spec = CONTRACTS / "legacy-top3-request.json"
    assert main(_args(trained_mine, spec, "--json", "--workers", "1")) == EXIT_OK
    inline = json.loads(capsys.readouterr().out)
    proc = subprocess.run([sys.executable, "-m", "simulator", *_args(trained_mine, spec, "--json", "--workers", "2")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == EXIT_OK, proc.stderr
    pooled = json.loads(proc.stdout)
    assert [(s["scenario_key"], s["metrics"]) for s in pooled["ranked"]] == \
        [(s["scenario_key"], s["metrics"]) for s in inline["ranked"]]
