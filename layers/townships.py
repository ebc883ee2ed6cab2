"""Township (乡镇) areas: reading a township file and finding a site's township."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

import geopandas as gpd
import pyogrio
from shapely.geometry import MultiPolygon

from layers.io import FeatureProblem, InputFileError
from layers.io.errors import file_error
from spatial_rules.crs import STORAGE_EPSG

MAX_TOWNSHIP_FILE_BYTES = 200_000_000


def read_townships(path: str | Path) -> gpd.GeoDataFrame:
    """Read township polygons (fields ``code``, ``name``) into EPSG:4490 MultiPolygons."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "文件不存在")
    if path.stat().st_size > MAX_TOWNSHIP_FILE_BYTES:
        raise file_error(path, "文件过大")
    if path.suffix.lower() not in {".geojson", ".json", ".gpkg"}:
        raise file_error(path, "乡镇文件须为 GeoJSON 或 GeoPackage")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise file_error(path, f"无法读取：{exc}") from exc
    missing = [c for c in ("code", "name") if c not in frame.columns]
    if missing:
        raise file_error(path, f"缺少字段 {'、'.join(missing)}")
    frame = frame.set_crs(4326, allow_override=False) if frame.crs is None else frame
    frame = frame.to_crs(STORAGE_EPSG)
    problems = []
    for row, (code, geom) in enumerate(zip(frame["code"], frame.geometry, strict=True), start=1):
        if geom is None or geom.is_empty:
            problems.append(FeatureProblem(row, str(code), "geometry", "几何为空"))
        elif geom.geom_type not in {"Polygon", "MultiPolygon"}:
            problems.append(
                FeatureProblem(row, str(code), "geometry", f"应为面要素，实际为 {geom.geom_type}")
            )
        elif not geom.is_valid:
            problems.append(FeatureProblem(row, str(code), "geometry", "无效多边形"))
    if frame["code"].duplicated().any():
        for row in frame.index[frame["code"].duplicated()]:
            problems.append(FeatureProblem(int(row) + 1, str(frame.at[row, "code"]), "code", "编号重复"))
    if problems:
        raise InputFileError(path, problems)
    frame["geometry"] = [g if g.geom_type == "MultiPolygon" else MultiPolygon([g]) for g in frame.geometry]
    return frame


# The township a site lies in: the one containing a point on its surface (by code when
# township polygons overlap). ``{geom}`` is the site's EPSG:4490 geometry expression.
TOWNSHIP_OF_SITE = (
    "(SELECT t.name FROM township t WHERE ST_Intersects(t.geom, ST_PointOnSurface({geom})) "
    "ORDER BY t.code LIMIT 1)"
)


def fill_townships(session, *, project_ids=None, batch_id: int | None = None) -> None:
    """Give projects without a township the one their site lies in (by ids or import batch)."""
    scope = "p.id = ANY(:ids)" if project_ids is not None else "p.import_batch_id = :b"
    session.execute(
        text(
            f"UPDATE construction_project p SET township = {TOWNSHIP_OF_SITE.format(geom='p.geom')} "
            f"WHERE {scope} AND p.township IS NULL "
            "AND EXISTS (SELECT 1 FROM township t WHERE ST_Intersects(t.geom, ST_PointOnSurface(p.geom)))"
        ),
        {"ids": list(project_ids or []), "b": batch_id},
    )


def _seed_names() -> frozenset[str]:
    """The towns of Chongming district (layers/data/townships_seed.json)."""
    import json
    from importlib import resources

    seed = json.loads(resources.files("layers").joinpath("data/townships_seed.json").read_text("utf-8"))
    return frozenset(t["name"] for t in seed["townships"])


def known_township_names(session) -> frozenset[str]:
    """Return the township names a project may name: the stored areas, else the district's towns."""
    stored = frozenset(session.execute(text("SELECT name FROM township")).scalars())
    return stored or _seed_names()


def unknown_township(name: str, known: frozenset[str]) -> str:
    """Return the Chinese explanation of why ``name`` is refused as a township."""
    shown = name if len(name) <= 40 else name[:40] + "…"
    listed = "、".join(sorted(known)[:30])
    return (f"“{shown}”不是崇明区已知的乡镇（可填：{listed}；"
            "也可留空，由系统按项目位置确定）")


def check_project_townships(session, rows: list[tuple[int | None, str | None, str | None]],
                            source: str | None = None) -> None:
    """Refuse townships that are not known: ``rows`` are (row, feature id, township) triples.

    Raises ``InputFileError`` with one problem per offending row (field ``township``).
    """
    given = [(r, fid, t) for r, fid, t in rows if t is not None]
    if not given:
        return
    known = known_township_names(session)
    problems = [FeatureProblem(r, fid, "township", unknown_township(t, known))
                for r, fid, t in given if t not in known]
    if problems:
        raise InputFileError(source, problems[:200])
