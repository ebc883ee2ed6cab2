"""The webhook outbox table: claim due messages, record each send's outcome, release.

``gisapp.outbox`` sends; this module owns the SQL. Every function takes a connection in
a short transaction of the caller's (no transaction stays open during HTTP).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection, Row

MAX_ATTEMPTS = 20

# The caller's clock when given (tests), else the database's: one clock for all rows.
_NOW = "COALESCE(CAST(:now AS timestamptz), now())"

_CLAIM = text(
    "WITH due AS (SELECT id FROM outbox_message WHERE delivered_at IS NULL "
    f"AND attempts < :max_attempts AND next_attempt_at <= {_NOW} "
    "ORDER BY next_attempt_at, id LIMIT :batch FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox_message m SET attempts = m.attempts + 1, "
    f"next_attempt_at = {_NOW} + make_interval(secs => :lease_s) "
    "FROM due WHERE m.id = due.id RETURNING m.id, m.target_url, m.payload, m.attempts"
)
_DELIVERED = text(
    f"UPDATE outbox_message SET delivered_at = {_NOW}, last_error = NULL WHERE id = :id"
)
_FAILED = text(
    "UPDATE outbox_message SET last_error = :error, attempts = :attempts, "
    f"next_attempt_at = {_NOW} + make_interval(secs => :delay_s) WHERE id = :id"
)
_RELEASE = text(
    f"UPDATE outbox_message SET attempts = attempts - 1, next_attempt_at = {_NOW} "
    "WHERE id = ANY(:ids) AND delivered_at IS NULL"
)


def claim_due(conn: Connection, *, now: dt.datetime | None, batch: int,
              lease_s: float) -> list[Row]:
    """Claim up to ``batch`` due messages: count the attempt, lease them for ``lease_s``.

    ``FOR UPDATE SKIP LOCKED``: two dispatchers never claim the same row at once.
    """
    return list(conn.execute(_CLAIM, {"now": now, "batch": batch, "lease_s": lease_s,
                                      "max_attempts": MAX_ATTEMPTS}).all())


def mark_delivered(conn: Connection, message_id: int, *, now: dt.datetime | None) -> None:
    """Record a successful send."""
    conn.execute(_DELIVERED, {"now": now, "id": message_id})


def mark_failed(conn: Connection, message_id: int, *, now: dt.datetime | None, error: str,
                attempts: int, delay_s: float) -> None:
    """Record a failed send and when to try again (``attempts`` >= MAX_ATTEMPTS: never)."""
    conn.execute(_FAILED, {"now": now, "id": message_id, "error": error,
                           "attempts": attempts, "delay_s": delay_s})


def release(conn: Connection, ids: Sequence[int], *, now: dt.datetime | None) -> None:
    """Hand claimed but unsent messages back at once, without counting the attempt."""
    conn.execute(_RELEASE, {"ids": list(ids), "now": now})
