"""Webhook outbox and live alert stream, against a real HTTP receiver and a real uvicorn."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import text

from gisapp import outbox
from gisapp.localdb import free_port
from layers.db import make_engine, session_factory
from layers.services import outbox as outbox_store
from layers.services.actors import Actor
from layers.services.features import WriteContext, create_feature
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature
from tests.servers import live_server

pytestmark = pytest.mark.postgis


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST, answers the scripted statuses."""

    def __init__(self, port: int | None = None, statuses=(), delay_s: float = 0.0) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses)  # answered in turn, then 200
        self.lock = threading.Lock()
        self.in_flight = 0  # POSTs received so far, counted before the (slow) answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.in_flight += 1
                time.sleep(delay_s)
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self) -> list[str]:
        """Return the X-Gisapp-Delivery header of every request received."""
        return [r["headers"]["X-Gisapp-Delivery"] for r in self.requests]


def _create_conflicting_project(engine, code: str, urls: list[str], lat: float = 31.6299):
    """Register a site on the HP-T1 trunk through the service layer and commit."""
    with session_factory(engine).begin() as session:
        ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"), webhook_urls=urls)
        return create_feature(session, "projects", site_feature(code, 121.40, lat), ctx)


def _outbox(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT id, alert_id, target_url, payload, attempts, next_attempt_at, delivered_at, "
            "last_error, now() AS db_now FROM outbox_message ORDER BY id")).mappings()]


def _add_message(engine, url: str, n: int = 1) -> list[int]:
    with engine.begin() as conn:
        return conn.execute(text(
            "INSERT INTO outbox_message (target_url, payload) "
            "SELECT :u, jsonb_build_object('event', 'conflict_alert', 'n', i) "
            "FROM generate_series(1, :n) i RETURNING id"), {"u": url, "n": n}).scalars().all()


def test_outbox_rows_share_the_alert_transaction_and_are_delivered_once(stored_network):
    with Receiver() as receiver:
        urls = [receiver.url, receiver.url.replace("/hook", "/second")]
        with session_factory(stored_network).begin() as session:
            ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"), webhook_urls=urls)
            create_feature(session, "projects", site_feature("CM-OB-1", 121.40, 31.6299), ctx)
            inside = session.execute(text("SELECT count(*) FROM outbox_message")).scalar()
            with stored_network.connect() as other:  # not visible before the commit
                outside = other.execute(text("SELECT count(*) FROM outbox_message")).scalar()
        assert (inside, outside) == (2, 0)
        report = outbox.deliver_due(stored_network)
        assert report.claimed == 2 and len(report.delivered) == 2 and report.failed == []
        assert outbox.deliver_due(stored_network).claimed == 0  # nothing left: sent once
    assert sorted(r["headers"]["X-Gisapp-Delivery"] for r in receiver.requests) == sorted(
        str(i) for i in report.delivered)
    first = receiver.requests[0]
    assert first["headers"]["Content-Type"] == "application/json"
    body = first["body"]
    assert body["event"] == "conflict_alert" and body["project_code"] == "CM-OB-1"
    assert body["pipeline_code"] == "HP-T1" and body["zone"] == "protection"
    assert "安全保护范围" in body["message"] and body["alert_id"] and body["conflict_id"]
    rows = _outbox(stored_network)
    assert all(r["delivered_at"] is not None and r["attempts"] == 1 and r["last_error"] is None
               for r in rows)
    assert {r["alert_id"] for r in rows} == {body["alert_id"]}


def test_receiver_down_then_up_is_retried_with_backoff_and_nothing_is_lost(stored_network):
    port = free_port()  # nothing listens here yet
    project = _create_conflicting_project(stored_network, "CM-OB-2",
                                          [f"http://127.0.0.1:{port}/hook"])
    report = outbox.deliver_due(stored_network, timeout_s=2)
    assert report.claimed == 1 and report.failed and not report.delivered
    (row,) = _outbox(stored_network)
    wait_s = (row["next_attempt_at"] - row["db_now"]).total_seconds()
    assert row["attempts"] == 1 and row["delivered_at"] is None
    assert 4.0 < wait_s <= outbox.BASE_DELAY_S * (1 + outbox.JITTER) + 1
    assert "发送失败" in row["last_error"] and "ConnectError" in row["last_error"]
    assert outbox.deliver_due(stored_network).claimed == 0  # not due again yet
    later = row["db_now"] + dt.timedelta(seconds=10)
    outbox.deliver_due(stored_network, now=later, timeout_s=2)  # second failure: longer wait
    (row,) = _outbox(stored_network)
    assert row["attempts"] == 2
    assert (row["next_attempt_at"] - later).total_seconds() >= 2 * outbox.BASE_DELAY_S - 0.01
    with Receiver(port=port) as receiver:
        report = outbox.deliver_due(stored_network, now=later + dt.timedelta(seconds=60))
    assert report.delivered == [row["id"]]
    assert [r["body"]["project_code"] for r in receiver.requests] == ["CM-OB-2"]
    assert receiver.requests[0]["headers"]["X-Gisapp-Attempt"] == "3"
    (row,) = _outbox(stored_network)
    assert row["delivered_at"] is not None and row["last_error"] is None
    assert project["properties"]["conflicts"][0]["pipeline_id"] == "HP-T1"


def test_receiver_answering_500_then_200(stored_network):
    with Receiver(statuses=[500]) as receiver:
        (mid,) = _add_message(stored_network, receiver.url)
        first = outbox.deliver_due(stored_network)
        (row,) = _outbox(stored_network)
        assert first.failed == [mid] and "HTTP 500" in row["last_error"]
        second = outbox.deliver_due(stored_network, now=row["next_attempt_at"])
    assert second.delivered == [mid]
    assert receiver.deliveries() == [str(mid), str(mid)]  # same id: the receiver can de-duplicate
    (row,) = _outbox(stored_network)
    assert row["attempts"] == 2 and row["delivered_at"] is not None and row["last_error"] is None


def test_an_idle_pass_makes_no_http_client_and_a_busy_one_makes_one(stored_network, monkeypatch):
    """Each pass of each worker, every 2 s, built a TLS context for nothing (~3 % of a core)."""
    made = []

    class Counted(httpx.Client):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(outbox.httpx, "Client", Counted)
    assert outbox.deliver_due(stored_network).claimed == 0
    assert made == []
    with Receiver() as receiver:
        _add_message(stored_network, receiver.url, n=3)
        report = outbox.deliver_due(stored_network)
    assert len(report.delivered) == 3 and len(receiver.requests) == 3
    assert made == [1]


def test_messages_survive_a_crash_before_any_dispatch(database_url, stored_network):
    with Receiver() as receiver:
        crashed = make_engine(database_url)
        _create_conflicting_project(crashed, "CM-OB-3", [receiver.url])
        crashed.dispose()  # the process died: no dispatcher ever ran
        restarted = make_engine(database_url)
        try:
            report = outbox.deliver_due(restarted)
        finally:
            restarted.dispose()
    assert len(report.delivered) == 1
    assert [r["body"]["project_code"] for r in receiver.requests] == ["CM-OB-3"]


def test_a_claim_dies_with_its_connection_and_the_row_is_due_at_once(stored_network):
    with Receiver() as receiver:
        (mid,) = _add_message(stored_network, receiver.url)
        conn = stored_network.connect()  # a dispatcher mid-send: its claim is a row lock
        trans = conn.begin()
        assert outbox_store.claim_one(conn, now=None) is not None
        assert outbox.deliver_due(stored_network).claimed == 0  # claimed, not taken twice
        trans.rollback()  # what PostgreSQL does when the dispatcher's process dies
        conn.close()
        report = outbox.deliver_due(stored_network)  # no lease to wait out
    assert report.delivered == [mid] and receiver.deliveries() == [str(mid)]


def test_two_dispatchers_at_once_deliver_each_message_exactly_once(stored_network):
    with Receiver(delay_s=0.005) as receiver:
        ids = _add_message(stored_network, receiver.url, n=60)
        barrier = threading.Barrier(2)
        reports: list[list[int]] = [[], []]

        def dispatch(slot: int) -> None:
            barrier.wait()
            while True:
                report = outbox.deliver_due(stored_network, batch=7)
                reports[slot].extend(report.delivered)
                if report.claimed == 0:
                    return

        threads = [threading.Thread(target=dispatch, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    sent = receiver.deliveries()
    assert sorted(sent, key=int) == [str(i) for i in ids]  # every one, none twice
    assert reports[0] and reports[1], "both dispatchers should have taken a share"
    assert not set(reports[0]) & set(reports[1])
    assert all(r["delivered_at"] is not None for r in _outbox(stored_network))


def test_retries_stop_after_the_maximum_and_bad_urls_are_given_up(stored_network):
    dead = f"http://127.0.0.1:{free_port()}/hook"
    (tired,) = _add_message(stored_network, dead)
    (ftp,) = _add_message(stored_network, "ftp://example.org/hook")
    with stored_network.begin() as conn:
        conn.execute(text("UPDATE outbox_message SET attempts = :n WHERE id = :id"),
                     {"n": outbox.MAX_ATTEMPTS - 1, "id": tired})
    report = outbox.deliver_due(stored_network, timeout_s=2)
    assert sorted(report.given_up) == sorted([tired, ftp])
    rows = {r["id"]: r for r in _outbox(stored_network)}
    assert rows[tired]["attempts"] == outbox.MAX_ATTEMPTS and rows[tired]["delivered_at"] is None
    assert rows[tired]["last_error"].startswith("已放弃") and "ConnectError" in rows[tired]["last_error"]
    assert "http://" in rows[ftp]["last_error"] and rows[ftp]["attempts"] == outbox.MAX_ATTEMPTS
    far = rows[tired]["db_now"] + dt.timedelta(days=30)
    assert outbox.deliver_due(stored_network, now=far).claimed == 0  # kept, never retried


def test_backoff_doubles_and_is_capped():
    delays = [outbox.backoff_s(n) for n in (1, 2, 3, 30)]
    assert 5 <= delays[0] <= 5.5 and 10 <= delays[1] <= 11 and 20 <= delays[2] <= 22
    assert 3600 <= delays[3] <= 3960


def test_only_http_webhook_urls_are_accepted():
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    assert outbox.check_webhook_urls(["https://hooks.example.org/gas"]) == ["https://hooks.example.org/gas"]
    for bad in ("ftp://example.org/x", "example.org/hook", "http://", "file:///etc/passwd"):
        with pytest.raises(outbox.WebhookUrlError, match="GISAPP_WEBHOOK_URLS"):
            outbox.check_webhook_url(bad)
    with pytest.raises(outbox.WebhookUrlError, match="ftp://x"):
        create_app(Settings(_env_file=None, webhook_urls=["ftp://x"]))


def test_dispatcher_thread_delivers_in_the_background_and_stops(stored_network):
    with Receiver() as receiver:
        _add_message(stored_network, receiver.url, n=3)
        dispatcher = outbox.Dispatcher(stored_network, interval_s=0.1).start()
        try:
            deadline = time.monotonic() + 10
            while len(receiver.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            started = time.monotonic()
            dispatcher.stop()
        assert time.monotonic() - started < 2 and not dispatcher.running
    assert len(receiver.requests) == 3


def test_the_app_starts_its_dispatcher_when_webhooks_are_configured(database_url, login, stored_network):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    office = login("gas_office")
    with Receiver() as receiver:
        app = create_app(Settings(_env_file=None, webhook_urls=[receiver.url]), database_url=database_url)
        with TestClient(app) as client:
            r = client.post("/api/projects", json=site_feature("CM-OB-APP", 121.40, 31.6299),
                            headers=office)
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 15
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert app.state.dispatcher.running
        assert not app.state.dispatcher.running  # stopped with the app
    # The site is registered under construction with no permit: its violation goes to the
    # receivers as well (issue #14); the conflict alert is the one this test follows.
    alerts = [r for r in receiver.requests if r["body"].get("event") == "conflict_alert"]
    assert [r["body"]["project_code"] for r in alerts] == ["CM-OB-APP"]


# --- live following: Server-Sent Events -------------------------------------------------


@pytest.fixture()
def stream_app(database_url, clean_db):
    """The real app on uvicorn (no webhooks); yields (app, base URL)."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base_url:
        yield app, base_url


def _next_alert(lines) -> dict:
    """Read SSE lines up to the next ``event: alert`` block; return its fields."""
    event: dict = {}
    for line in lines:
        if line == "":
            if event.get("event") == "alert":
                return event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = value
    raise AssertionError("stream ended without an alert")


def test_alert_stream_sends_new_alerts_and_resumes_after_last_event_id(stream_app, login,
                                                                        stored_network):
    app, base_url = stream_app
    office = login("gas_office")
    with httpx.Client(base_url=base_url, timeout=10) as client:
        with client.stream("GET", "/api/alerts/stream", headers=office) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == ": connected"  # the stream is live before the write
            r = client.post("/api/projects", json=site_feature("CM-SSE-1", 121.40, 31.6299),
                            headers=office)
            assert r.status_code == 201, r.text
            event = _next_alert(lines)
        data = json.loads(event["data"])
        assert data["project_code"] == "CM-SSE-1" and data["pipeline_code"] == "HP-T1"
        assert event["id"] == str(data["id"]) and data["status"] == "new"
        deadline = time.monotonic() + 5  # the server notices the disconnect and ends the stream
        while app.state.alert_streams and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.alert_streams == 0

        r = client.post("/api/projects", json=site_feature("CM-SSE-2", 121.41, 31.6299),
                        headers=office)
        assert r.status_code == 201
        resumed = {**office, "Last-Event-ID": event["id"]}
        with client.stream("GET", "/api/alerts/stream?since_id=0", headers=resumed) as stream:
            nxt = json.loads(_next_alert(stream.iter_lines())["data"])
        assert nxt["project_code"] == "CM-SSE-2"  # the header wins over since_id, nothing repeated
        with client.stream("GET", "/api/alerts/stream?since_id=0", headers=office) as stream:
            replay = json.loads(_next_alert(stream.iter_lines())["data"])
        assert replay["project_code"] == "CM-SSE-1"


def test_alert_stream_is_for_the_gas_office_only(stream_app, login):
    _, base_url = stream_app
    with httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.get("/api/alerts/stream", headers=login("builder", "某建设公司")).status_code == 403
        assert client.get("/api/alerts/stream").status_code == 401
        bad = client.get("/api/alerts/stream", headers={**login("gas_office"), "Last-Event-ID": "abc"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]


def test_alert_cursor_remembers_gaps_until_they_commit_or_expire():
    from gisapp.api.routes.events import AlertCursor

    clock = [0.0]
    cursor = AlertCursor(10, clock=lambda: clock[0], window_s=60)
    cursor.accept([11, 14])  # 12 and 13 may still be in flight
    assert cursor.last_id == 14 and cursor.pending_gaps() == [12, 13]
    cursor.accept([13, 15])  # 13 committed late: sent once, no longer a gap
    assert cursor.last_id == 15 and cursor.pending_gaps() == [12]
    clock[0] = 61
    assert cursor.pending_gaps() == []  # 12 was rolled back: forgotten after the window
