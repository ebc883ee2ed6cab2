"""A file import through the service: stored and screened in the caller's transaction.

Both entry points (``POST /api/{layer}/import`` and ``gisapp import``) go through here,
so an imported project that reaches into a pipeline's range raises its alert and gets
its permit record at once, as a project created through the API does.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

import geopandas as gpd

from layers.importer import TABLES, ImportReport, import_layer
from layers.schema import ID_FIELD
from layers.services.answers import issue_answers
from layers.services.features import WriteContext, screen_and_alert


def import_and_screen(
    session: Session, kind: str, frame: gpd.GeoDataFrame, ctx: WriteContext, *, replace: bool = False,
    **import_args,
) -> tuple[ImportReport, list[int]]:
    """Import a validated layer (``layers.importer.import_layer``), then screen what changed.

    Returns the import report and the ids of the new conflicts. Rows a replace
    soft-deletes are screened too, so the conflicts of their old versions close.
    """
    codes = [str(c) for c in frame[ID_FIELD[kind]].tolist()]
    old_ids = _live_ids(session, kind, codes) if replace else []
    report = import_layer(session, kind, frame, mode="replace" if replace else "insert", **import_args)
    new_ids = session.execute(
        text(f"SELECT id FROM {TABLES[kind]} WHERE import_batch_id = :b"), {"b": report.batch_id}
    ).scalars().all()
    conflict_ids = screen_and_alert(session, kind, [*new_ids, *old_ids], ctx)
    if kind == "projects":
        # Every imported project gets its answer letter, as one registered through the API.
        issue_answers(session, new_ids, "change" if replace else "registration", ctx.rule_set,
                      valid_days=ctx.answer_valid_days, actor=ctx.actor)
    return report, conflict_ids


def _live_ids(session: Session, kind: str, codes: list[str]) -> list[int]:
    """Return the ids of live rows with these codes (they are soft-deleted by a replace)."""
    return session.execute(
        text(f"SELECT id FROM {TABLES[kind]} WHERE deleted_at IS NULL AND {ID_FIELD[kind]} = ANY(:c)"),
        {"c": codes},
    ).scalars().all()
