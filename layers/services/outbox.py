"""The webhook outbox table: claim a due message, record its send's outcome.

``gisapp.outbox`` sends; this module owns the SQL. The claim is a row lock taken in a
transaction of the caller's that stays open for that one send and records its outcome:
a dispatcher that dies mid-send loses its connection, PostgreSQL rolls the claim back,
and the row is due again at once (no lease to wait out after a crash).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.engine import Connection, Row

MAX_ATTEMPTS = 20

# The caller's clock when given (tests), else the database's: one clock for all rows.
_NOW = "COALESCE(CAST(:now AS timestamptz), now())"

_CLAIM = text(
    "SELECT id, target_url, payload, attempts + 1 AS attempts FROM outbox_message "
    f"WHERE delivered_at IS NULL AND attempts < :max_attempts AND next_attempt_at <= {_NOW} "
    "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_DELIVERED = text(
    f"UPDATE outbox_message SET delivered_at = {_NOW}, last_error = NULL, attempts = :attempts "
    "WHERE id = :id"
)
_FAILED = text(
    "UPDATE outbox_message SET last_error = :error, attempts = :attempts, "
    f"next_attempt_at = {_NOW} + make_interval(secs => :delay_s) WHERE id = :id"
)


def claim_one(conn: Connection, *, now: dt.datetime | None) -> Row | None:
    """Lock the next due message for the caller's open transaction, or return None.

    ``FOR UPDATE SKIP LOCKED``: two dispatchers never claim the same row at once.
    ``attempts`` in the row is the attempt about to be made.
    """
    return conn.execute(_CLAIM, {"now": now, "max_attempts": MAX_ATTEMPTS}).first()


def mark_delivered(conn: Connection, message_id: int, *, now: dt.datetime | None,
                   attempts: int) -> None:
    """Record a successful send (the ``attempts``-th)."""
    conn.execute(_DELIVERED, {"now": now, "id": message_id, "attempts": attempts})


def mark_failed(conn: Connection, message_id: int, *, now: dt.datetime | None, error: str,
                attempts: int, delay_s: float) -> None:
    """Record a failed send and when to try again (``attempts`` >= MAX_ATTEMPTS: never)."""
    conn.execute(_FAILED, {"now": now, "id": message_id, "error": error,
                           "attempts": attempts, "delay_s": delay_s})
