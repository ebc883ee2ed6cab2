"""POST /api/projects under load, with the city-size sample loaded and screened.

    python benchmarks/bench_api.py [--clients 20] [--duration 20] [--workers 2]

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites) and its full
screen (about 18,000 stored conflicts); ``gisapp serve --workers N`` runs as a real
server on loopback. The load comes from wrk (Debian package ``wrk``, a C client that
leaves the two cores to the server): C connections each create projects back to back
for the given time, a fifth of them on a pipeline, so screening finds conflicts and
raises alerts. Reports p50/p90/p99 latency of POST /api/projects (screening included)
and throughput, against a baseline measured in the same run: GET /api/auth/me, the
cheapest authenticated request, under the same load. No assertion.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.sample import generate_sample
from layers.services.features import WriteContext, screen_district
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

CREATE_LUA = """
local counter = 0
function setup(thread)
  thread:set("tid", THREADS)
  THREADS = THREADS + 1
end
function init(args)
  token = args[1]
end
function request()
  counter = counter + 1
  local p = pts[((counter * 7 + tid * 131) % #pts) + 1]
  local lon, lat, s = p[1] - 0.0002, p[2] - 0.0002, 0.0004
  local body = string.format('{"type":"Feature","properties":{"id":"BENCH-%d-%d","name":"压测项目",'
    .. '"kind":"housing","status":"planned"},"geometry":{"type":"Polygon","coordinates":'
    .. '[[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]]}}',
    tid, counter, lon, lat, lon + s, lat, lon + s, lat + s, lon, lat + s, lon, lat)
  return wrk.format("POST", "/api/projects",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""
ME_LUA = """
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
"""


def load(url: str, seed: int) -> list[tuple[float, float]]:
    """Load and screen the city sample; return site origins, a fifth of them on pipelines."""
    ds = generate_sample(seed=seed, scale="city")

    def users_and_screen(session):
        create_user(session, "bench", "bench-password-1", "gas_office")
        screen_district(session, WriteContext(actor=None, rule_set=load_rule_set("shanghai")))

    load_dataset(url, ds, extra=users_and_screen)
    near = [g.interpolate(0.5, normalized=True).coords[0] for g in ds.pipelines.geometry[:5000:5]]
    away = [g.representative_point().coords[0] for g in ds.projects.geometry[:4000]]
    return [near[n // 5] if n % 5 == 0 else away[n] for n in range(4000)]


def lua_script(folder: Path, points) -> Path:
    """Write the wrk script that creates projects at ``points``."""
    table = ",".join(f"{{{lon:.7f},{lat:.7f}}}" for lon, lat in points)
    path = folder / "create.lua"
    path.write_text(f"THREADS = 1\npts = {{{table}}}\n{CREATE_LUA}", encoding="utf-8")
    return path


def run_wrk(base: str, path: str, script: Path, token: str, args) -> dict:
    """Run wrk; return latency percentiles (ms), requests per second and errors."""
    cmd = ["wrk", f"-t{min(args.clients, 2)}", f"-c{args.clients}", f"-d{args.duration}s",
           "--latency", "-s", str(script), f"{base}{path}", "--", token]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = {"raw": out}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
        result[f"p{pct}"] = float(match[1]) * scale
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    result["requests"] = int(re.search(r"(\d+) requests in", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(non2xx[1]) if non2xx else 0, socket[1] if socket else "")
    return result


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("需要 wrk 作为压测客户端：apt-get install wrk")
    with throwaway_database("gisapp-bench-api-") as url, tempfile.TemporaryDirectory() as tmp:
        points = load(url, args.seed)
        script = lua_script(Path(tmp), points)
        me_script = Path(tmp) / "me.lua"
        me_script.write_text(ME_LUA, encoding="utf-8")
        with running_server(url, "--workers", str(args.workers)) as base:
            token = httpx.post(f"{base}/api/auth/token", data={
                "username": "bench", "password": "bench-password-1"}).json()["access_token"]
            me = run_wrk(base, "/api/auth/me", me_script, token, args)
            create = run_wrk(base, "", script, token, args)
        report(url, args, me, create)


def report(url: str, args, me: dict, create: dict) -> None:
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
        return (f"| {name} | {r['requests']} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | "
                f"{r['rps']:.0f} | {r['errors'][0]}{' ' + r['errors'][1] if r['errors'][1] else ''} |")

    lines = [
        f"wrk: {args.clients} connections, {args.duration} s each; server workers {args.workers}; "
        "city sample loaded and screened",
        "| request | n | p50 ms | p90 ms | p99 ms | per s | errors |",
        "|---|---|---|---|---|---|---|",
        row("GET /api/auth/me (baseline)", me),
        row("POST /api/projects (screened)", create),
        f"projects created {created}, of which with conflicts {with_conflicts}; alerts raised "
        f"{alerts}; throughput POST/baseline {create['rps'] / me['rps']:.2f}",
    ]
    write_result("api.md", "\n".join(lines))


if __name__ == "__main__":
    main()
