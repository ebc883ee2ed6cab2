"""Local receivers started by tests: an SMTP sink (aiosmtpd) and a robot/webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from gisapp.localdb import free_port


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it receives (aiosmtpd)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
                message = message_from_bytes(envelope.content, policy=policy.default)
                with sink.lock:
                    sink.messages.append({"to": list(envelope.rcpt_tos), "message": message})
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.url = f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def to(self, address: str) -> list:
        """Messages delivered to ``address``."""
        with self.lock:
            return [m["message"] for m in self.messages if address in m["to"]]


class RobotReceiver:
    """An HTTP receiver for WeCom, DingTalk and generic webhooks: keeps path, query, headers, body."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                parts = urlsplit(self.path)
                with receiver.lock:
                    receiver.requests.append({
                        "path": parts.path, "query": parse_qs(parts.query),
                        "headers": dict(self.headers), "body": json.loads(body)})
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RobotReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[dict]:
        """Requests received on ``path``."""
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


def wait_for(predicate, timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
