"""The background loop under the outbox dispatcher and the permit expiry job."""

from __future__ import annotations

import logging
import threading

from gisapp.background import BackgroundLoop


class _Scripted(BackgroundLoop):
    """Runs ``script[n]`` on pass n: an exception to raise, or whether to go again."""

    logger_name = "gisapp.test_background"
    what = "scripted pass"

    def __init__(self, interval_s: float, script: list) -> None:
        super().__init__(interval_s=interval_s)
        self.script = script
        self.passes = 0
        self.done = threading.Event()

    def run_once(self) -> bool:
        step = self.script[min(self.passes, len(self.script) - 1)]
        self.passes += 1
        if self.passes >= len(self.script):
            self.done.set()
        if isinstance(step, Exception):
            raise step
        return step


def test_a_failed_pass_is_logged_and_the_loop_goes_on(caplog):
    loop = _Scripted(0.05, [RuntimeError("database gone"), False])
    with caplog.at_level(logging.ERROR, logger="gisapp.test_background"):
        loop.start()
        assert loop.done.wait(5), "the loop stopped after a failed pass"
        loop.stop(wait_s=5)
    assert not loop.running
    assert caplog.records[0].getMessage() == "scripted pass failed"


def test_a_busy_pass_runs_the_next_one_without_waiting():
    loop = _Scripted(3600, [True, False]).start()
    try:
        assert loop.done.wait(5), "the loop waited its interval after a busy pass"
        assert loop.running
    finally:
        loop.stop(wait_s=5)
    assert not loop.running
