"""The map pages in a real headless Chromium against a real uvicorn server and PostGIS.

Logs in through the page's form, opens each page, waits for the viewport data, checks
the features and legend, that no request failed and none left 127.0.0.1, and saves a
screenshot per page (one copied to /tmp/gisapp-screenshots/ for a look by eye).
Uses the system Chromium (/usr/bin/chromium) through Playwright's Python driver.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import text

from layers.db import session_factory
from tests.browsers import chromium
from tests.servers import live_server

pytestmark = pytest.mark.postgis

USER, PASSWORD = "map-office", "correct-horse-battery"
SHOTS_FOR_LEAD = Path("/tmp/gisapp-screenshots")
YEAR = 2026  # the campaign year of the inspection page (?year=)


def _load_sample(engine) -> None:
    """Import the district sample (seed 5), screen it, and give each new conflict a permit and alert."""
    from layers.importer import import_layer, load_townships
    from layers.sample import generate_sample
    from layers.services.actors import Actor
    from layers.services.features import WriteContext, screen_and_alert
    from layers.services.users import create_user
    from spatial_rules.rulesets import load_rule_set

    sample = generate_sample(seed=5)
    with session_factory(engine).begin() as session:
        load_townships(session, sample.townships, source="sample seed 5")
        for kind in ("pipelines", "projects"):
            import_layer(session, kind, getattr(sample, kind), source_name=f"sample-{kind}",
                         source_sha256="0" * 64, source_crs="EPSG:4490")
        ids = session.execute(text("SELECT id FROM construction_project")).scalars().all()
        ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"))
        screen_and_alert(session, "projects", ids, ctx)
        create_user(session, USER, PASSWORD, "gas_office", None)
        _record_inspections(session)


def _record_inspections(session) -> None:
    """Record a few campaign checks (test data; the maps only read them)."""
    first = session.execute(text(
        "SELECT id FROM construction_project WHERE status = 'under_construction' ORDER BY id LIMIT 4"
    )).scalars().all()
    session.execute(text(
        "INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on) VALUES "
        "(:a, 'spot', 1, :d1), (:b, 'third_party', NULL, :d2), (:c, 'self', 1, :d0), (:c, 'self', 2, :d2)"),
        {"a": first[0], "b": first[1], "c": first[2], "d0": dt.date(YEAR, 5, 20),
         "d1": dt.date(YEAR, 7, 1), "d2": dt.date(YEAR, 9, 1)})
    plan = session.execute(text(
        "INSERT INTO spot_check_plan (year, stage, seed, candidates, quota, warnings) "
        "VALUES (:y, 2, 1, 100, 30, '[]') RETURNING id"), {"y": YEAR}).scalar_one()
    session.execute(text(
        "INSERT INTO spot_check_pick (plan_id, project_id, reason, risk_score, forced) "
        "VALUES (:p, :d, '测试', 1.0, false)"), {"p": plan, "d": first[3]})


def _truncate(engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')")).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture(scope="module")
def server(database_url, db_engine):
    """A real uvicorn server on 127.0.0.1 with the sample loaded; yields its base URL."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _load_sample(db_engine)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url
    _truncate(db_engine)


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium, driven by Playwright (no downloaded browser)."""
    with chromium() as launched:
        yield launched


@pytest.fixture()
def page(browser, server):
    """A fresh page that records every request, failure and bad response."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    pg = context.new_page()
    pg.requests, pg.failed, pg.errors = [], [], []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("requestfailed", lambda r: pg.failed.append((r.url, r.failure)))
    pg.on("response", lambda r: r.status >= 400 and pg.failed.append((r.url, r.status)))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def _login(pg, username: str = USER, password: str = PASSWORD) -> None:
    """The map page sends a visitor without a session to the one login at /, then back."""
    pg.wait_for_url("**/?next=*")
    back = unquote(pg.url.split("next=", 1)[1])
    pg.get_by_label("用户名").fill(username)
    pg.get_by_label("密码").fill(password)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(lambda url: url.endswith(back))
    # The 401s that sent the visitor to the login page were expected; count from here.
    pg.failed.clear()


def _settled(pg, loads: int) -> None:
    pg.wait_for_function(
        # A function, not an expression: Playwright evals expressions, which the CSP refuses.
        f"() => window.GisMaps && GisMaps.status.loads >= {loads} && GisMaps.status.pending === 0",
        timeout=20_000)


def _check_network(pg, server: str) -> None:
    assert pg.requests, "no request recorded"
    hosts = {urlsplit(u).hostname for u in pg.requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts
    # An aborted request (a newer viewport replaced it) is not a failure.
    failed = [f for f in pg.failed if "ERR_ABORTED" not in str(f[1])]
    assert failed == [], failed
    assert pg.errors == [], pg.errors


def _shot(pg, tmp_path: Path, name: str) -> Path:
    pg.wait_for_timeout(400)  # let a zoom animation end, or the canvas is caught mid-scale
    path = tmp_path / f"{name}.png"
    pg.screenshot(path=str(path))
    SHOTS_FOR_LEAD.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS_FOR_LEAD / path.name)
    return path


def _states(pg) -> dict[str, int]:
    """Count the drawn project features by state, from the Leaflet layers of the page."""
    return pg.evaluate("""() => { var out = {}; Object.values(GisMaps.groups).forEach(function (v) {
        v.eachLayer(function (g) { if (g.eachLayer) g.eachLayer(
          function (l) { var s = l.feature && l.feature.properties.state;
            if (s) out[s] = (out[s] || 0) + 1; }); }); }); return out; }""")


def _feature_count(pg, key: str) -> int:
    return pg.evaluate(f"() => GisMaps.status.counts[{key!r}] || 0")


def test_permits_page(page, server, tmp_path):
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    assert _feature_count(page, "projects") > 0 and _feature_count(page, "pipelines") > 0
    legend = page.inner_text(".gis-legend")
    for text_ in ("项目保护手续状态", "有冲突（未办理）", "燃气管道压力级制", "高压B", "安全保护范围"):
        assert text_ in legend
    layers = page.inner_text(".leaflet-control-layers")
    assert "燃气管道（按压力级制）" in layers and "区界" in layers and "乡镇界" in layers
    assert page.locator(".leaflet-control-scale").count() == 1
    # The township areas and the filter's choices came after login, in one cacheable answer.
    towns = page.evaluate("""() => { var n = 0; GisMaps.groups.townshipAreas.eachLayer(function (g) {
        g.eachLayer(function () { n += 1; }); }); return n; }""")
    assert towns >= 10
    assert page.locator(".gis-township select option").count() == towns + 1
    assert [u for u in page.requests if u.endswith("/maps/data/township-areas")]
    # Colours on the canvas: projects are drawn, at least one with a protection conflict.
    states = _states(page)
    assert states.get("not_started", 0) > 0 and states.get("no_conflict", 0) > 0, states
    # Search by code, then the pop-up with the conflicting pipeline and the permit state.
    code = page.evaluate("""() => { var c = null; Object.values(GisMaps.groups).forEach(function (v) {
        v.eachLayer(function (g) { if (g.eachLayer) g.eachLayer(
          function (l) { var p = l.feature && l.feature.properties;
            if (p && p.state === "not_started") c = p.code; }); }); }); return c; }""")
    page.fill(".gis-search input", code)
    page.click(f".gis-search li:has-text('{code}')")
    page.wait_for_selector(".leaflet-popup-content .gis-popup")
    popup = page.inner_text(".leaflet-popup-content")
    assert code in popup and "冲突管道" in popup and "未办理" in popup
    # Zoomed in: bands load from zoom 15 (wait for them, not for a number of loads: how
    # many loads the first view makes depends on when the page's session was ready).
    page.wait_for_function(
        "() => (GisMaps.status.counts.protection || 0) > 0 && GisMaps.status.pending === 0",
        timeout=20000)
    assert _feature_count(page, "protection") > 0 and _feature_count(page, "control") > 0
    _shot(page, tmp_path, "permits")
    _check_network(page, server)


def test_supervision_and_inspection_pages(page, server, tmp_path):
    page.goto(f"{server}/maps/supervision")
    _login(page)
    _settled(page, 3)
    assert _feature_count(page, "choropleth") >= 10  # one per township
    assert _feature_count(page, "projects") > 0
    assert "已纳入监管" in page.inner_text(".leaflet-tooltip-pane")  # figures on the townships
    assert "乡镇监管覆盖率" in page.inner_text(".gis-legend")
    # The township filter limits the projects to one township.
    before = _feature_count(page, "projects")
    name = page.evaluate("() => document.querySelector('.gis-township select').options[1].value")
    page.select_option(".gis-township select", name)
    _settled(page, 5)
    assert _feature_count(page, "projects") <= before
    _shot(page, tmp_path, "supervision")
    _check_network(page, server)

    page.goto(f"{server}/maps/inspections?year={YEAR}")  # same browser context: the session cookie stays
    _settled(page, 3)
    states = _states(page)
    for state in ("spot_1", "spot_planned", "third_party", "self_2", "not_covered"):
        assert states.get(state, 0) >= 1, states
    panel = page.inner_text(".gis-panel")
    assert f"{YEAR} 年区级抽查覆盖率" in panel and "30%" in panel and "第3阶段" in panel
    assert "全年累计抽查覆盖：1 /" in panel
    assert "尚未覆盖" in page.inner_text(".gis-legend")
    _shot(page, tmp_path, "inspections")
    _check_network(page, server)


def test_dashboard(page, server, tmp_path):
    page.goto(f"{server}/maps/")
    _login(page)
    _settled(page, 1)
    figures = page.inner_text("#gis-figures")
    for text_ in ("燃气管道长度（按压力级制）", "高压B", "未关闭的冲突（按范围）", "保护手续（按状态）",
                  "待处理新告警"):
        assert text_ in figures
    assert page.locator("nav a").count() == 3
    _shot(page, tmp_path, "dashboard")
    _check_network(page, server)


def test_builder_is_told_it_may_not_view(page, server, db_engine):
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        create_user(session, "map-builder", PASSWORD, "builder", "甲公司")
    page.goto(f"{server}/maps/permits")
    _login(page, "map-builder")
    page.wait_for_selector("#gis-message")
    assert "无权查看" in page.inner_text("#gis-message")
    assert _feature_count(page, "projects") == 0
    denied = [f for f in page.failed if f[1] == 403]
    assert denied and all("/maps/data/" in url for url, _ in denied)


def test_a_site_is_named_on_hover_and_opens_its_popup_on_click(page, server):
    """One tooltip serves every site of the layer (maps.js nameSites), the sites are drawn over
    the pipelines whichever comes first (restack), and
    the first, wide view took the page's preloaded request for all the sites."""
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    since = page.requests[max(i for i, u in enumerate(page.requests) if u.endswith("/maps/permits")):]
    asked = [u for u in since if "/maps/data/projects?" in u]
    wide = page.evaluate("""() => JSON.parse(document.getElementById('gis-map')
        .getAttribute('data-config')).layers.filter(function (l) { return l.key === 'projects'; })[0]
        .wideUrl""")
    assert asked and asked[0].endswith(wide), (asked, wide)
    assert len([u for u in asked if u.endswith(wide)]) == 1, asked
    # A site with no other within 12 px: the pointer finds that one.
    site = page.evaluate("""() => { var pts = [], box = GisMaps.map.getContainer().getBoundingClientRect();
        GisMaps.groups.projects.eachLayer(function (g) { g.eachLayer(function (l) {
          pts.push({ p: GisMaps.map.latLngToContainerPoint(l.getLatLng()), f: l.feature }); }); });
        var size = GisMaps.map.getSize();
        for (var i = 0; i < pts.length; i++) {
          var a = pts[i].p, alone = a.x > 60 && a.y > 60 && a.x < size.x - 60 && a.y < size.y - 60;
          for (var j = 0; alone && j < pts.length; j++) {
            if (j !== i && a.distanceTo(pts[j].p) < 12) alone = false;
          }
          // Not under a control (legend, layers, search): the map's own canvas is there.
          var top = document.elementFromPoint(box.left + a.x, box.top + a.y);
          alone = alone && top && top.tagName === "CANVAS";
          if (alone) return { x: box.left + a.x, y: box.top + a.y, code: pts[i].f.properties.code,
                              name: pts[i].f.properties.name };
        }
        return null; }""")
    assert site, "no site stands alone on the first view"
    page.mouse.move(site["x"] - 20, site["y"])
    page.mouse.move(site["x"], site["y"], steps=4)
    page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip")
    assert f"{site['code']} {site['name']}" in page.inner_text(".leaflet-tooltip-pane")
    with page.expect_response(lambda r: "/popup?" in r.url) as answer:
        page.mouse.click(site["x"], site["y"])
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_selector(".leaflet-popup-content .gis-popup")
    assert site["code"] in page.inner_text(".leaflet-popup-content")


def _overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes (Playwright's x, y, width, height) overlap."""
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def _steady_box(pg, selector: str) -> dict:
    """The element's bounding box once it has stopped moving (Leaflet's pan is animated)."""
    box = pg.locator(selector).bounding_box()
    for _ in range(40):
        pg.wait_for_timeout(100)
        again = pg.locator(selector).bounding_box()
        if again == box:
            return again
        box = again
    raise AssertionError(f"{selector} kept moving")


def _project_at(pg, x: int, y: int) -> None:
    """Pan the map so that a drawn project lies at container point (x, y); wait for the reload."""
    loads = pg.evaluate("""([x, y]) => {
        var map = GisMaps.map, at = null;
        GisMaps.groups.projects.eachLayer(function (g) { if (g.eachLayer) g.eachLayer(function (l) {
          if (!at && l.getLatLng) at = l.getLatLng(); }); });
        var p = map.latLngToContainerPoint(at);
        map.panBy([p.x - x, p.y - y], { animate: false });
        return GisMaps.status.loads; }""", [x, y])
    _settled(pg, loads + 1)


def _open_popup_at(pg, x: int, y: int) -> None:
    pg.mouse.click(x, y)
    pg.wait_for_selector(".leaflet-popup-content .gis-popup")


def test_coverage_panel_folds_and_keeps_clear_of_pop_ups_on_a_small_screen(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 700}, locale="zh-CN")
    pg = context.new_page()
    pg.requests, pg.failed, pg.errors = [], [], []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("response", lambda r: r.status >= 400 and pg.failed.append((r.url, r.status)))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    try:
        pg.goto(f"{server}/maps/inspections?year={YEAR}")
        _login(pg)
        _settled(pg, 3)
        pg.wait_for_selector(".gis-panel")
        toggle = pg.get_by_role("button", name="抽查覆盖情况")
        figures = pg.locator("#gis-panel-body")
        # Folded at first on a narrow screen: the button alone; the legend too.
        legend = pg.get_by_role("button", name="图例")
        assert legend.get_attribute("aria-expanded") == "false" and pg.locator("#gis-legend-body").is_hidden()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert toggle.get_attribute("aria-controls") == "gis-panel-body"
        assert figures.is_hidden()
        # By keyboard: Enter unfolds, Space folds, Enter unfolds again.
        toggle.focus()
        pg.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true" and figures.is_visible()
        assert f"{YEAR} 年区级抽查覆盖率" in figures.inner_text()
        pg.keyboard.press(" ")
        assert toggle.get_attribute("aria-expanded") == "false" and figures.is_hidden()
        pg.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true" and figures.is_visible()
        unfolded = pg.locator(".gis-panel").bounding_box()
        assert unfolded["height"] > 150, unfolded  # most of a small screen's height

        # Unfolded, a project just above the panel: its pop-up stands wholly on screen,
        # above the panel.
        x, y = 195, int(unfolded["y"]) - 12
        _project_at(pg, x, y)
        _open_popup_at(pg, x, y)
        popup = _steady_box(pg, ".leaflet-popup")
        assert not _overlap(popup, pg.locator(".gis-panel").bounding_box())
        assert popup["x"] >= 0 and popup["x"] + popup["width"] <= 390, popup  # never wider than the screen
        assert popup["y"] >= 0 and popup["y"] + popup["height"] <= 700, popup
        pg.keyboard.press("Escape")
        pg.wait_for_selector(".leaflet-popup", state="detached")

        # Folded, a project at the very bottom beside the corners (button, status line,
        # scale; the legend's button): its pop-up, as wide as the screen, is panned up clear
        # of them.
        toggle.focus()
        pg.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "false"
        corner = pg.locator(".leaflet-bottom.leaflet-left").bounding_box()
        x, y = int(corner["x"] + corner["width"]) + 25, 690
        assert x < 380, corner
        _project_at(pg, x, y)
        _open_popup_at(pg, x, y)
        popup = _steady_box(pg, ".leaflet-popup")
        for part in (".gis-panel", ".gis-status", ".leaflet-control-scale", ".gis-legend"):
            assert not _overlap(popup, pg.locator(part).bounding_box()), part
        assert popup["y"] + popup["height"] <= corner["y"], (popup, corner)
        _shot(pg, tmp_path, "inspections-small-popup")
        # Unfolded by keyboard over the open pop-up: the pop-up is panned clear of the panel
        # (both fit on this screen).
        toggle.focus()
        pg.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        popup = _steady_box(pg, ".leaflet-popup")
        assert not _overlap(popup, pg.locator(".gis-panel").bounding_box())

        # A shorter screen where the unfolded panel and the pop-up cannot both fit: unfolding
        # closes the pop-up; a pop-up opened low folds the panel.
        pg.set_viewport_size({"width": 390, "height": 440})
        pg.wait_for_timeout(300)
        if pg.locator(".leaflet-popup").count():
            toggle.focus()
            pg.keyboard.press("Enter")  # fold
            pg.keyboard.press("Enter")  # unfold over it
            assert toggle.get_attribute("aria-expanded") == "true"
            pg.wait_for_selector(".leaflet-popup", state="detached")
        panel = pg.locator(".gis-panel").bounding_box()
        x, y = 195, int(panel["y"]) - 8
        _project_at(pg, x, y)
        _open_popup_at(pg, x, y)
        popup = _steady_box(pg, ".leaflet-popup")
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not _overlap(popup, pg.locator(".gis-panel").bounding_box())
        _check_network(pg, server)
    finally:
        context.close()
