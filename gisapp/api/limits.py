"""Refuse oversized and unstorable request bodies before the application reads them.

``BodySizeLimit`` is a pure ASGI middleware in front of the app. It refuses:

- a body larger than its limit, declared (``Content-Length``) or streamed (chunked):
  413, even when the application was already parsing it (FastAPI turns any error raised
  while reading a body into a 400, so the refusal replaces whatever answer follows);
- upload endpoints get a per-role limit: the bearer token is looked up *before* a byte
  of the body is read (``upload_limit_for``), so an anonymous or a builder's 100 MB
  upload is refused at once instead of being spooled to disk and parsed;
- text PostgreSQL cannot store, in the query string or in a JSON or form body: a NUL
  character (``\\u0000``, ``%00``) or a lone UTF-16 surrogate (``\\ud800``): 422 naming
  the parameter (query) or the body. psycopg2 raised ``ValueError`` or
  ``UnicodeEncodeError`` for these deep in a transaction: a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MESSAGE = "请求体过大（{size} 字节，上限 {limit} 字节）"
# A JSON escape (not itself escaped) of NUL or of a UTF-16 surrogate not in a valid pair.
_JSON_BAD = re.compile(
    rb"(?:^|[^\\])(?:\\\\)*\\u(?:0000"
    rb"|[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})"
)
_FORM_BAD = re.compile(rb"%00|\x00")
_OVERLAP = 16  # bytes of the previous chunk kept so an escape split between chunks is seen
NUL_TEXT = "含有无法保存的字符（NUL 字符 \\u0000 或不成对的 UTF-16 代理字符），请删除后重试"

UploadLimit = Callable[[Scope], Awaitable[int]]


class Refusal(Exception):
    """A request refused by the middleware: status, Chinese message, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Keep what the answer needs."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def is_upload(path: str) -> bool:
    """Upload endpoints: imports and inspection evidence files."""
    return "/import" in path or path.endswith("/evidence")


def bad_query_parameter(query_string: bytes) -> str | None:
    """Return the name of the first query parameter holding a NUL character, else None."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return key.replace("\x00", "") or "?"
    return None


def is_storable_string(value: str) -> bool:
    """Whether PostgreSQL can store ``value``: no NUL, no lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_text(value: str) -> bool:
    return not is_storable_string(value)


def _bad_path(value, path: str = "") -> str | None:
    """Return the dotted path of the first unstorable string in a parsed JSON value."""
    if isinstance(value, str):
        return path or "请求体" if _bad_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _bad_text(key):
                return path or "请求体"
            found = _bad_path(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            # An item's path as a validation problem names it: hazards.0.description.
            found = _bad_path(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def unstorable_message(body: bytes, is_json: bool) -> str:
    """Return the refusal naming the field that holds a NUL or a lone surrogate."""
    field = None
    try:
        if is_json:
            field = _bad_path(json.loads(body))
        else:
            field = next((k for k, v in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                          if "\x00" in k or "\x00" in v), None)
    except ValueError:
        field = None
    if field and field.startswith("properties."):
        field = field.removeprefix("properties.")
    return f"字段 {field[:80]} {NUL_TEXT}" if field else f"请求体{NUL_TEXT}"


class BodySizeLimit:
    """ASGI middleware: the size, per-role upload and storable-text checks above."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int,
                 upload_limit_for: UploadLimit | None = None) -> None:
        """Wrap ``app``; ``upload_limit_for(scope)`` may refuse or lower the upload limit."""
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_limit_for = upload_limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the query, the declared size, then every chunk as it arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        try:
            name = bad_query_parameter(scope.get("query_string") or b"")
            if name is not None:
                raise Refusal(422, f"参数 {name[:40]} 含有无法保存的字符（NUL 字符），请删除后重试")
            limit = self.max_bytes
            if is_upload(path):
                limit = self.upload_max_bytes
                declared = headers.get(b"content-length")
                if self.upload_limit_for is not None and (declared is None or declared != b"0"):
                    limit = min(limit, await self.upload_limit_for(scope))
            declared = headers.get(b"content-length")
            if declared is not None:
                try:
                    size = int(declared)
                except ValueError:
                    size = limit + 1
                if size > limit:
                    raise Refusal(413, MESSAGE.format(size=size, limit=limit))
        except Refusal as refusal:
            await _answer(send, refusal)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        pattern = (_JSON_BAD if content_type.endswith(b"json")
                   else _FORM_BAD if content_type == b"application/x-www-form-urlencoded" else None)
        received = 0
        tail = b""
        seen: list[bytes] = []  # the body so far (at most the limit), kept to name a bad field
        refused: Refusal | None = None
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, tail, refused
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    refused = Refusal(413, MESSAGE.format(size=received, limit=limit))
                    raise refused
                if pattern is not None and chunk:
                    seen.append(chunk)
                    window = tail + chunk
                    if pattern.search(window):
                        more = message.get("more_body", False)
                        while more and received <= limit:  # the rest, to name the field
                            nxt = await receive()
                            part = nxt.get("body", b"")
                            received += len(part)
                            seen.append(part)
                            more = nxt.get("more_body", False)
                        refused = Refusal(422, unstorable_message(b"".join(seen), pattern is _JSON_BAD))
                        raise refused
                    tail = window[-_OVERLAP:]
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None:  # the app's answer to our refusal (often a 400): replace it
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _answer(send, refused)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Refusal:
            if not started:
                started = True
                await _answer(send, refused or Refusal(413, MESSAGE.format(size=received, limit=limit)))


async def _answer(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"detail": refusal.message, "problems": []},
                      ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    headers += [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
