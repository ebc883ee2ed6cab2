"""``gisapp screen``: the command-line contract other tools call, end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

import geopandas as gpd

from layers.sample import generate_sample
from spatial_rules.gcj02 import wgs84_to_gcj02

GISAPP = str(Path(sys.executable).with_name("gisapp"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("screen")
    return generate_sample(seed=11).write(out, fmt="geojson")


def _run(*args, cwd, env=None):
    return subprocess.run(
        [GISAPP, "screen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_output_has_the_contract_columns_and_a_summary(files, tmp_path):
    out = tmp_path / "conflicts.csv"
    r = _run("--pipelines", files["pipelines"], "--sites", files["projects"], "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert rows, "the sample puts sites in pipeline ranges"
    for column in ("site_id", "pipeline_id", "zone", "distance_m", "pressure_class", "rule_set"):
        assert column in rows[0]
    assert {row["zone"] for row in rows} <= {"protection", "control"}
    assert all(len(row["distance_m"].split(".")[-1]) <= 2 for row in rows)
    assert all(row["rule_set"].startswith("shanghai@") for row in rows)
    protection = sum(row["zone"] == "protection" for row in rows)
    assert f"安全保护范围：{protection} 处" in r.stdout
    assert f"冲突 {len(rows)} 处" in r.stdout


def test_geojson_and_gpkg_carry_the_site_geometry(files, tmp_path):
    for name in ("c.geojson", "c.gpkg"):
        out = tmp_path / name
        r = _run("--pipelines", files["pipelines"], "--sites", files["projects"], "--out", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        frame = gpd.read_file(out)
        assert len(frame) > 0 and set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
        assert {"site_id", "pipeline_id", "zone", "distance_m"} <= set(frame.columns)
    data = json.loads((tmp_path / "c.geojson").read_text(encoding="utf-8"))
    assert "crs" not in data  # RFC 7946


def test_rule_sets_change_the_answer_and_a_bad_rule_file_is_named(files, tmp_path):
    counts = {}
    for rules in ("shanghai@2018.1", "gb55009"):
        out = tmp_path / f"{rules.replace('@', '-')}.csv"
        r = _run(
            "--pipelines",
            files["pipelines"],
            "--sites",
            files["projects"],
            "--out",
            out,
            "--rules",
            rules,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        counts[rules] = {(x["site_id"], x["pipeline_id"], x["zone"]) for x in _rows(out)}
    # Same sites near the same pipes, but the ranges differ (0.7/6 m against 0.5/5 m and
    # 1.5/15 m for sub-high pipes), so the pairs or their zones differ.
    assert counts["shanghai@2018.1"] != counts["gb55009"]
    bad = tmp_path / "rules.yaml"
    bad.write_text("name: x\nversion: 1\n", encoding="utf-8")
    r = _run(
        "--pipelines",
        files["pipelines"],
        "--sites",
        files["projects"],
        "--out",
        tmp_path / "x.csv",
        "--rules",
        bad,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "rules.yaml" in r.stderr and "Traceback" not in r.stderr


def test_no_conflict_still_exits_zero_with_an_empty_table(files, tmp_path):
    sites = gpd.read_file(files["projects"])
    far = sites.iloc[[0]].copy()
    # A small site in the open fields north of 城桥镇, far from every pipe.
    far["geometry"] = gpd.GeoSeries.from_wkt(
        ["POLYGON((121.30 31.70, 121.3003 31.70, 121.3003 31.7003, 121.30 31.70))"], crs=4326
    ).values
    path = tmp_path / "far.geojson"
    far.to_file(path, driver="GeoJSON")
    out = tmp_path / "none.csv"
    r = _run("--pipelines", files["pipelines"], "--sites", path, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _rows(out) == [] and "冲突 0 处" in r.stdout


def test_gcj02_input_gives_the_same_pairs_as_cgcs2000(files, tmp_path):
    sites = gpd.read_file(files["projects"])

    def to_gcj(geom):
        import shapely

        return shapely.transform(
            geom, lambda xy: __import__("numpy").column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
        )

    sites["geometry"] = [to_gcj(g) for g in sites.geometry]
    gcj = tmp_path / "sites_gcj02.geojson"
    sites.to_file(gcj, driver="GeoJSON")
    plain, shifted = tmp_path / "plain.csv", tmp_path / "gcj.csv"
    assert (
        _run(
            "--pipelines", files["pipelines"], "--sites", files["projects"], "--out", plain, cwd=tmp_path
        ).returncode
        == 0
    )
    r = _run(
        "--pipelines",
        files["pipelines"],
        "--sites",
        gcj,
        "--sites-crs",
        "gcj02",
        "--out",
        shifted,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    key = lambda rows: sorted((x["site_id"], x["pipeline_id"], x["zone"], x["distance_m"]) for x in rows)  # noqa: E731
    assert key(_rows(plain)) == key(_rows(shifted))


def test_field_names_can_be_mapped(files, tmp_path):
    pipes = gpd.read_file(files["pipelines"]).rename(columns={"outer_diameter_mm": "管外径"})
    path = tmp_path / "pipes_cn.geojson"
    pipes.to_file(path, driver="GeoJSON")
    out = tmp_path / "mapped.csv"
    r = _run(
        "--pipelines",
        path,
        "--sites",
        files["projects"],
        "--out",
        out,
        "--pipeline-field",
        "管外径=outer_diameter_mm",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert len(_rows(out)) > 0


def test_bad_input_names_the_file_and_feature_and_writes_nothing(files, tmp_path):
    data = json.loads(Path(files["projects"]).read_text(encoding="utf-8"))
    victim = data["features"][3]
    victim["geometry"]["coordinates"] = [
        [[y, x] for x, y in ring] for ring in victim["geometry"]["coordinates"]
    ]
    swapped = tmp_path / "swapped.geojson"
    swapped.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "never.csv"
    r = _run("--pipelines", files["pipelines"], "--sites", swapped, "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    assert "swapped.geojson" in r.stderr and str(victim["properties"]["id"]) in r.stderr
    assert "经纬度颠倒" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    for args, expected in [
        (
            ("--pipelines", tmp_path / "missing.geojson", "--sites", files["projects"], "--out", out),
            "missing.geojson",
        ),
        (
            ("--pipelines", files["pipelines"], "--sites", files["projects"], "--out", tmp_path / "x.shp"),
            "x.shp",
        ),
        (("--pipelines", files["pipelines"], "--out", out), "--sites"),
    ]:
        r = _run(*args, cwd=tmp_path)
        assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr


@pytest.mark.postgis
def test_db_mode_screens_stored_data_and_updates_the_conflicts_table(files, clean_db, database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    for kind in ("pipelines", "projects"):
        imported = subprocess.run(
            [GISAPP, "import", kind, str(files[kind])],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert imported.returncode == 0, imported.stderr
    # The projects' import screened them already: its conflicts are there, with alerts.
    assert "新增冲突 0 处" not in imported.stdout, imported.stdout
    with clean_db.connect() as conn:
        alerted = conn.execute(text("SELECT count(*) FROM alert")).scalar()
    assert alerted > 0
    out = tmp_path / "db.csv"
    r = _run("--db", "--out", out, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "新增冲突 0 处" in r.stdout  # nothing left for the full screen to find
    file_out = tmp_path / "file.csv"
    assert (
        _run(
            "--pipelines", files["pipelines"], "--sites", files["projects"], "--out", file_out, cwd=tmp_path
        ).returncode
        == 0
    )
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NULL")).scalar()
        # Every conflict, however it was found, has its permit record and exactly one alert.
        unprocessed = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict c WHERE (SELECT count(*) FROM permit p "
            "WHERE p.conflict_id = c.id) <> 1 OR (SELECT count(*) FROM alert a "
            "WHERE a.conflict_id = c.id) <> 1")).scalar()
    assert stored == len(_rows(file_out)) == len(_rows(out))
    assert stored > 0 and unprocessed == 0
    again = _run("--db", cwd=tmp_path, env=env)
    assert "新增冲突 0 处" in again.stdout


@pytest.mark.postgis
def test_db_mode_names_each_project_by_organisation_and_id(stored_network, database_url, tmp_path):
    """Two organisations' "P-001" (codes are unique per organisation, D57) stay two projects."""
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    with stored_network.begin() as conn:
        ids = {
            org: conn.execute(text(
                "INSERT INTO construction_project "
                "(registration_code, name, kind, status, organisation, geom) "
                "VALUES ('P-001', :name, 'housing', 'under_construction', :org, ST_GeomFromText("
                "'MULTIPOLYGON(((121.400 31.6300, 121.401 31.6300, 121.401 31.6302, 121.400 31.6302, "
                "121.400 31.6300)))', 4490)) RETURNING id"), {"org": org, "name": f"{org} 项目"}).scalar()
            for org in ("甲建设公司", "乙建设公司")
        }
    out = tmp_path / "db.csv"
    r = _run("--db", "--out", out, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "涉及项目 2 个" in r.stdout, r.stdout
    rows = _rows(out)
    assert {(row["site_id"], row["project_organisation"], int(row["project_id"])) for row in rows} == {
        ("P-001", org, project_id) for org, project_id in ids.items()}
    assert {row["pipeline_id"] for row in rows} == {"HP-T1"}


NAIVE = Path(__file__).resolve().parents[2] / "benchmarks" / "naive_screen.py"


def test_file_screen_agrees_with_the_naive_geopandas_script(files, tmp_path):
    """The benchmark's baseline (buffer + sjoin) finds the same pairs, zones and distances,
    but for pairs near the outer edge its polygonal buffers cut off."""
    ours_csv, naive_csv = tmp_path / "ours.csv", tmp_path / "naive.csv"
    r = _run("--pipelines", files["pipelines"], "--sites", files["projects"], "--out", ours_csv,
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    naive = subprocess.run(
        [sys.executable, str(NAIVE), str(files["pipelines"]), str(files["projects"]), str(naive_csv)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert naive.returncode == 0, naive.stderr
    ours = {(row["site_id"], row["pipeline_id"]): row for row in _rows(ours_csv)}
    theirs = {(row["site_id"], row["pipeline_id"]): row for row in _rows(naive_csv)}
    assert len(theirs) > 50
    assert set(theirs) <= set(ours)
    for pair, row in theirs.items():
        mine = ours[pair]
        assert (mine["zone"], float(mine["distance_m"])) == (row["zone"], float(row["distance_m"]))
    # A buffer of 16 segments per quarter circle (geopandas' default) lies inside the true
    # range by at most 0.12 % of its radius: the pairs it misses sit at the outer edge.
    for pair in set(ours) - set(theirs):
        row = ours[pair]
        outer = float(row["control_range_m"]) + float(row["outer_diameter_mm"]) / 2000.0
        assert float(row["distance_m"]) >= float(row["control_range_m"]) - 0.005 * outer - 0.01, row
