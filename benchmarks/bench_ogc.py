"""OGC API – Features over the city sample: whole-collection reads, keyset against OFFSET.

    python benchmarks/bench_ogc.py [--page 10000]

A throwaway PostGIS gets the city sample (300,000 pipeline segments); ``gisapp serve``
runs as a real server. Measured in the same run:

- every page of /ogc/collections/pipelines/items (full geometry) followed through its
  next links: first, middle and last page, and the whole walk;
- baseline: the same page read with OFFSET instead of the keyset (``id > last``), the
  way a plain paged list reads it, at the same depths;
- GDAL's ``ogr2ogr`` copying the whole collection through OAPIF, against ``ogr2ogr``
  copying the same table straight from PostGIS (``PG:``), if gdal-bin is installed.

No assertion; ratios are printed and kept in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.readonly_role import libpq_url
from layers.sample import generate_sample
from layers.services.users import create_user, issue_token

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

PAGE_SQL = (
    "SELECT json_build_object('type', 'Feature', 'id', t.id, 'geometry', ST_AsGeoJSON(t.geom, 9, 0)::json, "
    "'properties', json_build_object('external_code', t.external_code, 'pressure_class', t.pressure_class, "
    "'outer_diameter_mm', t.outer_diameter_mm))::text FROM gas_pipeline t WHERE t.deleted_at IS NULL "
)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--page", type=int, default=10_000)
    args = parser.parse_args()
    with throwaway_database("gisapp-bench-ogc-") as url:
        token_box: list[str] = []

        def office(session) -> None:
            user = create_user(session, "bench-office", "correct-horse-battery", "gas_office")
            token_box.append(issue_token(session, user, 600)[0])

        load_dataset(url, generate_sample(seed=2026, scale="city"), extra=office)
        engine = make_engine(url)
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM gas_pipeline")).scalar_one()
            ids = conn.execute(text("SELECT id FROM gas_pipeline ORDER BY id")).scalars().all()
        depths = {"first": 0, "middle": total // 2, "last": max(total - args.page, 0)}
        rows = []
        with session_factory(engine)() as session:
            for label, offset in depths.items():
                after = ids[offset - 1] if offset else 0
                keyset = min(_timed(lambda a=after: session.execute(text(
                    PAGE_SQL + "AND t.id > :a ORDER BY t.id LIMIT :n"), {"a": a, "n": args.page}).all())
                    for _ in range(3))
                paged = min(_timed(lambda o=offset: session.execute(text(
                    PAGE_SQL + "ORDER BY t.id LIMIT :n OFFSET :o"), {"o": o, "n": args.page}).all())
                    for _ in range(3))
                rows.append(f"| {label} page (row {offset:,}) | {keyset * 1000:,.0f} ms | "
                            f"{paged * 1000:,.0f} ms | {paged / keyset:.1f}x |")
        headers = {"Authorization": f"Bearer {token_box[0]}"}
        with running_server(url) as base, httpx.Client(timeout=600) as client:
            next_url = f"{base}/ogc/collections/pipelines/items?limit={args.page}"
            pages, features, start = [], 0, time.perf_counter()
            while next_url:
                t0 = time.perf_counter()
                body = client.get(next_url, headers=headers).json()
                pages.append(time.perf_counter() - t0)
                features += body["numberReturned"]
                next_url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
            walk = time.perf_counter() - start
            gdal = ""
            if shutil.which("ogr2ogr"):
                with tempfile.TemporaryDirectory() as tmp:
                    oapif = _timed(lambda: subprocess.run(
                        ["ogr2ogr", "--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token_box[0]}",
                         "-f", "GPKG", f"{tmp}/oapif.gpkg", f"OAPIF:{base}/ogc", "pipelines",
                         "-oo", f"PAGE_SIZE={args.page}"], check=True, capture_output=True))
                    direct = _timed(lambda: subprocess.run(
                        ["ogr2ogr", "-f", "GPKG", f"{tmp}/pg.gpkg", f"PG:{libpq_url(url)}", "gas_pipeline"],
                        check=True, capture_output=True))
                gdal = (f"\n| ogr2ogr, whole collection through OAPIF | {oapif:,.1f} s | "
                        f"baseline ogr2ogr from PG: {direct:,.1f} s | "
                        f"{oapif / direct:.1f}x the direct copy |")
        engine.dispose()
    out = [
        f"OGC API – Features, city sample ({total:,} pipeline segments), page size {args.page:,}",
        "",
        "| page (SQL only, best of 3) | keyset | OFFSET (baseline) | OFFSET / keyset |",
        "|---|---|---|---|",
        *rows,
        "",
        "| HTTP, /ogc/collections/pipelines/items | result | | |",
        "|---|---|---|---|",
        f"| whole walk through next links | {walk:,.1f} s, {features:,} features, {len(pages)} pages | "
        f"first page {pages[0] * 1000:,.0f} ms | last page {pages[-1] * 1000:,.0f} ms |" + gdal,
    ]
    write_result("bench_ogc.md", "\n".join(out))


if __name__ == "__main__":
    main()
