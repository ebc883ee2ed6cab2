"""The audit log: every write through the service, who did it and when.

Every row names its actor (``layers.services.actors.Actor``): a user, ``cli:<os user>``
or ``job:<name>``.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam

from layers.services.actors import Actor


def record(
    session: Session, actor: Actor, action: str, entity: str, entity_id, detail: dict | None = None
) -> None:
    """Append one audit row in the current transaction."""
    session.execute(
        text(
            "INSERT INTO audit_log (user_id, username, action, entity, entity_id, detail) "
            "VALUES (:uid, :uname, :action, :entity, :eid, :detail)"
        ).bindparams(bindparam("detail", type_=JSONB)),
        {
            "uid": actor.id,
            "uname": actor.username,
            "action": action,
            "entity": entity,
            "eid": None if entity_id is None else str(entity_id),
            "detail": detail or {},
        },
    )


def record_sql(source: str, action: str, entity: str) -> str:
    """SQL that appends one audit row per row of ``source`` (a CTE with an ``id`` column).

    For folding the audit row into the statement that writes the record (one round
    trip less on the API's hottest path); binds ``:audit_uid``, ``:audit_user`` and
    ``:audit_detail`` come from ``record_params``.
    """
    return (
        "INSERT INTO audit_log (user_id, username, action, entity, entity_id, detail) "
        f"SELECT CAST(:audit_uid AS integer), CAST(:audit_user AS text), '{action}', '{entity}', "
        f"CAST({source}.id AS text), CAST(:audit_detail AS jsonb) FROM {source}"
    )


def record_params(actor: Actor, detail: dict) -> dict:
    """The binds of ``record_sql`` for ``actor`` and ``detail``."""
    return {
        "audit_uid": actor.id,
        "audit_user": actor.username,
        "audit_detail": json.dumps(detail, ensure_ascii=False),
    }
