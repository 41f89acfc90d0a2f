"""Training side of Mining Ops AI: input contract, validation, features, models, registry, drift.

Imports nothing from ``simulator`` or ``api`` (see ARCHITECTURE.md).
"""
