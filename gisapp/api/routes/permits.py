"""``/api/permits``: protection procedures (燃气管道保护手续) of conflicts and their transitions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gisapp.api.deps import SessionDep, allow
from gisapp.api.pagination import next_links
from layers.services.permissions import Access
from layers.services.permits import get_permit, list_permits, transition

router = APIRouter(prefix="/api/permits", tags=["permits"])
# A transition needs to see the permit; the target state is checked against the table's
# ``permit.to.<state>`` grants by the service.
Reader = Annotated[Access, allow("permit.read")]
Status = Literal["not_started", "applied", "approved", "rejected", "expired", "not_required"]


class TransitionIn(BaseModel):
    """A requested change of a permit's status."""

    model_config = ConfigDict(extra="forbid")

    to_status: Status
    approved_until: dt.date | None = Field(None, description="批准时必填，YYYY-MM-DD")
    reference: str | None = Field(None, max_length=64, description="申请号或批准文号")
    reason: str | None = Field(None, max_length=2000, description="无需办理时必填")
    note: str | None = Field(None, max_length=2000)


@router.get("")
def list_(
    request: Request, session: SessionDep, access: Reader,
    status: Annotated[Status | None, Query()] = None,
    project_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    conflict_open: Annotated[
        bool | None, Query(description="true：只列冲突仍存在的手续；false：只列冲突已关闭的")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """保护手续列表（可按状态、项目、冲突是否仍存在过滤并分页）；建设单位只见本单位项目。"""
    permits, total = list_permits(session, access, status=status, project_id=project_id,
                                  conflict_open=conflict_open, limit=limit, offset=offset)
    links = next_links(request, offset=offset, limit=limit, returned=len(permits), total=total)
    return {"permits": permits, "numberMatched": total, "numberReturned": len(permits),
            "links": links}


@router.get("/{permit_id}")
def read(session: SessionDep, access: Reader, permit_id: int) -> dict:
    """读取一项保护手续，含冲突信息与完整变更历史。"""
    return get_permit(session, permit_id, access)


@router.post("/{permit_id}/transitions")
def change(session: SessionDep, access: Reader, permit_id: int, body: TransitionIn) -> dict:
    """变更保护手续状态（燃气管理所可做全部变更；建设单位只能为本单位提交申请；冲突已关闭的不能变更）。"""
    return transition(session, permit_id, body.to_status, access.actor,
                      approved_until=body.approved_until, reference=body.reference,
                      reason=body.reason, note=body.note)
