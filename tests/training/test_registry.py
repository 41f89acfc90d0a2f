"""The registry: immutable versions, atomic champion pointer (checked by SIGKILL mid-operation), CLI."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from training.cli import EXIT_BAD_INPUT, EXIT_OK
from training.errors import RegistryError
from training.registry import SITES_DIR, Registry, format_table, main, site_of_root, site_registry_root

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "5c4e" * 16
FEATURES = "fea7" * 16


def meta(fuel: float = 0.912, **extra) -> dict:
    base = {
        "schema_hash": SCHEMA,
        "feature_hash": FEATURES,
        "data_hash": "da7a" * 16,
        "row_counts": {"hauling_activities": 1000, "holdout": 200},
        "metrics": {"fuel": {"r2": fuel, "mae": 3.0}, "payload": {"r2": 0.884}, "delay": {"auc": 0.771}},
        "training_seconds": 1.5,
        "features": ["distance_km", "weather"],
        "random_state": 42,
    }
    return {**base, **extra}


def write_models(folder: Path) -> None:
    (folder / "fuel.joblib").write_bytes(b"fuel model")
    (folder / "payload.joblib").write_bytes(b"payload model")
    (folder / "delay").mkdir()
    (folder / "delay" / "model.joblib").write_bytes(b"delay model")


def make_registry(tmp_path: Path, n: int = 2) -> Registry:
    registry = Registry(tmp_path / "models")
    for i in range(n):
        registry.create_version(write_models, meta(fuel=0.90 + i / 100))
    return registry


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name not in {".lock", ".sequence"})


def make_writable(folder: Path) -> None:
    for dirpath, _dirs, _files in os.walk(folder):
        os.chmod(dirpath, 0o755)
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o644)


# ---------------------------------------------------------------------------- round trip


def test_create_list_promote_rollback_round_trip(tmp_path):
    registry = make_registry(tmp_path)
    assert [(v.version, v.number, v.is_champion) for v in registry.versions()] == [("v1", 1, False), ("v2", 2, False)]
    assert registry.champion() is None

    assert registry.promote("v1") is None
    assert registry.champion() == "v1"
    assert registry.promote("2") == "v1"  # bare numbers are accepted
    assert registry.pointer()["previous"] == ["v1"]
    assert [v.is_champion for v in registry.versions()] == [False, True]
    assert registry.versions()[1].metrics["fuel"]["r2"] == pytest.approx(0.91)

    assert registry.promote("v2") == "v2"  # already champion: nothing changes
    assert registry.pointer()["previous"] == ["v1"]

    assert registry.rollback() == "v1"
    assert registry.champion() == "v1"
    assert registry.pointer()["previous"] == []
    with pytest.raises(RegistryError, match="no previous champion to roll back to"):
        registry.rollback()
    assert registry.champion() == "v1"


def test_metadata_records_everything_needed_to_reproduce(tmp_path):
    registry = make_registry(tmp_path, n=1)
    data = registry.metadata("v1")
    assert data["schema_hash"] == SCHEMA and data["feature_hash"] == FEATURES
    assert data["row_counts"] == {"hauling_activities": 1000, "holdout": 200}
    assert data["features"] == ["distance_km", "weather"] and data["random_state"] == 42
    assert data["training_seconds"] == 1.5 and data["created_at"].endswith("+00:00")
    assert set(data["library_versions"]) >= {"python", "numpy", "pandas", "sklearn", "joblib", "simpy"}
    assert data["library_versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    folder = registry.path("v1")
    assert data["files"] == {
        rel: hashlib.sha256((folder / rel).read_bytes()).hexdigest()
        for rel in ("delay/model.joblib", "fuel.joblib", "payload.joblib")
    }


def test_invalid_metadata_is_refused_before_any_artifact_is_written(tmp_path):
    registry = Registry(tmp_path / "models")
    calls = []
    bad = meta()
    del bad["schema_hash"]
    with pytest.raises(ValidationError, match="schema_hash"):
        registry.create_version(calls.append, bad)
    with pytest.raises(TypeError, match="not JSON serialisable"):
        registry.create_version(calls.append, meta(model=object()))
    assert calls == []
    assert registry.versions() == []


def test_failed_write_leaves_nothing_and_consumes_no_number(tmp_path):
    registry = Registry(tmp_path / "models")

    def broken(folder: Path) -> None:
        (folder / "fuel.joblib").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.create_version(broken, meta())
    with pytest.raises(RegistryError, match="wrote no files"):
        registry.create_version(lambda folder: None, meta())
    with pytest.raises(RegistryError, match="must not write metadata.json"):
        registry.create_version(lambda folder: (folder / "metadata.json").write_text("{}"), meta())
    assert leftovers(registry.root) == []
    assert registry.create_version(write_models, meta()) == "v1"


# ---------------------------------------------------------------------------- immutability


def test_version_folders_are_read_only(tmp_path):
    folder = make_registry(tmp_path, n=1).path("v1")
    paths = [folder, *folder.rglob("*")]
    assert len(paths) == 6  # folder, 3 artifacts, delay/, metadata.json
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path


def test_numbers_are_never_reused_even_after_deleting_the_latest(tmp_path):
    registry = make_registry(tmp_path, n=2)
    make_writable(registry.root / "v2")
    for path in sorted((registry.root / "v2").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (registry.root / "v2").rmdir()
    assert registry.create_version(write_models, meta()) == "v3"
    assert [v.version for v in registry.versions()] == ["v1", "v3"]


def _create_many(root: str, count: int, queue) -> None:
    registry = Registry(Path(root))
    queue.put([registry.create_version(write_models, meta()) for _ in range(count)])


def test_concurrent_creators_get_distinct_numbers(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_create_many, args=(str(tmp_path / "models"), 4, queue)) for _ in range(3)]
    for w in workers:
        w.start()
    names = [name for _ in workers for name in queue.get(timeout=30)]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    assert sorted(names, key=lambda n: int(n[1:])) == [f"v{i}" for i in range(1, 13)]
    assert len(Registry(tmp_path / "models").versions()) == 12


# ---------------------------------------------------------------------------- refusing bad versions


def test_promote_refuses_missing_incomplete_or_corrupt_versions(tmp_path):
    registry = make_registry(tmp_path, n=1)
    with pytest.raises(RegistryError, match="v9 does not exist"):
        registry.promote("v9")
    with pytest.raises(RegistryError, match="'banana' is not a version name"):
        registry.promote("banana")
    (registry.root / "v5").mkdir()  # e.g. a half-copied folder: ignored by versions()
    assert [v.version for v in registry.versions()] == ["v1"]
    with pytest.raises(RegistryError, match="v5 is incomplete: no metadata.json"):
        registry.promote("v5")
    artifact = registry.root / "v1" / "fuel.joblib"
    os.chmod(artifact, 0o644)
    artifact.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match=r"fuel.joblib is corrupt: sha256 \w{12}…, metadata.json says"):
        registry.promote("v1")
    assert registry.pointer() is None


def test_verify_refuses_a_version_trained_with_other_hashes(tmp_path):
    registry = make_registry(tmp_path, n=1)
    assert registry.verify("v1", schema_hash=SCHEMA, feature_hash=FEATURES)["data_hash"] == "da7a" * 16
    other = "0123456789abcdef" * 4
    with pytest.raises(RegistryError) as info:
        registry.verify("v1", schema_hash=other, feature_hash=FEATURES)
    assert str(info.value) == (
        f"{registry.root / 'v1'} was trained with schema hash 5c4e5c4e5c4e…, this code has 0123456789ab…; "
        "retrain or check out the matching code"
    )
    assert str(info.value).split("/")[-2:-1] == ["models"]
    with pytest.raises(RegistryError, match=r"feature hash fea7fea7fea7…, this code has 0123456789ab…; retrain"):
        registry.verify("v1", schema_hash=SCHEMA, feature_hash=other)


def test_each_site_has_its_own_registry_and_its_versions_say_so(tmp_path):
    models = tmp_path / "models"
    assert site_registry_root(models, "default") == models  # today's single-site layout, unchanged
    assert site_registry_root(models, "north-pit") == models / SITES_DIR / "north-pit"
    assert [site_of_root(site_registry_root(models, s)) for s in ("default", "north-pit")] == ["default", "north-pit"]
    a, b = Registry(models), Registry(site_registry_root(models, "north-pit"))
    a.create_version(write_models, meta(fuel=0.90))
    b.create_version(write_models, meta(fuel=0.95))
    b.create_version(write_models, meta(fuel=0.96))
    assert (a.metadata("v1")["site"], b.metadata("v1")["site"]) == ("default", "north-pit")
    assert [(i.version, i.site) for i in a.versions()] == [("v1", "default")]  # the sites folder is not a version
    assert [(i.version, i.site) for i in b.versions()] == [("v1", "north-pit"), ("v2", "north-pit")]
    assert a.verify("v1", schema_hash=SCHEMA, feature_hash=FEATURES)["site"] == "default"
    with pytest.raises(RegistryError, match="does not belong in .*the registry of site 'north-pit'"):
        b.create_version(write_models, meta(site="default"))


def test_a_version_of_another_site_is_refused_when_loaded(tmp_path):
    import shutil

    a = make_registry(tmp_path, n=1)
    b = Registry(site_registry_root(a.root, "north-pit"))
    b.root.mkdir(parents=True)
    shutil.copytree(a.root / "v1", b.root / "v1")  # copied by hand between the sites' folders
    with pytest.raises(RegistryError, match=r"v1 was trained for site 'default', but .*north-pit is the registry "
                                            r"of site 'north-pit'; train this site's own model"):
        b.verify("v1", schema_hash=SCHEMA, feature_hash=FEATURES)


def test_versions_written_before_sites_belong_to_the_default_site(tmp_path):
    registry = make_registry(tmp_path, n=1)
    file = registry.root / "v1" / "metadata.json"
    make_writable(registry.root / "v1")
    old = json.loads(file.read_text())
    del old["site"]
    file.write_text(json.dumps(old))
    assert registry.versions()[0].site == "default"
    assert registry.verify("v1", schema_hash=SCHEMA, feature_hash=FEATURES)["site"] == "default"  # still loads
    assert registry.metadata("v1").get("site") is None  # the file is not rewritten


def test_dangling_or_corrupt_pointer_is_a_clear_error(tmp_path):
    registry = make_registry(tmp_path, n=1)
    (registry.root / "champion.json").write_text(json.dumps({"version": "v7", "previous": [], "updated_at": "x"}))
    with pytest.raises(RegistryError, match="names v7 but .*v7 is missing or incomplete; run .*rollback"):
        registry.champion()
    (registry.root / "champion.json").write_text('{"version": "v1", "prev')
    with pytest.raises(RegistryError, match="champion.json is not valid JSON"):
        registry.champion()
    (registry.root / "champion.json").write_text('{"version": "../etc", "previous": []}')
    with pytest.raises(RegistryError, match="champion.json is malformed"):
        registry.versions()


def test_reading_an_absent_registry_creates_nothing(tmp_path):
    registry = Registry(tmp_path / "nowhere")
    assert registry.versions() == [] and registry.champion() is None and registry.cleanup_incomplete() == []
    assert not registry.root.exists()


# ---------------------------------------------------------------------------- crashes (SIGKILL)

KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from training.registry import Registry

    root, action, arg, kill_at = sys.argv[1:5]

    def hook(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def write(folder):
        (folder / "model.joblib").write_bytes(b"m" * 4096)

    registry = Registry(Path(root))
    if action == "promote":
        registry.promote(arg, _after_step=hook)
    elif action == "rollback":
        registry.rollback(_after_step=hook)
    else:
        registry.create_version(write, json.loads(arg), _after_step=hook)
    print("finished")
    """
)


def run_and_kill(root: Path, action: str, arg: str, kill_at: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(root), action, arg, kill_at],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("kill_at", "expected"),
    [("validated", "v1"), ("temp_written", "v1"), ("fsynced", "v1"), ("replaced", "v2"), ("dir_fsynced", "v2")],
)
def test_promotion_killed_at_any_step_leaves_a_consistent_champion(tmp_path, kill_at, expected):
    registry = make_registry(tmp_path)
    registry.promote("v1")
    done = run_and_kill(registry.root, "promote", "v2", kill_at)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "finished" not in done.stdout

    fresh = Registry(registry.root)
    pointer = json.loads((registry.root / "champion.json").read_text())
    assert fresh.champion() == pointer["version"] == expected
    assert pointer["previous"] == ([] if expected == "v1" else ["v1"])
    fresh.cleanup_incomplete()
    assert leftovers(registry.root) == []
    assert fresh.promote("v2") in {"v1", "v2"} and fresh.champion() == "v2"  # lock was released by the kill


@pytest.mark.parametrize(("kill_at", "expected"), [("temp_written", "v2"), ("replaced", "v1")])
def test_rollback_killed_midway_leaves_a_consistent_champion(tmp_path, kill_at, expected):
    registry = make_registry(tmp_path)
    registry.promote("v1")
    registry.promote("v2")
    done = run_and_kill(registry.root, "rollback", "-", kill_at)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert Registry(registry.root).champion() == expected


def test_subprocess_harness_finishes_when_not_killed(tmp_path):
    registry = make_registry(tmp_path)
    done = run_and_kill(registry.root, "promote", "v2", "never")
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr
    assert registry.champion() == "v2"


@pytest.mark.parametrize("kill_at", ["artifacts_written", "metadata_written"])
def test_creation_killed_midway_leaves_only_a_temp_folder_that_cleanup_removes(tmp_path, kill_at):
    registry = make_registry(tmp_path, n=1)
    registry.promote("v1")
    done = run_and_kill(registry.root, "create", json.dumps(meta()), kill_at)
    assert done.returncode == -signal.SIGKILL, done.stderr

    fresh = Registry(registry.root)
    assert [v.version for v in fresh.versions()] == ["v1"]
    assert not (registry.root / "v2").exists()
    temps = [p for p in registry.root.iterdir() if p.name.startswith(".tmp-")]
    assert len(temps) == 1
    assert fresh.cleanup_incomplete() == temps
    assert leftovers(registry.root) == []
    assert fresh.champion() == "v1"
    assert fresh.create_version(write_models, meta()) == "v2"


def test_creation_killed_after_rename_leaves_a_complete_version(tmp_path):
    registry = make_registry(tmp_path, n=1)
    done = run_and_kill(registry.root, "create", json.dumps(meta()), "renamed")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert [v.version for v in registry.versions()] == ["v1", "v2"]
    assert registry.promote("v2") is None


def test_cleanup_spares_a_temp_folder_still_being_written(tmp_path):
    registry = make_registry(tmp_path, n=1)
    seen: list = []

    def write_while_cleaning(folder: Path) -> None:
        write_models(folder)
        seen.append(Registry(registry.root).cleanup_incomplete())
        seen.append(folder.exists())

    assert registry.create_version(write_while_cleaning, meta()) == "v2"
    assert seen == [[], True]
    stale = registry.root / ".tmp-stale"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "x").write_bytes(b"x")
    os.chmod(stale / "sub", 0o555)
    os.chmod(stale, 0o555)
    assert registry.cleanup_incomplete() == [stale]
    assert not stale.exists()


# ---------------------------------------------------------------------------- command line


def cli(tmp_path: Path, *args: str) -> int:
    return main(["--models", str(tmp_path / "models"), "--logs", str(tmp_path / "logs"), *args])


def test_cli_list_promote_rollback(tmp_path, capsys):
    assert cli(tmp_path, "list") == EXIT_OK
    assert "no versions in" in capsys.readouterr().out
    make_registry(tmp_path)

    assert cli(tmp_path, "promote", "v1") == EXIT_OK
    assert capsys.readouterr().out == "champion is now v1 (was none)\n"
    assert cli(tmp_path, "promote", "2") == EXIT_OK
    assert capsys.readouterr().out == "champion is now v2 (was v1)\n"

    assert cli(tmp_path, "list") == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "created", "fuel", "r2", "payload", "r2", "delay", "auc", "champion"]
    assert lines[1].split()[0] == "v1" and lines[1].split()[3:] == ["0.900", "0.884", "0.771"]
    assert lines[2].split()[3:] == ["0.910", "0.884", "0.771", "*"]

    assert cli(tmp_path, "list", "--json") == EXIT_OK
    listing = json.loads(capsys.readouterr().out)
    assert listing["champion"] == "v2" and [v["version"] for v in listing["versions"]] == ["v1", "v2"]

    assert cli(tmp_path, "rollback") == EXIT_OK
    assert capsys.readouterr().out == "rolled back: champion is now v1 (was v2)\n"
    reports = sorted((tmp_path / "logs" / "registry").glob("*.json"))
    assert [r.name.split("-")[-1] for r in reports] == ["promote.json", "promote.json", "rollback.json"]
    assert json.loads(reports[-1].read_text())["champion"] == "v1"


def test_cli_errors_exit_2_with_a_message(tmp_path, capsys):
    make_registry(tmp_path, n=1)
    assert cli(tmp_path, "promote", "v9") == EXIT_BAD_INPUT
    assert "error: " in capsys.readouterr().err
    assert cli(tmp_path, "rollback") == EXIT_BAD_INPUT
    assert "no previous champion" in capsys.readouterr().err
    (tmp_path / "models" / "champion.json").write_text('{"version": "v4", "previous": ["v1"], "updated_at": "x"}')
    assert cli(tmp_path, "list") == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("v1") and "v4 is missing" in captured.err
    assert cli(tmp_path, "rollback") == EXIT_OK  # rollback repairs a dangling pointer
    assert Registry(tmp_path / "models").champion() == "v1"


def test_module_entry_point(tmp_path):
    make_registry(tmp_path, n=1)
    done = subprocess.run(
        [sys.executable, "-m", "training.registry", "--models", str(tmp_path / "models"), "list", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions"][0]["version"] == "v1"


def test_format_table_marks_missing_metrics():
    from training.registry import VersionInfo

    table = format_table([VersionInfo("v1", 1, "2025-01-02T03:04:05+00:00", {"fuel": {"r2": None}}, True)])
    assert table.splitlines()[1].split() == ["v1", "2025-01-02", "03:04:05", "-", "-", "-", "*"]
