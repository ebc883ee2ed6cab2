"""A personal access token's last use: written by the token check, at most once a minute,
never waiting on another request of the same token."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.postgis


def _last_used(engine, token_id: int):
    with engine.connect() as conn:
        return conn.execute(text("SELECT last_used_at FROM personal_access_token WHERE id = :i"),
                            {"i": token_id}).scalar_one()


def _terminate(engine, pid: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


def test_last_use_is_written_at_most_once_a_minute(api, login, db_engine):
    auth = login("gas_office")
    made = api.post("/api/auth/personal-tokens", json={"name": "QGIS 办公室"}, headers=auth)
    assert made.status_code == 201, made.text
    token_id, pat = made.json()["id"], made.json()["token"]
    assert made.json()["last_used_at"] is None
    # The login session's own token is not a personal one: listing with it uses nothing.
    listed = api.get("/api/auth/personal-tokens", headers=auth).json()["tokens"]
    assert listed[0]["last_used_at"] is None and _last_used(db_engine, token_id) is None

    by_pat = {"Authorization": f"Bearer {pat}"}
    assert api.get("/ogc/collections", headers=by_pat).status_code == 200
    first = _last_used(db_engine, token_id)
    assert first is not None and dt.datetime.now(dt.UTC) - first < dt.timedelta(minutes=1)
    shown = api.get("/api/auth/personal-tokens", headers=auth).json()["tokens"][0]["last_used_at"]
    assert dt.datetime.fromisoformat(shown) == first

    # Within the minute: no write.
    for _ in range(3):
        assert api.get("/ogc/collections", headers=by_pat).status_code == 200
    assert _last_used(db_engine, token_id) == first

    # A minute later the next use writes again.
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE personal_access_token SET last_used_at = last_used_at - interval '61 s' "
                          "WHERE id = :i"), {"i": token_id})
    assert api.get("/ogc/collections", headers=by_pat).status_code == 200
    assert _last_used(db_engine, token_id) > first


def test_a_use_never_waits_for_another_request_holding_the_token_row(api, login, db_engine):
    auth = login("builder", "甲建设公司")
    made = api.post("/api/auth/personal-tokens", json={"name": "GDAL"}, headers=auth).json()
    by_pat = {"Authorization": f"Bearer {made['token']}"}
    with db_engine.connect() as holder:
        # Another transaction holds the row (as a long request that wrote the use would).
        holder.execute(text("SELECT id FROM personal_access_token WHERE id = :i FOR UPDATE"),
                       {"i": made["id"]})
        pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # Should the request wait for the lock, the holder is ended after 30 s so the test
        # cannot hang; the request would then write its use, which the assert below sees.
        release = threading.Timer(30, _terminate, (db_engine, pid))
        release.start()
        try:
            answer = api.get("/ogc/collections", headers=by_pat)
        finally:
            release.cancel()
        assert answer.status_code == 200, answer.text
        holder.rollback()
    assert _last_used(db_engine, made["id"]) is None  # skipped, not waited for
    assert api.get("/ogc/collections", headers=by_pat).status_code == 200
    assert _last_used(db_engine, made["id"]) is not None


def test_a_revoked_token_is_refused_and_its_last_use_kept(api, login, db_engine):
    auth = login("inspector")
    made = api.post("/api/auth/personal-tokens", json={"name": "QGIS"}, headers=auth).json()
    by_pat = {"Authorization": f"Bearer {made['token']}"}
    assert api.get("/ogc/collections", headers=by_pat).status_code == 200
    used = _last_used(db_engine, made["id"])
    assert api.delete(f"/api/auth/personal-tokens/{made['id']}", headers=auth).status_code == 200
    assert api.get("/ogc/collections", headers=by_pat).status_code == 401
    revoked = api.get("/api/auth/personal-tokens", headers=auth).json()["tokens"][0]
    assert revoked["active"] is False and dt.datetime.fromisoformat(revoked["last_used_at"]) == used
