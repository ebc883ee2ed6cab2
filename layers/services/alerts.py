"""Alerts for new conflicts: exactly one per conflict, and a webhook outbox row per receiver.

Alerts and outbox rows are written in the transaction that created the conflict, so
an alert exists if and only if its conflict does, and a delivery survives a crash
(the dispatcher in ``gisapp.outbox`` sends it later, with retries).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam

from layers.db import IdArray, execute_sized
from layers.services.actors import Actor
from layers.services.audit import record
from layers.services.districts import see
from layers.services.errors import ConflictStateError, NotFoundError, PermissionDeniedError
from vocabulary import Zone
from vocabulary.activities import Activity

# Prepared for the few conflicts of one API write (layers.db.execute_sized).
_NEW_ALERTS = (
    "INSERT INTO alert (conflict_id, project_id, pipeline_id, zone, message, district) "
    "SELECT c.id, c.project_id, c.pipeline_id, c.zone, "
    "'项目 ' || p.registration_code || '（' || p.name || '）进入管道 ' || g.external_code || "
    "' 的' || CASE c.zone WHEN 'protection' THEN CAST(:protection_zh AS text) "
    "ELSE CAST(:control_zh AS text) END || "
    "'，距管壁 ' || to_char(c.distance_m, 'FM999990.00') || ' 米', "
    # The conflict's district, given: a screen's thousands of alerts need no lookup each.
    "c.district "
    "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
    "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.id = ANY(CAST(:ids AS bigint[])) "
    "ON CONFLICT (conflict_id) WHERE kind = 'new' DO NOTHING RETURNING id"
)


def raise_alerts(session: Session, conflict_ids: Sequence[int], webhook_urls: Sequence[str],
                 *, burst: int | None = None) -> list[int]:
    """Create the alerts (and outbox rows) of new conflicts; return the new alert ids.

    More than ``burst`` new alerts at once (one request or one import) go to each
    receiver as one summary message instead of one message per alert: a district-sized
    site once made 1,407 webhook posts. Every alert is still in the inbox and the stream.
    """
    if not conflict_ids:
        return []
    alert_ids = execute_sized(
        session, _NEW_ALERTS,
        {"ids": IdArray(conflict_ids), "protection_zh": Zone.PROTECTION.label,
         "control_zh": Zone.CONTROL.label},
        len(conflict_ids)).scalars().all()
    _queue_webhooks(session, alert_ids, webhook_urls, burst=burst)
    return list(alert_ids)


def _codes_zh(codes: Sequence[str]) -> str:
    return "、".join(Activity(c).label for c in codes) if codes else "无"


def change_message(before: dict, after: dict) -> str:
    """Return the Chinese text of what a rule change did to a standing conflict."""
    parts = []
    if before["zone"] != after["zone"]:
        parts.append(f"范围由{Zone(before['zone']).label}变为{Zone(after['zone']).label}")
    if list(before["prohibited"]) != list(after["prohibited"]):
        parts.append(f"禁止的作业由“{_codes_zh(before['prohibited'])}”变为“{_codes_zh(after['prohibited'])}”")
    if list(before["plan"]) != list(after["plan"]):
        parts.append(f"须商定保护方案的作业由“{_codes_zh(before['plan'])}”变为“{_codes_zh(after['plan'])}”")
    return "；".join(parts) or "判定未变"


def raise_change_alerts(
    session: Session, changed: Sequence[dict], webhook_urls: Sequence[str],
    *, burst: int | None = None,
) -> list[int]:
    """Create one 'changed' alert per standing conflict a rule change judged differently.

    ``changed`` holds each conflict's id and its previous ``rule_set``, ``zone``,
    ``prohibited`` and ``plan`` (``layers.screening_db.DbScreenReport.changed``).
    """
    if not changed:
        return []
    before = {int(c["id"]): c for c in changed}
    rows = session.execute(
        text(
            "SELECT c.id, c.project_id, c.pipeline_id, c.zone, c.rule_set, c.prohibited_activities, "
            "c.plan_required_activities, p.registration_code, p.name, g.external_code "
            "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.id = ANY(:ids) ORDER BY c.id"
        ),
        {"ids": list(before)},
    ).mappings().all()
    values = []
    for row in rows:
        old = before[int(row["id"])]
        what = change_message(
            old, {"zone": row["zone"], "prohibited": row["prohibited_activities"],
                  "plan": row["plan_required_activities"]})
        values.append({
            "conflict_id": row["id"], "project_id": row["project_id"], "pipeline_id": row["pipeline_id"],
            "zone": row["zone"],
            "message": (f"规则集由 {old['rule_set']} 改为 {row['rule_set']}：项目 {row['registration_code']}"
                        f"（{row['name']}）与管道 {row['external_code']} 的冲突{what}"),
        })
    alert_ids = [
        session.execute(
            text("INSERT INTO alert (conflict_id, project_id, pipeline_id, zone, message, kind) "
                 "VALUES (:conflict_id, :project_id, :pipeline_id, :zone, :message, 'changed') RETURNING id"),
            v,
        ).scalar_one()
        for v in values
    ]
    _queue_webhooks(session, alert_ids, webhook_urls, burst=burst)
    return alert_ids


def _queue_webhooks(session: Session, alert_ids: Sequence[int], webhook_urls: Sequence[str],
                    *, burst: int | None = None) -> None:
    """Write one outbox row per alert and receiver, in the alerts' transaction.

    More than ``burst`` alerts at once (a big site, or a rule switch that judges many
    standing conflicts anew) go to each receiver as one summary message instead.
    """
    if alert_ids and webhook_urls and burst is not None and len(alert_ids) > burst:
        _summarise(session, list(alert_ids), webhook_urls)
    elif alert_ids and webhook_urls:
        payloads = session.execute(
            text(
                "SELECT a.id, json_build_object('event', CASE a.kind WHEN 'new' THEN 'conflict_alert' "
                "ELSE 'conflict_changed' END, 'alert_id', a.id, "
                "'conflict_id', a.conflict_id, 'project_code', p.registration_code, "
                "'pipeline_code', g.external_code, 'zone', a.zone, 'message', a.message, "
                "'created_at', a.created_at) FROM alert a "
                "JOIN construction_project p ON p.id = a.project_id "
                "JOIN gas_pipeline g ON g.id = a.pipeline_id WHERE a.id = ANY(:ids)"
            ),
            {"ids": list(alert_ids)},
        ).all()
        insert = text(
            "INSERT INTO outbox_message (alert_id, target_url, payload) VALUES (:a, :u, :p)"
        ).bindparams(bindparam("p", type_=JSONB))
        session.execute(
            insert, [{"a": aid, "u": url, "p": payload} for aid, payload in payloads for url in webhook_urls]
        )


SUMMARY_LISTED = 100  # alert ids listed in a summary message (the count is always whole)

_SUMMARY = text(
    "SELECT json_build_object('event', 'conflict_alert_summary', 'alert_count', count(*), "
    "'protection_count', count(*) FILTER (WHERE a.zone = 'protection'), "
    "'control_count', count(*) FILTER (WHERE a.zone = 'control'), "
    "'first_alert_id', min(a.id), 'last_alert_id', max(a.id), "
    "'alert_ids', (array_agg(a.id ORDER BY a.id))[1:CAST(:listed AS integer)], "
    "'project_codes', (array_agg(DISTINCT p.registration_code))[1:20], "
    "'message', '本次操作新增 ' || count(*) || ' 条冲突告警（' || :protection_zh || ' ' || "
    "count(*) FILTER (WHERE a.zone = 'protection') || ' 条，' || :control_zh || ' ' || "
    "count(*) FILTER (WHERE a.zone = 'control') || ' 条），涉及项目 ' || "
    "count(DISTINCT p.registration_code) || ' 个，详见告警列表', "
    "'created_at', max(a.created_at)) "
    "FROM alert a JOIN construction_project p ON p.id = a.project_id WHERE a.id = ANY(:ids)"
)


def _summarise(session: Session, alert_ids: list[int], webhook_urls: Sequence[str]) -> None:
    """One outbox message per receiver for a burst of alerts (no alert_id: it covers many)."""
    payload = session.execute(_SUMMARY, {
        "ids": alert_ids, "listed": SUMMARY_LISTED, "protection_zh": Zone.PROTECTION.label,
        "control_zh": Zone.CONTROL.label}).scalar_one()
    insert = text(
        "INSERT INTO outbox_message (alert_id, target_url, payload) VALUES (NULL, :u, :p)"
    ).bindparams(bindparam("p", type_=JSONB))
    session.execute(insert, [{"u": url, "p": payload} for url in webhook_urls])


_TRANSITIONS = {"acknowledge": ("new",), "resolve": ("new", "acknowledged")}


def change_alert(session: Session, alert_id: int, action: str, actor: Actor,
                 note: str | None = None) -> dict:
    """Acknowledge or resolve an alert; an illegal change raises ``ConflictStateError``."""
    row = session.execute(
        text("SELECT id, status FROM alert WHERE id = :id FOR UPDATE"), {"id": alert_id}
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"告警 {alert_id} 不存在")
    if row.status not in _TRANSITIONS[action]:
        verb = "确认" if action == "acknowledge" else "办结"
        raise ConflictStateError(f"告警 {alert_id} 当前状态为“{row.status}”，不能{verb}")
    if action == "acknowledge":
        sql = ("UPDATE alert SET status = 'acknowledged', acknowledged_at = now(), "
               "acknowledged_by = :who, note = coalesce(:note, note) WHERE id = :id")
    else:
        sql = ("UPDATE alert SET status = 'resolved', resolved_at = now(), resolved_by = :who, "
               "note = coalesce(:note, note) WHERE id = :id")
    session.execute(text(sql), {"who": actor.username, "note": note, "id": alert_id})
    record(session, actor, f"alert.{action}", "alert", alert_id, {"note": note})
    return get_alert(session, alert_id)


def get_alert(session: Session, alert_id: int) -> dict:
    """Return one alert as a dict."""
    row = session.execute(
        text(f"{ALERT_SELECT} WHERE a.id = :id"), {"id": alert_id}
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"告警 {alert_id} 不存在")
    return dict(row)


ALERT_SELECT = (
    "SELECT a.id, a.conflict_id, a.kind, a.zone, a.message, a.status, a.created_at, a.acknowledged_at, "
    "a.acknowledged_by, a.resolved_at, a.resolved_by, a.note, a.project_id, "
    "p.registration_code AS project_code, "
    "g.external_code AS pipeline_code FROM alert a "
    "JOIN construction_project p ON p.id = a.project_id JOIN gas_pipeline g ON g.id = a.pipeline_id"
)


def list_alerts(session: Session, *, status: str | None = None, since_id: int = 0,
                limit: int = 100) -> list[dict]:
    """Return alerts newest first (optionally of one status, only above ``since_id``)."""
    rows = session.execute(
        text(f"{ALERT_SELECT} WHERE (CAST(:s AS text) IS NULL OR a.status = :s) AND a.id > :since "
             "ORDER BY a.id DESC LIMIT :limit"),
        {"s": status, "since": since_id, "limit": limit},
    ).mappings().all()
    return [dict(r) for r in rows]


def newest_alert_id(engine: Engine, district: str | None = None) -> int:
    """Return the highest alert id (0 when there is none) ``district`` sees, on a short pooled connection."""
    with engine.connect() as conn:
        see(conn, district)
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM alert")).scalar_one())


def alerts_after(engine: Engine, last_id: int, gaps: Sequence[int], limit: int,
                 district: str | None = None) -> list[dict]:
    """Return alerts above ``last_id`` or among ``gaps`` that ``district`` sees, oldest first.

    For the live stream: each poll borrows a pooled connection for this one query only
    (outside any request's transaction, so it sets the user's district itself).
    """
    with engine.connect() as conn:
        see(conn, district)
        rows = conn.execute(
            text(f"{ALERT_SELECT} WHERE a.id > :last OR a.id = ANY(CAST(:gaps AS bigint[])) "
                 "ORDER BY a.id LIMIT :limit"),
            {"last": last_id, "gaps": list(gaps), "limit": limit},
        ).mappings().all()
    return [dict(r) for r in rows]


def alerts_for_stream(engine: Engine, token: str, last_id: int, gaps: Sequence[int],
                      limit: int) -> list[dict] | None:
    """``alerts_after`` for a live stream, or None once its token no longer admits it.

    The token is checked again on every poll, on the same short connection: a stream
    closes within a poll of a logout, a deactivation, a password change or the token's
    expiry (issue 12), and when the table stops granting its role ``alert.read``.
    """
    from layers.services.permissions import authorize
    from layers.services.users import token_actor

    with engine.connect() as conn:
        actor = token_actor(conn, token)
        if actor is None:
            return None
        try:
            authorize(actor, "alert.read")
        except PermissionDeniedError:
            return None
        rows = conn.execute(
            text(f"{ALERT_SELECT} WHERE a.id > :last OR a.id = ANY(CAST(:gaps AS bigint[])) "
                 "ORDER BY a.id LIMIT :limit"),
            {"last": last_id, "gaps": list(gaps), "limit": limit},
        ).mappings().all()
    return [dict(r) for r in rows]
