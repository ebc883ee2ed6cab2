"""Hostile text in every user field, opened in a real headless Chromium: no script may run.

The district sample is loaded, then every string a user or an import can write is
replaced in the database with markup that would run script if any page inserted it as
HTML (project code, name, builder, contractor, supervisor, organisation, township;
township areas; pipeline code, name and owner; permit history notes, references and
user names; alert notes; inspection organisations). Written straight into the tables,
so whatever input checks exist or come later, what is stored is still shown safely.

Every map page, the dashboard and ``/docs`` are then opened; every project's tooltip and
pop-up is opened (most through the Leaflet layers, some by real mouse hover and click),
the search, the township filter and the layer switches are used. A probe
(``window.__pwned``, set by every payload), the browser's dialogs and its
``securitypolicyviolation`` events must stay empty, and the pages show the hostile
text literally. Screenshots are kept (pytest's tmp_path and /tmp/gisapp-screenshots/).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from layers.db import session_factory
from tests.browsers import chromium
from tests.maps.test_browser_maps import PASSWORD, USER, _load_sample, _truncate
from tests.servers import live_server

pytestmark = pytest.mark.postgis

SHOTS_FOR_LEAD = Path("/tmp/gisapp-screenshots")
YEAR = 2026


def payload(field: str) -> str:
    """Markup that sets window.__pwned (and opens a dialog) if inserted as HTML anywhere."""
    return (f"<img src=x onerror=\"window.__pwned='{field}';alert(1)\">"
            f"<script>window.__pwned='{field}-script'</script>"
            f"\"'><svg onload=window.__pwned='{field}-svg'>{field}")


# Recorded before any page script: the probe, CSP violations and dialogs.
PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || ""));
});
"""


def _plant(engine) -> None:
    """Overwrite every user-written string of the sample with hostile markup."""
    with session_factory(engine).begin() as session:
        run = lambda sql, **kw: session.execute(text(sql), kw)  # noqa: E731
        run("UPDATE township SET name = '<img src=x onerror=__pwned=6>' || id")  # unique, <= 64
        for column in ("name", "builder", "contractor", "supervisor", "organisation"):
            run(f"UPDATE construction_project SET {column} = :p || id", p=payload(f"project.{column}"))
        # Codes are at most 64 characters: a shorter payload that still runs script as HTML.
        run("UPDATE construction_project SET registration_code = "
            "'<img src=x onerror=__pwned=1>' || id")
        run("UPDATE construction_project p SET township = t.name FROM township t "
            "WHERE ST_Intersects(t.geom, ST_PointOnSurface(p.geom))")
        run("UPDATE gas_pipeline SET external_code = '<svg onload=__pwned=2>' || id, "
            "name = :n, owner = :o", n=payload("pipeline.name"), o=payload("pipeline.owner"))
        run("UPDATE alert SET note = :p", p=payload("alert.note"))
        run("UPDATE inspection SET organisation = :p", p=payload("inspection.organisation"))
        permits = session.execute(text("SELECT id FROM permit ORDER BY id LIMIT 40")).scalars().all()
        for pid in permits:
            run("INSERT INTO permit_event (permit_id, username, from_status, to_status, reference, note) "
                "VALUES (:id, '<img src=x onerror=__pwned=3>', 'not_started', 'applied', "
                "'<svg onload=__pwned=4>', :note)", id=pid, note=payload("permit.note"))
            run("UPDATE permit SET status = 'applied', reference = '<svg onload=__pwned=5>' WHERE id = :id",
                id=pid)


@pytest.fixture(scope="module")
def server(database_url, db_engine):
    """A real uvicorn server with the sample loaded and every user string made hostile."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _load_sample(db_engine)
    _plant(db_engine)
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
    """A page recording dialogs, console CSP reports and script errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.add_init_script(PROBE)
    pg = context.new_page()
    pg.dialogs, pg.console_csp, pg.errors = [], [], []

    def on_dialog(dialog):
        pg.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.console_csp.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def _login(pg) -> None:
    """The page sends a visitor without a session to the one login at /, then back."""
    pg.wait_for_url("**/?next=*")
    back = unquote(pg.url.split("next=", 1)[1])
    pg.get_by_label("用户名").fill(USER)
    pg.get_by_label("密码").fill(PASSWORD)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(lambda url: url.endswith(back))


def _settled(pg, loads: int) -> None:
    pg.wait_for_function(
        f"() => window.GisMaps && GisMaps.status.loads >= {loads} && GisMaps.status.pending === 0",
        timeout=30_000)


def _assert_clean(pg) -> None:
    pg.wait_for_timeout(300)  # let a late onerror fire, if any could
    assert pg.evaluate("() => window.__pwned") is None
    assert pg.dialogs == []
    assert pg.evaluate("() => window.__cspViolations") == []
    assert pg.console_csp == []
    assert pg.errors == []


def _shot(pg, tmp_path: Path, name: str) -> None:
    pg.wait_for_timeout(300)
    path = tmp_path / f"hostile-{name}.png"
    pg.screenshot(path=str(path))
    SHOTS_FOR_LEAD.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS_FOR_LEAD / path.name)


# Opens every drawn project's tooltip and pop-up through its Leaflet layer, one after the
# other, waiting for each pop-up to be filled; returns how many were opened.
OPEN_ALL = """async () => {
  var layers = [];
  Object.values(GisMaps.groups).forEach(function (g) { g.eachLayer(function (c) {
    if (c.eachLayer) c.eachLayer(function (l) { layers.push(l); }); }); });
  var opened = 0;
  for (var i = 0; i < layers.length; i++) {
    var l = layers[i];
    if (l.getTooltip()) l.openTooltip();
    if (l.listens("click")) {
      var before = document.querySelector(".leaflet-popup-content");
      l.fire("click", { latlng: l.getCenter ? l.getCenter() : l.getLatLng() });
      for (var t = 0; t < 100; t++) {
        var now = document.querySelector(".leaflet-popup-content");
        if (now && now !== before && now.querySelector(".gis-popup")) break;
        await new Promise(function (r) { setTimeout(r, 20); });
      }
      opened += 1;
    }
  }
  return opened;
}"""

# Pixel position of a drawn project that the mouse can reach: inside the map, on the
# canvas the features are drawn on, not under a control or a label.
FIRST_PROJECT_PIXEL = """() => {
  var found = null, size = GisMaps.map.getSize();
  GisMaps.groups.projects.eachLayer(function (c) { c.eachLayer(function (l) {
    if (found) return;
    var p = GisMaps.map.latLngToContainerPoint(l.getCenter ? l.getCenter() : l.getLatLng());
    if (p.x < 5 || p.y < 5 || p.x > size.x - 5 || p.y > size.y - 5) return;
    var under = document.elementFromPoint(p.x, p.y);
    if (under && under.tagName === "CANVAS") found = [p.x, p.y];
  }); });
  return found;
}"""


def _eventually(pg, predicate: str, limit_s: float = 20) -> None:
    """Poll a page function until it is true (evaluated like page.evaluate)."""
    deadline = time.monotonic() + limit_s
    while not pg.evaluate(predicate):
        assert time.monotonic() < deadline, predicate
        pg.wait_for_timeout(200)


def _exercise_map(pg, tmp_path: Path, name: str) -> None:
    """Hover and click a project for real, open everything, use search, filter and switches."""
    # A real hover and click; on a busy machine the map may still be settling (a zoom
    # animation, a redraw), so the spot is found again and the gesture repeated.
    tooltip = ("() => document.querySelector('.leaflet-tooltip-pane').innerText"
               ".indexOf('<img src=x onerror=__pwned=1>') >= 0")
    popup_open = "() => !!document.querySelector('.leaflet-popup-content .gis-popup')"
    for attempt in range(5):
        pg.wait_for_timeout(500)
        spot = pg.evaluate(FIRST_PROJECT_PIXEL)
        assert spot, "no project within the mouse's reach"
        x, y = spot
        pg.mouse.move(x - 3, y - 3)
        pg.mouse.move(x, y)
        try:
            _eventually(pg, tooltip, 5)
            pg.mouse.click(x, y)
            _eventually(pg, popup_open, 8)
            break
        except AssertionError:
            if attempt == 4:
                raise
    popup = pg.inner_text(".leaflet-popup-content")
    assert "onerror=\"window.__pwned='project.name'" in popup  # shown as the characters typed
    opened = pg.evaluate(OPEN_ALL)
    assert opened > 0
    _assert_clean(pg)
    _shot(pg, tmp_path, f"{name}-popups")
    # Search for the hostile text; results are listed as text; open one.
    pg.fill(".gis-search input", "<img")
    pg.wait_for_selector(".gis-search li:not(.gis-none)")
    assert "<img src=x onerror=__pwned=1>" in pg.inner_text(".gis-search ul")
    pg.click(".gis-search li >> nth=0")
    pg.wait_for_selector(".leaflet-popup-content .gis-popup")
    # The township filter lists the hostile township names as text.
    options = pg.evaluate("() => Array.from(document.querySelectorAll('.gis-township option'))"
                          ".map(function (o) { return o.textContent; })")
    assert any(o.startswith("<img src=x onerror=") for o in options), options
    pg.select_option(".gis-township select", index=1)
    # Every layer switch off and on again.
    boxes = pg.locator(".leaflet-control-layers input")
    for i in range(boxes.count()):
        boxes.nth(i).click()
        boxes.nth(i).click()
    pg.wait_for_timeout(500)
    _assert_clean(pg)
    _shot(pg, tmp_path, name)


@pytest.mark.parametrize("view", ["permits", "supervision", "inspections"])
def test_hostile_text_on_map_pages_runs_no_script(page, server, tmp_path, view):
    page.goto(f"{server}/maps/{view}" + (f"?year={YEAR}" if view == "inspections" else ""))
    _login(page)
    _settled(page, 2)
    if view == "supervision":  # township labels carry the hostile names
        assert "<img src=x onerror=" in page.inner_text(".leaflet-tooltip-pane")
    if view == "inspections":
        _settled(page, 3)
        assert "年区级抽查覆盖率" in page.inner_text(".gis-panel")
    # Closer in, sites are drawn as areas the mouse can rest on (points at district scale).
    loads = page.evaluate("() => GisMaps.status.loads")
    page.evaluate("() => { GisMaps.map.setZoom(12); }")
    _settled(page, loads + 1)
    _exercise_map(page, tmp_path, view)


def test_permit_history_shows_hostile_notes_as_text(page, server, db_engine, tmp_path):
    with session_factory(db_engine)() as session:
        code = session.execute(text(
            "SELECT p.registration_code FROM construction_project p JOIN pipeline_conflict c "
            "ON c.project_id = p.id JOIN permit_event e ON e.permit_id = "
            "(SELECT id FROM permit WHERE conflict_id = c.id) ORDER BY p.id LIMIT 1")).scalar_one()
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    page.fill(".gis-search input", code)
    page.click(f".gis-search li:has-text('{code}')")
    page.wait_for_selector(".leaflet-popup-content .gis-popup table.gis-table")
    page.wait_for_function("() => document.querySelector('.leaflet-popup-content').innerText"
                           ".indexOf('permit.note') >= 0")
    popup = page.inner_text(".leaflet-popup-content")
    for literal in ("<img src=x onerror=__pwned=3>", "onerror=\"window.__pwned='permit.note'",
                    "<svg onload=__pwned=2>"):
        assert literal in popup
    _assert_clean(page)
    _shot(page, tmp_path, "permit-history")


def test_dashboard_and_docs_under_the_policy(page, server, tmp_path):
    response = page.goto(f"{server}/maps/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    _login(page)
    _settled(page, 1)
    assert "待处理新告警" in page.inner_text("#gis-figures")
    _assert_clean(page)
    _shot(page, tmp_path, "dashboard")

    response = page.goto(f"{server}/docs")
    assert response.headers["x-frame-options"] == "DENY"
    page.wait_for_selector(".swagger-ui .opblock-summary", timeout=30_000)
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body")
    assert "/api/projects" in page.inner_text(".swagger-ui")
    _assert_clean(page)
    _shot(page, tmp_path, "docs")
