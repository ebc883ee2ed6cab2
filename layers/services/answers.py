"""Answer letters (查询答复书): a numbered, immutable answer to every screening of a project.

Every registration, change and renewal of a project issues one, in the transaction
that screened it: a number ``CM-<year>-<6 digits>`` (the issuing district's short code,
CM for Chongming; a per-year PostgreSQL sequence per district, ``answer_next_seq``, so
concurrent registrations never wait on a counter row), the
rule set it was given under, a validity (``answer_valid_days``), a verification code
and a snapshot of everything the letter shows (the site, the conflicts with zone,
distance from the outer wall and required action, the pipelines around the site with
their owner and pressure class, the owners' contacts). The snapshot is written once and
never updated, so the letter reads the same whatever later happens to the network;
HTML and PDF are drawn from it on demand (``maps.answer``).

The previous answer of the project is marked superseded (one current answer per
project, a partial unique index). An answer is valid for starting work while it is
current and not past ``valid_until`` (a Shanghai date).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import IdArray, execute_sized
from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.services.districts import see_city_wide
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.permissions import Access, scope_condition
from vocabulary import today_in_shanghai
from vocabulary.clock import SHANGHAI as LOCAL_TZ

REASONS = ("registration", "change", "renewal")
REASON_ZH = {"registration": "项目登记", "change": "项目变更", "renewal": "续期复查"}
STATE_ZH = {"current": "有效", "expired": "已过期", "superseded": "已被新答复书取代",
            "withdrawn": "已撤回（施工范围变更，待燃气管理所审核）"}
# The number's prefix is the short code of the district that issues it
# (``layers.jurisdictions.SHORT_CODES``): the served district's in a one-district
# deployment (CM, Chongming's, as always), the project's own district's in a whole-city
# deployment, each with its own sequence per year (``answer_next_seq(year, prefix)``).
NUMBER_PATTERN = re.compile(r"^[A-Z]{2,4}-\d{4}-\d{6,}$")
CODE_PATTERN = re.compile(r"^[0-9A-F]{12}$")
# How far around the site the map extract reaches beyond the rule set's search distance.
WINDOW_MARGIN_M = 30.0

# The snapshot: everything the letter shows, frozen at issue. ``to_jsonb(c)`` carries
# every column of the conflict, so columns added later (activities of a rule set) are
# kept without changing this statement.
_SNAPSHOT = """jsonb_build_object(
  'project', jsonb_build_object('id', p.id, 'code', p.registration_code, 'name', p.name,
    'kind', p.kind, 'builder', p.builder, 'contractor', p.contractor,
    'organisation', p.organisation, 'township', p.township, 'status', p.status,
    'start_date', p.start_date),
  'site', CAST(ST_AsGeoJSON(p.geom, 7) AS jsonb),
  'rule_set', jsonb_build_object('label', CAST(:label AS text), 'title', CAST(:title AS text),
    'source', CAST(:source AS text)),
  'window_m', CAST(:window_m AS float8),
  'ranges', CAST(:ranges AS jsonb),
  'conflicts', (SELECT coalesce(jsonb_agg(
      (to_jsonb(c) - 'nearest_line' - 'project_id' - 'last_screened_at' - 'closed_at')
      || jsonb_build_object('pipeline_feature_id', g.id, 'pipeline_code', g.external_code,
           'pipeline_name', g.name, 'owner', g.owner, 'design_pressure_mpa', g.design_pressure_mpa,
           'material', g.material,
           'nearest_line', CAST(ST_AsGeoJSON(c.nearest_line, 7) AS jsonb))
      ORDER BY c.distance_m, c.id), '[]'::jsonb)
    FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id
    WHERE c.project_id = p.id AND c.closed_at IS NULL AND c.rule_set = CAST(:label AS text)),
  'pipelines', (SELECT coalesce(jsonb_agg(jsonb_build_object('feature_id', g.id,
      'code', g.external_code, 'name', g.name, 'owner', g.owner,
      'pressure_class', g.pressure_class, 'outer_diameter_mm', g.outer_diameter_mm,
      'status', g.status,
      'geometry', CAST(ST_AsGeoJSON(ST_Transform(ST_ClipByBox2D(g.geom_m,
          CAST(ST_Expand(p.geom_m, CAST(:window_m AS float8)) AS box2d)), 4490), 7) AS jsonb))
      ORDER BY g.external_code), '[]'::jsonb)
    FROM gas_pipeline g WHERE g.deleted_at IS NULL AND g.status <> ALL(CAST(:unscreened AS text[]))
      AND g.geom_m && ST_Expand(p.geom_m, CAST(:window_m AS float8))),
  'owners', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', x.owner,
      'contact_person', o.contact_person, 'phone', o.phone, 'emergency_phone', o.emergency_phone,
      'email', o.email, 'address', o.address) ORDER BY x.owner), '[]'::jsonb)
    FROM (SELECT DISTINCT g.owner FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id
          WHERE c.project_id = p.id AND c.closed_at IS NULL AND c.rule_set = CAST(:label AS text)
            AND g.owner IS NOT NULL) x
    LEFT JOIN organisation o ON o.name = x.owner)
)"""

_ISSUE = f"""
INSERT INTO answer_letter (number, project_id, reason, valid_until, rule_set, verification_code,
                           issued_by, snapshot)
SELECT x.prefix || '-' || CAST(:year AS integer) || '-'
         || lpad(CAST(answer_next_seq(CAST(:year AS integer), x.prefix) AS text), 6, '0'),
       p.id, CAST(:reason AS text), CAST(:valid_until AS date), CAST(:label AS text),
       upper(substr(replace(CAST(gen_random_uuid() AS text), '-', ''), 1, 12)), CAST(:who AS text),
       {_SNAPSHOT}
FROM construction_project p
CROSS JOIN LATERAL (SELECT coalesce(
  (SELECT u.prefix FROM unnest(CAST(:district_codes AS text[]), CAST(:district_prefixes AS text[]))
     AS u(code, prefix) WHERE u.code = p.district),
  CAST(:prefix AS text)) AS prefix) x
WHERE p.id = ANY(CAST(:ids AS bigint[])) AND p.deleted_at IS NULL
ORDER BY p.id
RETURNING id, project_id
"""


def number_prefixes() -> dict:
    """Return the binds that pick an answer number's prefix from the project's district.

    A one-district deployment numbers with its own short code (Chongming: CM, unchanged);
    a whole-city deployment with the project's district's, each district counting alone.
    """
    from layers.district import deployment
    from layers.jurisdictions import SHORT_CODES

    served = deployment()
    codes = list(served.districts)
    return {"prefix": served.short_code, "district_codes": codes,
            "district_prefixes": [SHORT_CODES[c] for c in codes]}


def window_m(rule_set) -> float:
    """How far around a site the letter's map and pipeline list reach (metres)."""
    from layers.screening_db import search_distance_m

    return search_distance_m(rule_set) + WINDOW_MARGIN_M


@functools.lru_cache(maxsize=16)
def _ranges_json(rule_set) -> str:
    """The rule set's protection and control ranges per pressure class, as JSON (metres)."""
    return json.dumps({cls.value: [r.protection_m, r.control_m]
                       for cls, r in rule_set.ranges_by_class.items()})


def issue_answers(
    session: Session, project_ids: Sequence[int], reason: str, rule_set, *, valid_days: int,
    actor=None, today: dt.date | None = None,
) -> dict[int, int]:
    """Issue one answer per live project (superseding its current one); return project -> answer id.

    Call after the project was screened in the same transaction.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown answer reason {reason!r}")
    ids = [int(i) for i in project_ids]
    if not ids:
        return {}
    today = today or today_in_shanghai()
    params = {
        "ids": IdArray(ids), "reason": reason, "year": today.year,
        "valid_until": today + dt.timedelta(days=valid_days), "label": rule_set.label,
        "title": rule_set.title, "source": rule_set.source, "window_m": window_m(rule_set),
        "ranges": _ranges_json(rule_set),
        "unscreened": list(UNSCREENED_PIPELINE_STATUSES), "who": getattr(actor, "username", None),
        **number_prefixes(),
    }
    superseded: dict[int, int] = {}
    if reason != "registration":
        superseded = dict(session.execute(text(
            "UPDATE answer_letter SET superseded_at = now() WHERE project_id = ANY(:ids) "
            "AND superseded_at IS NULL RETURNING project_id, id"), {"ids": ids}).all())
    # Prepared for the one project of an API write; an import's batch is planned for its size.
    issued = {pid: aid for aid, pid in execute_sized(session, _ISSUE, params, len(ids)).all()}
    if superseded:
        session.execute(text(
            "UPDATE answer_letter o SET superseded_by = n.id FROM answer_letter n "
            "WHERE o.id = ANY(:old) AND n.id = ANY(:new) AND n.project_id = o.project_id"),
            {"old": list(superseded.values()), "new": list(issued.values())})
    return issued


def withdraw_answers(session: Session, project_ids: Sequence[int]) -> list[str]:
    """Withdraw the current answers of these projects (their sites now wait for review).

    A withdrawn answer is ended (``superseded_at``) with no successor (``superseded_by``
    NULL): it describes a site that no longer exists, so it must not stay valid for
    work while the gas office reviews the new one. Returns the withdrawn numbers.
    """
    ids = [int(i) for i in project_ids]
    if not ids:
        return []
    return list(session.execute(text(
        "UPDATE answer_letter SET superseded_at = now() WHERE project_id = ANY(:ids) "
        "AND superseded_at IS NULL RETURNING number"), {"ids": ids}).scalars())


def answer_state(valid_until: dt.date, superseded_at, today: dt.date, warn_days: int, *,
                 withdrawn: bool = False) -> dict:
    """Return the state of an answer today: current / expired / superseded / withdrawn, and its flags."""
    if superseded_at is not None:
        state = "withdrawn" if withdrawn else "superseded"
    elif valid_until < today:
        state = "expired"
    else:
        state = "current"
    days_left = (valid_until - today).days
    return {
        "state": state, "state_zh": STATE_ZH[state], "days_left": days_left,
        "near_expiry": state == "current" and days_left <= warn_days,
        "valid_for_work": state == "current",
    }


_SELECT = (
    "SELECT a.id, a.number, a.project_id, a.reason, a.issued_at, a.valid_until, a.rule_set, "
    "a.verification_code, a.issued_by, a.superseded_at, a.superseded_by, "
    "s.number AS superseded_by_number, "
    "a.snapshot, p.registration_code AS project_code, p.organisation "
    "FROM answer_letter a JOIN construction_project p ON p.id = a.project_id "
    "LEFT JOIN answer_letter s ON s.id = a.superseded_by"
)


def _shape(row, today: dt.date, warn_days: int) -> dict:
    out = dict(row)
    snapshot = out.pop("snapshot")
    out.pop("organisation", None)
    out["reason_zh"] = REASON_ZH[out["reason"]]
    out.update(answer_state(out["valid_until"], out["superseded_at"], today, warn_days,
                            withdrawn=out.pop("superseded_by") is None))
    conflicts = snapshot.get("conflicts", [])
    in_range = {c.get("pipeline_feature_id") for c in conflicts}
    out["rule_set_title"] = snapshot.get("rule_set", {}).get("title")
    out["site"] = snapshot.get("site")
    out["conflicts"] = conflicts
    out["no_pipeline_within_range"] = not conflicts
    out["pipelines"] = [dict(p, in_range=p.get("feature_id") in in_range)
                        for p in snapshot.get("pipelines", [])]
    out["owners"] = snapshot.get("owners", [])
    out["project"] = snapshot.get("project", {})
    out["window_m"] = snapshot.get("window_m")
    out["ranges"] = snapshot.get("ranges", {})
    return out


def current_answer(session: Session, project_id: int, *, access: Access | None = None,
                   warn_days: int = 7, today: dt.date | None = None) -> dict:
    """Return the current (latest) answer of a live project ``access`` reaches."""
    scope, params = scope_condition(access, project="p")
    row = session.execute(
        text(f"{_SELECT} WHERE a.project_id = :pid AND a.superseded_at IS NULL "
             f"AND p.deleted_at IS NULL AND {scope}"),
        {"pid": project_id, **params},
    ).mappings().one_or_none()
    if row is None:
        exists = session.execute(
            text("SELECT 1 FROM construction_project p WHERE p.id = :pid AND p.deleted_at IS NULL "
                 f"AND {scope}"), {"pid": project_id, **params}).first()
        if exists is None:
            raise NotFoundError(f"项目 {project_id} 不存在")
        held = session.execute(
            text("SELECT 1 FROM project_review WHERE project_id = :pid AND state <> 'released'"),
            {"pid": project_id}).first()
        if held is not None:  # a held site is answered once the gas office releases it
            raise NotFoundError(f"项目 {project_id} 的施工范围正待燃气管理所审核，审核通过后出具查询答复书")
        raise NotFoundError(f"项目 {project_id} 尚无查询答复书"
                            f"（请先复查：POST /api/projects/{project_id}/answer/renew）")
    return _shape(row, today or today_in_shanghai(), warn_days)


def answer_by_number(session: Session, number: str, *, access: Access | None = None,
                     warn_days: int = 7, today: dt.date | None = None) -> dict:
    """Return one answer (current or not) by its number, if ``access`` reaches it."""
    scope, params = scope_condition(access, project="p")
    row = session.execute(text(f"{_SELECT} WHERE a.number = :n AND {scope}"),
                          {"n": number, **params}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"查询答复书 {number} 不存在")
    return _shape(row, today or today_in_shanghai(), warn_days)


def list_answers(session: Session, project_id: int, *, access: Access | None = None,
                 warn_days: int = 7) -> list[dict]:
    """Return every answer of a project ``access`` reaches, newest first (no snapshot details)."""
    scope, params = scope_condition(access, project="p")
    rows = session.execute(
        text(f"{_SELECT} WHERE a.project_id = :pid AND {scope} ORDER BY a.id DESC"),
        {"pid": project_id, **params}).mappings().all()
    today = today_in_shanghai()
    keep = ("id", "number", "reason", "reason_zh", "issued_at", "valid_until", "rule_set", "state",
            "state_zh", "days_left", "near_expiry", "valid_for_work", "superseded_at",
            "superseded_by_number", "no_pipeline_within_range")
    return [{k: v for k, v in _shape(r, today, warn_days).items() if k in keep} for r in rows]


def verify_answer(session: Session, number: str, code: str | None, *, warn_days: int = 7,
                  today: dt.date | None = None) -> dict:
    """Check an answer by number and verification code, for anyone (no login).

    Shows only number, project code, issue date, validity and whether it is current;
    a wrong code answers exactly like an unknown number, so numbers cannot be probed.
    """
    number = (number or "").strip().upper()
    code = (code or "").strip().upper().replace("-", "")
    if not NUMBER_PATTERN.match(number):
        raise InvalidRequestError(
            f"答复书编号“{number[:40]}”格式不对（应为 区代码-年份-六位序号，如 CM-2026-000123）")
    if not code:
        raise InvalidRequestError("参数 code：请填写答复书上印的校验码（12 位，字母 A–F 与数字）")
    if not CODE_PATTERN.match(code):
        raise InvalidRequestError("参数 code：校验码应为 12 位（数字 0–9 与字母 A–F，可含短横线）")
    # No login, so no district: the number and its printed code are the key, whatever
    # district issued the letter (row-level security, layers.services.districts).
    see_city_wide(session)
    row = session.execute(
        text("SELECT a.number, a.verification_code, a.issued_at, a.valid_until, a.superseded_at, "
             "a.superseded_by, p.registration_code FROM answer_letter a JOIN construction_project p "
             "ON p.id = a.project_id WHERE a.number = :n"), {"n": number}).one_or_none()
    if row is None or not hmac.compare_digest(row.verification_code, code):
        raise NotFoundError(f"未找到编号为 {number} 且校验码相符的查询答复书")
    state = answer_state(row.valid_until, row.superseded_at, today or today_in_shanghai(), warn_days,
                         withdrawn=row.superseded_by is None)
    return {
        "number": row.number, "project_code": row.registration_code,
        "issued_on": row.issued_at.astimezone(LOCAL_TZ).date().isoformat(),
        "valid_until": row.valid_until.isoformat(), "state": state["state"],
        "state_zh": state["state_zh"], "current": state["valid_for_work"],
    }


def due_for_expiry_warning(session: Session, today: dt.date, warn_days: int) -> list[dict]:
    """Current answers that expire within ``warn_days`` and whose builder was not yet told."""
    rows = session.execute(text(
        "SELECT a.id, a.number, a.valid_until, a.project_id, p.registration_code, p.name, "
        "p.organisation FROM answer_letter a JOIN construction_project p ON p.id = a.project_id "
        "WHERE a.superseded_at IS NULL AND a.expiry_notified_at IS NULL AND p.deleted_at IS NULL "
        "AND a.valid_until >= :today AND a.valid_until <= :until "
        "ORDER BY a.id FOR UPDATE OF a SKIP LOCKED"),
        {"today": today, "until": today + dt.timedelta(days=warn_days)}).mappings().all()
    return [dict(r) for r in rows]
