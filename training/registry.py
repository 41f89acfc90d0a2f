"""The model registry: immutable ``vN/`` folders and an atomically switched champion pointer.

Layout of the registry root (``models/``)::

    v1/ v2/ ...     one folder per version: the artifacts plus metadata.json, written once, read-only
    champion.json   {"version": "v2", "previous": ["v1"], "updated_at": ISO}, replaced atomically
    .sequence       last version number ever allocated, so a number is never reused
    .lock           fcntl.flock serialising create/promote/rollback/cleanup across processes
    .tmp-<hex>/     a version being written; invisible to readers, removed by cleanup_incomplete()

Sites: every version belongs to a site (``site`` in its metadata). Each site has its own registry
under the models dir: the models dir itself for the default site (the single-site layout of today,
unchanged), ``models/sites/<site>/`` for any other (``site_registry_root``; a registry knows its
site from where it is). A deployment serves the registry of its ``MINEOPS_SITE``; a version whose
metadata names another site is refused when loaded (copied between sites' folders by hand).

A version appears only by one ``rename`` of a complete temp folder; the pointer changes only by one
``os.replace`` of a fsynced temp file. A crash at any point therefore leaves either the old or the
new champion, never a partial one. Promote and rollback only move the pointer (STYLE.md §4).

Command line: ``python -m training.registry [--models DIR] list [--json] | promote VERSION | rollback``.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths, write_json_report
from training.errors import RegistryError
from training.events import DEFAULT_SITE

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
POINTER_FILE = "champion.json"
SEQUENCE_FILE = ".sequence"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
#: Folder of the models dir holding the registries of the sites other than the default one.
SITES_DIR = "sites"
VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
READ_ONLY_FILE_MODE = 0o444
READ_ONLY_DIR_MODE = 0o555
WRITABLE_DIR_MODE = 0o755
HASH_CHUNK_BYTES = 1 << 20
SHORT_HASH_CHARS = 12
MAX_NUMBER_ATTEMPTS = 1000
# metadata key -> distribution name whose installed version is recorded with every model.
RECORDED_LIBRARIES: dict[str, str] = {
    "numpy": "numpy",
    "pandas": "pandas",
    "sklearn": "scikit-learn",
    "joblib": "joblib",
    "simpy": "simpy",
}

StepHook = Callable[[str], None] | None
"""Test hook called with the name of each finished internal step (used to kill mid-operation)."""


class VersionMetadata(BaseModel):
    """Schema of ``vN/metadata.json``; extra keys (features, seed, holdout, ...) are kept."""

    model_config = ConfigDict(extra="allow")

    created_at: str = Field(min_length=1, description="UTC ISO-8601 time the version was written")
    schema_hash: str = Field(min_length=1, description="Hash of the input schema the models were trained on")
    feature_hash: str = Field(min_length=1, description="Hash of the feature builder/column lists")
    data_hash: str = Field(min_length=1, description="Fingerprint of the training data")
    row_counts: dict[str, int] = Field(description="Rows used per table/split")
    metrics: dict[str, dict[str, Any]] = Field(description="Holdout metrics per model")
    training_seconds: float = Field(ge=0, description="Wall time of the training run, seconds")
    library_versions: dict[str, str] = Field(description="python, numpy, pandas, sklearn, joblib, simpy")
    files: dict[str, str] = Field(description="Artifact path relative to the version folder -> sha256")
    site: str = Field(DEFAULT_SITE, min_length=1,
                      description="Site whose data trained it (versions written before sites: the default site)")


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as listed by :meth:`Registry.versions`."""

    version: str
    number: int
    created_at: str
    metrics: Mapping[str, Any]
    is_champion: bool
    site: str = DEFAULT_SITE


def library_versions() -> dict[str, str]:
    """Installed versions of Python and the libraries a pickled model depends on."""
    found = {"python": platform.python_version()}
    for key, dist in RECORDED_LIBRARIES.items():
        try:
            found[key] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            found[key] = "not installed"
    return found


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _short(digest: str) -> str:
    return digest if len(digest) <= SHORT_HASH_CHARS else digest[:SHORT_HASH_CHARS] + "…"


def _json_default(obj: Any) -> Any:
    """JSON for numpy scalars, paths and datetimes found in caller metadata."""
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if isinstance(obj, (Path, datetime)):
        return str(obj) if isinstance(obj, Path) else obj.isoformat()
    raise TypeError(f"metadata value {obj!r} ({type(obj).__name__}) is not JSON serialisable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _step(hook: StepHook, name: str) -> None:
    if hook is not None:
        hook(name)


def _write_atomic(path: Path, data: bytes, after_step: StepHook = None) -> None:
    """Replace ``path`` with ``data``: temp file in the same folder, fsync, os.replace, fsync folder."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            _step(after_step, "temp_written")
            os.fsync(f.fileno())
        _step(after_step, "fsynced")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _step(after_step, "replaced")
    _fsync_dir(path.parent)
    _step(after_step, "dir_fsynced")


def _make_read_only(folder: Path) -> None:
    """chmod every file 0444 and every folder 0555 (signals immutability; root can still write)."""
    for dirpath, _dirnames, filenames in os.walk(folder, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), READ_ONLY_FILE_MODE)
        os.chmod(dirpath, READ_ONLY_DIR_MODE)


def _force_rmtree(folder: Path) -> None:
    """Delete a (possibly read-only) folder tree; missing folder is fine."""
    if not folder.exists():
        return
    for dirpath, _dirnames, _filenames in os.walk(folder):
        os.chmod(dirpath, WRITABLE_DIR_MODE)
    shutil.rmtree(folder)


def site_registry_root(models_dir: Path, site: str) -> Path:
    """The registry folder of ``site``: ``models_dir`` for the default site, else ``models_dir/sites/<site>``."""
    return Path(models_dir) if site == DEFAULT_SITE else Path(models_dir) / SITES_DIR / site


def site_of_root(root: Path) -> str:
    """The site a registry folder belongs to (inverse of ``site_registry_root``)."""
    root = Path(root)
    return root.name if root.parent.name == SITES_DIR else DEFAULT_SITE


class Registry:
    """Versions under ``root``/vN and the champion pointer ``root``/champion.json, of one site."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.site = site_of_root(self.root)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ------------------------------------------------------------------ reading (no lock needed)

    def versions(self) -> list[VersionInfo]:
        """Complete versions sorted by number; temp and incomplete folders are ignored."""
        pointer = self.pointer()
        champion = pointer["version"] if pointer else None
        infos: list[VersionInfo] = []
        for number, folder in self._version_folders():
            try:
                meta = json.loads((folder / METADATA_FILE).read_text())
            except (OSError, ValueError):
                log.warning("ignoring %s: no readable %s", folder, METADATA_FILE)
                continue
            if not isinstance(meta, dict):
                log.warning("ignoring %s: %s is not an object", folder, METADATA_FILE)
                continue
            infos.append(
                VersionInfo(
                    version=folder.name,
                    number=number,
                    created_at=str(meta.get("created_at", "")),
                    metrics=meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {},
                    is_champion=folder.name == champion,
                    site=str(meta.get("site") or DEFAULT_SITE),
                )
            )
        return infos

    def pointer(self) -> dict[str, Any] | None:
        """The raw champion pointer ``{"version", "previous", "updated_at"}``, or None if never promoted."""
        path = self.root / POINTER_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RegistryError(
                f"{path} is not valid JSON ({exc}); delete it and promote a version "
                "with `python -m training.registry promote VERSION`"
            ) from exc
        ok = (
            isinstance(data, dict)
            and isinstance(data.get("version"), str)
            and VERSION_RE.match(data["version"]) is not None
            and isinstance(data.get("previous"), list)
            and all(isinstance(v, str) and VERSION_RE.match(v) for v in data["previous"])
        )
        if not ok:
            raise RegistryError(
                f"{path} is malformed (expected version, previous, updated_at): {text[:200]!r}; "
                "delete it and promote a version"
            )
        return data

    def champion(self) -> str | None:
        """The champion version name, None if none; RegistryError if the pointer targets a missing version."""
        pointer = self.pointer()
        if pointer is None:
            return None
        version = pointer["version"]
        folder = self.root / version
        if not (folder / METADATA_FILE).is_file():
            raise RegistryError(
                f"{self.root / POINTER_FILE} names {version} but {folder} is missing or incomplete; "
                "run `python -m training.registry rollback` or promote another version"
            )
        return version

    def path(self, version: str) -> Path:
        """Folder of ``version`` (``"v3"`` or ``"3"``); RegistryError if missing or incomplete."""
        name = self._normalise(version)
        folder = self.root / name
        if not (folder / METADATA_FILE).is_file():
            raise RegistryError(f"{folder} does not exist or is incomplete (no {METADATA_FILE})")
        return folder

    def metadata(self, version: str) -> dict[str, Any]:
        """Parsed ``metadata.json`` of ``version``."""
        file = self.path(version) / METADATA_FILE
        try:
            data = json.loads(file.read_text())
        except ValueError as exc:
            raise RegistryError(f"{file} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{file} is not a JSON object")
        return data

    def verify(self, version: str, *, schema_hash: str, feature_hash: str) -> dict[str, Any]:
        """Check ``version`` is complete and matches this code's hashes; returns its metadata."""
        name = self._normalise(version)
        meta = self._check_complete(name)
        mismatches = [
            f"{label} hash {_short(trained)}, this code has {_short(current)}"
            for label, trained, current in (
                ("schema", meta.schema_hash, schema_hash),
                ("feature", meta.feature_hash, feature_hash),
            )
            if trained != current
        ]
        if meta.site != self.site:
            raise RegistryError(f"{self.root / name} was trained for site {meta.site!r}, but {self.root} is the "
                                f"registry of site {self.site!r}; train this site's own model "
                                f"(python -m training.train with MINEOPS_SITE={self.site})")
        if mismatches:
            raise RegistryError(
                f"{self.root / name} was trained with {'; and '.join(mismatches)}; "
                "retrain or check out the matching code"
            )
        return meta.model_dump()

    # ------------------------------------------------------------------ writing (under the lock)

    def create_version(
        self,
        write_artifacts: Callable[[Path], None],
        metadata: Mapping[str, Any],
        *,
        _after_step: StepHook = None,
    ) -> str:
        """Write a new immutable version and return its name (``"vN"``); does not promote it.

        ``write_artifacts(folder)`` writes the model files into a temp folder; ``metadata`` must hold
        created_at (defaults to now), schema_hash, feature_hash, data_hash, row_counts, metrics and
        training_seconds. ``library_versions`` is filled in, ``files`` (sha256 per artifact) computed.
        """
        draft = self._draft_metadata({"site": self.site, **metadata})
        if draft["site"] != self.site:
            raise RegistryError(f"a version of site {draft['site']!r} does not belong in {self.root} "
                                f"(the registry of site {self.site!r})")
        with self._locked():
            tmp = self.root / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            tmp.mkdir()
            # Held until we return: tells cleanup_incomplete() this temp folder is still in use.
            tmp_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(tmp_fd, fcntl.LOCK_EX)
        try:
            try:
                write_artifacts(tmp)
                _step(_after_step, "artifacts_written")
                if (tmp / METADATA_FILE).exists():
                    raise RegistryError(f"write_artifacts must not write {METADATA_FILE} (the registry writes it)")
                draft["files"] = self._hash_artifacts(tmp)
                VersionMetadata.model_validate(draft)
                data = json.dumps(draft, indent=2, sort_keys=True, default=_json_default).encode()
                with open(tmp / METADATA_FILE, "xb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                _fsync_dir(tmp)
                _step(_after_step, "metadata_written")
                _make_read_only(tmp)
                with self._locked():
                    version = self._publish(tmp)
            except BaseException:
                _force_rmtree(tmp)
                raise
        finally:
            os.close(tmp_fd)
        _step(_after_step, "renamed")
        log.info("registered %s", self.root / version)
        return version

    def promote(self, version: str, *, _after_step: StepHook = None) -> str | None:
        """Make ``version`` the champion; returns the champion it replaced (None if none)."""
        name = self._normalise(version)
        with self._locked():
            self._check_complete(name)
            _step(_after_step, "validated")
            current = self.pointer()
            old = current["version"] if current else None
            if old == name:
                return old
            previous = [*current["previous"], old] if current else []
            self._write_pointer(name, previous, _after_step)
        log.info("champion %s -> %s", old, name)
        return old

    def rollback(self, *, _after_step: StepHook = None) -> str:
        """Make the previous champion the champion again; returns its name."""
        with self._locked():
            current = self.pointer()
            if current is None or not current["previous"]:
                raise RegistryError(f"{self.root}: no previous champion to roll back to")
            target = current["previous"][-1]
            self._check_complete(target)
            _step(_after_step, "validated")
            self._write_pointer(target, current["previous"][:-1], _after_step)
        log.info("champion rolled back %s -> %s", current["version"], target)
        return target

    def cleanup_incomplete(self) -> list[Path]:
        """Remove temp folders/files left by crashed writers (skips ones still being written)."""
        if not self.root.is_dir():
            return []
        removed: list[Path] = []
        with self._locked():
            for entry in sorted(self.root.iterdir()):
                if entry.name.startswith(TMP_PREFIX) and entry.is_dir() and not entry.is_symlink():
                    fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        try:
                            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            continue  # a live create_version() holds it
                        _force_rmtree(entry)
                        removed.append(entry)
                    finally:
                        os.close(fd)
                elif entry.is_file() and entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    entry.unlink()  # pointer/sequence temp files; their writers hold the lock we hold
                    removed.append(entry)
        return removed

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _normalise(version: str) -> str:
        name = str(version).strip()
        if name.isdigit():
            name = f"v{int(name)}"
        if not VERSION_RE.match(name):
            raise RegistryError(f"{version!r} is not a version name (expected v1, v2, ...)")
        return name

    def _version_folders(self) -> list[tuple[int, Path]]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            match = VERSION_RE.match(entry.name)
            if match and entry.is_dir():
                found.append((int(match.group(1)), entry))
        return sorted(found)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    def _draft_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Caller metadata with defaults filled in, validated before any artifact is written."""
        draft = dict(metadata)
        draft.setdefault("created_at", _now())
        draft["library_versions"] = {**library_versions(), **dict(draft.get("library_versions") or {})}
        draft["files"] = {}
        VersionMetadata.model_validate(draft)  # raises pydantic.ValidationError (a ValueError)
        json.dumps(draft, default=_json_default)  # fail now, not after a long write
        return draft

    @staticmethod
    def _hash_artifacts(folder: Path) -> dict[str, str]:
        files: dict[str, str] = {}
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise RegistryError(f"artifact {rel} is a symlink; write real files")
            if path.is_file():
                _fsync_file(path)
                files[rel] = _sha256(path)
            elif path.is_dir():
                _fsync_dir(path)
        if not files:
            raise RegistryError("write_artifacts wrote no files")
        return files

    def _check_complete(self, name: str) -> VersionMetadata:
        """Metadata of ``name`` after checking every artifact's sha256; RegistryError otherwise."""
        folder = self.root / name
        if not folder.is_dir():
            raise RegistryError(f"{folder} does not exist")
        meta_file = folder / METADATA_FILE
        try:
            meta = VersionMetadata.model_validate_json(meta_file.read_text())
        except FileNotFoundError as exc:
            raise RegistryError(f"{folder} is incomplete: no {METADATA_FILE}") from exc
        except ValidationError as exc:
            raise RegistryError(f"{meta_file} is invalid: {exc}") from exc
        if not meta.files:
            raise RegistryError(f"{folder} is incomplete: {METADATA_FILE} lists no artifacts")
        for rel, expected in meta.files.items():
            rel_path = Path(rel)
            if rel_path.is_absolute() or ".." in rel_path.parts:
                raise RegistryError(f"{meta_file} lists an artifact outside the folder: {rel!r}")
            artifact = folder / rel_path
            if not artifact.is_file():
                raise RegistryError(f"{folder} is incomplete: {rel} is missing")
            actual = _sha256(artifact)
            if actual != expected:
                raise RegistryError(
                    f"{artifact} is corrupt: sha256 {_short(actual)}, {METADATA_FILE} says {_short(expected)}"
                )
        return meta

    def _last_allocated(self) -> int:
        try:
            return int(json.loads((self.root / SEQUENCE_FILE).read_text())["last"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s unreadable (%s); numbering from the existing folders", self.root / SEQUENCE_FILE, exc)
            return 0

    def _publish(self, tmp: Path) -> str:
        """Rename the complete temp folder to the next unused vN (caller holds the lock)."""
        existing = [number for number, _ in self._version_folders()]
        start = max([self._last_allocated(), *existing]) + 1
        for number in range(start, start + MAX_NUMBER_ATTEMPTS):
            target = self.root / f"v{number}"
            if target.exists() or target.is_symlink():
                continue
            # Recorded before the rename: a crash in between wastes a number but never reuses one.
            _write_atomic(self.root / SEQUENCE_FILE, json.dumps({"last": number}).encode())
            try:
                os.rename(tmp, target)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    continue  # appeared meanwhile (a writer not using the lock)
                raise
            _fsync_dir(self.root)
            return target.name
        raise RegistryError(f"{self.root}: no free version number after {MAX_NUMBER_ATTEMPTS} attempts")

    def _write_pointer(self, version: str, previous: list[str], after_step: StepHook) -> None:
        data = {"version": version, "previous": previous, "updated_at": _now()}
        _write_atomic(self.root / POINTER_FILE, (json.dumps(data, indent=2) + "\n").encode(), after_step)


# ---------------------------------------------------------------------------- command line


def _metric_cell(metrics: Mapping[str, Any], model: str, name: str) -> str:
    section = metrics.get(model)
    value = section.get(name) if isinstance(section, Mapping) else None
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"


def format_table(infos: list[VersionInfo]) -> str:
    """The ``list`` table: version, created, fuel r2, payload r2, delay auc, champion marker."""
    header = ("version", "created", "fuel r2", "payload r2", "delay auc", "champion")
    rows = [
        (
            info.version,
            info.created_at[:19].replace("T", " "),
            _metric_cell(info.metrics, "fuel", "r2"),
            _metric_cell(info.metrics, "payload", "r2"),
            _metric_cell(info.metrics, "delay", "auc"),
            "*" if info.is_champion else "",
        )
        for info in infos
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    align = ["<", "<", ">", ">", ">", "<"]
    lines = ["  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.registry",
        description="List model versions, promote one to champion, or roll back to the previous champion.",
    )
    add_path_args(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="table of versions and their holdout metrics")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    promote = commands.add_parser("promote", help="make VERSION the champion (no gate: an operator decision)")
    promote.add_argument("version", help="v3 or 3")
    commands.add_parser("rollback", help="make the previous champion the champion again")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training.registry``; returns the exit code."""
    args = build_parser().parse_args(argv)
    paths = resolve_paths(args)
    registry = Registry(paths.models)
    try:
        if args.command == "list":
            infos = registry.versions()
            if args.json:
                payload = {
                    "champion": next((i.version for i in infos if i.is_champion), None),
                    "site": registry.site,
                    "versions": [
                        {"version": i.version, "created_at": i.created_at, "metrics": i.metrics,
                         "is_champion": i.is_champion, "site": i.site}
                        for i in infos
                    ],
                }
                print(json.dumps(payload, indent=2, default=str))
            elif infos:
                print(format_table(infos))
            else:
                print(f"no versions in {paths.models}")
            registry.champion()  # a dangling pointer is reported (exit 2) after the listing
            return EXIT_OK
        if args.command == "promote":
            before = registry.pointer()
            old = registry.promote(args.version)
            new = registry.champion()
            if before is not None and before["version"] == new:
                print(f"{new} is already the champion")
            else:
                print(f"champion is now {new} (was {old or 'none'})")
        else:
            before = registry.pointer()  # raw: rollback is also the repair for a dangling pointer
            old = before["version"] if before else None
            new = registry.rollback()
            print(f"rolled back: champion is now {new} (was {old})")
        if new != old:
            from training.events import publish
            from training.settings import get_settings

            kind = "model.promoted" if args.command == "promote" else "model.rolled_back"
            verb = "promoted to champion by an operator" if args.command == "promote" else "champion after a rollback"
            publish(paths.logs, kind, f"model {new} {verb} (was {old or 'none'})",
                    {"version": new, "champion_before": old}, get_settings().site)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        write_json_report(
            paths.logs / "registry" / f"{stamp}-{args.command}.json",
            {"command": args.command, "models": str(paths.models), "champion": new, "previous_champion": old,
             "pointer": registry.pointer()},
        )
        return EXIT_OK
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
