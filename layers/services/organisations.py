"""Organisations (builders and pipeline owners): contacts shown on answer letters, and the
group-robot channels (WeCom, DingTalk) their notifications go to.

The gas office (and the command line) may set any organisation; a builder or owner
user may set only its own. The DingTalk signing secret is write-only: reads say
whether one is set, never what it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.audit import record
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.permissions import Access, Scope
from layers.services.users import check_email

KINDS = ("builder", "utility")
FIELDS = ("contact_person", "phone", "emergency_phone", "email", "address", "wecom_webhook_url",
          "dingtalk_webhook_url", "dingtalk_secret")
LIMITS = {"contact_person": 200, "phone": 64, "emergency_phone": 64, "address": 500,
          "wecom_webhook_url": 1000, "dingtalk_webhook_url": 1000, "dingtalk_secret": 128}


def check_http_url(url: str, field: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else refuse it naming the field."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"字段 {field}：“{url[:80]}”不是 http:// 或 https:// 开头的完整网址")
    return url


def _may(access: Access, name: str) -> None:
    """A grant of everything reaches every organisation; a scoped one only its own."""
    if access.scope is not Scope.ALL and access.actor.organisation != name:
        raise NotFoundError(f"单位“{name}”不存在")


def _shape(row) -> dict:
    out = {k: row[k] for k in ("name", "kind", "contact_person", "phone", "emergency_phone", "email",
                               "address", "wecom_webhook_url", "dingtalk_webhook_url", "updated_at")}
    out["has_dingtalk_secret"] = bool(row["dingtalk_secret"])
    return out


def get_organisation(session: Session, access: Access, name: str) -> dict:
    """One organisation ``access`` (organisation.read or .write) reaches."""
    _may(access, name)
    row = session.execute(text("SELECT * FROM organisation WHERE name = :n"),
                          {"n": name}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"单位“{name}”不存在")
    return _shape(row)


def list_organisations(session: Session, access: Access) -> list[dict]:
    """The organisations ``access`` (organisation.read) reaches: all, or its own."""
    if access.scope is not Scope.ALL:
        row = session.execute(text("SELECT * FROM organisation WHERE name = :n"),
                              {"n": access.actor.organisation}).mappings().all()
        return [_shape(r) for r in row]
    return [_shape(r) for r in session.execute(text("SELECT * FROM organisation ORDER BY name")).mappings()]


def set_organisation(session: Session, access: Access, name: str, kind: str, changes: dict) -> dict:
    """Create or update an organisation's contacts and robot channels; audit the change."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidRequestError("字段 name：单位名称不能为空，且不超过 200 个字符")
    if kind not in KINDS:
        raise InvalidRequestError(f"字段 kind：未知单位类型“{kind}”（可用：builder、utility）")
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidRequestError(f"字段 {'、'.join(sorted(unknown))}：不认识的字段")
    _may(access, name)
    values = {}
    for field, value in changes.items():
        value = None if value is None else str(value).strip() or None
        if value is not None and len(value) > LIMITS.get(field, 254):
            raise InvalidRequestError(f"字段 {field}：长度不能超过 {LIMITS.get(field, 254)} 个字符")
        if field == "email":
            value = check_email(value)
        if field.endswith("_webhook_url") and value is not None:
            value = check_http_url(value, field)
        values[field] = value
    current = session.execute(text("SELECT kind FROM organisation WHERE name = :n FOR UPDATE"),
                              {"n": name}).scalar_one_or_none()
    if current is not None and current != kind:
        raise InvalidRequestError(f"字段 kind：单位“{name}”已登记为 {current}，不能改为 {kind}")
    cols = ["name", "kind", *values]
    session.execute(text(
        f"INSERT INTO organisation ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
        "ON CONFLICT (name) DO UPDATE SET "
        + ", ".join([f"{c} = EXCLUDED.{c}" for c in values] + ["updated_at = now()"])),
        {"name": name, "kind": kind, **values})
    record(session, access.actor, "organisation.set", "organisation", None,
           {"name": name, "kind": kind,
            "changed": {k: ("***" if k == "dingtalk_secret" and v else v) for k, v in values.items()}})
    return get_organisation(session, access, name)
