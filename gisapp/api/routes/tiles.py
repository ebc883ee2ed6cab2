"""Vector tiles of the map layers (``/api/tiles/{layer}/{z}/{x}/{y}.mvt``), built by PostGIS.

The map pages draw the pipeline network from these tiles when it is large
(``GISAPP_MAP_TILES_FROM_SEGMENTS``); the SQL is ``layers.services.tiles``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gisapp.api.deps import ReadSessionDep, allow
from layers.screening_db import search_distance_m
from layers.services.permissions import Access
from layers.services.tiles import check_tile, pipeline_tile

router = APIRouter(tags=["maps"])
TileReader = Annotated[Access, allow("map.tiles")]
MVT = "application/vnd.mapbox-vector-tile"
# A user's own view of the network: kept by the browser only (never a shared cache), briefly.
TILE_HEADERS = {"Cache-Control": "private, max-age=60", "Vary": "Cookie, Authorization"}


@router.get("/api/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}}})
def tile(request: Request, session: ReadSessionDep, access: TileReader,
         layer: str, z: int, x: int, y: int) -> Response:
    """地图矢量瓦片（Mapbox Vector Tile）：按当前用户可见范围裁剪，按缩放级别简化。"""
    check_tile(layer, z, x, y)
    body = pipeline_tile(session, z, x, y, access,
                         near_m=search_distance_m(request.app.state.rule_set),
                         near_cap=request.app.state.settings.builder_max_visible_pipelines)
    return Response(content=body, media_type=MVT, headers=TILE_HEADERS)
