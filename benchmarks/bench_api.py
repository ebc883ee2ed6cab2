"""POST /api/projects under load, with the city-size sample loaded.

    python benchmarks/bench_api.py [--clients 20] [--requests 30] [--workers 2]

A throwaway PostGIS gets the city sample (300,000 segments, 10,000 sites); ``gisapp
serve --workers N`` runs as a real server on loopback; C client threads each create R
projects (a fifth of them on a pipeline, so screening finds conflicts and raises
alerts). Reports p50/p99 latency of POST /api/projects (screening included) and
throughput, against a baseline measured in the same run: GET /api/auth/me, the
cheapest authenticated request, under the same load. No assertion.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from layers.sample import generate_sample

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

from layers.services.users import create_user

ROOT = Path(__file__).resolve().parents[1]
GISAPP = str(Path(sys.executable).with_name("gisapp"))


def square(lon: float, lat: float, size: float = 0.0004) -> dict:
    """A square site polygon (GeoJSON geometry, lon/lat)."""
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def load(args, url: str) -> tuple[np.ndarray, np.ndarray]:
    """Load the city sample; return candidate site origins near and away from pipes."""
    ds = generate_sample(seed=args.seed, scale="city")
    load_dataset(url, ds, extra=lambda s: create_user(s, "bench", "bench-password-1", "gas_office"))
    near = np.array([g.interpolate(0.5, normalized=True).coords[0] for g in ds.pipelines.geometry[:5000]])
    away = np.array([g.representative_point().coords[0] for g in ds.projects.geometry[:5000]])
    return near, away


def run_clients(base: str, token: str, clients: int, requests: int, make_request):
    """Run the client threads; return (latencies in s, wall time, error count)."""
    latencies: list[float] = []
    errors = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            for i in range(requests):
                method, path, body = make_request(k, i)
                start = time.perf_counter()
                r = c.request(method, path, json=body)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if r.status_code >= 400:
                        errors.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, errors


def describe(name: str, latencies, wall, errors) -> str:
    ms = np.array(latencies) * 1000
    return (
        f"| {name} | {len(ms)} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | "
        f"{len(ms) / wall:.0f} | {len(errors)} |"
    )


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    with throwaway_database("gisapp-bench-api-") as url:
        near, away = load(args, url)
        with running_server(url, "--workers", str(args.workers)) as base:
            measure(args, base, near, away)


def measure(args, base: str, near, away) -> None:
    """Run the baseline and the screened POSTs against a running server."""
    token = httpx.post(
        f"{base}/api/auth/token", data={"username": "bench", "password": "bench-password-1"}
    ).json()["access_token"]

    def create(k: int, i: int):
        n = k * args.requests + i
        lon, lat = near[n % len(near)] if n % 5 == 0 else away[n % len(away)]
        body = {
            "type": "Feature",
            "properties": {
                "id": f"BENCH-{n:06d}",
                "name": f"压测项目{n}",
                "kind": "housing",
                "status": "planned",
            },
            "geometry": square(lon - 0.0002, lat - 0.0002),
        }
        return "POST", "/api/projects", body

    me_lat, me_wall, me_err = run_clients(
        base, token, args.clients, args.requests, lambda k, i: ("GET", "/api/auth/me", None)
    )
    lat, wall, err = run_clients(base, token, args.clients, args.requests, create)
    alerts = httpx.get(
        f"{base}/api/alerts?limit=1000", headers={"Authorization": f"Bearer {token}"}
    ).json()
    lines = [
        f"clients {args.clients}, requests per client {args.requests}, server workers {args.workers}, "
        f"city sample loaded",
        "| request | n | p50 ms | p99 ms | per s | errors |",
        "|---|---|---|---|---|---|",
        describe("GET /api/auth/me (baseline)", me_lat, me_wall, me_err),
        describe("POST /api/projects (screened)", lat, wall, err),
        f"alerts raised: {len(alerts['alerts'])}; p50 ratio POST/baseline "
        f"{statistics.median(lat) / statistics.median(me_lat):.1f}",
    ]
    if err:
        lines.append(f"first error: {err[0]}")
    write_result("api.md", "\n".join(lines))


if __name__ == "__main__":
    main()
