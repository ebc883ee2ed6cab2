"""The audit log: every write through the service, who did it and when."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam


def record(
    session: Session, actor, action: str, entity: str, entity_id, detail: dict | None = None
) -> None:
    """Append one audit row in the current transaction (``actor`` has ``id``/``username``)."""
    session.execute(
        text(
            "INSERT INTO audit_log (user_id, username, action, entity, entity_id, detail) "
            "VALUES (:uid, :uname, :action, :entity, :eid, :detail)"
        ).bindparams(bindparam("detail", type_=JSONB)),
        {
            "uid": getattr(actor, "id", None),
            "uname": getattr(actor, "username", None),
            "action": action,
            "entity": entity,
            "eid": None if entity_id is None else str(entity_id),
            "detail": detail or {},
        },
    )
