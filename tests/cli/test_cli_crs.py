"""``gisapp crs fit`` saves a local grid from control points; imports read ``--crs local:NAME``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from pyproj import Transformer

GISAPP = str(Path(sys.executable).with_name("gisapp"))
pytestmark = pytest.mark.postgis
TO_GK = Transformer.from_crs(4490, 4549, always_xy=True)
FROM_GK = Transformer.from_crs(4549, 4490, always_xy=True)
# The city grid: rotated 0.8 degrees, scale 1.00002, origin moved, relative to CM 120E.
THETA, SCALE, E0, N0 = math.radians(0.8), 1.00002, 610_000.0, 3_490_000.0


def _gk_to_local(e, n):
    de, dn = e - E0, n - N0
    c, s = math.cos(-THETA) / SCALE, math.sin(-THETA) / SCALE
    return c * de - s * dn, s * de + c * dn


def _cli(args, database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    return subprocess.run([GISAPP, *args], env=env, capture_output=True, text=True, timeout=180,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


def _control_file(path, lonlats, *, typo_m=0.0):
    rows = ["point,local_x,local_y,east,north"]
    for k, (lon, lat) in enumerate(lonlats):
        e, n = TO_GK.transform(lon, lat)
        x, y = _gk_to_local(e, n)
        rows.append(f"K{k + 1},{x + (typo_m if k == 2 else 0):.4f},{y:.4f},{e:.4f},{n:.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


CONTROL = [(121.35, 31.60), (121.48, 31.61), (121.47, 31.69), (121.36, 31.70), (121.42, 31.65)]


def test_fit_save_and_import_in_a_local_grid(database_url, clean_db, tmp_path):
    points = _control_file(tmp_path / "control.csv", CONTROL)
    done = _cli(["crs", "fit", "--name", "城建", "--points", str(points)], database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "K1：残差" in done.stdout and "local:城建" in done.stdout
    with clean_db.connect() as conn:
        rms = conn.execute(text("SELECT rms_m FROM local_grid WHERE name = '城建'")).scalar_one()
    assert rms < 0.01

    # A site surveyed in the city grid imports where it really is (to a centimetre).
    ring = [(121.40, 31.62), (121.401, 31.62), (121.401, 31.621), (121.40, 31.62)]
    local = [_gk_to_local(*TO_GK.transform(lon, lat)) for lon, lat in ring]
    site = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "id": "LG-1", "name": "城建坐标项目", "kind": "housing", "status": "planned"},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in local]]}}]}
    (tmp_path / "site.geojson").write_text(json.dumps(site), encoding="utf-8")
    imported = _cli(["import", "projects", str(tmp_path / "site.geojson"), "--crs", "local:城建"],
                    database_url, tmp_path)
    assert imported.returncode == 0, imported.stderr
    with clean_db.connect() as conn:
        x, y = conn.execute(text(
            "SELECT ST_X(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)), "
            "ST_Y(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)) FROM construction_project")).one()
    e, n = TO_GK.transform(x, y)
    want_e, want_n = TO_GK.transform(*ring[0])
    assert math.hypot(e - want_e, n - want_n) < 0.01

    missing = _cli(["import", "projects", str(tmp_path / "site.geojson"), "--crs", "local:无此网格"],
                   database_url, tmp_path)
    assert missing.returncode == 2 and "无此网格" in missing.stderr and "城建" in missing.stderr


def test_a_poor_fit_is_refused_and_nothing_saved(database_url, clean_db, tmp_path):
    points = _control_file(tmp_path / "control.csv", CONTROL, typo_m=0.9)
    refused = _cli(["crs", "fit", "--name", "坏", "--points", str(points)], database_url, tmp_path)
    assert refused.returncode == 2 and "中误差" in refused.stderr and "K3" in refused.stderr
    too_few = _control_file(tmp_path / "few.csv", CONTROL[:2])
    few = _cli(["crs", "fit", "--name", "少", "--points", str(too_few)], database_url, tmp_path)
    assert few.returncode == 2 and "至少需要 3 对" in few.stderr
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM local_grid")).scalar_one() == 0
