"""``/ogc``: OGC API – Features (Part 1 core, GeoJSON, OpenAPI 3.0; Part 2 CRS) for QGIS and GDAL.

The landing page, conformance and the API definition are public (they hold no data);
collections and items need a bearer token or a personal access token
(``/api/auth/personal-tokens``), which QGIS and GDAL send as an ``Authorization`` header.
"""

from __future__ import annotations

import datetime as dt
import json

from fastapi import APIRouter, Request, Response

from gisapp.api.deps import CurrentUser, SessionDep
from gisapp.ogc.openapi import openapi_document
from layers.screening_db import search_distance_m
from layers.services import ogc
from layers.services.actors import Actor
from layers.services.errors import NotFoundError, QueryParameterError

router = APIRouter(prefix="/ogc", tags=["ogc"])

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
_COMMON_PARAMS = {"f"}
_ITEMS_PARAMS = {"limit", "cursor", "bbox", "bbox-crs", "crs", "f"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _dump(body: dict, media_type: str = JSON, headers: dict | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(content, media_type=media_type, headers=headers)


def _check_params(request: Request, allowed: set[str]) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise QueryParameterError(f"参数 {name}：不支持（可用：{'、'.join(sorted(allowed))}）")
    fmt = request.query_params.get("f")
    if fmt is not None and fmt not in ("json", "geojson"):
        raise QueryParameterError(f"参数 f：不支持的格式“{fmt}”（可用：json、geojson）")


def _viewer(request: Request, user: Actor) -> ogc.Viewer:
    # What the user may read is the permission table's answer (layers.services.ogc).
    settings = request.app.state.settings
    return ogc.Viewer(user, search_distance_m(request.app.state.rule_set),
                      getattr(settings, "builder_max_visible_pipelines", None))


@router.get("", summary="OGC API 入口页")
def landing(request: Request) -> Response:
    """OGC API – Features 入口页：服务说明、一致性声明与图层列表的链接。"""
    _check_params(request, _COMMON_PARAMS)
    base = _base(request)
    return _dump({
        "title": "崇明区燃气管道保护 GIS（OGC API – Features）",
        "description": ("施工项目、燃气管道、冲突、乡镇及保护/控制范围。"
                        "QGIS、GDAL 以访问令牌或个人访问令牌读取。"),
        "links": [
            {"rel": "self", "type": JSON, "title": "本页", "href": base},
            {"rel": "service-desc", "type": OPENAPI, "title": "API 定义（OpenAPI 3.0）",
             "href": f"{base}/openapi"},
            {"rel": "service-doc", "type": "text/html", "title": "API 文档",
             "href": str(request.base_url) + "docs"},
            {"rel": "conformance", "type": JSON, "title": "一致性声明", "href": f"{base}/conformance"},
            {"rel": "data", "type": JSON, "title": "图层", "href": f"{base}/collections"},
        ],
    })


@router.get("/conformance", summary="一致性声明")
def conformance(request: Request) -> Response:
    """本服务实现的 OGC API 一致性类。"""
    _check_params(request, _COMMON_PARAMS)
    return _dump({"conformsTo": CONFORMANCE})


@router.get("/openapi", summary="OGC API 的 OpenAPI 3.0 定义")
def openapi(request: Request) -> Response:
    """本 OGC API 的 OpenAPI 3.0 文档。"""
    _check_params(request, _COMMON_PARAMS)
    return _dump(openapi_document(_base(request)), media_type=OPENAPI)


def _collection_body(base: str, spec: ogc.CollectionSpec, extent: list[float]) -> dict:
    href = f"{base}/collections/{spec.id}"
    return {
        "id": spec.id, "title": spec.title, "description": spec.description, "itemType": "feature",
        "extent": {"spatial": {"bbox": [extent], "crs": ogc.CRS84}},
        "crs": list(ogc.supported_crs()), "storageCrs": ogc.supported_crs()[ogc.CRS84].uri,
        "links": [
            {"rel": "self", "type": JSON, "title": spec.title, "href": href},
            {"rel": "items", "type": GEOJSON, "title": f"{spec.title}（要素）", "href": f"{href}/items"},
        ],
    }


@router.get("/collections", summary="图层列表")
def collections(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """当前用户可读的图层（管理员无）。"""
    _check_params(request, _COMMON_PARAMS)
    base = _base(request)
    extent = ogc.spatial_extent(session)
    readable = ogc.readable_collections(_viewer(request, user))
    return _dump({
        "links": [{"rel": "self", "type": JSON, "href": f"{base}/collections"}],
        "collections": [_collection_body(base, spec, extent) for spec in readable],
        "crs": list(ogc.supported_crs()),
    })


@router.get("/collections/{collection_id}", summary="一个图层")
def collection(request: Request, session: SessionDep, user: CurrentUser, collection_id: str) -> Response:
    """一个图层的说明、范围与支持的坐标系。"""
    _check_params(request, _COMMON_PARAMS)
    spec = ogc.collection(_viewer(request, user), collection_id)
    return _dump(_collection_body(_base(request), spec, ogc.spatial_extent(session)))


def _int_param(request: Request, name: str, low: int, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryParameterError(f"参数 {name}：应为整数（收到“{raw[:40]}”）") from exc
    if value < low:
        raise QueryParameterError(f"参数 {name}：不能小于 {low}")
    return value if high is None else min(value, high)


def _content_crs(crs: ogc.OutputCrs) -> dict:
    return {"Content-Crs": f"<{crs.uri}>"}


@router.get("/collections/{collection_id}/items", summary="图层要素（分页）")
def items(request: Request, session: SessionDep, user: CurrentUser, collection_id: str) -> Response:
    """图层要素：bbox、bbox-crs、crs、limit（最大 10000）、按属性过滤；next 链接按编号续读。"""
    viewer = _viewer(request, user)
    spec = ogc.collection(viewer, collection_id)
    _check_params(request, _ITEMS_PARAMS | set(spec.queryables))
    params = request.query_params
    query = ogc.ItemsQuery(
        limit=_int_param(request, "limit", 1, ogc.MAX_LIMIT) or ogc.DEFAULT_LIMIT,
        after_id=_int_param(request, "cursor", 0, 2**62),
        crs=ogc.parse_crs(params.get("crs"), "crs"),
        bbox_crs=ogc.parse_crs(params.get("bbox-crs"), "bbox-crs"),
        filters={k: v for k, v in params.items() if k in spec.queryables},
    )
    if params.get("bbox") is not None:
        query.bbox = ogc.parse_bbox(params["bbox"], query.bbox_crs)
    elif params.get("bbox-crs") is not None:
        raise QueryParameterError("参数 bbox-crs：只能与 bbox 一起使用")
    page = ogc.items(session, viewer, collection_id, query, request.app.state.rule_set)
    self_href = str(request.url)
    links = [{"rel": "self", "type": GEOJSON, "href": self_href}]
    if page.more:
        next_href = str(request.url.include_query_params(cursor=page.last_id))
        links.append({"rel": "next", "type": GEOJSON, "title": "下一页", "href": next_href})
    head = {"type": "FeatureCollection", "numberReturned": len(page.features), "links": links,
            "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    if page.number_matched is not None:
        head["numberMatched"] = page.number_matched
    # The features are GeoJSON texts written by PostgreSQL: joined, never parsed again.
    content = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    content += ',"features":[' + ",".join(page.features) + "]}"
    return Response(content, media_type=GEOJSON, headers=_content_crs(query.crs))


@router.get("/collections/{collection_id}/items/{feature_id}", summary="一个要素")
def item(request: Request, session: SessionDep, user: CurrentUser, collection_id: str,
         feature_id: str) -> Response:
    """按编号读取一个要素（crs 可选）。"""
    viewer = _viewer(request, user)
    spec = ogc.collection(viewer, collection_id)
    _check_params(request, {"crs", "f"})
    try:
        fid = int(feature_id)
        if not 0 <= fid < 2**63:
            raise ValueError(feature_id)
    except ValueError as exc:
        raise NotFoundError(f"图层 {spec.id} 中要素 {feature_id[:40]} 不存在") from exc
    crs = ogc.parse_crs(request.query_params.get("crs"), "crs")
    feature = ogc.item(session, viewer, collection_id, fid, crs, request.app.state.rule_set)
    base = f"{_base(request)}/collections/{spec.id}"
    links = json.dumps([
        {"rel": "self", "type": GEOJSON, "href": str(request.url)},
        {"rel": "collection", "type": JSON, "href": base},
    ])
    content = feature[:-1] + ',"links":' + links + "}"
    return Response(content, media_type=GEOJSON, headers=_content_crs(crs))
