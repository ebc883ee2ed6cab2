"""Workbench pages about one's own account and organisation, and the admins' second look:

- 个人访问令牌 (``/account/tokens``): every user holding ``account.token`` creates, lists
  and revokes the long-lived tokens desktop GIS (QGIS, GDAL) sends to ``/ogc``;
- 本单位 (``/account/organisation``): a builder or pipeline owner edits its own
  organisation's contacts and notification channels (the service keeps it to its own);
- 待确认 (``/admin/requests``): privileged account changes waiting for a second admin.

Like every workbench page they carry no data: their scripts call the API with the cookie.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gisapp.web.pages import ALL, _html, page_user
from layers.services.actors import Actor
from layers.services.permissions import ROLE_ZH, Scope, scope_of

router = APIRouter(include_in_schema=False)

# The organisation kind a scoped organisation.write stands for (the page's form is fixed to it).
OWN_ORG_KIND = {Scope.OWN_PROJECTS: ("builder", "建设单位"), Scope.OWN_PIPELINES: ("utility", "管道权属单位")}

_token_user = page_user("account.token")
_org_user = page_user("organisation.write", tuple(OWN_ORG_KIND))
_second_admin = page_user("user.manage", ALL)


@router.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, user: Actor = _token_user) -> Response:
    """个人访问令牌：新建（只显示一次）、列表、吊销；供 QGIS 与 GDAL 访问 /ogc。"""
    base = str(request.base_url).rstrip("/")
    return _html(request, "account-tokens.html", user, title="个人访问令牌", page="account-tokens",
                 scripts=("account-tokens.js",), ogc_url=f"{base}/ogc", data={"role": user.role})


@router.get("/account/organisation", response_class=HTMLResponse)
def own_organisation_page(request: Request, user: Actor = _org_user) -> Response:
    """本单位：本单位的联系方式与通知渠道（只能是本单位，其他单位无从打开）。"""
    scope = scope_of(user, "organisation.write")
    kind, kind_zh = OWN_ORG_KIND[scope] if scope is not None else ("", "")  # page_user checked it
    return _html(request, "account-organisation.html", user, title="本单位", page="account-organisation",
                 scripts=("account-organisation.js",), org_kind_zh=kind_zh,
                 data={"role": user.role, "org-name": user.organisation or "", "org-kind": kind})


@router.get("/admin/requests", response_class=HTMLResponse)
def requests_page(request: Request, user: Actor = _second_admin) -> Response:
    """待确认：涉及燃气管理所或管理员账号的变更，由另一名管理员确认或撤销。"""
    return _html(request, "admin-requests.html", user, title="待确认的账号变更", page="admin-requests",
                 scripts=("admin-requests.js",),
                 data={"role": user.role, "roles": json.dumps(ROLE_ZH, ensure_ascii=False)})
