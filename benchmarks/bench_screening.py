"""Screening speed on the city-size sample, as ratios against baselines run in this process.

    python benchmarks/bench_screening.py [--seed N] [--repeat K]

Reports, in one run:
1. the in-memory engine against the naive geopandas buffer + sjoin, with pair counts;
2. the PostGIS engine's full screen against a hand-written ST_DWithin join on the same
   tables and GiST indexes, and the incremental screen of one new site;
3. ``gisapp screen`` end to end on the city files against the naive script end to end
   (file reading included), with each process's peak memory.
No assertion: the figures are printed (and written to benchmarks/results/) for review.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

import shapely

from gisapp.localdb import LocalCluster, free_port
from layers.db import make_engine, session_factory
from layers.importer import import_layer
from layers.migrate import upgrade
from layers.projection import lonlat_to_metric
from layers.sample import generate_sample
from layers.screening_db import screen_db
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import load_rule_set
from spatial_rules.screening import PipelineSet, SiteSet, screen_sites

sys.path.insert(0, str(Path(__file__).parent))
from naive_screen import naive_screen  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GISAPP = str(Path(sys.executable).with_name("gisapp"))


def best_of(func, repeat):
    """Return (min seconds, last result) over ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result, times


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd):
    """Run a command; return (seconds, peak RSS in MiB, stdout).

    Peak RSS is the child's own VmHWM, polled until it exits (ru_maxrss of a child
    forked from this large process would include the parent's pages).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _vm_hwm_kib(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err[-2000:]}")
    return elapsed, peak / 1024.0, out


def main() -> None:
    """Run all measurements and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=3)
    # The 2018 text by default, so pair counts compare with earlier runs; any version works.
    parser.add_argument("--rules", default="shanghai@2018.1")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []

    t0 = time.perf_counter()
    ds = generate_sample(seed=args.seed, scale="city")
    rows.append(
        (
            "city sample generated",
            f"{time.perf_counter() - t0:.1f} s, {len(ds.pipelines)} segments, {len(ds.projects)} sites",
        )
    )
    rule_set = load_rule_set(args.rules)
    rows.append(("rule set", rule_set.label))
    pipes = ds.pipelines[ds.pipelines["status"] != "abandoned"]

    # 1. In-memory engine vs naive geopandas (both from lon/lat frames in memory).
    def ours():
        pipe_set = PipelineSet(
            ids=pipes["external_code"].to_numpy(),
            geoms=lonlat_to_metric(pipes.geometry.to_numpy()),
            pressure_classes=pipes["pressure_class"].to_numpy(),
            outer_diameters_mm=pipes["outer_diameter_mm"].to_numpy(dtype=float),
        )
        site_set = SiteSet(
            ids=ds.projects["registration_code"].to_numpy(),
            geoms=lonlat_to_metric(ds.projects.geometry.to_numpy()),
        )
        return pipe_set, site_set

    prep_s, (pipe_set, site_set), _ = best_of(ours, 1)
    screen_sites(pipe_set, site_set, rule_set)  # warm the cached tree once
    mem_s, result, mem_all = best_of(lambda: screen_sites(pipe_set, site_set, rule_set), args.repeat)
    naive_s, naive, _ = best_of(lambda: naive_screen(ds.pipelines, ds.projects, args.rules), 1)
    ours_pairs = set(zip(result.site_ids.tolist(), result.pipeline_ids.tolist(), strict=True))
    naive_pairs = set(zip(naive["site_id"], naive["pipeline_id"], strict=True))
    rows += [
        (
            "in-memory screen (tree built)",
            f"{mem_s * 1000:.0f} ms (runs: {', '.join(f'{t * 1000:.0f}' for t in mem_all)} ms)",
        ),
        ("  + projection and index build", f"{prep_s * 1000:.0f} ms"),
        ("naive geopandas buffer+sjoin", f"{naive_s * 1000:.0f} ms"),
        ("speed-up in-memory vs naive", f"{naive_s / mem_s:.1f}x"),
        (
            "pairs ours / naive",
            f"{len(ours_pairs)} / {len(naive_pairs)} "
            f"(naive misses {len(ours_pairs - naive_pairs)}, extra {len(naive_pairs - ours_pairs)})",
        ),
    ]

    # 2. PostGIS engine vs hand-written join, on a throwaway cluster.
    base = Path(tempfile.mkdtemp(prefix="gisapp-bench-"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(base / "cluster", port=free_port())
    try:
        engine = make_engine(cluster.start().url())
        with engine.begin() as conn:
            upgrade(connection=conn)
        t0 = time.perf_counter()
        with session_factory(engine).begin() as session:
            for kind, frame in (("pipelines", ds.pipelines), ("projects", ds.projects)):
                frame = frame.copy()
                frame.index = range(1, len(frame) + 1)
                import_layer(
                    session,
                    kind,
                    frame,
                    source_name=f"city-{kind}",
                    source_sha256="0" * 64,
                    source_crs="EPSG:4490",
                )
        rows.append(("COPY import of city sample", f"{time.perf_counter() - t0:.1f} s"))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))

        def db_full():
            with session_factory(engine)() as session:
                report = screen_db(session, rule_set)
                session.rollback()
                return report

        classes = [c.value for c in PressureClass]
        hand_sql = text(
            "SELECT count(*) FROM (SELECT p.id, g.id FROM construction_project p "
            "JOIN gas_pipeline g ON ST_DWithin(p.geom_m, g.geom_m, :d) "
            "JOIN unnest(CAST(:cls AS text[]), CAST(:ctrl AS float8[])) r(c, ctrl) ON r.c = g.pressure_class "
            "WHERE g.status <> 'abandoned' AND p.deleted_at IS NULL AND g.deleted_at IS NULL "
            "AND p.status <> 'completed' "
            "AND GREATEST(0, ST_Distance(p.geom_m, g.geom_m) - g.outer_diameter_mm / 2000.0) < r.ctrl) q"
        )

        hand_params = {"d": rule_set.max_control_m + 1.5, "cls": classes,
                       "ctrl": list(rule_set.control_array())}

        def run_count(sql, jit: bool = True):
            with engine.connect() as conn:
                if not jit:
                    conn.execute(text("SET jit = off"))
                return conn.execute(sql, hand_params).scalar()

        def hand_join(jit: bool = True):
            return run_count(hand_sql, jit)

        # The same join with the sites driving the pipelines' index (as the full screen
        # does): the fastest hand-written form, to show what writing the conflicts costs.
        hand_sites_sql = text(
            "SELECT count(*) FROM construction_project p CROSS JOIN LATERAL ("
            "SELECT ST_Distance(p.geom_m, g.geom_m) AS d, g.outer_diameter_mm AS od, r.ctrl "
            "FROM gas_pipeline g "
            "JOIN unnest(CAST(:cls AS text[]), CAST(:ctrl AS float8[])) r(c, ctrl) ON r.c = g.pressure_class "
            "WHERE ST_DWithin(p.geom_m, g.geom_m, :d) AND g.status <> 'abandoned' "
            "AND g.deleted_at IS NULL OFFSET 0) q "
            "WHERE p.deleted_at IS NULL AND p.status <> 'completed' "
            "AND GREATEST(0, q.d - q.od / 2000.0) < q.ctrl"
        )

        def hand_sites():
            return run_count(hand_sites_sql, jit=False)

        completed = set(ds.projects.loc[ds.projects["status"] == "completed", "registration_code"])
        live_pairs = sum(1 for site in result.site_ids.tolist() if site not in completed)
        db_s, report, db_all = best_of(db_full, args.repeat)
        hand_s, hand_count, hand_all = best_of(hand_join, args.repeat)
        hand_nojit_s, _, _ = best_of(lambda: hand_join(jit=False), args.repeat)
        hand_sites_s, hand_sites_count, _ = best_of(hand_sites, args.repeat)
        rows += [
            ("PostGIS full screen (writes conflicts)", f"{db_s * 1000:.0f} ms, {report.in_range} pairs"),
            ("hand-written ST_DWithin join (count only)", f"{hand_s * 1000:.0f} ms, {hand_count} pairs"),
            ("ratio hand-written / ours", f"{hand_s / db_s:.2f} (>= 1 means ours is no slower)"),
            ("hand-written join, JIT off", f"{hand_nojit_s * 1000:.0f} ms (ratio {hand_nojit_s / db_s:.2f})"),
            (
                "hand-written join, sites driving, JIT off",
                f"{hand_sites_s * 1000:.0f} ms, {hand_sites_count} pairs (ratio {hand_sites_s / db_s:.2f})",
            ),
            # A full screen leaves completed projects as they are (their answers stand).
            ("pairs PostGIS vs in-memory (projects not completed)",
             f"{report.in_range} vs {live_pairs}"),
        ]
        # Incremental: keep the full result stored, then add one site near the trunk.
        with session_factory(engine).begin() as session:
            screen_db(session, rule_set)
        some_pipe = ds.pipelines.geometry.iloc[0]
        site = shapely.buffer(some_pipe.interpolate(0.5, normalized=True), 0.0002, quad_segs=2)
        timings = []
        for i in range(20):
            with session_factory(engine)() as session:
                new_id = session.execute(
                    text(
                        "INSERT INTO construction_project (registration_code, name, kind, status, geom) "
                        "VALUES (:c, '基准测试', 'housing', 'planned', ST_Multi(ST_GeomFromText(:w, 4490))) "
                        "RETURNING id"
                    ),
                    {"c": f"BENCH-{i}", "w": site.wkt},
                ).scalar_one()
                start = time.perf_counter()
                one = screen_db(session, rule_set, project_ids=[new_id])
                timings.append(time.perf_counter() - start)
                session.rollback()
        rows.append(
            (
                "incremental screen of one new site",
                f"median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms "
                f"({len(one.new_conflict_ids)} new conflicts)",
            )
        )
        engine.dispose()
    finally:
        cluster.destroy()

    # 3. End to end: CLI vs naive script, each a fresh process, files read included;
    # runs alternate so that machine noise hits both (benchmarks/bench_screen_cli.py).
    from bench_screen_cli import compare_end_to_end

    with tempfile.TemporaryDirectory() as tmp:
        files = ds.write(tmp, fmt="gpkg")
        e2e = compare_end_to_end(files, tmp, args.repeat)
        rows += [
            (
                "gisapp screen end to end (GPKG)",
                f"min {e2e['ours_min']:.1f} s, median {e2e['ours_median']:.1f} s, "
                f"peak {e2e['ours_mib']:.0f} MiB",
            ),
            (
                "naive script end to end (GPKG)",
                f"min {e2e['naive_min']:.1f} s, median {e2e['naive_median']:.1f} s, "
                f"peak {e2e['naive_mib']:.0f} MiB",
            ),
            (
                "speed-up end to end (per run pair)",
                f"median {e2e['ratio_median']:.1f}x, min {e2e['ratio_min']:.1f}x",
            ),
        ]

    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | result |", f"|{'-' * (width + 2)}|--------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    report_text = "\n".join(lines)
    print(report_text)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "screening.md").write_text(report_text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
