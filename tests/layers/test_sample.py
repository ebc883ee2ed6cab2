"""Tests of the synthetic Chongming sample (``layers.sample``) and ``gisapp sample``."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import geopandas as gpd
import pyogrio
import shapely

from layers.district import district_boundary
from layers.sample import SampleDataset, generate_sample
from layers.sample.errors import SampleError
from layers.schema import (
    PIPELINE_FIELDS,
    PROJECT_FIELDS,
    PipelineStatus,
    ProjectKind,
    ProjectStatus,
)
from spatial_rules.crs import to_metric
from spatial_rules.errors import DomainError
from spatial_rules.pressure import classify_pressure, parse_pressure_class

SEED = 20261124


@pytest.fixture(scope="module")
def ds() -> SampleDataset:
    return generate_sample(seed=SEED, scale="district")


def _metric(geoms: np.ndarray) -> np.ndarray:
    tr = to_metric()
    return shapely.transform(geoms, lambda x, y: tr.transform(x, y), interleaved=False)


def _assert_same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert (shapely.to_wkb(a.geometry.to_numpy()) == shapely.to_wkb(b.geometry.to_numpy())).all()


def test_same_seed_gives_identical_frames(ds):
    again = generate_sample(seed=SEED, scale="district")
    for name in ("townships", "pipelines", "projects"):
        _assert_same(getattr(ds, name), getattr(again, name))


def test_different_seed_gives_different_data(ds):
    other = generate_sample(seed=SEED + 1, scale="district")
    assert ds.pipelines.geometry.to_wkb().tolist() != other.pipelines.geometry.to_wkb().tolist()
    assert ds.projects["name"].tolist() != other.projects["name"].tolist()


def test_columns_crs_and_geometry_types(ds):
    assert list(ds.pipelines.columns) == [*PIPELINE_FIELDS, "geometry"]
    assert list(ds.projects.columns) == [*PROJECT_FIELDS, "geometry"]
    assert list(ds.townships.columns) == ["code", "name", "synthetic", "geometry"]
    for frame in (ds.townships, ds.pipelines, ds.projects):
        assert frame.crs.to_epsg() == 4490
    assert set(ds.townships.geom_type) == {"MultiPolygon"}
    assert set(ds.pipelines.geom_type) == {"LineString", "MultiLineString"}
    assert set(ds.projects.geom_type) == {"Polygon", "MultiPolygon"}
    assert ds.townships["synthetic"].all()
    assert 300 <= len(ds.pipelines) <= 2000
    assert 150 <= len(ds.projects) <= 300


def test_everything_lies_inside_the_district(ds):
    district = district_boundary()
    assert shapely.within(ds.pipelines.geometry.to_numpy(), district).all()
    assert shapely.within(ds.projects.geometry.to_numpy(), district).all()
    # Township cells are clipped to the district; allow 1e-7 degrees (~1 cm) of float noise.
    towns = ds.townships.geometry.to_numpy()
    assert shapely.within(towns, district.buffer(1e-7)).all()
    gap = shapely.symmetric_difference(shapely.union_all(towns), district)
    assert gap.area < 1e-9 * district.area


def test_townships_are_real_towns_on_their_islands(ds):
    towns = ds.townships.set_index("name")
    assert len(towns) == 18 and towns.index.is_unique and towns["code"].is_unique
    for name, lon, lat in (
        ("城桥镇", 121.40, 31.63),
        ("堡镇", 121.60, 31.53),
        ("陈家镇", 121.83, 31.49),
        ("长兴镇", 121.70, 31.39),
        ("横沙乡", 121.85, 31.34),
    ):
        assert towns.loc[name, "geometry"].contains(shapely.Point(lon, lat)), name
    # Changxing and Hengsha are separate islands: their cells do not touch Chongming island's.
    chongming = shapely.union_all(towns.drop(index=["长兴镇", "横沙乡"]).geometry.to_numpy())
    assert not towns.loc["长兴镇", "geometry"].intersects(chongming)
    assert not towns.loc["横沙乡", "geometry"].intersects(chongming)


def test_every_category_present(ds):
    assert set(ds.pipelines["status"]) == {s.value for s in PipelineStatus}
    assert set(ds.projects["kind"]) == {k.value for k in ProjectKind}
    assert set(ds.projects["status"]) == {s.value for s in ProjectStatus}
    prefixes = {c.split("_")[0] for c in ds.pipelines["pressure_class"]}
    assert prefixes == {"high", "subhigh", "medium", "low"}
    assert ds.pipelines["status"].value_counts(normalize=True)["in_service"] > 0.8


def test_pressure_class_matches_design_pressure(ds):
    pairs = ds.pipelines[["pressure_class", "design_pressure_mpa"]].drop_duplicates()
    for cls, mpa in pairs.itertuples(index=False):
        assert classify_pressure(mpa) == parse_pressure_class(cls), (cls, mpa)


def test_diameters_and_segment_lengths_are_realistic(ds):
    pipes = ds.pipelines
    lengths = shapely.length(_metric(pipes.geometry.to_numpy()))
    lengths = lengths / shapely.get_num_geometries(pipes.geometry.to_numpy())  # per twin pipe
    cls = pipes["pressure_class"]
    high = cls.str.startswith("high")
    assert pipes.loc[high, "outer_diameter_mm"].between(508, 813).all()
    medium = cls.str.startswith("medium")
    assert pipes.loc[medium, "outer_diameter_mm"].between(150, 400).all()
    assert pipes.loc[cls == "low", "outer_diameter_mm"].between(32, 110).all()
    assert ((lengths[~(cls == "low")] >= 100) & (lengths[~(cls == "low")] <= 500)).all()
    assert (lengths[cls == "low"] <= 200).all()
    assert set(pipes["material"]) == {"钢", "PE"}
    hp_owner = pipes.loc[high, "owner"].unique()
    assert list(hp_owner) == ["上海天然气管网有限公司"]


def test_codes_unique_and_well_formed(ds):
    codes = ds.pipelines["external_code"]
    assert codes.is_unique
    assert codes.str.fullmatch(r"CM-(HP|SHP|MP|LP)-\d{4,}").all()
    reg = ds.projects["registration_code"]
    assert reg.is_unique
    assert reg.str.fullmatch(r"CM2026-\d{4,}").all()


def test_a_share_of_projects_lies_near_pipelines(ds):
    sites = _metric(ds.projects.geometry.to_numpy())
    pipes = _metric(ds.pipelines.geometry.to_numpy())
    near = np.unique(shapely.STRtree(pipes).query(sites, predicate="dwithin", distance=50)[0])
    share = len(near) / len(sites)
    assert 0.15 <= share <= 0.25
    overlapping = np.unique(shapely.STRtree(pipes).query(sites, predicate="intersects")[0])
    assert len(overlapping) > 0
    high = ds.pipelines["pressure_class"].str.startswith("high").to_numpy()
    near_hp = shapely.STRtree(pipes[high]).query(sites, predicate="dwithin", distance=50)[0]
    assert len(np.unique(near_hp)) >= 5


def test_sites_are_valid_varied_and_sized(ds):
    sites = ds.projects.geometry.to_numpy()
    assert shapely.is_valid(sites).all()
    assert (shapely.get_num_interior_rings(shapely.get_parts(sites)) > 0).sum() >= 1
    assert (shapely.get_type_id(sites) == 6).sum() >= 2  # multipart sites
    box = shapely.minimum_rotated_rectangle(_metric(sites))
    ring = shapely.get_coordinates(shapely.get_exterior_ring(box)).reshape(len(sites), 5, 2)
    sides = np.hypot(*(ring[:, 1:3] - ring[:, 0:2]).transpose(2, 0, 1))
    assert sides.min() >= 25 and sides.max() <= 320


def test_townships_cover_the_sites(ds):
    towns = ds.townships.set_index("name").geometry
    for name, site in zip(ds.projects["township"], ds.projects.geometry, strict=True):
        assert towns[name].intersects(site)


def test_project_attributes(ds):
    p = ds.projects
    assert (p["organisation"] == p["builder"]).all()
    assert 0.1 <= p["hazardous"].mean() <= 0.3
    assert 0.6 <= p["insured"].mean() <= 0.8
    assert all(s < f for s, f in zip(p["start_date"], p["planned_completion_date"], strict=True))
    gas = p["kind"] == "gas_engineering"
    assert p.loc[~gas, "under_supervision"].isna().all()
    supervised = p.loc[gas, "under_supervision"]
    assert supervised.notna().all() and supervised.any() and not supervised.all()
    has_since = p["supervised_since"].notna()
    assert (has_since == p["under_supervision"].fillna(False).astype(bool)).all()
    # Starts and planned completions fall in each campaign stage of the year.
    stages = [
        (dt.date(2026, 1, 1), dt.date(2026, 7, 31)),
        (dt.date(2026, 8, 1), dt.date(2026, 9, 30)),
        (dt.date(2026, 10, 1), dt.date(2026, 11, 30)),
    ]
    for column in ("start_date", "planned_completion_date"):
        for lo, hi in stages:
            assert any(lo <= d <= hi for d in p[column]), (column, lo)


def test_write_geojson_and_gpkg(ds, tmp_path):
    for fmt, ext in (("geojson", ".geojson"), ("gpkg", ".gpkg")):
        paths = ds.write(tmp_path / fmt, fmt)
        assert {p.suffix for k, p in paths.items() if k != "readme"} == {ext}
        pipes = gpd.read_file(paths["pipelines"])
        assert "id" in pipes and "external_code" not in pipes
        assert pipes["id"].tolist() == ds.pipelines["external_code"].tolist()
        projects = pyogrio.read_dataframe(paths["projects"])
        assert projects["id"].tolist() == ds.projects["registration_code"].tolist()
        assert pipes.crs.to_epsg() == 4490
        readme = paths["readme"].read_text(encoding="utf-8")
        assert "合成示例数据，非真实管网" in readme and str(SEED) in readme and "district" in readme
    feature = json.loads((tmp_path / "geojson" / "projects.geojson").read_text("utf-8"))[
        "features"
    ][0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", feature["properties"]["start_date"])


def test_bad_scale_and_format_raise_domain_errors(ds, tmp_path):
    with pytest.raises(SampleError, match="未知的示例数据规模"):
        generate_sample(scale="province")
    with pytest.raises(DomainError, match="不支持的输出格式"):
        ds.write(tmp_path, "kml")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(SampleError, match="不是文件夹"):
        ds.write(blocker, "geojson")


def test_cli_sample_writes_files_and_prints_summary(tmp_path):
    from gisapp.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["sample", "--help"])
    assert result.exit_code == 0 and "--scale" in result.output
    result = runner.invoke(
        app, ["sample", "--seed", "7", "--format", "gpkg", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "高压B" in result.output and "在役" in result.output and "燃气工程" in result.output
    assert (tmp_path / "pipelines.gpkg").exists() and (tmp_path / "README.txt").exists()
    assert runner.invoke(app, ["sample", "--scale", "huge", "--out", str(tmp_path)]).exit_code != 0


@pytest.mark.slow
def test_city_scale_counts_and_extent():
    city = generate_sample(seed=SEED, scale="city")
    assert len(city.pipelines) == 300_000
    assert len(city.projects) == 10_000
    assert city.pipelines["external_code"].is_unique
    assert city.projects["registration_code"].is_unique
    district = district_boundary()
    assert shapely.within(city.pipelines.geometry.to_numpy(), district).all()
    assert shapely.within(city.projects.geometry.to_numpy(), district).all()
    assert shapely.is_valid(city.projects.geometry.to_numpy()).all()
    assert set(city.projects["kind"]) == {k.value for k in ProjectKind}


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_written_files_pass_the_importer_reader(ds, tmp_path, fmt):
    from layers.io import read_layer

    paths = ds.write(tmp_path, fmt)
    for kind, code in (("pipelines", "external_code"), ("projects", "registration_code")):
        result = read_layer(paths[kind], kind)
        frame = getattr(ds, kind)
        assert result.frame[code].tolist() == frame[code].tolist()
        assert result.frame.crs.to_epsg() == 4490
    pipes = read_layer(paths["pipelines"], "pipelines").frame
    assert pipes["pressure_class"].astype(str).tolist() == ds.pipelines["pressure_class"].tolist()
