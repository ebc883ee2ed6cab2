"""Build the monthly map report: HTML, PDF, CSV and XLSX from one set of figures."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from campaign.errors import CampaignError
from campaign.export import write_csv, write_tables_xlsx
from campaign.settings import CampaignSettings
from maps.report.data import load_report_data
from maps.report.errors import ReportOutputError
from maps.report.fonts import find_cjk_font
from maps.report.html import write_html
from maps.report.labels import SHEET_TITLES, SYNTHETIC_NOTE, report_title, whole_area
from maps.report.pdf import write_pdf
from maps.report.period import ReportPeriod, parse_month
from maps.report.scene import conflict_scene, overview_scene
from maps.report.tables import build_tables

# Beyond this many conflicts the PDF and HTML draw the most severe ones; the list has all.
MAX_CONFLICT_MAPS = 150
HTML_NAME, PDF_NAME, XLSX_NAME = "report.html", "report.pdf", "report.xlsx"


@dataclass
class ReportResult:
    """The files written and the headline figures."""

    directory: Path
    files: list[Path] = field(default_factory=list)
    open_conflicts: int = 0
    new_conflicts: int = 0


def prepare_output_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and check it can be written; raise ``ReportOutputError``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReportOutputError(f"输出目录 {out} 已存在且不是文件夹，请换一个目录。")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise ReportOutputError(f"无法写入输出目录 {out}：{reason}。请检查路径和权限。") from err
    return out


def build_report(
    session: Session,
    month: str | ReportPeriod,
    out_dir: str | Path,
    *,
    township: str | None = None,
    rule_set: str | None = None,
    campaign_settings: CampaignSettings | None = None,
    district: str | None = None,
) -> ReportResult:
    """Write report.html, report.pdf, report.xlsx and one CSV per table to ``out_dir``.

    Reads only; ``rule_set`` (a rule-set label) restricts conflicts to one rule set.
    ``district``: the adcode of a district user's district (its rows alone reach this
    transaction under row-level security): the title, headings and overview map name
    and frame that district; None: the served jurisdiction (a city user's: the city).
    """
    period = month if isinstance(month, ReportPeriod) else parse_month(month)
    out = prepare_output_dir(out_dir)
    find_cjk_font()  # fail before any work when the PDF cannot be made
    settings = campaign_settings or CampaignSettings.for_year(period.year)
    data = load_report_data(session, period, township, rule_set, district=district)
    tables = build_tables(data, settings)
    overview = overview_scene(data)
    shown = data.conflicts.head(MAX_CONFLICT_MAPS)
    scenes = [conflict_scene(row, i) for i, (_, row) in enumerate(shown.iterrows(), start=1)]
    omitted = len(data.conflicts) - len(shown)
    area = whole_area(district)
    heading = f"{period.label_zh}（统计截至 {period.last_day}）｜{township or area}"
    notes = [SYNTHETIC_NOTE] if data.synthetic_townships else []
    notes.append(f"地图为示意图：管道几何已简化；{area}图仅绘高压、次高压管道，乡镇图绘全部管道。")
    common: dict[str, Any] = {"heading": heading, "notes": notes, "tables": tables, "overview": overview,
                  "conflict_scenes": scenes, "omitted_conflicts": omitted, "scope": township,
                  "title": report_title(district), "area": area}
    result = ReportResult(out, open_conflicts=len(data.conflicts),
                          new_conflicts=len(data.new_conflicts))
    try:
        result.files.append(write_html(out / HTML_NAME, **common))
        result.files.append(write_pdf(out / PDF_NAME, **common))
        result.files += [write_csv(frame, out / f"{stem}.csv") for stem, frame in tables.items()]
        result.files.append(write_tables_xlsx(
            {SHEET_TITLES[stem]: frame for stem, frame in tables.items()}, out / XLSX_NAME
        ))
    except CampaignError as err:
        raise ReportOutputError(str(err)) from err
    except OSError as err:
        raise ReportOutputError(
            f"无法写入输出目录 {out}：{err.strerror or err}。请检查路径和权限。"
        ) from err
    return result
