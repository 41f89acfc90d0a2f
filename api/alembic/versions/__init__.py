"""Revisions of the run store's schema, oldest first (history: never edit a shipped one, add a new one)."""
