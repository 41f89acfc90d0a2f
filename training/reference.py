"""The prototype's master tables, shipped as package data.

``reference_export/`` holds the fleet database's export of the prototype's master tables (trucks,
excavators, operators, road segments, maintenance logs) with their real ids. The default site's
sample mine is generated on them, so the prototype's dashboard, which posts hard-coded master ids,
works on a fresh install. They are read unchanged by the validating loader like any other export.
"""
from __future__ import annotations

from pathlib import Path

#: Folder of the prototype's master-table CSVs inside the installed package.
REFERENCE_EXPORT_DIR: Path = Path(__file__).resolve().with_name("reference_export")

#: The master tables it holds (file stems).
MASTER_TABLES: tuple[str, ...] = ("trucks", "excavators", "operators", "road_segments", "maintenance_logs")
