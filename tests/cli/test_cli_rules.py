"""``gisapp screen`` with rule set families, dates, versions and activities, end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

GISAPP = str(Path(sys.executable).with_name("gisapp"))
DLAT = 1 / 111_320  # degrees of latitude per metre, near enough at 31.6 N for a few metres


def _box(lat0: float, lat1: float) -> dict:
    ring = [[121.505, lat0], [121.506, lat0], [121.506, lat1], [121.505, lat1], [121.505, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _write(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def _pipe(code: str, cls: str, od_mm: float, lat: float) -> dict:
    return {"type": "Feature", "properties": {"id": code, "pressure_class": cls, "outer_diameter_mm": od_mm},
            "geometry": {"type": "LineString", "coordinates": [[121.50, lat], [121.52, lat]]}}


@pytest.fixture()
def case(tmp_path):
    pipes = _write(tmp_path / "pipes.geojson", [
        _pipe("G-M", "medium_a", 200, 31.60),
        _pipe("G-S", "subhigh_a", 300, 31.62),
        _pipe("G-H", "high_b", 500, 31.64),
    ])
    sites = _write(tmp_path / "sites.geojson", [
        # Blasting 3 m from a medium-pressure main.
        {"type": "Feature", "properties": {"id": "S-BLAST", "activities": "爆破"},
         "geometry": _box(31.60 + 3.1 * DLAT, 31.60 + 30 * DLAT)},
        # 10 m from a sub-high main, nothing declared (judged for every activity).
        {"type": "Feature", "properties": {"id": "S-SUBHIGH", "activities": ""},
         "geometry": _box(31.62 + 10.15 * DLAT, 31.62 + 40 * DLAT)},
        # Across the medium main: anchoring and piling (codes and names mixed).
        {"type": "Feature", "properties": {"id": "S-RIVER", "activities": "piling、抛锚、拖锚"},
         "geometry": _box(31.60 - 0.3 * DLAT, 31.60 + 2 * DLAT)},
        # 20 m from a high-pressure main, open flame and excavation.
        {"type": "Feature", "properties": {"id": "S-FLAME", "activities": "open_flame，挖掘"},
         "geometry": _box(31.64 + 20.25 * DLAT, 31.64 + 30 * DLAT)},
    ])
    return tmp_path, pipes, sites


def _screen(tmp, pipes, sites, *extra):
    out = tmp / "out.csv"
    if out.exists():
        out.unlink()
    r = subprocess.run([GISAPP, "screen", "--pipelines", pipes, "--sites", sites, "--out", out, *extra],
                       capture_output=True, text=True, timeout=300, cwd=tmp, env=dict(os.environ),
                       stdin=subprocess.DEVNULL)
    rows = None
    if r.returncode == 0:
        with open(out, encoding="utf-8-sig", newline="") as fh:
            rows = {(row["site_id"], row["pipeline_id"]): row for row in csv.DictReader(fh)}
    return r, rows


def _judged(rows):
    return {pair: (row["zone"], row["rule_set"], row["prohibited_activities"],
                   row["plan_required_activities"]) for pair, row in rows.items()}


PLAN = "drilling,excavation,jacking,piling,pipe_laying"


def test_the_family_follows_the_date_of_the_2026_amendment(case):
    tmp, pipes, sites = case
    r, before = _screen(tmp, pipes, sites, "--rules", "shanghai", "--on", "2026-02-28")
    assert r.returncode == 0, r.stderr
    assert _judged(before) == {
        ("S-BLAST", "G-M"): ("control", "shanghai@2018.1", "blasting", ""),
        ("S-RIVER", "G-M"): ("protection", "shanghai@2018.1", "", "piling"),
        ("S-FLAME", "G-H"): ("control", "shanghai@2018.1", "", "excavation"),
    }
    r, after = _screen(tmp, pipes, sites, "--rules", "shanghai", "--on", "2026-03-01")
    assert r.returncode == 0, r.stderr
    assert _judged(after) == {
        # Blasting beside a medium-pressure main is no longer prohibited in the control range.
        ("S-BLAST", "G-M"): ("control", "shanghai@2026.1", "", ""),
        # GB 55009's 1.5-15 m control range of sub-high pipes now applies.
        ("S-SUBHIGH", "G-S"): ("control", "shanghai@2026.1", "", PLAN),
        ("S-RIVER", "G-M"): ("protection", "shanghai@2026.1", "anchoring", "piling"),
        # Open flame is prohibited in the control range of high-pressure pipes.
        ("S-FLAME", "G-H"): ("control", "shanghai@2026.1", "open_flame", "excavation"),
    }
    assert 9.5 < float(after[("S-SUBHIGH", "G-S")]["distance_m"]) < 10.5  # beyond Shanghai's old 6 m
    assert "范围内禁止" not in after[("S-BLAST", "G-M")]["required_action"]
    assert "抛锚、拖锚" in after[("S-RIVER", "G-M")]["required_action"]
    # Without --on the family means today's version.
    r, today = _screen(tmp, pipes, sites)
    assert r.returncode == 0 and {row["rule_set"] for row in today.values()} == {"shanghai@2026.1"}


def test_an_explicit_version_ignores_the_date_and_gb55009_has_its_own(case):
    tmp, pipes, sites = case
    r, pinned = _screen(tmp, pipes, sites, "--rules", "shanghai@2018.1", "--on", "2026-06-01")
    assert r.returncode == 0, r.stderr
    assert {row["rule_set"] for row in pinned.values()} == {"shanghai@2018.1"}
    r, gb = _screen(tmp, pipes, sites, "--rules", "gb55009")
    assert r.returncode == 0, r.stderr
    assert {row["rule_set"] for row in gb.values()} == {"gb55009@2021"}
    assert gb[("S-BLAST", "G-M")]["prohibited_activities"] == "blasting"


def test_a_user_file_of_the_older_shape_keeps_working(case):
    tmp, pipes, sites = case
    rules = {
        "name": "district_strict", "version": "2", "title": "加严", "source": "测试",
        "effective_date": "2025-06-01",
        "ranges": {c: {"protection_range_m": 1, "control_range_m": 12}
                   for c in ("low", "medium_b", "medium_a", "subhigh_b", "subhigh_a", "high_b", "high_a",
                             "ultra_high")},
        "actions": {"protection": "禁止施工。", "control": "报送保护方案。"},
    }
    path = tmp / "strict.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    r, rows = _screen(tmp, pipes, sites, "--rules", path)
    assert r.returncode == 0, r.stderr
    assert {row["rule_set"] for row in rows.values()} == {"district_strict@2"}
    assert rows[("S-SUBHIGH", "G-S")]["required_action"] == "报送保护方案。"
    assert rows[("S-SUBHIGH", "G-S")]["prohibited_activities"] == ""


@pytest.mark.parametrize(("args", "fragments"), [
    (["--rules", "shanghai@2019.9"], ["shanghai", "没有版本“2019.9”", "shanghai@2026.1"]),
    (["--rules", "beijing"], ["未知的规则集“beijing”"]),
    (["--rules", "shanghai", "--on", "2017-12-31"], ["2017-12-31", "不在规则集 shanghai"]),
    (["--on", "2026-02-30"], ["--on", "不是日期"]),
    (["--rules", "missing.yaml"], ["规则集文件不存在"]),
])
def test_bad_rule_input_is_a_clear_message_and_exit_2(case, args, fragments):
    tmp, pipes, sites = case
    r, _rows = _screen(tmp, pipes, sites, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    for fragment in fragments:
        assert fragment in r.stderr, (fragment, r.stderr)
    assert "Traceback" not in r.stderr and not (tmp / "out.csv").exists()


def test_unknown_activity_names_the_feature_and_exits_2(case):
    tmp, pipes, _sites = case
    bad = _write(tmp / "bad.geojson", [
        {"type": "Feature", "properties": {"id": "S-BAD", "activities": "爆破，飞行，潜水"},
         "geometry": _box(31.60 + 3 * DLAT, 31.60 + 30 * DLAT)}])
    r, _rows = _screen(tmp, pipes, bad)
    assert r.returncode == 2
    for fragment in ("S-BAD", "activities", "飞行", "潜水"):
        assert fragment in r.stderr, (fragment, r.stderr)
    assert not (tmp / "out.csv").exists()


def test_geojson_output_has_activity_lists(case):
    tmp, pipes, sites = case
    out = tmp / "out.geojson"
    r = subprocess.run([GISAPP, "screen", "--pipelines", pipes, "--sites", sites, "--out", out,
                        "--on", "2026-03-01"], capture_output=True, text=True, timeout=300, cwd=tmp,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    props = {f["properties"]["site_id"]: f["properties"]
             for f in json.loads(out.read_text(encoding="utf-8"))["features"]}
    assert props["S-RIVER"]["prohibited_activities"] == ["anchoring"]
    assert props["S-BLAST"]["plan_required_activities"] == []


@pytest.mark.postgis
def test_impact_names_each_project_by_organisation_and_id(stored_network, database_url, tmp_path):
    """``gisapp rules impact``: two organisations' "P-001" (D57) stay two projects."""
    from sqlalchemy import text

    lat = 31.64 + 3.08 * DLAT  # 3 m north of MP-T1: blasting prohibited in 2018, not in 2026
    with stored_network.begin() as conn:
        ids = {
            org: conn.execute(text(
                "INSERT INTO construction_project (registration_code, name, kind, status, activities, "
                "organisation, geom) VALUES ('P-001', :name, 'housing', 'under_construction', "
                "'blasting', :org, ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490))) RETURNING id"),
                {"org": org, "name": f"{org} 项目", "x0": 121.40 + i * 0.001, "y0": lat,
                 "x1": 121.4003 + i * 0.001, "y1": lat + 0.0003}).scalar_one()
            for i, org in enumerate(("甲建设公司", "乙建设公司"))
        }
    out = tmp_path / "impact.csv"
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    r = subprocess.run([GISAPP, "rules", "impact", "--from", "shanghai@2018.1", "--to", "shanghai@2026.1",
                        "--out", out], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "受影响的项目-管道对 2 处，涉及项目 2 个" in r.stdout, r.stdout
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(row["project_code"], row["project_organisation"], int(row["project_id"])) for row in rows} == {
        ("P-001", org, pid) for org, pid in ids.items()}
    assert {row["change"] for row in rows} == {"activities"}
