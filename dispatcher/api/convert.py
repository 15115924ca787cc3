"""pb <-> domain conversion: the only module that imports both ``dispatcher.pb`` and domain types.

Functions come in named pairs (``ticket_from_pb`` / ``ticket_to_pb``). ``*_from_pb`` reads
only the input fields, and rejects an unknown or UNSPECIFIED enum value where one is
required with ``InvalidArgument`` naming the field.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from google.protobuf import json_format

from dispatcher.domain import (
    Assignment,
    CostTerm,
    Event,
    EventType,
    Location,
    MoveReason,
    PriorityStats,
    RegionStats,
    Resolution,
    ResolutionCode,
    Shift,
    SkillLevel,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.errors import InvalidArgument
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.webhooks.model import DeadLetter, Subscription
from solver.policy import Policy, policy_to_dict

if TYPE_CHECKING:
    import enum
    from collections.abc import Sequence

    from dispatcher.store.policy import PolicyVersion

E = TypeVar("E", bound="enum.Enum")


def _enum_from_pb(
    enum_pb: Any,
    prefix: str,
    domain: type[E],
    value: int,
    field: str,
    *,
    required: bool = True,
) -> E | None:
    try:
        name = enum_pb.Name(value)
    except ValueError:
        raise InvalidArgument(field, f"unknown enum value {value}") from None
    if value == 0:
        if required:
            raise InvalidArgument(field, "is required (UNSPECIFIED given)")
        return None
    return domain[name.removeprefix(prefix)]


def _enum_to_pb(enum_pb: Any, prefix: str, value: enum.Enum | None) -> Any:
    if value is None or value.value == "":
        return 0
    return int(enum_pb.Value(prefix + str(value.name)))


# --- small types ------------------------------------------------------------------------


def priority_from_pb(value: int, field: str, *, required: bool = True) -> int:
    if value not in (0, 1, 2, 3, 4):
        raise InvalidArgument(field, f"unknown enum value {value}")
    if value == 0 and required:
        raise InvalidArgument(field, "is required (UNSPECIFIED given)")
    return value


def priority_to_pb(value: int) -> Any:
    return value  # the pb enum numbers are the priority numbers (P1 = 1)


def ticket_status_from_pb(value: int, field: str) -> TicketStatus:
    result = _enum_from_pb(
        pb.TicketStatus, "TICKET_STATUS_", TicketStatus, value, field
    )
    assert result is not None
    return result


_TICKET_STATUS_TO_PB = {
    s: pb.TicketStatus.Value("TICKET_STATUS_" + s.name) for s in TicketStatus
}


def ticket_status_to_pb(value: TicketStatus | None) -> Any:
    return 0 if value is None else _TICKET_STATUS_TO_PB[value]


def technician_status_from_pb(
    value: int, field: str, *, required: bool = True
) -> TechnicianStatus | None:
    return _enum_from_pb(
        pb.TechnicianStatus,
        "TECHNICIAN_STATUS_",
        TechnicianStatus,
        value,
        field,
        required=required,
    )


def technician_status_to_pb(value: TechnicianStatus) -> Any:
    return _enum_to_pb(pb.TechnicianStatus, "TECHNICIAN_STATUS_", value)


_UNASSIGNED_REASON_TO_PB = {
    r: _enum_to_pb(pb.UnassignedReason, "UNASSIGNED_REASON_", r)
    for r in UnassignedReason
}


def unassigned_reason_to_pb(value: UnassignedReason) -> Any:
    return _UNASSIGNED_REASON_TO_PB[value]


def unassigned_reason_from_pb(value: int) -> UnassignedReason:
    return (
        _enum_from_pb(
            pb.UnassignedReason,
            "UNASSIGNED_REASON_",
            UnassignedReason,
            value,
            "unassigned_reason",
            required=False,
        )
        or UnassignedReason.NONE
    )


def event_type_from_pb(value: int, field: str) -> EventType:
    result = _enum_from_pb(pb.EventType, "EVENT_TYPE_", EventType, value, field)
    assert result is not None
    return result


_EVENT_TYPE_TO_PB = {e: _enum_to_pb(pb.EventType, "EVENT_TYPE_", e) for e in EventType}


def event_type_to_pb(value: EventType) -> Any:
    return _EVENT_TYPE_TO_PB[value]


def location_from_pb(msg: pb.Location) -> Location:
    return Location(msg.latitude_deg, msg.longitude_deg)


def location_to_pb(loc: Location) -> pb.Location:
    return pb.Location(latitude_deg=loc.lat_deg, longitude_deg=loc.lon_deg)


def resolution_from_pb(msg: pb.Resolution, field: str) -> Resolution:
    code = _enum_from_pb(
        pb.ResolutionCode, "RESOLUTION_CODE_", ResolutionCode, msg.code, f"{field}.code"
    )
    assert code is not None
    return Resolution(code, msg.notes)


def resolution_to_pb(r: Resolution) -> pb.Resolution:
    return pb.Resolution(
        code=_enum_to_pb(pb.ResolutionCode, "RESOLUTION_CODE_", r.code), notes=r.notes
    )


_MOVE_REASON_TO_PB = {
    r: _enum_to_pb(pb.MoveReason, "MOVE_REASON_", r) for r in MoveReason
}


def assignment_to_pb(a: Assignment) -> pb.Assignment:
    msg = pb.Assignment(
        technician_id=a.technician_id,
        position=a.position,
        expected_arrival_ms=a.expected_arrival_ms,
        expected_start_ms=a.expected_start_ms,
        expected_finish_ms=a.expected_finish_ms,
        sla_predicted_met=a.sla_predicted_met,
        total_cost=a.total_cost,
        solve_id=a.solve_id,
        assigned_at_ms=a.assigned_at_ms,
        move_reason=_MOVE_REASON_TO_PB[a.move_reason],
        move_gain=a.move_gain,
    )
    # added in place: a pb.CostTerm each, then copied into the list, cost ~1/3 more
    add = msg.cost_terms.add
    for c in a.cost_terms:
        add(name=c.name, value=c.value)
    return msg


def assignment_from_pb(msg: pb.Assignment) -> Assignment:
    return Assignment(
        technician_id=msg.technician_id,
        position=msg.position,
        expected_arrival_ms=msg.expected_arrival_ms,
        expected_start_ms=msg.expected_start_ms,
        expected_finish_ms=msg.expected_finish_ms,
        sla_predicted_met=msg.sla_predicted_met,
        cost_terms=tuple(CostTerm(c.name, c.value) for c in msg.cost_terms),
        total_cost=msg.total_cost,
        solve_id=msg.solve_id,
        assigned_at_ms=msg.assigned_at_ms,
        move_reason=_enum_from_pb(
            pb.MoveReason,
            "MOVE_REASON_",
            MoveReason,
            msg.move_reason,
            "assignment.move_reason",
            required=False,
        )
        or MoveReason.NONE,
        move_gain=msg.move_gain,
    )


# --- tickets ----------------------------------------------------------------------------


def ticket_from_pb(msg: pb.Ticket, field: str = "ticket") -> Ticket:
    """The client-given fields of a ticket (output-only fields are ignored)."""
    priority = msg.priority
    if not 1 <= priority <= 4:
        priority_from_pb(priority, f"{field}.priority")
    # Hot path of batch submits: unset sub-messages and empty lists are skipped cheaply.
    has = msg.HasField
    window = msg.time_window if has("time_window") else None
    sla = msg.sla if has("sla") else None
    loc = msg.location if has("location") else None
    skills = msg.required_skills
    return Ticket(
        ticket_id=msg.ticket_id,
        region=msg.region,
        priority=priority,
        work_duration_s=msg.work_duration_s,
        category=msg.category,
        title=msg.title,
        description=msg.description,
        required_skills=tuple([SkillLevel(s.skill, s.min_level) for s in skills])
        if skills
        else (),
        location=Location(loc.latitude_deg, loc.longitude_deg)
        if loc is not None
        else None,
        asset_id=msg.asset_id,
        customer_tier=msg.customer_tier,
        window_start_ms=window.start_ms if window is not None else 0,
        window_end_ms=window.end_ms if window is not None else 0,
        response_due_ms=sla.response_due_ms if sla is not None else 0,
        resolution_due_ms=sla.resolution_due_ms if sla is not None else 0,
        preferred_technician_ids=tuple(msg.preferred_technician_ids),
        excluded_technician_ids=tuple(msg.excluded_technician_ids),
        attributes=dict(msg.attributes) if msg.attributes else {},
        allow_duplicate=msg.allow_duplicate,
    )


_TICKET_SCALARS_SET_WHEN_NOT_EMPTY = (
    "category",
    "title",
    "description",
    "asset_id",
    "customer_tier",
    "allow_duplicate",
    "duplicate_of_ticket_id",
    "cancel_reason",
    "accepted_at_ms",
    "started_at_ms",
    "closed_at_ms",
    "escalation_level",
    "pending_since_ms",
)
"""Ticket fields with the same name and type in the domain and in ``pb.Ticket``."""
_TICKET_ID_LISTS = (
    "preferred_technician_ids",
    "excluded_technician_ids",
    "declined_by_technician_ids",
)


def ticket_to_pb(t: Ticket) -> pb.Ticket:
    # Hot path (every submit answer, every listed ticket): empty fields are not set at all,
    # which is ~3x cheaper than handing every field to the constructor.
    msg = pb.Ticket(
        ticket_id=t.ticket_id,
        region=t.region,
        priority=priority_to_pb(t.priority),
        work_duration_s=t.work_duration_s,
        status=ticket_status_to_pb(t.status),
        version=t.version,
        unassigned_reason=unassigned_reason_to_pb(t.unassigned_reason),
        created_at_ms=t.created_at_ms,
        updated_at_ms=t.updated_at_ms,
    )
    for name in _TICKET_SCALARS_SET_WHEN_NOT_EMPTY:
        value = getattr(t, name)
        if value:
            setattr(msg, name, value)
    for name in _TICKET_ID_LISTS:
        ids = getattr(t, name)
        if ids:
            getattr(msg, name).extend(ids)
    if t.required_skills:
        add_skill = msg.required_skills.add
        for s in t.required_skills:
            add_skill(skill=s.skill, min_level=s.level)
    if t.attributes:
        msg.attributes.update(t.attributes)
    if t.location is not None:
        msg.location.CopyFrom(location_to_pb(t.location))
    if t.window_start_ms or t.window_end_ms:
        msg.time_window.start_ms = t.window_start_ms
        msg.time_window.end_ms = t.window_end_ms
    if t.response_due_ms or t.resolution_due_ms:
        msg.sla.response_due_ms = t.response_due_ms
        msg.sla.resolution_due_ms = t.resolution_due_ms
    if t.assignment is not None:
        msg.assignment.CopyFrom(assignment_to_pb(t.assignment))
    if t.resolution is not None:
        msg.resolution.CopyFrom(resolution_to_pb(t.resolution))
    return msg


# --- technicians ------------------------------------------------------------------------


def shift_from_pb(msg: pb.Shift) -> Shift:
    return Shift(msg.start_ms, msg.end_ms)


def shift_to_pb(s: Shift) -> pb.Shift:
    return pb.Shift(start_ms=s.start_ms, end_ms=s.end_ms)


def technician_from_pb(msg: pb.Technician, field: str = "technician") -> Technician:
    status = technician_status_from_pb(msg.status, f"{field}.status")
    assert status is not None
    return Technician(
        technician_id=msg.technician_id,
        region=msg.region,
        status=status,
        capacity=msg.capacity,
        display_name=msg.display_name,
        skills=tuple(SkillLevel(s.skill, s.level) for s in msg.skills),
        location=location_from_pb(msg.location) if msg.HasField("location") else None,
        shifts=tuple(shift_from_pb(s) for s in msg.shifts),
        travel_speed_kmh=msg.travel_speed_kmh or 40.0,
        attributes=dict(msg.attributes),
        concurrency=msg.concurrency or 1,
    )


def technician_to_pb(t: Technician) -> pb.Technician:
    msg = pb.Technician(
        technician_id=t.technician_id,
        region=t.region,
        display_name=t.display_name,
        skills=[pb.Skill(skill=s.skill, level=s.level) for s in t.skills],
        location_updated_at_ms=t.location_updated_at_ms,
        shifts=[shift_to_pb(s) for s in t.shifts],
        status=technician_status_to_pb(t.status),
        capacity=t.capacity,
        travel_speed_kmh=t.travel_speed_kmh,
        attributes=dict(t.attributes),
        concurrency=t.concurrency,
        queue_ticket_ids=t.queue_ticket_ids,
        version=t.version,
        created_at_ms=t.created_at_ms,
        updated_at_ms=t.updated_at_ms,
    )
    if t.location is not None:
        msg.location.CopyFrom(location_to_pb(t.location))
    return msg


# --- events and statistics --------------------------------------------------------------


def event_to_pb(e: Event) -> pb.Event:
    msg = pb.Event(
        event_id=e.event_id,
        region=e.region,
        type=event_type_to_pb(e.type),
        occurred_at_ms=e.occurred_at_ms,
        ticket_id=e.ticket_id,
        technician_id=e.technician_id,
        previous_technician_id=e.previous_technician_id,
        ticket_status=ticket_status_to_pb(e.ticket_status),
        ticket_version=e.ticket_version,
        technician_version=e.technician_version,
        priority=priority_to_pb(e.priority),
        unassigned_reason=unassigned_reason_to_pb(e.unassigned_reason),
        reason=e.reason,
        solve_id=e.solve_id,
        duplicate_of_ticket_id=e.duplicate_of_ticket_id,
    )
    if e.details:  # most events have none: an empty map costs ~15% of this conversion
        msg.details.update(e.details)
    if e.assignment is not None:
        msg.assignment.CopyFrom(assignment_to_pb(e.assignment))
    return msg


def event_from_pb(msg: pb.Event) -> Event:
    return Event(
        event_id=msg.event_id,
        region=msg.region,
        type=event_type_from_pb(msg.type, "type"),
        occurred_at_ms=msg.occurred_at_ms,
        ticket_id=msg.ticket_id,
        technician_id=msg.technician_id,
        previous_technician_id=msg.previous_technician_id,
        ticket_status=ticket_status_from_pb(msg.ticket_status, "ticket_status")
        if msg.ticket_status
        else None,
        ticket_version=msg.ticket_version,
        technician_version=msg.technician_version,
        priority=msg.priority,
        assignment=assignment_from_pb(msg.assignment)
        if msg.HasField("assignment")
        else None,
        unassigned_reason=unassigned_reason_from_pb(msg.unassigned_reason),
        reason=msg.reason,
        solve_id=msg.solve_id,
        duplicate_of_ticket_id=msg.duplicate_of_ticket_id,
        details=dict(msg.details),
    )


def region_stats_to_pb(s: RegionStats) -> pb.RegionQueueStats:
    return pb.RegionQueueStats(
        region=s.region,
        technicians_total=s.technicians_total,
        technicians_available=s.technicians_available,
        priorities=[
            pb.PriorityQueueStats(
                priority=priority_to_pb(p.priority),
                queued=p.queued,
                assigned=p.assigned,
                in_progress=p.in_progress,
                oldest_queued_age_s=p.oldest_queued_age_s,
                at_risk=p.at_risk,
                overdue=p.overdue,
                pending=p.pending,
            )
            for p in s.priorities
        ],
    )


def region_stats_from_pb(msg: pb.RegionQueueStats) -> RegionStats:
    return RegionStats(
        region=msg.region,
        technicians_total=msg.technicians_total,
        technicians_available=msg.technicians_available,
        priorities=tuple(
            PriorityStats(
                p.priority,
                p.queued,
                p.assigned,
                p.in_progress,
                p.oldest_queued_age_s,
                p.at_risk,
                p.overdue,
            )
            for p in msg.priorities
        ),
    )


TICKET_UPDATE_PATHS: dict[str, tuple[str, ...]] = {
    "category": ("category",),
    "priority": ("priority",),
    "title": ("title",),
    "description": ("description",),
    "required_skills": ("required_skills",),
    "location": ("location",),
    "asset_id": ("asset_id",),
    "work_duration_s": ("work_duration_s",),
    "customer_tier": ("customer_tier",),
    "time_window": ("window_start_ms", "window_end_ms"),
    "time_window.start_ms": ("window_start_ms",),
    "time_window.end_ms": ("window_end_ms",),
    "sla": ("response_due_ms", "resolution_due_ms"),
    "sla.response_due_ms": ("response_due_ms",),
    "sla.resolution_due_ms": ("resolution_due_ms",),
    "preferred_technician_ids": ("preferred_technician_ids",),
    "excluded_technician_ids": ("excluded_technician_ids",),
    "attributes": ("attributes",),
}
"""``UpdateTicketRequest.update_mask`` path -> the domain ``Ticket`` fields it sets."""

POLICY_MASK_SECTIONS = {
    "weights": "weights",
    "sla_targets": "sla",
    "escalation_rules": "escalations",
    "duplicate_rule": "duplicates",
    "solver": "solver",
    "neighbours": "neighbours",
    "calendars": "calendars",
}
"""``UpdatePolicyRequest.update_mask`` path -> the policy section it replaces."""


# --- policy (solver.policy types) ---------------------------------------------------

_ESCALATION_CONDITIONS = {
    pb.ESCALATION_CONDITION_NOT_ASSIGNED: "not_assigned",
    pb.ESCALATION_CONDITION_NOT_ACCEPTED: "not_accepted",
    pb.ESCALATION_CONDITION_NOT_STARTED: "not_started",
    pb.ESCALATION_CONDITION_NOT_RESOLVED: "not_resolved",
    pb.ESCALATION_CONDITION_SLA_AT_RISK: "at_risk",
}
_WEIGHT_FIELDS = (
    "travel",
    "lateness",
    "breach",
    "waiting",
    "skill_surplus",
    "balance",
    "preference",
    "tier",
    "stability",
    "move_min_gain",
    "unassigned",
)


def policy_dict_from_pb(msg: pb.Policy, field: str = "policy") -> dict[str, Any]:
    """The ``solver.policy.policy_from_dict`` form of a pb policy (every section)."""
    sla: dict[str, Any] = {}
    for i, t in enumerate(msg.sla_targets):
        prio = priority_from_pb(t.priority, f"{field}.sla_targets[{i}].priority")
        if f"P{prio}" in sla:
            raise InvalidArgument(
                f"{field}.sla_targets[{i}].priority", f"P{prio} appears twice"
            )
        sla[f"P{prio}"] = {
            "response_s": t.response_s,
            "resolution_s": t.resolution_s,
            "calendar": t.calendar,
        }
    rules = []
    for i, r in enumerate(msg.escalation_rules):
        if r.condition not in _ESCALATION_CONDITIONS:
            raise InvalidArgument(
                f"{field}.escalation_rules[{i}].condition",
                "is required (a known condition)",
            )
        # an empty target is proto3's "unset": the rule's default group applies
        target = (
            {"supervisor_target": r.supervisor_target} if r.supervisor_target else {}
        )
        rules.append(
            {
                **target,
                "name": r.name,
                "priority": priority_from_pb(
                    r.priority,
                    f"{field}.escalation_rules[{i}].priority",
                    required=False,
                ),
                "condition": _ESCALATION_CONDITIONS[r.condition],
                "after_s": r.after_s,
                "raise_priority": r.raise_priority,
                "widen_to_neighbours": r.widen_to_neighbours,
                "notify_supervisor": r.notify_supervisor,
                "tier_skill": r.tier_skill,
                "tier_level": r.tier_level,
            }
        )
    d = msg.duplicate_rule
    s = msg.solver
    sections = {
        "weights": {
            **{name: getattr(msg.weights, name) for name in _WEIGHT_FIELDS},
            **(
                {"overdue": msg.weights.overdue}
                if msg.weights.HasField("overdue")
                else {}
            ),
        },
        "sla": sla,
        "escalations": rules,
        "duplicates": {
            "enabled": d.enabled,
            "by_asset": d.by_asset,
            "radius_m": d.radius_m,
            "window_s": d.window_s,
        },
        "solver": {
            "cadence_s": s.cadence_s,
            "debounce_ms": s.debounce_ms,
            "time_limit_s": s.time_limit_s,
            "candidates_k": s.candidates_k,
            "allow_overtime": s.allow_overtime,
        },
        "neighbours": {k: list(v.regions) for k, v in msg.neighbours.items()},
        "calendars": {k: _calendar_dict(c) for k, c in msg.calendars.items()},
    }
    # an unset message is "unset parts = defaults" (UpdatePolicyRequest), not all zeros
    defaults = policy_to_dict(Policy())
    for section, pb_field in _MESSAGE_SECTIONS.items():
        if not msg.HasField(pb_field):
            sections[section] = defaults[section]
    return sections


_MESSAGE_SECTIONS = {
    "weights": "weights",
    "duplicates": "duplicate_rule",
    "solver": "solver",
}
"""Sections of the policy's dict form sent as one .proto message each (unset: defaults)."""


def _calendar_dict(c: pb.BusinessCalendar) -> dict[str, Any]:
    """A pb calendar in the policy's dict form (unset fields take the calendar defaults)."""
    out: dict[str, Any] = {"holidays": list(c.holidays)}
    if c.time_zone:
        out["time_zone"] = c.time_zone
    if c.days:
        out["days"] = list(c.days)
    if c.start:
        out["start"] = c.start
    if c.end:
        out["end"] = c.end
    return out


_POLICY_SECTIONS = {
    "escalations": "escalation_rules",
    "duplicates": "duplicate_rule",
}
"""Sections of ``dispatcher.policy``'s dict form whose .proto field has another name."""
_SLA_PATH = re.compile(r"^sla\.P(\d)(\..*)?$")
_NEIGHBOUR_PATH = re.compile(r'^neighbours(\[".*"\])\[(\d+)\]$')


def policy_field_path(path: str, msg: pb.Policy) -> str:
    """The .proto path (under ``pb.Policy``) of a field path of the policy's dict form
    (``PolicyError.field``): ``sla.P1.resolution_s`` -> ``sla_targets[i].resolution_s``
    with ``i`` the index of the P1 target in ``msg``; ``escalations[2].after_s`` ->
    ``escalation_rules[2].after_s``; ``neighbours["a"][0]`` -> ``neighbours["a"].regions[0]``.
    """
    sla = _SLA_PATH.match(path)
    if sla is not None:
        prio = int(sla.group(1))
        index = next(
            (i for i, t in enumerate(msg.sla_targets) if t.priority == prio), None
        )
        if index is None:
            return "sla_targets"
        return f"sla_targets[{index}]{sla.group(2) or ''}"
    if path == "sla":
        return "sla_targets"
    neighbour = _NEIGHBOUR_PATH.match(path)
    if neighbour is not None:
        return f"neighbours{neighbour.group(1)}.regions[{neighbour.group(2)}]"
    head, sep, rest = path.partition(".")
    name, bracket, subscript = head.partition("[")
    name = _POLICY_SECTIONS.get(name, name)
    return f"{name}{bracket}{subscript}{sep}{rest}"


def policy_to_pb(
    policy: Policy,
    *,
    region: str = "",
    version: int = 0,
    updated_by: str = "",
    updated_at_ms: int = 0,
    comment: str = "",
) -> pb.Policy:
    conditions = {v: k for k, v in _ESCALATION_CONDITIONS.items()}
    return pb.Policy(
        region=region,
        version=version,
        weights=pb.CostWeights(
            **{name: float(getattr(policy.weights, name)) for name in _WEIGHT_FIELDS},
            overdue=float(policy.weights.overdue),
        ),
        sla_targets=[
            pb.SlaTarget(
                priority=priority_to_pb(p),
                response_s=t.response_s,
                resolution_s=t.resolution_s,
                calendar=t.calendar,
            )
            for p, t in sorted(policy.sla.items())
        ],
        escalation_rules=[
            pb.EscalationRule(
                name=r.name,
                priority=priority_to_pb(r.priority),
                condition=conditions[r.condition],
                after_s=r.after_s,
                raise_priority=r.raise_priority,
                widen_to_neighbours=r.widen_to_neighbours,
                notify_supervisor=r.notify_supervisor,
                supervisor_target=r.supervisor_target,
                tier_skill=r.tier_skill,
                tier_level=r.tier_level,
            )
            for r in policy.escalations
        ],
        duplicate_rule=pb.DuplicateRule(
            enabled=policy.duplicates.enabled,
            by_asset=policy.duplicates.by_asset,
            radius_m=policy.duplicates.radius_m,
            window_s=policy.duplicates.window_s,
        ),
        solver=pb.SolverSettings(
            cadence_s=policy.solver.cadence_s,
            debounce_ms=policy.solver.debounce_ms,
            time_limit_s=policy.solver.time_limit_s,
            candidates_k=policy.solver.candidates_k,
            allow_overtime=policy.solver.allow_overtime,
        ),
        neighbours={
            k: pb.NeighbourRegions(regions=list(v))
            for k, v in policy.neighbours.items()
        },
        calendars={
            k: pb.BusinessCalendar(
                time_zone=c.time_zone,
                days=list(c.days),
                start=c.start,
                end=c.end,
                holidays=list(c.holidays),
            )
            for k, c in policy.calendars.items()
        },
        updated_by=updated_by,
        updated_at_ms=updated_at_ms,
        comment=comment,
    )


def policy_version_to_pb(v: PolicyVersion) -> pb.Policy:
    return policy_to_pb(
        v.policy,
        region=v.scope,
        version=v.version,
        updated_by=v.updated_by,
        updated_at_ms=v.updated_at_ms,
        comment=v.comment,
    )


def ticket_patch_from_pb(msg: pb.Ticket, paths: list[str]) -> dict[str, Any]:
    """Domain field -> new value for each update_mask path (``TICKET_UPDATE_PATHS``)."""
    values: dict[str, Any] = {
        "category": msg.category,
        "title": msg.title,
        "description": msg.description,
        "asset_id": msg.asset_id,
        "work_duration_s": msg.work_duration_s,
        "customer_tier": msg.customer_tier,
        "attributes": dict(msg.attributes),
        "required_skills": tuple(
            SkillLevel(s.skill, s.min_level) for s in msg.required_skills
        ),
        "location": location_from_pb(msg.location)
        if msg.HasField("location")
        else None,
        "window_start_ms": msg.time_window.start_ms,
        "window_end_ms": msg.time_window.end_ms,
        "response_due_ms": msg.sla.response_due_ms,
        "resolution_due_ms": msg.sla.resolution_due_ms,
        "preferred_technician_ids": tuple(msg.preferred_technician_ids),
        "excluded_technician_ids": tuple(msg.excluded_technician_ids),
    }
    patch: dict[str, Any] = {}
    for i, path in enumerate(paths):
        fields = TICKET_UPDATE_PATHS.get(path)
        if fields is None:
            raise InvalidArgument(
                f"update_mask.paths[{i}]", f"{path!r} cannot be updated"
            )
        for name in fields:
            if name == "priority":
                patch[name] = priority_from_pb(msg.priority, "ticket.priority")
            else:
                patch[name] = values[name]
    return patch


def policy_sections_from_mask(paths: Sequence[str]) -> list[str]:
    """The policy sections an ``UpdatePolicyRequest.update_mask`` replaces (empty: all)."""
    sections = []
    for i, p in enumerate(paths):
        if p not in POLICY_MASK_SECTIONS:
            raise InvalidArgument(
                f"update_mask.paths[{i}]",
                f"{p!r} is not one of {sorted(POLICY_MASK_SECTIONS)}",
            )
        sections.append(POLICY_MASK_SECTIONS[p])
    return sections


# --- webhooks ----------------------------------------------------------------------------


def webhook_body(e: Event) -> bytes:
    """A webhook's JSON body: the Standard Webhooks envelope around the event in protobuf's
    canonical JSON (the same form as the REST gateway's)."""
    occurred = datetime.datetime.fromtimestamp(e.occurred_at_ms / 1000, datetime.UTC)
    return orjson.dumps(
        {
            "type": e.type.value,
            "timestamp": occurred.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "data": json_format.MessageToDict(event_to_pb(e)),
        }
    )


def subscription_from_pb(msg: pb.WebhookSubscription) -> Subscription:
    """The input fields of a new subscription (id, secret and time are set by the caller
    when empty)."""
    return Subscription(
        subscription_id="",
        url=msg.url,
        secret=msg.secret,
        event_types=frozenset(
            event_type_from_pb(t, f"subscription.event_types[{i}]")
            for i, t in enumerate(msg.event_types)
        ),
        regions=frozenset(msg.regions),
        description=msg.description,
    )


def subscription_to_pb(
    s: Subscription, *, with_secret: bool = False
) -> pb.WebhookSubscription:
    return pb.WebhookSubscription(
        subscription_id=s.subscription_id,
        url=s.url,
        event_types=[event_type_to_pb(t) for t in sorted(s.event_types)],
        regions=sorted(s.regions),
        secret=s.secret if with_secret else "",
        description=s.description,
        created_at_ms=s.created_at_ms,
    )


def dead_letter_to_pb(d: DeadLetter) -> pb.WebhookDeadLetter:
    return pb.WebhookDeadLetter(
        dead_letter_id=d.dead_letter_id,
        webhook_id=d.webhook_id,
        region=d.region,
        event_id=d.event_id,
        event_type=event_type_to_pb(EventType(d.event_type)),
        ticket_id=d.ticket_id,
        attempts=d.attempts,
        last_error=d.last_error,
        first_attempt_at_ms=d.first_attempt_at_ms,
        dead_at_ms=d.dead_at_ms,
    )
