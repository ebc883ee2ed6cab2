"""Synthetic gas networks: high-pressure trunks, sub-high feeders, medium grids, services.

Everything is built in the metric CRS (metres) with numpy arrays; shapely makes the
line geometries in bulk. Each row is one pipe segment of realistic length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely
from shapely.ops import nearest_points, substring

from layers.sample.errors import SampleError
from layers.sample.geography import (
    CHONGMING_TRUNK_LONLAT,
    Township,
    lonlat_to_metric,
    settled_land,
)
from layers.sample.scales import ScaleSpec
from spatial_rules.crs import metric_crs
from spatial_rules.pressure import PressureClass

HP_OWNER = "上海天然气管网有限公司"
CITY_GAS_OWNER = {
    "chongming": "上海崇明燃气有限公司",
    "changxing": "上海长兴燃气有限公司",
    "hengsha": "上海长兴燃气有限公司",
}
# Design pressure (MPa) of each class used; each equals its class's upper bound.
DESIGN_PRESSURE_MPA = {
    PressureClass.HIGH_A: 4.0,
    PressureClass.HIGH_B: 2.5,
    PressureClass.SUBHIGH_A: 1.6,
    PressureClass.SUBHIGH_B: 0.8,
    PressureClass.MEDIUM_A: 0.4,
    PressureClass.MEDIUM_B: 0.2,
    PressureClass.LOW: 0.01,
}
CODE_PREFIX = {"hp": "CM-HP-", "shp": "CM-SHP-", "mp": "CM-MP-", "lp": "CM-LP-"}
STATUS_SHARE = {"in_service": 0.89, "planned": 0.08, "abandoned": 0.03}


@dataclass
class _Lines:
    """Segments of one network level: geometries plus per-segment attribute arrays."""

    geoms: np.ndarray
    town: np.ndarray  # index into the township tuple
    kind: str  # hp, shp, mp, lp
    pressure_class: np.ndarray
    outer_diameter_mm: np.ndarray
    material: np.ndarray
    status: np.ndarray
    label: np.ndarray  # name stem, e.g. "城桥镇中压管网"


def build_pipelines(
    rng: np.random.Generator, spec: ScaleSpec, towns: tuple[Township, ...]
) -> gpd.GeoDataFrame:
    """Return the pipeline segments (metric CRS) with the canonical pipeline columns."""
    land = settled_land()
    trunks = _trunk_routes(land)
    hp = _trunk_segments(rng, spec, trunks, towns)
    shp = _feeders(rng, towns, trunks, land)
    mp = _medium_grids(rng, spec, towns, land)
    n_fixed = len(hp.geoms) + len(shp.geoms) + len(mp.geoms)
    if spec.n_pipelines is None:
        n_services = round(spec.services_per_edge * len(mp.geoms))
    else:
        n_services = spec.n_pipelines - n_fixed
        if n_services < 0:
            raise SampleError(f"规模“{spec.name}”的中压管段数 {n_fixed} 已超过目标管段数")
    lp = _services(rng, mp, n_services, towns)
    return _to_frame([hp, shp, mp, lp], towns)


def _chaikin(coords: np.ndarray, iterations: int) -> np.ndarray:
    """Return a polyline smoothed by Chaikin corner cutting, end points kept (metres)."""
    for _ in range(iterations):
        a, b = coords[:-1], coords[1:]
        q, r = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        inner = np.empty((2 * len(a), 2))
        inner[0::2], inner[1::2] = q, r
        coords = np.vstack([coords[:1], inner[1:-1], coords[-1:]])
    return coords


def _axis_route(area, n_stations: int = 14, trim: float = 0.12) -> np.ndarray:
    """Return the mid-line of an elongated area (metric): midpoints of cross-sections."""
    rect = np.asarray(area.minimum_rotated_rectangle.exterior.coords)[:4]
    sides = np.linalg.norm(np.diff(np.vstack([rect, rect[:1]]), axis=0), axis=1)
    k = int(np.argmax(sides[:2]))
    start = (rect[k] + rect[(k + 3) % 4]) / 2
    end = (rect[(k + 1) % 4] + rect[(k + 2) % 4]) / 2
    across = rect[(k + 3) % 4] - rect[k]
    points = []
    for t in np.linspace(trim, 1 - trim, n_stations):
        centre = start + t * (end - start)
        section = shapely.LineString([centre - across, centre + across]).intersection(area)
        pieces = sorted(shapely.get_parts(section), key=lambda g: -g.length)
        if pieces:
            points.append(np.asarray(pieces[0].interpolate(0.5, normalized=True).coords[0]))
    return np.asarray(points)


def _trunk_routes(land: dict) -> dict[str, shapely.LineString]:
    """Return the high-pressure trunk of Chongming and Changxing islands (metric)."""
    lon, lat = np.asarray(CHONGMING_TRUNK_LONLAT).T
    routes = {
        "chongming": shapely.LineString(_chaikin(lonlat_to_metric(lon, lat), 2)),
        "changxing": shapely.LineString(_chaikin(_axis_route(land["changxing"]), 2)),
    }
    for island, route in routes.items():
        if not land[island].contains(route):
            raise SampleError(f"示例高压干线（{island}）超出陆域范围，请检查种子数据")
    return routes


def _split(line: shapely.LineString, rng: np.random.Generator, lo: float, hi: float) -> list:
    """Return ``line`` cut into consecutive pieces of random length in [lo, hi] metres."""
    total = line.length
    if total <= hi:
        return [line]
    lengths = rng.uniform(lo, hi, size=int(total / lo) + 2)
    cuts = np.cumsum(lengths)
    cuts = cuts[cuts < total]
    if total - cuts[-1] < lo:  # share a short tail with the piece before it
        before = cuts[-2] if len(cuts) > 1 else 0.0
        cuts[-1] = (before + total) / 2
    bounds = np.concatenate([[0.0], cuts, [total]])
    return [substring(line, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _nearest_town(x: np.ndarray, y: np.ndarray, towns: tuple[Township, ...]) -> np.ndarray:
    """Return the index of the nearest town centre for each metric point."""
    tx = np.array([t.x for t in towns])
    ty = np.array([t.y for t in towns])
    best = np.zeros(len(x), dtype=np.int64)
    best_d = np.full(len(x), np.inf)
    for i in range(len(towns)):  # few towns, many points: loop over towns
        d = (x - tx[i]) ** 2 + (y - ty[i]) ** 2
        closer = d < best_d
        best[closer], best_d[closer] = i, d[closer]
    return best


def _trunk_segments(
    rng: np.random.Generator, spec: ScaleSpec, trunks: dict, towns: tuple[Township, ...]
) -> _Lines:
    """Return the trunk segments; two river crossings are laid as twin pipes (multipart)."""
    geoms, labels, classes, diameters = [], [], [], []
    specs = {
        "chongming": ("崇明岛高压干线", PressureClass.HIGH_B, 508.0),
        "changxing": ("长兴岛高压干线", PressureClass.HIGH_A, 813.0),
    }
    for island, route in trunks.items():
        label, cls, od = specs[island]
        pieces = _split(route, rng, *spec.trunk_segment_m)
        geoms += pieces
        labels += [label] * len(pieces)
        classes += [cls.value] * len(pieces)
        diameters += [od] * len(pieces)
    geoms_arr = np.empty(len(geoms), dtype=object)
    geoms_arr[:] = geoms
    for i in rng.choice(len(geoms_arr), size=2, replace=False):
        line = geoms_arr[i]
        twins = [line.offset_curve(4.0), line.offset_curve(-4.0)]
        geoms_arr[i] = shapely.MultiLineString(twins)
    mid = shapely.get_coordinates(shapely.centroid(geoms_arr))
    n = len(geoms_arr)
    return _Lines(
        geoms=geoms_arr,
        town=_nearest_town(mid[:, 0], mid[:, 1], towns),
        kind="hp",
        pressure_class=np.array(classes, dtype=object),
        outer_diameter_mm=np.array(diameters),
        material=np.full(n, "钢", dtype=object),
        status=np.full(n, "in_service", dtype=object),
        label=np.array(labels, dtype=object),
    )


def _feeders(
    rng: np.random.Generator, towns: tuple[Township, ...], trunks: dict, land: dict
) -> _Lines:
    """Return sub-high feeders from the trunk (or Hengsha's gate station) to each town."""
    geoms, town_idx, classes, diameters, statuses = [], [], [], [], []
    planned_town = int(rng.integers(len(towns)))
    for i, town in enumerate(towns):
        centre = shapely.Point(town.x, town.y)
        if town.island in trunks:
            source = trunks[town.island].interpolate(trunks[town.island].project(centre))
        else:  # Hengsha: gate station at the west end, nearest Changxing
            area = land[town.island]
            source = nearest_points(area.buffer(-50), land["changxing"])[0]
        src = np.asarray(source.coords[0])
        dst = np.array([town.x, town.y])
        gap = dst - src
        dist = float(np.hypot(*gap))
        if dist < 300:  # town on the trunk: the regulator station sits off the road
            normal = np.array([-gap[1], gap[0]]) / dist if dist > 1 else np.array([0.0, 1.0])
            dst = src + normal * rng.uniform(350, 600)
            gap, dist = dst - src, float(np.hypot(*(dst - src)))
        normal = np.array([-gap[1], gap[0]]) / dist
        wobble = min(0.08 * dist, 300.0)
        bends = [src + f * gap + normal * rng.normal(0, wobble) for f in (0.35, 0.7)]
        route = shapely.LineString([src, *bends, dst])
        if not land[town.island].contains(route):
            route = shapely.LineString([src, dst])
        pieces = _split(route, rng, 200.0, 450.0)
        major = town.size >= 2
        cls = PressureClass.SUBHIGH_A if major else PressureClass.SUBHIGH_B
        od = float(rng.choice([323.9, 273.0])) if major else float(rng.choice([219.1, 168.3]))
        geoms += pieces
        town_idx += [i] * len(pieces)
        classes += [cls.value] * len(pieces)
        diameters += [od] * len(pieces)
        statuses += ["planned" if i == planned_town else "in_service"] * len(pieces)
    n = len(geoms)
    geoms_arr = np.empty(n, dtype=object)
    geoms_arr[:] = geoms
    town_arr = np.array(town_idx)
    return _Lines(
        geoms=geoms_arr,
        town=town_arr,
        kind="shp",
        pressure_class=np.array(classes, dtype=object),
        outer_diameter_mm=np.array(diameters),
        material=np.full(n, "钢", dtype=object),
        status=np.array(statuses, dtype=object),
        label=np.array([towns[t].name + "次高压支线" for t in town_arr], dtype=object),
    )


def _grid_edges(
    rng: np.random.Generator,
    centre: tuple[float, float],
    angle: float,
    spacing: float,
    half: tuple[float, float],
    drop: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (start, end, is_main) of a jittered street grid around ``centre`` (metres)."""
    nx, ny = max(int(half[0] // spacing), 1), max(int(half[1] // spacing), 1)
    i, j = np.meshgrid(np.arange(-nx, nx + 1), np.arange(-ny, ny + 1), indexing="ij")
    lx = i * spacing + rng.normal(0, 0.08 * spacing, i.shape)
    ly = j * spacing + rng.normal(0, 0.08 * spacing, j.shape)
    # Irregular rounded town outline, so grids do not look like rectangles.
    reach = (lx / half[0]) ** 2 + (ly / half[1]) ** 2
    inside = reach <= 1.0 + rng.uniform(-0.25, 0.35, i.shape)
    inside |= (i == 0) | (j == 0)
    cos, sin = np.cos(angle), np.sin(angle)
    x = centre[0] + lx * cos - ly * sin
    y = centre[1] + lx * sin + ly * cos
    nodes = np.stack([x, y], axis=-1)
    starts, ends, mains = [], [], []
    for a_sl, b_sl, main_axis in (
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), j[:-1, :] == 0),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None)), i[:, :-1] == 0),
    ):
        keep = inside[a_sl] & inside[b_sl]
        keep &= main_axis | (rng.random(keep.shape) >= drop)
        starts.append(nodes[a_sl][keep])
        ends.append(nodes[b_sl][keep])
        mains.append(main_axis[keep])
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(mains)


def _village_centres(
    rng: np.random.Generator, spec: ScaleSpec, towns: tuple[Township, ...], land: dict
) -> np.ndarray:
    """Return (n, 2) village centres on settled land, clear of the town grids (metres)."""
    if spec.n_villages == 0:
        return np.empty((0, 2))
    islands = list(land)
    areas = np.array([land[k].area for k in islands])
    found = []
    need = spec.n_villages
    clear = np.array([spec.town_half_m[t.size - 1][0] * 0.9 for t in towns])
    tx, ty = np.array([t.x for t in towns]), np.array([t.y for t in towns])
    while need > 0:
        island = islands[int(rng.choice(len(islands), p=areas / areas.sum()))]
        x0, y0, x1, y1 = land[island].bounds
        xy = rng.uniform((x0, y0), (x1, y1), size=(need * 4, 2))
        xy = xy[shapely.contains_xy(land[island], xy[:, 0], xy[:, 1])]
        d = np.hypot(xy[:, :1] - tx, xy[:, 1:] - ty)
        xy = xy[(d > clear).all(axis=1)]
        take = min(
            need, max(1, round(spec.n_villages * areas[islands.index(island)] / areas.sum()))
        )
        found.append(xy[:take])
        need -= len(xy[:take])
    return np.concatenate(found)[: spec.n_villages]


def _medium_grids(
    rng: np.random.Generator, spec: ScaleSpec, towns: tuple[Township, ...], land: dict
) -> _Lines:
    """Return the medium-pressure street grids of the towns (and villages at city scale)."""
    axis = {}
    for island, area in land.items():
        rect = np.asarray(area.minimum_rotated_rectangle.exterior.coords)
        edge = (
            rect[1] - rect[0]
            if np.hypot(*(rect[1] - rect[0])) > np.hypot(*(rect[2] - rect[1]))
            else rect[2] - rect[1]
        )
        axis[island] = float(np.arctan2(edge[1], edge[0]))
    settlements = [
        (t.x, t.y, t.island, i, spec.town_spacing_m[t.size - 1], spec.town_half_m[t.size - 1], True)
        for i, t in enumerate(towns)
    ]
    villages = _village_centres(rng, spec, towns, land)
    near = (_nearest_town(villages[:, 0], villages[:, 1], towns) if len(villages)
            else np.empty(0, dtype=np.int64))
    for (vx, vy), t in zip(villages, near, strict=True):
        village_half = rng.uniform(*spec.village_half_m, size=2)
        settlements.append(
            (vx, vy, towns[t].island, int(t), spec.village_spacing_m, tuple(village_half), False)
        )
    starts, ends, mains, town_idx, is_town = [], [], [], [], []
    for x, y, island, t, spacing, half, town_flag in settlements:
        angle = axis[island] + rng.normal(0, np.radians(8))
        s, e, m = _grid_edges(rng, (x, y), angle, spacing, half, spec.edge_drop)
        starts.append(s)
        ends.append(e)
        mains.append(m & town_flag)
        town_idx.append(np.full(len(s), t))
        is_town.append(np.full(len(s), town_flag))
    start, end = np.concatenate(starts), np.concatenate(ends)
    main, town_arr = np.concatenate(mains), np.concatenate(town_idx)
    island_of = np.array([towns[t].island for t in town_arr], dtype=object)
    keep = np.zeros(len(start), dtype=bool)
    mid = (start + end) / 2
    for island, area in land.items():
        on = island_of == island
        ok = on.copy()
        for pts in (start, end, mid):
            ok &= shapely.contains_xy(area, pts[:, 0], pts[:, 1])
        keep |= ok
    start, end, main, town_arr = start[keep], end[keep], main[keep], town_arr[keep]
    n = len(start)
    geoms = np.asarray(shapely.linestrings(np.stack([start, end], axis=1)), dtype=object)
    cls = np.where(main, PressureClass.MEDIUM_A.value, PressureClass.MEDIUM_B.value).astype(object)
    od_main = rng.choice([400.0, 315.0, 323.9, 273.0, 250.0], size=n)
    od_side = rng.choice([160.0, 200.0, 250.0, 168.3], size=n, p=[0.45, 0.3, 0.15, 0.1])
    od = np.where(main, od_main, od_side)
    steel = np.isin(od, [323.9, 273.0, 168.3])
    return _Lines(
        geoms=geoms,
        town=town_arr,
        kind="mp",
        pressure_class=cls,
        outer_diameter_mm=od,
        material=np.where(steel, "钢", "PE").astype(object),
        status=_statuses(rng, n),
        label=np.array([t.name + "中压管网" for t in towns], dtype=object)[town_arr],
    )


def _statuses(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n pipeline statuses drawn with the shares of STATUS_SHARE."""
    names = np.array(list(STATUS_SHARE), dtype=object)
    return names[rng.choice(len(names), size=n, p=list(STATUS_SHARE.values()))]


def _services(rng: np.random.Generator, mp: _Lines, n: int, towns: tuple[Township, ...]) -> _Lines:
    """Return ``n`` low-pressure service lines branching off the medium segments."""
    if n == 0:
        empty = np.empty(0, dtype=object)
        return _Lines(empty, np.empty(0, int), "lp", empty, np.empty(0), empty, empty, empty)
    land = settled_land()
    coords = shapely.get_coordinates(mp.geoms).reshape(-1, 2, 2)
    seg = coords[:, 1] - coords[:, 0]
    length = np.hypot(seg[:, 0], seg[:, 1])
    chosen: list[np.ndarray] = []
    parents: list[np.ndarray] = []
    need = n
    while need > 0:
        m = int(need * 1.15) + 10
        parent = rng.choice(len(length), size=m, p=length / length.sum())
        t = rng.uniform(0.15, 0.85, m)
        base = coords[parent, 0] + t[:, None] * seg[parent]
        unit = seg[parent] / length[parent, None]
        side = rng.choice([-1.0, 1.0], m)
        turn = rng.normal(0, np.radians(12), m)
        normal = np.stack([-unit[:, 1], unit[:, 0]], axis=1) * side[:, None]
        cos, sin = np.cos(turn), np.sin(turn)
        direction = np.stack(
            [normal[:, 0] * cos - normal[:, 1] * sin, normal[:, 0] * sin + normal[:, 1] * cos],
            axis=1,
        )
        reach = rng.uniform(40.0, 160.0, m)
        elbow = base + direction * (reach * rng.uniform(0.5, 0.8, m))[:, None]
        # Most services turn once, along the street they serve.
        along = unit * rng.choice([-1.0, 1.0], m)[:, None]
        end = elbow + along * (reach * rng.uniform(0.0, 0.4, m))[:, None]
        ok = np.zeros(m, dtype=bool)
        for area in land.values():
            ok |= shapely.contains_xy(area, end[:, 0], end[:, 1]) & shapely.contains_xy(
                area, elbow[:, 0], elbow[:, 1]
            )
        lines = np.stack([base, elbow, end], axis=1)[ok][:need]
        chosen.append(lines)
        parents.append(parent[ok][:need])
        need -= len(lines)
    lines = np.concatenate(chosen)
    parent = np.concatenate(parents)
    od = rng.choice(
        [32.0, 40.0, 50.0, 63.0, 75.0, 90.0, 110.0],
        size=n,
        p=[0.12, 0.15, 0.2, 0.2, 0.13, 0.1, 0.1],
    )
    steel = rng.random(n) < 0.12
    return _Lines(
        geoms=np.asarray(shapely.linestrings(lines), dtype=object),
        town=mp.town[parent],
        kind="lp",
        pressure_class=np.full(n, PressureClass.LOW.value, dtype=object),
        outer_diameter_mm=od,
        material=np.where(steel, "钢", "PE").astype(object),
        status=_statuses(rng, n),
        label=np.array([t.name + "低压庭院管" for t in towns], dtype=object)[mp.town[parent]],
    )


def _to_frame(levels: list[_Lines], towns: tuple[Township, ...]) -> gpd.GeoDataFrame:
    """Return one frame of all levels with codes, names, owners and design pressures."""
    frames = []
    island = np.array([t.island for t in towns], dtype=object)
    for level in levels:
        n = len(level.geoms)
        if n == 0:
            continue
        seq = pd.Series(np.arange(1, n + 1)).astype(str)
        width = max(4, len(str(n)))
        codes = CODE_PREFIX[level.kind] + seq.str.zfill(width)
        names = pd.Series(level.label) + " " + seq.str.zfill(width) + "号管段"
        if level.kind == "hp":
            owners = np.full(n, HP_OWNER, dtype=object)
        else:
            owners = pd.Series(island[level.town]).map(CITY_GAS_OWNER).to_numpy(dtype=object)
        pressure = pd.Series(level.pressure_class).map(
            {c.value: p for c, p in DESIGN_PRESSURE_MPA.items()}
        )
        frames.append(
            pd.DataFrame(
                {
                    "external_code": codes.to_numpy(dtype=object),
                    "name": names.to_numpy(dtype=object),
                    "owner": owners,
                    "pressure_class": level.pressure_class,
                    "design_pressure_mpa": pressure.to_numpy(dtype=float),
                    "outer_diameter_mm": level.outer_diameter_mm.astype(float),
                    "material": level.material,
                    "status": level.status,
                    "geometry": level.geoms,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=metric_crs())
