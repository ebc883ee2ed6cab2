"""Login with throttling: failures counted per account and per client address, audited.

A login runs in three steps so that no database connection is held while Argon2 runs
(64 MiB and ~50 ms of CPU per verification; the route bounds how many run at once):

1. ``prepare``: the throttle counts and the account's hash, in one short transaction;
2. ``verify``: the Argon2 check, no database;
3. ``succeed`` (issue a token, forget the account's failures) or ``fail`` (a
   ``login_failure`` row and an audit row, committed although the login is refused).

Throttled: ``max_per_account`` failures of one username, or ``max_per_address`` from
one client address, within ``window_s``. The answer then names how long to wait; a
throttled attempt costs no Argon2 and is not counted again.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services import users
from layers.services.actors import MAX_NAME, Actor
from layers.services.audit import record
from layers.services.errors import AuthenticationError, TooManyRequestsError
from layers.services.users import _DUMMY_HASH, _HASHER, issue_token


class LoginThrottledError(TooManyRequestsError):
    """Too many failed logins: wait ``retry_after_s`` seconds."""


@dataclass(frozen=True)
class LoginPolicy:
    """The throttle's limits."""

    max_per_account: int = 5
    max_per_address: int = 20
    window_s: float = 900.0


@dataclass(frozen=True)
class Attempt:
    """What ``prepare`` found: the account (or None) and the hash to check against."""

    username: str
    address: str
    user: Actor | None
    active: bool
    password_hash: str


_RECENT = text(
    "SELECT count(*) AS n, extract(epoch FROM min(at) + make_interval(secs => :window) - now()) AS wait "
    "FROM (SELECT at FROM login_failure WHERE {column} = :value "
    "AND at > now() - make_interval(secs => :window) ORDER BY at DESC LIMIT :max) recent"
)


def _wait_s(session: Session, column: str, value: str, limit: int, window_s: float) -> int | None:
    row = session.execute(text(_RECENT.text.format(column=column)),
                          {"value": value, "window": window_s, "max": limit}).one()
    if row.n < limit:
        return None
    return max(1, math.ceil(float(row.wait or 1)))


def _minutes(seconds: int) -> str:
    return f"{seconds} 秒" if seconds < 120 else f"{math.ceil(seconds / 60)} 分钟"


def check_throttle(session: Session, username: str, address: str, policy: LoginPolicy) -> None:
    """Refuse (``LoginThrottledError``, 429) an account or an address with too many failures."""
    wait = _wait_s(session, "username", username, policy.max_per_account, policy.window_s)
    if wait is not None:
        raise LoginThrottledError(
            f"账号 {username} 登录失败次数过多"
            f"（{policy.window_s / 60:g} 分钟内 {policy.max_per_account} 次），"
            f"请 {_minutes(wait)}后再试", wait)
    wait = _wait_s(session, "address", address, policy.max_per_address, policy.window_s)
    if wait is not None:
        raise LoginThrottledError(
            f"来自本地址的登录失败次数过多"
            f"（{policy.window_s / 60:g} 分钟内 {policy.max_per_address} 次），"
            f"请 {_minutes(wait)}后再试", wait)


def prepare(session: Session, username: str, address: str, policy: LoginPolicy) -> Attempt:
    """Refuse a throttled attempt; else return what the verification needs."""
    username = (username or "")[:64]
    address = (address or "unknown")[:64]
    check_throttle(session, username, address, policy)
    row = session.execute(
        text("SELECT id, username, role, organisation, password_hash, active FROM app_user "
             "WHERE username = :u"), {"u": username},
    ).one_or_none()
    if row is None:
        return Attempt(username, address, None, False, _DUMMY_HASH)
    return Attempt(username, address, Actor(row.id, row.username, row.role, row.organisation),
                   bool(row.active), row.password_hash)


def verify(attempt: Attempt, password: str) -> bool:
    """Check the password (Argon2id); an unknown account is checked against a dummy hash."""
    try:
        _HASHER.verify(attempt.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return attempt.user is not None and attempt.active


def succeed(session: Session, attempt: Attempt, ttl_minutes: int) -> tuple[str, dt.datetime]:
    """Issue a token and forget the account's earlier failures."""
    session.execute(text("DELETE FROM login_failure WHERE username = :u"), {"u": attempt.username})
    if attempt.user is None:  # check() said yes only for a known, active account
        raise ValueError("succeed() needs an attempt that check() accepted")
    return issue_token(session, attempt.user, ttl_minutes)


def fail(session: Session, attempt: Attempt) -> AuthenticationError:
    """Count and audit a failed attempt; return the error to raise (after committing)."""
    reason = ("unknown_user" if attempt.user is None
              else "inactive" if not attempt.active else "wrong_password")
    _count_failure(session, attempt.username, attempt.address,
                   attempt.user.id if attempt.user else None, reason)
    return AuthenticationError("用户名或密码错误")


def _count_failure(session: Session, username: str, address: str, user_id: int | None,
                   reason: str) -> None:
    session.execute(text("INSERT INTO login_failure (username, address) VALUES (:u, :a)"),
                    {"u": username, "a": address})
    # The one acting is the unauthenticated client, named by its address.
    anonymous = Actor(None, f"anonymous:{address}"[:MAX_NAME], "anonymous")
    record(session, anonymous, "auth.login_failed", "app_user", user_id,
           {"username": username, "address": address, "reason": reason})


def change_own_password(session: Session, user: Actor, current: str, new: str, *, address: str,
                        policy: LoginPolicy, keep_token: str | None = None) -> int:
    """Change one's own password, the current one checked like a login; return tokens revoked.

    A wrong current password is a password guess made with a stolen session (an open
    browser, a leaked token): it counts as a failed login of the account and of the
    address, and once either is over its limit the change is refused (429) before
    Argon2 runs. The failure row is written in the caller's transaction, which must
    commit it although the request is refused (``WrongCurrentPasswordError``).
    """
    address = (address or "unknown")[:64]
    check_throttle(session, user.username, address, policy)
    try:
        revoked = users.change_own_password(session, user, current, new, keep_token=keep_token)
    except users.WrongCurrentPasswordError:
        _count_failure(session, user.username, address, user.id, "wrong_current_password")
        raise
    session.execute(text("DELETE FROM login_failure WHERE username = :u"), {"u": user.username})
    return revoked
