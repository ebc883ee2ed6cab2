"""Map pages rendered by function call (no browser, no database): content, legends, offline assets."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from layers.sample.townships import township_polygons
from maps import i18n
from maps.assets import static_dir, static_file
from maps.layers_data import WIDE_VIEW_ZOOM
from maps.pages import PAGES, PageOptions, build_dashboard_page, build_map_page
from maps.panels import blocks_text, choropleth_color, coverage_panel, project_popup, supervision_choropleth

URL = re.compile(r"""(?:https?:)?//[^\s"'<>\\)]+""")


def config_of(html: str) -> dict:
    """The page's configuration: the JSON of its data-config attribute."""
    found = re.findall(r'data-config="([^"]*)"', html)
    assert len(found) == 1
    return json.loads(unescape(found[0]))


def strings_of(html: str) -> str:
    """Every string of the page's configuration, as the page script would read them."""
    return json.dumps(config_of(html), ensure_ascii=False)


def js(text: str) -> str:
    """How a string appears inside the configuration's JSON."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


legend = js


@pytest.fixture(scope="module")
def townships() -> dict:
    frame = township_polygons()
    features = []
    for row in frame.itertuples():
        west, south, east, north = row.geometry.bounds
        features.append({"type": "Feature", "geometry": row.geometry.__geo_interface__,
                         "properties": {"code": row.code, "name": row.name,
                                        "bounds": [[south, west], [north, east]]}})
    return {"type": "FeatureCollection", "features": features}


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {view: build_map_page(view) for view in PAGES}


def external_urls(html: str) -> set[str]:
    return {u for u in URL.findall(unescape(html)) if not u.startswith("//-->")}


@pytest.mark.parametrize("view", PAGES)
def test_page_is_offline_and_uses_local_assets(pages, view):
    html = pages[view]
    assert external_urls(html) == set()
    assert config_of(html)["tiles"] is None  # default: no base map at all
    # No inline script and no inline style: the Content-Security-Policy refuses both.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "style=" not in html and "<style" not in html
    for lib in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers", "cdn"):
        assert lib not in html.lower()
    local = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert {"leaflet/leaflet.js", "leaflet/leaflet.css", "gisapp/maps.js", "gisapp/maps.css"} <= set(local)
    for path in local:
        assert static_file(path) is not None, path


@pytest.mark.parametrize("view", PAGES)
def test_page_has_title_legend_layers_and_controls(pages, townships, view):
    assert f"<title>{i18n.TITLE[view]} - 崇明区</title>" in pages[view]
    html = strings_of(pages[view])
    assert js(i18n.LEGEND_TITLE["pipelines"]) in html
    for label in i18n.PRESSURE_ZH.values():
        assert js(label) in html
    for name in (i18n.LAYER["district"], i18n.LAYER["townships"], i18n.LAYER["pipelines"],
                 i18n.LAYER[f"projects_{view}"]):
        assert js(name) in html  # a layer control entry
    assert f"/maps/data/projects?view={view}" in html
    # The township areas and the filter's choices come after login, cut to the viewer's
    # district: the page itself carries none of them (all of Shanghai's made it 400 KiB).
    assert config_of(pages[view])["townshipAreas"]["url"] == "/maps/data/township-areas"
    for feature in townships["features"]:
        assert js(feature["properties"]["name"]) not in html
    assert len(pages[view].encode()) < 40_000
    assert js(i18n.SEARCH_PLACEHOLDER) in html and js(i18n.LOGIN_TITLE) in html


def test_permits_page_legend_and_range_layers(pages):
    html = strings_of(pages["permits"])
    assert js(i18n.LEGEND_TITLE["permits"]) in html and js(i18n.LEGEND_TITLE["ranges"]) in html
    for label in [*i18n.PERMIT_STATE_ZH.values(), i18n.NEW_ALERT, *i18n.ZONE_ZH.values()]:
        assert js(label) in html
    assert js(i18n.LAYER["protection"]) in html and js(i18n.LAYER["control"]) in html
    assert "/maps/data/ranges?zone=protection" in html


def test_supervision_and_inspection_legends(pages):
    pages = {view: strings_of(html) for view, html in pages.items()}
    assert js(i18n.LEGEND_TITLE["choropleth"]) in pages["supervision"]
    for label in [*i18n.SUPERVISION_STATE_ZH.values(), *i18n.CHOROPLETH_CLASS_ZH]:
        assert legend(label) in pages["supervision"]
    assert "/maps/data/townships?view=supervision" in pages["supervision"]
    for label in i18n.INSPECTION_STATE_ZH.values():
        assert js(label) in pages["inspections"]
    assert "/maps/data/inspection-coverage" in pages["inspections"]
    assert "inspection-coverage" not in pages["permits"]


def test_configured_tile_url_is_the_only_external_url():
    tile = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = build_map_page("permits", PageOptions(tile_url=tile, tile_attribution="示例底图<b>"))
    assert config_of(html)["tiles"]["url"] == tile
    assert external_urls(html) == {tile}
    # Leaflet shows the attribution as HTML: the setting arrives escaped, shown as text.
    assert config_of(html)["tiles"]["attribution"] == "示例底图&lt;b&gt;"


def test_page_draws_the_district_and_names_the_township_layer():
    html = build_map_page("supervision")
    assert external_urls(html) == set()
    html = strings_of(html)
    assert js(i18n.LAYER["district"]) in html and js(i18n.LAYER["townships"]) in html


def test_dashboard_links_the_maps_offline():
    html = build_dashboard_page()
    for view in PAGES:
        assert f'href="/maps/{view}"' in html and i18n.TITLE[view] in html
    assert i18n.TITLE["dashboard"] in html and "/maps/data/summary" in strings_of(html)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert external_urls(html) == set()
    assert 'src="/static/gisapp/maps.js"' in html and 'href="/static/gisapp/maps.css"' in html


def test_vendored_files_are_listed_and_local():
    licences = (static_dir() / "LICENSES.md").read_text(encoding="utf-8")
    assert "leaflet | 1.9.4 | BSD-2-Clause" in licences
    assert "1.9.4" in (static_dir() / "leaflet" / "leaflet.js").read_text(encoding="utf-8")[:300]
    css = (static_dir() / "leaflet" / "leaflet.css").read_text(encoding="utf-8")
    for image in re.findall(r"url\((images/[^)]+)\)", css):
        assert static_file(f"leaflet/{image}") is not None, image
    script = (static_dir() / "gisapp" / "maps.js").read_text(encoding="utf-8")
    assert external_urls(script) == set()
    assert static_file("../i18n.py") is None and static_file("leaflet") is None


def _detail(**over) -> dict:
    base = {"id": 1, "code": "XM-1", "name": "<script>alert(1)</script>道路工程", "kind": "municipal",
            "builder": "崇明建设公司", "contractor": None, "supervisor": None, "organisation": "甲公司",
            "township": "城桥镇", "status": "under_construction", "under_supervision": None,
            "supervised_since": None, "insured": True, "alerts_new": 1, "year": 2026,
            "conflicts": [{"conflict_id": 5, "pipeline_code": "HP-1", "pressure_class": "high_b",
                           "zone": "protection", "distance_m": 1.234, "permit_id": 9,
                           "permit_status": "applied", "reference": None, "approved_until": None}],
            "permit_events": [{"permit_id": 9, "at": "2026-05-01 10:00:00", "username": "office",
                               "from_status": "not_started", "to_status": "applied",
                               "reference": None, "note": "已提交保护方案"}],
            "inspections": [], "spot_picks": []}
    return {**base, **over}


def test_popup_shows_conflicts_and_history_as_text():
    blocks = project_popup(_detail(), "permits")
    # The name goes to the page unchanged, as data: the page script inserts it as text.
    assert blocks[0] == {"type": "heading", "level": 4, "text": "XM-1 <script>alert(1)</script>道路工程"}
    html = blocks_text(blocks)
    for text in ("HP-1", "高压B", "保护范围", "1.23", "已申请", "未办理 → 已申请", "已提交保护方案",
                 "崇明建设公司", i18n.POPUP["new_alerts"]):
        assert text in html
    assert i18n.POPUP["no_conflict"] in blocks_text(project_popup(_detail(conflicts=[], permit_events=[]),
                                                                  "permits"))
    assert i18n.POPUP["no_inspections"] in blocks_text(project_popup(_detail(), "inspections"))
    assert i18n.POPUP["unknown"] in blocks_text(project_popup(_detail(), "supervision"))


def test_choropleth_classes_and_labels():
    assert choropleth_color(0, 0) != choropleth_color(0, 3)
    assert choropleth_color(3, 3) != choropleth_color(2, 3)
    point = '{"type": "Point", "coordinates": [0, 0]}'
    rows = [{"name": "城桥镇", "total": 4, "supervised": 3, "geometry": point},
            {"name": "堡镇", "total": 0, "supervised": 0, "geometry": point}]
    out = supervision_choropleth(rows)["features"]
    assert out[0]["properties"]["label"] == "城桥镇：已纳入监管 3 / 4 个（75%）"
    assert out[1]["properties"]["rate"] is None and "无在建燃气工程" in out[1]["properties"]["label"]


def test_coverage_panel_against_quota():
    stage = {"stage": 1, "label": "第1阶段（2026-06-01 至 2026-07-31）", "candidates": 10, "picked": 3,
             "checked": 2, "quota_needed": 3, "rate": 0.2, "met": False}
    html = blocks_text(coverage_panel({"year": 2026, "quota": 0.3, "stages": [stage], "projects": 10,
                           "self_round_1": 5, "self_round_2": 1, "insured": 4, "third_party_done": 2,
                           "spot_covered": 2}))
    for text in ("2026 年区级抽查覆盖率（每阶段不少于 30%）", "第1阶段", "20%", "未达标", "2 / 10"):
        assert text in html


def test_data_the_page_needs_whatever_the_view_is_preloaded():
    """Township areas, the sites of a wide first view, the supervision choropleth and the
    inspections panel (with its year) are asked for by the browser while the scripts load;
    the script fetches the same URLs."""
    preloads = {view: [unescape(u) for u in re.findall(
                    r'<link rel="preload" as="fetch" crossorigin="anonymous" href="([^"]+)"',
                    build_map_page(view, PageOptions(year=2025)))]
                for view in PAGES}
    wide = {view: config_of(build_map_page(view, PageOptions(year=2025)))["layers"][-1]["wideUrl"]
            for view in PAGES}
    assert preloads["permits"] == ["/maps/data/township-areas", wide["permits"]]
    assert preloads["supervision"] == ["/maps/data/township-areas", wide["supervision"],
                                       "/maps/data/townships?view=supervision"]
    assert preloads["inspections"] == ["/maps/data/township-areas", wide["inspections"],
                                       "/maps/data/inspection-coverage?year=2025"]
    # The sites' request of a view holding the jurisdiction and its margin, at the widest zoom
    # whose view holds it all (maps.js takes it only for such a first view).
    config = config_of(build_map_page("permits", PageOptions(year=2025)))
    (south, west), (north, east) = config["tileBounds"]
    assert wide["permits"] == (f"/maps/data/projects?view=permits&bbox={west:.6f},{south:.6f},{east:.6f},"
                               f"{north:.6f}&zoom={WIDE_VIEW_ZOOM}&year=2025")
    config = config_of(build_map_page("inspections", PageOptions(year=2025)))
    assert config["panelUrl"] == "/maps/data/inspection-coverage?year=2025"
    assert config["townshipAreas"]["url"] == "/maps/data/township-areas"
    choropleth = config_of(build_map_page("supervision"))["layers"][0]
    assert choropleth["once"] and choropleth["url"] == "/maps/data/townships?view=supervision"


def test_pipeline_tiles_are_asked_for_over_the_jurisdiction_and_its_margin():
    (s0, w0), (n0, e0) = config_of(build_map_page("permits", PageOptions(margin_m=0)))["tileBounds"]
    (s2, w2), (n2, e2) = config_of(build_map_page("permits", PageOptions(margin_m=2000)))["tileBounds"]
    (bs, bw), (bn, be) = config_of(build_map_page("permits"))["bounds"]
    assert s0 <= bs + 1e-3 and n0 >= bn - 1e-3 and w0 <= bw + 1e-3 and e0 >= be - 1e-3
    # 2 km is about 0.018 degrees of latitude and 0.021 of longitude at 31.6 degrees north.
    assert s0 - s2 == pytest.approx(0.018, abs=0.002) and n2 - n0 == pytest.approx(0.018, abs=0.002)
    assert w0 - w2 == pytest.approx(0.021, abs=0.003) and e2 - e0 == pytest.approx(0.021, abs=0.003)
