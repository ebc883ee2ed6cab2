"""Counts and lengths of what is stored (live rows only), for the terminal summary."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine


def database_summary(engine: Engine) -> dict:
    """Return counts and lengths of what is stored (live rows only)."""
    with engine.connect() as conn:
        pipes = conn.execute(
            text(
                "SELECT pressure_class, count(*), sum(ST_Length(geom_m)) / 1000.0 "
                "FROM gas_pipeline WHERE deleted_at IS NULL GROUP BY pressure_class"
            )
        ).all()
        projects = conn.execute(
            text(
                "SELECT kind, status, count(*) FROM construction_project "
                "WHERE deleted_at IS NULL GROUP BY kind, status"
            )
        ).all()
        townships = conn.execute(text("SELECT count(*) FROM township")).scalar_one()
    return {
        "pipelines": {r[0]: (int(r[1]), float(r[2] or 0)) for r in pipes},
        "projects": {(r[0], r[1]): int(r[2]) for r in projects},
        "townships": int(townships),
    }
