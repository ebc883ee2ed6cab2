"""folium builders of the map pages (Simplified Chinese), served by the app and fully offline.

A page embeds only what is small and public: the district boundary, the township areas
and the legend. Pipelines, ranges and projects are empty feature groups that the page
script (``static/gisapp/maps.js``) fills from the bbox GeoJSON endpoints on every move,
with the bearer token of the login it shows; nothing is loaded from another host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import cast

from branca.element import Element, Figure, MacroElement
from jinja2 import Template

import folium
import shapely

from layers.district import district_boundary
from maps import i18n
from maps.assets import STATIC_URL, asset_urls, localize
from maps.layers_data import PIPELINE_ALL_CLASSES_ZOOM, PROJECT_POLYGON_ZOOM, RANGE_MIN_ZOOM
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
    static_url: str = STATIC_URL
    data_url: str = "/maps/data"
    login_url: str = "/api/auth/token"
    home_url: str = "/maps/"
    year: int | None = None


class _Control(MacroElement):
    """A block of ready HTML placed on the map as a Leaflet control (legend, panel)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var control = L.control({position: {{ this.position|tojson }}});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
    div.innerHTML = {{ this.html|tojson }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}""")

    def __init__(self, html: str, position: str, css_class: str):
        super().__init__()
        self._name = "GisControl"
        self.html, self.position, self.css_class = html, position, css_class


class _Start(MacroElement):
    """Hands the map, its empty feature groups and the page config to ``GisMaps.start``."""

    _template = Template("""
{% macro script(this, kwargs) %}
GisMaps.start({{ this._parent.get_name() }}, {{ this.config|tojson }}, {
{%- for key, group in this.groups.items() %}
  {{ key|tojson }}: {{ group.get_name() }},
{%- endfor %}
});
{% endmacro %}""")

    def __init__(self, config: dict, groups: dict):
        super().__init__()
        self._name = "GisStart"
        self.config, self.groups = config, groups


def _swatch(color: str, kind: str, label: str, extra: str = "") -> str:
    return (f'<div class="gis-legend-row"><i class="gis-swatch gis-{kind}" '
            f'style="--c:{color};{extra}"></i>{escape(label)}</div>')


def _legend_block(title: str, rows: list[str]) -> str:
    return f'<div class="gis-legend-block"><h4>{escape(title)}</h4>{"".join(rows)}</div>'


def legend_html(view: str) -> str:
    """Return the legend of a map page: the state colours of its projects and its other layers."""
    blocks = []
    if view == "permits":
        blocks.append(_legend_block(i18n.LEGEND_TITLE["permits"], [
            *(_swatch(PERMIT_STATE_COLORS[k], "fill", v) for k, v in i18n.PERMIT_STATE_ZH.items()),
            _swatch(ALERT_COLOR, "alert", i18n.NEW_ALERT)]))
        blocks.append(_legend_block(i18n.LEGEND_TITLE["ranges"], [
            _swatch(RANGE_COLORS[k], "fill", v) for k, v in i18n.ZONE_ZH.items()]))
    elif view == "supervision":
        blocks.append(_legend_block(i18n.LEGEND_TITLE["supervision"], [
            _swatch(SUPERVISION_COLORS[k], "fill", v) for k, v in i18n.SUPERVISION_STATE_ZH.items()]))
        blocks.append(_legend_block(i18n.LEGEND_TITLE["choropleth"], [
            _swatch(c, "fill", label) for c, label in zip(CHOROPLETH_COLORS, i18n.CHOROPLETH_CLASS_ZH,
                                                          strict=True)]))
    else:
        blocks.append(_legend_block(i18n.LEGEND_TITLE["inspections"], [
            _swatch(INSPECTION_COLORS[k], "fill", v) for k, v in i18n.INSPECTION_STATE_ZH.items()]))
    blocks.append(_legend_block(i18n.LEGEND_TITLE["pipelines"], [
        _swatch(PIPELINE_COLORS[k], "line", v) for k, v in reversed(i18n.PRESSURE_ZH.items())]))
    return "".join(blocks)


def _strings(options: PageOptions) -> dict:
    return {
        "loginUrl": options.login_url, "loginTitle": i18n.LOGIN_TITLE, "user": i18n.LOGIN_USER,
        "password": i18n.LOGIN_PASSWORD, "submit": i18n.LOGIN_SUBMIT, "loginFailed": i18n.LOGIN_FAILED,
        "logout": i18n.LOGOUT, "forbidden": i18n.FORBIDDEN, "loadFailed": i18n.LOAD_FAILED,
        "loading": i18n.LOADING, "shown": i18n.SHOWN, "truncated": i18n.TRUNCATED,
        "zoomIn": i18n.ZOOM_IN_FOR, "township": i18n.TOWNSHIP_FILTER, "allTownships": i18n.TOWNSHIP_ALL,
        "search": i18n.SEARCH_PLACEHOLDER, "searchNone": i18n.SEARCH_NONE, "back": i18n.NAV_BACK,
    }


def _layer_specs(view: str, data_url: str) -> list[dict]:
    pipelines = {"key": "pipelines", "url": f"{data_url}/pipelines", "colorBy": "pressure_class",
                 "colors": PIPELINE_COLORS, "weight": 2, "note": i18n.LAYER["pipelines"],
                 "fullZoom": PIPELINE_ALL_CLASSES_ZOOM}
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


def _geojson_of(geom) -> dict:
    return {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(geom)}


class MetricScale(MacroElement):
    """A scale bar in metres only (folium's own also shows feet and miles)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def build_map_page(view: str, townships: dict, options: PageOptions | None = None) -> str:
    """Return the HTML of map page ``view`` (permits, supervision, inspections).

    ``townships`` is ``layers_data.townships_geojson`` (CGCS2000 lon/lat, with name and
    bounds); it may be empty, the district boundary is always drawn.
    """
    if view not in PAGES:
        raise ValueError(f"unknown map page {view!r}")
    options = options or PageOptions()
    boundary = shapely.simplify(district_boundary(), 0.0003, preserve_topology=True)
    west, south, east, north = boundary.bounds
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10, tiles=None,
                      control_scale=False, prefer_canvas=True, min_zoom=8, max_zoom=19)
    fmap.add_child(MetricScale())
    localize(fmap, options.static_url)
    root = cast(Figure, fmap.get_root())  # a folium Map's root is always its Figure
    root.title = f"{i18n.TITLE[view]} - {i18n.DISTRICT}"
    # An empty icon keeps the browser from asking the server for /favicon.ico.
    root.header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    if options.tile_url:
        folium.TileLayer(tiles=options.tile_url, attr=options.tile_attribution or GENERIC_ATTRIBUTION,
                         name=i18n.LAYER["base"], max_zoom=19, overlay=False).add_to(fmap)
    folium.GeoJson(_geojson_of(boundary), name=i18n.LAYER["district"], interactive=False,
                   style_function=lambda _f: {"color": "#37474f", "weight": 2.5, "fill": False}
                   ).add_to(fmap)
    if townships.get("features"):
        folium.GeoJson(townships, name=i18n.LAYER["townships"],
                       style_function=lambda _f: {"color": "#78909c", "weight": 1, "dashArray": "4 3",
                                                  "fillColor": "#eceff1", "fillOpacity": 0.25},
                       tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False)).add_to(fmap)
    specs = _layer_specs(view, options.data_url)
    names = {"pipelines": i18n.LAYER["pipelines"], "protection": i18n.LAYER["protection"],
             "control": i18n.LAYER["control"], "choropleth": i18n.LAYER["choropleth"],
             "projects": i18n.LAYER[f"projects_{view}"]}
    groups = {s["key"]: folium.FeatureGroup(name=names[s["key"]]).add_to(fmap) for s in specs}
    fmap.fit_bounds([[south, west], [north, east]])
    _Control(legend_html(view), "bottomright", "gis-legend").add_to(fmap)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    config = {
        "view": view, "title": i18n.TITLE[view], "homeUrl": options.home_url,
        "dataUrl": options.data_url, "year": options.year, "layers": specs,
        "panelUrl": f"{options.data_url}/inspection-coverage" if view == "inspections" else None,
        "townships": [{"name": f["properties"]["name"], "bounds": f["properties"]["bounds"]}
                      for f in townships.get("features", [])],
        "strings": _strings(options),
    }
    _Start(config, groups).add_to(fmap)
    return root.render()


def build_dashboard_page(options: PageOptions | None = None) -> str:
    """Return the HTML of the dashboard: links to the maps; figures load after login."""
    options = options or PageOptions()
    js, css = asset_urls(options.static_url)
    links = "".join(f'<li><a href="{escape(options.home_url)}{view}">{escape(i18n.TITLE[view])}</a></li>'
                    for view in PAGES)
    config = {"summaryUrl": f"{options.data_url}/summary", "strings": _strings(options)}
    head = "".join(f'<link rel="stylesheet" href="{escape(url)}">' for name, url in css
                   if name == "gisapp_css")
    script = "".join(f'<script src="{escape(url)}"></script>' for name, url in js if name == "gisapp_maps")
    # json.dumps escapes nothing HTML-special here except "</", which is split below.
    config_js = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(i18n.TITLE['dashboard'])} - {escape(i18n.DISTRICT)}</title>
<link rel="icon" href="data:,">{head}{script}</head>
<body class="gis-dashboard">
<header><h1>{escape(i18n.DISTRICT)}{escape(i18n.TITLE['dashboard'])}</h1></header>
<nav><h2>{escape(i18n.SUMMARY['maps'])}</h2><ul>{links}</ul></nav>
<main id="gis-figures"></main>
<script>GisMaps.dashboard({config_js});</script>
</body></html>
"""
