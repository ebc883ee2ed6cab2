"""Working days in mainland China: weekends, public holidays and adjusted working days (调休).

The calendar comes from the maintained ``chinesecalendar`` library (published State
Council holiday arrangements). The office can add days the library does not know yet,
e.g. next year's arrangement published in November, to the ``calendar_day`` table
(``gisapp calendar add``); those rows win over the library. A year neither knows
falls back to Monday–Friday, and ``calendar_gaps`` says which years those are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import chinese_calendar  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.errors import InvalidRequestError

MAX_SPAN_DAYS = 400


def _library_workday(day: dt.date) -> bool | None:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the library has no data for
        return None


def is_workday(day: dt.date, overrides: dict[dt.date, bool] | None = None) -> bool:
    """Return whether ``day`` is a working day (office override, library, else Mon–Fri)."""
    if overrides and day in overrides:
        return overrides[day]
    known = _library_workday(day)
    return day.weekday() < 5 if known is None else known


def overrides_between(session: Session, start: dt.date, end: dt.date) -> dict[dt.date, bool]:
    """The office's calendar rows between two dates (inclusive)."""
    rows = session.execute(text("SELECT day, workday FROM calendar_day WHERE day BETWEEN :a AND :b"),
                           {"a": start, "b": end}).all()
    return {r.day: bool(r.workday) for r in rows}


def add_working_days(start: dt.date, days: int, overrides: dict[dt.date, bool] | None = None) -> dt.date:
    """Return the date ``days`` working days after ``start`` (``start`` itself not counted)."""
    day, left = start, days
    for _ in range(MAX_SPAN_DAYS):
        if left <= 0:
            return day
        day += dt.timedelta(days=1)
        if is_workday(day, overrides):
            left -= 1
    raise ValueError(f"no {days} working days within {MAX_SPAN_DAYS} days of {start}")


def working_days_between(start: dt.date, end: dt.date, overrides: dict[dt.date, bool] | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` <= ``start``)."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += is_workday(day, overrides)
    return count


def due_date(session: Session, start: dt.date, days: int) -> dt.date:
    """``add_working_days`` with the office's overrides read from the database."""
    overrides = overrides_between(session, start, start + dt.timedelta(days=days * 3 + 30))
    return add_working_days(start, days, overrides)


def calendar_gaps(years: Iterable[int]) -> list[int]:
    """Years for which the library has no data (office rows may still cover them)."""
    return [y for y in years if _library_workday(dt.date(y, 1, 2)) is None]


def set_day(session: Session, day: dt.date, workday: bool, name: str | None) -> None:
    """Add or replace the office's entry for one day."""
    if name is not None and len(name) > 200:
        raise InvalidRequestError("字段 name：说明不能超过 200 个字符")
    session.execute(text(
        "INSERT INTO calendar_day (day, workday, name) VALUES (:d, :w, :n) "
        "ON CONFLICT (day) DO UPDATE SET workday = EXCLUDED.workday, name = EXCLUDED.name"),
        {"d": day, "w": workday, "n": name})


def load_days_file(session: Session, path) -> int:
    """Load a YAML list of ``{day: YYYY-MM-DD, workday: bool, name: text}``; return how many."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date
        raise InvalidRequestError(f"文件 {path}：无法读取节假日 YAML（{exc}）") from exc
    if not isinstance(data, list):
        raise InvalidRequestError(f"文件 {path}：应为列表，每项含 day、workday、name")
    entries = []
    for index, item in enumerate(data, 1):
        if not isinstance(item, dict) or "day" not in item or "workday" not in item:
            raise InvalidRequestError(f"文件 {path} 第 {index} 项：须含 day（日期）与 workday（true/false）")
        day = item["day"]
        try:
            day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        except ValueError as exc:
            raise InvalidRequestError(f"文件 {path} 第 {index} 项：day“{day}”不是 YYYY-MM-DD 日期") from exc
        if not isinstance(item["workday"], bool):
            raise InvalidRequestError(f"文件 {path} 第 {index} 项：workday 须为 true 或 false")
        entries.append((day, item["workday"], item.get("name")))
    for day, workday, name in entries:
        set_day(session, day, workday, None if name is None else str(name))
    return len(entries)
