"""A whole request in one trip to the thread pool: session, token check, work, commit.

FastAPI runs every sync dependency and a sync endpoint in the thread pool, one after
the other. A route built from ``SessionDep`` and ``CurrentUser`` crosses between the
event loop and the pool four times (open, user, endpoint, commit), and each crossing
waits for the GIL again behind the worker's other requests. The busiest endpoint
(creating features) runs through ``in_transaction`` instead: one crossing, with the same
rules as the dependencies: one transaction, committed before the answer is sent,
rolled back on any error, and a bad token refused before any work.

At most ``write_concurrency`` of these run at once in a worker; the others wait in
arrival order. Ten threads sharing one GIL served requests in no fair order, and some
waited several times as long as the rest (D23).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gisapp.api.deps import api_token
from layers.services.actors import Actor
from layers.services.users import user_for_token

T = TypeVar("T")
BearerToken = Annotated[str | None, Depends(api_token)]


def write_limiter(concurrency: int) -> anyio.CapacityLimiter:
    """Return the limiter of a worker's ``in_transaction`` calls (first-come, first-served)."""
    return anyio.CapacityLimiter(concurrency)


async def in_transaction(request: Request, token: str | None, work: Callable[[Session, Actor], T]) -> T:
    """Run ``work(session, user)`` in one pooled thread and one transaction; return its result."""
    sessions = request.app.state.sessions

    def job() -> T:
        session, user = _open(sessions, token or "")
        try:
            result = work(session, user)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return await anyio.to_thread.run_sync(job, limiter=request.app.state.write_limiter)


def _open(sessions, token: str) -> tuple[Session, Actor]:
    """Return a new session and the token's user.

    A pooled connection found dead at this first statement (the database restarted)
    is replaced once: nothing was done yet, so running it again is safe.
    """
    for attempt in (1, 2):
        session = sessions()
        try:
            return session, user_for_token(session, token)
        except BaseException as exc:
            session.close()
            if not (isinstance(exc, DBAPIError) and exc.connection_invalidated and attempt == 1):
                raise
    raise RuntimeError("unreachable")  # the second attempt returned or raised
