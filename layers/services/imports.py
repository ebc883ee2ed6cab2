"""A file import through the service: stored and screened in the caller's transaction.

Both entry points (``POST /api/{layer}/import`` and ``gisapp import``) go through here,
so an imported project that reaches into a pipeline's range raises its alert and gets
its permit record at once, as a project created through the API does, and the batch is
in the audit log under the actor's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

import geopandas as gpd

from layers.db import IdArray
from layers.importer import TABLES, ImportReport, import_layer
from layers.schema import ID_FIELD
from layers.services.answers import issue_answers
from layers.services.audit import record
from layers.services.districts import check_all_in_district, see, see_city_wide
from layers.services.errors import PermissionDeniedError
from layers.services.features import WriteContext, screen_and_alert
from layers.services.site_limits import check_import, hold_projects

ENTITY = {"pipelines": "pipeline", "projects": "project"}


@dataclass(frozen=True)
class ImportOutcome:
    """What an import stored and what its screening found."""

    report: ImportReport
    conflict_ids: list[int]
    new_alerts: int


def import_and_screen(
    session: Session, kind: str, frame: gpd.GeoDataFrame, ctx: WriteContext, *,
    replace: bool = False, source_name: str, source_sha256: str, source_crs: str,
    notes: list[str] | None = None, progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Import a validated layer (``layers.importer.import_layer``), screen what changed, audit.

    Projects written for one organisation (``ctx.organisation``) all belong to it, and a
    replace may not overwrite another organisation's projects. Rows a replace soft-deletes
    are screened too, so the conflicts of their old versions close.
    """
    codes = [str(c) for c in frame[ID_FIELD[kind]].tolist()]
    if ctx.actor.district is not None:
        check_all_in_district(ctx.actor, kind, codes, frame.geometry.to_numpy())
    if kind == "projects" and ctx.organisation is not None:
        frame["organisation"] = ctx.organisation
        if replace:
            _check_replace_scope(session, codes, ctx.organisation)
    # Vertex and site limits of the writer's role; builders' large sites are held.
    holds = check_import(frame, kind, ID_FIELD[kind], ctx.limits, source_name)
    old_ids = _live_ids(session, kind, codes) if replace else []
    report = import_layer(
        session, kind, frame, mode="replace" if replace else "insert", source_name=source_name,
        source_sha256=source_sha256, source_crs=source_crs, notes=notes, actor=ctx.actor,
        progress=progress,
    )
    rows = session.execute(
        text(f"SELECT id, {ID_FIELD[kind]} AS code FROM {TABLES[kind]} WHERE import_batch_id = :b"),
        {"b": report.batch_id},
    ).all()
    held: set[int] = set()
    if holds:
        id_of = {r.code: r.id for r in rows}
        held = {id_of[code] for code, *_ in holds}
        hold_projects(session, [(id_of[code], *rest) for code, *rest in holds], ctx.actor)
        listed = "、".join(code for code, *_ in holds[:10]) + ("等" if len(holds) > 10 else "")
        report.notes.append(f"{len(holds)} 个项目施工范围较大（{listed}），已提交燃气管理所审核，"
                            "审核通过前不做筛查")
    new_ids = [r.id for r in rows]
    see_city_wide(session)  # screening reaches across district lines
    conflict_ids = screen_and_alert(session, kind, [*new_ids, *old_ids], ctx)
    if kind == "projects":
        # Every imported project gets its answer letter, as one registered through the API;
        # a held site gets it when the gas office releases it (layers.services.reviews).
        issue_answers(session, [i for i in new_ids if i not in held],
                      "change" if replace else "registration", ctx.rule_set,
                      valid_days=ctx.answer_valid_days, actor=ctx.actor)
    new_alerts = session.execute(
        text("SELECT count(*) FROM alert WHERE conflict_id = ANY(:ids)"), {"ids": IdArray(conflict_ids)}
    ).scalar_one() if conflict_ids else 0
    record(session, ctx.actor, f"{ENTITY[kind]}.import", "import_batch", report.batch_id,
           {"file": source_name, "imported": report.inserted, "replaced": report.replaced,
            "new_conflicts": len(conflict_ids)})
    see(session, ctx.actor.district)  # screening was city-wide
    return ImportOutcome(report, conflict_ids, int(new_alerts))


def _check_replace_scope(session: Session, codes: list[str], organisation: str) -> None:
    """Refuse a replace that would overwrite another organisation's projects."""
    foreign = session.execute(
        text("SELECT registration_code FROM construction_project WHERE deleted_at IS NULL "
             "AND registration_code = ANY(:c) AND organisation IS DISTINCT FROM :org "
             "ORDER BY registration_code LIMIT 20"),
        {"c": codes, "org": organisation},
    ).scalars().all()
    if foreign:
        raise PermissionDeniedError(
            # Says no more than a single creation's 409 would: taken, not whose.
            f"字段 registration_code：编号 {'、'.join(foreign)} 已被占用，不能由本单位导入或覆盖"
            "（请核对编号，或联系燃气管理所）"
        )


def _live_ids(session: Session, kind: str, codes: list[str]) -> list[int]:
    """Return the ids of live rows with these codes (they are soft-deleted by a replace)."""
    return list(session.execute(
        text(f"SELECT id FROM {TABLES[kind]} WHERE deleted_at IS NULL AND {ID_FIELD[kind]} = ANY(:c)"),
        {"c": codes},
    ).scalars())
