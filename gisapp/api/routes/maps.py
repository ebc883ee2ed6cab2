"""Map pages (``/maps/...``), their bbox GeoJSON data (``/maps/data/...``) and ``/static`` files.

Pages carry no data beyond the public township areas; every data endpoint needs a
bearer token of the gas office or an inspector. Queries live in ``maps.layers_data``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from gisapp.api.deps import ReadSessionDep, SessionDep, allow
from layers.services.campaign_plans import judging_settings
from layers.services.errors import NotFoundError
from layers.services.permissions import EVERYTHING, Access
from layers.services.tiles import network_size
from maps import layers_data, panels
from maps.assets import static_file
from maps.basemap import TILE_PATH
from maps.pages import PageOptions, build_dashboard_page, build_map_page
from vocabulary import today_in_shanghai

router = APIRouter(tags=["maps"])
Viewer = Annotated[Access, allow("map.read", scopes=EVERYTHING)]
BBoxQ = Annotated[str, Query(max_length=200, description="西,南,东,北（经纬度，EPSG:4490）")]
ZoomQ = Annotated[int, Query(ge=0, le=layers_data.MAX_ZOOM)]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
ViewQ = Annotated[str, Query(pattern="^(permits|supervision|inspections)$")]
NO_STORE = {"Cache-Control": "no-store"}
PIPELINE_TILES = "/api/tiles/pipelines/{z}/{x}/{y}.mvt"  # gisapp.api.routes.tiles


def _options(request: Request, year: int | None = None) -> PageOptions:
    settings = request.app.state.settings
    basemap = request.app.state.basemap
    if basemap is not None:  # the office's own tile file, served below
        # The file's own credit is text from the file: escaped (Leaflet shows attribution as HTML).
        credit = settings.tile_attribution or html.escape(
            basemap.info.attribution or f"底图：{basemap.info.name}")
        return PageOptions(tile_url=TILE_PATH, tile_attribution=credit,
                           tile_max_native_zoom=basemap.info.max_zoom, year=year,
                           margin_m=settings.district_margin_m)
    return PageOptions(tile_url=settings.tile_url,
                       tile_attribution=settings.tile_attribution, year=year,
                       margin_m=settings.district_margin_m)


def _geojson(body: str) -> Response:
    return Response(content=body, media_type="application/geo+json", headers=NO_STORE)


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str) -> FileResponse:
    """Serve a vendored asset of the map pages (Leaflet, page script, styles)."""
    found = static_file(path)
    if found is None:
        raise NotFoundError(f"静态文件 {path[:200]} 不存在")
    return FileResponse(found, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/maps/basemap/{z}/{x}/{y}", include_in_schema=False)
def basemap_tile(request: Request, z: int, x: int, y: int) -> Response:
    """One tile of the base map file (GISAPP_BASEMAP_FILE); public like any tile server."""
    basemap = request.app.state.basemap
    tile = None if basemap is None else basemap.tile(z, x, y)
    if tile is None:
        raise NotFoundError(f"底图瓦片 {z}/{x}/{y} 不存在")
    return Response(tile, media_type=basemap.info.media_type,
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/maps/", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request) -> HTMLResponse:
    """概览页：链接各地图，登录后显示主要数字。"""
    return HTMLResponse(build_dashboard_page(_options(request)))


def _map_page(view: str, request: Request, session, year: int | None) -> HTMLResponse:
    options = _options(request, year)
    # A large network is drawn from vector tiles (its size is an estimate: no data leaves).
    if network_size(session) >= request.app.state.settings.map_tiles_from_segments:
        options = replace(options, pipeline_tiles_url=PIPELINE_TILES)
    return HTMLResponse(build_map_page(view, options))


@router.get("/maps/permits", response_class=HTMLResponse, include_in_schema=False)
def permits_page(request: Request, session: SessionDep) -> HTMLResponse:
    """保护手续办理情况地图。"""
    return _map_page("permits", request, session, None)


@router.get("/maps/supervision", response_class=HTMLResponse, include_in_schema=False)
def supervision_page(request: Request, session: SessionDep) -> HTMLResponse:
    """燃气工程纳入监管情况地图。"""
    return _map_page("supervision", request, session, None)


@router.get("/maps/inspections", response_class=HTMLResponse, include_in_schema=False)
def inspections_page(request: Request, session: SessionDep, year: YearQ = None) -> HTMLResponse:
    """检查与抽查覆盖情况地图。"""
    return _map_page("inspections", request, session, year)


@router.get("/maps/data/pipelines")
def pipelines_data(session: ReadSessionDep, access: Viewer, bbox: BBoxQ, zoom: ZoomQ) -> Response:
    """视野内的燃气管道（GeoJSON，按缩放级别简化；低缩放级别仅次高压及以上）。"""
    return _geojson(layers_data.pipelines_geojson(session, layers_data.parse_bbox(bbox), zoom))


@router.get("/maps/data/ranges")
def ranges_data(
    request: Request, session: ReadSessionDep, access: Viewer, bbox: BBoxQ, zoom: ZoomQ,
    zone: Annotated[str, Query(pattern="^(protection|control)$")],
) -> Response:
    """视野内管道的安全保护范围或安全控制范围（GeoJSON 面）。"""
    return _geojson(layers_data.ranges_geojson(
        session, layers_data.parse_bbox(bbox), zoom, request.app.state.rule_set, zone))


@router.get("/maps/data/projects")
def projects_data(
    session: ReadSessionDep, access: Viewer, bbox: BBoxQ, zoom: ZoomQ, view: ViewQ,
    township: Annotated[str | None, Query(max_length=64)] = None, year: YearQ = None,
) -> Response:
    """视野内的施工项目及其在该地图中的状态（GeoJSON）。"""
    return _geojson(layers_data.projects_geojson(
        session, layers_data.parse_bbox(bbox), zoom, view, township=township, year=year))


@router.get("/maps/data/projects/{project_id}/popup")
def project_popup(session: ReadSessionDep, access: Viewer, project_id: int, view: ViewQ,
                  year: YearQ = None) -> dict:
    """项目弹窗内容（内容块，页面以纯文本插入）。"""
    detail = layers_data.project_detail(session, project_id, year)
    if detail is None:
        raise NotFoundError(f"项目 id={project_id} 不存在")
    return {"id": project_id, "blocks": panels.project_popup(detail, view)}


@router.get("/maps/data/search")
def search(session: ReadSessionDep, access: Viewer, q: Annotated[str, Query(max_length=100)] = "") -> dict:
    """按项目编号或名称搜索项目。"""
    return {"results": layers_data.search_projects(session, q)}


# The township areas change only with an import of townships: each answer carries an ETag
# (the rows' version and the viewer's district), the browser keeps it a few minutes and
# then asks again with If-None-Match (304, nothing rebuilt). The body of each
# (version, district) is kept here, so a server builds it once per import.
TOWNSHIP_CACHE_CONTROL = "private, max-age=300"
_township_bodies: dict[tuple[str, str], bytes] = {}


@router.get("/maps/data/township-areas")
def township_areas(request: Request, session: ReadSessionDep, access: Viewer) -> Response:
    """乡镇界（简化的 GeoJSON 面，含名称与范围）：区级用户只见本区乡镇；带 ETag，可缓存。"""
    district = access.actor.district
    version = layers_data.township_version(session)
    etag = f'W/"townships-{version}-{district or "all"}"'
    headers = {"ETag": etag, "Cache-Control": TOWNSHIP_CACHE_CONTROL, "Vary": "Cookie, Authorization"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    key = (version, district or "")
    body = _township_bodies.get(key)
    if body is None:
        body = json.dumps(layers_data.township_areas(session, district), ensure_ascii=False,
                          separators=(",", ":")).encode()
        if len(_township_bodies) > 64:  # old versions and many districts: start again
            _township_bodies.clear()
        _township_bodies[key] = body
    return Response(content=body, media_type="application/geo+json", headers=headers)


@router.get("/maps/data/townships")
def townships_data(session: ReadSessionDep, access: Viewer,
                   view: Annotated[str, Query(pattern="^supervision$")] = "supervision") -> dict:
    """各乡镇在建燃气工程纳入监管覆盖率（分级设色用的 GeoJSON）。"""
    return panels.supervision_choropleth(layers_data.supervision_by_township(session))


@router.get("/maps/data/inspection-coverage")
def inspection_coverage(request: Request, session: ReadSessionDep, access: Viewer,
                        year: YearQ = None) -> dict:
    """本年度区级抽查各阶段覆盖率与 30% 抽查比例要求的对照（统计至今天或该年年末）。"""
    today = today_in_shanghai()
    year = year or today.year
    campaign = judging_settings(session, year, request.app.state.settings.campaign_settings)
    on = min(today, dt.date(year, 12, 31))
    coverage = layers_data.inspection_coverage(session, campaign, on)
    return {**coverage, "blocks": panels.coverage_panel(coverage)}


@router.get("/maps/data/summary")
def summary(session: ReadSessionDep, access: Viewer) -> dict:
    """概览页主要数字：管道长度、项目、冲突、保护手续、新告警。"""
    figures = layers_data.dashboard_figures(session)
    return {**figures, "blocks": panels.dashboard_blocks(figures)}
