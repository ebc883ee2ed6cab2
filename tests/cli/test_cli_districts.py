"""``--district`` on ``gisapp campaign plan --db``, ``gisapp campaign status --db`` and
``gisapp report``: the real command on a
whole-city deployment with two districts' data answers exactly as the API answers that
district's office user (the same service functions, under the same row-level security)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from tests.api import test_api_district_offices as offices
from tests.api import test_api_districts as shared
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

GISAPP = str(Path(sys.executable).with_name("gisapp"))
city_api, two_districts = shared.city_api, shared.two_districts
CHONGMING, PUDONG, _user = shared.CHONGMING, shared.PUDONG, shared._user


def _cli(args, database_url, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(Path(cwd) / ".gisapp"),
               GISAPP_JURISDICTION="shanghai")
    env.pop("GISAPP_CAMPAIGN_SETTINGS", None)
    return subprocess.run([GISAPP, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd, stdin=subprocess.DEVNULL)


def _plans(api, headers, year) -> list[dict]:
    reply = api.get(f"/api/workbench/campaign/plans?year={year}", headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()["stages"]


def _picks(stage: dict) -> list[tuple[str, str]]:
    return [(p["code"], p["reason"]) for p in stage["picks"]]


def test_campaign_plan_for_a_district_is_that_district_offices_plan(
        city_api, db_engine, database_url, two_districts, tmp_path):
    city, _ids = two_districts
    offices._more_projects(city_api, city, "CM", 121.55, 31.62, 4)   # 5 in Chongming
    offices._more_projects(city_api, city, "PD", 121.62, 31.20, 2)   # 3 in Pudong
    chongming = _user(city_api, db_engine, "cm-cli", CHONGMING)
    pudong = _user(city_api, db_engine, "pd-cli", PUDONG)
    year = today_in_shanghai().year

    # Chongming's office plan drawn at the command line, by the district's name.
    out = tmp_path / "cm-plan.csv"
    r = _cli(["campaign", "plan", "--db", "--stage", 1, "--year", year, "--seed", 11,
              "--district", "崇明区", "--out", out], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "崇明区" in r.stdout and "候选 5 个" in r.stdout, r.stdout
    (stage,) = _plans(city_api, chongming, year)
    assert stage["seed"] == 11 and stage["candidates"] == 5
    assert stage["picks"] and all(code.startswith("CM-") for code, _ in _picks(stage))
    for code, reason in _picks(stage):
        assert f"  {code}：{reason}" in r.stdout
    with open(out, encoding="utf-8-sig", newline="") as fh:
        assert sorted(row["project_id"] for row in csv.DictReader(fh)) == sorted(
            code for code, _ in _picks(stage))
    # Not Pudong's office's nor the city office's plan.
    assert _plans(city_api, pudong, year) == [] and _plans(city_api, city, year) == []
    # The office's own stage: the API refuses to draw it again.
    again = city_api.post("/api/workbench/campaign/plans", json={"year": year, "stage": 1},
                          headers=chongming)
    assert again.status_code == 409, again.text

    # Pudong's office draws through the API; the command (by adcode) redraws the same
    # stage with its seed and picks exactly what the API picked.
    drawn = city_api.post("/api/workbench/campaign/plans", json={"year": year, "stage": 1}, headers=pudong)
    assert drawn.status_code == 201, drawn.text
    by_api = drawn.json()["stage"]
    assert by_api["candidates"] == 3
    r = _cli(["campaign", "plan", "--db", "--stage", 1, "--year", year, "--seed", by_api["seed"],
              "--redraw", "--district", PUDONG], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "已重新抽取并存储浦东新区" in r.stdout, r.stdout
    (by_cli,) = _plans(city_api, pudong, year)
    assert by_cli["plan_id"] != by_api["plan_id"]
    assert (by_cli["seed"], by_cli["candidates"], _picks(by_cli)) == (
        by_api["seed"], by_api["candidates"], _picks(by_api))
    assert by_cli["quota_needed"] == by_api["quota_needed"]
    with db_engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT coalesce(district, '-') FROM spot_check_plan")).scalars()) \
            == sorted([CHONGMING, PUDONG])


def _zip_files(api, headers, month) -> dict[str, bytes]:
    reply = api.get(f"/api/reports/{month}", headers=headers)
    assert reply.status_code == 200, reply.text
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    return {name: archive.read(name) for name in archive.namelist()}


def test_report_for_a_district_is_that_district_offices_report(
        city_api, db_engine, database_url, two_districts, tmp_path):
    city, _ids = two_districts
    chongming = _user(city_api, db_engine, "cm-report", CHONGMING)
    year = today_in_shanghai().year
    # The office's own stage-1 plan: its report judges against it.
    assert city_api.post("/api/workbench/campaign/plans", json={"year": year, "stage": 1},
                         headers=chongming).status_code == 201
    month = today_in_shanghai().strftime("%Y-%m")
    out = tmp_path / "cm-report"
    r = _cli(["report", "--month", month, "--out", out, "--district", "310151"], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "（崇明区）" in r.stdout and "月末未关闭冲突 1 处" in r.stdout, r.stdout
    by_api = _zip_files(city_api, chongming, month)
    by_cli = {path.name: path.read_bytes() for path in out.iterdir()}
    assert set(by_cli) == set(by_api)
    tables = sorted(name for name in by_api if name.endswith(".csv"))
    assert tables
    for name in tables:  # every table, row for row
        assert by_cli[name] == by_api[name], name
    html = by_cli["report.html"].decode("utf-8")
    assert "<h1>崇明区燃气管道保护月度地图报告</h1>" in html and "<h2>全区地图</h2>" in html
    everything = "".join(by_cli[name].decode("utf-8-sig") for name in tables)
    assert "CM-1" in everything and "PD-1" not in everything
    # Without --district: the city office's report, both districts.
    whole = tmp_path / "city-report"
    r = _cli(["report", "--month", month, "--out", whole], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "月末未关闭冲突 2 处" in r.stdout, r.stdout
    assert "<h1>上海市燃气管道保护月度地图报告</h1>" in (whole / "report.html").read_text(encoding="utf-8")


def _sheets(content: bytes) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_campaign_status_for_a_district_is_that_district_offices_status(
        city_api, db_engine, database_url, two_districts, tmp_path):
    city, ids = two_districts
    offices._more_projects(city_api, city, "CM", 121.55, 31.62, 2)   # 3 in Chongming
    offices._more_projects(city_api, city, "PD", 121.62, 31.20, 3)   # 4 in Pudong
    chongming = _user(city_api, db_engine, "cm-status", CHONGMING)
    today = today_in_shanghai()
    # Chongming's office's own stage-1 plan, drawn at the command line with its own quota:
    # its status judges against that plan's settings, the city's against the defaults.
    r = _cli(["campaign", "plan", "--db", "--stage", 1, "--year", today.year, "--seed", 5,
              "--quota", "100%", "--district", "崇明区"], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    checked = city_api.post(f"/api/projects/{ids['CM-1']}/inspections", headers=chongming, json={
        "kind": "third_party", "inspected_on": today.isoformat(), "organisation": "第三方检测公司",
        "findings": "现场防护到位", "hazards": []})
    assert checked.status_code == 201, checked.text

    out = tmp_path / "cm-status"
    r = _cli(["campaign", "status", "--db", "--date", today, "--out", out, "--district", "崇明区"],
             database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"截至 {today}（崇明区）：3 个项目，1 条检查记录。" in r.stdout, r.stdout
    reply = city_api.get(f"/api/campaign/status.xlsx?date={today}", headers=chongming)
    assert reply.status_code == 200, reply.text
    by_api = _sheets(reply.content)
    by_cli = _sheets((out / f"campaign_status_{today}.xlsx").read_bytes())
    assert set(by_cli) == set(by_api) and by_api
    for name, rows in by_api.items():  # every sheet, cell for cell
        assert by_cli[name] == rows, name
    assert "第1阶段抽查：候选 3，应抽 3，" in r.stdout, r.stdout  # its plan's quota: 100%
    codes = {row[0] for row in by_cli["项目明细"][1:]}
    assert codes == {"CM-1", "CM-2", "CM-3"}
    # The JSON the office's workbench reads: the same project and inspection counts.
    summary = city_api.get(f"/api/campaign/status?date={today}", headers=chongming).json()
    printed = r.stdout
    for duty in summary["total"]["duties"].values():
        assert (f"{duty['name_zh']}：应完成 {duty['required']}，已完成 "
                f"{duty['done'] + duty['done_late']}，逾期未完成 {duty['overdue']}。") in printed

    # By adcode, Pudong's: its own four projects; without --district, the city's seven.
    r = _cli(["campaign", "status", "--db", "--date", today, "--out", tmp_path / "pd", "--district",
              PUDONG], database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"截至 {today}（浦东新区）：4 个项目，0 条检查记录。" in r.stdout, r.stdout
    assert "第1阶段抽查：候选 4，" in r.stdout and "应抽 4，" not in r.stdout, r.stdout  # default quota
    r = _cli(["campaign", "status", "--db", "--date", today, "--out", tmp_path / "city"],
             database_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"截至 {today}：7 个项目，1 条检查记录。" in r.stdout, r.stdout


@pytest.mark.parametrize("value, fragment", [
    ("火星区", "未知的区"),
    ("上海市", "是全市而不是一个区"),
    ("  ", "不能为空"),
])
def test_an_unknown_district_is_exit_2_naming_the_option_and_the_districts(
        db_engine, clean_db, database_url, tmp_path, value, fragment):
    year = today_in_shanghai().year
    month = today_in_shanghai().strftime("%Y-%m")
    for args in (["campaign", "plan", "--db", "--stage", 1, "--year", year, "--district", value],
                 ["campaign", "status", "--db", "--date", today_in_shanghai(), "--out",
                  tmp_path / "never", "--district", value],
                 ["report", "--month", month, "--out", tmp_path / "never", "--district", value]):
        r = _cli(args, database_url, tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "--district" in r.stderr and fragment in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        if fragment != "是全市而不是一个区":
            # Every known district, by name and code.
            assert "崇明区（310151）" in r.stderr and "浦东新区（310115）" in r.stderr, r.stderr
            assert len(re.findall(r"区（3101\d\d）", r.stderr)) == 16, r.stderr
    assert not (tmp_path / "never").exists()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM spot_check_plan")).scalar_one() == 0


def test_district_is_for_the_database_mode_of_campaign_plan(tmp_path, database_url):
    projects = tmp_path / "projects.csv"
    projects.write_text("id,start_date,end_date\nP1,2026-01-10,\n", encoding="utf-8")
    r = _cli(["campaign", "plan", "--projects", projects, "--year", 2026, "--out", tmp_path / "p.csv",
              "--district", "崇明区"], database_url, tmp_path)
    assert r.returncode == 2 and "--district 只用于 --db 模式" in r.stderr, r.stderr
    assert not (tmp_path / "p.csv").exists()
    inspections = tmp_path / "inspections.csv"
    inspections.write_text("project_id,kind,date\nP1,self,2026-02-01\n", encoding="utf-8")
    r = _cli(["campaign", "status", "--projects", projects, "--inspections", inspections,
              "--date", "2026-06-01", "--out", tmp_path / "s", "--district", "崇明区"],
             database_url, tmp_path)
    assert r.returncode == 2 and "--district 只用于 --db 模式" in r.stderr, r.stderr
    assert not (tmp_path / "s").exists()


def test_a_login_that_would_see_every_district_is_refused(db_engine, clean_db):
    """Acting as itself, the tests' superuser bypasses row-level security: no district answer."""
    from gisapp.cli.district_option import seeing
    from gisapp.cli.errors import CliUsageError
    from layers.db import session_factory

    with session_factory(db_engine)() as session:
        refused = pytest.raises(CliUsageError, match="--district：数据库账号不受行级安全约束")
        with refused, seeing(session, CHONGMING):
            pass
        session.rollback()
