"""Where the tests find the repository's own contracts and the shipped master tables."""
from __future__ import annotations

from pathlib import Path

from training.reference import REFERENCE_EXPORT_DIR

REPO: Path = Path(__file__).resolve().parents[1]
#: Request bodies users send (REF-A and the prototype's bodies), as shipped in the repository.
CONTRACTS: Path = REPO / "contracts"
#: The prototype's master tables (package data).
REFERENCE_EXPORT: Path = REFERENCE_EXPORT_DIR
