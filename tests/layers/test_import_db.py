"""File -> PostGIS import, all-or-nothing, and export back out, end to end with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

import shapely

from layers.importer import file_sha256, import_layer
from layers.io import InputFileError, read_layer
from layers.sample import generate_sample

GISAPP = str(Path(sys.executable).with_name("gisapp"))
pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return generate_sample(seed=7, scale="district").write(out, fmt="geojson")


def _cli(args, database_url, cwd):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(Path(cwd) / ".gisapp"))
    return subprocess.run(
        [GISAPP, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def _counts(engine):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT (SELECT count(*) FROM gas_pipeline), (SELECT count(*) FROM construction_project),"
                " (SELECT count(*) FROM import_batch)"
            )
        ).one()


def _comparable(frame, code_col):
    frame = frame.sort_values(code_col).reset_index(drop=True)
    geoms = shapely.normalize(shapely.set_precision(frame.geometry.values, 1e-9))
    attrs = pd.DataFrame(frame.drop(columns="geometry")).astype(object)
    attrs = attrs.where(attrs.notna(), None)
    return attrs, geoms


@pytest.mark.parametrize("kind,code_col", [("pipelines", "external_code"), ("projects", "registration_code")])
def test_sample_import_then_export_round_trips_without_loss(
    sample_files, clean_db, tmp_path, database_url, kind, code_col
):
    imported = _cli(["import", kind, str(sample_files[kind])], database_url, tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "已导入" in imported.stdout
    out = tmp_path / f"{kind}.gpkg"
    exported = _cli(["export", kind, str(out)], database_url, tmp_path)
    assert exported.returncode == 0, exported.stderr

    original = read_layer(sample_files[kind], kind).frame
    again = read_layer(out, kind).frame
    assert len(again) == len(original) > 0
    a_attrs, a_geoms = _comparable(original, code_col)
    b_attrs, b_geoms = _comparable(again, code_col)
    pd.testing.assert_frame_equal(
        a_attrs[sorted(a_attrs.columns)], b_attrs[sorted(a_attrs.columns)], check_dtype=False
    )
    assert shapely.equals_exact(a_geoms, b_geoms, tolerance=1e-9).all()


def test_bad_file_through_cli_changes_nothing(sample_files, clean_db, tmp_path, database_url):
    assert (
        _cli(["import", "pipelines", str(sample_files["pipelines"])], database_url, tmp_path).returncode == 0
    )
    before = _counts(clean_db)
    data = json.loads(Path(sample_files["projects"]).read_text(encoding="utf-8"))
    # The last feature's site is moved to Beijing: the whole file must be refused.
    last = data["features"][-1]
    last["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[116.39, 39.9], [116.40, 39.9], [116.40, 39.91], [116.39, 39.9]]],
    }
    bad = tmp_path / "projects_bad.geojson"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = _cli(["import", "projects", str(bad)], database_url, tmp_path)
    assert result.returncode == 2
    assert "projects_bad.geojson" in result.stderr
    assert str(last["properties"]["id"]) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _counts(clean_db) == before


def test_codes_already_stored_are_refused_unless_replace(sample_files, clean_db, tmp_path, database_url):
    path = str(sample_files["pipelines"])
    assert _cli(["import", "pipelines", path], database_url, tmp_path).returncode == 0
    before = _counts(clean_db)
    again = _cli(["import", "pipelines", path], database_url, tmp_path)
    assert again.returncode == 2
    assert "编号已存在" in again.stderr
    assert _counts(clean_db) == before
    replaced = _cli(["import", "pipelines", path, "--replace"], database_url, tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    with clean_db.connect() as conn:
        live, dead = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE deleted_at IS NULL), "
                "count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM gas_pipeline"
            )
        ).one()
    # Replaced in place: same rows, old values in the audit log.
    assert live == before[0] and dead == 0
    with clean_db.connect() as conn:
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'pipeline.replace'")
        ).scalar()
    assert audited == before[0]
    # Every row names who: the OS user that ran the command, as cli:<user>.
    with clean_db.connect() as conn:
        names = conn.execute(text(
            "SELECT username FROM audit_log UNION SELECT created_by FROM import_batch")).scalars()
        assert {n.split(":")[0] for n in names} == {"cli"}
        actions = conn.execute(text("SELECT DISTINCT action FROM audit_log")).scalars().all()
    assert sorted(actions) == ["pipeline.import", "pipeline.replace"]


def test_import_error_midway_rolls_back_everything(sample_files, db_session):
    result = read_layer(sample_files["projects"], "projects")
    frame = result.frame.copy()
    # A database-level violation on the last row (dates reversed) after the reader's checks.
    frame.iloc[-1, frame.columns.get_loc("start_date")] = pd.Timestamp("2030-01-01").date()
    frame.iloc[-1, frame.columns.get_loc("planned_completion_date")] = pd.Timestamp("2020-01-01").date()
    before = db_session.execute(text("SELECT count(*) FROM construction_project")).scalar()
    nested = db_session.begin_nested()
    with pytest.raises(InputFileError) as err:  # the check constraint fires inside COPY
        import_layer(
            db_session,
            "projects",
            frame,
            source_name="x.geojson",
            source_sha256=file_sha256(sample_files["projects"]),
            source_crs="EPSG:4326",
        )
    nested.rollback()
    assert "计划竣工日期早于开工日期" in str(err.value)
    assert str(frame.iloc[-1]["registration_code"]) in str(err.value)
    after = db_session.execute(text("SELECT count(*) FROM construction_project")).scalar()
    assert after == before


def test_reader_error_names_file_feature_and_field(tmp_path):
    bad = tmp_path / "pipes.geojson"
    line = {"type": "LineString", "coordinates": [[121.5, 31.6], [121.501, 31.6]]}
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "P-0", "pressure_mpa": 0.3, "diameter_mm": 110},
                        "geometry": line,
                    },
                    {
                        "type": "Feature",
                        "properties": {"id": "P-1", "pressure_mpa": 0.3, "diameter_mm": None},
                        "geometry": line,
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as err:
        read_layer(bad, "pipelines")
    assert "pipes.geojson" in str(err.value) and "P-1" in str(err.value)
    assert "outer_diameter_mm" in str(err.value)
