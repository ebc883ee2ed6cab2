"""Synthetic construction projects: site polygons near and away from pipelines, attributes.

Geometry is built in the metric CRS (metres) in bulk: a site is a template polygon
(rectangle or L-shape) in a local frame, rotated and moved with numpy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from layers.sample.companies import company_pools
from layers.sample.errors import SampleError
from layers.sample.geography import Township, all_settled_land
from layers.sample.scales import ScaleSpec
from spatial_rules.crs import metric_crs

AWAY_CLEARANCE_M = 60.0  # "away" sites keep this far from every pipeline
KIND_SHARE_NEAR = {"housing": 0.25, "municipal": 0.35, "gas_engineering": 0.40}
KIND_SHARE_AWAY = {"housing": 0.50, "municipal": 0.35, "gas_engineering": 0.15}
STATUS_SHARE = {"planned": 0.18, "under_construction": 0.55, "suspended": 0.08, "completed": 0.19}
PLACES = (
    "八一路",
    "人民路",
    "南门路",
    "东门路",
    "西门路",
    "北门路",
    "城桥路",
    "翠竹路",
    "鳌山路",
    "秀山路",
    "育麟桥路",
    "湄洲路",
    "鼓浪屿路",
    "乔松路",
    "三沙洪路",
    "陈海公路沿线",
    "北沿公路沿线",
    "草港公路沿线",
    "新建公路",
    "港东公路",
    "向化公路",
    "中兴公路",
    "揽海路",
    "裕安路",
    "团旺河路",
    "东风西沙路",
    "建设公路",
    "花博园路",
    "明珠湖路",
    "跃进河路",
)
SUFFIXES = {
    "housing": (
        "住宅小区项目",
        "保障性住房项目",
        "动迁安置房项目",
        "学校教学楼新建工程",
        "社区卫生服务中心项目",
        "养老院新建工程",
        "标准厂房项目",
        "商业综合体项目",
    ),
    "municipal": (
        "道路改建工程",
        "污水管网工程",
        "桥梁改建工程",
        "河道综合整治工程",
        "雨水泵站工程",
        "供水管网改造工程",
        "公交枢纽工程",
        "农村道路提档升级工程",
    ),
    "gas_engineering": (
        "中压燃气管道新建工程",
        "燃气管道改造工程",
        "调压站改造工程",
        "老旧燃气管网更新工程",
        "燃气管道迁改工程",
        "燃气户线接入工程",
    ),
}
PHASES = ("", "", "", "（一期）", "（二期）", "（三期）")


def build_projects(
    rng: np.random.Generator,
    spec: ScaleSpec,
    towns: tuple[Township, ...],
    townships: gpd.GeoDataFrame,
    pipelines: gpd.GeoDataFrame,
    year: int,
) -> gpd.GeoDataFrame:
    """Return the projects (metric CRS) with the canonical project columns."""
    n = spec.n_projects
    n_near = round(spec.near_share * n)
    n_near_hp = round(0.3 * n_near)
    lines = pipelines.geometry.to_numpy()
    is_high = pipelines["pressure_class"].str.startswith("high").to_numpy()
    single = shapely.get_type_id(lines) == 1  # LineString
    near_hp = _near_sites(rng, lines[is_high & single], n_near_hp, hp=True)
    near_other = _near_sites(rng, lines[~is_high & single], n_near - n_near_hp, hp=False)
    away = _away_sites(rng, spec, towns, lines, n - n_near)
    geoms = np.concatenate([near_hp, near_other, away])
    near = np.arange(n) < n_near
    _add_special_shapes(rng, geoms, near, lines, n)
    order = rng.permutation(n)
    geoms, near = geoms[order], near[order]
    if not shapely.is_valid(geoms).all():
        raise SampleError("生成的示例项目红线存在无效多边形")
    frame = _attributes(rng, geoms, near, townships, towns, year)
    frame["activities"] = _planned_activities(np.random.default_rng([year, n, 13]), n)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=metric_crs())


# Planned activities of the sample projects (vocabulary.activities codes), with weights:
# most projects dig, pile or lay pipes; a few blast, burn or stack; 40 % declare none.
_ACTIVITY_WEIGHTS = {
    "excavation": 0.5, "piling": 0.35, "pipe_laying": 0.25, "structure": 0.3, "drilling": 0.15,
    "jacking": 0.08, "stacking": 0.1, "open_flame": 0.06, "blasting": 0.04, "dredging": 0.03,
    "anchoring": 0.02, "deep_rooted_planting": 0.03,
}


def _planned_activities(rng: np.random.Generator, n: int) -> list[str | None]:
    """Return each project's declared activities (sorted codes, comma-joined) or None."""
    codes = sorted(_ACTIVITY_WEIGHTS)
    weights = np.array([_ACTIVITY_WEIGHTS[c] for c in codes])
    picked = rng.random((n, len(codes))) < weights
    declares = rng.random(n) >= 0.4
    return [
        ",".join(c for c, on in zip(codes, row, strict=True) if on) or None if d else None
        for row, d in zip(picked.tolist(), declares.tolist(), strict=True)
    ]


def _site_sizes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (length, depth) of n sites in metres, 30-300 m, log-uniform."""
    length = np.exp(rng.uniform(np.log(40.0), np.log(300.0), n))
    depth = np.minimum(np.exp(rng.uniform(np.log(30.0), np.log(220.0), n)), length * 1.2)
    return length, np.maximum(depth, 30.0)


def _template_polygons(
    rng: np.random.Generator,
    length: np.ndarray,
    depth: np.ndarray,
    origin: np.ndarray,
    angle: np.ndarray,
) -> np.ndarray:
    """Return site polygons: local x in [-length/2, length/2], y in [0, depth], then placed.

    The edge y = 0 is the side facing a pipeline for near sites. About a quarter are
    L-shapes (a corner cut away from the far side).
    """
    n = len(length)
    half = length / 2
    cut_x = rng.uniform(0.35, 0.65, n)
    cut_y = rng.uniform(0.4, 0.7, n)
    rect = np.stack(
        [
            np.stack([-half, np.zeros(n)], 1),
            np.stack([half, np.zeros(n)], 1),
            np.stack([half, depth], 1),
            np.stack([-half, depth], 1),
            np.stack([-half, np.zeros(n)], 1),
        ],
        axis=1,
    )
    ell = np.stack(
        [
            np.stack([-half, np.zeros(n)], 1),
            np.stack([half, np.zeros(n)], 1),
            np.stack([half, depth * cut_y], 1),
            np.stack([-half + length * cut_x, depth * cut_y], 1),
            np.stack([-half + length * cut_x, depth], 1),
            np.stack([-half, depth], 1),
            np.stack([-half, np.zeros(n)], 1),
        ],
        axis=1,
    )
    is_ell = rng.random(n) < 0.25
    out = np.empty(n, dtype=object)
    for mask, local in ((~is_ell, rect), (is_ell, ell)):
        if mask.any():
            out[mask] = shapely.polygons(_place(local[mask], origin[mask], angle[mask]))
    return out


def _place(local: np.ndarray, origin: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Return local (n, k, 2) coordinates rotated by ``angle`` and moved to ``origin``."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = origin[:, None, 0] + local[..., 0] * cos - local[..., 1] * sin
    y = origin[:, None, 1] + local[..., 0] * sin + local[..., 1] * cos
    return np.stack([x, y], axis=-1)


def _near_sites(rng: np.random.Generator, lines: np.ndarray, n: int, hp: bool) -> np.ndarray:
    """Return n sites beside random pipe segments: overlapping or a few metres off.

    Near the high-pressure trunk, the gap to the pipe is up to 45 m (control range);
    elsewhere the site overlaps the pipe or stays within 5 m of it.
    """
    land = all_settled_land()
    found: list[np.ndarray] = []
    need = n
    for _ in range(50):
        if need <= 0:
            break
        m = need * 2 + 10
        pick = lines[rng.integers(len(lines), size=m)]
        t = rng.uniform(0.2, 0.8, m)
        at = shapely.get_coordinates(shapely.line_interpolate_point(pick, t, normalized=True))
        ahead = shapely.get_coordinates(
            shapely.line_interpolate_point(pick, t + 0.02, normalized=True)
        )
        tangent = ahead - at
        angle = np.arctan2(tangent[:, 1], tangent[:, 0])
        length, depth = _site_sizes(rng, m)
        if hp:
            gap = np.where(rng.random(m) < 0.3, rng.uniform(-3, 6, m), rng.uniform(6, 45, m))
        else:
            gap = rng.uniform(-0.5, 0.1, m) * depth + rng.uniform(0, 5, m) * (rng.random(m) < 0.5)
        side = rng.choice([-1.0, 1.0], m)
        angle = np.where(side > 0, angle, angle + np.pi)
        normal = np.stack([-np.sin(angle), np.cos(angle)], 1)
        origin = at + normal * gap[:, None]
        sites = _template_polygons(rng, length, depth, origin, angle)
        sites = sites[shapely.contains(land, sites)][:need]
        found.append(sites)
        need -= len(sites)
    if need > 0:
        raise SampleError("无法在管线附近布置足够的示例项目")
    return np.concatenate(found)


def _away_sites(
    rng: np.random.Generator,
    spec: ScaleSpec,
    towns: tuple[Township, ...],
    lines: np.ndarray,
    n: int,
) -> np.ndarray:
    """Return n sites in and around the towns, at least AWAY_CLEARANCE_M from any pipe."""
    land = all_settled_land()
    tree = shapely.STRtree(lines)
    weight = np.array([t.size**2 for t in towns], dtype=float)
    centre = np.array([(t.x, t.y) for t in towns])
    spread = np.array([spec.town_half_m[t.size - 1][0] * 1.2 for t in towns])
    x0, y0, x1, y1 = land.bounds
    found: list[np.ndarray] = []
    need = n
    for _ in range(200):
        if need <= 0:
            break
        m = need * 3 + 20
        town = rng.choice(len(towns), size=m, p=weight / weight.sum())
        origin = centre[town] + rng.normal(0, 1, (m, 2)) * spread[town, None]
        rural = rng.random(m) < 0.3  # some sites out in the countryside
        origin[rural] = rng.uniform((x0, y0), (x1, y1), (int(rural.sum()), 2))
        length, depth = _site_sizes(rng, m)
        angle = rng.uniform(0, np.pi, m)
        sites = _template_polygons(rng, length, depth, origin, angle)
        sites = sites[shapely.contains(land, sites)]
        hit = tree.query(sites, predicate="dwithin", distance=AWAY_CLEARANCE_M)[0]
        sites = np.delete(sites, np.unique(hit))[:need]
        found.append(sites)
        need -= len(sites)
    if need > 0:
        raise SampleError("无法在远离管线处布置足够的示例项目")
    return np.concatenate(found)


def _add_special_shapes(
    rng: np.random.Generator, geoms: np.ndarray, near: np.ndarray, lines: np.ndarray, n: int
) -> None:
    """Replace a few away sites by multipart sites and courtyard sites (with a hole)."""
    land = all_settled_land()
    tree = shapely.STRtree(lines)
    n_multi = max(2, n // 100)
    n_court = max(1, n // 1000)
    candidates = rng.permutation(np.flatnonzero(~near))
    made_multi = made_court = 0
    for i in candidates:
        if made_multi == n_multi and made_court == n_court:
            break
        box = shapely.minimum_rotated_rectangle(geoms[i])
        ring = np.asarray(box.exterior.coords)[:4]
        a, b, d = ring[0], ring[1], ring[3]
        if min(np.hypot(*(b - a)), np.hypot(*(d - a))) < 60:
            continue
        if made_court < n_court:
            inner = [
                a + (b - a) * u + (d - a) * v
                for u, v in ((0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7))
            ]
            shape: BaseGeometry = shapely.Polygon(ring, holes=[inner])
        else:
            gap = rng.uniform(0.15, 0.3)
            first = [a, a + (b - a) * 0.45, a + (b - a) * 0.45 + (d - a), d]
            start = 0.45 + gap
            second = [a + (b - a) * start, b, b + (d - a), a + (b - a) * start + (d - a)]
            shape = shapely.MultiPolygon([shapely.Polygon(first), shapely.Polygon(second)])
        shape = shapely.normalize(shape)
        if not land.contains(shape) or len(tree.query(shape, "dwithin", AWAY_CLEARANCE_M)):
            continue
        geoms[i] = shape
        if made_court < n_court:
            made_court += 1
        else:
            made_multi += 1


def _choice(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    """Return n values drawn with the given shares; every value occurs at least once."""
    names = np.array(list(shares), dtype=object)
    out = names[rng.choice(len(names), size=n, p=list(shares.values()))]
    if n >= len(names):
        missing = [v for v in names if v not in set(out)]
        slots = rng.choice(n, size=len(missing), replace=False)
        out[slots] = missing
    return out


def _dates(rng: np.random.Generator, low: str, high: str, n: int) -> np.ndarray:
    """Return n uniform random dates in [low, high] as numpy datetime64[D]."""
    a, b = np.datetime64(low, "D"), np.datetime64(high, "D")
    return a + rng.integers(0, int((b - a).astype(int)) + 1, n).astype("timedelta64[D]")


def _schedule(
    rng: np.random.Generator, status: np.ndarray, year: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return start and planned completion dates consistent with each status.

    Starts and completions fall in each campaign stage (to 31 Jul, 30 Sep, 30 Nov).
    """
    y, p = year, year - 1
    windows = {
        "planned": ((f"{y}-06-01", f"{y}-11-30"), None),
        "under_construction": ((f"{p}-04-01", f"{y}-07-31"), (f"{y}-06-15", f"{y + 1}-06-30")),
        "suspended": ((f"{p}-03-01", f"{y}-04-30"), (f"{y}-06-01", f"{y + 1}-03-31")),
        "completed": ((f"{p}-01-01", f"{y}-03-31"), (f"{y}-01-01", f"{y}-11-30")),
    }
    start = np.empty(len(status), dtype="datetime64[D]")
    finish = np.empty(len(status), dtype="datetime64[D]")
    for name, (start_win, finish_win) in windows.items():
        mask = status == name
        k = int(mask.sum())
        start[mask] = _dates(rng, *start_win, k)
        if finish_win is None:
            finish[mask] = start[mask] + rng.integers(90, 540, k).astype("timedelta64[D]")
        else:
            finish[mask] = _dates(rng, *finish_win, k)
    finish = np.maximum(finish, start + np.timedelta64(60, "D"))
    return start, finish


def _townships_of(geoms: np.ndarray, townships: gpd.GeoDataFrame) -> np.ndarray:
    """Return the township name containing a point on each site's surface."""
    points = shapely.point_on_surface(geoms)
    tree = shapely.STRtree(townships.geometry.to_numpy())
    site_idx, town_idx = tree.query(points, predicate="intersects")
    names = np.full(len(geoms), None, dtype=object)
    names[site_idx[::-1]] = townships["name"].to_numpy()[town_idx[::-1]]  # first match wins
    return names


def _attributes(
    rng: np.random.Generator,
    geoms: np.ndarray,
    near: np.ndarray,
    townships: gpd.GeoDataFrame,
    towns: tuple[Township, ...],
    year: int,
) -> pd.DataFrame:
    """Return the attribute table of the projects (codes, parties, dates, flags)."""
    n = len(geoms)
    kind = np.where(
        near, _choice(rng, KIND_SHARE_NEAR, n), _choice(rng, KIND_SHARE_AWAY, n)
    ).astype(object)
    kind = _choice_fix(rng, kind, KIND_SHARE_AWAY)
    status = _choice(rng, STATUS_SHARE, n)
    township = _townships_of(geoms, townships)
    island = {t.name: t.island for t in towns}
    pools = company_pools(rng)
    builder = pools["builder"][rng.integers(len(pools["builder"]), size=n)]
    utility = np.where(
        pd.Series(township).map(island).to_numpy() == "chongming",
        "上海崇明燃气有限公司",
        "上海长兴燃气有限公司",
    )
    gas = kind == "gas_engineering"
    utility_builds = gas & (rng.random(n) < 0.8)
    builder = np.where(utility_builds, utility, builder).astype(object)
    contractor = np.where(
        gas,
        pools["gas_contractor"][rng.integers(len(pools["gas_contractor"]), size=n)],
        pools["contractor"][rng.integers(len(pools["contractor"]), size=n)],
    ).astype(object)
    supervisor = pools["supervisor"][rng.integers(len(pools["supervisor"]), size=n)]
    start, finish = _schedule(rng, status, year)
    supervised_share = pd.Series(status).map(
        {"planned": 0.3, "under_construction": 0.85, "suspended": 0.7, "completed": 0.95}
    )
    supervised = gas & (rng.random(n) < supervised_share.to_numpy())
    since = start - rng.integers(0, 21, n).astype("timedelta64[D]")
    names = _project_names(rng, kind, township)
    width = max(4, len(str(n)))
    codes = pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)
    return pd.DataFrame(
        {
            "registration_code": (f"CM{year}-" + codes).to_numpy(dtype=object),
            "name": names,
            "kind": kind,
            "builder": builder,
            "contractor": contractor,
            "supervisor": supervisor,
            "organisation": builder.copy(),
            "township": township,
            "start_date": _as_dates(start),
            "planned_completion_date": _as_dates(finish),
            "status": status,
            "hazardous": rng.random(n) < 0.2,
            "insured": rng.random(n) < 0.7,
            "under_supervision": _supervision(gas, supervised),
            "supervised_since": _as_dates(np.where(supervised, since, np.datetime64("NaT"))),
            "geometry": geoms,
        }
    )


def _choice_fix(rng: np.random.Generator, values: np.ndarray, shares: dict) -> np.ndarray:
    """Return ``values`` with any missing category written into a random row."""
    missing = [k for k in shares if k not in set(values)]
    if missing and len(values) >= len(shares):
        values[rng.choice(len(values), size=len(missing), replace=False)] = missing
    return values


def _supervision(gas: np.ndarray, supervised: np.ndarray) -> pd.arrays.BooleanArray:
    """Return 纳入监管 for gas engineering projects, missing (NA) for the others."""
    flags = pd.array(supervised.astype(bool), dtype="boolean")
    flags[~gas] = pd.NA
    return flags


def _as_dates(values: np.ndarray) -> np.ndarray:
    """Return an object array of ``datetime.date`` (None for NaT)."""
    out = values.astype("datetime64[D]").astype(object)
    return np.array([v if isinstance(v, dt.date) else None for v in out], dtype=object)


def _project_names(rng: np.random.Generator, kind: np.ndarray, township: np.ndarray) -> np.ndarray:
    """Return plausible Chinese project names: township + place + kind suffix (+ phase)."""
    n = len(kind)
    place = np.array(PLACES, dtype=object)[rng.integers(len(PLACES), size=n)]
    phase = np.array(PHASES, dtype=object)[rng.integers(len(PHASES), size=n)]
    suffix = np.empty(n, dtype=object)
    for k, options in SUFFIXES.items():
        mask = kind == k
        suffix[mask] = np.array(options, dtype=object)[rng.integers(len(options), size=mask.sum())]
    return (pd.Series(township, dtype=object).fillna("崇明区") + place + suffix + phase).to_numpy(
        dtype=object
    )
