"""Notifications: every user's inbox, and e-mail / WeCom / DingTalk / webhook deliveries.

An event is turned into its messages in ONE statement in the transaction that caused
it (``notify_sql``): one ``notification`` row per recipient user, one ``outbox_message``
per recipient with an e-mail address (when SMTP is configured), one per group robot of
each recipient organisation (WeCom, DingTalk), and, for the events the gas office's
systems follow, one per generic webhook. So messages exist exactly when their event
does (transactional outbox, D14), and each carries a deduplication key
``<event>:<id>/<recipient>``: the unique indexes make a repeated event write nothing
twice, and receivers get the key (``X-Gisapp-Event-Key``, the e-mail's Message-ID) to
drop the duplicates that at-least-once delivery can bring.

An event's source is a SELECT returning ``event, key, title, body, entity, entity_id,
project_id, to_office, to_orgs, to_webhooks``. Recipients: ``to_office`` = every
active gas office user; ``to_orgs`` = every active builder or utility user of those
organisations, and the organisations' robots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from layers.db import IdArray, execute_sized
from layers.services.errors import NotFoundError

EVENT_ZH = {
    "conflict.new": "新冲突",
    "conflict.changed": "冲突变化",
    "conflict.closed": "冲突解除",
    "owner.reply": "权属单位答复",
    "owner.plan": "保护方案意见",
    "permit.change": "保护手续变更",
    "permit.document": "保护方案上传",
    "answer.expiring": "答复书即将到期",
    "violation": "违规施工",
    "damage": "管道损坏报告",
    "supervision.scheduled": "现场监护安排",
    "supervision.visit": "现场监护记录",
    "start_notice": "开工告知",
}


@dataclass(frozen=True)
class Channels:
    """Which outbound channels exist besides the inbox: SMTP configured, generic webhook URLs."""

    smtp: bool = False
    webhook_urls: Sequence[str] = ()


NO_CHANNELS = Channels()  # the inbox (and the organisations' robots) only

_MESSAGES = """
WITH ev AS MATERIALIZED ({source}),
rcpt AS MATERIALIZED (
  SELECT ev.*, u.id AS user_id, u.email FROM ev JOIN app_user u ON u.active AND (
    (ev.to_office AND u.role = 'gas_office')
    OR (u.role IN ('builder', 'utility') AND u.organisation = ANY(ev.to_orgs)))
),
inbox AS (
  INSERT INTO notification (user_id, event, dedup_key, title, body, entity, entity_id, project_id)
  SELECT user_id, event, key, title, body, entity, entity_id, project_id FROM rcpt
  ON CONFLICT (user_id, dedup_key) DO NOTHING RETURNING user_id, dedup_key
),
mail AS (
  INSERT INTO outbox_message (target_url, payload, channel, dedup_key)
  SELECT 'mailto:' || r.email, jsonb_build_object('event', r.event, 'key', r.key, 'subject',
           '【燃气管道保护】' || r.title, 'body', r.body), 'email', r.key || '/user:' || r.user_id
  FROM rcpt r JOIN inbox i ON i.user_id = r.user_id AND i.dedup_key = r.key
  WHERE r.email IS NOT NULL AND CAST(:smtp AS boolean)
  ON CONFLICT (channel, target_url, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id
),
robots AS (
  INSERT INTO outbox_message (target_url, payload, channel, dedup_key)
  SELECT ch.url, CASE ch.channel
      WHEN 'wecom' THEN jsonb_build_object('msgtype', 'markdown', 'markdown', jsonb_build_object(
        'content', '**' || ev.title || E'**\n> ' || replace(ev.body, E'\n', E'\n> ')))
      ELSE jsonb_build_object('msgtype', 'markdown', 'markdown', jsonb_build_object(
        'title', ev.title, 'text', '#### ' || ev.title || E'\n\n' || ev.body)) END,
    ch.channel, ev.key || '/org:' || o.name
  FROM ev JOIN organisation o ON o.name = ANY(ev.to_orgs)
  CROSS JOIN LATERAL (VALUES ('wecom', o.wecom_webhook_url), ('dingtalk', o.dingtalk_webhook_url))
    AS ch(channel, url)
  WHERE ch.url IS NOT NULL
  ON CONFLICT (channel, target_url, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id
),
hooks AS (
  INSERT INTO outbox_message (target_url, payload, channel, dedup_key)
  SELECT u.url, jsonb_build_object('event', ev.event, 'key', ev.key, 'title', ev.title,
           'body', ev.body, 'entity', ev.entity, 'entity_id', ev.entity_id), 'webhook', ev.key
  FROM ev CROSS JOIN unnest(CAST(:webhooks AS text[])) AS u(url)
  WHERE ev.to_webhooks
  ON CONFLICT (channel, target_url, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id
)
SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM mail), (SELECT count(*) FROM robots),
       (SELECT count(*) FROM hooks)
"""


def notify_sql(session: Session, source: str, params: dict, channels: Channels,
               *, ids: int | None = None) -> tuple[int, ...]:
    """Write the inbox rows and outbox messages of the events ``source`` selects; return counts.

    ``ids``: how many ids the source selects by, when it is run often (every API write
    with a new conflict): prepared for a few (``layers.db.execute_sized``), planned for
    a batch. None: planned each time.
    """
    sql = _MESSAGES.format(source=source)
    binds = {**params, "smtp": bool(channels.smtp), "webhooks": list(channels.webhook_urls)}
    result = (session.execute(text(sql), binds) if ids is None
              else execute_sized(session, sql, binds, ids))
    return tuple(int(v) for v in result.one())


def notify(session: Session, channels: Channels, *, event: str, key: str, title: str, body: str,
           entity: str | None = None, entity_id: int | None = None, project_id: int | None = None,
           office: bool = False, orgs: Sequence[str | None] = (), webhooks: bool = False) -> tuple[int, ...]:
    """One event with literal text (see ``notify_sql``)."""
    source = (
        "SELECT CAST(:n_event AS text) AS event, CAST(:n_key AS text) AS key, "
        "CAST(:n_title AS text) AS title, CAST(:n_body AS text) AS body, "
        "CAST(:n_entity AS text) AS entity, CAST(:n_entity_id AS bigint) AS entity_id, "
        "CAST(:n_project AS bigint) AS project_id, CAST(:n_office AS boolean) AS to_office, "
        "CAST(:n_orgs AS text[]) AS to_orgs, CAST(:n_hooks AS boolean) AS to_webhooks"
    )
    params = {"n_event": event, "n_key": key, "n_title": title, "n_body": body, "n_entity": entity,
              "n_entity_id": entity_id, "n_project": project_id, "n_office": office,
              "n_orgs": [o for o in orgs if o], "n_hooks": webhooks}
    return notify_sql(session, source, params, channels)


# New conflicts: the builder, the owner and the office, in one statement for all of them.
_NEW_CONFLICTS = """
SELECT 'conflict.new' AS event, 'conflict.new:' || c.id AS key,
  '新冲突：项目 ' || p.registration_code || ' 进入管道 ' || g.external_code || ' 的'
    || CASE c.zone WHEN 'protection' THEN '安全保护范围' ELSE '安全控制范围' END AS title,
  '项目 ' || p.registration_code || '（' || p.name || '）距管道 ' || g.external_code || '（'
    || coalesce(g.owner, '权属单位未登记') || '）管壁外缘 ' || to_char(c.distance_m, 'FM999990.00')
    || E' 米。\n须办事项：' || c.required_action
    || coalesce(E'\n权属单位答复期限：' || to_char(r.due_on, 'YYYY-MM-DD'), '') AS body,
  'conflict' AS entity, c.id AS entity_id, p.id AS project_id, true AS to_office,
  ARRAY[p.organisation, g.owner] AS to_orgs, false AS to_webhooks
FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id
JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN owner_review r ON r.conflict_id = c.id
WHERE c.id = ANY(CAST(:conflict_ids AS bigint[]))
"""


def notify_new_conflicts(session: Session, conflict_ids: Sequence[int], channels: Channels) -> None:
    """Tell builder, owner and office about each new conflict (one statement)."""
    if conflict_ids:
        notify_sql(session, _NEW_CONFLICTS, {"conflict_ids": IdArray(conflict_ids)}, channels,
                   ids=len(conflict_ids))


_CHANGED_CONFLICTS = """
SELECT CASE WHEN c.closed_at IS NOT NULL THEN 'conflict.closed' ELSE 'conflict.changed' END AS event,
  CASE WHEN c.closed_at IS NOT NULL THEN 'conflict.closed:' || c.id
       ELSE 'conflict.changed:' || c.id || ':' || c.zone || ':' || CAST(:stamp AS text) END AS key,
  CASE WHEN c.closed_at IS NOT NULL THEN '冲突解除：项目 ' || p.registration_code || ' 与管道 '
         || g.external_code
       ELSE '冲突变化：项目 ' || p.registration_code || ' 与管道 ' || g.external_code || ' 现处于'
         || CASE c.zone WHEN 'protection' THEN '安全保护范围' ELSE '安全控制范围' END END AS title,
  CASE WHEN c.closed_at IS NOT NULL THEN '因管网或规则变更，项目 ' || p.registration_code
         || ' 已不在管道 ' || g.external_code || ' 的保护或控制范围内。'
       ELSE '因管网或规则变更，项目 ' || p.registration_code || ' 距管道 ' || g.external_code
         || ' 管壁外缘 ' || to_char(c.distance_m, 'FM999990.00') || E' 米。\n须办事项：'
         || c.required_action END AS body,
  'conflict' AS entity, c.id AS entity_id, p.id AS project_id, false AS to_office,
  ARRAY[p.organisation, g.owner] AS to_orgs, false AS to_webhooks
FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id
JOIN gas_pipeline g ON g.id = c.pipeline_id
WHERE c.id = ANY(CAST(:conflict_ids AS bigint[])) AND p.deleted_at IS NULL
  AND p.status <> 'completed'
"""


def notify_changed_conflicts(session: Session, conflict_ids: Sequence[int], stamp: str,
                             channels: Channels) -> None:
    """Tell builder and owner that a network or rule change closed or re-zoned their conflicts."""
    if conflict_ids:
        notify_sql(session, _CHANGED_CONFLICTS, {"conflict_ids": list(conflict_ids), "stamp": stamp},
                   channels)


# --- The inbox --------------------------------------------------------------------------------

def list_notifications(session: Session, user_id: int, *, unread_only: bool = False,
                       limit: int = 100, offset: int = 0) -> dict:
    """One user's notifications, newest first, with the unread count."""
    rows = session.execute(text(
        "SELECT id, event, title, body, entity, entity_id, project_id, created_at, read_at "
        "FROM notification WHERE user_id = :u AND (NOT :unread OR read_at IS NULL) "
        "ORDER BY id DESC LIMIT :limit OFFSET :offset"),
        {"u": user_id, "unread": unread_only, "limit": limit, "offset": offset}).mappings().all()
    unread = session.execute(text("SELECT count(*) FROM notification WHERE user_id = :u "
                                  "AND read_at IS NULL"), {"u": user_id}).scalar_one()
    items = [dict(r, event_zh=EVENT_ZH.get(r["event"], r["event"])) for r in rows]
    return {"unread": int(unread), "notifications": items, "numberReturned": len(items)}


def mark_read(session: Session, user_id: int, ids: Sequence[int] | None) -> int:
    """Mark the user's notifications read (all when ``ids`` is None); return how many changed.

    Another user's ids are not found (404), never marked.
    """
    if ids is not None:
        ids = [int(i) for i in ids]
        found = set(session.execute(text(
            "SELECT id FROM notification WHERE user_id = :u AND id = ANY(:ids)"),
            {"u": user_id, "ids": ids}).scalars())
        missing = sorted(set(ids) - found)
        if missing:
            raise NotFoundError(f"通知 {'、'.join(map(str, missing[:10]))} 不存在")
    result = session.execute(text(
        "UPDATE notification SET read_at = now() WHERE user_id = :u AND read_at IS NULL "
        "AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(:ids))"),
        {"u": user_id, "ids": ids})
    return int(cast(CursorResult, result).rowcount)
