"""HTTP edge of Mining Ops AI: FastAPI routes, schemas, chat, metrics, run store."""
