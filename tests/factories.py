"""Builders of test input shared by several test modules."""

from __future__ import annotations


def site_feature(code: str, lon: float, lat: float, size_deg: float = 0.0003,
                 width_deg: float | None = None, **props) -> dict:
    """A square site (or ``width_deg`` wide) as a GeoJSON Feature (lon/lat), for API tests."""
    width = size_deg if width_deg is None else width_deg
    ring = [[lon, lat], [lon + width, lat], [lon + width, lat + size_deg],
            [lon, lat + size_deg], [lon, lat]]
    properties = {"id": code, "name": f"测试项目 {code}", "kind": "housing",
                  "status": "under_construction", **props}
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "Polygon", "coordinates": [ring]}}
