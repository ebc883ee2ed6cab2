"""Inspections, hazards (闭环整改), evidence files and the campaign status of stored data."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from campaign.export import write_tables_xlsx
from campaign.settings import CampaignSettings
from gisapp.api.deps import SessionDep, require
from gisapp.api.errors import error_body
from layers import campaign_store as store
from layers.services.users import User

router = APIRouter(prefix="/api", tags=["inspections"])
Recorder = Annotated[User, require("gas_office", "inspector", "builder")]
Reader = Annotated[User, require("gas_office", "inspector", "builder")]
Office = Annotated[User, require("gas_office", "inspector")]
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
def create_inspection(session: SessionDep, user: Recorder, project_id: Id,
                      body: InspectionIn) -> dict:
    """记录一次检查及发现的隐患（建设单位只能记录本单位项目的自查）。"""
    return store.record_inspection(
        session, project_id, user, kind=body.kind, round_or_stage=body.round_or_stage,
        inspected_on=body.inspected_on, organisation=body.organisation, findings=body.findings,
        hazards=[h.model_dump() for h in body.hazards],
    )


@router.get("/projects/{project_id}/inspections")
def list_project_inspections(session: SessionDep, user: Reader, project_id: Id) -> dict:
    """项目的检查记录（最新在前），含隐患与证据文件信息。"""
    inspections = store.list_inspections(session, project_id, user)
    return {"project_id": project_id, "inspections": inspections,
            "numberReturned": len(inspections)}


@router.get("/inspections/{inspection_id}")
def read_inspection(session: SessionDep, user: Reader, inspection_id: Id) -> dict:
    """读取一条检查记录。"""
    return store.get_inspection(session, inspection_id, user)


@router.post("/hazards/{hazard_id}/rectification")
def rectify(session: SessionDep, user: Reader, hazard_id: Id, body: RectificationIn) -> dict:
    """闭环整改：未整改 → 已整改（须有证据）→ 已复核（仅检查人员或燃气管理所）。"""
    return store.rectify_hazard(session, hazard_id, body.state, user, note=body.note)


@router.post("/inspections/{inspection_id}/evidence", status_code=201)
def upload_evidence(
    session: SessionDep,
    user: Reader,
    inspection_id: Id,
    file: Annotated[UploadFile, File(description="JPEG、PNG 或 PDF，不超过 20 MB")],
    hazard_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
):
    """上传检查或整改证据（照片、盖章图纸）；按文件头识别类型并记录 SHA-256。"""
    # Read at most one byte past the limit: the upload is spooled, never held whole.
    content = file.file.read(store.MAX_EVIDENCE_BYTES + 1)
    if len(content) > store.MAX_EVIDENCE_BYTES:
        return JSONResponse(error_body(store.too_large_message(file.size)), status_code=413)
    try:
        return store.add_evidence(session, inspection_id, user, filename=file.filename,
                                  content_type=file.content_type, content=content,
                                  hazard_id=hazard_id)
    except store.EvidenceTooLargeError as err:
        return JSONResponse(error_body(str(err)), status_code=413)


@router.get("/evidence/{evidence_id}")
def download_evidence(
    session: SessionDep, user: Reader, evidence_id: Id,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """下载证据文件（ETag 为其 SHA-256）。"""
    blob = store.get_evidence(session, evidence_id, user)
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


def _status(session, date: str | None, year: int | None) -> store.CampaignStatus:
    on = store.parse_day(date, "date") if date is not None else store.local_today()
    settings = CampaignSettings.for_year(year or on.year)
    return store.campaign_status(session, settings, on)


@router.get("/campaign/status")
def campaign_status(session: SessionDep, user: Office, date: DateQ = None,
                    year: YearQ = None) -> dict:
    """各乡镇的自查、第三方检查、区级抽查、监管、保护手续与隐患整改情况。"""
    return store.status_summary(_status(session, date, year))


@router.get("/campaign/status.xlsx")
def campaign_status_xlsx(session: SessionDep, user: Office, date: DateQ = None,
                         year: YearQ = None) -> Response:
    """下载月度统计表（XLSX：月度进展、乡镇汇总、抽查阶段、项目明细）。"""
    status = _status(session, date, year)
    with tempfile.TemporaryDirectory(prefix="campaign-status-") as tmp:
        path = write_tables_xlsx(status.tables.sheets(), FsPath(tmp) / "status.xlsx")
        content = path.read_bytes()
    name = f"campaign_status_{status.on.isoformat()}.xlsx"
    return Response(content, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
