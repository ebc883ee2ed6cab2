"""Inspections, hazards (闭环整改), evidence files and the campaign status of stored data."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from campaign.export import write_tables_xlsx
from gisapp.api.campaign_json import status_summary
from gisapp.api.deps import SessionDep, allow
from gisapp.api.errors import error_body
from layers.services import evidence as evidence_files
from layers.services import inspections
from layers.services.campaign_plans import judging_settings
from layers.services.campaign_status import CampaignStatus, campaign_status
from layers.services.permissions import EVERYTHING, Access
from vocabulary import today_in_shanghai

router = APIRouter(prefix="/api", tags=["inspections"])
# Recording, rectifying and uploading need to see the inspection; which kind, which hazard
# state and the upload itself are checked against the table by the services.
Reader = Annotated[Access, allow("inspection.read")]
Uploader = Annotated[Access, allow("evidence.upload")]
EvidenceReader = Annotated[Access, allow("evidence.read")]
Progress = Annotated[Access, allow("campaign.status", scopes=EVERYTHING)]
Id = Annotated[int, Path(ge=1, le=2**62)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class HazardIn(BaseModel):
    """A problem found during the inspection; it starts open (未整改)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    major: bool = Field(False, description="重大事故隐患")
    deadline: str | None = Field(None, max_length=40, description="整改期限 YYYY-MM-DD")


class InspectionIn(BaseModel):
    """An inspection of a project: self-inspection, third-party inspection or spot check."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=32, description="self、third_party 或 spot")
    round_or_stage: int | None = Field(
        None, ge=-(2**31), le=2**31, description="自查轮次 1–2 或抽查阶段 1–3；第三方检查留空"
    )
    inspected_on: str = Field(max_length=40, description="检查日期 YYYY-MM-DD，不能晚于今天")
    organisation: str | None = Field(None, max_length=500)
    findings: str | None = Field(None, max_length=5000)
    hazards: list[HazardIn] = Field(default_factory=list, max_length=200)


class RectificationIn(BaseModel):
    """The next closed-loop rectification state of a hazard."""

    model_config = ConfigDict(extra="forbid")

    state: str = Field(max_length=32, description="rectified（需先上传证据）或 verified")
    note: str | None = Field(None, max_length=2000)


@router.post("/projects/{project_id}/inspections", status_code=201)
def create_inspection(session: SessionDep, access: Reader, project_id: Id,
                      body: InspectionIn) -> dict:
    """记录一次检查及发现的隐患（建设单位只能记录本单位项目的自查）。"""
    new = inspections.NewInspection(
        kind=body.kind, round_or_stage=body.round_or_stage, inspected_on=body.inspected_on,
        organisation=body.organisation, findings=body.findings,
        hazards=[inspections.NewHazard(h.description, h.major, h.deadline) for h in body.hazards],
    )
    return inspections.record_inspection(session, project_id, access.actor, new)


@router.get("/projects/{project_id}/inspections")
def list_project_inspections(session: SessionDep, access: Reader, project_id: Id) -> dict:
    """项目的检查记录（最新在前），含隐患与证据文件信息。"""
    found = inspections.list_inspections(session, project_id, access)
    return {"project_id": project_id, "inspections": found, "numberReturned": len(found)}


@router.get("/inspections/{inspection_id}")
def read_inspection(session: SessionDep, access: Reader, inspection_id: Id) -> dict:
    """读取一条检查记录。"""
    return inspections.get_inspection(session, inspection_id, access)


@router.post("/hazards/{hazard_id}/rectification")
def rectify(session: SessionDep, access: Reader, hazard_id: Id, body: RectificationIn) -> dict:
    """闭环整改：未整改 → 已整改（须有证据）→ 已复核（仅检查人员或燃气管理所）。"""
    return inspections.rectify_hazard(session, hazard_id, body.state, access.actor,
                                      note=body.note)


@router.post("/inspections/{inspection_id}/evidence", status_code=201)
def upload_evidence(
    session: SessionDep,
    access: Uploader,
    inspection_id: Id,
    file: Annotated[UploadFile, File(description="JPEG、PNG 或 PDF，不超过 20 MB")],
    hazard_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
):
    """上传检查或整改证据（照片、盖章图纸）；按文件头识别类型并记录 SHA-256。"""
    # Read at most one byte past the limit: the upload is spooled, never held whole.
    content = file.file.read(evidence_files.MAX_EVIDENCE_BYTES + 1)
    if len(content) > evidence_files.MAX_EVIDENCE_BYTES:
        return JSONResponse(error_body(evidence_files.too_large_message(file.size)),
                            status_code=413)
    try:
        return evidence_files.add_evidence(
            session, inspection_id, access.actor, filename=file.filename,
            content_type=file.content_type, content=content, hazard_id=hazard_id)
    except evidence_files.EvidenceTooLargeError as err:
        return JSONResponse(error_body(str(err)), status_code=413)


@router.get("/evidence/{evidence_id}")
def download_evidence(
    session: SessionDep, access: EvidenceReader, evidence_id: Id,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """下载证据文件（ETag 为其 SHA-256）。"""
    blob = evidence_files.get_evidence(session, evidence_id, access.actor)
    etag = f'"{blob.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0",
               "X-Content-Type-Options": "nosniff",
               "Content-Disposition": _disposition(blob.filename)}
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(blob.content, media_type=blob.content_type, headers=headers)


def _disposition(filename: str) -> str:
    fallback = "".join(ch if ch.isascii() and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


DateQ = Annotated[str | None, Query(max_length=40, description="统计日期 YYYY-MM-DD，默认今天")]
YearQ = Annotated[int | None, Query(ge=2000, le=2100, description="活动年度，默认取统计日期所在年度")]


def _status(request: Request, session, date: str | None, year: int | None) -> CampaignStatus:
    on = inspections.parse_day(date, "date") if date is not None else today_in_shanghai()
    path = request.app.state.settings.campaign_settings
    return campaign_status(session, judging_settings(session, year or on.year, path), on)


@router.get("/campaign/status")
def get_campaign_status(request: Request, session: SessionDep, access: Progress,
                        date: DateQ = None, year: YearQ = None) -> dict:
    """各乡镇的自查、第三方检查、区级抽查、监管、保护手续与隐患整改情况。"""
    return status_summary(_status(request, session, date, year))


@router.get("/campaign/status.xlsx")
def campaign_status_xlsx(request: Request, session: SessionDep, access: Progress,
                         date: DateQ = None, year: YearQ = None) -> Response:
    """下载月度统计表（XLSX：月度进展、乡镇汇总、抽查阶段、项目明细）。"""
    status = _status(request, session, date, year)
    with tempfile.TemporaryDirectory(prefix="campaign-status-") as tmp:
        path = write_tables_xlsx(status.tables.sheets(), FsPath(tmp) / "status.xlsx")
        content = path.read_bytes()
    name = f"campaign_status_{status.on.isoformat()}.xlsx"
    return Response(content, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

