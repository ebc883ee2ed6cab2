"""The workbench's HTML pages: login at ``/``, logout, one's own password, each role's pages.

Pages carry no data beyond who is logged in: their scripts fetch JSON from the API with
the session cookie (``gisapp.web.session``). A page opened without a valid session
goes to the login form and comes back after it; a page of another role answers 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from gisapp import initial_user
from gisapp.api.deps import SessionDep
from gisapp.api.hashing import hashing_slot
from gisapp.web.session import SESSION_COOKIE, clear_session, csrf_for, csrf_ok, set_session
from layers.services import login as logins
from layers.services.actors import Actor
from layers.services.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ServiceBusyError,
)
from layers.services.inspection_items import KEY_ITEMS
from layers.services.login import LoginThrottledError
from layers.services.permissions import ROLE_ZH, USER_ROLES, Scope, scope_of
from layers.services.site_input import CRS_CHOICES
from layers.services.users import (
    revoke_token,
    user_for_token,
)
from layers.services.workbench_lists import LISTS
from vocabulary import today_in_shanghai
from workbench.activities import ACTIVITIES
from workbench.render import render_page, static_file
from workbench.roles import home_of

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


class LoginRequired(Exception):
    """A page was opened without a valid session."""

    def __init__(self, next_url: str):
        self.next_url = next_url


class WrongRole(Exception):
    """A page of another role was opened."""

    def __init__(self, user: Actor):
        self.user = user


def _session_user(request: Request, session) -> Actor | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return user_for_token(session, token)
    except AuthenticationError:
        return None


def page_user(action: str | None = None, scopes: tuple[Scope, ...] | None = None):
    """Return a dependency giving the page's user, or sending the browser to log in.

    ``action``: the grant of the permission table the page's work needs (its data comes
    through API routes that ask the table again); ``scopes``: the scopes the page serves.
    """

    def check(request: Request, session: SessionDep) -> Actor:
        user = _session_user(request, session)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if action is not None:
            scope = scope_of(user, action)
            if scope is None or (scopes is not None and scope not in scopes):
                raise WrongRole(user)
        return user

    return Depends(check)


def install_handlers(app) -> None:
    """Turn ``LoginRequired`` into a redirect to ``/`` and ``WrongRole`` into a 403 page."""

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, err: LoginRequired):
        return RedirectResponse(f"/?next={quote(err.next_url, safe='/')}", status_code=303)

    @app.exception_handler(WrongRole)
    async def _role(request: Request, err: WrongRole):
        role = ROLE_ZH.get(err.user.role, err.user.role)
        return _html(request, "message.html", err.user, status_code=403, title="无权访问",
                     message=f"您的角色（{role}）无权打开此页面。", is_error=True,
                     back_url=home_of(err.user.role), back_label="返回我的首页")


def _html(request: Request, template: str, user: Actor | None, *, status_code: int = 200,
          **context) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    csrf = csrf_for(token) if token and user is not None else ""
    body = render_page(template, user=user, csrf=csrf, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status_code, headers=NO_STORE)


def _safe_next(next_url: str | None, user: Actor) -> str:
    """Return a local path to go to after login (never another site)."""
    if next_url:
        parts = urlsplit(next_url)
        local = next_url.startswith("/") and not next_url.startswith("//")
        if local and not parts.scheme and not parts.netloc:
            return next_url
    return home_of(user.role)


def _same_origin(request: Request) -> bool:
    """Return False when the browser says the form came from another site (login CSRF)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


@router.get("/assets/{path:path}")
def asset(path: str) -> FileResponse:
    """Serve a workbench script, style or vendored library."""
    found = static_file(path)
    if found is None:
        raise NotFoundError(f"静态文件 {path[:200]} 不存在")
    return FileResponse(found, headers={"Cache-Control": "public, max-age=600"})


@router.get("/", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:  # noqa: A002
    """登录页；已登录则进入本角色首页。"""
    user = _session_user(request, session)
    if user is not None:
        return RedirectResponse(_safe_next(next, user), status_code=303)
    return _html(request, "login.html", None, title="登录", next_url=next or "", username="", error="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "",  # noqa: A002
) -> Response:
    """校验用户名与密码，设置会话 Cookie，转到本角色首页（或登录前要打开的页面）。"""
    if not _same_origin(request):
        return _html(request, "login.html", None, status_code=403, title="登录", next_url="",
                     username="", error="登录请求来自其他网站，已拒绝")
    # The same throttled login as POST /api/auth/token (layers.services.login).
    settings = request.app.state.settings
    policy = logins.LoginPolicy(settings.login_max_failures_per_account,
                                settings.login_max_failures_per_address, settings.login_window_s)
    address = request.client.host if request.client else "unknown"
    try:
        attempt = logins.prepare(session, username.strip(), address, policy)
    except LoginThrottledError as err:
        return _html(request, "login.html", None, status_code=429, title="登录", next_url=next,
                     username=username, error=str(err))
    verified = logins.verify(attempt, password)  # hashes even for unknown names (timing)
    if not verified or attempt.user is None:
        logins.fail(session, attempt)  # recorded (committed with the page) for throttling
        return _html(request, "login.html", None, status_code=401, title="登录", next_url=next,
                     username=username, error="用户名或密码错误")
    user = attempt.user
    ttl = settings.token_ttl_minutes
    token, _ = logins.succeed(session, attempt, ttl)
    response = RedirectResponse(_safe_next(next, user), status_code=303)
    set_session(response, request, token, ttl * 60)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep,
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """退出登录：令牌作废，Cookie 清除。"""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and csrf_ok(token, csrf_token):
        revoke_token(session, token)
    elif token:
        return HTMLResponse("CSRF 令牌无效，请刷新页面后重试", status_code=403)
    response = RedirectResponse("/", status_code=303)
    clear_session(response)
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: Annotated[Actor, page_user()]) -> Response:
    """修改本人密码。"""
    return _html(request, "password.html", user, title="修改密码", errors={}, done="")


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request, session: SessionDep, user: Annotated[Actor, page_user()],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=300)] = "",
    confirm_password: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """校验当前密码后修改；其他已登录的浏览器与令牌随之失效，本浏览器保持登录。"""
    if not csrf_ok(request.cookies.get(SESSION_COOKIE, ""), csrf_token):
        return HTMLResponse("CSRF 令牌无效，请刷新页面后重试", status_code=403)
    errors = {}
    if new_password != confirm_password:
        errors["confirm_password"] = "两次输入的新密码不一致"
    elif not 10 <= len(new_password) <= 256:
        errors["new_password"] = "新密码长度须为 10–256 个字符"
    token = request.cookies.get(SESSION_COOKIE, "")
    settings = request.app.state.settings
    if not errors:
        try:
            # The same change as POST /api/auth/password: this browser's token stays valid,
            # every other token of the user is revoked.
            # A wrong current password counts as a failed login (layers.services.login);
            # the failure row commits with this page's transaction.
            with hashing_slot(request.app.state.hash_threads):  # Argon2 twice: bounded per worker
                logins.change_own_password(
                    session, user, current_password, new_password, keep_token=token,
                    address=request.client.host if request.client else "unknown",
                    policy=logins.LoginPolicy(settings.login_max_failures_per_account,
                                              settings.login_max_failures_per_address,
                                              settings.login_window_s))
        except ServiceBusyError as err:
            page = _html(request, "password.html", user, status_code=503, title="修改密码",
                         errors={"current_password": str(err)}, done="")
            page.headers["Retry-After"] = str(err.retry_after_s)
            return page
        except LoginThrottledError as err:
            page = _html(request, "password.html", user, status_code=429, title="修改密码",
                         errors={"current_password": str(err)}, done="")
            page.headers["Retry-After"] = str(err.retry_after_s)
            return page
        except AuthenticationError:
            errors["current_password"] = "账号已停用，请重新登录"
        except InvalidRequestError as err:
            field, _, message = str(err).partition("：")
            which = "current_password" if "current_password" in field else "new_password"
            errors[which] = message or str(err)
    if errors:
        return _html(request, "password.html", user, status_code=422, title="修改密码",
                     errors=errors, done="")
    session.commit()  # the first account's password file goes only once the new one is stored
    initial_user.forget(request.app.state.settings.data_dir, user.username)
    body = render_page("password.html", user=user, csrf=csrf_for(token), path=request.url.path,
                       title="修改密码", errors={}, done="密码已修改；其他设备上的登录已失效。")
    return HTMLResponse(body, headers=NO_STORE)


# --- The pages of each role: a template, its script, and the data-* it needs -------------

def _simple(path: str, template: str, title: str, need: tuple, scripts: tuple[str, ...],
            *, with_map: bool = False, **extra) -> None:
    viewer = page_user(*need)  # a default, not an annotation: closures are not in globals

    def page(request: Request, user: Actor = viewer) -> Response:
        data = {"role": user.role}
        return _html(request, template, user, title=title, page=template.removesuffix(".html"),
                     scripts=scripts, with_map=with_map, data=data, **extra)

    page.__name__ = f"page_{template.removesuffix('.html').replace('-', '_')}"
    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


def _project_page(path: str, need: tuple) -> None:
    from gisapp.web.grants import granted

    viewer = page_user(*need)

    def page(request: Request, project_id: int, user: Actor = viewer) -> Response:
        return _html(request, "project.html", user, title="项目详情", page="project",
                     scripts=("map.js", "project.js", "project-procedure.js"), with_map=True,
                     data={"role": user.role, "project-id": project_id, "can": granted(user)})

    page.__name__ = f"project_page_{path.split('/')[1]}"
    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


# Each page names the grant its work needs (the permission table decides, not the role).
OWN_PROJECTS = ("project.read", (Scope.OWN_PROJECTS,))
ALL = (Scope.ALL,)
_simple("/builder/", "builder-projects.html", "我的项目", OWN_PROJECTS, ("builder-projects.js",))
_simple("/builder/projects/new", "project-new.html", "新建项目", ("project.write",),
        ("map.js", "draw.js", "project-new.js"), with_map=True, activities=ACTIVITIES,
        crs_choices=tuple(CRS_CHOICES.items()))
_project_page("/builder/projects/{project_id}", OWN_PROJECTS)
_project_page("/office/projects/{project_id}", ("project.read", ALL))
_simple("/office/", "office-home.html", "待办事项", ("alert.read", ALL), ("office-home.js",))
_simple("/office/alerts", "alerts.html", "告警", ("alert.change", ALL), ("alerts.js",))
_simple("/inspector/", "inspector-home.html", "今日检查", ("campaign.status", ALL), ("inspector-home.js",))


def _inspect_page() -> None:
    viewer = page_user("inspection.record.spot", ALL)

    def page(request: Request, project_id: int, user: Actor = viewer) -> Response:
        return _html(request, "inspect.html", user, title="现场检查", page="inspect",
                     scripts=("inspect.js",), key_items=KEY_ITEMS,
                     data={"role": user.role, "project-id": project_id})

    router.add_api_route("/inspector/projects/{project_id}", page, methods=["GET"],
                         response_class=HTMLResponse)


_inspect_page()
_simple("/admin/users", "admin-users.html", "用户管理", ("user.manage",), ("admin-users.js",),
        role_choices=tuple((r, ROLE_ZH[r]) for r in USER_ROLES))


LIST_READ = {"projects": "project.read", "conflicts": "conflict.read", "permits": "permit.read"}


def _list_page(kind: str, title: str, status_label: str) -> None:
    viewer = page_user(LIST_READ[kind], ALL)
    spec = LISTS[kind]

    def page(request: Request, user: Actor = viewer) -> Response:
        return _html(request, "office-list.html", user, title=title, page="office-list",
                     scripts=("office-list.js",), status_label=status_label,
                     statuses=tuple(spec.statuses.items()), data={"role": user.role, "list": kind})

    page.__name__ = f"list_page_{kind}"
    router.add_api_route(f"/office/{kind}", page, methods=["GET"], response_class=HTMLResponse)


_list_page("projects", "项目列表", "项目状态")
_list_page("conflicts", "冲突列表", "所在范围")
_list_page("permits", "保护手续列表", "手续状态")


def _campaign_page() -> None:
    viewer = page_user("campaign.plan", ALL)

    def page(request: Request, user: Actor = viewer) -> Response:
        today = today_in_shanghai()
        last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        return _html(request, "campaign.html", user, title="专项检查", page="campaign",
                     scripts=("campaign.js",), year=today.year, month=last_month,
                     data={"role": user.role})

    router.add_api_route("/office/campaign", page, methods=["GET"], response_class=HTMLResponse)


_campaign_page()
