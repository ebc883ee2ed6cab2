"""Move a running server to the next rule set version on the day it takes effect.

With ``GISAPP_RULE_SET`` naming a family (``shanghai``), each worker checks every
``rule_check_interval_s`` seconds which version is in force today (Asia/Shanghai).
When it is not the one the worker uses, the worker switches: one pass across all
workers (a transaction-scoped advisory lock, as the permit expiry job) re-screens the
stored data under the new version (``layers.services.features.screen_district``:
new conflicts get their alert and permit record, vanished ones close, standing ones
judged differently get a 'changed' alert) unless another worker already did, and every
worker then screens its own writes under the new version. A pinned version
(``shanghai@2018.1``) or a file never moves.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gisapp.background import BackgroundLoop
from layers.db import session_factory
from layers.services.actors import Actor
from layers.services.districts import see_city_wide
from layers.services.features import WriteContext
from spatial_rules.rulesets import RuleSet, is_family, version_in_force
from vocabulary.clock import today_in_shanghai

logger = logging.getLogger("gisapp.rule_watch")
RULE_SWITCH_JOB = Actor.job("rule-switch")  # the actor of automatic switches (audit, alerts)
_LOCK_KEY = "gisapp:rule-switch"


def switch_once(engine: Engine, family: str, ctx_for: Callable[[RuleSet], WriteContext],
                day: dt.date | None = None, *, lagging: bool = False) -> tuple[RuleSet, bool] | None:
    """Bring the stored data to the version of ``family`` in force on ``day``.

    ``lagging``: the calling worker still screened under another version; if another
    worker already switched, what it wrote since is screened again (``catch_up``).

    Returns (that version, whether this call switched the stored data), or None when
    another worker holds the lock (it will have switched when it is done).
    """
    from layers.services.features import screen_district
    from layers.services.rules import catch_up, stored_rule_set

    target = version_in_force(family, day or today_in_shanghai())
    with session_factory(engine).begin() as session:
        if not session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                               {"k": _LOCK_KEY}).scalar():
            return None
        see_city_wide(session)  # a background job: every district's features
        stored = stored_rule_set(session)
        if stored is None:
            return target, False
        if stored == target.label:
            if lagging:  # another worker switched first
                catch_up(session, ctx_for(target))
            return target, False
        report = screen_district(session, ctx_for(target), trigger="auto")
        logger.info("rule set switched %s -> %s: %d new, %d changed, %d closed", stored,
                    target.label, len(report.new_conflict_ids), len(report.changed), report.closed)
        return target, True


class RuleWatch(BackgroundLoop):
    """Check the version in force at start and every ``interval_s``; switch when it changed."""

    thread_name = "gisapp-rule-watch"
    logger_name = "gisapp.rule_watch"
    what = "rule set check"

    def __init__(self, engine: Engine, state, family: str, ctx_for, *, interval_s: float,
                 today: Callable[[], dt.date] = today_in_shanghai) -> None:
        """Watch ``family`` for ``state`` (the app state whose ``rule_set`` the worker uses)."""
        super().__init__(interval_s=interval_s)
        self.engine, self.state, self.family = engine, state, family
        self.ctx_for, self.today = ctx_for, today
        self._confirmed: str | None = None  # the version worker and stored data agree on

    def run_once(self) -> bool:
        """Bring worker and stored data to today's version; retry soon while another switches.

        The first pass checks the stored data too: a server started after a version took
        effect switches data still judged under the previous one.
        """
        target = version_in_force(self.family, self.today())
        if target.label == self._confirmed:
            return False
        lagging = self.state.rule_set.label != target.label
        done = switch_once(self.engine, self.family, self.ctx_for, self.today(), lagging=lagging)
        if done is None:  # another worker is switching: look again shortly
            self._stop.wait(1.0)
            return True
        self.state.rule_set = done[0]
        self._confirmed = done[0].label
        logger.info("worker screens under %s", done[0].label)
        return False


def watches(spec: str) -> bool:
    """Return True when the configured rule set is a family (it follows the calendar)."""
    return is_family(spec)
