"""Validating loader of the fleet exports: reads the CSVs, enforces ``training.schema``, quarantines.

Every value is read as text (nothing is coerced silently) and converted per the schema: ints and
floats must parse completely (an int written ``12.0`` is accepted); booleans are ``true``/``false``
(also ``True``/``False``/``1``/``0``); timestamps are ISO-8601 and become ``datetime64[ns, UTC]`` (a
timestamp without offset is taken as UTC); JSON columns hold the parsed value; categories are
normalised to their enum form (``'Hujan Ringan'`` -> ``'HUJAN_RINGAN'``); text stays text. An empty
field is null (``None``/NaN/NaT/<NA>).

**Row numbers.** ``row N`` is the N-th data record of the file, the header not counted: row 1 is
the first record under the header, i.e. what a spreadsheet shows on line N + 1. Blank lines count.

A bad row is removed from the returned frame, written to ``<quarantine_dir>/<file>.csv`` with its
original fields plus ``_row`` and ``_reason``, and counted in ``ValidationReport.rows_quarantined``.
Fatal problems raise ``BadInputError`` (exit code ``EXIT_BAD_INPUT``): a missing required file or
column, an unreadable file, or a share of bad rows in any file above ``max_bad_share``. The loader
writes nothing but quarantine files.

Returned frames are indexed by row number (index name ``_row``); extra columns are carried as text.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from training.errors import BadInputError
from training.schema import (MIN_HAUL_CAPACITY_T, TABLES, ColumnSpec, TableSpec, enum_key)
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

#: Default share of bad rows in any one file above which the input is rejected (the settings' default).
DEFAULT_MAX_BAD_SHARE: float = TrainingSettings.model_fields["max_bad_row_share"].default
#: Name of the row-number index of returned frames and of the row column of quarantine files.
ROW_COLUMN = "_row"
#: Column of quarantine files holding why the row was rejected.
REASON_COLUMN = "_reason"
#: How an empty field is shown in a problem message.
EMPTY_SHOWN_AS = "(empty)"
#: Longest value quoted in a problem message (characters).
MAX_SHOWN_VALUE_CHARS = 80

_TYPE_MESSAGES = {
    "int": "must be a whole number",
    "float": "must be a number",
    "bool": "must be true or false",
    "datetime": "must be an ISO-8601 timestamp",
    "json": "must be valid JSON",
}
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_NAT_I8 = np.iinfo(np.int64).min


# --- report ---------------------------------------------------------------------------------------------

def _show(value: str | None) -> str:
    if value is None or value == "":
        return EMPTY_SHOWN_AS
    return value if len(value) <= MAX_SHOWN_VALUE_CHARS else value[:MAX_SHOWN_VALUE_CHARS] + "..."


def _num(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Problem:
    """One defect: ``str()`` reads ``hauling_activities.csv row 812: loadWeight=-3, must be >= 0``.

    ``row`` is the 1-based data row (header excluded), ``None`` for a file-level problem; ``column``
    is ``None`` when the problem concerns the whole row or file; ``value`` is the field as written.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str

    @property
    def detail(self) -> str:
        """The problem without its file and row (``loadWeight=-3, must be >= 0``)."""
        if self.column is None:
            return self.message
        return f"{self.column}={_show(self.value)}, {self.message}"

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        return f"{where}: {self.detail}"


@dataclass
class ValidationReport:
    """Rows read and quarantined per table (keyed by table name) and every problem found."""

    rows_read: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    quarantine_files: dict[str, Path] = field(default_factory=dict)

    @property
    def total_quarantined(self) -> int:
        return sum(self.rows_quarantined.values())

    def lines(self) -> list[str]:
        """Every problem as one human-readable line."""
        return [str(p) for p in self.problems]

    def to_dict(self, max_problems: int = 200) -> dict[str, Any]:
        """JSON-ready summary (the first ``max_problems`` problem lines)."""
        return {
            "rows_read": dict(self.rows_read),
            "rows_quarantined": dict(self.rows_quarantined),
            "problems": self.lines()[:max_problems],
            "problems_total": len(self.problems),
            "quarantine_files": {k: str(v) for k, v in self.quarantine_files.items()},
        }


def is_haul_truck(trucks: pd.DataFrame, min_capacity_t: float = MIN_HAUL_CAPACITY_T) -> pd.Series:
    """True for haul trucks, False for light vehicles (rated capacity below ``min_capacity_t``, t)."""
    return pd.to_numeric(trucks["capacity"], errors="coerce").ge(min_capacity_t)


@dataclass(frozen=True)
class Export:
    """The validated tables (bad rows removed); optional tables are None when their file is absent."""

    trucks: pd.DataFrame
    excavators: pd.DataFrame
    operators: pd.DataFrame
    road_segments: pd.DataFrame
    maintenance_logs: pd.DataFrame
    hauling_activities: pd.DataFrame | None
    vessels: pd.DataFrame | None
    sailing_schedules: pd.DataFrame | None
    report: ValidationReport

    def table(self, name: str) -> pd.DataFrame | None:
        """The frame of table ``name`` (a key of ``training.schema.TABLES``)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return getattr(self, name)

    @property
    def haul_trucks(self) -> pd.DataFrame:
        """Trucks rated at least ``MIN_HAUL_CAPACITY_T`` (light vehicles left out)."""
        return self.trucks[is_haul_truck(self.trucks)]


# --- reading --------------------------------------------------------------------------------------------

@dataclass
class _RawTable:
    spec: TableSpec
    frame: pd.DataFrame  # every field as text ('' = empty), index = row number, padded to the header
    malformed: dict[int, int]  # row -> number of fields, for rows whose field count != header's
    arrow: pa.Table | None = None  # the same text columns when read by the fast path


def _read_fast(payload: bytes, header: list[str]) -> pa.Table | None:
    """All rows as text with pyarrow, or None when any row is irregular (blank, wrong field count)."""
    irregular: list[object] = []

    def skip(row: object) -> str:
        irregular.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(payload),
            read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=skip, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    return None if irregular else table


def _read_exact(text: str, width: int) -> tuple[list[list[str]], list[int], dict[int, int]]:
    """Rows with the csv module: records, their row numbers, and rows with a wrong field count."""
    rows: list[list[str]] = []
    numbers: list[int] = []
    malformed: dict[int, int] = {}
    records = csv.reader(io.StringIO(text, newline=""))
    next(records)
    for number, record in enumerate(records, start=1):
        if not record:
            continue  # blank line: counted in the numbering, not a row
        if len(record) != width:
            malformed[number] = len(record)
            record = (record + [""] * width)[:width]
        rows.append(record)
        numbers.append(number)
    return rows, numbers, malformed


def _read(path: Path, spec: TableSpec) -> tuple[_RawTable | None, list[Problem]]:
    """Read ``path`` as text; file-level problems (unreadable, missing columns) are returned."""
    file = spec.file

    def fatal(message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(file, None, None, None, message)]

    try:
        data = path.read_bytes()
    except OSError as exc:
        return fatal(f"unreadable file: {exc.strerror or exc}")
    if b"\x00" in data:
        return fatal("unreadable file: binary content (NUL bytes), not a CSV text export")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fatal(f"unreadable file: not UTF-8 text (invalid byte at offset {exc.start})")
    try:
        first = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        return fatal(f"unreadable file: not parseable as CSV ({exc})")
    if not any(name.strip() for name in first):
        return fatal("unreadable file: empty, no header line")

    header = [h.strip() for h in first]
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(file, None, None, None, f"column {name} appears more than once in the header"))
        seen.add(name)
    for name in spec.required_columns:
        if name not in seen:
            problems.append(Problem(file, None, None, None, f"missing required column {name}"))
    if problems:
        return None, problems

    payload = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    blank_line = b"\n\n" in payload or b"\n\r\n" in payload  # numbered by the exact reader only
    table = None if blank_line else _read_fast(payload, header)
    if table is not None:
        frame = table.to_pandas()
        frame.index = pd.RangeIndex(1, len(frame) + 1, name=ROW_COLUMN)
        return _RawTable(spec, frame, {}, table), []
    try:
        rows, numbers, malformed = _read_exact(text, len(header))
    except csv.Error as exc:
        return fatal(f"unreadable file: not parseable as CSV ({exc})")
    columns = list(zip(*rows)) if rows else [()] * len(header)
    frame = pd.DataFrame({name: np.asarray(columns[i], dtype=object) for i, name in enumerate(header)},
                         index=pd.Index(np.asarray(numbers, dtype=np.int64), name=ROW_COLUMN))
    return _RawTable(spec, frame, malformed), []


# --- checking -------------------------------------------------------------------------------------------

class _Checker:
    """Collects flagged rows of one table, in check order, and turns them into Problems."""

    def __init__(self, file: str, raw: pd.DataFrame):
        self.file = file
        self.raw = raw
        self._hits: list[tuple[int, int, Problem]] = []
        self._seq = 0

    def flag(self, mask: pd.Series | np.ndarray, column: str | None, message: str | Iterable[str],
             values: Iterable[str] | None = None) -> None:
        """Report every row where ``mask`` is true; per-row ``message``/``values`` cover flagged rows only."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = self.raw.index.to_numpy()[mask]
        if values is None:
            values = self.raw[column].to_numpy()[mask] if column in self.raw.columns else [None] * len(rows)
        messages = [message] * len(rows) if isinstance(message, str) else list(message)
        self._seq += 1
        for row, value, msg in zip(rows, values, messages):
            self._hits.append((int(row), self._seq, Problem(self.file, int(row), column, value, msg)))

    def flagged(self, column: str) -> np.ndarray:
        """Mask of rows already reported for ``column``."""
        rows = {row for row, _, p in self._hits if p.column == column}
        return self.raw.index.isin(list(rows))

    def problems(self) -> list[Problem]:
        return [p for _, _, p in sorted(self._hits, key=lambda h: (h[0], h[1]))]


def _fast_timestamps(text: pa.ChunkedArray, index: pd.Index) -> pd.Series | None:
    """ISO-8601 with offset parsed by pyarrow (fast), or None if any value needs the exact parser."""
    try:
        stamps = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        stamps = stamps.cast(pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    series = stamps.to_pandas()
    series.index = index
    return series


def _convert(col: ColumnSpec, raw: pd.Series, empty: pd.Series,
             arrow: pa.ChunkedArray | None = None) -> tuple[pd.Series, np.ndarray, str]:
    """Typed column, mask of wrong-type fields, and the message for them."""
    present = ~empty.to_numpy()
    if col.dtype in ("int", "float"):
        num = pd.to_numeric(raw.where(~empty), errors="coerce").astype(float)
        values = num.to_numpy()
        bad = present & ~np.isfinite(values)
        if col.dtype == "int":
            with np.errstate(invalid="ignore"):
                bad |= present & np.isfinite(values) & (values != np.round(values))
            num = num.where(~bad).astype("Int64")
        else:
            num = num.where(~bad)
        return num, bad, _TYPE_MESSAGES[col.dtype]
    if col.dtype == "bool":
        mapped = raw.str.lower().map(_BOOLS)
        bad = present & mapped.isna().to_numpy()
        return mapped.astype("boolean"), bad, _TYPE_MESSAGES["bool"]
    if col.dtype == "datetime":
        ts = _fast_timestamps(arrow, raw.index) if arrow is not None else None
        if ts is None:
            ts = pd.to_datetime(raw.where(~empty), utc=True, format="ISO8601", errors="coerce")
        bad = present & ts.isna().to_numpy()
        return ts, bad, _TYPE_MESSAGES["datetime"]
    if col.dtype in ("json", "category"):
        parsed: dict[str, Any] = {}
        for value in pd.unique(raw[~empty]):
            try:
                parsed[value] = json.loads(value) if col.dtype == "json" else _category(value, col.allowed)
            except ValueError:
                pass
        known = raw.isin(list(parsed)).to_numpy()
        bad = present & ~known
        if col.dtype == "json":  # parsed values may be dicts/lists, which Series.map would not keep
            out = pd.Series([parsed.get(v) for v in raw.to_numpy()], index=raw.index, dtype=object)
        else:
            out = pd.Series(raw.map(parsed).to_numpy(), index=raw.index, dtype=object)
            out[~known] = None
        message = _TYPE_MESSAGES["json"] if col.dtype == "json" else f"must be one of {', '.join(col.allowed)}"
        return out, bad, message
    return raw.where(~empty, None).astype(object), np.zeros(len(raw), dtype=bool), ""


def _category(value: str, allowed: tuple[str, ...] | None) -> str:
    key = enum_key(value)
    if allowed is None or key not in allowed:
        raise ValueError(value)
    return key


def _check_table(raw_table: _RawTable, parents: dict[str, pd.DataFrame],
                 quarantined_ids: dict[str, set[str]]) -> tuple[pd.DataFrame, list[Problem], np.ndarray]:
    """Validate one table; returns (typed frame of every row, problems, bad-row mask)."""
    spec = raw_table.spec
    raw = raw_table.frame
    checker = _Checker(spec.file, raw)
    malformed = raw.index.isin(list(raw_table.malformed))
    if malformed.any():
        counts = [raw_table.malformed[r] for r in raw.index[malformed]]
        checker.flag(malformed, None, [f"has {n} fields, the header has {raw.shape[1]}" for n in counts])
    ok_rows = ~malformed  # rows with a wrong field count are not checked further (fields shifted)
    typed: dict[str, pd.Series] = {}
    for name in raw.columns:
        values = raw[name]
        empty = values == ""
        try:
            col = spec.column(name)
        except KeyError:  # extra column: carried as text
            typed[name] = values.where(~empty, None).astype(object)
            continue
        arrow = raw_table.arrow.column(name) if raw_table.arrow is not None else None
        converted, wrong, message = _convert(col, values, empty, arrow)
        typed[name] = converted
        checker.flag(wrong & ok_rows, name, message)
        if not col.nullable:
            checker.flag(empty.to_numpy() & ok_rows, name, "must not be empty")
        if col.min is not None or col.max is not None:
            num = converted.astype(float).to_numpy()
            with np.errstate(invalid="ignore"):
                if col.min is not None:
                    low = num <= col.min if col.min_exclusive else num < col.min
                    checker.flag(low & ok_rows, name, f"must be {'>' if col.min_exclusive else '>='} {_num(col.min)}")
                if col.max is not None:
                    checker.flag((num > col.max) & ok_rows, name, f"must be <= {_num(col.max)}")
    frame = pd.DataFrame(typed, index=raw.index)

    for col in spec.columns:  # unique values: first kept, later ones flagged
        if not col.unique or col.name not in frame.columns:
            continue
        keys = frame[col.name].where(ok_rows)
        dup = (keys.notna() & keys.duplicated(keep="first")).to_numpy()
        if dup.any():
            firsts = keys[keys.notna() & ~keys.duplicated(keep="first")]
            first_row = pd.Series(firsts.index.to_numpy(), index=firsts.to_numpy())
            rows = keys[dup].map(first_row).to_numpy()
            checker.flag(dup, col.name, [f"duplicate of row {int(r)}" for r in rows])

    for name, parent in spec.foreign_keys.items():  # orphans
        if name not in frame.columns:
            continue
        refs = frame[name]
        orphan = (refs.notna() & ~refs.isin(parents[parent]["id"])).to_numpy() & ok_rows
        if orphan.any():
            gone = quarantined_ids.get(parent, set())
            parent_file = TABLES[parent].file
            checker.flag(orphan, name, [
                f"refers to a quarantined row of {parent_file}" if r in gone else f"no such id in {parent_file}"
                for r in refs[orphan]
            ])

    for col in spec.columns:  # caps relative to the parent row (payload vs the truck's capacity)
        cap = col.max_ref
        if cap is None or col.name not in frame.columns:
            continue
        fk = next(c for c, t in spec.foreign_keys.items() if t == cap.table)
        parent = parents[cap.table]
        parent_values = pd.Series(parent[cap.column].astype(float).to_numpy(), index=parent["id"].to_numpy())
        base = frame[fk].map(parent_values).astype(float).to_numpy()
        limit = cap.factor * base
        with np.errstate(invalid="ignore"):
            over = (frame[col.name].astype(float).to_numpy() > limit) & ok_rows & ~checker.flagged(col.name)
        if over.any():
            unit = TABLES[cap.table].column(cap.column).unit
            checker.flag(over, col.name, [
                f"must be <= {_num(cap.factor)} x {cap.table}.{cap.column} = {_num(lim)} "
                f"({cap.column} {_num(b)} {unit})".rstrip()
                for lim, b in zip(limit[over], base[over])
            ])

    if spec.ordered:
        _check_order(spec.ordered, frame, raw, checker, ok_rows)

    if spec.complete_when is not None:
        rule = spec.complete_when
        status = frame[rule.status_column]
        due = status.isin(rule.statuses).to_numpy() & ok_rows
        for name in rule.columns:
            missing = due & (raw[name] == "").to_numpy()
            checker.flag(missing, name, [f"must not be empty when {rule.status_column} is {s}"
                                         for s in status[missing]])

    if spec.exactly_one_of:
        names = list(spec.exactly_one_of)
        count = frame[names].notna().sum(axis=1).to_numpy()
        wrong = (count != 1) & ok_rows
        if wrong.any():
            shown = raw.loc[wrong, names].agg("/".join, axis=1)
            checker.flag(wrong, "/".join(names), [
                f"exactly one of {', '.join(names)} must be set (found {int(n)})" for n in count[wrong]
            ], values=shown.to_numpy())

    problems = checker.problems()
    bad = raw.index.isin({p.row for p in problems})
    return frame, problems, bad


def _check_order(names: tuple[str, ...], frame: pd.DataFrame, raw: pd.DataFrame, checker: _Checker,
                 ok_rows: np.ndarray) -> None:
    """Flag each set timestamp earlier than the latest set timestamp before it in ``names``."""
    best = np.full(len(frame), _NAT_I8, dtype=np.int64)
    best_col = np.full(len(frame), -1, dtype=np.int64)
    for j, name in enumerate(names):
        t = frame[name].dt.tz_convert(None).to_numpy("datetime64[ns]").view(np.int64)
        is_set = t != _NAT_I8
        early = is_set & (t < best) & ok_rows
        if early.any():
            prev = [names[k] for k in best_col[early]]
            prev_values = [raw[p].iat[i] for p, i in zip(prev, np.flatnonzero(early))]
            checker.flag(early, name, [f"must not be before {p}={v}" for p, v in zip(prev, prev_values)])
        later = is_set & (t >= best)  # on ties name the later column
        best = np.where(later, t, best)
        best_col = np.where(later, j, best_col)


# --- loading --------------------------------------------------------------------------------------------

def _write_quarantine(quarantine_dir: Path, spec: TableSpec, raw: pd.DataFrame, bad: np.ndarray,
                      problems: list[Problem]) -> Path | None:
    """Write the bad rows (original fields + _row + _reason); remove a stale file when none are bad."""
    path = quarantine_dir / spec.file
    if not bad.any():
        if path.exists():
            path.unlink()
        return None
    reasons: dict[int, list[str]] = {}
    for p in problems:
        if p.row is not None:
            reasons.setdefault(p.row, []).append(p.detail)
    out = raw[bad].copy()
    out.insert(len(out.columns), ROW_COLUMN, out.index.to_numpy())
    out[REASON_COLUMN] = ["; ".join(reasons.get(int(r), [])) for r in out.index]
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def _load(data_dir: Path | str, names: Iterable[str], required: set[str], quarantine_dir: Path | str | None,
          max_bad_share: float) -> Export:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BadInputError(f"data folder {data_dir} does not exist or is not a folder")
    wanted = [n for n in TABLES if n in set(names)]

    raws: dict[str, _RawTable] = {}
    fatal: list[Problem] = []
    for name in wanted:  # pass 1: every file readable, every required column present
        spec = TABLES[name]
        path = data_dir / spec.file
        if not path.is_file():
            if name in required:
                fatal.append(Problem(spec.file, None, None, None, f"missing required file (looked in {data_dir})"))
            continue
        raw, problems = _read(path, spec)
        fatal.extend(problems)
        if raw is not None:
            raws[name] = raw
    for name in raws:
        for column, parent in TABLES[name].foreign_keys.items():
            if parent not in raws and not any(p.file == TABLES[parent].file for p in fatal):
                fatal.append(Problem(TABLES[name].file, None, None, None,
                                     f"{column} refers to {TABLES[parent].file}, which is missing"))
    if fatal:
        raise BadInputError("bad input: " + "; ".join(str(p) for p in fatal), [str(p) for p in fatal])

    report = ValidationReport()
    valid: dict[str, pd.DataFrame] = {}
    quarantined_ids: dict[str, set[str]] = {}
    qdir = Path(quarantine_dir) if quarantine_dir is not None else None
    for name, raw in raws.items():  # pass 2: rows, parents before children
        spec = raw.spec
        frame, problems, bad = _check_table(raw, valid, quarantined_ids)
        n_rows, n_bad = len(frame), int(bad.sum())
        report.rows_read[name] = n_rows
        report.rows_quarantined[name] = n_bad
        report.problems.extend(problems)
        if qdir is not None:
            written = _write_quarantine(qdir, spec, raw.frame, bad, problems)
            if written is not None:
                report.quarantine_files[name] = written
        kept = frame[~bad]
        valid[name] = kept
        quarantined_ids[name] = set(frame.loc[bad, spec.primary_key].dropna()) - set(kept[spec.primary_key])
        share = n_bad / n_rows if n_rows else 0.0
        log.info("%s: %d rows read, %d quarantined", spec.file, n_rows, n_bad)
        if share > max_bad_share:
            where = f" (see {report.quarantine_files[name]})" if name in report.quarantine_files else ""
            raise BadInputError(
                f"{spec.file}: {n_bad} of {n_rows} rows are bad ({share:.1%}), above the limit of "
                f"{max_bad_share:.1%} (max_bad_share){where}",
                [str(p) for p in problems],
            )
    for problem in report.problems[:20]:
        log.warning("%s", problem)

    return Export(
        trucks=valid["trucks"], excavators=valid["excavators"], operators=valid["operators"],
        road_segments=valid["road_segments"], maintenance_logs=valid["maintenance_logs"],
        hauling_activities=valid.get("hauling_activities"), vessels=valid.get("vessels"),
        sailing_schedules=valid.get("sailing_schedules"), report=report,
    )


def load_export(data_dir: Path | str, *, quarantine_dir: Path | str | None = None,
                max_bad_share: float = DEFAULT_MAX_BAD_SHARE, require_activities: bool = True) -> Export:
    """Load and validate every table of ``data_dir`` (raises BadInputError on fatal problems).

    ``quarantine_dir=None`` writes no quarantine files. With ``require_activities=False`` a missing
    ``hauling_activities.csv`` gives ``hauling_activities=None`` instead of an error.
    """
    required = {n for n, t in TABLES.items() if t.required_file}
    if not require_activities:
        required.discard("hauling_activities")
    return _load(data_dir, TABLES, required, quarantine_dir, max_bad_share)


def load_master(data_dir: Path | str, *, quarantine_dir: Path | str | None = None,
                max_bad_share: float = DEFAULT_MAX_BAD_SHARE) -> Export:
    """Load and validate the fleet only (master tables, vessels, schedules); hauling_activities is not read."""
    names = [n for n in TABLES if n != "hauling_activities"]
    required = {n for n in names if TABLES[n].required_file}
    return _load(data_dir, names, required, quarantine_dir, max_bad_share)


# --- records (one event at a time, e.g. from the live stream) ----------------------------------------

@dataclass(frozen=True)
class RecordCheck:
    """Outcome of ``check_records``: the typed frame of the good records and why each bad one failed.

    ``frame`` is indexed by the record's position in the input (0-based) and holds only good
    records; ``rejected`` maps the position of every bad record to its problems.
    """

    frame: pd.DataFrame
    rejected: dict[int, list[Problem]]


def check_records(table: str, records: list[dict[str, str]], parents: dict[str, pd.DataFrame],
                  source: str | None = None) -> RecordCheck:
    """Validate ``records`` (each a mapping column -> text as in the CSV; '' = empty) against table
    ``table`` of the schema with the same checks ``load_export`` applies to a file's rows.

    ``parents`` holds the validated parent tables the foreign keys and relative caps refer to (an
    ``Export``'s frames). A record lacking a required column is bad ("missing required column X");
    unknown keys are carried as text. Uniqueness is checked within ``records`` only. ``source``
    names the input in problems (default: the table's file name).
    """
    spec = TABLES[table]
    file = source or spec.file
    columns = list(spec.column_names)
    extra = sorted({k for r in records for k in r} - set(columns))
    header = columns + extra
    required = spec.required_columns
    missing: dict[int, list[Problem]] = {}
    for i, record in enumerate(records):
        if not all(name in record for name in required):
            missing[i] = [Problem(file, i + 1, None, None, f"missing required column {name}")
                          for name in required if name not in record]
    raw = pd.DataFrame({name: np.asarray([_text(r.get(name, "")) for r in records], dtype=object)
                        for name in header},
                       index=pd.Index(np.arange(1, len(records) + 1, dtype=np.int64), name=ROW_COLUMN))
    needed = {parent: parents[parent] for parent in spec.foreign_keys.values()}
    frame, problems, bad = _check_table(_RawTable(spec, raw, {}), needed, {})
    rejected: dict[int, list[Problem]] = {i: list(p) for i, p in missing.items()}
    for p in problems:
        if p.row is not None:
            rejected.setdefault(p.row - 1, []).append(dataclasses.replace(p, file=file))
    good = np.ones(len(records), dtype=bool)
    good[list(rejected)] = False
    kept = frame[good]
    kept.index = pd.Index(np.flatnonzero(good), name=ROW_COLUMN)
    return RecordCheck(kept, rejected)


def _text(value: object) -> str:
    """A record's field as the CSV would hold it ('' for a missing or null value)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else str(value)
