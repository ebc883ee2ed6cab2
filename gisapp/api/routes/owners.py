"""Pipeline owners in the loop: owner reviews and replies, the owner's word on protection plans,
procedure documents, and every user's notification inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gisapp.api.deps import SessionDep, allow, channels
from gisapp.api.errors import error_body
from gisapp.api.routes.inspections import _disposition
from layers.services.documents import Upload, get_document
from layers.services.evidence import MAX_EVIDENCE_BYTES, EvidenceTooLargeError, too_large_message
from layers.services.notify import list_notifications, mark_read
from layers.services.organisations import get_organisation, list_organisations, set_organisation
from layers.services.owners import decide_plan, get_review, list_reviews, reply
from layers.services.permissions import Access

router = APIRouter(prefix="/api", tags=["owners"])
Id = Annotated[int, Path(ge=1, le=2**62)]
Replier = Annotated[Access, allow("review.reply")]
Reviews = Annotated[Access, allow("review.read")]
PlanDecider = Annotated[Access, allow("plan.decide")]
Documents = Annotated[Access, allow("document.read")]
Inbox = Annotated[Access, allow("notification.read")]
OrgReader = Annotated[Access, allow("organisation.read")]
OrgWriter = Annotated[Access, allow("organisation.write")]
Files = Annotated[list[UploadFile] | None, File(description="PDF、JPEG 或 PNG，每个不超过 20 MB，最多 10 个")]


def read_uploads(files: list[UploadFile] | None) -> list[Upload] | JSONResponse:
    """Read uploads, each at most one byte past the limit (never held whole); 413 when too big."""
    uploads = []
    for f in files or []:
        content = f.file.read(MAX_EVIDENCE_BYTES + 1)
        if len(content) > MAX_EVIDENCE_BYTES:
            return JSONResponse(error_body(too_large_message(f.size).replace("字段 file", "字段 files")),
                                status_code=413)
        uploads.append(Upload(f.filename, f.content_type, content))
    return uploads


@router.post("/conflicts/{conflict_id}/owner-reply")
def owner_reply(
    request: Request, session: SessionDep, access: Replier, conflict_id: Id,
    decision: Annotated[str, Form(max_length=64, description="no_objection、protection_plan_required、"
                                  "on_site_supervision_required 或 relocation_required")],
    note: Annotated[str | None, Form(max_length=4000)] = None,
    files: Files = None,
):
    """管道权属单位答复本单位管道上的冲突（决定、说明、附件）；建设单位与燃气管理所收到通知。"""
    uploads = read_uploads(files)
    if isinstance(uploads, JSONResponse):
        return uploads
    try:
        return reply(session, conflict_id, access.actor, decision=decision, note=note, uploads=uploads,
                     channels=channels(request.app.state.settings))
    except EvidenceTooLargeError as err:
        return JSONResponse(error_body(str(err)), status_code=413)


@router.get("/conflicts/{conflict_id}/owner-review")
def owner_review(session: SessionDep, access: Reviews, conflict_id: Id) -> dict:
    """冲突的权属单位审查：答复期限（工作日）、决定、说明、附件、对保护方案的意见。"""
    return get_review(session, conflict_id, access.actor)


@router.get("/owner-reviews")
def owner_reviews(
    session: SessionDep, access: Reviews,
    overdue: Annotated[bool, Query(description="true：只列超过答复期限仍未答复的")] = False,
    pending: Annotated[bool | None, Query(description="true：未答复；false：已答复")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """权属单位审查列表（燃气管理所看全部，可只看逾期未答复；建设单位与权属单位只见本单位）。"""
    return list_reviews(session, access.actor, overdue=overdue, pending=pending, limit=limit, offset=offset)


class PlanDecisionIn(BaseModel):
    """The owner's word on the builder's protection plan."""

    model_config = ConfigDict(extra="forbid")

    decision: str = Field(max_length=32, description="agreed（同意）或 changes_requested（须修改）")
    note: str | None = Field(None, max_length=4000)


@router.post("/permits/{permit_id}/owner-decision")
def owner_decision(request: Request, session: SessionDep, access: PlanDecider, permit_id: Id,
                   body: PlanDecisionIn) -> dict:
    """管道权属单位对保护方案的意见：同意或要求修改（记入保护手续历史）。"""
    return decide_plan(session, permit_id, access.actor, decision=body.decision, note=body.note,
                       channels=channels(request.app.state.settings))


@router.get("/documents/{document_id}")
def download_document(
    session: SessionDep, access: Documents, document_id: Id,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """下载保护手续文件（答复附件、保护方案、监护照片、损坏照片）；只限有权查看其记录的单位。"""
    blob = get_document(session, document_id, access.actor)
    etag = f'"{blob.sha256}"'
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(blob.content, media_type=blob.content_type,
                    headers={"ETag": etag, "Cache-Control": "private, max-age=0",
                             "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": _disposition(blob.filename)})


@router.get("/notifications")
def notifications(
    session: SessionDep, access: Inbox,
    unread: Annotated[bool, Query(description="true：只列未读")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """本人的通知（最新在前）与未读数。"""
    return list_notifications(session, _user_id(access), unread_only=unread, limit=limit,
                              offset=offset)


def _user_id(access: Access) -> int:
    """The signed-in user's id (an inbox belongs to a user account)."""
    assert access.actor.id is not None  # a bearer token always names a stored user
    return access.actor.id


class ReadIn(BaseModel):
    """Which notifications to mark read; leave ``ids`` out to mark all."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(None, max_length=1000)


@router.post("/notifications/read")
def notifications_read(session: SessionDep, access: Inbox, body: ReadIn) -> dict:
    """标记通知为已读（不传 ids 则全部已读）；返回标记数量与剩余未读数。"""
    user_id = _user_id(access)
    changed = mark_read(session, user_id, body.ids)
    return {"marked": changed, "unread": list_notifications(session, user_id, limit=1)["unread"]}


class OrganisationIn(BaseModel):
    """Contacts and robot channels of an organisation; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=16, description="builder（建设单位）或 utility（管道权属单位）")
    contact_person: str | None = Field(None, max_length=400)
    phone: str | None = Field(None, max_length=128)
    emergency_phone: str | None = Field(None, max_length=128)
    email: str | None = Field(None, max_length=254)
    address: str | None = Field(None, max_length=1000)
    wecom_webhook_url: str | None = Field(None, max_length=2000, description="企业微信群机器人 webhook 地址")
    dingtalk_webhook_url: str | None = Field(None, max_length=2000, description="钉钉群机器人 webhook 地址")
    dingtalk_secret: str | None = Field(None, max_length=256, description="钉钉加签密钥（只写不读）")


@router.get("/organisations")
def organisations(session: SessionDep, access: OrgReader) -> dict:
    """单位的联系方式与通知渠道（燃气管理所看全部，建设单位与权属单位只见本单位）。"""
    return {"organisations": list_organisations(session, access)}


@router.get("/organisations/{name}")
def organisation(session: SessionDep, access: OrgReader,
                 name: Annotated[str, Path(max_length=200)]) -> dict:
    """读取单位信息（燃气管理所看全部；建设单位与权属单位只看本单位）。"""
    return get_organisation(session, access, name)


@router.put("/organisations/{name}")
def set_org(session: SessionDep, access: OrgWriter, name: Annotated[str, Path(max_length=200)],
            body: OrganisationIn) -> dict:
    """登记或修改单位联系方式与企业微信、钉钉机器人（燃气管理所或本单位用户）。"""
    changes = body.model_dump(include=body.model_fields_set - {"kind"})
    return set_organisation(session, access, name, body.kind, changes)
