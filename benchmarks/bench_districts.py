"""What row-level security costs: the same reads with the district policies on and off.

    python benchmarks/bench_districts.py [--seed N] [--requests 60] [--repeat 3]

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites, all in
Chongming), its full screen, a city-wide and a Chongming-scoped gas office user; a real
``gisapp serve`` answers. Each measurement runs with the policies on (migration 0013) and,
as the baseline in the same run, with row-level security disabled on the same tables
(``ALTER TABLE ... DISABLE ROW LEVEL SECURITY``: what main did before the districts),
alternating off/on in blocks of a quarter of ``--requests`` so that drift in the shared
machine's load hits both:

- the full PostGIS screen (``screen_db``) under the server's role ``gisapp_app``, city-wide;
- ``GET /api/projects?limit=100``, ``GET /api/conflicts?limit=100``, the workbench project
  list and the pipelines' map data (zoom 14, a 5 km window), each ``--requests`` times
  in a row, p50 and p90, for the city-wide and the district-scoped user.

Reports each figure and the ratio on/off. The city-wide user's transactions act as
``gisapp_city``, which bypasses row-level security: its ratio is the run's noise floor.
No assertion.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.sample import generate_sample
from layers.screening_db import screen_db
from layers.services.actors import Actor
from layers.services.districts import APP_ROLE, RLS_TABLES, see_city_wide
from layers.services.features import WriteContext, screen_district
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

PASSWORD = "bench-password-1"
PATHS = {
    "GET /api/projects?limit=100": "/api/projects?limit=100",
    "GET /api/conflicts?limit=100": "/api/conflicts?limit=100",
    "workbench project list (100)": "/api/workbench/lists/projects?limit=100",
    "map data: pipelines, zoom 14": "/maps/data/pipelines?bbox=121.50,31.60,121.55,31.65&zoom=14",
}


def set_rls(url: str, on: bool) -> None:
    """Enable (as migration 0013 leaves them) or disable row-level security on its tables."""
    engine = make_engine(url)
    verb = "ENABLE" if on else "DISABLE"
    with engine.begin() as conn:
        for table in RLS_TABLES:
            conn.execute(text(f"ALTER TABLE {table} {verb} ROW LEVEL SECURITY"))
    engine.dispose()


def screen_seconds(url: str, rule_set) -> float:
    """One full PostGIS screen (rolled back) under the server's role, city-wide."""
    engine = make_engine(url, act_as=APP_ROLE)
    try:
        with session_factory(engine)() as session:
            see_city_wide(session)
            t0 = time.perf_counter()
            screen_db(session, rule_set)
            elapsed = time.perf_counter() - t0
            session.rollback()
    finally:
        engine.dispose()
    return elapsed


def latencies(client: httpx.Client, path: str, token: str, n: int) -> list[float]:
    """``n`` requests in a row; their latencies in milliseconds (the first two warm up)."""
    out = []
    for _ in range(n + 2):
        t0 = time.perf_counter()
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return out[2:]


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2, help="off/on rounds")
    args = parser.parse_args()
    rule_set = load_rule_set("shanghai")
    rows: list[tuple[str, str]] = []
    with throwaway_database("gisapp-bench-districts-") as url:
        t0 = time.perf_counter()
        ds = generate_sample(seed=args.seed, scale="city")

        def users_and_screen(session):
            create_user(session, "city", PASSWORD, "gas_office")
            create_user(session, "chongming", PASSWORD, "gas_office", district="310151")
            screen_district(session, WriteContext(actor=Actor.cli(), rule_set=rule_set))

        load_dataset(url, ds, extra=users_and_screen)
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            conn.execute(text("CHECKPOINT"))
        engine.dispose()
        rows.append(("city sample loaded and screened", f"{time.perf_counter() - t0:.0f} s"))

        screens: dict[bool, list[float]] = {False: [], True: []}
        lat: dict[tuple[str, str, bool], list[float]] = {}
        with running_server(url, "--workers", "1") as base, httpx.Client(base_url=base, timeout=60) as client:
            tokens = {name: client.post("/api/auth/token", data={
                "username": name, "password": PASSWORD}).json()["access_token"]
                for name in ("city", "chongming")}
            for _ in range(args.repeat):
                for on in (False, True):
                    set_rls(url, on)
                    screens[on].append(screen_seconds(url, rule_set))
                # Off and on alternate in small blocks, per path and user, so that the
                # shared machine's load drifting over a run hits both alike.
                block = max(5, args.requests // 4)
                for label, path in PATHS.items():
                    for user, token in tokens.items():
                        for _ in range(max(1, args.requests // block)):
                            for on in (False, True):
                                set_rls(url, on)
                                lat.setdefault((label, user, on), []).extend(
                                    latencies(client, path, token, block))
    off, on = min(screens[False]), min(screens[True])
    rows.append(("full PostGIS screen, best (RLS off / on)",
                 f"{off:.2f} s / {on:.2f} s, ratio on/off {on / off:.2f}"))
    for label in PATHS:
        for user in ("city", "chongming"):
            a, b = lat[(label, user, False)], lat[(label, user, True)]
            rows.append((f"{label}, {user} user: p50 off / on",
                         f"{p(a, 50):.1f} / {p(b, 50):.1f} ms, ratio {p(b, 50) / p(a, 50):.2f} "
                         f"(p90 {p(a, 90):.1f} / {p(b, 90):.1f} ms)"))
    width = max(len(k) for k, _ in rows)
    out = "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
    write_result("bench_districts.txt", "Row-level security on vs off (same run, same data)\n" + out)


if __name__ == "__main__":
    main()
