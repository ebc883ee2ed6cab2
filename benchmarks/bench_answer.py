"""Answer letters: time to issue one in the creation's transaction, and to draw it as HTML and PDF.

A throwaway PostGIS gets the district sample (screened). For sites that reach into
pipeline ranges (the letter's busiest case) it measures, medians over the runs:

- creating a project through the service (screening, alerts, permits, the answer, the
  owner reviews and the notifications of its new conflicts), against the baseline of the
  same creation with those three additions of the procedure switched off (as before
  issue #14), alternating the two so that both see the same database; and issuing a
  second answer for the same project alone;
- drawing the letter as HTML (inline SVG map) and as an A4 PDF (matplotlib map,
  embedded font), against the baseline of drawing the map extract alone as a PNG in the
  same run. Target: each under 1 s.

    python benchmarks/bench_answer.py [--runs 15]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import load_dataset, throwaway_database, write_result  # noqa: E402

from layers.db import make_engine, session_factory  # noqa: E402
from layers.sample import generate_sample  # noqa: E402
from layers.services.actors import Actor  # noqa: E402
from layers.services.answers import current_answer, issue_answers  # noqa: E402
from layers.services.features import WriteContext, create_feature, screen_district  # noqa: E402
from layers.services.notify import Channels  # noqa: E402
from layers.services.users import create_user  # noqa: E402
from maps.answer import answer_scene, render_html, render_pdf  # noqa: E402
from maps.report.static_maps import render_png  # noqa: E402
from spatial_rules.rulesets import load_rule_set  # noqa: E402


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def _procedure_off():
    """The creation as it was before the procedure: no answer, no reviews, no notifications."""
    import layers.services.features as features

    saved = (features.issue_answers, features.open_reviews, features.notify_new_conflicts)
    features.issue_answers = lambda *a, **k: {}
    features.open_reviews = lambda *a, **k: None
    features.notify_new_conflicts = lambda *a, **k: None
    try:
        yield
    finally:
        features.issue_answers, features.open_reviews, features.notify_new_conflicts = saved


def main() -> None:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    rules = load_rule_set("shanghai")
    with throwaway_database("bench-answer-") as url:
        dataset = generate_sample(scale="district")
        load_dataset(url, dataset)
        engine = make_engine(url)
        ctx = WriteContext(actor=Actor.cli(), rule_set=rules)
        with session_factory(engine).begin() as session:
            screen_district(session, ctx)
            # Recipients, so that notifications are really written: the office, the
            # builder, every owner, each with an e-mail address.
            owners = session.execute(text(
                "SELECT DISTINCT owner FROM gas_pipeline WHERE owner IS NOT NULL")).scalars().all()
            people = [("gas_office", None), ("gas_office", None), ("builder", "基准建设")]
            people += [("utility", o) for o in owners]
            for n, (role, org) in enumerate(people):
                create_user(session, f"bench-{n}", "bench-password-1", role, org,
                            email=f"bench-{n}@example.cn")
        with engine.connect() as conn:
            lines = conn.execute(text(
                "SELECT ST_X(ST_PointN(g.geom, 1)), ST_Y(ST_PointN(g.geom, 1)) "
                "FROM (SELECT (ST_Dump(geom)).geom FROM gas_pipeline WHERE pressure_class "
                "LIKE 'high%' OR pressure_class LIKE 'medium%' ORDER BY id LIMIT :n) g"),
                {"n": runs * 2}).all()
        counter = iter(range(1_000_000))

        def feature():
            lon, lat = lines[next(counter) % len(lines)]
            ring = [[lon - 1e-4, lat - 1e-4], [lon + 2e-4, lat - 1e-4], [lon + 2e-4, lat + 2e-4],
                    [lon - 1e-4, lat + 2e-4], [lon - 1e-4, lat - 1e-4]]
            return {"type": "Feature", "properties": {"id": f"BENCH-{next(counter)}", "name": "基准",
                                                      "kind": "housing", "status": "planned",
                                                      "organisation": "基准建设"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]}}

        created = []
        mailing = WriteContext(actor=Actor.cli(), rule_set=rules, channels=Channels(smtp=True))

        def create():
            with session_factory(engine).begin() as session:
                created.append(create_feature(session, "projects", feature(), mailing)["id"])

        def create_before():
            with _procedure_off(), session_factory(engine).begin() as session:
                create_feature(session, "projects", feature(), mailing)

        with_ms, without_ms = [], []
        for _ in range(runs):  # alternated, so both see the same growing tables
            without_ms.append(_median_ms(create_before, 1))
            with_ms.append(_median_ms(create, 1))
        create_ms, before_ms = statistics.median(with_ms), statistics.median(without_ms)
        pid = created[-1]
        with engine.connect() as conn:
            conflicts_each = conn.execute(text(
                "SELECT avg(n) FROM (SELECT count(c.id) AS n FROM construction_project p "
                "LEFT JOIN pipeline_conflict c ON c.project_id = p.id WHERE p.id = ANY(:ids) "
                "GROUP BY p.id) x"), {"ids": created}).scalar()

        def reissue():
            with session_factory(engine).begin() as session:
                issue_answers(session, [pid], "change", rules, valid_days=30)

        issue_ms = _median_ms(reissue, runs)
        with session_factory(engine).begin() as session:
            answer = current_answer(session, pid)
        png_ms = _median_ms(lambda: render_png(answer_scene(answer), (7.4, 4.1), dpi=150), runs)
        html_ms = _median_ms(lambda: render_html(answer), runs)
        pdf_ms = _median_ms(lambda: render_pdf(answer), runs)
        engine.dispose()
    conflicts = len(answer["conflicts"])
    out = "\n".join([
        f"Answer letters, district sample, Shanghai rules, median of {runs} runs "
        f"(letter drawn: {conflicts} conflicts, {len(answer['pipelines'])} pipelines)",
        "| measure | median | ratio |",
        "|---|---|---|",
        f"| baseline: create a project as before #14 (screen, alerts, permits) | {before_ms:.1f} ms "
        "| 1.00x |",
        f"| create a project with answer, owner reviews, notifications "
        f"({float(conflicts_each):.1f} new conflicts each) | {create_ms:.1f} ms "
        f"| {create_ms / before_ms:.2f}x |",
        f"| issue one more answer alone (supersede + insert with snapshot) | {issue_ms:.1f} ms | "
        f"{issue_ms / create_ms:.2f}x the creation |",
        f"| baseline: the map extract alone as PNG (matplotlib) | {png_ms:.0f} ms | 1.00x |",
        f"| answer HTML (inline SVG) | {html_ms:.0f} ms | {html_ms / png_ms:.2f}x the map |",
        f"| answer PDF (A4, embedded font, map) | {pdf_ms:.0f} ms | {pdf_ms / png_ms:.2f}x the map |",
        f"target: HTML and PDF each under 1,000 ms: {'met' if max(html_ms, pdf_ms) < 1000 else 'NOT met'}",
    ])
    write_result("bench_answer.md", out)


if __name__ == "__main__":
    main()
