"""Local grids: fit on control points, refuse a poor fit, save by name, load for imports.

A control-point file (CSV, UTF-8 or GBK) has one row per point: ``point``, ``local_x``,
``local_y`` (the local grid, x = east) and ``east``, ``north`` in ``target_crs``
(default EPSG:4549; lon/lat when the target is EPSG:4490 or 4326). The fit maps local
x/y to the district's metric CRS, so every later import goes local -> metric -> lon/lat.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from pyproj import Transformer

from layers.io.crs_input import LOCAL_PREFIX, LocalGridCrs, describe_crs, is_geographic, resolve_crs
from layers.io.errors import FeatureProblem, InputFileError, file_error
from layers.io.textenc import decode_text
from spatial_rules.crs import metric_crs
from spatial_rules.local_grid import METHODS, MIN_POINTS, GridFit, fit

DEFAULT_MAX_RMS_M = 0.05
_NAME = re.compile(r"^[\w\-\u4e00-\u9fff]{1,64}$")
_COLUMNS = {
    "point": ("point", "点号", "点名", "name"),
    "local_x": ("local_x", "本地x", "局部x", "x_local"),
    "local_y": ("local_y", "本地y", "局部y", "y_local"),
    "east": ("east", "e", "东坐标", "lon", "经度"),
    "north": ("north", "n", "北坐标", "lat", "纬度"),
}


def _refuse(path: Path | None, field: str, message: str, feature: str | None = None) -> InputFileError:
    return InputFileError(path, [FeatureProblem(None, feature, field, message)])


@dataclass
class FitReport:
    """A fit with each control point's residual (metres), whether it was saved."""

    name: str
    fit: GridFit
    points: list[str]
    target_crs: str
    fitted_epsg: int | None
    saved: bool


def read_control_points(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return point names, local x/y and target east/north from a control-point CSV."""
    content, _codec = decode_text(path.read_bytes(), path, None)
    try:
        frame = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise file_error(path, f"控制点文件无法读取（{exc}）") from exc
    found: dict[str, str] = {}
    lowered = {re.sub(r"\s+", "", c).lower(): c for c in frame.columns}
    for field, aliases in _COLUMNS.items():
        column = next((lowered[n] for n in aliases if n in lowered), None)
        if column is None:
            raise _refuse(path, field, f"控制点文件缺少列 {field}（可用列名：{'、'.join(aliases)}；"
                          f"现有列：{'、'.join(frame.columns)}）")
        found[field] = column
    problems: list[FeatureProblem] = []
    values = {}
    for field in ("local_x", "local_y", "east", "north"):
        parsed = pd.to_numeric(frame[found[field]].str.replace(",", ""), errors="coerce")
        for row in np.flatnonzero(~np.isfinite(parsed.to_numpy(dtype=float))):
            problems.append(FeatureProblem(
                int(row) + 1, frame[found["point"]].iloc[row] or None, field,
                f"不是数值：“{frame[found[field]].iloc[row][:30]}”"))
        values[field] = parsed.to_numpy(dtype=float)
    if problems:
        raise InputFileError(path, problems)
    names = [str(v) or f"第{i + 1}点" for i, v in enumerate(frame[found["point"]])]
    local = np.column_stack([values["local_x"], values["local_y"]])
    target = np.column_stack([values["east"], values["north"]])
    return names, local, target


def fit_control_points(
    path: Path, name: str, *, method: str = "similarity", target_crs: str = "EPSG:4549",
    max_rms_m: float = DEFAULT_MAX_RMS_M,
) -> FitReport:
    """Fit a grid on the control points of ``path`` (nothing stored)."""
    if not _NAME.match(name or ""):
        raise _refuse(None, "name", "本地坐标系名称须为 1–64 个字母、数字、汉字、_ 或 -")
    if method not in METHODS:
        raise _refuse(None, "method", f"未知拟合方法“{method}”（可用：{'、'.join(METHODS)}）")
    crs = resolve_crs(target_crs)
    if isinstance(crs, str):
        raise _refuse(None, "target_crs", "控制点的国家坐标须为 EPSG 坐标系（如 EPSG:4549、EPSG:4490）")
    names, local, target = read_control_points(path)
    if len(names) < MIN_POINTS[method]:
        kind = "四参数相似变换" if method == "similarity" else "六参数仿射变换"
        raise _refuse(path, "point", f"{kind}至少需要 {MIN_POINTS[method]} 对控制点（现有 {len(names)} 对）")
    # Fit in the projected CRS the points were given in (where the city grid was
    # defined); lon/lat targets are fitted in the district's metric CRS.
    if is_geographic(crs):
        to_metric = Transformer.from_crs(crs, metric_crs(), always_xy=True)
        metric = np.column_stack(to_metric.transform(target[:, 0], target[:, 1]))
        fitted_epsg = None
    else:
        metric, fitted_epsg = target, crs.to_epsg()
    if not np.isfinite(metric).all() or (is_geographic(crs) and np.abs(target).max() > 180):
        raise _refuse(path, "east", f"国家坐标不在 {describe_crs(crs)} 的范围内，请检查 --target-crs")
    try:
        result = fit(local, metric, method)
    except ValueError as exc:
        raise _refuse(path, "point", "控制点重合或共线，无法拟合（请选分布开的点）") from exc
    if not np.isfinite(result.rms_m) or result.rms_m > max_rms_m:
        worst = int(np.argmax(result.residuals_m))
        each = "、".join(f"{n} {r:.3f} m" for n, r in zip(names, result.residuals_m, strict=True))
        raise _refuse(path, "rms", (
            f"拟合中误差 {result.rms_m:.3f} m 超过上限 {max_rms_m:g} m，未保存；残差最大的是点 "
            f"{names[worst]}（{result.residuals_m[worst]:.3f} m），请检查该点坐标；各点残差：{each}"),
            names[worst])
    return FitReport(name, result, names, describe_crs(crs), fitted_epsg, saved=False)


def save_grid(
    session: Session, report: FitReport, actor_name: str | None, *, replace: bool = False
) -> None:
    """Store a fit under its name (refused when the name is taken, unless ``replace``)."""
    exists = session.execute(text("SELECT 1 FROM local_grid WHERE name = :n"), {"n": report.name}).first()
    if exists and not replace:
        raise _refuse(None, "name", f"本地坐标系“{report.name}”已存在（加 --replace 覆盖）")
    points = [{"point": n, "residual_m": round(r, 4)}
              for n, r in zip(report.points, report.fit.residuals_m, strict=True)]
    stored = {**report.fit.parameters, "fitted_epsg": report.fitted_epsg}
    params = {"method": report.fit.method, "parameters": json.dumps(stored),
              "points": json.dumps({"target_crs": report.target_crs, "points": points}),
              "rms": report.fit.rms_m, "by": actor_name, "n": report.name}
    session.execute(text(
        "INSERT INTO local_grid (name, method, parameters, control_points, rms_m, created_by) "
        "VALUES (:n, :method, CAST(:parameters AS jsonb), CAST(:points AS jsonb), :rms, :by) "
        "ON CONFLICT (name) DO UPDATE SET method = EXCLUDED.method, parameters = EXCLUDED.parameters, "
        "control_points = EXCLUDED.control_points, rms_m = EXCLUDED.rms_m, created_at = now(), "
        "created_by = EXCLUDED.created_by"), params)
    report.saved = True


def load_grid(session: Session, crs_text: str) -> LocalGridCrs:
    """Return the saved grid named by ``local:NAME``."""
    name = crs_text.strip()[len(LOCAL_PREFIX):]
    row = session.execute(text("SELECT method, parameters FROM local_grid WHERE name = :n"),
                          {"n": name}).one_or_none()
    if row is None:
        known = session.execute(text("SELECT name FROM local_grid ORDER BY name")).scalars().all()
        raise _refuse(None, "crs", f"没有名为“{name}”的本地坐标系（已保存：{'、'.join(known) or '无'}；"
                      "用 gisapp crs fit 拟合保存）")
    parameters = dict(row.parameters)
    fitted_epsg = parameters.pop("fitted_epsg", None)
    return LocalGridCrs(name, row.method, tuple(sorted(parameters.items())), fitted_epsg)


def list_grids(session: Session) -> list[dict]:
    """Return the saved grids with their method, RMS and control-point count."""
    rows = session.execute(text(
        "SELECT name, method, rms_m, jsonb_array_length(control_points->'points') AS points, "
        "created_at FROM local_grid ORDER BY name")).mappings().all()
    return [dict(r) for r in rows]
