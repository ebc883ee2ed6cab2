"""One spot-check stage coverage: the inspections map panel, /api/campaign/status and the report agree.

The projects cover every case the three used to count differently: a site under way
without a start date, a suspended one, one completed during stage 1, one completed
without a completion date, a planned one, one started in stage 3; spot checks stating
their stage and one stating none. The campaign settings come from the runtime setting
(``GISAPP_CAMPAIGN_SETTINGS``) or from a stored plan, and reach all three.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from campaign.settings import CampaignSettings
from layers.db import session_factory
from layers.services.actors import Actor
from layers.services.campaign_plans import draw_stage, judging_settings
from layers.services.users import create_user
from maps.report.labels import SHEET_TITLES

pytestmark = pytest.mark.postgis

YEAR = 2025
PASSWORD = "correct-horse-battery"
# code, status, start, completion
PROJECTS = [
    ("SC-A", "under_construction", "2025-03-01", None),
    ("SC-B", "under_construction", None, None),  # under way, start date never entered
    ("SC-C", "suspended", "2025-07-01", None),
    ("SC-D", "completed", "2025-02-01", "2025-07-15"),
    ("SC-E", "completed", "2025-02-01", None),  # when it ended is unknown: left out
    ("SC-F", "planned", "2026-03-01", None),
    ("SC-G", "under_construction", "2025-10-10", None),
]
# code, round_or_stage, day: spot checks
SPOT_CHECKS = [("SC-A", 1, "2025-06-20"), ("SC-C", None, "2025-08-15"), ("SC-D", 1, "2025-07-01"),
               ("SC-G", None, "2025-10-20"), ("SC-E", 1, "2025-06-10"), ("SC-F", 2, "2025-08-10")]
# stage -> (candidates, quota needed, checked) with the default settings (30 %):
# stage 1: A B C D; stage 2: A B C; stage 3: A B C G.
DEFAULT_STAGES = {1: (4, 2, 2), 2: (3, 1, 1), 3: (4, 2, 1)}
CUSTOM_YAML = """\
spot_check_quota: 50%
spot_check_stages:
  - {start: "06-01", end: "08-31"}
  - {start: "09-01", end: "11-30"}
"""
# Two stages, 50 %: stage 1 (06-01..08-31): A B C D, checked A C D; stage 2: A B C G, G
# (its check states no stage: the window holding its date decides).
CUSTOM_STAGES = {1: (4, 2, 3), 2: (4, 2, 1)}


def _store(engine) -> None:
    with engine.begin() as conn:
        ids = {}
        for i, (code, status, start, end) in enumerate(PROJECTS):
            ids[code] = conn.execute(text(
                "INSERT INTO construction_project (registration_code, name, kind, status, "
                "start_date, planned_completion_date, township, geom) VALUES (:c, :c, 'housing', "
                ":s, :start, :end, '城桥镇', ST_Multi(ST_MakeEnvelope(:lon, 31.66, :lon + 0.0003, "
                "31.6603, 4490))) RETURNING id"),
                {"c": code, "s": status, "start": start, "end": end, "lon": 121.40 + 0.001 * i},
            ).scalar_one()
        for code, stage, day in SPOT_CHECKS:
            conn.execute(text("INSERT INTO inspection (project_id, kind, round_or_stage, "
                              "inspected_on) VALUES (:p, 'spot', :r, :d)"),
                         {"p": ids[code], "r": stage, "d": day})
        conn.execute(text("INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on) "
                          "VALUES (:p, 'self', 1, '2025-05-20')"), {"p": ids["SC-B"]})


def _client(database_url, settings_file=None):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    settings = Settings(_env_file=None, campaign_settings=settings_file)
    return TestClient(create_app(settings, database_url=database_url))


def _three_counts(client, headers) -> tuple[dict, dict, dict]:
    """Return stage -> (candidates, quota needed, checked) of the map, the API and the report."""
    panel = client.get("/maps/data/inspection-coverage", params={"year": YEAR}, headers=headers)
    assert panel.status_code == 200, panel.text
    on_map = {s["stage"]: (s["candidates"], s["quota_needed"], s["checked"])
              for s in panel.json()["stages"]}
    status = client.get("/api/campaign/status", params={"date": f"{YEAR}-12-31"}, headers=headers)
    assert status.status_code == 200, status.text
    in_api = {s["stage"]: (s["candidates"], s["quota_needed"], s["checked"])
              for s in status.json()["stages"]}
    reply = client.get(f"/api/reports/{YEAR}-12", headers=headers)
    assert reply.status_code == 200, reply.text
    book = load_workbook(io.BytesIO(zipfile.ZipFile(io.BytesIO(reply.content)).read("report.xlsx")),
                         read_only=True)
    rows = list(book[SHEET_TITLES["spot_check_stages"]].iter_rows(values_only=True))
    head = rows[0]
    quota = next(i for i, name in enumerate(head) if str(name).startswith("应抽查数"))
    in_report = {int(r[0].strip("第阶段")): (r[head.index("候选项目数")], r[quota],
                                             r[head.index("已抽查数")]) for r in rows[1:]}
    return on_map, in_api, in_report


def _office(client, engine, name="sc-office") -> dict:
    with session_factory(engine).begin() as session:
        create_user(session, name, PASSWORD, "gas_office")
    r = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_map_api_and_report_count_the_stages_alike(database_url, db_engine, clean_db):
    _store(db_engine)
    with _client(database_url) as client:
        on_map, in_api, in_report = _three_counts(client, _office(client, db_engine))
    assert on_map == in_api == in_report == DEFAULT_STAGES


def test_the_runtime_campaign_settings_reach_the_map_the_api_and_the_report(
        database_url, db_engine, clean_db, tmp_path):
    _store(db_engine)
    settings_file = tmp_path / "campaign.yaml"
    settings_file.write_text(CUSTOM_YAML, encoding="utf-8")
    with _client(database_url, settings_file) as client:
        on_map, in_api, in_report = _three_counts(client, _office(client, db_engine))
    assert on_map == in_api == in_report == CUSTOM_STAGES


def test_a_stored_plan_is_judged_by_the_settings_it_was_drawn_with(
        database_url, db_engine, clean_db, tmp_path):
    _store(db_engine)
    settings_file = tmp_path / "campaign.yaml"
    settings_file.write_text(CUSTOM_YAML, encoding="utf-8")
    custom = CampaignSettings.from_yaml(settings_file, year=YEAR)
    with session_factory(db_engine).begin() as session:
        drawn = draw_stage(session, custom, 1, Actor.cli(), seed=7)
    assert len(drawn.plan.picks) >= 2
    with session_factory(db_engine).begin() as session:
        assert judging_settings(session, YEAR, None) == custom
        assert judging_settings(session, YEAR + 1, None) == CampaignSettings.for_year(YEAR + 1)
    # No runtime file: the stored plan's settings still decide, everywhere.
    with _client(database_url) as client:
        headers = _office(client, db_engine)
        on_map, in_api, in_report = _three_counts(client, headers)
        picked = client.get("/maps/data/inspection-coverage", params={"year": YEAR},
                            headers=headers).json()["stages"][0]["picked"]
    assert on_map == in_api == in_report == CUSTOM_STAGES
    assert picked == len(drawn.plan.picks)


def test_the_one_aggregate_counts_as_the_campaign_records_do(db_engine, clean_db):
    """``stage_coverage`` (one SQL aggregate) equals ``stage_progress`` on the loaded records,
    on 600 random projects (every status, dates missing or not, deleted ones, two townships)
    with spot checks stating a stage or none, inside and outside the windows, after ``on``."""
    import datetime as dt
    import random

    from campaign.compliance import stage_progress
    from layers.campaign_loaders import load_inspection_records, load_portfolio
    from layers.services.campaign_status import stage_coverage

    rng = random.Random(17)

    def day() -> dt.date | None:
        return None if rng.random() < 0.15 else dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))

    with db_engine.begin() as conn:
        for i in range(600):
            start, end = day(), day()
            if start and end and end < start:
                start, end = end, start
            project = conn.execute(text(
                "INSERT INTO construction_project (registration_code, name, kind, status, start_date, "
                "planned_completion_date, township, deleted_at, geom) VALUES (:c, :c, 'housing', :s, "
                ":start, :end, :tw, :gone, ST_Multi(ST_MakeEnvelope(:lon, 31.66, :lon + 0.0001, 31.6601, "
                "4490))) RETURNING id"),
                {"c": f"RC-{i}", "s": rng.choice(["planned", "under_construction", "suspended", "completed"]),
                 "start": start, "end": end, "tw": rng.choice(["城桥镇", "堡镇"]),
                 "gone": dt.datetime(2025, 5, 1, tzinfo=dt.UTC) if rng.random() < 0.05 else None,
                 "lon": 121.30 + 0.0002 * i}).scalar_one()
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                conn.execute(text("INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on) "
                                  "VALUES (:p, :k, :r, :d)"),
                             {"p": project, "k": (kind := rng.choice(["spot", "spot", "self"])),
                              "r": rng.choice([None, 1, 2, 3] if kind == "spot" else [1, 2]),
                              "d": dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))})
    for overrides in ({}, {"spot_check_quota": "50%", "spot_check_stages": [
            {"start": "06-01", "end": "08-31"}, {"start": "09-01", "end": "11-30"}]}):
        settings = CampaignSettings.for_year(YEAR, overrides)
        for on in (dt.date(YEAR, 3, 1), dt.date(YEAR, 7, 15), dt.date(YEAR, 12, 31)):
            for township in (None, "堡镇"):
                with session_factory(db_engine)() as session:
                    portfolio = load_portfolio(session, year=YEAR, on=on, township=township)
                    records = load_inspection_records(session, portfolio, on=on)
                    expected = stage_progress(portfolio.projects, records, settings, on)
                    got = [c.progress for c in stage_coverage(session, settings, on, township=township)]
                assert got == expected, (overrides, on, township)
                assert any(p.checked for p in got) or on < settings.stages[0].window_start
