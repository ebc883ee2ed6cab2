"""Pressure classes of gas pipelines (GB 50028 / GB 55009), gauge pressure in MPa.

A boundary value belongs to the lower class: 0.4 MPa is medium A, 1.6 MPa sub-high A.
"""

from __future__ import annotations

import math
import re

from spatial_rules.errors import PressureError
from vocabulary import PressureClass as PressureClass  # the one enum (shared vocabulary), re-exported

# Upper bound (inclusive) of each class in MPa; ultra-high has none.
UPPER_BOUND_MPA: dict[PressureClass, float] = {
    PressureClass.LOW: 0.01,
    PressureClass.MEDIUM_B: 0.2,
    PressureClass.MEDIUM_A: 0.4,
    PressureClass.SUBHIGH_B: 0.8,
    PressureClass.SUBHIGH_A: 1.6,
    PressureClass.HIGH_B: 2.5,
    PressureClass.HIGH_A: 4.0,
}

_ALIASES: dict[str, PressureClass] = {}
for _cls in PressureClass:
    _ALIASES[_cls.value] = _cls
    _ALIASES[_cls.label.lower()] = _cls
    _ALIASES[_cls.label.lower() + "级"] = _cls
_ALIASES.update(
    {
        "lp": PressureClass.LOW,
        "mp-b": PressureClass.MEDIUM_B,
        "mp-a": PressureClass.MEDIUM_A,
        "shp-b": PressureClass.SUBHIGH_B,
        "shp-a": PressureClass.SUBHIGH_A,
        "hp-b": PressureClass.HIGH_B,
        "hp-a": PressureClass.HIGH_A,
        "超高压": PressureClass.ULTRA_HIGH,
    }
)


def classify_pressure(pressure_mpa: float) -> PressureClass:
    """Return the class of a design gauge pressure in MPa (boundary -> lower class)."""
    try:
        value = float(pressure_mpa)
    except (TypeError, ValueError) as exc:
        raise PressureError(f"设计压力“{pressure_mpa}”不是数字（单位 MPa）") from exc
    if math.isnan(value) or math.isinf(value):
        raise PressureError("设计压力为空或不是有限数值（单位 MPa）")
    if value < 0:
        raise PressureError(f"设计压力 {value} MPa 为负数")
    if value > 10:
        raise PressureError(f"设计压力 {value} MPa 超过 10 MPa，疑似单位错误（应为 MPa，而非 kPa）")
    for cls, upper in UPPER_BOUND_MPA.items():
        if value <= upper:
            return cls
    return PressureClass.ULTRA_HIGH


def parse_pressure_class(name: str) -> PressureClass:
    """Return the class named by a code (``subhigh_a``) or Chinese name (``次高压A``)."""
    if name is None:
        raise PressureError("压力级制为空")
    key = re.sub(r"[\s_\-]+", "", str(name)).lower()
    for alias, cls in _ALIASES.items():
        if re.sub(r"[\s_\-]+", "", alias) == key:
            return cls
    known = "、".join(c.value for c in PressureClass)
    raise PressureError(f"无法识别的压力级制“{name}”（可用：{known} 或中文名称如 次高压A）")
