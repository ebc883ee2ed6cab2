"""``--district``: run a command as the district gas office of one district would through the API.

A district office user's requests see only their district's rows (row-level security,
``layers.services.districts``) and its own spot-check plans and report title. A command
given ``--district`` does the same: its connection acts as the server's role
(``gisapp_app``, which the policies bind; the CLI's own login may bypass them) and its
transaction sees that district, so the same service functions answer as they answer
the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from gisapp.cli.errors import CliUsageError
from layers.services.actors import Actor

if TYPE_CHECKING:  # the options are read before any database work
    from sqlalchemy.orm import Session

DISTRICT_HELP = ("以该区燃气管理所的身份运行（与该区账号经 API 所得相同）：区名或行政区划代码，"
                 "如 崇明区、310151；省略为全辖区。")


def parse_district(value: str | None, option: str = "--district") -> str | None:
    """Return the adcode ``--district`` names (None when not given); a usage error otherwise."""
    from layers.jurisdictions import district_names
    from layers.services.districts import check_district
    from layers.services.errors import InvalidRequestError

    if value is None:
        return None
    known = "、".join(f"{name}（{code}）" for code, name in district_names().items())
    if not value.strip():
        raise CliUsageError(f"{option} 不能为空；可用的区：{known}")
    try:
        code = check_district(value, option)
    except InvalidRequestError:
        raise CliUsageError(f"{option}“{value}”：未知的区；可用的区：{known}") from None
    if code is None:
        raise CliUsageError(f"{option}“{value}”是全市而不是一个区；全辖区请省略 {option}")
    return code


def district_actor(district: str | None) -> Actor:
    """Return the command's actor, scoped to ``district`` as a district office user is."""
    return replace(Actor.cli(), district=district)


def acting_role(district: str | None) -> str | None:
    """Return the role the command's connections act as: the server's for a district, else its own."""
    from layers.services.districts import APP_ROLE

    return APP_ROLE if district is not None else None


@contextmanager
def seeing(session: Session, district: str | None) -> Iterator[Session]:
    """Within the block, ``session``'s transaction sees ``district`` alone (None: as it was)."""
    if district is not None:
        from sqlalchemy import text

        from layers.services.districts import see

        see(session, district)
        # A login that bypasses row-level security (a superuser without the server's
        # role to act as) would see every district: refuse rather than mislabel the answer.
        bypasses = session.execute(text(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")).scalar_one()
        if bypasses:
            raise CliUsageError(
                "--district：数据库账号不受行级安全约束，且无法切换为服务端角色 gisapp_app，"
                "不能只取一个区的数据；请用 gisapp db up 初始化数据库角色后重试")
    yield session
