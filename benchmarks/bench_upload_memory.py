"""Server memory of big uploads: a builder's 1M-vertex site, a 100 MB file over the vertex limit.

    python benchmarks/bench_upload_memory.py [--gisapp PATH/TO/gisapp]

Each case runs against a fresh ``gisapp serve`` process (one worker) on a throwaway
PostGIS, so the kernel's peak resident size (``VmHWM``) belongs to that case alone.
Reported: resident size before, peak during, resident after, the answer's status and
its first words. ``--gisapp`` points at another checkout's executable to measure the
code before a change in the same run (the baseline). No assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from alembic import command

from gisapp.localdb import free_port
from layers.db import make_engine, session_factory
from layers.migrate import alembic_config
from layers.services.users import create_user

sys.path.insert(0, str(Path(__file__).parent))
from common import GISAPP, throwaway_database, write_result  # noqa: E402

PASSWORD = "bench-password-123"


def _vm(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            name, value = line.split(":")
            out[name] = int(value.split()[0]) // 1024  # MiB
    return out


def _site_file(path: Path, vertices: int, features: int = 1, decimals: int = 8) -> int:
    """Write a GeoJSON of ``features`` circles of ``vertices`` each; return its size."""
    import math

    with path.open("w") as out:
        out.write('{"type":"FeatureCollection","features":[')
        for f in range(features):
            lon0, lat0 = 121.40 + (f % 50) * 0.002, 31.60 + (f // 50) * 0.002
            ring = [(lon0 + 0.0005 * math.cos(2 * math.pi * i / vertices),
                     lat0 + 0.0005 * math.sin(2 * math.pi * i / vertices)) for i in range(vertices)]
            ring.append(ring[0])
            coords = ",".join(f"[{x:.{decimals}f},{y:.{decimals}f}]" for x, y in ring)
            out.write(("," if f else "") + json.dumps({"type": "Feature", "properties": {
                "id": f"MEM-{f}", "name": "内存测试", "kind": "housing", "status": "planned"},
                "geometry": {"type": "Polygon", "coordinates": []}})[:-4] + f"[[{coords}]]}}}}")
        out.write("]}")
    return path.stat().st_size


def _case(gisapp: str, url: str, user: str, kind: str, path: Path) -> dict:
    port = free_port()
    proc = subprocess.Popen([gisapp, "serve", "--port", str(port)], env=dict(os.environ, DATABASE_URL=url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{gisapp} serve exited with {proc.returncode}")
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = httpx.post(f"{base}/api/auth/token", data={"username": user, "password": PASSWORD},
                           timeout=60).json()["access_token"]
        time.sleep(1)
        before = _vm(proc.pid)["VmRSS"]
        started = time.perf_counter()
        with path.open("rb") as fh:
            r = httpx.post(f"{base}/api/{kind}/import", headers={"Authorization": f"Bearer {token}"},
                           files={"file": (path.name, fh, "application/geo+json")}, timeout=600)
        seconds = time.perf_counter() - started
        time.sleep(1)
        vm = _vm(proc.pid)
        return {"status": r.status_code, "detail": str(r.json().get("detail", r.json()))[:60],
                "before": before, "peak": vm["VmHWM"], "after": vm["VmRSS"], "seconds": seconds}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    """Measure the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gisapp", action="append", default=None,
                        help="gisapp executable(s) to measure (default: this checkout's)")
    parser.add_argument("--baseline-revision", default="0005",
                        help="schema revision of the other checkouts (default 0005)")
    args = parser.parse_args()
    executables = args.gisapp or [GISAPP]
    tmp = Path(tempfile.mkdtemp(prefix="gisapp-upload-mem-"))
    one_site = tmp / "builder-1m-vertices.geojson"
    big_office = tmp / "office-100mb.geojson"
    sizes = {one_site: _site_file(one_site, 1_000_000),
             # 5.3 million vertices in 100 MB (4 decimals: the rings repeat points, so the
             # file is refused either way, by the vertex limit or by the validation).
             big_office: _site_file(big_office, 20_000, features=265, decimals=4)}
    rows = []
    for gisapp in executables:
        with throwaway_database("gisapp-bench-mem-") as url:
            engine = make_engine(url)
            if gisapp != GISAPP:  # another checkout: its schema is the one before ours
                with engine.begin() as conn:
                    command.downgrade(alembic_config(connection=conn), args.baseline_revision)
            with session_factory(engine).begin() as session:
                create_user(session, "mem-builder", PASSWORD, "builder", "压测建设公司")
                create_user(session, "mem-office", PASSWORD, "gas_office")
            engine.dispose()
            for user, path in (("mem-builder", one_site), ("mem-office", big_office)):
                c = _case(gisapp, url, user, "projects", path)
                rows.append(f"| {gisapp} | {user} {path.name} ({sizes[path] / 1e6:,.0f} MB) | "
                            f"{c['status']} {c['detail']} | {c['before']} | {c['peak']} | "
                            f"{c['after']} | {c['seconds']:.1f} s |")
    head = ("| server | upload | answer | RSS before (MiB) | peak (MiB) | RSS after (MiB) | time |\n"
            "|---|---|---|---|---|---|---|")
    write_result("bench_upload_memory.md", head + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
