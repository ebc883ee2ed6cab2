"""A whole-city deployment's district offices, each on its own (migration 0018).

Every row under row-level security carries its own district, kept by the database from
the row it follows; the policies compare that column. Each district office draws its
own spot-check plans, reads a report titled with its district, and numbers its answer
letters with its district's short code.
"""

from __future__ import annotations

import io
import re
import zipfile

import psycopg2
import pytest
from sqlalchemy import text

from layers.db import make_engine
from layers.services.districts import APP_ROLE, FOLLOWS_PROJECT, UNDISTRICTED
from tests.api import test_api_districts as shared
from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

# The whole-city deployment and its two districts' sites, as in test_api_districts.
city_api, two_districts = shared.city_api, shared.two_districts
CHONGMING, PUDONG, _user = shared.CHONGMING, shared.PUDONG, shared._user

# What a row follows: (table, SQL of its parent's district for alias t).
PARENT_DISTRICT = {
    "pipeline_conflict": "(SELECT p.district FROM construction_project p WHERE p.id = t.project_id)",
    "alert": "(SELECT p.district FROM construction_project p WHERE p.id = t.project_id)",
    "answer_letter": "(SELECT p.district FROM construction_project p WHERE p.id = t.project_id)",
    "violation": "(SELECT p.district FROM construction_project p WHERE p.id = t.project_id)",
    "permit": "(SELECT c.district FROM pipeline_conflict c WHERE c.id = t.conflict_id)",
    "owner_review": "(SELECT c.district FROM pipeline_conflict c WHERE c.id = t.conflict_id)",
    "permit_event": "(SELECT x.district FROM permit x WHERE x.id = t.permit_id)",
}


def _districts_of(db_engine, table: str) -> list[str | None]:
    with db_engine.connect() as conn:
        return list(conn.execute(text(f"SELECT district FROM {table} ORDER BY id")).scalars())


def test_policies_compare_a_column_and_every_row_carries_its_parents_district(db_engine, two_districts):
    with db_engine.begin() as conn:  # written alone, with no district given: the database fills it
        conn.execute(text("INSERT INTO permit_event (permit_id, to_status, note) "
                          "SELECT id, status, '测试' FROM permit"))
    with db_engine.connect() as conn:
        quals = dict(conn.execute(text(
            "SELECT tablename, qual FROM pg_policies WHERE policyname = 'gisapp_district'")).all())
        for table in (*FOLLOWS_PROJECT, "spot_check_plan"):
            # No subquery per row: the setting's InitPlan and the row's own columns only.
            assert "EXISTS" not in quals[table].upper() and "district" in quals[table], (table, quals[table])
        for table in FOLLOWS_PROJECT:  # (a year's few plans need no index of their own)
            assert conn.execute(text(
                f"SELECT count(*) FROM pg_indexes WHERE tablename = '{table}' "
                f"AND indexname = 'ix_{table}_district'")).scalar_one() == 1, table
        for table, parent in PARENT_DISTRICT.items():
            rows = conn.execute(text(f"SELECT t.district, {parent} FROM {table} t")).all()
            assert rows and all(own == theirs and own in (CHONGMING, PUDONG) for own, theirs in rows), \
                (table, rows)
        undistricted = UNDISTRICTED["notification"]
        assert conn.execute(text(
            f"SELECT count(*) FROM notification WHERE district IS NULL AND NOT ({undistricted})"
        )).scalar_one() == 0


def test_a_moved_site_takes_everything_that_follows_it_into_its_new_district(
        city_api, db_engine, two_districts):
    city, ids = two_districts
    chongming = _user(city_api, db_engine, "cm-mover", CHONGMING)
    pudong = _user(city_api, db_engine, "pd-mover", PUDONG)
    assert "CM-1" in city_api.get("/api/conflicts", headers=chongming).text
    with db_engine.begin() as conn:  # the owner, city-wide: a city office's change of site
        conn.execute(text(
            "UPDATE construction_project SET geom = ST_Translate(geom, 0.07, -0.42) WHERE id = :id"),
            {"id": ids["CM-1"]})
        assert conn.execute(text("SELECT district FROM construction_project WHERE id = :id"),
                            {"id": ids["CM-1"]}).scalar_one() == PUDONG
        for table, parent in PARENT_DISTRICT.items():
            stale = conn.execute(text(
                f"SELECT count(*) FROM {table} t WHERE t.district IS DISTINCT FROM {parent}")).scalar_one()
            assert stale == 0, table
        assert set(conn.execute(text("SELECT district FROM pipeline_conflict")).scalars()) == {PUDONG}
    assert "CM-1" not in city_api.get("/api/conflicts", headers=chongming).text
    assert "CM-1" in city_api.get("/api/conflicts", headers=pudong).text


def test_a_district_cannot_hang_a_row_on_another_districts_project(database_url, db_engine, two_districts):
    _city, ids = two_districts
    engine = make_engine(database_url, act_as=APP_ROLE)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT set_config('gisapp.district', :d, true)"), {"d": CHONGMING})
            with pytest.raises(Exception) as refused:
                conn.execute(text(
                    "INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on, organisation) "
                    "VALUES (:p, 'self', 1, current_date, '测试')"), {"p": ids["PD-1"]})
            assert isinstance(refused.value.orig, psycopg2.errors.InsufficientPrivilege), refused.value
    finally:
        engine.dispose()
    assert _districts_of(db_engine, "inspection") == []


def test_a_conflict_across_the_edge_belongs_to_the_sites_district(city_api, db_engine):
    """A Xuhui site within reach of a Huangpu main: the conflict, its alert and its permit
    are Xuhui's (the office that registered the site answers for it), not Huangpu's."""
    import shapely

    from layers.jurisdictions import jurisdiction

    xuhui, huangpu = "310104", "310101"
    edge = jurisdiction(xuhui).boundary.boundary.intersection(jurisdiction(huangpu).boundary.boundary)
    mid = shapely.line_interpolate_point(shapely.line_merge(edge), 0.5, normalized=True)
    line = shapely.LineString([(mid.x - 0.0002, mid.y + 0.0001), (mid.x, mid.y + 0.0002)])
    with db_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, owner, pressure_class, outer_diameter_mm, geom) "
            "VALUES ('HP-EDGE', '上海燃气有限公司', 'high_b', 508, ST_Multi(ST_GeomFromText(:w, 4490)))"),
            {"w": line.wkt})
    office = _user(city_api, db_engine, "xh-edge", xuhui)
    made = city_api.post("/api/projects", json=site_feature(
        "XH-1", mid.x + 0.0001, mid.y - 0.0002, size_deg=0.0001), headers=office)
    assert made.status_code == 201, made.text
    with db_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT c.district, g.district FROM pipeline_conflict c "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id")).one()
        assert tuple(row) == (xuhui, huangpu)
        for table in ("alert", "permit", "owner_review", "answer_letter"):
            assert set(conn.execute(text(f"SELECT district FROM {table}")).scalars()) == {xuhui}, table
    hp_office = _user(city_api, db_engine, "hp-edge", huangpu)
    assert "XH-1" not in city_api.get("/api/conflicts", headers=hp_office).text
    assert "HP-EDGE" in city_api.get("/api/conflicts", headers=office).text


def _more_projects(api, headers, prefix: str, lon: float, lat: float, n: int) -> None:
    for i in range(n):
        r = api.post("/api/projects", json=site_feature(f"{prefix}-{i + 2}", lon + 0.002 * i, lat + 0.01),
                     headers=headers)
        assert r.status_code == 201, r.text


def test_each_district_office_draws_and_reads_its_own_spot_check_plans(city_api, db_engine, two_districts):
    city, _ids = two_districts
    _more_projects(city_api, city, "CM", 121.55, 31.62, 4)   # 5 in Chongming
    _more_projects(city_api, city, "PD", 121.62, 31.20, 2)   # 3 in Pudong
    chongming = _user(city_api, db_engine, "cm-planner", CHONGMING)
    pudong = _user(city_api, db_engine, "pd-planner", PUDONG)
    year = today_in_shanghai().year
    drawn = {}
    for name, headers in (("cm", chongming), ("pd", pudong), ("city", city)):
        r = city_api.post("/api/workbench/campaign/plans", json={"year": year, "stage": 1}, headers=headers)
        assert r.status_code == 201, (name, r.text)
        drawn[name] = r.json()["stage"]
    assert drawn["cm"]["candidates"] == 5 and drawn["pd"]["candidates"] == 3
    assert drawn["city"]["candidates"] == 8
    assert drawn["cm"]["picks"] and all(p["code"].startswith("CM-") for p in drawn["cm"]["picks"])
    assert drawn["pd"]["picks"] and all(p["code"].startswith("PD-") for p in drawn["pd"]["picks"])
    # Each office reads its own plan only; a second draw of its stage is refused, not another's.
    for name, headers in (("cm", chongming), ("pd", pudong), ("city", city)):
        listed = city_api.get(f"/api/workbench/campaign/plans?year={year}", headers=headers).json()["stages"]
        assert [s["plan_id"] for s in listed] == [drawn[name]["plan_id"]], name
    again = city_api.post("/api/workbench/campaign/plans", json={"year": year, "stage": 1}, headers=chongming)
    assert again.status_code == 409, again.text
    with db_engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT coalesce(district, '-') FROM spot_check_plan")).scalars()) \
            == sorted(["-", CHONGMING, PUDONG])
    # What counts the plan's picks (coverage panel, report) counts the office's own.
    for name, headers in (("cm", chongming), ("pd", pudong)):
        coverage = city_api.get(f"/maps/data/inspection-coverage?year={year}", headers=headers)
        assert coverage.status_code == 200, coverage.text
        stage1 = next(s for s in coverage.json()["stages"] if s["stage"] == 1)
        assert stage1["picked"] == len(drawn[name]["picks"]), (name, stage1)
        assert stage1["candidates"] == drawn[name]["candidates"], (name, stage1)


def _report_html(api, headers) -> str:
    month = today_in_shanghai().strftime("%Y-%m")
    reply = api.get(f"/api/reports/{month}", headers=headers)
    assert reply.status_code == 200, reply.text
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    return archive.read("report.html").decode("utf-8")


def test_a_district_offices_report_is_titled_with_its_district_the_citys_with_the_city(
        city_api, db_engine, two_districts):
    city, _ids = two_districts
    chongming = _user(city_api, db_engine, "cm-reporter", CHONGMING)
    mine = _report_html(city_api, chongming)
    assert "<h1>崇明区燃气管道保护月度地图报告</h1>" in mine and "上海市燃气管道" not in mine
    assert "｜全区" in mine and "<h2>全区地图</h2>" in mine
    everything = _report_html(city_api, city)
    assert "<h1>上海市燃气管道保护月度地图报告</h1>" in everything and "崇明区燃气管道" not in everything
    assert "｜全市" in everything and "<h2>全市地图</h2>" in everything


def test_answer_numbers_carry_the_projects_district_each_with_its_own_sequence(city_api, db_engine,
                                                                            two_districts):
    city, _ids = two_districts
    # Interleaved: one shared sequence would leave gaps in Pudong's numbers.
    made = {}
    for code, lon, lat in (("PD-2", 121.63, 31.21), ("CM-2", 121.56, 31.63), ("PD-3", 121.64, 31.22)):
        r = city_api.post("/api/projects", json=site_feature(code, lon, lat), headers=city)
        assert r.status_code == 201, r.text
        made[code] = r.json()["id"]
    with db_engine.connect() as conn:
        numbers = dict(conn.execute(text(
            "SELECT p.registration_code, a.number FROM answer_letter a "
            "JOIN construction_project p ON p.id = a.project_id")).all())
    year = today_in_shanghai().year
    for code, prefix in (("CM-1", "CM"), ("CM-2", "CM"), ("PD-1", "PD"), ("PD-2", "PD"), ("PD-3", "PD")):
        assert re.fullmatch(rf"{prefix}-{year}-\d{{6}}", numbers[code]), numbers
    serial = {code: int(number.rsplit("-", 1)[1]) for code, number in numbers.items()}
    assert serial["PD-2"] == serial["PD-1"] + 1 and serial["PD-3"] == serial["PD-1"] + 2, numbers
    assert serial["CM-2"] == serial["CM-1"] + 1, numbers
    with db_engine.connect() as conn:  # CM goes on with the sequence a Chongming deployment always used
        for seq, last in ((f"answer_seq_{year}", "CM-2"), (f"answer_seq_pd_{year}", "PD-3")):
            assert conn.execute(text(f"SELECT last_value FROM {seq}")).scalar_one() == serial[last], seq
    with db_engine.connect() as conn:
        code = conn.execute(text("SELECT verification_code FROM answer_letter WHERE number = :n"),
                            {"n": numbers["PD-2"]}).scalar_one()
    checked = city_api.get(f"/api/answers/{numbers['PD-2']}/verify", params={"code": code})
    assert checked.status_code == 200 and checked.json()["project_code"] == "PD-2", checked.text
    # The letter names the office of its district, as its number does.
    for code, office in (("PD-2", "浦东新区燃气管理所"), ("CM-2", "崇明区燃气管理所")):
        letter = city_api.get(f"/api/projects/{made[code]}/answer.html", headers=city)
        assert letter.status_code == 200 and office in letter.text, letter.text[:300]


def test_every_jurisdiction_has_a_distinct_short_code():
    from layers.jurisdictions import SHORT_CODES, jurisdiction, known_codes

    assert sorted(SHORT_CODES) == sorted(known_codes())
    assert len(set(SHORT_CODES.values())) == len(SHORT_CODES)
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in SHORT_CODES.values())
    assert jurisdiction("chongming").short_code == "CM" and jurisdiction("shanghai").short_code == "SH"
