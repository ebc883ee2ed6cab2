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
from layers.services.features import WriteContext, screen_and_alert
from layers.services.site_limits import check_import, hold_projects


def import_and_screen(
    session: Session, kind: str, frame: gpd.GeoDataFrame, ctx: WriteContext, *, replace: bool = False,
    **import_args,
) -> tuple[ImportReport, list[int]]:
    """Import a validated layer (``layers.importer.import_layer``), then screen what changed.

    Returns the import report and the ids of the new conflicts. Rows a replace
    soft-deletes are screened too, so the conflicts of their old versions close.
    """
    codes = [str(c) for c in frame[ID_FIELD[kind]].tolist()]
    # Vertex and site limits of the writer's role; builders' large sites are held.
    holds = check_import(frame, kind, ID_FIELD[kind], ctx.limits, import_args.get("source_name"))
    old_ids = _live_ids(session, kind, codes) if replace else []
    report = import_layer(session, kind, frame, mode="replace" if replace else "insert", **import_args)
    rows = session.execute(
        text(f"SELECT id, {ID_FIELD[kind]} AS code FROM {TABLES[kind]} WHERE import_batch_id = :b"),
        {"b": report.batch_id},
    ).all()
    if holds:
        id_of = {r.code: r.id for r in rows}
        hold_projects(session, [(id_of[code], *rest) for code, *rest in holds], ctx.actor)
        listed = "、".join(code for code, *_ in holds[:10]) + ("等" if len(holds) > 10 else "")
        report.notes.append(f"{len(holds)} 个项目施工范围较大（{listed}），已提交燃气管理所审核，"
                            "审核通过前不做筛查")
    new_ids = [r.id for r in rows]
    return report, screen_and_alert(session, kind, [*new_ids, *old_ids], ctx)


def _live_ids(session: Session, kind: str, codes: list[str]) -> list[int]:
    """Return the ids of live rows with these codes (they are soft-deleted by a replace)."""
    return session.execute(
        text(f"SELECT id FROM {TABLES[kind]} WHERE deleted_at IS NULL AND {ID_FIELD[kind]} = ANY(:c)"),
        {"c": codes},
    ).scalars().all()
