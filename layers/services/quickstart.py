"""The quick start's data steps: the sample loaded into an empty database, the first account."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from layers.services.features import WriteContext, screen_district

FIRST_USERNAME = "office"


def is_empty(engine: Engine) -> bool:
    """Return whether no pipeline and no project was ever stored (deleted ones count)."""
    with engine.connect() as conn:
        return not conn.execute(text(
            "SELECT (SELECT count(*) FROM gas_pipeline) + (SELECT count(*) FROM construction_project)"
        )).scalar_one()


def load_sample_files(session: Session, files: dict[str, Path], ctx: WriteContext) -> None:
    """Import the sample's townships, pipelines and projects through the normal file path.

    The conflicts found get their permit records and alerts like any import's.
    """
    from layers.importer import file_sha256, import_layer, load_townships
    from layers.io import read_layer
    from layers.townships import read_townships

    load_townships(session, read_townships(files["townships"]), source=files["townships"].name)
    for kind in ("pipelines", "projects"):
        result = read_layer(files[kind], kind, margin_m=ctx.margin_m)
        import_layer(
            session, kind, result.frame, source_name=files[kind].name,
            source_sha256=file_sha256(files[kind]), source_crs=result.source_crs,
            notes=result.notes, actor=ctx.actor,
        )
    screen_district(session, ctx)


def create_first_user(session: Session) -> str | None:
    """With no user yet, create the gas office account ``office``; return its password."""
    from layers.services.users import create_user

    if session.execute(text("SELECT count(*) FROM app_user")).scalar_one():
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, FIRST_USERNAME, password, "gas_office")
    return password
