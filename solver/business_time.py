"""Business-hours SLA clocks: a calendar (time zone, working days and hours, holidays) and
the one arithmetic rule that adds business seconds to an instant.

A help desk's SLA clock runs only in working hours: a P3 ticket with an 8-hour target
submitted on Friday at 16:00 (hours 09:00-17:00, Monday to Friday) is due on Monday's
afternoon, not on Saturday at midnight. :func:`add_business_seconds` is that rule (the
policy's due-time rule calls it); :func:`business_seconds_between` measures a span the
same way (how much clock a pause consumed). Instants are Unix epoch seconds; hours are
wall-clock times in the calendar's time zone, so daylight saving changes are honoured
(a working day on which clocks go forward is an hour shorter when its hours span the change).

Pure: the standard library only (``zoneinfo`` uses the system's time zone database or the
``tzdata`` package).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_SEARCH_DAYS = 3_660
"""Days searched for working time before giving up (a calendar with holidays every day)."""

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class CalendarError(ValueError):
    """A calendar failed validation: ``field`` names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When an SLA clock runs: ``start``-``end`` (local "HH:MM", end may be "24:00") on
    ``days`` (ISO weekdays, 1 = Monday), in ``time_zone`` (IANA name), except
    ``holidays`` (local ISO dates "YYYY-MM-DD")."""

    time_zone: str = "UTC"
    days: tuple[int, ...] = (1, 2, 3, 4, 5)
    start: str = "09:00"
    end: str = "17:00"
    holidays: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_calendar(self)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _minutes(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def validate_calendar(c: BusinessCalendar, where: str = "calendar") -> None:
    """Raise ``CalendarError`` naming the first invalid field."""
    if not isinstance(c.time_zone, str) or not c.time_zone:
        raise CalendarError(f"{where}.time_zone", "must be an IANA time zone name")
    try:
        ZoneInfo(c.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"{where}.time_zone", f"unknown time zone {c.time_zone!r}"
        ) from None
    if not c.days or any(
        isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in c.days
    ):
        raise CalendarError(f"{where}.days", "must be ISO weekdays 1 (Monday)..7")
    for name in ("start", "end"):
        value = getattr(c, name)
        if not isinstance(value, str) or not _HHMM.match(value):
            raise CalendarError(f"{where}.{name}", f"must be HH:MM, got {value!r}")
    if _minutes(c.end) <= _minutes(c.start):
        raise CalendarError(f"{where}.end", "must be after start")
    for i, day in enumerate(c.holidays):
        try:
            dt.date.fromisoformat(day)
        except (TypeError, ValueError):
            raise CalendarError(
                f"{where}.holidays[{i}]", f"must be YYYY-MM-DD, got {day!r}"
            ) from None


def _window(c: BusinessCalendar, day: dt.date) -> tuple[float, float] | None:
    """The working window of a local date as epoch seconds; None on a day off."""
    if day.isoweekday() not in c.days or day.isoformat() in c.holidays:
        return None
    midnight = dt.datetime.combine(day, dt.time())  # naive local wall clock
    start = midnight + dt.timedelta(minutes=_minutes(c.start))
    end = midnight + dt.timedelta(minutes=_minutes(c.end))
    # wall-clock times in the zone: a DST change inside the day is honoured
    start, end = start.replace(tzinfo=c.zone), end.replace(tzinfo=c.zone)
    return start.timestamp(), end.timestamp()


def add_business_seconds(c: BusinessCalendar, start_s: float, seconds: float) -> float:
    """The instant at which ``seconds`` of working time have passed since ``start_s``.

    Time outside working hours does not count; ``seconds = 0`` gives ``start_s`` itself
    (not the next opening). Raises ``CalendarError`` when no working time is found within
    ``MAX_SEARCH_DAYS`` days.
    """
    if seconds <= 0:
        return start_s
    left = float(seconds)
    day = dt.datetime.fromtimestamp(start_s, c.zone).date() - dt.timedelta(days=1)
    for _ in range(MAX_SEARCH_DAYS):
        w = _window(c, day)
        day += dt.timedelta(days=1)
        if w is None or w[1] <= start_s:
            continue
        begin = max(w[0], start_s)
        if left <= w[1] - begin:
            return begin + left
        left -= w[1] - begin
    raise CalendarError("calendar", f"no working time within {MAX_SEARCH_DAYS} days")


def business_seconds_between(c: BusinessCalendar, a_s: float, b_s: float) -> float:
    """Working seconds in [a_s, b_s) (0 when b_s <= a_s)."""
    if b_s <= a_s:
        return 0.0
    total = 0.0
    day = dt.datetime.fromtimestamp(a_s, c.zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(b_s, c.zone).date() + dt.timedelta(days=1)
    while day <= last:
        w = _window(c, day)
        day += dt.timedelta(days=1)
        if w is not None:
            total += max(0.0, min(w[1], b_s) - max(w[0], a_s))
    return total
