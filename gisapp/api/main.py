"""App factory for multi-worker servers: ``uvicorn --factory gisapp.api.main:app_from_env``.

Each worker process builds its own app (and engine) from the environment; ``gisapp
serve --workers N`` sets ``DATABASE_URL`` first, also for the embedded cluster.
"""

from __future__ import annotations

from fastapi import FastAPI

from gisapp import http_protocol
from gisapp.api.app import create_app
from gisapp.settings import Settings


def app_from_env() -> FastAPI:
    """Build the app from ``GISAPP_*`` / ``DATABASE_URL`` settings."""
    settings = Settings()
    http_protocol.configure_from(settings)
    return create_app(settings, database_url=str(settings.database_url), server=True)
