"""Convert the shared GCJ-02 district boundary to CGCS2000 and ship it in ``layers/data``.

Run once from the repository root: ``python scripts/convert_boundary.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spatial_rules.gcj02 import gcj02_to_wgs84

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "chongming_boundary_gcj02.geojson"
TARGET = ROOT / "layers" / "data" / "chongming_boundary_cgcs2000.geojson"


def _convert_ring(ring: list[list[float]]) -> list[list[float]]:
    coords = np.asarray(ring, dtype=float)
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return [[round(float(x), 8), round(float(y), 8)] for x, y in zip(lon, lat, strict=True)]


def main() -> None:
    """Write the converted boundary next to the package data."""
    src = json.loads(SOURCE.read_text(encoding="utf-8"))
    feature = src["features"][0]
    polygons = feature["geometry"]["coordinates"]
    converted = [[_convert_ring(ring) for ring in polygon] for polygon in polygons]
    props = dict(feature["properties"])
    props["crs_note"] = (
        "CGCS2000 (EPSG:4490) lon/lat, converted from GCJ-02 by iterative inversion "
        "(spatial_rules.gcj02, residual < 0.01 mm)"
    )
    out = {
        "type": "FeatureCollection",
        "name": "chongming_boundary_cgcs2000",
        "features": [
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "MultiPolygon", "coordinates": converted},
            }
        ],
    }
    TARGET.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
