"""Admission control on the event loop: a crowd beyond the queue is refused at once (issue 12).

These run the middleware on a small ASGI app of their own (the crowd tests against a
real server and PostGIS are ``tests/api/test_api_overload.py``): what is checked here is
the order of the answers, so no clock is asserted.
"""

from __future__ import annotations

import json

import anyio

from gisapp.api.admission import Admission


def _slow_app(events: list, seconds: float):
    async def app(scope, receive, send):
        await anyio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    return app


async def _call(admission: Admission, events: list, name: str) -> None:
    scope = {"type": "http", "path": "/api/projects", "method": "GET", "headers": []}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            events.append((name, message["status"], dict(message["headers"])))
        elif (message["type"] == "http.response.body" and events and events[-1][0] == name
              and events[-1][1] == 503):
            assert "服务器繁忙" in json.loads(message["body"])["detail"]

    await admission(scope, receive, send)


def test_a_newcomer_who_would_only_wait_to_be_refused_is_refused_at_once():
    events: list = []
    admission = Admission(_slow_app(events, 0.2), max_active=1, max_queued=10, wait_s=0.3)

    async def scenario():
        await _call(admission, events, "alone")  # teaches the middleware how long a request takes
        events.clear()
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(_call, admission, events, f"r{i}")
                await anyio.sleep(0)  # arrival order

    anyio.run(scenario)
    statuses = [status for _, status, _ in events]
    # r0 is served, r1 waits one request's time (within 0.3 s) and is served; r2-r4
    # would wait 0.4-0.8 s: refused before r0 even finished, not after waiting 0.3 s.
    assert statuses == [503, 503, 503, 200, 200], events
    assert [name for name, *_ in events[-2:]] == ["r0", "r1"]
    assert all(headers[b"retry-after"] == b"1" for _, status, headers in events if status == 503)
    assert admission.refused == admission.refused_at_once == 3


def test_until_a_request_was_measured_the_queue_takes_newcomers():
    events: list = []
    admission = Admission(_slow_app(events, 0.05), max_active=1, max_queued=2, wait_s=1.0)

    async def scenario():
        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(_call, admission, events, f"r{i}")
                await anyio.sleep(0)

    anyio.run(scenario)
    # No measure yet: two wait in the queue and are served, the fourth exceeds the queue.
    assert [s for _, s, _ in events] == [503, 200, 200, 200], events
    assert events[0][0] == "r3"


def test_streams_beyond_the_cap_are_refused_before_the_app_runs():
    """A burst of streams: those beyond the cap never reach the app (no token check)."""
    reached: list[str] = []
    release = anyio.Event()

    async def stream_app(scope, receive, send):
        reached.append("in")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b""})

    admission = Admission(stream_app, max_active=10, max_queued=10, wait_s=1.0,
                          streaming_paths=("/api/alerts/stream",), max_streams=3,
                          streams_full_message="实时告警推送连接已达服务器上限（3 个），请稍后重试")
    events: list = []

    async def open_stream(name: str) -> None:
        scope = {"type": "http", "path": "/api/alerts/stream", "method": "GET", "headers": []}

        async def receive():
            await anyio.sleep(10)
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                events.append((name, message["status"], dict(message["headers"])))

        await admission(scope, receive, send)

    async def scenario():
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(open_stream, f"s{i}")
            await anyio.sleep(0.1)
            release.set()

    anyio.run(scenario)
    assert len(reached) == 3 and admission.streams == 0
    refused = [(s, h[b"retry-after"]) for _, s, h in events if s == 503]
    assert refused == [(503, b"10")] * 5
    # Streams hold no admission slot once they started.
    assert admission.active == 0
