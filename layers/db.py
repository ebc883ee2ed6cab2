"""Engine and session helpers for PostGIS (no settings read here; callers pass the URL)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(
    url: str, *, warm_projection: bool = False, ping_after_idle_s: float | None = None,
    act_as: str | None = None, **kwargs
) -> Engine:
    """Create the process's one engine for ``url`` (psycopg2 driver).

    ``warm_projection``: each new connection transforms one point to the metric CRS
    at once, so the ~30 ms PostGIS/PROJ set-up of a new backend is paid when the pool
    grows, not by the first feature write that lands on it (the server's engine).

    ``ping_after_idle_s``: test a pooled connection before use only when it sat idle
    that long (a dead one is replaced); None tests it at every checkout. Under load a
    connection comes back within milliseconds, and the test was a round trip of every
    request.

    ``act_as``: every connection acts as this role (``SET ROLE``) once it exists and the
    login role may take it: the server's request connections act as ``gisapp_app``,
    which row-level security binds (a superuser bypasses it, whatever is forced).
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    # JIT compilation is off for every connection: our queries are short, index-driven
    # spatial lookups, for which compiling cost more than it saved (~0.5 s per full screen).
    # Row-level security (migration 0013): a connection that acts as itself (CLI, jobs,
    # benchmarks, tests, migrations) reads city-wide, explicitly; the server's request
    # connections (``act_as``) start with no district and so see nothing until the
    # token check sets the user's.
    # Prepared statements (``execute_prepared``) run their generic plan: PostgreSQL's
    # own choice kept re-planning them at every execution (see execute_prepared).
    options = ("-c jit=off -c plan_cache_mode=force_generic_plan"
               + ("" if act_as is not None else " -c gisapp.district=*"))
    connect_args = {"options": options, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=ping_after_idle_s is None, future=True,
                           connect_args=connect_args, **kwargs)
    if act_as is not None:
        event.listen(engine, "connect", _acting_as(act_as))
    if warm_projection:
        event.listen(engine, "connect", _warm_projection)
    if ping_after_idle_s is not None:
        _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping connections that were idle ``idle_s`` or longer at checkout (SQLAlchemy's recipe)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["gisapp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("gisapp_idle_since", 0.0) < idle_s:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()  # leave no transaction open
        except (dbapi_connection.OperationalError, dbapi_connection.InterfaceError) as exc:
            raise DisconnectionError() from exc  # the pool retries with a new connection


def _acting_as(role: str):
    def _set_role(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s "
                           "AND pg_has_role(current_user, oid, 'MEMBER')", (role,))
            if cursor.fetchone() is not None:
                cursor.execute(f'SET ROLE "{role}"')
            dbapi_connection.commit()
        finally:
            cursor.close()

    return _set_role


def _warm_projection(dbapi_connection, _record) -> None:
    from spatial_rules.crs import METRIC_SRID, STORAGE_EPSG

    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SELECT ST_Transform(ST_SetSRID(ST_MakePoint(121.7, 31.6), {STORAGE_EPSG}), "
                       f"{METRIC_SRID})")
    except Exception:  # noqa: BLE001 - not migrated yet: the first real use will say so
        pass
    finally:
        cursor.close()
        dbapi_connection.rollback()


def serial(session: Session) -> None:
    """Run the rest of this transaction's queries without parallel workers.

    For the map requests a page sends at once (its data, some twenty tiles): measured at
    Shanghai size on 2 cores, the permit states of 100,000 sites took 0.67-0.80 s with two
    parallel workers (each rebuilds the same hash of 200,000 conflicts) and 0.34-0.49 s
    without; the page's other requests already keep the cores busy.
    """
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine``."""
    return sessionmaker(bind=engine, expire_on_commit=False)


# Server-side prepared statements for the statements every API write runs. PostgreSQL
# plans a statement each time it is sent; the screening statement takes longer to plan
# (~1 ms on the city sample, 1.5-3.7 ms at Shanghai size) than to run for one site. A
# prepared statement is planned once per connection: its generic plan, forced
# (``plan_cache_mode`` in ``make_engine``). Left to choose, PostgreSQL kept a custom
# plan, planned afresh at every execution, because the generic plan's estimate for
# "any of an id array" looked dearer: the prepared screen cost its full planning time
# on every API write. A generic plan suits a few ids; for a batch it is several times
# slower than one planned for the batch (20,000 sites: 15 s against 4.6 s), so
# ``execute_sized`` prepares only statements over at most ``PREPARED_MAX_IDS`` ids.
PREPARED_MAX_IDS = 500
_NAMED_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # the binds SQLAlchemy's text() finds
_PREPARED: dict[str, _Prepared] = {}


@dataclass(frozen=True)
class _Prepared:
    name: str
    sql: str  # with $1, $2 ... in place of :name
    params: tuple[str, ...]


@contextmanager
def read_only_session(engine: Engine) -> Iterator[Session]:
    """Yield a session in a READ ONLY transaction, rolled back at the end (reports)."""
    with session_factory(engine)() as session:
        session.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield session
        finally:
            session.rollback()


def _prepared(sql: str) -> _Prepared:
    found = _PREPARED.get(sql)
    if found is None:
        order: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in order:
                order.append(match[1])
            return f"${order.index(match[1]) + 1}"

        positional = _NAMED_PARAM.sub(number, sql)
        name = "gisapp_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
        found = _PREPARED.setdefault(sql, _Prepared(name, positional, tuple(order)))
    return found


def execute_prepared(session: Session, sql: str, params: dict) -> CursorResult:
    """Run ``sql`` (``:name`` binds, as for ``text()``) as a prepared statement of this connection.

    Each bind's type is inferred once, at PREPARE, from where it is used: a bind with no
    such context (a bare ``:x`` in the select list) is text, so cast it.
    """
    statement = _prepared(sql)
    connection = session.connection()
    known = connection.connection.info.setdefault("gisapp_prepared", set())
    if statement.name not in known:
        raw: Any = connection.connection.dbapi_connection  # psycopg2's connection
        with raw.cursor() as cursor:
            cursor.execute(f"PREPARE {statement.name} AS {statement.sql}")  # no binds: no % parsing
        known.add(statement.name)
    binds = ", ".join(["%s"] * len(statement.params))
    return connection.exec_driver_sql(
        f"EXECUTE {statement.name}({binds})" if binds else f"EXECUTE {statement.name}",
        tuple(params[p] for p in statement.params),
    )


def execute_sized(session: Session, sql: str, params: dict, ids: int) -> CursorResult:
    """Run ``sql`` over ``ids`` ids: prepared (a generic plan) for a few, planned for a batch."""
    if ids <= PREPARED_MAX_IDS:
        return execute_prepared(session, sql, params)
    return cast(CursorResult, session.execute(text(sql), params))


def warm_pool(engine: Engine, connections: int) -> None:
    """Open ``connections`` pooled connections at once and return them to the pool."""
    opened = []
    try:
        for _ in range(connections):
            opened.append(engine.connect())
    finally:
        for connection in opened:
            connection.close()


class IdArray(list):
    """A list of integer ids sent to PostgreSQL as one array literal, ``'{1,2,3}'::bigint[]``.

    psycopg2 sends a plain list as ``ARRAY[1,2,3]``, an expression the server parses
    element by element: for the 300,000 ids of a pipeline import that took seconds per
    statement. The literal is read by the array type's input function at C speed.
    """

    def __init__(self, ids) -> None:
        super().__init__(int(i) for i in ids)


def _adapt_id_array(ids: IdArray) -> Any:
    from psycopg2.extensions import AsIs

    return AsIs("'{" + ",".join(map(str, ids)) + "}'::bigint[]")


def _register_id_array() -> None:
    from psycopg2.extensions import register_adapter

    register_adapter(IdArray, _adapt_id_array)


_register_id_array()
