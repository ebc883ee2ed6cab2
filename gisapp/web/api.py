"""JSON endpoints the workbench pages need beyond the public API (preview, page summaries)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from campaign.settings import settings_for
from gisapp.api.deps import CurrentUser, SessionDep, allow
from gisapp.api.errors import error_body
from gisapp.api.routes.inspections import InspectionIn
from layers.services import campaign_plans as plans_service
from layers.services import inspections as inspection_service
from layers.services import workbench_lists as lists
from layers.services import workbench_queries as queries
from layers.services.errors import InvalidRequestError, PermissionDeniedError
from layers.services.inspection_items import key_items_of, record_with_key_items, todays_projects
from layers.services.permissions import EVERYTHING, Access, Scope, authorize, denial
from layers.services.site_input import SiteInputError, parse_drawn, parse_file, parse_pasted
from layers.services.site_preview import preview_site
from maps.layers_data import townships_geojson
from vocabulary import today_in_shanghai
from vocabulary.activities import Activity, ActivityError, parse_activities

router = APIRouter(tags=["workbench"])
# What each endpoint needs, from the permission table (layers.services.permissions).
Registrar = Annotated[Access, allow("project.write", scopes=(Scope.ALL, Scope.OWN_PROJECTS))]
Anyone = Annotated[Access, allow("account.read")]
ProjectReader = Annotated[Access, allow("project.read")]
OwnProjects = Annotated[Access, allow("project.read", scopes=(Scope.OWN_PROJECTS,))]
AlertReader = Annotated[Access, allow("alert.read", scopes=EVERYTHING)]
Progress = Annotated[Access, allow("campaign.status", scopes=EVERYTHING)]
Planner = Annotated[Access, allow("campaign.plan", scopes=EVERYTHING)]
InspectionReader = Annotated[Access, allow("inspection.read")]
LIST_READERS = {"projects": "project.read", "conflicts": "conflict.read", "permits": "permit.read"}
MAX_SITE_FILE_BYTES = 50_000_000
PREVIEW_EXAMPLE = {"site_text": "121.40,31.62\n121.41,31.62\n121.41,31.63", "crs": "cgcs2000"}


def _problem_response(err: SiteInputError) -> JSONResponse:
    return JSONResponse(error_body(str(err), [p.as_dict() for p in err.site_problems]), status_code=422)


def _declared(value: Any) -> frozenset[Activity] | None:
    """Return the planned activities of a preview (codes or Chinese names), or None."""
    too_long = ((isinstance(value, str) and len(value) > 2000)
                or (isinstance(value, list) and len(value) > 100))
    if value is not None and (not isinstance(value, str | list) or too_long):
        raise InvalidRequestError("字段 activities：须为作业类型代码的列表，或以逗号分隔的文本")
    try:
        return parse_activities(value)
    except ActivityError as exc:
        raise InvalidRequestError(f"字段 activities：{exc}") from exc


def _answer(request: Request, session, site, activities: frozenset[Activity] | None = None) -> dict:
    # The same rule set and activities as the screening of the stored project.
    found = preview_site(session, site, request.app.state.rule_set, activities)
    return {"site": site.__geo_interface__, **found}


@router.post("/api/projects/preview")
def preview(
    request: Request, session: SessionDep, user: Registrar,
    body: Annotated[dict[str, Any], Body(examples=[PREVIEW_EXAMPLE])],
):
    """筛查一个正在绘制或编辑的场地（不保存）：返回冲突、保护/控制范围与最近距离线。

    请求体：``site``（GeoJSON 面，CGCS2000 经纬度，地图绘制）
    或 ``site_text``（每行“经度,纬度”或 WKT）与 ``crs``；可选 ``activities``（计划进行的
    施工活动代码列表，与提交项目时相同；不填则按全部活动判断）。
    """
    margin = request.app.state.settings.district_margin_m
    activities = _declared(body.get("activities"))
    try:
        if body.get("site") is not None:
            site = parse_drawn(body["site"], margin_m=margin)
        elif body.get("site_text") is not None:
            if not isinstance(body["site_text"], str) or len(body["site_text"]) > 500_000:
                raise InvalidRequestError("字段 site_text：须为不超过 500 KB 的文本")
            site = parse_pasted(body["site_text"], body.get("crs"), margin_m=margin)
        else:
            raise InvalidRequestError("请求体须包含 site（GeoJSON 面）或 site_text（坐标文本）")
    except SiteInputError as err:
        return _problem_response(err)
    return _answer(request, session, site, activities)


@router.post("/api/projects/preview/file")
def preview_file(
    request: Request, session: SessionDep, user: Registrar,
    file: Annotated[UploadFile, File(description="GeoJSON、GeoPackage、Shapefile（zip）或 CSV（WKT）")],
    crs: Annotated[str, Form(max_length=20)] = "auto",
    activities: Annotated[str | None, Form(max_length=2000)] = None,
):
    """读取上传的场地文件（与 gisapp import 相同格式，仅 1 个场地）并筛查（不保存）。

    ``activities``：计划进行的施工活动（代码或中文名称，逗号分隔；不填则按全部活动判断）。
    """
    declared = _declared(activities)
    name = Path(file.filename or "site.geojson").name[-100:]
    content = file.file.read(MAX_SITE_FILE_BYTES + 1)
    if len(content) > MAX_SITE_FILE_BYTES:
        raise InvalidRequestError("场地文件超过 50 MB")
    with tempfile.TemporaryDirectory(prefix="gisapp-site-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            site = parse_file(path, crs, margin_m=request.app.state.settings.district_margin_m)
        except SiteInputError as err:
            return _problem_response(err)
    return _answer(request, session, site, declared)


@router.get("/api/workbench/townships")
def townships(session: SessionDep, access: Anyone) -> dict:
    """乡镇范围（公开底图，供工作台地图定位）。"""
    return townships_geojson(session)


@router.get("/api/workbench/my-projects")
def my_projects(session: SessionDep, access: OwnProjects) -> dict:
    """本单位项目：冲突数、保护手续状态、最近期限。"""
    return {"projects": queries.builder_projects(session, access.actor.organisation)}


@router.get("/api/workbench/office-summary")
def office_summary(session: SessionDep, access: AlertReader,
                   days: Annotated[int, Query(ge=1, le=365)] = 30) -> dict:
    """燃气管理所待办：新告警、即将到期的批准、在建但未办手续的项目。"""
    return queries.office_todo(session, days=days)


@router.get("/api/workbench/projects/{project_id}")
def project_detail(session: SessionDep, access: ProjectReader, project_id: int) -> dict:
    """项目页所需：项目、冲突（含管道与权属单位、最近距离线）、保护手续与历史。"""
    return queries.project_page(session, project_id, access)


class KeyItemInspectionIn(InspectionIn):
    """An inspection with the district's five key items, each compliant (true) or not (false)."""

    key_items: dict[str, bool] = Field(description="五项重点检查内容：代码 → 是否符合")


ProjectId = Annotated[int, PathParam(ge=1, le=2**62)]


@router.get("/api/workbench/inspections/today")
def inspections_today(session: SessionDep, access: Progress) -> dict:
    """今日检查：本年度当前抽查阶段的项目（未检查的在前）。"""
    return todays_projects(session, today_in_shanghai())


@router.post("/api/workbench/projects/{project_id}/inspections", status_code=201)
def record_inspection(session: SessionDep, access: InspectionReader, project_id: ProjectId,
                      body: KeyItemInspectionIn) -> dict:
    """记录检查：五项重点内容逐项判定，隐患随后可上传照片并闭环整改。"""
    new = inspection_service.NewInspection(
        kind=body.kind, round_or_stage=body.round_or_stage, inspected_on=body.inspected_on,
        organisation=body.organisation, findings=body.findings,
        hazards=[inspection_service.NewHazard(h.description, h.major, h.deadline) for h in body.hazards],
    )
    return record_with_key_items(session, project_id, access.actor, new, key_items=body.key_items)


@router.get("/api/workbench/projects/{project_id}/inspections")
def project_inspections(session: SessionDep, access: InspectionReader, project_id: ProjectId) -> dict:
    """项目的检查记录，含五项重点内容、隐患与整改状态。"""
    inspections = inspection_service.list_inspections(session, project_id, access)
    items = key_items_of(session, [i["id"] for i in inspections])
    for inspection in inspections:
        inspection["key_items"] = items.get(inspection["id"], [])
    return {"project_id": project_id, "inspections": inspections}


ListKind = Annotated[str, PathParam(pattern="^(projects|conflicts|permits)$")]
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
LIST_ZH = {"projects": "项目", "conflicts": "冲突", "permits": "保护手续"}


def _list_access(kind: ListKind, user: CurrentUser) -> Access:
    """The list's own read grant, over everything (the lists are the gas office's)."""
    access = authorize(user, LIST_READERS[kind])
    if access.scope is not Scope.ALL:
        raise PermissionDeniedError(denial(user, LIST_READERS[kind]))
    return access


ListAccess = Annotated[Access, Depends(_list_access)]


@router.get("/api/workbench/lists/{kind}")
def office_list(
    session: SessionDep, user: ListAccess, kind: ListKind,
    q: Annotated[str | None, Query(max_length=100)] = None,
    township: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """项目、冲突、保护手续列表（按关键词、乡镇、状态过滤，分页）。"""
    rows, total = lists.office_list(session, kind, q=q or None, township=township or None,
                                    status=status or None, limit=limit, offset=offset)
    return {"rows": rows, "numberMatched": total, "numberReturned": len(rows)}


@router.get("/api/workbench/lists/{kind}/export.{fmt}")
def office_list_export(
    session: SessionDep, user: ListAccess, kind: ListKind,
    fmt: Annotated[str, PathParam(pattern="^(csv|xlsx)$")],
    q: Annotated[str | None, Query(max_length=100)] = None,
    township: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """导出列表（CSV 或 XLSX，与页面相同的筛选与中文列名）。"""
    rows, _ = lists.office_list(session, kind, q=q or None, township=township or None,
                                status=status or None, limit=lists.MAX_EXPORT_ROWS, offset=0)
    name = f"{LIST_ZH[kind]}列表.{fmt}"
    return Response(lists.export_bytes(kind, rows, fmt), media_type=EXPORT_TYPES[fmt],
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                             "Cache-Control": "no-store"})


class DrawIn(BaseModel):
    """Draw (or, confirmed, redraw) one spot-check stage of a year."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    stage: int = Field(ge=1, le=3)
    redraw: bool = False


def _stage_json(stage) -> dict:
    return {"plan_id": stage.plan_id, "year": stage.year, "stage": stage.stage, "seed": stage.seed,
            "candidates": stage.candidates, "quota_needed": stage.quota_needed,
            "created_at": stage.created_at, "created_by": stage.created_by,
            "warnings": list(stage.warnings),
            "picks": [{"code": p.project_id, "reason": p.reason, "risk_score": p.risk_score,
                       "forced": p.forced} for p in stage.picks]}


@router.get("/api/workbench/campaign/plans")
def stage_plans(session: SessionDep, access: Progress,
                   year: Annotated[int, Query(ge=2000, le=2100)]) -> dict:
    """本年度已抽取的区级抽查阶段及抽中项目。"""
    return {"year": year, "stages": [_stage_json(s) for s in plans_service.load_stage_plans(session, year)]}


@router.post("/api/workbench/campaign/plans", status_code=201)
def draw_campaign_stage(request: Request, session: SessionDep, access: Planner, body: DrawIn) -> dict:
    """抽取（或经确认后重新抽取）一个区级抽查阶段；已有后续阶段时不能重抽。"""
    settings = settings_for(body.year, request.app.state.settings.campaign_settings)
    drawn = plans_service.draw_stage(session, settings, body.stage, access.actor, redraw=body.redraw)
    stages = {s.stage: s for s in plans_service.load_stage_plans(session, body.year)}
    return {"replaced": drawn.replaced, "stage": _stage_json(stages[body.stage])}
