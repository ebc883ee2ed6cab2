"""Writing plans and statistics tables: CSV in UTF-8 with BOM (opens in Excel) and XLSX."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from openpyxl.utils import get_column_letter

from campaign.errors import CampaignError
from campaign.sampling import CampaignPlan

CSV_ENCODING = "utf-8-sig"  # the BOM makes Excel read UTF-8 instead of the local code page
PLAN_COLUMNS = ("project_id", "stage", "reason", "risk_score", "risk_factors", "forced", "seed")


def plan_frame(plan: CampaignPlan) -> pd.DataFrame:
    """Return the plan as one row per pick, in stage order, with the seed on every row."""
    records = [
        {
            "project_id": pick.project_id,
            "stage": pick.stage,
            "reason": pick.reason,
            "risk_score": pick.risk_score,
            "risk_factors": "；".join(pick.risk_factors),
            "forced": pick.forced,
            "seed": plan.seed,
        }
        for stage in plan.stages
        for pick in stage.picks
    ]
    return pd.DataFrame.from_records(records, columns=list(PLAN_COLUMNS))


def write_plan_csv(plan: CampaignPlan, path: str | Path) -> Path:
    """Write the plan CSV (UTF-8 with BOM) and return its path."""
    return write_csv(plan_frame(plan), path)


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write one table as CSV in UTF-8 with BOM, creating the parent folder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, encoding=CSV_ENCODING)
    except OSError as err:
        raise CampaignError(f"无法写入文件 {path}：{err.strerror}。") from err
    return path


def write_tables_csv(tables: Mapping[str, pd.DataFrame], directory: str | Path) -> list[Path]:
    """Write each table to ``directory/<name>.csv`` and return the paths."""
    directory = Path(directory)
    return [write_csv(frame, directory / f"{name}.csv") for name, frame in tables.items()]


def write_tables_xlsx(sheets: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Write the tables as sheets of one XLSX workbook with readable column widths."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for title, frame in sheets.items():
                frame.to_excel(writer, sheet_name=title[:31], index=False)
                _fit_columns(writer.sheets[title[:31]], frame)
    except OSError as err:
        raise CampaignError(f"无法写入文件 {path}：{err.strerror}。") from err
    return path


def _fit_columns(sheet, frame: pd.DataFrame) -> None:
    """Size columns to their longest text; CJK characters count double."""
    for index, column in enumerate(frame.columns, start=1):
        texts = [str(column), *(str(v) for v in frame[column].head(500))]
        width = max(sum(2 if ord(ch) > 0x2E7F else 1 for ch in text) for text in texts)
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 80)
