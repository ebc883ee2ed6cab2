"""Request dependencies: the session (one transaction per request) and the current user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from gisapp.web.session import request_token
from layers.services.errors import PermissionDeniedError
from layers.services.features import WriteContext
from layers.services.users import User, user_for_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def api_token(request: Request, _bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> str | None:
    """Return the request's token: a bearer header, else the browser's session cookie.

    ``oauth2_scheme`` stays a dependency so the API docs still offer the bearer login;
    the cookie path checks CSRF on unsafe methods (``gisapp.web.session``).
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


def get_current_user(session: SessionDep, token: Token) -> User:
    """Return the user of the bearer token, looked up in the request's own transaction.

    One connection and one transaction per request: a 401 rolls back like any error,
    so it never writes.
    """
    return user_for_token(session, token or "")


CurrentUser = Annotated[User, Depends(get_current_user)]


def write_context(request: Request, user: User) -> WriteContext:
    """Return what a write by ``user`` needs: the rules, alert receivers, district margin.

    Builders' projects always belong to their own organisation.
    """
    settings = request.app.state.settings
    return WriteContext(
        actor=user,
        rule_set=request.app.state.rule_set,
        webhook_urls=settings.webhook_urls,
        margin_m=settings.district_margin_m,
        organisation=user.organisation if user.role == "builder" else None,
    )


def require(*roles: str):
    """Return a dependency that admits only users with one of ``roles``."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise PermissionDeniedError(f"角色 {user.role} 无权执行此操作（需要：{'、'.join(roles)}）")
        return user

    return Depends(check)
