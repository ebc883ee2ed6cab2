"""``/api/projects`` and ``/api/pipelines``: GeoJSON features in and out, screened on every write."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from gisapp.api.deps import SessionDep, allow, write_ctx
from gisapp.api.pagination import next_links
from gisapp.api.transaction import BearerToken, in_transaction
from layers.screening_db import search_distance_m
from layers.services import idempotency
from layers.services.actors import Actor
from layers.services.errors import InvalidRequestError
from layers.services.features import (
    create_feature,
    delete_feature,
    get_feature,
    list_features,
    update_feature,
)
from layers.services.permissions import Access, authorize

router = APIRouter(prefix="/api", tags=["features"])

ENTITY = {"projects": "project", "pipelines": "pipeline"}  # the permission table's objects
FEATURE_EXAMPLE = {
    "type": "Feature",
    "properties": {"id": "CM2026-9001", "name": "示例项目", "kind": "housing", "status": "planned"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[121.40, 31.62], [121.401, 31.62], [121.401, 31.621], [121.40, 31.62]]],
    },
}
FeatureBody = Annotated[dict[str, Any], Body(examples=[FEATURE_EXAMPLE])]


def _zh(kind: str) -> str:
    return "施工项目" if kind == "projects" else "燃气管道"


def _reach(request: Request) -> float:
    """How far from a pipeline the configured rule set's ranges can reach (metres)."""
    return search_distance_m(request.app.state.rule_set)


def _granted(route, kind: str, verb: str):
    """Give ``route`` its ``access`` dependency: the table's grant of ``<entity>.<verb>``.

    Set here, not in the signature: the annotations are strings (postponed evaluation)
    that FastAPI resolves in the module's globals, where ``kind`` is unknown.
    """
    route.__annotations__["access"] = Annotated[Access, allow(f"{ENTITY[kind]}.{verb}")]
    return route


def _visible(request: Request, session, access: Access, kind: str, feature_id: int) -> dict:
    """Return the feature if ``access`` reaches it (else "not found", as if it did not exist)."""
    return get_feature(session, kind, feature_id, access=access, near_m=_reach(request),
                       near_cap=request.app.state.settings.builder_max_visible_pipelines)


def _create(kind: str):
    write_action = f"{ENTITY[kind]}.write"

    async def create(
        request: Request,
        token: BearerToken,
        feature: FeatureBody,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        path = request.url.path

        def work(session, user: Actor) -> Response:
            access = authorize(user, write_action)
            digest = None if idempotency_key is None else idempotency.body_digest(feature)
            if idempotency_key is not None:
                stored = idempotency.replay(session, user.id, idempotency_key, path, digest)
                if stored is not None:
                    return JSONResponse(stored[1], status_code=stored[0],
                                        headers={"Idempotent-Replayed": "true"})
            created = create_feature(session, kind, feature, write_ctx(request, access))
            body = dict(created)
            body["conflicts"] = created["properties"]["conflicts"]
            status = 202 if "review" in created["properties"] else 201  # held for review
            if idempotency_key is not None:
                idempotency.remember(session, user.id, idempotency_key, path, digest, status, body)
            return _json(body, status)

        return await in_transaction(request, token, work)

    create.__doc__ = f"新建{_zh(kind)}（GeoJSON Feature），同一事务内完成缓冲区分析；返回冲突列表。"
    return create


def _json(body: dict, status_code: int = 200, media_type: str = "application/json") -> Response:
    """Encode a body of JSON types as it is (fastapi's jsonable_encoder walked every coordinate)."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    return Response(content, status_code=status_code, media_type=media_type)


def _read(kind: str):
    def read(request: Request, session: SessionDep, access: Access, feature_id: int):
        return _visible(request, session, access, kind, feature_id)

    read.__doc__ = f"读取一个{_zh(kind)}（含当前冲突）。"
    return _granted(read, kind, "read")


def _update(kind: str):
    def update(
        request: Request, session: SessionDep, access: Access, feature_id: int,
        feature: FeatureBody,
    ):
        _visible(request, session, access, kind, feature_id)
        updated = update_feature(session, kind, feature_id, feature, write_ctx(request, access))
        # 202 when the edit put the site on hold for the gas office (as a held creation).
        return _json(updated, 202 if "review" in updated["properties"] else 200)

    update.__doc__ = f"修改{_zh(kind)}（属性与几何），并重新筛查。"
    return _granted(update, kind, "write")


def _delete(kind: str):
    def delete(request: Request, session: SessionDep, access: Access, feature_id: int):
        _visible(request, session, access, kind, feature_id)
        delete_feature(session, kind, feature_id, write_ctx(request, access))
        return Response(status_code=204)

    delete.__doc__ = f"删除{_zh(kind)}（软删除，保留历史），其冲突关闭。"
    return _granted(delete, kind, "write")


def _parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidRequestError("参数 bbox 应为 minLon,minLat,maxLon,maxLat 四个数") from exc
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidRequestError(
            "参数 bbox 超出经纬度范围或最小值大于最大值（顺序：minLon,minLat,maxLon,maxLat）"
        )
    return x0, y0, x1, y1


def _list(kind: str):
    def list_(
        request: Request,
        session: SessionDep,
        access: Access,
        bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
        township: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        q: Annotated[str | None, Query(max_length=100, description="按编号、名称、单位搜索")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ):
        features, total = list_features(
            session,
            kind,
            bbox=_parse_bbox(bbox),
            township=township,
            status=status,
            q=q,
            access=access,
            near_m=_reach(request),
            near_cap=request.app.state.settings.builder_max_visible_pipelines,
            limit=limit,
            offset=offset,
        )
        links = next_links(request, offset=offset, limit=limit, returned=len(features), total=total,
                           type="application/geo+json")
        collection = {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": total,
            "numberReturned": len(features),
            "links": links,
        }
        return _json(collection, media_type="application/geo+json")

    list_.__doc__ = f"列出{_zh(kind)}（GeoJSON FeatureCollection），可按范围、乡镇、状态、关键词过滤并分页。"
    return _granted(list_, kind, "read")


for _kind in ("projects", "pipelines"):
    router.add_api_route(
        f"/{_kind}", _create(_kind), methods=["POST"], status_code=201, name=f"create_{_kind}"
    )
    router.add_api_route(f"/{_kind}", _list(_kind), methods=["GET"], name=f"list_{_kind}")
    router.add_api_route(f"/{_kind}/{{feature_id}}", _read(_kind), methods=["GET"], name=f"read_{_kind}")
    router.add_api_route(f"/{_kind}/{{feature_id}}", _update(_kind), methods=["PUT"], name=f"update_{_kind}")
    router.add_api_route(
        f"/{_kind}/{{feature_id}}",
        _delete(_kind),
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{_kind}",
    )
