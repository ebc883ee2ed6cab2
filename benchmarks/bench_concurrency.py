"""Crowds of 20, 100, 500 and 1,000 concurrent clients: reads, writes and SSE streams.

    python benchmarks/bench_concurrency.py [--levels 20,100,500,1000] [--duration 10] [--workers 1]
                                           [--compare-clients]

A throwaway PostGIS gets the district sample; ``gisapp serve`` runs as a real server on
loopback (one worker by default, as in issue 12). For each level, that many clients
(one keep-alive connection each, loopback only, every request with a 30 s timeout; a
refused client waits its ``Retry-After``, as a well-behaved client does) run for
``--duration`` seconds:

- reads: ``GET /api/projects?limit=20`` as a builder, back to back;
- writes: ``POST /api/projects``, each on its own small site, as the gas office;
- sse: each client opens ``/api/alerts/stream`` (20 gas office users, round robin)
  and holds it; meanwhile a probe sends ``GET /api/auth/me`` every 50 ms.

The clients are ``raw_client``: asyncio sockets that write a request as bytes and read
the status line and the body back. The previous version used httpx, whose own work per
request grows with its number of connections: at 1,000 clients on these two cores the
client, not the server, was what delayed the refusals by seconds. ``--compare-clients``
runs the largest level's reads once more with httpx and with wrk (a C client that does
not wait its Retry-After) to show that.

Recorded per row: accepted answers (2xx) per second, p50/p99 of the accepted answers,
the refusals (503 or 429 with Retry-After: at once, by design) with their own p50/p99,
the errors (any other status, timeouts, connection failures: the issue's stall shows up
here), and the load average of the machine when the row ended. The baseline of the
same run: ``GET /api/auth/me`` with 20 clients. No assertion.

The clients run on the same two cores as the server, so at 500-1,000 clients the
client side takes a share of the CPU: compare rows of one run, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

from layers.sample import generate_sample
from layers.services.users import create_user

sys.path.insert(0, str(Path(__file__).parent))
import raw_client  # noqa: E402
from common import load_dataset, running_server, throwaway_database, write_result  # noqa: E402

PASSWORD = "bench-password-123"
SSE_USERS = 20
CODES = itertools.count(1)


@dataclass
class Tally:
    """Outcomes of one row measured with httpx (``--compare-clients`` only)."""

    latencies: list[float] = field(default_factory=list)
    refusal_latencies: list[float] = field(default_factory=list)
    ok: int = 0
    busy: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, started: float, response: httpx.Response | None) -> None:
        elapsed = time.perf_counter() - started
        if response is None:
            self.errors += 1
            return
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code < 300:
            self.ok += 1
            self.latencies.append(elapsed)
        elif response.status_code in (429, 503) and response.headers.get("Retry-After"):
            self.busy += 1
            self.refusal_latencies.append(elapsed)
        else:
            self.errors += 1


async def _httpx_loop(client: httpx.AsyncClient, tally: Tally, deadline: float, make) -> None:
    while time.perf_counter() < deadline:
        method, path, headers, body = make()
        started = time.perf_counter()
        try:
            response = await client.request(method, path, headers=headers, content=body or None)
        except httpx.HTTPError:
            response = None
        tally.add(started, response)
        if response is not None and response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def _httpx_crowd(base: str, clients: int, duration: float, make) -> Tally:
    """The previous benchmark's client: one httpx AsyncClient with ``clients`` connections."""
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(_httpx_loop(client, tally, deadline, make) for _ in range(clients)))
    return tally


def _site(lon0: float, lat0: float) -> dict:
    lon, lat = lon0 + random.uniform(-0.03, 0.03), lat0 + random.uniform(-0.02, 0.02)
    s = 0.0003
    ring = [[lon, lat], [lon + s, lat], [lon + s, lat + s], [lon, lat + s], [lon, lat]]
    return {"type": "Feature", "properties": {"id": f"BC-{next(CODES)}", "name": "并发压测",
                                              "kind": "housing", "status": "planned"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


async def _streams(host: str, port: int, clients: int, duration: float,
                   tokens: list[dict]) -> tuple[raw_client.Outcome, raw_client.Outcome]:
    """Open ``clients`` streams at once and hold them; probe /api/auth/me meanwhile."""
    probe_out = raw_client.Outcome()
    deadline = time.perf_counter() + duration

    async def probing() -> None:
        me = ("GET", "/api/auth/me", tokens[0], b"")
        while time.perf_counter() < deadline:
            one = raw_client.Outcome()
            await raw_client.client_loop(host, port, lambda: me, time.perf_counter() + 0.001, one)
            for name in ("accepted", "refused", "errors"):
                getattr(probe_out, name).extend(getattr(one, name))
            for key, n in one.statuses.items():
                probe_out.statuses[key] = probe_out.statuses.get(key, 0) + n
            await asyncio.sleep(0.05)

    opened, _ = await asyncio.gather(
        raw_client.hold_streams(host, port, clients, duration, lambda i: tokens[i % len(tokens)],
                                "/api/alerts/stream"),
        probing())
    return opened, probe_out


def _ms(values: list[float], q: float) -> str:
    return f"{np.percentile(np.array(values) * 1000, q):,.0f} ms" if values else "–"


def _row(name: str, clients: int, out: raw_client.Outcome, duration: float) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(out.statuses.items()))
    load = os.getloadavg()[0]
    return (f"| {name} | {clients} | {len(out.accepted) / duration:,.0f}/s | {_ms(out.accepted, 50)} "
            f"| {_ms(out.accepted, 99)} | {len(out.refused)} | {_ms(out.refused, 50)} "
            f"| {_ms(out.refused, 99)} | {len(out.errors)} | {statuses} | {load:.1f} |")


def _httpx_row(name: str, clients: int, tally: Tally, duration: float) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items()))
    return (f"| {name} | {clients} | {tally.ok / duration:,.0f}/s | {_ms(tally.latencies, 50)} "
            f"| {_ms(tally.latencies, 99)} | {tally.busy} | {_ms(tally.refusal_latencies, 50)} "
            f"| {_ms(tally.refusal_latencies, 99)} | {tally.errors} | {statuses} "
            f"| {os.getloadavg()[0]:.1f} |")


WRK_COUNT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
  end
  for k, v in pairs(counts) do io.write(string.format("status %d: %d\\n", k, v)) end
end
"""


def _wrk(base: str, clients: int, duration: float, path: str, token: dict) -> str:
    """wrk flat out (no Retry-After) on ``path``: its latency percentiles, all answers mixed."""
    if shutil.which("wrk") is None:
        return "wrk not installed (apt-get install wrk)"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_COUNT)
    try:
        run = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{duration:g}s", "--latency",
                              "--timeout", "30s", "-s", script.name,
                              "-H", f"Authorization: {token['Authorization']}", base + path],
                             capture_output=True, text=True, timeout=duration + 120)
    finally:
        os.unlink(script.name)
    return run.stdout.strip()


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
    parser.add_argument("--compare-clients", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    dataset = generate_sample(seed=7, scale="district")

    def users(session) -> None:
        create_user(session, "bench-builder", PASSWORD, "builder", "压测建设公司")
        create_user(session, "bench-office", PASSWORD, "gas_office")
        for i in range(SSE_USERS):
            create_user(session, f"bench-sse-{i}", PASSWORD, "gas_office")

    extra = ""
    with throwaway_database("gisapp-bench-conc-") as url:
        load_dataset(url, dataset, extra=users)
        with running_server(url, "--workers", str(args.workers)) as base:
            parts = urlsplit(base)
            host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
            builder, office = _token(base, "bench-builder"), _token(base, "bench-office")
            sse_tokens = [_token(base, f"bench-sse-{i}") for i in range(SSE_USERS)]
            lon0, lat0 = 121.45, 31.62
            rows = []
            me = ("GET", "/api/auth/me", builder, b"")
            reads = ("GET", "/api/projects?limit=20", builder, b"")

            def crowd(n: int, make) -> raw_client.Outcome:
                return asyncio.run(raw_client.crowd(host, port, n, args.duration, make))

            rows.append(_row("baseline GET /api/auth/me", 20, crowd(20, lambda: me), args.duration))
            for n in levels:
                rows.append(_row("reads GET /api/projects", n, crowd(n, lambda: reads), args.duration))
                rows.append(_row("writes POST /api/projects", n, crowd(n, lambda: raw_client.json_request(
                    "POST", "/api/projects", office, _site(lon0, lat0))), args.duration))
                opened, probe = asyncio.run(_streams(host, port, n, args.duration, sse_tokens))
                rows.append(_row("sse open /api/alerts/stream", n, opened, args.duration))
                rows.append(_row("  probe GET /api/auth/me during sse", n, probe, args.duration))
            if args.compare_clients:
                n = max(levels)
                rows.append(_httpx_row("reads, httpx client (previous benchmark)", n,
                                       asyncio.run(_httpx_crowd(base, n, args.duration, lambda: reads)),
                                       args.duration))
                extra = (f"\n\nwrk, {n} connections flat out (no Retry-After), reads, all answers "
                         f"mixed:\n\n```\n{_wrk(base, n, args.duration, reads[1], builder)}\n```\n"
                         f"load average after: {os.getloadavg()[0]:.1f}")
    head = (f"workers={args.workers}, duration={args.duration:g} s per row, loopback, raw socket clients\n\n"
            "| load | clients | 2xx per second | p50 accepted | p99 accepted "
            "| refused (503/429 + Retry-After) "
            "| p50 refused | p99 refused | errors (other status, timeouts) | statuses | load avg |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    write_result("bench_concurrency.md", head + "\n" + "\n".join(rows) + extra)


if __name__ == "__main__":
    main()
