"""Coordinate reference systems used by the product.

Storage: CGCS2000 lon/lat (EPSG:4490), the national datum, equal to WGS84 within
centimetres. Metric work (buffers, distances): a transverse Mercator on GRS80
centred at 121.7 E, the middle of the district (121.12-122.25 E). Its scale error
is below 4e-5 anywhere in the district (0.4 mm per 10 m), against the 1 cm per
10 m that distances must meet; the national 3-degree zone CM 120E (EPSG:4549)
reaches 5.6e-4 at the eastern tip. PostGIS knows the same definition under
METRIC_SRID (inserted by the first migration), so both screening engines project
identically.
"""

from __future__ import annotations

from functools import lru_cache

from pyproj import CRS, Transformer

STORAGE_EPSG = 4490
METRIC_SRID = 990001
METRIC_PROJ4 = (
    "+proj=tmerc +lat_0=0 +lon_0=121.7 +k=1 +x_0=500000 +y_0=0 "
    "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs"
)


@lru_cache(maxsize=1)
def metric_crs() -> CRS:
    """Return the district's metric CRS (metres)."""
    return CRS.from_proj4(METRIC_PROJ4)


@lru_cache(maxsize=1)
def storage_crs() -> CRS:
    """Return the storage CRS, CGCS2000 lon/lat."""
    return CRS.from_epsg(STORAGE_EPSG)


# pyproj rebuilds a transformer in every thread that uses it (PROJ objects are not
# thread-safe). Built from CRSs that takes ~0.1 s of PROJ database lookups per thread,
# which a server's thread pool pays again and again; built from its resolved pipeline
# it takes ~0.3 ms and transforms identically.
@lru_cache(maxsize=1)
def to_metric() -> Transformer:
    """Return a transformer from storage lon/lat to metric x/y (always_xy)."""
    found = Transformer.from_crs(storage_crs(), metric_crs(), always_xy=True)
    return Transformer.from_pipeline(found.definition)


@lru_cache(maxsize=1)
def from_metric() -> Transformer:
    """Return a transformer from metric x/y to storage lon/lat (always_xy)."""
    found = Transformer.from_crs(metric_crs(), storage_crs(), always_xy=True)
    return Transformer.from_pipeline(found.definition)
