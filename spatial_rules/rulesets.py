"""Protection-range rule sets: named, versioned data files, never constants in code.

A rule set gives, for each of the eight pressure classes (``spatial_rules.pressure``),
the outer edge of the protection range (安全保护范围) and of the control range
(安全控制范围), in metres measured from the pipe's outer wall on each side, plus
the actions a builder must take in each zone (Chinese text).

Built-in rule sets (``spatial_rules/data``):

* ``shanghai`` (default): 《上海市燃气管道设施保护办法》 (Shanghai Government Decree
  No. 46 of 2005, as amended) Art. 6: low/medium/sub-high 0–0.7 m protection and
  0.7–6 m control; high/ultra-high 0–6 m and 6–50 m.
* ``gb55009``: GB 55009-2021 《燃气工程项目规范》 §5.1.6–5.1.7 (national minimum):
  low/medium 0.5/5 m, sub-high 1.5/15 m, high and above 5/50 m.

File shape (YAML or JSON; unknown keys are errors so that typos cannot pass)::

    name: my_rules            # required, letters/digits/_/-
    version: "1"              # required
    title: 中文标题             # required
    source: 依据的法规条文        # required
    effective_date: 2024-01-01  # required, ISO date
    notes: ...                # optional
    ranges:                   # required, all eight classes (code or Chinese name)
      low: {protection_range_m: 0.7, control_range_m: 6}
      ...
    actions:                  # required
      protection: 保护范围内须采取的措施
      control: 控制范围内须采取的措施
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spatial_rules.errors import PressureError, RuleSetError
from spatial_rules.pressure import PressureClass, parse_pressure_class
from spatial_rules.zones import Zone, ZoneRange

DEFAULT_RULE_SET = "shanghai"
BUILTIN_RULE_SETS: tuple[str, ...] = ("shanghai", "gb55009")

_CLASS_ORDER: tuple[PressureClass, ...] = tuple(PressureClass)
_TOP_KEYS_REQUIRED = ("name", "version", "title", "source", "effective_date", "ranges", "actions")
_TOP_KEYS_OPTIONAL = ("notes",)
_RANGE_KEYS = ("protection_range_m", "control_range_m")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


@dataclass(frozen=True, slots=True)
class ZoneActions:
    """Chinese text of what a builder must do in each zone."""

    protection: str
    control: str


@dataclass(frozen=True)
class RuleSet:
    """A named, versioned table of protection and control ranges (metres from the outer wall).

    ``ranges`` holds one ``ZoneRange`` per pressure class in ``PressureClass`` order;
    use ``ranges_for``. The dataclass is frozen and hashable.
    """

    name: str
    version: str
    title: str
    source: str
    effective_date: date
    ranges: tuple[ZoneRange, ...]
    actions: ZoneActions
    notes: str = ""
    path: str | None = field(default=None, compare=False)

    def ranges_for(self, pressure_class: PressureClass | str) -> ZoneRange:
        """Return the protection/control thresholds (m) of a pressure class or its name."""
        cls = (
            pressure_class
            if isinstance(pressure_class, PressureClass)
            else parse_pressure_class(pressure_class)
        )
        return self.ranges[_CLASS_ORDER.index(cls)]

    @property
    def ranges_by_class(self) -> dict[PressureClass, ZoneRange]:
        """Return a dict pressure class -> ZoneRange."""
        return dict(zip(_CLASS_ORDER, self.ranges, strict=True))

    @property
    def max_control_m(self) -> float:
        """Return the widest control range in metres over all classes."""
        return max(r.control_m for r in self.ranges)

    @property
    def label(self) -> str:
        """Return ``name@version``, the identifier stored with every screening result."""
        return f"{self.name}@{self.version}"

    def action_for(self, zone: Zone | str) -> str:
        """Return the Chinese action text required in ``zone`` ("protection" or "control")."""
        try:
            zone = Zone(zone)
        except ValueError as exc:
            raise RuleSetError(f"规则集 {self.name}：未知的范围类型“{zone}”") from exc
        return self.actions.protection if zone is Zone.PROTECTION else self.actions.control

    def protection_array(self) -> tuple[float, ...]:
        """Return protection thresholds (m) in ``PressureClass`` order."""
        return tuple(r.protection_m for r in self.ranges)

    def control_array(self) -> tuple[float, ...]:
        """Return control thresholds (m) in ``PressureClass`` order."""
        return tuple(r.control_m for r in self.ranges)

    def to_dict(self) -> dict[str, Any]:
        """Return the rule set in its file shape (JSON-serialisable; reloads to an equal one)."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "source": self.source,
            "effective_date": self.effective_date.isoformat(),
            "ranges": {
                cls.value: {"protection_range_m": r.protection_m, "control_range_m": r.control_m}
                for cls, r in zip(_CLASS_ORDER, self.ranges, strict=True)
            },
            "actions": {"protection": self.actions.protection, "control": self.actions.control},
        }
        if self.notes:
            data["notes"] = self.notes
        return data


def load_rule_set(name_or_path: str | os.PathLike[str] = DEFAULT_RULE_SET) -> RuleSet:
    """Return a built-in rule set by name ("shanghai", "gb55009") or one read from a file.

    A path to a ``.yaml``/``.yml``/``.json`` file of the documented shape is read and
    checked; any problem raises ``RuleSetError`` naming the file and the field.
    """
    if isinstance(name_or_path, str) and name_or_path.strip().lower() in BUILTIN_RULE_SETS:
        return _load_builtin(name_or_path.strip().lower())
    path = Path(name_or_path)
    if path.is_file():
        return _load_file(path)
    text = str(name_or_path)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or os.sep in text or "/" in text:
        raise RuleSetError(f"规则集文件不存在：{text}")
    known = "、".join(BUILTIN_RULE_SETS)
    raise RuleSetError(f"未知的规则集“{text}”（内置规则集：{known}；或给出 YAML/JSON 文件路径）")


def list_rule_sets() -> list[RuleSet]:
    """Return the built-in rule sets."""
    return [_load_builtin(name) for name in BUILTIN_RULE_SETS]


@cache
def _load_builtin(name: str) -> RuleSet:
    resource = resources.files("spatial_rules").joinpath("data", f"{name}.yaml")
    text = resource.read_text(encoding="utf-8")
    rule_set = parse_rule_set(text, f"{name}.yaml", fmt="yaml")
    if rule_set.name != name:
        raise RuleSetError(f"内置规则集文件 {name}.yaml 的 name 字段应为 {name}")
    return rule_set


def _load_file(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleSetError(f"规则集文件 {path}：不是 UTF-8 编码的文本") from exc
    except OSError as exc:
        raise RuleSetError(f"规则集文件 {path}：无法读取（{exc.strerror}）") from exc
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    rule_set = parse_rule_set(text, str(path), fmt=fmt)
    return RuleSet(**{**_fields(rule_set), "path": str(path)})


def _fields(rule_set: RuleSet) -> dict[str, Any]:
    return {name: getattr(rule_set, name) for name in RuleSet.__dataclass_fields__}


def parse_rule_set(text: str, origin: str, fmt: str = "yaml") -> RuleSet:
    """Return the rule set described by YAML or JSON ``text``; ``origin`` names it in errors."""
    where = f"规则集文件 {origin}"
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuleSetError(
                f"{where}：JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）"
            ) from exc
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark is not None else "位置未知"
            raise RuleSetError(f"{where}：YAML 格式错误（{at}）") from exc
    if not isinstance(data, Mapping):
        raise RuleSetError(f"{where}：顶层应为键值对象（name、version、ranges 等字段）")

    _check_keys(data, _TOP_KEYS_REQUIRED, _TOP_KEYS_OPTIONAL, where, "顶层")
    name = _text(data, "name", where)
    if not _NAME_PATTERN.match(name):
        raise RuleSetError(f"{where}：字段 name“{name}”只能包含字母、数字、下划线、连字符和点")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, str | int | float) or not str(version):
        raise RuleSetError(f'{where}：字段 version 应为非空文本，例如 "1"')
    return RuleSet(
        name=name,
        version=str(version),
        title=_text(data, "title", where),
        source=_text(data, "source", where),
        effective_date=_date(data["effective_date"], where),
        ranges=_ranges(data["ranges"], where),
        actions=_actions(data["actions"], where),
        notes=_text(data, "notes", where) if "notes" in data else "",
    )


def _check_keys(
    data: Mapping[Any, Any],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    where: str,
    section: str,
) -> None:
    allowed = set(required) | set(optional)
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        allowed_text = "、".join(sorted(allowed))
        unknown_text = "、".join(unknown)
        raise RuleSetError(f"{where}：{section}有未知字段 {unknown_text}（允许：{allowed_text}）")
    missing = [k for k in required if k not in data]
    if missing:
        raise RuleSetError(f"{where}：{section}缺少字段 {'、'.join(missing)}")


def _text(data: Mapping[str, Any], key: str, where: str, prefix: str = "") -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise RuleSetError(f"{where}：字段 {prefix}{key} 应为非空文本")
    return value.strip()


def _date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RuleSetError(f"{where}：字段 effective_date“{value}”不是日期（格式 YYYY-MM-DD）")


def _number(value: Any, where: str, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleSetError(f"{where}：字段 {field_name}“{value}”不是数字（单位 米）")
    number = float(value)
    if not math.isfinite(number):
        raise RuleSetError(f"{where}：字段 {field_name} 不是有限数值")
    if number < 0:
        raise RuleSetError(f"{where}：字段 {field_name} 为负数（{number} 米）")
    return number


def _ranges(section: Any, where: str) -> tuple[ZoneRange, ...]:
    if not isinstance(section, Mapping):
        raise RuleSetError(f"{where}：字段 ranges 应为“压力级制: 范围”对象")
    found: dict[PressureClass, ZoneRange] = {}
    for raw_class, entry in section.items():
        try:
            cls = parse_pressure_class(str(raw_class))
        except PressureError as exc:
            raise RuleSetError(f"{where}：字段 ranges.{raw_class}：{exc}") from exc
        if cls in found:
            raise RuleSetError(f"{where}：字段 ranges.{raw_class}：压力级制 {cls.value} 重复出现")
        prefix = f"ranges.{raw_class}"
        if not isinstance(entry, Mapping):
            raise RuleSetError(
                f"{where}：字段 {prefix} 应为对象，含 protection_range_m 和 control_range_m"
            )
        _check_keys(entry, _RANGE_KEYS, (), where, f"字段 {prefix} ")
        protection = _number(entry["protection_range_m"], where, f"{prefix}.protection_range_m")
        control = _number(entry["control_range_m"], where, f"{prefix}.control_range_m")
        if control <= protection:
            raise RuleSetError(
                f"{where}：字段 {prefix}.control_range_m（{control} 米）"
                f"应大于 protection_range_m（{protection} 米）"
            )
        found[cls] = ZoneRange(protection_m=protection, control_m=control)
    missing = [cls.value for cls in _CLASS_ORDER if cls not in found]
    if missing:
        raise RuleSetError(f"{where}：字段 ranges 缺少压力级制 {'、'.join(missing)}")
    return tuple(found[cls] for cls in _CLASS_ORDER)


def _actions(section: Any, where: str) -> ZoneActions:
    if not isinstance(section, Mapping):
        raise RuleSetError(f"{where}：字段 actions 应为对象，含 protection 和 control")
    _check_keys(section, ("protection", "control"), (), where, "字段 actions ")
    return ZoneActions(
        protection=_text(section, "protection", where, "actions."),
        control=_text(section, "control", where, "actions."),
    )
