"""A server's periodic background work: one daemon thread per job, stopped with the app."""

from __future__ import annotations

import logging
import threading


class BackgroundLoop:
    """Call ``run_once`` in a daemon thread at start and then every ``interval_s`` seconds.

    ``run_once`` returns True when more work is due at once (no wait before the next
    pass). A failing pass is logged and the loop goes on: it must survive a database
    outage.
    """

    thread_name = "gisapp-background"
    logger_name = "gisapp.background"
    what = "background pass"  # named in the log when a pass fails

    def __init__(self, *, interval_s: float) -> None:
        """Prepare the loop; nothing runs until ``start``."""
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """Do one pass; return whether to go again without waiting."""
        raise NotImplementedError

    def start(self):
        """Start the background thread (once); return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, wait_s: float = 30.0) -> None:
        """Ask the loop to end and wait up to ``wait_s`` for the pass in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait_s)
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            again = False
            try:
                again = self.run_once()
            except Exception:  # noqa: BLE001 - logged; the loop must go on
                logging.getLogger(self.logger_name).exception("%s failed", self.what)
            if not again:
                self._stop.wait(self.interval_s)
