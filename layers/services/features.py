"""Create, read, update, soft-delete and list pipelines and projects, screening every change.

A write that touches geometry or the attributes screening depends on re-screens the
changed feature in the same transaction (``layers.screening_db``): new conflicts get
an alert and a permit record at once, vanished ones are closed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from layers.io.features import validate_features
from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from layers.screening_db import screen_db, search_distance_m
from layers.screening_locks import lock_area
from layers.services.alerts import raise_alerts
from layers.services.audit import record
from layers.services.errors import ConflictStateError, InvalidRequestError, NotFoundError
from layers.townships import fill_townships
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

    actor: object
    rule_set: RuleSet
    webhook_urls: Sequence[str] = ()
    margin_m: float = 2000.0
    organisation: str | None = None  # forced owner organisation (builders)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _row_values(frame, spec: LayerSpec) -> dict:
    row = frame.iloc[0]
    values = {f: _plain(row[f]) if f in frame.columns else None for f in spec.fields}
    values["geom"] = shapely.to_wkb(shapely.set_srid(row.geometry, STORAGE_EPSG), hex=True, include_srid=True)
    return values


def _json_default(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _screen(session: Session, spec: LayerSpec | None, ids: list[int], ctx: WriteContext) -> list[int]:
    """Screen (``spec`` None: the whole district); permit and alert each new conflict."""
    scope = {} if spec is None else {spec.screen_key: ids}
    report = screen_db(session, ctx.rule_set, **scope)
    new_ids = report.new_conflict_ids
    if new_ids:
        session.execute(
            text(
                "INSERT INTO permit (conflict_id) SELECT unnest(CAST(:ids AS bigint[])) "
                "ON CONFLICT (conflict_id) DO NOTHING"
            ),
            {"ids": new_ids},
        )
        raise_alerts(session, new_ids, ctx.webhook_urls)
    return new_ids


def screen_and_alert(session: Session, kind: str, ids: Sequence[int], ctx: WriteContext) -> list[int]:
    """Screen stored features by id; permit and alert each new conflict; return the conflict ids."""
    return _screen(session, SPECS[kind], [int(i) for i in ids], ctx)


def screen_district(session: Session, ctx: WriteContext) -> list[int]:
    """Screen everything stored; permit and alert each new conflict; return the conflict ids."""
    return _screen(session, None, [], ctx)


def create_feature(session: Session, kind: str, feature: dict, ctx: WriteContext) -> dict:
    """Validate and store one GeoJSON Feature, screen it; return it with its conflicts."""
    spec = SPECS[kind]
    result = validate_features([feature], kind, margin_m=ctx.margin_m)
    values = _row_values(result.frame, spec)
    if spec is PROJECTS and ctx.organisation is not None:
        values["organisation"] = ctx.organisation
    if spec is PIPELINES and values.get("status") is None:
        values["status"] = "in_service"
    if spec is PROJECTS:
        values["hazardous"] = bool(values.get("hazardous") or False)
        values["insured"] = bool(values.get("insured") or False)
    # Serialise creators of the same code: the partial unique index would also refuse it.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{spec.table}:{values[spec.code]}"}
    )
    exists = session.execute(
        text(f"SELECT 1 FROM {spec.table} WHERE {spec.code} = :c AND deleted_at IS NULL"),
        {"c": values[spec.code]},
    ).first()
    if exists:
        raise ConflictStateError(f"编号 {values[spec.code]} 已存在（字段 {spec.code}）")
    cols = [f for f in spec.fields if f in values]
    new_id = session.execute(
        text(
            f"INSERT INTO {spec.table} ({', '.join(cols)}, source, geom) VALUES "
            f"({', '.join(':' + c for c in cols)}, 'api', ST_GeomFromEWKB(decode(:geom, 'hex'))) "
            "RETURNING id"
        ),
        values,
    ).scalar_one()
    _after_write(session, spec, new_id, ctx, "create", {"code": values[spec.code], "notes": result.notes})
    return get_feature(session, kind, new_id)


def _after_write(
    session: Session, spec: LayerSpec, feature_id: int, ctx: WriteContext, action: str, detail: dict
) -> None:
    """What follows every stored write: the township, the screening and the audit row."""
    if spec is PROJECTS:
        fill_townships(session, project_ids=[feature_id])
    _screen(session, spec, [feature_id], ctx)
    record(session, ctx.actor, f"{spec.entity}.{action}", spec.table, feature_id, detail)


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
    result = validate_features([body], kind, margin_m=ctx.margin_m)
    values = _row_values(result.frame, spec)
    if spec is PROJECTS and ctx.organisation is not None:
        values["organisation"] = ctx.organisation
    sets = ", ".join(f"{c} = :{c}" for c in spec.fields if c != spec.code and c in values)
    values["id"] = feature_id
    # Old and new surroundings at once, before the move (layers.screening_locks).
    lock_area(
        session,
        search_distance_m(ctx.rule_set),
        table=spec.table,
        ids=[feature_id],
        new_geometries_ewkb=[values["geom"]],
    )
    session.execute(
        text(
            f"UPDATE {spec.table} SET {sets}, geom = ST_GeomFromEWKB(decode(:geom, 'hex')), "
            "updated_at = now() WHERE id = :id"
        ),
        values,
    )
    _after_write(
        session,
        spec,
        feature_id,
        ctx,
        "update",
        json.loads(json.dumps({"before": before["properties"]}, default=_json_default)),
    )
    return get_feature(session, kind, feature_id)


def delete_feature(session: Session, kind: str, feature_id: int, ctx: WriteContext) -> dict:
    """Soft-delete a feature (history kept) and close its conflicts."""
    spec = SPECS[kind]
    before = get_feature(session, kind, feature_id, lock=True)
    lock_area(session, search_distance_m(ctx.rule_set), table=spec.table, ids=[feature_id])
    session.execute(text(f"UPDATE {spec.table} SET deleted_at = now() WHERE id = :id"), {"id": feature_id})
    screen_db(session, ctx.rule_set, **{spec.screen_key: [feature_id]})
    record(
        session,
        ctx.actor,
        f"{spec.entity}.delete",
        spec.table,
        feature_id,
        json.loads(json.dumps({"before": before["properties"]}, default=_json_default)),
    )
    return before


def _select(spec: LayerSpec) -> str:
    return (
        f"SELECT id, {', '.join(spec.fields)}, created_at, updated_at, "
        f"ST_AsGeoJSON(geom, 9) AS geojson FROM {spec.table}"
    )


def _to_feature(row: dict, spec: LayerSpec) -> dict:
    props = {k: v for k, v in row.items() if k not in ("geojson", "id")}
    for key, value in props.items():
        if isinstance(value, dt.date | dt.datetime):
            props[key] = value.isoformat()
    props["feature_id"] = row["id"]
    return {"type": "Feature", "id": row["id"], "properties": props, "geometry": json.loads(row["geojson"])}


def get_feature(
    session: Session, kind: str, feature_id: int, *, lock: bool = False, organisation: str | None = None
) -> dict:
    """Return a live feature as a GeoJSON Feature with its open conflicts."""
    spec = SPECS[kind]
    org = " AND organisation = :org" if organisation is not None else ""
    row = (
        session.execute(
            text(
                f"{_select(spec)} WHERE id = :id AND deleted_at IS NULL{org}"
                + (" FOR UPDATE" if lock else "")
            ),
            {"id": feature_id, "org": organisation},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"{'管道' if kind == 'pipelines' else '项目'} {feature_id} 不存在")
    feature = _to_feature(dict(row), spec)
    feature["properties"]["conflicts"] = feature_conflicts(session, kind, feature_id)
    return feature


def feature_conflicts(session: Session, kind: str, feature_id: int) -> list[dict]:
    """Return the open conflicts of a project or pipeline."""
    column = "project_id" if kind == "projects" else "pipeline_id"
    rows = (
        session.execute(
            text(
                "SELECT c.id AS conflict_id, g.external_code AS pipeline_id, p.registration_code AS "
                "project_id, c.zone, round(c.distance_m::numeric, 2)::float AS distance_m, "
                "c.pressure_class, c.required_action, c.rule_set FROM pipeline_conflict c "
                "JOIN gas_pipeline g ON g.id = c.pipeline_id "
                "JOIN construction_project p ON p.id = c.project_id "
                f"WHERE c.closed_at IS NULL AND c.{column} = :id ORDER BY c.distance_m, c.id"
            ),
            {"id": feature_id},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def list_features(
    session: Session,
    kind: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    township: str | None = None,
    status: str | None = None,
    q: str | None = None,
    organisation: str | None = None,
    near_organisation: str | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Return one page of live features (GeoJSON) and the total count matching the filters."""
    spec = SPECS[kind]
    where = ["deleted_at IS NULL"]
    params: dict = {"limit": limit, "offset": offset}
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
    if organisation is not None and spec is PROJECTS:
        where.append("organisation = :org")
        params["org"] = organisation
    if near_organisation is not None and spec is PIPELINES:
        # Builders see only pipelines within the widest control range of their own sites.
        where.append(
            "EXISTS (SELECT 1 FROM construction_project p WHERE p.organisation = :near_org "
            "AND p.deleted_at IS NULL AND ST_DWithin(p.geom_m, gas_pipeline.geom_m, :near_m))"
        )
        params.update(near_org=near_organisation, near_m=51.5)
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
