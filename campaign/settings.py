"""Campaign settings for one year: deadlines, spot-check stage windows and the quota.

Defaults follow the district work plan (registration by end of May, self-inspection
rounds by 31 May and 30 Sep, third-party checks by 30 Nov, spot-check stages ending
31 Jul, 30 Sep and 30 Nov with a 30 % quota each). Days are written as specs that are
resolved for the year ("05-end" is 31 May; "02-end" is 28 or 29 Feb), so the year is
always a parameter. Windows are inclusive of both end days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from campaign.dates import resolve_day
from campaign.errors import CampaignSettingsError
from campaign.risk import RiskWeights

DEFAULTS: dict[str, Any] = {
    "registration_deadline": "05-end",
    "self_inspection_deadlines": ["05-31", "09-30"],
    "third_party_deadline": "11-30",
    "spot_check_quota": 0.30,
    "spot_check_stages": [
        {"start": "06-01", "end": "07-31"},
        {"start": "08-01", "end": "09-30"},
        {"start": "10-01", "end": "11-30"},
    ],
    "full_coverage": True,
    "resample_weight": 0.5,
}
ALLOWED_KEYS = ("year", *DEFAULTS)
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True)
class SpotCheckStage:
    """One district spot-check stage; the window is inclusive and ends on the deadline."""

    number: int
    window_start: date
    window_end: date

    @property
    def label(self) -> str:
        """Return the Chinese label, e.g. "第1阶段（2026-06-01 至 2026-07-31）"."""
        return f"第{self.number}阶段（{self.window_start} 至 {self.window_end}）"


@dataclass(frozen=True)
class CampaignSettings:
    """The campaign's dates and sampling parameters for one year."""

    year: int
    registration_deadline: date
    self_inspection_deadlines: tuple[date, ...]
    third_party_deadline: date
    stages: tuple[SpotCheckStage, ...]
    spot_check_quota: float = 0.30
    full_coverage: bool = True  # every candidate sampled by the end of the last stage
    resample_weight: float = 0.5  # weight factor for projects already sampled earlier
    risk_weights: RiskWeights = field(default_factory=RiskWeights)

    @classmethod
    def for_year(cls, year: int, overrides: Mapping[str, Any] | None = None) -> CampaignSettings:
        """Return the default settings of ``year`` with ``overrides`` (same keys as YAML)."""
        return cls.from_mapping(dict(overrides or {}), year=year)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, year: int | None = None) -> CampaignSettings:
        """Build settings from overrides; ``year`` comes from the argument or the mapping."""
        if not isinstance(data, Mapping):
            raise CampaignSettingsError("活动设置必须是“键: 值”形式的映射。")
        unknown = sorted(str(key) for key in data if key not in ALLOWED_KEYS)
        if unknown:
            raise CampaignSettingsError(
                f"活动设置中有未知的设置项：{'、'.join(unknown)}；允许的设置项为："
                f"{'、'.join(ALLOWED_KEYS)}。"
            )
        year = _resolve_year(data.get("year"), year)
        merged = {**DEFAULTS, **{k: v for k, v in data.items() if k != "year"}}
        deadlines = _day_list(
            merged["self_inspection_deadlines"], year, "self_inspection_deadlines"
        )
        return cls(
            year=year,
            registration_deadline=resolve_day(
                merged["registration_deadline"], year, field="registration_deadline"
            ),
            self_inspection_deadlines=deadlines,
            third_party_deadline=resolve_day(
                merged["third_party_deadline"], year, field="third_party_deadline"
            ),
            stages=_stages(merged["spot_check_stages"], year),
            spot_check_quota=_fraction(merged["spot_check_quota"], "spot_check_quota"),
            full_coverage=_flag(merged["full_coverage"], "full_coverage"),
            resample_weight=_fraction(merged["resample_weight"], "resample_weight"),
        )

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        year: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> CampaignSettings:
        """Load overrides from YAML (keys as in ``DEFAULTS``), apply ``overrides``, build."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError as err:
            raise CampaignSettingsError(f"无法读取活动设置文件 {path}：文件不存在。") from err
        except OSError as err:
            raise CampaignSettingsError(f"无法读取活动设置文件 {path}：{err.strerror}。") from err
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise CampaignSettingsError(
                f"活动设置文件 {path} 不是有效的 UTF-8 YAML：{err}"
            ) from err
        try:
            if data is not None and not isinstance(data, Mapping):
                raise CampaignSettingsError("内容必须是“键: 值”形式的映射。")
            return cls.from_mapping({**(data or {}), **(overrides or {})}, year=year)
        except CampaignSettingsError as err:
            raise CampaignSettingsError(f"活动设置文件 {path}：{err}") from err

    def to_mapping(self) -> dict[str, Any]:
        """Return the settings as the mapping ``from_mapping`` rebuilds them from (ISO days)."""
        return {
            "year": self.year,
            "registration_deadline": self.registration_deadline.isoformat(),
            "self_inspection_deadlines": [d.isoformat() for d in self.self_inspection_deadlines],
            "third_party_deadline": self.third_party_deadline.isoformat(),
            "spot_check_quota": self.spot_check_quota,
            "spot_check_stages": [
                {"start": s.window_start.isoformat(), "end": s.window_end.isoformat()}
                for s in self.stages
            ],
            "full_coverage": self.full_coverage,
            "resample_weight": self.resample_weight,
        }

    def stage(self, number: int) -> SpotCheckStage:
        """Return stage ``number`` (1-based)."""
        for stage in self.stages:
            if stage.number == number:
                return stage
        raise CampaignSettingsError(
            f"抽查阶段 {number} 不存在；本年度共有 {len(self.stages)} 个阶段。"
        )

    @property
    def coverage_deadline(self) -> date:
        """Return the day by which every candidate must have been spot-checked."""
        return self.stages[-1].window_end


def settings_for(
    year: int, path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> CampaignSettings:
    """Return the settings of ``year``: from the YAML file at ``path`` if given, else defaults."""
    if path is None:
        return CampaignSettings.for_year(year, overrides)
    return CampaignSettings.from_yaml(path, year=year, overrides=overrides)


def _resolve_year(from_data: object, from_argument: int | None) -> int:
    candidates = [y for y in (from_data, from_argument) if y is not None]
    if not candidates:
        raise CampaignSettingsError("活动设置缺少年度（year）。")
    years: list[int] = []
    for value in candidates:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CampaignSettingsError(f"活动年度 {value!r} 必须是整数，例如 2026。")
        if not MIN_YEAR <= value <= MAX_YEAR:
            raise CampaignSettingsError(f"活动年度 {value} 超出范围 {MIN_YEAR}–{MAX_YEAR}。")
        years.append(value)
    if len(set(years)) > 1:
        raise CampaignSettingsError(
            f"活动设置中的年度 {from_data} 与指定的年度 {from_argument} 不一致。"
        )
    return years[0]


def _day_list(specs: object, year: int, name: str) -> tuple[date, ...]:
    if not isinstance(specs, list | tuple) or not specs:
        raise CampaignSettingsError(f"设置项 {name} 必须是非空的日期列表。")
    days = tuple(resolve_day(s, year, field=f"{name}[{i + 1}]") for i, s in enumerate(specs))
    if any(b <= a for a, b in zip(days, days[1:], strict=False)):
        raise CampaignSettingsError(f"设置项 {name} 的日期必须严格递增：{[str(d) for d in days]}。")
    return days


def _stages(specs: object, year: int) -> tuple[SpotCheckStage, ...]:
    if not isinstance(specs, list | tuple) or not specs:
        raise CampaignSettingsError("设置项 spot_check_stages 必须是非空的阶段列表。")
    stages: list[SpotCheckStage] = []
    for number, spec in enumerate(specs, start=1):
        name = f"spot_check_stages[{number}]"
        if not isinstance(spec, Mapping) or set(spec) != {"start", "end"}:
            raise CampaignSettingsError(f"设置项 {name} 必须恰好包含 start 和 end 两个日期。")
        start = resolve_day(spec["start"], year, field=f"{name}.start")
        end = resolve_day(spec["end"], year, field=f"{name}.end")
        if end < start:
            raise CampaignSettingsError(f"设置项 {name} 的结束日期 {end} 早于开始日期 {start}。")
        if stages and start <= stages[-1].window_end:
            raise CampaignSettingsError(
                f"设置项 {name} 的窗口 {start} 至 {end} 与上一阶段重叠或早于上一阶段。"
            )
        stages.append(SpotCheckStage(number=number, window_start=start, window_end=end))
    return tuple(stages)


def _fraction(value: object, name: str) -> float:
    """Parse a share in (0, 1], written as 0.3 or "30%"."""
    if isinstance(value, bool):
        raise CampaignSettingsError(f"设置项 {name} 必须是 0 到 1 之间的数，而不是 {value!r}。")
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = Decimal(text.removesuffix("%").strip())
    except InvalidOperation as err:
        raise CampaignSettingsError(f"设置项 {name} 的值 {value!r} 不是数字。") from err
    if percent:
        number /= 100
    if not number.is_finite() or not 0 < number <= 1:
        raise CampaignSettingsError(
            f"设置项 {name} 必须大于 0 且不超过 1（可写 0.3 或 30%），而不是 {value}。"
        )
    return float(number)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise CampaignSettingsError(f"设置项 {name} 必须是 true 或 false，而不是 {value!r}。")
    return value
