"""All routers of the API, registered in one place."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

ROUTERS = (
    "auth", "features", "conflicts", "alerts", "permits", "imports",
    "events", "inspections", "reports", "maps", "users", "reviews", "ogc", "docs", "account",
    "answers", "owners", "procedure", "rules", "tiles",
)


def register_routes(app: FastAPI) -> None:
    """Include every router module (each exposes ``router``).

    A router that fails to import fails the app at start: a missing module or a broken
    import is a bug to see at once, never an API that quietly lacks its endpoints.
    """
    for name in ROUTERS:
        app.include_router(importlib.import_module(f"gisapp.api.routes.{name}").router)
