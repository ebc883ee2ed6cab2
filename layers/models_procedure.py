"""Tables of the protection procedure: answers, owner reviews, documents, supervision,
start notices, damage reports, violations, notifications, organisations, calendar.

Imported at the end of ``layers.models`` so that ``Base.metadata`` holds them too.
Migration 0009 creates them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import Geometry

from layers.models import Base
from spatial_rules.crs import STORAGE_EPSG

OWNER_DECISIONS = (
    "no_objection", "protection_plan_required", "on_site_supervision_required", "relocation_required",
)


def _tz(**kw):
    return mapped_column(DateTime(timezone=True), **kw)


class Organisation(Base):
    """A builder or pipeline owner organisation: contacts and group-robot channels."""

    __tablename__ = "organisation"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    contact_person: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(64))
    emergency_phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(Text)
    wecom_webhook_url: Mapped[str | None] = mapped_column(Text)
    dingtalk_webhook_url: Mapped[str | None] = mapped_column(Text)
    dingtalk_secret: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = _tz(server_default=func.now())

    __table_args__ = (CheckConstraint("kind IN ('builder', 'utility')", name="kind"),)


class CalendarDay(Base):
    """A holiday or adjusted working day the office adds before the calendar library has it."""

    __tablename__ = "calendar_day"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(Text)


class AnswerLetter(Base):
    """A numbered, immutable answer (查询答复书) to one screening of a project."""

    __tablename__ = "answer_letter"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("construction_project.id"))
    reason: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    valid_until: Mapped[dt.date] = mapped_column(Date)
    rule_set: Mapped[str] = mapped_column(String(80))
    verification_code: Mapped[str] = mapped_column(String(16))
    issued_by: Mapped[str | None] = mapped_column(String(64))
    superseded_at: Mapped[dt.datetime | None] = _tz()
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("answer_letter.id"))
    expiry_notified_at: Mapped[dt.datetime | None] = _tz()
    snapshot = mapped_column(JSONB, nullable=False)

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_answer_letter_district", "district"),
        CheckConstraint("reason IN ('registration', 'change', 'renewal')", name="reason"),
        Index("ix_answer_letter_project_id", "project_id"),
        Index("ix_answer_letter_superseded_by", "superseded_by"),
        Index("uq_answer_letter_current", "project_id", unique=True,
              postgresql_where=text("superseded_at IS NULL")),
    )


class OwnerReview(Base):
    """A new conflict routed to its pipeline owner, with a reply deadline in working days."""

    __tablename__ = "owner_review"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    conflict_id: Mapped[int] = mapped_column(ForeignKey("pipeline_conflict.id"), unique=True)
    owner: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    due_on: Mapped[dt.date] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None] = _tz()
    replied_by: Mapped[str | None] = mapped_column(String(64))
    # The owner's word on the builder's protection plan: agreed / changes_requested.
    plan_decision: Mapped[str | None] = mapped_column(String(24))
    plan_decided_at: Mapped[dt.datetime | None] = _tz()

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_owner_review_district", "district"),
        CheckConstraint("decision IS NULL OR decision IN ("
                        + ", ".join(f"'{d}'" for d in OWNER_DECISIONS) + ")", name="decision"),
        CheckConstraint("plan_decision IS NULL OR plan_decision IN ('agreed', 'changes_requested')",
                        name="plan_decision"),
        Index("ix_owner_review_owner_due_on", "owner", "due_on"),
    )


class SupervisionVisit(Base):
    """An on-site supervision visit (现场监护) the owner schedules and then records."""

    __tablename__ = "supervision_visit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    conflict_id: Mapped[int] = mapped_column(ForeignKey("pipeline_conflict.id"))
    scheduled_on: Mapped[dt.date] = mapped_column(Date)
    person: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(64))
    arrived_at: Mapped[dt.datetime | None] = _tz()
    left_at: Mapped[dt.datetime | None] = _tz()
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_supervision_visit_district", "district"),
        CheckConstraint("left_at IS NULL OR arrived_at IS NULL OR left_at >= arrived_at",
                        name="times"),
        Index("ix_supervision_visit_conflict_id", "conflict_id"),
    )


class StartNotice(Base):
    """A builder's start notice (开工告知) to the owners of the pipelines its project touches."""

    __tablename__ = "start_notice"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("construction_project.id"))
    planned_start: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    submitted_by: Mapped[str | None] = mapped_column(String(64))

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (Index("ix_start_notice_project_id", "project_id"),
                      Index("ix_start_notice_district", "district"))


class DamageReport(Base):
    """A report of damage to a gas pipeline; the time to acknowledgement is kept."""

    __tablename__ = "damage_report"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reported_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    reported_by: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = _tz()
    location = mapped_column(Geometry("POINT", srid=STORAGE_EPSG, spatial_index=False),
                             nullable=False)
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("gas_pipeline.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("construction_project.id"))
    description: Mapped[str] = mapped_column(Text)
    had_valid_answer: Mapped[bool | None] = mapped_column(Boolean)
    had_approved_permit: Mapped[bool | None] = mapped_column(Boolean)
    acknowledged_at: Mapped[dt.datetime | None] = _tz()
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    # The district (adcode) of ``location``, filled by the database (migration 0013).
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_damage_report_pipeline_id", "pipeline_id"),
        Index("ix_damage_report_project_id", "project_id"),
        Index("ix_damage_report_district", "district"),
    )


class Violation(Base):
    """Work started without protection procedures (施工未办理保护手续)."""

    __tablename__ = "violation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("construction_project.id"))
    kind: Mapped[str] = mapped_column(String(24))
    message: Mapped[str] = mapped_column(Text)
    detail = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    acknowledged_at: Mapped[dt.datetime | None] = _tz()
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_violation_district", "district"),
        CheckConstraint("kind IN ('no_permit', 'answer_expired', 'no_answer')", name="kind"),
        Index("ix_violation_project_id", "project_id"),
    )


class ProcedureDocument(Base):
    """A PDF or image of the procedure: an owner's reply, a protection plan, visit or damage photos."""

    __tablename__ = "procedure_document"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    owner_review_id: Mapped[int | None] = mapped_column(ForeignKey("owner_review.id"))
    permit_id: Mapped[int | None] = mapped_column(ForeignKey("permit.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_visit.id"))
    damage_report_id: Mapped[int | None] = mapped_column(ForeignKey("damage_report.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    uploaded_by: Mapped[str | None] = mapped_column(String(64))

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_procedure_document_district", "district"),
        CheckConstraint("kind IN ('owner_reply', 'protection_plan', 'visit_photo', 'damage_photo')",
                        name="kind"),
        CheckConstraint("size_bytes > 0 AND size_bytes <= 20000000", name="size_bytes"),
        CheckConstraint(
            "num_nonnulls(owner_review_id, permit_id, visit_id, damage_report_id) = 1", name="owner"),
        Index("ix_procedure_document_owner_review_id", "owner_review_id"),
        Index("ix_procedure_document_permit_id", "permit_id"),
        Index("ix_procedure_document_visit_id", "visit_id"),
        Index("ix_procedure_document_damage_report_id", "damage_report_id"),
    )


class Notification(Base):
    """One message in one user's inbox; the same event reaches a user once (dedup_key)."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    event: Mapped[str] = mapped_column(String(40))
    dedup_key: Mapped[str] = mapped_column(String(160))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    entity: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("construction_project.id"))
    created_at: Mapped[dt.datetime] = _tz(server_default=func.now())
    read_at: Mapped[dt.datetime | None] = _tz()

    # The district of the row (migration 0018): filled by the database from the row it
    # follows; row-level security compares it with the transaction's district.
    district: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_notification_district", "district"),
        Index("uq_notification_user_id_dedup_key", "user_id", "dedup_key", unique=True),
        Index("ix_notification_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),
        Index("ix_notification_project_id", "project_id"),
    )
