"""A minimal HTTP/1.1 load client on raw asyncio sockets, for crowds of 1,000 connections.

httpx's pool does work per request that grows with its number of connections, and at
500-1,000 connections on the server's own two cores that work, not the server, set
how long an answer took to "arrive" (last session: refusals measured at 4-44 s).
This client does only what a load test needs: one keep-alive connection per virtual
client, a request written as bytes, the status line, ``Content-Length`` and
``Retry-After`` read back, the time from writing the request (or from starting to
connect, for a new connection) to the last byte of the answer. Loopback only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


@dataclass
class Outcome:
    """Every answer of a row, split by kind: accepted (2xx), refused (429/503 + Retry-After), errors."""

    accepted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        """Count one status (or error kind)."""
        self.statuses[key] = self.statuses.get(key, 0) + 1


def encode(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Return the bytes of one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_request(method: str, path: str, headers: dict[str, str], payload) -> Request:
    """A request with a JSON body."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return method, path, {**headers, "Content-Type": "application/json"}, body


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Read a response's status line and headers."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Read one whole response (Content-Length or chunked); return its status and headers."""
    status, headers = await read_head(reader)
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers


def _is_refusal(status: int, headers: dict[str, str]) -> bool:
    return status in (429, 503) and "retry-after" in headers


async def client_loop(host: str, port: int, make: Callable[[], Request], deadline: float,
                      out: Outcome, *, timeout_s: float = 30.0, honour_retry_after: bool = True) -> None:
    """One virtual client: requests back to back on one connection until ``deadline``."""
    reader = writer = None
    while time.perf_counter() < deadline:
        method, path, headers, body = make()
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            assert reader is not None
            writer.write(encode(method, path, f"{host}:{port}", headers, body))
            status, answer = await asyncio.wait_for(read_response(reader), timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                TimeoutError) as exc:
            out.errors.append(time.perf_counter() - started)
            out.count(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.1)
            continue
        elapsed = time.perf_counter() - started
        out.count(str(status))
        if 200 <= status < 300:
            out.accepted.append(elapsed)
        elif _is_refusal(status, answer):
            out.refused.append(elapsed)
        else:
            out.errors.append(elapsed)
        if answer.get("connection", "").lower() == "close":
            assert writer is not None
            writer.close()
            reader = writer = None
        if honour_retry_after and _is_refusal(status, answer):
            await asyncio.sleep(float(answer["retry-after"]))
    if writer is not None:
        writer.close()


async def crowd(host: str, port: int, clients: int, duration_s: float, make: Callable[[], Request],
                **kwargs) -> Outcome:
    """Run ``clients`` virtual clients for ``duration_s``; return what they got."""
    out = Outcome()
    deadline = time.perf_counter() + duration_s
    await asyncio.gather(*(client_loop(host, port, make, deadline, out, **kwargs) for _ in range(clients)))
    return out


async def hold_streams(host: str, port: int, clients: int, duration_s: float,
                       headers_of: Callable[[int], dict[str, str]], path: str,
                       timeout_s: float = 30.0) -> Outcome:
    """Open ``clients`` streams at once, keep the accepted ones open until the end."""
    out = Outcome()
    deadline = time.perf_counter() + duration_s

    async def hold(i: int) -> None:
        started = time.perf_counter()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            headers = {**headers_of(i), "Accept": "text/event-stream"}
            writer.write(encode("GET", path, f"{host}:{port}", headers))
            status, answer = await asyncio.wait_for(read_head(reader), timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                TimeoutError) as exc:
            out.errors.append(time.perf_counter() - started)
            out.count(type(exc).__name__)
            if writer is not None:
                writer.close()
            return
        elapsed = time.perf_counter() - started
        out.count(str(status))
        if status == 200:
            out.accepted.append(elapsed)
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        elif _is_refusal(status, answer):
            out.refused.append(elapsed)
        else:
            out.errors.append(elapsed)
        writer.close()

    await asyncio.gather(*(hold(i) for i in range(clients)))
    return out
