"""Spot-check stage plans drawn from stored data, stored exactly as drawn.

A stage is drawn once (``gisapp campaign plan --db --stage N``) on top of the stored
earlier stages and kept with its seed, its picks and the campaign settings it was drawn
with, so the map, the API and the report judge it against those settings.

Plans are per (year, stage, district office): in a whole-city deployment each district
office draws its own from its own projects (row-level security lets it see no other);
the plan of the whole deployment (a one-district deployment's, or the city office's)
has no district. Every read and write here takes the plans of the scope the
transaction sees (``SEEN_DISTRICT``), so one office never reads another's.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from campaign.errors import CampaignError
from campaign.sampling import Pick, StagePlan, plan_stage
from campaign.settings import CampaignSettings, settings_for
from layers.campaign_loaders import Portfolio, campaign_key, load_portfolio
from layers.services import audit
from layers.services.actors import Actor
from layers.services.districts import SEEN_DISTRICT
from layers.services.errors import ConflictStateError
from layers.services.permissions import authorize

MAX_STORED_STAGE = 3  # the spot_check_plan stage check constraint


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
    settings: dict | None = None  # the campaign settings it was drawn with (None: before 0006)

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
            "SELECT id, year, stage, seed, candidates, quota, warnings, created_at, created_by, "
            "settings FROM spot_check_plan WHERE year = :year "
            f"AND district IS NOT DISTINCT FROM {SEEN_DISTRICT} ORDER BY stage"
        ),
        {"year": year},
    ).mappings().all()
    stored = []
    for plan in plans:
        # Deleted projects keep their code, so an old pick still reads as drawn.
        picks = session.execute(
            text(
                "SELECT p.registration_code, k.reason, k.risk_score, k.forced, p.organisation, "
                "EXISTS (SELECT 1 FROM construction_project o WHERE o.registration_code = "
                "p.registration_code AND o.id <> p.id AND o.deleted_at IS NULL) AS shared "
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
                    Pick(campaign_key(code, org, shared), plan["stage"], reason, float(score), (),
                         bool(forced))
                    for code, reason, score, forced, org, shared in picks
                ),
                warnings=tuple(plan["warnings"] or ()),
                created_at=plan["created_at"],
                created_by=plan["created_by"],
                settings=plan["settings"],
            )
        )
    return stored


def draw_stage(
    session: Session,
    settings: CampaignSettings,
    stage: int,
    actor: Actor,
    *,
    seed: int | None = None,
    redraw: bool = False,
) -> DrawnStage:
    """Draw stage ``stage`` from stored data after the stored earlier stages and store it.

    Earlier stages are never touched. A stored stage is redrawn only with ``redraw`` and
    only while no later stage is stored (later stages were drawn on top of it). Without a
    seed, the seed of the stored stage 1 is reused (or a fresh one drawn and recorded).
    """
    authorize(actor, "campaign.plan")
    spot_stage = settings.stage(stage)
    if stage > MAX_STORED_STAGE:
        raise CampaignError(
            f"数据库只能存储第 1–{MAX_STORED_STAGE} 阶段的抽查计划，不能存储第 {stage} 阶段。"
        )
    # Two planners of one office never draw the same year at once.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('spot_check_plan' || "
                         f"coalesce({SEEN_DISTRICT}, '')), :y)"), {"y": settings.year})
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
    portfolio = load_portfolio(session, year=settings.year)
    plan = plan_stage(
        portfolio.projects, stage, settings, seed, [s.as_stage_plan(settings) for s in earlier]
    )
    if existing is not None:
        session.execute(text("DELETE FROM spot_check_pick WHERE plan_id = :id"),
                        {"id": existing.plan_id})
        session.execute(text("DELETE FROM spot_check_plan WHERE id = :id"),
                        {"id": existing.plan_id})
    plan_id = _insert_plan(session, settings, plan, portfolio, actor)
    audit.record(
        session, actor, "spot_check_plan.redraw" if existing else "spot_check_plan.draw",
        "spot_check_plan", plan_id,
        {"year": settings.year, "stage": stage, "seed": seed, "picks": len(plan.picks),
         "candidates": len(plan.candidate_ids),
         "replaced_seed": existing.seed if existing else None},
    )
    return DrawnStage(plan, plan_id, earlier, portfolio, existing is not None)


def _fresh_seed() -> int:
    return secrets.randbelow(2**31)


def _insert_plan(
    session: Session, settings: CampaignSettings, plan: StagePlan, portfolio: Portfolio,
    actor: Actor,
) -> int:
    plan_id = session.execute(
        text(
            "INSERT INTO spot_check_plan (year, stage, seed, candidates, quota, warnings, "
            "created_by, settings, district) VALUES (:year, :stage, :seed, :candidates, :quota, "
            f":warnings, :by, CAST(:settings AS jsonb), {SEEN_DISTRICT}) RETURNING id"
        ).bindparams(bindparam("warnings", type_=JSONB)),
        {
            "year": settings.year,
            "stage": plan.stage,
            "seed": plan.seed,
            "candidates": len(plan.candidate_ids),
            "quota": plan.quota_needed,
            "warnings": list(plan.warnings),
            "by": actor.username,
            "settings": json.dumps(settings.to_mapping(), ensure_ascii=False),
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




def drawn_settings(session: Session, year: int) -> CampaignSettings | None:
    """Return the settings the year's latest stored stage was drawn with, if any."""
    stored = session.execute(
        text("SELECT settings FROM spot_check_plan WHERE year = :year AND settings IS NOT NULL "
             f"AND district IS NOT DISTINCT FROM {SEEN_DISTRICT} ORDER BY stage DESC LIMIT 1"),
        {"year": year},
    ).scalar_one_or_none()
    return None if stored is None else CampaignSettings.from_mapping(stored, year=year)


def judging_settings(session: Session, year: int, path: Path | None) -> CampaignSettings:
    """Return the settings a year is judged by: those its stored plan was drawn with, else
    the configured file (``GISAPP_CAMPAIGN_SETTINGS``), else the defaults."""
    return drawn_settings(session, year) or settings_for(year, path)
