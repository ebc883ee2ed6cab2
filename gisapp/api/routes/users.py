"""``/api/users``: accounts, roles and passwords, managed by the admin role only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gisapp.api.deps import SessionDep, allow
from gisapp.api.pagination import next_links
from layers.services.permissions import EVERYTHING, USER_ROLES, Access
from layers.services.user_requests import cancel, list_requests
from layers.services.users import (
    add_user,
    confirm_request,
    get_user,
    list_users,
    set_password,
    update_user,
)

router = APIRouter(prefix="/api/users", tags=["users"])
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# The service checks username, password length, role and organisation with the same
# messages as ``gisapp user create``; the limits here only bound what is read at all.
# No control or invisible direction characters: an organisation name is shown and matched.
Organisation = Annotated[str, Field(
    max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]*$",
    description="所属单位（建设单位必填）")]
Password = Annotated[SecretStr, Field(max_length=1024, description="10–256 个字符")]
RoleName = Annotated[str, Field(max_length=32, description="、".join(USER_ROLES))]
District = Annotated[str, Field(max_length=32, description="所辖区：行政区划代码或区名（如 310151、崇明区）；"
                                "不填为本部署的整个辖区")]
Admin = Annotated[Access, allow("user.manage", scopes=EVERYTHING)]
RoleQ = Literal[USER_ROLES]  # type: ignore[valid-type]  # the table's user roles
Email = Annotated[str, Field(max_length=254, description="接收通知的电子邮件地址（可空）")]


class UserIn(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=256, description="2–64 位字母、数字、汉字或 _ . - @")
    password: Password
    role: RoleName
    organisation: Organisation | None = None
    email: Email | None = None
    district: District | None = None


class UserPatch(BaseModel):
    """Changes of a user; fields left out stay as they are, organisation null clears it."""

    model_config = ConfigDict(extra="forbid")

    # Absent = unchanged; an explicit null is refused (the field's type is not optional).
    role: RoleName = None  # type: ignore[assignment]
    organisation: Organisation | None = None
    district: District | None = None
    active: bool = Field(None, description="false 停用账号（其令牌立即失效）")  # type: ignore[assignment]
    email: Email | None = None


class PasswordIn(BaseModel):
    """A new password."""

    model_config = ConfigDict(extra="forbid")

    password: Password


def _answer(result: dict, status: int = 200):
    """A privileged change waiting for a second admin is answered 202 (user_requests)."""
    if "pending_request" in result:
        return JSONResponse(jsonable_encoder(result), status_code=202)
    return JSONResponse(jsonable_encoder(result), status_code=status)


@router.post("", status_code=201)
def create(session: SessionDep, admin: Admin, body: UserIn):
    """新建用户（规则同命令行 gisapp user create；用户名重复时 409）。

    新建燃气管理所或管理员账号须由另一名管理员确认（返回 202 与待确认请求）。
    """
    return _answer(add_user(session, admin.actor, body.username, body.password.get_secret_value(),
                            body.role, body.organisation, body.email, district=body.district), 201)


@router.get("/requests")
def requests_(session: SessionDep, admin: Admin, pending_only: bool = True) -> dict:
    """涉及特权账号（燃气管理所、管理员）的待确认变更请求。"""
    return {"requests": list_requests(session, pending_only)}


@router.post("/requests/{request_id}/confirm")
def confirm(session: SessionDep, admin: Admin, request_id: UserId):
    """由另一名管理员确认并执行特权账号变更（发起人不能自行确认）。"""
    return _answer(confirm_request(session, admin.actor, request_id))


@router.post("/requests/{request_id}/cancel")
def cancel_(session: SessionDep, admin: Admin, request_id: UserId) -> dict:
    """取消一个待确认的特权账号变更请求。"""
    return cancel(session, admin.actor, request_id)


@router.get("")
def list_(
    request: Request, session: SessionDep, admin: Admin,
    role: Annotated[RoleQ | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """用户列表（可按角色、是否在用过滤并分页），不含密码哈希。"""
    users, total = list_users(session, role=role, active=active, limit=limit, offset=offset)
    links = next_links(request, offset=offset, limit=limit, returned=len(users), total=total)
    return {"users": users, "numberMatched": total, "numberReturned": len(users), "links": links}


@router.get("/{user_id}")
def read(session: SessionDep, admin: Admin, user_id: UserId) -> dict:
    """读取一个用户。"""
    return get_user(session, user_id)


@router.patch("/{user_id}")
def change(session: SessionDep, admin: Admin, user_id: UserId, body: UserPatch):
    """变更角色、所属单位或停用/启用；角色、单位变更或停用时其现有令牌立即失效。

    提升为燃气管理所或管理员、重新启用此类账号，须由另一名管理员确认（202）。
    """
    # An empty change is refused by update_user, with the fields it accepts.
    return _answer(update_user(session, admin.actor, user_id, body.model_dump(include=body.model_fields_set)))


@router.post("/{user_id}/password")
def password(session: SessionDep, admin: Admin, user_id: UserId, body: PasswordIn):
    """设置新密码；该用户现有令牌立即失效（含管理员本人）。

    为其他燃气管理所或管理员账号设置密码须由另一名管理员确认（202）。
    """
    return _answer(set_password(session, admin.actor, user_id, body.password.get_secret_value()))
