"""Settings from the environment: webhook URL lists, database URL aliases, bad values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gisapp.settings import Settings


def test_webhook_urls_accept_json_or_commas(monkeypatch):
    monkeypatch.setenv("GISAPP_WEBHOOK_URLS", "http://127.0.0.1:9/a, https://example.org/b")
    assert Settings(_env_file=None).webhook_urls == ["http://127.0.0.1:9/a", "https://example.org/b"]
    monkeypatch.setenv("GISAPP_WEBHOOK_URLS", '["http://127.0.0.1:9/a"]')
    assert Settings(_env_file=None).webhook_urls == ["http://127.0.0.1:9/a"]


def test_database_url_alias_and_validation(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/gisapp")
    assert Settings(_env_file=None).database_url.hosts()[0]["host"] == "db.example"
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db.example/gisapp")
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None)
    assert "DATABASE_URL" in str(err.value)


def test_cli_reports_bad_settings_without_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, DATABASE_URL="mysql://u:p@db.example/gisapp")
    gisapp = str(Path(sys.executable).with_name("gisapp"))
    result = subprocess.run([gisapp, "db", "status"], env=env, capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "配置有误" in result.stderr and "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
