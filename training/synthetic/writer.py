"""Writing the export: the folder's master tables read, the export built (``build``), every CSV written
atomically in the fleet database's dialect."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from training.errors import BadInputError
from training.ground_truth import GroundTruth
from training.reference import REFERENCE_EXPORT_DIR
from training.synthetic.build import build_export
from training.synthetic.fleet import FleetPlan
from training.synthetic.formats import FLEET_TABLES, HAULING_FILE, iso_stamps, parse_end
from training.synthetic.network import NETWORK_FILE, build_network_export, locate_excavators
from training.synthetic_network import NetworkMine


@dataclass(frozen=True)
class GenerationSummary:
    """What one run wrote."""

    data_dir: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]
    rows: dict[str, int]
    seconds: float
    generated_fleet: bool
    period_start: str
    period_end: str

    def line(self) -> str:
        """The one-line human summary."""
        rows = ", ".join(f"{name} {n}" for name, n in self.rows.items())
        kept = f"; kept {', '.join(self.kept)}" if self.kept else ""
        if NETWORK_FILE in self.written:
            kept += f"; the request's network section in {NETWORK_FILE} (simulator.backtest --network)"
        return (f"synthetic: wrote {len(self.written)} files to {self.data_dir} ({rows}){kept}; "
                f"{self.period_start} .. {self.period_end} in {self.seconds:.1f} s")


def _js_number(x: float) -> str:
    """A float the way the fleet database's export writes numbers (21.0 -> '21')."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _format_column(values: pd.Series) -> list[str]:
    """One column as CSV fields: strings quoted, numbers and booleans bare, null empty."""
    if pd.api.types.is_bool_dtype(values):
        return ["true" if v else "false" for v in values]
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64").astype(str).replace("<NA>", "").tolist()
    if pd.api.types.is_float_dtype(values):
        return [_js_number(v) if v == v else "" for v in values]
    return ["" if v is None or v != v else '"' + str(v).replace('"', '""') + '"' for v in values]


def write_csv(path: Path, frame: pd.DataFrame, chunk_rows: int = 20_000) -> Path:
    """Write ``frame`` in the export's CSV dialect, atomically (temp file + rename), in row chunks."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join('"' + c + '"' for c in frame.columns) + "\n")
        for first in range(0, len(frame), chunk_rows):
            part = frame.iloc[first:first + chunk_rows]
            rows = map(",".join, zip(*(_format_column(part[c]) for c in frame.columns)))
            fh.write("".join(row + "\n" for row in rows))
    os.replace(tmp, path)
    return path


def _read_master(data_dir: Path) -> dict[str, pd.DataFrame] | None:
    present = [t for t in FLEET_TABLES if (data_dir / f"{t}.csv").exists()]
    if not present:
        if (data_dir / "maintenance_logs.csv").exists():
            raise BadInputError(f"{data_dir} holds maintenance_logs.csv without the fleet tables it refers to")
        return None
    missing = [t for t in FLEET_TABLES if t not in present]
    if missing:
        raise BadInputError(f"{data_dir} holds {', '.join(present)} but not {', '.join(missing)}: "
                            "give all four fleet tables or none", [f"{t}.csv missing" for t in missing])
    tables = {}
    for name in FLEET_TABLES + ("maintenance_logs",):
        path = data_dir / f"{name}.csv"
        if path.exists():
            try:
                tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise BadInputError(f"{path}: unreadable CSV ({exc})") from exc
    return tables


def copy_fleet_tables(data_dir: Path, source: Path = REFERENCE_EXPORT_DIR) -> tuple[str, ...]:
    """Copy the prototype's fleet tables into ``data_dir`` when it holds none; the names copied.

    Only the four fleet tables (trucks, excavators, operators, road segments, with their ids) are
    copied: the shipped maintenance log ends with the reference export, so on a period ending
    today every unit would look a year overdue; the generator writes the period's own log.
    """
    data_dir = Path(data_dir)
    if any((data_dir / f"{t}.csv").exists() for t in FLEET_TABLES + ("maintenance_logs",)):
        return ()
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in FLEET_TABLES:
        tmp = data_dir / f"{name}.csv.tmp"
        tmp.write_bytes((source / f"{name}.csv").read_bytes())
        os.replace(tmp, data_dir / f"{name}.csv")
    return tuple(f"{name}.csv" for name in FLEET_TABLES)


def generate(data_dir: Path, *, days: int, trucks: int, seed: int, end: str | datetime | None = None,
             excavators: int | None = None, force: bool = False, ground_truth: GroundTruth | None = None,
             plan: FleetPlan | None = None, network: bool = False,
             network_mine: NetworkMine | None = None) -> GenerationSummary:
    """Write a sample mine's CSV export into ``data_dir`` (see ``training.synthetic``).

    ``end`` (ISO date/time, naive = UTC) is when the export is taken; None means now. Master tables
    already in ``data_dir`` are used; without them a fleet is generated (``copy_fleet_tables`` first
    for the prototype's). ``network``: the haul-network sample mine (``training.synthetic.network``):
    its ``road_segments`` and the excavators' locations are written over the folder's, and its
    ``network.json`` beside the tables; ``network_mine`` another layout than
    the sample network mine's (its pits, dumps, roads and headway; ``trucks`` trucks).
    """
    started = time.perf_counter()
    if days < 1 or trucks < 1:
        raise BadInputError(f"days and trucks must be >= 1 (got days={days}, trucks={trucks})")
    if excavators is not None and excavators < 1:
        raise BadInputError(f"excavators must be >= 1 (got {excavators})")
    if network and excavators is not None:
        raise BadInputError("the network mine places its own excavators (2, 2 and 1 at its pits): drop --excavators")
    gt, plan = ground_truth or GroundTruth(), plan or FleetPlan()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / HAULING_FILE).exists() and not force:
        raise BadInputError(f"{data_dir / HAULING_FILE} exists; pass --force to replace it")

    tables = _read_master(data_dir)
    export_s = parse_end(end)
    present = frozenset(p.stem for p in data_dir.glob("*.csv"))
    section = None
    if network:
        built = build_network_export(tables, days=days, trucks=trucks, seed=seed, export_s=export_s,
                                     present=present, gt=gt, plan=plan,
                                     mine=network_mine)
        export, section = built.export, built.section
        excavator_table = export.frames.get("excavators")
        if excavator_table is None:  # the folder's, typed as written (numbers kept digit for digit)
            excavator_table = pd.read_csv(data_dir / "excavators.csv", keep_default_na=False, na_values=[""],
                                          float_precision="round_trip")
        export.frames["excavators"] = locate_excavators(excavator_table, built.locations)
    else:
        export = build_export(tables, days=days, trucks=trucks, seed=seed, export_s=export_s, excavators=excavators,
                              present=present, gt=gt, plan=plan)
    out = export.frames

    kept = tuple(sorted(p.name for p in data_dir.glob("*.csv") if p.stem not in out))
    for name, frame in out.items():
        write_csv(data_dir / f"{name}.csv", frame)
    written = tuple(f"{name}.csv" for name in out)
    if section is not None:
        tmp = data_dir / f"{NETWORK_FILE}.tmp"
        tmp.write_text(json.dumps(section, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, data_dir / NETWORK_FILE)
        written += (NETWORK_FILE,)
    return GenerationSummary(
        data_dir=data_dir, written=written, kept=kept,
        rows={name: len(frame) for name, frame in out.items()}, seconds=time.perf_counter() - started,
        generated_fleet=export.generated_fleet, period_start=str(iso_stamps(export.t0)[0]),
        period_end=str(iso_stamps(export.period_end)[0]))
