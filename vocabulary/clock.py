"""Dates of the field are Shanghai dates: "today" and month boundaries are taken there."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# An approval "valid until 5 June" ends at Shanghai midnight; inspections and report months
# are Shanghai dates too.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_in_shanghai() -> dt.date:
    """Return today's date in Shanghai."""
    return dt.datetime.now(SHANGHAI).date()


def shanghai_date(moment: dt.datetime) -> dt.date:
    """Return the Shanghai date of an aware moment."""
    return moment.astimezone(SHANGHAI).date()
