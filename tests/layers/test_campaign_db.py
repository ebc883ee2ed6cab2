"""``gisapp campaign plan|status|record --db`` and the stored-data adapters, on the real database."""

from __future__ import annotations

import csv
import math

import openpyxl
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from campaign.model import PermitState, Zone
from gisapp.cli.campaign_cmds import register
from layers.campaign_loaders import load_inspection_records, load_portfolio
from layers.db import session_factory
from layers.services.errors import ConflictStateError, InvalidRequestError, NotFoundError

pytestmark = pytest.mark.postgis

# code, status, start, completion, township, hazardous, kind
PORTFOLIO = [
    ("P01", "under_construction", "2026-03-01", None, "城桥镇", False, "housing"),
    ("P02", "under_construction", "2026-01-15", None, "城桥镇", False, "housing"),
    ("P03", "completed", "2026-02-01", "2026-07-15", "城桥镇", False, "housing"),
    ("P04", "completed", "2025-10-01", "2026-05-20", "陈家镇", False, "housing"),
    ("P05", "under_construction", "2026-08-10", None, "陈家镇", False, "housing"),
    ("P06", "planned", "2026-12-01", None, "陈家镇", False, "housing"),
    ("P07", "under_construction", "2026-04-01", None, "陈家镇", True, "gas_engineering"),
    *[(f"P{n:02d}", "under_construction", f"2026-05-{n:02d}", None, "堡镇", False, "municipal")
      for n in range(8, 13)],
]
STAGE_1 = {"P01", "P02", "P03", "P07", "P08", "P09", "P10", "P11", "P12"}
STAGE_2 = STAGE_1 - {"P03"} | {"P05"}


def _insert_projects(engine, rows) -> dict[str, int]:
    ids = {}
    with engine.begin() as conn:
        for i, (code, status, start, end, township, hazardous, kind) in enumerate(rows):
            lon = 121.40 + 0.001 * i
            ids[code] = conn.execute(
                text(
                    "INSERT INTO construction_project (registration_code, name, kind, status, "
                    "start_date, planned_completion_date, township, hazardous, geom) VALUES "
                    "(:code, :code, :kind, :status, :start, :end, :township, :hazardous, "
                    "ST_Multi(ST_MakeEnvelope(:lon, 31.66, :lon + 0.0003, 31.6603, 4490))) "
                    "RETURNING id"
                ),
                {"code": code, "kind": kind, "status": status, "start": start, "end": end,
                 "township": township, "hazardous": hazardous, "lon": lon},
            ).scalar_one()
    return ids


def _insert_inspection(engine, project_id, kind, round_or_stage, day, hazards=()) -> int:
    with engine.begin() as conn:
        inspection = conn.execute(
            text("INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on) "
                 "VALUES (:p, :k, :r, :d) RETURNING id"),
            {"p": project_id, "k": kind, "r": round_or_stage, "d": day},
        ).scalar_one()
        for description, major, deadline, state in hazards:
            conn.execute(
                text("INSERT INTO hazard (inspection_id, description, major, deadline, "
                     "rectification_state) VALUES (:i, :d, :m, :dl, :s)"),
                {"i": inspection, "d": description, "m": major, "dl": deadline, "s": state},
            )
    return inspection


def _conflict(engine, project_id, pipeline_id, zone, permit_status) -> None:
    with engine.begin() as conn:
        conflict = conn.execute(
            text(
                "INSERT INTO pipeline_conflict (project_id, pipeline_id, rule_set, zone, "
                "distance_m, centreline_distance_m, pressure_class, outer_diameter_mm, "
                "protection_range_m, control_range_m, required_action) VALUES "
                "(:p, :g, 'shanghai', :z, 1, 1, 'high_b', 508, 6, 50, '保护方案') RETURNING id"
            ),
            {"p": project_id, "g": pipeline_id, "z": zone},
        ).scalar_one()
        approved_until = "2027-01-01" if permit_status == "approved" else None
        reason = "远离管道作业" if permit_status == "not_required" else None
        conn.execute(
            text("INSERT INTO permit (conflict_id, status, approved_until, reason) "
                 "VALUES (:c, :s, :u, :r)"),
            {"c": conflict, "s": permit_status, "u": approved_until, "r": reason},
        )


@pytest.fixture
def cli(database_url, clean_db):
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "GISAPP_DATABASE_URL": database_url}
    return lambda *args: runner.invoke(app, ["campaign", *map(str, args)], env=env)


def _stored(engine) -> dict[int, tuple]:
    """Stage -> (plan id, seed, candidates, quota, created_at, sorted picks)."""
    with engine.connect() as conn:
        plans = conn.execute(
            text("SELECT id, stage, seed, candidates, quota, created_at FROM spot_check_plan "
                 "WHERE year = 2026")
        ).all()
        out = {}
        for plan_id, stage, seed, candidates, quota, created in plans:
            picks = conn.execute(
                text("SELECT p.registration_code, k.reason, k.forced FROM spot_check_pick k "
                     "JOIN construction_project p ON p.id = k.project_id WHERE k.plan_id = :id "
                     "ORDER BY 1"),
                {"id": plan_id},
            ).all()
            out[stage] = (plan_id, seed, candidates, quota, created, [tuple(p) for p in picks])
    return out


def test_portfolio_adapter_reads_zones_permits_hazards_and_skips_unusable(stored_network):
    ids = _insert_projects(stored_network, PORTFOLIO)
    with stored_network.connect() as conn:
        pipes = dict(conn.execute(text("SELECT external_code, id FROM gas_pipeline")).all())
    _conflict(stored_network, ids["P07"], pipes["HP-T1"], "control", "approved")
    _conflict(stored_network, ids["P07"], pipes["MP-T1"], "protection", "applied")
    _conflict(stored_network, ids["P08"], pipes["HP-T1"], "control", "approved")
    _conflict(stored_network, ids["P09"], pipes["HP-T1"], "control", "not_required")
    _insert_inspection(stored_network, ids["P07"], "spot", 1, "2026-06-10",
                       [("堆土", True, "2026-06-20", "open"), ("围挡", False, None, "open"),
                        ("标识", False, None, "verified")])
    with session_factory(stored_network)() as session:
        portfolio = load_portfolio(session, year=2026)
        records = load_inspection_records(session, portfolio)
    by_code = {p.id: p for p in portfolio.projects}
    assert set(by_code) == {code for code, *_ in PORTFOLIO} - {"P06"}
    assert [s.split("：")[0] for s in portfolio.skipped] == ["P06"]
    p07 = by_code["P07"]
    assert (p07.zone, p07.permit_status) == (Zone.PROTECTION, PermitState.APPLIED)
    assert p07.open_hazards == 2 and p07.inspected and p07.hazardous and p07.gas_engineering
    assert (by_code["P08"].zone, by_code["P08"].permit_status) == (Zone.CONTROL, PermitState.APPROVED)
    assert not by_code["P09"].unpermitted_conflict
    assert by_code["P03"].end_date.isoformat() == "2026-07-15" and by_code["P01"].end_date is None
    assert not by_code["P01"].inspected and by_code["P01"].zone is None
    # One record per hazard: the inspection had three.
    assert [(r.findings, r.major_hazard, r.hazard_open) for r in records] == [
        ("堆土", True, True), ("围挡", False, True), ("标识", False, False)]
    # ... but the monthly statistics count that inspection once, and its three hazards.
    from datetime import date

    from campaign.settings import CampaignSettings
    from campaign.statistics import monthly_statistics

    tables = monthly_statistics(portfolio.projects, records, CampaignSettings.for_year(2026),
                                date(2026, 6, 30))
    june = tables.monthly.set_index("月份").loc["2026-06"]
    assert (june["区级抽查次数"], june["发现隐患数"], june["其中重大隐患"]) == (1, 3, 1)


def test_plan_db_draws_stages_in_order_and_keeps_earlier_ones(cli, clean_db, tmp_path):
    _insert_projects(clean_db, PORTFOLIO)
    early = cli("plan", "--db", "--stage", 2, "--year", 2026, "--seed", 5)
    assert isinstance(early.exception, Exception) and "第 1 阶段" in str(early.exception)

    first = cli("plan", "--db", "--stage", 1, "--year", 2026, "--seed", 5)
    assert first.exit_code == 0, first.output
    assert "随机种子 5" in first.output and "强制覆盖" in first.output
    stage_1 = _stored(clean_db)[1]
    assert stage_1[2] == len(STAGE_1) and stage_1[3] == math.ceil(0.3 * len(STAGE_1))
    picked_1 = {code for code, *_ in stage_1[5]}
    assert len(picked_1) >= stage_1[3] and picked_1 <= STAGE_1
    # P03 is finished by stage 2: full coverage forces it into stage 1.
    assert ("P03", "强制覆盖：本项目最后一次处于抽查窗口", True) in stage_1[5]

    refused = cli("plan", "--db", "--stage", 1, "--year", 2026, "--seed", 6)
    assert isinstance(refused.exception, ConflictStateError)
    assert "--redraw" in str(refused.exception)
    assert _stored(clean_db)[1] == stage_1

    out = tmp_path / "plan.csv"
    second = cli("plan", "--db", "--stage", 2, "--year", 2026, "--out", out)
    assert second.exit_code == 0, second.output
    stored = _stored(clean_db)
    assert stored[1] == stage_1  # same row, same seed, same picks, same timestamp
    assert stored[2][1] == 5  # the seed of stage 1 is reused when none is given
    assert stored[2][2] == len(STAGE_2) and len(stored[2][5]) >= math.ceil(0.3 * len(STAGE_2))
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["project_id"], r["stage"]) for r in rows} == {
        *((code, "1") for code in picked_1), *((code, "2") for code, *_ in stored[2][5])}

    locked = cli("plan", "--db", "--stage", 1, "--year", 2026, "--redraw")
    assert isinstance(locked.exception, ConflictStateError) and "第 2 阶段" in str(locked.exception)
    redrawn = cli("plan", "--db", "--stage", 2, "--year", 2026, "--seed", 77, "--redraw")
    assert redrawn.exit_code == 0, redrawn.output
    assert "重新抽取" in redrawn.output
    after = _stored(clean_db)
    assert after[1] == stage_1 and after[2][1] == 77

    third = cli("plan", "--db", "--stage", 3, "--year", 2026)
    assert third.exit_code == 0, third.output
    covered = {code for stage in _stored(clean_db).values() for code, *_ in stage[5]}
    assert covered == STAGE_1 | STAGE_2  # every candidate of any stage checked by 30 Nov
    with clean_db.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert actions == ["spot_check_plan.draw", "spot_check_plan.draw", "spot_check_plan.redraw",
                       "spot_check_plan.draw"]


def test_plan_db_is_reproducible_from_the_seed(cli, clean_db):
    _insert_projects(clean_db, PORTFOLIO)
    assert cli("plan", "--db", "--stage", 1, "--year", 2026, "--seed", 123).exit_code == 0
    first = _stored(clean_db)[1][5]
    assert cli("plan", "--db", "--stage", 1, "--year", 2026, "--seed", 123, "--redraw").exit_code == 0
    assert _stored(clean_db)[1][5] == first


def test_status_db_writes_csv_and_xlsx_with_overdue_counts(cli, clean_db, tmp_path):
    ids = _insert_projects(clean_db, [
        ("S1", "under_construction", "2026-03-01", None, "城桥镇", False, "housing"),
        ("S2", "under_construction", "2026-01-15", None, "城桥镇", False, "housing"),
        ("S3", "under_construction", "2026-04-01", None, "陈家镇", False, "housing"),
        ("S4", "completed", "2026-02-01", "2026-05-20", "陈家镇", False, "housing"),
        ("S5", "under_construction", "2026-02-01", None, "陈家镇", False, "gas_engineering"),
    ])
    _insert_inspection(clean_db, ids["S2"], "self", 1, "2026-05-20")
    _insert_inspection(clean_db, ids["S5"], "self", 1, "2026-05-30",
                       [("燃气管道上方堆土", True, "2026-05-31", "open")])
    # Recorded from the command line, but after the query date: S3 is still overdue on 1 June.
    recorded = cli("record", "--project", "S3", "--kind", "self", "--round", 1,
                   "--date", "2026-06-05", "--findings", "补做自查")
    assert recorded.exit_code == 0, recorded.output
    assert "S3" in recorded.output

    out = tmp_path / "status"
    result = cli("status", "--db", "--date", "2026-06-01", "--out", out)
    assert result.exit_code == 0, result.output
    assert "第1轮自查：应完成 4，已完成 2，逾期未完成 2。" in result.output
    with open(out / "townships.csv", encoding="utf-8-sig", newline="") as handle:
        towns = {row["乡镇"]: row for row in csv.DictReader(handle)}
    assert towns["城桥镇"]["第1轮自查逾期未完成"] == "1"
    assert towns["陈家镇"]["第1轮自查逾期未完成"] == "1"
    assert towns["陈家镇"]["逾期未整改隐患"] == "1" and towns["陈家镇"]["其中重大隐患"] == "1"
    assert towns["陈家镇"]["燃气工程未纳入监管"] == "1"
    assert towns["合计"]["第1轮自查应完成"] == "4"
    book = openpyxl.load_workbook(out / "campaign_status_2026-06-01.xlsx")
    rows = list(book["项目明细"].iter_rows(values_only=True))
    column = rows[0].index("第1轮自查")
    assert {row[0]: row[column] for row in rows[1:]} == {
        "S1": "逾期未完成", "S2": "已完成", "S3": "逾期未完成", "S4": "不适用", "S5": "已完成"}

    later = cli("status", "--db", "--date", "2026-06-10", "--out", tmp_path / "later")
    assert "第1轮自查：应完成 4，已完成 3，逾期未完成 1。" in later.output


def test_record_db_refuses_bad_input_naming_the_field(cli, clean_db):
    _insert_projects(clean_db, PORTFOLIO[:1])
    bad_round = cli("record", "--project", "P01", "--kind", "self", "--round", 3, "--date", "2026-05-01")
    assert isinstance(bad_round.exception, InvalidRequestError)
    assert "round_or_stage" in str(bad_round.exception)
    bad_date = cli("record", "--project", "P01", "--kind", "self", "--round", 1, "--date", "2026-5-1")
    assert "inspected_on" in str(bad_date.exception)
    unknown = cli("record", "--project", "NOPE", "--kind", "self", "--round", 1, "--date", "2026-05-01")
    assert isinstance(unknown.exception, NotFoundError) and "NOPE" in str(unknown.exception)
    hazard = cli("record", "--project", "P01", "--kind", "spot", "--round", 2, "--date", "2026-08-03",
                 "--hazard", "重大:基坑临边无防护", "--hazard", "灭火器过期", "--deadline", "2026-08-10")
    assert hazard.exit_code == 0, hazard.output
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inspection")).scalar() == 1
        assert conn.execute(
            text("SELECT description, major FROM hazard ORDER BY id")).all() == [
            ("基坑临边无防护", True), ("灭火器过期", False)]
        assert conn.execute(
            text("SELECT username LIKE 'cli:%' FROM audit_log")).scalar() is True
