"""Live haulage: stream ingestion, the speed layer (shift KPIs) and the batch layer (history, retrain)."""
