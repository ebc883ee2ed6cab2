"""``gisapp screen`` and ``gisapp import`` with a CAD site plan and a Google Earth file."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import ezdxf
import pytest

import geopandas as gpd
import shapely
from pyproj import Transformer

from layers.io import write_layer
from layers.sample import generate_sample

GISAPP = str(Path(sys.executable).with_name("gisapp"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("plans")
    return generate_sample(seed=11).write(out, fmt="geojson")


def _run(*args, cwd, env=None):
    return subprocess.run([GISAPP, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env or dict(os.environ), stdin=subprocess.DEVNULL)


def _pairs(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return sorted((r["site_id"], r["pipeline_id"], r["zone"]) for r in csv.DictReader(fh))


def _site_plan(sites: gpd.GeoDataFrame, path: Path) -> Path:
    """The sites as a CAD drawing in EPSG:4549: outlines on 红线, their codes as texts on 编号."""
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    doc = ezdxf.new()
    msp = doc.modelspace()
    for code, geom in zip(sites["id"], sites.geometry, strict=True):
        polygon = shapely.get_parts(geom)[0]
        ring = [to_gk.transform(x, y) for x, y in polygon.exterior.coords[:-1]]
        msp.add_lwpolyline(ring, close=True, dxfattribs={"layer": "红线"})
        inside = shapely.Polygon(ring).representative_point()
        msp.add_text(code, dxfattribs={"layer": "编号", "insert": (inside.x, inside.y)})
    msp.add_text("图例", dxfattribs={"layer": "注记", "insert": (0, 0)})
    doc.saveas(path)
    return path


def test_screening_a_dxf_site_plan_gives_the_pairs_of_the_geojson(files, tmp_path):
    sites = gpd.read_file(files["projects"])
    plan = _site_plan(sites, tmp_path / "plan.dxf")
    plain, cad = tmp_path / "plain.csv", tmp_path / "cad.csv"
    done = _run("screen", "--pipelines", files["pipelines"], "--sites", files["projects"], "--out", plain,
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from_cad = _run("screen", "--pipelines", files["pipelines"], "--sites", plan, "--sites-crs", "4549",
                    "--code-from", "text:编号", "--cad-layer", "红线", "--out", cad, cwd=tmp_path)
    assert from_cad.returncode == 0, from_cad.stderr
    assert _pairs(cad) == _pairs(plain) and _pairs(plain)
    no_crs = _run("screen", "--pipelines", files["pipelines"], "--sites", plan, "--code-from", "text:编号",
                  "--out", cad, cwd=tmp_path)
    assert no_crs.returncode == 2 and "--crs" in no_crs.stderr and "Traceback" not in no_crs.stderr


@pytest.mark.postgis
def test_import_kmz_and_export_kml_and_shapefile(files, database_url, clean_db, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    projects = gpd.read_file(files["projects"]).head(5)
    from layers.io import read_layer

    kml = write_layer(read_layer(files["projects"], "projects").frame.head(5), tmp_path / "p.kml")
    done = _run("import", "projects", kml, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "已导入施工项目 5 条" in done.stdout
    for name, extra in (("out.kml", ["--crs", "gcj02"]), ("out.zip", ["--encoding", "utf-8"])):
        out = _run("export", "projects", tmp_path / name, *extra, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
    back = read_layer(tmp_path / "out.zip", "projects").frame
    assert sorted(back.registration_code) == sorted(projects["id"])
    bad = _run("export", "projects", tmp_path / "x.zip", "--encoding", "big5", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "--encoding" in bad.stderr
