"""Writing accepted cycles and quarantined events to the database, idempotent on the cycle id."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from live.tables import cycles, quarantine


@dataclass(frozen=True)
class WriteResult:
    """Cycles newly stored, cycle ids refused because their activityNumber belongs to another stored
    cycle (id -> that cycle's id; they are quarantined in the same transaction), quarantine rows written."""

    stored: int
    conflicts: dict[str, str]
    quarantined: int


class CycleStore:
    """The live tables of the run store's database."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def write(self, cycle_rows: list[dict[str, Any]], quarantine_rows: list[dict[str, Any]]) -> WriteResult:
        """Store accepted cycles (a cycle id already stored is left as it is: a redelivery) and
        quarantine rows (an entry id already quarantined is left as it is), in one transaction."""
        conflicts: dict[str, str] = {}
        extra_quarantine: list[dict[str, Any]] = []
        stored = 0
        with self.engine.begin() as conn:
            if cycle_rows:
                ids = [r["id"] for r in cycle_rows]
                before = set(conn.execute(select(cycles.c.id).where(cycles.c.id.in_(ids))).scalars())
                conn.execute(self._insert(cycles).on_conflict_do_nothing(), cycle_rows)
                present = set(conn.execute(select(cycles.c.id).where(cycles.c.id.in_(ids))).scalars())
                stored = len(present - before)
                missing = [r for r in cycle_rows if r["id"] not in present]
                if missing:  # refused by the activityNumber's uniqueness: another cycle holds it
                    numbers = [r["activity_number"] for r in missing]
                    holder = dict(conn.execute(select(cycles.c.activity_number, cycles.c.id)
                                               .where(cycles.c.activity_number.in_(numbers))).all())
                    for r in missing:
                        other = holder.get(r["activity_number"], "?")
                        conflicts[r["id"]] = other
                        extra_quarantine.append({
                            "stream_id": r["stream_id"], "site": r["site"], "cycle_id": r["id"],
                            "reason": f"activityNumber={r['activity_number']}, duplicate of stored cycle {other}",
                            "fields": r["record"], "received_at": r["ingested_at"],
                        })
            rows = quarantine_rows + extra_quarantine
            if rows:
                conn.execute(self._insert(quarantine).on_conflict_do_nothing(), rows)
        return WriteResult(stored, conflicts, len(rows))

    def count_cycles(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(cycles)).scalar_one())

    def count_quarantined(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(quarantine)).scalar_one())
