"""The pipeline owner's pages (role ``utility``) and the gas office's procedure pages.

Owner: 待答复冲突 (the conflicts on its own pipelines with their review deadline), one
conflict (答复, the protection plan, supervision), its projects, and 现场监护 (schedule and
records). Gas office: overdue owner replies and damage reports to acknowledge. Pages carry
no data beyond ids (their scripts read JSON; writes go to the procedure API), but a page
for a conflict or project the user's grant does not reach answers 404 as its JSON does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from gisapp.api.deps import SessionDep, allow
from gisapp.web.pages import ALL, _html, page_user
from layers.services import owner_workbench as owner
from layers.services.actors import Actor
from layers.services.errors import NotFoundError
from layers.services.owners import DECISION_ZH, PLAN_DECISION_ZH
from layers.services.permissions import Access, Scope, authorize
from workbench.roles import home_of

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["workbench"])

OWN_PIPELINES = (Scope.OWN_PIPELINES,)
OwnerConflicts = Annotated[Access, allow("conflict.read", scopes=OWN_PIPELINES)]
Id = Annotated[int, PathParam(ge=1, le=2**62)]

# What each page's work needs, from the permission table (the page's scripts call API
# routes that ask it again).
REPLIER = page_user("review.reply", OWN_PIPELINES)
OWN_PROJECT_READER = page_user("project.read", OWN_PIPELINES)
SUPERVISOR = page_user("supervision.manage", OWN_PIPELINES)
OWN_DAMAGE = page_user("damage.acknowledge", OWN_PIPELINES)
DAMAGE_OFFICE = page_user("damage.acknowledge", ALL)
REVIEWS_OFFICE = page_user("review.read", ALL)


def _not_found(request: Request, user: Actor, err: NotFoundError) -> Response:
    return _html(request, "message.html", user, status_code=404, title="未找到", message=str(err),
                 is_error=True, back_url=home_of(user.role), back_label="返回我的首页")


# --- JSON the owner's pages need ---------------------------------------------------------------

@api.get("/api/workbench/owner/conflicts")
def owner_conflicts(
    session: SessionDep, access: OwnerConflicts,
    state: Annotated[str | None, Query(max_length=16, description="pending、overdue 或 replied")] = None,
    zone: Annotated[str | None, Query(max_length=16, description="protection 或 control")] = None,
    q: Annotated[str | None, Query(max_length=100, description="项目编号、名称或管道编号")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """本单位管道上的未关闭冲突：答复期限（工作日）、是否逾期、答复、保护手续、监护安排。"""
    return owner.owner_conflicts(session, access, state=state or None, zone=zone or None,
                                 q=(q or "").strip() or None, limit=limit, offset=offset)


@api.get("/api/workbench/owner/conflicts/{conflict_id}")
def owner_conflict(session: SessionDep, access: OwnerConflicts, conflict_id: Id) -> dict:
    """本单位管道上的一个冲突：项目、管道、答复与附件、保护方案与办理历史、现场监护。"""
    return owner.owner_conflict(session, conflict_id, access)


# --- Pages of the owner -------------------------------------------------------------------------

@router.get("/owner/", response_class=HTMLResponse)
def owner_home(request: Request, user: Actor = REPLIER) -> Response:
    """待答复冲突：本单位管道上的冲突与答复期限。"""
    return _html(request, "owner-home.html", user, title="本单位管道冲突", page="owner-home",
                 scripts=("owner.js", "owner-home.js"), states=tuple(owner.REVIEW_STATES.items()),
                 data={"role": user.role})


@router.get("/owner/conflicts/{conflict_id}", response_class=HTMLResponse)
def owner_conflict_page(request: Request, session: SessionDep, conflict_id: Id,
                        user: Actor = REPLIER) -> Response:
    """一个冲突：答复（决定、备注、附件）、保护方案意见、现场监护安排。"""
    try:
        owner.owner_conflict(session, conflict_id, authorize(user, "conflict.read"))
    except NotFoundError as err:
        return _not_found(request, user, err)
    return _html(request, "owner-conflict.html", user, title="冲突答复", page="owner-conflict",
                 scripts=("map.js", "owner.js", "owner-conflict.js"), with_map=True,
                 decisions=tuple(DECISION_ZH.items()), plan_decisions=tuple(PLAN_DECISION_ZH.items()),
                 data={"role": user.role, "conflict-id": conflict_id})


@router.get("/owner/projects/{project_id}", response_class=HTMLResponse)
def owner_project_page(request: Request, session: SessionDep, project_id: Id,
                       user: Actor = OWN_PROJECT_READER) -> Response:
    """项目详情（只显示本单位管道上的冲突）。"""
    try:
        owner.project_reachable(session, project_id, authorize(user, "project.read"))
    except NotFoundError as err:
        return _not_found(request, user, err)
    return _html(request, "project.html", user, title="项目详情", page="project",
                 scripts=("map.js", "project.js"), with_map=True,
                 data={"role": user.role, "project-id": project_id})


@router.get("/owner/supervision", response_class=HTMLResponse)
def owner_supervision(request: Request, user: Actor = SUPERVISOR) -> Response:
    """现场监护：安排（按项目与冲突）、记录一次监护、监护记录。"""
    return _html(request, "owner-supervision.html", user, title="现场监护", page="owner-supervision",
                 scripts=("owner.js", "owner-supervision.js"), data={"role": user.role})


@router.get("/owner/damage-reports", response_class=HTMLResponse)
def owner_damage(request: Request, user: Actor = OWN_DAMAGE) -> Response:
    """本单位管道的损坏报告：确认收到。"""
    return _html(request, "office-damage.html", user, title="管道损坏报告", page="office-damage",
                 scripts=("owner.js", "office-damage.js"),
                 data={"role": user.role, "organisation": user.organisation or ""})


# --- Pages of the gas office ------------------------------------------------------------------

@router.get("/office/damage-reports", response_class=HTMLResponse)
def office_damage(request: Request, user: Actor = DAMAGE_OFFICE) -> Response:
    """管道损坏报告：确认收到（记录报告到确认的时长）。"""
    return _html(request, "office-damage.html", user, title="管道损坏报告", page="office-damage",
                 scripts=("owner.js", "office-damage.js"), data={"role": user.role})


@router.get("/office/owner-reviews", response_class=HTMLResponse)
def office_reviews(request: Request, user: Actor = REVIEWS_OFFICE) -> Response:
    """管道单位答复：逾期未答复的、待答复的、已答复的。"""
    return _html(request, "office-reviews.html", user, title="管道单位答复", page="office-reviews",
                 scripts=("owner.js", "office-reviews.js"), data={"role": user.role})
