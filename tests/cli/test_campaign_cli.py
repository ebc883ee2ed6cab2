"""``gisapp campaign plan|status`` in file mode: happy paths and bad input files."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from campaign.csv_input import read_projects_csv
from campaign.errors import CampaignInputError, CampaignSettingsError
from gisapp.cli.campaign_cmds import register

HEADER = "id,start_date,end_date,township,hazardous,zone,permit_status,open_hazards\n"
GOOD_ROWS = (
    "P1,2026-01-10,,城桥镇,true,protection,applied,2\n"
    "P2,2026-03-01,2026-06-15,城桥镇,false,,,0\n"
    "P3,2026/7/1,2026-08-20,陈家镇,0,control,approved,\n"
    "P4,2026-09-01,,陈家镇,是,控制范围,not_started,1\n"
    "P5,2025-05-01,2026-10-10,,no,,,\n"
)


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["campaign", *map(str, args)])


def _plan_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_plan_happy_path(cli, tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    out = tmp_path / "plan.csv"
    result = cli("plan", "--projects", projects, "--year", 2026, "--out", out, "--seed", 7)
    assert result.exit_code == 0, result.output
    for number in (1, 2, 3):
        assert f"第{number}阶段" in result.output
    assert (
        "候选" in result.output and "应抽不少于" in result.output and "随机种子 7" in result.output
    )
    rows = _plan_rows(out)
    assert set(rows[0]) >= {"project_id", "stage", "reason", "seed"}
    assert {r["project_id"] for r in rows} == {"P1", "P2", "P3", "P4", "P5"}  # full coverage
    assert {r["stage"] for r in rows} <= {"1", "2", "3"}
    assert {r["seed"] for r in rows} == {"7"}
    again = tmp_path / "again.csv"
    cli("plan", "--projects", projects, "--year", 2026, "--out", again, "--seed", 7)
    assert again.read_bytes() == out.read_bytes()


def test_plan_generates_and_records_a_seed_and_takes_a_quota(cli, tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    out = tmp_path / "plan.csv"
    result = cli("plan", "--projects", projects, "--year", 2026, "--out", out, "--quota", "100%")
    assert result.exit_code == 0, result.output
    rows = _plan_rows(out)
    seed = rows[0]["seed"]
    assert f"--seed {seed}" in result.output
    # quota 100 %: every candidate of every stage is sampled (P1, P2, P3, P5 in stage 1)
    assert sorted(r["project_id"] for r in rows if r["stage"] == "1") == ["P1", "P2", "P3", "P5"]


def test_plan_warns_about_empty_stages(cli, tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text("id,start_date,end_date\nA,2026-01-01,2026-02-01\n", encoding="utf-8")
    result = cli("plan", "--projects", projects, "--year", 2026, "--out", tmp_path / "p.csv")
    assert result.exit_code == 0
    assert result.output.count("没有在建项目") == 3


def test_gbk_file_is_read(cli, tmp_path):
    projects = tmp_path / "gbk.csv"
    projects.write_bytes((HEADER + GOOD_ROWS).encode("gbk"))
    assert read_projects_csv(projects)[0].township == "城桥镇"
    bom = tmp_path / "bom.csv"
    bom.write_bytes((HEADER + GOOD_ROWS).encode("utf-8-sig"))
    assert [p.id for p in read_projects_csv(bom)] == ["P1", "P2", "P3", "P4", "P5"]


BAD_ROWS = [
    # (data rows, expected row number, id, column, message fragment)
    ("P1,2026-01-10,,,,,,\nP2,2026-13-01,,,,,,\n", 2, "P2", "start_date", "不是有效日期"),
    ("P1,2026-02-30,,,,,,\n", 1, "P1", "start_date", "2026-02-30"),
    ("P1,2026-05-01,2026-04-30,,,,,\n", 1, "P1", "end_date", "早于开工日期"),
    ("P1,2026-05-01,,,,,,\nP2,2026-05-01,,,,,,\nP1,2026-06-01,,,,,,\n", 3, "P1", "id", "重复"),
    ("P1,2026-05-01,,,maybe,,,\n", 1, "P1", "hazardous", "maybe"),
    ("P1,2026-05-01,,,,,,two\n", 1, "P1", "open_hazards", "不是整数"),
    ("P1,2026-05-01,,,,,,-1\n", 1, "P1", "open_hazards", "超出允许范围"),
    ("P1,2026-05-01,,,,buffer,,\n", 1, "P1", "zone", "protection"),
    ("P1,2026-05-01,,,,control,granted,\n", 1, "P1", "permit_status", "approved"),
    ("P1,2026-05-01,,,,,,\n,2026-05-01,,,,,,\n", 2, "（空）", "id", "不能为空"),
    ("P1,,,,,,,\n", 1, "P1", "start_date", "不能为空"),
]


@pytest.mark.parametrize(("rows", "number", "row_id", "column", "fragment"), BAD_ROWS)
def test_bad_rows_name_row_id_and_column(cli, tmp_path, rows, number, row_id, column, fragment):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + rows, encoding="utf-8")
    result = cli("plan", "--projects", projects, "--year", 2026, "--out", tmp_path / "p.csv")
    assert result.exit_code != 0
    assert isinstance(result.exception, CampaignInputError)
    message = str(result.exception)
    assert f"第 {number} 行数据" in message
    assert f"id={row_id}" in message
    assert f"列 “{column}”" in message
    assert fragment in message
    assert "projects.csv" in message
    assert not (tmp_path / "p.csv").exists()


BAD_FILES = [
    (b"id,start_date,end_date,colour\nP1,2026-01-01,,red\n", ["colour", "允许的列", "township"]),
    (b"id,start_date\nP1,2026-01-01\n", ["缺少必需的列", "end_date"]),
    (b"", ["空文件"]),
    (b"id,start_date,end_date\n", ["没有项目数据行"]),
    (b"id,start_date,end_date,id\nP1,2026-01-01,,P1\n", ["重复", "id"]),
    (b"id,start_date,end_date\nP1,2026-01-01,,extra\n", ["第 1 行数据", "4 个字段"]),
    (b"id,start_date,end_date\nP1,\xff\xfe2026,\n", ["UTF-8", "GBK"]),
]


@pytest.mark.parametrize(("content", "fragments"), BAD_FILES)
def test_bad_files_are_explained(cli, tmp_path, content, fragments):
    projects = tmp_path / "projects.csv"
    projects.write_bytes(content)
    result = cli("plan", "--projects", projects, "--year", 2026, "--out", tmp_path / "p.csv")
    assert isinstance(result.exception, CampaignInputError)
    for fragment in fragments:
        assert fragment in str(result.exception)


def test_row_limit(tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(
        "id,start_date,end_date\n" + "".join(f"P{i},2026-01-01,\n" for i in range(6)),
        encoding="utf-8",
    )
    assert len(read_projects_csv(projects, max_rows=6)) == 6
    with pytest.raises(CampaignInputError, match="超过 5 行数据的上限"):
        read_projects_csv(projects, max_rows=5)


INSPECTIONS_HEADER = (
    "project_id,kind,date,round_or_stage,findings,major_hazard,rectification_state,"
    "rectification_deadline\n"
)


def test_status_happy_path(cli, tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    inspections = tmp_path / "inspections.csv"
    inspections.write_text(
        INSPECTIONS_HEADER
        + "P1,self,2026-05-20,1,,,,\n"
        + "P1,spot,2026-06-10,1,基坑临边防护缺失,true,open,2026-06-20\n"
        + "P3,区级抽查,2026-08-10,,,,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "status"
    result = cli(
        "status",
        "--projects",
        projects,
        "--inspections",
        inspections,
        "--date",
        "2026-10-05",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "第1轮自查：应完成" in result.output and "第1阶段抽查" in result.output
    assert (out / "campaign_status_2026-10-05.xlsx").is_file()
    with open(out / "projects.csv", encoding="utf-8-sig", newline="") as handle:
        rows = {r["项目编号"]: r for r in csv.DictReader(handle)}
    assert rows["P1"]["第1轮自查"] == "已完成"
    assert "重大隐患 1 项" in rows["P1"]["问题说明"]
    assert rows["P3"]["已抽查阶段"] == "2"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("P9,self,2026-05-20,1,,,,\n", "project_id", "不在项目清单"),
        ("P1,audit,2026-05-20,1,,,,\n", "kind", "third_party"),
        ("P1,self,2026-05-20,3,,,,\n", "round_or_stage", "超出允许范围"),
        ("P1,spot,2025-12-20,1,,,,\n", "date", "活动年度"),
        ("P1,spot,2026-06-20,1,x,,done,\n", "rectification_state", "verified"),
        ("P1,spot,2026-06-20,1,x,,open,2026-06-01\n", "rectification_deadline", "早于检查日期"),
    ],
)
def test_status_bad_inspection_rows(cli, tmp_path, row, column, fragment):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    inspections = tmp_path / "inspections.csv"
    inspections.write_text(INSPECTIONS_HEADER + row, encoding="utf-8")
    result = cli(
        "status",
        "--projects",
        projects,
        "--inspections",
        inspections,
        "--date",
        "2026-10-05",
        "--out",
        tmp_path / "out",
    )
    assert isinstance(result.exception, CampaignInputError)
    message = str(result.exception)
    assert "inspections.csv 第 1 行数据" in message and "project_id=P" in message
    assert f"列 “{column}”" in message and fragment in message


def test_status_bad_date_option(cli, tmp_path):
    result = cli(
        "status",
        "--projects",
        tmp_path / "p.csv",
        "--inspections",
        tmp_path / "i.csv",
        "--date",
        "2026-02-30",
        "--out",
        tmp_path,
    )
    assert isinstance(result.exception, CampaignSettingsError)
    assert "--date" in str(result.exception) and "2026-02-30" in str(result.exception)


def _gisapp(*args):
    return subprocess.run(
        [sys.executable, "-c", "from gisapp.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_entry_point_exit_codes_and_no_traceback(tmp_path):
    projects = tmp_path / "projects.csv"
    projects.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    ok = _gisapp(
        "campaign",
        "plan",
        "--projects",
        projects,
        "--year",
        2026,
        "--out",
        tmp_path / "plan.csv",
        "--seed",
        1,
    )
    assert ok.returncode == 0, ok.stderr
    assert "第3阶段" in ok.stdout
    projects.write_text(HEADER + "P1,2026-01-01,yesterday,,,,,\n", encoding="utf-8")
    bad = _gisapp(
        "campaign", "plan", "--projects", projects, "--year", 2026, "--out", tmp_path / "plan2.csv"
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "第 1 行数据" in bad.stderr and "end_date" in bad.stderr
