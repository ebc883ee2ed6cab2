"""``GET /api/alerts/stream``: new alerts pushed live to the map pages (Server-Sent Events).

Each alert goes out once as ``id: <alert id>``, ``event: alert``, ``data: <json>``. The
stream starts after ``Last-Event-ID`` (sent by browsers on reconnect), else after
``since_id``, else at the newest alert. The database is polled about once a second
through the app's engine, each poll borrowing a pooled connection only for its one
query; FastAPI sends a ``: ping`` comment after 15 s without events, and the stream
ends when the client disconnects.

Alert ids come from a sequence, so a transaction may commit a lower id after a
higher one was already sent. Such ids are remembered as gaps and asked for again for
``GAP_WINDOW_S``; a late alert is then sent out of order (clients key on ``id``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.engine import Engine

from gisapp.api.admission import SSE_POLL_CONNECTIONS
from gisapp.api.deps import allow
from gisapp.api.transaction import BearerToken
from layers.services.alerts import alerts_for_stream, newest_alert_id
from layers.services.errors import InvalidRequestError
from layers.services.permissions import EVERYTHING, Access

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Reader = Annotated[Access, allow("alert.read", scopes=EVERYTHING)]

POLL_S = 1.0
GAP_WINDOW_S = 300.0
MAX_GAPS = 1000
BATCH = 200
RETRY_MS = 3000
STREAM_CLOSED = "登录已失效（已注销、账号已停用或令牌已过期），实时告警推送已关闭，请重新登录"


class AlertCursor:
    """Which alert ids a stream still has to send: above the highest sent, plus recent gaps."""

    def __init__(self, last_id: int, *, clock: Callable[[], float] = time.monotonic,
                 window_s: float = GAP_WINDOW_S, max_gaps: int = MAX_GAPS) -> None:
        """Start after ``last_id``."""
        self.last_id = last_id
        self.gaps: dict[int, float] = {}  # id -> when first seen missing
        self._clock = clock
        self._window_s = window_s
        self._max_gaps = max_gaps

    def pending_gaps(self) -> list[int]:
        """Return the gap ids still worth asking for (expired ones dropped)."""
        horizon = self._clock() - self._window_s
        self.gaps = {i: t for i, t in self.gaps.items() if t >= horizon}
        return sorted(self.gaps)

    def accept(self, ids: list[int]) -> None:
        """Record the ids just sent (ascending, as the query returns them)."""
        now = self._clock()
        fresh = [i for i in ids if i > self.last_id]
        for i in ids:
            self.gaps.pop(i, None)
        if not fresh:
            return
        top = fresh[-1]
        seen = set(fresh)
        for i in range(max(self.last_id + 1, top - self._max_gaps), top):
            if i not in seen:
                self.gaps[i] = now
        self.last_id = top
        if len(self.gaps) > self._max_gaps:
            self.gaps = dict(sorted(self.gaps.items())[-self._max_gaps:])


def start_after(
    since_id: Annotated[int | None, Query(ge=0, le=2**62, description="从此告警编号之后开始")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> int | None:
    """Return the id to start after: ``Last-Event-ID`` first, then ``since_id``, else None."""
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isdigit() or int(value) > 2**62:
            raise InvalidRequestError(f"请求头 Last-Event-ID 应为告警编号（非负整数），收到“{value[:40]}”")
        return int(value)
    return since_id


async def stream_slot(request: Request, access: Reader) -> AsyncIterator[None]:
    """Hold one of the worker's stream slots for the stream's life (gisapp.api.streams)."""
    state = request.app.state
    with state.stream_slots.slot(access.actor.id):
        yield


def _poll_limiter(state) -> anyio.CapacityLimiter:
    """The streams' polls share a few threads and connections (gisapp.api.admission)."""
    if getattr(state, "stream_polls", None) is None:
        state.stream_polls = anyio.CapacityLimiter(SSE_POLL_CONNECTIONS)
    return state.stream_polls


@router.get("/stream", response_class=EventSourceResponse)
async def stream_alerts(
    request: Request, access: Reader, token: BearerToken,
    after: Annotated[int | None, Depends(start_after)],
    _slot: Annotated[None, Depends(stream_slot)],
) -> AsyncIterator[ServerSentEvent]:
    """实时推送新告警（Server-Sent Events：id 为告警编号，event 为 alert，data 为告警 JSON）。

    每次轮询都重新核验令牌：注销、停用账号、改密或令牌过期后，连接在约 1 秒内关闭。
    """
    engine: Engine = request.app.state.engine
    state = request.app.state
    limiter = _poll_limiter(state)
    state.alert_streams = getattr(state, "alert_streams", 0) + 1
    try:
        if after is None:
            after = await anyio.to_thread.run_sync(newest_alert_id, engine, access.district,
                                                   limiter=limiter)
        cursor = AlertCursor(after)
        yield ServerSentEvent(comment="connected", retry=RETRY_MS)
        while True:
            rows = await anyio.to_thread.run_sync(alerts_for_stream, engine, token or "",
                                                  cursor.last_id, cursor.pending_gaps(), BATCH,
                                                  limiter=limiter)
            if rows is None:  # logged out, deactivated, password changed or expired
                yield ServerSentEvent(event="logout", data={"detail": STREAM_CLOSED})
                return
            for row in rows:
                yield ServerSentEvent(id=str(row["id"]), event="alert", data=row)
            cursor.accept([row["id"] for row in rows])
            if len(rows) < BATCH:
                await anyio.sleep(POLL_S)
    finally:
        state.alert_streams -= 1
