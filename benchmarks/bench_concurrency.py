"""Crowds of 20, 100, 500 and 1,000 concurrent clients: reads, writes and SSE streams.

    python benchmarks/bench_concurrency.py [--levels 20,100,500,1000] [--duration 10] [--workers 1]

A throwaway PostGIS gets the district sample; ``gisapp serve`` runs as a real server on
loopback (one worker by default, as in issue 12). For each level, that many asyncio
clients (one connection each, loopback only, every request with a 30 s timeout) run
for ``--duration`` seconds:

- reads: ``GET /api/projects?limit=20`` as a builder, back to back;
- writes: ``POST /api/projects``, each on its own small site, as the gas office;
- sse: each client opens ``/api/alerts/stream`` (20 gas office users, round robin)
  and holds it; meanwhile a probe sends ``GET /api/auth/me`` every 50 ms.

Recorded per row: answers per second (2xx), p50/p99 latency of every answer, the
quick refusals (503 with Retry-After, 429 for SSE beyond a user's cap) and the errors
(any other 5xx, timeouts, connection failures: the issue's stall shows up here). The
baseline of the same run: ``GET /api/auth/me`` with 20 clients. No assertion.

The clients run on the same two cores as the server, so at 500-1,000 clients the
client side takes a good share of the CPU: compare rows of one run, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from layers.sample import generate_sample
from layers.services.users import create_user

sys.path.insert(0, str(Path(__file__).parent))
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

PASSWORD = "bench-password-123"
SSE_USERS = 20
CODES = itertools.count(1)


@dataclass
class Tally:
    """Outcomes of one row."""

    latencies: list[float] = field(default_factory=list)
    refusal_latencies: list[float] = field(default_factory=list)
    ok: int = 0
    busy: int = 0  # 503 with Retry-After, 429 (answered at once, by design)
    errors: int = 0  # other 5xx, timeouts, connection failures
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, started: float, response: httpx.Response | None) -> None:
        self.latencies.append(time.perf_counter() - started)
        if response is None:
            self.errors += 1
            return
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code < 300:
            self.ok += 1
        elif response.status_code in (429, 503) and response.headers.get("Retry-After"):
            self.busy += 1
            self.refusal_latencies.append(self.latencies[-1])
        else:
            self.errors += 1


async def _loop(client: httpx.AsyncClient, tally: Tally, deadline: float, make) -> None:
    while time.perf_counter() < deadline:
        method, path, kwargs = make()
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError:
            response = None
        tally.add(started, response)
        if response is not None and response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


def _site(lon0: float, lat0: float) -> dict:
    lon, lat = lon0 + random.uniform(-0.03, 0.03), lat0 + random.uniform(-0.02, 0.02)
    s = 0.0003
    ring = [[lon, lat], [lon + s, lat], [lon + s, lat + s], [lon, lat + s], [lon, lat]]
    return {"type": "Feature", "properties": {"id": f"BC-{next(CODES)}", "name": "并发压测",
                                              "kind": "housing", "status": "planned"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


async def _requests(base: str, clients: int, duration: float, make) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(_loop(client, tally, deadline, make) for _ in range(clients)))
    return tally


async def _streams(base: str, clients: int, duration: float, tokens: list[dict]) -> tuple[Tally, Tally]:
    """Open ``clients`` streams at once and hold them; probe /api/auth/me meanwhile."""
    opened, probe = Tally(), Tally()
    limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + duration

        async def hold(i: int) -> None:
            started = time.perf_counter()
            try:
                request = client.build_request("GET", "/api/alerts/stream", headers=tokens[i % len(tokens)])
                response = await client.send(request, stream=True)
            except httpx.HTTPError:
                opened.add(started, None)
                return
            opened.add(started, response)
            try:
                if response.status_code == 200:
                    await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
            finally:
                await response.aclose()

        async def probing() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get("/api/auth/me", headers=tokens[0])
                except httpx.HTTPError:
                    response = None
                probe.add(started, response)
                await asyncio.sleep(0.05)

        await asyncio.gather(probing(), *(hold(i) for i in range(clients)))
    return opened, probe


def _row(name: str, clients: int, tally: Tally, duration: float) -> str:
    lat = np.array(tally.latencies or [0.0]) * 1000
    refused = np.array(tally.refusal_latencies or [0.0]) * 1000
    return (f"| {name} | {clients} | {tally.ok / duration:,.0f}/s | {np.percentile(lat, 50):,.1f} ms "
            f"| {np.percentile(lat, 99):,.1f} ms | {tally.busy} | {np.percentile(refused, 50):,.1f} ms "
            f"| {tally.errors} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(tally.statuses.items()))} |")


def _token(base: str, name: str) -> dict:
    r = httpx.post(f"{base}/api/auth/token", data={"username": name, "password": PASSWORD}, timeout=60)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def main() -> None:
    """Run the rows and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="20,100,500,1000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    dataset = generate_sample(seed=7, scale="district")

    def users(session) -> None:
        create_user(session, "bench-builder", PASSWORD, "builder", "压测建设公司")
        create_user(session, "bench-office", PASSWORD, "gas_office")
        for i in range(SSE_USERS):
            create_user(session, f"bench-sse-{i}", PASSWORD, "gas_office")

    with throwaway_database("gisapp-bench-conc-") as url:
        load_dataset(url, dataset, extra=users)
        with running_server(url, "--workers", str(args.workers)) as base:
            builder, office = _token(base, "bench-builder"), _token(base, "bench-office")
            sse_tokens = [_token(base, f"bench-sse-{i}") for i in range(SSE_USERS)]
            lon0, lat0 = 121.45, 31.62
            rows = []
            baseline = asyncio.run(_requests(base, 20, args.duration,
                                             lambda: ("GET", "/api/auth/me", {"headers": builder})))
            rows.append(_row("baseline GET /api/auth/me", 20, baseline, args.duration))
            for n in levels:
                reads = asyncio.run(_requests(base, n, args.duration, lambda: (
                    "GET", "/api/projects", {"params": {"limit": 20}, "headers": builder})))
                rows.append(_row("reads GET /api/projects", n, reads, args.duration))
                writes = asyncio.run(_requests(base, n, args.duration, lambda: (
                    "POST", "/api/projects", {"json": _site(lon0, lat0), "headers": office})))
                rows.append(_row("writes POST /api/projects", n, writes, args.duration))
                opened, probe = asyncio.run(_streams(base, n, args.duration, sse_tokens))
                rows.append(_row("sse open /api/alerts/stream", n, opened, args.duration))
                rows.append(_row("  probe GET /api/auth/me during sse", n, probe, args.duration))
    head = (f"workers={args.workers}, duration={args.duration:g} s per row, loopback\n\n"
            "| load | clients | 2xx per second | p50 | p99 | refused (503/429 + Retry-After) "
            "| refusal p50 | errors (5xx, timeouts) | statuses |\n|---|---|---|---|---|---|---|---|---|")
    write_result("bench_concurrency.md", head + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
