"""Time to first render of each map page in headless Chromium, with the city-size sample.

    python benchmarks/bench_maps.py

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites, screened);
``gisapp serve`` runs on loopback; Chromium (Debian's, driven by Playwright) opens each
page with a session cookie already set and waits until the viewport data has
loaded. Reports per page: time to first data render (navigation start to all
viewport requests settled), HTML size, bytes transferred; the same with the district
sample as the baseline from the same run. Also the size of the exported report files.
No assertion.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from layers.sample import generate_sample
from layers.screening_db import screen_db
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set

sys.path.insert(0, str(Path(__file__).parent))
from common import GISAPP, load_dataset, running_server, throwaway_database, write_result  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PAGES = ("/maps/", "/maps/permits", "/maps/supervision", "/maps/inspections")


def load(url: str, scale: str) -> None:
    """Load one sample scale, screened, with permits and a gas office user."""

    def screen_and_user(session) -> None:
        report = screen_db(session, load_rule_set("shanghai"))
        session.execute(text("INSERT INTO permit (conflict_id) SELECT unnest(CAST(:i AS bigint[]))"),
                        {"i": report.new_conflict_ids})
        create_user(session, "bench", "bench-password-1", "gas_office")

    load_dataset(url, generate_sample(scale=scale), extra=screen_and_user)


def _body_size(response) -> int:
    """Bytes of a response body (0 when the page closed before it could be read)."""
    try:
        return len(response.body()) if response.ok else 0
    except Exception:  # noqa: BLE001 - the context may already be closed
        return 0


def measure(base: str, browser) -> list[tuple[str, float, int, int]]:
    """Return (page, seconds to settled data, HTML bytes, bytes transferred) per page."""
    with httpx.Client(base_url=base) as client:  # the one login at /: a session cookie
        client.post("/login", data={"username": "bench", "password": "bench-password-1"})
        cookies = [{"name": n, "value": v, "url": base} for n, v in client.cookies.items()]
    rows = []
    for path in PAGES:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.add_cookies(cookies)
        page = context.new_page()
        sizes = []
        page.on("response", lambda r, acc=sizes: acc.append(_body_size(r)))
        start = time.perf_counter()
        page.goto(base + path)
        if path != "/maps/":
            page.wait_for_function("window.GisMaps && GisMaps.status.loads >= 1 && "
                                   "GisMaps.status.pending === 0", timeout=120_000)
        else:
            page.wait_for_load_state("networkidle")
        elapsed = time.perf_counter() - start
        html = len(httpx.get(base + path).content)
        rows.append((path, elapsed, html, sum(sizes)))
        context.close()
    return rows


def main() -> None:
    """Measure both scales and print a table."""
    from playwright.sync_api import sync_playwright

    results = {}
    report_sizes = {}
    for scale in ("district", "city"):
        with throwaway_database("gisapp-bench-maps-") as url:
            load(url, scale)
            with running_server(url) as base, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                measure(base, browser)  # warm-up: caches, first connections
                results[scale] = measure(base, browser)
                browser.close()
            out = Path(tempfile.mkdtemp(prefix="gisapp-bench-report-"))
            started = time.perf_counter()
            subprocess.run([GISAPP, "report", "--month", "2026-11", "--out", str(out)],
                           env=dict(os.environ, DATABASE_URL=url), check=True, capture_output=True)
            report_sizes[scale] = (time.perf_counter() - started,
                                   {p.name: p.stat().st_size for p in sorted(out.iterdir())})
    lines = ["| page | district: first render s | city: first render s | city HTML KiB | "
             "city transferred KiB |", "|---|---|---|---|---|"]
    for (path, d_s, _, _), (_, c_s, c_html, c_bytes) in zip(results["district"], results["city"],
                                                           strict=True):
        lines.append(f"| {path} | {d_s:.2f} | {c_s:.2f} | {c_html / 1024:.0f} | {c_bytes / 1024:.0f} |")
    for scale, (seconds, sizes) in report_sizes.items():
        files = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()
                          if name.startswith("report."))
        lines.append(f"report ({scale}): {seconds:.1f} s; {files}")
    write_result("maps.md", "\n".join(lines))


if __name__ == "__main__":
    main()
