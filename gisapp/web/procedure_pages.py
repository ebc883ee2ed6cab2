"""Workbench pages of the procedure beyond the project page: every user's notification inbox
(通知) and the admin's organisations with their notification channels (单位管理).

Like every workbench page they carry no data: their scripts read the API
(``/api/notifications``, ``/api/organisations``) with the session cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gisapp.web.pages import ALL, _html, page_user
from layers.services.actors import Actor

router = APIRouter(include_in_schema=False)

# Where a notification about a project takes each role (roles without a project page: none).
PROJECT_PAGES = {"builder": "/builder/projects/", "gas_office": "/office/projects/",
                 "utility": "/owner/projects/"}
ORG_KINDS = (("builder", "建设单位"), ("utility", "管道权属单位"))

_inbox_user = page_user("notification.read")
_org_admin = page_user("organisation.write", ALL)


@router.get("/account/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, user: Actor = _inbox_user) -> Response:
    """本人的通知：最新在前，未读加粗，可逐条或全部标为已读。"""
    return _html(request, "notifications.html", user, title="通知", page="notifications",
                 scripts=("notifications.js",),
                 data={"role": user.role, "project-page": PROJECT_PAGES.get(user.role, "")})


@router.get("/admin/organisations", response_class=HTMLResponse)
def organisations_page(request: Request, user: Actor = _org_admin) -> Response:
    """单位管理：建设单位与管道权属单位的联系方式和通知渠道（企业微信、钉钉机器人）。"""
    return _html(request, "admin-organisations.html", user, title="单位管理", page="admin-organisations",
                 scripts=("admin-organisations.js",), kinds=ORG_KINDS, data={"role": user.role})
