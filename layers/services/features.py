"""Create, read, update, soft-delete and list pipelines and projects, screening every change.

A write that touches geometry or the attributes screening depends on re-screens the
changed feature in the same transaction (``layers.screening_db``): new conflicts get
an alert and a permit record at once, vanished ones are closed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from layers.db import IdArray, execute_prepared, execute_sized
from layers.io.single import ValidFeature, validate_feature
from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from layers.screening_db import NOT_HELD, DbScreenReport, screen_db, search_distance_m
from layers.screening_locks import lock_area, lock_district
from layers.services.actors import Actor
from layers.services.alerts import raise_alerts, raise_change_alerts
from layers.services.answers import issue_answers
from layers.services.audit import record, record_params, record_sql
from layers.services.districts import check_in_district, see, see_city_wide
from layers.services.errors import (
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from layers.services.notify import (
    NO_CHANNELS,
    Channels,
    notify_changed_conflicts,
    notify_new_conflicts,
)
from layers.services.owners import open_reviews
from layers.services.permissions import Access, Scope, denial
from layers.services.site_limits import (
    SiteLimits,
    check_site,
    check_vertices,
    clear_hold,
    hold_projects,
    is_held,
    review_state,
)
from layers.townships import TOWNSHIP_OF_SITE, check_project_townships, fill_townships
from spatial_rules.crs import STORAGE_EPSG
from spatial_rules.rulesets import RuleSet


@dataclass(frozen=True)
class LayerSpec:
    """How one layer maps to its table."""

    kind: str
    table: str
    code: str
    fields: tuple[str, ...]
    entity: str
    screen_key: str  # keyword of screen_db for this layer's ids


PIPELINES = LayerSpec(
    "pipelines", "gas_pipeline", "external_code", tuple(PIPELINE_FIELDS), "pipeline", "pipeline_ids"
)
PROJECTS = LayerSpec(
    "projects", "construction_project", "registration_code", tuple(PROJECT_FIELDS), "project", "project_ids"
)
SPECS = {"pipelines": PIPELINES, "projects": PROJECTS}


@dataclass
class WriteContext:
    """What every write needs besides the feature: who, which rules, where alerts go."""

    actor: Actor
    rule_set: RuleSet
    webhook_urls: Sequence[str] = ()
    margin_m: float = 2000.0
    organisation: str | None = None  # forced owner organisation (builders)
    answer_valid_days: int = 30  # validity of the answer letter each project screening issues
    owner_reply_days: int = 2  # working days an owner has to reply to a new conflict
    channels: Channels = NO_CHANNELS  # where notifications go besides the inbox
    limits: SiteLimits | None = None  # vertex/site limits of the writer's role (API writes)
    alert_burst: int | None = None  # more new alerts than this: one summary webhook message

    @classmethod
    def of(cls, access: Access, rule_set: RuleSet, *, webhook_urls: Sequence[str] = (),
           margin_m: float = 2000.0, limits: SiteLimits | None = None,
           alert_burst: int | None = None, **procedure) -> WriteContext:
        """Return the context of a write granted by ``access``.

        ``procedure``: ``answer_valid_days``, ``owner_reply_days``, ``channels``.

        Projects written under an own-organisation grant always belong to that organisation;
        a write grant of any other scope cannot be honoured here and is refused.
        """
        own_projects = (access.scope is Scope.OWN_PROJECTS
                        and access.action.startswith(("project.", "answer.")))
        if access.scope is not Scope.ALL and not own_projects:
            raise PermissionDeniedError(denial(access.actor, access.action))
        return cls(actor=access.actor, rule_set=rule_set, webhook_urls=webhook_urls,
                   margin_m=margin_m, organisation=access.project_organisation, limits=limits,
                   alert_burst=alert_burst, **procedure)


def _stored_values(valid: ValidFeature, spec: LayerSpec, ctx: WriteContext) -> dict:
    """Return the column values of a validated feature, with the geometry as hex EWKB."""
    values = {f: valid.values.get(f) for f in spec.fields}
    values["geom"] = shapely.to_wkb(
        shapely.set_srid(valid.geometry, STORAGE_EPSG), hex=True, include_srid=True
    )
    if spec is PROJECTS and ctx.organisation is not None:
        values["organisation"] = ctx.organisation
    return values


def _json_default(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


# The conflict's district is given so the permits of a screen need no lookup each.
_OPEN_PERMITS = ("INSERT INTO permit (conflict_id, district) SELECT c.id, c.district "
                 "FROM pipeline_conflict c WHERE c.id = ANY(CAST(:ids AS bigint[])) "
                 "ON CONFLICT (conflict_id) DO NOTHING")


def _screen(
    session: Session, spec: LayerSpec | None, ids: list[int], ctx: WriteContext, *,
    area_locked: bool = False,
) -> DbScreenReport:
    """Screen (``spec`` None: the whole district); permit and alert each new conflict.

    A standing conflict that another version had judged differently gets a 'changed'
    alert (its permit stays as it is).
    """
    scope = {} if spec is None else {spec.screen_key: ids}
    # A network or rule change may close or re-zone conflicts of live projects: their
    # builders and owners are told (a project's own change is its builder's doing).
    before = None if spec is PROJECTS else _open_zones(session, spec, ids)
    report = screen_db(session, ctx.rule_set, area_locked=area_locked, **scope)
    if report.changed:
        raise_change_alerts(session, report.changed, ctx.webhook_urls, burst=ctx.alert_burst)
    new_ids = report.new_conflict_ids
    if new_ids:
        execute_sized(session, _OPEN_PERMITS, {"ids": IdArray(new_ids)}, len(new_ids))
        raise_alerts(session, new_ids, ctx.webhook_urls, burst=ctx.alert_burst)
        open_reviews(session, new_ids, ctx.owner_reply_days)
        notify_new_conflicts(session, new_ids, ctx.channels)
    if before:
        _tell_changes(session, before, ctx)
    return report


def _open_zones(session: Session, spec: LayerSpec | None, ids: list[int]) -> dict[int, str]:
    """Open conflicts in a pipeline screen's scope (all for a district screen): id -> zone."""
    where = "" if spec is None else f" AND {_COLUMN[spec.kind]} = ANY(:ids)"
    return dict(session.execute(
        text(f"SELECT id, zone FROM pipeline_conflict WHERE closed_at IS NULL{where}"),
        {"ids": IdArray(ids)}).all())


def _tell_changes(session: Session, before: dict[int, str], ctx: WriteContext) -> None:
    """Notify the builders and owners whose conflicts a network or rule change closed or re-zoned."""
    rows = session.execute(
        text("SELECT id, zone, closed_at IS NOT NULL AS closed FROM pipeline_conflict "
             "WHERE id = ANY(:ids)"), {"ids": IdArray(before)}).all()
    changed = [r.id for r in rows if r.closed or r.zone != before[r.id]]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    notify_changed_conflicts(session, changed, stamp, ctx.channels)


def screen_and_alert(session: Session, kind: str, ids: Sequence[int], ctx: WriteContext) -> list[int]:
    """Screen stored features by id; permit and alert each new conflict; return the conflict ids."""
    return _screen(session, SPECS[kind], [int(i) for i in ids], ctx).new_conflict_ids


def screen_district(session: Session, ctx: WriteContext, *, trigger: str = "command") -> DbScreenReport:
    """Screen everything stored under ``ctx.rule_set``; permit and alert each new conflict.

    Only projects not yet completed are re-screened. When the stored data was judged
    under another version this is a switch (``layers.services.rules``), recorded with
    its ``trigger`` (command or auto).
    """
    from layers.services.rules import record_switch, stored_rule_set

    lock_district(session)  # the stored version is read and changed by one screen at a time
    stored = stored_rule_set(session)
    label = ctx.rule_set.label
    report = _screen(session, None, [], ctx)
    if stored != label:
        record_switch(session, stored, report, trigger)
        report.switched_from = stored
    return report


def create_feature(session: Session, kind: str, feature: dict, ctx: WriteContext) -> dict:
    """Validate and store one GeoJSON Feature, screen it; return it with its conflicts."""
    spec = SPECS[kind]
    valid = validate_feature(feature, kind, margin_m=ctx.margin_m)
    hold = _check_limits(valid, spec, ctx)
    values = _stored_values(valid, spec, ctx)
    if spec is PROJECTS:
        check_project_townships(session, [(None, values[spec.code], values.get("township"))])
    if spec is PIPELINES and values.get("status") is None:
        values["status"] = "in_service"
    if spec is PROJECTS:
        values["hazardous"] = bool(values.get("hazardous") or False)
        values["insured"] = bool(values.get("insured") or False)
    check_in_district(ctx.actor, kind, valid.geometry)
    # Lock the surroundings before the row exists (layers.screening_locks).
    lock_area(session, search_distance_m(ctx.rule_set), new_geometries=[valid.geometry])
    values.update(record_params(ctx.actor, {"code": values[spec.code], "notes": valid.notes}))
    new_id = execute_prepared(session, _insert_sql(spec), values).scalar_one_or_none()
    if new_id is None:
        # The partial unique index on the live code refused it (a concurrent creator of
        # the same code is waited for, then refused too); no audit row was written.
        # A project's code is taken only within its own organisation, so this says
        # nothing about other organisations.
        if spec is PROJECTS:
            where = "本单位" if values.get("organisation") else "无所属单位的项目中"
            raise ConflictStateError(
                f"编号 {values[spec.code]} 已存在：{where}已有使用该编号的项目"
                f"（字段 {spec.code}；编号在同一单位内不能重复）")
        raise ConflictStateError(f"编号 {values[spec.code]} 已存在（字段 {spec.code}）")
    if hold is not None:  # stored, not screened: the gas office reviews it first
        hold_projects(session, [(new_id, *hold)], ctx.actor)
        held = _held(get_feature(session, kind, new_id), hold[2])
        see(session, ctx.actor.district)  # the insert switched to city-wide (_insert_sql)
        return held
    _screen(session, spec, [new_id], ctx, area_locked=True)
    if spec is PROJECTS:
        issue_answers(session, [new_id], "registration", ctx.rule_set,
                      valid_days=ctx.answer_valid_days, actor=ctx.actor)
        if values.get("status") == "under_construction":
            # Registered while already at work: same check as a start of work.
            from layers.services.procedure import check_start_of_work

            check_start_of_work(session, new_id, ctx.channels)
    created = get_feature(session, kind, new_id)  # with its conflicts across district lines
    if ctx.actor.district is not None:  # (a city-wide user sees city-wide already)
        see(session, ctx.actor.district)  # the rest of the request: its user's district again
    return created


def _check_limits(valid: ValidFeature, spec: LayerSpec, ctx: WriteContext) -> tuple | None:
    """Refuse an implausible feature; return (area, extent, reason) when a site is to be held."""
    if ctx.limits is None:
        return None
    check_vertices(valid.geometry, ctx.limits, "施工范围" if spec is PROJECTS else "管道")
    if spec is not PROJECTS:
        return None
    area, extent, reason = check_site(valid.geometry, ctx.limits)
    return None if reason is None else (area, extent, reason)


def _held(feature: dict, reason: str, withdrawn: Sequence[str] = ()) -> dict:
    detail = f"{reason}，已提交燃气管理所审核；审核通过前不做筛查，也不显示附近管道"
    if withdrawn:
        detail += f"；原查询答复书 {'、'.join(withdrawn)} 已撤回，审核通过后重新出具"
    feature["properties"]["review"] = {
        "state": "pending", "reason": reason, "detail": detail,
        "answers_withdrawn": list(withdrawn),
    }
    return feature


@functools.cache
def _insert_sql(spec: LayerSpec) -> str:
    """INSERT of one live feature and its audit row, or nothing when its code is taken.

    Projects get their township in the same statement.
    """
    cols = list(spec.fields)
    exprs = [f":{c}" for c in cols]
    geom = "ST_GeomFromEWKB(decode(:geom, 'hex'))"
    if spec is PROJECTS:
        exprs[cols.index("township")] = f"coalesce(:township, {TOWNSHIP_OF_SITE.format(geom=geom)})"
    # A project's code is unique within its organisation (layers.models), a pipeline's
    # across the network.
    target = (f"(coalesce(organisation, '')), {spec.code}" if spec is PROJECTS else spec.code)
    return (
        f"WITH new AS (INSERT INTO {spec.table} ({', '.join(cols)}, source, geom) "
        f"VALUES ({', '.join(exprs)}, 'api', {geom}) "
        f"ON CONFLICT ({target}) WHERE deleted_at IS NULL DO NOTHING RETURNING id), "
        f"audit AS ({record_sql('new', f'{spec.entity}.create', spec.table)}) "
        # Once the row passed row-level security's check, the screening that follows
        # runs city-wide: a site on a district's edge reaches pipelines of the next one.
        "SELECT id, gisapp_ref.see(NULL) FROM new"
    )


def _after_write(
    session: Session, spec: LayerSpec, feature_id: int, ctx: WriteContext, action: str, detail: dict,
    *, site_moved: bool = True,
) -> None:
    """What follows an update: the township, the screening, the answer and the audit row.

    The caller locked the area around the old and the new geometry already. A project
    gets a new answer when its site moved or its answer was given under other rules; a
    change of attributes alone (its status, say) keeps the answer it has, so a builder
    cannot refresh an expired answer by editing the project.
    """
    if spec is PROJECTS:
        fill_townships(session, project_ids=[feature_id])
    see_city_wide(session)  # screening reaches across district lines
    _screen(session, spec, [feature_id], ctx, area_locked=True)
    # A site held for the gas office's review is not screened, so it gets no answer
    # until it is released (layers.services.reviews issues it then).
    if (spec is PROJECTS and not is_held(session, feature_id)
            and (site_moved or _answer_outdated(session, feature_id, ctx))):
        issue_answers(session, [feature_id], "change", ctx.rule_set,
                      valid_days=ctx.answer_valid_days, actor=ctx.actor)
    record(session, ctx.actor, f"{spec.entity}.{action}", spec.table, feature_id, detail)


def _answer_outdated(session: Session, project_id: int, ctx: WriteContext) -> bool:
    """No current answer, or one given under another rule set than the one in force."""
    label = session.execute(
        text("SELECT rule_set FROM answer_letter WHERE project_id = :id AND superseded_at IS NULL"),
        {"id": project_id}).scalar_one_or_none()
    return label != ctx.rule_set.label


def renew_answer(session: Session, project_id: int, ctx: WriteContext, access: Access) -> int:
    """Re-screen a project under the rules in force and issue a new answer; return its id.

    The project's current answer is marked superseded by the new one.
    """
    feature = get_feature(session, "projects", project_id, lock=True, access=access)
    if is_held(session, project_id):
        raise ConflictStateError(
            f"项目 {feature['properties'][PROJECTS.code]} 的施工范围正待燃气管理所审核，"
            "审核通过后才能筛查并出具答复书")
    lock_area(session, search_distance_m(ctx.rule_set), table=PROJECTS.table, ids=[project_id])
    _screen(session, PROJECTS, [project_id], ctx, area_locked=True)
    issued = issue_answers(session, [project_id], "renewal", ctx.rule_set,
                           valid_days=ctx.answer_valid_days, actor=ctx.actor)
    record(session, ctx.actor, "answer.renew", "construction_project", project_id,
           {"answer_id": issued[project_id]})
    return issued[project_id]


def update_feature(session: Session, kind: str, feature_id: int, feature: dict, ctx: WriteContext) -> dict:
    """Replace a feature's attributes and geometry (a full Feature), re-screen it."""
    spec = SPECS[kind]
    before = get_feature(session, kind, feature_id, lock=True)
    props = dict(feature.get("properties") or {}) if isinstance(feature, dict) else {}
    code = before["properties"][spec.code]
    given = props.get("id", props.get(spec.code, code))
    if str(given) != str(code):
        raise InvalidRequestError(f"字段 {spec.code}：编号不能修改（{code} → {given}）")
    merged = dict(before["properties"])
    merged.update(props)
    merged["id"] = code
    merged.pop(spec.code, None)
    for drop in ("conflicts", "feature_id", "created_at", "updated_at"):
        merged.pop(drop, None)
    body = {
        "type": "Feature",
        "properties": merged,
        "geometry": feature.get("geometry")
        if isinstance(feature, dict) and feature.get("geometry") is not None
        else before["geometry"],
    }
    valid = validate_feature(body, kind, margin_m=ctx.margin_m)
    check_in_district(ctx.actor, kind, valid.geometry)
    hold = _check_limits(valid, spec, ctx)
    values = _stored_values(valid, spec, ctx)
    if spec is PROJECTS:
        check_project_townships(session, [(None, code, values.get("township"))])
    sets = ", ".join(f"{c} = :{c}" for c in spec.fields if c != spec.code and c in values)
    values["id"] = feature_id
    # Old and new surroundings at once, before the move (layers.screening_locks).
    lock_area(
        session,
        search_distance_m(ctx.rule_set),
        table=spec.table,
        ids=[feature_id],
        new_geometries=[valid.geometry],
    )
    session.execute(
        text(
            f"UPDATE {spec.table} SET {sets}, geom = ST_GeomFromEWKB(decode(:geom, 'hex')), "
            "updated_at = now() WHERE id = :id"
        ),
        values,
    )
    site_moved = not shapely.equals(shapely.geometry.shape(before["geometry"]), valid.geometry)
    withdrawn: list[str] = []
    if spec is PROJECTS and ctx.limits is not None and ctx.limits.hold_large_sites:
        if hold is not None and not site_moved and review_state(session, feature_id) == "released":
            hold = None  # the gas office released this very site: an edit of its attributes keeps it
        if hold is not None:
            # Grown into (or still beyond) the review size: held again, and the current
            # answer, given for the old site, is withdrawn until the office releases it.
            withdrawn = hold_projects(session, [(feature_id, *hold)], ctx.actor)
        else:
            clear_hold(session, feature_id)
    _after_write(
        session,
        spec,
        feature_id,
        ctx,
        "update",
        json.loads(json.dumps({"before": before["properties"], "answers_withdrawn": withdrawn},
                              default=_json_default)),
        site_moved=site_moved,
    )
    if (hold is None and spec is PROJECTS and values.get("status") == "under_construction"
            and before["properties"].get("status") != "under_construction"):
        # Work starts: without the procedure that is a violation (施工未办理保护手续).
        # A held site is checked when the gas office releases it (layers.services.reviews).
        from layers.services.procedure import check_start_of_work

        check_start_of_work(session, feature_id, ctx.channels)
    updated = get_feature(session, kind, feature_id)
    see(session, ctx.actor.district)  # screening was city-wide (_after_write)
    return updated if hold is None else _held(updated, hold[2], withdrawn)


def delete_feature(session: Session, kind: str, feature_id: int, ctx: WriteContext) -> dict:
    """Soft-delete a feature (history kept) and close its conflicts."""
    spec = SPECS[kind]
    before = get_feature(session, kind, feature_id, lock=True)
    lock_area(session, search_distance_m(ctx.rule_set), table=spec.table, ids=[feature_id])
    zones = _open_zones(session, spec, [feature_id]) if spec is PIPELINES else None
    session.execute(text(f"UPDATE {spec.table} SET deleted_at = now() WHERE id = :id"), {"id": feature_id})
    see_city_wide(session)  # close its conflicts with features of every district
    screen_db(session, ctx.rule_set, area_locked=True, **{spec.screen_key: [feature_id]})
    if zones:
        _tell_changes(session, zones, ctx)
    record(
        session,
        ctx.actor,
        f"{spec.entity}.delete",
        spec.table,
        feature_id,
        json.loads(json.dumps({"before": before["properties"]}, default=_json_default)),
    )
    see(session, ctx.actor.district)  # screening was city-wide
    return before


def _select(spec: LayerSpec, *, from_table: bool = True) -> str:
    return (
        f"SELECT id, {', '.join(spec.fields)}, created_at, updated_at, "
        f"ST_AsGeoJSON(geom, 9, 0) AS geojson" + (f" FROM {spec.table}" if from_table else "")
    )


def _to_feature(row: dict, spec: LayerSpec) -> dict:
    props = {k: v for k, v in row.items() if k not in ("geojson", "id")}
    for key, value in props.items():
        if isinstance(value, dt.date | dt.datetime):
            props[key] = value.isoformat()
    if spec is PROJECTS and "activities" in props:
        # Stored as sorted codes joined by commas; the API speaks lists ([] = none declared).
        props["activities"] = props["activities"].split(",") if props["activities"] else []
    props["feature_id"] = row["id"]
    return {"type": "Feature", "id": row["id"], "properties": props, "geometry": json.loads(row["geojson"])}


_CONFLICTS = (
    "SELECT c.id AS conflict_id, g.external_code AS pipeline_id, p.registration_code AS "
    "project_id, c.zone, round(c.distance_m::numeric, 2)::float AS distance_m, "
    "c.pressure_class, c.required_action, c.rule_set, c.found_under, c.prohibited_activities, "
    "c.plan_required_activities FROM pipeline_conflict c "
    "JOIN gas_pipeline g ON g.id = c.pipeline_id "
    "JOIN construction_project p ON p.id = c.project_id "
    "WHERE c.closed_at IS NULL AND c.{column} = {feature_id}"
)
_CONFLICT_ORDER = "ORDER BY distance_m, conflict_id"
_COLUMN = {"projects": "project_id", "pipelines": "pipeline_id"}


def _scope(spec: LayerSpec, access: Access | None, near_m: float | None,
           near_cap: int | None = None, alias: str | None = None) -> tuple[str, dict]:
    """Return the condition (on ``spec.table``) and binds keeping the rows ``access`` reaches.

    ``alias``: the name of the layer's table in the caller's query (default: the table).
    A scope this layer cannot honour is refused, never widened.
    """
    if access is None or access.scope is Scope.ALL:
        return "", {}
    t = alias or spec.table
    org = {"scope_org": access.actor.organisation}
    if spec is PROJECTS and access.scope is Scope.OWN_PROJECTS:
        return f" AND {t}.organisation = :scope_org", org
    if spec is PROJECTS and access.scope is Scope.OWN_PIPELINES:
        # A pipeline owner sees the projects that reach its pipelines.
        return (" AND EXISTS (SELECT 1 FROM pipeline_conflict c JOIN gas_pipeline g "
                f"ON g.id = c.pipeline_id WHERE c.project_id = {t}.id "
                "AND g.owner = :scope_org)"), org
    if spec is PIPELINES and access.scope is Scope.OWN_PIPELINES:
        return f" AND {t}.owner = :scope_org", org
    if spec is PIPELINES and access.scope is Scope.NEAR_OWN_SITES and near_m is not None:
        # Pipelines whose ranges can reach the organisation's sites (the rule set's
        # search distance, ``near_m``), and at most ``near_cap`` of them whatever the
        # sites (the lowest ids: the same set on every page). Sites held for the gas
        # office's review give no sight of the network.
        return (f" AND {t}.id IN (SELECT DISTINCT g.id FROM construction_project p "
                "JOIN gas_pipeline g ON ST_DWithin(p.geom_m, g.geom_m, :scope_near_m) "
                "WHERE p.organisation = :scope_org AND p.deleted_at IS NULL "
                f"AND g.deleted_at IS NULL AND {NOT_HELD} ORDER BY g.id LIMIT :scope_near_cap)"), {
                    **org, "scope_near_m": float(near_m),
                    "scope_near_cap": near_cap if near_cap is not None else 2**31 - 1}
    raise PermissionDeniedError(denial(access.actor, access.action))


def scope_sql(kind: str, access: Access | None, near_m: float | None, alias: str,
              near_cap: int | None = None) -> tuple[str, dict]:
    """Return the SQL condition (no leading AND; ``TRUE`` when unlimited) and binds keeping the
    live ``kind`` rows (table aliased ``alias``) that ``access`` reaches: the API's visibility."""
    clause, params = _scope(SPECS[kind], access, near_m, near_cap, alias)
    return (clause.removeprefix(" AND ") or "TRUE"), params


def get_feature(
    session: Session, kind: str, feature_id: int, *, lock: bool = False,
    access: Access | None = None, near_m: float | None = None, near_cap: int | None = None,
) -> dict:
    """Return a live feature (if ``access`` reaches it) as GeoJSON with its open conflicts.

    ``near_m``: the rule set's search distance, for scopes near the actor's own sites;
    ``near_cap``: how many pipelines such a scope reaches at most.
    """
    spec = SPECS[kind]
    scope, scope_params = _scope(spec, access, near_m, near_cap)
    conflicts = _CONFLICTS.format(column=_COLUMN[kind], feature_id=f"{spec.table}.id")
    # The feature and its conflicts in one round trip (json_agg keeps the conflict order).
    sql = (
        f"{_select(spec, from_table=False)}, (SELECT coalesce(json_agg(x {_CONFLICT_ORDER}), '[]') "
        f"FROM ({conflicts}) x) AS conflicts_json "
        f"FROM {spec.table} WHERE id = :id AND deleted_at IS NULL{scope}"
        + (" FOR UPDATE" if lock else "")
    )
    row = execute_prepared(session, sql, {"id": feature_id, **scope_params}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"{'管道' if kind == 'pipelines' else '项目'} {feature_id} 不存在")
    record = dict(row)
    found = record.pop("conflicts_json")
    if access is not None and access.scope is Scope.OWN_PIPELINES and found:
        # A pipeline owner sees a project's conflicts on its own pipelines only.
        mine = set(session.execute(
            text("SELECT external_code FROM gas_pipeline WHERE owner = :org AND external_code = ANY(:c)"),
            {"org": access.actor.organisation, "c": [c["pipeline_id"] for c in found]}).scalars())
        found = [c for c in found if c["pipeline_id"] in mine]
    feature = _to_feature(record, spec)
    feature["properties"]["conflicts"] = found
    return feature


def list_features(
    session: Session,
    kind: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    township: str | None = None,
    status: str | None = None,
    q: str | None = None,
    access: Access | None = None,
    near_m: float | None = None,
    owner: str | None = None,
    near_cap: int | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Return one page of the live features ``access`` reaches (GeoJSON) and the total."""
    spec = SPECS[kind]
    scope, scope_params = _scope(spec, access, near_m, near_cap)
    where = ["deleted_at IS NULL" + scope]
    params: dict = {"limit": limit, "offset": offset, **scope_params}
    if ids is not None:
        where.append("id = ANY(:ids)")
        params["ids"] = [int(i) for i in ids]
    if bbox is not None:
        where.append("geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    if township is not None and spec is PROJECTS:
        where.append("township = :township")
        params["township"] = township
    if township is not None and spec is PIPELINES:
        where.append(
            "EXISTS (SELECT 1 FROM township t WHERE t.name = :township "
            "AND ST_Intersects(t.geom, gas_pipeline.geom))"
        )
        params["township"] = township
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if q:
        fields = ["name", spec.code] + (["builder", "contractor"] if spec is PROJECTS else ["owner"])
        where.append("(" + " OR ".join(f"{f} ILIKE :q" for f in fields) + ")")
        params["q"] = f"%{q.replace('%', '').replace('_', '')}%"
    clause = " AND ".join(where)
    total = session.execute(text(f"SELECT count(*) FROM {spec.table} WHERE {clause}"), params).scalar_one()
    rows = (
        session.execute(
            text(f"{_select(spec)} WHERE {clause} ORDER BY {spec.code} LIMIT :limit OFFSET :offset"),
            params,
        )
        .mappings()
        .all()
    )
    return [_to_feature(dict(r), spec) for r in rows], int(total)
