"""Builders of the map pages (Simplified Chinese), served by the app and fully offline.

A page embeds only what is small and public: the jurisdiction's boundary and the legend,
as JSON in a ``data-config`` attribute. The page script
(``static/gisapp/maps.js``) draws the map with Leaflet and fills pipelines, ranges and
projects from the bbox GeoJSON endpoints on every move, with the bearer token of the
login it shows; nothing is loaded from another host.

No inline script and no inline style: the Content-Security-Policy of every response
(``gisapp.api.security_headers``) refuses both. folium wrote the whole map as an inline
script, so the pages are built here and drawn by the static script instead; every
user-supplied string reaches the page as JSON and is inserted as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

import shapely

from layers.district import district_boundary, district_extent_lonlat, district_name
from maps import i18n
from maps.assets import STATIC_URL, asset_urls
from maps.layers_data import (
    PIPELINE_ALL_CLASSES_ZOOM,
    PROJECT_POLYGON_ZOOM,
    RANGE_MIN_ZOOM,
    WIDE_VIEW_ZOOM,
)
from maps.panels import CHOROPLETH_COLORS

PAGES = ("permits", "supervision", "inspections")
GENERIC_ATTRIBUTION = "底图数据 © 底图服务提供方"
PIPELINE_COLORS = {
    "low": "#74add1", "medium_b": "#4575b4", "medium_a": "#313695", "subhigh_b": "#fdae61",
    "subhigh_a": "#f46d43", "high_b": "#d73027", "high_a": "#a50026", "ultra_high": "#67001f",
}
RANGE_COLORS = {"protection": "#e31a1c", "control": "#ff7f00"}
PERMIT_STATE_COLORS = {
    "no_conflict": "#9e9e9e", "not_started": "#e31a1c", "applied": "#ffb300", "approved": "#2e7d32",
    "rejected": "#6a1b9a", "expired": "#8d6e63", "not_required": "#64b5f6",
}
SUPERVISION_COLORS = {"supervised": "#2e7d32", "not_supervised": "#e31a1c", "unknown": "#ffb300"}
INSPECTION_COLORS = {
    "spot_3": "#08306b", "spot_2": "#2171b5", "spot_1": "#6baed6", "spot_planned": "#9e9ac8",
    "third_party": "#41ab5d", "self_2": "#a1d99b", "self_1": "#fdd49e", "not_covered": "#e31a1c",
}
ALERT_COLOR = "#d50000"


@dataclass(frozen=True)
class PageOptions:
    """Where a page finds its assets and data, and its base map (empty tile URL: no tiles)."""

    tile_url: str = ""
    tile_attribution: str = ""
    tile_max_native_zoom: int | None = None  # deepest zoom of a tile file; scaled beyond
    static_url: str = STATIC_URL
    data_url: str = "/maps/data"
    login_url: str = "/api/auth/token"
    home_url: str = "/maps/"
    year: int | None = None
    # Draw the pipelines from these vector tiles ({z}/{x}/{y}) instead of bbox GeoJSON
    # (a large network: GISAPP_MAP_TILES_FROM_SEGMENTS); empty: GeoJSON.
    pipeline_tiles_url: str = ""
    # Features lie in the jurisdiction grown by this much (GISAPP_DISTRICT_MARGIN_M): the
    # pipeline tiles are asked for over that extent only.
    margin_m: float = 2000.0


def _row(color: str, kind: str, label: str) -> dict:
    return {"color": color, "kind": kind, "label": label}


def legend_blocks(view: str) -> list[dict]:
    """Return the legend of a map page as data: the state colours of its projects and its layers.

    The page script builds the legend's elements from it (text nodes, colours set
    through the DOM), so no HTML and no inline style travels with the page.
    """
    blocks = []
    if view == "permits":
        blocks.append({"title": i18n.LEGEND_TITLE["permits"], "rows": [
            *(_row(PERMIT_STATE_COLORS[k], "fill", v) for k, v in i18n.PERMIT_STATE_ZH.items()),
            _row(ALERT_COLOR, "alert", i18n.NEW_ALERT)]})
        blocks.append({"title": i18n.LEGEND_TITLE["ranges"], "rows": [
            _row(RANGE_COLORS[k], "fill", v) for k, v in i18n.ZONE_ZH.items()]})
    elif view == "supervision":
        blocks.append({"title": i18n.LEGEND_TITLE["supervision"], "rows": [
            _row(SUPERVISION_COLORS[k], "fill", v) for k, v in i18n.SUPERVISION_STATE_ZH.items()]})
        blocks.append({"title": i18n.LEGEND_TITLE["choropleth"], "rows": [
            _row(c, "fill", label) for c, label in zip(CHOROPLETH_COLORS, i18n.CHOROPLETH_CLASS_ZH,
                                                       strict=True)]})
    else:
        blocks.append({"title": i18n.LEGEND_TITLE["inspections"], "rows": [
            _row(INSPECTION_COLORS[k], "fill", v) for k, v in i18n.INSPECTION_STATE_ZH.items()]})
    blocks.append({"title": i18n.LEGEND_TITLE["pipelines"], "rows": [
        _row(PIPELINE_COLORS[k], "line", v) for k, v in reversed(i18n.PRESSURE_ZH.items())]})
    return blocks


def _strings(options: PageOptions) -> dict:
    return {
        "loginUrl": options.login_url, "loginTitle": i18n.LOGIN_TITLE, "user": i18n.LOGIN_USER,
        "password": i18n.LOGIN_PASSWORD, "submit": i18n.LOGIN_SUBMIT, "loginFailed": i18n.LOGIN_FAILED,
        "logout": i18n.LOGOUT, "forbidden": i18n.FORBIDDEN, "loadFailed": i18n.LOAD_FAILED,
        "loading": i18n.LOADING, "shown": i18n.SHOWN, "truncated": i18n.TRUNCATED,
        "zoomIn": i18n.ZOOM_IN_FOR, "township": i18n.TOWNSHIP_FILTER, "allTownships": i18n.TOWNSHIP_ALL,
        "search": i18n.SEARCH_PLACEHOLDER, "searchNone": i18n.SEARCH_NONE, "back": i18n.NAV_BACK,
        "coverageToggle": i18n.COVERAGE_TOGGLE, "legendToggle": i18n.LEGEND_TOGGLE,
        # Code -> label: a tiled main's pop-up names its class (the tile carries the code).
        "pressureClasses": i18n.PRESSURE_ZH,
    }


def _layer_specs(view: str, data_url: str, pipeline_tiles_url: str = "") -> list[dict]:
    pipelines = {"key": "pipelines", "url": f"{data_url}/pipelines", "colorBy": "pressure_class",
                 "colors": PIPELINE_COLORS, "weight": 2, "note": i18n.LAYER["pipelines"],
                 "fullZoom": PIPELINE_ALL_CLASSES_ZOOM}
    if pipeline_tiles_url:
        pipelines["tiles"] = pipeline_tiles_url
    projects = {"key": "projects", "url": f"{data_url}/projects?view={view}", "colorBy": "state",
                "colors": {"permits": PERMIT_STATE_COLORS, "supervision": SUPERVISION_COLORS,
                           "inspections": INSPECTION_COLORS}[view],
                "weight": 1, "fillOpacity": 0.6, "popup": True, "township": True,
                "polygonZoom": PROJECT_POLYGON_ZOOM}
    if view == "permits":
        bands = [{"key": zone, "url": f"{data_url}/ranges?zone={zone}", "colorBy": "zone",
                  "colors": RANGE_COLORS, "weight": 0, "fillOpacity": opacity,
                  "minZoom": RANGE_MIN_ZOOM, "note": i18n.ZONE_ZH[zone]}
                 for zone, opacity in (("control", 0.15), ("protection", 0.4))]
        return [*bands, pipelines, projects]
    if view == "supervision":
        choropleth = {"key": "choropleth", "url": f"{data_url}/townships?view=supervision",
                      "once": True, "labels": True, "weight": 1, "fillOpacity": 0.55}
        return [choropleth, pipelines, projects]
    return [pipelines, projects]


def _page(title: str, body_class: str, config_id: str, config: dict, options: PageOptions,
          css: tuple[str, ...], js: tuple[str, ...], body: str = "",
          preload: tuple[str, ...] = ()) -> str:
    """Return a page whose only scripts are local files; its data rides in a data- attribute.

    The Content-Security-Policy refuses inline script, so the page script reads its
    configuration from ``data-config`` (escaped JSON) and builds everything itself.
    ``preload``: data URLs the script will fetch whatever the view, asked for by the
    browser while the scripts still load. The script's ``fetch`` of the same URL takes
    the preloaded answer: same mode and credentials (``crossorigin="anonymous"`` is a
    same-origin fetch with cookies; without it the browser fetches twice).
    """
    scripts, styles = asset_urls(options.static_url)
    head = "".join(f'<link rel="preload" as="fetch" crossorigin="anonymous" href="{escape(url)}">'
                   for url in preload)
    head += "".join(f'<link rel="stylesheet" href="{escape(url)}">' for name, url in styles if name in css)
    tail = "".join(f'<script src="{escape(url)}"></script>' for name, url in scripts if name in js)
    data = escape(json.dumps(config, ensure_ascii=False, separators=(",", ":")), quote=True)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">{head}</head>
<body class="{body_class}">
{body}<div id="{config_id}" data-config="{data}"></div>
{tail}
</body></html>
"""


def _extent_bounds(margin_m: float) -> list[list[float]]:
    """Return [[south, west], [north, east]] of the jurisdiction grown by ``margin_m``."""
    west, south, east, north = district_extent_lonlat(margin_m).bounds
    return [[south, west], [north, east]]


def build_map_page(view: str, options: PageOptions | None = None) -> str:
    """Return the HTML of map page ``view`` (permits, supervision, inspections).

    The page carries the jurisdiction's boundary, the legend and the layer list as
    data; ``static/gisapp/maps.js`` draws them with Leaflet and fills the data layers.
    The township areas (and the township filter's choices) come after login from
    ``{data_url}/township-areas``, cut to the viewer's district and cached by the
    browser: embedded, all of Shanghai's made every page 400 KiB.
    """
    if view not in PAGES:
        raise ValueError(f"unknown map page {view!r}")
    options = options or PageOptions()
    boundary = shapely.simplify(district_boundary(), 0.0003, preserve_topology=True)
    west, south, east, north = boundary.bounds
    specs = _layer_specs(view, options.data_url, options.pipeline_tiles_url)
    names = {"pipelines": i18n.LAYER["pipelines"], "protection": i18n.LAYER["protection"],
             "control": i18n.LAYER["control"], "choropleth": i18n.LAYER["choropleth"],
             "projects": i18n.LAYER[f"projects_{view}"]}
    for spec in specs:
        spec["name"] = names[spec["key"]]
    tiles = None
    if options.tile_url:
        # Leaflet inserts the attribution as HTML: the setting is shown as text.
        tiles = {"url": options.tile_url, "name": i18n.LAYER["base"], "maxZoom": 19,
                 "maxNativeZoom": options.tile_max_native_zoom,
                 "attribution": escape(options.tile_attribution or GENERIC_ATTRIBUTION)}
    year_query = f"?year={options.year}" if options.year else ""
    # The sites of the whole jurisdiction (and margin) as a wide view asks for them: the
    # first view holds it all, so the script takes this preloaded answer (maps.js).
    (south_m, west_m), (north_m, east_m) = _extent_bounds(options.margin_m)
    projects = next(s for s in specs if s["key"] == "projects")
    projects["wideUrl"] = (f"{projects['url']}&bbox={west_m:.6f},{south_m:.6f},{east_m:.6f},{north_m:.6f}"
                           f"&zoom={WIDE_VIEW_ZOOM}" + (f"&year={options.year}" if options.year else ""))
    panel_url = f"{options.data_url}/inspection-coverage{year_query}" if view == "inspections" else None
    township_url = f"{options.data_url}/township-areas"
    # What the page fetches whatever the viewport: asked for while the scripts load.
    preload = (township_url, projects["wideUrl"], *(s["url"] for s in specs if s.get("once")),
               *((panel_url,) if panel_url else ()))
    config = {
        "view": view, "title": i18n.TITLE[view], "homeUrl": options.home_url,
        "dataUrl": options.data_url, "year": options.year, "layers": specs,
        "bounds": [[south, west], [north, east]], "tileBounds": _extent_bounds(options.margin_m),
        "minZoom": 8, "maxZoom": 19, "tiles": tiles,
        "district": {"name": i18n.LAYER["district"], "geometry": shapely.geometry.mapping(boundary)},
        "townshipAreas": {"name": i18n.LAYER["townships"], "url": township_url},
        "legend": legend_blocks(view),
        "panelUrl": panel_url,
        "strings": _strings(options),
    }
    return _page(f"{i18n.TITLE[view]} - {district_name()}", "gis-map-page", "gis-map", config, options,
                 css=("leaflet_css", "gisapp_css"),
                 js=("leaflet", *(("vectorgrid",) if options.pipeline_tiles_url else ()), "gisapp_maps"),
                 preload=preload)


def build_dashboard_page(options: PageOptions | None = None) -> str:
    """Return the HTML of the dashboard: links to the maps; figures load after login."""
    options = options or PageOptions()
    links = "".join(f'<li><a href="{escape(options.home_url)}{view}">{escape(i18n.TITLE[view])}</a></li>'
                    for view in PAGES)
    config = {"summaryUrl": f"{options.data_url}/summary", "strings": _strings(options)}
    body = (f"<header><h1>{escape(district_name())}{escape(i18n.TITLE['dashboard'])}</h1></header>\n"
            f"<nav><h2>{escape(i18n.SUMMARY['maps'])}</h2><ul>{links}</ul></nav>\n"
            '<main id="gis-figures"></main>\n')
    return _page(f"{i18n.TITLE['dashboard']} - {district_name()}", "gis-dashboard", "gis-dashboard",
                 config, options, css=("gisapp_css",), js=("gisapp_maps",), body=body)
