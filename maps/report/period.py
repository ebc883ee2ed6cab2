"""The report month: figures are taken as of the end of its last day, Beijing time."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from maps.report.errors import ReportInputError
from vocabulary import SHANGHAI

MIN_YEAR, MAX_YEAR = 2000, 2100
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


@dataclass(frozen=True)
class ReportPeriod:
    """One calendar month of the report."""

    year: int
    month: int

    @property
    def label(self) -> str:
        """Return ``YYYY-MM``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label_zh(self) -> str:
        """Return the Chinese label, e.g. ``2026年11月``."""
        return f"{self.year}年{self.month}月"

    @property
    def first_day(self) -> dt.date:
        """Return the first day of the month."""
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        """Return the last day of the month (the "as of" day of every figure)."""
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def start(self) -> dt.datetime:
        """Return the month's first instant (00:00 Beijing time on the first day)."""
        return dt.datetime.combine(self.first_day, dt.time(), SHANGHAI)

    @property
    def cutoff(self) -> dt.datetime:
        """Return the instant just after the month (00:00 Beijing time on the next month's first day)."""
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), SHANGHAI)


def parse_month(text: object) -> ReportPeriod:
    """Parse ``YYYY-MM`` into a period; anything else raises ``ReportInputError``."""
    match = _MONTH.match(str(text)) if text is not None else None
    if match is None:
        raise ReportInputError(f"月份“{text}”格式不正确，应为 YYYY-MM（例如 2026-11）。")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ReportInputError(f"月份“{text}”不存在：月份应在 01 至 12 之间。")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ReportInputError(f"月份“{text}”的年份超出范围（{MIN_YEAR}–{MAX_YEAR}）。")
    return ReportPeriod(year, month)
