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
# The transverse Mercator itself, written once: the metric CRS and the operations below.
_TMERC = "+proj=tmerc +lat_0=0 +lon_0=121.7 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80"
METRIC_PROJ4 = f"{_TMERC} +towgs84=0,0,0,0,0,0,0 +units=m +no_defs"


@lru_cache(maxsize=1)
def metric_crs() -> CRS:
    """Return the district's metric CRS (metres)."""
    return CRS.from_proj4(METRIC_PROJ4)


@lru_cache(maxsize=1)
def storage_crs() -> CRS:
    """Return the storage CRS, CGCS2000 lon/lat."""
    return CRS.from_epsg(STORAGE_EPSG)


# The operations PROJ resolves between storage lon/lat and the metric CRS: no datum
# shift (CGCS2000 and GRS80 with a null towgs84 coincide), degrees to radians and the
# transverse Mercator. Resolving them through PROJ's database costs ~0.06 s per
# direction and process (a tenth of a second of every ``gisapp screen``); written out
# they are the same operations (a test compares them with what PROJ resolves).
TO_METRIC_PIPELINE = f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {_TMERC}"
FROM_METRIC_PIPELINE = (
    f"+proj=pipeline +step +inv {_TMERC} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
)


# pyproj rebuilds a transformer in every thread that uses it (PROJ objects are not
# thread-safe). Built from CRSs that takes ~0.1 s of PROJ database lookups per thread,
# which a server's thread pool pays again and again; built from its pipeline it takes
# ~0.3 ms and transforms identically.
@lru_cache(maxsize=1)
def to_metric() -> Transformer:
    """Return a transformer from storage lon/lat to metric x/y (always_xy)."""
    return Transformer.from_pipeline(TO_METRIC_PIPELINE)


@lru_cache(maxsize=1)
def from_metric() -> Transformer:
    """Return a transformer from metric x/y to storage lon/lat (always_xy)."""
    return Transformer.from_pipeline(FROM_METRIC_PIPELINE)
