"""Vendored JavaScript and CSS of the map pages, served by the app at ``/static`` (no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STATIC_URL = "/static"
LEAFLET_VERSION = "1.9.4"

# name -> path under maps/static, in load order. /docs uses the vendored swagger-ui-dist.
# Leaflet.VectorGrid draws the pipelines from vector tiles when the network is large.
JS = (("leaflet", "leaflet/leaflet.js"),
      ("vectorgrid", "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
      ("gisapp_maps", "gisapp/maps.js"))
CSS = (("leaflet_css", "leaflet/leaflet.css"), ("gisapp_css", "gisapp/maps.css"))


def static_dir() -> Path:
    """Return the directory of the vendored files (``maps/static``)."""
    return Path(str(resources.files("maps").joinpath("static")))


def asset_urls(static_url: str = STATIC_URL) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return (js, css) lists of (name, local URL) of the pages' scripts and styles."""
    base = static_url.rstrip("/")
    return ([(n, f"{base}/{p}") for n, p in JS], [(n, f"{base}/{p}") for n, p in CSS])


def static_file(relative: str) -> Path | None:
    """Return the vendored file at ``relative`` (under maps/static), or None if outside or missing."""
    root = static_dir().resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
