"""``/api/reviews`` and ``/api/projects/{id}/review``: large sites held for the gas office."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gisapp.api.deps import SessionDep, allow, write_ctx
from layers.services.permissions import EVERYTHING, Access
from layers.services.reviews import decide, get_review, list_reviews

router = APIRouter(prefix="/api", tags=["reviews"])
Reviewer = Annotated[Access, allow("project.review", scopes=EVERYTHING)]
Reader = Annotated[Access, allow("project.read")]
STATE_HELP = "pending（待审核）、released（已通过）或 rejected（已退回）"


class DecisionIn(BaseModel):
    """The gas office's decision on a held site."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["release", "reject"] = Field(description="release：通过并立即筛查；reject：退回")
    note: str | None = Field(None, max_length=2000)


@router.get("/reviews")
def list_(
    session: SessionDep, access: Reviewer,
    state: Annotated[str | None, Query(max_length=16, description=STATE_HELP)] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """待审核（或已处理）的大面积施工范围。"""
    return {"reviews": list_reviews(session, state, limit, offset)}


@router.get("/projects/{project_id}/review")
def read(session: SessionDep, access: Reader, project_id: int) -> dict:
    """一个项目的施工范围审核状态（建设单位只能查看本单位项目）。"""
    return get_review(session, project_id, access.project_organisation)


@router.post("/projects/{project_id}/review")
def decide_(request: Request, session: SessionDep, access: Reviewer, project_id: int,
            body: DecisionIn) -> dict:
    """燃气管理所审核：通过后立即筛查并产生告警；退回则保持不筛查。"""
    return decide(session, project_id, body.decision, body.note, write_ctx(request, access))
