"""All routers of the API, registered in one place."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

ROUTERS = (
    "auth", "features", "conflicts", "alerts", "permits", "imports",
    "events", "inspections", "reports", "maps", "users", "rules",
)


def register_routes(app: FastAPI) -> None:
    """Include every router module that exists (each exposes ``router``)."""
    for name in ROUTERS:
        try:
            module = importlib.import_module(f"gisapp.api.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gisapp.api.routes.{name}":
                raise
            continue
        app.include_router(module.router)
