"""QGIS itself as the client: ``qgis_process`` (headless) and PyQGIS on a live server.

QGIS reads /ogc through its own OGC API – Features provider (``OAPIF``), with a personal
access token sent as the Basic password (what QGIS 3.22 of Debian 12 can send: it has no
"API Header" method), and the database through its PostGIS provider as the read-only
role that ``gisapp db up --readonly-role`` creates. Each role's feature counts, as QGIS
reads them, are compared with the database. Skipped only where QGIS is not installed
(``GISAPP_WITH_QGIS=1 bash scripts/setup.sh`` installs Debian's ``qgis``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.api.test_ogc_owners import GAS_A, GAS_B, PASSWORD, SEEN_BY, SITES, _world
from tests.servers import live_server

# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which the 3.22 executor
# refuses; the executor itself is qgis_process.bin.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
QGIS_PYTHON = "/usr/bin/python3"
MAP_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "qgis_map.py"
GISAPP = str(Path(sys.executable).with_name("gisapp"))
READER = "gis_reader_qgis"
# The test command installs QGIS (scripts/test.sh); under CI its absence fails each test
# here instead of skipping it quietly. Locally, GISAPP_WITH_QGIS=0 runs without it.
QGIS_REQUIRED = bool(os.environ.get("CI")) and os.environ.get("GISAPP_WITH_QGIS") != "0"
pytestmark = [
    pytest.mark.postgis,
    pytest.mark.skipif(QGIS_PROCESS is None and not QGIS_REQUIRED,
                       reason="QGIS 未安装（GISAPP_WITH_QGIS=1 bash scripts/setup.sh 安装）"),
]


@pytest.fixture(autouse=True)
def _qgis_installed() -> None:
    if QGIS_PROCESS is None:
        pytest.fail("QGIS 未安装：scripts/test.sh 应已安装 qgis（GISAPP_WITH_QGIS=1）", pytrace=False)


def _env(tmp_path: Path) -> dict:
    """Headless QGIS with a throwaway profile; no PG* variables leak into its connections."""
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "VIRTUAL_ENV", "PYTHON"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"), XDG_RUNTIME_DIR=str(runtime))
    return env


@pytest.fixture()
def qgis_world(database_url, clean_db, tmp_path):
    """A live server on the two utilities' world, personal tokens, and the read-only role."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _world(clean_db)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    made = subprocess.run([GISAPP, "db", "up", "--readonly-role", READER], env=env, capture_output=True,
                          text=True, timeout=180, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    reader_url = made.stdout.strip().splitlines()[-1].split("：", 1)[1]
    try:
        with live_server(app) as base:
            tokens = {}
            for name in ("office", "gas-a", "gas-b"):
                login = httpx.post(f"{base}/api/auth/token", data={"username": name, "password": PASSWORD})
                made_token = httpx.post(f"{base}/api/auth/personal-tokens", json={"name": "QGIS"},
                                        headers={"Authorization": f"Bearer {login.json()['access_token']}"})
                assert made_token.status_code == 201, made_token.text
                tokens[name] = made_token.json()["token"]
            yield {"base": base, "engine": clean_db, "tokens": tokens, "reader": reader_url,
                   "env": _env(tmp_path), "tmp": tmp_path}
    finally:
        with clean_db.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {READER}; DROP ROLE {READER}"))


def _oapif(base: str, collection: str, user: str, token: str) -> str:
    """The layer source QGIS writes for an OGC API – Features layer with Basic credentials."""
    return (f"OAPIF://url='{base}/ogc' typename='{collection}' username='{user}' password='{token}'")


def _postgres(url: str, table: str, geometry: str | None = "geom") -> str:
    from urllib.parse import urlparse

    p = urlparse(url)
    source = (f"dbname='{p.path.lstrip('/')}' host={p.hostname} port={p.port} user='{p.username}' "
              f"password='{p.password}' sslmode=disable key='id' table=\"public\".\"{table}\"")
    return "postgres://" + source + (f" ({geometry})" if geometry else "")


def _qgis_copy(world, source: str, name: str) -> subprocess.CompletedProcess:
    """Run a processing algorithm on the layer as QGIS loads it; the copy is GeoJSON."""
    out = world["tmp"] / f"{name}.geojson"
    return subprocess.run(
        [QGIS_PROCESS, "--json", "run", "native:reprojectlayer", f"--INPUT={source}",
         "--TARGET_CRS=EPSG:4549", f"--OUTPUT={out}"],
        capture_output=True, text=True, timeout=300, env=world["env"], cwd=world["tmp"],
        stdin=subprocess.DEVNULL)


def _copied(world, source: str, name: str) -> list[dict]:
    done = _qgis_copy(world, source, name)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    return json.loads((world["tmp"] / f"{name}.geojson").read_text())["features"]


def _codes(engine, sql: str, **params) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(sql), params).scalars())


def test_qgis_process_reads_each_roles_collections(qgis_world):
    world = qgis_world
    engine, base, tokens = world["engine"], world["base"], world["tokens"]
    everything = _codes(engine, "SELECT external_code FROM gas_pipeline WHERE deleted_at IS NULL")
    for user, owner in (("office", None), ("gas-a", GAS_A), ("gas-b", GAS_B)):
        pipes = _copied(world, _oapif(base, "pipelines", user, tokens[user]), f"pipes-{user}")
        own = everything if owner is None else _codes(
            engine, "SELECT external_code FROM gas_pipeline WHERE owner = :o", o=owner)
        assert {f["properties"]["external_code"] for f in pipes} == own and len(pipes) == len(own)
        projects = _copied(world, _oapif(base, "projects", user, tokens[user]), f"projects-{user}")
        assert {f["properties"]["registration_code"] for f in projects} == (
            set(SITES) if owner is None else SEEN_BY[owner])
        bands = _copied(world, _oapif(base, "protection_bands", user, tokens[user]), f"bands-{user}")
        assert {f["properties"]["external_code"] for f in bands} == own
        # Reprojected by QGIS to CGCS2000 / 3-degree Gauss-Krüger CM 120E: metres near 121.4E.
        east, north = bands[0]["geometry"]["coordinates"][0][0][0]
        assert 600_000 < east < 700_000 and 3_490_000 < north < 3_530_000
    # A wrong token is refused to QGIS as well: the algorithm cannot load the layer.
    refused = _qgis_copy(world, _oapif(base, "pipelines", "gas-a", tokens["gas-b"]), "refused")
    assert refused.returncode != 0


def test_qgis_process_reads_the_readonly_role(qgis_world):
    world = qgis_world
    engine = world["engine"]
    pipes = _copied(world, _postgres(world["reader"], "gas_pipeline"), "db-pipes")
    assert {f["properties"]["external_code"] for f in pipes} == _codes(
        engine, "SELECT external_code FROM gas_pipeline")
    projects = _copied(world, _postgres(world["reader"], "construction_project"), "db-projects")
    assert {f["properties"]["registration_code"] for f in projects} == set(SITES)
    # Users and tokens are not the reader's: QGIS cannot open them.
    for table in ("app_user", "personal_access_token"):
        refused = _qgis_copy(world, _postgres(world["reader"], table, None), f"db-{table}")
        assert refused.returncode != 0, table


def test_pyqgis_map_of_a_utilitys_layers(qgis_world):
    """The README's QGIS screenshot, made the same way: scripts/qgis_map.py."""
    world = qgis_world
    engine = world["engine"]
    out = world["tmp"] / "qgis.png"
    done = subprocess.run(
        [QGIS_PYTHON, str(MAP_SCRIPT), "--ogc", f"{world['base']}/ogc", "--user", "gas-a",
         "--token", world["tokens"]["gas-a"], "--postgres", world["reader"], "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=world["env"], cwd=world["tmp"],
        stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    own = len(_codes(engine, "SELECT external_code FROM gas_pipeline WHERE owner = :o", o=GAS_A))
    with engine.connect() as conn:
        open_conflicts = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL AND g.owner = :o"), {"o": GAS_A}).scalar_one()
        all_pipes = conn.execute(text("SELECT count(*) FROM gas_pipeline")).scalar_one()
    assert report == {"errors": {}, "counts": {
        "ogc:control_bands": own, "ogc:protection_bands": own, "ogc:projects": len(SEEN_BY[GAS_A]),
        "ogc:pipelines": own, "ogc:conflicts": open_conflicts,
        "postgres:township": 2, "postgres:gas_pipeline": all_pipes}}
    from PIL import Image

    with Image.open(out) as image:
        assert image.width > 1000 and image.height > 600
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # a drawn map, not a blank page
