"""Map page builders and map report export. Reads layers, never writes; no FastAPI."""
