"""Expire approved permits whose validity has passed, from inside the running server.

``gisapp permits expire`` does the same once; a server runs it every
``permit_expiry_interval_s`` seconds (hourly by default) so the permit map and
``/api/permits`` never show a lapsed approval as valid for more than that. Several
workers may run the job: a transaction-scoped advisory lock lets one pass run at a
time, and ``expire_due`` locks the rows it changes, so a permit expires once.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from gisapp.background import BackgroundLoop
from layers.db import session_factory
from layers.services.permits import expire_due_alone

logger = logging.getLogger("gisapp.permit_expiry")


def expire_once(engine: Engine) -> list[int] | None:
    """Run one pass; return the expired permit ids, or None when another pass holds the lock."""
    with session_factory(engine).begin() as session:
        return expire_due_alone(session)


class ExpiryJob(BackgroundLoop):
    """Run ``expire_once`` in a background thread at start and every ``interval_s`` seconds."""

    thread_name = "gisapp-permit-expiry"
    logger_name = "gisapp.permit_expiry"
    what = "permit expiry pass"

    def __init__(self, engine: Engine, *, interval_s: float) -> None:
        """Prepare the job; nothing runs until ``start``."""
        super().__init__(interval_s=interval_s)
        self.engine = engine

    def run_once(self) -> bool:
        """Expire what is due; never asks to go again at once."""
        expired = expire_once(self.engine)
        if expired:
            logger.info("permits expired: %s", expired)
        return False
