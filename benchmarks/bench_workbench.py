"""The workbench on the city sample: live preview latency while a site is drawn, page renders.

    python benchmarks/bench_workbench.py [--scale city|district] [--previews 400]

A throwaway PostGIS gets the sample (city: 300,000 segments, 10,000 sites, screened);
``gisapp serve`` runs on loopback. A builder "draws" sites: each sequence starts from a
stored site and moves one vertex a few metres at a time, as a dragged vertex does, and
every step is one ``POST /api/projects/preview`` with the session cookie and CSRF
header (what the page sends). Baseline in the same run: ``GET /api/auth/me``, the
cheapest authenticated request, on the same connection. Then headless Chromium opens
each workbench page with the session cookie and waits until its data has loaded.
Prints p50/p95/max and the ratio to the baseline; no assertion.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from layers.db import make_engine
from layers.sample import generate_sample
from layers.sample.pipelines import HP_OWNER
from layers.screening_db import screen_db
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-password-1"
PAGES = {"builder": ("/builder/", "/builder/projects/new"),
         "gas_office": ("/office/", "/office/alerts", "/office/projects", "/office/conflicts",
                        "/office/permits", "/office/campaign"),
         "inspector": ("/inspector/",),
         "utility": ("/owner/", "/owner/supervision", "/owner/damage-reports")}
PAGES["gas_office"] += ("/office/owner-reviews", "/office/damage-reports")
ORGANISATIONS = {"builder": "基准建设单位", "utility": HP_OWNER}  # the sample's largest owner


def load(url: str, scale: str) -> None:
    """Load the sample, screen it, give every conflict a permit; one user per role."""

    def screen_and_users(session) -> None:
        report = screen_db(session, load_rule_set("shanghai"))
        session.execute(text("INSERT INTO permit (conflict_id) SELECT unnest(CAST(:i AS bigint[]))"),
                        {"i": report.new_conflict_ids})
        # Every conflict is a review waiting for its owner (as registrations open them).
        session.execute(text(
            "INSERT INTO owner_review (conflict_id, owner, due_on) SELECT c.id, g.owner, "
            "current_date + 2 FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE g.owner IS NOT NULL ON CONFLICT (conflict_id) DO NOTHING"))
        for role in PAGES:
            create_user(session, f"bench-{role}", PASSWORD, role, ORGANISATIONS.get(role))

    load_dataset(url, generate_sample(scale=scale), extra=screen_and_users)


# Every role's inbox page is the same page: the builder's stands for all; the admin's pages.
PAGES["builder"] += ("/account/notifications",)
PAGES["admin"] = ("/admin/users", "/admin/organisations")


def sites(url: str, count: int) -> list[list[list[float]]]:
    """Return the outer rings (lon/lat) of ``count`` stored sites near pipelines and elsewhere."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rings = conn.execute(text(
            "SELECT ST_AsGeoJSON(ST_ExteriorRing(ST_GeometryN(geom, 1)), 7) FROM construction_project "
            "ORDER BY id LIMIT :n"), {"n": count}).scalars().all()
    engine.dispose()
    return [json.loads(r)["coordinates"] for r in rings]


def login(base: str, role: str) -> httpx.Client:
    """Return a client holding the role's session cookie, as the browser does."""
    client = httpx.Client(base_url=base, timeout=30)
    client.post("/login", data={"username": f"bench-{role}", "password": PASSWORD})
    client.headers["X-CSRF-Token"] = client.cookies["gisapp_csrf"]
    return client


def drawing(rings: list, steps: int, rng: random.Random):
    """Yield preview bodies: each ring's first vertex dragged ~2 m per step (lon/lat)."""
    for ring in rings:
        ring = [list(p) for p in ring[:-1]]
        for _ in range(steps):
            ring[0][0] += rng.uniform(-2e-5, 2e-5)
            ring[0][1] += rng.uniform(-2e-5, 2e-5)
            yield {"site": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}


def timed(call) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_preview(base: str, url: str, previews: int) -> dict:
    client = login(base, "builder")
    rng = random.Random(7)
    bodies = list(drawing(sites(url, max(1, previews // 10)), 10, rng))[:previews]
    for body in bodies[:20]:  # warm-up: prepared statements, caches
        client.post("/api/projects/preview", json=body)
    preview, baseline, conflicts = [], [], 0
    for body in bodies:
        baseline.append(timed(lambda: client.get("/api/auth/me")))
        start = time.perf_counter()
        response = client.post("/api/projects/preview", json=body)
        preview.append((time.perf_counter() - start) * 1000)
        if response.status_code == 200:
            conflicts += len(response.json()["conflicts"])
    client.close()
    return {"preview": preview, "baseline": baseline, "conflicts": conflicts}


def measure_pages(base: str) -> list[tuple[str, float]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for role, paths in PAGES.items():
            client = login(base, role)
            cookies = [{"name": n, "value": v, "url": base} for n, v in client.cookies.items()]
            client.close()
            for repeat in (0, 1):  # the first visit warms the server's caches
                for path in paths:
                    context = browser.new_context(viewport={"width": 1280, "height": 860})
                    context.add_cookies(cookies)
                    page = context.new_page()
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    # Navigation start to the last response (page, scripts, data) or the
                    # load event, whichever is later: networkidle itself adds 500 ms of quiet.
                    ms = page.evaluate(
                        "Math.max(performance.getEntriesByType('navigation')[0].loadEventEnd,"
                        " ...performance.getEntriesByType('resource').map(e => e.responseEnd))")
                    if repeat:
                        rows.append((path, ms / 1000))
                    context.close()
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="city", choices=("city", "district"))
    parser.add_argument("--previews", type=int, default=400)
    args = parser.parse_args()
    with throwaway_database("gisapp-bench-workbench-") as url:
        load(url, args.scale)
        with running_server(url) as base:
            found = measure_preview(base, url, args.previews)
            pages = measure_pages(base)
    p, b = found["preview"], found["baseline"]
    lines = [f"Live preview, {args.scale} sample, {len(p)} previews of dragged sites "
             f"({found['conflicts']} conflicts answered)",
             "| request | p50 ms | p95 ms | max ms |", "|---|---|---|---|",
             f"| GET /api/auth/me (baseline) | {statistics.median(b):.1f} | {percentile(b, .95):.1f} | "
             f"{max(b):.1f} |",
             f"| POST /api/projects/preview | {statistics.median(p):.1f} | {percentile(p, .95):.1f} | "
             f"{max(p):.1f} |",
             f"preview p95 / baseline p95: {percentile(p, .95) / percentile(b, .95):.1f}x "
             f"(target: preview p95 < 200 ms)", "",
             "| page | first render with data s |", "|---|---|"]
    lines += [f"| {path} | {seconds:.2f} |" for path, seconds in pages]
    write_result(f"workbench-{args.scale}.md", "\n".join(lines))


if __name__ == "__main__":
    main()
