"""Own password change, the first account's password file, and the headers of every answer."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from gisapp import initial_user
from layers.db import session_factory
from layers.services.users import create_user

PASSWORD = "correct-horse-battery"


def _token(client, username: str, password: str) -> str:
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_every_user_changes_their_own_password(api, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "wang.wu", PASSWORD, "builder", "甲公司")
    here, other = _token(api, "wang.wu", PASSWORD), _token(api, "wang.wu", PASSWORD)
    url = "/api/auth/password"
    for body, message in [
        ({"current_password": "wrong-password-1", "new_password": "a-new-secret-2"}, "当前密码不正确"),
        ({"current_password": PASSWORD, "new_password": "short"}, "10–256"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, "不能与当前密码相同"),
    ]:
        r = api.post(url, json=body, headers=_bearer(here))
        assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert api.post(url, json={"current_password": PASSWORD, "new_password": "a-new-secret-2"}
                    ).status_code == 401  # only for a logged-in user
    r = api.post(url, json={"current_password": PASSWORD, "new_password": "a-new-secret-2"},
                 headers=_bearer(here))
    assert r.status_code == 200, r.text
    assert r.json()["tokens_revoked"] == 1 and "密码已修改" in r.json()["detail"]
    assert api.get("/api/auth/me", headers=_bearer(here)).status_code == 200  # this session stays
    assert api.get("/api/auth/me", headers=_bearer(other)).status_code == 401  # the others end
    assert api.post("/api/auth/token", data={"username": "wang.wu", "password": PASSWORD}).status_code == 401
    _token(api, "wang.wu", "a-new-secret-2")
    with db_engine.connect() as conn:
        detail = conn.execute(text("SELECT detail::text FROM audit_log WHERE action = 'user.password.own'"
                                   )).scalar_one()
    assert PASSWORD not in detail and "a-new-secret-2" not in detail


def test_changing_the_first_password_deletes_its_file(database_url, clean_db, db_engine, tmp_path):
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    with session_factory(db_engine).begin() as session:
        create_user(session, "office", PASSWORD, "gas_office")
    path = initial_user.write(tmp_path, "office", PASSWORD)
    assert path.stat().st_mode & 0o077 == 0
    with TestClient(create_app(Settings(_env_file=None, data_dir=tmp_path), database_url=database_url)) as c:
        token = _token(c, "office", PASSWORD)
        r = c.post("/api/auth/password", headers=_bearer(token),
                   json={"current_password": PASSWORD, "new_password": "the-office-secret"})
        assert r.status_code == 200 and r.json()["initial_password_file_removed"] is True
    assert not path.exists()


def test_every_answer_carries_the_security_headers(api, login):
    office = login("gas_office")
    token = api.post("/api/auth/token", data={"username": "nobody", "password": "x" * 12})
    answers = {
        "token refused": token,
        "me": api.get("/api/auth/me", headers=office),
        "not found": api.get("/no/such/page"),
        "too large": api.post("/api/projects", content=b"x" * 3_000_000, headers=office),
        "page": api.get("/maps/"),
        "static": api.get("/static/gisapp/maps.js"),
        "docs": api.get("/docs"),
        "openapi": api.get("/openapi.json"),
    }
    for name, r in answers.items():
        h = r.headers
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, name
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", name
        assert h["referrer-policy"] == "same-origin", name
    assert answers["too large"].status_code == 413
    assert answers["me"].headers["cache-control"] == "no-store"
    assert answers["static"].headers["cache-control"].startswith("public")
    docs = answers["docs"].text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert "<script>" not in docs  # only scripts with src


def test_token_answer_is_never_cached(api, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "zhao.liu", PASSWORD, "inspector")
    r = api.post("/api/auth/token", data={"username": "zhao.liu", "password": PASSWORD})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


def test_tile_server_is_allowed_for_images_only(database_url, clean_db):
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    settings = Settings(_env_file=None, tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    with TestClient(create_app(settings, database_url=database_url)) as c:
        csp = c.get("/maps/").headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tiles.example.org;" in csp
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp


def test_wrong_current_passwords_count_as_failed_logins(api, db_engine):
    """A password guessed through /api/auth/password is throttled like a login (issue 12)."""
    with session_factory(db_engine).begin() as session:
        create_user(session, "guess.me", PASSWORD, "builder", "甲公司")
    token = _token(api, "guess.me", PASSWORD)
    url = "/api/auth/password"
    for i in range(5):  # GISAPP_LOGIN_MAX_FAILURES_PER_ACCOUNT
        r = api.post(url, json={"current_password": f"guess-number-{i}", "new_password": "a-new-secret-2"},
                     headers=_bearer(token))
        assert r.status_code == 422 and "当前密码不正确" in r.json()["detail"], r.text
    # Now even the right current password is refused before it is checked, with the
    # login's message, and so is a login of the account.
    r = api.post(url, json={"current_password": PASSWORD, "new_password": "a-new-secret-2"},
                 headers=_bearer(token))
    assert r.status_code == 429, r.text
    assert "账号 guess.me 登录失败次数过多" in r.json()["detail"] and int(r.headers["Retry-After"]) >= 1
    login = api.post("/api/auth/token", data={"username": "guess.me", "password": PASSWORD})
    assert login.status_code == 429 and "登录失败次数过多" in login.json()["detail"]
    with db_engine.connect() as conn:
        reasons = conn.execute(text(
            "SELECT detail->>'reason' FROM audit_log WHERE action = 'auth.login_failed' "
            "AND detail->>'username' = 'guess.me'")).scalars().all()
        changed = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'user.password.own' "
                                    "AND detail->>'username' = 'guess.me'")).scalar_one()
    assert reasons == ["wrong_current_password"] * 5 and changed == 0


def test_wrong_current_passwords_count_per_address(api, db_engine):
    """Guesses spread over accounts from one address hit the address limit."""
    with session_factory(db_engine).begin() as session:
        for i in range(5):
            create_user(session, f"addr.{i}", PASSWORD, "builder", "甲公司")
    tokens = [_token(api, f"addr.{i}", PASSWORD) for i in range(5)]
    for i in range(20):  # GISAPP_LOGIN_MAX_FAILURES_PER_ADDRESS, 4 per account
        r = api.post("/api/auth/password", json={"current_password": f"wrong-guess-{i}",
                                                 "new_password": "a-new-secret-2"},
                     headers=_bearer(tokens[i % 5]))
        assert r.status_code == 422, r.text
    r = api.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "a-new-secret-2"},
                 headers=_bearer(tokens[0]))
    assert r.status_code == 429 and "来自本地址的登录失败次数过多" in r.json()["detail"], r.text


def test_a_right_current_password_clears_the_accounts_failures(api, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "clear.me", PASSWORD, "builder", "甲公司")
    token = _token(api, "clear.me", PASSWORD)
    for i in range(4):
        assert api.post("/api/auth/password", json={"current_password": f"nope-{i}-nope-nope",
                                                    "new_password": "a-new-secret-2"},
                        headers=_bearer(token)).status_code == 422
    r = api.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "a-new-secret-2"},
                 headers=_bearer(token))
    assert r.status_code == 200, r.text
    with db_engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM login_failure "
                                 "WHERE username = 'clear.me'")).scalar_one()
    assert left == 0


def test_password_changes_take_a_bounded_hashing_slot(api, db_engine):
    """With every Argon2 slot taken, a password change waits a few seconds, then 503."""
    with session_factory(db_engine).begin() as session:
        create_user(session, "busy.hash", PASSWORD, "builder", "甲公司")
    token = _token(api, "busy.hash", PASSWORD)
    slots = api.app.state.hash_threads
    taken = 0
    while slots.acquire(blocking=False):  # every slot of the worker, as busy changes would
        taken += 1
    try:
        r = api.post("/api/auth/password", json={"current_password": PASSWORD,
                                                 "new_password": "a-new-secret-2"}, headers=_bearer(token))
        assert r.status_code == 503 and "排队校验密码" in r.json()["detail"], r.text
        assert int(r.headers["Retry-After"]) >= 1
    finally:
        for _ in range(taken):
            slots.release()
    assert taken == 2  # GISAPP_LOGIN_HASH_CONCURRENCY
    r = api.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "a-new-secret-2"},
                 headers=_bearer(token))
    assert r.status_code == 200, r.text
