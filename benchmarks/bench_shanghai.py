"""The Shanghai-size sample (16 districts, ~700,000 segments, 100,000 sites): generate, import, screen.

    GISAPP_JURISDICTION=shanghai python benchmarks/bench_shanghai.py [--repeat K] [--scales city,shanghai]

Reports, for each scale (city sample, then Shanghai sample) on its own throwaway cluster,
and the growth of each cost between them (the figures behind docs/national-scale.md):
1. generating the sample (target: under 2 minutes);
2. importing the pipelines and the sites (target: pipelines under 60 s), against the
   baseline of a bare COPY of the same rows into a table with no index, trigger or
   generated column (what the disk and the wire cost at all);
3. the full PostGIS screen (writes the conflicts; target under 10 s) against the
   fastest hand-written ST_DWithin join that only counts the pairs.
4. one new site screened against the stored result (target under 5 ms median).
No assertion: the figures are printed (and written to benchmarks/results/) for review.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

import shapely

from layers.db import make_engine, session_factory
from layers.importer import import_layer, load_townships
from layers.sample import generate_sample
from layers.screening_db import screen_db
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import load_rule_set

sys.path.insert(0, str(Path(__file__).parent))
from bench_screening import best_of  # noqa: E402
from common import throwaway_database, write_result  # noqa: E402


def _bare_copy(engine, frame) -> float:
    """Seconds to COPY the frame's codes and geometries into an unindexed scratch table."""
    wkb = shapely.to_wkb(shapely.set_srid(frame.geometry.to_numpy(), 4490), hex=True, include_srid=True)
    buf = io.StringIO("".join(f"{c},{g}\n" for c, g in zip(frame.iloc[:, 0], wkb, strict=True)))
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bare (code text, geom geometry)")
            cur.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv)", buf)
        raw.rollback()
    finally:
        raw.close()
    return time.perf_counter() - start


def _measure(scale: str, seed: int, repeat: int, rule_set) -> dict[str, tuple[float, str]]:
    """Generate, import and screen one sample scale; return measure -> (seconds, detail)."""
    out: dict[str, tuple[float, str]] = {}
    t0 = time.perf_counter()
    ds = generate_sample(seed=seed, scale=scale)
    out["generate sample"] = (time.perf_counter() - t0, f"{len(ds.pipelines)} segments, "
                              f"{len(ds.projects)} sites")
    with throwaway_database(f"gisapp-bench-{scale}-") as url:
        engine = make_engine(url)
        with session_factory(engine).begin() as session:  # projects name their township
            load_townships(session, ds.townships, source="benchmark")
        for kind, frame in (("pipelines", ds.pipelines), ("projects", ds.projects)):
            frame = frame.copy()
            frame.index = range(1, len(frame) + 1)
            bare_s = _bare_copy(engine, frame)
            start = time.perf_counter()
            with session_factory(engine).begin() as session:
                import_layer(session, kind, frame, source_name=f"{scale}-{kind}",
                             source_sha256="0" * 64, source_crs="EPSG:4490")
            took = time.perf_counter() - start
            out[f"import {kind}"] = (took, f"{len(frame)} rows; bare COPY of codes and geometries "
                                     f"{bare_s:.1f} s (ratio {took / bare_s:.1f})")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            km = conn.execute(text("SELECT sum(ST_Length(geom_m)) / 1000 FROM gas_pipeline")).scalar()
        out["import pipelines"] = (out["import pipelines"][0], out["import pipelines"][1] + f", {km:,.0f} km")

        def db_full():
            with session_factory(engine)() as session:
                report = screen_db(session, rule_set)
                session.rollback()
                return report

        classes = [c.value for c in PressureClass]
        params = {"d": rule_set.max_control_m + 1.5, "cls": classes, "ctrl": list(rule_set.control_array())}
        hand_sql = text(
            "SELECT count(*) FROM construction_project p CROSS JOIN LATERAL ("
            "SELECT ST_Distance(p.geom_m, g.geom_m) AS d, g.outer_diameter_mm AS od, r.ctrl "
            "FROM gas_pipeline g "
            "JOIN unnest(CAST(:cls AS text[]), CAST(:ctrl AS float8[])) r(c, ctrl) ON r.c = g.pressure_class "
            "WHERE ST_DWithin(p.geom_m, g.geom_m, :d) AND g.status <> 'abandoned' "
            "AND g.deleted_at IS NULL OFFSET 0) q "
            "WHERE p.deleted_at IS NULL AND GREATEST(0, q.d - q.od / 2000.0) < q.ctrl")

        def hand():
            with engine.connect() as conn:
                return conn.execute(hand_sql, params).scalar()

        db_s, report, db_all = best_of(db_full, repeat)
        hand_s, count, _ = best_of(hand, repeat)
        out["PostGIS full screen"] = (db_s, f"{report.in_range} pairs written (runs "
                                      f"{', '.join(f'{t:.1f}' for t in db_all)} s)")
        out["hand-written join (count only)"] = (hand_s, f"{count} pairs; ratio to ours "
                                                 f"{hand_s / db_s:.2f}")
        # One new site, screened against the stored result (what every API creation does).
        with session_factory(engine).begin() as session:
            screen_db(session, rule_set)
        pipe = ds.pipelines.geometry.iloc[len(ds.pipelines) // 2]
        site = shapely.buffer(pipe.interpolate(0.5, normalized=True), 0.0002, quad_segs=2)
        timings = []
        for i in range(30):
            with session_factory(engine)() as session:
                new_id = session.execute(text(
                    "INSERT INTO construction_project (registration_code, name, kind, status, geom) "
                    "VALUES (:c, '基准测试', 'housing', 'planned', ST_Multi(ST_GeomFromText(:w, 4490))) "
                    "RETURNING id"), {"c": f"BENCH-{i}", "w": site.wkt}).scalar_one()
                start = time.perf_counter()
                screen_db(session, rule_set, project_ids=[new_id])
                timings.append(time.perf_counter() - start)
                session.rollback()
        out["screen of one new site"] = (statistics.median(timings), f"median of 30, max "
                                         f"{max(timings) * 1000:.1f} ms")
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        out["database size"] = (0.0, f"{size / 2**20:,.0f} MiB")
        engine.dispose()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["benchmark process peak RSS"] = (0.0, f"{peak_mib:,.0f} MiB")
    return out


def main() -> None:
    """Run the measurements at each scale and print them side by side with the growth."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--scales", default="city,shanghai")
    args = parser.parse_args()
    rule_set = load_rule_set("shanghai")
    results = {}
    for scale in args.scales.split(","):
        print(f"[{scale}] load average {os.getloadavg()[0]:.1f}", flush=True)
        results[scale] = _measure(scale, args.seed, args.repeat, rule_set)
        for name, (secs, detail) in results[scale].items():
            print(f"[{scale}] {name}: {secs:.3f} s; {detail}", flush=True)
    lines = [f"load average at the end {os.getloadavg()[0]:.1f}"]
    scales = list(results)
    for name in results[scales[0]]:
        cells = [f"{results[s][name][0]:.3f} s ({results[s][name][1]})" for s in scales]
        growth = ""
        if len(scales) == 2 and results[scales[0]][name][0] > 0:
            growth = f" | growth {results[scales[1]][name][0] / results[scales[0]][name][0]:.2f}x"
        lines.append(f"{name}: " + " | ".join(cells) + growth)
    write_result("bench_shanghai.txt", "\n".join(lines))


if __name__ == "__main__":
    main()
