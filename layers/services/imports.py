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
from layers.importer import TABLES, ImportReport, code_keys, import_layer
from layers.io.errors import InputFileError
from layers.io.normalize import _repeated_ids
from layers.schema import ID_FIELD
from layers.services.answers import issue_answers
from layers.services.audit import record
from layers.services.districts import check_all_in_district, see, see_city_wide
from layers.services.features import WriteContext, screen_and_alert
from layers.services.overview import refresh_overview
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

    Projects written for one organisation (``ctx.organisation``) all belong to it. A
    project's code is unique within its organisation only (migration 0017), so a replace
    reaches the organisation's own projects and nothing else, and nothing here depends
    on whether another organisation uses a code. Rows a replace updates are screened
    again, so the conflicts of their old versions close.
    """
    codes = [str(c) for c in frame[ID_FIELD[kind]].tolist()]
    if ctx.actor.district is not None:
        check_all_in_district(ctx.actor, kind, codes, frame.geometry.to_numpy())
    if kind == "projects" and ctx.organisation is not None:
        frame["organisation"] = ctx.organisation
        # The file's own organisation column no longer tells its rows apart.
        repeated = _repeated_ids(frame[ID_FIELD[kind]], ID_FIELD[kind])
        if repeated:
            raise InputFileError(source_name, repeated)
    # Vertex and site limits of the writer's role; builders' large sites are held.
    holds = check_import(frame, kind, ID_FIELD[kind], ctx.limits, source_name)
    old_ids = _live_ids(session, kind, code_keys(frame, kind)) if replace else []
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
    if kind == "pipelines":  # the low-zoom maps' merged mains, at once rather than in seconds
        refresh_overview(session)
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


def _live_ids(session: Session, kind: str, keys: list[tuple[str, str]]) -> list[int]:
    """Return the ids of live rows with these (organisation, code) keys (``code_keys``)."""
    org = "coalesce(organisation, '')" if kind == "projects" else "''"
    return list(session.execute(
        text(f"SELECT id FROM {TABLES[kind]} WHERE deleted_at IS NULL "
             f"AND ({org}, {ID_FIELD[kind]}) IN (SELECT * FROM unnest(CAST(:o AS text[]), "
             "CAST(:c AS text[])))"),
        {"o": [o for o, _ in keys], "c": [c for _, c in keys]},
    ).scalars())
