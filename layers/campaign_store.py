"""Stored campaign data: rows -> campaign records, stage plans, inspections, hazards, evidence.

All SQL of the inspection campaign lives here; the pure logic stays in ``campaign``.

How stored rows become ``campaign.model`` records:

- A live project becomes a ``ProjectRecord`` keyed by its registration code when it has a
  start date and is under construction or suspended (still building: no end date) or
  completed (end date = ``planned_completion_date``). Planned projects, projects without
  a start date and completed ones without a completion date are skipped and reported.
- ``zone`` is the most severe zone among its open conflicts; ``permit_status`` is the
  worst permit state among them (approved only when every permit is approved or not
  required); ``open_hazards`` counts hazards still ``open``; ``inspected`` = any inspection.
- ``InspectionRecord`` carries at most one problem, so an inspection with k hazards gives
  k records (one per hazard, same kind, date and round) and one without hazards gives one
  record without a problem; free-text findings of stored inspections are notes, not hazards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from campaign.compliance import DutyStatus, ProjectCompliance, assess_compliance, stage_progress
from campaign.errors import CampaignError
from campaign.model import InspectionRecord, ProjectRecord
from campaign.sampling import Pick, StagePlan, plan_stage
from campaign.settings import CampaignSettings
from campaign.statistics import NO_TOWNSHIP, StatisticsTables, monthly_statistics
from layers.services import audit
from layers.services.errors import (
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from vocabulary import (
    PERMIT_SEVERITY,
    HazardState,
    InspectionKind,
    PermitState,
    Zone,
    permit_rank,
    today_in_shanghai,
)

MAX_EVIDENCE_BYTES = 20_000_000  # the evidence_file size check constraint (20 MB)
# Allow-listed evidence types and the leading bytes that identify them.
EVIDENCE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
EVIDENCE_EXTENSION = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
KINDS = tuple(k.value for k in InspectionKind)
ROUND_LIMITS = {"self": 2, "spot": 3}  # the inspection table's round_or_stage check constraint
RECORDER_ROLES = frozenset({"gas_office", "inspector"})  # builders: own self-inspections only
VERIFIER_ROLES = frozenset({"gas_office", "inspector"})
READER_ROLES = frozenset({"gas_office", "inspector", "builder"})
HAZARD_TRANSITIONS = {"open": ("rectified",), "rectified": ("verified",), "verified": ()}
MAX_TEXT = 5000
MAX_STORED_STAGE = 3  # the spot_check_plan stage check constraint
MAX_HAZARDS = 200
MAX_FILENAME = 200


@dataclass(frozen=True)
class CliActor:
    """The actor of writes made from the command line (no service user)."""

    username: str
    id: None = None
    role: str = "cli"
    organisation: str | None = None


# ---------------------------------------------------------------------------------------------
# Stored rows -> campaign records
# ---------------------------------------------------------------------------------------------


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


def load_portfolio(session: Session, *, on: dt.date | None = None) -> Portfolio:
    """Return the live projects as ``ProjectRecord``; hazards and inspections count up to ``on``."""
    rows = session.execute(
        text(
            "SELECT id, registration_code, kind, status, start_date, planned_completion_date, "
            "township, hazardous, insured, under_supervision FROM construction_project "
            "WHERE deleted_at IS NULL ORDER BY registration_code"
        )
    ).mappings().all()
    zones, permits = _conflict_facts(session)
    inspected, open_hazards = _inspection_facts(session, on)
    projects: list[ProjectRecord] = []
    db_ids: dict[str, int] = {}
    skipped: list[str] = []
    for row in rows:
        code, status = row["registration_code"], row["status"]
        start, end = row["start_date"], row["planned_completion_date"]
        if start is None:
            skipped.append(f"{code}：缺少开工日期")
            continue
        if status == "planned":
            skipped.append(f"{code}：尚未开工（状态 planned）")
            continue
        if status == "completed":
            if end is None:
                skipped.append(f"{code}：已竣工但缺少竣工日期")
                continue
        else:  # under construction or suspended: the site is still open
            end = None
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


# ---------------------------------------------------------------------------------------------
# Spot-check stage plans
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredStage:
    """A spot-check stage as stored: kept exactly as drawn."""

    plan_id: int
    year: int
    stage: int
    seed: int
    candidates: int
    quota_needed: int
    picks: tuple[Pick, ...]
    warnings: tuple[str, ...]
    created_at: dt.datetime
    created_by: str | None

    def as_stage_plan(self, settings: CampaignSettings) -> StagePlan:
        """Return the stage as an earlier plan for ``plan_stage`` (candidate ids are not stored)."""
        spot_stage = settings.stage(self.stage)
        return StagePlan(
            stage=self.stage,
            window_start=spot_stage.window_start,
            window_end=spot_stage.window_end,
            seed=self.seed,
            quota=settings.spot_check_quota,
            candidate_ids=(),
            quota_needed=self.quota_needed,
            picks=self.picks,
            warnings=self.warnings,
        )


@dataclass(frozen=True)
class DrawnStage:
    """The outcome of drawing one stage from stored data."""

    plan: StagePlan
    plan_id: int
    earlier: tuple[StoredStage, ...]
    portfolio: Portfolio
    replaced: bool


def load_stage_plans(session: Session, year: int) -> list[StoredStage]:
    """Return the stored stages of ``year`` in stage order; picks forced first, then by risk."""
    plans = session.execute(
        text(
            "SELECT id, year, stage, seed, candidates, quota, warnings, created_at, created_by "
            "FROM spot_check_plan WHERE year = :year ORDER BY stage"
        ),
        {"year": year},
    ).mappings().all()
    stored = []
    for plan in plans:
        # Deleted projects keep their code, so an old pick still reads as drawn.
        picks = session.execute(
            text(
                "SELECT p.registration_code, k.reason, k.risk_score, k.forced "
                "FROM spot_check_pick k JOIN construction_project p ON p.id = k.project_id "
                "WHERE k.plan_id = :plan ORDER BY k.forced DESC, k.risk_score DESC, "
                "p.registration_code"
            ),
            {"plan": plan["id"]},
        ).all()
        stored.append(
            StoredStage(
                plan_id=plan["id"],
                year=plan["year"],
                stage=plan["stage"],
                seed=int(plan["seed"]),
                candidates=plan["candidates"],
                quota_needed=plan["quota"],
                picks=tuple(
                    Pick(code, plan["stage"], reason, float(score), (), bool(forced))
                    for code, reason, score, forced in picks
                ),
                warnings=tuple(plan["warnings"] or ()),
                created_at=plan["created_at"],
                created_by=plan["created_by"],
            )
        )
    return stored


def draw_stage(
    session: Session,
    settings: CampaignSettings,
    stage: int,
    actor,
    *,
    seed: int | None = None,
    redraw: bool = False,
) -> DrawnStage:
    """Draw stage ``stage`` from stored data after the stored earlier stages and store it.

    Earlier stages are never touched. A stored stage is redrawn only with ``redraw`` and
    only while no later stage is stored (later stages were drawn on top of it). Without a
    seed, the seed of the stored stage 1 is reused (or a fresh one drawn and recorded).
    """
    spot_stage = settings.stage(stage)
    if stage > MAX_STORED_STAGE:
        raise CampaignError(
            f"数据库只能存储第 1–{MAX_STORED_STAGE} 阶段的抽查计划，不能存储第 {stage} 阶段。"
        )
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('spot_check_plan'), :y)"),
                    {"y": settings.year})  # two planners never draw the same year at once
    stored = load_stage_plans(session, settings.year)
    by_stage = {s.stage: s for s in stored}
    missing = [n for n in range(1, stage) if n not in by_stage]
    if missing:
        raise CampaignError(
            f"{settings.year} 年第 {missing[0]} 阶段抽查计划尚未抽取；各阶段须按顺序抽取，"
            f"请先执行 gisapp campaign plan --db --stage {missing[0]}。"
        )
    later = sorted(n for n in by_stage if n > stage)
    existing = by_stage.get(stage)
    if existing is not None and not redraw:
        raise ConflictStateError(
            f"{settings.year} 年{spot_stage.label}已于 {existing.created_at:%Y-%m-%d %H:%M} 抽取"
            f"（随机种子 {existing.seed}，{len(existing.picks)} 个项目）；已存储的阶段保持原样。"
            "如确需重抽，请加 --redraw。"
        )
    if existing is not None and later:
        raise ConflictStateError(
            f"{settings.year} 年第 {stage} 阶段之后的第 {'、'.join(map(str, later))} 阶段已抽取，"
            f"它们以第 {stage} 阶段为依据，因此第 {stage} 阶段不能再重抽。"
        )
    if seed is None:
        seed = by_stage[1].seed if 1 in by_stage and stage != 1 else _fresh_seed()
    earlier = tuple(by_stage[n] for n in range(1, stage))
    portfolio = load_portfolio(session)
    plan = plan_stage(
        portfolio.projects, stage, settings, seed, [s.as_stage_plan(settings) for s in earlier]
    )
    if existing is not None:
        session.execute(text("DELETE FROM spot_check_pick WHERE plan_id = :id"),
                        {"id": existing.plan_id})
        session.execute(text("DELETE FROM spot_check_plan WHERE id = :id"),
                        {"id": existing.plan_id})
    plan_id = _insert_plan(session, settings.year, plan, portfolio, actor)
    audit.record(
        session, actor, "spot_check_plan.redraw" if existing else "spot_check_plan.draw",
        "spot_check_plan", plan_id,
        {"year": settings.year, "stage": stage, "seed": seed, "picks": len(plan.picks),
         "candidates": len(plan.candidate_ids),
         "replaced_seed": existing.seed if existing else None},
    )
    return DrawnStage(plan, plan_id, earlier, portfolio, existing is not None)


def _fresh_seed() -> int:
    import secrets

    return secrets.randbelow(2**31)


def _insert_plan(
    session: Session, year: int, plan: StagePlan, portfolio: Portfolio, actor
) -> int:
    plan_id = session.execute(
        text(
            "INSERT INTO spot_check_plan (year, stage, seed, candidates, quota, warnings, "
            "created_by) VALUES (:year, :stage, :seed, :candidates, :quota, :warnings, :by) "
            "RETURNING id"
        ).bindparams(bindparam("warnings", type_=JSONB)),
        {
            "year": year,
            "stage": plan.stage,
            "seed": plan.seed,
            "candidates": len(plan.candidate_ids),
            "quota": plan.quota_needed,
            "warnings": list(plan.warnings),
            "by": getattr(actor, "username", None),
        },
    ).scalar_one()
    if plan.picks:
        session.execute(
            text(
                "INSERT INTO spot_check_pick (plan_id, project_id, reason, risk_score, forced) "
                "VALUES (:plan, :project, :reason, :score, :forced)"
            ),
            [
                {
                    "plan": plan_id,
                    "project": portfolio.db_ids[pick.project_id],
                    "reason": pick.reason,
                    "score": pick.risk_score,
                    "forced": pick.forced,
                }
                for pick in plan.picks
            ],
        )
    return plan_id


# ---------------------------------------------------------------------------------------------
# Compliance and statistics from stored data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignStatus:
    """Compliance of the stored projects on one date, with the report tables."""

    on: dt.date
    portfolio: Portfolio
    inspections: tuple[InspectionRecord, ...]
    rows: tuple[ProjectCompliance, ...]
    tables: StatisticsTables
    settings: CampaignSettings = field(repr=False)


def campaign_status(session: Session, settings: CampaignSettings, on: dt.date) -> CampaignStatus:
    """Return compliance and the monthly statistics tables as of the end of day ``on``."""
    portfolio = load_portfolio(session, on=on)
    records = load_inspection_records(session, portfolio, on=on)
    rows = assess_compliance(portfolio.projects, records, settings, on)
    tables = monthly_statistics(portfolio.projects, records, settings, on)
    return CampaignStatus(on, portfolio, tuple(records), tuple(rows), tables, settings)


def duty_key(index: int, name_count: int) -> str:
    """Return the English key of the index-th duty (self rounds, third party, spot check)."""
    if index < name_count - 2:
        return f"self_inspection_round_{index + 1}"
    return "third_party" if index == name_count - 2 else "spot_check"


def status_summary(status: CampaignStatus) -> dict[str, Any]:
    """Return the per-township summary with English keys (for the API)."""
    groups: dict[str, list[ProjectCompliance]] = defaultdict(list)
    for row in status.rows:
        groups[row.township or NO_TOWNSHIP].append(row)
    townships = [_township_summary(name, groups[name]) for name in sorted(groups)]
    progress = stage_progress(
        status.portfolio.projects, status.inspections, status.settings, status.on
    )
    return {
        "date": status.on.isoformat(),
        "year": status.settings.year,
        "projects": len(status.rows),
        "skipped_projects": list(status.portfolio.skipped),
        "townships": townships,
        "total": _township_summary(None, list(status.rows)),
        "stages": [
            {
                "stage": p.stage.number,
                "window_start": p.stage.window_start.isoformat(),
                "window_end": p.stage.window_end.isoformat(),
                "candidates": p.candidates,
                "quota_needed": p.quota_needed,
                "checked": p.checked,
                "status": p.status.name.lower(),
                "status_zh": p.status.value,
            }
            for p in progress
        ],
    }


def _township_summary(name: str | None, rows: Sequence[ProjectCompliance]) -> dict[str, Any]:
    duties: dict[str, dict[str, Any]] = {}
    count = len(rows[0].duties) if rows else 0
    for index in range(count):
        statuses = [r.duties[index].status for r in rows]
        required = sum(s is not DutyStatus.NOT_REQUIRED for s in statuses)
        duties[duty_key(index, count)] = {
            "name_zh": rows[0].duties[index].name,
            "due": rows[0].duties[index].due.isoformat(),
            "required": required,
            "done": sum(s in (DutyStatus.DONE, DutyStatus.DONE_LATE) for s in statuses),
            "done_late": sum(s is DutyStatus.DONE_LATE for s in statuses),
            "overdue": sum(s is DutyStatus.OVERDUE for s in statuses),
        }
    return {
        "township": name,
        "projects": len(rows),
        "under_construction": sum(r.under_construction for r in rows),
        "duties": duties,
        "supervision_missing": sum(r.supervision_missing for r in rows),
        "unpermitted_conflicts": sum(r.unpermitted_conflict for r in rows),
        "open_hazards": sum(r.open_hazards for r in rows),
        "overdue_hazards": sum(r.overdue_hazards for r in rows),
        "overdue_major_hazards": sum(r.overdue_major_hazards for r in rows),
        "projects_with_issues": sum(bool(r.issues) for r in rows),
    }


# ---------------------------------------------------------------------------------------------
# Recording inspections and hazards
# ---------------------------------------------------------------------------------------------


def local_today() -> dt.date:
    """Return today's date in Shanghai (inspection dates are Shanghai dates)."""
    return today_in_shanghai()


def parse_day(value: object, field_name: str) -> dt.date:
    """Parse a YYYY-MM-DD date (or pass a ``date`` through), naming ``field_name`` on error."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            day = None
        if day is not None and len(value.strip()) == 10:
            return day
    raise InvalidRequestError(
        f"字段 {field_name}：日期 “{value}” 无法识别，请写成 YYYY-MM-DD，例如 2026-05-31"
    )


def _clean(value: object, field_name: str, *, required: bool = False,
           max_len: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRequestError(f"字段 {field_name}：不能为空")
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"字段 {field_name}：必须是文字")
    value = value.strip()
    if len(value) > max_len:
        raise InvalidRequestError(f"字段 {field_name}：长度不能超过 {max_len} 个字符")
    return value


def _role(actor) -> str | None:
    return getattr(actor, "role", None)


def _visible_organisation(actor) -> str | None:
    """Builders see only their organisation's projects; None means no restriction."""
    return actor.organisation if _role(actor) == "builder" else None


def _check_reader(actor) -> None:
    if _role(actor) not in READER_ROLES and _role(actor) != "cli":
        raise PermissionDeniedError(f"角色 {_role(actor)} 无权查看检查记录")


def _project_row(session: Session, project_id: int, actor, *, lock: bool = False):
    org = _visible_organisation(actor)
    row = session.execute(
        text(
            "SELECT id, registration_code, organisation FROM construction_project "
            "WHERE id = :id AND deleted_at IS NULL "
            "AND (CAST(:org AS text) IS NULL OR organisation = :org)"
            + (" FOR SHARE" if lock else "")
        ),
        {"id": project_id, "org": org},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
    return row


def project_id_for_code(session: Session, code: str) -> int:
    """Return the id of the live project with registration code ``code``."""
    project_id = session.execute(
        text("SELECT id FROM construction_project WHERE registration_code = :c "
             "AND deleted_at IS NULL"),
        {"c": code},
    ).scalar_one_or_none()
    if project_id is None:
        raise NotFoundError(f"项目编号 {code} 不存在（或已删除）")
    return project_id


def record_inspection(
    session: Session,
    project_id: int,
    actor,
    *,
    kind: str,
    round_or_stage: int | None,
    inspected_on: object,
    organisation: str | None = None,
    findings: str | None = None,
    hazards: Sequence[Mapping[str, Any]] = (),
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Store an inspection of a project with its hazards (all open); return it as a dict."""
    role = _role(actor)
    if role not in RECORDER_ROLES and role not in ("builder", "cli"):
        raise PermissionDeniedError(f"角色 {role} 无权记录检查（需要：检查人员或燃气管理所）")
    if kind not in KINDS:
        raise InvalidRequestError(
            f"字段 kind：未知检查类型“{kind}”（可用：self 自查、third_party 第三方检查、spot 区级抽查）"
        )
    if role == "builder" and kind != "self":
        raise PermissionDeniedError(
            f"建设单位只能记录本单位项目的自查，不能记录{InspectionKind(kind).label}（{kind}）"
        )
    _check_round(kind, round_or_stage)
    day = parse_day(inspected_on, "inspected_on")
    today = today or local_today()
    if day > today:
        raise InvalidRequestError(
            f"字段 inspected_on：检查日期 {day} 晚于今天 {today}，不能预先记录检查"
        )
    if day.year < 2000:
        raise InvalidRequestError(f"字段 inspected_on：检查日期 {day} 过早")
    organisation = _clean(organisation, "organisation", max_len=500)
    if role == "builder":
        organisation = organisation or actor.organisation
    findings = _clean(findings, "findings")
    if not isinstance(hazards, Sequence) or isinstance(hazards, str | bytes):
        raise InvalidRequestError("字段 hazards：必须是隐患列表")
    if len(hazards) > MAX_HAZARDS:
        raise InvalidRequestError(f"字段 hazards：一次最多记录 {MAX_HAZARDS} 项隐患")
    cleaned = [_hazard_values(h, i, day) for i, h in enumerate(hazards, start=1)]
    project = _project_row(session, project_id, actor, lock=True)
    inspection_id = session.execute(
        text(
            "INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on, "
            "organisation, findings, created_by) VALUES (:p, :k, :r, :d, :o, :f, :by) RETURNING id"
        ),
        {"p": project_id, "k": kind, "r": round_or_stage, "d": day, "o": organisation,
         "f": findings, "by": getattr(actor, "username", None)},
    ).scalar_one()
    for hazard in cleaned:
        session.execute(
            text(
                "INSERT INTO hazard (inspection_id, description, major, deadline) "
                "VALUES (:i, :desc, :major, :deadline)"
            ),
            {"i": inspection_id, **hazard},
        )
    audit.record(
        session, actor, "inspection.create", "inspection", inspection_id,
        {"project_id": project_id, "project_code": project["registration_code"], "kind": kind,
         "round_or_stage": round_or_stage, "inspected_on": day.isoformat(),
         "hazards": len(cleaned), "major_hazards": sum(h["major"] for h in cleaned)},
    )
    return get_inspection(session, inspection_id, actor)


def _check_round(kind: str, round_or_stage: object) -> None:
    if kind == "third_party":
        if round_or_stage is not None:
            raise InvalidRequestError(
                "字段 round_or_stage：第三方检查（third_party）不分轮次，请留空"
            )
        return
    limit = ROUND_LIMITS[kind]
    what = "自查轮次" if kind == "self" else "区级抽查阶段"
    if round_or_stage is None:
        label = InspectionKind(kind).label
        raise InvalidRequestError(f"字段 round_or_stage：{label}必须填写{what}（1–{limit}）")
    if isinstance(round_or_stage, bool) or not isinstance(round_or_stage, int) or not (
        1 <= round_or_stage <= limit
    ):
        raise InvalidRequestError(
            f"字段 round_or_stage：{what}只能是 1–{limit}，而不是 {round_or_stage}"
        )


def _hazard_values(hazard: object, index: int, inspected_on: dt.date) -> dict[str, Any]:
    where = f"hazards[{index}]"
    if not isinstance(hazard, Mapping):
        raise InvalidRequestError(f"字段 {where}：每项隐患须包含 description、major、deadline")
    unknown = sorted(set(hazard) - {"description", "major", "deadline"})
    if unknown:
        raise InvalidRequestError(f"字段 {where}：未知字段 {'、'.join(map(str, unknown))}")
    major = hazard.get("major", False)
    if not isinstance(major, bool):
        raise InvalidRequestError(f"字段 {where}.major：必须是 true 或 false")
    deadline = hazard.get("deadline")
    if deadline is not None:
        deadline = parse_day(deadline, f"{where}.deadline")
        if deadline < inspected_on:
            raise InvalidRequestError(
                f"字段 {where}.deadline：整改期限 {deadline} 早于检查日期 {inspected_on}"
            )
    return {
        "desc": _clean(hazard.get("description"), f"{where}.description", required=True),
        "major": major,
        "deadline": deadline,
    }


_INSPECTION_SELECT = (
    "SELECT i.id, i.project_id, p.registration_code AS project_code, i.kind, i.round_or_stage, "
    "i.inspected_on, i.organisation, i.findings, i.created_at, i.created_by "
    "FROM inspection i JOIN construction_project p ON p.id = i.project_id"
)


def get_inspection(session: Session, inspection_id: int, actor) -> dict[str, Any]:
    """Return one inspection with its hazards and evidence metadata."""
    _check_reader(actor)
    row = session.execute(
        text(_INSPECTION_SELECT + " WHERE i.id = :id "
             "AND (CAST(:org AS text) IS NULL OR p.organisation = :org)"),
        {"id": inspection_id, "org": _visible_organisation(actor)},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"检查记录 {inspection_id} 不存在")
    return _with_details(session, [dict(row)])[0]


def list_inspections(session: Session, project_id: int, actor) -> list[dict[str, Any]]:
    """Return a project's inspections, newest first, with hazards and evidence metadata."""
    _check_reader(actor)
    _project_row(session, project_id, actor)
    rows = session.execute(
        text(_INSPECTION_SELECT + " WHERE i.project_id = :p ORDER BY i.inspected_on DESC, i.id DESC"),
        {"p": project_id},
    ).mappings().all()
    return _with_details(session, [dict(r) for r in rows])


def _with_details(session: Session, inspections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [i["id"] for i in inspections]
    if not ids:
        return inspections
    hazards = session.execute(
        text(
            "SELECT id, inspection_id, description, major, rectification_state, deadline, "
            "rectified_at, verified_at, verified_by FROM hazard WHERE inspection_id IN :ids "
            "ORDER BY id"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ).mappings().all()
    hazard_ids = [h["id"] for h in hazards]
    evidence = session.execute(
        text(
            "SELECT e.id, coalesce(e.inspection_id, h.inspection_id) AS owner, e.hazard_id, "
            "e.filename, e.content_type, e.size_bytes, e.sha256, e.uploaded_at, e.uploaded_by "
            "FROM evidence_file e LEFT JOIN hazard h ON h.id = e.hazard_id "
            "WHERE e.inspection_id IN :ids OR e.hazard_id IN :hids ORDER BY e.id"
        ).bindparams(bindparam("ids", expanding=True), bindparam("hids", expanding=True)),
        {"ids": ids, "hids": hazard_ids or [-1]},
    ).mappings().all()
    by_inspection: dict[int, list] = defaultdict(list)
    for hazard in hazards:
        item = dict(hazard)
        item["rectification_state_zh"] = HazardState(item["rectification_state"]).label
        item["allowed_next"] = list(HAZARD_TRANSITIONS[item["rectification_state"]])
        by_inspection[item.pop("inspection_id")].append(item)
    files: dict[int, list] = defaultdict(list)
    for item in evidence:
        item = dict(item)
        files[item.pop("owner")].append(item)
    for inspection in inspections:
        inspection["kind_zh"] = InspectionKind(inspection["kind"]).label
        inspection["hazards"] = by_inspection.get(inspection["id"], [])
        inspection["evidence"] = files.get(inspection["id"], [])
    return inspections


def rectify_hazard(
    session: Session, hazard_id: int, state: str, actor, *, note: str | None = None
) -> dict[str, Any]:
    """Move a hazard along open -> rectified (with evidence) -> verified; return the hazard."""
    if state not in ("rectified", "verified"):
        raise InvalidRequestError(
            f"字段 state：只能改为 rectified（已整改）或 verified（已复核），而不是“{state}”"
        )
    role = _role(actor)
    if role not in READER_ROLES and role != "cli":
        raise PermissionDeniedError(f"角色 {role} 无权变更隐患整改状态")
    if state == "verified" and role not in VERIFIER_ROLES:
        raise PermissionDeniedError(
            f"角色 {role} 无权复核销项：只有检查人员或燃气管理所可将隐患标为已复核（verified）"
        )
    note = _clean(note, "note", max_len=2000)
    row = session.execute(
        text(
            "SELECT h.id, h.inspection_id, h.rectification_state, h.major, "
            "p.registration_code FROM hazard h JOIN inspection i ON i.id = h.inspection_id "
            "JOIN construction_project p ON p.id = i.project_id WHERE h.id = :id "
            "AND (CAST(:org AS text) IS NULL OR p.organisation = :org) FOR UPDATE OF h"
        ),
        {"id": hazard_id, "org": _visible_organisation(actor)},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"隐患 {hazard_id} 不存在")
    current = row["rectification_state"]
    if state not in HAZARD_TRANSITIONS[current]:
        allowed = "、".join(HAZARD_TRANSITIONS[current]) or "无（已闭环）"
        raise ConflictStateError(
            f"隐患 {hazard_id}（项目 {row['registration_code']}）当前状态为"
            f"“{HazardState(current).label}”（{current}），不能改为“{HazardState(state).label}”"
            f"（{state}）；允许的下一状态：{allowed}"
        )
    if state == "rectified":
        evidence = session.execute(
            text("SELECT count(*) FROM evidence_file WHERE hazard_id = :id"), {"id": hazard_id}
        ).scalar_one()
        if not evidence:
            raise ConflictStateError(
                f"隐患 {hazard_id}（项目 {row['registration_code']}）尚无整改证据：请先上传整改照片"
                f"或文件（POST /api/inspections/{row['inspection_id']}/evidence，表单字段 "
                f"hazard_id={hazard_id}），再标为已整改（rectified）"
            )
        session.execute(
            text("UPDATE hazard SET rectification_state = 'rectified', rectified_at = now() "
                 "WHERE id = :id"),
            {"id": hazard_id},
        )
    else:
        session.execute(
            text("UPDATE hazard SET rectification_state = 'verified', verified_at = now(), "
                 "verified_by = :by WHERE id = :id"),
            {"id": hazard_id, "by": getattr(actor, "username", None)},
        )
    # The hazard table has no note column: the note lives in the audit trail.
    audit.record(
        session, actor, f"hazard.{state}", "hazard", hazard_id,
        {"from": current, "to": state, "note": note, "inspection_id": row["inspection_id"]},
    )
    inspection = get_inspection(session, row["inspection_id"], actor)
    return next(h for h in inspection["hazards"] if h["id"] == hazard_id)


# ---------------------------------------------------------------------------------------------
# Evidence files
# ---------------------------------------------------------------------------------------------


class EvidenceTooLargeError(InvalidRequestError):
    """An evidence file exceeds the size limit (the API answers 413)."""


def too_large_message(size: int | None) -> str:
    """Return the Chinese message for an oversized evidence file."""
    got = f"（{size} 字节）" if size is not None else ""
    return (
        f"字段 file：证据文件过大{got}，单个文件上限 {MAX_EVIDENCE_BYTES // 1_000_000} MB"
        f"（{MAX_EVIDENCE_BYTES} 字节）；请压缩照片或拆分文件后重试"
    )


def detect_content_type(content: bytes) -> str | None:
    """Return the allow-listed type whose magic bytes start ``content``, else None."""
    for content_type, signatures in EVIDENCE_MAGIC.items():
        if any(content.startswith(sig) for sig in signatures):
            return content_type
    return None


def sanitise_filename(name: str | None, content_type: str) -> str:
    """Return a safe display name: no path, no control or shell characters, sane length."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\-()（）\u4e00-\u9fff ]+", "_", base).strip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if not stem:
        stem = "evidence"
    ext = f".{ext.lower()}" if ext else EVIDENCE_EXTENSION[content_type]
    return stem[: MAX_FILENAME - len(ext)] + ext[:16]


def add_evidence(
    session: Session,
    inspection_id: int,
    actor,
    *,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    hazard_id: int | None = None,
) -> dict[str, Any]:
    """Store an evidence file of an inspection (or one of its hazards); return its metadata."""
    role = _role(actor)
    if role not in READER_ROLES and role != "cli":
        raise PermissionDeniedError(f"角色 {role} 无权上传检查证据")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise EvidenceTooLargeError(too_large_message(len(content)))
    if not content:
        raise InvalidRequestError("字段 file：证据文件为空")
    declared = (content_type or "").split(";")[0].strip().lower()
    allowed = "、".join(EVIDENCE_MAGIC)
    if declared and declared != "application/octet-stream" and declared not in EVIDENCE_MAGIC:
        raise InvalidRequestError(f"字段 file：不接受类型 {declared}，只接受 {allowed}")
    detected = detect_content_type(content)
    if detected is None:
        raise InvalidRequestError(
            f"字段 file：文件 {filename or ''} 的内容不是 JPEG、PNG 或 PDF（文件头不符），只接受 {allowed}"
        )
    if declared in EVIDENCE_MAGIC and declared != detected:
        raise InvalidRequestError(
            f"字段 file：文件 {filename or ''} 声明为 {declared}，但内容是 {detected}（文件头不符）"
        )
    inspection = get_inspection(session, inspection_id, actor)  # visibility check
    if hazard_id is not None and hazard_id not in {h["id"] for h in inspection["hazards"]}:
        raise InvalidRequestError(f"字段 hazard_id：隐患 {hazard_id} 不属于检查记录 {inspection_id}")
    digest = hashlib.sha256(content).hexdigest()
    safe_name = sanitise_filename(filename, detected)
    evidence_id = session.execute(
        text(
            "INSERT INTO evidence_file (inspection_id, hazard_id, filename, content_type, "
            "size_bytes, sha256, content, uploaded_by) VALUES (:i, :h, :n, :t, :s, :sha, :c, :by) "
            "RETURNING id, uploaded_at"
        ),
        {"i": inspection_id, "h": hazard_id, "n": safe_name, "t": detected, "s": len(content),
         "sha": digest, "c": content, "by": getattr(actor, "username", None)},
    ).one()
    audit.record(
        session, actor, "evidence.upload", "evidence_file", evidence_id[0],
        {"inspection_id": inspection_id, "hazard_id": hazard_id, "filename": safe_name,
         "content_type": detected, "size_bytes": len(content), "sha256": digest},
    )
    return {"id": evidence_id[0], "inspection_id": inspection_id, "hazard_id": hazard_id,
            "filename": safe_name, "content_type": detected, "size_bytes": len(content),
            "sha256": digest, "uploaded_at": evidence_id[1],
            "uploaded_by": getattr(actor, "username", None)}


@dataclass(frozen=True)
class EvidenceBlob:
    """A stored evidence file with what is needed to serve it."""

    id: int
    filename: str
    content_type: str
    sha256: str
    content: bytes


def get_evidence(session: Session, evidence_id: int, actor) -> EvidenceBlob:
    """Return an evidence file the actor may see."""
    _check_reader(actor)
    row = session.execute(
        text(
            "SELECT e.id, e.filename, e.content_type, e.sha256, e.content "
            "FROM evidence_file e LEFT JOIN hazard h ON h.id = e.hazard_id "
            "JOIN inspection i ON i.id = coalesce(e.inspection_id, h.inspection_id) "
            "JOIN construction_project p ON p.id = i.project_id WHERE e.id = :id "
            "AND (CAST(:org AS text) IS NULL OR p.organisation = :org)"
        ),
        {"id": evidence_id, "org": _visible_organisation(actor)},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"证据文件 {evidence_id} 不存在")
    return EvidenceBlob(row[0], row[1], row[2], row[3], bytes(row[4]))
