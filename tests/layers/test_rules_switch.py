"""A rule change on the sample data: the impact dry run, then the switch of the stored data.

The impact report must agree with two file screens (``gisapp screen``) of the exported
data, and a switch must leave open exactly the conflicts of the new version (projects
not yet completed), with one alert per new or changed conflict, permits kept for
standing conflicts and frozen for vanished ones.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

import geopandas as gpd
import shapely
import shapely.geometry

from layers.sample import generate_sample
from spatial_rules.crs import from_metric, to_metric

pytestmark = pytest.mark.postgis
GISAPP = str(Path(sys.executable).with_name("gisapp"))
OLD, NEW = "shanghai@2018.1", "shanghai@2026.1"


def _cli(args, database_url, cwd, **env):
    full_env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(Path(cwd) / ".gisapp"),
                    GISAPP_RULE_SET=OLD, **env)
    result = subprocess.run([GISAPP, *map(str, args)], env=full_env, capture_output=True, text=True,
                            timeout=600, cwd=cwd, stdin=subprocess.DEVNULL)
    return result


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _judged(rows):
    return {(r["site_id"], r["pipeline_id"]): (r["zone"], r["prohibited_activities"]) for r in rows}


def _beside(line_lonlat, gap_m, code):
    """Return a project whose site lies ``gap_m`` metres beside the middle of a pipe (lon/lat)."""
    to_m, to_ll = to_metric(), from_metric()
    line = shapely.transform(line_lonlat, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))
    part = line.geoms[0] if line.geom_type.startswith("Multi") else line
    mid = part.interpolate(0.5, normalized=True)
    ahead = part.interpolate(min(part.length, part.project(mid) + 0.5))
    dx, dy = ahead.x - mid.x, ahead.y - mid.y
    norm = (dx * dx + dy * dy) ** 0.5
    nx, ny = -dy / norm, dx / norm  # unit normal to the pipe at its middle
    # A 1 m x 1 m site whose near edge is gap_m from the centreline, across the pipe.
    cx, cy = mid.x + nx * (gap_m + 0.5), mid.y + ny * (gap_m + 0.5)
    site = shapely.Point(cx, cy).buffer(0.5, cap_style="square")
    site = shapely.transform(site, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    return {"type": "Feature", "properties": {"id": code, "name": code, "kind": "municipal",
                                              "status": "under_construction", "activities": "爆破"},
            "geometry": shapely.geometry.mapping(site)}


@pytest.fixture()
def stored_sample(tmp_path, database_url, clean_db):
    files = generate_sample(seed=7, scale="district").write(tmp_path / "in", fmt="geojson")
    for kind in ("pipelines", "projects"):
        r = _cli(["import", kind, files[kind]], database_url, tmp_path)
        assert r.returncode == 0, r.stderr
    # Two sites the amendment moves: 10 m beside a sub-high pipe (now in GB 55009's 15 m
    # control range) and 5.5 m beside a medium one (out of the 5 m control range now).
    pipes = gpd.read_file(files["pipelines"])
    outer = pipes["outer_diameter_mm"].astype(float) / 2000
    subhigh = pipes[pipes["pressure_class"].str.startswith("subhigh")].index[0]
    medium = pipes[pipes["pressure_class"].str.startswith("medium")].index[0]
    extra = [_beside(pipes.geometry[subhigh], 10 + outer[subhigh], "XM-EXTRA-SH"),
             _beside(pipes.geometry[medium], 5.5 + outer[medium], "XM-EXTRA-MP")]
    path = tmp_path / "extra.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": extra}, ensure_ascii=False),
                    encoding="utf-8")
    r = _cli(["import", "projects", path], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_impact_agrees_with_two_file_screens_and_the_switch_leaves_the_new_conflicts(
    stored_sample, database_url, db_engine
):
    tmp = stored_sample
    # The stored data is judged under the 2018 text.
    with db_engine.connect() as conn:
        labels = conn.execute(text(
            "SELECT DISTINCT rule_set FROM pipeline_conflict WHERE closed_at IS NULL")).scalars().all()
    assert labels == [OLD]

    # Dry run: nothing is written.
    impact_csv = tmp / "impact.csv"
    r = _cli(["rules", "impact", "--from", OLD, "--to", NEW, "--out", impact_csv], database_url, tmp)
    assert r.returncode == 0, r.stderr
    assert "试算" in r.stdout and "进入范围" in r.stdout
    impact = _rows(impact_csv)
    assert impact, "the 2026 amendment changes answers on the sample"
    r = _cli(["rules", "impact", "--from", OLD, "--to", NEW, "--out", tmp / "impact.xlsx"], database_url, tmp)
    assert r.returncode == 0, r.stderr
    assert set(pd_sheets(tmp / "impact.xlsx")) == {"变化明细", "按乡镇", "按压力级制"}

    # Two file screens of the exported data (projects not yet completed).
    for kind in ("pipelines", "projects"):
        r = _cli(["export", kind, tmp / f"{kind}.geojson"], database_url, tmp)
        assert r.returncode == 0, r.stderr
    projects = gpd.read_file(tmp / "projects.geojson")
    live = projects[projects["status"] != "completed"]
    live.to_file(tmp / "live.geojson", driver="GeoJSON")
    screens = {}
    for label in (OLD, NEW):
        out = tmp / f"{label}.csv"
        r = _cli(["screen", "--pipelines", tmp / "pipelines.geojson", "--sites", tmp / "live.geojson",
                  "--rules", label, "--out", out], database_url, tmp)
        assert r.returncode == 0, r.stderr
        screens[label] = _judged(_rows(out))
    before, after = screens[OLD], screens[NEW]
    expected = {}
    for pair in set(before) | set(after):
        old, new = before.get(pair), after.get(pair)
        if old is None:
            expected[pair] = "enters"
        elif new is None:
            expected[pair] = "leaves"
        elif old[0] != new[0]:
            expected[pair] = "zone"
        elif old[1] != new[1]:
            expected[pair] = "activities"
    found = {(row["project_code"], row["pipeline_code"]): row["change"] for row in impact}
    assert found == expected
    assert {"enters", "leaves", "activities"} <= set(found.values())
    assert found[("XM-EXTRA-SH", pipes_code(tmp, "subhigh"))] == "enters"

    # The switch: exactly the new version's conflicts are open for those projects.
    with db_engine.connect() as conn:
        alerts_before = conn.execute(text("SELECT count(*) FROM alert")).scalar_one()
        permits_before = dict(conn.execute(text(
            "SELECT p.registration_code || '/' || g.external_code, pm.id FROM permit pm "
            "JOIN pipeline_conflict c ON c.id = pm.conflict_id "
            "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL")).all())
        completed_open = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "WHERE c.closed_at IS NULL AND p.status = 'completed'")).scalar_one()
    r = _cli(["screen", "--db", "--rules", NEW], database_url, tmp)
    assert r.returncode == 0, r.stderr
    assert f"规则集由 {OLD} 切换为 {NEW}" in r.stdout
    with db_engine.connect() as conn:
        open_rows = conn.execute(text(
            "SELECT p.registration_code, g.external_code, c.zone, "
            "array_to_string(c.prohibited_activities, ','), c.rule_set, c.found_under, p.status "
            "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.closed_at IS NULL")).all()
        new_alerts = conn.execute(text(
            "SELECT kind, count(*) FROM alert GROUP BY kind")).all()
        alerts_after = conn.execute(text("SELECT count(*) FROM alert")).scalar_one()
        permits_after = dict(conn.execute(text(
            "SELECT p.registration_code || '/' || g.external_code, pm.id FROM permit pm "
            "JOIN pipeline_conflict c ON c.id = pm.conflict_id "
            "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL")).all())
        switches = conn.execute(text("SELECT from_rule_set, to_rule_set, trigger FROM rule_set_switch")).all()
    live_open = {(c, g): (z, a) for c, g, z, a, rs, _f, st in open_rows if st != "completed"}
    assert live_open == after
    assert {rs for *_x, rs, _f, st in open_rows if st != "completed"} == {NEW}
    # Completed projects keep the answers they were given, under the version that gave them.
    kept = [(rs, f) for *_x, rs, f, st in open_rows if st == "completed"]
    assert len(kept) == completed_open and all(rs == OLD for rs, _f in kept)
    # Carried-over conflicts keep the version they were found under, and their permit.
    carried = set(before) & set(after)
    assert all(f == OLD for c, g, _z, _a, _rs, f, st in open_rows if (c, g) in carried and st != "completed")
    for code, pipe in carried:
        assert permits_after[f"{code}/{pipe}"] == permits_before[f"{code}/{pipe}"]
    # One alert per new or changed conflict.
    new_or_changed = sum(1 for change in expected.values() if change != "leaves")
    assert alerts_after - alerts_before == new_or_changed
    changed = sum(1 for change in expected.values() if change in ("zone", "activities"))
    assert dict(new_alerts).get("changed", 0) == changed
    assert switches == [(OLD, NEW, "command")]
    # Vanished conflicts are closed and their permits frozen (read-only: conflict closed).
    left = [pair for pair, change in expected.items() if change == "leaves"]
    with db_engine.connect() as conn:
        closed = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.closed_at IS NOT NULL "
            "AND (p.registration_code, g.external_code) IN (SELECT * FROM unnest(CAST(:c AS text[]), "
            "CAST(:g AS text[])))"), {"c": [p[0] for p in left], "g": [p[1] for p in left]}).scalar_one()
    assert closed == len(left)

    # A second screen under the same version changes nothing and raises nothing.
    r = _cli(["screen", "--db", "--rules", NEW], database_url, tmp)
    assert r.returncode == 0, r.stderr
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alert")).scalar_one() == alerts_after
        assert conn.execute(text("SELECT count(*) FROM rule_set_switch")).scalar_one() == 1


def pipes_code(tmp, prefix):
    pipes = gpd.read_file(tmp / "in" / "pipelines.geojson")
    return str(pipes[pipes["pressure_class"].str.startswith(prefix)]["id"].iloc[0])


def pd_sheets(path):
    import openpyxl

    return openpyxl.load_workbook(path, read_only=True).sheetnames


def test_bad_rule_input_exits_2_and_stores_nothing(stored_sample, database_url, db_engine):
    tmp = stored_sample
    with db_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), max(last_screened_at) FROM pipeline_conflict")).one()
    for args, fragment in [
        (["screen", "--db", "--rules", "shanghai@1999"], "没有版本"),
        (["screen", "--db", "--rules", "beijing"], "未知的规则集"),
        (["screen", "--db", "--rules", "shanghai", "--on", "2010-01-01"], "不在规则集 shanghai"),
        (["screen", "--db", "--rules", "shanghai", "--on", "2026-02-30"], "不是日期"),
        (["rules", "impact", "--from", "shanghai@2018.1", "--to", "nope.yaml"], "规则集文件不存在"),
        (["rules", "impact", "--from", OLD, "--to", NEW, "--out", "x.pdf"], "不支持的格式"),
    ]:
        r = _cli(args, database_url, tmp)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert fragment in r.stderr + r.stdout, (args, r.stderr)
        assert "Traceback" not in r.stderr
    with db_engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*), max(last_screened_at) FROM pipeline_conflict")).one() == before
        assert conn.execute(text("SELECT count(*) FROM rule_set_switch")).scalar_one() == 0
