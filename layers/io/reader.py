"""read_layer: one user file -> validated canonical GeoDataFrame in EPSG:4490, or every problem."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
from pyproj import CRS

from layers.io.crs_input import LocalGridCrs, describe_crs, resolve_crs
from layers.io.errors import FeatureProblem, InputFileError, file_error
from layers.io.formats import check_input_path
from layers.io.normalize import ID_FIELDS, KINDS, SCHEMAS, map_columns, normalize_attributes
from layers.io.raw import read_raw
from layers.io.validate import NEEDED_ZH, check_geometry
from spatial_rules.crs import STORAGE_EPSG

DEFAULT_MAX_BYTES = 1_000_000_000


@dataclass
class LayerReadResult:
    """A validated layer: canonical columns, geometry in EPSG:4490, index = feature number."""

    frame: gpd.GeoDataFrame
    notes: list[str]
    source_crs: str
    path: Path | str | None  # the file, or the name of a request's features (None: unnamed)


def read_layer(
    path: str | Path,
    kind: str,
    *,
    crs: str | LocalGridCrs | None = None,
    field_map: dict[str, str] | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    margin_m: float = 2000.0,
    repair: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    cad: object = None,
) -> LayerReadResult:
    """Read and validate a pipelines/projects/sites file; raise InputFileError with all problems.

    ``cad``: how to read a DXF (``layers.io.dxf.DxfOptions``: CAD layers, where codes are).
    """
    return _read_layer(
        path, kind, crs=crs, field_map=field_map, encoding=encoding, layer=layer,
        margin_m=margin_m, repair=repair, max_bytes=max_bytes, fields=None, cad=cad,
    )


def read_layer_fields(
    path: str | Path,
    kind: str,
    fields: Collection[str],
    *,
    crs: str | LocalGridCrs | None = None,
    field_map: dict[str, str] | None = None,
    margin_m: float = 2000.0,
    cad: object = None,
) -> LayerReadResult:
    """Read and validate like ``read_layer``, keeping only ``fields`` of the optional text ones.

    An optional text field can never make a file fail (any text is valid), so leaving
    it out changes no problem and no note; a GeoPackage then does not even read it.
    Every other field is read and checked as usual.
    """
    return _read_layer(
        path, kind, crs=crs, field_map=field_map, encoding=None, layer=None,
        margin_m=margin_m, repair=True, max_bytes=DEFAULT_MAX_BYTES, fields=frozenset(fields),
        cad=cad,
    )


def droppable_fields(kind: str, fields: Collection[str]) -> frozenset[str]:
    """Return the fields of ``kind`` that ``read_layer_fields`` leaves out for ``fields``."""
    return frozenset(
        name
        for name, (type_name, required) in SCHEMAS[kind].items()
        if name not in fields
        and type_name == "str"
        and name != ID_FIELDS[kind]
        and not (required and kind != "sites")  # sites require only their code
    )


def _read_layer(
    path: str | Path,
    kind: str,
    *,
    crs: str | LocalGridCrs | None,
    field_map: dict[str, str] | None,
    encoding: str | None,
    layer: str | None,
    margin_m: float,
    repair: bool,
    max_bytes: int,
    fields: frozenset[str] | None,
    cad: object = None,
) -> LayerReadResult:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    dropped = frozenset() if fields is None else droppable_fields(kind, fields)
    override: CRS | str | LocalGridCrs | None = None
    if crs is not None and not isinstance(crs, str):
        override = crs  # already resolved (a local grid read from the database)
    elif crs is not None:
        try:
            override = resolve_crs(crs)
        except InputFileError as exc:
            raise InputFileError(path, exc.problems) from None
    file, fmt = check_input_path(path, max_bytes)

    def pick(columns: list[str]) -> list[str]:
        mapping = map_columns(columns, kind, field_map)[0]
        return [c for c in columns if c in mapping and mapping[c] not in dropped]

    if fmt == "dxf" and override is None:
        raise file_error(file, "DXF 图纸不带坐标系：请用 --crs 指定（如 EPSG:4549、EPSG:4528 或 local:名称）")
    raw = read_raw(
        file, fmt, encoding=encoding, layer=layer, max_bytes=max_bytes,
        pick=pick if dropped else None, kind=kind, options=cad,
    )
    n = len(raw.attributes)
    if n == 0:
        raise file_error(file, "文件中没有要素（0 条记录）")
    if raw.point_columns is not None:
        lon, lat = raw.point_columns
        raise file_error(
            file,
            f"{NEEDED_ZH[kind]}：文件只有点坐标列 {lon}/{lat}，请改用 WKT 列（列名 wkt）给出线或面",
        )
    if not raw.has_geometry:
        columns = "、".join(raw.attributes.columns)
        raise file_error(file, f"CSV 缺少几何列：需要 wkt（或 geometry）列，现有列：{columns}")
    mapping, map_problems, ignored = map_columns(raw.columns, kind, field_map)
    read = {c: f for c, f in mapping.items() if c in raw.attributes.columns and f not in dropped}
    attributes, value_problems = normalize_attributes(raw.attributes, kind, read)
    id_field = ID_FIELDS[kind]
    ids = attributes[id_field].tolist()
    notes = list(raw.notes)
    source_crs, crs_assumed = _source_crs(override, raw.crs, notes)
    checked = check_geometry(
        raw.geometry,
        source_crs,
        kind,
        ids,
        margin_m=margin_m,
        repair=repair,
        crs_assumed=crs_assumed,
        unparsed_rows=frozenset(p.row for p in raw.problems if p.row is not None),
    )
    problems = (
        [_with_id(p, ids) for p in raw.problems] + map_problems + value_problems + checked.problems
    )
    if problems:
        problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        raise InputFileError(file, problems)
    if ignored:
        notes.append(f"未使用的列：{'、'.join(ignored)}")
    notes.extend(checked.notes)
    kept = [c for c in SCHEMAS[kind] if c in attributes.columns and c not in dropped]
    frame = gpd.GeoDataFrame(attributes[kept], geometry=checked.geometry, crs=STORAGE_EPSG)
    frame.index.name = "feature"
    return LayerReadResult(frame, notes, describe_crs(checked.crs or source_crs), file)


def _source_crs(override, declared: CRS | None, notes: list[str]) -> tuple[CRS | str, bool]:
    """Return the CRS to read coordinates in and whether it was assumed (not declared)."""
    if override is not None:
        if declared is not None and describe_crs(override) != describe_crs(declared):
            notes.append(
                f"按指定坐标系 {describe_crs(override)} 读取（文件声明为 {describe_crs(declared)}）"
            )
        return override, False
    if declared is not None:
        return declared, False
    return CRS.from_epsg(4326), True


def _with_id(problem: FeatureProblem, ids: list[str | None]) -> FeatureProblem:
    """Return the problem naming its feature's id when the reader did not know it yet."""
    if problem.row is None or problem.feature_id is not None or problem.row > len(ids):
        return problem
    return dataclasses.replace(problem, feature_id=ids[problem.row - 1])
