"""A live server with the district sample, one user per role, and a headless Chromium."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from layers.db import session_factory
from tests.browsers import chromium
from tests.servers import live_server

PASSWORD = "correct-horse-battery"
BUILDER_ORG = "崇明城建集团"
USERS = {"builder": ("wb-builder", BUILDER_ORG), "gas_office": ("wb-office", None),
         "inspector": ("wb-inspector", None), "admin": ("wb-admin", None)}
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SHOTS = Path("/tmp/gisapp-screenshots/workbench")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _load(engine) -> None:
    """District sample (seed 5) screened, two known test pipes, one user per role, a stage plan."""
    from layers.importer import import_layer, load_townships
    from layers.sample import generate_sample
    from layers.services.features import WriteContext, screen_and_alert
    from layers.services.users import create_user
    from spatial_rules.rulesets import load_rule_set
    from vocabulary import today_in_shanghai

    sample = generate_sample(seed=5)
    with session_factory(engine).begin() as session:
        load_townships(session, sample.townships, source="sample seed 5")
        for kind in ("pipelines", "projects"):
            import_layer(session, kind, getattr(sample, kind), source_name=f"sample-{kind}",
                         source_sha256="0" * 64, source_crs="EPSG:4490")
        session.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) VALUES "
            "('HP-T1', 'high_b', 2.0, 508, '上海天然气管网有限公司', "
            "ST_GeomFromText('MULTILINESTRING((121.30 31.70, 121.33 31.70))', 4490)), "
            "('MP-T1', 'medium_a', 0.3, 160, '上海崇明燃气有限公司', "
            "ST_GeomFromText('MULTILINESTRING((121.30 31.7008, 121.33 31.7008))', 4490))"))
        ids = session.execute(text("SELECT id FROM construction_project")).scalars().all()
        ctx = WriteContext(actor=None, rule_set=load_rule_set("shanghai"))
        screen_and_alert(session, "projects", ids, ctx)
        for role, (name, org) in USERS.items():
            create_user(session, name, PASSWORD, role, org)
        today = today_in_shanghai()
        picks = session.execute(text(
            "SELECT id FROM construction_project WHERE status = 'under_construction' ORDER BY id LIMIT 3"
        )).scalars().all()
        plan = session.execute(text(
            "INSERT INTO spot_check_plan (year, stage, seed, candidates, quota, warnings) "
            "VALUES (:y, 3, 1, 100, 30, '[]') RETURNING id"), {"y": today.year}).scalar_one()
        for n, pid in enumerate(picks):
            session.execute(text(
                "INSERT INTO spot_check_pick (plan_id, project_id, reason, risk_score, forced) "
                "VALUES (:p, :d, '危大工程，风险较高', :r, false)"), {"p": plan, "d": pid, "r": 3.0 - n})


@pytest.fixture(scope="module")
def server(database_url, db_engine):
    """A real uvicorn server with the sample; the tables are emptied afterwards."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _load(db_engine)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    try:
        with live_server(app) as url:
            yield url
    finally:
        with db_engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')")).scalars().all()
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium, driven by Playwright (no downloaded browser)."""
    with chromium() as launched:
        yield launched


class Visit:
    """One browser context: records requests and errors, logs in, checks and photographs pages."""

    def __init__(self, browser, server: str, tmp_path: Path, viewport: dict):
        self.server, self.tmp_path = server, tmp_path
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Every page must work under a strict Content-Security-Policy (no inline script,
        # style or event handler): it is added to each document here, and any violation
        # the browser reports fails the page's check.
        self.page.route("**/*", self._with_csp)
        self.page.on("console", lambda m: "Content Security Policy" in m.text and self.errors.append(m.text))

    @staticmethod
    def _with_csp(route) -> None:
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    def login(self, role: str) -> None:
        page = self.page
        page.goto(f"{self.server}/")
        page.get_by_label("用户名").fill(USERS[role][0])
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state("networkidle")

    def check(self, name: str) -> None:
        """axe-core finds nothing serious; nothing left 127.0.0.1; screenshots desktop and phone."""
        page = self.page
        page.wait_for_load_state("networkidle")
        # Evaluated through the driver, not an inline <script>, which the page's CSP refuses.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{name}: {bad}"
        hosts = {urlsplit(u).hostname for u in self.requests if not u.startswith(("data:", "blob:"))}
        assert hosts <= {"127.0.0.1"}, hosts
        assert self.errors == [], self.errors
        size = page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(300)
            if label == "phone":  # nothing wider than the phone: no sideways scrolling
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{name}: page is {width} px wide on a phone"
            path = self.tmp_path / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SHOTS / path.name)
        page.set_viewport_size(size)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def visit(browser, server, tmp_path):
    """Return a function opening a new browser context (desktop unless a viewport is given)."""
    opened: list[Visit] = []

    def make(viewport: dict | None = None) -> Visit:
        v = Visit(browser, server, tmp_path, viewport or DESKTOP)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def stored_projects(engine, code: str) -> int:
    """How many live projects have ``code``."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM construction_project WHERE registration_code = :c AND deleted_at IS NULL"),
            {"c": code}).scalar_one()


TODAY = dt.date.today


_FIELD_STATE = """(id) => {
  const field = document.getElementById(id), active = document.activeElement;
  return { invalid: field.getAttribute('aria-invalid'),
           described: (field.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean),
           focused: field === active || field.contains(active) };
}"""


def field_state(page, field: str) -> dict:
    """The field's aria-invalid, its aria-describedby ids, and whether it (or a control in
    its fieldset) has the focus."""
    return page.evaluate(_FIELD_STATE, field)


def assert_field_error(page, field: str, message: str, *, focused: bool = True) -> dict:
    """WB.fieldError / WB.placeErrors marked FIELD: MESSAGE in FIELD-error next to it, the
    field aria-invalid and described by that message, and (the first bad field) focused."""
    error = page.locator(f"#{field}-error")
    error.filter(has_text=message).wait_for()
    state = field_state(page, field)
    assert state["invalid"] == "true", (field, state)
    assert f"{field}-error" in state["described"], (field, state)
    assert state["focused"] is focused, (field, state, page.evaluate("() => document.activeElement.id"))
    return state


def assert_field_clear(page, field: str) -> None:
    """FIELD is no longer marked: no message, no aria-invalid (a description the template
    declares stays; the one the page added goes: see the token and permit tests)."""
    assert page.locator(f"#{field}-error").inner_text() == ""
    state = field_state(page, field)
    assert state["invalid"] is None, (field, state)


def submit_refused(page, button: str, path_end: str) -> None:
    """Click BUTTON: the POST it sends (to a URL ending in PATH_END) is refused with HTTP 422."""
    with page.expect_response(lambda r: r.url.endswith(path_end) and r.request.method == "POST") as answer:
        page.get_by_role("button", name=button).click()
    assert answer.value.status == 422, answer.value.text()
