"""Caps on live alert streams (SSE), per user and per worker (issue 12, item 3).

A stream holds a socket and polls the database once a second; 300 streams opened at
once used to take every pooled connection. Beyond the caps a new stream is refused at
once: 429 for one user's surplus (with the cap in the message), 503 when the worker
already serves its total; both with ``Retry-After``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.exceptions import HTTPException

RETRY_AFTER_S = 10


def streams_full_message(total: int) -> str:
    """The refusal of a stream beyond the worker's total."""
    return f"实时告警推送连接已达服务器上限（{total} 个），请稍后重试"


class StreamSlots:
    """How many streams are open, in total and per user id (one event loop: no locks)."""

    def __init__(self, total: int, per_user: int) -> None:
        """Allow ``total`` streams, at most ``per_user`` for one user."""
        self.total = total
        self.per_user = per_user
        self.by_user: Counter[int] = Counter()

    @property
    def open(self) -> int:
        """Streams open now."""
        return sum(self.by_user.values())

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one stream slot for ``user_id`` while the block runs, or refuse."""
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if self.by_user[user_id] >= self.per_user:
            raise HTTPException(429, f"同一账号最多同时打开 {self.per_user} 个实时告警推送连接，"
                                     "请先关闭其他页面或稍后重试", headers)
        if self.open >= self.total:
            raise HTTPException(503, streams_full_message(self.total), headers)
        self.by_user[user_id] += 1
        try:
            yield
        finally:
            self.by_user[user_id] -= 1
            if self.by_user[user_id] <= 0:
                del self.by_user[user_id]
