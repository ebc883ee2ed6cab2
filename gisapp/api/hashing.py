"""Argon2 checks made by sync routes (one's own password change) share a bounded number of slots.

The login route bounds its Argon2 verifications with an anyio limiter on the event
loop (``routes.auth``). Changing one's own password verifies the current password and
hashes the new one (64 MiB each) inside a sync route, in a worker thread: without a
bound, a burst of such requests ran up to the admission limit's worth of Argon2 at once.
They take one of ``login_hash_concurrency`` thread slots here, or a 503 after a few
seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from layers.services.errors import ServiceBusyError

HASH_WAIT_S = 5.0
BUSY = "修改密码的请求过多，服务器正在排队校验密码，请稍后重试"


def hash_slots(concurrency: int) -> threading.BoundedSemaphore:
    """The worker's slots for Argon2 work in sync routes (made once, with the app)."""
    return threading.BoundedSemaphore(concurrency)


@contextmanager
def hashing_slot(slots: threading.BoundedSemaphore, wait_s: float = HASH_WAIT_S) -> Iterator[None]:
    """Hold one slot while the block hashes, or raise ``ServiceBusyError`` (503)."""
    if not slots.acquire(timeout=wait_s):
        raise ServiceBusyError(BUSY, 2)
    try:
        yield
    finally:
        slots.release()
