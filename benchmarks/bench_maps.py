"""Time to first render of each map page in headless Chromium, with the city-size sample.

    python benchmarks/bench_maps.py [--scales district,city]
    GISAPP_JURISDICTION=shanghai python benchmarks/bench_maps.py --scales city,shanghai

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites, screened);
``gisapp serve`` runs on loopback; Chromium (Debian's, driven by Playwright) opens each
page with a session cookie already set and waits until the viewport data has
loaded. Reports per page: time to first data render (navigation start to all
viewport requests settled), HTML size, bytes transferred; the same with the district
sample as the baseline from the same run (the first scale is the baseline). Each scale
is measured with the pipelines as bbox GeoJSON and as vector tiles (``--pipelines``:
``GISAPP_MAP_TILES_FROM_SEGMENTS`` set out of reach, then to 0), on the same data. Also
the month's report (time and file sizes; ``--skip-report``) and the server process's peak
memory. ``--detail`` prints, per page, when each request started after the navigation, how
long it took and its body size (where a page's time goes). No assertion.
"""

from __future__ import annotations

import os
import statistics
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


def _body_size(request) -> int:
    """Bytes of a finished request's response body, as the browser received it.

    (``response.body()`` answered 0 for the vector tiles, which the page reads as blobs.)
    """
    try:
        return max(0, request.sizes()["responseBodySize"])
    except Exception:  # noqa: BLE001 - the context may already be closed
        return 0


def _breakdown(path: str, requests: list, start: float) -> None:
    """Print what one page spent: each request's start and end after navigation, and its size."""
    print(f"    {path}:", flush=True)
    for request, size in requests:
        timing = request.timing  # ms, relative to the request's own start time
        began = timing.get("startTime", 0) / 1000 - start
        ended = timing.get("responseEnd", -1)
        took = ended / 1000 if ended >= 0 else float("nan")
        name = request.url.split("//", 1)[-1].split("/", 1)[-1][:90]
        print(f"      +{began * 1000:6.0f} ms {took * 1000:6.0f} ms {size / 1024:7.1f} KiB /{name}",
              flush=True)


def measure(base: str, browser, detail: bool = False) -> list[tuple[str, float, int, int]]:
    """Return (page, seconds to settled data, HTML bytes, bytes transferred) per page.

    ``detail``: also print every request of each page (when it started after the
    navigation, how long it took, its size), to see where a page's time goes.
    """
    with httpx.Client(base_url=base) as client:  # the one login at /: a session cookie
        client.post("/login", data={"username": "bench", "password": "bench-password-1"})
        cookies = [{"name": n, "value": v, "url": base} for n, v in client.cookies.items()]
    rows = []
    for path in PAGES:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.add_cookies(cookies)
        page = context.new_page()
        finished: list = []
        page.on("requestfinished", lambda r, acc=finished: acc.append(r))
        start = time.perf_counter()
        wall_start = time.time()
        page.goto(base + path)
        # A function, not an expression: the pages' CSP forbids eval. The dashboard counts
        # its one load too (it used to be timed to "networkidle", which adds Playwright's
        # 500 ms of quiet network after the last response to every reading).
        page.wait_for_function("() => window.GisMaps && GisMaps.status.loads >= 1 && "
                               "GisMaps.status.pending === 0", timeout=120_000)
        elapsed = time.perf_counter() - start
        html = len(httpx.get(base + path).content)
        sizes = [(r, _body_size(r)) for r in finished]
        rows.append((path, elapsed, html, sum(size for _, size in sizes)))
        if detail:
            js_ms = page.evaluate("() => { var n = performance.getEntriesByType('navigation')[0];"
                                  " return [n.responseEnd, n.domContentLoadedEventEnd]; }")
            print(f"    {path}: HTML done {js_ms[0]:.0f} ms, DOMContentLoaded {js_ms[1]:.0f} ms, "
                  f"settled {elapsed * 1000:.0f} ms", flush=True)
            _breakdown(path, sizes, wall_start)
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
    parser.add_argument("--pipelines", default="geojson,tiles",
                        help="how the map pages get the pipelines: geojson, tiles or both")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="readings per page after the warm-up (the table gives their median)")
    parser.add_argument("--detail", action="store_true",
                        help="print every request of every page (start, duration, size)")
    options = parser.parse_args()
    modes = options.pipelines.split(",")
    threshold = {"geojson": str(10**12), "tiles": "0"}
    scales = [f"{scale}/{mode}" for scale in options.scales.split(",") for mode in modes]
    results = {}
    spread: dict[str, list[tuple[float, float]]] = {}
    report_sizes = {}
    memory = {}
    for sample in options.scales.split(","):
        print(f"[{sample}] load average {os.getloadavg()[0]:.1f}", flush=True)
        with throwaway_database("gisapp-bench-maps-") as url:
            load(url, sample)
            for mode in modes:
                scale = f"{sample}/{mode}"
                pids: list[int] = []
                print(f"[{scale}] load average {os.getloadavg()[0]:.1f}", flush=True)
                env = {"GISAPP_MAP_TILES_FROM_SEGMENTS": threshold[mode]}
                with running_server(url, pids=pids, env_extra=env) as base, sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                    measure(base, browser)  # warm-up: caches, first connections
                    # The median of several readings per page: one reading on a shared
                    # 2-core machine moved by 0.1-0.2 s from run to run.
                    runs = [measure(base, browser, options.detail and i == options.repeat - 1)
                            for i in range(options.repeat)]
                    results[scale] = [(path, statistics.median(r[i][1] for r in runs), html, sent)
                                      for i, (path, _secs, html, sent) in enumerate(runs[-1])]
                    spread[scale] = [(min(r[i][1] for r in runs), max(r[i][1] for r in runs))
                                     for i in range(len(PAGES))]
                    browser.close()
                    memory[scale] = _peak_mib(pids)
                for (path, secs, html, sent), (low, high) in zip(results[scale], spread[scale],
                                                                 strict=True):
                    print(f"[{scale}] {path}: {secs:.2f} s (median of {options.repeat}, "
                          f"{low:.2f}-{high:.2f}), "
                          f"HTML {html / 1024:.0f} KiB, transferred {sent / 1024:.0f} KiB", flush=True)
            if options.skip_report:
                continue
            out = Path(tempfile.mkdtemp(prefix="gisapp-bench-report-"))
            started = time.perf_counter()
            subprocess.run([GISAPP, "report", "--month", "2026-11", "--out", str(out)],
                           env=dict(os.environ, DATABASE_URL=url), check=True, capture_output=True)
            report_sizes[sample] = (time.perf_counter() - started,
                                    {p.name: p.stat().st_size for p in sorted(out.iterdir())})
            print(f"[{sample}] report {report_sizes[sample][0]:.1f} s", flush=True)
    base_scale, *others = scales
    head = " | ".join(f"{s}: first render s | {s}: transferred KiB" for s in scales)
    lines = [f"load average at the end {os.getloadavg()[0]:.1f}; first render: median of "
             f"{options.repeat} readings after a warm-up", f"| page | {head} |",
             "|---" * (1 + 2 * len(scales)) + "|"]
    for i, (path, *_rest) in enumerate(results[base_scale]):
        cells = " | ".join(f"{results[s][i][1]:.2f} | {results[s][i][3] / 1024:.0f}" for s in scales)
        lines.append(f"| {path} | {cells} |")
    for scale, (seconds, sizes) in report_sizes.items():
        files = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()
                          if name.startswith("report."))
        lines.append(f"report ({scale}): {seconds:.1f} s; {files}")
    for scale, peak in memory.items():
        lines.append(f"server peak RSS ({scale}): {peak:.0f} MiB")
    write_result("maps.md", "\n".join(lines))


if __name__ == "__main__":
    main()
