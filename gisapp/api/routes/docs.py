"""``/docs``: the interactive API documentation, on the vendored Swagger UI (no CDN).

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script;
both are refused by the Content-Security-Policy (``gisapp.api.security_headers``).
This page loads ``swagger-ui-dist`` from ``/static/swagger-ui`` and starts it from the
static ``/static/gisapp/docs.js``.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from maps.assets import STATIC_URL

router = APIRouter(include_in_schema=False)


def docs_html(title: str, openapi_url: str, static_url: str = STATIC_URL) -> str:
    """Return the /docs page: Swagger UI's files and its starter, all local."""
    base = escape(static_url.rstrip("/"))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - API 文档</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{base}/swagger-ui/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{base}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{base}/gisapp/docs.js"></script>
</body></html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """API 文档（Swagger UI，本地文件）。"""
    return HTMLResponse(docs_html(request.app.title, request.app.openapi_url or "/openapi.json"))
