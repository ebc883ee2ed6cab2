"""Synthetic township polygons: Voronoi cells of the real town centres, per island."""

from __future__ import annotations

import numpy as np

import geopandas as gpd
import shapely

from layers.district import district_boundary, district_boundary_metric
from layers.jurisdictions import DEFAULT_CODE as CHONGMING  # the sample is Chongming's
from layers.sample.geography import geometries_to_lonlat, load_townships
from spatial_rules.crs import STORAGE_EPSG


def township_polygons() -> gpd.GeoDataFrame:
    """Return the townships (EPSG:4490): code, name, synthetic, island, geometry MultiPolygon.

    Cells are drawn in metres, then clipped in lon/lat to the district so that together
    they cover it exactly. Each island is split only among its own towns; islets without
    a town join the nearest town.
    """
    towns = load_townships()
    cells: dict[str, list] = {t.code: [] for t in towns}
    # The two boundary versions list the same parts in the same order.
    parts_metric = list(shapely.get_parts(district_boundary_metric(CHONGMING)))
    parts_lonlat = list(shapely.get_parts(district_boundary(CHONGMING)))
    for part_m, part_ll in zip(parts_metric, parts_lonlat, strict=True):
        members = [t for t in towns if part_m.contains(shapely.Point(t.x, t.y))]
        if not members:
            nearest = min(towns, key=lambda t: part_m.distance(shapely.Point(t.x, t.y)))
            cells[nearest.code].append(part_ll)
            continue
        if len(members) == 1:
            cells[members[0].code].append(part_ll)
            continue
        points = shapely.multipoints([(t.x, t.y) for t in members])
        regions = shapely.get_parts(
            shapely.voronoi_polygons(points, extend_to=part_m.envelope.buffer(10_000))
        )
        regions_ll = geometries_to_lonlat(shapely.segmentize(regions, 500.0))
        for region, region_ll in zip(regions, regions_ll, strict=True):
            owner = next(t for t in members if region.contains(shapely.Point(t.x, t.y)))
            cells[owner.code].append(region_ll.intersection(part_ll))
    geoms = [_multipolygon(shapely.union_all(cells[t.code])) for t in towns]
    return gpd.GeoDataFrame(
        {
            "code": [t.code for t in towns],
            "name": [t.name for t in towns],
            "synthetic": np.ones(len(towns), dtype=bool),
            "island": [t.island for t in towns],
        },
        geometry=geoms,
        crs=STORAGE_EPSG,
    )


def _multipolygon(geom) -> shapely.MultiPolygon:
    """Return the polygon parts of ``geom`` as a MultiPolygon (slivers of lines dropped)."""
    parts = shapely.get_parts(shapely.make_valid(geom))
    return shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon" and p.area > 0])
