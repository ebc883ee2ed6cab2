"""The protection procedure as it runs on site: protection plans, violations (施工未办理保护手续),
on-site supervision (现场监护), start notices (开工告知), damage reports, expiring answers.

Every write records an audit row and tells the people concerned through
``layers.services.notify`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.orm import Session

from layers.services.audit import record
from layers.services.documents import (
    check_uploads,
    list_documents,
    organisation_clause,
    scope_of_conflict,
    store_documents,
)
from layers.services.errors import (
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
)
from layers.services.notify import NO_CHANNELS, Channels, notify
from layers.services.owners import DECISION_ZH
from layers.services.permissions import authorize, scope_condition
from layers.services.workdays import overrides_between, working_days_between
from vocabulary import today_in_shanghai
from vocabulary.clock import SHANGHAI as LOCAL_TZ

MAX_TEXT = 2000
# The owner's reply that asks for on-site supervision (现场监护).
SUPERVISION_ASKED = "on_site_supervision_required"


def _clean(value: str | None, field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequestError(f"字段 {field}：不能为空")
    if len(value) > max_len:
        raise InvalidRequestError(f"字段 {field}：长度不能超过 {max_len} 个字符（收到 {len(value)} 个）")
    return value or None


def _day(value, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InvalidRequestError(f"字段 {field}：“{str(value)[:40]}”不是 YYYY-MM-DD 格式的日期") from exc


def _moment(value, field: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            raise InvalidRequestError(
                f"字段 {field}：“{str(value)[:40]}”不是日期时间（如 2026-12-01T09:30:00+08:00）") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)  # a local time on site is Shanghai time
    return moment


# --- Protection plans -------------------------------------------------------------------------

def upload_plan(session: Session, permit_id: int, actor, *, uploads: Sequence, note: str | None,
                channels: Channels = NO_CHANNELS) -> dict:
    """The builder uploads its protection plan (保护方案) to a permit; the owner is told."""
    authorize(actor, "plan.upload")
    note = _clean(note, "note")
    if not uploads:
        raise InvalidRequestError("字段 files：请至少上传一个保护方案文件（PDF 或图片）")
    checked = check_uploads(list(uploads))
    row = session.execute(text("SELECT conflict_id, status FROM permit WHERE id = :id"),
                          {"id": permit_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"保护手续 {permit_id} 不存在")
    conflict = scope_of_conflict(session, row.conflict_id, actor, action="plan.upload", lock=True)
    if conflict["closed_at"] is not None:
        raise ConflictStateError(f"保护手续 {permit_id} 的冲突已关闭（项目或管道已变更），不再办理")
    documents = store_documents(session, actor, "protection_plan", checked, permit_id=permit_id)
    # A new plan needs the owner's word again.
    session.execute(text("UPDATE owner_review SET plan_decision = NULL, plan_decided_at = NULL "
                         "WHERE conflict_id = :c"), {"c": row.conflict_id})
    text_zh = (f"{getattr(actor, 'organisation', None) or actor.username} 上传保护方案："
               + "、".join(d["filename"] for d in documents) + (f"；{note}" if note else ""))
    event_id = session.execute(text(
        "INSERT INTO permit_event (permit_id, username, from_status, to_status, note, event) "
        "VALUES (:p, :who, :s, :s, :note, 'plan_uploaded') RETURNING id"),
        {"p": permit_id, "who": actor.username, "s": row.status, "note": text_zh}).scalar_one()
    record(session, actor, "permit.plan_uploaded", "permit", permit_id,
           {"documents": [d["id"] for d in documents], "note": note})
    notify(session, channels, event="permit.document", key=f"permit.document:{event_id}",
           title=f"保护方案待审：项目 {conflict['project_code']} × 管道 {conflict['pipeline_code']}",
           body=text_zh + "。请在系统中给出同意或修改意见。", entity="permit", entity_id=permit_id,
           project_id=conflict["project_id"], orgs=[conflict["owner"]])
    return {"permit_id": permit_id, "documents": documents}


# --- Violations: work started without the procedure ------------------------------------------

def missing_for_work(session: Session, project_id: int,
                     on: dt.date) -> tuple[list[Row[Any]], Row[Any] | None]:
    """What a project lacks to work on ``on``: its protection-range conflicts without an
    approved permit valid that day, and its current answer letter (None when it has none).

    The one rule behind violations (``check_start_of_work``) and the start notice page.
    """
    missing = session.execute(text(
        "SELECT c.id, g.external_code, g.owner, pm.status FROM pipeline_conflict c "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN permit pm ON pm.conflict_id = c.id "
        "WHERE c.project_id = :id AND c.closed_at IS NULL AND c.zone = 'protection' "
        "AND NOT (pm.status = 'approved' AND pm.approved_until >= :today) "
        "ORDER BY c.id"),
        {"id": project_id, "today": on}).all()
    answer = session.execute(text(
        "SELECT number, valid_until FROM answer_letter WHERE project_id = :id AND superseded_at IS NULL"),
        {"id": project_id}).one_or_none()
    return list(missing), answer


def check_start_of_work(session: Session, project_id: int, channels: Channels = NO_CHANNELS,
                        today: dt.date | None = None) -> list[dict]:
    """Raise violation alerts for a project now under construction without its procedure.

    Two findings: a conflict in the protection range without an approved (unexpired)
    permit, and no current, unexpired answer letter. The office and the owners concerned
    are told. Returns the new violations.
    """
    today = today or today_in_shanghai()
    project = session.execute(text(
        "SELECT id, registration_code, name, organisation FROM construction_project WHERE id = :id"),
        {"id": project_id}).mappings().one()
    missing, answer = missing_for_work(session, project_id, today)
    found = []
    if missing:
        pipes = "、".join(f"{r.external_code}（{r.owner or '权属单位未登记'}）" for r in missing)
        found.append(("no_permit", f"施工未办理保护手续：项目 {project['registration_code']} 已开工，"
                                   f"但其在管道 {pipes} 安全保护范围内的保护手续未获批准",
                      {"conflict_ids": [r.id for r in missing]}, [r.owner for r in missing]))
    if answer is None:
        found.append(("no_answer", f"施工未办理保护手续：项目 {project['registration_code']} 已开工，"
                                   "但没有有效的燃气管道查询答复书", {}, []))
    elif answer.valid_until < today:
        found.append(("answer_expired", f"施工未办理保护手续：项目 {project['registration_code']} 已开工，"
                                        f"但其查询答复书 {answer.number} 已于 {answer.valid_until} 过期",
                      {"answer": answer.number}, []))
    out = []
    for kind, message, detail, owners in found:
        vid, at = session.execute(text(
            "INSERT INTO violation (project_id, kind, message, detail) "
            "VALUES (:p, :k, :m, CAST(:d AS jsonb)) "
            "RETURNING id, created_at"),
            {"p": project_id, "k": kind, "m": message, "d": json.dumps(detail, ensure_ascii=False)}).one()
        notify(session, channels, event="violation", key=f"violation:{vid}", title=message.split("：")[0]
               + f"：项目 {project['registration_code']}", body=message, entity="violation", entity_id=vid,
               project_id=project_id, office=True, orgs=owners, webhooks=True)
        out.append({"id": vid, "kind": kind, "message": message, "created_at": at, **detail})
    return out


def list_violations(session: Session, actor, *, limit: int = 100, offset: int = 0) -> dict:
    """Violations the actor may see (the office all; owners those on their pipelines; builders theirs)."""
    # Owners: violations of the projects that reach their pipelines.
    where, params = scope_condition(authorize(actor, "violation.read"), project="p")
    rows = session.execute(text(
        "SELECT v.id, v.project_id, p.registration_code AS project_code, v.kind, v.message, v.detail, "
        "v.created_at, v.acknowledged_at, v.acknowledged_by FROM violation v "
        f"JOIN construction_project p ON p.id = v.project_id WHERE {where} "
        "ORDER BY v.id DESC LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset}).mappings().all()
    return {"violations": [dict(r) for r in rows], "numberReturned": len(rows)}


# --- On-site supervision ------------------------------------------------------------------------

_VISIT_SELECT = (
    "SELECT v.id, v.conflict_id, v.scheduled_on, v.person, v.created_at, v.created_by, v.arrived_at, "
    "v.left_at, v.notes, v.recorded_by, p.id AS project_id, p.registration_code AS project_code, "
    "g.external_code AS pipeline_code, g.owner FROM supervision_visit v "
    "JOIN pipeline_conflict c ON c.id = v.conflict_id "
    "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id"
)


def _supervision_not_asked(session: Session, conflict_id: int) -> str | None:
    """Why the owner's reply does not ask for on-site supervision, in Chinese (None when it does).

    Supervision is what the owner's reply asked for (答复“须现场监护”), not something the
    owner starts unasked: the builder is told of a visit to its site only on that reply.
    FOR SHARE: a reply being changed at the same moment is waited for, not raced.
    """
    review = session.execute(text(
        "SELECT decision FROM owner_review WHERE conflict_id = :c FOR SHARE"),
        {"c": conflict_id}).one_or_none()
    if review is not None and review.decision == SUPERVISION_ASKED:
        return None
    ask = f"管道权属单位答复“{DECISION_ZH[SUPERVISION_ASKED]}”后才能安排"
    if review is None:
        return f"该冲突没有权属单位审查记录，{ask}"
    if review.decision is None:
        return f"管道权属单位尚未答复，{ask}"
    return (f"管道权属单位的答复为“{DECISION_ZH[review.decision]}”，未要求现场监护；"
            f"如需监护，请先将答复改为“{DECISION_ZH[SUPERVISION_ASKED]}”")


def schedule_visit(session: Session, conflict_id: int, actor, *, scheduled_on, person: str | None,
                   channels: Channels = NO_CHANNELS, today: dt.date | None = None) -> dict:
    """The owner schedules an on-site supervision visit (date, person); the builder is told.

    Only on a conflict whose owner's reply asked for supervision (else 409 naming what is missing).
    """
    day = _day(scheduled_on, "scheduled_on")
    person = _clean(person, "person", required=True, max_len=200)
    if day < (today or today_in_shanghai()):
        raise InvalidRequestError(f"字段 scheduled_on：监护日期 {day} 早于今天")
    conflict = scope_of_conflict(session, conflict_id, actor, action="supervision.manage", lock=True)
    if conflict["closed_at"] is not None:
        raise ConflictStateError(f"冲突 {conflict_id} 已关闭，无需现场监护")
    lacking = _supervision_not_asked(session, conflict_id)
    if lacking:
        raise ConflictStateError(
            f"冲突 {conflict_id}（项目 {conflict['project_code']} × 管道 {conflict['pipeline_code']}）"
            f"不能安排现场监护：{lacking}")
    visit_id = session.execute(text(
        "INSERT INTO supervision_visit (conflict_id, scheduled_on, person, created_by) "
        "VALUES (:c, :d, :p, :by) RETURNING id"),
        {"c": conflict_id, "d": day, "p": person, "by": actor.username}).scalar_one()
    record(session, actor, "supervision.schedule", "supervision_visit", visit_id,
           {"conflict_id": conflict_id, "scheduled_on": day.isoformat(), "person": person})
    notify(session, channels, event="supervision.scheduled", key=f"supervision.scheduled:{visit_id}",
           title=f"现场监护安排：项目 {conflict['project_code']} {day.isoformat()}",
           body=f"管道权属单位 {actor.organisation} 将于 {day.isoformat()} 派 {person} 到项目 "
                f"{conflict['project_code']}（管道 {conflict['pipeline_code']}）现场监护。",
           entity="supervision_visit", entity_id=visit_id, project_id=conflict["project_id"],
           orgs=[conflict["organisation"]])
    return get_visit(session, visit_id, actor)


def record_visit(session: Session, visit_id: int, actor, *, arrived_at, left_at, notes: str | None,
                 uploads: Sequence = (), channels: Channels = NO_CHANNELS) -> dict:
    """The owner records a visit: time on site, notes, photos; the builder and office can read it."""
    arrived, left = _moment(arrived_at, "arrived_at"), _moment(left_at, "left_at")
    if left < arrived:
        raise InvalidRequestError("字段 left_at：离场时间早于到场时间")
    if arrived > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
        raise InvalidRequestError("字段 arrived_at：到场时间晚于现在")
    notes = _clean(notes, "notes", max_len=5000)
    authorize(actor, "supervision.manage")
    checked = check_uploads(list(uploads))
    visit = get_visit(session, visit_id, actor)
    conflict = scope_of_conflict(session, visit["conflict_id"], actor, action="supervision.manage")
    if visit["arrived_at"] is not None:
        raise ConflictStateError(f"现场监护 {visit_id} 已记录（{visit['arrived_at']}），不能重复记录")
    session.execute(text(
        "UPDATE supervision_visit SET arrived_at = :a, left_at = :l, notes = :n, recorded_by = :by "
        "WHERE id = :id"), {"a": arrived, "l": left, "n": notes, "by": actor.username, "id": visit_id})
    documents = store_documents(session, actor, "visit_photo", checked, visit_id=visit_id)
    hours = (left - arrived).total_seconds() / 3600
    record(session, actor, "supervision.record", "supervision_visit", visit_id,
           {"arrived_at": arrived.isoformat(), "left_at": left.isoformat(), "notes": notes,
            "documents": [d["id"] for d in documents]})
    notify(session, channels, event="supervision.visit", key=f"supervision.visit:{visit_id}",
           title=f"现场监护记录：项目 {conflict['project_code']}",
           body=f"{visit['person']} 在场 {hours:.1f} 小时。" + (notes or ""), entity="supervision_visit",
           entity_id=visit_id, project_id=conflict["project_id"], orgs=[conflict["organisation"]])
    return get_visit(session, visit_id, actor)


def get_visit(session: Session, visit_id: int, actor) -> dict:
    """One visit, if the actor may see its conflict."""
    clause, params = organisation_clause(actor, "supervision.read")
    row = session.execute(text(f"{_VISIT_SELECT} WHERE v.id = :id AND {clause}"),
                          {"id": visit_id, **params}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"现场监护 {visit_id} 不存在")
    out = dict(row)
    out["documents"] = list_documents(session, visit_id=visit_id)
    return out


def list_visits(session: Session, actor, *, project_id: int | None = None, limit: int = 200) -> dict:
    """The supervision schedule the actor may see (builders: their projects; owners: their pipes)."""
    clause, params = organisation_clause(actor, "supervision.read")
    rows = session.execute(text(
        f"{_VISIT_SELECT} WHERE {clause} AND (CAST(:pid AS bigint) IS NULL OR p.id = :pid) "
        "ORDER BY v.scheduled_on, v.id LIMIT :limit"),
        {**params, "pid": project_id, "limit": limit}).mappings().all()
    return {"visits": [dict(r) for r in rows], "numberReturned": len(rows)}


# --- Start notices ----------------------------------------------------------------------------

def _not_ready(missing, answer, on: dt.date) -> list[str]:
    """What keeps work from starting on ``on``, in Chinese (empty when nothing does)."""
    lacking = []
    if missing:
        pipes = "、".join(f"{r.external_code}（{r.owner or '权属单位未登记'}）" for r in missing)
        lacking.append(f"管道 {pipes} 安全保护范围内的保护手续未获批准或在 {on} 前到期")
    if answer is None:
        lacking.append("没有有效的燃气管道查询答复书")
    elif answer.valid_until < on:
        lacking.append(f"查询答复书 {answer.number} 于 {answer.valid_until} 到期，"
                       f"早于开工日 {on}，请先复查续期")
    return lacking


def submit_start_notice(session: Session, project_id: int, actor, *, planned_start, note: str | None,
                        notice_days: int, channels: Channels = NO_CHANNELS,
                        today: dt.date | None = None) -> dict:
    """The builder's start notice (开工告知) reaches the owners of every pipeline it conflicts with.

    It must come ``notice_days`` working days before the planned start.
    """
    scope, scope_params = scope_condition(authorize(actor, "start_notice.submit"), project="p")
    today = today or today_in_shanghai()
    start = _day(planned_start, "planned_start")
    note = _clean(note, "note")
    lead = working_days_between(today, start, overrides_between(session, today, start))
    if lead < notice_days:
        raise InvalidRequestError(
            f"字段 planned_start：开工告知须提前 {notice_days} 个工作日提交，"
            f"{today.isoformat()} 到 {start.isoformat()} 只有 {lead} 个工作日")
    project = session.execute(text(
        "SELECT id, registration_code, name, organisation FROM construction_project p WHERE id = :id "
        f"AND deleted_at IS NULL AND {scope}"),
        {"id": project_id, **scope_params}).mappings().one_or_none()
    if project is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
    # The same rule as the start-of-work check, on the planned day: a notice is sent only
    # when the procedure lets work start then (the page offers it on the same rule).
    lacking = _not_ready(*missing_for_work(session, project_id, start), start)
    if lacking:
        raise ConflictStateError(
            f"项目 {project['registration_code']} 尚不能提交开工告知：" + "；".join(lacking))
    owners = session.execute(text(
        "SELECT DISTINCT g.owner FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
        "WHERE c.project_id = :id AND c.closed_at IS NULL AND g.owner IS NOT NULL ORDER BY 1"),
        {"id": project_id}).scalars().all()
    notice_id = session.execute(text(
        "INSERT INTO start_notice (project_id, planned_start, note, submitted_by) VALUES (:p, :d, :n, :by) "
        "RETURNING id"), {"p": project_id, "d": start, "n": note, "by": actor.username}).scalar_one()
    record(session, actor, "start_notice.submit", "start_notice", notice_id,
           {"project_id": project_id, "planned_start": start.isoformat(), "owners": list(owners)})
    notify(session, channels, event="start_notice", key=f"start_notice:{notice_id}",
           title=f"开工告知：项目 {project['registration_code']} 拟于 {start.isoformat()} 开工",
           body=f"{project['organisation'] or ''} 的项目 {project['registration_code']}（{project['name']}）"
                f"拟于 {start.isoformat()} 开工，请安排现场交底与监护。" + (note or ""),
           entity="start_notice", entity_id=notice_id, project_id=project_id, orgs=list(owners))
    return {"id": notice_id, "project_id": project_id, "planned_start": start, "note": note,
            "owners_told": list(owners), "working_days_ahead": lead}


# --- Damage reports ---------------------------------------------------------------------------

def report_damage(session: Session, actor, *, lon, lat, occurred_at, description: str | None,
                  pipeline_id: int | None = None, project_id: int | None = None, uploads: Sequence = (),
                  channels: Channels = NO_CHANNELS, margin_m: float = 2000.0) -> dict:
    """Anyone logged in reports damage to a gas pipeline; the office and the owner are told at once.

    The report states whether the project had a current answer and an approved permit
    for that pipeline.
    """
    authorize(actor, "damage.report")
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError("字段 lon/lat：位置须为经纬度数值") from exc
    import shapely

    from layers.district import district_extent_lonlat, district_name
    from layers.services.districts import check_in_district

    if not shapely.contains_xy(district_extent_lonlat(margin_m), lon, lat):
        raise InvalidRequestError(f"字段 lon/lat：位置（{lon}, {lat}）不在{district_name()}范围内")
    # A district office reports damage in its own district (row-level security would
    # refuse the row too; this says why).
    check_in_district(actor, "damage_reports", shapely.Point(lon, lat))
    when = _moment(occurred_at, "occurred_at")
    if when > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
        raise InvalidRequestError("字段 occurred_at：发生时间晚于现在")
    description = _clean(description, "description", required=True, max_len=5000)
    checked = check_uploads(list(uploads))
    owner: str | None = None
    if pipeline_id is not None:
        pipe = session.execute(text("SELECT owner FROM gas_pipeline WHERE id = :id AND deleted_at IS NULL"),
                               {"id": pipeline_id}).one_or_none()
        if pipe is None:
            raise InvalidRequestError(f"字段 pipeline_id：管道 {pipeline_id} 不存在")
        owner = pipe[0]
    project = None
    if project_id is not None:
        project = session.execute(text(
            "SELECT id, registration_code, organisation FROM construction_project WHERE id = :id "
            "AND deleted_at IS NULL"), {"id": project_id}).mappings().one_or_none()
        if project is None:
            raise InvalidRequestError(f"字段 project_id：项目 {project_id} 不存在")
    valid_answer = approved = None
    if project is not None:
        on = when.astimezone(LOCAL_TZ).date()
        valid_answer = bool(session.execute(text(
            "SELECT 1 FROM answer_letter WHERE project_id = :p AND issued_at <= :t AND valid_until >= :d "
            "AND (superseded_at IS NULL OR superseded_at > :t) LIMIT 1"),
            {"p": project_id, "t": when, "d": on}).first())
        approved = bool(session.execute(text(
            "SELECT 1 FROM pipeline_conflict c JOIN permit pm ON pm.conflict_id = c.id "
            "WHERE c.project_id = :p AND (CAST(:g AS bigint) IS NULL OR c.pipeline_id = :g) "
            "AND c.closed_at IS NULL AND pm.status = 'approved' AND pm.approved_until >= :d LIMIT 1"),
            {"p": project_id, "g": pipeline_id, "d": on}).first())
    report_id, reported_at = session.execute(text(
        "INSERT INTO damage_report (reported_by, occurred_at, location, pipeline_id, project_id, "
        "description, had_valid_answer, had_approved_permit) VALUES (:by, :t, "
        "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :g, :p, :d, :a, :pm) RETURNING id, reported_at"),
        {"by": actor.username, "t": when, "lon": lon, "lat": lat, "g": pipeline_id, "p": project_id,
         "d": description, "a": valid_answer, "pm": approved}).one()
    documents = store_documents(session, actor, "damage_photo", checked, damage_report_id=report_id)
    record(session, actor, "damage.report", "damage_report", report_id,
           {"pipeline_id": pipeline_id, "project_id": project_id, "documents": [d["id"] for d in documents]})
    facts = ""
    if project is not None:
        answer_zh = "有效" if valid_answer else "无效或缺失"
        permit_zh = "已批准" if approved else "未批准"
        facts = f"项目 {project['registration_code']}：查询答复书{answer_zh}，保护手续{permit_zh}。"
    notify(session, channels, event="damage", key=f"damage:{report_id}",
           title="燃气管道损坏报告" + (f"：项目 {project['registration_code']}" if project else ""),
           body=f"{when.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} 于（{lon:.6f}, {lat:.6f}）："
                f"{description}。{facts}"
                "请立即处置并在 2 小时内向上级报告。",
           entity="damage_report", entity_id=report_id, project_id=project_id, office=True,
           orgs=[owner], webhooks=True)
    return get_damage(session, report_id, actor)


def _damage_scope(actor, action: str = "damage.read") -> tuple[str, dict]:
    """Reports within the grant's scope (its project or pipeline), and the actor's own reports."""
    access = authorize(actor, action)
    clause, params = scope_condition(access, project="p", pipeline="g")
    if clause == "TRUE":
        return clause, params
    return f"(coalesce({clause}, false) OR d.reported_by = :me)", {**params, "me": actor.username}


_DAMAGE_SELECT = (
    "SELECT d.id, d.reported_at, d.reported_by, d.occurred_at, ST_X(d.location) AS lon, "
    "ST_Y(d.location) AS lat, d.pipeline_id, g.external_code AS pipeline_code, g.owner, d.project_id, "
    "p.registration_code AS project_code, d.description, d.had_valid_answer, d.had_approved_permit, "
    "d.acknowledged_at, d.acknowledged_by, "
    "CAST(extract(epoch FROM d.acknowledged_at - d.reported_at) AS float8) AS seconds_to_acknowledge "
    "FROM damage_report d LEFT JOIN gas_pipeline g ON g.id = d.pipeline_id "
    "LEFT JOIN construction_project p ON p.id = d.project_id"
)


def get_damage(session: Session, report_id: int, actor) -> dict:
    """One damage report the actor may see."""
    clause, params = _damage_scope(actor)
    row = session.execute(text(f"{_DAMAGE_SELECT} WHERE d.id = :id AND {clause}"),
                          {"id": report_id, **params}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"损坏报告 {report_id} 不存在")
    out = dict(row)
    out["documents"] = list_documents(session, damage_report_id=report_id)
    return out


def list_damage(session: Session, actor, *, limit: int = 100) -> dict:
    """Damage reports the actor may see, newest first."""
    clause, params = _damage_scope(actor)
    rows = session.execute(text(f"{_DAMAGE_SELECT} WHERE {clause} ORDER BY d.id DESC LIMIT :limit"),
                           {**params, "limit": limit}).mappings().all()
    return {"damage_reports": [dict(r) for r in rows], "numberReturned": len(rows)}


def acknowledge_damage(session: Session, report_id: int, actor) -> dict:
    """The office or the owner acknowledges a report; the time from report to acknowledgement is kept."""
    clause, params = scope_condition(authorize(actor, "damage.acknowledge"), project="p", pipeline="g")
    found = session.execute(text(f"{_DAMAGE_SELECT} WHERE d.id = :id AND coalesce({clause}, false)"),
                            {"id": report_id, **params}).first()
    if found is None:
        raise NotFoundError(f"损坏报告 {report_id} 不存在")
    report = get_damage(session, report_id, actor)
    result = session.execute(text(
        "UPDATE damage_report SET acknowledged_at = now(), acknowledged_by = :by "
        "WHERE id = :id AND acknowledged_at IS NULL"), {"by": actor.username, "id": report_id})
    changed = cast(CursorResult, result).rowcount
    if not changed:
        raise ConflictStateError(f"损坏报告 {report_id} 已于 {report['acknowledged_at']} 由 "
                                 f"{report['acknowledged_by']} 确认")
    record(session, actor, "damage.acknowledge", "damage_report", report_id, {})
    return get_damage(session, report_id, actor)


# --- Answers about to expire ------------------------------------------------------------------

def warn_expiring_answers(session: Session, warn_days: int, channels: Channels = NO_CHANNELS,
                          today: dt.date | None = None) -> list[str]:
    """Tell builders whose current answer expires within ``warn_days``; once per answer."""
    from layers.services.answers import due_for_expiry_warning

    today = today or today_in_shanghai()
    numbers = []
    for answer in due_for_expiry_warning(session, today, warn_days):
        notify(session, channels, event="answer.expiring", key=f"answer.expiring:{answer['id']}",
               title=f"查询答复书即将到期：{answer['number']}（项目 {answer['registration_code']}）",
               body=f"项目 {answer['registration_code']}（{answer['name']}）的查询答复书 {answer['number']} "
                    f"将于 {answer['valid_until'].isoformat()} 到期；到期后不能作为开工依据，请及时复查续期"
                        "。",
               entity="answer", entity_id=answer["id"], project_id=answer["project_id"],
               orgs=[answer["organisation"]])
        session.execute(text("UPDATE answer_letter SET expiry_notified_at = now() WHERE id = :id"),
                        {"id": answer["id"]})
        numbers.append(answer["number"])
    return numbers


