"""Column roles of a replay CSV: which of a user's columns plays which part of a ticket.

The one owner of the role list. A mapping is ``{role: source column}``, e.g. in a scenario's
``[replay.columns]``::

    id = "key"                 # ticket id (unique; a repeated id skips the later row)
    created = "opened"         # creation date-time (rows without one are skipped)
    category = "kind"
    skill = "crew"             # the skill / work queue / assignment group a ticket needs
    resolution_due = "due"     # optional: due date-time; a date alone = the end of that day
    lat = "y"                  # optional, with lon: location, degrees (none: no travel,
    lon = "x"                  #   e.g. a help desk)
    priority = "prio"          # 1..4; required with format = "csv" (boston311 derives it)
    work_time = "minutes"      # optional: work time (unit: work_time_unit); per category,
                               # its mean is the tickets' expected work time
    closed = "resolved_at"     # optional: closing date-time; without work times, a low
                               # quantile of closed - created per category estimates them
    source = "channel"         # optional: where the ticket came from (phone, email, web):
                               # carried to the simulator's ticket log

Standard library only, so a scenario can be validated without reading any data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

REQUIRED_ROLES = ("id", "created", "category", "skill")
# unmapped: none
OPTIONAL_ROLES = ("resolution_due", "lat", "lon", "work_time", "closed", "source")
ROLES = (*REQUIRED_ROLES, *OPTIONAL_ROLES, "priority")
PRIORITY_RULES = ("sla_window", "column")
UNKNOWN_LOCATION_CHOICES = ("drop", "keep", "sample")
WORK_TIME_UNITS_S = {"s": 1.0, "min": 60.0, "h": 3600.0}
# the quantile of closed - created per category taken as its work time when the file has
# no work_time values for it: closed - created includes queueing and waiting, so its low
# end is nearer the work itself than its mean or median (``simulations.replay_work``)
CLOSED_QUANTILE = 0.25
# separators a replay file may use (``separator``); the others are suggested when a file's
# header, read with the configured one, lacks the mapped columns
SEPARATORS = (",", ";", "\t", "|")

BOSTON311_COLUMNS: dict[str, str] = {
    "id": "CASE_ENQUIRY_ID",
    "created": "OPEN_DT",
    "resolution_due": "TARGET_DT",
    "category": "TYPE",
    "skill": "QUEUE",
    "lat": "LATITUDE",
    "lon": "LONGITUDE",
}


class ReplayError(ValueError):
    """A replay file or mapping that cannot be used as given; the message is one line naming
    the role, column and (where one is to blame) the row."""


def check_columns(columns: Mapping[str, str], priority_rule: str) -> None:
    """Refuse an unusable mapping: an unknown role, a blank column name, a missing role.

    Raises
    ------
    ReplayError
        ``columns.ROLE: ...`` or ``columns: missing role(s) ...``.
    """
    if priority_rule not in PRIORITY_RULES:
        raise ReplayError(
            f"priority_rule: must be sla_window or column, got {priority_rule!r}"
        )
    for role, column in columns.items():
        if role not in ROLES:
            raise ReplayError(
                f"columns.{role}: unknown role (known: {', '.join(ROLES)})"
            )
        if not isinstance(column, str) or not column.strip():
            raise ReplayError(
                f"columns.{role}: must name a column of the file, got {column!r}"
            )
    problem = mapping_gap(columns, priority_rule)
    if problem is not None:
        raise ReplayError(f"columns: {problem}")


def mapping_gap(columns: Mapping[str, str], priority_rule: str) -> str | None:
    """What a mapping lacks: a required role (``priority`` too with the column rule), or
    one of ``lat`` / ``lon`` without the other; None when complete."""
    needed = set(REQUIRED_ROLES) | (
        {"priority"} if priority_rule == "column" else set()
    )
    missing = needed - set(columns)
    if missing:
        return f"missing role(s) {', '.join(sorted(missing))}"
    if ("lat" in columns) != ("lon" in columns):
        return "lat and lon go together (a location needs both)"
    return None


def check_choices(
    unknown_location: str, work_time_unit: str, separator: str = ","
) -> None:
    """Refuse an ``unknown_location``, a ``work_time_unit`` or a ``separator`` outside its
    choices."""
    if separator not in SEPARATORS:
        raise ReplayError(
            f"separator: must be one of {', '.join(map(repr, SEPARATORS))}, "
            f"got {separator!r}"
        )
    if unknown_location not in UNKNOWN_LOCATION_CHOICES:
        raise ReplayError(
            f"unknown_location: must be drop, keep or sample, got {unknown_location!r}"
        )
    if work_time_unit not in WORK_TIME_UNITS_S:
        raise ReplayError(
            f"work_time_unit: must be one of {', '.join(WORK_TIME_UNITS_S)}, "
            f"got {work_time_unit!r}"
        )
