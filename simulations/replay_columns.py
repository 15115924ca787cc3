"""Column roles of a replay CSV: which of a user's columns plays which part of a ticket.

The one owner of the role list. A mapping is ``{role: source column}``, e.g. in a scenario's
``[replay.columns]``::

    id = "key"                 # ticket id (unique; a repeated id skips the later row)
    created = "opened"         # creation date-time (rows without one are skipped)
    resolution_due = "due"     # resolution due date-time; a date alone = the end of that day
    category = "kind"
    skill = "crew"             # the skill / work queue / assignment group a ticket needs
    lat = "y"                  # location, degrees
    lon = "x"
    priority = "prio"          # 1..4; required with format = "csv" (boston311 derives it)
    work_time = "minutes"      # optional: work time (unit: work_time_unit); per category,
                               # its mean is the tickets' expected work time

Standard library only, so a scenario can be validated without reading any data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

REQUIRED_ROLES = ("id", "created", "resolution_due", "category", "skill", "lat", "lon")
ROLES = (*REQUIRED_ROLES, "priority", "work_time")
PRIORITY_RULES = ("sla_window", "column")
UNKNOWN_LOCATION_CHOICES = ("drop", "keep", "sample")
WORK_TIME_UNITS_S = {"s": 1.0, "min": 60.0, "h": 3600.0}

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
    needed = set(REQUIRED_ROLES) | (
        {"priority"} if priority_rule == "column" else set()
    )
    missing = needed - set(columns)
    if missing:
        raise ReplayError(f"columns: missing role(s) {', '.join(sorted(missing))}")


def check_choices(unknown_location: str, work_time_unit: str) -> None:
    """Refuse an ``unknown_location`` or a ``work_time_unit`` outside its choices."""
    if unknown_location not in UNKNOWN_LOCATION_CHOICES:
        raise ReplayError(
            f"unknown_location: must be drop, keep or sample, got {unknown_location!r}"
        )
    if work_time_unit not in WORK_TIME_UNITS_S:
        raise ReplayError(
            f"work_time_unit: must be one of {', '.join(WORK_TIME_UNITS_S)}, "
            f"got {work_time_unit!r}"
        )
