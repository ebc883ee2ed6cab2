"""Working days with Chinese public holidays, adjusted working days and the office's own rows."""

from __future__ import annotations

import datetime as dt

import pytest

from layers.services.errors import InvalidRequestError
from layers.services.workdays import (
    add_working_days,
    calendar_gaps,
    due_date,
    is_workday,
    load_days_file,
    set_day,
    working_days_between,
)


def test_national_day_week_and_adjusted_saturday():
    # 2026: 1–7 October off; Saturday 10 October is an adjusted working day (调休).
    assert not is_workday(dt.date(2026, 10, 1)) and not is_workday(dt.date(2026, 10, 7))
    assert is_workday(dt.date(2026, 10, 10))
    assert add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert add_working_days(dt.date(2026, 9, 30), 2) == dt.date(2026, 10, 9)
    assert working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 9)) == 2


def test_a_year_the_library_does_not_know_uses_office_rows_then_weekdays():
    gaps = calendar_gaps([2026, 2099])
    assert gaps == [2099]
    friday = dt.date(2099, 1, 2)
    assert add_working_days(friday, 1) == dt.date(2099, 1, 5)  # Monday
    assert add_working_days(friday, 1, {dt.date(2099, 1, 5): False}) == dt.date(2099, 1, 6)
    assert add_working_days(friday, 1, {dt.date(2099, 1, 3): True}) == dt.date(2099, 1, 3)


@pytest.mark.postgis
def test_office_rows_in_the_database_win(db_session, tmp_path):
    start = dt.date(2099, 1, 2)
    assert due_date(db_session, start, 1) == dt.date(2099, 1, 5)
    set_day(db_session, dt.date(2099, 1, 5), False, "试验假日")
    assert due_date(db_session, start, 1) == dt.date(2099, 1, 6)
    days = tmp_path / "holidays.yaml"
    days.write_text("- {day: 2099-01-06, workday: false, name: 元旦调休}\n"
                    "- {day: 2099-01-03, workday: true, name: 补班}\n", encoding="utf-8")
    assert load_days_file(db_session, days) == 2
    assert due_date(db_session, start, 1) == dt.date(2099, 1, 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {day: 2099-13-01, workday: false}\n", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match="bad.yaml"):
        load_days_file(db_session, bad)
