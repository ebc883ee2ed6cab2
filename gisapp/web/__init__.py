"""The workbench: server-rendered pages where every role does its daily work.

Routes only (``gisapp.web.pages`` and ``gisapp.web.procedure_pages`` for HTML,
``gisapp.web.api`` and ``gisapp.web.procedure_api`` for the JSON the pages need beyond
the public API); templates, scripts and styles live in the ``workbench`` package,
queries in ``layers.services``.
"""

from __future__ import annotations

from fastapi import FastAPI


def register_web(app: FastAPI) -> None:
    """Include the workbench's routers."""
    from gisapp.web import api, pages, procedure_api, procedure_pages

    app.include_router(api.router)
    app.include_router(procedure_api.router)
    app.include_router(pages.router)
    app.include_router(procedure_pages.router)
    pages.install_handlers(app)
    from gisapp.web import owner_pages  # the pipeline owner's and the office's procedure pages

    app.include_router(owner_pages.api)
    app.include_router(owner_pages.router)
