"""``Idempotency-Key`` on POST: a retry gets the first answer instead of a second write.

The key is locked with a transaction-scoped advisory lock, so concurrent retries wait
for the first to commit and then replay its stored response.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.errors import ConflictStateError, InvalidRequestError

MAX_KEY_LENGTH = 255


def body_digest(body) -> str:
    """Return a stable digest of a JSON body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replay(session: Session, user_id: int | None, key: str, path: str, digest: str | None):
    """Lock the key; return (status, body) stored for it, or None when it is new."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequestError("请求头 Idempotency-Key 须为 1–255 个可打印字符")
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{user_id}:{key}"})
    row = session.execute(
        text("SELECT path, request_sha256, status_code, response FROM idempotency_record "
             "WHERE user_id = :u AND key = :k"), {"u": user_id, "k": key},
    ).one_or_none()
    if row is None:
        return None
    if row.path != path or row.request_sha256 != digest:
        raise ConflictStateError("该 Idempotency-Key 已用于另一个请求，请换一个新的键")
    return row.status_code, row.response


def remember(session: Session, user_id: int | None, key: str, path: str, digest: str | None,
             status: int, body) -> None:
    """Store the response of a keyed request in the same transaction as its effects.

    ``body`` is encoded as the response is (values JSON cannot hold as text), so a replay
    answers exactly what the first request got.
    """
    session.execute(
        text("INSERT INTO idempotency_record (user_id, key, method, path, request_sha256, "
             "status_code, response) VALUES (:u, :k, 'POST', :p, :d, :s, CAST(:r AS jsonb))"),
        {"u": user_id, "k": key, "p": path, "d": digest, "s": status,
         "r": json.dumps(body, ensure_ascii=False, allow_nan=False, default=str)},
    )
