"""Where the tests find the repository's own contracts and the shipped master tables."""
from __future__ import annotations

from pathlib import Path

from training.reference import REFERENCE_EXPORT_DIR

REPO: Path = Path(__file__).resolve().parents[1]
#: Request bodies users send (REF-A and the prototype's bodies), as shipped in the repository.
CONTRACTS: Path = REPO / "contracts"
#: The prototype's master tables (package data).
REFERENCE_EXPORT: Path = REFERENCE_EXPORT_DIR
#: End of the sample mines the fixtures generate on the reference export: its latest createdAt
#: (the generator's default is now; fixtures pin the end so their data, and the golden responses
#: recorded on it, do not change with the date).
REFERENCE_EXPORT_END: str = "2025-11-09T23:17:02.382Z"
#: End of the sample mines the fixtures generate on an invented fleet.
GENERATED_FLEET_END: str = "2025-11-10T00:00:00Z"
