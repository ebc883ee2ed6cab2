"""The gas office's lists of projects, conflicts and permits: filters, pages and exports.

The table a page shows and the CSV/XLSX it exports come from the same rows and the
same Chinese headings and labels. Formula-like cells are quoted by the one
``campaign.export.spreadsheet_cell`` (OWASP's CSV injection advice).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from campaign.export import spreadsheet_cell, to_spreadsheet_csv, write_tables_xlsx
from layers.services.errors import InvalidRequestError
from vocabulary import PermitState, PressureClass, ProjectKind, ProjectStatus, Zone

# The one Chinese word of each code (the vocabulary), for the page and the export alike.
PERMIT_ZH = PermitState.labels()
PRESSURE_ZH = PressureClass.labels()
ZONE_ZH = Zone.labels()
KIND_ZH = ProjectKind.labels()
STATUS_ZH = ProjectStatus.labels()


@dataclass(frozen=True)
class ListSpec:
    """One list: its query, its filter on ``status`` and its columns (key, heading, labels)."""

    sql: str
    status_column: str
    statuses: dict
    columns: tuple[tuple[str, str, dict | None], ...]
    order: str


LISTS = {
    "projects": ListSpec(
        sql="""SELECT p.id, p.registration_code, p.name, p.kind, p.status, p.township, p.organisation,
          p.start_date, p.planned_completion_date,
          (SELECT count(*) FROM pipeline_conflict c WHERE c.project_id = p.id AND c.closed_at IS NULL)
            AS conflicts
        FROM construction_project p WHERE p.deleted_at IS NULL {where}""",
        status_column="p.status", statuses=STATUS_ZH,
        columns=(("registration_code", "项目编号", None), ("name", "项目名称", None),
                 ("kind", "项目类型", KIND_ZH),
                 ("status", "状态", STATUS_ZH),
                 ("township", "乡镇", None), ("organisation", "所属单位", None),
                 ("start_date", "计划开工日期", None), ("planned_completion_date", "计划竣工日期", None),
                 ("conflicts", "未关闭冲突", None)),
        order="p.registration_code"),
    "conflicts": ListSpec(
        sql="""SELECT c.id, p.id AS project_id, p.registration_code, p.name, p.township,
          g.external_code AS pipeline_code, g.owner, c.pressure_class, c.zone,
          round(c.distance_m::numeric, 2)::float AS distance_m, pm.status AS permit_status,
          c.first_detected_at
        FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id
        JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN permit pm ON pm.conflict_id = c.id
        WHERE c.closed_at IS NULL {where}""",
        status_column="c.zone", statuses=ZONE_ZH,
        columns=(("id", "冲突编号", None), ("registration_code", "项目编号", None),
                 ("name", "项目名称", None),
                 ("township", "乡镇", None), ("pipeline_code", "管道编号", None), ("owner", "权属单位", None),
                 ("pressure_class", "压力级制", PRESSURE_ZH),
                 ("zone", "所在范围", ZONE_ZH), ("distance_m", "距管壁（米）", None),
                 ("permit_status", "保护手续", PERMIT_ZH), ("first_detected_at", "发现时间", None)),
        order="c.id"),
    "permits": ListSpec(
        sql="""SELECT pm.id, p.id AS project_id, p.registration_code, p.name, p.township,
          g.external_code AS pipeline_code, c.zone, pm.status, pm.approved_until, pm.reference,
          pm.updated_at
        FROM permit pm JOIN pipeline_conflict c ON c.id = pm.conflict_id AND c.closed_at IS NULL
        JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id
        WHERE TRUE {where}""",
        status_column="pm.status", statuses=PERMIT_ZH,
        columns=(("id", "手续编号", None), ("registration_code", "项目编号", None),
                 ("name", "项目名称", None), ("township", "乡镇", None),
                 ("pipeline_code", "管道编号", None), ("zone", "所在范围", ZONE_ZH),
                 ("status", "状态", PERMIT_ZH), ("approved_until", "有效期至", None),
                 ("reference", "文号", None), ("updated_at", "更新时间", None)),
        order="pm.id"),
}
MAX_EXPORT_ROWS = 100_000


def office_list(session: Session, kind: str, *, q: str | None = None, township: str | None = None,
                status: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Return one page of a list (rows with labels added) and the total matching."""
    spec = LISTS.get(kind)
    if spec is None:
        raise InvalidRequestError(f"未知列表“{kind[:40]}”（可用：projects、conflicts、permits）")
    where: list[str] = []
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if status:
        if status not in spec.statuses:
            allowed = "、".join(spec.statuses)
            raise InvalidRequestError(f"参数 status：未知状态“{status[:40]}”（可用：{allowed}）")
        where.append(f"AND {spec.status_column} = :status")
        params["status"] = status
    if township:
        where.append("AND p.township = :township")
        params["township"] = township
    if q:
        where.append("AND (p.registration_code ILIKE :q OR p.name ILIKE :q)")
        params["q"] = "%" + q.replace("%", "").replace("_", "") + "%"
    sql = spec.sql.format(where=" ".join(where))
    total = session.execute(text(f"SELECT count(*) FROM ({sql}) x"), params).scalar_one()
    rows = session.execute(text(f"{sql} ORDER BY {spec.order} LIMIT :limit OFFSET :offset"),
                           params).mappings().all()
    out = []
    for row in rows:
        item = {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()}
        for key, _, labels in spec.columns:
            if labels is not None:
                item[f"{key}_zh"] = labels.get(item[key] or "", item[key] or "")
        out.append(item)
    return out, int(total)


def export_frame(kind: str, rows: list[dict]) -> pd.DataFrame:
    """Return the rows as a table with Chinese headings and labels, safe for spreadsheets."""
    spec = LISTS[kind]
    data = {heading: [spreadsheet_cell(r.get(f"{key}_zh", r[key]) if labels else r[key]) for r in rows]
            for key, heading, labels in spec.columns}
    return pd.DataFrame(data, columns=[heading for _, heading, _ in spec.columns])


def export_bytes(kind: str, rows: list[dict], fmt: str) -> bytes:
    """Return the list as CSV (UTF-8 with BOM, for Excel) or XLSX bytes.

    Written by campaign.export's writers (the one place that makes cells safe), through a
    temporary file.
    """
    frame = export_frame(kind, rows)
    with tempfile.TemporaryDirectory(prefix="gisapp-export-") as tmp:
        target = Path(tmp) / f"{kind}.{fmt}"
        if fmt == "csv":
            to_spreadsheet_csv(frame, target)
        else:
            write_tables_xlsx({kind: frame}, target)
        return target.read_bytes()
