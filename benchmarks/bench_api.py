"""POST /api/projects under load, with the city-size (or Shanghai-size) sample loaded and screened.

    python benchmarks/bench_api.py [--scale city|shanghai] [--builders N] [--clients 20]
                                   [--duration 20] [--rate 200] [--workers 2]

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites; ``--scale
shanghai``: 700,000 and 100,000, served as the whole city) and its full screen (about
18,000 stored conflicts for the city); ``gisapp serve --workers N`` runs as a real
server on loopback. The load comes from wrk (Debian package ``wrk``, a C client that
leaves the two cores to the server): C connections each create projects back to back
for the given time, each on its own site, a fifth of them on a pipeline, so screening
finds conflicts and raises alerts. After a warm-up (new connections, prepared statements, thread pools),
two loads are measured:

- paced: the C clients together send ``--rate`` creations per second (each wrk thread
  spaces its requests evenly; a late answer delays the next send, so an overloaded
  server shows up as a lower rate, not as a hidden queue);
- flat out: each client sends its next request as soon as it has the answer, which
  gives the server's capacity.

The creations come from the one gas office account, or (``--builders N``) from N builder
accounts of N organisations in turns, as builders' registrations arrive.

Reports p50/p90/p99 latency of POST /api/projects (screening included) and throughput,
against a baseline measured in the same run: GET /api/auth/me flat out, the cheapest
authenticated request; every answer counted by status, with the first body of each
refusal, so a run whose creations were refused cannot pass for a fast one. No assertion.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.sample import generate_sample
from layers.services.actors import Actor
from layers.services.features import WriteContext, screen_district
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set

THREADS = 2  # wrk threads (one per core)
PASSWORD = "bench-password-1"
# The sample's scale sets the jurisdiction the server serves: the Shanghai sample served
# as Chongming (the default) answered three creations in four with 422 "outside the district".
JURISDICTION = {"city": "chongming", "shanghai": "shanghai"}
RUNS = itertools.count(1)  # each wrk run's project codes differ from the other runs
SITES = 40_000  # distinct sites; the runs together use fewer
SITES_USED = 0
sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

CREATE_LUA = """
local counter = 0
function setup(thread)
  thread:set("tid", THREADS)
  THREADS = THREADS + 1
  table.insert(threads, thread)
end
function init(args)
  tokens = {}
  for t in string.gmatch(args[1], "[^,]+") do table.insert(tokens, t) end
  run = args[2]
  first = tonumber(args[3])
end
function request()
  counter = counter + 1
  -- the writers take turns (one account, or many builders)
  local token = tokens[(counter + tid) % #tokens + 1]
  -- the two wrk threads take alternate sites, from where the previous run stopped
  local p = pts[((first + (counter - 1) * 2 + tid - 1) % #pts) + 1]
  local lon, lat, s = p[1] - 0.0002, p[2] - 0.0002, 0.0004
  local body = string.format('{"type":"Feature","properties":{"id":"BENCH-%s-%d-%d","name":"压测项目",'
    .. '"kind":"housing","status":"planned"},"geometry":{"type":"Polygon","coordinates":'
    .. '[[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]]}}',
    run, tid, counter, lon, lat, lon + s, lat, lon + s, lat + s, lon, lat + s, lon, lat)
  return wrk.format("POST", "/api/projects",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""
# Paces the requests of one wrk thread: INTERVAL_MS apart (LuaJIT's ffi reads the clock).
PACE_LUA = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } bench_timeval;
           int gettimeofday(bench_timeval *tv, void *tz); ]]
local tv = ffi.new("bench_timeval")
local next_slot = nil
function delay()
  ffi.C.gettimeofday(tv, nil)
  local now = tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
  if next_slot == nil or next_slot < now - 1000 then next_slot = now end
  next_slot = next_slot + INTERVAL_MS
  return math.max(0, next_slot - now)
end
"""
ME_LUA = """
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. string.match(args[1], "[^,]+")
end
"""
# Counts the answers by status, with the first body of each status, over all wrk threads
# (wrk's own summary only says "Non-2xx or 3xx responses"); printed as STATUS lines.
STATUS_LUA = """
threads = {}
statuses = {}
bodies = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if bodies[status] == nil then bodies[status] = string.sub(body, 1, 240) end
end
function done(summary, latency, requests)
  local total, first = {}, {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do total[status] = (total[status] or 0) + n end
    for status, b in pairs(t:get("bodies")) do first[status] = first[status] or b end
  end
  for status, n in pairs(total) do
    io.write(string.format("STATUS %d %d %s\\n", status, n, (first[status]:gsub("\\n", " "))))
  end
end
"""


def load(url: str, seed: int, scale: str = "city", builders: int = 0) -> list[tuple[float, float]]:
    """Load and screen a sample (city by default); return site origins, a fifth of them on pipelines.

    Users: the gas office account ``bench``, and ``builders`` builder accounts
    ``bench-builder-N`` of as many organisations.
    """
    ds = generate_sample(seed=seed, scale=scale)

    def users_and_screen(session):
        create_user(session, "bench", PASSWORD, "gas_office")
        for n in range(1, builders + 1):
            create_user(session, f"bench-builder-{n}", PASSWORD, "builder", organisation=f"压测建设单位{n}")
        screen_district(session, WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai")))

    load_dataset(url, ds, extra=users_and_screen)
    # Measure a settled database, as in daily use, not one whose autovacuum and
    # checkpoint are still busy with the bulk load.
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
        conn.execute(text("CHECKPOINT"))
    engine.dispose()
    return spread_sites(ds, seed)


def spread_sites(ds, seed: int) -> list[tuple[float, float]]:
    """Return SITES distinct site origins (lon, lat) for the creations."""
    # Every creation gets its own site, spread over the whole district as many users'
    # projects would be: a fifth on a pipeline, the others near an existing site.
    # (Reusing a few thousand spots stacked identical footprints in the GiST indexes.)
    rng = np.random.default_rng(seed)
    pipes = ds.pipelines.geometry.to_numpy()[rng.choice(len(ds.pipelines), SITES // 5, replace=False)]
    near = [g.interpolate(0.5, normalized=True).coords[0] for g in pipes]
    sites = ds.projects.geometry.to_numpy()[rng.integers(0, len(ds.projects), SITES)]
    jitter = rng.uniform(-0.003, 0.003, (SITES, 2))  # about 300 m
    away = [(x + dx, y + dy) for (x, y), (dx, dy) in
            zip((g.representative_point().coords[0] for g in sites), jitter, strict=True)]
    return [near[n // 5] if n % 5 == 0 else away[n] for n in range(SITES)]


def lua_script(folder: Path, points, interval_ms: float | None = None) -> Path:
    """Write the wrk script that creates projects at ``points`` (paced when interval_ms)."""
    table = ",".join(f"{{{lon:.7f},{lat:.7f}}}" for lon, lat in points)
    pace = "" if interval_ms is None else f"INTERVAL_MS = {interval_ms}\n{PACE_LUA}"
    path = folder / ("create.lua" if interval_ms is None else "create_paced.lua")
    path.write_text(f"THREADS = 1\npts = {{{table}}}\n{pace}{STATUS_LUA}{CREATE_LUA}", encoding="utf-8")
    return path


def run_wrk(base: str, path: str, script: Path, tokens: list[str], args, seconds: int | None = None) -> dict:
    """Run wrk; return latency percentiles (ms), requests per second and errors."""
    global SITES_USED
    cmd = ["wrk", f"-t{THREADS}", f"-c{args.clients}", f"-d{seconds or args.duration}s",
           "--latency", "-s", str(script), f"{base}{path}", "--", ",".join(tokens), f"r{next(RUNS)}",
           str(SITES_USED)]
    # errors="replace": a body's first 240 bytes may end inside a Chinese character.
    out = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace",
                         check=True).stdout
    result = {"raw": out}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
        result[f"p{pct}"] = float(match[1]) * scale
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    result["requests"] = int(re.search(r"(\d+) requests in", out)[1])
    if not path:  # a creation run: the next one starts at fresh sites
        SITES_USED += result["requests"] + 100  # a margin for requests still in flight at the end
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(non2xx[1]) if non2xx else 0, socket[1] if socket else "")
    result["statuses"] = {int(m[1]): (int(m[2]), m[3]) for m in
                          re.finditer(r"^STATUS (\d+) (\d+) ?(.*)$", out, re.M)}
    return result


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0, help="paced creations per second")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--scale", default="city", choices=sorted(JURISDICTION),
                        help="sample: city (served as Chongming) or shanghai (served as the whole city)")
    parser.add_argument("--builders", type=int, default=0,
                        help="create as N builder accounts of N organisations, in turns "
                             "(default 0: the one gas office account)")
    args = parser.parse_args()
    args.load_before = f"{os.getloadavg()[0]:.1f}"
    if shutil.which("wrk") is None:
        sys.exit("需要 wrk 作为压测客户端：apt-get install wrk")
    # This process (sample load) and the server it starts serve the sample's jurisdiction.
    os.environ["GISAPP_JURISDICTION"] = JURISDICTION[args.scale]
    with throwaway_database("gisapp-bench-api-") as url, tempfile.TemporaryDirectory() as tmp:
        points = load(url, args.seed, args.scale, args.builders)
        script = lua_script(Path(tmp), points)
        paced = lua_script(Path(tmp), points, interval_ms=1000.0 * THREADS / args.rate)
        me_script = Path(tmp) / "me.lua"
        me_script.write_text(STATUS_LUA + ME_LUA, encoding="utf-8")
        with running_server(url, "--workers", str(args.workers)) as base:
            writers = ([f"bench-builder-{n}" for n in range(1, args.builders + 1)]
                       if args.builders else ["bench"])
            tokens = [httpx.post(f"{base}/api/auth/token", data={
                "username": name, "password": PASSWORD}).json()["access_token"] for name in writers]
            run_wrk(base, "", script, tokens, args, seconds=5)  # warm-up, not reported
            me = run_wrk(base, "/api/auth/me", me_script, tokens, args)
            at_rate = run_wrk(base, "", paced, tokens, args)
            flat_out = run_wrk(base, "", script, tokens, args)
        report(url, args, me, at_rate, flat_out)


def report(url: str, args, me: dict, at_rate: dict, flat_out: dict) -> None:
    """Count what the creations stored and write the table."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        created, with_conflicts, alerts = session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pipeline_conflict c "
            "WHERE c.project_id = p.id)), (SELECT count(*) FROM alert a JOIN construction_project q "
            "ON q.id = a.project_id WHERE q.source = 'api') "
            "FROM construction_project p WHERE p.source = 'api'")).one()
    engine.dispose()

    def row(name: str, r: dict) -> str:
        by_status = " ".join(f"{status}×{n}" for status, (n, _) in sorted(r["statuses"].items()))
        return (f"| {name} | {r['requests']} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | "
                f"{r['rps']:.0f} | {by_status} | {r['errors'][1] or '-'} |")

    def refusals(name: str, r: dict) -> list[str]:
        return [f"- {name}: {status} ×{n}: {body}" for status, (n, body) in sorted(r["statuses"].items())
                if status >= 300]

    writers = (f"{args.builders} builder accounts of {args.builders} organisations in turns"
               if args.builders else "one gas office account")
    lines = [
        f"wrk: {args.clients} connections, {args.duration} s per row after a 5 s warm-up; "
        f"server workers {args.workers}; {args.scale} sample loaded and screened, served as "
        f"{JURISDICTION[args.scale]}; creations by {writers}; load average before / after "
        f"{args.load_before} / {os.getloadavg()[0]:.1f}",
        "| request | n | p50 ms | p90 ms | p99 ms | per s | answers by status | socket errors |",
        "|---|---|---|---|---|---|---|---|",
        row("GET /api/auth/me, flat out (baseline)", me),
        row(f"POST /api/projects, paced at {args.rate:g}/s", at_rate),
        row("POST /api/projects, flat out", flat_out),
        f"projects created {created} (warm-up included), of which with conflicts {with_conflicts}; "
        f"alerts raised {alerts}; flat-out throughput POST/baseline {flat_out['rps'] / me['rps']:.2f}",
        *refusals("baseline", me), *refusals("paced", at_rate), *refusals("flat out", flat_out),
    ]
    write_result("api.md", "\n".join(lines))


if __name__ == "__main__":
    main()
