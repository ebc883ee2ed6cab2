"""Passwords on the command line: hidden prompt, --password-stdin, --password with a warning."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from gisapp import initial_user
from layers.db import session_factory
from layers.services.users import authenticate, create_user

GISAPP = str(Path(sys.executable).with_name("gisapp"))
pytestmark = pytest.mark.postgis


def _env(database_url, tmp_path) -> dict:
    return dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))


def _cli(args, database_url, tmp_path, stdin: str | None = None):
    return subprocess.run([GISAPP, *args], env=_env(database_url, tmp_path), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def _can_log_in(db_engine, username: str, password: str) -> bool:
    from layers.services.errors import AuthenticationError

    with session_factory(db_engine)() as session:
        try:
            authenticate(session, username, password)
        except AuthenticationError:
            return False
    return True


def test_password_from_stdin_argv_or_nothing(database_url, clean_db, db_engine, tmp_path):
    r = _cli(["user", "create", "--username", "stdin.user", "--role", "inspector", "--password-stdin"],
             database_url, tmp_path, stdin="a-secret-from-stdin\n")
    assert r.returncode == 0, r.stderr
    assert "警告" not in r.stderr and _can_log_in(db_engine, "stdin.user", "a-secret-from-stdin")

    r = _cli(["user", "create", "--username", "argv.user", "--role", "inspector",
              "--password", "a-secret-in-argv"], database_url, tmp_path)
    assert r.returncode == 0 and "进程列表" in r.stderr  # still works, with a warning
    assert _can_log_in(db_engine, "argv.user", "a-secret-in-argv")

    for args, stdin, message in [
        ([], None, "缺少密码"),  # no terminal to prompt on
        (["--password-stdin"], "", "没有读到密码"),
        (["--password-stdin", "--password", "a-secret-in-argv"], "x\n", "不能同时使用"),
    ]:
        r = _cli(["user", "create", "--username", "nobody.user", "--role", "inspector", *args],
                 database_url, tmp_path, stdin=stdin)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user WHERE username = 'nobody.user'")
                            ).scalar() == 0


def test_hidden_prompt_on_a_terminal(database_url, clean_db, db_engine, tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([GISAPP, "user", "create", "--username", "tty.user", "--role", "inspector"],
                            env=_env(database_url, tmp_path), cwd=tmp_path, stdin=follower,
                            stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""

    def read_until(done, limit_s: float = 90) -> None:
        nonlocal seen
        deadline = time.monotonic() + limit_s
        while not done():
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 1024)
                except OSError:  # the child closed the terminal
                    return

    # click writes the prompt's text, then getpass turns echo off, flushes pending input
    # and writes its own " ": type only once that space shows.
    read_until(lambda: "密码: ".encode() in seen)
    os.write(leader, b"typed-at-the-prompt\n")
    read_until(lambda: "再次输入密码以确认: ".encode() in seen)
    os.write(leader, b"typed-at-the-prompt\n")
    read_until(lambda: proc.poll() is not None)
    assert proc.wait(10) == 0, seen.decode(errors="replace")
    os.close(leader)
    assert b"typed-at-the-prompt" not in seen  # not echoed
    assert _can_log_in(db_engine, "tty.user", "typed-at-the-prompt")


def test_user_password_resets_and_forgets_the_initial_file(database_url, clean_db, db_engine, tmp_path):
    with session_factory(db_engine).begin() as session:
        create_user(session, "office", "the-initial-one", "gas_office")
    path = initial_user.write(tmp_path / ".gisapp", "office", "the-initial-one")
    r = _cli(["user", "password", "--username", "office", "--password-stdin"], database_url, tmp_path,
             stdin="a-brand-new-secret\n")
    assert r.returncode == 0 and "初始密码文件已删除" in r.stdout, r.stderr
    assert not path.exists()
    assert _can_log_in(db_engine, "office", "a-brand-new-secret")
    assert not _can_log_in(db_engine, "office", "the-initial-one")
    r = _cli(["user", "password", "--username", "ghost", "--password-stdin"], database_url, tmp_path,
             stdin="a-brand-new-secret\n")
    assert r.returncode == 2 and "不存在" in r.stderr
