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
from layers.services.districts import see_city_wide
from layers.services.notify import NO_CHANNELS, Channels
from layers.services.permits import expire_due_alone
from layers.services.procedure import warn_expiring_answers

logger = logging.getLogger("gisapp.permit_expiry")


def expire_once(engine: Engine, *, warn_days: int | None = None,
                channels: Channels = NO_CHANNELS) -> list[int] | None:
    """Run one pass; return the expired permit ids, or None when another pass holds the lock.

    The same pass tells builders whose answer letter expires within ``warn_days``.
    """
    with session_factory(engine).begin() as session:
        see_city_wide(session)  # a background job: every district's permits and answers
        expired = expire_due_alone(session, channels=channels)
        if expired is not None and warn_days is not None:
            warned = warn_expiring_answers(session, warn_days, channels)
            if warned:
                logger.info("answers about to expire, builders told: %s", warned)
        return expired


class ExpiryJob(BackgroundLoop):
    """Run ``expire_once`` in a background thread at start and every ``interval_s`` seconds."""

    thread_name = "gisapp-permit-expiry"
    logger_name = "gisapp.permit_expiry"
    what = "permit expiry pass"

    def __init__(self, engine: Engine, *, interval_s: float, warn_days: int | None = None,
                 channels: Channels = NO_CHANNELS) -> None:
        """Prepare the job; nothing runs until ``start``."""
        super().__init__(interval_s=interval_s)
        self.engine = engine
        self.warn_days = warn_days
        self.channels = channels

    def run_once(self) -> bool:
        """Expire what is due; never asks to go again at once."""
        expired = expire_once(self.engine, warn_days=self.warn_days, channels=self.channels)
        if expired:
            logger.info("permits expired: %s", expired)
        return False
