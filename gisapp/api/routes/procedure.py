"""The procedure on site: protection plans, violations, on-site supervision, start notices,
damage reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gisapp.api.deps import SessionDep, allow, channels
from gisapp.api.errors import error_body
from gisapp.api.routes.owners import Files, read_uploads
from layers.services import procedure as svc
from layers.services.evidence import EvidenceTooLargeError
from layers.services.permissions import Access

router = APIRouter(prefix="/api", tags=["procedure"])
Id = Annotated[int, Path(ge=1, le=2**62)]
PlanUploader = Annotated[Access, allow("plan.upload")]
Violations = Annotated[Access, allow("violation.read")]
Supervisor = Annotated[Access, allow("supervision.manage")]
Schedule = Annotated[Access, allow("supervision.read")]
Notifier = Annotated[Access, allow("start_notice.submit")]
Reporter = Annotated[Access, allow("damage.report")]
DamageReader = Annotated[Access, allow("damage.read")]
Acknowledger = Annotated[Access, allow("damage.acknowledge")]


def _ch(request: Request):
    return channels(request.app.state.settings)


def _too_large(err: EvidenceTooLargeError) -> JSONResponse:
    return JSONResponse(error_body(str(err)), status_code=413)


@router.post("/permits/{permit_id}/documents", status_code=201)
def upload_plan(
    request: Request, session: SessionDep, access: PlanUploader, permit_id: Id,
    files: Files = None, note: Annotated[str | None, Form(max_length=4000)] = None,
):
    """建设单位上传保护方案（PDF 或图片）到保护手续；管道权属单位收到通知并给出意见。"""
    uploads = read_uploads(files)
    if isinstance(uploads, JSONResponse):
        return uploads
    try:
        return svc.upload_plan(session, permit_id, access.actor, uploads=uploads, note=note,
                               channels=_ch(request))
    except EvidenceTooLargeError as err:
        return _too_large(err)


@router.get("/violations")
def violations(
    session: SessionDep, access: Violations,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """违规施工告警（施工未办理保护手续）：燃气管理所看全部，权属单位与建设单位只见相关项目。"""
    return svc.list_violations(session, access.actor, limit=limit, offset=offset)


class VisitIn(BaseModel):
    """A supervision visit to schedule."""

    model_config = ConfigDict(extra="forbid")

    scheduled_on: str = Field(max_length=40, description="监护日期 YYYY-MM-DD")
    person: str = Field(max_length=400, description="监护人")


@router.post("/conflicts/{conflict_id}/supervision-visits", status_code=201)
def schedule_visit(request: Request, session: SessionDep, access: Supervisor, conflict_id: Id,
                   body: VisitIn) -> dict:
    """管道权属单位安排现场监护（日期、监护人）；建设单位收到通知。

    仅限本单位答复为“须现场监护”的冲突，否则 409 并说明缺少什么。
    """
    return svc.schedule_visit(session, conflict_id, access.actor, scheduled_on=body.scheduled_on,
                              person=body.person, channels=_ch(request))


@router.post("/supervision-visits/{visit_id}/record")
def record_visit(
    request: Request, session: SessionDep, access: Supervisor, visit_id: Id,
    arrived_at: Annotated[str, Form(max_length=40, description="到场时间，如 2026-12-01T09:00:00+08:00")],
    left_at: Annotated[str, Form(max_length=40, description="离场时间")],
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    files: Files = None,
):
    """记录一次现场监护：在场时间、情况、照片。"""
    uploads = read_uploads(files)
    if isinstance(uploads, JSONResponse):
        return uploads
    try:
        return svc.record_visit(session, visit_id, access.actor, arrived_at=arrived_at, left_at=left_at,
                                notes=notes, uploads=uploads, channels=_ch(request))
    except EvidenceTooLargeError as err:
        return _too_large(err)


@router.get("/supervision-visits")
def visits(session: SessionDep, access: Schedule,
           project_id: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> dict:
    """现场监护安排与记录（建设单位看本单位项目的安排，权属单位看本单位管道）。"""
    return svc.list_visits(session, access.actor, project_id=project_id)


@router.get("/supervision-visits/{visit_id}")
def visit(session: SessionDep, access: Schedule, visit_id: Id) -> dict:
    """读取一次现场监护。"""
    return svc.get_visit(session, visit_id, access.actor)


class StartNoticeIn(BaseModel):
    """A builder's start notice."""

    model_config = ConfigDict(extra="forbid")

    planned_start: str = Field(max_length=40, description="计划开工日期 YYYY-MM-DD")
    note: str | None = Field(None, max_length=4000)


@router.post("/projects/{project_id}/start-notice", status_code=201)
def start_notice(request: Request, session: SessionDep, access: Notifier, project_id: Id,
                 body: StartNoticeIn) -> dict:
    """开工告知：须在计划开工日前若干个工作日提交（GISAPP_START_NOTICE_DAYS），告知相关管道权属单位。"""
    return svc.submit_start_notice(session, project_id, access.actor, planned_start=body.planned_start,
                                   note=body.note,
                                   notice_days=request.app.state.settings.start_notice_days,
                                   channels=_ch(request))


@router.post("/damage-reports", status_code=201)
def report_damage(
    request: Request, session: SessionDep, access: Reporter,
    lon: Annotated[float, Form(ge=-180, le=180, description="经度（CGCS2000）")],
    lat: Annotated[float, Form(ge=-90, le=90, description="纬度")],
    occurred_at: Annotated[str, Form(max_length=40, description="发生时间")],
    description: Annotated[str, Form(max_length=10000, description="损坏情况")],
    pipeline_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    project_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    files: Files = None,
):
    """报告燃气管道损坏（任何登录用户）：燃气管理所与管道权属单位立即收到通知。"""
    uploads = read_uploads(files)
    if isinstance(uploads, JSONResponse):
        return uploads
    try:
        return svc.report_damage(session, access.actor, lon=lon, lat=lat, occurred_at=occurred_at,
                                 description=description, pipeline_id=pipeline_id,
                                 project_id=project_id, uploads=uploads, channels=_ch(request),
                                 margin_m=request.app.state.settings.district_margin_m)
    except EvidenceTooLargeError as err:
        return _too_large(err)


@router.get("/damage-reports")
def damage_reports(session: SessionDep, access: DamageReader,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """管道损坏报告（含报告到确认的时长）。"""
    return svc.list_damage(session, access.actor, limit=limit)


@router.get("/damage-reports/{report_id}")
def damage_report(session: SessionDep, access: DamageReader, report_id: Id) -> dict:
    """读取一份损坏报告。"""
    return svc.get_damage(session, report_id, access.actor)


@router.post("/damage-reports/{report_id}/acknowledge")
def acknowledge_damage(session: SessionDep, access: Acknowledger, report_id: Id) -> dict:
    """确认收到损坏报告（燃气管理所或该管道权属单位）；记录报告到确认的时长。"""
    return svc.acknowledge_damage(session, report_id, access.actor)
