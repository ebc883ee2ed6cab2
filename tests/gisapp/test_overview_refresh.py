"""A running server rebuilds the low-zoom tiles' merged mains by itself after pipeline writes."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from gisapp.overview_refresh import OverviewJob, refresh_once

pytestmark = pytest.mark.postgis


def _pending(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pipeline_overview_change")).scalar_one()


def _write_mains(engine, n: int, first: int = 0) -> None:
    with engine.begin() as conn:  # one main per cell: one change each
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, geom) "
            "SELECT 'J' || i, 'high_b', 323, ST_Multi(ST_MakeLine(ST_MakePoint(121.301 + i * 0.05, 31.601), "
            "ST_MakePoint(121.311 + i * 0.05, 31.601))) FROM generate_series(:a, :b) i"),
            {"a": first, "b": first + n - 1})


def test_the_servers_job_rebuilds_what_writes_left_pending(db_engine, clean_db):
    _write_mains(db_engine, 3)
    assert _pending(db_engine) == 3
    job = OverviewJob(db_engine, interval_s=0.1).start()
    try:
        deadline = time.monotonic() + 20
        while _pending(db_engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pending(db_engine) == 0
        _write_mains(db_engine, 2, first=3)  # a later write: the next pass takes it
        deadline = time.monotonic() + 20
        while _pending(db_engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pending(db_engine) == 0
    finally:
        job.stop(wait_s=10)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT sum(segments) FROM pipeline_overview")).scalar_one() == 5


def test_a_backlog_is_worked_off_pass_by_pass_without_waiting(db_engine, clean_db):
    _write_mains(db_engine, 5)
    job = OverviewJob(db_engine, interval_s=3600, batch=2)  # only a full batch brings the next pass at once
    assert job.run_once() is True and _pending(db_engine) == 3
    assert job.run_once() is True and _pending(db_engine) == 1
    assert job.run_once() is False and _pending(db_engine) == 0
    assert refresh_once(db_engine) == 0
