"""Time to first render of each map page in headless Chromium, with the city-size sample.

    python benchmarks/bench_maps.py [--scales district,city]
    GISAPP_JURISDICTION=shanghai python benchmarks/bench_maps.py --scales city,shanghai

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites, screened);
``gisapp serve`` runs on loopback; Chromium (Debian's, driven by Playwright) opens each
page with a session cookie already set and waits until the viewport data has
loaded. Reports per page: time to first data render (navigation start to all
viewport requests settled), HTML size, bytes transferred; the same with the district
sample as the baseline from the same run (the first scale is the baseline). Also the
month's report (time and file sizes) and the server process's peak memory. No assertion.
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
            # A function, not an expression: the pages' CSP forbids eval.
            page.wait_for_function("() => window.GisMaps && GisMaps.status.loads >= 1 && "
                                   "GisMaps.status.pending === 0", timeout=120_000)
        else:
            page.wait_for_load_state("networkidle")
        elapsed = time.perf_counter() - start
        html = len(httpx.get(base + path).content)
        rows.append((path, elapsed, html, sum(sizes)))
        context.close()
    return rows


def _peak_mib(pids: list[int]) -> float:
    """Peak resident memory (VmHWM) of the server process and its children, in MiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                total = max(total, next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")))
        except (OSError, StopIteration):
            continue
    return total / 1024


def main() -> None:
    """Measure each scale and print a table (the first scale is the baseline)."""
    import argparse

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="district,city")
    scales = parser.parse_args().scales.split(",")
    results = {}
    report_sizes = {}
    memory = {}
    for scale in scales:
        print(f"[{scale}] load average {os.getloadavg()[0]:.1f}", flush=True)
        with throwaway_database("gisapp-bench-maps-") as url:
            load(url, scale)
            pids: list[int] = []
            with running_server(url, pids=pids) as base, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                measure(base, browser)  # warm-up: caches, first connections
                results[scale] = measure(base, browser)
                browser.close()
                memory[scale] = _peak_mib(pids)
            for path, secs, html, sent in results[scale]:
                print(f"[{scale}] {path}: {secs:.2f} s, HTML {html / 1024:.0f} KiB, "
                      f"transferred {sent / 1024:.0f} KiB", flush=True)
            out = Path(tempfile.mkdtemp(prefix="gisapp-bench-report-"))
            started = time.perf_counter()
            subprocess.run([GISAPP, "report", "--month", "2026-11", "--out", str(out)],
                           env=dict(os.environ, DATABASE_URL=url), check=True, capture_output=True)
            report_sizes[scale] = (time.perf_counter() - started,
                                   {p.name: p.stat().st_size for p in sorted(out.iterdir())})
            print(f"[{scale}] report {report_sizes[scale][0]:.1f} s, server peak {memory[scale]:.0f} MiB",
                  flush=True)
    base_scale, *others = scales
    head = " | ".join(f"{s}: first render s | {s}: transferred KiB" for s in scales)
    lines = [f"load average at the end {os.getloadavg()[0]:.1f}", f"| page | {head} |",
             "|---" * (1 + 2 * len(scales)) + "|"]
    for i, (path, *_rest) in enumerate(results[base_scale]):
        cells = " | ".join(f"{results[s][i][1]:.2f} | {results[s][i][3] / 1024:.0f}" for s in scales)
        lines.append(f"| {path} | {cells} |")
    for scale, (seconds, sizes) in report_sizes.items():
        files = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()
                          if name.startswith("report."))
        lines.append(f"report ({scale}): {seconds:.1f} s; {files}; server peak RSS {memory[scale]:.0f} MiB")
    write_result("maps.md", "\n".join(lines))


if __name__ == "__main__":
    main()
