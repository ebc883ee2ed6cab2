"""Bad and hostile input at every entry point: a 4xx naming the field or feature, nothing stored.

Every case snapshots the row counts of the stored tables before and after the request:
a refused request must leave them exactly as they were (all or nothing).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import text

from tests.factories import site_feature

pytestmark = pytest.mark.postgis

TABLES = (
    "gas_pipeline",
    "construction_project",
    "pipeline_conflict",
    "alert",
    "permit",
    "import_batch",
    "audit_log",
    "idempotency_record",
)
LON, LAT = 121.40, 31.6299  # on the high-pressure main HP-T1 of ``stored_network``


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def pipe_feature(code="GP-BAD-1", coords=((121.39, 31.635), (121.41, 31.635)), **props):
    properties = {
        "id": code,
        "pressure_class": "medium_a",
        "design_pressure_mpa": 0.3,
        "outer_diameter_mm": 160,
        **props,
    }
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]},
    }


def _with_geometry(geometry):
    feature = site_feature("CM-BAD-1", LON, LAT)
    feature["geometry"] = geometry
    return feature


def _square(lon, lat, d=0.0003):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
        ],
    }


# (id, method, path, json body, where the message must point: substrings, any of them)
JSON_CASES = [
    (
        "empty-geometry",
        "post",
        "/api/projects",
        _with_geometry({"type": "Polygon", "coordinates": []}),
        ("geometry", "几何"),
    ),
    ("null-geometry", "post", "/api/projects", _with_geometry(None), ("geometry", "几何")),
    (
        "geometry-collection",
        "post",
        "/api/projects",
        _with_geometry({"type": "GeometryCollection", "geometries": [_square(LON, LAT)]}),
        ("geometry", "几何"),
    ),
    (
        "point-for-project",
        "post",
        "/api/projects",
        _with_geometry({"type": "Point", "coordinates": [LON, LAT]}),
        ("geometry", "几何"),
    ),
    (
        "lat-lon-swapped",
        "post",
        "/api/projects",
        _with_geometry(_square(LAT, LON)),
        ("geometry", "经纬度", "坐标"),
    ),
    (
        "outside-district-beijing",
        "post",
        "/api/projects",
        _with_geometry(_square(116.397, 39.909)),
        ("崇明", "范围", "区界"),
    ),
    (
        "projected-coordinates",
        "post",
        "/api/projects",
        _with_geometry(_square(480_000.0, 3_500_000.0, 30.0)),
        ("geometry", "坐标", "经纬度"),
    ),
    (
        "nan-coordinates",
        "post",
        "/api/projects",
        _with_geometry(
            {
                "type": "Polygon",
                "coordinates": [[["NaN", LAT], [LON + 0.001, LAT], [LON, "NaN"], ["NaN", LAT]]],
            }
        ),
        ("geometry", "几何"),
    ),
    (
        "kind-is-a-number",
        "post",
        "/api/projects",
        site_feature("CM-BAD-2", LON, LAT, kind=5),
        ("kind",),
    ),
    (
        "status-unknown",
        "post",
        "/api/projects",
        site_feature("CM-BAD-3", LON, LAT, status="xyz"),
        ("status",),
    ),
    (
        "start-date-31-feb",
        "post",
        "/api/projects",
        site_feature("CM-BAD-4", LON, LAT, start_date="31/02/2026"),
        ("start_date",),
    ),
    (
        "hazardous-maybe",
        "post",
        "/api/projects",
        site_feature("CM-BAD-5", LON, LAT, hazardous="maybe"),
        ("hazardous",),
    ),
    (
        "missing-id",
        "post",
        "/api/projects",
        {**site_feature("x", LON, LAT), "properties": {"name": "无编号", "kind": "housing"}},
        ("registration_code", "编号", "id"),
    ),
    (
        "pressure-class-unknown",
        "post",
        "/api/pipelines",
        pipe_feature(pressure_class="超超高压", design_pressure_mpa=None),
        ("pressure_class",),
    ),
    (
        "diameter-negative",
        "post",
        "/api/pipelines",
        pipe_feature(outer_diameter_mm=-5),
        ("outer_diameter_mm",),
    ),
    (
        "diameter-huge",
        "post",
        "/api/pipelines",
        pipe_feature(outer_diameter_mm=99999),
        ("outer_diameter_mm",),
    ),
    (
        "diameter-nan-string",
        "post",
        "/api/pipelines",
        pipe_feature(outer_diameter_mm="NaN"),
        ("outer_diameter_mm",),
    ),
    (
        "polygon-for-pipeline",
        "post",
        "/api/pipelines",
        {**pipe_feature(), "geometry": _square(LON, LAT)},
        ("geometry", "几何"),
    ),
    (
        "body-is-an-array",
        "post",
        "/api/projects",
        [site_feature("CM-BAD-6", LON, LAT)],
        ("Feature", "请求体", "对象"),
    ),
    (
        "properties-not-object",
        "post",
        "/api/projects",
        {**site_feature("CM-BAD-7", LON, LAT), "properties": ["a"]},
        ("properties",),
    ),
    (
        "put-unknown-project",
        "put",
        "/api/projects/999999",
        site_feature("CM-BAD-8", LON, LAT),
        ("999999",),
    ),
    (
        "put-non-integer-id",
        "put",
        "/api/projects/abc",
        site_feature("CM-BAD-9", LON, LAT),
        ("feature_id",),
    ),
]


def _truncate(engine) -> None:
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


def _client(database_url, engine, username, **settings):
    """A TestClient on the real app with ``settings``, logged in as a new gas_office user."""
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings
    from layers.db import session_factory
    from layers.services.users import create_user

    app = create_app(Settings(_env_file=None, **settings), database_url=database_url)
    with session_factory(engine).begin() as session:
        create_user(session, username, "correct-horse-battery", "gas_office")
    client = TestClient(app)
    token = client.__enter__().post(
        "/api/auth/token", data={"username": username, "password": "correct-horse-battery"}
    )
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


@pytest.fixture(scope="module")
def client(database_url, db_engine):
    """One app for the module (refused requests change nothing), on the two-pipe network.

    The tables are emptied when the module is done.
    """
    _truncate(db_engine)
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
                "outer_diameter_mm, owner, geom) VALUES "
                "('HP-T1', 'high_b', 2.0, 508, '上海天然气管网有限公司', "
                "ST_GeomFromText('MULTILINESTRING((121.38 31.63, 121.42 31.63))', 4490)), "
                "('MP-T1', 'medium_a', 0.3, 160, '上海崇明燃气有限公司', "
                "ST_GeomFromText('MULTILINESTRING((121.38 31.64, 121.42 31.64))', 4490))"
            )
        )
    client = _client(database_url, db_engine, "office-bad-input")
    yield client
    client.__exit__(None, None, None)
    _truncate(db_engine)


@pytest.fixture()
def office():
    """Extra headers per request (the client already carries the token)."""
    return {}


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "names"), JSON_CASES, ids=[c[0] for c in JSON_CASES]
)
def test_bad_json_body_is_refused_naming_the_field(
    client, office, db_engine, case, method, path, body, names
):
    before = _counts(db_engine)
    r = getattr(client, method)(path, json=body, headers=office)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
    payload = r.json()
    said = payload["detail"] + json.dumps(payload["problems"], ensure_ascii=False)
    assert any(n in said for n in names), (case, said)
    assert _counts(db_engine) == before


# (id, method, path, query params, expected status, substring the message must contain)
PATH_QUERY_CASES = [
    ("get-unknown", "get", "/api/projects/999999", None, 404, "999999"),
    ("delete-unknown", "delete", "/api/projects/999999", None, 404, "999999"),
    ("get-unknown-pipeline", "get", "/api/pipelines/424242", None, 404, "424242"),
    ("get-non-integer", "get", "/api/projects/1.5", None, 422, "feature_id"),
    ("delete-non-integer", "delete", "/api/pipelines/abc", None, 422, "feature_id"),
    ("bbox-three-numbers", "get", "/api/projects", {"bbox": "121,31,122"}, 422, "bbox"),
    ("bbox-text", "get", "/api/projects", {"bbox": "a,b,c,d"}, 422, "bbox"),
    ("bbox-inverted", "get", "/api/pipelines", {"bbox": "122,32,121,31"}, 422, "bbox"),
    ("bbox-nan", "get", "/api/pipelines", {"bbox": "nan,nan,nan,nan"}, 422, "bbox"),
    ("limit-zero", "get", "/api/projects", {"limit": 0}, 422, "limit"),
    ("limit-huge", "get", "/api/projects", {"limit": 100000}, 422, "limit"),
    ("offset-negative", "get", "/api/pipelines", {"offset": -1}, 422, "offset"),
    ("alerts-bad-status", "get", "/api/alerts", {"status": "xyz"}, 422, "status"),
    ("acknowledge-unknown-alert", "post", "/api/alerts/999999/acknowledge", None, 404, "999999"),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "params", "status", "names"),
    PATH_QUERY_CASES,
    ids=[c[0] for c in PATH_QUERY_CASES],
)
def test_bad_path_or_query_is_refused_naming_it(
    client, office, db_engine, case, method, path, params, status, names
):
    before = _counts(db_engine)
    r = client.request(method.upper(), path, params=params, headers=office)
    assert r.status_code == status, (case, r.text)
    payload = r.json()
    assert names in payload["detail"] + json.dumps(payload["problems"], ensure_ascii=False), r.text
    assert _counts(db_engine) == before


def test_body_that_is_not_json_is_refused(client, office, db_engine):
    before = _counts(db_engine)
    r = client.post(
        "/api/projects",
        content=b"{not json",
        headers={**office, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert "请求格式有误" in r.json()["detail"]
    assert _counts(db_engine) == before


def test_body_over_max_body_bytes_is_413(client, office, db_engine):
    before = _counts(db_engine)
    feature = site_feature("CM-BIG-1", LON, LAT, name="大" * 1_000_000)  # ~3 MB of UTF-8
    r = client.post("/api/projects", json=feature, headers=office)
    assert r.status_code == 413, r.text
    assert "请求体过大" in r.json()["detail"]
    assert _counts(db_engine) == before


def test_idempotency_key_of_300_chars_is_refused(client, office, db_engine):
    before = _counts(db_engine)
    r = client.post(
        "/api/projects",
        json=site_feature("CM-KEY-1", LON, LAT),
        headers={**office, "Idempotency-Key": "k" * 300},
    )
    assert 400 <= r.status_code < 500, r.text
    assert "Idempotency-Key" in r.json()["detail"]
    assert _counts(db_engine) == before


def test_self_intersecting_site_is_repaired_like_a_file_and_the_note_is_audited(
    client, office, db_engine
):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                [LON, LAT],
                [LON + 0.0004, LAT + 0.0004],
                [LON + 0.0004, LAT],
                [LON, LAT + 0.0004],
                [LON, LAT],
            ]
        ],
    }
    r = client.post("/api/projects", json=_with_geometry(bowtie), headers=office)
    assert r.status_code == 201, r.text
    with db_engine.connect() as conn:
        detail = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'project.create'")
        ).scalar()
        valid = conn.execute(
            text("SELECT bool_and(ST_IsValid(geom)) FROM construction_project")
        ).scalar()
    assert valid is True
    assert any("修复" in note for note in detail["notes"]), detail


# ---- uploads --------------------------------------------------------------------------------


def _zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD_SITE_GEOJSON = json.dumps(
    {"type": "FeatureCollection", "features": [site_feature("CM-UP-1", LON, LAT)]}
).encode()
LINKED_CRS_GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "crs": {"type": "link", "properties": {"href": "file:///etc/passwd", "type": "proj4"}},
        "features": [
            {
                **site_feature("CM-UP-2", LON, LAT),
                "geometry": {"type": "Polygon", "coordinates": "/vsicurl/http://127.0.0.1:1/x"},
            }
        ],
    }
).encode()
BAD_WKT_GBK_CSV = (
    "编号,名称,类型,状态,wkt\nCM-GBK-1,崇明测试工地,房屋建筑,在建,"
    '"POLYGON((121.40 31.63, 121.401 31.63, 121.401"\n'
).encode("gbk")
# (id, file name, content, form fields, substring the message must contain (any))
UPLOAD_CASES = [
    (
        "zip-path-traversal",
        "sites.zip",
        _zip_bytes({"../../evil.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96, "ok.dbf": b"x"}),
        {},
        ("路径穿越",),
    ),
    (
        "zip-bomb",
        "sites.zip",
        _zip_bytes({"bomb.shp": b"\x00" * (30 << 20)}),
        {},
        ("zip 炸弹", "压缩比"),
    ),
    (
        "vrt-file",
        "sites.vrt",
        b"<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>/etc/passwd"
        b"</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>",
        {},
        ("file", ".vrt"),
    ),
    (
        "text-renamed-gpkg",
        "sites.gpkg",
        b"just some text, not a database\n" * 10,
        {},
        ("GeoPackage", "sites.gpkg"),
    ),
    (
        "vsicurl-and-file-url-in-content",
        "sites.geojson",
        LINKED_CRS_GEOJSON,
        {},
        ("sites.geojson",),
    ),
    (
        "vsicurl-as-file-name",
        "/vsicurl/http://127.0.0.1:1/sites.exe",
        GOOD_SITE_GEOJSON,
        {},
        ("file", ".exe"),
    ),
    ("exe-extension", "setup.exe", b"MZ\x90\x00" + b"\x00" * 200, {}, ("file", ".exe")),
    ("no-extension", "sites", GOOD_SITE_GEOJSON, {}, ("file", "无扩展名")),
    ("empty-file", "sites.geojson", b"", {}, ("为空", "sites.geojson")),
    ("gbk-csv-bad-wkt", "工地.csv", BAD_WKT_GBK_CSV, {"encoding": "GBK"}, ("CM-GBK-1",)),
    (
        "not-json-geojson",
        "sites.geojson",
        b'{"type": "FeatureCollection", "features": [',
        {},
        ("sites.geojson",),
    ),
    (
        "unknown-crs",
        "sites.geojson",
        GOOD_SITE_GEOJSON,
        {"crs": "EPSG:999999"},
        ("999999", "坐标系"),
    ),
    (
        "field-map-not-json",
        "sites.geojson",
        GOOD_SITE_GEOJSON,
        {"field_map": "{管径: od"},
        ("field_map",),
    ),
    (
        "field-map-array",
        "sites.geojson",
        GOOD_SITE_GEOJSON,
        {"field_map": "[1, 2]"},
        ("field_map",),
    ),
    (
        "unknown-encoding",
        "sites.csv",
        BAD_WKT_GBK_CSV,
        {"encoding": "klingon-8"},
        ("klingon-8", "编码"),
    ),
    ("replace-not-bool", "sites.geojson", GOOD_SITE_GEOJSON, {"replace": "perhaps"}, ("replace",)),
    (
        "gpkg-unknown-layer",
        "sites.zip",
        _zip_bytes({"readme.txt": b"no shapefile here"}),
        {},
        (".shp", "sites.zip"),
    ),
]


@pytest.mark.parametrize(
    ("case", "filename", "content", "form", "names"), UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES]
)
def test_hostile_upload_is_refused_naming_the_file(
    client, office, db_engine, case, filename, content, form, names
):
    before = _counts(db_engine)
    r = client.post(
        "/api/projects/import",
        headers=office,
        data=form,
        files={"file": (filename, content, "application/octet-stream")},
    )
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
    payload = r.json()
    said = payload["detail"] + json.dumps(payload["problems"], ensure_ascii=False)
    assert any(n in said for n in names), (case, said)
    assert "gisapp-import-" not in said and "/tmp" not in said, said  # no server paths leak
    assert _counts(db_engine) == before


def test_upload_without_file_field_is_refused(client, office, db_engine):
    before = _counts(db_engine)
    r = client.post("/api/pipelines/import", headers=office, data={"crs": "4490"})
    assert r.status_code == 422 and "file" in r.json()["detail"], r.text
    assert _counts(db_engine) == before


def test_one_bad_feature_in_a_file_stores_none_of_it(client, office, db_engine):
    features = [site_feature(f"CM-ALL-{i}", LON + i * 0.001, LAT) for i in range(5)]
    features[3]["properties"]["status"] = "xyz"
    content = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    before = _counts(db_engine)
    r = client.post(
        "/api/projects/import",
        headers=office,
        files={"file": ("sites.geojson", content, "application/geo+json")},
    )
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert [(p["row"], p["feature_id"], p["field"]) for p in problems] == [
        (4, "CM-ALL-3", "status")
    ]
    assert _counts(db_engine) == before


@pytest.fixture(scope="module")
def small_upload_api(database_url, db_engine, client):
    """A client on an app whose upload limit is 10 kB (same database as ``client``)."""
    small = _client(database_url, db_engine, "office-small-upload", max_upload_bytes=10_000)
    yield small
    small.__exit__(None, None, None)


def test_upload_over_max_upload_bytes_is_413(small_upload_api, db_engine):
    features = [site_feature(f"CM-BIG-{i}", LON + i * 0.001, LAT + 0.01) for i in range(60)]
    content = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    assert len(content) > 10_000
    before = _counts(db_engine)
    r = small_upload_api.post(
        "/api/projects/import", files={"file": ("sites.geojson", content, "application/geo+json")}
    )
    assert r.status_code == 413, r.text
    assert "10000" in r.json()["detail"].replace(",", "")
    assert _counts(db_engine) == before
    # The same limit is not applied to ordinary JSON bodies: those keep max_body_bytes.
    small = small_upload_api.post("/api/projects", json=site_feature("CM-OK-1", LON, LAT + 0.01))
    assert small.status_code == 201, small.text


def test_literal_nan_coordinates_in_json_are_refused(client, office, db_engine):
    ring = [[float("nan"), LAT], [LON + 0.001, LAT], [LON, float("nan")], [float("nan"), LAT]]
    body = json.dumps(_with_geometry({"type": "Polygon", "coordinates": [ring]}))  # emits NaN
    before = _counts(db_engine)
    r = client.post(
        "/api/projects", content=body, headers={**office, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "geometry" in r.json()["detail"]
    assert _counts(db_engine) == before
