"""The Shanghai-size sample (16 districts, ~700,000 segments, 100,000 sites): generate, import, screen.

    GISAPP_JURISDICTION=shanghai python benchmarks/bench_shanghai.py [--repeat K]

Reports, in one run and on one throwaway cluster:
1. generating the sample (target: under 2 minutes);
2. importing the pipelines and the sites (target: pipelines under 60 s), against the
   baseline of a bare COPY of the same rows into a table with no index, trigger or
   generated column (what the disk and the wire cost at all);
3. the full PostGIS screen (writes the conflicts; target under 10 s) against the
   fastest hand-written ST_DWithin join that only counts the pairs.
No assertion: the figures are printed (and written to benchmarks/results/) for review.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from sqlalchemy import text

import shapely

from layers.db import make_engine, session_factory
from layers.importer import import_layer
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


def main() -> None:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    ds = generate_sample(seed=args.seed, scale="shanghai")
    rows.append(("Shanghai sample generated",
                 f"{time.perf_counter() - t0:.1f} s, {len(ds.pipelines)} segments, "
                 f"{len(ds.projects)} sites, {len(ds.townships)} townships"))
    rule_set = load_rule_set("shanghai")
    with throwaway_database("gisapp-bench-sh-") as url:
        engine = make_engine(url)
        for kind, frame in (("pipelines", ds.pipelines), ("projects", ds.projects)):
            frame = frame.copy()
            frame.index = range(1, len(frame) + 1)
            bare_s = _bare_copy(engine, frame)
            start = time.perf_counter()
            with session_factory(engine).begin() as session:
                import_layer(session, kind, frame, source_name=f"shanghai-{kind}",
                             source_sha256="0" * 64, source_crs="EPSG:4490")
            took = time.perf_counter() - start
            rows.append((f"import {kind} ({len(frame)} rows)",
                         f"{took:.1f} s; bare COPY of codes and geometries {bare_s:.1f} s "
                         f"(ratio {took / bare_s:.1f})"))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            by_district = conn.execute(text(
                "SELECT count(DISTINCT district), count(*) FILTER (WHERE district IS NULL) "
                "FROM gas_pipeline")).one()
        rows.append(("districts filled on import",
                     f"{by_district[0]} districts, {by_district[1]} rows without"))

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

        db_s, report, db_all = best_of(db_full, args.repeat)
        hand_s, count, _ = best_of(hand, args.repeat)
        rows += [
            ("PostGIS full screen (writes conflicts)",
             f"{db_s:.1f} s, {report.in_range} pairs (runs: {', '.join(f'{t:.1f}' for t in db_all)} s)"),
            ("hand-written join, sites driving (count only)", f"{hand_s:.1f} s, {count} pairs"),
            ("ratio hand-written / ours", f"{hand_s / db_s:.2f} (>= 1 means ours is no slower)"),
        ]
        engine.dispose()
    width = max(len(r[0]) for r in rows)
    write_result("bench_shanghai.txt", "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows))


if __name__ == "__main__":
    main()
