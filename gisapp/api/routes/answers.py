"""Answer letters (查询答复书): the current answer of a project as JSON, HTML or PDF; renewal;
public verification by number and code."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from gisapp.api.deps import SessionDep, allow, write_ctx
from layers.services.answers import current_answer, list_answers, verify_answer
from layers.services.features import renew_answer
from layers.services.permissions import Access
from maps.answer import render_html, render_pdf

router = APIRouter(prefix="/api", tags=["answers"])
Reader = Annotated[Access, allow("answer.read")]
Renewer = Annotated[Access, allow("answer.renew")]
Id = Annotated[int, Path(ge=1, le=2**62)]


def _warn(request: Request) -> int:
    return request.app.state.settings.answer_warn_days


def _answer(request: Request, session, access: Access, project_id: int) -> dict:
    return current_answer(session, project_id, access=access, warn_days=_warn(request))


@router.get("/projects/{project_id}/answer")
def read_answer(request: Request, session: SessionDep, user: Reader, project_id: Id) -> dict:
    """项目当前的查询答复书（编号、有效期、状态、冲突、周边管道、权属单位联系方式、校验码）。"""
    return _answer(request, session, user, project_id)


@router.get("/projects/{project_id}/answers")
def read_answers(request: Request, session: SessionDep, user: Reader, project_id: Id) -> dict:
    """项目的全部查询答复书（最新在前，含已取代和已过期的）。"""
    answers = list_answers(session, project_id, access=user, warn_days=_warn(request))
    if not answers:
        _answer(request, session, user, project_id)  # 404 with the reason
    return {"project_id": project_id, "answers": answers}


@router.get("/projects/{project_id}/answer.html", response_class=HTMLResponse)
def read_answer_html(request: Request, session: SessionDep, user: Reader, project_id: Id):
    """查询答复书（HTML，离线可打开，地图为内嵌 SVG）。"""
    return HTMLResponse(render_html(_answer(request, session, user, project_id)),
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


@router.get("/projects/{project_id}/answer.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def read_answer_pdf(request: Request, session: SessionDep, user: Reader, project_id: Id):
    """查询答复书（A4 PDF，嵌入中文字体，含地图摘录）。"""
    answer = await run_in_threadpool(_answer, request, session, user, project_id)
    pdf = await run_in_threadpool(render_pdf, answer)
    name = f"{answer['number']}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f"inline; filename=\"{name}\"; "
                                                    f"filename*=UTF-8''{quote(name)}"})


@router.post("/projects/{project_id}/answer/renew", status_code=201)
def renew(request: Request, session: SessionDep, user: Renewer, project_id: Id) -> dict:
    """按现行规则重新筛查项目并签发新的查询答复书（新编号），原答复书标记为已取代。"""
    renew_answer(session, project_id, write_ctx(request, user), user)
    return _answer(request, session, user, project_id)


@router.get("/answers/{number}/verify")
def verify(
    request: Request, session: SessionDep,
    number: Annotated[str, Path(max_length=40)],
    code: Annotated[str | None, Query(max_length=40, description="答复书上印的 12 位校验码")] = None,
) -> dict:
    """核验查询答复书真伪（无需登录）：只显示编号、项目编号、签发日期、有效期和是否有效。"""
    return verify_answer(session, number, code, warn_days=_warn(request))
