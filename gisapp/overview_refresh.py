"""Keep the low-zoom tiles' generalised network current, from inside the running server.

A pipeline write records the keys it touched; the tiles draw those from the live
segments until a pass here rebuilds them (``layers.services.overview``). Several servers
may run the job: an advisory lock lets one pass run at a time, and the others skip.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from gisapp.background import BackgroundLoop
from layers.db import session_factory
from layers.services.districts import see_city_wide
from layers.services.overview import BATCH_CHANGES, refresh_overview

logger = logging.getLogger("gisapp.overview_refresh")


def refresh_once(engine: Engine, max_changes: int = BATCH_CHANGES) -> int | None:
    """Run one pass over every district in its own transaction; see ``refresh_overview``."""
    with session_factory(engine).begin() as session:
        see_city_wide(session)
        return refresh_overview(session, max_changes)


class OverviewJob(BackgroundLoop):
    """Run ``refresh_once`` at start and every ``interval_s`` seconds (again at once after a full batch)."""

    thread_name = "gisapp-overview-refresh"
    logger_name = "gisapp.overview_refresh"
    what = "pipeline overview refresh"

    def __init__(self, engine: Engine, *, interval_s: float, batch: int = BATCH_CHANGES) -> None:
        """Prepare the job (``batch``: changes per pass); nothing runs until ``start``."""
        super().__init__(interval_s=interval_s)
        self.engine = engine
        self.batch = batch

    def run_once(self) -> bool:
        """Rebuild what is pending; go again at once while a full batch was worked off."""
        done = refresh_once(self.engine, self.batch)
        if done:
            logger.debug("pipeline overview: %s changes rebuilt", done)
        return done is not None and done >= self.batch
