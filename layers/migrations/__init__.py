"""Alembic migrations of the gisapp schema (run through ``layers.migrate``)."""
