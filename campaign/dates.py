"""Day specifications in campaign settings ("05-31", "02-end", "2月底") resolved for a year."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime

from campaign.errors import CampaignSettingsError

_MONTH_DAY = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_MONTH_END = re.compile(r"^(\d{1,2})\s*(?:[-/.]\s*(?:end|last)|月\s*(?:底|末))$", re.IGNORECASE)
_FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def month_end(year: int, month: int) -> date:
    """Return the last day of ``month`` in ``year`` (29 Feb in leap years)."""
    return date(year, month, calendar.monthrange(year, month)[1])


def resolve_day(spec: object, year: int, *, field: str) -> date:
    """Resolve a day spec ("MM-DD", "MM-end", "M月底", ISO date or ``date``) inside ``year``."""
    if isinstance(spec, datetime):
        spec = spec.date()
    if isinstance(spec, date):
        return _check_year(spec, year, field)
    if not isinstance(spec, str) or not spec.strip():
        raise CampaignSettingsError(
            f"设置项 {field} 的日期 {spec!r} 无法识别；"
            f"请写成 “05-31”、“02-end”（月末）或 “{year}-05-31”。"
        )
    text = spec.strip()
    if match := _MONTH_END.match(text):
        return month_end(year, _month(int(match.group(1)), text, field))
    if match := _FULL_DATE.match(text):
        day = _build(int(match.group(1)), int(match.group(2)), int(match.group(3)), text, field)
        return _check_year(day, year, field)
    if match := _MONTH_DAY.match(text):
        return _build(year, int(match.group(1)), int(match.group(2)), text, field)
    raise CampaignSettingsError(
        f"设置项 {field} 的日期 “{text}” 无法识别；"
        f"请写成 “05-31”、“02-end”（月末）或 “{year}-05-31”。"
    )


def _month(month: int, text: str, field: str) -> int:
    if not 1 <= month <= 12:
        raise CampaignSettingsError(f"设置项 {field} 的日期 “{text}” 中月份 {month} 不存在。")
    return month


def _build(year: int, month: int, day: int, text: str, field: str) -> date:
    _month(month, text, field)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        hint = "；若指月末请写 “02-end”" if month == 2 and day == 29 else ""
        raise CampaignSettingsError(
            f"设置项 {field} 的日期 “{text}” 不存在：{year} 年 {month} 月只有 {last} 天{hint}。"
        )
    return date(year, month, day)


def _check_year(day: date, year: int, field: str) -> date:
    if day.year != year:
        raise CampaignSettingsError(
            f"设置项 {field} 的日期 {day.isoformat()} 不在活动年度 {year} 年内。"
        )
    return day


def parse_query_date(text: str, *, option: str) -> date:
    """Parse a command-line date written as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CampaignSettingsError(
            f"选项 {option} 的日期 “{text}” 无效，请写成 YYYY-MM-DD，例如 2026-05-31。"
        ) from None
