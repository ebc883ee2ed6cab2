"""Request dependencies: the session, the current user and what the table grants it (``allow``).

One transaction per request; the permission table is ``layers.services.permissions``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from gisapp.web.session import request_token
from layers.services.actors import Actor
from layers.services.districts import see
from layers.services.errors import AuthenticationError, PermissionDeniedError
from layers.services.features import WriteContext
from layers.services.notify import Channels
from layers.services.permissions import Access, Scope, authorize, check_action, denial
from layers.services.site_limits import limits_for
from layers.services.users import user_for_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def api_token(request: Request, _bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> str | None:
    """Return the request's token: a bearer header, else the browser's session cookie.

    ``oauth2_scheme`` stays a dependency so the API docs still offer the bearer login;
    the cookie path checks CSRF on unsafe methods (``gisapp.web.session``). Async: it
    only reads headers (and an HMAC), and as a plain function FastAPI sent it to the
    thread pool, one more trip there (and wait for the GIL) for every request.
    """
    return request_token(request)


Token = Annotated[str | None, Depends(api_token)]


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session whose transaction commits when the handler returns, else rolls back."""
    session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a 2xx always means committed
# (the default "request" scope would commit after the client already has its answer).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(request: Request, session: SessionDep, token: Token) -> Actor:
    """Return the user of the bearer token, looked up in the request's own transaction.

    One connection and one transaction per request: a 401 rolls back like any error,
    so it never writes. A personal token sent as Basic must come with its user's name.
    """
    actor = user_for_token(session, token or "")
    basic_username = getattr(request.state, "basic_username", None)
    if basic_username is not None and basic_username != actor.username:
        raise AuthenticationError("Basic 认证的用户名与个人访问令牌的用户不符")
    return actor


CurrentUser = Annotated[Actor, Depends(get_current_user)]


def get_read_session(request: Request, user: CurrentUser) -> Iterator[Session]:
    """Yield a read-only session for lag-tolerant reads: the replica while it keeps up.

    The answer says where it was read and the replica's lag (``X-Gisapp-Read-From``,
    ``X-Gisapp-Read-Lag-S``: ``gisapp.api.replica_headers``), so a page can tell the
    user how fresh a map is.
    """
    reads = request.app.state.reads
    target = reads.target()
    request.state.read_target = target
    session = reads.session(target)
    try:
        # Another connection than the token check's: it sees the user's district too
        # (row-level security, layers.services.districts).
        see(session, user.district)
        yield session
    finally:
        session.rollback()
        session.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def write_ctx(request: Request, access: Access) -> WriteContext:
    """Return what a write granted by ``access`` needs: rules, alert receivers, district margin."""
    settings = request.app.state.settings
    # Vertex and site limits of the writer's role; builders' large sites are held.
    return WriteContext.of(access, request.app.state.rule_set,
                           webhook_urls=settings.webhook_urls, margin_m=settings.district_margin_m,
                           answer_valid_days=settings.answer_valid_days,
                           owner_reply_days=settings.owner_reply_days, channels=channels(settings),
                           limits=limits_for(settings, access.actor.role),
                           alert_burst=settings.alert_burst_threshold)


def channels(settings) -> Channels:
    """The notification channels the settings configure (SMTP, generic webhooks)."""
    return Channels(smtp=bool(settings.smtp_url), webhook_urls=tuple(settings.webhook_urls))


def allow(action: str, *, scopes: Collection[Scope] | None = None):
    """Return a dependency: the current user's ``Access`` for ``action``, or 403.

    The permission table (``layers.services.permissions``) decides; a role it does not
    grant ``action`` is refused, whatever the role. ``scopes``: the only scopes the route
    can honour (a route that cannot narrow its answer takes ``EVERYTHING``); a grant of
    another scope is refused, never widened.
    """
    check_action(action)

    def check(user: CurrentUser) -> Access:
        access = authorize(user, action)
        if scopes is not None and access.scope not in scopes:
            raise PermissionDeniedError(denial(user, action))
        return access

    return Depends(check)
