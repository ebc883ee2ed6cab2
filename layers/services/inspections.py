"""Inspections of projects and their hazards, followed to closed-loop rectification (闭环整改).

Who may record which kind of inspection, rectify or verify a hazard is the permission
table's business (``inspection.record.<kind>``, ``hazard.rectify``, ``hazard.verify``);
the scope of the grant decides which projects the actor reaches (others are "not found").
Request models check types and lengths; this module checks the domain's rules: rounds and
stages, dates, the hazard state machine, evidence before ``rectified``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from layers.services import audit
from layers.services.actors import Actor
from layers.services.errors import ConflictStateError, FieldError, InvalidRequestError, NotFoundError
from layers.services.permissions import Access, authorize, scope_condition
from vocabulary import HazardState, InspectionKind, hazard_position, today_in_shanghai

KINDS = tuple(k.value for k in InspectionKind)
ROUND_LIMITS = {"self": 2, "spot": 3}  # the inspection table's round_or_stage check constraint
HAZARD_TRANSITIONS = {"open": ("rectified",), "rectified": ("verified",), "verified": ()}


@dataclass(frozen=True)
class NewHazard:
    """A problem found during an inspection; it starts open (未整改)."""

    description: str
    major: bool = False
    deadline: object = None  # YYYY-MM-DD text or a date; None: no deadline


@dataclass(frozen=True)
class NewInspection:
    """An inspection to record: its kind, round or stage, day, and what was found."""

    kind: str
    round_or_stage: int | None
    inspected_on: object  # YYYY-MM-DD text or a date
    organisation: str | None = None
    findings: str | None = None
    hazards: Sequence[NewHazard] = ()



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


def _text(value: str | None) -> str | None:
    """Return stripped text, None when empty."""
    value = (value or "").strip()
    return value or None


def _project_row(session: Session, project_id: int, access: Access, *, lock: bool = False):
    scope, scope_params = scope_condition(access, project="construction_project")
    row = session.execute(
        text(
            "SELECT id, registration_code, organisation FROM construction_project "
            f"WHERE id = :id AND deleted_at IS NULL AND {scope}" + (" FOR SHARE" if lock else "")
        ),
        {"id": project_id, **scope_params},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
    return row


def project_id_for_code(session: Session, code: str, organisation: str | None = None) -> int:
    """Return the id of the live project with registration code ``code`` (of ``organisation``).

    Codes are unique per organisation (migration 0017): a code two organisations use
    needs the organisation named. For the command line, whose operator sees everything.
    """
    rows = session.execute(
        text("SELECT id, organisation FROM construction_project WHERE registration_code = :c "
             "AND deleted_at IS NULL AND (CAST(:org AS text) IS NULL "
             "OR coalesce(organisation, '') = :org) ORDER BY organisation NULLS FIRST"),
        {"c": code, "org": organisation},
    ).all()
    if not rows:
        owner = f"（单位 {organisation}）" if organisation is not None else ""
        raise NotFoundError(f"项目编号 {code}{owner} 不存在（或已删除）")
    if len(rows) > 1:
        orgs = "、".join(r.organisation or "（无所属单位）" for r in rows)
        raise InvalidRequestError(
            f"项目编号 {code} 在多个单位下都有项目（{orgs}），请用 --project-organisation 指定单位")
    return rows[0].id


def record_inspection(
    session: Session, project_id: int, actor: Actor, new: NewInspection, *,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Store an inspection of a project with its hazards (all open); return it as a dict."""
    if new.kind not in KINDS:
        raise InvalidRequestError(
            f"字段 kind：未知检查类型“{new.kind}”（可用：self 自查、third_party 第三方检查、spot 区级抽查）"
        )
    access = authorize(actor, f"inspection.record.{new.kind}")
    _check_round(new.kind, new.round_or_stage)
    day = parse_day(new.inspected_on, "inspected_on")
    today = today or today_in_shanghai()
    if day > today:
        raise InvalidRequestError(
            f"字段 inspected_on：检查日期 {day} 晚于今天 {today}，不能预先记录检查"
        )
    if day.year < 2000:
        raise InvalidRequestError(f"字段 inspected_on：检查日期 {day} 过早")
    organisation = _text(new.organisation)
    if access.project_organisation is not None:  # own projects: their own organisation's check
        organisation = organisation or access.project_organisation
    hazards = [_hazard_values(h, i, day) for i, h in enumerate(new.hazards)]
    project = _project_row(session, project_id, access, lock=True)
    inspection_id = session.execute(
        text(
            "INSERT INTO inspection (project_id, kind, round_or_stage, inspected_on, "
            "organisation, findings, created_by) VALUES (:p, :k, :r, :d, :o, :f, :by) RETURNING id"
        ),
        {"p": project_id, "k": new.kind, "r": new.round_or_stage, "d": day, "o": organisation,
         "f": _text(new.findings), "by": actor.username},
    ).scalar_one()
    for hazard in hazards:
        session.execute(
            text(
                "INSERT INTO hazard (inspection_id, description, major, deadline) "
                "VALUES (:i, :desc, :major, :deadline)"
            ),
            {"i": inspection_id, **hazard},
        )
    audit.record(
        session, actor, "inspection.create", "inspection", inspection_id,
        {"project_id": project_id, "project_code": project["registration_code"],
         "kind": new.kind, "round_or_stage": new.round_or_stage, "inspected_on": day.isoformat(),
         "hazards": len(hazards), "major_hazards": sum(h["major"] for h in hazards)},
    )
    return get_inspection(session, inspection_id, access)


def _check_round(kind: str, round_or_stage: int | None) -> None:
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
    if not 1 <= round_or_stage <= limit:
        raise InvalidRequestError(
            f"字段 round_or_stage：{what}只能是 1–{limit}，而不是 {round_or_stage}"
        )


def _hazard_values(hazard: NewHazard, index: int, inspected_on: dt.date) -> dict[str, Any]:
    """Check the hazard at 0-based ``index`` of the request's list; return its column values."""
    description = _text(hazard.description)
    if description is None:
        raise _hazard_error(index, "description", "描述不能为空")
    deadline = hazard.deadline
    if deadline is not None:
        try:
            deadline = parse_day(deadline, "deadline")
        except InvalidRequestError:
            raise _hazard_error(index, "deadline", f"整改期限“{deadline}”无法识别，"
                                                   "请写成 YYYY-MM-DD，例如 2026-05-31") from None
        if deadline < inspected_on:
            raise _hazard_error(index, "deadline",
                                f"整改期限 {deadline} 早于检查日期 {inspected_on}")
    return {"desc": description, "major": hazard.major, "deadline": deadline}


def _hazard_error(index: int, name: str, what: str) -> FieldError:
    """A refusal of one hazard's field: "第 1 条隐患" for the reader (counted from 1), and the
    request's path ``hazards.0.deadline`` as the machine-readable field, as the API's
    validation problems name a list's items (counted from 0)."""
    return FieldError(f"hazards.{index}.{name}", f"{hazard_position(index)}的{what}")


_INSPECTION_SELECT = (
    "SELECT i.id, i.project_id, p.registration_code AS project_code, i.kind, i.round_or_stage, "
    "i.inspected_on, i.organisation, i.findings, i.created_at, i.created_by "
    "FROM inspection i JOIN construction_project p ON p.id = i.project_id"
)


def get_inspection(session: Session, inspection_id: int, access: Access) -> dict[str, Any]:
    """Return one inspection ``access`` reaches, with its hazards and evidence metadata."""
    scope, scope_params = scope_condition(access)
    row = session.execute(
        text(_INSPECTION_SELECT + f" WHERE i.id = :id AND {scope}"),
        {"id": inspection_id, **scope_params},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"检查记录 {inspection_id} 不存在")
    return _with_details(session, [dict(row)])[0]


def list_inspections(session: Session, project_id: int, access: Access) -> list[dict[str, Any]]:
    """Return a project's inspections, newest first, with hazards and evidence metadata."""
    _project_row(session, project_id, access)
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
    for row in evidence:
        item = dict(row)
        files[item.pop("owner")].append(item)
    for inspection in inspections:
        inspection["kind_zh"] = InspectionKind(inspection["kind"]).label
        inspection["hazards"] = by_inspection.get(inspection["id"], [])
        inspection["evidence"] = files.get(inspection["id"], [])
    return inspections


def rectify_hazard(
    session: Session, hazard_id: int, state: str, actor: Actor, *, note: str | None = None
) -> dict[str, Any]:
    """Move a hazard along open -> rectified (with evidence) -> verified; return the hazard."""
    if state not in ("rectified", "verified"):
        raise InvalidRequestError(
            f"字段 state：只能改为 rectified（已整改）或 verified（已复核），而不是“{state}”"
        )
    access = authorize(actor, "hazard.rectify" if state == "rectified" else "hazard.verify")
    scope, scope_params = scope_condition(access)
    row = session.execute(
        text(
            "SELECT h.id, h.inspection_id, h.rectification_state, h.major, "
            "p.registration_code FROM hazard h JOIN inspection i ON i.id = h.inspection_id "
            f"JOIN construction_project p ON p.id = i.project_id WHERE h.id = :id AND {scope} "
            "FOR UPDATE OF h"
        ),
        {"id": hazard_id, **scope_params},
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
            {"id": hazard_id, "by": actor.username},
        )
    # The hazard table has no note column: the note lives in the audit trail.
    audit.record(
        session, actor, f"hazard.{state}", "hazard", hazard_id,
        {"from": current, "to": state, "note": _text(note), "inspection_id": row["inspection_id"]},
    )
    inspection = get_inspection(session, row["inspection_id"], access)
    return next(h for h in inspection["hazards"] if h["id"] == hazard_id)
