"""``gisapp report``: monthly map report files from a real PostGIS with the district sample."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import text

from layers.db import session_factory
from layers.importer import import_layer, load_townships
from layers.sample import generate_sample
from layers.services.actors import Actor
from layers.services.features import WriteContext, screen_and_alert
from maps.report import ReportInputError, build_report
from maps.report.labels import SHEET_TITLES, TABLE_TITLES
from spatial_rules.rulesets import load_rule_set
from vocabulary import PermitState

pytestmark = pytest.mark.postgis

MONTH = "2026-04"
TOWNSHIP = "城桥镇"
HEADINGS = ("崇明区燃气管道保护月度地图报告", "全区地图", "冲突按范围和乡镇统计", "保护手续办理状态",
            "燃气工程纳入监管情况", "检查进度", "区级抽查分阶段进度", "冲突清单", "冲突点位图")


def _truncate(engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
        )).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture(scope="module")
def loaded(db_engine):
    """The seed-5 sample, screened; conflicts dated March 2026, every fifth closed in April."""
    dataset = generate_sample(seed=5)
    with session_factory(db_engine).begin() as session:
        load_townships(session, dataset.townships, source="sample")
        for kind, frame in (("pipelines", dataset.pipelines), ("projects", dataset.projects)):
            import_layer(session, kind, frame, source_name=f"{kind}.geojson",
                         source_sha256="0" * 64, source_crs="EPSG:4490")
        ids = session.execute(text("SELECT id FROM construction_project")).scalars().all()
        ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"))
        assert screen_and_alert(session, "projects", ids, ctx)
        session.execute(text(
            "UPDATE pipeline_conflict SET first_detected_at = '2026-03-10 10:00+08', "
            "closed_at = CASE WHEN id % 5 = 0 THEN timestamptz '2026-04-20 09:00+08' END"
        ))
        session.execute(text("UPDATE alert SET created_at = '2026-03-10 10:00+08'"))
        # Two procedures approved; three projects did their first self-inspection in April.
        session.execute(text(
            "UPDATE permit SET status = 'approved', approved_until = '2027-01-01' "
            "WHERE id IN (SELECT id FROM permit ORDER BY id LIMIT 2)"
        ))
        session.execute(text(
            "INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on) "
            "SELECT id, 'self', 1, '2026-04-15' FROM construction_project "
            "WHERE status = 'under_construction' AND start_date < '2026-01-01' ORDER BY id LIMIT 3"
        ))
    yield db_engine
    _truncate(db_engine)


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _open_at_april_end(engine, township: str | None = None) -> int:
    return _count(
        engine,
        "SELECT count(*) FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        "WHERE c.first_detected_at < '2026-05-01 00:00+08' AND (c.closed_at IS NULL OR "
        "c.closed_at >= '2026-05-01 00:00+08') AND (CAST(:tw AS text) IS NULL OR p.township = :tw)",
        tw=township,
    )


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "GISAPP_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-c", "from gisapp.cli import main; main()", "report", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


class _Refs(HTMLParser):
    """Collects attribute values, tags and CSS: everything that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []
        self.tags: set[str] = set()
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._in_style = tag == "style"
        self.values += [v or "" for _, v in attrs]

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def _summary(rows) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in rows}


@pytest.fixture(scope="module")
def district_report(loaded, database_url, tmp_path_factory):
    """The district report of April 2026, written by the CLI."""
    out = tmp_path_factory.mktemp("report") / "april"
    done = _run(database_url, "--month", MONTH, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, done


def test_cli_writes_every_file(district_report):
    out, done = district_report
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.pdf", "report.xlsx"} <= names
    assert {f"{stem}.csv" for stem in TABLE_TITLES} <= names
    assert "已生成" in done.stdout
    assert (out / "summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel


def test_html_is_self_contained_and_holds_the_map(district_report, loaded):
    out, _ = district_report
    page = (out / "report.html").read_text(encoding="utf-8")
    refs = _Refs()
    refs.feed(page)
    for value in [*refs.values, *refs.css]:
        assert "http://" not in value and "https://" not in value, value
        assert "url(" not in value
    assert not refs.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "<svg" in page and page.count("<circle") >= _open_at_april_end(loaded) // 4
    for heading in HEADINGS:
        assert heading in page


def test_pdf_text_has_headings_and_the_open_conflict_count(district_report, loaded):
    out, _ = district_report
    reader = PdfReader(out / "report.pdf")
    assert abs(float(reader.pages[0].mediabox.width) - 595.28) < 1  # A4 portrait
    body = "\n".join(page.extract_text() for page in reader.pages)
    for heading in HEADINGS:
        assert heading in body, heading
    expected = _open_at_april_end(loaded)
    total = _count(loaded, "SELECT count(*) FROM pipeline_conflict")
    assert 0 < expected < total  # the April closures must not be counted
    assert f"月末未关闭冲突\n{expected}\n" in body
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("WenQuanYi" in f for f in fonts)
    descendant = next(
        font.get_object() for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
        if "WenQuanYi" in str(font.get_object()["/BaseFont"])
    )
    assert "/FontFile2" in descendant["/FontDescriptor"]  # embedded TrueType


def test_xlsx_and_csv_hold_the_same_figures(district_report, loaded):
    out, _ = district_report
    book = load_workbook(out / "report.xlsx", read_only=True)
    assert list(book.sheetnames) == list(SHEET_TITLES.values())
    summary = _summary(book[SHEET_TITLES["summary"]].iter_rows(min_row=2, values_only=True))
    assert summary["月末未关闭冲突"] == str(_open_at_april_end(loaded))
    assert summary["本月新增冲突"] == "0"
    assert summary["本月关闭冲突（月前发现）"] == str(
        _count(loaded, "SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NOT NULL")
    )
    permits = {r[0]: r[1] for r in book[SHEET_TITLES["permit_status"]].iter_rows(
        min_row=2, values_only=True)}
    approved_open = _count(
        loaded, "SELECT count(*) FROM permit pm JOIN pipeline_conflict c ON c.id = pm.conflict_id "
        "WHERE pm.status = 'approved' AND c.closed_at IS NULL")
    assert permits[PermitState.APPROVED.label] == approved_open
    assert permits["合计"] == _open_at_april_end(loaded)
    progress = {r[0]: r for r in book[SHEET_TITLES["inspection_progress"]].iter_rows(
        min_row=2, values_only=True)}
    assert progress["第1轮自查"][1] == "2026-05-31" and progress["第1轮自查"][4] == 3
    stages = list(book[SHEET_TITLES["spot_check_stages"]].iter_rows(min_row=2, values_only=True))
    assert [s[2] for s in stages] == ["2026-07-31", "2026-09-30", "2026-11-30"]
    assert all(s[6] == 0 for s in stages)  # no spot check recorded yet
    with open(out / "conflicts_by_township.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[-1]["乡镇"] == "合计"
    assert int(rows[-1]["月末未关闭冲突合计"]) == _open_at_april_end(loaded)


def test_township_filter_reduces_every_count(loaded, database_url, tmp_path):
    done = _run(database_url, "--month", MONTH, "--township", TOWNSHIP, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    book = load_workbook(tmp_path / "report.xlsx", read_only=True)
    summary = _summary(book[SHEET_TITLES["summary"]].iter_rows(min_row=2, values_only=True))
    expected = _open_at_april_end(loaded, TOWNSHIP)
    assert 0 < expected < _open_at_april_end(loaded)
    assert summary["月末未关闭冲突"] == str(expected) and summary["范围"] == TOWNSHIP
    townships = [r[0] for r in book[SHEET_TITLES["conflicts_by_township"]].iter_rows(
        min_row=2, values_only=True)]
    assert townships == [TOWNSHIP, "合计"]
    body = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages)
    assert f"月末未关闭冲突\n{expected}\n" in body


def test_month_before_detection_has_no_conflict(loaded, tmp_path):
    with session_factory(loaded)() as session:
        result = build_report(session, "2026-02", tmp_path)
    assert result.open_conflicts == 0 and result.new_conflicts == 0
    body = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages)
    assert "本月末无未关闭的冲突" in body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "月份"),
        (["--month", "abc"], "YYYY-MM"),
        (["--month", MONTH, "--township", "火星镇"], "已知乡镇：城桥镇"),
    ],
)
def test_bad_input_exits_2_with_a_chinese_message(loaded, database_url, tmp_path, args, message):
    done = _run(database_url, *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_unwritable_output_exits_2(database_url, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = _run(database_url, "--month", MONTH, "--out", str(blocker / "sub"))
    assert done.returncode == 2
    assert "无法写入输出目录" in done.stderr and "Traceback" not in done.stderr


def test_unknown_township_in_process_names_known_ones(loaded, tmp_path):
    with session_factory(loaded)() as session, pytest.raises(ReportInputError, match="横沙乡"):
        build_report(session, MONTH, tmp_path, township="不存在镇")
