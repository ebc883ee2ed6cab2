"""Protection-range rule sets: families of dated versions, data files never constants in code.

A rule set version gives, for each of the eight pressure classes
(``spatial_rules.pressure``), the outer edge of the protection range (安全保护范围)
and of the control range (安全控制范围), in metres from the pipe's outer wall, and for
each zone and class which activities (``vocabulary.activities``) are prohibited and
which need a protection plan agreed with the pipeline owner. Each version has a period
in force (``effective_from`` .. ``effective_until``, both inclusive) and cites its
sources article by article.

Built-in families (``spatial_rules/data/*.yaml``, one file per version):

* ``shanghai``: 《上海市燃气管道设施保护办法》.
  ``shanghai@2018.1`` (2018-01-04 .. 2026-02-28): Art. 6 figures 0.7/6 m and 6/50 m.
  ``shanghai@2026.1`` (from 2026-03-01, Decree No. 24 of 2025): Art. 6 delineates the
  ranges by the national standard (GB 55009-2021 figures until the city publishes its
  own delineation, a later version); Art. 7 as amended.
* ``gb55009``: ``gb55009@2021``, GB 55009-2021 §5.1.6–5.1.7 (national minimum).

Choosing (``resolve_rule_set``): ``shanghai`` is the version in force on a date
(default: today in Asia/Shanghai); ``shanghai@2018.1`` that version whatever the date;
a path a YAML/JSON file. The built-in families are checked when first read: two
versions of a family may not overlap, and no date between the first version's start
and the last one's end may fall in none. A version without ``effective_until`` ends the
day before the next version of its family starts (or never, if it is the last).

File shape (YAML or JSON; unknown keys are errors so that typos cannot pass)::

    name: my_rules              # required, letters/digits/_/-/.
    version: "1"                # required
    title: 中文标题               # required
    source: 依据的法规              # required, the whole citation
    sources:                    # optional: article by article, topic -> citation
      ranges: 第六条 ...
    effective_from: 2024-01-01  # required (older files: effective_date)
    effective_until: 2025-12-31 # optional, inclusive
    notes: ...                  # optional
    ranges:                     # required, all eight classes (code or Chinese name)
      low: {protection_range_m: 0.7, control_range_m: 6}
      ...
    activities:                 # optional: per zone, per class ("all" = the others)
      protection:
        all: {prohibited: [structure, blasting], plan_required: [piling]}
      control:
        all: {prohibited: [], plan_required: [piling]}
        high_b: {prohibited: [blasting], plan_required: [piling]}
    actions:                    # optional: the opening sentence of each zone's action
      protection: 保护范围内的提示
      control: 控制范围内的提示
"""

from __future__ import annotations

import datetime as dt
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
from vocabulary.activities import (
    ALL_ACTIVITIES_MASK,
    ActivityError,
    activities_mask,
    labels_of,
    mask_codes,
    parse_activities,
)
from vocabulary.clock import today_in_shanghai

DEFAULT_RULE_SET = "shanghai"
BUILTIN_FAMILIES: tuple[str, ...] = ("shanghai", "gb55009")
# Kept for callers that listed the built-in names before families had versions.
BUILTIN_RULE_SETS = BUILTIN_FAMILIES

_CLASS_ORDER: tuple[PressureClass, ...] = tuple(PressureClass)
_ZONE_ORDER: tuple[Zone, ...] = (Zone.PROTECTION, Zone.CONTROL)
_TOP_KEYS_REQUIRED = ("name", "version", "title", "source", "ranges")
_TOP_KEYS_OPTIONAL = (
    "notes", "sources", "effective_from", "effective_date", "effective_until", "activities", "actions",
)
_RANGE_KEYS = ("protection_range_m", "control_range_m")
_CELL_KEYS = ("prohibited", "plan_required")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")

# The sentences a required action is composed of (both screening engines use them:
# the PostGIS engine passes them to its SQL, so the texts agree to the character).
DEFAULT_LEADS = {
    Zone.PROTECTION: "施工范围已进入燃气管道安全保护范围。",
    Zone.CONTROL: "施工范围已进入燃气管道安全控制范围。",
}
PROHIBITED_PREFIX = "范围内禁止："
PROHIBITED_SUFFIX = "；须修改设计或施工方案避让，或报批燃气管道设施迁移。"
PLAN_SUFFIX = "：开工前须与管道企业协商一致，制定燃气管道保护方案，施工现场落实保护措施。"
NOTHING_APPLIES = ("所申报作业在此范围内既无禁止事项，也无须商定保护方案；"
                   "开工前仍须查明地下燃气管道并告知管道企业。")
LABEL_SEPARATOR = "，"


@dataclass(frozen=True, slots=True)
class ZoneActions:
    """Chinese opening sentence of the required action in each zone."""

    protection: str
    control: str


@dataclass(frozen=True)
class RuleSet:
    """One version of a rule set: ranges (metres from the outer wall) and activity rules.

    ``ranges`` holds one ``ZoneRange`` per pressure class in ``PressureClass`` order;
    ``prohibited_masks`` / ``plan_masks`` hold one activity bit mask per (zone, class),
    protection first, then control, classes in ``PressureClass`` order. The dataclass is
    frozen and hashable.
    """

    name: str
    version: str
    title: str
    source: str
    effective_from: date
    ranges: tuple[ZoneRange, ...]
    actions: ZoneActions
    prohibited_masks: tuple[int, ...] = (0,) * 16
    plan_masks: tuple[int, ...] = (0,) * 16
    has_activity_rules: bool = False
    effective_until: date | None = None
    sources: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    path: str | None = field(default=None, compare=False)

    @property
    def effective_date(self) -> date:
        """Return the first day in force (older name of ``effective_from``)."""
        return self.effective_from

    @property
    def family(self) -> str:
        """Return the family name (``shanghai``)."""
        return self.name

    def in_force_on(self, day: date) -> bool:
        """Return True when ``day`` lies in this version's period in force."""
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    @property
    def period_zh(self) -> str:
        """Return the period in force as Chinese text."""
        until = self.effective_until.isoformat() if self.effective_until else "至今"
        return f"{self.effective_from.isoformat()} 至 {until}" if self.effective_until else (
            f"{self.effective_from.isoformat()} 起")

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

    def _cell(self, zone: Zone | str, pressure_class: PressureClass | str) -> int:
        try:
            zone = Zone(zone)
        except ValueError as exc:
            raise RuleSetError(f"规则集 {self.name}：未知的范围类型“{zone}”") from exc
        cls = (pressure_class if isinstance(pressure_class, PressureClass)
               else parse_pressure_class(pressure_class))
        return _ZONE_ORDER.index(zone) * len(_CLASS_ORDER) + _CLASS_ORDER.index(cls)

    def prohibited(self, zone: Zone | str, pressure_class: PressureClass | str,
                   declared: int = ALL_ACTIVITIES_MASK) -> tuple[str, ...]:
        """Return the sorted codes of ``declared`` activities prohibited in the zone and class."""
        return mask_codes(self.prohibited_masks[self._cell(zone, pressure_class)] & declared)

    def plan_required(self, zone: Zone | str, pressure_class: PressureClass | str,
                      declared: int = ALL_ACTIVITIES_MASK) -> tuple[str, ...]:
        """Return the sorted codes of ``declared`` activities that need a protection plan."""
        return mask_codes(self.plan_masks[self._cell(zone, pressure_class)] & declared)

    def lead(self, zone: Zone | str) -> str:
        """Return the opening sentence of the required action in ``zone``."""
        try:
            zone = Zone(zone)
        except ValueError as exc:
            raise RuleSetError(f"规则集 {self.name}：未知的范围类型“{zone}”") from exc
        return self.actions.protection if zone is Zone.PROTECTION else self.actions.control

    def compose_action(self, zone: Zone | str, prohibited: tuple[str, ...],
                       plan_required: tuple[str, ...]) -> str:
        """Return the Chinese required action from the zone and the activity codes (sorted)."""
        return compose_action(self.lead(zone), prohibited, plan_required, self.has_activity_rules)

    def action_for(self, zone: Zone | str, pressure_class: PressureClass | str = PressureClass.LOW,
                   declared: int = ALL_ACTIVITIES_MASK) -> str:
        """Return the required action in ``zone`` for a pipe of ``pressure_class`` (default low)."""
        return self.compose_action(zone, self.prohibited(zone, pressure_class, declared),
                                   self.plan_required(zone, pressure_class, declared))

    def protection_array(self) -> tuple[float, ...]:
        """Return protection thresholds (m) in ``PressureClass`` order."""
        return tuple(r.protection_m for r in self.ranges)

    def control_array(self) -> tuple[float, ...]:
        """Return control thresholds (m) in ``PressureClass`` order."""
        return tuple(r.control_m for r in self.ranges)

    def activity_cells(self) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
        """Return (zone, class, prohibited codes, plan codes) for every cell, sorted codes."""
        return [
            (zone.value, cls.value, mask_codes(self.prohibited_masks[i]), mask_codes(self.plan_masks[i]))
            for i, (zone, cls) in enumerate((z, c) for z in _ZONE_ORDER for c in _CLASS_ORDER)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the rule set in its file shape (JSON-serialisable; reloads to an equal one)."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "source": self.source,
            "effective_from": self.effective_from.isoformat(),
        }
        if self.effective_until is not None:
            data["effective_until"] = self.effective_until.isoformat()
        if self.sources:
            data["sources"] = dict(self.sources)
        data["ranges"] = {
            cls.value: {"protection_range_m": r.protection_m, "control_range_m": r.control_m}
            for cls, r in zip(_CLASS_ORDER, self.ranges, strict=True)
        }
        if self.has_activity_rules:
            data["activities"] = {
                zone.value: {
                    cls.value: {
                        "prohibited": list(mask_codes(self.prohibited_masks[z * 8 + c])),
                        "plan_required": list(mask_codes(self.plan_masks[z * 8 + c])),
                    }
                    for c, cls in enumerate(_CLASS_ORDER)
                }
                for z, zone in enumerate(_ZONE_ORDER)
            }
        data["actions"] = {"protection": self.actions.protection, "control": self.actions.control}
        if self.notes:
            data["notes"] = self.notes
        return data


def compose_action(lead: str, prohibited: tuple[str, ...] | list[str],
                   plan_required: tuple[str, ...] | list[str], has_activity_rules: bool = True) -> str:
    """Return a required action: the zone's lead, then what is prohibited, then what needs a plan."""
    parts = [lead]
    if prohibited:
        parts.append(PROHIBITED_PREFIX + labels_of(prohibited, LABEL_SEPARATOR) + PROHIBITED_SUFFIX)
    if plan_required:
        parts.append(labels_of(plan_required, LABEL_SEPARATOR) + PLAN_SUFFIX)
    if not prohibited and not plan_required and has_activity_rules:
        parts.append(NOTHING_APPLIES)
    return "".join(parts)


# --- choosing a version ------------------------------------------------------------


def load_rule_set(name_or_path: str | os.PathLike[str] = DEFAULT_RULE_SET, on: date | None = None) -> RuleSet:
    """Return a rule set: a family (in force ``on``, default today), ``family@version``, or a file."""
    return resolve_rule_set(name_or_path, on)


def resolve_rule_set(spec: str | os.PathLike[str], on: date | None = None) -> RuleSet:
    """Return the version ``spec`` names; see the module docstring for the three forms.

    Raises ``RuleSetError`` for an unknown family or version, a date in no period, or a
    missing or malformed file.
    """
    if isinstance(spec, str):
        text = spec.strip()
        key = text.lower()
        families = builtin_families()
        if "@" in key and not Path(text).is_file():
            family, _, version = key.partition("@")
            if family not in families:
                raise RuleSetError(_unknown_family(family))
            for rule_set in families[family]:
                if rule_set.version.lower() == version:
                    return rule_set
            known = "、".join(r.label for r in families[family])
            raise RuleSetError(f"规则集 {family} 没有版本“{version}”（已有版本：{known}）")
        if key in families:
            return version_in_force(key, on or today_in_shanghai())
    path = Path(spec)
    if path.is_file():
        return _load_file(path)
    text = str(spec)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or os.sep in text or "/" in text:
        raise RuleSetError(f"规则集文件不存在：{text}")
    raise RuleSetError(_unknown_family(text))


def resolve_builtin(spec: str, on: date | None = None) -> RuleSet:
    """Return a built-in family's version in force ``on`` or ``family@version``; never a file.

    For callers that must not read files a request names (the API).
    """
    key = spec.strip().lower()
    family = key.partition("@")[0]
    if family not in builtin_families():
        raise RuleSetError(_unknown_family(spec.strip()))
    return resolve_rule_set(key, on)


def _unknown_family(name: str) -> str:
    versions = "、".join(r.label for rs in builtin_families().values() for r in rs)
    known = "、".join(BUILTIN_FAMILIES)
    return (f"未知的规则集“{name}”（内置规则集：{known}；版本：{versions}；"
            "或给出 YAML/JSON 文件路径）")


def version_in_force(family: str, day: date) -> RuleSet:
    """Return the version of a built-in ``family`` in force on ``day``."""
    versions = builtin_families().get(family)
    if versions is None:
        raise RuleSetError(_unknown_family(family))
    for rule_set in versions:
        if rule_set.in_force_on(day):
            return rule_set
    periods = "；".join(f"{r.label}：{r.period_zh}" for r in versions)
    raise RuleSetError(f"{day.isoformat()} 不在规则集 {family} 任何版本的施行期内（{periods}）")


def next_version(rule_set: RuleSet) -> RuleSet | None:
    """Return the version of the same built-in family that follows ``rule_set``, if any."""
    versions = builtin_families().get(rule_set.name, [])
    for earlier, later in zip(versions, versions[1:], strict=False):
        if earlier.label == rule_set.label:
            return later
    return None


def is_family(spec: str) -> bool:
    """Return True when ``spec`` names a built-in family (not a version or a file)."""
    return spec.strip().lower() in builtin_families()


def list_rule_sets() -> list[RuleSet]:
    """Return every built-in version, family by family, oldest first."""
    return [r for versions in builtin_families().values() for r in versions]


@cache
def builtin_families() -> dict[str, list[RuleSet]]:
    """Return the built-in versions by family, checked for overlaps and gaps."""
    folder = resources.files("spatial_rules").joinpath("data")
    loaded = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            loaded.append(parse_rule_set(entry.read_text(encoding="utf-8"), entry.name, fmt="yaml"))
    return check_families(loaded)


def check_families(rule_sets: list[RuleSet]) -> dict[str, list[RuleSet]]:
    """Group versions by family, close open periods, refuse duplicates, overlaps and gaps."""
    families: dict[str, list[RuleSet]] = {}
    for rule_set in rule_sets:
        families.setdefault(rule_set.name, []).append(rule_set)
    for name, versions in families.items():
        versions.sort(key=lambda r: r.effective_from)
        labels = [r.label for r in versions]
        dupes = {label for label in labels if labels.count(label) > 1}
        if dupes:
            raise RuleSetError(f"规则集 {name}：版本 {'、'.join(sorted(dupes))} 重复出现")
        closed = []
        for i, current in enumerate(versions):
            later = versions[i + 1] if i + 1 < len(versions) else None
            until = current.effective_until
            if later is not None:
                if until is None:
                    until = later.effective_from - dt.timedelta(days=1)
                    current = _replace(current, effective_until=until)
                if until >= later.effective_from:
                    raise RuleSetError(
                        f"规则集 {name}：版本 {current.label}（{current.period_zh}）与 {later.label}"
                        f"（{later.period_zh}）的施行期重叠")
                if until + dt.timedelta(days=1) != later.effective_from:
                    gap_from = (until + dt.timedelta(days=1)).isoformat()
                    gap_to = (later.effective_from - dt.timedelta(days=1)).isoformat()
                    raise RuleSetError(
                        f"规则集 {name}：{gap_from} 至 {gap_to} 不在任何版本的施行期内"
                        f"（{current.label} 止于 {until.isoformat()}，{later.label} 起于 "
                        f"{later.effective_from.isoformat()}）")
            closed.append(current)
        families[name] = closed
    return families


def _replace(rule_set: RuleSet, **changes: Any) -> RuleSet:
    return RuleSet(**{**_fields(rule_set), **changes})


def _load_file(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleSetError(f"规则集文件 {path}：不是 UTF-8 编码的文本") from exc
    except OSError as exc:
        raise RuleSetError(f"规则集文件 {path}：无法读取（{exc.strerror}）") from exc
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    rule_set = parse_rule_set(text, str(path), fmt=fmt)
    return _replace(rule_set, path=str(path))


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
    if isinstance(version, bool) or not isinstance(version, str | int | float) or not str(version).strip():
        raise RuleSetError(f'{where}：字段 version 应为非空文本，例如 "1"')
    version = str(version).strip()
    if "@" in version or not _NAME_PATTERN.match(version):
        raise RuleSetError(f"{where}：字段 version“{version}”只能包含字母、数字、下划线、连字符和点")
    if "effective_from" in data and "effective_date" in data:
        raise RuleSetError(f"{where}：effective_from 与 effective_date 只能给出一个（effective_date 为旧名）")
    start_key = "effective_from" if "effective_from" in data else "effective_date"
    if start_key not in data:
        raise RuleSetError(f"{where}：顶层缺少字段 effective_from（施行日期，格式 YYYY-MM-DD）")
    effective_from = _date(data[start_key], where, start_key)
    effective_until = None
    if data.get("effective_until") is not None:
        effective_until = _date(data["effective_until"], where, "effective_until")
        if effective_until < effective_from:
            raise RuleSetError(
                f"{where}：字段 effective_until（{effective_until.isoformat()}）早于 "
                f"{start_key}（{effective_from.isoformat()}）")
    prohibited, plan, has_rules = _activity_rules(data.get("activities"), where)
    actions = _actions(data["actions"], where) if "actions" in data else ZoneActions(
        DEFAULT_LEADS[Zone.PROTECTION], DEFAULT_LEADS[Zone.CONTROL])
    return RuleSet(
        name=name,
        version=version,
        title=_text(data, "title", where),
        source=_text(data, "source", where),
        effective_from=effective_from,
        effective_until=effective_until,
        ranges=_ranges(data["ranges"], where),
        actions=actions,
        prohibited_masks=prohibited,
        plan_masks=plan,
        has_activity_rules=has_rules,
        sources=_sources(data.get("sources"), where),
        notes=_text(data, "notes", where) if "notes" in data else "",
    )


def _sources(section: Any, where: str) -> tuple[tuple[str, str], ...]:
    if section is None:
        return ()
    if not isinstance(section, Mapping) or not section:
        raise RuleSetError(f"{where}：字段 sources 应为“条目: 出处”对象")
    out = []
    for key, value in section.items():
        if not isinstance(value, str) or not value.strip():
            raise RuleSetError(f"{where}：字段 sources.{key} 应为非空文本")
        out.append((str(key), value.strip()))
    return tuple(out)


def _activity_list(value: Any, where: str, field_name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RuleSetError(f"{where}：字段 {field_name} 应为作业类型代码列表")
    try:
        parsed = parse_activities([str(v) for v in value])
    except ActivityError as exc:
        raise RuleSetError(f"{where}：字段 {field_name}：{exc}") from exc
    return activities_mask(parsed) if parsed else 0


def _activity_rules(section: Any, where: str) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    empty = (0,) * (len(_ZONE_ORDER) * len(_CLASS_ORDER))
    if section is None:
        return empty, empty, False
    if not isinstance(section, Mapping):
        raise RuleSetError(f"{where}：字段 activities 应为对象，含 protection 和 control")
    _check_keys(section, ("protection", "control"), (), where, "字段 activities ")
    prohibited: list[int] = []
    plan: list[int] = []
    for zone in _ZONE_ORDER:
        entries = section[zone.value]
        prefix = f"activities.{zone.value}"
        if not isinstance(entries, Mapping):
            raise RuleSetError(f"{where}：字段 {prefix} 应为“压力级制（或 all）: 规则”对象")
        cells: dict[PressureClass | None, tuple[int, int]] = {}
        for raw_key, entry in entries.items():
            key_text = str(raw_key).strip()
            cls: PressureClass | None = None
            if key_text.lower() != "all":
                try:
                    cls = parse_pressure_class(key_text)
                except PressureError as exc:
                    raise RuleSetError(f"{where}：字段 {prefix}.{raw_key}：{exc}") from exc
            if cls in cells:
                raise RuleSetError(f"{where}：字段 {prefix}.{raw_key} 重复出现")
            cell_where = f"{prefix}.{raw_key}"
            if not isinstance(entry, Mapping):
                raise RuleSetError(f"{where}：字段 {cell_where} 应为对象，含 prohibited 和 plan_required")
            _check_keys(entry, (), _CELL_KEYS, where, f"字段 {cell_where} ")
            banned = _activity_list(entry.get("prohibited"), where, f"{cell_where}.prohibited")
            needs_plan = _activity_list(entry.get("plan_required"), where, f"{cell_where}.plan_required")
            both = banned & needs_plan
            if both:
                raise RuleSetError(
                    f"{where}：字段 {cell_where}：作业 {'、'.join(mask_codes(both))} "
                    "不能同时为禁止和须商定保护方案")
            cells[cls] = (banned, needs_plan)
        missing = [c.value for c in _CLASS_ORDER if c not in cells and None not in cells]
        if missing:
            raise RuleSetError(
                f"{where}：字段 {prefix} 缺少压力级制 {'、'.join(missing)}（或用 all 统一规定）")
        for cls in _CLASS_ORDER:
            banned, needs_plan = cells.get(cls, cells.get(None, (0, 0)))
            prohibited.append(banned)
            plan.append(needs_plan)
    return tuple(prohibited), tuple(plan), True


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


def _date(value: Any, where: str, field_name: str = "effective_from") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RuleSetError(f"{where}：字段 {field_name}“{value}”不是日期（格式 YYYY-MM-DD）")


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
