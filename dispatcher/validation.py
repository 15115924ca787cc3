"""Input validation: every rule raises ``InvalidArgument`` naming the field; nothing is written.

Runs on domain objects built by ``api.convert`` (which already rejected unknown and
UNSPECIFIED enum values). Field paths use the proto field names (``ticket.location.
latitude_deg``) so that a client can find the field in its own request.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import TYPE_CHECKING

from dispatcher.errors import InvalidArgument
from solver.lanes import MAX_CONCURRENCY

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dispatcher.domain import Location, Shift, SkillLevel, Technician, Ticket
    from solver.policy import Policy

ID_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,128}$")
"""Ticket, technician, request and asset ids."""
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""Tenant and region names: no ``{``, ``}`` or ``:``, so Redis hash tags stay unambiguous."""
SKILL_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")

MAX_BATCH = 1000
MAX_SKILLS = 64
MAX_REQUIRED_SKILLS = 32
MAX_PREFERRED = 32
MAX_EXCLUDED = 256
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 1024
MAX_TEXT = 4000
MAX_TITLE = 256
MAX_REASON = 1024
MAX_SHIFTS = 64
MAX_LEVEL = 10
MAX_WORK_DURATION_S = 7 * 86400
MAX_CAPACITY = 100
MAX_SPEED_KMH = 200.0
MAX_TIER = 10
MAX_PAGE_SIZE = 1000
# Plausible epoch-ms range (2000-01-01 .. 2200-01-01): catches seconds passed as ms.
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 7_258_118_400_000


def check_id(field: str, value: str, *, required: bool = True) -> None:
    if not value:
        if required:
            raise InvalidArgument(field, "is required")
        return
    if not ID_RE.match(value):
        raise InvalidArgument(field, "must be 1..128 characters from [A-Za-z0-9._:@/-]")


def name_error(value: str) -> str | None:
    """Why ``value`` is not a valid tenant, region or stream name (None when it is)."""
    if not value:
        return "is required"
    if not NAME_RE.match(value):
        return "must be 1..64 characters from [A-Za-z0-9._-]"
    return None


def check_name(field: str, value: str) -> None:
    problem = name_error(value)
    if problem is not None:
        raise InvalidArgument(field, problem)


def check_expected_version(field: str, value: int) -> None:
    """``expected_version``: 0 = no check, > 0 = the version the caller last read."""
    if value < 0:
        raise InvalidArgument(
            field, f"must be 0 (no check) or a version >= 1, got {value}"
        )


def check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(
            field, f"must be at most {limit} characters, got {len(value)}"
        )
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")


def check_finite(field: str, value: float, lo: float, hi: float) -> None:
    if not math.isfinite(value):
        raise InvalidArgument(field, f"must be a finite number, got {value}")
    if not lo <= value <= hi:
        raise InvalidArgument(field, f"must be in [{lo}, {hi}], got {value}")


def check_int(field: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise InvalidArgument(field, f"must be in [{lo}, {hi}], got {value}")


def check_time(field: str, value_ms: int) -> None:
    """0 = unset; otherwise a plausible epoch-millisecond time."""
    if value_ms and not MIN_TIME_MS <= value_ms <= MAX_TIME_MS:
        raise InvalidArgument(
            field, f"must be Unix epoch milliseconds (2000..2200), got {value_ms}"
        )


def check_location(field: str, loc: Location) -> None:
    check_finite(f"{field}.latitude_deg", loc.lat_deg, -90.0, 90.0)
    check_finite(f"{field}.longitude_deg", loc.lon_deg, -180.0, 180.0)


def check_skills(
    field: str, skills: Iterable[SkillLevel], limit: int, level_field: str
) -> None:
    seen: set[str] = set()
    for i, s in enumerate(skills):
        if i >= limit:
            raise InvalidArgument(field, f"at most {limit} entries")
        if not SKILL_RE.match(s.skill):
            raise InvalidArgument(
                f"{field}[{i}].skill", "must be 1..64 characters from [A-Za-z0-9._:/-]"
            )
        if s.skill in seen:
            raise InvalidArgument(f"{field}[{i}].skill", f"duplicate skill {s.skill!r}")
        seen.add(s.skill)
        check_int(f"{field}[{i}].{level_field}", s.level, 1, MAX_LEVEL)


def check_id_list(field: str, ids: Iterable[str], limit: int) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if i >= limit:
            raise InvalidArgument(field, f"at most {limit} entries")
        check_id(f"{field}[{i}]", value)
        if value in seen:
            raise InvalidArgument(f"{field}[{i}]", f"duplicate id {value!r}")
        seen.add(value)


def check_attributes(field: str, attrs: Mapping[str, str]) -> None:
    if len(attrs) > MAX_ATTRIBUTES:
        raise InvalidArgument(field, f"at most {MAX_ATTRIBUTES} keys")
    for key, value in attrs.items():
        if not key or len(key) > MAX_ATTRIBUTE_KEY:
            raise InvalidArgument(
                f"{field}[{json.dumps(key)}]",
                f"key must be 1..{MAX_ATTRIBUTE_KEY} characters",
            )
        check_text(f"{field}[{json.dumps(key)}]", value, MAX_ATTRIBUTE_VALUE)


def _plainly_valid(t: Ticket) -> bool:
    """A fast, conservative pre-check: True only when ``validate_ticket`` would pass.

    Covers the common shape (location given, no windows or explicit SLA, few skills, no
    preferences) without building one field name; anything else returns False and goes
    through the full check, which names the offending field.
    """
    loc = t.location
    return (
        loc is not None
        and -90.0 <= loc.lat_deg <= 90.0
        and -180.0 <= loc.lon_deg <= 180.0
        and 1 <= t.priority <= 4
        and 1 <= t.work_duration_s <= MAX_WORK_DURATION_S
        and 0 <= t.customer_tier <= MAX_TIER
        and not (
            t.window_start_ms
            or t.window_end_ms
            or t.response_due_ms
            or t.resolution_due_ms
        )
        and not (
            t.preferred_technician_ids or t.excluded_technician_ids or t.attributes
        )
        and not (t.title or t.description or t.asset_id)
        and len(t.category) <= 64
        and "\x00" not in t.category
        and len(t.required_skills) <= 4
        and all(
            SKILL_RE.match(s.skill) and 1 <= s.level <= MAX_LEVEL
            for s in t.required_skills
        )
        and len({s.skill for s in t.required_skills}) == len(t.required_skills)
        and ID_RE.match(t.ticket_id) is not None
        and NAME_RE.match(t.region) is not None
    )


def validate_ticket(t: Ticket, prefix: str = "ticket") -> None:
    """Check a submitted (or updated) ticket (the caller fills a missing location from its
    asset's known one; still none = remote work)."""
    if _plainly_valid(t):
        return
    check_id(f"{prefix}.ticket_id", t.ticket_id)
    check_name(f"{prefix}.region", t.region)
    check_int(f"{prefix}.priority", t.priority, 1, 4)
    check_int(f"{prefix}.work_duration_s", t.work_duration_s, 1, MAX_WORK_DURATION_S)
    check_text(f"{prefix}.category", t.category, 64)
    check_text(f"{prefix}.title", t.title, MAX_TITLE)
    check_text(f"{prefix}.description", t.description, MAX_TEXT)
    check_skills(
        f"{prefix}.required_skills", t.required_skills, MAX_REQUIRED_SKILLS, "min_level"
    )
    check_id(f"{prefix}.asset_id", t.asset_id, required=False)
    if t.location is not None:
        check_location(f"{prefix}.location", t.location)
    # no location (and no known one for its asset): remote work, no travel (help desks)
    check_int(f"{prefix}.customer_tier", t.customer_tier, 0, MAX_TIER)
    check_time(f"{prefix}.time_window.start_ms", t.window_start_ms)
    check_time(f"{prefix}.time_window.end_ms", t.window_end_ms)
    if t.window_start_ms and t.window_end_ms and t.window_end_ms <= t.window_start_ms:
        raise InvalidArgument(
            f"{prefix}.time_window.end_ms", "must be after time_window.start_ms"
        )
    check_time(f"{prefix}.sla.response_due_ms", t.response_due_ms)
    check_time(f"{prefix}.sla.resolution_due_ms", t.resolution_due_ms)
    if (
        t.response_due_ms
        and t.resolution_due_ms
        and t.resolution_due_ms < t.response_due_ms
    ):
        raise InvalidArgument(
            f"{prefix}.sla.resolution_due_ms", "must not be before sla.response_due_ms"
        )
    check_id_list(
        f"{prefix}.preferred_technician_ids", t.preferred_technician_ids, MAX_PREFERRED
    )
    check_id_list(
        f"{prefix}.excluded_technician_ids", t.excluded_technician_ids, MAX_EXCLUDED
    )
    both = set(t.preferred_technician_ids) & set(t.excluded_technician_ids)
    if both:
        raise InvalidArgument(
            f"{prefix}.excluded_technician_ids",
            f"{sorted(both)[0]!r} is also preferred",
        )
    check_attributes(f"{prefix}.attributes", t.attributes)


def check_shifts(field: str, shifts: Iterable[Shift]) -> None:
    ordered = []
    for i, s in enumerate(shifts):
        if i >= MAX_SHIFTS:
            raise InvalidArgument(field, f"at most {MAX_SHIFTS} shifts")
        if not s.start_ms:
            raise InvalidArgument(f"{field}[{i}].start_ms", "is required")
        if not s.end_ms:
            raise InvalidArgument(f"{field}[{i}].end_ms", "is required")
        check_time(f"{field}[{i}].start_ms", s.start_ms)
        check_time(f"{field}[{i}].end_ms", s.end_ms)
        if s.end_ms <= s.start_ms:
            raise InvalidArgument(f"{field}[{i}].end_ms", "must be after start_ms")
        ordered.append((s.start_ms, s.end_ms, i))
    ordered.sort()
    for (_, end, _), (start, _, j) in itertools.pairwise(ordered):
        if start < end:
            raise InvalidArgument(f"{field}[{j}]", "overlaps another shift")


def validate_technician(t: Technician, prefix: str = "technician") -> None:
    check_id(f"{prefix}.technician_id", t.technician_id)
    check_name(f"{prefix}.region", t.region)
    check_text(f"{prefix}.display_name", t.display_name, MAX_TITLE)
    check_skills(f"{prefix}.skills", t.skills, MAX_SKILLS, "level")
    if t.location is not None:
        check_location(f"{prefix}.location", t.location)
    check_shifts(f"{prefix}.shifts", t.shifts)
    check_int(f"{prefix}.capacity", t.capacity, 1, MAX_CAPACITY)
    check_int(
        f"{prefix}.concurrency", t.concurrency, 1, min(t.capacity, MAX_CONCURRENCY)
    )
    check_finite(f"{prefix}.travel_speed_kmh", t.travel_speed_kmh, 1.0, MAX_SPEED_KMH)
    check_attributes(f"{prefix}.attributes", t.attributes)


def check_policy_names(policy: Policy, prefix: str = "policy") -> None:
    """Region names inside a policy follow the name rule (they become parts of Redis
    keys); paths are those of the policy's dict form (``neighbours["a"][0]``)."""
    for region, neighbours in policy.neighbours.items():
        where = f"{prefix}.neighbours[{json.dumps(region)}]"
        problem = name_error(region)
        if problem is not None:
            raise InvalidArgument(where, f"region {problem}")
        for i, other in enumerate(neighbours):
            check_name(f"{where}[{i}]", other)


def check_page_size(field: str, page_size: int, default: int = 100) -> int:
    if page_size < 0:
        raise InvalidArgument(field, "must be >= 0")
    if page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(field, f"must be at most {MAX_PAGE_SIZE}")
    return page_size or default
