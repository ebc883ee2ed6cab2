"""Crowds against a real uvicorn server (issue 12, items 3 and 7).

- hundreds of concurrent requests from one user: every one answered, 200 or a quick
  503 with Retry-After and a Chinese message, never a 500 or a stall (the pool
  deadlock answered 500 after 30 s);
- hundreds of SSE streams at once: capped per user (429) and in total (503), and the
  server keeps answering ordinary requests;
- a stream closes when its token stops being valid (logout, deactivation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import httpx
import pytest

from gisapp.api.app import create_app
from gisapp.settings import Settings
from layers.db import session_factory
from layers.services.users import create_user
from tests.servers import live_server

pytestmark = pytest.mark.postgis
PASSWORD = "correct-horse-battery"


def _users(engine, *specs: tuple[str, str]) -> None:
    with session_factory(engine).begin() as session:
        for name, role in specs:
            create_user(session, name, PASSWORD, role, "甲公司" if role == "builder" else None)


def _token(base: str, name: str) -> dict:
    r = httpx.post(f"{base}/api/auth/token", data={"username": name, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _crowd(base: str, n: int, method: str, path: str, headers: dict) -> list:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=25, limits=limits) as client:
        async def one():
            try:
                return await client.request(method, path, headers=headers)
            except httpx.HTTPError as exc:
                return exc
        return await asyncio.gather(*(one() for _ in range(n)))


def _check_answers(results) -> tuple[int, int]:
    ok = busy = 0
    for r in results:
        assert isinstance(r, httpx.Response), f"no answer: {r!r}"  # a stall ends in a timeout
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1
            assert "服务器繁忙" in r.json()["detail"]
            busy += 1
        else:
            assert r.status_code == 200, r.text
            ok += 1
    return ok, busy


def test_a_crowd_of_reads_is_answered_without_500_or_stall(database_url, db_engine, clean_db):
    _users(db_engine, ("crowd-b", "builder"))
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base:
        headers = _token(base, "crowd-b")
        results = asyncio.run(_crowd(base, 300, "GET", "/api/projects", headers))
        ok, busy = _check_answers(results)
        assert ok > 0
        # The worker is healthy right after.
        assert httpx.get(f"{base}/api/auth/me", headers=headers, timeout=10).status_code == 200


def test_overload_beyond_the_queue_is_a_quick_503(database_url, db_engine, clean_db):
    _users(db_engine, ("crowd-o", "gas_office"))
    settings = Settings(_env_file=None, max_active_requests=2, max_queued_requests=3, queue_wait_s=0.5)
    app = create_app(settings, database_url=database_url)
    with live_server(app) as base:
        headers = _token(base, "crowd-o")
        results = asyncio.run(_crowd(base, 80, "GET", "/api/conflicts", headers))
        ok, busy = _check_answers(results)
        assert ok >= 2 and busy > 0
        assert httpx.get(f"{base}/api/auth/me", headers=headers, timeout=10).status_code == 200


async def _open_streams(base: str, headers_list: list[dict]) -> list:
    """Open one stream per headers; return (status, client, response) keeping 200s open."""
    out = []
    for headers in headers_list:
        client = httpx.AsyncClient(base_url=base, timeout=20)
        request = client.build_request("GET", "/api/alerts/stream", headers=headers)
        response = await client.send(request, stream=True)
        out.append((response.status_code, client, response))
    return out


async def _close(streams) -> None:
    for _, client, response in streams:
        await response.aclose()
        await client.aclose()


def test_streams_are_capped_per_user_and_in_total(database_url, db_engine, clean_db):
    _users(db_engine, ("sse-a", "gas_office"), ("sse-b", "gas_office"))
    settings = Settings(_env_file=None, sse_max_streams=3, sse_max_streams_per_user=2)
    app = create_app(settings, database_url=database_url)
    with live_server(app) as base:
        a, b = _token(base, "sse-a"), _token(base, "sse-b")

        async def scenario():
            streams = await _open_streams(base, [a, a, a, b, b])
            statuses = [s for s, *_ in streams]
            bodies = {}
            for status, _, response in streams:
                if status != 200:
                    bodies[status] = json.loads(await response.aread())
                    assert response.headers["Retry-After"]
            await _close(streams)
            return statuses, bodies

        statuses, bodies = asyncio.run(scenario())
        assert statuses == [200, 200, 429, 200, 503]
        assert "最多同时打开 2 个" in bodies[429]["detail"]
        assert "服务器上限（3 个）" in bodies[503]["detail"]


def test_three_hundred_streams_at_once_leave_the_server_answering(database_url, db_engine, clean_db):
    _users(db_engine, ("sse-many", "gas_office"))
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base:
        office = _token(base, "sse-many")

        async def scenario():
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, timeout=25, limits=limits) as client:
                async def open_one():
                    response = await client.send(
                        client.build_request("GET", "/api/alerts/stream", headers=office), stream=True)
                    return response
                responses = await asyncio.gather(*(open_one() for _ in range(300)),
                                                 return_exceptions=True)
                me = await client.get("/api/auth/me", headers=office)
                for r in responses:
                    if isinstance(r, httpx.Response):
                        await r.aclose()
                return responses, me

        responses, me = asyncio.run(scenario())
        assert all(isinstance(r, httpx.Response) for r in responses), responses
        statuses = [r.status_code for r in responses]
        # Five streams for the user; the rest refused at once: 429 (the user's cap) or,
        # past the admission queue, 503 with Retry-After.
        assert statuses.count(200) == 5
        assert statuses.count(429) + statuses.count(503) == 295 and statuses.count(429) > 0
        assert all(r.headers["Retry-After"] for r in responses if r.status_code != 200)
        assert me.status_code == 200


def _stream_until_closed(base: str, headers: dict, action) -> list[str]:
    """Open a stream, run ``action`` once it is live, return the lines until it ends."""
    lines = []
    with (httpx.Client(base_url=base, timeout=20) as client,
          client.stream("GET", "/api/alerts/stream", headers=headers) as stream):
        assert stream.status_code == 200
        for line in stream.iter_lines():
            lines.append(line)
            if line == ": connected":
                action()
    return lines


def test_a_stream_closes_after_logout(database_url, db_engine, clean_db):
    _users(db_engine, ("sse-out", "gas_office"))
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base:
        office = _token(base, "sse-out")
        lines = _stream_until_closed(base, office, lambda: httpx.post(
            f"{base}/api/auth/logout", headers=office, timeout=10).raise_for_status())
        assert "event: logout" in lines
        data = lines[lines.index("event: logout") + 1]
        assert "登录已失效" in json.loads(data.removeprefix("data: "))["detail"]
        assert httpx.get(f"{base}/api/auth/me", headers=office, timeout=10).status_code == 401


def test_a_stream_closes_when_its_user_is_deactivated(database_url, db_engine, clean_db):
    _users(db_engine, ("sse-gone", "gas_office"), ("sse-admin", "admin"))
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base:
        office, admin = _token(base, "sse-gone"), _token(base, "sse-admin")
        users = httpx.get(f"{base}/api/users", headers=admin, timeout=10).json()["users"]
        target = next(u["id"] for u in users if u["username"] == "sse-gone")
        lines = _stream_until_closed(base, office, lambda: httpx.patch(
            f"{base}/api/users/{target}", json={"active": False}, headers=admin,
            timeout=10).raise_for_status())
        assert "event: logout" in lines


# --- slow bodies (slowloris on the body) -----------------------------------------------------


def _slow_body(port: int, token: dict, declared: int, stop: threading.Event) -> tuple[bytes, float]:
    """POST a project declaring ``declared`` bytes, then send a byte a second; return the answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: {token['Authorization']}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {declared}\r\n\r\n").encode())
        answer = b""
        sock.settimeout(1.0)
        while not stop.is_set() and time.monotonic() - started < 30:
            with contextlib.suppress(OSError):  # the server closed its side: read what it said
                sock.sendall(b" ")
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - started


@pytest.mark.parametrize("declared", [5_000, 1_000_000], ids=["small-body", "large-body"])
def test_a_body_sent_a_byte_a_second_is_cut_off_and_frees_its_slot(database_url, db_engine, clean_db,
                                                                   declared):
    """408 after the grace, the connection closed; the one admission slot serves others."""
    _users(db_engine, ("slow-o", "gas_office"))
    settings = Settings(_env_file=None, max_active_requests=1, max_queued_requests=0,
                        body_grace_s=2.0, body_min_rate_bytes_s=100.0)
    app = create_app(settings, database_url=database_url)
    with live_server(app, guarded=True) as base:
        office = _token(base, "slow-o")
        port = int(base.rsplit(":", 1)[1])
        stop = threading.Event()
        result: list = []
        slow = threading.Thread(target=lambda: result.append(_slow_body(port, office, declared, stop)))
        slow.start()
        time.sleep(0.5)
        during = httpx.get(f"{base}/api/auth/me", headers=office, timeout=10)
        slow.join(40)
        stop.set()
        answer, _elapsed = result[0]
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert "请求体发送过慢" in answer.decode("utf-8", "replace")
        # A small body is read before the request asks for a slot: the one slot stayed
        # free. A large one (an upload) held it, but only until it was cut off.
        if declared <= 64 * 1024:
            assert during.status_code == 200, during.text
        else:
            assert during.status_code == 503 and during.headers["Retry-After"]
        after = httpx.get(f"{base}/api/auth/me", headers=office, timeout=10)
        assert after.status_code == 200, after.text
