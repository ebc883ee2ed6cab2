"""Notification messages survive a dispatcher killed mid-delivery: none lost, duplicates keyed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from gisapp import outbox
from layers.db import session_factory
from layers.services.notify import Channels, notify
from tests.receivers import RobotReceiver, wait_for

pytestmark = pytest.mark.postgis

DISPATCH = """
import sys
from gisapp import outbox
from layers.db import make_engine
outbox.deliver_due(make_engine(sys.argv[1]), batch=50, timeout_s=10)
"""


def test_a_killed_dispatcher_loses_nothing_and_doubles_only_under_the_same_key(database_url, clean_db):
    with RobotReceiver(delay_s=0.4) as receiver:
        with session_factory(clean_db).begin() as session:
            session.execute(text(
                "INSERT INTO organisation (name, kind, wecom_webhook_url) VALUES ('甲燃气', 'utility', :u)"),
                {"u": f"{receiver.base}/wecom"})
            for n in range(6):
                counts = notify(session, Channels(), event="damage", key=f"damage:{n}", title=f"损坏 {n}",
                                body="测试", orgs=["甲燃气"])
                assert counts == (0, 0, 1, 0)  # no users: the robot message only
            # The same event again writes nothing (created exactly once).
            assert notify(session, Channels(), event="damage", key="damage:0", title="损坏 0", body="测试",
                          orgs=["甲燃气"]) == (0, 0, 0, 0)
        child = subprocess.Popen([sys.executable, "-c", DISPATCH, database_url],
                                 env=dict(os.environ), cwd=os.getcwd())
        try:
            wait_for(lambda: len(receiver.at("/wecom")) >= 2, what="the first deliveries")
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        with clean_db.connect() as conn:
            undelivered = conn.execute(text(
                "SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL")).scalar()
        assert undelivered > 0  # the kill left claimed rows behind
        # The killed dispatcher's claims rolled back with its connection: the rows are
        # claimed again and delivered (at least once); the later clock passes any backoff.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        outbox.deliver_due(clean_db, now=later, batch=50, timeout_s=10)
        with clean_db.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM outbox_message")).scalar() == 6
        keys = [unquote(r["headers"]["X-Gisapp-Event-Key"]) for r in receiver.at("/wecom")]
        assert {k.split("/")[0] for k in keys} == {f"damage:{n}" for n in range(6)}  # none lost
        assert len(keys) - len(set(keys)) <= 1  # at most the message in flight, with its own key
