"""What the benchmarks share: a throwaway PostGIS with a sample loaded, and a real server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import text

from gisapp.localdb import LocalCluster, free_port
from layers.db import make_engine, session_factory
from layers.importer import import_layer, load_townships
from layers.migrate import upgrade
from layers.services.overview import refresh_overview

GISAPP = str(Path(sys.executable).with_name("gisapp"))
RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """Yield the URL of a migrated database in a new cluster, destroyed afterwards."""
    base_dir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base_dir, 0o755)  # the server may run as another OS user
    cluster = LocalCluster(base_dir / "cluster", port=free_port())
    try:
        url = cluster.start().url()
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade(connection=conn)
        engine.dispose()
        yield url
    finally:
        cluster.destroy()


def load_dataset(url: str, dataset, *, extra=None) -> None:
    """Import a generated sample (townships, pipelines, projects) in one transaction.

    ``extra(session)`` runs in the same transaction (users, screening ...).
    """
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        load_townships(session, dataset.townships, source="benchmark")
        for kind in ("pipelines", "projects"):
            frame = getattr(dataset, kind).copy()
            frame.index = range(1, len(frame) + 1)
            import_layer(session, kind, frame, source_name=f"{dataset.scale}-{kind}",
                         source_sha256="0" * 64, source_crs="EPSG:4490")
        if extra is not None:
            extra(session)
        refresh_overview(session)  # the low-zoom merged mains, as an import through the API
    # VACUUM too: autovacuum would otherwise visit the freshly loaded tables during the
    # measurements (the load average stayed at 2-4 through a map benchmark on 2 cores).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()


@contextlib.contextmanager
def running_server(url: str, *args: str, pids: list[int] | None = None,
                   env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``gisapp serve`` on a free loopback port; yield its base URL once it answers.

    ``pids`` (a list) receives the server process's id, for memory readings;
    ``env_extra``: settings for this server (``GISAPP_...``).
    """
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, **(env_extra or {}))
    server = subprocess.Popen([GISAPP, "serve", "--port", str(port), *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if pids is not None:
        pids.append(server.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def write_result(name: str, text_out: str) -> None:
    """Print a result table and keep it in benchmarks/results/."""
    print(text_out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(text_out + "\n", encoding="utf-8")
