"""Reads that may lag: route them to a streaming read replica while it keeps up.

The read-heavy traffic (map data, the monthly report, OGC API collections) may be
served by a streaming replica (``GISAPP_READ_DATABASE_URL``). Writes, logins and
everything a user must see right after writing it (their own lists, the answer to a
registration) stay on the primary. A replica that falls behind by more than
``max_lag_s`` seconds, or cannot be reached, is skipped: those reads go to the primary
until it catches up, so a map is never older than that bound.

The lag is measured on the replica as the age of the last replayed transaction when
WAL received is still waiting to be replayed (0 when it has replayed everything it
has), at most once per ``check_every_s`` per process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger("gisapp.replica")

LAG_SQL = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
    "ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END"
)


@dataclass(frozen=True)
class ReadTarget:
    """Where one read goes: ``replica`` or ``primary``, and the replica's lag seen (seconds)."""

    name: str
    lag_s: float | None


class ReadRouter:
    """Hand out sessions for lag-tolerant reads: the replica while it keeps up, else the primary."""

    def __init__(self, primary: sessionmaker[Session], replica_engine: Engine | None = None, *,
                 max_lag_s: float = 10.0, check_every_s: float = 1.0) -> None:
        """``replica_engine`` None: every read goes to the primary."""
        self.primary = primary
        self.replica_engine = replica_engine
        self.replica = sessionmaker(bind=replica_engine) if replica_engine is not None else None
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._lag_s: float | None = None

    def lag_s(self) -> float | None:
        """Return the replica's lag in seconds (None: unreachable or none), measured at most once a period."""
        if self.replica_engine is None:
            return None
        with self._lock:
            if time.monotonic() - self._checked_at < self.check_every_s:
                return self._lag_s
            self._checked_at = time.monotonic()
        try:
            with self.replica_engine.connect() as conn:
                lag = float(conn.execute(LAG_SQL).scalar_one())
        except SQLAlchemyError as exc:
            logger.warning("read replica unreachable, reading from the primary: %s", exc)
            lag = None
        with self._lock:
            self._lag_s = lag
        return lag

    def target(self) -> ReadTarget:
        """Return where a lag-tolerant read goes now."""
        lag = self.lag_s()
        if self.replica is not None and lag is not None and lag <= self.max_lag_s:
            return ReadTarget("replica", lag)
        return ReadTarget("primary", lag)

    def session(self, target: ReadTarget) -> Session:
        """Return a new session on ``target`` (the caller closes it)."""
        if target.name == "replica" and self.replica is not None:
            return self.replica()
        return self.primary()
