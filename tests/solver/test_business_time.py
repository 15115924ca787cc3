"""Business-hours clock arithmetic against hand-computed cases (weekends, holidays, DST)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from solver.business_time import (
    BusinessCalendar,
    CalendarError,
    add_business_seconds,
    business_seconds_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0
DESK = BusinessCalendar(
    time_zone="Europe/Berlin", days=(1, 2, 3, 4, 5), start="09:00", end="17:00",
    holidays=("2026-12-25",),
)  # fmt: skip


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=BERLIN).timestamp()


def test_within_one_day() -> None:
    """Tue 10:00 + 3 h = Tue 13:00."""
    assert add_business_seconds(DESK, at(2026, 3, 3, 10), 3 * H) == at(2026, 3, 3, 13)


def test_over_a_weekend() -> None:
    """Fri 16:00 + 8 h: 1 h on Friday, then Monday 09:00 + 7 h = Mon 16:00."""
    assert add_business_seconds(DESK, at(2026, 3, 6, 16), 8 * H) == at(2026, 3, 9, 16)


def test_submitted_at_night_starts_at_opening() -> None:
    """Sat 23:00 + 1 h = Mon 10:00; exactly at closing time + 30 min = next day 09:30."""
    assert add_business_seconds(DESK, at(2026, 3, 7, 23), H) == at(2026, 3, 9, 10)
    assert add_business_seconds(DESK, at(2026, 3, 3, 17), 1800) == at(2026, 3, 4, 9, 30)


def test_over_a_holiday() -> None:
    """Thu 24 Dec 2026 16:00 + 2 h: 1 h on Thursday, Friday 25 is a holiday, then the
    weekend: Mon 28 Dec 10:00."""
    assert add_business_seconds(DESK, at(2026, 12, 24, 16), 2 * H) == at(
        2026, 12, 28, 10
    )


def test_across_the_spring_dst_change() -> None:
    """A 24 h, 7-day desk: elapsed time is elapsed time. Sun 29 Mar 2026 has 23 hours in
    Berlin, so Sat 12:00 + 48 h ends on Mon 13:00 by the wall clock."""
    always = BusinessCalendar(
        time_zone="Europe/Berlin",
        days=(1, 2, 3, 4, 5, 6, 7),
        start="00:00",
        end="24:00",
    )
    start = at(2026, 3, 28, 12)
    end = add_business_seconds(always, start, 48 * H)
    assert end == start + 48 * H  # elapsed seconds are elapsed seconds
    assert end == at(2026, 3, 30, 13)


def test_office_hours_on_the_dst_day_stay_wall_clock() -> None:
    """Hours 09:00-17:00 every day: on Sunday 29 Mar 2026 they are still 8 hours and
    start at 09:00 CEST (07:00 UTC instead of 08:00 the day before)."""
    daily = BusinessCalendar(time_zone="Europe/Berlin", days=(1, 2, 3, 4, 5, 6, 7))
    sat_close = at(2026, 3, 28, 17)
    assert add_business_seconds(daily, sat_close, 1800) == at(2026, 3, 29, 9, 30)
    assert at(2026, 3, 29, 9) - at(2026, 3, 28, 9) == 23 * H


def test_zero_seconds_is_the_start_itself() -> None:
    assert add_business_seconds(DESK, at(2026, 3, 7, 23), 0) == at(2026, 3, 7, 23)


def test_bad_calendars_name_the_field() -> None:
    with pytest.raises(CalendarError, match="time_zone"):
        BusinessCalendar(time_zone="Mars/Olympus")
    with pytest.raises(CalendarError, match="end"):
        BusinessCalendar(start="17:00", end="09:00")
    with pytest.raises(CalendarError, match=r"holidays\[0\]"):
        BusinessCalendar(holidays=("25/12/2026",))
    with pytest.raises(CalendarError, match="days"):
        BusinessCalendar(days=(0,))


@settings(max_examples=60, deadline=None)
@given(
    st.floats(at(2026, 1, 1, 0), at(2027, 1, 1, 0)),
    st.floats(0, 200 * H),
    st.floats(0, 200 * H),
)
def test_adding_in_two_steps_is_adding_once(t0: float, a: float, b: float) -> None:
    """Pause/resume: a then b business seconds = a + b; the span measures them back.

    Only where ``a + b`` is a sum in floating point: with ``b`` below ``a``'s resolution
    (``a + b == a``, e.g. a = 720000, b = 6e-303) ``a + b`` ends exactly at a closing time,
    while ``b > 0`` more seconds from that closing time rightly start at the next opening.
    """
    assume(b == 0 or a + b > a)
    mid = add_business_seconds(DESK, t0, a)
    end = add_business_seconds(DESK, mid, b)
    assert end == pytest.approx(add_business_seconds(DESK, t0, a + b), abs=1e-3)
    assert business_seconds_between(DESK, t0, end) == pytest.approx(a + b, abs=1e-3)
