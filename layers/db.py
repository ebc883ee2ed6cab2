"""Engine and session helpers for PostGIS (no settings read here; callers pass the URL)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import create_engine
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs) -> Engine:
    """Create the process's one engine for ``url`` (psycopg2 driver)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    # JIT compilation is off for every connection: our queries are short, index-driven
    # spatial lookups, for which compiling cost more than it saved (~0.5 s per full screen).
    connect_args = {"options": "-c jit=off", **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, future=True, connect_args=connect_args, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine``."""
    return sessionmaker(bind=engine, expire_on_commit=False)


# Server-side prepared statements for the statements every API write runs. PostgreSQL
# plans a statement each time it is sent; the screening statement takes longer to plan
# (~1 ms) than to run for one site. A prepared statement is planned once per connection
# (generic plan after five custom ones, PostgreSQL's own choice).
_NAMED_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # the binds SQLAlchemy's text() finds
_PREPARED: dict[str, _Prepared] = {}


@dataclass(frozen=True)
class _Prepared:
    name: str
    sql: str  # with $1, $2 ... in place of :name
    params: tuple[str, ...]


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
        with connection.connection.dbapi_connection.cursor() as cursor:
            cursor.execute(f"PREPARE {statement.name} AS {statement.sql}")  # no binds: no % parsing
        known.add(statement.name)
    binds = ", ".join(["%s"] * len(statement.params))
    return connection.exec_driver_sql(
        f"EXECUTE {statement.name}({binds})" if binds else f"EXECUTE {statement.name}",
        tuple(params[p] for p in statement.params),
    )
