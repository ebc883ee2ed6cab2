"""CGCS2000 Gauss-Krüger zones: EPSG codes, names, and the zone number in front of an easting.

Chinese survey data gives an easting either with the zone number in front
(40 512 345.6 m: zone 40, false easting 500 km) or without it (512 345.6 m, the
central meridian then has to be known). 3-degree zones 25-45 and 6-degree zones 13-23
do not overlap, so a prefixed easting names its zone and zone width by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

# EPSG's CGCS2000 Gauss-Krüger series.
_6DEG_ZONE_FIRST, _6DEG_ZONES = 4491, range(13, 24)  # zones 13-23, easting with prefix
_6DEG_CM_FIRST = 4502  # CM 75E ... 135E every 6 degrees, no prefix
_3DEG_ZONE_FIRST, _3DEG_ZONES = 4513, range(25, 46)  # zones 25-45, with prefix
_3DEG_CM_FIRST = 4534  # CM 75E ... 135E every 3 degrees, no prefix
# Plausible northings in China (metres from the equator): 18 N to 54 N.
NORTHING_RANGE = (1_900_000.0, 6_000_000.0)


@dataclass(frozen=True)
class GaussKruger:
    """One CGCS2000 Gauss-Krüger CRS."""

    epsg: int
    width_deg: int  # 3 or 6
    central_meridian: int
    zone: int
    prefixed: bool  # the easting carries the zone number in front

    @property
    def label(self) -> str:
        """Return e.g. ``EPSG:4529（CGCS2000 3° 高斯-克吕格 41 带，东坐标带带号）``."""
        prefix = "东坐标带带号" if self.prefixed else f"中央经线 {self.central_meridian}°E，东坐标不带带号"
        return (f"EPSG:{self.epsg}（CGCS2000 {self.width_deg}° 高斯-克吕格 {self.zone} 带，"
                f"{prefix}）")


def by_epsg(epsg: int) -> GaussKruger | None:
    """Return the Gauss-Krüger CRS of an EPSG code, or None when it is not one."""
    if _6DEG_ZONE_FIRST <= epsg < _6DEG_ZONE_FIRST + len(_6DEG_ZONES):
        zone = epsg - _6DEG_ZONE_FIRST + 13
        return GaussKruger(epsg, 6, 6 * zone - 3, zone, True)
    if _6DEG_CM_FIRST <= epsg < _6DEG_CM_FIRST + 11:
        cm = 75 + 6 * (epsg - _6DEG_CM_FIRST)
        return GaussKruger(epsg, 6, cm, (cm + 3) // 6, False)
    if _3DEG_ZONE_FIRST <= epsg < _3DEG_ZONE_FIRST + len(_3DEG_ZONES):
        zone = epsg - _3DEG_ZONE_FIRST + 25
        return GaussKruger(epsg, 3, 3 * zone, zone, True)
    if _3DEG_CM_FIRST <= epsg < _3DEG_CM_FIRST + 21:
        cm = 75 + 3 * (epsg - _3DEG_CM_FIRST)
        return GaussKruger(epsg, 3, cm, cm // 3, False)
    return None


def zone_of_easting(easting: float) -> GaussKruger | None:
    """Return the CRS named by the zone number in front of an easting, or None without one."""
    if not 10_000_000 <= easting < 100_000_000:
        return None
    zone = int(easting // 1_000_000)
    if zone in _3DEG_ZONES:
        return by_epsg(_3DEG_ZONE_FIRST + zone - 25)
    if zone in _6DEG_ZONES:
        return by_epsg(_6DEG_ZONE_FIRST + zone - 13)
    return None


def unprefixed_candidates(longitude_hint: float | None = None) -> list[GaussKruger]:
    """Return the 3-degree CRSs without prefix, nearest central meridian to the hint first."""
    found = [by_epsg(_3DEG_CM_FIRST + k) for k in range(21)]
    found += [by_epsg(_6DEG_CM_FIRST + k) for k in range(11)]
    crs = [c for c in found if c is not None]
    if longitude_hint is not None:
        crs.sort(key=lambda c: (abs(c.central_meridian - longitude_hint), c.width_deg))
    return crs


def is_easting(value: float) -> bool:
    """Return True for a plausible Gauss-Krüger easting, with or without the zone number."""
    return 100_000.0 <= value < 900_000.0 or zone_of_easting(value) is not None


def is_northing(value: float) -> bool:
    """Return True for a plausible northing in China (metres)."""
    return NORTHING_RANGE[0] <= value <= NORTHING_RANGE[1]
