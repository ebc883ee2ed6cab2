"""Prepared statements (``layers.db.execute_prepared``) on a real PostGIS."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from layers.db import (
    PREPARED_MAX_IDS,
    IdArray,
    execute_prepared,
    execute_sized,
    make_engine,
    session_factory,
    warm_pool,
)

pytestmark = pytest.mark.postgis

SQL = ("SELECT CAST(:a AS int) + :b AS total, :name || '!' AS shout, :a AS again, "
       "CAST(:day AS date) AS day, :ids AS ids")


def test_prepared_statement_gives_what_text_gives(db_engine):
    params = {"a": 2, "b": 40, "name": "燃气", "day": dt.date(2026, 11, 30), "ids": [1, 2, 3]}
    with session_factory(db_engine)() as session:
        plain = session.execute(text(SQL.replace(":ids", "CAST(:ids AS bigint[])")), params).one()
        prepared = execute_prepared(session, SQL.replace(":ids", "CAST(:ids AS bigint[])"), params).one()
    assert tuple(prepared) == tuple(plain) == (42, "燃气!", 2, dt.date(2026, 11, 30), [1, 2, 3])


def test_prepared_statement_survives_rollback_and_is_prepared_once(db_engine):
    sql = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%' || :tag || '%'"
    sessions = session_factory(db_engine)
    with sessions() as session:
        assert execute_prepared(session, sql + " -- rollback-test", {"tag": "rollback-test"}).scalar() == 1
        session.rollback()  # PREPARE is not transactional: the statement stays
        assert execute_prepared(session, sql + " -- rollback-test", {"tag": "rollback-test"}).scalar() == 1
        with pytest.raises(Exception, match="division by zero"):
            execute_prepared(session, "SELECT 1 / CAST(:zero AS int)", {"zero": 0}).all()
        session.rollback()
        assert execute_prepared(session, "SELECT 1 / CAST(:zero AS int)", {"zero": 1}).scalar() == 1


def test_empty_list_and_null_binds(db_engine):
    sql = "SELECT coalesce(array_length(CAST(:ids AS bigint[]), 1), 0), CAST(:maybe AS text) IS NULL"
    with session_factory(db_engine)() as session:
        assert tuple(execute_prepared(session, sql, {"ids": [], "maybe": None}).one()) == (0, True)


# An id array and a spatial distance: the statement shape PostgreSQL kept re-planning.
_BY_IDS = ("SELECT count(*) FROM generate_series(1, 50) g(n) "
           "WHERE n = ANY(CAST(:ids AS bigint[])) AND n < CAST(:limit AS int) -- {tag}")


def _plans(session, tag: str) -> tuple[int, int] | None:
    row = session.execute(text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE :pattern"),
        {"pattern": f"%-- {tag}"}).one_or_none()
    return None if row is None else (row.generic_plans, row.custom_plans)


def test_prepared_statements_run_their_generic_plan(db_engine):
    """Planned once per connection: left to choose, PostgreSQL re-planned at every execution."""
    with session_factory(db_engine)() as session:
        for n in range(1, 9):
            count = execute_prepared(session, _BY_IDS.format(tag="generic"),
                                     {"ids": IdArray(range(n)), "limit": 40}).scalar()
            assert count == n - 1  # 0 is not in the series
        assert _plans(session, "generic") == (8, 0)


def test_execute_sized_prepares_a_few_ids_and_plans_a_batch_afresh(db_engine):
    with session_factory(db_engine)() as session:
        few = IdArray(range(1, PREPARED_MAX_IDS + 1))
        assert execute_sized(session, _BY_IDS.format(tag="few"), {"ids": few, "limit": 40},
                             len(few)).scalar() == 39
        assert _plans(session, "few") == (1, 0)
        many = IdArray(range(1, PREPARED_MAX_IDS + 2))
        assert execute_sized(session, _BY_IDS.format(tag="batch"), {"ids": many, "limit": 40},
                             len(many)).scalar() == 39
        assert _plans(session, "batch") is None  # planned for its size, never prepared


_PROJ_CONTEXT = "SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'Proj Context'"


def test_server_engine_connections_arrive_with_proj_set_up(database_url):
    """A warmed connection has PostGIS's PROJ context before its first query, a plain one not."""
    warm = make_engine(database_url, warm_projection=True, poolclass=NullPool)
    plain = make_engine(database_url, poolclass=NullPool)
    try:
        with warm.connect() as conn:
            assert conn.execute(text(_PROJ_CONTEXT)).scalar() == 1
            assert conn.execute(text("SELECT 1")).scalar() == 1  # no aborted transaction left over
        with plain.connect() as conn:
            assert conn.execute(text(_PROJ_CONTEXT)).scalar() == 0
    finally:
        warm.dispose()
        plain.dispose()


def test_warm_pool_opens_connections_and_returns_them(database_url):
    engine = make_engine(database_url, pool_size=3, max_overflow=0)
    try:
        warm_pool(engine, 3)
        assert engine.pool.checkedin() == 3
    finally:
        engine.dispose()


def _backend_of(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_idle_connection_whose_server_went_away_is_replaced_at_checkout(database_url, db_engine):
    engine = make_engine(database_url, ping_after_idle_s=0.0, pool_size=1, max_overflow=0)
    try:
        first = _backend_of(engine)
        with db_engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        second = _backend_of(engine)  # the ping finds the dead one; the pool reconnects
        assert second != first
    finally:
        engine.dispose()


def test_recently_used_connection_is_not_pinged_and_a_dead_one_is_dropped_after_failing(
    database_url, db_engine
):
    engine = make_engine(database_url, ping_after_idle_s=3600.0, pool_size=1, max_overflow=0)
    try:
        first = _backend_of(engine)
        with db_engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        # No ping within the idle window: the dead connection is handed out and fails...
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # ...and is invalidated, so the next checkout connects afresh.
        assert _backend_of(engine) != first
    finally:
        engine.dispose()


def test_every_creation_screens_and_answers_with_the_plan_prepared_once(stored_network):
    """The prepared screen and answer letter are not planned again at each API write.

    Left to choose, PostgreSQL kept custom plans for them and planned them afresh at
    every creation (1.5-3.7 ms at Shanghai size, more than they take to run).
    """
    from layers.services.actors import Actor
    from layers.services.features import WriteContext, create_feature
    from spatial_rules.rulesets import load_rule_set
    from tests.factories import site_feature

    ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"))
    watched = text(
        "SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements "
        "WHERE statement LIKE '%INSERT INTO pipeline_conflict%' "
        "OR statement LIKE '%INSERT INTO answer_letter%' "
        "OR statement LIKE '%INSERT INTO alert %'")
    with session_factory(stored_network)() as session:
        # The pooled connection keeps its prepared statements from earlier tests of the
        # run: count what these eight creations add on it.
        before = {p.name: (p.generic_plans, p.custom_plans) for p in session.execute(watched)}
        for n in range(8):  # eight sites along the HP-T1 trunk, each with its conflict
            created = create_feature(session, "projects",
                                     site_feature(f"CM-PLAN-{n}", 121.385 + n * 0.004, 31.6299), ctx)
            assert created["properties"]["conflicts"]
        plans = session.execute(watched).all()
        session.rollback()
    assert len(plans) == 3
    added = [(p.generic_plans - before.get(p.name, (0, 0))[0],
              p.custom_plans - before.get(p.name, (0, 0))[1], p.statement[:200]) for p in plans]
    assert all(a[:2] == (8, 0) for a in added), added
