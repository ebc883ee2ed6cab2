"""Stored rows -> campaign records: the one way the campaign sees stored projects.

Used by the planner, the campaign status (API and CLI), the inspections map panel and
the monthly report, so all of them count the same projects and inspections.

- A live project becomes a ``ProjectRecord`` keyed by its registration code (a code
  two organisations use, migration 0017, is keyed ``code（organisation）`` so the
  campaign tells them apart) when it has
  started: under construction or suspended (still building: no end date) or completed
  (end date = ``planned_completion_date``). A project under way without a start date
  counts from 1 January of the campaign year (it is under construction, and every
  project under construction owes the campaign its checks). Planned projects and
  completed ones without a completion date are skipped and reported.
- ``zone`` is the most severe zone among its open conflicts; ``permit_status`` is the
  worst permit state among them (approved only when every permit is approved or not
  required); ``open_hazards`` counts hazards still ``open``; ``inspected`` = any inspection.
- ``InspectionRecord`` carries at most one problem, so an inspection with k hazards gives
  k records (one per hazard, same kind, date and round) and one without hazards gives one
  record without a problem; free-text findings of stored inspections are notes, not hazards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from campaign.model import InspectionRecord, ProjectRecord
from vocabulary import PERMIT_SEVERITY, HazardState, InspectionKind, PermitState, Zone, permit_rank


@dataclass(frozen=True)
class Portfolio:
    """The stored projects as campaign records, with the database ids behind their codes."""

    projects: tuple[ProjectRecord, ...]
    db_ids: Mapping[str, int]  # registration code -> construction_project.id
    skipped: tuple[str, ...] = ()  # Chinese notes on live projects left out, one per project

    @property
    def codes(self) -> dict[int, str]:
        """Return construction_project.id -> registration code."""
        return {db_id: code for code, db_id in self.db_ids.items()}


def campaign_key(code: str, organisation: str | None, shared: bool) -> str:
    """The campaign's id of a project: its code, with its organisation when the code is shared."""
    return f"{code}（{organisation or '无所属单位'}）" if shared else code


def load_portfolio(
    session: Session, *, year: int, on: dt.date | None = None, township: str | None = None
) -> Portfolio:
    """Return the live projects (of ``township``, else all) as ``ProjectRecord``.

    ``year``: the campaign year (a project under way without a start date counts from its
    first day); hazards and inspections count up to ``on``.
    """
    rows = session.execute(
        text(
            "SELECT id, registration_code, organisation, kind, status, start_date, "
            "planned_completion_date, township, hazardous, insured, under_supervision, "
            "count(*) OVER (PARTITION BY registration_code) > 1 AS shared "
            "FROM construction_project "
            "WHERE deleted_at IS NULL AND (CAST(:tw AS text) IS NULL OR township = :tw) "
            "ORDER BY registration_code, organisation NULLS FIRST"
        ),
        {"tw": township},
    ).mappings().all()
    zones, permits = _conflict_facts(session)
    inspected, open_hazards = _inspection_facts(session, on)
    projects: list[ProjectRecord] = []
    db_ids: dict[str, int] = {}
    skipped: list[str] = []
    for row in rows:
        code = campaign_key(row["registration_code"], row["organisation"], row["shared"])
        status = row["status"]
        start, end = row["start_date"], row["planned_completion_date"]
        if status == "planned":
            skipped.append(f"{code}：尚未开工（状态 planned）")
            continue
        if status == "completed":
            if end is None:
                skipped.append(f"{code}：已竣工但缺少竣工日期")
                continue
            if start is None:
                skipped.append(f"{code}：已竣工但缺少开工日期")
                continue
        else:  # under construction or suspended: the site is still open
            end = None
            start = start or dt.date(year, 1, 1)
        projects.append(
            ProjectRecord(
                id=code,
                start_date=start,
                end_date=end,
                township=row["township"],
                hazardous=bool(row["hazardous"]),
                zone=zones.get(row["id"]),
                permit_status=permits.get(row["id"]),
                open_hazards=open_hazards.get(row["id"], 0),
                inspected=row["id"] in inspected,
                insured=bool(row["insured"]),
                gas_engineering=row["kind"] == "gas_engineering",
                under_supervision=bool(row["under_supervision"]),
            )
        )
        db_ids[code] = row["id"]
    return Portfolio(tuple(projects), db_ids, tuple(skipped))


def _conflict_facts(session: Session) -> tuple[dict[int, Zone], dict[int, PermitState]]:
    """Return the worst zone and the worst permit state of each project's open conflicts."""
    rows = session.execute(
        text(
            "SELECT c.project_id, c.zone, pm.status FROM pipeline_conflict c "
            "LEFT JOIN permit pm ON pm.conflict_id = c.id WHERE c.closed_at IS NULL"
        )
    ).all()
    zones: dict[int, Zone] = {}
    worst: dict[int, int] = {}
    for project_id, zone, status in rows:
        if zone == Zone.PROTECTION or project_id not in zones:
            zones[project_id] = Zone(zone)
        # Not required counts as done; a conflict without a permit row has nothing started.
        status = "approved" if status == "not_required" else (status or "not_started")
        rank = permit_rank(status)
        worst[project_id] = min(worst.get(project_id, rank), rank)
    return zones, {pid: PERMIT_SEVERITY[rank] for pid, rank in worst.items()}


def _inspection_facts(session: Session, on: dt.date | None) -> tuple[set[int], dict[int, int]]:
    rows = session.execute(
        text(
            "SELECT i.project_id, count(h.id) FILTER (WHERE h.rectification_state = 'open') "
            "FROM inspection i LEFT JOIN hazard h ON h.inspection_id = i.id "
            "WHERE CAST(:on AS date) IS NULL OR i.inspected_on <= :on GROUP BY i.project_id"
        ),
        {"on": on},
    ).all()
    return {r[0] for r in rows}, {r[0]: int(r[1]) for r in rows}


def load_inspection_records(
    session: Session, portfolio: Portfolio, *, on: dt.date | None = None
) -> list[InspectionRecord]:
    """Return the inspections of the portfolio's projects as records (one per hazard)."""
    codes = portfolio.codes
    if not codes:
        return []
    rows = session.execute(
        text(
            "SELECT i.id, i.project_id, i.kind, i.round_or_stage, i.inspected_on, "
            "h.description, h.major, h.rectification_state, h.deadline "
            "FROM inspection i LEFT JOIN hazard h ON h.inspection_id = i.id "
            "WHERE i.project_id IN :ids AND (CAST(:on AS date) IS NULL OR i.inspected_on <= :on) "
            "ORDER BY i.inspected_on, i.id, h.id"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(codes), "on": on},
    ).mappings().all()
    records = []
    for row in rows:
        has_hazard = row["description"] is not None
        records.append(
            InspectionRecord(
                project_id=codes[row["project_id"]],
                kind=InspectionKind(row["kind"]),
                date=row["inspected_on"],
                round_or_stage=row["round_or_stage"],
                findings=row["description"] or "",
                major_hazard=bool(row["major"]),
                rectification_state=(
                    HazardState(row["rectification_state"]) if has_hazard else None
                ),
                rectification_deadline=row["deadline"],
                inspection_id=str(row["id"]),
            )
        )
    return records
