"""``/api/rules``: the rule set versions and what a change of version does (gas office)."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from campaign.export import write_csv, write_tables_xlsx
from gisapp.api.deps import SessionDep, allow
from layers.services.errors import InvalidRequestError
from layers.services.permissions import EVERYTHING, Access
from layers.services.rules import rule_impact, rules_overview
from spatial_rules.errors import RuleSetError
from spatial_rules.rulesets import resolve_builtin

router = APIRouter(prefix="/api/rules", tags=["rules"])
# The whole district's data: only a grant that reaches everything can answer.
RulesReader = Annotated[Access, allow("rules.read", scopes=EVERYTHING)]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _version(spec: str, field: str):
    try:
        return resolve_builtin(spec)  # never a file a request names
    except RuleSetError as exc:
        raise InvalidRequestError(f"参数 {field}：{exc}") from exc


@router.get("")
def rule_sets(request: Request, session: SessionDep, access: RulesReader) -> dict:
    """内置规则集各版本（施行期、依据条文），服务当前使用的版本与数据库的切换记录。"""
    return rules_overview(session, request.app.state.rule_set.label)


@router.get("/impact")
def impact(
    session: SessionDep, access: RulesReader,
    from_: Annotated[str, Query(alias="from", min_length=1, max_length=200)],
    to: Annotated[str, Query(min_length=1, max_length=200)],
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    include_completed: bool = False,
):
    """试算规则变更的影响（不写入）：进入、离开范围，范围或禁止作业变化的项目，按乡镇与压力级制统计。"""
    before = _version(from_, "from")
    after = _version(to, "to")
    report = rule_impact(session, before, after, include_completed=include_completed)
    name = f"impact_{before.label}_{after.label}".replace("@", "-")
    if format == "csv":
        # Through campaign.export's writer: cells a spreadsheet would run are neutralised.
        with tempfile.TemporaryDirectory() as tmp:
            body = write_csv(report.table, FsPath(tmp) / "impact.csv").read_bytes()
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "xlsx":
        with tempfile.TemporaryDirectory() as tmp:
            path = write_tables_xlsx(report.sheets(), FsPath(tmp) / "impact.xlsx")
            body = path.read_bytes()
        return Response(body, media_type=_XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return {"summary": report.summary(), "rows": report.table.to_dict("records")}
